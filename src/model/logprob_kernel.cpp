// See logprob_kernel.h. Rows go through explicit AVX-512 loops where the CPU has AVX-512, AVX2+FMA
// loops (8 lanes) where it has those (both chosen once at start-up from cpu_isa()), else through
// generic loops (16 fp32 lanes over runs of 1024 values, then summed in double). The AVX-512 loops measured 10x (forward) and 5.5x (backward) faster than
// what GCC 12 made of the generic ones: 1024 x 151,936 bf16 logits in 31 ms / 81 ms on 2 threads.
// Compiled with -fno-math-errno and without the torch precompiled header (model/sources.cmake).
#include "model/logprob_kernel.h"

#include "core/bf16.h"
#include "core/parallel.h"
#include "model/simd.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include <immintrin.h>


namespace zeroth::model::kernels {
namespace {

inline float load(const float* p, int64_t i) { return p[i]; }
inline float load(const uint16_t* p, int64_t i) { return bf16_bits_to_float(p[i]); }
inline void store(float* p, int64_t i, float v) { p[i] = v; }
inline void store(uint16_t* p, int64_t i, float v) { p[i] = float_to_bf16_bits(v); }

constexpr int64_t kLanes = 16;
constexpr int64_t kRun = 1024;

template <typename T>
float row_max(const T* x, int64_t V) {
  float lanes[kLanes];
  std::fill(lanes, lanes + kLanes, -std::numeric_limits<float>::infinity());
  int64_t i = 0;
  for (; i + kLanes <= V; i += kLanes) {
    for (int64_t j = 0; j < kLanes; ++j) lanes[j] = std::max(lanes[j], load(x, i + j));
  }
  float m = *std::max_element(lanes, lanes + kLanes);
  for (; i < V; ++i) m = std::max(m, load(x, i));
  return m;
}

// The scalar end of a row (after the last full group of 16) for the exp-sums below.
template <typename T>
void exp_sums_tail(const T* x, int64_t i, int64_t V, float m, double& s, double& t) {
  for (; i < V; ++i) {
    const float z = load(x, i);
    const float e = fast_exp(z - m);
    s += e;
    t += static_cast<double>(e) * z;
  }
}

// s = sum exp(x - m), t = sum exp(x - m) x.
template <typename T>
void row_exp_sums(const T* x, int64_t V, float m, double& s, double& t) {
  s = 0;
  t = 0;
  int64_t i = 0;
  while (i + kLanes <= V) {
    float ls[kLanes] = {}, lt[kLanes] = {};
    const int64_t end = i + std::min<int64_t>(kRun, (V - i) / kLanes * kLanes);
    for (; i < end; i += kLanes) {
      for (int64_t j = 0; j < kLanes; ++j) {
        const float z = load(x, i + j);
        const float e = fast_exp(z - m);
        ls[j] += e;
        lt[j] += e * z;
      }
    }
    for (int64_t j = 0; j < kLanes; ++j) {
      s += ls[j];
      t += lt[j];
    }
  }
  exp_sums_tail(x, i, V, m, s, t);
}

template <typename T>
void row_grad(T* x, int64_t V, float lse, float g, float e, float H) {
  // out_j = -p_j (g + e (z_j - lse + H)),  p_j = exp(z_j - lse)
  const float c = g + e * (H - lse);
  for (int64_t i = 0; i < V; ++i) {
    const float z = load(x, i);
    const float p = fast_exp(z - lse);
    store(x, i, -p * (c + e * z));
  }
}


// ---- AVX-512 rows (explicit: the compiler did not vectorize the generic loops well enough) ----

template <typename T>
__attribute__((target("avx512f"))) float row_max_avx512(const T* x, int64_t V) {
  __m512 m = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  int64_t i = 0;
  for (; i + 16 <= V; i += 16) m = _mm512_max_ps(m, load16(x + i));
  float out = _mm512_reduce_max_ps(m);
  for (; i < V; ++i) out = std::max(out, load(x, i));
  return out;
}

template <typename T>
__attribute__((target("avx512f"))) void row_exp_sums_avx512(const T* x, int64_t V, float m, double& s, double& t) {
  s = 0;
  t = 0;
  const __m512 vm = _mm512_set1_ps(m);
  int64_t i = 0;
  while (i + 16 <= V) {
    __m512 ls = _mm512_setzero_ps(), lt = _mm512_setzero_ps();
    const int64_t end = i + std::min<int64_t>(kRun, (V - i) / 16 * 16);
    for (; i < end; i += 16) {
      const __m512 z = load16(x + i);
      const __m512 e = exp16(_mm512_sub_ps(z, vm));
      ls = _mm512_add_ps(ls, e);
      lt = _mm512_fmadd_ps(e, z, lt);
    }
    s += _mm512_reduce_add_ps(ls);
    t += _mm512_reduce_add_ps(lt);
  }
  exp_sums_tail(x, i, V, m, s, t);
}

template <typename T>
__attribute__((target("avx512f"))) void row_grad_avx512(T* x, int64_t V, float lse, float g, float e, float H) {
  const float c = g + e * (H - lse);
  const __m512 vl = _mm512_set1_ps(lse), vc = _mm512_set1_ps(c), ve = _mm512_set1_ps(e);
  int64_t i = 0;
  for (; i + 16 <= V; i += 16) {
    const __m512 z = load16(x + i);
    const __m512 p = exp16(_mm512_sub_ps(z, vl));
    store16(x + i, _mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), p), _mm512_fmadd_ps(ve, z, vc)));
  }
  for (; i < V; ++i) {
    const float z = load(x, i);
    store(x, i, -fast_exp(z - lse) * (c + e * z));
  }
}

// ---- AVX2 + FMA rows: the AVX-512 loops in 8 lanes (runs of 1024 values still end in double) ----

template <typename T>
__attribute__((target("avx2,fma"))) float row_max_avx2(const T* x, int64_t V) {
  __m256 m = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  int64_t i = 0;
  for (; i + 8 <= V; i += 8) m = _mm256_max_ps(m, load8(x + i));
  float out = reduce_max8(m);
  for (; i < V; ++i) out = std::max(out, load(x, i));
  return out;
}

template <typename T>
__attribute__((target("avx2,fma"))) void row_exp_sums_avx2(const T* x, int64_t V, float m, double& s, double& t) {
  s = 0;
  t = 0;
  const __m256 vm = _mm256_set1_ps(m);
  int64_t i = 0;
  while (i + 8 <= V) {
    __m256 ls = _mm256_setzero_ps(), lt = _mm256_setzero_ps();
    const int64_t end = i + std::min<int64_t>(kRun, (V - i) / 8 * 8);
    for (; i < end; i += 8) {
      const __m256 z = load8(x + i);
      const __m256 e = exp8(_mm256_sub_ps(z, vm));
      ls = _mm256_add_ps(ls, e);
      lt = _mm256_fmadd_ps(e, z, lt);
    }
    s += reduce_add8(ls);
    t += reduce_add8(lt);
  }
  exp_sums_tail(x, i, V, m, s, t);
}

template <typename T>
__attribute__((target("avx2,fma"))) void row_grad_avx2(T* x, int64_t V, float lse, float g, float e, float H) {
  const float c = g + e * (H - lse);
  const __m256 vl = _mm256_set1_ps(lse), vc = _mm256_set1_ps(c), ve = _mm256_set1_ps(e);
  int64_t i = 0;
  for (; i + 8 <= V; i += 8) {
    const __m256 z = load8(x + i);
    const __m256 p = exp8(_mm256_sub_ps(z, vl));
    store8(x + i, _mm256_mul_ps(_mm256_sub_ps(_mm256_setzero_ps(), p), _mm256_fmadd_ps(ve, z, vc)));
  }
  for (; i < V; ++i) {
    const float z = load(x, i);
    store(x, i, -fast_exp(z - lse) * (c + e * z));
  }
}

// The path, chosen once from cpu_isa(): AVX-512, AVX2 + FMA, or the generic loops.
const bool kHasAvx512 = cpu_has_avx512();
const bool kHasAvx2 = cpu_has_avx2();

template <typename T>
float row_max_any(const T* x, int64_t V) {
  return kHasAvx512 ? row_max_avx512(x, V) : kHasAvx2 ? row_max_avx2(x, V) : row_max(x, V);
}
template <typename T>
void row_exp_sums_any(const T* x, int64_t V, float m, double& s, double& t) {
  if (kHasAvx512) {
    row_exp_sums_avx512(x, V, m, s, t);
  } else if (kHasAvx2) {
    row_exp_sums_avx2(x, V, m, s, t);
  } else {
    row_exp_sums(x, V, m, s, t);
  }
}
template <typename T>
void row_grad_any(T* x, int64_t V, float lse, float g, float e, float H) {
  if (kHasAvx512) {
    row_grad_avx512(x, V, lse, g, e, H);
  } else if (kHasAvx2) {
    row_grad_avx2(x, V, lse, g, e, H);
  } else {
    row_grad(x, V, lse, g, e, H);
  }
}

template <typename T>
void forward_range(const T* logits, int64_t lo, int64_t hi, int64_t V, int64_t stride, const int64_t* targets,
                   float* lse, float* logp, float* entropy) {
  for (int64_t r = lo; r < hi; ++r) {
    const T* x = logits + r * stride;
    const float m = row_max_any(x, V);
    double s, t;
    row_exp_sums_any(x, V, m, s, t);
    const double l = static_cast<double>(m) + std::log(s);
    lse[r] = static_cast<float>(l);
    logp[r] = targets[r] >= 0 ? static_cast<float>(load(x, targets[r]) - l) : 0.0f;
    if (entropy) entropy[r] = static_cast<float>(l - t / s);
  }
}

template <typename T>
void backward_range(T* logits, int64_t lo, int64_t hi, int64_t V, int64_t stride, const int64_t* targets,
                    const float* lse, const float* entropy, const float* g_logp, const float* g_entropy) {
  for (int64_t r = lo; r < hi; ++r) {
    T* x = logits + r * stride;
    const bool has_target = targets[r] >= 0;
    const float g = g_logp && has_target ? g_logp[r] : 0.0f;
    const float e = g_entropy ? g_entropy[r] : 0.0f;
    const float H = g_entropy ? entropy[r] : 0.0f;
    const float zy = has_target ? load(x, targets[r]) : 0.0f;
    row_grad_any(x, V, lse[r], g, e, H);
    if (has_target && g != 0.0f) {
      // the onehot term, recomputed from the logit read before the row was overwritten
      const float p = fast_exp(zy - lse[r]);
      store(x, targets[r], -p * (g + e * (zy - lse[r] + H)) + g);
    }
  }
}

void forward_f32(const float* logits, int64_t lo, int64_t hi, int64_t V, int64_t stride, const int64_t* targets,
                 float* lse, float* logp, float* entropy) {
  forward_range(logits, lo, hi, V, stride, targets, lse, logp, entropy);
}
void forward_bf16(const uint16_t* logits, int64_t lo, int64_t hi, int64_t V, int64_t stride, const int64_t* targets,
                  float* lse, float* logp, float* entropy) {
  forward_range(logits, lo, hi, V, stride, targets, lse, logp, entropy);
}
void backward_f32(float* logits, int64_t lo, int64_t hi, int64_t V, int64_t stride, const int64_t* targets,
                  const float* lse, const float* entropy, const float* g_logp, const float* g_entropy) {
  backward_range(logits, lo, hi, V, stride, targets, lse, entropy, g_logp, g_entropy);
}
void backward_bf16(uint16_t* logits, int64_t lo, int64_t hi, int64_t V, int64_t stride, const int64_t* targets,
                   const float* lse, const float* entropy, const float* g_logp, const float* g_entropy) {
  backward_range(logits, lo, hi, V, stride, targets, lse, entropy, g_logp, g_entropy);
}

}  // namespace

void logprob_rows_forward_f32(const float* logits, int64_t n, int64_t V, int64_t stride, const int64_t* targets,
                              float* lse, float* logp, float* entropy) {
  at::parallel_for(0, n, 1, [&](int64_t lo, int64_t hi) { forward_f32(logits, lo, hi, V, stride, targets, lse, logp, entropy); });
}

void logprob_rows_forward_bf16(const uint16_t* logits, int64_t n, int64_t V, int64_t stride, const int64_t* targets,
                               float* lse, float* logp, float* entropy) {
  at::parallel_for(0, n, 1, [&](int64_t lo, int64_t hi) { forward_bf16(logits, lo, hi, V, stride, targets, lse, logp, entropy); });
}

void logprob_rows_backward_f32(float* logits, int64_t n, int64_t V, int64_t stride, const int64_t* targets,
                               const float* lse, const float* entropy, const float* g_logp, const float* g_entropy) {
  at::parallel_for(0, n, 1, [&](int64_t lo, int64_t hi) {
    backward_f32(logits, lo, hi, V, stride, targets, lse, entropy, g_logp, g_entropy);
  });
}

void logprob_rows_backward_bf16(uint16_t* logits, int64_t n, int64_t V, int64_t stride, const int64_t* targets,
                                const float* lse, const float* entropy, const float* g_logp, const float* g_entropy) {
  at::parallel_for(0, n, 1, [&](int64_t lo, int64_t hi) {
    backward_bf16(logits, lo, hi, V, stride, targets, lse, entropy, g_logp, g_entropy);
  });
}

}  // namespace zeroth::model::kernels
