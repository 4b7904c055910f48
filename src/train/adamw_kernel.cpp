// See adamw_kernel.h. Compiled with -fno-math-errno (and without the torch precompiled header,
// which that flag invalidates): sqrt must not set errno for the loop to vectorize.
#include "train/adamw_kernel.h"

#include "core/bf16.h"
#include "core/parallel.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>


namespace zeroth::train {
namespace {

__attribute__((target_clones("avx512f", "avx2", "default")))
void adamw_range(float* w, float* m, float* v, const uint16_t* g, uint16_t* p, int64_t n, const FusedAdamWScalars& k) {
  for (int64_t i = 0; i < n; ++i) {
    const float gi = bf16_bits_to_float(g[i]) * k.coef;
    const float mi = m[i] * k.b1 + k.one_minus_b1 * gi;
    const float vi = v[i] * k.b2 + k.one_minus_b2 * gi * gi;
    const float wi = w[i] * k.decay - k.step_size * mi / (std::sqrt(vi) * k.inv_sqrt_bc2 + k.eps);
    m[i] = mi;
    v[i] = vi;
    w[i] = wi;
    p[i] = float_to_bf16_bits(wi);
  }
}

__attribute__((target_clones("avx512f", "avx2", "default")))
double sum_squares_range(const uint16_t* g, int64_t n) {
  // 16 fp32 lanes over runs of 1024 values (64 adds per lane), then summed in double.
  double total = 0;
  int64_t i = 0;
  while (i + 16 <= n) {
    float acc[16] = {};
    const int64_t end = std::min(n, i + 1024) & ~int64_t{15};
    for (; i < end; i += 16) {
      for (int j = 0; j < 16; ++j) {
        const float x = bf16_bits_to_float(g[i + j]);
        acc[j] += x * x;
      }
    }
    for (float a : acc) total += a;
  }
  for (; i < n; ++i) total += static_cast<double>(bf16_bits_to_float(g[i])) * bf16_bits_to_float(g[i]);
  return total;
}

}  // namespace

void fused_adamw_bf16(float* w, float* m, float* v, const uint16_t* grad, uint16_t* param, int64_t n,
                      const FusedAdamWScalars& k) {
  at::parallel_for(0, n, 1 << 15, [&](int64_t lo, int64_t hi) {
    adamw_range(w + lo, m + lo, v + lo, grad + lo, param + lo, hi - lo, k);
  });
}

double bf16_sum_squares(const uint16_t* values, int64_t n) {
  constexpr int64_t kBlock = 1 << 16;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> parts(static_cast<size_t>(blocks), 0.0);
  at::parallel_for(0, blocks, 16, [&](int64_t lo, int64_t hi) {
    for (int64_t b = lo; b < hi; ++b) {
      parts[static_cast<size_t>(b)] = sum_squares_range(values + b * kBlock, std::min(kBlock, n - b * kBlock));
    }
  });
  return std::accumulate(parts.begin(), parts.end(), 0.0);
}

}  // namespace zeroth::train
