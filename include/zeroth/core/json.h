// JSON files with comments, and JsonReader: typed access by JSON path with precise errors.
// Every error names the source (file) and the JSON path ("recipes/x.json: stages[1].lr: expected a
// number, got \"1e-5\" (a string)"). Keys read through a reader are remembered, so after reading a
// config object, reject_unknown_keys() turns typos into errors with a did-you-mean suggestion.
//
//   JsonReader root(load_json(path), path);
//   double lr = root.at("optimizer").get_or<double>("lr", 1e-6);
//   root.reject_unknown_keys();   // "recipes/x.json: lrr: unknown key; did you mean \"lr\"?"
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "zeroth/core/error.h"

namespace zeroth {

// Insertion-ordered JSON: output keeps the order of input and of code.
using Json = nlohmann::ordered_json;

// Parses JSON text that may contain // and /* */ comments. `source` names it in errors, which give
// line and column.
Json parse_json(const std::string& text, const std::string& source);
// Reads and parses a file (comments allowed); errors name the file.
Json load_json(const std::string& path);

// One line of a JSONL input: parse_json after a size check. Both bounds are errors naming
// `source`: lines over jsonl_max_line_bytes() (64 MiB; ZEROTH_JSONL_MAX_LINE_BYTES) and, for every
// parse_json, nesting deeper than json_max_depth() (512; ZEROTH_JSON_MAX_DEPTH).
Json parse_jsonl_line(const std::string& line, const std::string& source);
size_t jsonl_max_line_bytes();
size_t json_max_depth();

// "a number", "a string", ... for messages.
std::string json_type_name(const Json& value);

class JsonReader {
 public:
  // Reads `value`, which must outlive the reader and its children.
  JsonReader(const Json& value, std::string source, std::string path = "");
  // A reader that owns its document: JsonReader::owning(load_json(path), path).
  static JsonReader owning(Json value, std::string source);

  const Json& json() const { return *value_; }
  const std::string& source() const { return source_; }
  // JSON path of this value: "" for the root, "stages[1].optimizer".
  const std::string& path() const { return path_; }
  // "source: path" for messages.
  std::string where(const std::string& key = "") const;
  std::string child_path(const std::string& key) const;

  bool is_object() const { return value_->is_object(); }
  bool is_array() const { return value_->is_array(); }
  bool has(const std::string& key) const;
  size_t size() const;

  // Object member or array element as a reader. at(key) on a missing key is an error naming it.
  JsonReader at(const std::string& key) const;
  JsonReader at(size_t index) const;
  std::vector<JsonReader> items() const;   // the elements of an array (error if not an array)
  std::vector<std::string> keys() const;   // the keys of an object, in order

  // Typed access. T: bool, int, int64_t, double, std::string, std::vector<T>, Json.
  template <typename T> T as() const;                                       // this value
  template <typename T> T get(const std::string& key) const;                // required member
  template <typename T> T get_or(const std::string& key, T fallback) const; // optional member
  template <typename T> std::optional<T> opt(const std::string& key) const;

  // Marks a key as known without reading it (e.g. keys handled elsewhere).
  void mark_used(const std::string& key) const;
  // Error if the object has a key that was never read: names it and suggests the closest known one.
  void reject_unknown_keys() const;

  // Throws Error("source: path: message").
  [[noreturn]] void fail(const std::string& message) const;

 private:
  void require_object() const;

  std::shared_ptr<const Json> owner_;   // keeps a parsed document alive when the reader owns it
  const Json* value_;
  std::string source_;
  std::string path_;
  // Keys read so far, per JSON path; shared by a root and all readers derived from it, so that
  // root.at("a").get<int>("b") is remembered when root.at("a").reject_unknown_keys() runs later.
  std::shared_ptr<std::map<std::string, std::set<std::string>>> used_;
};

namespace detail {
template <typename T> struct JsonAs;
template <> struct JsonAs<bool> { static bool read(const JsonReader& r); };
template <> struct JsonAs<int64_t> { static int64_t read(const JsonReader& r); };
template <> struct JsonAs<int> { static int read(const JsonReader& r); };
template <> struct JsonAs<double> { static double read(const JsonReader& r); };
template <> struct JsonAs<std::string> { static std::string read(const JsonReader& r); };
template <> struct JsonAs<Json> { static Json read(const JsonReader& r) { return r.json(); } };
template <typename T> struct JsonAs<std::vector<T>> {
  static std::vector<T> read(const JsonReader& r) {
    std::vector<T> out;
    for (const auto& item : r.items()) out.push_back(JsonAs<T>::read(item));
    return out;
  }
};
}  // namespace detail

template <typename T> T JsonReader::as() const { return detail::JsonAs<T>::read(*this); }
template <typename T> T JsonReader::get(const std::string& key) const { return at(key).as<T>(); }
template <typename T> T JsonReader::get_or(const std::string& key, T fallback) const {
  mark_used(key);
  if (!has(key) || (*value_)[key].is_null()) return fallback;
  return at(key).as<T>();
}
template <typename T> std::optional<T> JsonReader::opt(const std::string& key) const {
  mark_used(key);
  if (!has(key) || (*value_)[key].is_null()) return std::nullopt;
  return at(key).as<T>();
}

}  // namespace zeroth
