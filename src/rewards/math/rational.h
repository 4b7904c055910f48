// Exact rational numbers for answer comparison: int64 numerator/denominator, every operation
// checked for overflow through __int128. An overflow makes the value "not exact" (ok = false)
// and the caller falls back to long double; nothing ever grows into a bignum.
#pragma once

#include <cstdint>
#include <cstdlib>

namespace zeroth::rewards::math {

struct Rational {
  int64_t num = 0;
  int64_t den = 1;   // > 0 when ok
  bool ok = true;    // false: overflowed or undefined (division by zero)

  static Rational make(__int128 n, __int128 d) {
    Rational r;
    if (d == 0) { r.ok = false; return r; }
    if (d < 0) { n = -n; d = -d; }
    __int128 a = n < 0 ? -n : n, b = d;
    while (b != 0) { __int128 t = a % b; a = b; b = t; }
    if (a > 1) { n /= a; d /= a; }
    if (n > INT64_MAX || n < -INT64_MAX || d > INT64_MAX) { r.ok = false; return r; }
    r.num = static_cast<int64_t>(n);
    r.den = static_cast<int64_t>(d);
    return r;
  }
  static Rational integer(int64_t v) { Rational r; r.num = v; return r; }
  static Rational invalid() { Rational r; r.ok = false; return r; }

  long double value() const { return static_cast<long double>(num) / static_cast<long double>(den); }
  bool is_integer() const { return ok && den == 1; }
};

inline Rational operator+(const Rational& a, const Rational& b) {
  if (!a.ok || !b.ok) return Rational::invalid();
  return Rational::make(static_cast<__int128>(a.num) * b.den + static_cast<__int128>(b.num) * a.den,
                        static_cast<__int128>(a.den) * b.den);
}
inline Rational operator-(const Rational& a) {
  Rational r = a;
  r.num = -a.num;
  return r;
}
inline Rational operator-(const Rational& a, const Rational& b) { return a + (-b); }
inline Rational operator*(const Rational& a, const Rational& b) {
  if (!a.ok || !b.ok) return Rational::invalid();
  return Rational::make(static_cast<__int128>(a.num) * b.num, static_cast<__int128>(a.den) * b.den);
}
inline Rational operator/(const Rational& a, const Rational& b) {
  if (!a.ok || !b.ok || b.num == 0) return Rational::invalid();
  return Rational::make(static_cast<__int128>(a.num) * b.den, static_cast<__int128>(a.den) * b.num);
}
inline bool operator==(const Rational& a, const Rational& b) {
  return a.ok && b.ok && a.num == b.num && a.den == b.den;
}

// a^e for an integer exponent; invalid on overflow or when |e| is large (never loops long).
inline Rational pow_int(Rational a, int64_t e) {
  if (!a.ok) return a;
  if (e == 0) return Rational::integer(1);
  if (a.num == 0) return e > 0 ? Rational::integer(0) : Rational::invalid();
  if (a.num == a.den) return Rational::integer(1);
  if (a.num == -a.den) return Rational::integer((e % 2 == 0) ? 1 : -1);
  if (e > 64 || e < -64) return Rational::invalid();
  bool invert = e < 0;
  if (invert) e = -e;
  Rational result = Rational::integer(1);
  for (int64_t i = 0; i < e && result.ok; ++i) result = result * a;
  if (invert) result = Rational::integer(1) / result;
  return result;
}

}  // namespace zeroth::rewards::math
