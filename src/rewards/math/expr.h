// The math answer parser's expression tree (private to the rewards layer). One flat arena of
// nodes per parsed answer: numbers (exact rationals plus a long double), symbols, constants,
// arithmetic, functions, and the structures answers take: tuples, intervals, sets, lists,
// unions, relation chains, matrices. Built by parse_math() (parse.cpp), compared by
// compare.cpp. No node is ever evaluated to a bignum; the parser has a depth limit.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rewards/math/rational.h"

namespace zeroth::rewards::math {

enum class Op : uint8_t {
  Number, Symbol, Pi, E, Infinity,               // leaves
  Add, Neg, Mul, Div, Pow, Func, Factorial, Binom, Root, Abs,  // arithmetic (Root: kids {x, n})
  Tuple, Interval, Set, List, Union, Relation, Matrix, Text    // structures
};

enum class Rel : uint8_t { Eq, Ne, Lt, Le, Gt, Ge };

struct Node {
  Op op = Op::Number;
  Rational exact;              // Number: exact value (ok=false when the literal is too long)
  long double value = 0;       // Number: numeric value
  bool is_decimal = false;     // Number: written with a decimal point or exponent
  std::string name;            // Symbol name, Func name ("sin", "log"), Text content
  bool left_closed = false;    // Interval
  bool right_closed = false;   // Interval
  int rows = 0, cols = 0;      // Matrix (kids row-major)
  std::vector<Rel> rels;       // Relation: rels[i] sits between kids[i] and kids[i+1]
  std::vector<int> kids;
};

struct Expr {
  std::vector<Node> nodes;
  int root = -1;
  bool has_decimal = false;    // some number literal has a decimal point (float rounding rule)
  const Node& at(int i) const { return nodes[static_cast<size_t>(i)]; }
};

// Parses a normalized answer (see normalize.cpp). nullopt when it is not a well-formed expression
// this parser understands, too deep (> kMaxDepth nested groups) or too long (> kMaxLength bytes).
constexpr int kMaxDepth = 64;
constexpr size_t kMaxLength = 4000;
std::optional<Expr> parse_math(std::string_view text);

}  // namespace zeroth::rewards::math
