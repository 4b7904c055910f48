// libFuzzer target: every JSONL reader goes through parse_jsonl_line. Any byte string must parse
// or raise zeroth::Error, and a parsed value must print and be walked without crashing (the
// nesting limit keeps dump()'s recursion bounded). Run: scripts/fuzz.sh json [seconds].
#include <cstddef>
#include <cstdint>
#include <string>

#include "zeroth/core/error.h"
#include "zeroth/core/json.h"

namespace {

void walk(const zeroth::JsonReader& r) {
  if (r.is_object()) {
    for (const auto& key : r.keys()) walk(r.at(key));
    r.reject_unknown_keys();  // every key was read above: must not throw
  } else if (r.is_array()) {
    for (const auto& item : r.items()) walk(item);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  try {
    zeroth::Json value = zeroth::parse_jsonl_line(text, "fuzz:1");
    const std::string printed = value.dump(-1, ' ', false, zeroth::Json::error_handler_t::replace);
    // What zeroth prints it reads back as the same value (UTF-8 input; replaced bytes aside).
    if (printed.find("\xEF\xBF\xBD") == std::string::npos &&
        zeroth::parse_json(printed, "fuzz:printed") != value) {
      __builtin_trap();
    }
    walk(zeroth::JsonReader(value, "fuzz"));
  } catch (const zeroth::Error&) {
  }
  return 0;
}
