// RuleSet: a reward rule file (rewards/*.json) made executable. Each component is a verifier
// (built-in, or "regex" with an re2 pattern) with a weight; the reward of a completion is the
// weighted sum of its components. Shipped sets (rewards/r1_math.json, gsm8k.json, countdown.json,
// r1_format.json) name their correctness component "accuracy" and their format one "format".
//
//   RuleSet rules = RuleSet::load("r1_math");              // a shipped name or a path
//   Json example = {{"answer", "\\frac{1}{2}"}};
//   RewardResult r = rules.score({"<think>\n...\n</think>\n<answer>\n\\boxed{0.5}\n</answer>", example});
//   r.total;                         // 1.0 * accuracy + 0.5 * format (per the file's weights)
//   auto all = rules.score_batch(inputs, /*num_threads=*/8);   // parallel, order kept
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "zeroth/core/json.h"
#include "zeroth/rewards/verifier.h"

namespace zeroth::rewards {

struct RewardResult {
  // One entry per component, in file order; nullopt when that verifier could not judge.
  std::vector<std::pair<std::string, std::optional<double>>> components;
  // Sum of weight * value over the components that could judge.
  double total = 0.0;
};

struct RuleComponent {
  std::string name;
  std::string verifier;   // registry name, or "regex"
  double weight = 1.0;
  std::shared_ptr<const Verifier> impl;
};

class RuleSet {
 public:
  // A rule set from its JSON (comments allowed). `source` names it in errors.
  static RuleSet from_json(const Json& json, const std::string& source);
  static RuleSet from_file(const std::string& path);
  // NAME (a shipped rule set, searched in $ZEROTH_REWARDS_DIR, ./rewards, then the source tree's
  // rewards/) or a path to a .json file.
  static RuleSet load(const std::string& name_or_path);
  // The directories load() searches for NAME.json, in order.
  static std::vector<std::string> search_dirs();

  const std::string& name() const { return name_; }
  const std::vector<RuleComponent>& components() const { return components_; }

  RewardResult score(const RewardInput& input) const;
  // Scores every input on up to `num_threads` threads (0: hardware concurrency); results keep
  // the order of `inputs`. Verifiers are const and re2 is thread-safe, so no locks are taken.
  std::vector<RewardResult> score_batch(const std::vector<RewardInput>& inputs, int num_threads = 0) const;

  // The result as the JSONL contract writes it: {"<component>": value|null, ...}.
  static Json components_json(const RewardResult& result);

 private:
  std::string name_;
  std::vector<RuleComponent> components_;
};

}  // namespace zeroth::rewards
