// Logits processors and the token draw of the rollout sampler (gpt-fast style: decode one token,
// then composable logits steps). Shapes: B rows (live sequences), V vocabulary.
//
//   LogitsChain chain = LogitsChain::from_options(options);   // penalties, temperature, top-k/p, min-p
//   TokenHistory history(B, V, chain.needs_history(), device);
//   SampledTokens next = sample_tokens(logits, chain, history, options.temperature == 0, uniforms);
//   history.append(next.ids);
//
// Not here: stop strings and EOS (the sampler's loop), the model's forward pass.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

#include "zeroth/rollout/sampling_options.h"

namespace zeroth::rollout {

// What the penalties need to know about each row's tokens so far.
class TokenHistory {
 public:
  TokenHistory() = default;
  // Allocates [B, V] buffers only when `enabled` (a chain without penalties needs none).
  TokenHistory(int64_t rows, int64_t vocab, bool enabled, c10::Device device);
  bool enabled() const { return seen.defined(); }
  // Starts row `row` over: clears it and marks the prompt's tokens as seen.
  void reset_row(int64_t row, const std::vector<int64_t>& prompt_ids);
  // Records one new token per row (ids: [B] int64; rows with id < 0 are skipped).
  void append(const at::Tensor& ids);

  at::Tensor seen;           // [B, V] bool: in the prompt or the completion (repetition penalty)
  at::Tensor output_counts;  // [B, V] fp32: occurrences in the completion (presence / frequency)
};

class LogitsProcessor {
 public:
  virtual ~LogitsProcessor() = default;
  virtual std::string name() const = 0;
  virtual bool needs_history() const { return false; }
  // logits: [B, V] fp32, modified in place; filtered-out tokens become -inf.
  virtual void apply(at::Tensor& logits, const TokenHistory& history) const = 0;
};

std::unique_ptr<LogitsProcessor> make_banned_tokens(std::vector<int64_t> ids);
std::unique_ptr<LogitsProcessor> make_repetition_penalty(double penalty);
std::unique_ptr<LogitsProcessor> make_presence_frequency_penalty(double presence, double frequency);
std::unique_ptr<LogitsProcessor> make_temperature(double temperature);
std::unique_ptr<LogitsProcessor> make_top_k(int64_t k);
std::unique_ptr<LogitsProcessor> make_top_p(double p);
std::unique_ptr<LogitsProcessor> make_min_p(double min_p);

// An ordered chain of processors, applied first to last.
class LogitsChain {
 public:
  // The chain for `options`, in the order transformers applies them: banned tokens, repetition
  // penalty, presence/frequency penalties, temperature, top-k, top-p, min-p. Disabled steps are
  // left out; temperature 0 (greedy) leaves out temperature and the filters, which cannot change
  // the argmax.
  static LogitsChain from_options(const SamplingOptions& options);
  void add(std::unique_ptr<LogitsProcessor> processor);
  void apply(at::Tensor& logits, const TokenHistory& history) const;
  bool needs_history() const;
  bool empty() const { return processors_.empty(); }  // no step: the processed logits are the raw ones
  std::vector<std::string> names() const;

 private:
  std::vector<std::shared_ptr<LogitsProcessor>> processors_;
};

struct SampledTokens {
  at::Tensor ids;                // [B] int64
  at::Tensor sampling_logprobs;  // [B] fp32: log-prob under the processed distribution (0 for greedy)
  at::Tensor policy_logprobs;    // [B] fp32: log-prob under the untempered, unprocessed model
};

// Draws one token per row. `logits`: [B, V] raw model logits (any float dtype; not modified).
// `uniforms`: one U[0, 1) number per row from that row's own random stream, so a row's draw does not
// depend on the other rows (inverse-CDF sampling: filter first, then one draw, no exponential noise
// over the whole vocabulary). Greedy takes the argmax of the processed logits.
SampledTokens sample_tokens(const at::Tensor& logits, const LogitsChain& chain, const TokenHistory& history,
                            bool greedy, const std::vector<double>& uniforms);

}  // namespace zeroth::rollout
