// The Jinja2 subset of chat_template.h: a lexer that applies Jinja's whitespace rules, a
// recursive-descent parser into a small AST, and a tree-walking evaluator over JSON values.
#include "zeroth/text/chat_template.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include <unicode/locid.h>
#include <unicode/uchar.h>
#include <unicode/unistr.h>

#include "text/unicode.h"
#include "zeroth/core/error.h"
#include "zeroth/text/tokenizer.h"

namespace zeroth::text {

namespace {

// ---------------------------------------------------------------------------------------------
// Values

struct Node;
struct Scope;

struct Value {
  // kMethod: a method `name` bound to `data` (a string's .strip, a dict's .items, loop.cycle);
  // kMacro: a {% macro %} or the body of a {% call %} block (`caller`), with the scopes it closes over.
  enum class Kind { kUndefined, kData, kNamespace, kFunction, kMethod, kMacro };
  Kind kind = Kind::kUndefined;
  Json data;                  // kData; kMethod: the object
  std::shared_ptr<Json> ns;   // kNamespace: its attributes (an object)
  std::string name;           // kFunction: builtin name; kMethod: method name; kUndefined: what was undefined
  std::string hint;           // kUndefined: why calling it fails (the sandbox's message), if not just undefined
  bool markup = false;        // kData string marked safe (|safe, |escape): `+` escapes the other side
  bool tuple = false;         // kData list from a tuple literal: prints as (a, b)
  bool lazy = false;          // kData list standing for a Python generator (map, select...): always true, no len()
  const Node* macro = nullptr;                                       // kMacro
  std::shared_ptr<std::vector<Scope>> closure;  // kMacro of a call block
  std::shared_ptr<std::vector<Scope>> inner;    // kMacro: scopes inside the template's top level

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
  static Value method(Json self, std::string n) {
    Value v;
    v.kind = Kind::kMethod;
    v.data = std::move(self);
    v.name = std::move(n);
    return v;
  }
  bool is_undefined() const { return kind == Kind::kUndefined; }
  bool is_data() const { return kind == Kind::kData; }
  bool is_string() const { return is_data() && data.is_string(); }
};

// The names of one frame (the template's top level, a loop iteration, a block or macro body).
// `late`: the frame's names that jinja2 compiles as plain locals (assigned before being read in
// the frame); frames nested in it see them undefined until assigned, not the outer value.
struct Scope : std::map<std::string, Value> {
  const std::set<std::string>* late = nullptr;
};

// Dict keys: a template's dict literal may have integer keys ({0: 'a'}); JSON objects only have
// string keys, so an integer key is stored as "\x01" + its digits and turned back when read.
constexpr char kIntKeyMark = '\x01';
bool is_int_key(const std::string& k) { return !k.empty() && k[0] == kIntKeyMark; }
std::string int_key(int64_t i) { return std::string(1, kIntKeyMark) + std::to_string(i); }
Json key_value(const std::string& k) { return is_int_key(k) ? Json(std::stoll(k.substr(1))) : Json(k); }
std::string key_text(const std::string& k) { return is_int_key(k) ? k.substr(1) : k; }

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

void json_string(std::string& out, const std::string& s, bool ensure_ascii = false) {
  out += '"';
  if (ensure_ascii) {  // json.dumps(ensure_ascii=True): non-ASCII as \uXXXX (UTF-16 surrogate pairs)
    std::string ascii;
    size_t i = 0;
    while (i < s.size()) {
      int len;
      uint32_t cp = unicode::decode_utf8(s, i, len);
      i += len;
      if (cp < 0x80) { ascii += static_cast<char>(cp); continue; }
      auto esc = [&](uint32_t u) { char buf[16]; std::snprintf(buf, sizeof buf, "\\u%04x", u); out += buf; };
      std::string head;
      json_string(head, ascii);
      out.append(head, 1, head.size() - 2);
      ascii.clear();
      if (cp >= 0x10000) { esc(0xD800 + ((cp - 0x10000) >> 10)); esc(0xDC00 + ((cp - 0x10000) & 0x3FF)); }
      else esc(cp);
    }
    std::string tail;
    json_string(tail, ascii);
    out.append(tail, 1, tail.size() - 2);
    out += '"';
    return;
  }
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

// Python json.dumps(x, ensure_ascii, indent, separators, sort_keys), as transformers' tojson
// calls it: key order kept unless sort_keys; separators default to (", ", ": "), or (",", ": ")
// when indenting; indent < 0 is None.
struct JsonFormat {
  int indent = -1;
  std::string item_sep = ", ", key_sep = ": ";
  bool sort_keys = false, ensure_ascii = false;
};

void py_json(std::string& out, const Json& j, const JsonFormat& f, int depth) {
  auto newline = [&](int d) {
    out += '\n';
    out.append(static_cast<size_t>(f.indent * d), ' ');
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
    case Json::value_t::string: json_string(out, j.get_ref<const std::string&>(), f.ensure_ascii); break;
    case Json::value_t::array: {
      if (j.empty()) { out += "[]"; break; }
      out += '[';
      bool first = true;
      for (const Json& item : j) {
        if (!first) out += f.item_sep;
        if (f.indent >= 0) newline(depth + 1);
        py_json(out, item, f, depth + 1);
        first = false;
      }
      if (f.indent >= 0) newline(depth);
      out += ']';
      break;
    }
    case Json::value_t::object: {
      if (j.empty()) { out += "{}"; break; }
      std::vector<std::string> keys;
      for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
      if (f.sort_keys)
        std::stable_sort(keys.begin(), keys.end(),
                         [](const std::string& a, const std::string& b) { return key_text(a) < key_text(b); });
      out += '{';
      bool first = true;
      for (const std::string& key : keys) {
        if (!first) out += f.item_sep;
        if (f.indent >= 0) newline(depth + 1);
        json_string(out, key_text(key), f.ensure_ascii);
        out += f.key_sep;
        py_json(out, j[key], f, depth + 1);
        first = false;
      }
      if (f.indent >= 0) newline(depth);
      out += '}';
      break;
    }
    default: out += "null";
  }
}

// Python repr() of a string: quotes as Python picks them; \\, \n, \r, \t; other characters that
// are not printable (str.isprintable: control, format, separators but space, unassigned, private
// use, surrogates) as \xNN, \uNNNN or \UNNNNNNNN.
std::string py_repr_string(const std::string& s) {
  bool has_single = s.find('\'') != std::string::npos, has_double = s.find('"') != std::string::npos;
  char q = has_single && !has_double ? '"' : '\'';
  std::string out(1, q);
  size_t i = 0;
  while (i < s.size()) {
    int len;
    uint32_t c = unicode::decode_utf8(s, i, len);
    i += static_cast<size_t>(len);
    if (c == '\\') { out += "\\\\"; continue; }
    if (c == static_cast<uint32_t>(q)) { out += '\\'; out += q; continue; }
    if (c == '\n') { out += "\\n"; continue; }
    if (c == '\r') { out += "\\r"; continue; }
    if (c == '\t') { out += "\\t"; continue; }
    int8_t type = u_charType(static_cast<UChar32>(c));
    bool printable = c == ' ' || !(type == U_CONTROL_CHAR || type == U_FORMAT_CHAR || type == U_SURROGATE ||
                                   type == U_PRIVATE_USE_CHAR || type == U_UNASSIGNED || type == U_SPACE_SEPARATOR ||
                                   type == U_LINE_SEPARATOR || type == U_PARAGRAPH_SEPARATOR);
    if (printable) {
      unicode::append_utf8(out, c);
      continue;
    }
    char buf[16];
    if (c < 0x100) std::snprintf(buf, sizeof buf, "\\x%02x", c);
    else if (c < 0x10000) std::snprintf(buf, sizeof buf, "\\u%04x", c);
    else std::snprintf(buf, sizeof buf, "\\U%08x", c);
    out += buf;
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
        out += is_int_key(it.key()) ? key_text(it.key()) : py_repr_string(it.key());
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

// Where the tag that starts at `inner` ends: the first `close` outside string literals and, for
// expression and statement tags, outside brackets (jinja2's lexer balances ( [ { in a tag, so
// `{{ {'a': {'b': 1}} }}` and `{% set s = '%}' %}` are one tag each). npos when it never ends.
size_t find_tag_end(const std::string& src, size_t inner, char kind) {
  std::string close = kind == '{' ? "}}" : kind == '%' ? "%}" : "#}";
  if (kind == '#') return src.find(close, inner);
  int depth = 0;
  for (size_t k = inner; k < src.size(); ++k) {
    char c = src[k];
    if (c == '\'' || c == '"') {
      size_t j = k + 1;
      while (j < src.size() && src[j] != c) j += src[j] == '\\' ? 2 : 1;
      if (j >= src.size()) return std::string::npos;
      k = j;
      continue;
    }
    if (depth == 0 && src.compare(k, 2, close) == 0) return k;
    if (c == '(' || c == '[' || c == '{') ++depth;
    else if ((c == ')' || c == ']' || c == '}') && depth > 0) --depth;
  }
  return std::string::npos;
}

std::vector<Chunk> lex_template(std::string src, const std::string& name) {
  // jinja2 reads "\r\n" and "\r" as "\n" and drops one trailing newline (keep_trailing_newline=False).
  if (src.find('\r') != std::string::npos) {
    std::string norm;
    norm.reserve(src.size());
    for (size_t k = 0; k < src.size(); ++k) {
      if (src[k] == '\r') {
        norm += '\n';
        if (k + 1 < src.size() && src[k + 1] == '\n') ++k;
      } else {
        norm += src[k];
      }
    }
    src.swap(norm);
  }
  if (!src.empty() && src.back() == '\n') src.pop_back();
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
      text_line += count_lines(src, pos, pos + k);
    } else if (trim_newline) {
      if (text.compare(0, 1, "\n") == 0) {
        text.erase(0, 1);
        ++text_line;
      }
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
    size_t end = find_tag_end(src, inner, kind);
    if (end == std::string::npos)
      throw Error(cat(name, " line ", line, ": unclosed ", kind == '{' ? "{{" : kind == '%' ? "{%" : "{#", " (expected ", close, ")"));
    bool minus_right = end > inner && src[end - 1] == '-';
    std::string body = src.substr(inner, (minus_right ? end - 1 : end) - inner);
    if (kind == '%') {
      // {% raw %}...{% endraw %}: the text between is literal.
      size_t b = body.find_first_not_of(" \t\n"), e = body.find_last_not_of(" \t\n");
      if (b != std::string::npos && body.substr(b, e - b + 1) == "raw") {
        size_t search = end + 2;
        for (;;) {
          size_t o = src.find("{%", search);
          if (o == std::string::npos) throw Error(cat(name, " line ", line, ": {% raw %} is never closed by {% endraw %}"));
          size_t in2 = o + 2 + (o + 2 < src.size() && (src[o + 2] == '-' || src[o + 2] == '+'));
          size_t e2 = src.find("%}", in2);
          if (e2 == std::string::npos) throw Error(cat(name, " line ", line, ": {% raw %} is never closed by {% endraw %}"));
          std::string b2 = src.substr(in2, e2 - in2);
          bool m2 = !b2.empty() && b2.back() == '-';
          if (m2) b2.pop_back();
          size_t x = b2.find_first_not_of(" \t\n"), y = b2.find_last_not_of(" \t\n");
          if (x != std::string::npos && b2.substr(x, y - x + 1) == "endraw") {
            std::string raw = src.substr(end + 2, o - end - 2);
            if (minus_right) raw.erase(0, raw.find_first_not_of(" \t\n\r\f\v") == std::string::npos ? raw.size() : raw.find_first_not_of(" \t\n\r\f\v"));
            else if (!raw.empty() && raw[0] == '\n') raw.erase(0, 1);
            if (src[o + 2] == '-') while (!raw.empty() && std::isspace(static_cast<unsigned char>(raw.back()))) raw.pop_back();
            else if (src[o + 2] != '+') {
              size_t k = raw.size();
              while (k > 0 && (raw[k - 1] == ' ' || raw[k - 1] == '\t')) --k;
              if (k == 0 ? (o - raw.size() == 0 || src[o - raw.size() - 1] == '\n') : raw[k - 1] == '\n') raw.erase(k);
            }
            if (!raw.empty()) chunks.push_back({Chunk::Kind::kText, raw, line});
            line += count_lines(src, open, e2 + 2);
            pos = e2 + 2;
            strip_next = m2;
            trim_newline = !m2;
            break;
          }
          search = e2 + 2;
        }
        if (pos >= src.size()) break;
        continue;
      }
    }
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
  int line = 0;  // lines after the tag's first line (errors name the line as jinja2 does)
};

std::vector<Tok> lex_expr(const std::string& s, const std::string& where) {
  std::vector<Tok> toks;
  size_t i = 0;
  int line = 0, tok_line = 0;
  size_t first_tok = 0;
  while (i < s.size()) {
    for (size_t k = first_tok; k < toks.size(); ++k) toks[k].line = tok_line;  // the token just read
    first_tok = toks.size();
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      line += c == '\n';
      ++i;
      continue;
    }
    tok_line = line;
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      toks.push_back({Tok::Kind::kName, s.substr(i, j - i)});
      i = j;
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      // jinja2's integer and float literals: 1_000, 1.5, 1e3, 1.5e-3 (a float when it has . or e).
      auto digits = [&](size_t j) {
        while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
        return j;
      };
      size_t j = digits(i);
      bool is_float = false;
      if (j + 1 < s.size() && s[j] == '.' && std::isdigit(static_cast<unsigned char>(s[j + 1]))) {
        j = digits(j + 1);
        is_float = true;
      }
      if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
        size_t k = j + 1;
        if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
        if (k < s.size() && std::isdigit(static_cast<unsigned char>(s[k]))) {
          j = digits(k);
          is_float = true;
        }
      }
      std::string num = s.substr(i, j - i);
      num.erase(std::remove(num.begin(), num.end(), '_'), num.end());
      Tok t{is_float ? Tok::Kind::kFloat : Tok::Kind::kInt, num};
      if (is_float) {
        t.f = std::strtod(num.c_str(), nullptr);  // 1e999 is inf, as in Python
      } else {
        errno = 0;
        t.i = std::strtoll(num.c_str(), nullptr, 10);
        if (errno == ERANGE) throw Error(cat(where, ": integer literal ", num, " does not fit zeroth's 64 bits"));
      }
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
          // Python's unicode-escape, which jinja2 applies to string literals.
          auto hex = [&](int n) -> int64_t {
            if (j + n >= s.size()) return -1;
            int64_t v = 0;
            for (int k = 1; k <= n; ++k) {
              char h = s[j + k];
              int dgt = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10 : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
              if (dgt < 0) return -1;
              v = v * 16 + dgt;
            }
            return v;
          };
          switch (e) {
            case 'n': out += '\n'; break;
            case 't': out += '\t'; break;
            case 'r': out += '\r'; break;
            case 'a': out += '\a'; break;
            case 'b': out += '\b'; break;
            case 'f': out += '\f'; break;
            case 'v': out += '\v'; break;
            case '\\': out += '\\'; break;
            case '\'': out += '\''; break;
            case '"': out += '"'; break;
            case '\n': break;
            case 'x': case 'u': case 'U': {
              int n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
              int64_t v = hex(n);
              if (v < 0 || v > 0x10FFFF) throw Error(cat(where, ": truncated or invalid \\", std::string(1, e), " escape in a string literal"));
              unicode::append_utf8(out, static_cast<uint32_t>(v));
              j += n;
              break;
            }
            default:
              if (e >= '0' && e <= '7') {
                uint32_t v = e - '0';
                for (int k = 0; k < 2 && j + 1 < s.size() && s[j + 1] >= '0' && s[j + 1] <= '7'; ++k) v = v * 8 + (s[++j] - '0');
                unicode::append_utf8(out, v);
              } else {
                out += '\\';
                out += e;
              }
          }
          ++j;
          continue;
        }
        out += d;
        ++j;
      }
      toks.push_back({Tok::Kind::kString, out});
      line += static_cast<int>(std::count(s.begin() + static_cast<std::ptrdiff_t>(i), s.begin() + static_cast<std::ptrdiff_t>(j), '\n'));
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
  for (size_t k = first_tok; k < toks.size(); ++k) toks[k].line = tok_line;
  toks.push_back({Tok::Kind::kEnd, ""});
  toks.back().line = line;
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
  bool tuple = false;             // kList written as a tuple
  int line = 0;                   // lines after the tag's first, as jinja2 numbers the node
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

 public:  // the statement parser uses the helpers below too
  // A node numbered by the current token (the node's own token for primaries, `.`, `[`, `(`, `|`).
  ExprPtr make(Expr::Kind k) const {
    auto e = std::make_shared<Expr>();
    e->kind = k;
    e->line = t_[p_].line;
    return e;
  }

  ExprPtr parse_cond() {
    if (++depth_ > 100) fail("expression nested too deeply");
    struct DepthGuard {
      int& d;
      ~DepthGuard() { --d; }
    } guard{depth_};
    int line = peek().line;
    ExprPtr e = parse_or();
    while (is_name("if")) {
      ++p_;
      auto cond = make(Expr::Kind::kCond);
      cond->line = line;
      cond->a = e;
      cond->b = parse_or();
      if (is_name("else")) {
        ++p_;
        cond->c = parse_cond();
      }
      e = cond;
      line = peek().line;
    }
    return e;
  }
  ExprPtr parse_or() {
    int line = peek().line;
    ExprPtr e = parse_and();
    while (is_name("or")) {
      ++p_;
      auto n = make(Expr::Kind::kOr);
      n->line = line;
      n->a = e;
      n->b = parse_and();
      e = n;
      line = peek().line;
    }
    return e;
  }
  ExprPtr parse_and() {
    int line = peek().line;
    ExprPtr e = parse_not();
    while (is_name("and")) {
      ++p_;
      auto n = make(Expr::Kind::kAnd);
      n->line = line;
      n->a = e;
      n->b = parse_not();
      e = n;
      line = peek().line;
    }
    return e;
  }
  ExprPtr parse_not() {
    if (is_name("not")) {
      auto n = make(Expr::Kind::kNot);
      n->line = peek().line;
      ++p_;
      n->a = parse_not();
      return n;
    }
    return parse_compare();
  }
  ExprPtr parse_compare() {
    int line = peek().line;
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
      n->line = line;
      n->name = op;
      n->negated = negated;
      n->a = e;
      n->b = parse_concat();
      e = n;
    }
    return e;
  }
  ExprPtr parse_concat() {
    int line = peek().line;
    ExprPtr e = parse_math1();
    while (is_op("~")) {
      ++p_;
      auto n = make(Expr::Kind::kBinary);
      n->line = line;
      n->name = "~";
      n->a = e;
      n->b = parse_math1();
      e = n;
    }
    return e;
  }
  ExprPtr parse_math1() {
    int line = peek().line;
    ExprPtr e = parse_math2();
    while (is_op("+") || is_op("-")) {
      auto n = make(Expr::Kind::kBinary);
      n->line = line;
      n->name = next().text;
      n->a = e;
      n->b = parse_math2();
      e = n;
      line = peek().line;
    }
    return e;
  }
  ExprPtr parse_math2() {
    int line = peek().line;
    ExprPtr e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      auto n = make(Expr::Kind::kBinary);
      n->line = line;
      n->name = next().text;
      n->a = e;
      n->b = parse_pow();
      e = n;
      line = peek().line;
    }
    return e;
  }
  // `**` binds looser than unary minus and associates to the left in jinja2: -2**2 == 4, 2**3**2 == 64.
  ExprPtr parse_pow() {
    int line = peek().line;
    ExprPtr e = parse_unary();
    while (is_op("**")) {
      ++p_;
      auto n = make(Expr::Kind::kBinary);
      n->line = line;
      n->name = "**";
      n->a = e;
      n->b = parse_unary();
      e = n;
      // jinja2 folds `-2` into the constant -2 and writes it unparenthesised into Python, so
      // `-2 ** x` is -(2 ** x) there unless x is constant too (then (-2) ** x is folded).
      if (n->a->kind == Expr::Kind::kNeg && n->a->a->kind == Expr::Kind::kLiteral && n->a->a->literal.is_number() &&
          !is_constant(*n->b)) {
        auto neg = make(Expr::Kind::kNeg);
        neg->line = n->a->line;
        n->a = n->a->a;
        neg->a = n;
        e = neg;
      }
      line = peek().line;
    }
    return e;
  }
  static bool is_constant(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kLiteral: return true;
      case Expr::Kind::kNeg:
      case Expr::Kind::kNot: return is_constant(*e.a);
      case Expr::Kind::kBinary:
      case Expr::Kind::kAnd:
      case Expr::Kind::kOr: return is_constant(*e.a) && is_constant(*e.b);
      case Expr::Kind::kList:
        for (const auto& x : e.args)
          if (!is_constant(*x)) return false;
        return true;
      default: return false;
    }
  }
  // As jinja2: the operand of a sign takes no filters, the signed value does (-3|abs == 3).
  ExprPtr parse_unary(bool with_filters = true) {
    ExprPtr e;
    if (is_op("-")) {
      e = make(Expr::Kind::kNeg);
      ++p_;
      e->a = parse_unary(false);
    } else if (is_op("+")) {
      ++p_;
      e = parse_unary(false);
    } else {
      e = parse_postfix(parse_primary());
    }
    return with_filters ? parse_filters(e) : e;
  }
  ExprPtr parse_primary() {
    int line = peek().line;
    ExprPtr e = parse_primary_token();
    if (e->kind == Expr::Kind::kLiteral || e->kind == Expr::Kind::kName) e->line = line;
    return e;
  }
  ExprPtr parse_primary_token() {
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
          if (is_op(",")) {  // a tuple: a list that prints as (a, b)
            auto list = make(Expr::Kind::kList);
            list->tuple = true;
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
    if (t.kind != Tok::Kind::kEnd) --p_;  // next() does not move past the end
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
        int line = peek().line;
        ++p_;
        ExprPtr start, stop, step;
        bool slice = false;
        if (is_op("]")) {  // x[] is x[()] in jinja2
          start = make(Expr::Kind::kList);
          start->tuple = true;
        } else if (!is_op(":")) {
          start = parse_expression();
          if (is_op(",")) {  // x[a, b] subscripts with a tuple
            auto tuple = make(Expr::Kind::kList);
            tuple->tuple = true;
            tuple->args.push_back(start);
            while (is_op(",")) {
              ++p_;
              if (is_op("]")) break;
              tuple->args.push_back(parse_expression());
            }
            start = tuple;
          }
        }
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
        n->line = line;
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
  // `name(args) | name2 ...` applied to `e`, as in {% filter %}.
  ExprPtr parse_filter_chain(ExprPtr e) {
    auto n = make(Expr::Kind::kFilter);
    n->a = e;
    n->name = expect_name();
    if (is_op("(")) parse_call_args(n->args, n->kwargs);
    return parse_filters(n);
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
                   peek().kind == Tok::Kind::kFloat || is_op("[") || is_op("{") ||
                   (peek().kind == Tok::Kind::kName && !is_name("and") && !is_name("or") && !is_name("else"))) {
          // As jinja2: any other name here is the test's argument (`is sameas x`, `is equalto 3`), so
          // `x is defined if c else d` does not parse there either.
          if (is_name("is")) fail("You cannot chain multiple tests with is");
          n->args.push_back(parse_postfix(parse_primary()));
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
  int depth_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Statements

struct Node;
using Body = std::vector<std::shared_ptr<Node>>;

struct Node {
  // kSetBlock: {% set x %}body{% endset %}; kFilterBlock: {% filter f %}body{% endfilter %};
  // kBlock: a body rendered as is ({% generation %}); kMacro: {% macro name(params) %};
  // kCallBlock: {% call macro(args) %}body{% endcall %}, the body being `caller()`.
  enum class Kind { kText, kOutput, kIf, kFor, kSet, kSetBlock, kFilterBlock, kBlock, kMacro, kCallBlock, kBreak,
                    kContinue } kind;
  int line = 0;
  std::string text;                                // kText; kMacro: its name
  ExprPtr expr;                                    // kOutput, kSet value, kFor iterable, kFilterBlock filter, kCallBlock call
  std::vector<std::pair<ExprPtr, Body>> branches;  // kIf (cond, body); else is a null cond
  std::vector<int> branch_lines;                   // kIf: the line of each branch's tag
  std::vector<std::string> targets;                // kFor loop variables; kSet: names, or name + attribute; kMacro params
  bool attribute = false;                          // kSet: targets are {namespace, attribute}
  std::vector<ExprPtr> defaults;                   // kMacro: default of each param (null: none)
  ExprPtr filter;                                  // kFor `if` filter
  Body body, else_body;                            // kFor, kSetBlock, kFilterBlock, kBlock, kMacro, kCallBlock
  std::set<std::string> late;                      // frames (kFor, kSetBlock, kFilterBlock, kMacro, kCallBlock): see Scope
};

// The name a {% filter %} block's rendered body is bound to while its filter runs.
const char* const kFilterBody = "\x01body";

}  // namespace

struct ChatTemplate::Program {
  Body body;
  std::string name;
  // Names the template assigns unconditionally at its top level before reading them there. jinja2
  // compiles them as top-level locals, so inside loops, blocks and macros they are undefined until
  // the assignment runs, whatever the context holds (see late_bound_names).
  std::set<std::string> late_bound;
};

namespace {

// The names an expression reads.
void expr_names(const Expr& e, std::set<std::string>& out) {
  if (e.kind == Expr::Kind::kName) out.insert(e.name);
  for (const ExprPtr& x : {e.a, e.b, e.c, e.d})
    if (x) expr_names(*x, out);
  for (const ExprPtr& x : e.args)
    if (x) expr_names(*x, out);
  for (const auto& kv : e.kwargs)
    if (kv.second) expr_names(*kv.second, out);
}

// jinja2's symbol analysis of the top-level frame, in template order: a name read there before
// any assignment is loaded from the context at the start; a name assigned inside an if branch is
// too; a name whose first top-level mention is an unconditional assignment is a plain local.
void late_bound_names(const Body& body, bool conditional, std::set<std::string>& declared,
                      std::set<std::string>& late) {
  auto reads = [&](const ExprPtr& e) {
    if (!e) return;
    std::set<std::string> names;
    expr_names(*e, names);
    for (const std::string& n : names) declared.insert(n);
  };
  auto stores = [&](const std::string& n) {
    if (declared.insert(n).second && !conditional) late.insert(n);
  };
  for (const auto& node : body) {
    const Node& n = *node;
    switch (n.kind) {
      case Node::Kind::kOutput: reads(n.expr); break;
      case Node::Kind::kIf:
        for (const auto& [cond, branch] : n.branches) reads(cond);
        for (const auto& [cond, branch] : n.branches) late_bound_names(branch, true, declared, late);
        break;
      case Node::Kind::kSet:
        reads(n.expr);
        if (n.attribute) declared.insert(n.targets[0]);  // ns.attr = ... reads ns
        else for (const std::string& t : n.targets) stores(t);
        break;
      case Node::Kind::kSetBlock: stores(n.targets[0]); break;
      case Node::Kind::kFor: reads(n.expr); break;
      case Node::Kind::kFilterBlock:
      case Node::Kind::kCallBlock: reads(n.expr); break;
      case Node::Kind::kBlock: late_bound_names(n.body, conditional, declared, late); break;
      default: break;
    }
  }
}

}  // namespace

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
        n->expr = p.parse_expression();
        n->line = ch.line + n->expr->line;  // jinja2 reports an output's errors at its top node
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
        int cond_line = ch.line;
        p.expect_end();
        for (;;) {
          std::string end;
          Body b = parse_body({"elif", "else", "endif"}, end);
          if (end.empty()) throw Error(cat(where(ch.line), ": {% if %} is never closed by {% endif %}"));
          n->branches.emplace_back(cond, std::move(b));
          n->branch_lines.push_back(cond_line);
          if (end == "endif") break;
          if (end == "elif") {
            cond_line = last_line_;
            cond = last_parser_->parse_expression();
            last_parser_->expect_end();
          } else {
            last_parser_->expect_end();
            std::string end2;
            Body else_body = parse_body({"endif"}, end2);
            if (end2.empty()) throw Error(cat(where(ch.line), ": {% if %} is never closed by {% endif %}"));
            n->branches.emplace_back(nullptr, std::move(else_body));
            n->branch_lines.push_back(last_line_);
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
        ++loop_depth_;
        n->body = parse_body({"else", "endfor"}, end);
        --loop_depth_;
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
          n->attribute = true;
        }
        while (!n->attribute && p.is_op(",")) {  // {% set a, b = pair %}
          p.next();
          n->targets.push_back(p.expect_name());
        }
        if (p.at_end() && n->targets.size() == 1) {  // {% set x %}...{% endset %}
          n->kind = Node::Kind::kSetBlock;
          std::string end;
          n->body = parse_body({"endset"}, end);
          if (end.empty()) throw Error(cat(where(ch.line), ": {% set %} is never closed by {% endset %}"));
          last_parser_->expect_end();
        } else {
          if (!p.is_op("=")) p.fail("expected `=` in {% set %}");
          p.next();
          n->expr = p.parse_expression();
          if (p.is_op(",")) {  // {% set x = a, b %}: a tuple
            auto list = std::make_shared<Expr>();
            list->kind = Expr::Kind::kList;
            list->args.push_back(n->expr);
            while (p.is_op(",")) {
              p.next();
              if (p.at_end()) break;
              list->args.push_back(p.parse_expression());
            }
            n->expr = list;
          }
          p.expect_end();
        }
      } else if (kw == "filter") {
        n->kind = Node::Kind::kFilterBlock;
        auto body_name = std::make_shared<Expr>();
        body_name->kind = Expr::Kind::kName;
        body_name->name = kFilterBody;
        n->expr = p.parse_filter_chain(body_name);
        p.expect_end();
        std::string end;
        n->body = parse_body({"endfilter"}, end);
        if (end.empty()) throw Error(cat(where(ch.line), ": {% filter %} is never closed by {% endfilter %}"));
        last_parser_->expect_end();
      } else if (kw == "generation") {  // transformers' assistant-mask tag: renders its body
        n->kind = Node::Kind::kBlock;
        p.expect_end();
        std::string end;
        n->body = parse_body({"endgeneration"}, end);
        if (end.empty()) throw Error(cat(where(ch.line), ": {% generation %} is never closed by {% endgeneration %}"));
        last_parser_->expect_end();
      } else if (kw == "macro") {
        n->kind = Node::Kind::kMacro;
        n->text = p.expect_name();
        p.expect_op("(");
        while (!p.is_op(")")) {
          n->targets.push_back(p.expect_name());
          ExprPtr dflt;
          if (p.is_op("=")) {
            p.next();
            dflt = p.parse_expression();
          }
          n->defaults.push_back(dflt);
          if (!p.is_op(",")) break;
          p.next();
        }
        p.expect_op(")");
        p.expect_end();
        std::string end;
        int outer_loops = loop_depth_;
        loop_depth_ = 0;
        n->body = parse_body({"endmacro"}, end);
        loop_depth_ = outer_loops;
        if (end.empty()) throw Error(cat(where(ch.line), ": {% macro %} is never closed by {% endmacro %}"));
      } else if (kw == "call") {
        n->kind = Node::Kind::kCallBlock;
        n->expr = p.parse_expression();
        if (n->expr->kind != Expr::Kind::kCall) p.fail("{% call %} needs a macro call");
        p.expect_end();
        std::string end;
        int outer_loops = loop_depth_;
        loop_depth_ = 0;  // the body runs as caller(), a function of its own
        n->body = parse_body({"endcall"}, end);
        loop_depth_ = outer_loops;
        if (end.empty()) throw Error(cat(where(ch.line), ": {% call %} is never closed by {% endcall %}"));
        last_parser_->expect_end();
      } else if (kw == "break" || kw == "continue") {
        n->kind = kw == "break" ? Node::Kind::kBreak : Node::Kind::kContinue;
        p.expect_end();
        // jinja2's compiled Python rejects it outside a loop (a macro body starts outside any loop).
        if (loop_depth_ == 0) throw Error(cat(where(ch.line), ": '", kw, "' outside loop"));
      } else if (kw == "elif" || kw == "else" || kw == "endif" || kw == "endfor" || kw == "endset" ||
                 kw == "endmacro" || kw == "endfilter" || kw == "endcall" || kw == "endgeneration") {
        throw Error(cat(where(ch.line), ": unexpected {% ", kw, " %} without a matching opening tag"));
      } else {
        throw Error(cat(where(ch.line), ": unsupported template statement {% ", kw,
                        " %} (zeroth's Jinja subset has if, for, set, macro, call, filter, raw, generation, "
                        "break, continue)"));
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
  int loop_depth_ = 0;  // for loops around the statement being parsed (in this macro)
};


// ---------------------------------------------------------------------------------------------
// Evaluation

struct LoopControl {
  enum class Kind { kBreak, kContinue } kind;
};

using Scopes = std::vector<Scope>;
using Kwargs = std::vector<std::pair<std::string, Value>>;

bool is_in(const std::string& name, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (name == n) return true;
  return false;
}

class Renderer {
 public:
  Renderer(const std::string& name, std::time_t now) : name_(name), now_(now) {}

  Scopes scopes;
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
      // A name an enclosing frame assigns later (and never read it before): undefined until then.
      if (k + 1 < scopes.size() && scopes[k].late && scopes[k].late->count(name)) return Value::undefined(name);
    }
    if (is_in(name, {"namespace", "raise_exception", "range", "dict", "strftime_now"})) return Value::function(name);
    return Value::undefined(name);
  }


  void assign(const std::string& name, Value v) { scopes.back()[name] = std::move(v); }

  // Renders `body` into a string of its own (set blocks, filter blocks, macro calls).
  // The body is a frame of its own: what it sets stays inside.
  std::string capture(const Body& body, const std::set<std::string>* late) {
    std::string saved;
    saved.swap(out);
    scopes.emplace_back();
    scopes.back().late = late;
    size_t depth = scopes.size();
    try {
      run(body);
    } catch (...) {
      scopes.resize(depth - 1);
      out.swap(saved);
      throw;
    }
    scopes.pop_back();
    std::string result;
    result.swap(out);
    out.swap(saved);
    return result;
  }

  void exec(const Node& n) {
    try {
      exec_node(n);
    } catch (const Json::exception& e) {  // a value of the wrong JSON type deep in a helper
      fail(cat("unsupported value type: ", e.what()));
    }
  }

  void exec_node(const Node& n) {
    line_ = n.line;
    switch (n.kind) {
      case Node::Kind::kText: out += n.text; break;
      case Node::Kind::kOutput: out += to_output(eval(*n.expr)); break;
      case Node::Kind::kIf:
        for (size_t k = 0; k < n.branches.size(); ++k) {
          const auto& [cond, body] = n.branches[k];
          line_ = n.branch_lines[k];  // an elif's errors name its own line
          if (!cond || truthy(eval(*cond))) {
            run(body);
            break;
          }
        }
        break;
      case Node::Kind::kSet: {
        Value v = eval(*n.expr);
        if (n.attribute) {
          Value ns = lookup(n.targets[0]);
          if (ns.kind != Value::Kind::kNamespace)
            fail(cat("cannot set attribute ", quote(n.targets[1]), " on ", quote(n.targets[0]), ", which is not a namespace()"));
          (*ns.ns)[n.targets[1]] = as_json(v);
        } else if (n.targets.size() == 1) {
          assign(n.targets[0], v);
        } else {
          std::vector<Json> items = iterate(v);
          if (items.size() != n.targets.size())
            fail(cat("cannot unpack ", items.size(), " values into ", n.targets.size(), " names"));
          for (size_t k = 0; k < items.size(); ++k) assign(n.targets[k], Value::of(items[k]));
        }
        break;
      }
      case Node::Kind::kSetBlock: assign(n.targets[0], Value::of(capture(n.body, &n.late))); break;
      case Node::Kind::kFilterBlock: {
        std::string body = capture(n.body, &n.late);
        scopes.emplace_back();
        scopes.back()[kFilterBody] = Value::of(body);
        line_ = n.line;
        Value v = eval(*n.expr);
        scopes.pop_back();
        out += to_output(v);
        break;
      }
      case Node::Kind::kBlock: run(n.body); break;
      case Node::Kind::kMacro: {
        Value m;
        m.kind = Value::Kind::kMacro;
        m.macro = &n;
        m.name = n.text;
        // A macro defined inside a loop or block closes over those scopes (the loop variable...).
        if (scopes.size() > 2) m.inner = std::make_shared<Scopes>(scopes.begin() + 2, scopes.end());
        assign(n.text, m);
        break;
      }
      case Node::Kind::kCallBlock: {
        Value caller;
        caller.kind = Value::Kind::kMacro;
        caller.macro = &n;
        caller.name = "caller";
        caller.closure = std::make_shared<Scopes>(scopes);
        scopes.emplace_back();
        scopes.back()["caller"] = caller;
        Value v = eval(*n.expr);
        scopes.pop_back();
        out += to_output(v);
        break;
      }
      case Node::Kind::kFor: exec_for(n); break;
      case Node::Kind::kBreak: throw LoopControl{LoopControl::Kind::kBreak};
      case Node::Kind::kContinue: throw LoopControl{LoopControl::Kind::kContinue};
    }
  }

  // The items a for loop (or a filter) walks: list items, mapping keys, string characters;
  // undefined is empty; anything else is an error as in Python.
  std::vector<Json> iterate(const Value& seq) const {
    std::vector<Json> items;
    if (seq.is_undefined()) return items;
    if (seq.is_data() && seq.data.is_array()) {
      items.assign(seq.data.begin(), seq.data.end());
    } else if (seq.is_data() && seq.data.is_object()) {
      for (auto it = seq.data.begin(); it != seq.data.end(); ++it) items.push_back(key_value(it.key()));
    } else if (seq.is_string()) {
      std::vector<uint32_t> cps = code_points(seq.data.get<std::string>());
      for (size_t k = 0; k < cps.size(); ++k) items.push_back(from_code_points(cps, k, k + 1));
    } else {
      fail(cat("a ", type_name(seq), " is not iterable"));
    }
    return items;
  }

  void exec_for(const Node& n) {
    std::vector<Json> items = iterate(eval(*n.expr));
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
      scopes.back().late = &n.late;
      bind_targets(n, items[k]);
      Json loop = Json::object();
      loop["index"] = k + 1;
      loop["index0"] = k;
      loop["revindex"] = len - k;
      loop["revindex0"] = len - k - 1;
      loop["first"] = k == 0;
      loop["last"] = k + 1 == len;
      loop["length"] = len;
      loop["depth"] = 1;
      loop["depth0"] = 0;
      if (k > 0) loop["previtem"] = items[k - 1];
      if (k + 1 < len) loop["nextitem"] = items[k + 1];
      scopes.back()["loop"] = Value::of(loop);
      bool stop = false;
      try {
        run(n.body);
      } catch (const LoopControl& c) {
        stop = c.kind == LoopControl::Kind::kBreak;
      }
      scopes.pop_back();
      line_ = n.line;
      if (stop) break;
    }
  }

  void bind_targets(const Node& n, const Json& item) {
    if (n.targets.size() == 1) {
      scopes.back()[n.targets[0]] = Value::of(item);
      return;
    }
    std::vector<Json> parts = iterate(Value::of(item));
    if (parts.size() != n.targets.size())
      fail(cat("cannot unpack a loop item of ", parts.size(), " values into ", n.targets.size(), " variables"));
    for (size_t t = 0; t < n.targets.size(); ++t) scopes.back()[n.targets[t]] = Value::of(parts[t]);
  }

  static std::string type_name(const Value& v) {
    switch (v.kind) {
      case Value::Kind::kUndefined: return "undefined value";
      case Value::Kind::kNamespace: return "namespace";
      case Value::Kind::kFunction: return "function";
      case Value::Kind::kMethod: return "method";
      case Value::Kind::kMacro: return "macro";
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
    fail(cat("a ", type_name(v), " cannot be used as a value"));
  }

  std::string to_output(const Value& v) const {
    if (v.is_undefined()) return "";
    if (v.is_string()) return v.data.get<std::string>();
    std::string s;
    if (v.kind == Value::Kind::kNamespace) s = "<Namespace>";
    else if (v.lazy) s = "<generator object>";
    else if (v.tuple && v.data.is_array()) {
      s = "(";
      for (size_t k = 0; k < v.data.size(); ++k) {
        if (k) s += ", ";
        py_str(s, v.data[k], true);
      }
      s += v.data.size() == 1 ? ",)" : ")";
    } else if (v.is_data()) py_str(s, v.data, false);
    else s = cat("<", type_name(v), " ", v.name, ">");
    return s;
  }

  static bool truthy(const Value& v) {
    if (v.is_undefined()) return false;
    if (v.lazy) return true;
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

  const std::string& str_arg(const Value& v, const std::string& what) const {
    if (!v.is_string()) fail(cat(what, ": expected a string, got a ", type_name(v)));
    return v.data.get_ref<const std::string&>();
  }
  int64_t int_arg(const Value& v, const std::string& what) const {
    if (v.is_data() && v.data.is_number_integer()) return v.data.get<int64_t>();
    if (v.is_data() && v.data.is_boolean()) return v.data.get<bool>() ? 1 : 0;
    fail(cat(what, ": expected an integer, got a ", type_name(v)));
  }

  static bool equal(const Json& a, const Json& b) {
    if ((a.is_number() || a.is_boolean()) && (b.is_number() || b.is_boolean()) && (a.is_number() || b.is_number())) {
      auto d = [](const Json& j) { return j.is_boolean() ? (j.get<bool>() ? 1.0 : 0.0) : j.get<double>(); };
      return d(a) == d(b);  // Python: True == 1, 0 == False
    }
    if (a.is_array() && b.is_array()) {
      if (a.size() != b.size()) return false;
      for (size_t k = 0; k < a.size(); ++k)
        if (!equal(a[k], b[k])) return false;
      return true;
    }
    if (a.is_object() && b.is_object()) {
      if (a.size() != b.size()) return false;
      for (auto it = a.begin(); it != a.end(); ++it) {
        auto other = b.find(it.key());
        if (other == b.end() || !equal(it.value(), *other)) return false;
      }
      return true;
    }
    return a == b;
  }
  static bool equal_values(const Value& a, const Value& b) {
    if (a.is_undefined() || b.is_undefined()) return a.is_undefined() && b.is_undefined();
    if (a.is_data() && b.is_data()) return a.tuple == b.tuple && equal(a.data, b.data);  // (1, 2) != [1, 2]
    if (a.kind == Value::Kind::kNamespace && b.kind == Value::Kind::kNamespace) return a.ns == b.ns;
    return false;
  }

  // Python's ordering of two values (numbers, strings, lists); a TypeError otherwise.
  int compare(const Json& x, const Json& y) const {
    bool xn = x.is_number() || x.is_boolean(), yn = y.is_number() || y.is_boolean();
    if (xn && yn) {
      double p = x.is_boolean() ? x.get<bool>() : x.get<double>(), q = y.is_boolean() ? y.get<bool>() : y.get<double>();
      return p < q ? -1 : p > q ? 1 : 0;
    }
    if (x.is_string() && y.is_string()) {
      int c = x.get_ref<const std::string&>().compare(y.get_ref<const std::string&>());
      return c < 0 ? -1 : c > 0 ? 1 : 0;
    }
    if (x.is_array() && y.is_array()) {
      for (size_t k = 0; k < x.size() && k < y.size(); ++k) {  // the first unequal items decide
        if (equal(x[k], y[k])) continue;
        return compare(x[k], y[k]);
      }
      return x.size() < y.size() ? -1 : x.size() > y.size() ? 1 : 0;
    }
    fail(cat("cannot compare a ", type_name(Value::of(x)), " with a ", type_name(Value::of(y))));
  }

  Value eval(const Expr& e) {
    switch (e.kind) {
      case Expr::Kind::kLiteral: return Value::of(e.literal);
      case Expr::Kind::kName: return lookup(e.name);
      case Expr::Kind::kAttr: return get_attr(eval(*e.a), e.name);
      case Expr::Kind::kItem: {
        Value obj = eval(*e.a);
        Value key = eval(*e.b);
        return get_item(obj, key);
      }
      case Expr::Kind::kSlice: return slice(e);
      case Expr::Kind::kCall: return call(e);
      case Expr::Kind::kFilter: {
        Value v = eval(*e.a);
        return apply_filter(e.name, v, eval_args(e.args), eval_kwargs(e.kwargs));
      }
      case Expr::Kind::kTest: {
        Value v = eval(*e.a);
        bool r = apply_test(e.name, v, eval_args(e.args));
        return Value::of(e.negated ? !r : r);
      }
      case Expr::Kind::kNot: return Value::of(!truthy(eval(*e.a)));
      case Expr::Kind::kNeg: {
        Json v = as_json(eval(*e.a));
        if (v.is_number_float()) return Value::of(-v.get<double>());
        if (v.is_number()) return Value::of(-v.get<int64_t>());
        fail(cat("bad operand type for unary -: a ", type_name(Value::of(v))));
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
        Value v = Value::of(list);
        v.tuple = e.tuple;
        return v;
      }
      case Expr::Kind::kDict: {
        Json dict = Json::object();
        for (size_t k = 0; k + 1 < e.args.size(); k += 2) {
          Value key = eval(*e.args[k]);
          dict[dict_key(key)] = as_json(eval(*e.args[k + 1]));
        }
        return Value::of(dict);
      }
      case Expr::Kind::kBinary: return binary(e);
    }
    fail("unknown expression");
  }

  std::string dict_key(const Value& key) const {
    if (key.is_string()) return key.data.get<std::string>();
    if (key.is_data() && key.data.is_number_integer()) return int_key(key.data.get<int64_t>());
    fail(cat("zeroth supports string and integer dict keys, not a ", type_name(key)));
  }

  // Attribute access as jinja2's sandbox does it: Python attributes (methods) first, then items;
  // methods that mutate lists or dicts are "unsafe" (an undefined that fails when called).
  Value get_attr(const Value& obj, const std::string& name) {
    if (obj.kind == Value::Kind::kNamespace) {
      auto it = obj.ns->find(name);
      return it == obj.ns->end() ? Value::undefined(name) : Value::of(*it);
    }
    if (obj.is_undefined()) fail(cat(quote(obj.name), " is undefined (reading its attribute ", quote(name), ")"));
    if (!obj.is_data()) return Value::undefined(name);
    const Json& j = obj.data;
    auto unsafe = [&](const char* type) {
      Value u = Value::undefined(name);
      u.hint = cat("access to attribute ", py_repr_string(name), " of ", py_repr_string(type), " object is unsafe.");
      return u;
    };
    if (j.is_object()) {
      if (is_in(name, {"get", "items", "keys", "values", "copy"})) return Value::method(j, name);
      if (name == "cycle" && j.contains("index0") && j.contains("revindex0")) return Value::method(j, name);
      if (is_in(name, {"update", "pop", "popitem", "setdefault", "clear"})) return unsafe("dict");
      auto it = j.find(name);
      if (it != j.end()) return Value::of(*it);
      return Value::undefined(name);
    }
    if (j.is_string()) {
      if (is_in(name, {"startswith", "endswith", "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "lower",
                       "upper", "replace", "title", "capitalize", "join", "count", "find", "rfind", "index", "rindex",
                       "isdigit", "isalpha", "isalnum", "isspace", "islower", "isupper", "format", "swapcase",
                       "casefold", "zfill", "center", "ljust", "rjust", "partition", "rpartition", "removeprefix",
                       "removesuffix"}))
        return Value::method(j, name);
      return Value::undefined(name);
    }
    if (j.is_array()) {
      if (is_in(name, {"index", "count", "copy", "pop"})) return Value::method(j, name);
      if (is_in(name, {"append", "extend", "insert", "remove", "reverse", "sort", "clear"})) return unsafe("list");
    }
    return Value::undefined(name);
  }

  static int64_t normalize_index(int64_t i, size_t n) { return i < 0 ? i + static_cast<int64_t>(n) : i; }

  Value get_item(const Value& obj, const Value& key) {
    if (obj.is_undefined()) fail(cat(quote(obj.name), " is undefined (indexing it)"));
    if (obj.kind == Value::Kind::kNamespace) return get_attr(obj, str_arg(key, "namespace key"));
    if (!obj.is_data()) return Value::undefined("item");
    const Json& j = obj.data;
    if (j.is_object()) {
      std::string k;
      if (key.is_string()) k = key.data.get<std::string>();
      else if (key.is_data() && key.data.is_number_integer()) k = int_key(key.data.get<int64_t>());
      else if (key.is_data() && key.data.is_boolean()) k = int_key(key.data.get<bool>() ? 1 : 0);  // True == 1
      else return Value::undefined("item");
      auto it = j.find(k);
      return it == j.end() ? Value::undefined(key_text(k)) : Value::of(*it);
    }
    if (j.is_array() || j.is_string()) {
      if (!key.is_data() || !(key.data.is_number_integer() || key.data.is_boolean()))
        return key.is_string() ? get_attr(obj, key.data.get<std::string>()) : Value::undefined("item");
      int64_t raw = int_arg(key, "index");
      if (j.is_array()) {
        int64_t i = normalize_index(raw, j.size());
        if (i < 0 || i >= static_cast<int64_t>(j.size())) return Value::undefined("list item");
        return Value::of(j[static_cast<size_t>(i)]);
      }
      std::vector<uint32_t> cps = code_points(j.get<std::string>());
      int64_t i = normalize_index(raw, cps.size());
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
      if (!v.is_data() || !v.data.is_number_integer()) fail("slice indices must be integers or none");
      return v.data.get<int64_t>();
    };
    std::optional<int64_t> start = opt_int(e.b), stop = opt_int(e.c), step_opt = opt_int(e.d);
    int64_t step = step_opt.value_or(1);
    if (step == 0) fail("slice step cannot be zero");
    bool is_str = obj.is_string();
    if (obj.is_undefined()) fail(cat(quote(obj.name), " is undefined (slicing it)"));
    if (!(obj.is_data() && (obj.data.is_array() || is_str))) fail(cat("a ", type_name(obj), " is not subscriptable"));
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
  Kwargs eval_kwargs(const std::vector<std::pair<std::string, ExprPtr>>& kwargs) {
    Kwargs out;
    for (const auto& [k, v] : kwargs) out.emplace_back(k, eval(*v));
    return out;
  }

  Value call(const Expr& e) {
    Value f = eval(*e.a);
    std::vector<Value> args = eval_args(e.args);
    Kwargs kwargs = eval_kwargs(e.kwargs);
    switch (f.kind) {
      case Value::Kind::kMethod: {
        Value r = method(f.data, f.name, args, kwargs);
        // list.pop() is allowed by the sandbox and changes the list: write it back to the variable.
        if (f.name == "pop" && f.data.is_array() && e.a->kind == Expr::Kind::kAttr && e.a->a->kind == Expr::Kind::kName) {
          Json list = f.data;
          int64_t i = args.empty() ? -1 : int_arg(args[0], "pop");
          list.erase(list.begin() + normalize_index(i, list.size()));
          for (size_t k = scopes.size(); k-- > 0;) {
            auto it = scopes[k].find(e.a->a->name);
            if (it != scopes[k].end()) { it->second = Value::of(list); break; }
          }
        }
        return r;
      }
      case Value::Kind::kMacro: return call_macro(f, args, kwargs);
      case Value::Kind::kFunction: return call_builtin(f.name, args, kwargs);
      case Value::Kind::kUndefined:
        if (!f.hint.empty()) fail(f.hint);
        fail(cat(quote(f.name), " is undefined (called as a function)"));
      default: fail(cat("a ", type_name(f), " is not callable"));
    }
  }

  // What a template may build: jinja2 has no such limit (Python runs out of memory instead).
  void check_size(double n) const {
    if (n > 1e8) fail("the result would be larger than zeroth's limit of 1e8 items");
  }

  Value call_macro(const Value& m, const std::vector<Value>& args, const Kwargs& kwargs) {
    const Node& def = *m.macro;
    if (++call_depth_ > 200) {  // jinja2 stops at Python's recursion limit
      --call_depth_;
      fail("maximum recursion depth exceeded in macro calls");
    }
    struct DepthGuard {
      int& d;
      ~DepthGuard() { --d; }
    } guard{call_depth_};
    if (args.size() > def.targets.size())
      fail(cat("macro ", quote(m.name), " takes not more than ", def.targets.size(), " argument(s)"));
    Scopes saved;
    saved.swap(scopes);
    if (m.closure) {
      scopes = *m.closure;  // a call block's body sees the scopes around the {% call %}
    } else {
      scopes.push_back(saved[0]);  // a macro sees the globals and the template's top-level names
      if (saved.size() > 1) scopes.push_back(saved[1]);
      if (m.inner) scopes.insert(scopes.end(), m.inner->begin(), m.inner->end());
    }
    scopes.emplace_back();
    int saved_line = line_;
    std::string result;
    try {
      for (const auto& [k, v] : kwargs)
        if (std::find(def.targets.begin(), def.targets.end(), k) == def.targets.end())
          fail(cat("macro ", quote(m.name), " takes no keyword argument ", quote(k)));
      for (size_t k = 0; k < def.targets.size(); ++k) {
        const std::string& param = def.targets[k];
        Value v = Value::undefined(param);
        bool given = false;
        if (k < args.size()) {
          v = args[k];
          given = true;
        }
        for (const auto& [kk, vv] : kwargs) {
          if (kk != param) continue;
          if (given) fail(cat("macro ", quote(m.name), " got multiple values for argument ", quote(param)));
          v = vv;
          given = true;
        }
        if (!given && def.defaults[k]) v = eval(*def.defaults[k]);
        scopes.back()[param] = v;
      }
      for (size_t k = saved.size(); k-- > 0;) {  // `caller` of an enclosing {% call %}
        auto it = saved[k].find("caller");
        if (it != saved[k].end()) {
          if (!m.closure) scopes.back()["caller"] = it->second;
          break;
        }
      }
      result = capture(def.body, &def.late);
    } catch (...) {
      scopes.swap(saved);
      throw;
    }
    scopes.swap(saved);
    line_ = saved_line;
    return Value::of(result);
  }

  Value call_builtin(const std::string& name, const std::vector<Value>& args, const Kwargs& kwargs) {
    if (name == "namespace" || name == "dict") {
      Json attrs = Json::object();
      for (const Value& a : args) {
        if (a.is_data() && a.data.is_object())
          for (auto it = a.data.begin(); it != a.data.end(); ++it) attrs[it.key()] = it.value();
      }
      for (const auto& [k, v] : kwargs) attrs[k] = as_json(v);
      if (name == "dict") return Value::of(attrs);
      Value ns;
      ns.kind = Value::Kind::kNamespace;
      ns.ns = std::make_shared<Json>(attrs);
      return ns;
    }
    if (name == "raise_exception") {
      std::string msg = args.empty() ? std::string("(no message)") : to_output(args[0]);
      fail(cat("the template raised an exception: ", msg));
    }
    if (name == "strftime_now") {
      if (args.empty()) fail("strftime_now() takes a format");
      std::tm tm{};
      localtime_r(&now_, &tm);
      char buf[256];
      size_t n = std::strftime(buf, sizeof buf, str_arg(args[0], "strftime_now").c_str(), &tm);
      return Value::of(std::string(buf, n));
    }
    if (name == "range") {
      std::vector<int64_t> v;
      for (const Value& a : args) v.push_back(int_arg(a, "range"));
      int64_t start = 0, stop = 0, step = 1;
      if (v.size() == 1) stop = v[0];
      else if (v.size() >= 2) { start = v[0]; stop = v[1]; if (v.size() > 2) step = v[2]; }
      else fail("range expected at least 1 argument");
      if (step == 0) fail("range() arg 3 must not be zero");
      Json list = Json::array();
      for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
        if (list.size() >= 100000) fail("range() too big");  // jinja2's sandbox limit (MAX_RANGE)
        list.push_back(i);
      }
      return Value::of(list);
    }
    fail(cat("unknown function ", quote(name)));
  }

  std::optional<std::string> opt_str(const std::vector<Value>& args, size_t k, const std::string& what) const {
    if (k >= args.size() || (args[k].is_data() && args[k].data.is_null())) return std::nullopt;
    return str_arg(args[k], what);
  }

  Value method(const Json& self, const std::string& name, const std::vector<Value>& args, const Kwargs& kwargs) {
    if (self.is_string()) return string_method(self.get_ref<const std::string&>(), name, args, kwargs);
    if (self.is_array()) {
      if (name == "copy") return Value::of(self);
      if (name == "pop") {
        if (self.empty()) fail("pop from empty list");
        int64_t i = normalize_index(args.empty() ? -1 : int_arg(args[0], "pop"), self.size());
        if (i < 0 || i >= static_cast<int64_t>(self.size())) fail("pop index out of range");
        return Value::of(self[static_cast<size_t>(i)]);
      }
      if (args.empty()) fail(cat(name, "() takes an argument"));
      Json x = as_json(args[0]);
      int64_t count = 0;
      for (size_t k = 0; k < self.size(); ++k) {
        if (!equal(self[k], x)) continue;
        if (name == "index") return Value::of(static_cast<int64_t>(k));
        ++count;
      }
      if (name == "index") fail("the value is not in the list");
      return Value::of(count);
    }
    const Json& d = self;
    if (name == "cycle") {
      if (args.empty()) fail("loop.cycle() needs at least one argument");
      return args[static_cast<size_t>(d["index0"].get<int64_t>()) % args.size()];
    }
    if (name == "get") {
      if (args.empty()) fail("get() takes a key");
      std::string key = args[0].is_data() && args[0].data.is_number_integer() ? int_key(args[0].data.get<int64_t>())
                        : args[0].is_string()                                  ? args[0].data.get<std::string>()
                                                                               : std::string("\x02");
      auto it = d.find(key);
      if (it != d.end()) return Value::of(*it);
      return args.size() > 1 ? args[1] : Value::of(nullptr);
    }
    if (name == "copy") return Value::of(d);
    Json list = Json::array();
    for (auto it = d.begin(); it != d.end(); ++it) {
      if (name == "items") list.push_back(Json::array({key_value(it.key()), it.value()}));
      else if (name == "keys") list.push_back(key_value(it.key()));
      else list.push_back(it.value());
    }
    return Value::of(list);
  }

  Value string_method(const std::string& s, const std::string& name, const std::vector<Value>& args,
                      const Kwargs& kwargs) {
    auto arg_str = [&](size_t k) { return opt_str(args, k, name); };
    if (name == "startswith" || name == "endswith") {
      if (args.empty()) fail(cat(name, "() takes at least 1 argument"));
      std::vector<std::string> options;
      if (args[0].is_data() && args[0].data.is_array()) {
        for (const Json& x : args[0].data) options.push_back(str_arg(Value::of(x), name));
      } else {
        options.push_back(str_arg(args[0], name));
      }
      for (const std::string& x : options) {
        bool r = x.size() <= s.size() &&
                 (name == "startswith" ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0);
        if (r) return Value::of(true);
      }
      return Value::of(false);
    }
    if (name == "removeprefix" || name == "removesuffix") {
      std::string x = str_arg(args.empty() ? Value() : args[0], name);
      bool prefix = name == "removeprefix";
      bool hit = x.size() <= s.size() && (prefix ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0);
      if (!hit) return Value::of(s);
      return Value::of(prefix ? s.substr(x.size()) : s.substr(0, s.size() - x.size()));
    }
    if (name == "strip") return Value::of(py_strip(s, arg_str(0), true, true));
    if (name == "lstrip") return Value::of(py_strip(s, arg_str(0), true, false));
    if (name == "rstrip") return Value::of(py_strip(s, arg_str(0), false, true));
    if (name == "split" || name == "rsplit") {
      int64_t maxsplit = args.size() > 1 ? int_arg(args[1], name) : -1;
      std::optional<std::string> sep = arg_str(0);
      for (const auto& [k, v] : kwargs) {
        if (k == "maxsplit") maxsplit = int_arg(v, name);
        if (k == "sep" && !(v.is_data() && v.data.is_null())) sep = str_arg(v, name);
      }
      if (sep && sep->empty()) fail("empty separator");
      if (name == "rsplit" && maxsplit >= 0) {
        Json all = split(s, sep, -1);
        if (static_cast<int64_t>(all.size()) <= maxsplit + 1) return Value::of(all);
        if (!sep) {  // whitespace rsplit with a limit: rare in templates
          fail("rsplit() without a separator and with maxsplit is not supported");
        }
        size_t head = all.size() - static_cast<size_t>(maxsplit);
        std::string first;
        for (size_t k = 0; k < head; ++k) first += (k ? *sep : "") + all[k].get<std::string>();
        Json out = Json::array({first});
        for (size_t k = head; k < all.size(); ++k) out.push_back(all[k]);
        return Value::of(out);
      }
      return Value::of(split(s, sep, maxsplit));
    }
    if (name == "splitlines") {
      Json out = Json::array();
      size_t b = 0;
      for (size_t k = 0; k < s.size(); ++k) {
        if (s[k] == '\n' || s[k] == '\r') {
          out.push_back(s.substr(b, k - b));
          if (s[k] == '\r' && k + 1 < s.size() && s[k + 1] == '\n') ++k;
          b = k + 1;
        }
      }
      if (b < s.size()) out.push_back(s.substr(b));
      return Value::of(out);
    }
    if (name == "lower" || name == "upper" || name == "casefold") return Value::of(change_case(s, name == "upper"));
    if (name == "swapcase") {
      std::string o = s;
      for (char& c : o)
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) c = static_cast<char>(c ^ 0x20);
      return Value::of(o);
    }
    if (name == "replace") {
      if (args.size() < 2) fail("replace() takes at least 2 arguments");
      int64_t count = args.size() > 2 ? int_arg(args[2], "replace") : -1;
      return Value::of(replace_all(s, str_arg(args[0], "replace"), str_arg(args[1], "replace"), count));
    }
    if (name == "title") return Value::of(title_method(s));
    if (name == "capitalize") return Value::of(capitalize_first(s, true));
    if (name == "join") {
      if (args.empty()) fail("join() takes exactly one argument");
      std::string out;
      std::vector<Json> items = iterate(args[0]);
      for (size_t k = 0; k < items.size(); ++k) {
        if (k) out += s;
        out += str_arg(Value::of(items[k]), "join");
      }
      return Value::of(out);
    }
    if (name == "count" || name == "find" || name == "rfind" || name == "index" || name == "rindex") {
      if (args.empty()) fail(cat(name, "() takes at least 1 argument"));
      const std::string& sub = str_arg(args[0], name);
      // Positions are in code points, as Python counts them.
      std::vector<uint32_t> cps = code_points(s), sub_cps = code_points(sub);
      int64_t n = static_cast<int64_t>(cps.size());
      int64_t start = args.size() > 1 && !(args[1].is_data() && args[1].data.is_null()) ? int_arg(args[1], name) : 0;
      int64_t end = args.size() > 2 && !(args[2].is_data() && args[2].data.is_null()) ? int_arg(args[2], name) : n;
      if (start < 0) start = std::max<int64_t>(0, start + n);
      if (end < 0) end = std::max<int64_t>(0, end + n);
      end = std::min(end, n);
      int64_t m = static_cast<int64_t>(sub_cps.size());
      auto match_at = [&](int64_t i) { return std::equal(sub_cps.begin(), sub_cps.end(), cps.begin() + i); };
      if (name == "count") {
        if (start > n) return Value::of(0);
        if (m == 0) return Value::of(std::max<int64_t>(0, end - start) + 1);
        int64_t c = 0;
        for (int64_t i = start; i + m <= end;) {
          if (match_at(i)) { ++c; i += m; } else { ++i; }
        }
        return Value::of(c);
      }
      int64_t found = -1;
      if (name == "find" || name == "index") {
        for (int64_t i = start; i + m <= end; ++i)
          if (match_at(i)) { found = i; break; }
      } else {
        for (int64_t i = end - m; i >= start; --i)
          if (match_at(i)) { found = i; break; }
      }
      if (found < 0 && (name == "index" || name == "rindex")) fail("substring not found");
      return Value::of(found);
    }
    if (is_in(name, {"isdigit", "isalpha", "isalnum", "isspace", "islower", "isupper"})) {
      // Python's definitions over Unicode (ICU's character properties).
      if (s.empty()) return Value::of(false);
      bool cased = false, ok = true;
      for (uint32_t cp : code_points(s)) {
        UChar32 c = static_cast<UChar32>(cp);
        bool alpha = u_isalpha(c) != 0;  // Python: categories Lm, Lt, Lu, Ll, Lo, as u_isalpha
        bool digit = u_getIntPropertyValue(c, UCHAR_NUMERIC_TYPE) == U_NT_DECIMAL ||
                     u_getIntPropertyValue(c, UCHAR_NUMERIC_TYPE) == U_NT_DIGIT;
        bool numeric = digit || u_getIntPropertyValue(c, UCHAR_NUMERIC_TYPE) == U_NT_NUMERIC;
        if (name == "isdigit") ok &= digit;
        else if (name == "isalpha") ok &= alpha;
        else if (name == "isalnum") ok &= alpha || numeric;
        else if (name == "isspace") ok &= py_space(cp);
        else if (name == "islower") { ok &= !(u_isUUppercase(c) || u_istitle(c)); cased |= u_isULowercase(c) != 0; }
        else { ok &= !(u_isULowercase(c) || u_istitle(c)); cased |= u_isUUppercase(c) != 0; }
      }
      if (name == "islower" || name == "isupper") ok &= cased;
      return Value::of(ok);
    }
    if (name == "format") return Value::of(str_format(s, args, kwargs));
    if (name == "zfill" || name == "center" || name == "ljust" || name == "rjust") {
      int64_t width = args.empty() ? 0 : int_arg(args[0], name);
      check_size(static_cast<double>(width));
      std::string fill = args.size() > 1 ? str_arg(args[1], name) : " ";
      int64_t len = static_cast<int64_t>(code_points(s).size());
      if (width <= len) return Value::of(s);
      int64_t pad = width - len;
      auto rep = [&](int64_t k, const std::string& f) { std::string o; for (int64_t i = 0; i < k; ++i) o += f; return o; };
      if (name == "zfill") {
        bool sign = !s.empty() && (s[0] == '-' || s[0] == '+');
        return Value::of(sign ? s.substr(0, 1) + rep(pad, "0") + s.substr(1) : rep(pad, "0") + s);
      }
      if (name == "ljust") return Value::of(s + rep(pad, fill));
      if (name == "rjust") return Value::of(rep(pad, fill) + s);
      int64_t left = pad / 2 + (pad & width & 1);
      return Value::of(rep(left, fill) + s + rep(pad - left, fill));
    }
    if (name == "partition" || name == "rpartition") {
      const std::string& sep = str_arg(args.empty() ? Value() : args[0], name);
      size_t at = name == "partition" ? s.find(sep) : s.rfind(sep);
      if (at == std::string::npos)
        return Value::of(name == "partition" ? Json::array({s, "", ""}) : Json::array({"", "", s}));
      return Value::of(Json::array({s.substr(0, at), sep, s.substr(at + sep.size())}));
    }
    fail(cat("unsupported string method ", quote(name)));
  }

  // Python str.format with {} / {0} / {name} fields and no format specs.
  std::string str_format(const std::string& s, const std::vector<Value>& args, const Kwargs& kwargs) {
    std::string out;
    size_t auto_index = 0;
    for (size_t i = 0; i < s.size(); ++i) {
      char c = s[i];
      if ((c == '{' || c == '}') && i + 1 < s.size() && s[i + 1] == c) { out += c; ++i; continue; }
      if (c != '{') { out += c; continue; }
      size_t end = s.find('}', i);
      if (end == std::string::npos) fail("format(): single '{' encountered in format string");
      std::string field = s.substr(i + 1, end - i - 1);
      if (field.find(':') != std::string::npos || field.find('!') != std::string::npos)
        fail("format(): format specs and conversions are not supported");
      Value v;
      if (field.empty() || std::isdigit(static_cast<unsigned char>(field[0]))) {
        size_t idx = field.empty() ? auto_index++ : static_cast<size_t>(std::strtoull(field.c_str(), nullptr, 10));
        if (idx >= args.size()) fail("format(): replacement index out of range");
        v = args[idx];
      } else {
        bool found = false;
        for (const auto& [k, x] : kwargs)
          if (k == field) { v = x; found = true; }
        if (!found) fail(cat("format(): no value for ", quote(field)));
      }
      out += to_output(v);
      i = end;
    }
    return out;
  }

  static Json split(const std::string& s, const std::optional<std::string>& sep, int64_t maxsplit) {
    Json out = Json::array();
    if (sep) {
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

  // Python's str.upper()/lower() (full Unicode case mappings, as ICU's root locale has them).
  static std::string change_case(const std::string& s, bool upper) {
    icu::UnicodeString u = icu::UnicodeString::fromUTF8(s);
    if (upper) u.toUpper(icu::Locale::getRoot());
    else u.toLower(icu::Locale::getRoot());
    std::string out;
    u.toUTF8String(out);
    return out;
  }

  // The first code point title-cased (Python's str.capitalize and jinja2's title filter pieces).
  static std::string capitalize_first(const std::string& s, bool lower_rest) {
    if (s.empty()) return s;
    int len;
    uint32_t first = unicode::decode_utf8(s, 0, len);
    std::string out;
    unicode::append_utf8(out, static_cast<uint32_t>(u_totitle(static_cast<UChar32>(first))));
    return out + (lower_rest ? change_case(s.substr(static_cast<size_t>(len)), false) : s.substr(static_cast<size_t>(len)));
  }

  // str.title(): a cased character after an uncased one is title-cased, the others lower-cased.
  static std::string title_method(const std::string& s) {
    std::string out;
    bool prev_cased = false;
    for (uint32_t c : code_points(s)) {
      std::string one;
      unicode::append_utf8(one, c);
      out += prev_cased ? change_case(one, false) : capitalize_first(one, false);
      prev_cased = u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_CASED);
    }
    return out;
  }

  // jinja2's title filter: pieces split at runs of "-", whitespace, "(", "{", "[", "<" get their
  // first character upper-cased and the rest lower-cased.
  static std::string title_filter(const std::string& s) {
    std::string out, piece;
    auto sep = [](uint32_t c) { return c == '-' || c == '(' || c == '{' || c == '[' || c == '<' || py_space(c); };
    std::vector<uint32_t> cps = code_points(s);
    size_t k = 0;
    while (k < cps.size()) {
      size_t b = k;
      bool is_sep = sep(cps[k]);
      while (k < cps.size() && sep(cps[k]) == is_sep) ++k;
      std::string part = from_code_points(cps, b, k);
      if (is_sep) {
        out += part;
      } else {
        std::vector<uint32_t> p = code_points(part);
        std::string head = change_case(from_code_points(p, 0, 1), true);
        out += head + change_case(from_code_points(p, 1, p.size()), false);
      }
    }
    return out;
  }

  static std::string replace_all(const std::string& s, const std::string& from, const std::string& to,
                                 int64_t count = -1) {
    std::string out;
    if (from.empty()) {  // Python inserts `to` around every character
      std::vector<uint32_t> cps = code_points(s);
      int64_t n = 0;
      for (size_t k = 0; k <= cps.size(); ++k) {
        if (count < 0 || n < count) { out += to; ++n; }
        if (k < cps.size()) unicode::append_utf8(out, cps[k]);
      }
      return out;
    }
    size_t pos = 0;
    int64_t n = 0;
    for (;;) {
      size_t hit = s.find(from, pos);
      if (hit == std::string::npos || (count >= 0 && n >= count)) break;
      out.append(s, pos, hit - pos);
      out += to;
      pos = hit + from.size();
      ++n;
    }
    out.append(s, pos, std::string::npos);
    return out;
  }

  // An attribute path "a.b.0" of an item, as filters' attribute= arguments read it.
  Value item_attribute(const Json& item, const std::string& path) {
    Value v = Value::of(item);
    size_t b = 0;
    for (;;) {
      size_t e = path.find('.', b);
      std::string part = path.substr(b, e == std::string::npos ? std::string::npos : e - b);
      if (v.is_undefined()) return v;
      bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); });
      v = digits ? get_item(v, Value::of(static_cast<int64_t>(std::strtoll(part.c_str(), nullptr, 10)))) : get_item(v, Value::of(part));
      if (e == std::string::npos) return v;
      b = e + 1;
    }
  }

  // What jinja2 returns as a generator: iterable once, always true, no len(), unprintable.
  static Value generator(Json items) {
    Value v = Value::of(std::move(items));
    v.lazy = true;
    return v;
  }

  std::optional<Value> kwarg(const Kwargs& kwargs, const char* key) {
    for (const auto& [k, v] : kwargs)
      if (k == key) return v;
    return std::nullopt;
  }

  // Python's sort key for jinja2's sort/unique/dictsort/min/max: strings lower-cased unless
  // case_sensitive.
  static Json sort_key(const Json& j, bool case_sensitive) {
    if (!case_sensitive && j.is_string()) return change_case(j.get<std::string>(), false);
    return j;
  }

  Value apply_filter(const std::string& f, const Value& v, const std::vector<Value>& args, const Kwargs& kwargs) {
    auto arg = [&](size_t k, const char* key) -> std::optional<Value> {
      if (auto x = kwarg(kwargs, key)) return x;
      if (k < args.size()) return args[k];
      return std::nullopt;
    };
    if (f == "default" || f == "d") {
      bool boolean = false;
      if (auto b = arg(1, "boolean")) boolean = truthy(*b);
      bool use_default = v.is_undefined() || (boolean && !truthy(v));
      if (!use_default) return v;
      auto d = arg(0, "default_value");
      return d ? *d : Value::of("");
    }
    if (f == "safe") {
      if (v.markup) return v;
      Value m = Value::of(to_output(v));
      m.markup = true;
      return m;
    }
    if (f == "tojson") {
      // transformers' tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False)
      JsonFormat fmt;
      if (auto a = arg(0, "ensure_ascii")) fmt.ensure_ascii = truthy(*a);
      if (auto i = arg(1, "indent"); i && !(i->is_data() && i->data.is_null())) fmt.indent = static_cast<int>(int_arg(*i, "tojson indent"));
      if (fmt.indent >= 0) fmt.item_sep = ",";
      if (auto sep = arg(2, "separators"); sep && !(sep->is_data() && sep->data.is_null())) {
        Json s = as_json(*sep);
        if (!s.is_array() || s.size() != 2 || !s[0].is_string() || !s[1].is_string())
          fail("tojson: separators must be a pair of strings");
        fmt.item_sep = s[0].get<std::string>();
        fmt.key_sep = s[1].get<std::string>();
      }
      if (auto a = arg(3, "sort_keys")) fmt.sort_keys = truthy(*a);
      if (v.is_undefined()) fail("Object of type Undefined is not JSON serializable");
      std::string out;
      py_json(out, as_json(v), fmt, 0);
      return Value::of(out);
    }
    if (f == "string") {
      Value r = Value::of(to_output(v));
      r.markup = v.markup;
      return r;
    }
    if (f == "length" || f == "count") {
      if (v.is_undefined()) return Value::of(0);
      if (v.lazy) fail("object of type 'generator' has no len()");
      Json j = as_json(v);
      if (j.is_string()) return Value::of(static_cast<int64_t>(code_points(j.get<std::string>()).size()));
      if (j.is_array() || j.is_object()) return Value::of(static_cast<int64_t>(j.size()));
      fail(cat("object of type ", type_name(v), " has no len()"));
    }
    if (f == "list") return Value::of(Json(iterate(v)));
    if (f == "first" || f == "last") {
      std::vector<Json> items = iterate(v);
      if (items.empty()) return Value::undefined(cat("no ", f, " item"));
      return Value::of(f == "first" ? items.front() : items.back());
    }
    if (f == "join") {
      std::string sep = args.empty() ? "" : str_arg(args[0], "join");
      if (auto s = kwarg(kwargs, "d")) sep = str_arg(*s, "join");
      std::optional<Value> attribute = arg(1, "attribute");
      std::string out;
      std::vector<Json> items = iterate(v);
      for (size_t k = 0; k < items.size(); ++k) {
        if (k) out += sep;
        out += to_output(attribute ? item_attribute(items[k], to_output(*attribute)) : Value::of(items[k]));
      }
      return Value::of(out);
    }
    if (f == "items") {
      if (v.is_undefined()) return Value::of(Json::array());
      if (!(v.is_data() && v.data.is_object())) fail("Can only get item pairs from a mapping.");
      return generator(method(v.data, "items", {}, {}).data);
    }
    if (f == "trim") {
      return Value::of(py_strip(to_output(v), args.empty() ? std::nullopt : std::optional<std::string>(str_arg(args[0], "trim")), true, true));
    }
    if (f == "upper" || f == "lower") return Value::of(change_case(to_output(v), f == "upper"));
    if (f == "capitalize") return Value::of(capitalize_first(to_output(v), true));
    if (f == "title") return Value::of(title_filter(to_output(v)));
    if (f == "replace") {
      if (args.size() < 2) fail("replace takes two arguments");
      int64_t count = args.size() > 2 ? int_arg(args[2], "replace") : -1;
      return Value::of(replace_all(to_output(v), to_output(args[0]), to_output(args[1]), count));
    }
    if (f == "escape" || f == "e" || f == "forceescape") {
      if (v.markup && f != "forceescape") return v;
      Value r = Value::of(html_escape(to_output(v)));
      r.markup = true;
      return r;
    }
    if (f == "indent") {
      if (!v.is_string()) fail(cat("unsupported operand type(s) for +=: a ", type_name(v), " and a string"));
      std::string pad = "    ";
      if (auto w = arg(0, "width")) {
        int64_t n = w->is_string() ? 0 : std::max<int64_t>(0, int_arg(*w, "indent"));
        check_size(static_cast<double>(n));
        pad = w->is_string() ? w->data.get<std::string>() : std::string(static_cast<size_t>(n), ' ');
      }
      bool first = false, blank = false;
      if (auto x = arg(1, "first")) first = truthy(*x);
      if (auto x = arg(2, "blank")) blank = truthy(*x);
      Json lines = string_method(to_output(v) + "\n", "splitlines", {}, {}).data;
      std::string out;
      for (size_t k = 0; k < lines.size(); ++k) {
        const std::string& line = lines[k].get_ref<const std::string&>();
        if (k) out += "\n";
        if (k && (blank || !line.empty())) out += pad;
        out += line;
      }
      if (first) out = pad + out;
      return Value::of(out);
    }
    if (f == "int") {
      int64_t dflt = 0;
      if (auto d = arg(0, "default")) dflt = int_arg(*d, "int");
      if (v.is_undefined()) fail(cat(quote(v.name), " is undefined"));
      Json j = as_json(v);
      if (j.is_boolean()) return Value::of(j.get<bool>() ? 1 : 0);
      if (j.is_number_float()) return Value::of(static_cast<int64_t>(j.get<double>()));
      if (j.is_number()) return v;
      if (j.is_string()) {
        std::string t = py_strip(j.get<std::string>(), std::nullopt, true, true);
        t.erase(std::remove(t.begin(), t.end(), '_'), t.end());
        char* endp = nullptr;
        long long r = std::strtoll(t.c_str(), &endp, 10);
        if (!t.empty() && *endp == '\0') return Value::of(static_cast<int64_t>(r));
        double d = std::strtod(t.c_str(), &endp);
        if (!t.empty() && *endp == '\0' && std::isfinite(d)) return Value::of(static_cast<int64_t>(d));
      }
      return Value::of(dflt);
    }
    if (f == "float") {
      double dflt = 0.0;
      if (auto d = arg(0, "default")) dflt = as_json(*d).get<double>();
      if (v.is_undefined()) fail(cat(quote(v.name), " is undefined"));
      Json j = as_json(v);
      if (j.is_boolean()) return Value::of(j.get<bool>() ? 1.0 : 0.0);
      if (j.is_number()) return Value::of(j.get<double>());
      if (j.is_string()) {
        std::string t = py_strip(j.get<std::string>(), std::nullopt, true, true);
        char* endp = nullptr;
        double d = std::strtod(t.c_str(), &endp);
        if (!t.empty() && *endp == '\0') return Value::of(d);
      }
      return Value::of(dflt);
    }
    if (f == "abs") {
      Json j = as_json(v);
      if (j.is_number_float()) return Value::of(std::fabs(j.get<double>()));
      if (j.is_number()) return Value::of(static_cast<int64_t>(std::llabs(j.get<int64_t>())));
      if (j.is_boolean()) return Value::of(j.get<bool>() ? 1 : 0);
      fail(cat("bad operand type for abs(): a ", type_name(v)));
    }
    if (f == "round") {
      int64_t precision = 0;
      if (auto p = arg(0, "precision")) precision = int_arg(*p, "round");
      std::string how = "common";
      if (auto m = arg(1, "method")) how = str_arg(*m, "round");
      Json num = as_json(v);
      if (!num.is_number() && !num.is_boolean()) fail(cat("type ", type_name(v), " doesn't define __round__ method"));
      if (how == "common" && !num.is_number_float())  // round(int, 0) stays an int
        return Value::of(num.is_boolean() ? (num.get<bool>() ? 1 : 0) : num.get<int64_t>());
      double x = num.is_boolean() ? (num.get<bool>() ? 1.0 : 0.0) : num.get<double>(), scale = std::pow(10.0, static_cast<double>(precision));
      // "common" is Python's round(): halves go to the even neighbour.
      double r = how == "ceil" ? std::ceil(x * scale) / scale : how == "floor" ? std::floor(x * scale) / scale
                                                                               : std::nearbyint(x * scale) / scale;
      return Value::of(r);
    }
    if (f == "reverse") {
      if (v.is_string()) {
        std::vector<uint32_t> cps = code_points(v.data.get<std::string>());
        std::reverse(cps.begin(), cps.end());
        return Value::of(from_code_points(cps, 0, cps.size()));
      }
      std::vector<Json> items = iterate(v);
      std::reverse(items.begin(), items.end());
      return generator(Json(items));  // a list_reverseiterator
    }
    if (f == "attr") {
      if (args.empty()) fail("attr takes a name");
      return get_attr(v, str_arg(args[0], "attr"));
    }
    if (f == "dictsort") {
      bool case_sensitive = false, reverse = false;
      std::string by = "key";
      if (auto x = arg(0, "case_sensitive")) case_sensitive = truthy(*x);
      if (auto x = arg(1, "by")) by = str_arg(*x, "dictsort");
      if (auto x = arg(2, "reverse")) reverse = truthy(*x);
      if (by != "key" && by != "value") fail("You can only sort by either \"key\" or \"value\"");
      if (!(v.is_data() && v.data.is_object())) fail("dictsort needs a mapping");
      std::vector<Json> items;
      for (auto it = v.data.begin(); it != v.data.end(); ++it) items.push_back(Json::array({key_value(it.key()), it.value()}));
      size_t pos = by == "key" ? 0 : 1;
      std::stable_sort(items.begin(), items.end(), [&](const Json& a, const Json& b) {
        int c = compare(sort_key(a[pos], case_sensitive), sort_key(b[pos], case_sensitive));
        return reverse ? c > 0 : c < 0;
      });
      return Value::of(Json(items));
    }
    if (f == "sort" || f == "unique" || f == "min" || f == "max") {
      bool case_sensitive = false, reverse = false;
      std::optional<Value> attribute;
      if (f == "sort") {
        if (auto x = arg(0, "reverse")) reverse = truthy(*x);
        if (auto x = arg(1, "case_sensitive")) case_sensitive = truthy(*x);
        attribute = arg(2, "attribute");
      } else {
        if (auto x = arg(0, "case_sensitive")) case_sensitive = truthy(*x);
        attribute = arg(1, "attribute");
      }
      std::vector<Json> items = iterate(v);
      std::vector<std::string> attrs;
      if (attribute) {
        std::string list = to_output(*attribute);
        for (const Json& part : split(list, std::string(","), -1)) attrs.push_back(py_strip(part.get<std::string>(), std::nullopt, true, true));
      }
      auto key_of = [&](const Json& item) {
        if (attrs.empty()) return sort_key(item, case_sensitive);
        Json key = Json::array();
        for (const std::string& a : attrs) {
          Value x = item_attribute(item, a);
          key.push_back(sort_key(x.is_undefined() ? Json() : x.data, case_sensitive));
        }
        return attrs.size() == 1 ? key[0] : key;
      };
      if (f == "unique") {
        std::vector<Json> seen, out;
        for (const Json& item : items) {
          if (attrs.empty() && (item.is_array() || item.is_object()))
            fail(cat("unhashable type: ", item.is_array() ? "'list'" : "'dict'"));
          Json k = key_of(item);
          if (std::any_of(seen.begin(), seen.end(), [&](const Json& s) { return equal(s, k); })) continue;
          seen.push_back(k);
          out.push_back(item);
        }
        return generator(Json(out));
      }
      if (f == "min" || f == "max") {
        if (items.empty()) return Value::undefined(cat("no ", f, " item"));
        size_t best = 0;
        for (size_t k = 1; k < items.size(); ++k) {
          int c = compare(key_of(items[k]), key_of(items[best]));
          if (f == "min" ? c < 0 : c > 0) best = k;
        }
        return Value::of(items[best]);
      }
      std::stable_sort(items.begin(), items.end(), [&](const Json& a, const Json& b) {
        int c = compare(key_of(a), key_of(b));
        return reverse ? c > 0 : c < 0;
      });
      return Value::of(Json(items));
    }
    if (f == "sum") {
      std::optional<Value> attribute = arg(0, "attribute");
      Value total = arg(1, "start").value_or(Value::of(0));
      for (const Json& item : iterate(v)) {
        Value x = attribute ? item_attribute(item, to_output(*attribute)) : Value::of(item);
        total = arithmetic("+", total, x);
      }
      return total;
    }
    if (f == "selectattr" || f == "rejectattr" || f == "select" || f == "reject") {
      bool attr_form = f == "selectattr" || f == "rejectattr";
      bool keep_if = f == "selectattr" || f == "select";
      size_t k = 0;
      std::string attribute;
      if (attr_form) {
        if (args.empty()) fail(cat(f, " needs an attribute name"));
        attribute = str_arg(args[k++], f);
      }
      std::string test = k < args.size() ? str_arg(args[k++], f) : "";
      std::vector<Value> test_args(args.begin() + static_cast<std::ptrdiff_t>(std::min(k, args.size())), args.end());
      Json out = Json::array();
      if (!truthy(v)) return generator(out);  // jinja2 walks the sequence only `if value`
      for (const Json& item : iterate(v)) {
        Value x = attr_form ? item_attribute(item, attribute) : Value::of(item);
        bool r = test.empty() ? truthy(x) : apply_test(test, x, test_args);
        if (r == keep_if) out.push_back(item);
      }
      return generator(out);
    }
    if (f == "map") {
      Json out = Json::array();
      if (!truthy(v)) return generator(out);
      if (auto attribute = kwarg(kwargs, "attribute")) {
        std::optional<Value> dflt = kwarg(kwargs, "default");
        for (const Json& item : iterate(v)) {
          Value x = item_attribute(item, to_output(*attribute));
          if (x.is_undefined() && dflt) x = *dflt;
          out.push_back(x.is_undefined() ? Json() : as_json(x));  // jinja2 yields an Undefined here
        }
        return generator(out);
      }
      if (args.empty()) fail("map needs a filter name or attribute=");
      std::string filter = str_arg(args[0], "map");
      std::vector<Value> rest(args.begin() + 1, args.end());
      for (const Json& item : iterate(v)) out.push_back(as_json(apply_filter(filter, Value::of(item), rest, kwargs)));
      return generator(out);
    }
    if (f == "format") {  // str(value) % args
      Json list = Json::array();
      for (const Value& a : args) list.push_back(as_json(a));
      Value tuple = Value::of(list);
      tuple.tuple = true;
      return Value::of(percent_format(to_output(v), tuple));
    }
    if (f == "batch") {
      if (args.empty()) fail("batch takes a line count");
      int64_t n = int_arg(args[0], "batch");
      if (n <= 0) fail("batch: the line count must be positive");
      std::optional<Value> fill = arg(1, "fill_with");
      Json out = Json::array(), cur = Json::array();
      for (const Json& item : iterate(v)) {
        cur.push_back(item);
        if (static_cast<int64_t>(cur.size()) == n) {
          out.push_back(cur);
          cur = Json::array();
        }
      }
      if (!cur.empty()) {
        if (fill && !(fill->is_data() && fill->data.is_null()))
          while (static_cast<int64_t>(cur.size()) < n) cur.push_back(as_json(*fill));
        out.push_back(cur);
      }
      return generator(out);
    }
    if (f == "center") {
      Value w = arg(0, "width").value_or(Value::of(80));
      return string_method(to_output(v), "center", {w}, {});
    }
    if (f == "wordcount") {  // runs of \w
      int64_t words = 0;
      bool in_word = false;
      for (uint32_t c : code_points(to_output(v))) {
        bool w = c == '_' || u_isalnum(static_cast<UChar32>(c));
        words += w && !in_word;
        in_word = w;
      }
      return Value::of(words);
    }
    fail(cat("unsupported filter ", quote(f)));
  }

  bool apply_test(const std::string& t, const Value& v, const std::vector<Value>& args) {
    bool takes_arg = is_in(t, {"eq", "equalto", "==", "ne", "!=", "sameas", "in", "gt", "greaterthan", ">", "ge", ">=",
                               "lt", "lessthan", "<", "le", "<=", "divisibleby"});
    if (!takes_arg && !args.empty()) fail(cat("test_", t, "() takes 1 positional argument but ", args.size() + 1, " were given"));
    if (t == "defined") return !v.is_undefined();
    if (t == "undefined") return v.is_undefined();
    auto need_arg = [&]() -> const Value& {
      if (args.empty()) fail(cat("the ", t, " test needs an argument"));
      return args[0];
    };
    // jinja2's Undefined has __call__ (which raises), so it counts as callable.
    if (t == "callable")
      return v.kind == Value::Kind::kFunction || v.kind == Value::Kind::kMethod || v.kind == Value::Kind::kMacro ||
             v.is_undefined();
    if (t == "lower" || t == "upper") {  // str(value).islower() / .isupper()
      std::string s = to_output(v);
      bool cased = false;
      for (uint32_t c : code_points(s)) {
        if (t == "lower" ? u_isUUppercase(static_cast<UChar32>(c)) || u_istitle(static_cast<UChar32>(c))
                         : u_isULowercase(static_cast<UChar32>(c)) || u_istitle(static_cast<UChar32>(c)))
          return false;
        cased |= u_hasBinaryProperty(static_cast<UChar32>(c), UCHAR_CASED);
      }
      return cased;
    }
    if (t == "even" || t == "odd" || t == "divisibleby") {  // value % n == 0, as Python computes it
      Value n = t == "divisibleby" ? need_arg() : Value::of(2);
      Json r = arithmetic("%", v, n).data;
      return equal(r, Json(t == "odd" ? 1 : 0));
    }
    if (is_in(t, {"eq", "equalto", "==", "ne", "!="})) {
      bool eq = equal_values(v, need_arg());
      return t == "ne" || t == "!=" ? !eq : eq;
    }
    if (t == "sameas") {
      const Value& o = need_arg();
      if (v.is_data() && o.is_data() && (v.data.is_null() || v.data.is_boolean()) && v.data == o.data) return true;
      if (v.kind == Value::Kind::kNamespace && o.kind == Value::Kind::kNamespace) return v.ns == o.ns;
      return false;
    }
    if (t == "in") {
      const Value& hay = need_arg();
      if (hay.is_undefined()) return false;
      return contains(hay, v);
    }
    if (is_in(t, {"gt", "greaterthan", ">", "ge", ">=", "lt", "lessthan", "<", "le", "<="})) {
      int c = compare(as_json(v), as_json(need_arg()));
      if (t == "gt" || t == "greaterthan" || t == ">") return c > 0;
      if (t == "ge" || t == ">=") return c >= 0;
      if (t == "lt" || t == "lessthan" || t == "<") return c < 0;
      return c <= 0;
    }
    if (v.is_undefined()) {
      if (t == "iterable" || t == "sequence") return true;  // jinja2's Undefined has __iter__ and __len__
      if (is_in(t, {"none", "string", "number", "integer", "float", "boolean", "true", "false", "mapping",
                    "lower", "upper", "escaped"}))
        return false;
    }
    if (v.kind != Value::Kind::kData) {
      if (is_in(t, {"none", "string", "number", "integer", "float", "boolean", "true", "false", "mapping", "sequence",
                    "iterable", "lower", "upper", "escaped"}))
        return false;
    }
    const Json& j = v.data;
    if (t == "none") return j.is_null();
    if (t == "string") return j.is_string();
    if (t == "number") return j.is_number() || j.is_boolean();  // Python's bool is a Number
    if (t == "integer") return j.is_number_integer();
    if (t == "float") return j.is_number_float();
    if (t == "boolean") return j.is_boolean();
    if (t == "true") return j.is_boolean() && j.get<bool>();
    if (t == "false") return j.is_boolean() && !j.get<bool>();
    if (t == "mapping") return j.is_object();
    if (t == "iterable" || t == "sequence") return j.is_array() || j.is_object() || j.is_string();
    if (t == "escaped") return false;
    fail(cat("unsupported test ", quote(t)));
  }

  bool contains(const Value& hay_v, const Value& needle) {
    Json hay = as_json(hay_v);
    if (hay.is_string()) return hay.get_ref<const std::string&>().find(str_arg(needle, "'in <string>'")) != std::string::npos;
    if (hay.is_array()) {
      if (needle.is_undefined()) return false;
      Json x = as_json(needle);
      return std::any_of(hay.begin(), hay.end(), [&](const Json& y) { return equal(y, x); });
    }
    if (hay.is_object()) {
      if (needle.is_data() && !needle.tuple && (needle.data.is_array() || needle.data.is_object()))
        fail(cat("unhashable type: ", needle.data.is_array() ? "'list'" : "'dict'"));
      if (needle.is_string()) return hay.contains(needle.data.get<std::string>());
      if (needle.is_data() && needle.data.is_number_integer()) return hay.contains(int_key(needle.data.get<int64_t>()));
      if (needle.is_data() && needle.data.is_boolean()) return hay.contains(int_key(needle.data.get<bool>() ? 1 : 0));  // True == 1
      return false;
    }
    fail(cat("argument of type ", type_name(hay_v), " is not iterable"));
  }

  Value binary(const Expr& e) {
    const std::string& op = e.name;
    Value a = eval(*e.a), b = eval(*e.b);
    if (op == "==" || op == "!=") {
      bool eq = equal_values(a, b);
      return Value::of(op == "==" ? eq : !eq);
    }
    if (op == "in") {
      bool r = b.is_undefined() ? false : contains(b, a);
      return Value::of(e.negated ? !r : r);
    }
    if (op == "~") return Value::of(to_output(a) + to_output(b));
    if (op == "<" || op == ">" || op == "<=" || op == ">=") {
      if (a.tuple != b.tuple && a.is_data() && b.is_data() && a.data.is_array() && b.data.is_array())
        fail(cat("'", op, "' not supported between instances of 'tuple' and 'list'"));
      int c = compare(as_json(a), as_json(b));
      bool r = op == "<" ? c < 0 : op == ">" ? c > 0 : op == "<=" ? c <= 0 : c >= 0;
      return Value::of(r);
    }
    return arithmetic(op, a, b);
  }

  static std::string html_escape(const std::string& s) {
    std::string out;
    for (char c : s) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&#34;"; break;
        case '\'': out += "&#39;"; break;
        default: out += c;
      }
    }
    return out;
  }

  // Python's str % args for %s, %d, %i, %r-free templates; a mapping on the right with no fields
  // formats to the string itself.
  std::string percent_format(const std::string& fmt, const Value& rhs) {
    // Python takes a tuple as the arguments, anything else as one argument; a dict or list (which
    // have __getitem__) may go unused.
    std::vector<Value> args;
    bool may_go_unused = rhs.is_undefined() || (rhs.is_data() && (rhs.data.is_object() || (rhs.data.is_array() && !rhs.tuple)));
    if (rhs.tuple && rhs.data.is_array()) {
      for (const Json& x : rhs.data) args.push_back(Value::of(x));
    } else {
      args.push_back(rhs);
    }
    std::string out;
    size_t next = 0;
    for (size_t i = 0; i < fmt.size(); ++i) {
      if (fmt[i] != '%') { out += fmt[i]; continue; }
      if (i + 1 < fmt.size() && fmt[i + 1] == '%') { out += '%'; ++i; continue; }
      if (i + 1 >= fmt.size() || !is_in(std::string(1, fmt[i + 1]), {"s", "d", "i"}))
        fail("string formatting: only %s, %d and %% are supported");
      if (next >= args.size()) fail("not enough arguments for format string");
      const Value& a = args[next++];
      out += fmt[i + 1] == 's' ? to_output(a) : std::to_string(int_arg(apply_filter("int", a, {}, {}), "%d"));
      ++i;
    }
    if (next < args.size() && !may_go_unused) fail("not all arguments converted during string formatting");
    return out;
  }

  Value arithmetic(const std::string& op, const Value& a, const Value& b) {
    if (op == "%" && a.is_string()) return Value::of(percent_format(a.data.get<std::string>(), b));
    if (op == "+" && (a.markup || b.markup) && (a.is_string() || a.markup) && (b.is_string() || b.markup)) {
      // markupsafe's Markup + str escapes the str, and the sum is Markup again.
      auto part = [&](const Value& v) { return v.markup ? v.data.get<std::string>() : html_escape(v.data.get<std::string>()); };
      Value r = Value::of(part(a) + part(b));
      r.markup = true;
      return r;
    }
    Json x = as_json(a), y = as_json(b);
    auto num = [](const Json& j) { return j.is_number() || j.is_boolean(); };
    auto as_int = [](const Json& j) -> int64_t { return j.is_boolean() ? (j.get<bool>() ? 1 : 0) : j.get<int64_t>(); };
    auto as_dbl = [](const Json& j) -> double { return j.is_boolean() ? (j.get<bool>() ? 1.0 : 0.0) : j.get<double>(); };
    if (op == "+") {
      if (x.is_string() && y.is_string()) return Value::of(x.get<std::string>() + y.get<std::string>());
      if (x.is_array() && y.is_array()) {
        if (a.tuple != b.tuple) fail(a.tuple ? "can only concatenate tuple (not \"list\") to tuple"
                                             : "can only concatenate list (not \"tuple\") to list");
        Json list = x;
        for (const Json& item : y) list.push_back(item);
        Value r = Value::of(list);
        r.tuple = a.tuple;
        return r;
      }
    }
    if (num(x) && num(y)) {
      bool ints = !x.is_number_float() && !y.is_number_float();
      if (ints && op != "/") {
        int64_t p = as_int(x), q = as_int(y);
        int64_t r;
        if (op == "+" && __builtin_add_overflow(p, q, &r)) fail("integer too large for zeroth (64 bits)");
        if (op == "-" && __builtin_sub_overflow(p, q, &r)) fail("integer too large for zeroth (64 bits)");
        if (op == "*" && __builtin_mul_overflow(p, q, &r)) fail("integer too large for zeroth (64 bits)");
        if (op == "+" || op == "-" || op == "*") return Value::of(r);
        if (op == "**") {
          if (q < 0) {
            if (p == 0) fail("0.0 cannot be raised to a negative power");
            return Value::of(std::pow(static_cast<double>(p), static_cast<double>(q)));
          }
          int64_t r = 1, base = p;  // by squaring; Python's ints are unbounded, ours stop at 64 bits
          for (int64_t e = q; e > 0; e >>= 1) {
            if ((e & 1) && __builtin_mul_overflow(r, base, &r)) fail("integer too large for zeroth (64 bits)");
            if (e > 1 && __builtin_mul_overflow(base, base, &base)) fail("integer too large for zeroth (64 bits)");
          }
          return Value::of(r);
        }
        if (q == 0) fail("integer division or modulo by zero");
        if (op == "//") { int64_t r = p / q; if ((p % q != 0) && ((p < 0) != (q < 0))) --r; return Value::of(r); }
        if (op == "%") { int64_t r = p % q; if (r != 0 && ((r < 0) != (q < 0))) r += q; return Value::of(r); }
      }
      double p = as_dbl(x), q = as_dbl(y);
      if (op == "+") return Value::of(p + q);
      if (op == "-") return Value::of(p - q);
      if (op == "*") return Value::of(p * q);
      if (op == "**") {
        if (p == 0 && q < 0) fail("0.0 cannot be raised to a negative power");
        // A negative number to a fractional power is complex in Python; zeroth has no complex
        // numbers and gives NaN (true, like the complex result, but it prints as nan).
        return Value::of(std::pow(p, q));
      }
      if (q == 0) fail("division by zero");
      if (op == "/") return Value::of(p / q);
      // Python's float divmod: the remainder takes the divisor's sign, zeros keep theirs.
      double mod = std::fmod(p, q), div = (p - mod) / q;
      if (mod != 0) {
        if ((q < 0) != (mod < 0)) {
          mod += q;
          div -= 1.0;
        }
      } else {
        mod = std::copysign(0.0, q);
      }
      double floordiv;
      if (div != 0) {
        floordiv = std::floor(div);
        if (div - floordiv > 0.5) floordiv += 1.0;
      } else {
        floordiv = std::copysign(0.0, p / q);
      }
      if (op == "//") return Value::of(floordiv);
      if (op == "%") return Value::of(mod);
    }
    if (op == "*" && ((x.is_string() || x.is_array()) && (y.is_number_integer() || y.is_boolean()))) {
      check_size(static_cast<double>(x.is_string() ? x.get_ref<const std::string&>().size() : x.size()) *
                 static_cast<double>(as_int(y)));
      Json out = x.is_string() ? Json("") : Json::array();
      for (int64_t k = 0; k < as_int(y); ++k) {
        if (x.is_string()) out.get_ref<std::string&>() += x.get<std::string>();
        else for (const Json& item : x) out.push_back(item);
      }
      Value r = Value::of(out);
      r.tuple = a.tuple;
      return r;
    }
    if (op == "*" && ((y.is_string() || y.is_array()) && (x.is_number_integer() || x.is_boolean()))) return arithmetic(op, b, a);
    fail(cat("unsupported operand type(s) for ", op, ": a ", type_name(a), " and a ", type_name(b)));
  }

  std::string name_;
  std::time_t now_;
  int line_ = 0;
  int call_depth_ = 0;
};

bool is_frame(const Node& n) {
  return n.kind == Node::Kind::kFor || n.kind == Node::Kind::kSetBlock || n.kind == Node::Kind::kFilterBlock ||
         n.kind == Node::Kind::kMacro || n.kind == Node::Kind::kCallBlock;
}

// The names a frame mentions at its own level (read or assigned; nested frames excluded).
void frame_refs(const Body& body, std::set<std::string>& refs) {
  for (const auto& node : body) {
    const Node& n = *node;
    if (n.expr) expr_names(*n.expr, refs);
    for (const auto& [cond, branch] : n.branches) {
      if (cond) expr_names(*cond, refs);
      frame_refs(branch, refs);
    }
    if (n.kind == Node::Kind::kSet || n.kind == Node::Kind::kSetBlock) refs.insert(n.targets[0]);
    if (n.kind == Node::Kind::kSet && !n.attribute) refs.insert(n.targets.begin(), n.targets.end());
    if (n.kind == Node::Kind::kMacro) refs.insert(n.text);
    if (n.kind == Node::Kind::kBlock) frame_refs(n.body, refs);
  }
}

// Every frame below `body` (whose ancestors mention `outer`): the names it assigns before reading
// that no ancestor mentions. jinja2 starts such a name undefined in the frame (an ancestor's
// mention would make it an alias of the ancestor's value instead), so frames nested in it see it
// undefined until the assignment runs.
void analyze_frames(Body& body, const std::set<std::string>& outer) {
  for (auto& node : body) {
    Node& n = *node;
    std::set<std::string> inner_outer = outer;
    if (is_frame(n)) {
      std::set<std::string> declared, late;
      if (n.kind == Node::Kind::kFor || n.kind == Node::Kind::kMacro)
        declared.insert(n.targets.begin(), n.targets.end());
      declared.insert("loop");
      declared.insert("caller");
      late_bound_names(n.body, false, declared, late);
      for (const std::string& name : late)
        if (!outer.count(name)) n.late.insert(name);
      frame_refs(n.body, inner_outer);
      if (n.kind == Node::Kind::kFor || n.kind == Node::Kind::kMacro) inner_outer.insert(n.targets.begin(), n.targets.end());
      analyze_frames(n.body, inner_outer);
      analyze_frames(n.else_body, outer);
    } else {
      analyze_frames(n.body, outer);
      for (auto& [cond, branch] : n.branches) analyze_frames(branch, outer);
    }
  }
}

}  // namespace

ChatTemplate::ChatTemplate(const std::string& source, const Json& special_tokens, const std::string& name)
    : special_tokens_(special_tokens), name_(name) {
  auto program = std::make_shared<Program>();
  program->name = name;
  Parser parser(lex_template(source, name), name);
  program->body = parser.parse_all();
  std::set<std::string> declared;
  late_bound_names(program->body, false, declared, program->late_bound);
  std::set<std::string> root_refs;
  frame_refs(program->body, root_refs);
  analyze_frames(program->body, root_refs);
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
  Renderer r(name_, fixed_now_ ? static_cast<std::time_t>(*fixed_now_) : std::time(nullptr));
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
  r.scopes.back().late = &program_->late_bound;
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
