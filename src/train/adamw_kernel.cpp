// See adamw_kernel.h. Three paths, chosen from cpu_isa(): the generic loops compiled for AVX-512
// (GCC vectorizes them there), explicit AVX2+FMA loops (8 lanes, bf16 widened by a shift and
// rounded to nearest even as float_to_bf16_bits), and the same generic loops for any x86-64.
// Compiled with -fno-math-errno (and without the torch precompiled header, which that flag
// invalidates): sqrt must not set errno for the loops to vectorize.
#include "train/adamw_kernel.h"

#include "core/bf16.h"
#include "core/parallel.h"
#include "model/simd.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>


namespace zeroth::train {
namespace {

using model::kernels::load8;
using model::kernels::store8;

inline __attribute__((always_inline)) void adamw_loop(float* w, float* m, float* v, const uint16_t* g, uint16_t* p, int64_t n, const FusedAdamWScalars& k) {
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

inline __attribute__((always_inline)) double sum_squares_loop(const uint16_t* g, int64_t n) {
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

__attribute__((target("avx512f"))) void adamw_avx512(float* w, float* m, float* v, const uint16_t* g, uint16_t* p,
                                                     int64_t n, const FusedAdamWScalars& k) {
  adamw_loop(w, m, v, g, p, n, k);
}
void adamw_generic(float* w, float* m, float* v, const uint16_t* g, uint16_t* p, int64_t n, const FusedAdamWScalars& k) {
  adamw_loop(w, m, v, g, p, n, k);
}

__attribute__((target("avx2,fma"))) void adamw_avx2(float* w, float* m, float* v, const uint16_t* g, uint16_t* p,
                                                    int64_t n, const FusedAdamWScalars& k) {
  const __m256 coef = _mm256_set1_ps(k.coef), decay = _mm256_set1_ps(k.decay), b1 = _mm256_set1_ps(k.b1),
               b2 = _mm256_set1_ps(k.b2), one_minus_b1 = _mm256_set1_ps(k.one_minus_b1),
               one_minus_b2 = _mm256_set1_ps(k.one_minus_b2), inv_sqrt_bc2 = _mm256_set1_ps(k.inv_sqrt_bc2),
               eps = _mm256_set1_ps(k.eps), step_size = _mm256_set1_ps(k.step_size);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 gi = _mm256_mul_ps(load8(g + i), coef);
    const __m256 mi = _mm256_add_ps(_mm256_mul_ps(load8(m + i), b1), _mm256_mul_ps(one_minus_b1, gi));
    const __m256 vi = _mm256_add_ps(_mm256_mul_ps(load8(v + i), b2), _mm256_mul_ps(_mm256_mul_ps(one_minus_b2, gi), gi));
    const __m256 denom = _mm256_add_ps(_mm256_mul_ps(_mm256_sqrt_ps(vi), inv_sqrt_bc2), eps);
    const __m256 wi = _mm256_sub_ps(_mm256_mul_ps(load8(w + i), decay),
                                    _mm256_div_ps(_mm256_mul_ps(step_size, mi), denom));
    store8(m + i, mi);
    store8(v + i, vi);
    store8(w + i, wi);
    store8(p + i, wi);
  }
  adamw_generic(w + i, m + i, v + i, g + i, p + i, n - i, k);
}

__attribute__((target("avx512f"))) double sum_squares_avx512(const uint16_t* g, int64_t n) { return sum_squares_loop(g, n); }
double sum_squares_generic(const uint16_t* g, int64_t n) { return sum_squares_loop(g, n); }

// As sum_squares_loop: 16 fp32 lanes (two registers of 8) over runs of 1024 values, then double.
__attribute__((target("avx2,fma"))) double sum_squares_avx2(const uint16_t* g, int64_t n) {
  double total = 0;
  int64_t i = 0;
  while (i + 16 <= n) {
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    const int64_t end = std::min(n, i + 1024) & ~int64_t{15};
    for (; i < end; i += 16) {
      const __m256 a = load8(g + i), b = load8(g + i + 8);
      lo = _mm256_fmadd_ps(a, a, lo);
      hi = _mm256_fmadd_ps(b, b, hi);
    }
    alignas(32) float lanes[16];
    _mm256_store_ps(lanes, lo);
    _mm256_store_ps(lanes + 8, hi);
    for (float a : lanes) total += a;
  }
  for (; i < n; ++i) total += static_cast<double>(bf16_bits_to_float(g[i])) * bf16_bits_to_float(g[i]);
  return total;
}

void adamw_range(float* w, float* m, float* v, const uint16_t* g, uint16_t* p, int64_t n, const FusedAdamWScalars& k) {
  if (model::kernels::cpu_has_avx512()) {
    adamw_avx512(w, m, v, g, p, n, k);
  } else if (model::kernels::cpu_has_avx2()) {
    adamw_avx2(w, m, v, g, p, n, k);
  } else {
    adamw_generic(w, m, v, g, p, n, k);
  }
}

double sum_squares_range(const uint16_t* g, int64_t n) {
  if (model::kernels::cpu_has_avx512()) return sum_squares_avx512(g, n);
  if (model::kernels::cpu_has_avx2()) return sum_squares_avx2(g, n);
  return sum_squares_generic(g, n);
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
