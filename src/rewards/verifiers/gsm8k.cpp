// "gsm8k": gold after the last "####" (commas removed); the prediction is, in order, the number
// after the last "####" (any spacing, "$" allowed), the last \boxed{}, the number after the last
// "answer is", else the last number in the text. Compared as exact decimals, so "18.00" = "18"
// and ".5" = "0.5" (verl's string compare would say no; zeroth rule, docs/verifiers.md §4).
#include <cctype>

#include "rewards/verifiers/verifiers.h"
#include "zeroth/rewards/math_answer.h"

namespace zeroth::rewards {
namespace {

// The first number at the start of `text` (after spaces, '$', '*' and ':').
std::optional<std::string> leading_number(std::string_view text) {
  size_t i = 0;
  while (i < text.size() && (text[i] == ' ' || text[i] == '$' || text[i] == '*' || text[i] == ':' || text[i] == '\\')) ++i;
  size_t start = i;
  if (i < text.size() && (text[i] == '-' || text[i] == '+')) ++i;
  size_t digits_start = i;
  while (i < text.size() && (std::isdigit(static_cast<unsigned char>(text[i])) || text[i] == ',' || text[i] == '.')) {
    if ((text[i] == ',' || text[i] == '.') && !(i + 1 < text.size() && std::isdigit(static_cast<unsigned char>(text[i + 1])))) break;
    ++i;
  }
  if (i == digits_start) return std::nullopt;
  return std::string(text.substr(start, i - start));
}

size_t rfind_nocase(std::string_view text, std::string_view needle) {
  if (needle.size() > text.size()) return std::string_view::npos;
  for (size_t i = text.size() - needle.size() + 1; i-- > 0;) {
    size_t k = 0;
    while (k < needle.size() && std::tolower(static_cast<unsigned char>(text[i + k])) == needle[k]) ++k;
    if (k == needle.size()) return i;
  }
  return std::string_view::npos;
}

class Gsm8kVerifier : public Verifier {
 public:
  explicit Gsm8kVerifier(const JsonReader& params) {
    correct_ = params.get_or<double>("correct", 1.0);
    wrong_ = params.get_or<double>("wrong", 0.0);
    gold_field_ = params.get_or<std::string>("gold_field", "answer");
  }

  static std::optional<std::string> prediction(std::string_view text) {
    size_t hashes = text.rfind("####");
    if (hashes != std::string_view::npos) {
      if (auto n = leading_number(text.substr(hashes + 4))) return n;
    }
    MathExtractOptions box_only;
    box_only.prefer_answer_tag = false;
    if (text.find("\\boxed") != std::string_view::npos || text.find("\\fbox") != std::string_view::npos) {
      if (auto boxed = extract_math_answer(text, box_only)) {
        std::string norm = normalize_math_answer(*boxed);
        if (detail::parse_plain_number(norm)) return norm;
        if (auto n = detail::last_number_in(norm)) return n;
      }
    }
    size_t phrase = rfind_nocase(text, "answer is");
    if (phrase != std::string_view::npos) {
      if (auto n = leading_number(text.substr(phrase + 9))) return n;
    }
    return detail::last_number_in(text);
  }

  std::optional<double> score(const RewardInput& input) const override {
    const Json& example = *input.example;
    if (!example.is_object() || !example.contains(gold_field_) || example[gold_field_].is_null()) return std::nullopt;
    const Json& g = example[gold_field_];
    std::string gold_text = g.is_string() ? g.get<std::string>() : g.dump();
    size_t hashes = gold_text.rfind("####");
    if (hashes != std::string::npos) gold_text = gold_text.substr(hashes + 4);
    std::optional<math::Rational> gold = detail::parse_plain_number(gold_text);
    if (!gold) return std::nullopt;  // not a GSM8K-style gold: cannot judge
    std::optional<std::string> pred = prediction(input.completion);
    if (!pred) return wrong_;
    std::optional<math::Rational> value = detail::parse_plain_number(*pred);
    return value && *value == *gold ? correct_ : wrong_;
  }

 private:
  double correct_ = 1.0, wrong_ = 0.0;
  std::string gold_field_;
};

}  // namespace

std::unique_ptr<Verifier> make_gsm8k_verifier(const JsonReader& params) { return std::make_unique<Gsm8kVerifier>(params); }

}  // namespace zeroth::rewards
