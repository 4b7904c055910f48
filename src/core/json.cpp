// JSON loading with comments and the JsonReader's typed, path-aware access.
#include "zeroth/core/json.h"

#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>
#include <vector>

#include "zeroth/core/fs.h"

namespace zeroth {

namespace {

// A limit from the environment variable `name`, else `fallback`.
size_t limit_from_env(const char* name, size_t fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(value, &end, 10);
  if (*end != '\0' || n == 0) throw Error(cat(name, "=", quote(value), ": expected a positive integer"));
  return static_cast<size_t>(n);
}

// Error when brackets nest deeper than the limit: nlohmann parses any depth, but printing or
// destroying a 70,000-deep value recurses once per level and overflows the stack.
void check_nesting(const std::string& text, const std::string& source) {
  const size_t max_depth = json_max_depth();
  size_t depth = 0, line = 1;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (c == '\n') ++line;
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) {
        throw Error(cat(source, ":", line, ": JSON nested deeper than ", max_depth,
                        " levels (raise ZEROTH_JSON_MAX_DEPTH if this is real data)"));
      }
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
}

}  // namespace

size_t json_max_depth() {
  static const size_t depth = limit_from_env("ZEROTH_JSON_MAX_DEPTH", 512);
  return depth;
}

size_t jsonl_max_line_bytes() {
  static const size_t bytes = limit_from_env("ZEROTH_JSONL_MAX_LINE_BYTES", size_t{64} << 20);
  return bytes;
}

Json parse_jsonl_line(const std::string& line, const std::string& source) {
  if (line.size() > jsonl_max_line_bytes()) {
    throw Error(cat(source, ": the line has ", line.size(), " bytes, more than the limit of ", jsonl_max_line_bytes(),
                    " (raise ZEROTH_JSONL_MAX_LINE_BYTES if this is real data)"));
  }
  return parse_json(line, source);
}

Json parse_json(const std::string& text, const std::string& source) {
  check_nesting(text, source);
  // Duplicate keys: nlohmann keeps the last silently; a recipe with "lr" twice is a mistake.
  std::vector<std::set<std::string>> keys;  // one set per open object
  Json::parser_callback_t on_event = [&](int, Json::parse_event_t event, Json& parsed) {
    if (event == Json::parse_event_t::object_start) {
      keys.emplace_back();
    } else if (event == Json::parse_event_t::object_end) {
      keys.pop_back();
    } else if (event == Json::parse_event_t::key && !keys.back().insert(parsed.get<std::string>()).second) {
      throw Error(cat(source, ": duplicate key ", quote(parsed.get<std::string>()),
                      " in one object (only one may stay: JSON readers keep the last one silently)"));
    }
    return true;
  };
  try {
    return Json::parse(text, on_event, /*allow_exceptions=*/true, /*ignore_comments=*/true);
  } catch (const nlohmann::json::parse_error& e) {
    // e.byte is the 1-based offset of the error; turn it into line and column.
    size_t line = 1, column = 1;
    for (size_t i = 0; i + 1 < e.byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        column = 1;
      } else {
        ++column;
      }
    }
    std::string what = e.what();
    // nlohmann's text: "[json.exception.parse_error.101] parse error at line 1, column 5: ..."
    auto colon = what.find(": ", what.find("parse error"));
    std::string detail = colon == std::string::npos ? what : what.substr(colon + 2);
    throw Error(cat(source, ":", line, ":", column, ": invalid JSON: ", detail));
  } catch (const nlohmann::json::exception& e) {
    // Not a syntax error but a value nlohmann cannot hold (a number like 1e400: out_of_range.406).
    std::string what = e.what();
    const auto bracket = what.find("] ");
    throw Error(cat(source, ": invalid JSON: ", bracket == std::string::npos ? what : what.substr(bracket + 2)));
  }
}

Json load_json(const std::string& path) { return parse_json(read_file(path), path); }

std::string json_type_name(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null: return "null";
    case Json::value_t::boolean: return "a boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned: return "an integer";
    case Json::value_t::number_float: return "a number";
    case Json::value_t::string: return "a string";
    case Json::value_t::array: return "an array";
    case Json::value_t::object: return "an object";
    default: return "a binary value";
  }
}

static std::string show(const Json& value) {
  std::string text = value.dump();
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return text + " (" + json_type_name(value) + ")";
}

JsonReader::JsonReader(const Json& value, std::string source, std::string path)
    : value_(&value), source_(std::move(source)), path_(std::move(path)),
      used_(std::make_shared<std::map<std::string, std::set<std::string>>>()) {}

JsonReader JsonReader::owning(Json value, std::string source) {
  auto owner = std::make_shared<const Json>(std::move(value));
  JsonReader reader(*owner, std::move(source));
  reader.owner_ = owner;
  return reader;
}

std::string JsonReader::child_path(const std::string& key) const {
  return path_.empty() ? key : path_ + "." + key;
}

std::string JsonReader::where(const std::string& key) const {
  std::string p = key.empty() ? path_ : child_path(key);
  if (p.empty()) return source_;
  return source_ + ": " + p;
}

void JsonReader::fail(const std::string& message) const { throw Error(where() + ": " + message); }

void JsonReader::require_object() const {
  if (!value_->is_object()) fail("expected an object, got " + show(*value_));
}

bool JsonReader::has(const std::string& key) const {
  return value_->is_object() && value_->contains(key);
}

size_t JsonReader::size() const { return value_->is_structured() ? value_->size() : 0; }

JsonReader JsonReader::at(const std::string& key) const {
  require_object();
  mark_used(key);
  auto it = value_->find(key);
  if (it == value_->end()) throw Error(where(key) + ": missing required key");
  JsonReader child(*it, source_, child_path(key));
  child.owner_ = owner_;
  child.used_ = used_;
  return child;
}

JsonReader JsonReader::at(size_t index) const {
  if (!value_->is_array()) fail("expected an array, got " + show(*value_));
  if (index >= value_->size()) fail(cat("index ", index, " out of range (", value_->size(), " items)"));
  JsonReader child((*value_)[index], source_, cat(path_, "[", index, "]"));
  child.owner_ = owner_;
  child.used_ = used_;
  return child;
}

std::vector<JsonReader> JsonReader::items() const {
  if (!value_->is_array()) fail("expected an array, got " + show(*value_));
  std::vector<JsonReader> out;
  for (size_t i = 0; i < value_->size(); ++i) out.push_back(at(i));
  return out;
}

std::vector<std::string> JsonReader::keys() const {
  require_object();
  std::vector<std::string> out;
  for (auto it = value_->begin(); it != value_->end(); ++it) out.push_back(it.key());
  return out;
}

void JsonReader::mark_used(const std::string& key) const { (*used_)[path_].insert(key); }

void JsonReader::reject_unknown_keys() const {
  require_object();
  const std::set<std::string>& used = (*used_)[path_];
  std::vector<std::string> known(used.begin(), used.end());
  for (auto it = value_->begin(); it != value_->end(); ++it) {
    if (used.count(it.key())) continue;
    std::string message = where(it.key()) + ": unknown key";
    std::string suggestion = did_you_mean(it.key(), known);
    if (!suggestion.empty()) {
      message += "; did you mean " + quote(suggestion) + "?";
    } else if (!known.empty()) {
      std::string list;
      for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
      message += " (known keys: " + list + ")";
    }
    throw Error(message);
  }
}

namespace detail {

bool JsonAs<bool>::read(const JsonReader& r) {
  if (!r.json().is_boolean()) r.fail("expected true or false, got " + show(r.json()));
  return r.json().get<bool>();
}

int64_t JsonAs<int64_t>::read(const JsonReader& r) {
  const Json& v = r.json();
  if (v.is_number_integer()) return v.get<int64_t>();
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) r.fail("integer out of range");
    return static_cast<int64_t>(u);
  }
  if (v.is_number_float()) {
    double d = v.get<double>();
    // 1e3 or 4.0 are accepted as integers; 0.5 is not.
    if (std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.0e15) return static_cast<int64_t>(d);
    r.fail("expected an integer, got " + show(v));
  }
  std::string hint = v.is_string() ? "; remove the quotes" : "";
  r.fail("expected an integer, got " + show(v) + hint);
}

int JsonAs<int>::read(const JsonReader& r) {
  int64_t v = JsonAs<int64_t>::read(r);
  if (v < std::numeric_limits<int>::min() || v > std::numeric_limits<int>::max()) {
    r.fail(cat("integer ", v, " out of range"));
  }
  return static_cast<int>(v);
}

double JsonAs<double>::read(const JsonReader& r) {
  const Json& v = r.json();
  if (!v.is_number()) {
    std::string hint = v.is_string() ? "; remove the quotes" : "";
    r.fail("expected a number, got " + show(v) + hint);
  }
  return v.get<double>();
}

std::string JsonAs<std::string>::read(const JsonReader& r) {
  if (!r.json().is_string()) r.fail("expected a string, got " + show(r.json()));
  return r.json().get<std::string>();
}

}  // namespace detail
}  // namespace zeroth
