// register_builtin_verifiers(): the one list of the verifiers rule files can name.
#include "rewards/verifiers/verifiers.h"
#include "zeroth/rewards/registry.h"

namespace zeroth::rewards {

void register_builtin_verifiers(VerifierRegistry& r) {
  r.add("math", make_math_verifier);                // \boxed{} / <answer> / "answer is" vs gold, equivalence
  r.add("gsm8k", make_gsm8k_verifier);              // "#### N" / box / last number vs "#### N"
  r.add("countdown", make_countdown_verifier);      // TinyZero: equation over given numbers == target
  r.add("choice", make_choice_verifier);            // multiple-choice letter
  r.add("format", make_format_verifier);            // <think>…</think><answer>…</answer> (strict/lenient/think_only)
  r.add("tag_count", make_tag_count_verifier);      // 0.25 per well-placed tag (open-r1)
  r.add("cosine_length", make_cosine_length_verifier);  // cosine-scaled length reward
  r.add("overlong", make_overlong_verifier);        // DAPO soft overlong punishment
  r.add("repetition", make_repetition_verifier);    // n-gram repetition penalty
  r.add("language", make_language_verifier);        // share of CoT words in the target language
  r.add("regex", make_regex_verifier);              // re2 match / extract-and-compare
}

}  // namespace zeroth::rewards
