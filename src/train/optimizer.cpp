// AdamW with fp32 master weights, global-norm clipping and NaN/Inf skipping. The arithmetic follows
// torch::optim::AdamW and torch::nn::utils::clip_grad_norm_ op for op, so fp32 runs match them bit
// for bit (tests/train/test_optimizer.cpp checks it).
#include "zeroth/train/optimizer.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <torch/torch.h>

#include "core/tensor_bits.h"
#include "train/adamw_kernel.h"
#include "zeroth/train/distributed.h"

namespace zeroth::train {

OptimizerOptions OptimizerOptions::from_json(const JsonReader& json) {
  OptimizerOptions o;
  o.lr = json.get_or<double>("lr", o.lr);
  o.beta1 = json.get_or<double>("beta1", o.beta1);
  o.beta2 = json.get_or<double>("beta2", o.beta2);
  o.eps = json.get_or<double>("eps", o.eps);
  o.weight_decay = json.get_or<double>("weight_decay", o.weight_decay);
  o.decay_norms_and_biases = json.get_or<bool>("decay_norms_and_biases", o.decay_norms_and_biases);
  o.max_grad_norm = json.get_or<double>("max_grad_norm", o.max_grad_norm);
  o.max_consecutive_skips = json.get_or<int64_t>("max_consecutive_skips", o.max_consecutive_skips);
  if (auto s = json.opt<std::string>("lr_scheduler")) {
    if (*s == "constant") o.lr_scheduler = LrSchedule::Constant;
    else if (*s == "cosine") o.lr_scheduler = LrSchedule::Cosine;
    else if (*s == "linear") o.lr_scheduler = LrSchedule::Linear;
    else {
      std::string hint = did_you_mean(*s, {"constant", "cosine", "linear"});
      json.at("lr_scheduler").fail("unknown schedule " + quote(*s) + "; expected constant, cosine or linear" +
                                   (hint.empty() ? "" : "; did you mean \"" + hint + "\"?"));
    }
  }
  o.warmup_steps = json.get_or<int64_t>("warmup_steps", o.warmup_steps);
  o.warmup_ratio = json.get_or<double>("warmup_ratio", o.warmup_ratio);
  o.min_lr_ratio = json.get_or<double>("min_lr_ratio", o.min_lr_ratio);
  json.reject_unknown_keys();

  auto bad = [&](const std::string& key, const std::string& message) { json.at(key).fail(message); };
  if (!(o.lr >= 0.0)) bad("lr", cat("must be >= 0, got ", o.lr));
  if (!(o.beta1 >= 0.0 && o.beta1 < 1.0)) bad("beta1", cat("must be in [0, 1), got ", o.beta1));
  if (!(o.beta2 >= 0.0 && o.beta2 < 1.0)) bad("beta2", cat("must be in [0, 1), got ", o.beta2));
  if (!(o.eps > 0.0)) bad("eps", cat("must be > 0, got ", o.eps));
  if (!(o.weight_decay >= 0.0)) bad("weight_decay", cat("must be >= 0, got ", o.weight_decay));
  if (!(o.max_grad_norm >= 0.0)) bad("max_grad_norm", cat("must be >= 0 (0 disables clipping), got ", o.max_grad_norm));
  if (o.max_consecutive_skips < 1) bad("max_consecutive_skips", cat("must be at least 1, got ", o.max_consecutive_skips));
  if (o.warmup_steps < 0) bad("warmup_steps", cat("must be >= 0, got ", o.warmup_steps));
  if (!(o.warmup_ratio >= 0.0 && o.warmup_ratio < 1.0)) bad("warmup_ratio", cat("must be in [0, 1), got ", o.warmup_ratio));
  if (o.warmup_steps > 0 && o.warmup_ratio > 0.0) {
    bad("warmup_ratio", "set either warmup_steps or warmup_ratio, not both");
  }
  if (!(o.min_lr_ratio >= 0.0 && o.min_lr_ratio <= 1.0)) bad("min_lr_ratio", cat("must be in [0, 1], got ", o.min_lr_ratio));
  return o;
}

namespace {

// Parameters and gradients that are contiguous CPU bf16 (the master and moments are then fp32).
bool fusable(const at::Tensor& param, const at::Tensor& grad) {
  return param.device().is_cpu() && param.scalar_type() == at::kBFloat16 && grad.scalar_type() == at::kBFloat16 &&
         param.is_contiguous() && grad.is_contiguous();
}

// Norm weights, biases and other 1-D parameters are not decayed (the usual GPT/LLaMA recipe).
bool is_norm_or_bias(const std::string& name, const torch::Tensor& p) {
  if (p.dim() <= 1) return true;
  auto ends_with = [&](const std::string& suffix) {
    return name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  return ends_with("bias") || name.find("norm") != std::string::npos;
}
}  // namespace

AdamW::AdamW(torch::nn::Module& module, const OptimizerOptions& options) : options_(options) {
  torch::NoGradGuard no_grad;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    const torch::Tensor& p = item.value();
    if (!p.requires_grad()) continue;
    Slot s;
    s.name = item.key();
    s.param = p;
    s.master = p.scalar_type() == torch::kFloat ? p : p.detach().to(torch::kFloat).clone();
    s.exp_avg = torch::zeros_like(s.master);
    s.exp_avg_sq = torch::zeros_like(s.master);
    s.decay = options.decay_norms_and_biases || !is_norm_or_bias(s.name, p);
    slots_.push_back(std::move(s));
  }
  if (slots_.empty()) throw Error("AdamW: the module has no trainable parameters (all frozen?)");
}

std::vector<std::string> AdamW::parameter_names() const {
  std::vector<std::string> names;
  for (const auto& s : slots_) names.push_back(s.name);
  return names;
}

bool AdamW::decays(const std::string& name) const {
  for (const auto& s : slots_) {
    if (s.name == name) return s.decay;
  }
  throw Error("AdamW: no trainable parameter named " + quote(name));
}

bool AdamW::has_separate_masters() const {
  for (const auto& s : slots_) {
    if (s.master.defined() && !s.master.is_same(s.param)) return true;
  }
  return false;
}

StepResult AdamW::step(double lr) {
  torch::NoGradGuard no_grad;
  StepResult result;
  result.lr = lr;
  bool all_fusable = true;
  bool any_grad = false;
  for (const auto& s : slots_) {
    const auto& g = s.param.grad();
    if (!g.defined()) continue;
    any_grad = true;
    all_fusable = all_fusable && fusable(s.param, g) && (!owns(s) || s.master.is_contiguous());
  }
  if (any_grad && all_fusable) return step_fused(lr);
  // fp32 gradients (copies for non-fp32 parameters; fp32 grads are used, and clipped, in place as
  // torch's clip_grad_norm_ does).
  std::vector<size_t> active;
  std::vector<torch::Tensor> grads;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const auto& g = slots_[i].param.grad();
    if (!g.defined()) continue;
    active.push_back(i);
    grads.push_back(g.scalar_type() == torch::kFloat ? g : g.to(torch::kFloat));
  }
  if (grads.empty()) {
    result.grad_norm = 0;
    return result;  // nothing to do; not a failure
  }
  // torch::nn::utils::clip_grad_norm_: norm of the per-tensor norms.
  std::vector<torch::Tensor> norms;
  for (const auto& g : grads) norms.push_back(g.norm(2));
  auto total = torch::stack(norms).norm(2);
  result.grad_norm = total.item<double>();
  if (!std::isfinite(result.grad_norm)) {
    result.status = StepStatus::SkippedNonFinite;
    return result;
  }
  if (options_.max_grad_norm > 0.0) {
    auto coef = (options_.max_grad_norm / (total + 1e-6)).clamp_max(1.0);  // a tensor, as torch computes it
    result.clip_coef = std::min(1.0, options_.max_grad_norm / (result.grad_norm + 1e-6));  // for reporting
    for (auto& g : grads) g.mul_(coef);
  }

  ++num_steps_;
  const double b1 = options_.beta1, b2 = options_.beta2;
  const double bias_correction1 = 1.0 - std::pow(b1, static_cast<double>(num_steps_));
  const double bias_correction2 = 1.0 - std::pow(b2, static_cast<double>(num_steps_));
  const double step_size = lr / bias_correction1;
  for (size_t k = 0; k < active.size(); ++k) {
    Slot& s = slots_[active[k]];
    if (!owns(s)) continue;  // ZeRO-1: another rank updates it (broadcast below)
    const torch::Tensor& g = grads[k];
    if (s.decay && options_.weight_decay != 0.0) s.master.mul_(1.0 - lr * options_.weight_decay);
    s.exp_avg.mul_(b1).add_(g, 1.0 - b1);
    s.exp_avg_sq.mul_(b2).addcmul_(g, g, 1.0 - b2);
    auto denom = (s.exp_avg_sq.sqrt() / std::sqrt(bias_correction2)).add_(options_.eps);
    s.master.addcdiv_(s.exp_avg, denom, -step_size);
    if (!s.master.is_same(s.param)) s.param.copy_(s.master);  // round to the parameter dtype
  }
  if (dist_ != nullptr) {  // ZeRO-1: the owners send their updated parameters
    for (size_t i : active) dist_->broadcast(slots_[i].param, slots_[i].owner);
  }
  return result;
}

StepResult AdamW::step_fused(double lr) {
  StepResult result;
  result.lr = lr;
  std::vector<size_t> active;
  double squares = 0;
  for (size_t i = 0; i < slots_.size(); ++i) {
    const auto& g = slots_[i].param.grad();
    if (!g.defined()) continue;
    active.push_back(i);
    squares += bf16_sum_squares(bf16_bits(g), g.numel());
  }
  result.grad_norm = std::sqrt(squares);
  if (!std::isfinite(result.grad_norm)) {
    result.status = StepStatus::SkippedNonFinite;
    return result;
  }
  FusedAdamWScalars k{};
  k.coef = 1.0f;
  if (options_.max_grad_norm > 0.0) {
    result.clip_coef = std::min(1.0, options_.max_grad_norm / (result.grad_norm + 1e-6));
    k.coef = static_cast<float>(result.clip_coef);
  }
  ++num_steps_;
  const double b1 = options_.beta1, b2 = options_.beta2;
  const double bias_correction1 = 1.0 - std::pow(b1, static_cast<double>(num_steps_));
  const double bias_correction2 = 1.0 - std::pow(b2, static_cast<double>(num_steps_));
  k.b1 = static_cast<float>(b1);
  k.b2 = static_cast<float>(b2);
  k.one_minus_b1 = static_cast<float>(1.0 - b1);
  k.one_minus_b2 = static_cast<float>(1.0 - b2);
  k.inv_sqrt_bc2 = static_cast<float>(1.0 / std::sqrt(bias_correction2));
  k.eps = static_cast<float>(options_.eps);
  k.step_size = static_cast<float>(lr / bias_correction1);
  for (size_t i : active) {
    Slot& s = slots_[i];
    if (!owns(s)) continue;  // ZeRO-1: another rank updates it (broadcast below)
    FusedAdamWScalars ks = k;
    ks.decay = s.decay && options_.weight_decay != 0.0 ? static_cast<float>(1.0 - lr * options_.weight_decay) : 1.0f;
    float* w = s.master.data_ptr<float>();
    float* m = s.exp_avg.data_ptr<float>();
    float* v = s.exp_avg_sq.data_ptr<float>();
    const auto* g = bf16_bits(s.param.grad());
    auto* p = bf16_bits(s.param);
    fused_adamw_bf16(w, m, v, g, p, s.master.numel(), ks);
  }
  if (dist_ != nullptr) {
    for (size_t i : active) dist_->broadcast(slots_[i].param, slots_[i].owner);
  }
  return result;
}

void AdamW::zero_grad() {
  for (auto& s : slots_) {
    auto& g = s.param.mutable_grad();
    if (g.defined()) g = torch::Tensor();
  }
}

NamedTensors AdamW::state_tensors() const {
  NamedTensors out;
  if (dist_ != nullptr) {  // ZeRO-1: gather every shard on rank 0, one tensor at a time
    torch::NoGradGuard no_grad;
    for (const auto& s : slots_) {
      const std::pair<const char*, const at::Tensor*> parts[] = {
          {"master.", &s.master}, {"exp_avg.", &s.exp_avg}, {"exp_avg_sq.", &s.exp_avg_sq}};
      for (const auto& [prefix, tensor] : parts) {
        at::Tensor buf = owns(s) ? tensor->detach().contiguous()
                                 : torch::empty(s.param.sizes(), s.param.options().dtype(torch::kFloat));
        dist_->broadcast(buf, s.owner);
        if (dist_->is_main()) out.emplace_back(prefix + s.name, buf.to(torch::kCPU).clone());
      }
    }
    return out;
  }
  for (const auto& s : slots_) {
    out.emplace_back("master." + s.name, s.master.detach().to(torch::kCPU).clone());
    out.emplace_back("exp_avg." + s.name, s.exp_avg.to(torch::kCPU).clone());
    out.emplace_back("exp_avg_sq." + s.name, s.exp_avg_sq.to(torch::kCPU).clone());
  }
  return out;
}

void AdamW::load_state_tensors(const std::map<std::string, at::Tensor>& tensors, int64_t num_steps,
                               const std::string& source) {
  torch::NoGradGuard no_grad;
  auto fetch = [&](const std::string& key, const Slot& s) {
    auto it = tensors.find(key);
    if (it == tensors.end()) {
      throw Error(source + ": no optimizer state " + quote(key) + " for parameter " + quote(s.name) +
                  " (was the checkpoint written for a different model?)");
    }
    if (it->second.sizes() != s.master.sizes()) {
      throw Error(cat(source, ": optimizer state ", quote(key), " has shape ", it->second.sizes(), ", the parameter ",
                      s.master.sizes()));
    }
    return it->second;
  };
  // Validate everything before changing anything.
  for (const auto& s : slots_) {
    fetch("master." + s.name, s);
    fetch("exp_avg." + s.name, s);
    fetch("exp_avg_sq." + s.name, s);
  }
  for (auto& s : slots_) {
    if (!owns(s)) {  // ZeRO-1: only the weights; another rank keeps the moments
      s.param.copy_(fetch("master." + s.name, s));
      continue;
    }
    s.master.copy_(fetch("master." + s.name, s));
    s.exp_avg.copy_(fetch("exp_avg." + s.name, s));
    s.exp_avg_sq.copy_(fetch("exp_avg_sq." + s.name, s));
    if (!s.master.is_same(s.param)) s.param.copy_(s.master);
  }
  num_steps_ = num_steps;
}

bool AdamW::owns(const Slot& s) const { return dist_ == nullptr || s.owner == dist_->rank(); }

void AdamW::shard(Distributed& dist) {
  if (!dist.active() || dist.world() <= 1) return;
  ZEROTH_CHECK(dist_ == nullptr, "AdamW::shard: already sharded");
  dist_ = &dist;
  // Largest first to the least loaded rank (ties: the lower rank), the same on every rank.
  std::vector<size_t> by_size(slots_.size());
  std::iota(by_size.begin(), by_size.end(), size_t{0});
  std::stable_sort(by_size.begin(), by_size.end(),
                   [&](size_t a, size_t b) { return slots_[a].param.numel() > slots_[b].param.numel(); });
  std::vector<int64_t> load(static_cast<size_t>(dist.world()), 0);
  for (size_t i : by_size) {
    const auto r = static_cast<size_t>(std::min_element(load.begin(), load.end()) - load.begin());
    slots_[i].owner = static_cast<int>(r);
    load[r] += slots_[i].param.numel();
  }
  for (auto& s : slots_) {
    if (owns(s)) continue;
    if (!s.master.is_same(s.param)) s.master = s.param;  // no separate fp32 copy of what we don't update
    s.exp_avg = at::Tensor();
    s.exp_avg_sq = at::Tensor();
  }
}

int AdamW::owner(const std::string& name) const {
  for (const auto& s : slots_) {
    if (s.name == name) return s.owner;
  }
  throw Error("AdamW: no trainable parameter named " + quote(name));
}

void NonFiniteGuard::record(bool applied, int64_t step, const std::string& what) {
  if (applied) {
    consecutive_ = 0;
    return;
  }
  ++consecutive_;
  ++total_;
  if (consecutive_ >= max_) {
    throw Error(cat("training stopped at step ", step, ": ", consecutive_, " consecutive steps had NaN/Inf ", what,
                    " and were skipped (", total_, " skipped in all). Lower the learning rate, check the data and "
                    "rewards for NaN, or raise optimizer.max_consecutive_skips; the last checkpoint holds no NaNs."));
  }
}

}  // namespace zeroth::train
