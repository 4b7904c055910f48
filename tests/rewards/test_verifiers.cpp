// The built-in verifiers on real-looking completions: values computed by hand from the rules in
// docs/verifiers.md (gsm8k section 4, countdown section 5, format section 6) and the
// formulas quoted in each verifier's file.
#include "support/catch.h"

#include <cmath>

#include "zeroth/core/json.h"
#include "zeroth/rewards/registry.h"

using namespace zeroth;
using namespace zeroth::rewards;

namespace {

std::unique_ptr<Verifier> make(const std::string& name, Json params = Json::object()) {
  auto holder = std::make_shared<Json>(std::move(params));
  static std::vector<std::shared_ptr<Json>> keep;  // readers reference their JSON
  keep.push_back(holder);
  return verifier_registry().make(name, JsonReader(*holder, "test"));
}

std::optional<double> run(const Verifier& v, const std::string& completion, const Json& example) {
  return v.score(RewardInput(completion, example));
}

}  // namespace

TEST_CASE("gsm8k verifier: extraction order and numeric comparison", "[rewards][gsm8k]") {
  auto v = make("gsm8k");
  Json gold = {{"answer", "Natalia sold 48/2 = <<48/2=24>>24 clips in May.\n#### 72"}};
  CHECK(run(*v, "48 + 24 = 72\n#### 72", gold) == 1.0);
  CHECK(run(*v, "#### $72", gold) == 1.0);
  CHECK(run(*v, "####72", gold) == 1.0);
  CHECK(run(*v, "#### 72.", gold) == 1.0);
  CHECK(run(*v, "#### 72.00", gold) == 1.0);
  CHECK(run(*v, "#### 072", gold) == 1.0);
  CHECK(run(*v, "#### 73", gold) == 0.0);
  CHECK(run(*v, "#### 70\n wait, #### 72", gold) == 1.0);        // last marker
  CHECK(run(*v, "#### 72 and then 5 more", gold) == 1.0);         // marker beats last number
  CHECK(run(*v, "So she sold \\boxed{72} clips, 5 left", gold) == 1.0);  // box beats last number
  CHECK(run(*v, "The answer is 72 clips. Check: 3", gold) == 1.0);
  CHECK(run(*v, "She sold 24 then 72", gold) == 1.0);             // last number
  CHECK(run(*v, "She sold 72 then 24", gold) == 0.0);
  CHECK(run(*v, "no number at all", gold) == 0.0);
  Json big = {{"answer", "#### 1,234"}};
  CHECK(run(*v, "#### 1234", big) == 1.0);
  CHECK(run(*v, "The total is $1,234.", big) == 1.0);
  Json half = {{"answer", "#### 0.5"}};
  CHECK(run(*v, "#### .5", half) == 1.0);
  Json neg = {{"answer", "#### -3"}};
  CHECK(run(*v, "#### -3", neg) == 1.0);
  CHECK(run(*v, "#### 3", neg) == 0.0);
  Json number_gold = {{"answer", 18}};
  CHECK(run(*v, "#### 18", number_gold) == 1.0);
  Json text_gold = {{"answer", "Evelyn"}};
  CHECK_FALSE(run(*v, "#### 18", text_gold).has_value());        // cannot judge
  CHECK_FALSE(run(*v, "#### 18", Json::object()).has_value());
}

TEST_CASE("countdown verifier: numbers once each, exact arithmetic, 0 / 0.1 / 1", "[rewards][countdown]") {
  auto v = make("countdown");
  Json ex = {{"numbers", {1, 2, 3}}, {"target", 9}};
  CHECK(run(*v, "<think>...</think> <answer>(1 + 2) * 3</answer>", ex) == 1.0);
  CHECK(run(*v, "<answer>3 * (2 + 1)</answer>", ex) == 1.0);
  CHECK(run(*v, "<answer>\n(1 + 2) * 3\n</answer>\n", ex) == 1.0);    // multi-line block (TinyZero: 0)
  CHECK(run(*v, "<answer>1 + 2 + 3</answer>", ex) == Approx(0.1));     // wrong value
  CHECK(run(*v, "<answer>(1 + 2) * 3 * 1</answer>", ex) == Approx(0.1)); // 1 used twice
  CHECK(run(*v, "<answer>3 * 3</answer>", ex) == Approx(0.1));           // 3 twice, 1 and 2 unused
  CHECK(run(*v, "<answer>12 - 3</answer>", ex) == Approx(0.1));          // digit concatenation
  CHECK(run(*v, "<answer>2 ** 3 + 1</answer>", ex) == Approx(0.1));      // ** is not allowed (TinyZero loophole)
  CHECK(run(*v, "<answer>(1 + 2) * 3 = 9</answer>", ex) == Approx(0.1)); // '=' is not allowed
  CHECK(run(*v, "<answer>x</answer>", ex) == Approx(0.1));
  CHECK(run(*v, "<answer>   </answer>", ex) == 0.0);
  CHECK(run(*v, "(1 + 2) * 3", ex) == 0.0);                              // no answer block
  CHECK(run(*v, "<answer>1+1</answer> then <answer>(1+2)*3</answer>", ex) == 1.0);  // last block
  Json div = {{"numbers", {6, 4, 3}}, {"target", 8}};
  CHECK(run(*v, "<answer>6 / 3 * 4</answer>", div) == 1.0);
  CHECK(run(*v, "<answer>6 / (4 - 4) + 3</answer>", div) == Approx(0.1));
  Json frac = {{"numbers", {1, 3, 3}}, {"target", 1}};
  CHECK(run(*v, "<answer>1 / 3 * 3</answer>", frac) == 1.0);            // exact: (1/3)*3 == 1
  Json zero = {{"numbers", {4, 4}}, {"target", 1}};
  CHECK(run(*v, "<answer>4 / (4 - 4)</answer>", zero) == Approx(0.1));  // division by zero
  Json neg = {{"numbers", {5, 2}}, {"target", -3}};
  CHECK(run(*v, "<answer>2 - 5</answer>", neg) == 1.0);
  CHECK(run(*v, "<answer>-5 + 2</answer>", neg) == 1.0);                 // unary minus allowed
  Json nested = {{"answer", {{"numbers", {1, 2}}, {"target", 3}}}};
  CHECK(run(*v, "<answer>1+2</answer>", nested) == 1.0);
  CHECK_FALSE(run(*v, "<answer>1+2</answer>", Json{{"answer", "3"}}).has_value());
  std::string deep = "<answer>" + std::string(5000, '(') + "1" + std::string(5000, ')') + "</answer>";
  CHECK(run(*v, deep, Json{{"numbers", {1}}, {"target", 1}}) == Approx(0.1));  // depth limit, no crash
}

TEST_CASE("format verifier: strict R1 template", "[rewards][format]") {
  auto v = make("format");
  Json none = Json::object();
  CHECK(run(*v, "<think>\nreason\n</think>\n<answer>\n42\n</answer>", none) == 1.0);
  CHECK(run(*v, "<think>\nreason\n</think>\n<answer>\n42\n</answer>\n\n", none) == 1.0);   // trailing whitespace
  CHECK(run(*v, "<think>\n\n</think>\n<answer>\n42\n</answer>", none) == 1.0);             // empty T
  CHECK(run(*v, "<think>\n</think>\n<answer>\n42\n</answer>", none) == 0.0);               // one newline only
  CHECK(run(*v, "<think>\nreason\n</think>\n<answer>\n \n</answer>", none) == 0.0);        // blank answer
  CHECK(run(*v, "<think>reason</think><answer>42</answer>", none) == 0.0);                 // no newlines
  CHECK(run(*v, "hi <think>\nr\n</think>\n<answer>\n42\n</answer>", none) == 0.0);         // text before
  CHECK(run(*v, "<think>\nr\n</think>\n<answer>\n42\n</answer>\nmore text", none) == 0.0); // text after
  CHECK(run(*v, "<think>\nr\n</think>\n<think>\nr\n</think>\n<answer>\n42\n</answer>", none) == 0.0);
  CHECK(run(*v, "<think>\nr <answer>\n</think>\n<answer>\n42\n</answer>", none) == 0.0);   // tag inside reasoning
  CHECK(run(*v, "<think>\nr\n</think>\n<answer>\n4\n</answer>\n<answer>\n2\n</answer>", none) == 0.0);
  CHECK(run(*v, "<answer>\n42\n</answer>", none) == 0.0);
  auto prefilled = make("format", {{"prefix", "<think>\n"}});
  CHECK(run(*prefilled, "reason\n</think>\n<answer>\n42\n</answer>", none) == 1.0);
}

TEST_CASE("format verifier: lenient, think_only and custom tags", "[rewards][format]") {
  Json none = Json::object();
  auto lenient = make("format", {{"mode", "lenient"}});
  CHECK(run(*lenient, "<think>reason</think> <answer>42</answer>", none) == 1.0);
  CHECK(run(*lenient, "  <think>reason</think>\n\n<answer>42</answer>\n", none) == 1.0);
  CHECK(run(*lenient, "<think>reason</think> x <answer>42</answer>", none) == 0.0);
  CHECK(run(*lenient, "<think>reason</think><answer></answer>", none) == 0.0);
  auto think_only = make("format", {{"mode", "think_only"}});
  CHECK(run(*think_only, "<think>reason</think> The answer is 4.", none) == 1.0);
  CHECK(run(*think_only, "<think>a</think><think>b</think>", none) == 0.0);
  CHECK(run(*think_only, "answer first <think>a</think>", none) == 0.0);
  auto custom = make("format", {{"think_tag", "reasoning"}, {"answer_tag", "final"}});
  CHECK(run(*custom, "<reasoning>\nr\n</reasoning>\n<final>\n1\n</final>", none) == 1.0);
  CHECK_THROWS_WITH(make("format", {{"mode", "loose"}}), Catch::Contains("mode") && Catch::Contains("strict"));
}

TEST_CASE("tag_count verifier: 0.25 per tag present exactly once", "[rewards][format]") {
  auto v = make("tag_count");
  Json none = Json::object();
  CHECK(run(*v, "<think>\nr\n</think>\n<answer>\n42\n</answer>", none) == 1.0);
  CHECK(run(*v, "<think>\nr\n</think>\n42\n</answer>", none) == 0.75);   // missing "\n<answer>\n"
  CHECK(run(*v, "no tags", none) == 0.0);
  CHECK(run(*v, "<think>\n<think>\nr\n</think>\n<answer>\n4\n</answer>", none) == 0.75);  // duplicate
}

TEST_CASE("choice verifier: letter extraction with common phrasings", "[rewards][choice]") {
  auto v = make("choice");
  Json gold = {{"answer", "B"}};
  CHECK(run(*v, "The answer is (B).", gold) == 1.0);
  CHECK(run(*v, "The answer is B", gold) == 1.0);
  CHECK(run(*v, "Answer: B) 42", gold) == 1.0);
  CHECK(run(*v, "so \\boxed{B}", gold) == 1.0);
  CHECK(run(*v, "so \\boxed{\\text{(B)}}", gold) == 1.0);
  CHECK(run(*v, "<answer>B</answer>", gold) == 1.0);
  CHECK(run(*v, "Option B is correct.", gold) == 1.0);
  CHECK(run(*v, "B", gold) == 1.0);
  CHECK(run(*v, "The answer is (C).", gold) == 0.0);
  CHECK(run(*v, "A Bright answer is Correct", gold) == 0.0);        // letters inside words do not count
  CHECK(run(*v, "I think it is (B). Actually the answer is C", gold) == 0.0);
  CHECK(run(*v, "no letter", gold) == 0.0);
  CHECK(run(*v, "so \\boxed{B}", Json{{"answer", "(B) 42"}}) == 1.0);
  CHECK(run(*v, "so \\boxed{B}", Json{{"answer", "\\text{(B)}"}}) == 1.0);
  CHECK_FALSE(run(*v, "B", Json{{"answer", "42"}}).has_value());
}

TEST_CASE("cosine_length: formula at the ends and the middle", "[rewards][shaping]") {
  auto v = make("cosine_length", {{"max_length", 100}});
  std::map<std::string, std::optional<double>> right = {{"accuracy", 1.0}}, wrong = {{"accuracy", 0.0}};
  Json none = Json::object();
  RewardInput in(std::string(0, 'a'), none);
  in.previous = &right;
  CHECK(v->score(in).value() == Approx(1.0));            // L=0, correct: max_value_correct
  std::string half(50, 'a'), full(100, 'a'), over(150, 'a');
  in.completion = half;
  CHECK(v->score(in).value() == Approx(0.75));           // 0.5 + 0.5*0.5*(1+cos(pi/2))
  in.completion = full;
  CHECK(v->score(in).value() == Approx(0.5));
  in.completion = over;
  CHECK(v->score(in).value() == Approx(0.5));            // clipped at max_length
  in.previous = &wrong;
  in.completion = "";
  CHECK(v->score(in).value() == Approx(-1.0));           // short and wrong: punished most
  in.completion = full;
  CHECK(v->score(in).value() == Approx(-0.5));
  in.previous = nullptr;
  CHECK_FALSE(v->score(in).has_value());
}

TEST_CASE("overlong: DAPO soft punishment", "[rewards][shaping]") {
  auto v = make("overlong", {{"max_length", 100}, {"cache_length", 20}});
  Json none = Json::object();
  CHECK(run(*v, std::string(80, 'a'), none) == 0.0);
  CHECK(run(*v, std::string(90, 'a'), none) == Approx(-0.5));   // (80 - 90) / 20
  CHECK(run(*v, std::string(100, 'a'), none) == Approx(-1.0));
  CHECK(run(*v, std::string(101, 'a'), none) == Approx(-1.0));
  auto words = make("overlong", {{"max_length", 4}, {"cache_length", 2}, {"unit", "words"}});
  CHECK(run(*words, "a b c", none) == Approx(-0.5));
  CHECK(run(*v, "\xc3\xa9\xc3\xa9", none) == 0.0);               // code points, not bytes
  CHECK_THROWS_WITH(make("overlong", {{"max_length", 10}, {"cache_length", 20}}), Catch::Contains("cache_length"));
  CHECK_THROWS_WITH(make("overlong", {{"max_length", 10}}), Catch::Contains("cache_length"));
}

TEST_CASE("repetition: n-gram penalty", "[rewards][shaping]") {
  auto v = make("repetition", {{"ngram_size", 2}, {"max_penalty", -1.0}});
  Json none = Json::object();
  CHECK(run(*v, "a b c d", none) == 0.0);                         // 3 bigrams, 3 unique
  CHECK(run(*v, "a b a b a b", none) == Approx(-(1.0 - 2.0 / 5.0)));   // 5 bigrams, 2 unique
  CHECK(run(*v, "A b a B", none) == Approx(-(1.0 - 2.0 / 3.0)));       // lower-cased: ab, ba, ab
  CHECK(run(*v, "a", none) == 0.0);
  CHECK_THROWS_WITH(make("repetition", {{"max_penalty", 0.5}}), Catch::Contains("max_penalty"));
}

TEST_CASE("language: share of chain-of-thought words in the target language", "[rewards][shaping]") {
  auto en = make("language", {{"language", "en"}});
  auto zh = make("language", {{"language", "zh"}});
  Json none = Json::object();
  CHECK(run(*en, "<think>we add two numbers</think><answer>5</answer>", none) == 1.0);
  // "we add" (2 Latin words) + 加法 (2 CJK characters) -> 2/4 in English, 2/4 in Chinese
  CHECK(run(*en, "<think>we add \xe5\x8a\xa0\xe6\xb3\x95</think>", none) == Approx(0.5));
  CHECK(run(*zh, "<think>we add \xe5\x8a\xa0\xe6\xb3\x95</think>", none) == Approx(0.5));
  CHECK(run(*en, "<think>x = 2 + 3 = 5, \xce\xb1</think>", none) == 1.0);   // one Latin word; digits, Greek ignored
  CHECK_FALSE(run(*en, "<think>1 + 2 = 3</think>", none).has_value());
  CHECK(run(*en, "<think>ok \xff\xfe</think>", none) == 1.0);                // invalid bytes skipped
  CHECK_THROWS_WITH(make("language", {{"language", "xx"}}), Catch::Contains("unsupported language"));
}

TEST_CASE("regex verifier: match and extract-and-compare in re2", "[rewards][regex]") {
  Json none = Json::object();
  auto match = make("regex", {{"pattern", "^<think>"}});
  CHECK(run(*match, "<think> x", none) == 1.0);
  CHECK(run(*match, "x <think>", none) == 0.0);
  auto full = make("regex", {{"pattern", "[0-9]+"}, {"full", true}});
  CHECK(run(*full, "123", none) == 1.0);
  CHECK(run(*full, "123a", none) == 0.0);
  auto extract = make("regex", {{"pattern", "ANSWER: *(\\S+)"}, {"mode", "extract"}, {"compare", "number"}});
  Json gold = {{"answer", "1,000"}};
  CHECK(run(*extract, "ANSWER: 7\nANSWER: 1000", gold) == 1.0);   // last match
  CHECK(run(*extract, "ANSWER: 1000\nANSWER: 7", gold) == 0.0);
  CHECK(run(*extract, "nothing", gold) == 0.0);
  auto math = make("regex", {{"pattern", "ANSWER: (.*)"}, {"mode", "extract"}, {"compare", "math"}});
  CHECK(run(*math, "ANSWER: \\frac{2}{4}", Json{{"answer", "0.5"}}) == 1.0);
  auto nocase = make("regex", {{"pattern", "is (\\w+)"}, {"mode", "extract"}, {"compare", "nocase"}});
  CHECK(run(*nocase, "it is EVEN", Json{{"answer", "even"}}) == 1.0);
  auto empty_matches = make("regex", {{"pattern", "(a*)"}, {"mode", "extract"}});
  CHECK(run(*empty_matches, std::string(100000, 'b') + "aa", Json{{"answer", "aa"}}) == 1.0);  // terminates
  CHECK_THROWS_WITH(make("regex", {{"pattern", "(?<=x)y"}}), Catch::Contains("invalid re2 pattern"));
  CHECK_THROWS_WITH(make("regex", {{"pattern", "x"}, {"mode", "extract"}}), Catch::Contains("capture group"));
  CHECK_THROWS_WITH(make("regex", {{"pattern", "x"}, {"patern", 1}}), Catch::Contains("patern"));
}

TEST_CASE("math verifier: gold handling and params", "[rewards][math]") {
  auto v = make("math");
  CHECK(run(*v, "\\boxed{5}", Json{{"answer", 5}}) == 1.0);              // number gold
  CHECK(run(*v, "\\boxed{27}", Json{{"answer", 27.0}}) == 1.0);          // AMC stores floats
  CHECK(run(*v, "\\boxed{5}", Json{{"answer", "The answer is \\boxed{5}"}}) == 1.0);
  CHECK_FALSE(run(*v, "\\boxed{5}", Json{{"answer", ""}}).has_value());
  CHECK_FALSE(run(*v, "\\boxed{5}", Json::object()).has_value());
  CHECK(run(*v, "no answer", Json{{"answer", "5"}}) == 0.0);
  auto pattern = make("math", {{"answer_pattern", "RESULT=(\\S+)"}});
  CHECK(run(*pattern, "RESULT=1/2 and more", Json{{"answer", "0.5"}}) == 1.0);
  auto plusminus = make("math", {{"correct", 1.0}, {"wrong", -1.0}});
  CHECK(run(*plusminus, "\\boxed{4}", Json{{"answer", "5"}}) == -1.0);
  CHECK_THROWS_WITH(make("math", {{"answer_pattern", "no groups"}}), Catch::Contains("capture group"));
}
