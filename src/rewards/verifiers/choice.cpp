// "choice": multiple-choice letter answers. Gold: "B", "(B)", "B) text" or "\text{(B)}". The
// prediction is the first choice letter of, in order: the last \boxed{}, the last <answer> block,
// the text after the last "answer is" / "answer:" / "option", else a completion that is only a
// letter. A letter counts only standing alone ("(B)", "B.", "**B**"), never inside a word.
#include <cctype>

#include "rewards/verifiers/verifiers.h"
#include "zeroth/rewards/math_answer.h"

namespace zeroth::rewards {
namespace {

class ChoiceVerifier : public Verifier {
 public:
  explicit ChoiceVerifier(const JsonReader& params) {
    choices_ = params.get_or<std::string>("choices", "ABCDEFGHIJ");
    correct_ = params.get_or<double>("correct", 1.0);
    wrong_ = params.get_or<double>("wrong", 0.0);
    gold_field_ = params.get_or<std::string>("gold_field", "answer");
  }

  bool is_choice(char c) const { return choices_.find(static_cast<char>(std::toupper(static_cast<unsigned char>(c)))) != std::string::npos; }

  // The first standalone choice letter in `text` (upper case), or '\0'.
  char first_letter(std::string_view text, bool allow_lower) const {
    for (size_t i = 0; i < text.size(); ++i) {
      char c = text[i];
      if (!std::isalpha(static_cast<unsigned char>(c))) continue;
      bool before_ok = i == 0 || !std::isalnum(static_cast<unsigned char>(text[i - 1]));
      bool after_ok = i + 1 >= text.size() || !std::isalnum(static_cast<unsigned char>(text[i + 1]));
      if (i > 0 && text[i - 1] == '\\') before_ok = false;  // a LaTeX command
      if (before_ok && after_ok && (std::isupper(static_cast<unsigned char>(c)) || allow_lower) && is_choice(c))
        return static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (!before_ok || !after_ok) {
        // skip the rest of this word
        while (i + 1 < text.size() && std::isalnum(static_cast<unsigned char>(text[i + 1]))) ++i;
      }
    }
    return '\0';
  }

  char prediction(std::string_view text) const {
    MathExtractOptions box_only;
    box_only.prefer_answer_tag = false;
    if (text.find("\\boxed") != std::string_view::npos) {
      if (auto boxed = extract_math_answer(text, box_only)) {
        std::string norm = normalize_math_answer(*boxed);
        if (char c = first_letter(norm, true)) return c;
      }
    }
    if (auto block = detail::last_tag_block(text, "answer")) {
      if (char c = first_letter(*block, true)) return c;
    }
    std::string lower;
    lower.reserve(text.size());
    for (char c : text) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    size_t best = std::string::npos, best_len = 0;
    for (std::string_view phrase : {"answer is", "answer:", "option", "choice is"}) {
      size_t k = lower.rfind(phrase);
      if (k != std::string::npos && (best == std::string::npos || k > best)) { best = k; best_len = phrase.size(); }
    }
    if (best != std::string::npos) {
      std::string_view rest = text.substr(best + best_len);
      size_t end = rest.find('\n');
      if (char c = first_letter(rest.substr(0, end), false)) return c;
    }
    std::string_view t = text;
    while (!t.empty() && std::isspace(static_cast<unsigned char>(t.front()))) t.remove_prefix(1);
    while (!t.empty() && (std::isspace(static_cast<unsigned char>(t.back())) || t.back() == '.')) t.remove_suffix(1);
    if (t.size() <= 3) return first_letter(t, true);
    return '\0';
  }

  std::optional<double> score(const RewardInput& input) const override {
    const Json& example = *input.example;
    if (!example.is_object() || !example.contains(gold_field_) || !example[gold_field_].is_string()) return std::nullopt;
    std::string gold_norm = normalize_math_answer(example[gold_field_].get<std::string>());
    char gold = first_letter(gold_norm, true);
    if (!gold) return std::nullopt;
    char pred = prediction(input.completion);
    return pred == gold ? correct_ : wrong_;
  }

 private:
  std::string choices_;
  double correct_ = 1.0, wrong_ = 0.0;
  std::string gold_field_;
};

}  // namespace

std::unique_ptr<Verifier> make_choice_verifier(const JsonReader& params) { return std::make_unique<ChoiceVerifier>(params); }

}  // namespace zeroth::rewards
