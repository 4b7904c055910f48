// KL to a frozen reference policy: the k1/k2/k3 per-token estimators (Schulman, "Approximating KL
// divergence", http://joschu.net/blog/kl-approx.html), and the KL-in-reward helpers (REINFORCE++,
// verl use_kl_in_reward): token rewards R*[t = last] - beta*KL_t and their discounted returns.
// Pure tensor math, no I/O. Spec: docs/grpo_formulas.md "KL". Shapes: B sequences, T tokens.
#pragma once

#include <string>

#include <ATen/core/Tensor.h>

namespace zeroth::algo {

enum class KlEstimator {
  K1,  // logp - logp_ref                       (verl "kl", OpenRLHF "k1")
  K2,  // 0.5 * (logp - logp_ref)^2             (verl "mse")
  K3,  // exp(logp_ref - logp) - (logp_ref - logp) - 1, input clamped to [-20, 20], output to
       // [-10, 10] as verl "low_var_kl" does; TRL GRPO's estimator
};

const char* kl_estimator_name(KlEstimator estimator);  // "k1", "k2", "k3"
// "k1", "k2", "k3" and verl's "kl", "mse", "low_var_kl". Error naming `where` otherwise.
KlEstimator parse_kl_estimator(const std::string& name, const std::string& where);

// Per-token KL(pi || pi_ref) estimate. logprobs, logprobs_ref: [B, T] (same shape) -> [B, T].
// Differentiable in `logprobs`; `logprobs_ref` is treated as a constant.
torch::Tensor kl_estimate(const torch::Tensor& logprobs, const torch::Tensor& logprobs_ref, KlEstimator estimator);

// KL-in-reward: token rewards [B, T] = R_i at each sequence's last mask token, minus beta * kl
// on every mask token, 0 off the mask. rewards: [B]; kl, mask: [B, T]. No gradient (detached).
torch::Tensor kl_penalized_token_rewards(const torch::Tensor& rewards, const torch::Tensor& kl, const torch::Tensor& mask,
                                         double beta);

// Returns G_t = sum_{s >= t, s on mask} gamma^(s - t') r_s over mask tokens (t' counts only mask
// tokens, so padding inside a sequence does not discount), 0 off the mask. [B, T] -> [B, T].
torch::Tensor discounted_returns(const torch::Tensor& token_rewards, const torch::Tensor& mask, double gamma);

}  // namespace zeroth::algo
