// SamplingOptions: how the rollout sampler draws completions (recipes' "sampling" object and the
// flags of `zeroth generate`). Field names are the recipe JSON keys.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "zeroth/core/json.h"

namespace zeroth::rollout {

struct SamplingOptions {
  // Completions per prompt (G in GRPO). Groups are always sampled whole.
  int64_t num_generations = 8;
  // Divide logits by this before sampling; 0 means greedy (argmax).
  double temperature = 1.0;
  // Keep the smallest set of most likely tokens whose probability reaches top_p (1 disables).
  double top_p = 1.0;
  // Keep only the k most likely tokens (0 disables).
  int64_t top_k = 0;
  // Drop tokens whose probability is below min_p x the top token's probability (0 disables).
  double min_p = 0.0;
  // CTRL-style penalty on tokens already seen in prompt or completion: logits > 0 are divided by
  // it, logits < 0 multiplied (1 disables). https://arxiv.org/abs/1909.05858
  double repetition_penalty = 1.0;
  // Subtracted once from the logit of every token already generated (0 disables; OpenAI semantics).
  double presence_penalty = 0.0;
  // Subtracted per occurrence of a token already generated (0 disables; OpenAI semantics).
  double frequency_penalty = 0.0;
  // Token ids that are never sampled.
  std::vector<int64_t> banned_token_ids;
  // Stop after this many new tokens even without EOS (finish_reason "length").
  int64_t max_new_tokens = 1024;
  // Stop when the decoded completion contains one of these strings (finish_reason "stop"); the
  // completion text is cut before the stop string.
  std::vector<std::string> stop;
  // Extra end-of-sequence ids besides the model's generation_config eos_token_id.
  std::vector<int64_t> eos_token_ids;
  // Base seed; each completion's random stream is derive_seed(seed, {prompt index, sample index}).
  uint64_t seed = 0;
};

// Reads a "sampling" object; unknown keys and out-of-range values are errors naming the JSON path.
SamplingOptions parse_sampling_options(const JsonReader& json);
// Checks ranges (temperature >= 0, 0 < top_p <= 1, ...). Messages read `<prefix><key>: ...`, e.g.
// prefix "recipes/x.json: stages[1].sampling." or "--" for command-line flags.
void validate_sampling_options(const SamplingOptions& options, const std::string& prefix);

}  // namespace zeroth::rollout
