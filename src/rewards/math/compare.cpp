// Answer equivalence (docs/verifiers.md section 2, step 4) without a CAS:
//  - constants: exact rational arithmetic when both sides are rational; when a decimal literal is
//    involved, Math-Verify's rule (both rounded to 6 decimal places); irrational values in long
//    double with a relative tolerance (1e-12); an overflow or underflow is "cannot judge" -> unequal;
//  - free variables: both sides evaluated at 6 deterministic pseudo-random points, all must agree;
//  - relations: assignments unwrap (x=2 vs 2); equations equal up to a nonzero factor; inequalities
//    up to a positive factor after flipping; a gold inequality accepts the matching interval;
//  - structures: tuples ordered, sets/lists order-free, intervals by endpoints and closedness,
//    unions as sets, matrices element-wise; (a,b) matches an open interval either way.
#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>
#include <vector>

#include "rewards/math/expr.h"
#include "zeroth/rewards/math_answer.h"

namespace zeroth::rewards {
namespace math {
namespace {

constexpr int kPoints = 6;
using LD = long double;

uint64_t mix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// The value of a free symbol at evaluation point `point`: deterministic, in [0.3, 2.8].
LD symbol_value(const std::string& name, int point) {
  uint64_t h = 1469598103934665603ull;
  for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  uint64_t r = mix64(h ^ (static_cast<uint64_t>(point + 1) * 0xD6E8FEB86659FD93ull));
  return 0.3L + static_cast<LD>(r >> 11) * (2.5L / 9007199254740992.0L);
}

bool finite(LD x) { return std::isfinite(x); }
const LD kNaN = std::numeric_limits<LD>::quiet_NaN();
const LD kInf = std::numeric_limits<LD>::infinity();

struct Side {
  const Expr& e;
  const Node& at(int i) const { return e.at(i); }
};

bool has_symbols(const Expr& e, int i) {
  const Node& n = e.at(i);
  if (n.op == Op::Symbol) return true;
  for (int k : n.kids) if (has_symbols(e, k)) return true;
  return false;
}

bool has_decimal(const Expr& e, int i) {
  const Node& n = e.at(i);
  if (n.op == Op::Number && n.is_decimal) return true;
  for (int k : n.kids) if (has_decimal(e, k)) return true;
  return false;
}

bool is_scalar_op(Op op) {
  return op != Op::Tuple && op != Op::Interval && op != Op::Set && op != Op::List && op != Op::Union &&
         op != Op::Relation && op != Op::Matrix && op != Op::Text;
}

// Integer square/cube roots of exact rationals: 8 -> 2 for n=3; otherwise invalid.
bool int_root(int64_t v, int64_t n, int64_t* out) {
  if (v < 0) {
    if (n % 2 == 0) return false;
    int64_t r;
    if (!int_root(-v, n, &r)) return false;
    *out = -r;
    return true;
  }
  LD guess = std::pow(static_cast<LD>(v), 1.0L / static_cast<LD>(n));
  int64_t g = static_cast<int64_t>(std::llround(guess));
  for (int64_t c = std::max<int64_t>(0, g - 1); c <= g + 1; ++c) {
    Rational p = pow_int(Rational::integer(c), n);
    if (p.ok && p.den == 1 && p.num == v) { *out = c; return true; }
  }
  return false;
}

Rational exact(const Expr& e, int i) {
  const Node& n = e.at(i);
  switch (n.op) {
    case Op::Number: return n.exact;
    case Op::Add: return exact(e, n.kids[0]) + exact(e, n.kids[1]);
    case Op::Neg: return -exact(e, n.kids[0]);
    case Op::Mul: return exact(e, n.kids[0]) * exact(e, n.kids[1]);
    case Op::Div: return exact(e, n.kids[0]) / exact(e, n.kids[1]);
    case Op::Abs: { Rational r = exact(e, n.kids[0]); if (r.num < 0) r.num = -r.num; return r; }
    case Op::Pow: {
      Rational b = exact(e, n.kids[0]), x = exact(e, n.kids[1]);
      if (!b.ok || !x.ok) return Rational::invalid();
      if (x.den == 1) return pow_int(b, x.num);
      if (x.den <= 3 && b.num >= 0) {  // 4^{1/2}, 8^{2/3}
        int64_t rn, rd;
        if (!int_root(b.num, x.den, &rn) || !int_root(b.den, x.den, &rd)) return Rational::invalid();
        return pow_int(Rational::make(rn, rd), x.num);
      }
      return Rational::invalid();
    }
    case Op::Root: {
      Rational x = exact(e, n.kids[0]), k = exact(e, n.kids[1]);
      if (!x.ok || !k.ok || k.den != 1 || k.num < 2 || k.num > 10) return Rational::invalid();
      int64_t rn, rd;
      if (!int_root(x.num, k.num, &rn) || !int_root(x.den, k.num, &rd)) return Rational::invalid();
      return Rational::make(rn, rd);
    }
    case Op::Factorial: {
      Rational x = exact(e, n.kids[0]);
      if (!x.ok || x.den != 1 || x.num < 0 || x.num > 20) return Rational::invalid();
      int64_t f = 1;
      for (int64_t k = 2; k <= x.num; ++k) f *= k;
      return Rational::integer(f);
    }
    case Op::Binom: {
      Rational a = exact(e, n.kids[0]), b = exact(e, n.kids[1]);
      if (!a.ok || !b.ok || a.den != 1 || b.den != 1 || b.num < 0 || a.num < 0 || a.num > 1000000) return Rational::invalid();
      if (b.num > a.num) return Rational::integer(0);
      int64_t k = std::min(b.num, a.num - b.num);
      if (k > 200) return Rational::invalid();
      Rational r = Rational::integer(1);
      for (int64_t j = 1; j <= k && r.ok; ++j) r = r * Rational::make(a.num - k + j, j);
      return r;
    }
    default: return Rational::invalid();
  }
}

// Numeric value at evaluation point `point`. NaN when undefined, unsupported, or when a finite
// computation overflowed (so 1/2004! is "unknown", never 0).
LD eval(const Expr& e, int i, int point) {
  const Node& n = e.at(i);
  auto kid = [&](size_t k) { return eval(e, n.kids[k], point); };
  auto guard = [](LD r, LD a, LD b) { return (!finite(r) && finite(a) && finite(b)) ? kNaN : r; };
  switch (n.op) {
    case Op::Number: return n.value;
    case Op::Symbol: return symbol_value(n.name, point);
    case Op::Pi: return 3.141592653589793238462643383279502884L;
    case Op::E: return 2.718281828459045235360287471352662498L;
    case Op::Infinity: return kInf;
    case Op::Add: { LD a = kid(0), b = kid(1); return guard(a + b, a, b); }
    case Op::Neg: return -kid(0);
    case Op::Mul: { LD a = kid(0), b = kid(1); return guard(a * b, a, b); }
    case Op::Div: {
      LD a = kid(0), b = kid(1);
      if (b == 0) return kNaN;
      LD r = a / b;
      if (r == 0 && a != 0 && finite(b)) return kNaN;  // underflow
      return guard(r, a, b);
    }
    case Op::Pow: {
      LD a = kid(0), b = kid(1);
      LD r = std::pow(a, b);
      if (r == 0 && a != 0) return kNaN;
      return guard(r, a, b);
    }
    case Op::Root: {
      LD x = kid(0), k = kid(1);
      if (k == 2) return x < 0 ? kNaN : std::sqrt(x);
      if (x < 0) {
        if (std::fmod(k, 2.0L) == 1) return -std::pow(-x, 1.0L / k);
        return kNaN;
      }
      return std::pow(x, 1.0L / k);
    }
    case Op::Abs: return std::fabs(kid(0));
    case Op::Factorial: {
      LD x = kid(0);
      if (!(x >= 0) || x != std::floor(x) || x > 1700) return kNaN;
      LD f = 1;
      for (int k = 2; k <= static_cast<int>(x); ++k) f *= k;
      return finite(f) ? f : kNaN;
    }
    case Op::Binom: {
      LD a = kid(0), b = kid(1);
      if (!(a >= 0 && b >= 0) || a != std::floor(a) || b != std::floor(b) || a > 1e6) return kNaN;
      if (b > a) return 0;
      LD k = std::min(b, a - b);
      if (k > 5000) return kNaN;
      LD r = 1;
      for (int j = 1; j <= static_cast<int>(k); ++j) r = r * (a - k + j) / j;
      return finite(r) ? r : kNaN;
    }
    case Op::Func: {
      LD x = kid(0);
      const std::string& f = n.name;
      if (f == "sin") return std::sin(x);
      if (f == "cos") return std::cos(x);
      if (f == "tan") return std::tan(x);
      if (f == "sec") return 1 / std::cos(x);
      if (f == "csc") return 1 / std::sin(x);
      if (f == "cot") return 1 / std::tan(x);
      if (f == "arcsin") return std::asin(x);
      if (f == "arccos") return std::acos(x);
      if (f == "arctan") return std::atan(x);
      if (f == "sinh") return std::sinh(x);
      if (f == "cosh") return std::cosh(x);
      if (f == "tanh") return std::tanh(x);
      if (f == "exp") return std::exp(x);
      if (x <= 0) return kNaN;
      if (f == "ln") return std::log(x);
      if (f == "lg") return std::log10(x);
      if (f == "log") {
        if (n.kids.size() > 1) {
          LD base = kid(1);
          if (base <= 0 || base == 1) return kNaN;
          return std::log(x) / std::log(base);
        }
        return std::log(x);  // \log without a base: natural log (SymPy's reading)
      }
      return kNaN;
    }
    default: return kNaN;
  }
}

// Relative tolerance only: values below 1e-6 get no absolute slack (1/2^99 != 1/2^98). The one
// exception is a rounding residue against an exact zero (sin(pi) = 1e-19 in long double).
bool close_rel(LD a, LD b, LD rel) {
  if (a == b) return true;
  LD diff = std::fabs(a - b);
  LD scale = std::max(std::fabs(a), std::fabs(b));
  if ((a == 0 || b == 0) && diff <= 1e-16L) return true;
  return diff <= rel * scale;
}

// Math-Verify's float rule: both rounded to 6 decimal places when a decimal literal is involved.
bool round6_equal(LD a, LD b) {
  LD scale = std::max(std::fabs(a), std::fabs(b));
  if (scale >= 1e9L) return close_rel(a, b, 1e-12L);
  if (scale < 1e-3L) return close_rel(a, b, 1e-6L);  // no absolute tolerance on tiny values
  return std::llround(a * 1e6L) == std::llround(b * 1e6L);
}

// Structural equality of two trees (same operators, names and exact numbers): the fallback for
// values too large to evaluate, which are never expanded.
bool same_tree(const Expr& a, int i, const Expr& b, int j, int depth) {
  const Node& x = a.at(i);
  const Node& y = b.at(j);
  if (depth > 200 || x.op != y.op || x.kids.size() != y.kids.size() || x.name != y.name) return false;
  if (x.op == Op::Number && !(x.exact == y.exact) && x.value != y.value) return false;
  for (size_t k = 0; k < x.kids.size(); ++k)
    if (!same_tree(a, x.kids[k], b, y.kids[k], depth + 1)) return false;
  return true;
}

class Comparator {
 public:
  Comparator(const Expr& g, const Expr& p) : g_(g), p_(p) {}

  bool equal(int gi, int pi) { return equal_node(gi, pi, 0); }

 private:
  const Expr& g_;
  const Expr& p_;

  bool is_assignment(const Expr& e, int i) {
    const Node& n = e.at(i);
    if (n.op != Op::Relation) return false;
    for (Rel r : n.rels) if (r != Rel::Eq) return false;
    return e.at(n.kids[0]).op == Op::Symbol;
  }

  bool equal_node(int gi, int pi, int depth) {
    if (depth > 16) return false;
    const Node& g = g_.at(gi);
    const Node& p = p_.at(pi);
    bool g_rel = g.op == Op::Relation, p_rel = p.op == Op::Relation;
    if (g_rel && !p_rel) {
      if (is_assignment(g_, gi)) return equal_node(g.kids.back(), pi, depth + 1);
      if (p.op == Op::Interval || p.op == Op::Tuple) return relation_vs_interval(gi, pi);
      return false;
    }
    if (p_rel && !g_rel) {
      if (is_assignment(p_, pi)) return equal_node(gi, p.kids.back(), depth + 1);
      return false;
    }
    if (g_rel && p_rel) return relation_equal(gi, pi, depth);
    if (g.op == Op::Text || p.op == Op::Text) {
      if (g.op != p.op) return false;
      return canon_text(g.name) == canon_text(p.name);
    }
    if (!is_scalar_op(g.op) || !is_scalar_op(p.op)) return collection_equal(gi, pi, depth);
    return scalar_equal(gi, pi);
  }

  static std::string canon_text(const std::string& s) {
    std::string out;
    for (char c : s) if (!std::isspace(static_cast<unsigned char>(c))) out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    return out;
  }

  bool scalar_equal(int gi, int pi) {
    bool vars = has_symbols(g_, gi) || has_symbols(p_, pi);
    if (!vars) {
      Rational a = exact(g_, gi), b = exact(p_, pi);
      if (a.ok && b.ok && a == b) return true;
      bool decimal = has_decimal(g_, gi) || has_decimal(p_, pi);
      if (a.ok && b.ok && !decimal) return false;
      LD x = eval(g_, gi, 0), y = eval(p_, pi, 0);
      if (std::isinf(x) || std::isinf(y)) return x == y;  // \infty vs \infty (overflow is NaN)
      if (!finite(x) || !finite(y)) return same_tree(g_, gi, p_, pi, 0);  // 9^{9^9} vs 9^{9^{9}}
      if (decimal) return round6_equal(x, y);
      return close_rel(x, y, 1e-12L);
    }
    int valid = 0;
    for (int point = 0; point < kPoints; ++point) {
      LD x = eval(g_, gi, point), y = eval(p_, pi, point);
      if (!finite(x) || !finite(y)) {
        if (finite(x) != finite(y) && !std::isnan(x) && !std::isnan(y)) return false;
        continue;
      }
      if (!close_rel(x, y, 1e-9L)) return false;
      ++valid;
    }
    return valid >= 2;
  }

  // f_g / f_p is one constant at every point (positive when `positive`).
  bool proportional(int g_lhs, int g_rhs, int p_lhs, int p_rhs, bool positive) {
    LD ratio = kNaN;
    int valid = 0;
    for (int point = 0; point < kPoints; ++point) {
      LD fg = eval(g_, g_lhs, point) - eval(g_, g_rhs, point);
      LD fp = eval(p_, p_lhs, point) - eval(p_, p_rhs, point);
      if (!finite(fg) || !finite(fp)) continue;
      LD scale = std::max<LD>(1, std::max(std::fabs(fg), std::fabs(fp)));
      bool g_zero = std::fabs(fg) <= 1e-12L * scale, p_zero = std::fabs(fp) <= 1e-12L * scale;
      if (g_zero || p_zero) {
        if (g_zero != p_zero) return false;
        continue;
      }
      LD r = fg / fp;
      if (std::isnan(ratio)) ratio = r;
      else if (!close_rel(r, ratio, 1e-9L)) return false;
      ++valid;
    }
    if (valid < 2) return false;
    return !positive || ratio > 0;
  }

  bool relation_equal(int gi, int pi, int depth) {
    const Node& g = g_.at(gi);
    const Node& p = p_.at(pi);
    if (is_assignment(g_, gi) && is_assignment(p_, pi)) {
      if (g_.at(g.kids[0]).name != p_.at(p.kids[0]).name) return false;
      return equal_node(g.kids.back(), p.kids.back(), depth + 1);
    }
    if (g.kids.size() != 2 || p.kids.size() != 2) {
      if (g.kids.size() != p.kids.size() || g.rels != p.rels) return false;
      for (size_t k = 0; k < g.kids.size(); ++k)
        if (!equal_node(g.kids[k], p.kids[k], depth + 1)) return false;
      return true;
    }
    // Orient both as lhs (<, <=, =, !=) rhs.
    auto orient = [](const Node& n, int* lhs, int* rhs, Rel* rel) {
      *lhs = n.kids[0];
      *rhs = n.kids[1];
      *rel = n.rels[0];
      if (*rel == Rel::Gt || *rel == Rel::Ge) {
        std::swap(*lhs, *rhs);
        *rel = *rel == Rel::Gt ? Rel::Lt : Rel::Le;
      }
    };
    int gl, gr, pl, pr;
    Rel grel, prel;
    orient(g, &gl, &gr, &grel);
    orient(p, &pl, &pr, &prel);
    if (grel != prel) return false;
    if (!is_scalar_op(g_.at(gl).op) || !is_scalar_op(g_.at(gr).op) || !is_scalar_op(p_.at(pl).op) ||
        !is_scalar_op(p_.at(pr).op))
      return false;
    bool vars = has_symbols(g_, gi) || has_symbols(p_, pi);
    if (!vars) return equal_node(gl, pl, depth + 1) && equal_node(gr, pr, depth + 1);
    // f = rhs - lhs > 0 for < and <=; any nonzero factor for = and !=.
    bool positive = grel == Rel::Lt || grel == Rel::Le;
    return proportional(gr, gl, pr, pl, positive);
  }

  // One side of an interval: an endpoint node, or +-infinity.
  struct Bound {
    const Expr* e = nullptr;
    int node = -1;
    int inf = 0;  // -1: -infinity, +1: +infinity, 0: finite node
    bool closed = false;
  };

  static Bound make_bound(const Expr& e, int i, bool closed) {
    Bound b;
    b.e = &e;
    b.node = i;
    b.closed = closed;
    const Node& n = e.at(i);
    if (n.op == Op::Infinity) b.inf = 1;
    else if (n.op == Op::Neg && e.at(n.kids[0]).op == Op::Infinity) b.inf = -1;
    return b;
  }

  bool bound_equal(const Bound& a, const Bound& b) {
    if (a.inf != 0 || b.inf != 0) return a.inf == b.inf;
    if (a.closed != b.closed) return false;
    return equal_node(a.node, b.node, 8);
  }

  // A gold inequality in one variable (x >= 5, 1 < x <= 3) against a predicted interval.
  bool relation_vs_interval(int gi, int pi) {
    const Node& g = g_.at(gi);
    const Node& p = p_.at(pi);
    bool open_pair = p.op == Op::Tuple && p.kids.size() == 2;  // "(5, \infty)" reads as a tuple
    if (p.op != Op::Interval && !open_pair) return false;
    Bound lo, hi;
    lo.inf = -1;
    hi.inf = 1;
    auto is_var = [&](int k) { return g_.at(k).op == Op::Symbol; };
    if (g.kids.size() == 2) {
      Rel r = g.rels[0];
      int a = g.kids[0], b = g.kids[1];
      if (is_var(b)) {  // 5 <= x  ->  x >= 5
        std::swap(a, b);
        r = r == Rel::Lt ? Rel::Gt : r == Rel::Le ? Rel::Ge : r == Rel::Gt ? Rel::Lt : r == Rel::Ge ? Rel::Le : r;
      }
      if (!is_var(a) || has_symbols(g_, b)) return false;
      if (r == Rel::Gt || r == Rel::Ge) lo = make_bound(g_, b, r == Rel::Ge);
      else if (r == Rel::Lt || r == Rel::Le) hi = make_bound(g_, b, r == Rel::Le);
      else return false;
    } else if (g.kids.size() == 3 && is_var(g.kids[1])) {
      Rel r0 = g.rels[0], r1 = g.rels[1];
      bool up = (r0 == Rel::Lt || r0 == Rel::Le) && (r1 == Rel::Lt || r1 == Rel::Le);
      bool down = (r0 == Rel::Gt || r0 == Rel::Ge) && (r1 == Rel::Gt || r1 == Rel::Ge);
      if (!up && !down) return false;
      if (up) {
        lo = make_bound(g_, g.kids[0], r0 == Rel::Le);
        hi = make_bound(g_, g.kids[2], r1 == Rel::Le);
      } else {
        hi = make_bound(g_, g.kids[0], r0 == Rel::Ge);
        lo = make_bound(g_, g.kids[2], r1 == Rel::Ge);
      }
    } else {
      return false;
    }
    Bound plo = make_bound(p_, p.kids[0], p.left_closed), phi = make_bound(p_, p.kids[1], p.right_closed);
    // Endpoints live in different expressions: compare through a swapped comparator.
    auto same = [&](const Bound& gb, const Bound& pb) {
      if (gb.inf != 0 || pb.inf != 0) return gb.inf == pb.inf;
      if (gb.closed != pb.closed) return false;
      return equal_node(gb.node, pb.node, 8);
    };
    return same(lo, plo) && same(hi, phi);
  }

  bool interval_equal(const Node& g, const Node& p) {
    Bound glo = make_bound(g_, g.kids[0], g.left_closed), ghi = make_bound(g_, g.kids[1], g.right_closed);
    Bound plo = make_bound(p_, p.kids[0], p.left_closed), phi = make_bound(p_, p.kids[1], p.right_closed);
    return bound_equal(glo, plo) && bound_equal(ghi, phi);
  }

  bool ordered_equal(const std::vector<int>& a, const std::vector<int>& b, int depth) {
    if (a.size() != b.size()) return false;
    for (size_t k = 0; k < a.size(); ++k) if (!equal_node(a[k], b[k], depth + 1)) return false;
    return true;
  }

  bool unordered_equal(const std::vector<int>& a, const std::vector<int>& b, int depth) {
    if (a.size() != b.size() || a.size() > 64) return false;
    std::vector<bool> used(b.size(), false);
    for (int x : a) {
      bool found = false;
      for (size_t k = 0; k < b.size(); ++k) {
        if (!used[k] && equal_node(x, b[k], depth + 1)) { used[k] = true; found = true; break; }
      }
      if (!found) return false;
    }
    return true;
  }

  bool collection_equal(int gi, int pi, int depth) {
    const Node& g = g_.at(gi);
    const Node& p = p_.at(pi);
    switch (g.op) {
      case Op::Interval:
        if (p.op == Op::Interval) return interval_equal(g, p);
        if (p.op == Op::Tuple && p.kids.size() == 2 && !g.left_closed && !g.right_closed)
          return ordered_equal(g.kids, p.kids, depth);
        if (p.op == Op::Union && p.kids.size() == 1) return equal_node(gi, p.kids[0], depth + 1);
        return false;
      case Op::Tuple:
        if (p.op == Op::Tuple || p.op == Op::List) return ordered_equal(g.kids, p.kids, depth);
        if (p.op == Op::Interval && g.kids.size() == 2 && !p.left_closed && !p.right_closed)
          return ordered_equal(g.kids, p.kids, depth);
        return false;
      case Op::Set:
      case Op::List:
        if (p.op == Op::Set || p.op == Op::List || p.op == Op::Tuple) return unordered_equal(g.kids, p.kids, depth);
        if (g.kids.size() == 1) return equal_node(g.kids[0], pi, depth + 1);
        return false;
      case Op::Union:
        if (p.op == Op::Union) return unordered_equal(g.kids, p.kids, depth);
        return false;
      case Op::Matrix:
        if (p.op != Op::Matrix || p.rows != g.rows || p.cols != g.cols) return false;
        return ordered_equal(g.kids, p.kids, depth);
      default:
        // Scalar gold, structured prediction: only a one-element set or list matches.
        if ((p.op == Op::Set || p.op == Op::List) && p.kids.size() == 1) return equal_node(gi, p.kids[0], depth + 1);
        return false;
    }
  }
};

}  // namespace
}  // namespace math

namespace {

std::string strip_spaces(const std::string& s) {
  std::string out;
  for (char c : s) if (c != ' ') out.push_back(c);
  return out;
}

// "(B)" -> "B": a parenthesised single letter is a choice label.
std::string strip_choice_parens(const std::string& s) {
  if (s.size() == 3 && s[0] == '(' && s[2] == ')' && std::isalpha(static_cast<unsigned char>(s[1]))) return s.substr(1, 1);
  return s;
}

// A word answer ("Evelyn", "odd", "no solution"): letters and spaces only, with a run of at
// least three letters. Compared case- and space-insensitively, never as a product of variables.
bool is_word_answer(const std::string& s) {
  int run = 0, best = 0;
  for (char c : s) {
    if (std::isalpha(static_cast<unsigned char>(c))) { best = std::max(best, ++run); continue; }
    run = 0;
    if (c != ' ' && c != '-' && c != '\'') return false;
  }
  return best >= 3;
}

std::string lower(const std::string& s) {
  std::string out;
  for (char c : s) if (c != ' ') out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  return out;
}

// "1 \pm \sqrt2" -> "\{1+\sqrt2,1-\sqrt2\}": every list element with one \pm (or \mp) becomes
// two elements of a set; "\{1\pm\sqrt{5},-2\}" -> "\{1+\sqrt{5},1-\sqrt{5},-2\}".
std::string expand_pm(const std::string& s) {
  if (s.find("\\pm") == std::string::npos && s.find("\\mp") == std::string::npos) return s;
  std::string inner = s;
  if (inner.size() >= 4 && inner.compare(0, 2, "\\{") == 0 && inner.compare(inner.size() - 2, 2, "\\}") == 0)
    inner = inner.substr(2, inner.size() - 4);
  std::vector<std::string> items;
  int depth = 0;
  size_t start = 0;
  for (size_t i = 0; i <= inner.size(); ++i) {
    char c = i < inner.size() ? inner[i] : ',';
    if (c == '(' || c == '[' || c == '{') ++depth;
    else if (c == ')' || c == ']' || c == '}') --depth;
    else if (c == ',' && depth == 0) { items.push_back(inner.substr(start, i - start)); start = i + 1; }
  }
  std::string out;
  for (const std::string& item : items) {
    size_t k = item.find("\\pm");
    if (k == std::string::npos) k = item.find("\\mp");
    bool expand = k != std::string::npos && !(k + 3 < item.size() && std::isalpha(static_cast<unsigned char>(item[k + 3])));
    if (!out.empty()) out += ",";
    if (!expand) { out += item; continue; }
    out += item.substr(0, k) + "+" + item.substr(k + 3) + "," + item.substr(0, k) + "-" + item.substr(k + 3);
  }
  return "\\{" + out + "\\}";
}

}  // namespace

bool math_answers_equal(std::string_view gold, std::string_view pred) {
  std::string g = normalize_math_answer(gold), p = normalize_math_answer(pred);
  if (g.empty() || p.empty()) return false;
  std::string gs = strip_choice_parens(strip_spaces(g)), ps = strip_choice_parens(strip_spaces(p));
  if (gs == ps) return true;
  if (is_word_answer(g) || is_word_answer(p)) return is_word_answer(g) && is_word_answer(p) && lower(g) == lower(p);
  auto ge = math::parse_math(expand_pm(g));
  if (!ge) return false;
  auto pe = math::parse_math(expand_pm(p));
  if (!pe) return false;
  math::Comparator cmp(*ge, *pe);
  return cmp.equal(ge->root, pe->root);
}

}  // namespace zeroth::rewards
