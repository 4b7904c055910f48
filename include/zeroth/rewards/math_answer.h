// Math answer extraction, normalization and equivalence: the engine behind the `math` verifier,
// usable on its own (tests, eval, fuzzing). Pure functions of their inputs; thread-safe; never
// throw on model output (unparseable -> not equal). Rules: docs/verifiers.md sections 1-2.
//
//   auto pred = extract_math_answer("... so the answer is \\boxed{\\frac12}.");   // "\\frac12"
//   bool ok = pred && math_answers_equal("0.5", *pred);                            // true
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace zeroth::rewards {

struct MathExtractOptions {
  // When the completion has an <answer>...</answer> block, extract only from the last one (a
  // \boxed{} left in <think> is a draft). Math-Verify takes the last box anywhere: set false.
  bool prefer_answer_tag = true;
  std::string answer_tag = "answer";
  // Without a box, tag or "answer is" phrase, take the last number in the text (Math-Verify and
  // Qwen default; open-r1's reward requires an anchor, as zeroth's r1_math does).
  bool fallback_last_number = false;
  // Without a box, tag or phrase, take the content of the last math span ($..$, $$..$$, \(..\),
  // \[..\]) before falling back to the last number: Math-Verify's extraction of unboxed LaTeX
  // answers (the `math_any` rule set).
  bool fallback_last_math = false;
};

// The final answer of a completion: the last \boxed{...}/\fbox{...} (nested braces counted; boxes
// joined only by ",", "and", "or" form one list), else the <answer> block's content, else the text
// after the last "final answer is" / "the answer is" / "answer:", else (options) the last math span,
// else the last number. nullopt when there is none, when
// the last box is unterminated or empty.
std::optional<std::string> extract_math_answer(std::string_view completion, const MathExtractOptions& options = {});

// A gold answer as datasets store it: the content of its last \boxed{} if it has one, else the
// text itself, trimmed. nullopt when empty.
std::optional<std::string> extract_gold_answer(std::string_view gold);

// LaTeX normalization (\dfrac -> \frac, \left/\right, spacing, \text{} units, ^\circ, %, \$,
// thousands separators, trailing period, math delimiters). Exposed for tests.
std::string normalize_math_answer(std::string_view answer);

// Whether `pred` states the same answer as `gold` (both extracted answers, not completions).
// Asymmetric where the gold decides: a gold inequality accepts an interval, not the reverse.
bool math_answers_equal(std::string_view gold, std::string_view pred);

}  // namespace zeroth::rewards
