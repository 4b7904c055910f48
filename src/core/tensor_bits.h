// A bf16 tensor's storage as raw bits, for zeroth's CPU kernels, which read and write bf16 as
// uint16_t (core/bf16.h converts). The tensor must be bf16; strides stay the caller's business.
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace zeroth {

inline uint16_t* bf16_bits(const at::Tensor& t) { return reinterpret_cast<uint16_t*>(t.data_ptr<at::BFloat16>()); }

}  // namespace zeroth
