// bfloat16 <-> float on raw bits, for the CPU kernels that read and write bf16 tensors as uint16_t
// (model/logprob_kernel.cpp, train/adamw_kernel.cpp). Rounding is to nearest even with NaN kept
// quiet, as torch converts; written without branches so that loops over them vectorize.
#pragma once

#include <cstdint>
#include <cstring>

namespace zeroth {

inline float bf16_bits_to_float(uint16_t bits) {
  const uint32_t u = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}

inline uint16_t float_to_bf16_bits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  const uint32_t nan = 0u - ((0x7F800000u - (u & 0x7FFFFFFFu)) >> 31);  // all ones for NaN, no compare
  const uint32_t rounded = u + 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(((rounded & ~nan) | (0x7FC00000u & nan)) >> 16);
}

}  // namespace zeroth
