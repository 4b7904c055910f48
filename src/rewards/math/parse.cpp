// Recursive-descent parser for normalized LaTeX / plain-text math answers (our own; no SymPy, no
// shell, no interpreter). Grammar, loosest first:
//   list     := union (',' union)*
//   union    := relation ('\cup' relation)*
//   relation := sum (relop sum)*            relop: = < > \le \ge \ne \approx (and <=, >=, !=)
//   sum      := product (('+' | '-') product)*
//   product  := unary (('*' | '\cdot' | '\times' | '/' | '\div') unary | implicit unary)*
//   unary    := ('-' | '+') unary | power
//   power    := postfix ('^' exponent)?     (-x^2 = -(x^2))
//   postfix  := primary '!'*
//   primary  := number | letter[_sub] | \pi | \infty | (..) | [..] | {..} | \{..\} | |..| | \frac | \sqrt
//               | \binom | function | matrix environment | \mathbb{R} | \emptyset
// Every nested entry counts against kMaxDepth, so 10,000 nested braces fail fast instead of
// overflowing the stack. What the parser does not understand makes the whole answer unparseable.
#include <cctype>
#include <cmath>
#include <cstring>

#include "rewards/math/expr.h"

namespace zeroth::rewards::math {
namespace {

bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

const char* const kFunctions[] = {"sin", "cos", "tan", "sec", "csc", "cot", "arcsin", "arccos", "arctan",
                                  "sinh", "cosh", "tanh", "ln", "log", "exp", "lg"};
bool is_function(std::string_view name) {
  for (const char* f : kFunctions) if (name == f) return true;
  return false;
}

struct Fail {};  // thrown inside the parser only; parse_math turns it into nullopt

class Parser {
 public:
  explicit Parser(std::string_view s) : s_(s) {}

  Expr run() {
    int root = parse_list_top();
    skip_ws();
    if (pos_ != s_.size()) throw Fail{};
    out_.root = root;
    return std::move(out_);
  }

 private:
  std::string_view s_;
  size_t pos_ = 0;
  int depth_ = 0;
  Expr out_;

  struct DepthGuard {
    explicit DepthGuard(int& d) : d_(d) { if (++d_ > kMaxDepth) throw Fail{}; }
    ~DepthGuard() { --d_; }
    int& d_;
  };

  int add(Node n) {
    out_.nodes.push_back(std::move(n));
    return static_cast<int>(out_.nodes.size()) - 1;
  }
  int add_op(Op op, std::vector<int> kids) {
    Node n;
    n.op = op;
    n.kids = std::move(kids);
    return add(std::move(n));
  }

  void skip_ws() { while (pos_ < s_.size() && (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\n' || s_[pos_] == '\r')) ++pos_; }
  char peek() { skip_ws(); return pos_ < s_.size() ? s_[pos_] : '\0'; }
  char peek_at(size_t k) const { return pos_ + k < s_.size() ? s_[pos_ + k] : '\0'; }
  // A postfix factorial: "!", but not the "!" of the relation "!=" ("x != 3" is not "x! = 3").
  bool factorial_next() { return peek() == '!' && peek_at(1) != '='; }
  bool eat(char c) { if (peek() == c) { ++pos_; return true; } return false; }
  void expect(char c) { if (!eat(c)) throw Fail{}; }

  // The command name at pos_ ("frac" for "\frac"; "{" for "\{"; "\\" for a line break), without consuming.
  std::string_view peek_command() {
    skip_ws();
    if (pos_ >= s_.size() || s_[pos_] != '\\') return {};
    size_t j = pos_ + 1;
    if (j < s_.size() && !is_letter(s_[j])) return s_.substr(j, 1);
    while (j < s_.size() && is_letter(s_[j])) ++j;
    return s_.substr(pos_ + 1, j - pos_ - 1);
  }
  void eat_command(std::string_view name) { skip_ws(); pos_ += 1 + name.size(); }

  bool at_relop(Rel* rel, size_t* len) {
    skip_ws();
    char c = peek_at(0), d = peek_at(1);
    if (c == '<' && d == '=') { *rel = Rel::Le; *len = 2; return true; }
    if (c == '>' && d == '=') { *rel = Rel::Ge; *len = 2; return true; }
    if (c == '!' && d == '=') { *rel = Rel::Ne; *len = 2; return true; }
    if (c == '=') { *rel = Rel::Eq; *len = 1; return true; }
    if (c == '<') { *rel = Rel::Lt; *len = 1; return true; }
    if (c == '>') { *rel = Rel::Gt; *len = 1; return true; }
    std::string_view cmd = peek_command();
    if (cmd.empty()) return false;
    *len = cmd.size() + 1;
    if (cmd == "le" || cmd == "leq" || cmd == "leqslant") { *rel = Rel::Le; return true; }
    if (cmd == "ge" || cmd == "geq" || cmd == "geqslant") { *rel = Rel::Ge; return true; }
    if (cmd == "lt") { *rel = Rel::Lt; return true; }
    if (cmd == "gt") { *rel = Rel::Gt; return true; }
    if (cmd == "ne" || cmd == "neq") { *rel = Rel::Ne; return true; }
    if (cmd == "approx" || cmd == "equiv") { *rel = Rel::Eq; return true; }
    return false;
  }

  int parse_list_top() {
    std::vector<int> items{parse_union()};
    while (eat(',')) items.push_back(parse_union());
    if (items.size() == 1) return items[0];
    return add_op(Op::List, std::move(items));
  }

  int parse_union() {
    DepthGuard guard(depth_);
    int first = parse_relation();
    if (peek_command() != "cup") return first;
    std::vector<int> parts{first};
    while (peek_command() == "cup") {
      eat_command("cup");
      parts.push_back(parse_relation());
    }
    return add_op(Op::Union, std::move(parts));
  }

  int parse_relation() {
    int first = parse_sum();
    Rel rel;
    size_t len;
    if (!at_relop(&rel, &len)) return first;
    Node n;
    n.op = Op::Relation;
    n.kids.push_back(first);
    while (at_relop(&rel, &len)) {
      pos_ += len;
      n.rels.push_back(rel);
      n.kids.push_back(parse_sum());
    }
    return add(std::move(n));
  }

  int parse_sum() {
    int left = parse_product();
    for (;;) {
      char c = peek();
      if (c == '+') { ++pos_; left = add_op(Op::Add, {left, parse_product()}); }
      else if (c == '-') { ++pos_; int r = parse_product(); left = add_op(Op::Add, {left, add_op(Op::Neg, {r})}); }
      else return left;
    }
  }

  // Whether the text at pos_ starts a factor that multiplies implicitly ("2x", "3\sqrt2", "(a)(b)").
  bool starts_implicit_factor() {
    char c = peek();
    if (is_letter(c) || c == '(' || c == '{') return true;
    if (c != '\\') return false;
    std::string_view cmd = peek_command();
    return cmd == "frac" || cmd == "sqrt" || cmd == "pi" || cmd == "infty" || cmd == "binom" ||
           cmd == "text" || is_function(cmd);
  }

  int parse_product() {
    int left = parse_unary();
    for (;;) {
      char c = peek();
      std::string_view cmd = peek_command();
      if (c == '*') { ++pos_; left = add_op(Op::Mul, {left, parse_unary()}); }
      else if (c == '/') { ++pos_; left = add_op(Op::Div, {left, parse_unary()}); }
      else if (cmd == "cdot" || cmd == "times") { eat_command(cmd); left = add_op(Op::Mul, {left, parse_unary()}); }
      else if (cmd == "div") { eat_command(cmd); left = add_op(Op::Div, {left, parse_unary()}); }
      else if (starts_implicit_factor()) { left = add_op(Op::Mul, {left, parse_power()}); }
      else return left;
    }
  }

  int parse_unary() {
    DepthGuard guard(depth_);
    char c = peek();
    if (c == '-') { ++pos_; return add_op(Op::Neg, {parse_unary()}); }
    if (c == '+') { ++pos_; return parse_unary(); }
    return parse_power();
  }

  int parse_power() {
    int base = parse_postfix();
    if (peek() != '^') return base;
    ++pos_;
    int exponent = parse_exponent();
    int result = add_op(Op::Pow, {base, exponent});
    while (factorial_next()) { ++pos_; result = add_op(Op::Factorial, {result}); }
    return result;
  }

  int parse_exponent() {
    DepthGuard guard(depth_);
    char c = peek();
    if (c == '{') return parse_braced();
    if (c == '-') { ++pos_; return add_op(Op::Neg, {parse_exponent()}); }
    return parse_postfix();
  }

  int parse_postfix() {
    int x = parse_primary();
    while (factorial_next()) { ++pos_; x = add_op(Op::Factorial, {x}); }
    return x;
  }

  // {expr}: a LaTeX group (commas inside make a list).
  int parse_braced() {
    DepthGuard guard(depth_);
    expect('{');
    int inner = parse_list_top();
    expect('}');
    return inner;
  }

  // The argument of \frac / \sqrt / \binom: a {group}, or a single character ("\frac12").
  int parse_arg() {
    DepthGuard guard(depth_);
    char c = peek();
    if (c == '{') return parse_braced();
    if (is_digit(c)) {
      ++pos_;
      return add_number_literal(std::string(1, c));
    }
    if (is_letter(c)) {
      ++pos_;
      return add_symbol(std::string(1, c));
    }
    if (c == '\\') return parse_primary();
    throw Fail{};
  }

  int add_symbol(std::string name) {
    Node n;
    if (name == "e") {
      n.op = Op::E;
    } else {
      n.op = Op::Symbol;
      n.name = std::move(name);
    }
    return add(std::move(n));
  }

  int add_number_literal(const std::string& digits) {
    // digits: [0-9]*(.[0-9]*)?([eE][+-]?[0-9]+)?
    Node n;
    n.op = Op::Number;
    size_t epos = digits.find_first_of("eE");
    std::string mant = digits.substr(0, epos);
    int64_t exp10 = 0;
    if (epos != std::string::npos) {
      std::string e = digits.substr(epos + 1);
      if (e.size() > 6) throw Fail{};
      exp10 = std::stoll(e);
      n.is_decimal = true;
    }
    size_t dot = mant.find('.');
    std::string int_part = mant.substr(0, dot), frac_part = dot == std::string::npos ? "" : mant.substr(dot + 1);
    if (dot != std::string::npos) n.is_decimal = true;
    std::string all = int_part + frac_part;
    size_t first_nonzero = all.find_first_not_of('0');
    std::string significant = first_nonzero == std::string::npos ? "0" : all.substr(first_nonzero);
    n.value = std::strtold(mant.c_str(), nullptr) * std::pow(10.0L, static_cast<long double>(exp10));
    if (significant.size() <= 18 && frac_part.size() <= 18 && exp10 <= 18 && exp10 >= -18) {
      int64_t v = std::stoll(significant);
      int64_t scale = -static_cast<int64_t>(frac_part.size()) + exp10;
      Rational r = Rational::integer(v);
      r = scale >= 0 ? r * pow_int(Rational::integer(10), scale) : r / pow_int(Rational::integer(10), -scale);
      n.exact = r;
    } else {
      n.exact = Rational::invalid();
    }
    if (n.is_decimal) out_.has_decimal = true;
    return add(std::move(n));
  }

  int parse_number() {
    size_t start = pos_;
    while (pos_ < s_.size() && is_digit(s_[pos_])) ++pos_;
    if (pos_ < s_.size() && s_[pos_] == '.' && pos_ + 1 < s_.size() && is_digit(s_[pos_ + 1])) {
      ++pos_;
      while (pos_ < s_.size() && is_digit(s_[pos_])) ++pos_;
    } else if (pos_ < s_.size() && s_[pos_] == '.' && pos_ > start &&
               (pos_ + 1 >= s_.size() || !is_letter(s_[pos_ + 1]))) {
      ++pos_;  // "5." reads as 5
    }
    // Scientific notation 1.5e3 / 2E-4 (a digit must follow, so "2e" stays 2*e).
    if (pos_ < s_.size() && (s_[pos_] == 'e' || s_[pos_] == 'E')) {
      size_t j = pos_ + 1;
      if (j < s_.size() && (s_[j] == '+' || s_[j] == '-')) ++j;
      if (j < s_.size() && is_digit(s_[j])) {
        pos_ = j;
        while (pos_ < s_.size() && is_digit(s_[pos_])) ++pos_;
      }
    }
    std::string text(s_.substr(start, pos_ - start));
    if (!text.empty() && text.back() == '.') text.pop_back();
    if (text.empty()) throw Fail{};
    if (text.size() > 200) throw Fail{};
    // A number in base b ("52_8", "4210_{5}"): a literal compared by its digits and base only.
    if (pos_ < s_.size() && s_[pos_] == '_') {
      size_t j = pos_ + 1;
      bool braced = j < s_.size() && s_[j] == '{';
      if (braced) ++j;
      size_t digits = j;
      while (j < s_.size() && is_digit(s_[j])) ++j;
      if (j == digits || j - digits > 2 || (braced && (j >= s_.size() || s_[j] != '}'))) throw Fail{};
      std::string name = text + "_" + std::string(s_.substr(digits, j - digits));
      pos_ = braced ? j + 1 : j;
      Node n;
      n.op = Op::Symbol;
      n.name = std::move(name);
      return add(std::move(n));
    }
    int number = add_number_literal(text);
    // Mixed number: 2\frac{1}{4} = 9/4 (integer followed directly by a fraction of integer literals).
    bool integer_literal = !out_.at(number).is_decimal;
    if (integer_literal && peek_command() == "frac") {
      size_t save = pos_;
      size_t save_nodes = out_.nodes.size();
      eat_command("frac");
      int a = parse_arg(), b = parse_arg();
      const Node& na = out_.at(a);
      const Node& nb = out_.at(b);
      if (na.op == Op::Number && nb.op == Op::Number && !na.is_decimal && !nb.is_decimal) {
        int frac = add_op(Op::Div, {a, b});
        return add_op(Op::Add, {number, frac});
      }
      pos_ = save;
      out_.nodes.resize(save_nodes);
    }
    return number;
  }

  // Items separated by ',' until one of the closers; returns the closer found.
  char parse_items(std::vector<int>* items, const char* closers) {
    for (;;) {
      char c = peek();
      if (c != '\0' && std::strchr(closers, c) && items->empty()) throw Fail{};  // "()" is not an answer
      items->push_back(parse_union());
      c = peek();
      if (c == ',') { ++pos_; continue; }
      if (c != '\0' && std::strchr(closers, c)) { ++pos_; return c; }
      throw Fail{};
    }
  }

  int parse_bracket() {
    DepthGuard guard(depth_);
    char open = s_[pos_++];
    std::vector<int> items;
    char close = parse_items(&items, ")]");
    bool same = (open == '(' && close == ')') || (open == '[' && close == ']');
    if (items.size() == 1) {
      if (!same) throw Fail{};
      return items[0];
    }
    if (items.size() == 2 && !(open == '(' && close == ')')) {
      Node n;
      n.op = Op::Interval;
      n.left_closed = open == '[';
      n.right_closed = close == ']';
      n.kids = std::move(items);
      return add(std::move(n));
    }
    return add_op(Op::Tuple, std::move(items));
  }

  int parse_set() {
    DepthGuard guard(depth_);
    eat_command("{");
    std::vector<int> items;
    if (peek_command() == "}") { eat_command("}"); return add_op(Op::Set, {}); }
    for (;;) {
      items.push_back(parse_union());
      if (eat(',')) continue;
      if (peek_command() == "}") { eat_command("}"); break; }
      throw Fail{};
    }
    return add_op(Op::Set, std::move(items));
  }

  int parse_matrix(std::string_view env) {
    DepthGuard guard(depth_);
    // \begin{array}{cc} has a column spec to skip.
    if (env == "array" && peek() == '{') {
      while (pos_ < s_.size() && s_[pos_] != '}') ++pos_;
      expect('}');
    }
    Node m;
    m.op = Op::Matrix;
    std::vector<int> row;
    int cols = -1;
    auto end_row = [&] {
      if (row.empty()) return;
      if (cols >= 0 && static_cast<int>(row.size()) != cols) throw Fail{};
      cols = static_cast<int>(row.size());
      for (int k : row) m.kids.push_back(k);
      ++m.rows;
      row.clear();
    };
    for (;;) {
      if (peek_command() == "end") {
        eat_command("end");
        expect('{');
        size_t close = s_.find('}', pos_);
        if (close == std::string_view::npos || s_.substr(pos_, close - pos_) != env) throw Fail{};
        pos_ = close + 1;
        end_row();
        break;
      }
      row.push_back(parse_union());
      if (eat('&')) continue;
      if (peek_command() == "\\") { eat_command("\\"); end_row(); continue; }
      if (peek_command() == "end") continue;
      throw Fail{};
    }
    if (m.rows == 0) throw Fail{};
    m.cols = cols;
    return add(std::move(m));
  }

  int parse_function(std::string name) {
    DepthGuard guard(depth_);
    int power = -1, base = -1;
    for (int k = 0; k < 2; ++k) {
      if (peek() == '^') { ++pos_; power = parse_exponent(); }
      else if (peek() == '_') { ++pos_; base = parse_arg(); }
    }
    int arg;
    char c = peek();
    if (c == '(' || c == '[') arg = parse_bracket();
    else if (c == '{') arg = parse_braced();
    else arg = parse_power();
    Node f;
    f.op = Op::Func;
    f.name = std::move(name);
    f.kids.push_back(arg);
    if (base >= 0) {
      if (f.name != "log") throw Fail{};
      f.kids.push_back(base);
    }
    int result = add(std::move(f));
    if (power >= 0) {
      // \sin^{-1} x is arcsin x, not 1/sin x.
      const Node& p = out_.at(power);
      if (p.op == Op::Neg && out_.at(p.kids[0]).op == Op::Number && out_.at(p.kids[0]).exact == Rational::integer(1) &&
          out_.at(result).name.size() == 3 && out_.at(result).name != "log") {
        out_.nodes[static_cast<size_t>(result)].name = "arc" + out_.at(result).name;
        return result;
      }
      result = add_op(Op::Pow, {result, power});
    }
    return result;
  }

  int parse_command() {
    std::string_view cmd = peek_command();
    if (cmd.empty()) throw Fail{};
    std::string name(cmd);
    eat_command(cmd);
    if (name == "frac") {
      int a = parse_arg();
      int b = parse_arg();
      return add_op(Op::Div, {a, b});
    }
    if (name == "binom") {
      int a = parse_arg();
      int b = parse_arg();
      return add_op(Op::Binom, {a, b});
    }
    if (name == "sqrt") {
      int index = -1;
      if (peek() == '[') {
        ++pos_;
        index = parse_sum();
        expect(']');
      }
      int x = parse_arg();
      if (index < 0) {
        Node two;
        two.op = Op::Number;
        two.exact = Rational::integer(2);
        two.value = 2;
        index = add(std::move(two));
      }
      return add_op(Op::Root, {x, index});
    }
    if (name == "pi") { Node n; n.op = Op::Pi; return add(std::move(n)); }
    if (name == "infty" || name == "infin" || name == "inf") { Node n; n.op = Op::Infinity; return add(std::move(n)); }
    if (name == "emptyset" || name == "varnothing") return add_op(Op::Set, {});
    if (name == "{") { pos_ -= 2; return parse_set(); }
    if (name == "mathbb") {
      expect('{');
      if (!eat('R')) throw Fail{};
      expect('}');
      Node n;
      n.op = Op::Interval;
      Node inf;
      inf.op = Op::Infinity;
      int hi = add(inf);
      int lo = add_op(Op::Neg, {add(inf)});
      n.kids = {lo, hi};
      return add(std::move(n));
    }
    if (name == "begin") {
      expect('{');
      size_t close = s_.find('}', pos_);
      if (close == std::string_view::npos) throw Fail{};
      std::string_view env = s_.substr(pos_, close - pos_);
      pos_ = close + 1;
      if (env != "pmatrix" && env != "bmatrix" && env != "matrix" && env != "array" && env != "Bmatrix") throw Fail{};
      return parse_matrix(env);
    }
    if (name == "text") {
      expect('{');
      size_t close = s_.find('}', pos_);
      if (close == std::string_view::npos) throw Fail{};
      Node n;
      n.op = Op::Text;
      n.name = std::string(s_.substr(pos_, close - pos_));
      pos_ = close + 1;
      return add(std::move(n));
    }
    if (name == "lvert" || name == "vert") {
      int inner = parse_sum();
      std::string_view closer = peek_command();
      if (closer != "rvert" && closer != "vert") throw Fail{};
      eat_command(closer);
      return add_op(Op::Abs, {inner});
    }
    if (is_function(name)) return parse_function(name);
    if (name == "operatorname") {
      expect('{');
      size_t close = s_.find('}', pos_);
      if (close == std::string_view::npos) throw Fail{};
      std::string fn(s_.substr(pos_, close - pos_));
      pos_ = close + 1;
      if (!is_function(fn)) throw Fail{};
      return parse_function(fn);
    }
    throw Fail{};
  }

  int parse_primary() {
    DepthGuard guard(depth_);
    char c = peek();
    if (is_digit(c) || (c == '.' && is_digit(peek_at(1)))) return parse_number();
    if (is_letter(c)) {
      // Plain-text function names and pi: "sqrt(2)", "sin x", "pi".
      size_t j = pos_;
      while (j < s_.size() && is_letter(s_[j])) ++j;
      std::string_view word = s_.substr(pos_, j - pos_);
      for (std::string_view fn : {"arcsin", "arccos", "arctan", "sqrt", "sin", "cos", "tan", "ln", "log", "exp", "pi"}) {
        if (word.substr(0, fn.size()) == fn && (word.size() == fn.size() || fn == "pi")) {
          pos_ += fn.size();
          if (fn == "pi") { Node n; n.op = Op::Pi; return add(std::move(n)); }
          if (fn == "sqrt") {
            if (peek() != '(') throw Fail{};
            int x = parse_bracket();
            Node two;
            two.op = Op::Number;
            two.exact = Rational::integer(2);
            two.value = 2;
            return add_op(Op::Root, {x, add(std::move(two))});
          }
          return parse_function(std::string(fn));
        }
      }
      ++pos_;
      std::string name(1, c);
      if (peek_at(0) == '_') {
        ++pos_;
        if (peek() == '{') {
          size_t close = s_.find('}', pos_);
          if (close == std::string_view::npos || close - pos_ > 20) throw Fail{};
          name += "_" + std::string(s_.substr(pos_ + 1, close - pos_ - 1));
          pos_ = close + 1;
        } else if (pos_ < s_.size() && (is_letter(s_[pos_]) || is_digit(s_[pos_]))) {
          name += "_" + std::string(1, s_[pos_++]);
        } else {
          throw Fail{};
        }
      }
      return add_symbol(std::move(name));
    }
    if (c == '(' || c == '[') return parse_bracket();
    if (c == '{') return parse_braced();
    if (c == '|') {
      ++pos_;
      int inner = parse_sum();
      expect('|');
      return add_op(Op::Abs, {inner});
    }
    if (c == '\\') return parse_command();
    throw Fail{};
  }
};

}  // namespace

std::optional<Expr> parse_math(std::string_view text) {
  if (text.size() > kMaxLength) return std::nullopt;
  try {
    Parser parser(text);
    return parser.run();
  } catch (const Fail&) {
    return std::nullopt;
  } catch (const std::exception&) {  // std::stoll range errors and the like: unparseable, never a crash
    return std::nullopt;
  }
}

}  // namespace zeroth::rewards::math
