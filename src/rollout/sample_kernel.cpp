// See sample_kernel.h. AVX-512 loops where the CPU has it, AVX2+FMA loops where it has those
// (cpu_isa()); plain loops (the same block order and the same polynomial exp) elsewhere.
#include "rollout/sample_kernel.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/parallel.h"
#include "model/simd.h"

namespace zeroth::rollout::kernels {
namespace {

using model::kernels::fast_exp;
constexpr int64_t kLanes = 16;
constexpr float kFloor = -87.0f;  // e^-87 ~ 1.6e-38: below it a token has no mass

inline float mass(float x) { return x > kFloor ? fast_exp(x) : 0.0f; }

float row_max_plain(const float* z, int64_t V) { return *std::max_element(z, z + V); }

// One block z[i, end) of the scan: its fp32 sum of e_j = mass(z_j - m) goes into acc (double). With
// `found`, if the running sum passes `stop` inside the block, *found is set and true returned.
bool scan_block(const float* z, int64_t i, int64_t end, float m, double& acc, double stop, int64_t* found) {
  float block = 0.0f;
  for (int64_t j = i; j < end; ++j) block += mass(z[j] - m);
  if (found && acc + block > stop) {
    double run = acc;
    for (int64_t j = i; j < end; ++j) {
      run += mass(z[j] - m);
      if (run > stop) {
        *found = j;
        acc = run;
        return true;
      }
    }
  }
  acc += block;
  return false;
}

// The sum of e_j over the row in blocks of 16 (or, with `found`, the scan to the first index where
// the running sum exceeds `stop`; -1 if none).
double exp_scan_plain(const float* z, int64_t V, float m, double stop, int64_t* found) {
  double acc = 0;
  for (int64_t i = 0; i < V; i += kLanes) {
    if (scan_block(z, i, std::min(V, i + kLanes), m, acc, stop, found)) break;
  }
  return acc;
}

__attribute__((target("avx512f"))) float row_max_avx512(const float* z, int64_t V) {
  __m512 m = _mm512_set1_ps(-std::numeric_limits<float>::infinity());
  int64_t i = 0;
  for (; i + kLanes <= V; i += kLanes) m = _mm512_max_ps(m, _mm512_loadu_ps(z + i));
  float out = _mm512_reduce_max_ps(m);
  for (; i < V; ++i) out = std::max(out, z[i]);
  return out;
}

__attribute__((target("avx512f"))) inline __m512 mass16(const float* z, __m512 m) {
  const __m512 x = _mm512_sub_ps(_mm512_loadu_ps(z), m);
  const __mmask16 keep = _mm512_cmp_ps_mask(x, _mm512_set1_ps(kFloor), _CMP_GT_OQ);
  return _mm512_maskz_mov_ps(keep, model::kernels::exp16(x));
}

__attribute__((target("avx512f"))) double exp_scan_avx512(const float* z, int64_t V, float m, double stop,
                                                          int64_t* found) {
  const __m512 vm = _mm512_set1_ps(m);
  double acc = 0;
  int64_t i = 0;
  for (; i + kLanes <= V; i += kLanes) {
    const __m512 e = mass16(z + i, vm);
    const float block = _mm512_reduce_add_ps(e);
    if (found && acc + block > stop) {
      alignas(64) float lanes[kLanes];
      _mm512_store_ps(lanes, e);
      double run = acc;
      for (int64_t j = 0; j < kLanes; ++j) {
        run += lanes[j];
        if (run > stop) {
          *found = i + j;
          return run;
        }
      }
    }
    acc += block;
  }
  if (i < V) scan_block(z, i, V, m, acc, stop, found);
  return acc;
}

// AVX2 + FMA: blocks of 16 as two 8-lane halves, added in fp32 as one block.
__attribute__((target("avx2,fma"))) float row_max_avx2(const float* z, int64_t V) {
  __m256 m = _mm256_set1_ps(-std::numeric_limits<float>::infinity());
  int64_t i = 0;
  for (; i + 8 <= V; i += 8) m = _mm256_max_ps(m, _mm256_loadu_ps(z + i));
  float out = model::kernels::reduce_max8(m);
  for (; i < V; ++i) out = std::max(out, z[i]);
  return out;
}

__attribute__((target("avx2,fma"))) inline __m256 mass8(const float* z, __m256 m) {
  const __m256 x = _mm256_sub_ps(_mm256_loadu_ps(z), m);
  const __m256 keep = _mm256_cmp_ps(x, _mm256_set1_ps(kFloor), _CMP_GT_OQ);
  return _mm256_and_ps(keep, model::kernels::exp8(x));
}

__attribute__((target("avx2,fma"))) double exp_scan_avx2(const float* z, int64_t V, float m, double stop,
                                                         int64_t* found) {
  const __m256 vm = _mm256_set1_ps(m);
  double acc = 0;
  int64_t i = 0;
  for (; i + kLanes <= V; i += kLanes) {
    const __m256 lo = mass8(z + i, vm), hi = mass8(z + i + 8, vm);
    const float block = model::kernels::reduce_add8(_mm256_add_ps(lo, hi));
    if (found && acc + block > stop) {
      alignas(32) float lanes[kLanes];
      _mm256_store_ps(lanes, lo);
      _mm256_store_ps(lanes + 8, hi);
      double run = acc;
      for (int64_t j = 0; j < kLanes; ++j) {
        run += lanes[j];
        if (run > stop) {
          *found = i + j;
          return run;
        }
      }
    }
    acc += block;
  }
  if (i < V) scan_block(z, i, V, m, acc, stop, found);
  return acc;
}

// The path, from cpu_isa(): AVX-512, AVX2 + FMA, or the plain loops.
float row_max(const float* z, int64_t V) {
  if (model::kernels::cpu_has_avx512()) return row_max_avx512(z, V);
  if (model::kernels::cpu_has_avx2()) return row_max_avx2(z, V);
  return row_max_plain(z, V);
}
double exp_scan(const float* z, int64_t V, float m, double stop, int64_t* found) {
  if (model::kernels::cpu_has_avx512()) return exp_scan_avx512(z, V, m, stop, found);
  if (model::kernels::cpu_has_avx2()) return exp_scan_avx2(z, V, m, stop, found);
  return exp_scan_plain(z, V, m, stop, found);
}

void sample_row(const float* z, const float* y, int64_t V, double u, int64_t* id, float* sampling_lp, float* policy_lp) {
  const float m = row_max(z, V);
  const double s = exp_scan(z, V, m, 0.0, nullptr);
  int64_t token = -1;
  exp_scan(z, V, m, u * s, &token);
  if (token < 0) {  // rounding at the very end: the last token with mass
    token = V - 1;
    while (token > 0 && !(z[token] - m > kFloor)) --token;
  }
  *id = token;
  *sampling_lp = static_cast<float>(static_cast<double>(z[token] - m) - std::log(s));
  if (y == z) {
    *policy_lp = *sampling_lp;
    return;
  }
  const float my = row_max(y, V);
  const double sy = exp_scan(y, V, my, 0.0, nullptr);
  *policy_lp = static_cast<float>(static_cast<double>(y[token] - my) - std::log(sy));
}

}  // namespace

void sample_rows(const float* processed, const float* raw, int64_t rows, int64_t V, const double* uniforms,
                 int64_t* ids, float* sampling_logprobs, float* policy_logprobs) {
  at::parallel_for(0, rows, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t r = lo; r < hi; ++r) {
      sample_row(processed + r * V, raw + r * V, V, uniforms[r], ids + r, sampling_logprobs + r, policy_logprobs + r);
    }
  });
}

}  // namespace zeroth::rollout::kernels
