// SFT cross-entropy and top-k forward-KL distillation against hand-computed values.
#include "support/catch.h"

#include <cmath>
#include <limits>

#include <torch/torch.h>

#include "support/tensor_asserts.h"
#include "zeroth/algo/sft_loss.h"

using namespace zeroth;
using namespace zeroth::algo;
using zeroth::testing::require_close;

TEST_CASE("sft_loss: masked negative log-likelihood on response tokens", "[algo][sft]") {
  auto lp = torch::tensor({{-0.5, -1.0, -2.0}, {-9.0, -0.25, -0.75}}, torch::kDouble).requires_grad_();
  auto mask = torch::tensor({{0, 1, 1}, {0, 1, 1}});  // prompt position masked out
  auto norm = make_loss_normalizer(mask);
  auto out = sft_loss(lp, mask, LossAggregation::TokenMean, norm);
  REQUIRE(out.loss.item<double>() == Approx((1.0 + 2.0 + 0.25 + 0.75) / 4));
  REQUIRE(out.num_tokens == 4);
  REQUIRE(out.token_sum == Approx(4.0));
  out.loss.backward();
  require_close(lp.grad(), torch::tensor({{0.0, -0.25, -0.25}, {0.0, -0.25, -0.25}}, torch::kDouble), 1e-12);
  // seq-mean-token-mean: (1.5 + 0.5) / 2
  REQUIRE(sft_loss(lp, mask, LossAggregation::SeqMeanTokenMean, norm).loss.item<double>() == Approx(1.0));
}

TEST_CASE("distill_forward_kl: teacher renormalized over its top-k, student not by default", "[algo][distill]") {
  // teacher top-2 probs 0.6, 0.2 -> q = 0.75, 0.25; student p = 0.5, 0.25 on those ids
  auto teacher = torch::tensor({0.6, 0.2}, torch::kDouble).log().view({1, 1, 2});
  auto student = torch::tensor({0.5, 0.25}, torch::kDouble).log().view({1, 1, 2}).requires_grad_();
  auto mask = torch::ones({1, 1});
  auto norm = make_loss_normalizer(mask);
  // 0.75 ln(0.75 / 0.5) + 0.25 ln(0.25 / 0.25) = 0.3040988
  auto out = distill_forward_kl(student, teacher, mask, LossAggregation::TokenMean, norm);
  REQUIRE(out.loss.item<double>() == Approx(0.75 * std::log(1.5)).margin(1e-12));
  out.loss.backward();
  // d/dlog p_k = -q_k
  require_close(student.grad(), torch::tensor({-0.75, -0.25}, torch::kDouble).view({1, 1, 2}), 1e-12);
  // Student renormalized too: p~ = 2/3, 1/3: 0.75 ln(1.125) + 0.25 ln(0.75) = 0.0164165
  auto both = distill_forward_kl(student, teacher, mask, LossAggregation::TokenMean, norm, true);
  REQUIRE(both.loss.item<double>() == Approx(0.75 * std::log(1.125) + 0.25 * std::log(0.75)).margin(1e-12));
  // The student equal to the renormalized teacher gives 0.
  auto match = torch::tensor({0.75, 0.25}, torch::kDouble).log().view({1, 1, 2});
  REQUIRE(distill_forward_kl(match, teacher, mask, LossAggregation::TokenMean, norm).loss.item<double>() ==
          Approx(0.0).margin(1e-12));
}

TEST_CASE("distill_forward_kl: -inf teacher padding entries count as q = 0, masked tokens not at all", "[algo][distill]") {
  const double inf = std::numeric_limits<double>::infinity();
  auto teacher = torch::tensor({{{std::log(0.5), -inf}, {std::log(0.5), std::log(0.5)}}}, torch::kDouble);  // [1, 2, 2]
  auto student = torch::tensor({{{std::log(0.5), std::log(0.1)}, {-50.0, -50.0}}}, torch::kDouble).requires_grad_();
  auto mask = torch::tensor({{1.0, 0.0}});
  // token 0: q = (1, 0): ln(1 / 0.5) = 0.6931472; token 1 masked
  auto out = distill_forward_kl(student, teacher, mask, LossAggregation::TokenMean, make_loss_normalizer(mask));
  REQUIRE(out.loss.item<double>() == Approx(std::log(2.0)).margin(1e-12));
  out.loss.backward();
  REQUIRE_FALSE(student.grad().isnan().any().item<bool>());
  require_close(student.grad(), torch::tensor({{{-1.0, 0.0}, {0.0, 0.0}}}, torch::kDouble), 1e-12);
}
