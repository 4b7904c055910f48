// The mixed-precision AdamW update in one pass over memory (used by AdamW::step for contiguous CPU
// bf16 parameters). Torch ops make ~10 passes over the 4-byte arrays (and a fp32 copy of the
// gradient); this reads the bf16 gradient and the fp32 master and moments once and writes them
// and the bf16 parameter once. Arithmetic as the op path, in fp32:
//   g = grad * coef;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
//   w = w * decay - step_size * m / (sqrt(v) * inv_sqrt_bc2 + eps);  param = bf16(w)  (nearest even)
// Both functions split the work over LibTorch's intra-op threads.
#pragma once

#include <cstdint>

namespace zeroth::train {

struct FusedAdamWScalars {
  float coef = 1, decay = 1, b1 = 0, b2 = 0, one_minus_b1 = 0, one_minus_b2 = 0, inv_sqrt_bc2 = 1, eps = 0, step_size = 0;
};

// w, m, v: n fp32; grad, param: n bf16 (raw bits).
void fused_adamw_bf16(float* w, float* m, float* v, const uint16_t* grad, uint16_t* param, int64_t n,
                      const FusedAdamWScalars& k);

// Sum of squares of n bf16 values, accumulated in fp32 blocks and summed in double.
double bf16_sum_squares(const uint16_t* values, int64_t n);

}  // namespace zeroth::train
