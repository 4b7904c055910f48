// Group-relative advantages (GRPO, Dr. GRPO, batch-std, RLOO, REINFORCE++-baseline).
// Shapes: N groups, G completions per group; everything is computed on [N, G] in float64.
#include "zeroth/algo/advantages.h"

#include <limits>

#include <torch/torch.h>

namespace zeroth::algo {

namespace {
// verl masked_whiten: (x - mean) * rsqrt(var + 1e-8) with the unbiased variance.
constexpr double kWhitenEps = 1e-8;
}  // namespace

const char* advantage_estimator_name(AdvantageEstimator estimator) {
  switch (estimator) {
    case AdvantageEstimator::Grpo: return "grpo";
    case AdvantageEstimator::DrGrpo: return "dr_grpo";
    case AdvantageEstimator::BatchStd: return "batch_std";
    case AdvantageEstimator::Rloo: return "rloo";
    case AdvantageEstimator::ReinforcePlusPlusBaseline: return "reinforce_plus_plus_baseline";
  }
  return "?";
}

AdvantageOptions AdvantageOptions::from_json(const JsonReader& json) {
  AdvantageOptions o;
  if (auto name = json.opt<std::string>("estimator")) {
    const std::string& s = *name;
    if (s == "grpo" || s == "group") o.estimator = AdvantageEstimator::Grpo;
    else if (s == "dr_grpo" || s == "none") o.estimator = AdvantageEstimator::DrGrpo;
    else if (s == "batch_std" || s == "batch") o.estimator = AdvantageEstimator::BatchStd;
    else if (s == "rloo") o.estimator = AdvantageEstimator::Rloo;
    else if (s == "reinforce_plus_plus_baseline") o.estimator = AdvantageEstimator::ReinforcePlusPlusBaseline;
    else {
      std::vector<std::string> names = {"grpo", "dr_grpo", "batch_std", "rloo", "reinforce_plus_plus_baseline",
                                        "group", "none", "batch"};
      std::string hint = did_you_mean(s, names);
      json.at("estimator").fail("unknown advantage estimator " + quote(s) +
                                "; expected one of grpo, dr_grpo, batch_std, rloo, reinforce_plus_plus_baseline" +
                                (hint.empty() ? "" : "; did you mean \"" + hint + "\"?"));
    }
  }
  o.epsilon = json.get_or<double>("epsilon", o.epsilon);
  if (!(o.epsilon >= 0.0)) json.at("epsilon").fail(cat("must be >= 0, got ", o.epsilon));
  json.reject_unknown_keys();
  return o;
}

AdvantageResult compute_advantages(const torch::Tensor& rewards, int64_t group_size, const AdvantageOptions& options,
                                   const torch::Tensor& unscorable, const torch::Tensor& response_lengths) {
  if (!rewards.defined() || !rewards.is_floating_point()) {
    throw Error("compute_advantages: rewards must be a floating-point tensor");
  }
  if (group_size < 2) {
    throw Error(cat("compute_advantages: group-relative advantages need at least 2 completions per group "
                    "(num_generations), got ",
                    group_size));
  }
  if (rewards.numel() % group_size != 0 || rewards.dim() > 2 || (rewards.dim() == 2 && rewards.size(1) != group_size)) {
    throw Error(cat("compute_advantages: rewards of shape ", rewards.sizes(), " are not [N*G] or [N, G] with G = ",
                    group_size));
  }
  const auto dopt = torch::TensorOptions().dtype(torch::kDouble).device(rewards.device());
  auto r = rewards.detach().to(torch::kDouble).reshape({-1, group_size});  // [N, G]
  const int64_t N = r.size(0);
  auto valid = r.isnan().logical_not();  // [N, G]
  if (unscorable.defined()) {
    if (unscorable.numel() != rewards.numel()) {
      throw Error(cat("compute_advantages: unscorable mask has ", unscorable.numel(), " entries, rewards ", rewards.numel()));
    }
    valid = valid.logical_and(unscorable.reshape({-1, group_size}).to(torch::kBool).logical_not());
  }
  auto v = valid.to(torch::kDouble);               // [N, G]
  auto rz = torch::where(valid, r, torch::zeros_like(r));  // NaN-free rewards
  auto n = v.sum(1);                                // [N] scorable per group
  auto mean = rz.sum(1) / n.clamp_min(1.0);         // [N]
  auto centered = (rz - mean.unsqueeze(1)) * v;     // [N, G], 0 on unscorable
  auto var = centered.pow(2).sum(1) / (n - 1.0).clamp_min(1.0);
  auto std = torch::where(n >= 2.0, var.sqrt(), torch::zeros_like(var));  // [N] sample std
  const double inf = std::numeric_limits<double>::infinity();
  auto hi = torch::where(valid, r, torch::full_like(r, -inf)).amax(1);
  auto lo = torch::where(valid, r, torch::full_like(r, inf)).amin(1);
  auto zero_std = (n < 2.0).logical_or(hi == lo);  // [N]
  auto keep = valid.logical_and(zero_std.logical_not().unsqueeze(1));  // [N, G]

  torch::Tensor adv;  // [N, G]
  switch (options.estimator) {
    case AdvantageEstimator::Grpo:
      adv = centered / (std.unsqueeze(1) + options.epsilon);
      break;
    case AdvantageEstimator::DrGrpo:
      adv = centered;
      break;
    case AdvantageEstimator::BatchStd: {
      // TRL scale_rewards="batch": std of all (scorable) rewards of the batch, not of the centred ones.
      auto total = v.sum();
      auto batch_mean = rz.sum() / total.clamp_min(1.0);
      auto batch_var = ((rz - batch_mean) * v).pow(2).sum() / (total - 1.0).clamp_min(1.0);
      adv = centered / (batch_var.sqrt() + options.epsilon);
      break;
    }
    case AdvantageEstimator::Rloo:
      // r_i - (sum_{j != i} r_j) / (n - 1) = n / (n - 1) * (r_i - mean).
      adv = centered * (n / (n - 1.0).clamp_min(1.0)).unsqueeze(1);
      break;
    case AdvantageEstimator::ReinforcePlusPlusBaseline: {
      // verl: scores - group mean, then masked_whiten over every response token of the batch, so a
      // completion weighs as many times as it has tokens; variance unbiased over the token count.
      torch::Tensor w = v;
      if (response_lengths.defined()) {
        if (response_lengths.numel() != rewards.numel()) {
          throw Error(cat("compute_advantages: response_lengths has ", response_lengths.numel(), " entries, rewards ",
                          rewards.numel()));
        }
        w = response_lengths.detach().to(dopt).reshape({-1, group_size}) * v;
      }
      auto W = w.sum();
      auto mu = (w * centered).sum() / W.clamp_min(1.0);
      auto wvar = (w * (centered - mu).pow(2)).sum() / (W - 1.0).clamp_min(1.0);
      adv = (centered - mu) / (wvar + kWhitenEps).sqrt();
      // Whitening shifts constant groups too (as in verl); only unscorable rows are forced to 0.
      keep = valid;
      break;
    }
  }
  adv = torch::where(keep, adv, torch::zeros_like(adv));

  AdvantageResult out;
  auto out_dtype = rewards.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
  out.advantages = adv.to(out_dtype).reshape(rewards.sizes());
  out.group_mean = mean.to(out_dtype);
  out.group_std = std.to(out_dtype);
  out.zero_std = zero_std;
  out.num_groups = N;
  out.num_zero_std = zero_std.sum().item<int64_t>();
  out.frac_zero_std = N > 0 ? static_cast<double>(out.num_zero_std) / static_cast<double>(N) : 0.0;
  out.num_unscorable = valid.numel() - valid.sum().item<int64_t>();
  return out;
}

}  // namespace zeroth::algo
