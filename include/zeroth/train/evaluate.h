// Evaluation: k samples per prompt with the sampler, scored by a reward rule set.
//   accuracy     avg@k: mean over prompts of the fraction of its k samples whose `accuracy`
//                component is correct (>= 1; countdown's 0.1 partial score is not correct)
//   pass_at_k    fraction of prompts with at least one correct sample
//   format_rate  fraction of samples whose `format` component is >= 1 (absent: null)
//   mean_length  mean completion length in tokens; truncation_rate: share that hit max_new_tokens
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "zeroth/core/json.h"
#include "zeroth/core/metrics.h"
#include "zeroth/model/transformer.h"
#include "zeroth/rewards/rule_set.h"
#include "zeroth/text/tokenizer.h"

namespace zeroth::train {

// Prompts as token ids with their text and the dataset lines the verifiers read.
struct PromptData {
  std::string name;
  std::vector<std::vector<int64_t>> ids;
  std::vector<std::string> texts;
  std::vector<Json> examples;
};

struct EvalOptions {
  int64_t k = 1;
  int64_t max_new_tokens = 256;
  double temperature = 0.0;      // 0: greedy (k must then be 1 to be meaningful)
  double top_p = 1.0;
  int64_t num_slots = 64;
  uint64_t seed = 0;
  std::vector<std::string> stop;  // stop strings (e.g. "</answer>")

  // Reads {"k", "max_new_tokens", "temperature", "top_p", "num_slots", "seed", "stop"}.
  static EvalOptions from_json(const JsonReader& reader);
};

struct EvalResult {
  std::string dataset;
  int64_t n = 0, k = 0;
  double accuracy = 0, pass_at_k = 0, mean_length = 0, truncation_rate = 0, reward_mean = 0;
  std::optional<double> format_rate;
  double seconds = 0;
  // One entry per sample: {"prompt", "completion", "answer", "rewards", "reward", "correct"}.
  std::vector<Json> samples;

  Json to_json() const;   // the eval.json object (without samples)
  Json figures() const;   // {"eval/accuracy", ...} for metrics.jsonl
  std::string summary() const;  // one line for the log
};

EvalResult evaluate(model::TransformerImpl& model, const text::Tokenizer& tokenizer, const PromptData& data,
                    const rewards::RuleSet& rules, const EvalOptions& options);

class TensorBoardWriter;

// A training loop's periodic evaluation: evaluate(), then its figures to metrics.jsonl (and
// TensorBoard when given) at `step` and one log line. Returns the eval.json object; null (and
// nothing run) when `data` is empty.
Json evaluate_and_record(model::TransformerImpl& model, const text::Tokenizer& tokenizer, const PromptData& data,
                         const rewards::RuleSet& rules, const EvalOptions& options, int64_t step,
                         MetricsWriter& metrics, TensorBoardWriter* tensorboard);

// True when the rule set's "accuracy" component says correct (>= 1).
bool is_correct(const rewards::RewardResult& result);
std::optional<double> component(const rewards::RewardResult& result, const std::string& name);

}  // namespace zeroth::train
