// "language" consistency (DeepSeek-R1 paper, section 2.3.2: "the proportion of target language
// words in the CoT"). Words are runs of letters of one script; each CJK character counts as one
// word (no spaces in Chinese/Japanese). Digits, symbols, LaTeX commands' punctuation and Greek
// letters (math variables) count for no language. Scores the <think> block when there is one,
// else the whole completion. Invalid UTF-8 bytes are skipped. No letters at all: cannot judge.
#include "rewards/verifiers/verifiers.h"

namespace zeroth::rewards {
namespace {

enum class Script { None, Latin, Cjk, Cyrillic, Arabic, Devanagari, Hangul, Other };

Script script_of(uint32_t cp) {
  if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7))
    return Script::Latin;
  if ((cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x3040 && cp <= 0x30FF) ||
      (cp >= 0xF900 && cp <= 0xFAFF))
    return Script::Cjk;
  if (cp >= 0xAC00 && cp <= 0xD7AF) return Script::Hangul;
  if (cp >= 0x0400 && cp <= 0x04FF) return Script::Cyrillic;
  if (cp >= 0x0600 && cp <= 0x06FF) return Script::Arabic;
  if (cp >= 0x0900 && cp <= 0x097F) return Script::Devanagari;
  if (cp >= 0x0370 && cp <= 0x03FF) return Script::None;  // Greek: math symbols
  if (cp >= 0x0500 && cp <= 0x1FFF) return Script::Other;  // other alphabets
  return Script::None;
}

// Decodes one UTF-8 code point at s[*i]; invalid bytes decode as U+FFFD and advance by one.
uint32_t next_code_point(std::string_view s, size_t* i) {
  unsigned char c = static_cast<unsigned char>(s[*i]);
  int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || *i + static_cast<size_t>(len) > s.size()) { ++*i; return 0xFFFD; }
  uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
  for (int k = 1; k < len; ++k) {
    unsigned char d = static_cast<unsigned char>(s[*i + static_cast<size_t>(k)]);
    if ((d & 0xC0) != 0x80) { ++*i; return 0xFFFD; }
    cp = (cp << 6) | (d & 0x3F);
  }
  *i += static_cast<size_t>(len);
  return cp;
}

class LanguageVerifier : public Verifier {
 public:
  explicit LanguageVerifier(const JsonReader& params) {
    std::string lang = params.get_or<std::string>("language", "en");
    if (lang == "en" || lang == "fr" || lang == "de" || lang == "es" || lang == "it" || lang == "pt") target_ = Script::Latin;
    else if (lang == "zh" || lang == "ja") target_ = Script::Cjk;
    else if (lang == "ko") target_ = Script::Hangul;
    else if (lang == "ru" || lang == "uk") target_ = Script::Cyrillic;
    else if (lang == "ar") target_ = Script::Arabic;
    else if (lang == "hi") target_ = Script::Devanagari;
    else params.at("language").fail(cat("unsupported language ", quote(lang), "; expected one of en fr de es it pt zh ja ko ru uk ar hi"));
    think_tag_ = params.get_or<std::string>("think_tag", "think");
  }

  std::optional<double> score(const RewardInput& input) const override {
    std::string_view text = input.completion;
    if (auto block = detail::last_tag_block(text, think_tag_)) text = *block;
    size_t target_words = 0, all_words = 0;
    Script current = Script::None;
    for (size_t i = 0; i < text.size();) {
      Script s = script_of(next_code_point(text, &i));
      if (s == Script::Cjk) {  // one word per character
        ++all_words;
        if (target_ == Script::Cjk) ++target_words;
        current = Script::None;
        continue;
      }
      if (s != current && s != Script::None) {
        ++all_words;
        if (s == target_) ++target_words;
      }
      current = s;
    }
    if (all_words == 0) return std::nullopt;
    return static_cast<double>(target_words) / static_cast<double>(all_words);
  }

 private:
  Script target_ = Script::Latin;
  std::string think_tag_;
};

}  // namespace

std::unique_ptr<Verifier> make_language_verifier(const JsonReader& params) { return std::make_unique<LanguageVerifier>(params); }

}  // namespace zeroth::rewards
