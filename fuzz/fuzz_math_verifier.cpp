// libFuzzer target over the math answer engine: extraction, normalization, parsing and
// equivalence must never crash, hang, leak or read out of bounds, whatever the bytes.
// Input: "GOLD\nCOMPLETION" (no newline: the whole input is both). Run: scripts/fuzz_rewards.sh
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "zeroth/rewards/math_answer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  size_t nl = input.find('\n');
  std::string_view gold = nl == std::string_view::npos ? input : input.substr(0, nl);
  std::string_view completion = nl == std::string_view::npos ? input : input.substr(nl + 1);
  zeroth::rewards::MathExtractOptions options;
  options.fallback_last_number = size % 2 == 0;
  std::optional<std::string> pred = zeroth::rewards::extract_math_answer(completion, options);
  std::optional<std::string> g = zeroth::rewards::extract_gold_answer(gold);
  if (g && pred) {
    bool a = zeroth::rewards::math_answers_equal(*g, *pred);
    bool b = zeroth::rewards::math_answers_equal(*pred, *g);
    (void)a;
    (void)b;
  }
  (void)zeroth::rewards::math_answers_equal(completion, completion);
  (void)zeroth::rewards::normalize_math_answer(input);
  return 0;
}
