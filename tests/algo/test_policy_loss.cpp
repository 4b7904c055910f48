// Policy loss, KL estimators and KL-in-reward helpers against hand-computed values; gradient check
// of the clipped loss (zero on clipped tokens, finite differences elsewhere) in float64.
#include "support/catch.h"

#include <cmath>

#include <torch/torch.h>

#include "support/tensor_asserts.h"
#include "zeroth/algo/kl.h"
#include "zeroth/algo/policy_loss.h"
#include "zeroth/core/json.h"

using namespace zeroth;
using namespace zeroth::algo;
using zeroth::testing::require_close;

namespace {
LossOptions parse(const std::string& text) {
  return LossOptions::from_json(JsonReader::owning(parse_json(text, "recipe.json"), "recipe.json"));
}
torch::Tensor dbl(std::vector<std::vector<double>> rows) {
  std::vector<torch::Tensor> t;
  for (auto& r : rows) t.push_back(torch::tensor(r, torch::kDouble));
  return torch::stack(t);
}
// Two sequences: A = +1 with ratios 1.5, 1.1, 0.5; A = -2 with ratios 1.5, 0.7 and a padding token.
struct Fixture {
  torch::Tensor old = torch::zeros({2, 3}, torch::kDouble);
  torch::Tensor lp = dbl({{std::log(1.5), std::log(1.1), std::log(0.5)}, {std::log(1.5), std::log(0.7), std::log(4.0)}});
  torch::Tensor adv = torch::tensor({1.0, -2.0}, torch::kDouble);
  torch::Tensor mask = dbl({{1, 1, 1}, {1, 1, 0}});
};
}  // namespace

TEST_CASE("policy_loss: clip-higher surrogate under each aggregation mode", "[algo][policy_loss]") {
  Fixture f;
  LossOptions o;  // eps 0.2 / 0.28, token-mean
  auto norm = make_loss_normalizer(f.mask, 4.0);
  REQUIRE(norm.num_tokens == 5);
  REQUIRE(norm.num_sequences == 2);
  // Per-token l = -min(r A, clip(r, 0.8, 1.28) A):
  //   seq 0 (A = 1):  -1.28 (clipped high), -1.1, -0.5
  //   seq 1 (A = -2): 2 max(r, clip r): 3.0, 1.6 (0.7 clipped low to 0.8); padding ignored
  auto out = policy_loss({f.lp, f.old, {}, {}, {}, f.adv, f.mask}, o, norm);
  REQUIRE(out.loss.item<double>() == Approx(1.72 / 5).margin(1e-12));
  REQUIRE(out.stats.num_tokens == 5);
  REQUIRE(out.stats.clip_frac_high() == Approx(0.2));
  REQUIRE(out.stats.clip_frac_low() == Approx(0.2));
  REQUIRE(out.stats.ratio_mean() == Approx(5.3 / 5));
  REQUIRE(out.stats.ratio_max == Approx(1.5));
  REQUIRE(out.stats.policy_loss == Approx(0.344));

  o.loss_agg_mode = LossAggregation::SeqMeanTokenMean;  // (-2.88/3 + 4.6/2) / 2 = 0.67
  REQUIRE(policy_loss({f.lp, f.old, {}, {}, {}, f.adv, f.mask}, o, norm).loss.item<double>() == Approx(0.67).margin(1e-12));
  o.loss_agg_mode = LossAggregation::SeqMeanTokenSum;  // (-2.88 + 4.6) / 2 = 0.86
  REQUIRE(policy_loss({f.lp, f.old, {}, {}, {}, f.adv, f.mask}, o, norm).loss.item<double>() == Approx(0.86).margin(1e-12));
  o.loss_agg_mode = LossAggregation::SeqMeanTokenSumNorm;  // 1.72 / (2 * 4) = 0.215
  REQUIRE(policy_loss({f.lp, f.old, {}, {}, {}, f.adv, f.mask}, o, norm).loss.item<double>() == Approx(0.215).margin(1e-12));
}

TEST_CASE("policy_loss: without old log-probs the ratio is 1 (mu = 1 shortcut)", "[algo][policy_loss]") {
  auto lp = dbl({{-1.0, -2.0}}).requires_grad_();
  auto mask = torch::ones({1, 2}, torch::kDouble);
  auto out = policy_loss({lp, {}, {}, {}, {}, torch::tensor({0.5}, torch::kDouble), mask}, {}, make_loss_normalizer(mask));
  REQUIRE(out.loss.item<double>() == Approx(-0.5));  // -A r = -0.5 per token
  REQUIRE(out.stats.ratio_mean() == 1.0);
  out.loss.backward();
  // d/dlp of -A exp(lp - sg(lp)) / 2 = -0.25 per token: the policy-gradient estimator.
  require_close(lp.grad(), dbl({{-0.25, -0.25}}), 1e-12);
}

TEST_CASE("policy_loss: dual clip caps the loss of negative-advantage tokens at -c A", "[algo][policy_loss]") {
  auto lp = dbl({{std::log(5.0), 0.0}}).requires_grad_();
  auto old = torch::zeros({1, 2}, torch::kDouble);
  auto mask = torch::ones({1, 2}, torch::kDouble);
  LossOptions o;
  o.dual_clip_c = 3.0;
  // A = -1: token 0 r = 5: max(5, 1.28) = 5 -> min(5, 3) = 3; token 1 r = 1: 1. token-mean 2.
  auto out = policy_loss({lp, old, {}, {}, {}, torch::tensor({-1.0}, torch::kDouble), mask}, o, make_loss_normalizer(mask));
  REQUIRE(out.loss.item<double>() == Approx(2.0));
  REQUIRE(out.stats.dual_clip_frac() == Approx(0.5));
  out.loss.backward();
  REQUIRE(lp.grad()[0][0].item<double>() == 0.0);              // dual-clipped: no gradient
  REQUIRE(lp.grad()[0][1].item<double>() == Approx(0.5));      // d(-A r)/dlp / 2 = r / 2
  o.dual_clip_c = 0.0;
  REQUIRE(policy_loss({lp, old, {}, {}, {}, torch::tensor({-1.0}, torch::kDouble), mask}, o, make_loss_normalizer(mask))
              .loss.item<double>() == Approx(3.0));
}

TEST_CASE("policy_loss: GSPO sequence ratio is exp of the mean token log-ratio", "[algo][policy_loss]") {
  LossOptions o;
  o.importance_sampling_level = RatioLevel::Sequence;
  o.loss_agg_mode = LossAggregation::SeqMeanTokenMean;
  auto old = torch::zeros({1, 3}, torch::kDouble);
  auto mask = dbl({{1, 1, 0}});
  auto lp = dbl({{0.1, 0.3, 5.0}}).requires_grad_();  // mean over mask tokens 0.2 -> s = e^0.2 = 1.2214028
  auto out = policy_loss({lp, old, {}, {}, {}, torch::tensor({1.0}, torch::kDouble), mask}, o, make_loss_normalizer(mask));
  REQUIRE(out.loss.item<double>() == Approx(-std::exp(0.2)).margin(1e-12));
  out.loss.backward();
  // d(-s)/dlp_t = -s / |o| = -0.6107014 on the two tokens; padding 0.
  require_close(lp.grad(), dbl({{-std::exp(0.2) / 2, -std::exp(0.2) / 2, 0.0}}), 1e-12);

  auto lp2 = dbl({{0.5, 0.3, 0.0}}).requires_grad_();  // s = e^0.4 = 1.49 > 1.28: clipped, no gradient
  auto out2 = policy_loss({lp2, old, {}, {}, {}, torch::tensor({1.0}, torch::kDouble), mask}, o, make_loss_normalizer(mask));
  REQUIRE(out2.loss.item<double>() == Approx(-1.28));
  out2.loss.backward();
  require_close(lp2.grad(), torch::zeros({1, 3}, torch::kDouble), 0.0);
}

TEST_CASE("policy_loss: rollout importance-sampling correction, sequence and token level", "[algo][policy_loss]") {
  auto old = torch::zeros({2, 2}, torch::kDouble);
  // log w_t = logp_old - logp_sampler: seq 0 [0.5, 0.7] (sum 1.2), seq 1 [0.1, -0.3] (sum -0.2)
  auto sampler = dbl({{-0.5, -0.7}, {-0.1, 0.3}});
  auto adv = torch::tensor({1.0, 1.0}, torch::kDouble);
  auto mask = torch::ones({2, 2}, torch::kDouble);
  auto norm = make_loss_normalizer(mask);
  LossOptions o;  // sequence / mask / cap 3
  // ratio 1, A = 1: l = -w. seq 0 w = e^1.2 = 3.32 > 3 -> 0; seq 1 w = e^-0.2 = 0.8187308
  auto out = policy_loss({old, old, {}, sampler, {}, adv, mask}, o, norm);
  REQUIRE(out.loss.item<double>() == Approx(-2 * std::exp(-0.2) / 4).margin(1e-12));
  REQUIRE(out.stats.is_masked_frac() == Approx(0.5));
  REQUIRE(out.stats.mismatch_kl_mean() == Approx(-0.25));  // mean of logp_sampler - logp_old
  o.rollout_is_mode = RolloutIsMode::Truncate;  // seq 0 w -> 3
  REQUIRE(policy_loss({old, old, {}, sampler, {}, adv, mask}, o, norm).loss.item<double>() ==
          Approx(-(6 + 2 * std::exp(-0.2)) / 4).margin(1e-12));
  o.rollout_is_level = RolloutIsLevel::Token;
  o.rollout_is_cap = 2.0;  // w_t = e^0.5, min(e^0.7, 2) = 2, e^0.1, e^-0.3
  double expected = -(std::exp(0.5) + 2.0 + std::exp(0.1) + std::exp(-0.3)) / 4;
  REQUIRE(policy_loss({old, old, {}, sampler, {}, adv, mask}, o, norm).loss.item<double>() == Approx(expected).margin(1e-12));
  o.rollout_is_level = RolloutIsLevel::None;
  REQUIRE(policy_loss({old, old, {}, sampler, {}, adv, mask}, o, norm).loss.item<double>() == Approx(-1.0));
}

TEST_CASE("kl_estimate: k1, k2, k3 and the k3 clamps", "[algo][kl]") {
  auto lp = dbl({{-1.0, -2.0}});
  auto ref = dbl({{-1.5, -1.0}});  // logp - logp_ref = 0.5, -1.0
  require_close(kl_estimate(lp, ref, KlEstimator::K1), dbl({{0.5, -1.0}}), 1e-12);
  require_close(kl_estimate(lp, ref, KlEstimator::K2), dbl({{0.125, 0.5}}), 1e-12);
  // k3 with x = logp_ref - logp = -0.5, 1.0: e^x - x - 1 = 0.1065307, 0.7182818
  require_close(kl_estimate(lp, ref, KlEstimator::K3), dbl({{std::exp(-0.5) - 0.5, std::exp(1.0) - 2.0}}), 1e-12);
  // x = 30 -> clamped to 20 -> e^20 - 21 -> clamped to 10
  require_close(kl_estimate(dbl({{-30.0}}), dbl({{0.0}}), KlEstimator::K3), dbl({{10.0}}), 0.0);
}

TEST_CASE("policy_loss: KL term in the loss with beta, and the entropy bonus", "[algo][policy_loss][kl]") {
  auto lp = dbl({{-1.0, -2.0}});
  auto ref = dbl({{-1.5, -1.0}});
  auto mask = torch::ones({1, 2}, torch::kDouble);
  auto zero_adv = torch::zeros({1}, torch::kDouble);
  LossOptions o;
  o.beta = 0.1;  // 0.1 * mean(k3) = 0.1 * (0.1065307 + 0.7182818) / 2 = 0.0412406
  auto out = policy_loss({lp, lp, ref, {}, {}, zero_adv, mask}, o, make_loss_normalizer(mask));
  double k3_mean = (std::exp(-0.5) - 0.5 + std::exp(1.0) - 2.0) / 2;
  REQUIRE(out.loss.item<double>() == Approx(0.1 * k3_mean).margin(1e-12));
  REQUIRE(out.stats.kl_mean() == Approx(k3_mean));
  REQUIRE(out.stats.kl_loss == Approx(0.1 * k3_mean));
  o.kl_in_reward = true;  // the KL goes to the reward instead: no loss term, still measured
  auto in_reward = policy_loss({lp, lp, ref, {}, {}, zero_adv, mask}, o, make_loss_normalizer(mask));
  REQUIRE(in_reward.loss.item<double>() == 0.0);
  REQUIRE(in_reward.stats.kl_mean() == Approx(k3_mean));
  o.kl_in_reward = false;
  REQUIRE_THROWS_WITH(policy_loss({lp, lp, {}, {}, {}, zero_adv, mask}, o, make_loss_normalizer(mask)),
                      Catch::Contains("logprobs_ref"));

  LossOptions e;
  e.entropy_coef = 0.01;  // loss -= 0.01 * mean(0.5, 1.5) = -0.01
  auto ent = policy_loss({lp, lp, {}, {}, dbl({{0.5, 1.5}}), zero_adv, mask}, e, make_loss_normalizer(mask));
  REQUIRE(ent.loss.item<double>() == Approx(-0.01).margin(1e-15));
  REQUIRE(ent.stats.entropy_mean() == Approx(1.0));
}

TEST_CASE("policy_loss: kl_bias_correction multiplies k3 by the ratio (TRL use_bias_correction_kl)", "[algo][policy_loss][kl]") {
  // x = logp_ref - logp = -0.2, -0.5: k3 = e^x - x - 1 = 0.0187308, 0.1065307. A = 0: only the KL term.
  auto lp = dbl({{-1.0, -2.0}}).requires_grad_(true);
  auto old = dbl({{-1.1, -1.8}});  // token ratios e^0.1, e^-0.2
  auto ref = dbl({{-1.2, -2.5}});
  auto mask = torch::ones({1, 2}, torch::kDouble);
  auto zero_adv = torch::zeros({1}, torch::kDouble);
  const double k0 = std::exp(-0.2) - 0.8, k1 = std::exp(-0.5) - 0.5, r0 = std::exp(0.1), r1 = std::exp(-0.2);
  LossOptions o;
  o.beta = 1.0;
  o.kl_bias_correction = true;
  auto out = policy_loss({lp, old, ref, {}, {}, zero_adv, mask}, o, make_loss_normalizer(mask));
  REQUIRE(out.loss.item<double>() == Approx((k0 * r0 + k1 * r1) / 2).margin(1e-12));
  out.loss.backward();
  // d(k3 r)/dlogp = r (1 - e^x) + k3 r = -x r: the unbiased reverse-KL gradient.
  require_close(lp.grad(), dbl({{0.2 * r0 / 2, 0.5 * r1 / 2}}), 1e-12);
  REQUIRE(out.stats.kl_mean() == Approx((k0 + k1) / 2));  // the metric stays the plain estimate

  // Sequence level: weight s = exp(mean(logp - logp_old)) = e^-0.05, whose gradient reaches both tokens.
  lp.grad().zero_();
  o.importance_sampling_level = RatioLevel::Sequence;
  auto seq = policy_loss({lp, old, ref, {}, {}, zero_adv, mask}, o, make_loss_normalizer(mask));
  const double s = std::exp(-0.05);
  REQUIRE(seq.loss.item<double>() == Approx(s * (k0 + k1) / 2).margin(1e-12));
  seq.loss.backward();
  const double shared = s * (k0 + k1) / 2 / 2;  // d s / d logp_t = s / |o|
  require_close(lp.grad(), dbl({{s * (1 - std::exp(-0.2)) / 2 + shared, s * (1 - std::exp(-0.5)) / 2 + shared}}), 1e-12);
  REQUIRE(parse(R"({"kl_bias_correction": true})").kl_bias_correction);
}

TEST_CASE("kl_penalized_token_rewards and discounted_returns", "[algo][kl]") {
  auto rewards = torch::tensor({1.0f, 2.0f});
  auto kl = torch::tensor({{0.1f, 0.2f, 0.3f}, {0.4f, 0.5f, 0.6f}});
  auto mask = torch::tensor({{1.0f, 1.0f, 0.0f}, {1.0f, 1.0f, 1.0f}});
  // beta 0.5: row 0 -> -0.05, 1 - 0.1, 0 (padding); row 1 -> -0.2, -0.25, 2 - 0.3
  auto tr = kl_penalized_token_rewards(rewards, kl, mask, 0.5);
  require_close(tr, torch::tensor({{-0.05f, 0.9f, 0.0f}, {-0.2f, -0.25f, 1.7f}}), 1e-6);
  // gamma 0.5: row 0 -> 0.9, then -0.05 + 0.45 = 0.4; row 1 -> 1.7, 0.6, 0.1
  require_close(discounted_returns(tr, mask, 0.5), torch::tensor({{0.4f, 0.9f, 0.0f}, {0.1f, 0.6f, 1.7f}}), 1e-6);
  // A padding hole inside a sequence does not discount.
  auto holed = discounted_returns(torch::tensor({{0.0f, 0.0f, 1.0f}}), torch::tensor({{1.0f, 0.0f, 1.0f}}), 0.5);
  require_close(holed, torch::tensor({{0.5f, 0.0f, 1.0f}}), 1e-7);
}

TEST_CASE("policy_loss gradient: zero on clipped tokens, finite differences elsewhere", "[algo][policy_loss][grad]") {
  // seq 0 (A = +0.7): log r = 0.5 (clipped high), 0.1, -0.5 (A > 0 below the clip: not clipped), 0
  // seq 1 (A = -1.3): log r = 0.5 (not clipped for A < 0), -0.5 (clipped low), 0.1, padding
  auto old = dbl({{-1.0, -2.0, -0.5, -3.0}, {-1.2, -0.7, -2.2, -1.0}});
  auto log_r = dbl({{0.5, 0.1, -0.5, 0.0}, {0.5, -0.5, 0.1, -0.1}});
  auto adv = torch::tensor({0.7, -1.3}, torch::kDouble);
  auto mask = dbl({{1, 1, 1, 1}, {1, 1, 1, 0}});
  auto ref = old - 0.3;
  auto norm = make_loss_normalizer(mask, 6.0);
  struct Case {
    const char* name;
    LossAggregation agg;
    double beta;
    double dual;
  };
  std::vector<Case> cases = {{"token-mean", LossAggregation::TokenMean, 0.0, 0.0},
                             {"seq-mean-token-mean", LossAggregation::SeqMeanTokenMean, 0.0, 0.0},
                             {"seq-mean-token-sum-norm", LossAggregation::SeqMeanTokenSumNorm, 0.0, 0.0},
                             {"dual clip 1.5", LossAggregation::TokenMean, 0.0, 1.5},
                             {"k3 KL beta 0.2", LossAggregation::TokenMean, 0.2, 0.0}};
  for (const auto& c : cases) {
    SECTION(c.name) {
      LossOptions o;
      o.loss_agg_mode = c.agg;
      o.beta = c.beta;
      o.dual_clip_c = c.dual;
      auto loss_at = [&](const torch::Tensor& lp) {
        return policy_loss({lp, old, ref, {}, {}, adv, mask}, o, norm).loss;
      };
      auto lp = (old + log_r).requires_grad_();
      loss_at(lp).backward();
      auto grad = lp.grad();
      const double h = 1e-6;
      auto fd = torch::zeros_like(grad);
      for (int64_t i = 0; i < 2; ++i) {
        for (int64_t t = 0; t < 4; ++t) {
          auto plus = (old + log_r).detach().clone();
          auto minus = plus.clone();
          plus[i][t] += h;
          minus[i][t] -= h;
          fd[i][t] = (loss_at(plus).item<double>() - loss_at(minus).item<double>()) / (2 * h);
        }
      }
      require_close(grad, fd, 1e-8);
      if (c.beta == 0.0) {
        // Clipped tokens [0][0] (high) and [1][1] (low), and padding [1][3], get exactly zero.
        REQUIRE(grad[0][0].item<double>() == 0.0);
        REQUIRE(grad[1][1].item<double>() == 0.0);
        REQUIRE(grad[1][3].item<double>() == 0.0);
        // Unclipped tokens do get a gradient.
        REQUIRE(grad[0][1].item<double>() != 0.0);
        REQUIRE(grad[0][2].item<double>() != 0.0);
        REQUIRE(grad[1][2].item<double>() != 0.0);
        // [1][0]: r = 1.65 > c = 1.5 is dual-clipped (zero), otherwise free.
        if (c.dual > 0) REQUIRE(grad[1][0].item<double>() == 0.0);
        else REQUIRE(grad[1][0].item<double>() != 0.0);
      }
    }
  }
}

TEST_CASE("LossOptions::from_json: defaults, every key, and errors", "[algo][policy_loss]") {
  auto d = parse("{}");
  REQUIRE(d.loss_agg_mode == LossAggregation::TokenMean);
  REQUIRE(d.epsilon_low == 0.2);
  REQUIRE(d.epsilon_high == 0.28);
  REQUIRE(d.beta == 0.0);
  REQUIRE_FALSE(d.needs_reference());
  REQUIRE(d.kl_estimator == KlEstimator::K3);
  REQUIRE(d.rollout_is_level == RolloutIsLevel::Sequence);
  REQUIRE(d.rollout_is_mode == RolloutIsMode::Mask);

  auto o = parse(R"({"loss_agg_mode": "dr_grpo", "epsilon_low": 0.0003, "epsilon_high": 0.0004, "dual_clip_c": 10,
                     "log_ratio_clamp": 10, "importance_sampling_level": "sequence", "beta": 0.001,
                     "kl_estimator": "low_var_kl", "kl_in_reward": true, "entropy_coef": 0.001,
                     "rollout_is_level": "token", "rollout_is_mode": "truncate", "rollout_is_cap": 2,
                     "loss_scale_factor": 3000})");
  REQUIRE(o.loss_agg_mode == LossAggregation::SeqMeanTokenSumNorm);
  REQUIRE(o.epsilon_low == 0.0003);
  REQUIRE(o.epsilon_high == 0.0004);
  REQUIRE(o.dual_clip_c == 10);
  REQUIRE(o.log_ratio_clamp == 10);
  REQUIRE(o.importance_sampling_level == RatioLevel::Sequence);
  REQUIRE(o.needs_reference());
  REQUIRE(o.kl_estimator == KlEstimator::K3);
  REQUIRE(o.kl_in_reward);
  REQUIRE(o.entropy_coef == 0.001);
  REQUIRE(o.rollout_is_level == RolloutIsLevel::Token);
  REQUIRE(o.rollout_is_mode == RolloutIsMode::Truncate);
  REQUIRE(o.rollout_is_cap == 2);
  REQUIRE(o.loss_scale_factor == 3000);
  REQUIRE(parse(R"({"loss_agg_mode": "grpo"})").loss_agg_mode == LossAggregation::SeqMeanTokenMean);
  REQUIRE(parse(R"({"loss_agg_mode": "bnpo"})").loss_agg_mode == LossAggregation::TokenMean);

  REQUIRE_THROWS_WITH(parse(R"({"epsilon_hgh": 0.3})"), Catch::Contains("epsilon_hgh") && Catch::Contains("epsilon_high"));
  REQUIRE_THROWS_WITH(parse(R"({"loss_agg_mode": "token_mean"})"),
                      Catch::Contains("loss_agg_mode") && Catch::Contains("did you mean \"token-mean\""));
  REQUIRE_THROWS_WITH(parse(R"({"dual_clip_c": 0.5})"), Catch::Contains("dual_clip_c: must be 0 (off) or > 1"));
  REQUIRE_THROWS_WITH(parse(R"({"kl_estimator": "k4"})"), Catch::Contains("kl_estimator") && Catch::Contains("k1, k2 or k3"));
  REQUIRE_THROWS_WITH(parse(R"({"rollout_is_mode": "clip"})"), Catch::Contains("rollout_is_mode") && Catch::Contains("truncate, mask"));
  REQUIRE_THROWS_WITH(parse(R"({"beta": "0.1"})"), Catch::Contains("beta") && Catch::Contains("expected a number"));
}

TEST_CASE("policy_loss: bf16 log-probs are reduced in fp32 and get a bf16 gradient", "[algo][policy_loss]") {
  auto lp = torch::full({1, 4}, -1.0, torch::kBFloat16).requires_grad_();
  auto mask = torch::ones({1, 4});
  auto out = policy_loss({lp, {}, {}, {}, {}, torch::tensor({2.0f}), mask}, {}, make_loss_normalizer(mask));
  REQUIRE(out.loss.scalar_type() == torch::kFloat);
  REQUIRE(out.loss.item<float>() == -2.0f);  // -A r with r = 1
  out.loss.backward();
  REQUIRE(lp.grad().scalar_type() == torch::kBFloat16);
  require_close(lp.grad(), torch::full({1, 4}, -0.5), 0.0);  // -A / N_tok
}
