// Adversarial inputs: the math engine and the verifiers must answer (not crash, not hang, not
// read out of bounds) on 1 MB completions, 10,000 nested braces, invalid UTF-8, malformed LaTeX
// and huge exponents. The whole file runs in well under a second.
#include "support/catch.h"

#include <string>

#include "zeroth/core/json.h"
#include "zeroth/rewards/math_answer.h"
#include "zeroth/rewards/rule_set.h"

using namespace zeroth;
using namespace zeroth::rewards;

TEST_CASE("adversarial: 1 MB completions are scanned once and judged", "[rewards][adversarial]") {
  std::string filler(1 << 20, 'a');
  CHECK_FALSE(extract_math_answer(filler).has_value());
  std::string with_box = filler + " so \\boxed{42}";
  CHECK(extract_math_answer(with_box).value() == "42");
  std::string braces = "\\boxed{" + std::string(1 << 20, '{');  // unterminated, 1 MB deep
  CHECK_FALSE(extract_math_answer(braces).has_value());
  std::string big_box = "\\boxed{" + std::string(1 << 20, '1') + "}";
  auto pred = extract_math_answer(big_box);
  REQUIRE(pred.has_value());
  CHECK_FALSE(math_answers_equal("1", *pred));
  RuleSet rules = RuleSet::load("r1_math");
  Json example = {{"answer", "42"}};
  RewardResult r = rules.score({with_box, example});
  CHECK(r.components[0].second.value() == 1.0);
}

TEST_CASE("adversarial: 10,000 nested braces and parentheses are unparseable, not a stack overflow", "[rewards][adversarial]") {
  std::string nested = std::string(10000, '{') + "1" + std::string(10000, '}');
  CHECK_FALSE(math_answers_equal("1", nested));
  CHECK(extract_math_answer("\\boxed{" + nested + "}").has_value());
  std::string parens = std::string(10000, '(') + "1" + std::string(10000, ')');
  CHECK_FALSE(math_answers_equal("1", parens));
  std::string fracs;
  for (int i = 0; i < 10000; ++i) fracs += "\\frac{1}{";
  fracs += "2" + std::string(10000, '}');
  CHECK_FALSE(math_answers_equal("1", fracs));
  std::string minus(10000, '-');
  CHECK_FALSE(math_answers_equal("1", minus + "1"));
  std::string chain = "1";
  for (int i = 0; i < 1900; ++i) chain += "+1";   // long but shallow: parsed and evaluated
  CHECK(math_answers_equal("1901", chain));
  // A moderate depth still parses: the limit is not too tight for real answers.
  CHECK(math_answers_equal("\\frac{1}{2}", "((((((((((\\frac{1}{2}))))))))))"));
}

TEST_CASE("adversarial: invalid UTF-8 and control bytes", "[rewards][adversarial]") {
  std::string bad = "\xff\xfe\xc3\x28 \\boxed{\xe2\x28\xa1} \x80\x81";
  CHECK_NOTHROW(extract_math_answer(bad));
  CHECK_FALSE(math_answers_equal("5", "\xe2\x28\xa1"));
  CHECK_FALSE(math_answers_equal("\xff", "\xff\xfe"));
  CHECK(math_answers_equal("5", std::string("5\0", 2)) == false);
  RuleSet rules = RuleSet::load("r1_math");
  Json example = {{"answer", "5"}};
  CHECK_NOTHROW(rules.score({bad, example}));
}

TEST_CASE("adversarial: malformed LaTeX is not equal and never throws", "[rewards][adversarial]") {
  for (const char* s : {"\\frac", "\\frac{", "\\frac{1}", "\\frac{}{}", "\\sqrt", "\\sqrt[", "\\sqrt[3]", "\\binom{1}",
                        "\\left(", "\\right)", "^", "_", "\\", "\\\\", "{}", "}{", "\\begin{pmatrix}", "\\end{pmatrix}",
                        "\\text{", "\\boxed{", "1/", "*1", "\\log_", "\\sin^", "x_", "((()", "[,]", "\\{,\\}",
                        "\\mathbb{", "\\operatorname{", "1e999999999", "1.2.3", "\\frac{1}{0}", "0^{-1}", "\\infty-\\infty"}) {
    INFO(s);
    CHECK_NOTHROW(math_answers_equal("1", s));
    CHECK_FALSE(math_answers_equal("1", s));
    CHECK_NOTHROW(math_answers_equal(s, s));
  }
}

TEST_CASE("adversarial: huge exponents are not evaluated to bignums", "[rewards][adversarial]") {
  CHECK(math_answers_equal("10^{10^{10}}", "10^{10^{10}}"));
  CHECK_FALSE(math_answers_equal("10^{10^{10}}", "10^{10^{10}}+1"));
  CHECK_FALSE(math_answers_equal("10^{10^{10}}", "0"));
  CHECK_FALSE(math_answers_equal("1", "10^{-10^{10}}"));
  CHECK_FALSE(math_answers_equal("2^{64}", "0"));
  CHECK(math_answers_equal("2^{64}", "18446744073709551616"));
  CHECK_FALSE(math_answers_equal("9999999999999999999999!", "1"));
  CHECK_FALSE(math_answers_equal("\\binom{10^{12}}{5}", "1"));
  CHECK(math_answers_equal("1", "1^{10^{100}}"));
}
