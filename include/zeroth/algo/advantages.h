// Group-relative advantages for GRPO-family training: one scalar per completion from the outcome
// rewards of its group of G completions. Pure tensor math, no I/O, no model.
// Spec: docs/grpo_formulas.md "Advantages"; options documented in docs/algo.md.
// Shapes: N prompts (groups), G completions per group; rewards are [N*G] (group-major: completions
// of prompt 0 first) or [N, G]; the result has the same shape.
#pragma once

#include <cstdint>
#include <string>

#include <ATen/core/Tensor.h>

#include "zeroth/core/json.h"

namespace zeroth::algo {

enum class AdvantageEstimator {
  // (r - mean_g) / (std_g + eps): DeepSeekMath GRPO; verl "grpo", TRL scale_rewards="group".
  Grpo,
  // r - mean_g: Dr. GRPO (understand-r1-zero); TRL scale_rewards="none", verl norm_adv_by_std_in_grpo=False.
  DrGrpo,
  // (r - mean_g) / (std over the whole batch + eps): TRL scale_rewards="batch".
  BatchStd,
  // r_i - mean of the other scorable completions of the group (leave-one-out): RLOO.
  Rloo,
  // r - mean_g, then whitened over the batch: verl "reinforce_plus_plus_baseline".
  ReinforcePlusPlusBaseline,
};

// "grpo", "dr_grpo", "batch_std", "rloo", "reinforce_plus_plus_baseline".
const char* advantage_estimator_name(AdvantageEstimator estimator);

struct AdvantageOptions {
  // Which estimator. JSON key "estimator"; names as above, TRL's scale_rewards names "group",
  // "none" and "batch" are accepted as aliases of grpo, dr_grpo and batch_std.
  AdvantageEstimator estimator = AdvantageEstimator::Grpo;
  // eps in (r - mean) / (std + eps), for grpo and batch_std. verl uses 1e-6, TRL 1e-4. It only
  // matters for near-constant groups; exactly constant groups get advantage 0 regardless.
  double epsilon = 1e-6;

  // Reads an "advantage" object; unknown keys and out-of-range values are errors naming the path.
  static AdvantageOptions from_json(const JsonReader& json);
};

struct AdvantageResult {
  torch::Tensor advantages;  // same shape as rewards, float32 (float64 when rewards are float64)
  torch::Tensor group_mean;  // [N] mean of the scorable rewards of each group (0 if none)
  torch::Tensor group_std;   // [N] sample std (Bessel) of the scorable rewards (0 if < 2)
  torch::Tensor zero_std;    // [N] bool: fewer than 2 scorable rewards, or all of them equal
  int64_t num_groups = 0;
  int64_t num_zero_std = 0;  // groups with zero_std set
  double frac_zero_std = 0;  // num_zero_std / num_groups (the metric `frac_zero_std`)
  int64_t num_unscorable = 0;
};

// Advantages of N groups of `group_size` completions.
//   rewards:         [N*G] or [N, G], floating point. NaN means "unscorable" (TRL's None).
//   unscorable:      optional bool mask shaped like rewards (true = the verifier could not judge);
//                    an undefined tensor means none beyond NaN rewards.
//   response_lengths: optional [N*G] or [N, G] token counts, used only by
//                    reinforce_plus_plus_baseline, whose whitening is over tokens in verl (each
//                    completion weighted by its length); undefined = every completion weight 1.
// Unscorable completions are left out of every mean, std and whitening statistic and get
// advantage 0. A group whose scorable rewards are all equal (or has fewer than 2) gets advantage 0
// everywhere and counts in frac_zero_std; DAPO's dynamic sampling drops such groups (zero_std).
// The std is the sample std (N-1, Bessel's correction), as verl, TRL and OpenRLHF compute it
// (torch.std's default); statistics are computed in float64.
//
//   auto r = torch::tensor({1.0, 0.0, 0.0, 1.0, 1.0, 1.0});      // N=2, G=3
//   auto res = algo::compute_advantages(r, 3, {});              // grpo: 1.1547, -0.5774, -0.5774, 0, 0, 0
AdvantageResult compute_advantages(const torch::Tensor& rewards, int64_t group_size, const AdvantageOptions& options,
                                   const torch::Tensor& unscorable = {}, const torch::Tensor& response_lengths = {});

}  // namespace zeroth::algo
