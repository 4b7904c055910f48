// Parsing and validation of SamplingOptions.
#include "zeroth/rollout/sampling_options.h"

#include <algorithm>
#include <cmath>

namespace zeroth::rollout {

SamplingOptions parse_sampling_options(const JsonReader& json) {
  SamplingOptions o;
  o.num_generations = json.get_or<int64_t>("num_generations", o.num_generations);
  o.temperature = json.get_or<double>("temperature", o.temperature);
  o.top_p = json.get_or<double>("top_p", o.top_p);
  o.top_k = json.get_or<int64_t>("top_k", o.top_k);
  o.min_p = json.get_or<double>("min_p", o.min_p);
  o.repetition_penalty = json.get_or<double>("repetition_penalty", o.repetition_penalty);
  o.presence_penalty = json.get_or<double>("presence_penalty", o.presence_penalty);
  o.frequency_penalty = json.get_or<double>("frequency_penalty", o.frequency_penalty);
  o.banned_token_ids = json.get_or<std::vector<int64_t>>("banned_token_ids", o.banned_token_ids);
  o.max_new_tokens = json.get_or<int64_t>("max_new_tokens", o.max_new_tokens);
  o.stop = json.get_or<std::vector<std::string>>("stop", o.stop);
  o.eos_token_ids = json.get_or<std::vector<int64_t>>("eos_token_ids", o.eos_token_ids);
  o.seed = static_cast<uint64_t>(json.get_or<int64_t>("seed", static_cast<int64_t>(o.seed)));
  json.reject_unknown_keys();
  validate_sampling_options(o, json.path().empty() ? json.source() + ": " : json.where() + ".");
  return o;
}

void validate_sampling_options(const SamplingOptions& o, const std::string& prefix) {
  auto fail = [&](std::string key, const std::string& message) {
    if (prefix == "--") {  // command-line flags: --max-new-tokens, --n
      if (key == "num_generations") key = "n";
      std::replace(key.begin(), key.end(), '_', '-');
    }
    throw Error(prefix + key + ": " + message);
  };
  if (o.num_generations < 1) fail("num_generations", cat("must be at least 1, got ", o.num_generations));
  if (!(o.temperature >= 0.0)) fail("temperature", cat("must be >= 0 (0 = greedy), got ", o.temperature));
  if (!(o.top_p > 0.0 && o.top_p <= 1.0)) fail("top_p", cat("must be in (0, 1], got ", o.top_p));
  if (o.top_k < 0) fail("top_k", cat("must be >= 0 (0 disables), got ", o.top_k));
  if (!(o.min_p >= 0.0 && o.min_p < 1.0)) fail("min_p", cat("must be in [0, 1), got ", o.min_p));
  if (!(o.repetition_penalty > 0.0)) fail("repetition_penalty", cat("must be > 0 (1 disables), got ", o.repetition_penalty));
  if (o.max_new_tokens < 1) fail("max_new_tokens", cat("must be at least 1, got ", o.max_new_tokens));
  if (!std::isfinite(o.temperature)) fail("temperature", cat("must be finite, got ", o.temperature));
  // An infinite penalty turns every seen token's logit into -inf or NaN (all NUL tokens after it).
  if (!std::isfinite(o.presence_penalty)) fail("presence_penalty", cat("must be finite, got ", o.presence_penalty));
  if (!std::isfinite(o.frequency_penalty)) fail("frequency_penalty", cat("must be finite, got ", o.frequency_penalty));
  if (!std::isfinite(o.repetition_penalty)) fail("repetition_penalty", cat("must be finite, got ", o.repetition_penalty));
  for (const auto& s : o.stop) {
    if (s.empty()) fail("stop", "stop strings must not be empty");
  }
}

}  // namespace zeroth::rollout
