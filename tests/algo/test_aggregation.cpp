// Loss aggregation: hand-computed values, and invariance of the loss and its gradient to how a
// mini-batch is split into micro-batches and ranks.
#include "support/catch.h"

#include <torch/torch.h>

#include "support/tensor_asserts.h"
#include "zeroth/algo/aggregation.h"
#include "zeroth/algo/policy_loss.h"

using namespace zeroth;
using namespace zeroth::algo;
using zeroth::testing::require_close;

namespace {
const LossAggregation kModes[] = {LossAggregation::TokenMean, LossAggregation::SeqMeanTokenMean,
                                  LossAggregation::SeqMeanTokenSum, LossAggregation::SeqMeanTokenSumNorm};
}

TEST_CASE("aggregate_loss: the four verl modes by hand", "[algo][aggregation]") {
  auto l = torch::tensor({{1.0, 2.0, 3.0}, {4.0, 100.0, 100.0}}, torch::kDouble);
  auto m = torch::tensor({{1, 1, 1}, {1, 0, 0}});  // padding holds garbage that must not count
  auto norm = make_loss_normalizer(m, 10.0);
  REQUIRE(norm.num_tokens == 4);
  REQUIRE(norm.num_sequences == 2);
  REQUIRE(aggregate_loss(l, m, LossAggregation::TokenMean, norm).item<double>() == Approx(10.0 / 4));
  REQUIRE(aggregate_loss(l, m, LossAggregation::SeqMeanTokenMean, norm).item<double>() == Approx((2.0 + 4.0) / 2));
  REQUIRE(aggregate_loss(l, m, LossAggregation::SeqMeanTokenSum, norm).item<double>() == Approx((6.0 + 4.0) / 2));
  REQUIRE(aggregate_loss(l, m, LossAggregation::SeqMeanTokenSumNorm, norm).item<double>() == Approx(10.0 / (2 * 10.0)));
  REQUIRE_THROWS_WITH(aggregate_loss(l, m, LossAggregation::SeqMeanTokenSumNorm, make_loss_normalizer(m)),
                      Catch::Contains("constant_length"));
  REQUIRE_THROWS_WITH(parse_loss_aggregation("seq-mean", "x.json: loss.loss_agg_mode"),
                      Catch::Contains("x.json: loss.loss_agg_mode") && Catch::Contains("unknown loss aggregation"));
  REQUIRE(std::string(loss_aggregation_name(parse_loss_aggregation("dapo", "x"))) == "token-mean");
}

TEST_CASE("aggregate_loss: micro-batch and rank splits sum to the full mini-batch loss", "[algo][aggregation]") {
  torch::manual_seed(7);
  const int64_t B = 7, T = 6;
  auto loss = torch::randn({B, T}, torch::kDouble);
  auto lengths = torch::tensor({6, 1, 3, 5, 2, 6, 4});
  auto mask = (torch::arange(T).unsqueeze(0) < lengths.unsqueeze(1)).to(torch::kDouble);  // [B, T]
  // Global normalizers: rank 0 holds rows 0..3, rank 1 rows 4..6; each counts its own and they sum.
  auto n0 = make_loss_normalizer(mask.slice(0, 0, 4), 8.0);
  auto n1 = make_loss_normalizer(mask.slice(0, 4, 7), 8.0);
  LossNormalizer global{n0.num_tokens + n1.num_tokens, n0.num_sequences + n1.num_sequences, 8.0};
  auto whole = make_loss_normalizer(mask, 8.0);
  REQUIRE(global.num_tokens == whole.num_tokens);
  REQUIRE(global.num_sequences == whole.num_sequences);
  // Micro-batches of uneven sizes on both ranks.
  std::vector<std::pair<int64_t, int64_t>> splits = {{0, 1}, {1, 4}, {4, 6}, {6, 7}};
  for (auto mode : kModes) {
    INFO(loss_aggregation_name(mode));
    double full = aggregate_loss(loss, mask, mode, global).item<double>();
    double sum = 0, naive = 0;
    for (auto [a, b] : splits) {
      sum += aggregate_loss(loss.slice(0, a, b), mask.slice(0, a, b), mode, global).item<double>();
      // What a per-micro-batch mean followed by averaging would give (not invariant).
      naive += aggregate_loss(loss.slice(0, a, b), mask.slice(0, a, b), mode,
                              make_loss_normalizer(mask.slice(0, a, b), 8.0)).item<double>() / splits.size();
    }
    REQUIRE(sum == Approx(full).margin(1e-12));
    if (mode != LossAggregation::SeqMeanTokenMean) REQUIRE(std::abs(naive - full) > 1e-3);
  }
}

TEST_CASE("policy_loss: gradients accumulated over micro-batches equal the full-batch gradient", "[algo][aggregation]") {
  torch::manual_seed(11);
  const int64_t B = 6, T = 5;
  auto old = -torch::rand({B, T}, torch::kDouble) * 3;
  auto lp0 = old + 0.3 * torch::randn({B, T}, torch::kDouble);
  auto adv = torch::randn({B}, torch::kDouble);
  auto lengths = torch::tensor({5, 2, 4, 1, 3, 5});
  auto mask = (torch::arange(T).unsqueeze(0) < lengths.unsqueeze(1)).to(torch::kDouble);
  auto ref = old - 0.2;
  for (auto mode : kModes) {
    INFO(loss_aggregation_name(mode));
    LossOptions o;
    o.loss_agg_mode = mode;
    o.beta = 0.05;
    auto norm = make_loss_normalizer(mask, 5.0);
    auto full_lp = lp0.clone().requires_grad_();
    auto full = policy_loss({full_lp, old, ref, {}, {}, adv, mask}, o, norm);
    full.loss.backward();

    auto split_lp = lp0.clone().requires_grad_();
    LossStats stats;
    double total = 0;
    for (auto [a, b] : std::vector<std::pair<int64_t, int64_t>>{{0, 2}, {2, 3}, {3, 6}}) {
      auto out = policy_loss({split_lp.slice(0, a, b), old.slice(0, a, b), ref.slice(0, a, b), {}, {}, adv.slice(0, a, b),
                              mask.slice(0, a, b)},
                             o, norm);
      out.loss.backward();
      total += out.loss.item<double>();
      stats.add(out.stats);
    }
    REQUIRE(total == Approx(full.loss.item<double>()).margin(1e-12));
    require_close(split_lp.grad(), full_lp.grad(), 1e-12);
    REQUIRE(stats.num_tokens == full.stats.num_tokens);
    REQUIRE(stats.clip_frac_low() == Approx(full.stats.clip_frac_low()));
    REQUIRE(stats.clip_frac_high() == Approx(full.stats.clip_frac_high()));
    REQUIRE(stats.kl_mean() == Approx(full.stats.kl_mean()));
    REQUIRE(stats.kl_loss == Approx(full.stats.kl_loss));
  }
}
