// Logits processors (penalties, temperature, top-k, top-p, min-p) and inverse-CDF token draws.
// Shapes: B rows, V vocabulary. All math in fp32 except the CDF, which is accumulated in fp64 so
// that a draw over 151,936 entries is not biased by rounding.
#include "zeroth/rollout/logits_processors.h"

#include <limits>

#include <torch/torch.h>

#include "rollout/sample_kernel.h"
#include "zeroth/core/error.h"

namespace zeroth::rollout {
namespace {

const float kNegInf = -std::numeric_limits<float>::infinity();

class BannedTokens : public LogitsProcessor {
 public:
  explicit BannedTokens(std::vector<int64_t> ids) : ids_(std::move(ids)) {}
  std::string name() const override { return "banned_tokens"; }
  void apply(at::Tensor& logits, const TokenHistory&) const override {
    const int64_t vocab = logits.size(1);
    for (int64_t id : ids_) {
      if (id < 0 || id >= vocab) throw Error(cat("banned_token_ids: id ", id, " is outside the vocabulary (", vocab, ")"));
    }
    auto index = torch::tensor(ids_, torch::TensorOptions().dtype(torch::kLong).device(logits.device()));
    logits.index_fill_(1, index, kNegInf);
  }

 private:
  std::vector<int64_t> ids_;
};

// CTRL (Keskar et al. 2019) as transformers implements it: seen tokens' positive logits are divided
// by the penalty and negative ones multiplied, so the token always becomes less likely.
class RepetitionPenalty : public LogitsProcessor {
 public:
  explicit RepetitionPenalty(double penalty) : penalty_(penalty) {}
  std::string name() const override { return "repetition_penalty"; }
  bool needs_history() const override { return true; }
  void apply(at::Tensor& logits, const TokenHistory& history) const override {
    auto penalized = torch::where(logits > 0, logits / penalty_, logits * penalty_);  // [B, V]
    logits.copy_(torch::where(history.seen, penalized, logits));
  }

 private:
  double penalty_;
};

// OpenAI / vLLM semantics: logit -= presence * [count > 0] + frequency * count, over the completion.
class PresenceFrequencyPenalty : public LogitsProcessor {
 public:
  PresenceFrequencyPenalty(double presence, double frequency) : presence_(presence), frequency_(frequency) {}
  std::string name() const override { return "presence_frequency_penalty"; }
  bool needs_history() const override { return true; }
  void apply(at::Tensor& logits, const TokenHistory& history) const override {
    const auto& counts = history.output_counts;  // [B, V]
    if (presence_ != 0.0) logits.sub_((counts > 0).to(logits.scalar_type()) * presence_);
    if (frequency_ != 0.0) logits.sub_(counts * frequency_);
  }

 private:
  double presence_, frequency_;
};

class Temperature : public LogitsProcessor {
 public:
  explicit Temperature(double t) : t_(t) {}
  std::string name() const override { return "temperature"; }
  void apply(at::Tensor& logits, const TokenHistory&) const override { logits.div_(t_); }

 private:
  double t_;
};

// Keeps tokens whose logit is >= the k-th largest (ties at the threshold are kept, as transformers does).
class TopK : public LogitsProcessor {
 public:
  explicit TopK(int64_t k) : k_(k) {}
  std::string name() const override { return "top_k"; }
  void apply(at::Tensor& logits, const TokenHistory&) const override {
    const int64_t k = std::min<int64_t>(k_, logits.size(1));
    auto kth = std::get<0>(logits.topk(k, /*dim=*/1)).narrow(1, k - 1, 1);  // [B, 1]
    logits.masked_fill_(logits < kth, kNegInf);
  }

 private:
  int64_t k_;
};

// Nucleus sampling (Holtzman et al. 2019): keep the smallest prefix of tokens, by descending
// probability, whose mass reaches p; the most likely token is always kept.
class TopP : public LogitsProcessor {
 public:
  explicit TopP(double p) : p_(p) {}
  std::string name() const override { return "top_p"; }
  void apply(at::Tensor& logits, const TokenHistory&) const override {
    auto sorted = logits.sort(/*dim=*/1, /*descending=*/true);
    auto sorted_logits = std::get<0>(sorted), order = std::get<1>(sorted);  // [B, V]
    auto probs = torch::softmax(sorted_logits, 1);
    auto mass_before = probs.cumsum(1) - probs;                              // exclusive prefix sum
    auto drop_sorted = mass_before >= p_;                                    // [B, V] bool
    auto drop = torch::zeros_like(drop_sorted).scatter_(1, order, drop_sorted);
    logits.masked_fill_(drop, kNegInf);
  }

 private:
  double p_;
};

// min-p (Nguyen et al. 2024): drop tokens whose probability is below min_p x the top probability.
class MinP : public LogitsProcessor {
 public:
  explicit MinP(double min_p) : min_p_(min_p) {}
  std::string name() const override { return "min_p"; }
  void apply(at::Tensor& logits, const TokenHistory&) const override {
    auto probs = torch::softmax(logits, 1);                     // [B, V]
    auto threshold = std::get<0>(probs.max(1, true)) * min_p_;  // [B, 1]
    logits.masked_fill_(probs < threshold, kNegInf);
  }

 private:
  double min_p_;
};

}  // namespace

std::unique_ptr<LogitsProcessor> make_banned_tokens(std::vector<int64_t> ids) {
  return std::make_unique<BannedTokens>(std::move(ids));
}
std::unique_ptr<LogitsProcessor> make_repetition_penalty(double penalty) {
  return std::make_unique<RepetitionPenalty>(penalty);
}
std::unique_ptr<LogitsProcessor> make_presence_frequency_penalty(double presence, double frequency) {
  return std::make_unique<PresenceFrequencyPenalty>(presence, frequency);
}
std::unique_ptr<LogitsProcessor> make_temperature(double temperature) { return std::make_unique<Temperature>(temperature); }
std::unique_ptr<LogitsProcessor> make_top_k(int64_t k) { return std::make_unique<TopK>(k); }
std::unique_ptr<LogitsProcessor> make_top_p(double p) { return std::make_unique<TopP>(p); }
std::unique_ptr<LogitsProcessor> make_min_p(double min_p) { return std::make_unique<MinP>(min_p); }

// ---------------------------------------------------------------------------------------------

TokenHistory::TokenHistory(int64_t rows, int64_t vocab, bool enabled, c10::Device device) {
  if (!enabled) return;
  seen = torch::zeros({rows, vocab}, torch::TensorOptions().dtype(torch::kBool).device(device));
  output_counts = torch::zeros({rows, vocab}, torch::TensorOptions().dtype(torch::kFloat).device(device));
}

void TokenHistory::reset_row(int64_t row, const std::vector<int64_t>& prompt_ids) {
  if (!enabled()) return;
  seen[row].zero_();
  output_counts[row].zero_();
  if (!prompt_ids.empty()) {
    auto index = torch::tensor(prompt_ids, torch::TensorOptions().dtype(torch::kLong).device(seen.device()));
    seen[row].index_fill_(0, index, true);
  }
}

void TokenHistory::append(const at::Tensor& ids) {
  if (!enabled()) return;
  auto valid = ids >= 0;                                   // [B]
  auto safe = ids.clamp_min(0).unsqueeze(1);               // [B, 1]
  auto add = valid.to(torch::kFloat).unsqueeze(1);         // [B, 1]
  output_counts.scatter_add_(1, safe, add);
  seen.scatter_(1, safe, valid.unsqueeze(1).logical_or(seen.gather(1, safe)));
}

LogitsChain LogitsChain::from_options(const SamplingOptions& o) {
  LogitsChain chain;
  if (!o.banned_token_ids.empty()) chain.add(make_banned_tokens(o.banned_token_ids));
  if (o.repetition_penalty != 1.0) chain.add(make_repetition_penalty(o.repetition_penalty));
  if (o.presence_penalty != 0.0 || o.frequency_penalty != 0.0) {
    chain.add(make_presence_frequency_penalty(o.presence_penalty, o.frequency_penalty));
  }
  if (o.temperature > 0.0) {
    if (o.temperature != 1.0) chain.add(make_temperature(o.temperature));
    if (o.top_k > 0) chain.add(make_top_k(o.top_k));
    if (o.top_p < 1.0) chain.add(make_top_p(o.top_p));
    if (o.min_p > 0.0) chain.add(make_min_p(o.min_p));
  }
  return chain;
}

void LogitsChain::add(std::unique_ptr<LogitsProcessor> processor) { processors_.push_back(std::move(processor)); }

void LogitsChain::apply(at::Tensor& logits, const TokenHistory& history) const {
  for (const auto& p : processors_) {
    if (p->needs_history() && !history.enabled()) {
      throw Error("logits processor " + p->name() + " needs a TokenHistory built with enabled = true");
    }
    p->apply(logits, history);
  }
}

bool LogitsChain::needs_history() const {
  for (const auto& p : processors_) {
    if (p->needs_history()) return true;
  }
  return false;
}

std::vector<std::string> LogitsChain::names() const {
  std::vector<std::string> out;
  for (const auto& p : processors_) out.push_back(p->name());
  return out;
}

SampledTokens sample_tokens(const at::Tensor& logits, const LogitsChain& chain, const TokenHistory& history,
                            bool greedy, const std::vector<double>& uniforms) {
  TORCH_CHECK(logits.dim() == 2, "sample_tokens expects logits [B, V], got ", logits.sizes());
  const int64_t rows = logits.size(0), V = logits.size(1);
  auto raw = logits.to(torch::kFloat).contiguous();              // [B, V]
  auto processed = chain.empty() ? raw : raw.clone();            // [B, V]
  chain.apply(processed, history);

  SampledTokens out;
  if (!greedy) {
    TORCH_CHECK(static_cast<int64_t>(uniforms.size()) == rows, "sample_tokens: need one uniform per row, got ",
                uniforms.size(), " for ", rows, " rows");
  }
  if (!greedy && raw.device().is_cpu() && processed.is_contiguous()) {
    out.ids = torch::empty({rows}, torch::kLong);
    out.sampling_logprobs = torch::empty({rows}, torch::kFloat);
    out.policy_logprobs = torch::empty({rows}, torch::kFloat);
    kernels::sample_rows(processed.data_ptr<float>(), raw.data_ptr<float>(), rows, V, uniforms.data(),
                         out.ids.data_ptr<int64_t>(), out.sampling_logprobs.data_ptr<float>(),
                         out.policy_logprobs.data_ptr<float>());
    return out;
  }
  if (greedy) {
    out.ids = processed.argmax(1);                               // [B]
    out.sampling_logprobs = torch::zeros({rows}, raw.options());
  } else {
    auto logp = torch::log_softmax(processed, 1);                // [B, V]
    auto cdf = logp.exp().to(torch::kDouble).cumsum(1);          // [B, V]
    auto u = torch::tensor(uniforms, torch::TensorOptions().dtype(torch::kDouble)).to(cdf.device());
    auto target = (u * cdf.select(1, cdf.size(1) - 1)).unsqueeze(1);  // [B, 1], in [0, total)
    out.ids = torch::searchsorted(cdf, target, /*out_int32=*/false, /*right=*/true).squeeze(1).clamp_max(cdf.size(1) - 1);
    out.sampling_logprobs = logp.gather(1, out.ids.unsqueeze(1)).squeeze(1);
  }
  auto lse = raw.logsumexp(1);                                   // [B]
  out.policy_logprobs = raw.gather(1, out.ids.unsqueeze(1)).squeeze(1) - lse;
  return out;
}

}  // namespace zeroth::rollout
