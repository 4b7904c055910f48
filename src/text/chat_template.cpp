// The Jinja2 subset of chat_template.h: a lexer that applies Jinja's whitespace rules, a
// recursive-descent parser into a small AST, and a tree-walking evaluator over JSON values.
#include "zeroth/text/chat_template.h"

#include <cmath>
#include <cstdio>
#include <functional>
#include <map>

#include "text/unicode.h"
#include "zeroth/core/error.h"
#include "zeroth/text/tokenizer.h"

namespace zeroth::text {

namespace {

// ---------------------------------------------------------------------------------------------
// Values

struct Value {
  enum class Kind { kUndefined, kData, kNamespace, kFunction };
  Kind kind = Kind::kUndefined;
  Json data;                  // kData
  std::shared_ptr<Json> ns;   // kNamespace: its attributes (an object)
  std::string name;           // kFunction: builtin name; kUndefined: what was undefined

  static Value undefined(std::string what) {
    Value v;
    v.name = std::move(what);
    return v;
  }
  static Value of(Json j) {
    Value v;
    v.kind = Kind::kData;
    v.data = std::move(j);
    return v;
  }
  static Value function(std::string n) {
    Value v;
    v.kind = Kind::kFunction;
    v.name = std::move(n);
    return v;
  }
  bool is_undefined() const { return kind == Kind::kUndefined; }
  bool is_data() const { return kind == Kind::kData; }
  bool is_string() const { return is_data() && data.is_string(); }
};

// Python str.isspace() (what Jinja's trim and str.strip() remove).
bool py_space(uint32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

std::vector<uint32_t> code_points(const std::string& s) {
  std::vector<uint32_t> out;
  size_t i = 0;
  while (i < s.size()) {
    int len;
    out.push_back(unicode::decode_utf8(s, i, len));
    i += len;
  }
  return out;
}

std::string from_code_points(const std::vector<uint32_t>& cps, size_t b, size_t e) {
  std::string out;
  for (size_t k = b; k < e; ++k) unicode::append_utf8(out, cps[k]);
  return out;
}

std::string py_strip(const std::string& s, const std::optional<std::string>& chars, bool left, bool right) {
  std::vector<uint32_t> cps = code_points(s);
  std::vector<uint32_t> set;
  if (chars) set = code_points(*chars);
  auto strip_it = [&](uint32_t c) { return chars ? std::find(set.begin(), set.end(), c) != set.end() : py_space(c); };
  size_t b = 0, e = cps.size();
  if (left)
    while (b < e && strip_it(cps[b])) ++b;
  if (right)
    while (e > b && strip_it(cps[e - 1])) --e;
  return from_code_points(cps, b, e);
}

// Python float repr: shortest round-trip digits, ".0" for integral values, exponent outside 1e-4..1e16.
std::string py_float(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[40];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  std::string s = buf;
  size_t e = s.find('e');
  if (e != std::string::npos) {
    std::string mant = s.substr(0, e), exp = s.substr(e + 1);
    int ev = std::stoi(exp);
    if (ev >= -4 && ev < 16) {
      std::snprintf(buf, sizeof buf, "%.17f", d);
      // fall back: fixed notation trimmed to the round-trip digits
      std::string fixed = buf;
      while (!fixed.empty() && fixed.back() == '0') fixed.pop_back();
      if (!fixed.empty() && fixed.back() == '.') fixed += '0';
      return fixed;
    }
    char eb[16];
    std::snprintf(eb, sizeof eb, "e%c%02d", ev < 0 ? '-' : '+', std::abs(ev));
    return mant + eb;
  }
  if (s.find('.') == std::string::npos) s += ".0";
  return s;
}

void json_string(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

// Python json.dumps(x, ensure_ascii=False[, indent=n]): key order kept, ", " / ": " separators
// ("," at line ends when indenting).
void py_json(std::string& out, const Json& j, int indent, int depth) {
  auto newline = [&](int d) {
    out += '\n';
    out.append(static_cast<size_t>(indent * d), ' ');
  };
  switch (j.type()) {
    case Json::value_t::null: out += "null"; break;
    case Json::value_t::boolean: out += j.get<bool>() ? "true" : "false"; break;
    case Json::value_t::number_integer: out += std::to_string(j.get<int64_t>()); break;
    case Json::value_t::number_unsigned: out += std::to_string(j.get<uint64_t>()); break;
    case Json::value_t::number_float: {
      double d = j.get<double>();
      out += std::isnan(d) ? "NaN" : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity") : py_float(d);
      break;
    }
    case Json::value_t::string: json_string(out, j.get_ref<const std::string&>()); break;
    case Json::value_t::array: {
      if (j.empty()) { out += "[]"; break; }
      out += '[';
      bool first = true;
      for (const Json& item : j) {
        if (!first) out += indent >= 0 ? "," : ", ";
        if (indent >= 0) newline(depth + 1);
        py_json(out, item, indent, depth + 1);
        first = false;
      }
      if (indent >= 0) newline(depth);
      out += ']';
      break;
    }
    case Json::value_t::object: {
      if (j.empty()) { out += "{}"; break; }
      out += '{';
      bool first = true;
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (!first) out += indent >= 0 ? "," : ", ";
        if (indent >= 0) newline(depth + 1);
        json_string(out, it.key());
        out += ": ";
        py_json(out, it.value(), indent, depth + 1);
        first = false;
      }
      if (indent >= 0) newline(depth);
      out += '}';
      break;
    }
    default: out += "null";
  }
}

std::string py_repr_string(const std::string& s) {
  bool has_single = s.find('\'') != std::string::npos, has_double = s.find('"') != std::string::npos;
  char q = has_single && !has_double ? '"' : '\'';
  std::string out(1, q);
  for (unsigned char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == static_cast<unsigned char>(q)) { out += '\\'; out += q; }
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c < 0x20 || c == 0x7F) { char buf[8]; std::snprintf(buf, sizeof buf, "\\x%02x", c); out += buf; }
    else out += static_cast<char>(c);
  }
  out += q;
  return out;
}

// Python str() of a value (repr() inside containers).
void py_str(std::string& out, const Json& j, bool inner) {
  switch (j.type()) {
    case Json::value_t::null: out += "None"; break;
    case Json::value_t::boolean: out += j.get<bool>() ? "True" : "False"; break;
    case Json::value_t::number_integer: out += std::to_string(j.get<int64_t>()); break;
    case Json::value_t::number_unsigned: out += std::to_string(j.get<uint64_t>()); break;
    case Json::value_t::number_float: out += py_float(j.get<double>()); break;
    case Json::value_t::string: out += inner ? py_repr_string(j.get<std::string>()) : j.get<std::string>(); break;
    case Json::value_t::array: {
      out += '[';
      for (size_t k = 0; k < j.size(); ++k) {
        if (k) out += ", ";
        py_str(out, j[k], true);
      }
      out += ']';
      break;
    }
    case Json::value_t::object: {
      out += '{';
      bool first = true;
      for (auto it = j.begin(); it != j.end(); ++it) {
        if (!first) out += ", ";
        out += py_repr_string(it.key());
        out += ": ";
        py_str(out, it.value(), true);
        first = false;
      }
      out += '}';
      break;
    }
    default: break;
  }
}

// ---------------------------------------------------------------------------------------------
// Lexer: template text -> text and tag chunks, with Jinja's whitespace rules applied.

struct Chunk {
  enum class Kind { kText, kExpr, kStmt } kind;
  std::string text;  // literal text, or the inside of the tag
  int line;          // line of the tag start
};

std::vector<Chunk> lex_template(const std::string& src, const std::string& name) {
  std::vector<Chunk> chunks;
  size_t pos = 0;
  int line = 1;
  bool strip_next = false;     // a "-" closed the previous tag: strip leading whitespace
  bool trim_newline = false;   // a block/comment tag closed before: drop one newline (trim_blocks)
  auto count_lines = [](const std::string& s, size_t b, size_t e) {
    int n = 0;
    for (size_t k = b; k < e; ++k) n += s[k] == '\n';
    return n;
  };
  while (pos <= src.size()) {
    size_t open = pos;
    for (;;) {
      open = src.find('{', open);
      if (open == std::string::npos || open + 1 >= src.size()) { open = std::string::npos; break; }
      char c = src[open + 1];
      if (c == '{' || c == '%' || c == '#') break;
      ++open;
    }
    std::string text = src.substr(pos, open == std::string::npos ? std::string::npos : open - pos);
    int text_line = line;
    line += count_lines(src, pos, open == std::string::npos ? src.size() : open);
    if (strip_next) {
      size_t k = 0;
      while (k < text.size() && std::isspace(static_cast<unsigned char>(text[k]))) ++k;
      text.erase(0, k);
    } else if (trim_newline) {
      if (text.compare(0, 1, "\n") == 0) text.erase(0, 1);
      else if (text.compare(0, 2, "\r\n") == 0) text.erase(0, 2);
    }
    strip_next = trim_newline = false;
    if (open == std::string::npos) {
      if (!text.empty()) chunks.push_back({Chunk::Kind::kText, text, text_line});
      break;
    }
    char kind = src[open + 1];
    size_t inner = open + 2;
    bool minus_left = inner < src.size() && src[inner] == '-';
    bool plus_left = inner < src.size() && src[inner] == '+';
    if (minus_left || plus_left) ++inner;
    if (minus_left) {
      while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
    } else if (!plus_left && (kind == '%' || kind == '#')) {
      // lstrip_blocks: spaces and tabs between the line start and a block tag are removed.
      size_t k = open;
      while (k > pos && (src[k - 1] == ' ' || src[k - 1] == '\t')) --k;
      bool at_line_start = k == 0 || src[k - 1] == '\n';
      if (at_line_start) text.erase(text.size() - std::min(text.size(), open - k));
    }
    if (!text.empty()) chunks.push_back({Chunk::Kind::kText, text, text_line});
    std::string close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
    size_t end = src.find(close, inner);
    if (end == std::string::npos)
      throw Error(cat(name, " line ", line, ": unclosed ", kind == '{' ? "{{" : kind == '%' ? "{%" : "{#", " (expected ", close, ")"));
    bool minus_right = end > inner && src[end - 1] == '-';
    std::string body = src.substr(inner, (minus_right ? end - 1 : end) - inner);
    if (kind == '{') chunks.push_back({Chunk::Kind::kExpr, body, line});
    else if (kind == '%') chunks.push_back({Chunk::Kind::kStmt, body, line});
    line += count_lines(src, open, end + 2);
    pos = end + 2;
    strip_next = minus_right;
    trim_newline = !minus_right && kind != '{';
    if (pos == src.size()) break;
  }
  return chunks;
}

// ---------------------------------------------------------------------------------------------
// Expression tokens and AST

struct Tok {
  enum class Kind { kName, kString, kInt, kFloat, kOp, kEnd } kind;
  std::string text;
  int64_t i = 0;
  double f = 0;
};

std::vector<Tok> lex_expr(const std::string& s, const std::string& where) {
  std::vector<Tok> toks;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) { ++i; continue; }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      toks.push_back({Tok::Kind::kName, s.substr(i, j - i)});
      i = j;
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t j = i;
      while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      bool is_float = j + 1 < s.size() && s[j] == '.' && std::isdigit(static_cast<unsigned char>(s[j + 1]));
      if (is_float) {
        ++j;
        while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      }
      std::string num = s.substr(i, j - i);
      num.erase(std::remove(num.begin(), num.end(), '_'), num.end());
      Tok t{is_float ? Tok::Kind::kFloat : Tok::Kind::kInt, num};
      if (is_float) t.f = std::stod(num);
      else t.i = std::stoll(num);
      toks.push_back(t);
      i = j;
      continue;
    }
    if (c == '\'' || c == '"') {
      std::string out;
      size_t j = i + 1;
      for (;;) {
        if (j >= s.size()) throw Error(cat(where, ": unterminated string literal"));
        char d = s[j];
        if (d == c) break;
        if (d == '\\' && j + 1 < s.size()) {
          char e = s[++j];
          switch (e) {
            case 'n': out += '\n'; break;
            case 't': out += '\t'; break;
            case 'r': out += '\r'; break;
            case '\\': out += '\\'; break;
            case '\'': out += '\''; break;
            case '"': out += '"'; break;
            case '\n': break;
            default: out += '\\'; out += e;
          }
          ++j;
          continue;
        }
        out += d;
        ++j;
      }
      toks.push_back({Tok::Kind::kString, out});
      i = j + 1;
      continue;
    }
    static const char* ops[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">", "(", ")",
                                "[", "]", "{", "}", ",", ".", ":", "|", "="};
    bool found = false;
    for (const char* op : ops) {
      size_t n = std::strlen(op);
      if (s.compare(i, n, op) == 0) {
        toks.push_back({Tok::Kind::kOp, op});
        i += n;
        found = true;
        break;
      }
    }
    if (!found) throw Error(cat(where, ": unexpected character ", quote(std::string(1, c))));
  }
  toks.push_back({Tok::Kind::kEnd, ""});
  return toks;
}

struct Expr;
using ExprPtr = std::shared_ptr<Expr>;

struct Expr {
  enum class Kind { kLiteral, kName, kAttr, kItem, kSlice, kCall, kFilter, kTest, kNot, kNeg, kBinary, kAnd, kOr,
                    kCond, kList, kDict } kind;
  Json literal;
  std::string name;               // name, attribute, filter/test name, operator
  ExprPtr a, b, c;                // operands (slice: a=object, b=start, c=stop, d=step)
  ExprPtr d;
  std::vector<ExprPtr> args;      // call/filter/test args, list items, dict keys+values interleaved
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
  bool negated = false;           // `is not`, `not in`
};

class ExprParser {
 public:
  ExprParser(std::vector<Tok> toks, std::string where) : t_(std::move(toks)), where_(std::move(where)) {}

  ExprPtr parse_expression() { return parse_cond(); }
  ExprPtr parse_expression_no_cond() { return parse_or(); }
  bool at_end() const { return t_[p_].kind == Tok::Kind::kEnd; }
  const Tok& peek() const { return t_[p_]; }
  bool is_name(const char* n) const { return t_[p_].kind == Tok::Kind::kName && t_[p_].text == n; }
  bool is_op(const char* o) const { return t_[p_].kind == Tok::Kind::kOp && t_[p_].text == o; }
  Tok next() { return t_[p_].kind == Tok::Kind::kEnd ? t_[p_] : t_[p_++]; }
  void expect_op(const char* o) {
    if (!is_op(o)) fail(cat("expected ", quote(o)));
    ++p_;
  }
  std::string expect_name() {
    if (t_[p_].kind != Tok::Kind::kName) fail("expected a name");
    return t_[p_++].text;
  }
  void expect_end() {
    if (!at_end()) fail(cat("unexpected ", quote(t_[p_].text), " after the expression"));
  }
  [[noreturn]] void fail(const std::string& what) const {
    throw Error(cat(where_, ": ", what, at_end() ? " at the end of the tag" : cat(" near ", quote(t_[p_].text))));
  }

 private:
  static ExprPtr make(Expr::Kind k) {
    auto e = std::make_shared<Expr>();
    e->kind = k;
    return e;
  }

  ExprPtr parse_cond() {
    ExprPtr e = parse_or();
    while (is_name("if")) {
      ++p_;
      auto cond = make(Expr::Kind::kCond);
      cond->a = e;
      cond->b = parse_or();
      if (is_name("else")) {
        ++p_;
        cond->c = parse_cond();
      }
      e = cond;
    }
    return e;
  }
  ExprPtr parse_or() {
    ExprPtr e = parse_and();
    while (is_name("or")) {
      ++p_;
      auto n = make(Expr::Kind::kOr);
      n->a = e;
      n->b = parse_and();
      e = n;
    }
    return e;
  }
  ExprPtr parse_and() {
    ExprPtr e = parse_not();
    while (is_name("and")) {
      ++p_;
      auto n = make(Expr::Kind::kAnd);
      n->a = e;
      n->b = parse_not();
      e = n;
    }
    return e;
  }
  ExprPtr parse_not() {
    if (is_name("not")) {
      ++p_;
      auto n = make(Expr::Kind::kNot);
      n->a = parse_not();
      return n;
    }
    return parse_compare();
  }
  ExprPtr parse_compare() {
    ExprPtr e = parse_concat();
    for (;;) {
      std::string op;
      bool negated = false;
      if (peek().kind == Tok::Kind::kOp &&
          (is_op("==") || is_op("!=") || is_op("<") || is_op(">") || is_op("<=") || is_op(">="))) {
        op = next().text;
      } else if (is_name("in")) {
        ++p_;
        op = "in";
      } else if (is_name("not") && t_[p_ + 1].kind == Tok::Kind::kName && t_[p_ + 1].text == "in") {
        p_ += 2;
        op = "in";
        negated = true;
      } else {
        break;
      }
      auto n = make(Expr::Kind::kBinary);
      n->name = op;
      n->negated = negated;
      n->a = e;
      n->b = parse_concat();
      e = n;
    }
    return e;
  }
  ExprPtr parse_concat() {
    ExprPtr e = parse_math1();
    while (is_op("~")) {
      ++p_;
      auto n = make(Expr::Kind::kBinary);
      n->name = "~";
      n->a = e;
      n->b = parse_math1();
      e = n;
    }
    return e;
  }
  ExprPtr parse_math1() {
    ExprPtr e = parse_math2();
    while (is_op("+") || is_op("-")) {
      auto n = make(Expr::Kind::kBinary);
      n->name = next().text;
      n->a = e;
      n->b = parse_math2();
      e = n;
    }
    return e;
  }
  ExprPtr parse_math2() {
    ExprPtr e = parse_unary();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      auto n = make(Expr::Kind::kBinary);
      n->name = next().text;
      n->a = e;
      n->b = parse_unary();
      e = n;
    }
    return e;
  }
  ExprPtr parse_unary() {
    if (is_op("-")) {
      ++p_;
      auto n = make(Expr::Kind::kNeg);
      n->a = parse_unary();
      return parse_filters(n);
    }
    if (is_op("+")) {
      ++p_;
      return parse_unary();
    }
    return parse_filters(parse_postfix(parse_primary()));
  }
  ExprPtr parse_primary() {
    Tok t = next();
    switch (t.kind) {
      case Tok::Kind::kString: {
        std::string s = t.text;
        while (peek().kind == Tok::Kind::kString) s += next().text;  // adjacent literals concatenate
        auto n = make(Expr::Kind::kLiteral);
        n->literal = s;
        return n;
      }
      case Tok::Kind::kInt: { auto n = make(Expr::Kind::kLiteral); n->literal = t.i; return n; }
      case Tok::Kind::kFloat: { auto n = make(Expr::Kind::kLiteral); n->literal = t.f; return n; }
      case Tok::Kind::kName: {
        auto n = make(Expr::Kind::kLiteral);
        if (t.text == "true" || t.text == "True") { n->literal = true; return n; }
        if (t.text == "false" || t.text == "False") { n->literal = false; return n; }
        if (t.text == "none" || t.text == "None") { n->literal = nullptr; return n; }
        n->kind = Expr::Kind::kName;
        n->name = t.text;
        return n;
      }
      case Tok::Kind::kOp: {
        if (t.text == "(") {
          ExprPtr e = parse_expression();
          if (is_op(",")) {  // a tuple: treated as a list
            auto list = make(Expr::Kind::kList);
            list->args.push_back(e);
            while (is_op(",")) {
              ++p_;
              if (is_op(")")) break;
              list->args.push_back(parse_expression());
            }
            e = list;
          }
          expect_op(")");
          return e;
        }
        if (t.text == "[") {
          auto list = make(Expr::Kind::kList);
          while (!is_op("]")) {
            list->args.push_back(parse_expression());
            if (!is_op(",")) break;
            ++p_;
          }
          expect_op("]");
          return list;
        }
        if (t.text == "{") {
          auto dict = make(Expr::Kind::kDict);
          while (!is_op("}")) {
            dict->args.push_back(parse_expression());
            expect_op(":");
            dict->args.push_back(parse_expression());
            if (!is_op(",")) break;
            ++p_;
          }
          expect_op("}");
          return dict;
        }
        break;
      }
      default: break;
    }
    --p_;
    fail("expected an expression");
  }
  void parse_call_args(std::vector<ExprPtr>& args, std::vector<std::pair<std::string, ExprPtr>>& kwargs) {
    expect_op("(");
    while (!is_op(")")) {
      if (peek().kind == Tok::Kind::kName && t_[p_ + 1].kind == Tok::Kind::kOp && t_[p_ + 1].text == "=") {
        std::string key = next().text;
        ++p_;
        kwargs.emplace_back(key, parse_expression());
      } else {
        args.push_back(parse_expression());
      }
      if (!is_op(",")) break;
      ++p_;
    }
    expect_op(")");
  }
  ExprPtr parse_postfix(ExprPtr e) {
    for (;;) {
      if (is_op(".")) {
        ++p_;
        auto n = make(Expr::Kind::kAttr);
        n->a = e;
        if (peek().kind == Tok::Kind::kInt) {  // x.0
          n->kind = Expr::Kind::kItem;
          auto idx = make(Expr::Kind::kLiteral);
          idx->literal = next().i;
          n->b = idx;
        } else {
          n->name = expect_name();
        }
        e = n;
      } else if (is_op("[")) {
        ++p_;
        ExprPtr start, stop, step;
        bool slice = false;
        if (!is_op(":")) start = parse_expression();
        if (is_op(":")) {
          slice = true;
          ++p_;
          if (!is_op(":") && !is_op("]")) stop = parse_expression();
          if (is_op(":")) {
            ++p_;
            if (!is_op("]")) step = parse_expression();
          }
        }
        expect_op("]");
        auto n = make(slice ? Expr::Kind::kSlice : Expr::Kind::kItem);
        n->a = e;
        n->b = start;
        n->c = stop;
        n->d = step;
        e = n;
      } else if (is_op("(")) {
        auto n = make(Expr::Kind::kCall);
        n->a = e;
        parse_call_args(n->args, n->kwargs);
        e = n;
      } else {
        return e;
      }
    }
  }
  ExprPtr parse_filters(ExprPtr e) {
    for (;;) {
      if (is_op("|")) {
        ++p_;
        auto n = make(Expr::Kind::kFilter);
        n->a = e;
        n->name = expect_name();
        if (is_op("(")) parse_call_args(n->args, n->kwargs);
        e = n;
      } else if (is_name("is")) {
        ++p_;
        auto n = make(Expr::Kind::kTest);
        n->a = e;
        if (is_name("not")) {
          ++p_;
          n->negated = true;
        }
        Tok name = next();
        if (name.kind != Tok::Kind::kName) fail("expected a test name after `is`");
        n->name = name.text;
        if (is_op("(")) {
          parse_call_args(n->args, n->kwargs);
        } else if (peek().kind == Tok::Kind::kString || peek().kind == Tok::Kind::kInt ||
                   peek().kind == Tok::Kind::kFloat ||
                   (peek().kind == Tok::Kind::kName && !is_name("and") && !is_name("or") && !is_name("else") &&
                    !is_name("if") && !is_name("in") && !is_name("not") && !is_name("is"))) {
          n->args.push_back(parse_postfix(parse_primary()));  // `is sameas x`, `is equalto 3`
        }
        e = n;
      } else {
        return e;
      }
    }
  }

  std::vector<Tok> t_;
  size_t p_ = 0;
  std::string where_;
};

// ---------------------------------------------------------------------------------------------
// Statements

struct Node;
using Body = std::vector<std::shared_ptr<Node>>;

struct Node {
  enum class Kind { kText, kOutput, kIf, kFor, kSet, kBreak, kContinue } kind;
  int line = 0;
  std::string text;                                // kText
  ExprPtr expr;                                    // kOutput, kSet value, kFor iterable
  std::vector<std::pair<ExprPtr, Body>> branches;  // kIf (cond, body); else is a null cond
  std::vector<std::string> targets;                // kFor loop variables; kSet: name [, attribute]
  ExprPtr filter;                                  // kFor `if` filter
  Body body, else_body;                            // kFor
};

}  // namespace

struct ChatTemplate::Program {
  Body body;
  std::string name;
};

namespace {

class Parser {
 public:
  Parser(std::vector<Chunk> chunks, std::string name) : chunks_(std::move(chunks)), name_(std::move(name)) {}

  Body parse_all() {
    std::string end_tag;
    Body body = parse_body({}, end_tag);
    return body;
  }

 private:
  std::string where(int line) const { return cat(name_, " line ", line); }

  // Parses until one of `enders` (a statement keyword) and reports which one in `ender`; the
  // ender's tag is consumed and left in `last_`.
  Body parse_body(const std::vector<std::string>& enders, std::string& ender) {
    Body body;
    while (pos_ < chunks_.size()) {
      const Chunk& ch = chunks_[pos_++];
      if (ch.kind == Chunk::Kind::kText) {
        auto n = std::make_shared<Node>();
        n->kind = Node::Kind::kText;
        n->text = ch.text;
        n->line = ch.line;
        body.push_back(n);
        continue;
      }
      ExprParser p(lex_expr(ch.text, where(ch.line)), where(ch.line));
      if (ch.kind == Chunk::Kind::kExpr) {
        auto n = std::make_shared<Node>();
        n->kind = Node::Kind::kOutput;
        n->line = ch.line;
        n->expr = p.parse_expression();
        p.expect_end();
        body.push_back(n);
        continue;
      }
      if (p.peek().kind != Tok::Kind::kName) throw Error(cat(where(ch.line), ": expected a statement keyword"));
      std::string kw = p.next().text;
      if (std::find(enders.begin(), enders.end(), kw) != enders.end()) {
        ender = kw;
        last_parser_ = std::make_unique<ExprParser>(p);
        last_line_ = ch.line;
        return body;
      }
      auto n = std::make_shared<Node>();
      n->line = ch.line;
      if (kw == "if") {
        n->kind = Node::Kind::kIf;
        ExprPtr cond = p.parse_expression();
        p.expect_end();
        for (;;) {
          std::string end;
          Body b = parse_body({"elif", "else", "endif"}, end);
          if (end.empty()) throw Error(cat(where(ch.line), ": {% if %} is never closed by {% endif %}"));
          n->branches.emplace_back(cond, std::move(b));
          if (end == "endif") break;
          if (end == "elif") {
            cond = last_parser_->parse_expression();
            last_parser_->expect_end();
          } else {
            last_parser_->expect_end();
            std::string end2;
            Body else_body = parse_body({"endif"}, end2);
            if (end2.empty()) throw Error(cat(where(ch.line), ": {% if %} is never closed by {% endif %}"));
            n->branches.emplace_back(nullptr, std::move(else_body));
            break;
          }
        }
      } else if (kw == "for") {
        n->kind = Node::Kind::kFor;
        n->targets.push_back(p.expect_name());
        while (p.is_op(",")) {
          p.next();
          n->targets.push_back(p.expect_name());
        }
        if (!p.is_name("in")) p.fail("expected `in`");
        p.next();
        n->expr = parse_for_iterable(p);
        if (p.is_name("if")) {
          p.next();
          n->filter = p.parse_expression();
        }
        if (p.is_name("recursive")) throw Error(cat(where(ch.line), ": recursive loops are not supported"));
        p.expect_end();
        std::string end;
        n->body = parse_body({"else", "endfor"}, end);
        if (end.empty()) throw Error(cat(where(ch.line), ": {% for %} is never closed by {% endfor %}"));
        if (end == "else") {
          std::string end2;
          n->else_body = parse_body({"endfor"}, end2);
          if (end2.empty()) throw Error(cat(where(ch.line), ": {% for %} is never closed by {% endfor %}"));
        }
      } else if (kw == "set") {
        n->kind = Node::Kind::kSet;
        n->targets.push_back(p.expect_name());
        if (p.is_op(".")) {
          p.next();
          n->targets.push_back(p.expect_name());
        }
        if (!p.is_op("=")) throw Error(cat(where(ch.line), ": block {% set %} ... {% endset %} is not supported"));
        p.next();
        n->expr = p.parse_expression();
        p.expect_end();
      } else if (kw == "break" || kw == "continue") {
        n->kind = kw == "break" ? Node::Kind::kBreak : Node::Kind::kContinue;
        p.expect_end();
      } else if (kw == "elif" || kw == "else" || kw == "endif" || kw == "endfor") {
        throw Error(cat(where(ch.line), ": unexpected {% ", kw, " %} without a matching opening tag"));
      } else {
        throw Error(cat(where(ch.line), ": unsupported template statement {% ", kw,
                        " %} (zeroth's Jinja subset has if/elif/else, for, set, break, continue)"));
      }
      body.push_back(n);
    }
    return body;
  }

  // The iterable of a for loop stops before a trailing `if` filter (parse_or, not the ternary).
  static ExprPtr parse_for_iterable(ExprParser& p) {
    // Parse a full expression but without consuming `if`: parse with a sub-parser is complex, so
    // reuse the ternary-free grammar by temporarily treating `if` as the end.
    return p.parse_expression_no_cond();
  }

  std::vector<Chunk> chunks_;
  std::string name_;
  size_t pos_ = 0;
  std::unique_ptr<ExprParser> last_parser_;
  int last_line_ = 0;
};


// ---------------------------------------------------------------------------------------------
// Evaluation

struct LoopControl {
  enum class Kind { kBreak, kContinue } kind;
};

class Renderer {
 public:
  Renderer(const std::string& name) : name_(name) {}

  std::vector<std::map<std::string, Value>> scopes;
  std::string out;

  void run(const Body& body) {
    for (const auto& n : body) exec(*n);
  }

 private:
  std::string where(int line) const { return cat(name_, " line ", line); }
  [[noreturn]] void fail(const std::string& what) const { throw Error(cat(where(line_), ": ", what)); }

  Value lookup(const std::string& name) const {
    for (size_t k = scopes.size(); k-- > 0;) {
      auto it = scopes[k].find(name);
      if (it != scopes[k].end()) return it->second;
    }
    if (name == "namespace" || name == "raise_exception" || name == "range" || name == "dict")
      return Value::function(name);
    return Value::undefined(name);
  }

  void exec(const Node& n) {
    line_ = n.line;
    switch (n.kind) {
      case Node::Kind::kText: out += n.text; break;
      case Node::Kind::kOutput: out += to_output(eval(*n.expr)); break;
      case Node::Kind::kIf:
        for (const auto& [cond, body] : n.branches) {
          line_ = n.line;
          if (!cond || truthy(eval(*cond))) {
            run(body);
            break;
          }
        }
        break;
      case Node::Kind::kSet: {
        Value v = eval(*n.expr);
        if (n.targets.size() == 1) {
          scopes.back()[n.targets[0]] = v;
        } else {
          Value ns = lookup(n.targets[0]);
          if (ns.kind != Value::Kind::kNamespace)
            fail(cat("cannot set attribute ", quote(n.targets[1]), " on ", quote(n.targets[0]), ", which is not a namespace()"));
          (*ns.ns)[n.targets[1]] = as_json(v);
        }
        break;
      }
      case Node::Kind::kFor: exec_for(n); break;
      case Node::Kind::kBreak: throw LoopControl{LoopControl::Kind::kBreak};
      case Node::Kind::kContinue: throw LoopControl{LoopControl::Kind::kContinue};
    }
  }

  void exec_for(const Node& n) {
    Value seq = eval(*n.expr);
    std::vector<Json> items;
    if (seq.is_data() && seq.data.is_array()) {
      items.assign(seq.data.begin(), seq.data.end());
    } else if (seq.is_data() && seq.data.is_object()) {
      for (auto it = seq.data.begin(); it != seq.data.end(); ++it) items.push_back(it.key());
    } else if (seq.is_string()) {
      std::vector<uint32_t> cps = code_points(seq.data.get<std::string>());
      for (size_t k = 0; k < cps.size(); ++k) items.push_back(from_code_points(cps, k, k + 1));
    } else if (!seq.is_undefined() && !(seq.is_data() && seq.data.is_null())) {
      fail(cat("cannot loop over a ", type_name(seq)));
    } else if (seq.is_data()) {
      fail("cannot loop over none");
    }
    if (n.filter) {
      std::vector<Json> kept;
      for (const Json& item : items) {
        scopes.emplace_back();
        bind_targets(n, item);
        if (truthy(eval(*n.filter))) kept.push_back(item);
        scopes.pop_back();
      }
      items.swap(kept);
    }
    if (items.empty()) {
      run(n.else_body);
      return;
    }
    size_t len = items.size();
    for (size_t k = 0; k < len; ++k) {
      scopes.emplace_back();
      bind_targets(n, items[k]);
      Json loop = Json::object();
      loop["index"] = k + 1;
      loop["index0"] = k;
      loop["revindex"] = len - k;
      loop["revindex0"] = len - k - 1;
      loop["first"] = k == 0;
      loop["last"] = k + 1 == len;
      loop["length"] = len;
      loop["previtem"] = k > 0 ? items[k - 1] : Json();
      loop["nextitem"] = k + 1 < len ? items[k + 1] : Json();
      scopes.back()["loop"] = Value::of(loop);
      bool stop = false;
      try {
        run(n.body);
      } catch (const LoopControl& c) {
        stop = c.kind == LoopControl::Kind::kBreak;
      }
      scopes.pop_back();
      if (stop) break;
    }
  }

  void bind_targets(const Node& n, const Json& item) {
    if (n.targets.size() == 1) {
      scopes.back()[n.targets[0]] = Value::of(item);
      return;
    }
    if (!item.is_array() || item.size() != n.targets.size())
      fail(cat("cannot unpack a loop item into ", n.targets.size(), " variables"));
    for (size_t t = 0; t < n.targets.size(); ++t) scopes.back()[n.targets[t]] = Value::of(item[t]);
  }

  static std::string type_name(const Value& v) {
    switch (v.kind) {
      case Value::Kind::kUndefined: return "undefined value";
      case Value::Kind::kNamespace: return "namespace";
      case Value::Kind::kFunction: return "function";
      case Value::Kind::kData: break;
    }
    switch (v.data.type()) {
      case Json::value_t::null: return "none";
      case Json::value_t::boolean: return "boolean";
      case Json::value_t::string: return "string";
      case Json::value_t::array: return "list";
      case Json::value_t::object: return "mapping";
      case Json::value_t::number_float: return "float";
      default: return "integer";
    }
  }

  Json as_json(const Value& v) const {
    if (v.is_data()) return v.data;
    if (v.kind == Value::Kind::kNamespace) return *v.ns;
    if (v.is_undefined()) fail(cat(quote(v.name), " is undefined"));
    fail("a function cannot be used as a value");
  }

  std::string to_output(const Value& v) const {
    if (v.is_undefined()) return "";
    if (v.is_string()) return v.data.get<std::string>();
    std::string s;
    if (v.kind == Value::Kind::kNamespace) s = "<Namespace>";
    else if (v.is_data()) py_str(s, v.data, false);
    return s;
  }

  static bool truthy(const Value& v) {
    if (v.is_undefined()) return false;
    if (v.kind != Value::Kind::kData) return true;
    const Json& j = v.data;
    switch (j.type()) {
      case Json::value_t::null: return false;
      case Json::value_t::boolean: return j.get<bool>();
      case Json::value_t::string: return !j.get_ref<const std::string&>().empty();
      case Json::value_t::array:
      case Json::value_t::object: return !j.empty();
      case Json::value_t::number_float: return j.get<double>() != 0.0;
      default: return j.get<int64_t>() != 0;
    }
  }

  const std::string& str_arg(const Value& v, const char* what) const {
    if (!v.is_string()) fail(cat(what, ": expected a string, got a ", type_name(v)));
    return v.data.get_ref<const std::string&>();
  }

  static bool equal(const Json& a, const Json& b) {
    if (a.is_number() && b.is_number()) return a.get<double>() == b.get<double>();
    return a == b;
  }

  Value eval(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kLiteral: return Value::of(e.literal);
      case Expr::Kind::kName: return lookup(e.name);
      case Expr::Kind::kAttr: {
        Value obj = eval(*e.a);
        return get_attr(obj, e.name);
      }
      case Expr::Kind::kItem: {
        Value obj = eval(*e.a);
        Value key = eval(*e.b);
        return get_item(obj, key);
      }
      case Expr::Kind::kSlice: return slice(e);
      case Expr::Kind::kCall: return call(e);
      case Expr::Kind::kFilter: return filter(e);
      case Expr::Kind::kTest: {
        bool r = test(e);
        return Value::of(e.negated ? !r : r);
      }
      case Expr::Kind::kNot: return Value::of(!truthy(eval(*e.a)));
      case Expr::Kind::kNeg: {
        Json v = as_json(eval(*e.a));
        if (v.is_number_float()) return Value::of(-v.get<double>());
        if (v.is_number()) return Value::of(-v.get<int64_t>());
        fail(cat("cannot negate a ", type_name(Value::of(v))));
      }
      case Expr::Kind::kAnd: {
        Value a = eval(*e.a);
        return truthy(a) ? eval(*e.b) : a;
      }
      case Expr::Kind::kOr: {
        Value a = eval(*e.a);
        return truthy(a) ? a : eval(*e.b);
      }
      case Expr::Kind::kCond: {
        if (truthy(eval(*e.b))) return eval(*e.a);
        return e.c ? eval(*e.c) : Value::undefined("else branch");
      }
      case Expr::Kind::kList: {
        Json list = Json::array();
        for (const auto& item : e.args) list.push_back(as_json(eval(*item)));
        return Value::of(list);
      }
      case Expr::Kind::kDict: {
        Json dict = Json::object();
        for (size_t k = 0; k + 1 < e.args.size(); k += 2) {
          Value key = eval(*e.args[k]);
          dict[str_arg(key, "dict key")] = as_json(eval(*e.args[k + 1]));
        }
        return Value::of(dict);
      }
      case Expr::Kind::kBinary: return binary(e);
    }
    fail("unknown expression");
  }

  Value get_attr(const Value& obj, const std::string& name) {
    if (obj.kind == Value::Kind::kNamespace) {
      auto it = obj.ns->find(name);
      return it == obj.ns->end() ? Value::undefined(name) : Value::of(*it);
    }
    if (obj.is_undefined()) fail(cat(quote(obj.name), " is undefined (reading its attribute ", quote(name), ")"));
    if (obj.is_data() && obj.data.is_object()) {
      auto it = obj.data.find(name);
      if (it != obj.data.end()) return Value::of(*it);
    }
    return Value::undefined(name);
  }

  static int64_t normalize_index(int64_t i, size_t n) { return i < 0 ? i + static_cast<int64_t>(n) : i; }

  Value get_item(const Value& obj, const Value& key) {
    if (obj.is_undefined()) fail(cat(quote(obj.name), " is undefined (indexing it)"));
    if (obj.kind == Value::Kind::kNamespace) return get_attr(obj, str_arg(key, "namespace key"));
    if (!obj.is_data()) fail("cannot index a function");
    const Json& j = obj.data;
    if (j.is_object()) {
      if (!key.is_string()) return Value::undefined("item");
      auto it = j.find(key.data.get<std::string>());
      return it == j.end() ? Value::undefined(key.data.get<std::string>()) : Value::of(*it);
    }
    if (j.is_array() || j.is_string()) {
      if (!key.is_data() || !key.data.is_number_integer()) fail("a list or string index must be an integer");
      if (j.is_array()) {
        int64_t i = normalize_index(key.data.get<int64_t>(), j.size());
        if (i < 0 || i >= static_cast<int64_t>(j.size())) return Value::undefined("list item");
        return Value::of(j[static_cast<size_t>(i)]);
      }
      std::vector<uint32_t> cps = code_points(j.get<std::string>());
      int64_t i = normalize_index(key.data.get<int64_t>(), cps.size());
      if (i < 0 || i >= static_cast<int64_t>(cps.size())) return Value::undefined("string item");
      return Value::of(from_code_points(cps, static_cast<size_t>(i), static_cast<size_t>(i) + 1));
    }
    return Value::undefined("item");
  }

  // Python slice semantics (negative indices and steps).
  Value slice(const Expr& e) {
    Value obj = eval(*e.a);
    auto opt_int = [&](const ExprPtr& x) -> std::optional<int64_t> {
      if (!x) return std::nullopt;
      Value v = eval(*x);
      if (v.is_data() && v.data.is_null()) return std::nullopt;
      if (!v.is_data() || !v.data.is_number_integer()) fail("slice bounds must be integers");
      return v.data.get<int64_t>();
    };
    std::optional<int64_t> start = opt_int(e.b), stop = opt_int(e.c), step_opt = opt_int(e.d);
    int64_t step = step_opt.value_or(1);
    if (step == 0) fail("slice step cannot be zero");
    bool is_str = obj.is_string();
    if (!(obj.is_data() && (obj.data.is_array() || is_str))) fail(cat("cannot slice a ", type_name(obj)));
    std::vector<uint32_t> cps;
    int64_t n = is_str ? static_cast<int64_t>((cps = code_points(obj.data.get<std::string>())).size())
                       : static_cast<int64_t>(obj.data.size());
    auto clamp = [&](std::optional<int64_t> v, int64_t dflt) {
      if (!v) return dflt;
      int64_t x = *v < 0 ? *v + n : *v;
      if (step > 0) return std::max<int64_t>(0, std::min<int64_t>(x, n));
      return std::max<int64_t>(-1, std::min<int64_t>(x, n - 1));
    };
    int64_t b = clamp(start, step > 0 ? 0 : n - 1), en = clamp(stop, step > 0 ? n : -1);
    std::vector<int64_t> idx;
    for (int64_t i = b; step > 0 ? i < en : i > en; i += step) idx.push_back(i);
    if (is_str) {
      std::string s;
      for (int64_t i : idx) unicode::append_utf8(s, cps[static_cast<size_t>(i)]);
      return Value::of(s);
    }
    Json list = Json::array();
    for (int64_t i : idx) list.push_back(obj.data[static_cast<size_t>(i)]);
    return Value::of(list);
  }

  std::vector<Value> eval_args(const std::vector<ExprPtr>& args) {
    std::vector<Value> out;
    for (const auto& a : args) out.push_back(eval(*a));
    return out;
  }

  Value call(const Expr& e) {
    if (e.a->kind == Expr::Kind::kAttr) {
      Value obj = eval(*e.a->a);
      if (obj.is_string() || (obj.is_data() && obj.data.is_object()))
        return method(obj, e.a->name, eval_args(e.args));
      Value f = get_attr(obj, e.a->name);
      if (f.is_undefined()) fail(cat("no method ", quote(e.a->name), " on a ", type_name(obj)));
    }
    Value f = eval(*e.a);
    if (f.kind != Value::Kind::kFunction) {
      if (f.is_undefined()) fail(cat(quote(f.name), " is undefined (called as a function)"));
      fail(cat("a ", type_name(f), " is not callable"));
    }
    std::vector<Value> args = eval_args(e.args);
    if (f.name == "namespace" || f.name == "dict") {
      Json attrs = Json::object();
      for (const Value& a : args) {
        if (a.is_data() && a.data.is_object())
          for (auto it = a.data.begin(); it != a.data.end(); ++it) attrs[it.key()] = it.value();
      }
      for (const auto& [k, v] : e.kwargs) attrs[k] = as_json(eval(*v));
      if (f.name == "dict") return Value::of(attrs);
      Value ns;
      ns.kind = Value::Kind::kNamespace;
      ns.ns = std::make_shared<Json>(attrs);
      return ns;
    }
    if (f.name == "raise_exception") {
      std::string msg = args.empty() ? std::string("(no message)") : to_output(args[0]);
      fail(cat("the template raised an exception: ", msg));
    }
    if (f.name == "range") {
      std::vector<int64_t> v;
      for (const Value& a : args) {
        if (!a.is_data() || !a.data.is_number_integer()) fail("range() takes integers");
        v.push_back(a.data.get<int64_t>());
      }
      int64_t start = 0, stop = 0, step = 1;
      if (v.size() == 1) stop = v[0];
      else if (v.size() >= 2) { start = v[0]; stop = v[1]; if (v.size() > 2) step = v[2]; }
      if (step == 0) fail("range() step cannot be zero");
      Json list = Json::array();
      for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) list.push_back(i);
      return Value::of(list);
    }
    fail(cat("unknown function ", quote(f.name)));
  }

  Value method(const Value& obj, const std::string& name, const std::vector<Value>& args) {
    auto arg_str = [&](size_t k) -> std::optional<std::string> {
      if (k >= args.size() || (args[k].is_data() && args[k].data.is_null())) return std::nullopt;
      return str_arg(args[k], name.c_str());
    };
    if (obj.is_string()) {
      const std::string& s = obj.data.get_ref<const std::string&>();
      if (name == "startswith" || name == "endswith") {
        std::string x = arg_str(0).value_or("");
        bool r = x.size() <= s.size() &&
                 (name == "startswith" ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0);
        return Value::of(r);
      }
      if (name == "strip") return Value::of(py_strip(s, arg_str(0), true, true));
      if (name == "lstrip") return Value::of(py_strip(s, arg_str(0), true, false));
      if (name == "rstrip") return Value::of(py_strip(s, arg_str(0), false, true));
      if (name == "split") return Value::of(split(s, arg_str(0), args.size() > 1 ? as_json(args[1]).get<int64_t>() : -1));
      if (name == "lower" || name == "upper") return Value::of(change_case(s, name == "upper"));
      if (name == "replace") return Value::of(replace_all(s, arg_str(0).value_or(""), arg_str(1).value_or("")));
      if (name == "title" || name == "capitalize") return Value::of(title(s, name == "title"));
      if (name == "join") {
        if (args.empty()) fail("join() takes a list");
        return Value::of(join(as_json(args[0]), s));
      }
      fail(cat("unsupported string method ", quote(name)));
    }
    const Json& d = obj.data;
    if (name == "get") {
      if (args.empty()) fail("get() takes a key");
      auto it = d.find(str_arg(args[0], "get"));
      if (it != d.end()) return Value::of(*it);
      return args.size() > 1 ? args[1] : Value::of(nullptr);
    }
    if (name == "items" || name == "keys" || name == "values") {
      Json list = Json::array();
      for (auto it = d.begin(); it != d.end(); ++it) {
        if (name == "items") list.push_back(Json::array({it.key(), it.value()}));
        else if (name == "keys") list.push_back(it.key());
        else list.push_back(it.value());
      }
      return Value::of(list);
    }
    fail(cat("unsupported mapping method ", quote(name)));
  }

  static Json split(const std::string& s, const std::optional<std::string>& sep, int64_t maxsplit) {
    Json out = Json::array();
    if (sep) {
      if (sep->empty()) throw Error("split(): empty separator");
      size_t pos = 0;
      int64_t n = 0;
      for (;;) {
        size_t hit = s.find(*sep, pos);
        if (hit == std::string::npos || (maxsplit >= 0 && n >= maxsplit)) break;
        out.push_back(s.substr(pos, hit - pos));
        pos = hit + sep->size();
        ++n;
      }
      out.push_back(s.substr(pos));
      return out;
    }
    std::vector<uint32_t> cps = code_points(s);
    size_t k = 0;
    int64_t n = 0;
    while (k < cps.size()) {
      while (k < cps.size() && py_space(cps[k])) ++k;
      if (k >= cps.size()) break;
      size_t b = k;
      if (maxsplit >= 0 && n >= maxsplit) {
        size_t e = cps.size();
        while (e > b && py_space(cps[e - 1])) --e;
        out.push_back(from_code_points(cps, b, e));
        break;
      }
      while (k < cps.size() && !py_space(cps[k])) ++k;
      out.push_back(from_code_points(cps, b, k));
      ++n;
    }
    return out;
  }

  static std::string change_case(const std::string& s, bool upper) {
    std::string out = s;
    for (char& c : out)
      if (upper ? (c >= 'a' && c <= 'z') : (c >= 'A' && c <= 'Z')) c = static_cast<char>(c ^ 0x20);
    return out;
  }

  static std::string title(const std::string& s, bool every_word) {
    std::string out = change_case(s, false);
    bool start = true;
    for (char& c : out) {
      bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
      if (alpha && start) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (every_word) start = !alpha;
      else if (alpha || !start) start = false;
    }
    return out;
  }

  static std::string replace_all(const std::string& s, const std::string& from, const std::string& to) {
    if (from.empty()) return s;
    std::string out;
    size_t pos = 0;
    for (;;) {
      size_t hit = s.find(from, pos);
      if (hit == std::string::npos) break;
      out.append(s, pos, hit - pos);
      out += to;
      pos = hit + from.size();
    }
    out.append(s, pos, std::string::npos);
    return out;
  }

  std::string join(const Json& list, const std::string& sep) const {
    if (!list.is_array()) fail("join expects a list");
    std::string out;
    for (size_t k = 0; k < list.size(); ++k) {
      if (k) out += sep;
      if (list[k].is_string()) out += list[k].get<std::string>();
      else py_str(out, list[k], false);
    }
    return out;
  }

  Value filter(const Expr& e) {
    const std::string& f = e.name;
    Value v = eval(*e.a);
    std::vector<Value> args = eval_args(e.args);
    auto kwarg = [&](const char* key) -> std::optional<Value> {
      for (const auto& [k, x] : e.kwargs)
        if (k == key) return eval(*x);
      return std::nullopt;
    };
    if (f == "default" || f == "d") {
      bool boolean = args.size() > 1 && truthy(args[1]);
      if (auto b = kwarg("boolean")) boolean = truthy(*b);
      bool use_default = v.is_undefined() || (boolean && !truthy(v));
      return use_default ? (args.empty() ? Value::of("") : args[0]) : v;
    }
    if (f == "safe") return v;
    if (f == "tojson") {
      int indent = -1;
      if (!args.empty()) indent = static_cast<int>(as_json(args[0]).get<int64_t>());
      if (auto i = kwarg("indent")) {
        Json j = as_json(*i);
        if (!j.is_null()) indent = static_cast<int>(j.get<int64_t>());
      }
      std::string out;
      py_json(out, as_json(v), indent, 0);
      return Value::of(out);
    }
    if (f == "string") return Value::of(to_output(v));
    if (v.is_undefined()) fail(cat(quote(v.name), " is undefined (passed to the ", quote(f), " filter)"));
    Json j = as_json(v);
    if (f == "trim") return Value::of(py_strip(str_arg(v, "trim"), args.empty() ? std::nullopt : std::optional<std::string>(str_arg(args[0], "trim")), true, true));
    if (f == "length" || f == "count") {
      if (j.is_string()) return Value::of(static_cast<int64_t>(code_points(j.get<std::string>()).size()));
      if (j.is_array() || j.is_object()) return Value::of(static_cast<int64_t>(j.size()));
      fail(cat("the length filter needs a string, list or mapping, got a ", type_name(v)));
    }
    if (f == "first" || f == "last") {
      if (j.is_array()) {
        if (j.empty()) return Value::undefined(f);
        return Value::of(f == "first" ? j.front() : j.back());
      }
      if (j.is_string()) {
        std::vector<uint32_t> cps = code_points(j.get<std::string>());
        if (cps.empty()) return Value::undefined(f);
        size_t k = f == "first" ? 0 : cps.size() - 1;
        return Value::of(from_code_points(cps, k, k + 1));
      }
      fail(cat("the ", f, " filter needs a list or string"));
    }
    if (f == "join") {
      std::string sep = args.empty() ? "" : str_arg(args[0], "join");
      return Value::of(join(j, sep));
    }
    if (f == "replace") {
      if (args.size() < 2) fail("replace takes two arguments");
      return Value::of(replace_all(str_arg(v, "replace"), str_arg(args[0], "replace"), str_arg(args[1], "replace")));
    }
    if (f == "lower" || f == "upper") return Value::of(change_case(str_arg(v, f.c_str()), f == "upper"));
    if (f == "capitalize" || f == "title") return Value::of(title(str_arg(v, f.c_str()), f == "title"));
    if (f == "int") {
      if (j.is_number()) return Value::of(static_cast<int64_t>(j.get<double>()));
      if (j.is_string()) {
        try { return Value::of(static_cast<int64_t>(std::stoll(j.get<std::string>()))); } catch (...) { return Value::of(0); }
      }
      return Value::of(0);
    }
    if (f == "float") {
      if (j.is_number()) return Value::of(j.get<double>());
      if (j.is_string()) {
        try { return Value::of(std::stod(j.get<std::string>())); } catch (...) { return Value::of(0.0); }
      }
      return Value::of(0.0);
    }
    if (f == "abs") {
      if (j.is_number_float()) return Value::of(std::fabs(j.get<double>()));
      if (j.is_number()) return Value::of(std::llabs(j.get<int64_t>()));
      fail("abs needs a number");
    }
    if (f == "list") {
      if (j.is_array()) return v;
      Json list = Json::array();
      if (j.is_string()) {
        std::vector<uint32_t> cps = code_points(j.get<std::string>());
        for (size_t k = 0; k < cps.size(); ++k) list.push_back(from_code_points(cps, k, k + 1));
      } else if (j.is_object()) {
        for (auto it = j.begin(); it != j.end(); ++it) list.push_back(it.key());
      }
      return Value::of(list);
    }
    if (f == "reverse") {
      if (j.is_string()) {
        std::vector<uint32_t> cps = code_points(j.get<std::string>());
        std::reverse(cps.begin(), cps.end());
        return Value::of(from_code_points(cps, 0, cps.size()));
      }
      if (j.is_array()) {
        Json list = Json::array();
        for (size_t k = j.size(); k-- > 0;) list.push_back(j[k]);
        return Value::of(list);
      }
      fail("reverse needs a list or string");
    }
    if (f == "items") return method(v, "items", {});
    fail(cat("unsupported filter ", quote(f)));
  }

  bool test(const Expr& e) {
    const std::string& t = e.name;
    Value v = eval(*e.a);
    if (t == "defined") return !v.is_undefined();
    if (t == "undefined") return v.is_undefined();
    if (v.is_undefined()) {
      if (t == "none" || t == "string" || t == "number" || t == "integer" || t == "float" || t == "boolean" ||
          t == "true" || t == "false" || t == "mapping" || t == "sequence")
        return false;
      if (t == "iterable") return true;  // jinja2's Undefined is iterable (empty)
    }
    if (v.kind == Value::Kind::kNamespace) return t == "mapping" ? false : false;
    if (v.kind == Value::Kind::kFunction) return t == "callable";
    const Json& j = v.data;
    if (t == "none") return j.is_null();
    if (t == "string") return j.is_string();
    if (t == "number") return j.is_number();
    if (t == "integer") return j.is_number_integer();
    if (t == "float") return j.is_number_float();
    if (t == "boolean") return j.is_boolean();
    if (t == "true") return j.is_boolean() && j.get<bool>();
    if (t == "false") return j.is_boolean() && !j.get<bool>();
    if (t == "mapping") return j.is_object();
    if (t == "iterable") return j.is_array() || j.is_object() || j.is_string();
    if (t == "sequence") return j.is_array() || j.is_object() || j.is_string();
    if (t == "even" || t == "odd") {
      if (!j.is_number_integer()) fail(cat("the ", t, " test needs an integer"));
      return (j.get<int64_t>() % 2 == 0) == (t == "even");
    }
    if (t == "eq" || t == "equalto" || t == "sameas" || t == "==") {
      if (e.args.empty()) fail(cat("the ", t, " test needs an argument"));
      return equal(j, as_json(eval(*e.args[0])));
    }
    fail(cat("unsupported test ", quote(t)));
  }

  Value binary(const Expr& e) {
    const std::string& op = e.name;
    Value a = eval(*e.a), b = eval(*e.b);
    if (op == "==" || op == "!=") {
      bool eq;
      if (a.is_undefined() || b.is_undefined()) eq = a.is_undefined() && b.is_undefined();
      else eq = equal(as_json(a), as_json(b));
      return Value::of(op == "==" ? eq : !eq);
    }
    if (op == "in") {
      bool r = false;
      if (b.is_undefined()) r = false;
      else {
        Json hay = as_json(b);
        if (hay.is_string()) r = hay.get<std::string>().find(str_arg(a, "in")) != std::string::npos;
        else if (hay.is_array()) {
          Json needle = as_json(a);
          r = std::any_of(hay.begin(), hay.end(), [&](const Json& x) { return equal(x, needle); });
        } else if (hay.is_object()) r = a.is_string() && hay.contains(a.data.get<std::string>());
        else fail(cat("`in` needs a string, list or mapping on its right, got a ", type_name(b)));
      }
      return Value::of(e.negated ? !r : r);
    }
    if (op == "~") return Value::of(to_output(a) + to_output(b));
    Json x = as_json(a), y = as_json(b);
    if (op == "<" || op == ">" || op == "<=" || op == ">=") {
      int c;
      if (x.is_number() && y.is_number()) c = x.get<double>() < y.get<double>() ? -1 : x.get<double>() > y.get<double>() ? 1 : 0;
      else if (x.is_string() && y.is_string()) c = x.get<std::string>().compare(y.get<std::string>());
      else fail(cat("cannot compare a ", type_name(a), " with a ", type_name(b)));
      bool r = op == "<" ? c < 0 : op == ">" ? c > 0 : op == "<=" ? c <= 0 : c >= 0;
      return Value::of(r);
    }
    if (op == "+") {
      if (x.is_string() && y.is_string()) return Value::of(x.get<std::string>() + y.get<std::string>());
      if (x.is_array() && y.is_array()) {
        Json list = x;
        for (const Json& item : y) list.push_back(item);
        return Value::of(list);
      }
    }
    if (x.is_number() && y.is_number() && !x.is_boolean() && !y.is_boolean()) {
      bool ints = x.is_number_integer() && y.is_number_integer();
      if (ints && op != "/") {
        int64_t p = x.get<int64_t>(), q = y.get<int64_t>();
        if (op == "+") return Value::of(p + q);
        if (op == "-") return Value::of(p - q);
        if (op == "*") return Value::of(p * q);
        if (q == 0) fail("division by zero");
        if (op == "//") { int64_t r = p / q; if ((p % q != 0) && ((p < 0) != (q < 0))) --r; return Value::of(r); }
        if (op == "%") { int64_t r = p % q; if (r != 0 && ((r < 0) != (q < 0))) r += q; return Value::of(r); }
      }
      double p = x.get<double>(), q = y.get<double>();
      if (op == "+") return Value::of(p + q);
      if (op == "-") return Value::of(p - q);
      if (op == "*") return Value::of(p * q);
      if (q == 0) fail("division by zero");
      if (op == "/") return Value::of(p / q);
      if (op == "//") return Value::of(std::floor(p / q));
      if (op == "%") return Value::of(p - q * std::floor(p / q));
    }
    if (op == "*" && x.is_string() && y.is_number_integer()) {
      std::string out;
      for (int64_t k = 0; k < y.get<int64_t>(); ++k) out += x.get<std::string>();
      return Value::of(out);
    }
    fail(cat("unsupported operands for ", quote(op), ": a ", type_name(a), " and a ", type_name(b)));
  }

  std::string name_;
  int line_ = 0;
};

}  // namespace

ChatTemplate::ChatTemplate(const std::string& source, const Json& special_tokens, const std::string& name)
    : special_tokens_(special_tokens), name_(name) {
  auto program = std::make_shared<Program>();
  program->name = name;
  Parser parser(lex_template(source, name), name);
  program->body = parser.parse_all();
  program_ = program;
}

ChatTemplate ChatTemplate::from_tokenizer(const Tokenizer& tokenizer) {
  if (!tokenizer.chat_template())
    throw Error("this tokenizer has no chat_template (tokenizer_config.json has no \"chat_template\" key)");
  Json specials = Json::object();
  if (tokenizer.bos_token()) specials["bos_token"] = *tokenizer.bos_token();
  if (tokenizer.eos_token()) specials["eos_token"] = *tokenizer.eos_token();
  if (tokenizer.pad_token()) specials["pad_token"] = *tokenizer.pad_token();
  if (tokenizer.unk_token()) specials["unk_token"] = *tokenizer.unk_token();
  return ChatTemplate(*tokenizer.chat_template(), specials, "chat_template");
}

std::string ChatTemplate::render(const Json& messages, bool add_generation_prompt, const Json& extra) const {
  if (!messages.is_array()) throw Error(cat(name_, ": messages must be a list, got ", json_type_name(messages)));
  Renderer r(name_);
  r.scopes.emplace_back();
  auto& globals = r.scopes.back();
  globals["messages"] = Value::of(messages);
  globals["add_generation_prompt"] = Value::of(add_generation_prompt);
  globals["tools"] = Value::of(nullptr);
  globals["documents"] = Value::of(nullptr);
  for (auto it = special_tokens_.begin(); it != special_tokens_.end(); ++it) globals[it.key()] = Value::of(it.value());
  if (extra.is_object())
    for (auto it = extra.begin(); it != extra.end(); ++it) globals[it.key()] = Value::of(it.value());
  r.scopes.emplace_back();  // the template's own top-level variables
  try {
    r.run(program_->body);
  } catch (const LoopControl&) {
    throw Error(cat(name_, ": {% break %} or {% continue %} outside a loop"));
  }
  return r.out;
}

// ---------------------------------------------------------------------------------------------

PromptTemplate::PromptTemplate(std::string source) : source_(std::move(source)) {
  for (size_t i = 0; i < source_.size(); ++i) {
    char c = source_[i];
    if (c == '{') {
      if (i + 1 < source_.size() && source_[i + 1] == '{') { ++i; continue; }
      size_t end = source_.find('}', i);
      if (end == std::string::npos) throw Error(cat("prompt template: unclosed '{' at byte ", i, " (write '{{' for a literal brace)"));
      std::string field = source_.substr(i + 1, end - i - 1);
      if (field.empty() || field.find('{') != std::string::npos)
        throw Error(cat("prompt template: bad field ", quote("{" + field + "}"), " at byte ", i));
      if (std::find(fields_.begin(), fields_.end(), field) == fields_.end()) fields_.push_back(field);
      i = end;
    } else if (c == '}') {
      if (i + 1 < source_.size() && source_[i + 1] == '}') { ++i; continue; }
      throw Error(cat("prompt template: single '}' at byte ", i, " (write '}}' for a literal brace)"));
    }
  }
}

std::string PromptTemplate::render(const Json& values) const {
  std::string out;
  for (size_t i = 0; i < source_.size(); ++i) {
    char c = source_[i];
    if ((c == '{' || c == '}') && i + 1 < source_.size() && source_[i + 1] == c) {
      out += c;
      ++i;
      continue;
    }
    if (c == '{') {
      size_t end = source_.find('}', i);
      std::string field = source_.substr(i + 1, end - i - 1);
      if (!values.is_object() || !values.contains(field)) {
        std::vector<std::string> keys;
        if (values.is_object())
          for (auto it = values.begin(); it != values.end(); ++it) keys.push_back(it.key());
        std::string suggestion = did_you_mean(field, keys);
        throw Error(cat("prompt template: no value for field ", quote(field),
                        suggestion.empty() ? std::string() : cat(" (did you mean ", quote(suggestion), "?)")));
      }
      const Json& v = values[field];
      out += v.is_string() ? v.get<std::string>() : v.dump();
      i = end;
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace zeroth::text
