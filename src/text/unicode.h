// UTF-8 decoding and the Unicode properties the pre-tokenizers need (general categories and
// White_Space from ICU), plus GPT-2's byte <-> printable-character table used by ByteLevel.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace zeroth::text::unicode {

// Decodes the code point at s[i] and sets `len` to its byte length. Invalid or truncated sequences
// decode as U+FFFD with len 1 (callers validate input first; this never reads past s.size()).
inline uint32_t decode_utf8(std::string_view s, size_t i, int& len) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) { len = 1; return c; }
  int need; uint32_t cp;
  if ((c & 0xE0) == 0xC0) { need = 1; cp = c & 0x1F; }
  else if ((c & 0xF0) == 0xE0) { need = 2; cp = c & 0x0F; }
  else if ((c & 0xF8) == 0xF0) { need = 3; cp = c & 0x07; }
  else { len = 1; return 0xFFFD; }
  if (i + need >= s.size()) { len = 1; return 0xFFFD; }
  for (int k = 1; k <= need; ++k) {
    unsigned char d = static_cast<unsigned char>(s[i + k]);
    if ((d & 0xC0) != 0x80) { len = 1; return 0xFFFD; }
    cp = (cp << 6) | (d & 0x3F);
  }
  len = need + 1;
  return cp;
}

void append_utf8(std::string& out, uint32_t cp);

// Byte offset of the first invalid UTF-8 sequence (overlong forms, surrogates and values above
// U+10FFFF count as invalid), or npos when `s` is valid.
size_t find_invalid_utf8(std::string_view s);

// Length of the complete-and-valid UTF-8 prefix of `s` that ends on a character boundary, treating
// a truncated sequence at the very end as "not yet complete" (for streaming decode).
size_t complete_utf8_prefix(std::string_view s);

// Replaces invalid sequences by U+FFFD (like Rust's String::from_utf8_lossy).
std::string to_valid_utf8(std::string_view s);

// Character classes, bit flags.
enum : uint16_t {
  kLetter = 1,       // \p{L}
  kNumber = 2,       // \p{N}
  kPunct = 4,        // \p{P}
  kSymbol = 8,       // \p{S}
  kMark = 16,        // \p{M}
  kSpace = 32,       // \s: Unicode White_Space (as in Oniguruma, the Rust library's engine)
  kDecimal = 64,     // \p{Nd}
};
uint16_t char_class(uint32_t cp);

// GPT-2 ByteLevel: every byte maps to a printable code point (bytes that are printable map to
// themselves, the rest to U+0100 onwards). byte_to_char(b) is that code point's UTF-8 (1-2 bytes).
const std::string& byte_to_char(unsigned char b);
// The byte a ByteLevel code point stands for, or -1 when `cp` is not in the table.
int char_to_byte(uint32_t cp);

}  // namespace zeroth::text::unicode
