// Text helpers shared by the built-in verifiers: plain-number parsing (exact), last number,
// tag blocks, completion length. All linear scans; none throws on model output.
#include <cctype>

#include "rewards/verifiers/verifiers.h"

namespace zeroth::rewards::detail {

std::optional<math::Rational> parse_plain_number(std::string_view text) {
  std::string s;
  for (char c : text) {
    if (c == ',' || c == '$' || c == ' ') continue;
    s.push_back(c);
  }
  while (!s.empty() && s.back() == '.') s.pop_back();
  if (s.empty()) return std::nullopt;
  size_t i = 0;
  bool negative = false;
  if (s[0] == '-' || s[0] == '+') { negative = s[0] == '-'; ++i; }
  std::string digits;
  int64_t frac_digits = 0;
  bool dot = false;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (std::isdigit(static_cast<unsigned char>(c))) {
      digits.push_back(c);
      if (dot) ++frac_digits;
    } else if (c == '.' && !dot) {
      dot = true;
    } else {
      return std::nullopt;
    }
  }
  if (digits.empty()) return std::nullopt;
  size_t nz = digits.find_first_not_of('0');
  digits = nz == std::string::npos ? "0" : digits.substr(nz);
  // Trailing fractional zeros carry no value ("18.00").
  while (frac_digits > 0 && digits.size() > 1 && digits.back() == '0') { digits.pop_back(); --frac_digits; }
  if (digits.size() > 18 || frac_digits > 18) return std::nullopt;
  math::Rational r = math::Rational::integer(std::stoll(digits));
  r = r / math::pow_int(math::Rational::integer(10), frac_digits);
  if (negative) r = -r;
  if (!r.ok) return std::nullopt;
  return r;
}

std::optional<std::string> last_number_in(std::string_view text) {
  size_t i = text.size();
  while (i > 0 && !std::isdigit(static_cast<unsigned char>(text[i - 1]))) --i;
  if (i == 0) return std::nullopt;
  size_t stop = i, start = i;
  while (start > 0) {
    char c = text[start - 1];
    if (std::isdigit(static_cast<unsigned char>(c))) { --start; continue; }
    // A ',' or '.' belongs to the number only between digits ("1,234.5", not "5, 6" or "end.").
    if ((c == ',' || c == '.') && start >= 2 && std::isdigit(static_cast<unsigned char>(text[start - 2]))) { --start; continue; }
    break;
  }
  if (start > 0 && text[start - 1] == '.' ) --start;                       // ".5"
  if (start > 0 && text[start - 1] == '-') --start;
  return std::string(text.substr(start, stop - start));
}

std::optional<std::string_view> last_tag_block(std::string_view text, const std::string& tag) {
  std::string open = "<" + tag + ">", close = "</" + tag + ">";
  size_t o = text.rfind(open);
  if (o == std::string_view::npos) return std::nullopt;
  size_t c = text.find(close, o + open.size());
  if (c == std::string_view::npos) return std::nullopt;
  return text.substr(o + open.size(), c - o - open.size());
}

double text_length(std::string_view text, const std::string& unit) {
  if (unit == "words") {
    size_t n = 0;
    bool in_word = false;
    for (char c : text) {
      bool space = std::isspace(static_cast<unsigned char>(c));
      if (!space && !in_word) ++n;
      in_word = !space;
    }
    return static_cast<double>(n);
  }
  size_t n = 0;
  for (char c : text) if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) ++n;  // UTF-8 lead bytes
  return static_cast<double>(n);
}

std::string read_length_unit(const JsonReader& params) {
  std::string unit = params.get_or<std::string>("unit", "chars");
  if (unit != "chars" && unit != "words") {
    params.at("unit").fail(cat("expected \"chars\" or \"words\", got ", quote(unit)));
  }
  return unit;
}

}  // namespace zeroth::rewards::detail
