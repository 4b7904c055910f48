// The GRPO-family policy loss: PPO-clip with decoupled epsilon_low / epsilon_high (DAPO
// clip-higher), optional dual clip, token or sequence (GSPO) ratio, optional importance-sampling
// correction between sampler and trainer log-probs, KL to a reference in the loss, entropy bonus,
// aggregated by a verl loss_agg_mode with global normalizers. Pure tensor math, no I/O, no model.
// Spec: docs/grpo_formulas.md "Policy loss"; every option and its formula: docs/algo.md.
// Shapes: B sequences in the micro-batch, T padded completion length; mask [B, T] is 1 on
// completion tokens.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

#include "zeroth/algo/aggregation.h"
#include "zeroth/algo/kl.h"
#include "zeroth/core/json.h"

namespace zeroth::algo {

enum class RatioLevel { Token, Sequence };                 // "token" (PPO/GRPO), "sequence" (GSPO)
enum class RolloutIsLevel { None, Token, Sequence };       // "none", "token", "sequence"
enum class RolloutIsMode { Truncate, Mask };               // "truncate": min(w, C); "mask": w > C -> 0

// The recipe's "loss" object. Defaults are DAPO-style / TRL main (v1.10): beta 0, token-mean,
// clip-higher 0.2 / 0.28, no dual clip, sequence-level masked IS correction (cap 3) when sampler
// log-probs are given.
struct LossOptions {
  // How per-token losses become a scalar (verl loss_agg_mode; TRL aliases dapo/bnpo/grpo/dr_grpo).
  LossAggregation loss_agg_mode = LossAggregation::TokenMean;
  // Lower clip: ratio below 1 - epsilon_low stops pulling when A < 0 (PPO, arXiv:1707.06347).
  double epsilon_low = 0.2;
  // Upper clip: ratio above 1 + epsilon_high stops pushing when A > 0 (DAPO clip-higher, arXiv:2503.14476).
  double epsilon_high = 0.28;
  // Dual clip (arXiv:1912.09729): for A < 0 the token loss is min(l, -c * A). 0 disables; else > 1
  // (verl clip_ratio_c 3.0, DAPO script 10.0).
  double dual_clip_c = 0.0;
  // log(ratio) is clamped to [-x, x] before exp (verl: 20 for token ratios, 10 for GSPO).
  double log_ratio_clamp = 20.0;
  // "token": r_t = exp(logp_new - logp_old); "sequence": GSPO (arXiv:2507.18071)
  // s_i = exp(mean_t(logp_new - logp_old)), in verl's token form so any aggregation applies
  // (GSPO pairs it with seq-mean-token-mean and epsilons ~3e-4 / 4e-4).
  RatioLevel importance_sampling_level = RatioLevel::Token;
  // KL coefficient. 0 loads no reference model (TRL main default; DeepSeek-R1 used 0.001).
  double beta = 0.0;
  // k1 / k2 / k3 (verl aliases kl / mse / low_var_kl); k3 as TRL and verl's GRPO.
  KlEstimator kl_estimator = KlEstimator::K3;
  // false: loss += beta * KL_t (TRL, verl use_kl_loss). true: the caller subtracts beta * KL_t from
  // the token rewards instead (kl_penalized_token_rewards; verl use_kl_in_reward, OpenRLHF).
  bool kl_in_reward = false;
  // Multiply the KL term by the importance ratio r_t (GSPO: s_i), so that its gradient is the unbiased
  // reverse-KL gradient off-policy (DeepSeek-V3.2, arXiv:2512.02556; TRL use_bias_correction_kl, on by
  // default in TRL 1.16). It changes the gradient even at r = 1 (adds KL_t * grad logp_t).
  bool kl_bias_correction = false;
  // Entropy bonus: loss -= entropy_coef * H_t per token (verl entropy_coeff; 0 disables).
  double entropy_coef = 0.0;
  // Importance-sampling correction between the sampler's and the trainer's old log-probs
  // (TRL vllm_importance_sampling_correction, verl TIS): w = exp(logp_old - logp_sampler) per token
  // ("token") or exp(sum_t ...) per sequence ("sequence"); applied only when the caller passes
  // sampler log-probs. "none" disables.
  RolloutIsLevel rollout_is_level = RolloutIsLevel::Sequence;
  RolloutIsMode rollout_is_mode = RolloutIsMode::Mask;
  // C in min(w, C) / (w > C -> 0). TRL 3.0 (sequence_mask), verl TIS 2.0 (token truncate).
  double rollout_is_cap = 3.0;
  // L for seq-mean-token-sum-norm (Dr. GRPO constant normalizer; verl loss_scale_factor). 0 means
  // the caller uses the sampling max_new_tokens.
  int64_t loss_scale_factor = 0;

  // Reads a "loss" object; unknown keys and out-of-range values are errors naming the JSON path.
  static LossOptions from_json(const JsonReader& json);
  // Whether a reference model is needed (beta > 0).
  bool needs_reference() const { return beta > 0.0; }
};

// Inputs of one micro-batch. All [B, T] tensors share a shape; only logprobs_new needs grad.
struct PolicyLossInputs {
  torch::Tensor logprobs_new;      // [B, T] trainer log-probs under the current parameters
  torch::Tensor logprobs_old;      // [B, T] trainer log-probs at the start of the step; undefined
                                   // with mu = 1 (then old = new.detach(): ratio 1 by construction)
  torch::Tensor logprobs_ref;      // [B, T] reference model; required when beta > 0 and !kl_in_reward
  torch::Tensor logprobs_sampler;  // [B, T] behaviour log-probs from the sampler; undefined: no IS correction
  torch::Tensor entropy;           // [B, T] per-token entropy of the policy; required when entropy_coef != 0
  torch::Tensor advantages;        // [B] (broadcast over tokens) or [B, T]
  torch::Tensor mask;              // [B, T] 1 on completion tokens (bool or float)
};

// Statistics as sums over the micro-batch's mask tokens, so that micro-batches add up (add());
// the accessors give token means. The *_loss fields are this micro-batch's additive share of the
// aggregated loss terms (policy + kl - entropy = loss).
struct LossStats {
  double num_tokens = 0;
  double clipped_low = 0;    // tokens with A < 0 and r < 1 - epsilon_low (zero gradient)
  double clipped_high = 0;   // tokens with A > 0 and r > 1 + epsilon_high (zero gradient)
  double dual_clipped = 0;   // tokens with A < 0 where the dual clip -c*A is active
  double ratio_sum = 0;
  double ratio_max = 0;
  double kl_sum = 0;         // estimator value vs the reference (when logprobs_ref is given)
  double entropy_sum = 0;
  double is_weight_sum = 0;  // IS correction weight (1 when none)
  double is_masked = 0;      // tokens whose IS weight was masked to 0 or truncated
  double mismatch_kl_sum = 0;  // k1 estimate of KL(sampler || trainer): logp_sampler - logp_old
  double policy_loss = 0;
  double kl_loss = 0;
  double entropy_loss = 0;

  void add(const LossStats& other);
  double clip_frac_low() const { return mean(clipped_low); }
  double clip_frac_high() const { return mean(clipped_high); }
  double dual_clip_frac() const { return mean(dual_clipped); }
  double ratio_mean() const { return mean(ratio_sum); }
  double kl_mean() const { return mean(kl_sum); }
  double entropy_mean() const { return mean(entropy_sum); }
  double is_weight_mean() const { return mean(is_weight_sum); }
  double is_masked_frac() const { return mean(is_masked); }
  double mismatch_kl_mean() const { return mean(mismatch_kl_sum); }

 private:
  double mean(double sum) const { return num_tokens > 0 ? sum / num_tokens : 0.0; }
};

struct PolicyLossOutput {
  torch::Tensor loss;  // scalar, this micro-batch's share (sum over micro-batches = mini-batch loss)
  LossStats stats;
};

// Per-token loss (before aggregation), with r the token ratio (or the GSPO sequence ratio in
// token form), A the advantage, w the IS weight (detached):
//   l_t = w * max(-A r, -A clip(r, 1 - epsilon_low, 1 + epsilon_high))
//   dual clip, A < 0: l_t = w * min(max(...), -c A)
//   + beta * k(logp_new, logp_ref)   (KL in loss; times r with kl_bias_correction)
//   - entropy_coef * H_t
// then aggregate_loss(l, mask, loss_agg_mode, normalizer).
//
//   LossNormalizer norm = make_loss_normalizer(minibatch_mask, L);   // once per mini-batch
//   for (auto& mb : micro_batches) {
//     auto out = algo::policy_loss({lp_new, lp_old, {}, {}, {}, adv, mb.mask}, opts, norm);
//     out.loss.backward();   // gradients accumulate to the mini-batch gradient
//     stats.add(out.stats);
//   }
PolicyLossOutput policy_loss(const PolicyLossInputs& in, const LossOptions& options, const LossNormalizer& normalizer);

}  // namespace zeroth::algo
