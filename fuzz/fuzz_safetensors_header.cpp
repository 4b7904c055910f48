// libFuzzer target: the safetensors header parser must reject any byte string with zeroth::Error
// and never crash, hang or read out of bounds. Run: scripts/fuzz_safetensors.sh [seconds].
#include <cstddef>
#include <cstdint>

#include "zeroth/core/error.h"
#include "zeroth/core/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    zeroth::StHeader header = zeroth::parse_safetensors_header(data, size, "fuzz");
    // A header that passed validation must describe bytes inside the input.
    for (const auto& t : header.tensors) {
      if (header.data_start + t.end > size) __builtin_trap();
    }
  } catch (const zeroth::Error&) {
  }
  return 0;
}
