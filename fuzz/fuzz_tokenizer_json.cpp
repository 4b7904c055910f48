// libFuzzer target: a tokenizer.json of any bytes loads or raises zeroth::Error; one that loads
// encodes and decodes a fixed text without crashing. Run: scripts/fuzz.sh tokenizer [seconds].
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "zeroth/core/error.h"
#include "zeroth/text/tokenizer.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The loader reads files: one per process, rewritten for every input.
  static const std::string path = "/tmp/zeroth_fuzz_tokenizer_" + std::to_string(::getpid()) + ".json";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  try {
    auto tok = zeroth::text::Tokenizer::from_file(path);
    auto ids = tok.encode("Hello, world! 12345 <think>é</think>\n");
    tok.decode(ids, /*skip_special_tokens=*/false);
  } catch (const zeroth::Error&) {
  }
  return 0;
}
