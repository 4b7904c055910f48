// See logprob_kernel.h. Compiled with -fno-math-errno and without the torch precompiled header
// (model/sources.cmake). Reductions keep 16 fp32 lanes over runs of 1024 values, then sum in
// double, so that the compiler can vectorize them without reassociating anything itself.
#include "model/logprob_kernel.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include <ATen/Parallel.h>

namespace zeroth::model::kernels {
namespace {

inline float load(const float* p, int64_t i) { return p[i]; }
inline float load(const uint16_t* p, int64_t i) {
  const uint32_t u = static_cast<uint32_t>(p[i]) << 16;
  float f;
  std::memcpy(&f, &u, sizeof f);
  return f;
}
inline void store(float* p, int64_t i, float v) { p[i] = v; }
inline void store(uint16_t* p, int64_t i, float v) {  // round to nearest even, as torch converts
  uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  const uint32_t nan = 0u - ((0x7F800000u - (u & 0x7FFFFFFFu)) >> 31);  // all ones for NaN, no compare
  const uint32_t rounded = u + 0x7FFFu + ((u >> 16) & 1u);
  p[i] = static_cast<uint16_t>(((rounded & ~nan) | (0x7FC00000u & nan)) >> 16);  // branch-free: it vectorizes
}

// e^x for x <= ~88: 2^(x log2 e) = 2^k 2^f, k = round(x log2 e), f in [-1/2, 1/2], 2^f by its
// Taylor series to degree 7 (truncation < 1e-8 relative). Inputs below -87 give ~1e-38 (not 0).
inline float fast_exp(float x) {
  x = x < -87.0f ? -87.0f : x;
  const float t = x * 1.44269504088896341f;
  const float k = (t + 12582912.0f) - 12582912.0f;  // round to nearest (1.5 * 2^23 trick)
  const float f = (t - k) * 0.693147180559945309f;  // in [-ln2/2, ln2/2]: e^f
  float p = 1.0f / 5040;
  p = p * f + 1.0f / 720;
  p = p * f + 1.0f / 120;
  p = p * f + 1.0f / 24;
  p = p * f + 1.0f / 6;
  p = p * f + 0.5f;
  p = p * f + 1.0f;
  p = p * f + 1.0f;
  const int32_t bits = (static_cast<int32_t>(k) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return p * scale;
}

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
  for (; i < V; ++i) {
    const float z = load(x, i);
    const float e = fast_exp(z - m);
    s += e;
    t += static_cast<double>(e) * z;
  }
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

template <typename T>
void forward_range(const T* logits, int64_t lo, int64_t hi, int64_t V, int64_t stride, const int64_t* targets,
                   float* lse, float* logp, float* entropy) {
  for (int64_t r = lo; r < hi; ++r) {
    const T* x = logits + r * stride;
    const float m = row_max(x, V);
    double s, t;
    row_exp_sums(x, V, m, s, t);
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
    row_grad(x, V, lse[r], g, e, H);
    if (has_target && g != 0.0f) {
      // the onehot term, recomputed from the logit read before the row was overwritten
      const float p = fast_exp(zy - lse[r]);
      store(x, targets[r], -p * (g + e * (zy - lse[r] + H)) + g);
    }
  }
}

// The ISA-specific entry points: one clone per target; the row loops above inline into them.
__attribute__((target_clones("avx512f", "avx2", "default"), flatten))
void forward_f32(const float* logits, int64_t lo, int64_t hi, int64_t V, int64_t stride, const int64_t* targets,
                 float* lse, float* logp, float* entropy) {
  forward_range(logits, lo, hi, V, stride, targets, lse, logp, entropy);
}
__attribute__((target_clones("avx512f", "avx2", "default"), flatten))
void forward_bf16(const uint16_t* logits, int64_t lo, int64_t hi, int64_t V, int64_t stride, const int64_t* targets,
                  float* lse, float* logp, float* entropy) {
  forward_range(logits, lo, hi, V, stride, targets, lse, logp, entropy);
}
__attribute__((target_clones("avx512f", "avx2", "default"), flatten))
void backward_f32(float* logits, int64_t lo, int64_t hi, int64_t V, int64_t stride, const int64_t* targets,
                  const float* lse, const float* entropy, const float* g_logp, const float* g_entropy) {
  backward_range(logits, lo, hi, V, stride, targets, lse, entropy, g_logp, g_entropy);
}
__attribute__((target_clones("avx512f", "avx2", "default"), flatten))
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
