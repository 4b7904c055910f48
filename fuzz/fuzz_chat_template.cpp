// libFuzzer target: a chat template of any bytes parses or raises zeroth::Error, and one that
// parses renders a fixed conversation or raises zeroth::Error (raise_exception, bad types) without
// crashing or hanging. Run: scripts/fuzz.sh chat_template [seconds].
#include <cstddef>
#include <cstdint>
#include <string>

#include "zeroth/core/error.h"
#include "zeroth/core/json.h"
#include "zeroth/text/chat_template.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const zeroth::Json messages = zeroth::Json::parse(R"([
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "2+2?"},
    {"role": "assistant", "content": "<think>easy</think>4"},
    {"role": "user", "content": "and 3+3?"}])");
  static const zeroth::Json special = zeroth::Json::parse(R"({"bos_token": "<s>", "eos_token": "</s>"})");
  const std::string source(reinterpret_cast<const char*>(data), size);
  try {
    zeroth::text::ChatTemplate tmpl(source, special, "fuzz");
    tmpl.render(messages, /*add_generation_prompt=*/true);
  } catch (const zeroth::Error&) {
  }
  return 0;
}
