// Verifier: one reward rule (math accuracy, format, length shaping, ...). A verifier is built once
// from its JSON params and is then a pure, thread-safe function of (completion, example).
// Spec: docs/architecture.md ("rewards" layer); exact rules: docs/verifiers.md.
//
//   auto v = verifier_registry().make("math", Json::object(), "r1_math.json: components[0].params");
//   RewardInput in{completion, example};        // example["answer"] is the gold
//   std::optional<double> s = v->score(in);     // nullopt: cannot judge (e.g. no gold answer)
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "zeroth/core/json.h"

namespace zeroth::rewards {

struct RewardInput {
  std::string_view completion;
  // The whole example line: "answer" (gold: string or number), or "numbers"/"target" for
  // countdown, plus anything else the dataset carries. Never null: a default-constructed input
  // points at an empty object.
  const Json* example = nullptr;
  // Scores of the components listed earlier in the same rule set (name -> value), for shaping
  // verifiers that depend on correctness (cosine length reward). Null outside a rule set.
  const std::map<std::string, std::optional<double>>* previous = nullptr;

  RewardInput() = default;
  RewardInput(std::string_view completion_, const Json& example_) : completion(completion_), example(&example_) {}

  // example["answer"] as text (numbers are written as JSON writes them), or nullopt if absent/null.
  std::optional<std::string> gold_text() const;
};

class Verifier {
 public:
  virtual ~Verifier() = default;
  // The reward for one completion; nullopt when the example cannot be judged (TRL's None).
  // Must be thread-safe: called concurrently from the batch thread pool.
  virtual std::optional<double> score(const RewardInput& input) const = 0;
};

}  // namespace zeroth::rewards
