// "countdown" (TinyZero): the equation in the last <answer> block must use each given number
// exactly once (as a multiset), only integers, + - * / and parentheses (unary minus allowed), and
// evaluate exactly (rational arithmetic) to the target; division by zero is wrong. Scores keep
// TinyZero's split: no equation 0, an equation that is wrong `format_score` (0.1), right 1.0.
// Unlike TinyZero, the block may be anywhere and span lines (docs/verifiers.md section 5).
#include <algorithm>
#include <cctype>
#include <vector>

#include "rewards/verifiers/verifiers.h"

namespace zeroth::rewards {
namespace {

using math::Rational;

// Recursive-descent evaluator over the equation: expr := term (('+'|'-') term)*;
// term := factor (('*'|'/') factor)*; factor := '-' factor | '(' expr ')' | integer.
class EquationEvaluator {
 public:
  explicit EquationEvaluator(std::string_view s) : s_(s) {}

  // nullopt on a syntax error, an unknown character, or an undefined value.
  std::optional<Rational> run(std::vector<int64_t>* numbers) {
    numbers_ = numbers;
    Rational v = expr();
    skip();
    if (failed_ || pos_ != s_.size() || !v.ok) return std::nullopt;
    return v;
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
  int depth_ = 0;
  bool failed_ = false;
  std::vector<int64_t>* numbers_ = nullptr;

  void skip() { while (pos_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[pos_]))) ++pos_; }
  char peek() { skip(); return pos_ < s_.size() ? s_[pos_] : '\0'; }

  Rational expr() {
    if (++depth_ > 200) { failed_ = true; return Rational::invalid(); }
    Rational v = term();
    for (char c = peek(); !failed_ && (c == '+' || c == '-'); c = peek()) {
      ++pos_;
      Rational r = term();
      v = c == '+' ? v + r : v - r;
    }
    --depth_;
    return v;
  }
  Rational term() {
    Rational v = factor();
    for (char c = peek(); !failed_ && (c == '*' || c == '/'); c = peek()) {
      ++pos_;
      if (peek() == '*' || peek() == '/') { failed_ = true; return v; }  // "**" and "//" are not allowed
      Rational r = factor();
      v = c == '*' ? v * r : v / r;
    }
    return v;
  }
  Rational factor() {
    if (++depth_ > 200) { failed_ = true; return Rational::invalid(); }
    char c = peek();
    Rational v;
    if (c == '-') { ++pos_; v = -factor(); }
    else if (c == '(') {
      ++pos_;
      v = expr();
      if (peek() != ')') failed_ = true;
      else ++pos_;
    } else if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t start = pos_;
      while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
      if (pos_ - start > 12) { failed_ = true; v = Rational::invalid(); }
      else {
        int64_t n = std::stoll(std::string(s_.substr(start, pos_ - start)));
        numbers_->push_back(n);
        v = Rational::integer(n);
      }
      if (pos_ < s_.size() && s_[pos_] == '.') failed_ = true;  // decimals are not given numbers
    } else {
      failed_ = true;
      v = Rational::invalid();
    }
    --depth_;
    return v;
  }
};

class CountdownVerifier : public Verifier {
 public:
  explicit CountdownVerifier(const JsonReader& params) {
    correct_ = params.get_or<double>("correct", 1.0);
    format_score_ = params.get_or<double>("format_score", 0.1);
    answer_tag_ = params.get_or<std::string>("answer_tag", "answer");
  }

  std::optional<double> score(const RewardInput& input) const override {
    const Json* source = input.example;
    if (!source->is_object()) return std::nullopt;
    if (!source->contains("numbers") && source->contains("answer") && (*source)["answer"].is_object())
      source = &(*source)["answer"];
    if (!source->contains("numbers") || !source->contains("target")) return std::nullopt;
    const Json& nums = (*source)["numbers"];
    const Json& target_json = (*source)["target"];
    if (!nums.is_array() || !target_json.is_number_integer()) return std::nullopt;
    std::vector<int64_t> given;
    for (const Json& n : nums) {
      if (!n.is_number_integer()) return std::nullopt;
      given.push_back(n.get<int64_t>());
    }
    std::optional<std::string_view> block = detail::last_tag_block(input.completion, answer_tag_);
    if (!block) return 0.0;
    std::string_view equation = *block;
    if (equation.find_first_not_of(" \t\n\r") == std::string_view::npos) return 0.0;
    std::vector<int64_t> used;
    EquationEvaluator evaluator(equation);
    std::optional<Rational> value = evaluator.run(&used);
    if (!value) return format_score_;
    std::sort(used.begin(), used.end());
    std::sort(given.begin(), given.end());
    if (used != given) return format_score_;
    return *value == Rational::integer(target_json.get<int64_t>()) ? correct_ : format_score_;
  }

 private:
  double correct_ = 1.0, format_score_ = 0.1;
  std::string answer_tag_;
};

}  // namespace

std::unique_ptr<Verifier> make_countdown_verifier(const JsonReader& params) { return std::make_unique<CountdownVerifier>(params); }

}  // namespace zeroth::rewards
