#include "text/pipeline.h"

#include <algorithm>
#include <cstring>

#include <re2/re2.h>
#include <unicode/bytestream.h>
#include <unicode/casemap.h>
#include <unicode/normalizer2.h>

#include "text/unicode.h"
#include "zeroth/core/error.h"

namespace zeroth::text::detail {

using unicode::char_class;
using unicode::decode_utf8;
using unicode::kLetter;
using unicode::kMark;
using unicode::kNumber;
using unicode::kPunct;
using unicode::kSpace;
using unicode::kSymbol;

namespace {

std::string type_of(const RawJson& json, const std::string& where) {
  if (!json.is_object()) throw Error(cat(where, ": expected an object, got ", json.type_name()));
  auto it = json.find("type");
  if (it == json.end() || !it->is_string()) throw Error(cat(where, ".type: missing (expected a string)"));
  return it->get<std::string>();
}

template <typename T>
T get_or(const RawJson& json, const char* key, T fallback) {
  auto it = json.find(key);
  if (it == json.end() || it->is_null()) return fallback;
  return it->get<T>();
}

const RawJson& require(const RawJson& json, const char* key, const std::string& where) {
  auto it = json.find(key);
  if (it == json.end()) throw Error(cat(where, ".", key, ": missing"));
  return *it;
}

[[noreturn]] void unsupported(const std::string& kind, const std::string& type, const std::string& where,
                              const char* supported) {
  throw Error(cat(where, ".type: unsupported ", kind, " type ", quote(type), " (zeroth supports: ", supported,
                  ")"));
}

// ---------------------------------------------------------------------------------------------
// Normalizers

class IcuNormalizer : public Normalizer {
 public:
  IcuNormalizer(const std::string& type) : type_(type) {
    UErrorCode status = U_ZERO_ERROR;
    if (type == "NFC") norm_ = icu::Normalizer2::getNFCInstance(status);
    else if (type == "NFD") norm_ = icu::Normalizer2::getNFDInstance(status);
    else if (type == "NFKC") norm_ = icu::Normalizer2::getNFKCInstance(status);
    else norm_ = icu::Normalizer2::getNFKDInstance(status);
    if (U_FAILURE(status)) throw Error(cat("cannot load ICU ", type, " data: ", u_errorName(status)));
  }
  void normalize(std::string& text) const override {
    bool ascii = std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
    if (ascii) return;
    UErrorCode status = U_ZERO_ERROR;
    if (norm_->isNormalizedUTF8(text, status) && U_SUCCESS(status)) return;
    status = U_ZERO_ERROR;
    std::string out;
    icu::StringByteSink<std::string> sink(&out);
    norm_->normalizeUTF8(0, text, sink, nullptr, status);
    if (U_FAILURE(status)) throw Error(cat(type_, " normalization failed: ", u_errorName(status)));
    text.swap(out);
  }

 private:
  std::string type_;
  const icu::Normalizer2* norm_ = nullptr;
};

class LowercaseNormalizer : public Normalizer {
 public:
  void normalize(std::string& text) const override {
    UErrorCode status = U_ZERO_ERROR;
    std::string out;
    icu::StringByteSink<std::string> sink(&out);
    icu::CaseMap::utf8ToLower("", 0, text, sink, nullptr, status);
    if (U_FAILURE(status)) throw Error(cat("lowercasing failed: ", u_errorName(status)));
    text.swap(out);
  }
};

// A String or Regex pattern, as Split and Replace store it: {"String": "..."} or {"Regex": "..."}.
struct Pattern {
  bool is_regex = false;
  std::string text;
};

Pattern read_pattern(const RawJson& json, const std::string& where) {
  const RawJson& p = require(json, "pattern", where);
  if (p.is_object() && p.contains("String") && p["String"].is_string()) return {false, p["String"].get<std::string>()};
  if (p.is_object() && p.contains("Regex") && p["Regex"].is_string()) return {true, p["Regex"].get<std::string>()};
  throw Error(cat(where, ".pattern: expected {\"String\": ...} or {\"Regex\": ...}"));
}

std::unique_ptr<RE2> compile_re2(const std::string& pattern, const std::string& where) {
  RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_unique<RE2>(pattern, options);
  if (!re->ok())
    throw Error(cat(where, ".pattern: regex ", quote(pattern, 200), " is not supported by re2 (", re->error(),
                    "); zeroth hand-writes only the Qwen, Llama 3, DeepSeek-V3 and GPT-2 split patterns"));
  return re;
}

std::string escape_rewrite(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') out += '\\';
    out += c;
  }
  return out;
}

class ReplaceNormalizer : public Normalizer {
 public:
  ReplaceNormalizer(const RawJson& json, const std::string& where) {
    pattern_ = read_pattern(json, where);
    content_ = get_or<std::string>(json, "content", "");
    if (pattern_.is_regex) re_ = compile_re2(pattern_.text, where);
  }
  void normalize(std::string& text) const override { apply(text); }
  void apply(std::string& text) const {
    if (re_) {
      RE2::GlobalReplace(&text, *re_, escape_rewrite(content_));
      return;
    }
    if (pattern_.text.empty()) return;
    std::string out;
    size_t pos = 0;
    for (;;) {
      size_t hit = text.find(pattern_.text, pos);
      if (hit == std::string::npos) break;
      out.append(text, pos, hit - pos);
      out += content_;
      pos = hit + pattern_.text.size();
    }
    if (pos == 0) return;
    out.append(text, pos, std::string::npos);
    text.swap(out);
  }

 private:
  Pattern pattern_;
  std::string content_;
  std::unique_ptr<RE2> re_;
};

class PrependNormalizer : public Normalizer {
 public:
  explicit PrependNormalizer(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& text) const override {
    if (!text.empty()) text.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

bool is_white_space(uint32_t cp) { return (char_class(cp) & kSpace) != 0; }

class StripNormalizer : public Normalizer {
 public:
  StripNormalizer(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& text) const override {
    size_t b = 0, e = text.size();
    if (left_) {
      while (b < e) {
        int len;
        uint32_t cp = decode_utf8(text, b, len);
        if (!is_white_space(cp)) break;
        b += len;
      }
    }
    if (right_) {
      while (e > b) {
        size_t s = e - 1;
        while (s > b && (static_cast<unsigned char>(text[s]) & 0xC0) == 0x80) --s;
        int len;
        uint32_t cp = decode_utf8(text, s, len);
        if (!is_white_space(cp)) break;
        e = s;
      }
    }
    text = text.substr(b, e - b);
  }

 private:
  bool left_, right_;
};

class SequenceNormalizer : public Normalizer {
 public:
  std::vector<std::unique_ptr<Normalizer>> items;
  void normalize(std::string& text) const override {
    for (const auto& n : items) n->normalize(text);
  }
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const RawJson& json, const std::string& where) {
  std::string type = type_of(json, where);
  if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") return std::make_unique<IcuNormalizer>(type);
  if (type == "Lowercase") return std::make_unique<LowercaseNormalizer>();
  if (type == "Replace") return std::make_unique<ReplaceNormalizer>(json, where);
  if (type == "Prepend") return std::make_unique<PrependNormalizer>(require(json, "prepend", where).get<std::string>());
  if (type == "Strip") return std::make_unique<StripNormalizer>(get_or(json, "strip_left", true), get_or(json, "strip_right", true));
  if (type == "Sequence") {
    auto seq = std::make_unique<SequenceNormalizer>();
    const RawJson& list = require(json, "normalizers", where);
    for (size_t i = 0; i < list.size(); ++i)
      seq->items.push_back(make_normalizer(list[i], cat(where, ".normalizers[", i, "]")));
    return seq;
  }
  unsupported("normalizer", type, where, "NFC, NFD, NFKC, NFKD, Lowercase, Replace, Prepend, Strip, Sequence");
}

// ---------------------------------------------------------------------------------------------
// Hand-written split patterns. Each `match_at` returns the length of the match starting at byte i
// of `s` (0 when the regex does not match there), following the regex's alternatives in order
// with its backtracking spelled out.

namespace {

inline uint32_t cp_at(std::string_view s, size_t i, int& len) { return decode_utf8(s, i, len); }

// End of the run of characters from i whose class intersects `mask` (or, with negate, does not).
inline size_t run_end(std::string_view s, size_t i, uint16_t mask, bool negate = false) {
  while (i < s.size()) {
    int len;
    uint32_t c = cp_at(s, i, len);
    bool in = (char_class(c) & mask) != 0;
    if (in == negate) break;
    i += len;
  }
  return i;
}

inline bool is_crlf(uint32_t c) { return c == '\r' || c == '\n'; }

inline size_t crlf_run_end(std::string_view s, size_t i) {
  while (i < s.size() && (s[i] == '\r' || s[i] == '\n')) ++i;
  return i;
}

// The three whitespace alternatives shared by all patterns: \s*[\r\n]+ (if with_crlf), \s+(?!\S), \s+.
inline size_t match_space(std::string_view s, size_t i, bool with_crlf) {
  size_t j = run_end(s, i, kSpace);
  if (j == i) return 0;
  if (with_crlf) {
    for (size_t k = j; k > i; --k) {
      if (s[k - 1] == '\r' || s[k - 1] == '\n') return k - i;
    }
  }
  if (j == s.size()) return j - i;
  size_t last = j - 1;  // start of the last whitespace character
  while (last > i && (static_cast<unsigned char>(s[last]) & 0xC0) == 0x80) --last;
  if (last > i) return last - i;
  return j - i;
}

// (?i:'s|'t|'re|'ve|'m|'ll|'d) or the case-sensitive GPT-2 form.
inline size_t match_contraction(std::string_view s, size_t i, bool ignore_case) {
  if (s[i] != '\'' || i + 1 >= s.size()) return 0;
  int len;
  uint32_t c1 = cp_at(s, i + 1, len);
  auto lower = [&](uint32_t c) -> uint32_t {
    if (!ignore_case) return c;
    if (c >= 'A' && c <= 'Z') return c + 32;
    if (c == 0x17F) return 's';   // LATIN SMALL LETTER LONG S case-folds to s (as in Oniguruma)
    if (c == 0x212A) return 'k';  // KELVIN SIGN folds to k
    return c;
  };
  uint32_t a = lower(c1);
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 1 + len;
  if (i + 1 + len < s.size()) {
    int len2;
    uint32_t b = lower(cp_at(s, i + 1 + len, len2));
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 1 + len + len2;
  }
  return 0;
}

enum class Builtin { kQwen, kCl100k, kGpt2, kDigits3, kCjkKana, kDeepSeekMain };

class BuiltinMatcher : public Matcher {
 public:
  explicit BuiltinMatcher(Builtin kind) : kind_(kind) {}

  void find(std::string_view s, std::vector<Span>& matches) const override {
    size_t i = 0;
    while (i < s.size()) {
      size_t n = match_at(s, i);
      if (n > 0) {
        matches.push_back({static_cast<uint32_t>(i), static_cast<uint32_t>(i + n)});
        i += n;
      } else {
        int len;
        cp_at(s, i, len);
        i += len;
      }
    }
  }

 private:
  size_t match_at(std::string_view s, size_t i) const {
    switch (kind_) {
      case Builtin::kQwen: return match_tiktoken(s, i, 1);
      case Builtin::kCl100k: return match_tiktoken(s, i, 3);
      case Builtin::kGpt2: return match_gpt2(s, i);
      case Builtin::kDigits3: return match_digits(s, i, 3);
      case Builtin::kCjkKana: return match_cjk(s, i);
      case Builtin::kDeepSeekMain: return match_deepseek(s, i);
    }
    return 0;
  }

  // (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,max_digits}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  static size_t match_tiktoken(std::string_view s, size_t i, int max_digits) {
    if (size_t n = match_contraction(s, i, true)) return n;
    int len;
    uint32_t c = cp_at(s, i, len);
    uint16_t cls = char_class(c);
    if (cls & kLetter) return run_end(s, i, kLetter) - i;
    if (!is_crlf(c) && !(cls & kNumber) && i + len < s.size()) {
      int len2;
      if (char_class(cp_at(s, i + len, len2)) & kLetter) return run_end(s, i + len, kLetter) - i;
    }
    if (cls & kNumber) {
      size_t j = i;
      for (int k = 0; k < max_digits && j < s.size(); ++k) {
        int l;
        if (!(char_class(cp_at(s, j, l)) & kNumber)) break;
        j += l;
      }
      return j - i;
    }
    const uint16_t word = kSpace | kLetter | kNumber;
    size_t p = std::string_view::npos;
    if (c == ' ' && i + 1 < s.size()) {
      int l;
      if (!(char_class(cp_at(s, i + 1, l)) & word)) p = i + 1;
    }
    if (p == std::string_view::npos && !(cls & word)) p = i;
    if (p != std::string_view::npos) return crlf_run_end(s, run_end(s, p, word, true)) - i;
    return match_space(s, i, true);
  }

  // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
  static size_t match_gpt2(std::string_view s, size_t i) {
    if (size_t n = match_contraction(s, i, false)) return n;
    size_t p = i;
    int len;
    uint32_t c = cp_at(s, i, len);
    if (c == ' ' && i + 1 < s.size()) p = i + 1;
    int l;
    uint16_t cls = char_class(cp_at(s, p, l));
    if (p == i + 1 || c != ' ') {
      if (cls & kLetter) return run_end(s, p, kLetter) - i;
      if (cls & kNumber) return run_end(s, p, kNumber) - i;
      if (!(cls & (kSpace | kLetter | kNumber))) return run_end(s, p, kSpace | kLetter | kNumber, true) - i;
    }
    return match_space(s, i, false);
  }

  static size_t match_digits(std::string_view s, size_t i, int max) {
    size_t j = i;
    for (int k = 0; k < max && j < s.size(); ++k) {
      int l;
      if (!(char_class(cp_at(s, j, l)) & kNumber)) break;
      j += l;
    }
    return j - i;
  }

  // [一-龥぀-ゟ゠-ヿ]+
  static size_t match_cjk(std::string_view s, size_t i) {
    size_t j = i;
    while (j < s.size()) {
      int l;
      uint32_t c = cp_at(s, j, l);
      if (!((c >= 0x4E00 && c <= 0x9FA5) || (c >= 0x3040 && c <= 0x309F) || (c >= 0x30A0 && c <= 0x30FF))) break;
      j += l;
    }
    return j - i;
  }

  // [!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+|
  //  ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
  static size_t match_deepseek(std::string_view s, size_t i) {
    auto ascii_letter = [](char ch) { return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z'); };
    char ch = s[i];
    if (ch > 0 && std::strchr("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", ch) && i + 1 < s.size() && ascii_letter(s[i + 1])) {
      size_t j = i + 1;
      while (j < s.size() && ascii_letter(s[j])) ++j;
      return j - i;
    }
    int len;
    uint32_t c = cp_at(s, i, len);
    uint16_t cls = char_class(c);
    if (!is_crlf(c) && !(cls & (kLetter | kPunct | kSymbol)) && i + len < s.size()) {
      int l;
      if (char_class(cp_at(s, i + len, l)) & (kLetter | kMark)) return run_end(s, i + len, kLetter | kMark) - i;
    }
    if (cls & (kLetter | kMark)) return run_end(s, i, kLetter | kMark) - i;
    size_t p = std::string_view::npos;
    if (c == ' ' && i + 1 < s.size()) {
      int l;
      if (char_class(cp_at(s, i + 1, l)) & (kPunct | kSymbol)) p = i + 1;
    }
    if (p == std::string_view::npos && (cls & (kPunct | kSymbol))) p = i;
    if (p != std::string_view::npos) return crlf_run_end(s, run_end(s, p, kPunct | kSymbol)) - i;
    return match_space(s, i, true);
  }

  Builtin kind_;
};

class Re2Matcher : public Matcher {
 public:
  explicit Re2Matcher(std::unique_ptr<RE2> re) : re_(std::move(re)) {}
  void find(std::string_view s, std::vector<Span>& matches) const override {
    size_t pos = 0;
    re2::StringPiece input(s.data(), s.size());
    re2::StringPiece m;
    while (pos <= s.size()) {
      if (!re_->Match(input, pos, s.size(), RE2::UNANCHORED, &m, 1)) break;
      size_t b = m.data() - s.data(), e = b + m.size();
      if (e == b) {  // empty match: step one character
        if (b >= s.size()) break;
        int len;
        decode_utf8(s, b, len);
        pos = b + len;
        continue;
      }
      matches.push_back({static_cast<uint32_t>(b), static_cast<uint32_t>(e)});
      pos = e;
    }
  }

 private:
  std::unique_ptr<RE2> re_;
};

class LiteralMatcher : public Matcher {
 public:
  explicit LiteralMatcher(std::string literal) : literal_(std::move(literal)) {}
  void find(std::string_view s, std::vector<Span>& matches) const override {
    if (literal_.empty()) return;
    size_t pos = 0;
    for (;;) {
      size_t hit = s.find(literal_, pos);
      if (hit == std::string_view::npos) break;
      matches.push_back({static_cast<uint32_t>(hit), static_cast<uint32_t>(hit + literal_.size())});
      pos = hit + literal_.size();
    }
  }

 private:
  std::string literal_;
};

// Each character of a Unicode category class is a match (the Digits pre-tokenizer).
class NumericMatcher : public Matcher {
 public:
  void find(std::string_view s, std::vector<Span>& matches) const override {
    size_t i = 0;
    while (i < s.size()) {
      int len;
      uint32_t c = decode_utf8(s, i, len);
      if (char_class(c) & kNumber) matches.push_back({static_cast<uint32_t>(i), static_cast<uint32_t>(i + len)});
      i += len;
    }
  }
};

// Patterns as stored in tokenizer.json, with literal CR/LF characters written as \r and \n.
std::string canonical_pattern(const std::string& pattern) {
  std::string out;
  for (char c : pattern) {
    if (c == '\r') out += "\\r";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

}  // namespace

std::unique_ptr<Matcher> make_regex_matcher(const std::string& pattern, std::string& error) {
  static const std::string kQwen =
      R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
  static const std::string kCl100k =
      R"re((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
  static const std::string kGpt2 = R"re('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)re";
  static const std::string kDigits3 = R"re(\p{N}{1,3})re";
  static const std::string kCjk = "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+";
  static const std::string kDeepSeek =
      R"re([!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)re";
  std::string p = canonical_pattern(pattern);
  if (p == kQwen) return std::make_unique<BuiltinMatcher>(Builtin::kQwen);
  if (p == kCl100k) return std::make_unique<BuiltinMatcher>(Builtin::kCl100k);
  if (p == kGpt2) return std::make_unique<BuiltinMatcher>(Builtin::kGpt2);
  if (p == kDigits3) return std::make_unique<BuiltinMatcher>(Builtin::kDigits3);
  if (p == kCjk) return std::make_unique<BuiltinMatcher>(Builtin::kCjkKana);
  if (p == kDeepSeek) return std::make_unique<BuiltinMatcher>(Builtin::kDeepSeekMain);
  RE2::Options options;
  options.set_log_errors(false);
  auto re = std::make_unique<RE2>(pattern, options);
  if (!re->ok()) {
    error = re->error();
    return nullptr;
  }
  return std::make_unique<Re2Matcher>(std::move(re));
}

// ---------------------------------------------------------------------------------------------
// Pre-tokenizers

namespace {

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

Behavior parse_behavior(const std::string& name, const std::string& where) {
  if (name == "Removed") return Behavior::kRemoved;
  if (name == "Isolated") return Behavior::kIsolated;
  if (name == "MergedWithPrevious") return Behavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return Behavior::kMergedWithNext;
  if (name == "Contiguous") return Behavior::kContiguous;
  throw Error(cat(where, ".behavior: unknown split behavior ", quote(name),
                  " (expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous)"));
}

// Splits every piece of `pt` at the matches of `matcher`, as the Rust library's
// NormalizedString::split does for each SplitDelimiterBehavior.
void split_pieces(PreTokenized& pt, const Matcher& matcher, Behavior behavior, bool invert) {
  std::vector<Span> out;
  out.reserve(pt.spans.size() * 2);
  std::vector<Span> matches;
  struct Part {
    Span span;
    bool is_match;
  };
  std::vector<Part> parts;
  for (const Span& piece : pt.spans) {
    std::string_view s(pt.text.data() + piece.begin, piece.end - piece.begin);
    matches.clear();
    matcher.find(s, matches);
    parts.clear();
    uint32_t pos = 0;
    for (const Span& m : matches) {
      if (m.begin > pos) parts.push_back({{pos, m.begin}, invert});
      parts.push_back({m, !invert});
      pos = m.end;
    }
    if (pos < s.size()) parts.push_back({{pos, static_cast<uint32_t>(s.size())}, invert});

    std::vector<Span> pieces;
    switch (behavior) {
      case Behavior::kRemoved:
        for (const Part& p : parts)
          if (!p.is_match) pieces.push_back(p.span);
        break;
      case Behavior::kIsolated:
        for (const Part& p : parts) pieces.push_back(p.span);
        break;
      case Behavior::kMergedWithPrevious: {
        bool previous_match = false;
        for (const Part& p : parts) {
          if (p.is_match && !previous_match && !pieces.empty()) pieces.back().end = p.span.end;
          else pieces.push_back(p.span);
          previous_match = p.is_match;
        }
        break;
      }
      case Behavior::kMergedWithNext: {
        bool previous_match = false;
        for (size_t k = parts.size(); k-- > 0;) {
          const Part& p = parts[k];
          if (p.is_match && !previous_match && !pieces.empty()) pieces.back().begin = p.span.begin;
          else pieces.push_back(p.span);
          previous_match = p.is_match;
        }
        std::reverse(pieces.begin(), pieces.end());
        break;
      }
      case Behavior::kContiguous: {
        bool previous_match = false;
        bool first = true;
        for (const Part& p : parts) {
          if (!first && p.is_match == previous_match) pieces.back().end = p.span.end;
          else pieces.push_back(p.span);
          previous_match = p.is_match;
          first = false;
        }
        break;
      }
    }
    for (const Span& p : pieces)
      if (p.end > p.begin) out.push_back({piece.begin + p.begin, piece.begin + p.end});
  }
  pt.spans.swap(out);
}

class SplitPreTokenizer : public PreTokenizer {
 public:
  SplitPreTokenizer(const RawJson& json, const std::string& where) {
    Pattern pattern = read_pattern(json, where);
    if (pattern.is_regex) {
      std::string error;
      matcher_ = make_regex_matcher(pattern.text, error);
      if (!matcher_)
        throw Error(cat(where, ".pattern: regex ", quote(pattern.text, 200), " is not supported by re2 (", error,
                        "); zeroth hand-writes only the Qwen, Llama 3, DeepSeek-V3 and GPT-2 split patterns"));
    } else {
      matcher_ = std::make_unique<LiteralMatcher>(pattern.text);
    }
    behavior_ = parse_behavior(require(json, "behavior", where).get<std::string>(), where);
    invert_ = get_or(json, "invert", false);
  }
  void pre_tokenize(PreTokenized& pt, bool) const override { split_pieces(pt, *matcher_, behavior_, invert_); }

 private:
  std::unique_ptr<Matcher> matcher_;
  Behavior behavior_;
  bool invert_;
};

class DigitsPreTokenizer : public PreTokenizer {
 public:
  explicit DigitsPreTokenizer(bool individual) : individual_(individual) {}
  void pre_tokenize(PreTokenized& pt, bool) const override {
    split_pieces(pt, matcher_, individual_ ? Behavior::kIsolated : Behavior::kContiguous, false);
  }

 private:
  bool individual_;
  NumericMatcher matcher_;
};

// Rebuilds pt.text so that each piece can be rewritten by `edit(piece, out)`.
template <typename Edit>
void rewrite_pieces(PreTokenized& pt, Edit edit) {
  std::string text;
  text.reserve(pt.text.size() + pt.spans.size());
  std::vector<Span> spans;
  spans.reserve(pt.spans.size());
  for (size_t k = 0; k < pt.spans.size(); ++k) {
    const Span& sp = pt.spans[k];
    uint32_t begin = static_cast<uint32_t>(text.size());
    edit(k, std::string_view(pt.text.data() + sp.begin, sp.end - sp.begin), text);
    if (text.size() > begin) spans.push_back({begin, static_cast<uint32_t>(text.size())});
  }
  pt.text.swap(text);
  pt.spans.swap(spans);
}

class ByteLevelPreTokenizer : public PreTokenizer {
 public:
  ByteLevelPreTokenizer(bool add_prefix_space, bool use_regex)
      : add_prefix_space_(add_prefix_space), matcher_(use_regex ? std::make_unique<BuiltinMatcher>(Builtin::kGpt2) : nullptr) {}
  void pre_tokenize(PreTokenized& pt, bool) const override {
    if (add_prefix_space_) {
      bool needed = std::any_of(pt.spans.begin(), pt.spans.end(), [&](const Span& s) { return pt.text[s.begin] != ' '; });
      if (needed)
        rewrite_pieces(pt, [](size_t, std::string_view piece, std::string& out) {
          if (piece[0] != ' ') out += ' ';
          out.append(piece.data(), piece.size());
        });
    }
    if (matcher_) split_pieces(pt, *matcher_, Behavior::kIsolated, false);
    pt.byte_level = true;
  }

 private:
  bool add_prefix_space_;
  std::unique_ptr<Matcher> matcher_;
};

const char* const kMetaspace = "\xE2\x96\x81";  // U+2581

class MetaspacePreTokenizer : public PreTokenizer {
 public:
  MetaspacePreTokenizer(const RawJson& json, const std::string& where) {
    replacement_ = get_or<std::string>(json, "replacement", kMetaspace);
    std::string scheme = get_or<std::string>(json, "prepend_scheme", "");
    if (scheme.empty()) scheme = get_or(json, "add_prefix_space", true) ? "always" : "never";
    if (scheme != "always" && scheme != "never" && scheme != "first")
      throw Error(cat(where, ".prepend_scheme: expected \"always\", \"never\" or \"first\", got ", quote(scheme)));
    scheme_ = scheme;
    split_ = get_or(json, "split", true);
    matcher_ = std::make_unique<LiteralMatcher>(replacement_);
  }
  void pre_tokenize(PreTokenized& pt, bool first) const override {
    rewrite_pieces(pt, [&](size_t, std::string_view piece, std::string& out) {
      bool prepend = scheme_ == "always" || (scheme_ == "first" && first);
      if (prepend && piece.substr(0, replacement_.size()) != replacement_) out += replacement_;
      for (char c : piece) {
        if (c == ' ') out += replacement_;
        else out += c;
      }
    });
    if (split_) split_pieces(pt, *matcher_, Behavior::kMergedWithNext, false);
  }

 private:
  std::string replacement_, scheme_;
  bool split_;
  std::unique_ptr<Matcher> matcher_;
};

class SequencePreTokenizer : public PreTokenizer {
 public:
  std::vector<std::unique_ptr<PreTokenizer>> items;
  void pre_tokenize(PreTokenized& pt, bool first) const override {
    for (const auto& p : items) p->pre_tokenize(pt, first);
  }
};

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const RawJson& json, const std::string& where) {
  std::string type = type_of(json, where);
  if (type == "Split") return std::make_unique<SplitPreTokenizer>(json, where);
  if (type == "ByteLevel")
    return std::make_unique<ByteLevelPreTokenizer>(get_or(json, "add_prefix_space", true), get_or(json, "use_regex", true));
  if (type == "Digits") return std::make_unique<DigitsPreTokenizer>(get_or(json, "individual_digits", false));
  if (type == "Metaspace") return std::make_unique<MetaspacePreTokenizer>(json, where);
  if (type == "Sequence") {
    auto seq = std::make_unique<SequencePreTokenizer>();
    const RawJson& list = require(json, "pretokenizers", where);
    for (size_t i = 0; i < list.size(); ++i)
      seq->items.push_back(make_pre_tokenizer(list[i], cat(where, ".pretokenizers[", i, "]")));
    return seq;
  }
  unsupported("pre-tokenizer", type, where, "Split, ByteLevel, Digits, Metaspace, Sequence");
}

// ---------------------------------------------------------------------------------------------
// Post-processors

namespace {

class NoopProcessor : public PostProcessor {
 public:
  void process(std::vector<int32_t>&) const override {}
};

class TemplateProcessor : public PostProcessor {
 public:
  TemplateProcessor(const RawJson& json, const std::string& where) {
    const RawJson& single = require(json, "single", where);
    const RawJson& specials = json.contains("special_tokens") ? json["special_tokens"] : RawJson::object();
    for (size_t i = 0; i < single.size(); ++i) {
      const RawJson& item = single[i];
      std::string path = cat(where, ".single[", i, "]");
      if (item.contains("Sequence")) {
        std::string id = item["Sequence"].value("id", "A");
        if (id != "A") throw Error(cat(path, ": a single-sequence template can only hold sequence \"A\", got ", quote(id)));
        items_.push_back({true, {}});
      } else if (item.contains("SpecialToken")) {
        std::string name = item["SpecialToken"].value("id", "");
        auto it = specials.find(name);
        if (it == specials.end() || !it->contains("ids"))
          throw Error(cat(path, ": special token ", quote(name), " is not in ", where, ".special_tokens"));
        items_.push_back({false, (*it)["ids"].get<std::vector<int32_t>>()});
      } else {
        throw Error(cat(path, ": expected {\"Sequence\": ...} or {\"SpecialToken\": ...}"));
      }
    }
  }
  void process(std::vector<int32_t>& ids) const override {
    std::vector<int32_t> out;
    out.reserve(ids.size() + 4);
    for (const Item& item : items_) {
      if (item.is_sequence) out.insert(out.end(), ids.begin(), ids.end());
      else out.insert(out.end(), item.ids.begin(), item.ids.end());
    }
    ids.swap(out);
  }

 private:
  struct Item {
    bool is_sequence;
    std::vector<int32_t> ids;
  };
  std::vector<Item> items_;
};

class SequenceProcessor : public PostProcessor {
 public:
  std::vector<std::unique_ptr<PostProcessor>> items;
  void process(std::vector<int32_t>& ids) const override {
    for (const auto& p : items) p->process(ids);
  }
};

class BosEosProcessor : public PostProcessor {
 public:
  BosEosProcessor(int32_t bos, int32_t eos) : bos_(bos), eos_(eos) {}
  void process(std::vector<int32_t>& ids) const override {
    if (bos_ >= 0) ids.insert(ids.begin(), bos_);
    if (eos_ >= 0) ids.push_back(eos_);
  }

 private:
  int32_t bos_, eos_;
};

}  // namespace

std::unique_ptr<PostProcessor> make_post_processor(const RawJson& json, const std::string& where) {
  std::string type = type_of(json, where);
  if (type == "ByteLevel") return std::make_unique<NoopProcessor>();  // trims offsets only
  if (type == "TemplateProcessing") return std::make_unique<TemplateProcessor>(json, where);
  if (type == "Sequence") {
    auto seq = std::make_unique<SequenceProcessor>();
    const RawJson& list = require(json, "processors", where);
    for (size_t i = 0; i < list.size(); ++i)
      seq->items.push_back(make_post_processor(list[i], cat(where, ".processors[", i, "]")));
    return seq;
  }
  unsupported("post-processor", type, where, "TemplateProcessing, ByteLevel, Sequence");
}

std::unique_ptr<PostProcessor> make_bos_eos_processor(int32_t bos, int32_t eos) {
  return std::make_unique<BosEosProcessor>(bos, eos);
}

// ---------------------------------------------------------------------------------------------
// Decoders

namespace {

class ByteLevelDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens) {
      size_t i = 0;
      while (i < t.size()) {
        int len;
        uint32_t cp = decode_utf8(t, i, len);
        int b = unicode::char_to_byte(cp);
        if (b >= 0) bytes.push_back(static_cast<char>(b));
        else bytes.append(t, i, len);
        i += len;
      }
    }
    tokens.assign(1, unicode::to_valid_utf8(bytes));
  }
};

class ByteFallbackDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string pending;
    auto flush = [&] {
      if (pending.empty()) return;
      if (unicode::find_invalid_utf8(pending) == std::string::npos) out.push_back(pending);
      else
        for (size_t k = 0; k < pending.size(); ++k) out.push_back("\xEF\xBF\xBD");
      pending.clear();
    };
    for (std::string& t : tokens) {
      int byte = -1;
      if (t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>') {
        char* end = nullptr;
        std::string hex = t.substr(3, 2);
        long v = std::strtol(hex.c_str(), &end, 16);
        if (end == hex.c_str() + 2) byte = static_cast<int>(v);
      }
      if (byte >= 0) {
        pending.push_back(static_cast<char>(byte));
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens.swap(out);
  }
};

class MetaspaceDecoder : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool strip_first) : replacement_(std::move(replacement)), strip_first_(strip_first) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (size_t k = 0; k < tokens.size(); ++k) {
      std::string out;
      const std::string& t = tokens[k];
      size_t pos = 0;
      for (;;) {
        size_t hit = replacement_.empty() ? std::string::npos : t.find(replacement_, pos);
        if (hit == std::string::npos) break;
        out.append(t, pos, hit - pos);
        out += ' ';
        pos = hit + replacement_.size();
      }
      out.append(t, pos, std::string::npos);
      if (k == 0 && strip_first_ && !out.empty() && out[0] == ' ') out.erase(0, 1);
      tokens[k] = std::move(out);
    }
  }

 private:
  std::string replacement_;
  bool strip_first_;
};

class FuseDecoder : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const auto& t : tokens) all += t;
    tokens.assign(1, std::move(all));
  }
};

class StripDecoder : public Decoder {
 public:
  StripDecoder(std::string content, int start, int stop) : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    if (content_.empty()) return;
    for (std::string& t : tokens) {
      size_t b = 0, e = t.size();
      for (int k = 0; k < start_ && t.compare(b, content_.size(), content_) == 0 && b + content_.size() <= e; ++k)
        b += content_.size();
      for (int k = 0; k < stop_ && e >= b + content_.size() && t.compare(e - content_.size(), content_.size(), content_) == 0; ++k)
        e -= content_.size();
      t = t.substr(b, e - b);
    }
  }

 private:
  std::string content_;
  int start_, stop_;
};

class ReplaceDecoder : public Decoder {
 public:
  ReplaceDecoder(const RawJson& json, const std::string& where) : replace_(json, where) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) replace_.apply(t);
  }

 private:
  ReplaceNormalizer replace_;
};

class SequenceDecoder : public Decoder {
 public:
  std::vector<std::unique_ptr<Decoder>> items;
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& d : items) d->decode_chain(tokens);
  }
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const RawJson& json, const std::string& where) {
  std::string type = type_of(json, where);
  if (type == "ByteLevel") return std::make_unique<ByteLevelDecoder>();
  if (type == "ByteFallback") return std::make_unique<ByteFallbackDecoder>();
  if (type == "Metaspace") {
    std::string scheme = get_or<std::string>(json, "prepend_scheme", "");
    bool strip = scheme.empty() ? get_or(json, "add_prefix_space", true) : scheme != "never";
    return std::make_unique<MetaspaceDecoder>(get_or<std::string>(json, "replacement", kMetaspace), strip);
  }
  if (type == "Fuse") return std::make_unique<FuseDecoder>();
  if (type == "Strip")
    return std::make_unique<StripDecoder>(get_or<std::string>(json, "content", " "), get_or(json, "start", 0), get_or(json, "stop", 0));
  if (type == "Replace") return std::make_unique<ReplaceDecoder>(json, where);
  if (type == "Sequence") {
    auto seq = std::make_unique<SequenceDecoder>();
    const RawJson& list = require(json, "decoders", where);
    for (size_t i = 0; i < list.size(); ++i) seq->items.push_back(make_decoder(list[i], cat(where, ".decoders[", i, "]")));
    return seq;
  }
  unsupported("decoder", type, where, "ByteLevel, ByteFallback, Metaspace, Fuse, Strip, Replace, Sequence");
}

}  // namespace zeroth::text::detail
