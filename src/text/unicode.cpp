#include "text/unicode.h"

#include <array>

#include <unicode/uchar.h>

namespace zeroth::text::unicode {

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

namespace {

// Length of the valid sequence at s[i], 0 when invalid, -1 when valid so far but truncated by the end.
int valid_sequence_length(std::string_view s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  int need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) need = 1;
  else if (c == 0xE0) { need = 2; lo = 0xA0; }
  else if (c >= 0xE1 && c <= 0xEC) need = 2;
  else if (c == 0xED) { need = 2; hi = 0x9F; }  // no surrogates
  else if (c >= 0xEE && c <= 0xEF) need = 2;
  else if (c == 0xF0) { need = 3; lo = 0x90; }
  else if (c >= 0xF1 && c <= 0xF3) need = 3;
  else if (c == 0xF4) { need = 3; hi = 0x8F; }
  else return 0;
  for (int k = 1; k <= need; ++k) {
    if (i + k >= s.size()) return -1;
    unsigned char d = static_cast<unsigned char>(s[i + k]);
    if (k == 1 ? (d < lo || d > hi) : (d & 0xC0) != 0x80) return 0;
  }
  return need + 1;
}

}  // namespace

size_t find_invalid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    if (static_cast<unsigned char>(s[i]) < 0x80) { ++i; continue; }
    int n = valid_sequence_length(s, i);
    if (n <= 0) return i;
    i += n;
  }
  return std::string_view::npos;
}

size_t complete_utf8_prefix(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    int n = valid_sequence_length(s, i);
    if (n < 0) return i;  // truncated at the end: wait for more bytes
    i += n == 0 ? 1 : n;  // invalid bytes are "complete" (they become U+FFFD)
  }
  return i;
}

std::string to_valid_utf8(std::string_view s) {
  if (find_invalid_utf8(s) == std::string_view::npos) return std::string(s);
  std::string out;
  out.reserve(s.size() + 8);
  size_t i = 0;
  while (i < s.size()) {
    int n = valid_sequence_length(s, i);
    if (n > 0) {
      out.append(s.data() + i, n);
      i += n;
    } else {
      out += "\xEF\xBF\xBD";
      ++i;
    }
  }
  return out;
}

namespace {

uint16_t compute_class(uint32_t cp) {
  uint16_t flags = 0;
  switch (u_charType(static_cast<UChar32>(cp))) {
    case U_UPPERCASE_LETTER: case U_LOWERCASE_LETTER: case U_TITLECASE_LETTER:
    case U_MODIFIER_LETTER: case U_OTHER_LETTER:
      flags |= kLetter; break;
    case U_DECIMAL_DIGIT_NUMBER: flags |= kNumber | kDecimal; break;
    case U_LETTER_NUMBER: case U_OTHER_NUMBER: flags |= kNumber; break;
    case U_CONNECTOR_PUNCTUATION: case U_DASH_PUNCTUATION: case U_START_PUNCTUATION:
    case U_END_PUNCTUATION: case U_INITIAL_PUNCTUATION: case U_FINAL_PUNCTUATION:
    case U_OTHER_PUNCTUATION:
      flags |= kPunct; break;
    case U_MATH_SYMBOL: case U_CURRENCY_SYMBOL: case U_MODIFIER_SYMBOL: case U_OTHER_SYMBOL:
      flags |= kSymbol; break;
    case U_NON_SPACING_MARK: case U_ENCLOSING_MARK: case U_COMBINING_SPACING_MARK:
      flags |= kMark; break;
    default: break;
  }
  if (u_isUWhiteSpace(static_cast<UChar32>(cp))) flags |= kSpace;
  return flags;
}

struct ClassTable {
  std::array<uint16_t, 0x10000> bmp;
  ClassTable() {
    for (uint32_t cp = 0; cp < 0x10000; ++cp) bmp[cp] = compute_class(cp);
  }
};

const ClassTable& class_table() {
  static const ClassTable table;
  return table;
}

struct ByteTable {
  std::array<std::string, 256> to_char;
  std::array<int16_t, 324> from_char;  // code points < 324 cover the whole table
  ByteTable() {
    from_char.fill(-1);
    int n = 0;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      uint32_t cp = printable ? static_cast<uint32_t>(b) : static_cast<uint32_t>(256 + n++);
      append_utf8(to_char[b], cp);
      from_char[cp] = static_cast<int16_t>(b);
    }
  }
};

const ByteTable& byte_table() {
  static const ByteTable table;
  return table;
}

}  // namespace

uint16_t char_class(uint32_t cp) {
  if (cp < 0x10000) return class_table().bmp[cp];
  return compute_class(cp);
}

const std::string& byte_to_char(unsigned char b) { return byte_table().to_char[b]; }

int char_to_byte(uint32_t cp) { return cp < 324 ? byte_table().from_char[cp] : -1; }

}  // namespace zeroth::text::unicode
