// The rollout sampler: G completions per prompt from the very weights being trained, with a KV
// cache, continuous batching over a fixed number of slots, composable logits processors, stop
// conditions, and per-token log-probs under both the sampling distribution and the untempered
// policy. Spec: issue "Rollout sampler"; shapes: S slots, L live rows, V vocabulary, P prompt length.
//
//   Sampler sampler(*policy, &tokenizer, {.num_slots = 16});
//   RolloutResult r = sampler.sample_groups(prompt_ids, options);   // N prompts -> N * G completions
//   r.completions[i * G + g]   // prompt i, sample g
//
// How a sample runs: its prompt minus the last token is prefilled once per group into one slot and
// that cache is copied to the group's other slots (or copied from a live slot that holds the same
// prompt); then every live slot feeds one token per decode step, the prompt's last token first. A
// finished slot is refilled with the next pending sample at once. Each sample draws from its own
// random stream derive_seed(seed, {prompt, sample}), so completions do not depend on which other
// sequences share the batch.
// Not here: rewards, advantages, training (train/).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "zeroth/model/transformer.h"
#include "zeroth/rollout/sampling_options.h"
#include "zeroth/text/tokenizer.h"

namespace zeroth::rollout {

struct Completion {
  int64_t prompt_index = 0;
  int64_t sample_index = 0;
  std::vector<int64_t> ids;               // generated tokens (an EOS that ended it included)
  std::string text;                       // decoded; cut before a stop string; EOS not included
  std::vector<float> logprobs;            // per token, untempered policy (what `score` gives)
  std::vector<float> sampling_logprobs;   // per token, processed sampling distribution
  std::string finish_reason;              // "stop" (EOS or stop string) | "length"
  double seconds = 0.0;                   // from the sample's start to its last token
};

struct SamplerStats {
  int64_t prompts = 0;
  int64_t completions = 0;
  int64_t prefill_tokens = 0;             // prompt tokens run through the model (once per group)
  int64_t decode_tokens = 0;              // tokens fed in decode steps (incl. each prompt's last token)
  int64_t decode_steps = 0;
  double prefill_seconds = 0.0;
  double decode_seconds = 0.0;
  double sample_seconds = 0.0;            // logits processing and draws (inside decode_seconds)
  double time_to_first_token = 0.0;       // mean over completions, seconds
  double slot_occupancy = 0.0;            // mean live slots / slots over decode steps
  int64_t peak_live = 0;
};

struct RolloutResult {
  std::vector<Completion> completions;    // ordered by (prompt_index, sample_index)
  SamplerStats stats;
};

struct SamplerConfig {
  // Sequences decoded together. At least num_generations; more slots = more throughput, more memory.
  int64_t num_slots = 16;
  // KV cache dtype; default: the model's dtype.
  std::optional<c10::ScalarType> cache_dtype;
};

class Sampler {
 public:
  // `tokenizer` may be null: then stop strings are unavailable and Completion::text stays empty.
  Sampler(model::TransformerImpl& model, const text::Tokenizer* tokenizer, SamplerConfig config = {});

  // For each prompt (token ids, non-empty), options.num_generations completions.
  // `on_progress(done, total)` is called as completions finish (may be empty).
  RolloutResult sample_groups(const std::vector<std::vector<int64_t>>& prompts, const SamplingOptions& options,
                              const std::function<void(int64_t, int64_t)>& on_progress = {});

 private:
  model::TransformerImpl& model_;
  const text::Tokenizer* tokenizer_;
  SamplerConfig config_;
};

}  // namespace zeroth::rollout
