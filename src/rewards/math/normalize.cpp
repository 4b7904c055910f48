// LaTeX answer normalization, in the spirit of Math-Verify's normalize_latex and Hendrycks'
// strip_string (rules in docs/verifiers.md section 1), written as single passes over the
// string: no regex, linear time. Percent signs are dropped (zeroth: "25\%" equals "25").
#include <cctype>
#include <cstring>
#include <string>
#include <string_view>

#include "zeroth/rewards/math_answer.h"

namespace zeroth::rewards {
namespace {

bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

void replace_all(std::string& s, std::string_view from, std::string_view to) {
  if (s.find(from) == std::string::npos) return;
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  for (;;) {
    size_t j = s.find(from, i);
    if (j == std::string::npos) break;
    out.append(s, i, j - i);
    out.append(to);
    i = j + from.size();
  }
  out.append(s, i, std::string::npos);
  s.swap(out);
}

std::string trim(std::string_view s) {
  size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return std::string(s.substr(a, b - a));
}

// Unicode symbols models write instead of LaTeX.
void replace_unicode(std::string& s) {
  bool ascii = true;
  for (unsigned char c : s) if (c >= 0x80) { ascii = false; break; }
  if (ascii) return;
  static const std::pair<const char*, const char*> kMap[] = {
      {"\xE2\x88\x92", "-"},       // U+2212 minus
      {"\xE2\x80\x93", "-"},       // en dash
      {"\xC3\x97", "\\times "},    // ×
      {"\xC3\xB7", "\\div "},      // ÷
      {"\xE2\x88\x9A", "\\sqrt"},  // √
      {"\xCF\x80", "\\pi "},       // π
      {"\xE2\x88\x9E", "\\infty "},// ∞
      {"\xE2\x89\xA4", "\\le "},   // ≤
      {"\xE2\x89\xA5", "\\ge "},   // ≥
      {"\xE2\x89\xA0", "\\ne "},   // ≠
      {"\xC2\xB0", ""},            // °
      {"\xC2\xB7", "\\cdot "},     // ·
      {"\xE2\x8B\x85", "\\cdot "}, // ⋅
      {"\xC2\xA0", " "},           // no-break space
      {"\xE2\x80\xAF", " "},       // narrow no-break space
      {"\xE2\x88\xAA", "\\cup "},  // ∪
      {"\xE2\x88\x85", "\\emptyset "},
  };
  for (const auto& [from, to] : kMap) replace_all(s, from, to);
}

// Commands rewritten by name (only whole command names match, so \left does not hit \leftarrow).
const char* command_replacement(std::string_view name) {
  static const std::pair<const char*, const char*> kMap[] = {
      {"dfrac", "\\frac"}, {"tfrac", "\\frac"}, {"cfrac", "\\frac"},
      {"dbinom", "\\binom"}, {"tbinom", "\\binom"},
      {"left", ""}, {"right", ""}, {"bigl", ""}, {"bigr", ""}, {"Bigl", ""}, {"Bigr", ""},
      {"big", ""}, {"Big", ""}, {"biggl", ""}, {"biggr", ""},
      {"displaystyle", ""}, {"textstyle", ""}, {"limits", ""},
      {"mathrm", "\\text"}, {"textbf", "\\text"}, {"textnormal", "\\text"}, {"mbox", "\\text"},
      {"mathbf", "\\text"}, {"textit", "\\text"}, {"mathit", "\\text"}, {"textrm", "\\text"},
      {"hbox", "\\text"}, {"textsf", "\\text"}, {"mathsf", "\\text"},
      {"quad", " "}, {"qquad", " "}, {"degree", ""}, {"degrees", ""},
      {"lbrace", "\\{"}, {"rbrace", "\\}"}, {"lvert", "|"}, {"rvert", "|"},
      {"boxed", ""}, {"fbox", ""}, {"cdotp", "\\cdot"}, {"colon", ":"},
  };
  for (const auto& [from, to] : kMap) if (name == from) return to;
  return nullptr;
}

void rewrite_commands(std::string& s) {
  if (s.find('\\') == std::string::npos) return;
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c != '\\' || i + 1 >= s.size()) { out.push_back(c); ++i; continue; }
    char d = s[i + 1];
    if (!is_letter(d)) {
      if (d == '!' || d == ',' ) { i += 2; continue; }                       // thin spaces
      if (d == ';' || d == ':' || d == ' ') { out.push_back(' '); i += 2; continue; }
      if (d == '%' || d == '$') { i += 2; continue; }                        // \% and \$
      if (d == '(' || d == ')') { i += 2; continue; }                        // \( \) delimiters
      out.push_back(c); out.push_back(d); i += 2; continue;
    }
    size_t j = i + 1;
    while (j < s.size() && is_letter(s[j])) ++j;
    std::string_view name(s.data() + i + 1, j - i - 1);
    const char* rep = command_replacement(name);
    if (!rep) { out.append(s, i, j - i); i = j; continue; }
    out.append(rep);
    if ((name == "left" || name == "right") && j < s.size() && s[j] == '.') ++j;  // \left. \right.
    if (*rep && is_letter(rep[std::strlen(rep) - 1]) && j < s.size() && is_letter(s[j])) out.push_back(' ');
    i = j;
  }
  s.swap(out);
}

bool is_unit_word(std::string_view w) {
  static const char* const kUnits[] = {
      "cm", "mm", "km", "m", "meter", "meters", "metre", "metres", "centimeter", "centimeters", "inch", "inches",
      "foot", "feet", "ft", "yard", "yards", "mile", "miles", "mph", "kg", "g", "gram", "grams", "pound", "pounds",
      "lb", "lbs", "ounce", "ounces", "oz", "second", "seconds", "sec", "s", "minute", "minutes", "min", "hour",
      "hours", "hr", "hrs", "day", "days", "week", "weeks", "month", "months", "year", "years", "degree", "degrees",
      "unit", "units", "square", "sq", "cubic", "dollar", "dollars", "cent", "cents", "liter", "liters", "litre",
      "litres", "ml", "gallon", "gallons", "people", "students", "apples", "times", "points", "percent", "pct",
      "radians", "rad", "inches^2", "cm^2", "m^2", "units^2", "ways", "marbles", "cookies", "pages", "books",
      "tiles", "coins", "handshakes", "games", "boxes", "items", "pieces", "steps", "numbers", "integers"};
  for (const char* u : kUnits) if (w == u) return true;
  return false;
}

// "\text{ cm}^2" or "\text{Evelyn}": drop trailing unit text after a value, unwrap the rest.
void handle_text_commands(std::string& s) {
  for (int guard = 0; guard < 64; ++guard) {
    size_t k = s.find("\\text");
    if (k == std::string::npos) return;
    size_t open = k + 5;
    while (open < s.size() && s[open] == ' ') ++open;
    if (open >= s.size() || s[open] != '{') { s.erase(k, 5); continue; }
    int depth = 0;
    size_t close = open;
    for (; close < s.size(); ++close) {
      if (s[close] == '{') ++depth;
      else if (s[close] == '}' && --depth == 0) break;
    }
    if (close >= s.size()) return;  // unbalanced: leave it, the parser rejects it
    std::string inner = trim(std::string_view(s).substr(open + 1, close - open - 1));
    size_t after = close + 1;
    // A trailing unit: "\text{ cm}", "\text{cm}^2", "\text{ square units}".
    std::string rest = trim(std::string_view(s).substr(after));
    bool at_end = rest.empty() || rest == "^2" || rest == "^3" || rest == "^{2}" || rest == "^{3}";
    std::string before = trim(std::string_view(s).substr(0, k));
    bool unit = false;
    if (at_end && !before.empty()) {
      unit = true;
      size_t p = 0;
      while (p < inner.size()) {
        size_t q = inner.find(' ', p);
        if (q == std::string::npos) q = inner.size();
        std::string word = inner.substr(p, q - p);
        if (!word.empty() && !is_unit_word(word)) { unit = false; break; }
        p = q + 1;
      }
    }
    if (unit) {
      s.erase(k);
    } else {
      s = s.substr(0, k) + inner + s.substr(after);
    }
  }
}

// "18 cm", "5 dollars", "30 degrees": drop trailing unit words after a number.
void strip_trailing_units(std::string& s) {
  for (int guard = 0; guard < 4; ++guard) {
    size_t end = s.size();
    while (end > 0 && s[end - 1] == ' ') --end;
    size_t start = end;
    while (start > 0 && (is_letter(s[start - 1]) || s[start - 1] == '^' || is_digit(s[start - 1]))) {
      if (is_digit(s[start - 1]) && (start < 2 || s[start - 2] != '^')) break;
      --start;
    }
    if (start == end || start == 0) return;
    std::string_view word(s.data() + start, end - start);
    size_t caret = word.find('^');
    std::string_view base = word.substr(0, caret);
    if (!is_unit_word(base) || base.size() < 2) return;
    size_t prev = start;
    while (prev > 0 && s[prev - 1] == ' ') --prev;
    if (prev == 0 || !(is_digit(s[prev - 1]) || s[prev - 1] == '}' || s[prev - 1] == ')')) return;
    s.erase(prev);
  }
}

// "1,000,000" / "-12,345.5" as the whole answer -> digits only. "1, 000" (a list) is left alone.
void strip_thousands_separators(std::string& s) {
  replace_all(s, "{,}", "");
  size_t i = 0;
  if (i < s.size() && s[i] == '-') ++i;
  size_t digits = 0;
  while (i < s.size() && is_digit(s[i])) { ++i; ++digits; }
  if (digits == 0 || digits > 3 || i >= s.size() || s[i] != ',') return;
  while (i < s.size() && s[i] == ',') {
    size_t j = i + 1, n = 0;
    while (j < s.size() && is_digit(s[j])) { ++j; ++n; }
    if (n != 3) return;
    i = j;
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && is_digit(s[i])) ++i;
  }
  if (i != s.size()) return;
  std::string out;
  for (char c : s) if (c != ',') out.push_back(c);
  s.swap(out);
}

}  // namespace

std::string normalize_math_answer(std::string_view answer) {
  std::string s(answer);
  replace_unicode(s);
  // Degrees and percent (before commands: "^\circ" would otherwise leave a dangling "^").
  replace_all(s, "^{\\circ}", "");
  replace_all(s, "^\\circ", "");
  replace_all(s, "{}^\\circ", "");
  replace_all(s, "\\circ", "");
  rewrite_commands(s);
  replace_all(s, "%", "");
  replace_all(s, "$", "");
  replace_all(s, "\\[", "");
  replace_all(s, "\\]", "");
  handle_text_commands(s);
  // Math-Verify: "x \in [0,1]" -> "[0,1]".
  {
    std::string t = trim(s);
    if (t.size() > 3 && is_letter(t[0])) {
      size_t p = 1;
      while (p < t.size() && t[p] == ' ') ++p;
      if (t.compare(p, 3, "\\in") == 0 && (p + 3 >= t.size() || !is_letter(t[p + 3]))) s = t.substr(p + 3);
    }
  }
  // Whitespace: collapse runs, trim; trailing period and "percent".
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == '\n' || c == '\t' || c == '\r') c = ' ';
    if (c == ' ' && (out.empty() || out.back() == ' ')) continue;
    out.push_back(c);
  }
  s = trim(out);
  while (!s.empty() && (s.back() == '.' || s.back() == ' ')) s.pop_back();
  strip_trailing_units(s);
  while (!s.empty() && (s.back() == '.' || s.back() == ' ')) s.pop_back();
  strip_thousands_separators(s);
  // " and " / " or " between items read as a list.
  replace_all(s, " and ", ", ");
  replace_all(s, " or ", ", ");
  return trim(s);
}

}  // namespace zeroth::rewards
