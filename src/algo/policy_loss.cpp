// PPO-clip policy loss with clip-higher, dual clip, GSPO ratio, rollout IS correction, KL and
// entropy terms. Shapes: B sequences, T tokens; computed in float32 (float64 when the inputs are).
#include "zeroth/algo/policy_loss.h"

#include <torch/torch.h>

namespace zeroth::algo {

namespace {

// Reads a string option restricted to `names`; returns its index. Error with did-you-mean otherwise.
size_t read_choice(const JsonReader& json, const std::string& key, const std::vector<std::string>& names, size_t fallback) {
  auto value = json.opt<std::string>(key);
  if (!value) return fallback;
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == *value) return i;
  }
  std::string list;
  for (size_t i = 0; i < names.size(); ++i) list += (i ? ", " : "") + names[i];
  std::string hint = did_you_mean(*value, names);
  json.at(key).fail("unknown value " + quote(*value) + "; expected one of " + list +
                    (hint.empty() ? "" : "; did you mean \"" + hint + "\"?"));
}

// Statistics are gathered as 0-dim device tensors and copied to the host in one transfer, so a
// micro-batch costs one device sync, not one per figure.
class StatsReader {
 public:
  void sum(const torch::Tensor& t, double* dest) { add(t.detach().to(torch::kDouble).sum(), dest); }
  void add(const torch::Tensor& scalar, double* dest) {
    values_.push_back(scalar.detach().to(torch::kDouble).reshape({}));
    dests_.push_back(dest);
  }
  void read() {
    if (values_.empty()) return;
    auto host = torch::stack(values_).to(torch::kCPU);
    auto a = host.accessor<double, 1>();
    for (size_t i = 0; i < dests_.size(); ++i) *dests_[i] = a[static_cast<int64_t>(i)];
  }

 private:
  std::vector<torch::Tensor> values_;
  std::vector<double*> dests_;
};

}  // namespace

LossOptions LossOptions::from_json(const JsonReader& json) {
  LossOptions o;
  if (auto mode = json.opt<std::string>("loss_agg_mode")) {
    o.loss_agg_mode = parse_loss_aggregation(*mode, json.where("loss_agg_mode"));
  }
  o.epsilon_low = json.get_or<double>("epsilon_low", o.epsilon_low);
  o.epsilon_high = json.get_or<double>("epsilon_high", o.epsilon_high);
  o.dual_clip_c = json.get_or<double>("dual_clip_c", o.dual_clip_c);
  o.log_ratio_clamp = json.get_or<double>("log_ratio_clamp", o.log_ratio_clamp);
  o.importance_sampling_level =
      static_cast<RatioLevel>(read_choice(json, "importance_sampling_level", {"token", "sequence"}, 0));
  o.beta = json.get_or<double>("beta", o.beta);
  if (auto est = json.opt<std::string>("kl_estimator")) o.kl_estimator = parse_kl_estimator(*est, json.where("kl_estimator"));
  o.kl_in_reward = json.get_or<bool>("kl_in_reward", o.kl_in_reward);
  o.kl_bias_correction = json.get_or<bool>("kl_bias_correction", o.kl_bias_correction);
  o.entropy_coef = json.get_or<double>("entropy_coef", o.entropy_coef);
  o.rollout_is_level = static_cast<RolloutIsLevel>(read_choice(json, "rollout_is_level", {"none", "token", "sequence"}, 2));
  o.rollout_is_mode = static_cast<RolloutIsMode>(read_choice(json, "rollout_is_mode", {"truncate", "mask"}, 1));
  o.rollout_is_cap = json.get_or<double>("rollout_is_cap", o.rollout_is_cap);
  o.loss_scale_factor = json.get_or<int64_t>("loss_scale_factor", o.loss_scale_factor);
  json.reject_unknown_keys();

  auto bad = [&](const std::string& key, const std::string& message) { json.at(key).fail(message); };
  if (!(o.epsilon_low >= 0.0 && o.epsilon_low < 1.0)) bad("epsilon_low", cat("must be in [0, 1), got ", o.epsilon_low));
  if (!(o.epsilon_high >= 0.0)) bad("epsilon_high", cat("must be >= 0, got ", o.epsilon_high));
  if (!(o.dual_clip_c == 0.0 || o.dual_clip_c > 1.0)) {
    bad("dual_clip_c", cat("must be 0 (off) or > 1, got ", o.dual_clip_c, " (verl uses 3.0, the DAPO script 10.0)"));
  }
  if (!(o.log_ratio_clamp > 0.0)) bad("log_ratio_clamp", cat("must be > 0, got ", o.log_ratio_clamp));
  if (!(o.beta >= 0.0)) bad("beta", cat("must be >= 0 (0 = no reference model), got ", o.beta));
  if (!(o.rollout_is_cap > 0.0)) bad("rollout_is_cap", cat("must be > 0, got ", o.rollout_is_cap));
  if (o.loss_scale_factor < 0) bad("loss_scale_factor", cat("must be >= 0 (0 = max_new_tokens), got ", o.loss_scale_factor));
  return o;
}

void LossStats::add(const LossStats& o) {
  num_tokens += o.num_tokens;
  clipped_low += o.clipped_low;
  clipped_high += o.clipped_high;
  dual_clipped += o.dual_clipped;
  ratio_sum += o.ratio_sum;
  ratio_max = std::max(ratio_max, o.ratio_max);
  kl_sum += o.kl_sum;
  entropy_sum += o.entropy_sum;
  is_weight_sum += o.is_weight_sum;
  is_masked += o.is_masked;
  mismatch_kl_sum += o.mismatch_kl_sum;
  policy_loss += o.policy_loss;
  kl_loss += o.kl_loss;
  entropy_loss += o.entropy_loss;
}

PolicyLossOutput policy_loss(const PolicyLossInputs& in, const LossOptions& options, const LossNormalizer& normalizer) {
  const auto& lp_new = in.logprobs_new;
  TORCH_CHECK(lp_new.defined() && lp_new.dim() == 2, "policy_loss: logprobs_new must be [B, T]");
  TORCH_CHECK(in.mask.defined() && in.mask.sizes() == lp_new.sizes(), "policy_loss: mask ", in.mask.sizes(),
              " must match logprobs_new ", lp_new.sizes());
  auto same_shape = [&](const torch::Tensor& t, const char* name) {
    TORCH_CHECK(!t.defined() || t.sizes() == lp_new.sizes(), "policy_loss: ", name, " ", t.sizes(),
                " must match logprobs_new ", lp_new.sizes());
  };
  same_shape(in.logprobs_old, "logprobs_old");
  same_shape(in.logprobs_ref, "logprobs_ref");
  same_shape(in.logprobs_sampler, "logprobs_sampler");
  same_shape(in.entropy, "entropy");
  TORCH_CHECK(in.advantages.defined() && (in.advantages.sizes() == lp_new.sizes() ||
                                          (in.advantages.dim() == 1 && in.advantages.size(0) == lp_new.size(0))),
              "policy_loss: advantages must be [B] or [B, T], got ", in.advantages.sizes());

  const auto dtype = lp_new.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
  auto lp = lp_new.to(dtype);                                                  // [B, T]
  auto m = in.mask.detach().to(dtype);                                         // [B, T]
  auto old = in.logprobs_old.defined() ? in.logprobs_old.detach().to(dtype) : lp.detach();  // [B, T]
  auto adv = in.advantages.detach().to(dtype);
  if (adv.dim() == 1) adv = adv.unsqueeze(1);                                  // [B, 1] or [B, T]
  const double clamp = options.log_ratio_clamp;

  // Importance ratio.
  torch::Tensor log_ratio;      // [B, T]
  torch::Tensor seq_log_ratio;  // [B, 1] GSPO's log s_i, with its gradient through every token of the sequence
  if (options.importance_sampling_level == RatioLevel::Token) {
    log_ratio = (lp - old).clamp(-clamp, clamp);
  } else {
    // GSPO in verl's token form: value log s_i (sequence mean), gradient of logp_new(t) per token.
    auto seq = ((lp - old) * m).sum(1, /*keepdim=*/true) / m.sum(1, /*keepdim=*/true).clamp_min(1.0);  // [B, 1]
    log_ratio = (seq.detach() + lp - lp.detach()).clamp(-clamp, clamp);
    seq_log_ratio = seq.clamp(-clamp, clamp);
  }
  auto ratio = log_ratio.exp();  // [B, T]

  // Clipped surrogate (clip-higher), as a loss to minimize.
  auto pg1 = -adv * ratio;
  auto pg2 = -adv * ratio.clamp(1.0 - options.epsilon_low, 1.0 + options.epsilon_high);
  auto pg = torch::maximum(pg1, pg2);  // [B, T]
  auto negative = (adv < 0).expand_as(pg);
  torch::Tensor dual_active = torch::zeros_like(negative);
  if (options.dual_clip_c > 0.0) {
    auto cap = -options.dual_clip_c * adv;                                   // > 0 where A < 0
    dual_active = negative.logical_and(pg > cap);
    pg = torch::where(negative, torch::minimum(pg, cap), pg);
  }

  // Rollout importance-sampling correction between sampler and trainer (no gradient).
  auto is_weight = torch::ones_like(m);  // [B, T]
  auto is_changed = torch::zeros_like(m);
  LossStats stats;
  StatsReader reader;
  if (in.logprobs_sampler.defined()) {
    auto log_w = old - in.logprobs_sampler.detach().to(dtype);              // [B, T]
    reader.sum(-log_w * m, &stats.mismatch_kl_sum);
    if (options.rollout_is_level != RolloutIsLevel::None) {
      if (options.rollout_is_level == RolloutIsLevel::Sequence) {
        log_w = (log_w * m).sum(1, /*keepdim=*/true).expand_as(m);           // [B, T]
      }
      auto w = log_w.clamp(-20.0, 20.0).exp();
      auto over = w > options.rollout_is_cap;
      is_changed = over.to(dtype);
      if (options.rollout_is_mode == RolloutIsMode::Truncate) {
        is_weight = w.clamp_max(options.rollout_is_cap);
      } else {
        is_weight = torch::where(over, torch::zeros_like(w), w);
      }
    }
    pg = pg * is_weight;
  }

  auto policy_term = aggregate_loss(pg, m, options.loss_agg_mode, normalizer);
  auto loss = policy_term;

  torch::Tensor kl;
  if (in.logprobs_ref.defined()) kl = kl_estimate(lp, in.logprobs_ref.to(dtype), options.kl_estimator);  // [B, T]
  if (options.beta > 0.0 && !options.kl_in_reward) {
    if (!kl.defined()) {
      throw Error("policy_loss: beta > 0 with the KL in the loss needs the reference log-probs (logprobs_ref)");
    }
    auto kl_loss = kl;  // [B, T]
    if (options.kl_bias_correction) {
      // k3 times the (differentiable) importance ratio, as TRL's use_bias_correction_kl: at ratio 1
      // the value is unchanged but the gradient gains k3 * grad(logp). Sequence level: TRL broadcasts
      // s_i, whose gradient reaches every token of the sequence, so use s_i itself, not the token form.
      kl_loss = kl * (options.importance_sampling_level == RatioLevel::Token ? ratio : seq_log_ratio.exp());
    }
    auto kl_term = options.beta * aggregate_loss(kl_loss, m, options.loss_agg_mode, normalizer);
    reader.add(kl_term, &stats.kl_loss);
    loss = loss + kl_term;
  }
  if (in.entropy.defined()) reader.sum(in.entropy.to(dtype) * m, &stats.entropy_sum);
  if (options.entropy_coef != 0.0) {
    if (!in.entropy.defined()) throw Error("policy_loss: entropy_coef != 0 needs the per-token entropy");
    auto ent_term = options.entropy_coef * aggregate_loss(in.entropy.to(dtype), m, options.loss_agg_mode, normalizer);
    reader.add(ent_term, &stats.entropy_loss);
    loss = loss - ent_term;
  }

  // Statistics (sums over mask tokens).
  auto pos = (adv > 0).expand_as(pg);
  reader.sum(m, &stats.num_tokens);
  reader.sum(negative.logical_and(ratio < 1.0 - options.epsilon_low).to(dtype) * m, &stats.clipped_low);
  reader.sum(pos.logical_and(ratio > 1.0 + options.epsilon_high).to(dtype) * m, &stats.clipped_high);
  reader.sum(dual_active.to(dtype) * m, &stats.dual_clipped);
  reader.sum(ratio * m, &stats.ratio_sum);
  if (m.numel() > 0) reader.add((ratio.detach() * m).max(), &stats.ratio_max);
  if (kl.defined()) reader.sum(kl * m, &stats.kl_sum);
  reader.sum(is_weight * m, &stats.is_weight_sum);
  reader.sum(is_changed * m, &stats.is_masked);
  reader.add(policy_term, &stats.policy_loss);
  reader.read();
  return {loss, stats};
}

}  // namespace zeroth::algo
