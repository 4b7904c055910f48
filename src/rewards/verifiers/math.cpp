// "math": the final answer (last \boxed{}, else <answer>, else "answer is") against the gold,
// by math_answers_equal (normalization + exact/numeric/structural equivalence). An optional re2
// `answer_pattern` (first capture group) is tried before the built-in phrases.
// Rules: docs/verifiers.md sections 1-2 and 3 (open-r1 / verl configurations).
#include <re2/re2.h>

#include "rewards/verifiers/verifiers.h"
#include "zeroth/rewards/math_answer.h"

namespace zeroth::rewards {
namespace {

class MathVerifier : public Verifier {
 public:
  explicit MathVerifier(const JsonReader& params) {
    options_.prefer_answer_tag = params.get_or<bool>("prefer_answer_tag", true);
    options_.answer_tag = params.get_or<std::string>("answer_tag", "answer");
    options_.fallback_last_number = params.get_or<bool>("fallback_last_number", false);
    options_.fallback_last_math = params.get_or<bool>("fallback_last_math", false);
    correct_ = params.get_or<double>("correct", 1.0);
    wrong_ = params.get_or<double>("wrong", 0.0);
    gold_field_ = params.get_or<std::string>("gold_field", "answer");
    if (auto pattern = params.opt<std::string>("answer_pattern")) {
      RE2::Options opts;
      opts.set_log_errors(false);
      pattern_ = std::make_unique<RE2>(*pattern, opts);
      if (!pattern_->ok()) params.at("answer_pattern").fail(cat("invalid re2 pattern: ", pattern_->error()));
      if (pattern_->NumberOfCapturingGroups() < 1)
        params.at("answer_pattern").fail("the pattern needs one capture group around the answer, e.g. \"ANSWER: (.+)\"");
    }
  }

  std::optional<double> score(const RewardInput& input) const override {
    const Json& example = *input.example;
    if (!example.is_object() || !example.contains(gold_field_) || example[gold_field_].is_null()) return std::nullopt;
    const Json& gold_json = example[gold_field_];
    std::string gold_text = gold_json.is_string() ? gold_json.get<std::string>() : gold_json.dump();
    std::optional<std::string> gold = extract_gold_answer(gold_text);
    if (!gold) return std::nullopt;
    std::optional<std::string> pred;
    if (pattern_) {
      re2::StringPiece text(input.completion.data(), input.completion.size());
      std::string captured;
    for (;;) {
      size_t before = text.size();
      if (!RE2::FindAndConsume(&text, *pattern_, &captured)) break;
      if (!captured.empty() || !pred) pred = captured;  // an empty match does not replace a real one
      if (text.size() == before) {  // an empty match: step past it, or it would repeat forever
        if (text.empty()) break;
        text.remove_prefix(1);
      }
    }
    }
    if (!pred) pred = extract_math_answer(input.completion, options_);
    if (!pred) return wrong_;
    return math_answers_equal(*gold, *pred) ? correct_ : wrong_;
  }

 private:
  MathExtractOptions options_;
  double correct_ = 1.0, wrong_ = 0.0;
  std::string gold_field_;
  std::unique_ptr<RE2> pattern_;
};

}  // namespace

std::unique_ptr<Verifier> make_math_verifier(const JsonReader& params) { return std::make_unique<MathVerifier>(params); }

}  // namespace zeroth::rewards
