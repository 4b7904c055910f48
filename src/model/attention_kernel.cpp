// See attention_kernel.h. Per (row b, kv head h): rotate k and write it and v at the row's
// position of its slot; rotate the G = H / Kh query heads of the group into fp32; scores against
// keys 0..position, softmax, weighted sum of values. AVX-512 loops when the CPU has it and D is a
// multiple of 16, AVX2+FMA loops when cpu_isa() is avx2 and D a multiple of 8, plain loops otherwise.
#include "model/attention_kernel.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "core/bf16.h"
#include "core/parallel.h"
#include "model/simd.h"

namespace zeroth::model::kernels {
namespace {

// x cos + rotate_half(x) sin with HF's bf16 roundings (each product, then the sum).
inline float rotary_at(const uint16_t* x, const uint16_t* cos, const uint16_t* sin, int64_t d, int64_t D) {
  const int64_t half = D / 2;
  const float rotated = d < half ? -bf16_bits_to_float(x[d + half]) : bf16_bits_to_float(x[d - half]);
  const float a = bf16_bits_to_float(float_to_bf16_bits(bf16_bits_to_float(x[d]) * bf16_bits_to_float(cos[d])));
  const float b = bf16_bits_to_float(float_to_bf16_bits(rotated * bf16_bits_to_float(sin[d])));
  return bf16_bits_to_float(float_to_bf16_bits(a + b));
}

// scores[g][s] = scale q[g] . keys[s] for s < S; q: G rows of D fp32.
void scores_plain(const float* q, int64_t G, const uint16_t* keys, int64_t S, int64_t D, float scale, float* scores) {
  for (int64_t s = 0; s < S; ++s) {
    const uint16_t* key = keys + s * D;
    for (int64_t g = 0; g < G; ++g) {
      float dot = 0.0f;
      for (int64_t d = 0; d < D; ++d) dot += q[g * D + d] * bf16_bits_to_float(key[d]);
      scores[g * S + s] = dot * scale;
    }
  }
}

// out[g] = sum_s p[g][s] values[s] (p unnormalized), then / sum.
void weighted_values_plain(const float* p, const float* sums, int64_t G, const uint16_t* values, int64_t S, int64_t D,
                           float* acc) {
  std::fill(acc, acc + G * D, 0.0f);
  for (int64_t s = 0; s < S; ++s) {
    const uint16_t* value = values + s * D;
    for (int64_t g = 0; g < G; ++g) {
      const float w = p[g * S + s];
      for (int64_t d = 0; d < D; ++d) acc[g * D + d] += w * bf16_bits_to_float(value[d]);
    }
  }
  for (int64_t g = 0; g < G; ++g) {
    for (int64_t d = 0; d < D; ++d) acc[g * D + d] /= sums[g];
  }
}

void softmax_rows_plain(float* scores, int64_t G, int64_t S, float* sums) {
  for (int64_t g = 0; g < G; ++g) {
    float* row = scores + g * S;
    const float m = *std::max_element(row, row + S);
    float sum = 0.0f;
    for (int64_t s = 0; s < S; ++s) {
      row[s] = fast_exp(row[s] - m);
      sum += row[s];
    }
    sums[g] = sum;
  }
}

__attribute__((target("avx512f"))) void scores_avx512(const float* q, int64_t G, const uint16_t* keys, int64_t S,
                                                      int64_t D, float scale, float* scores) {
  for (int64_t s = 0; s < S; ++s) {
    const uint16_t* key = keys + s * D;
    for (int64_t g = 0; g < G; ++g) {
      __m512 acc = _mm512_setzero_ps();
      for (int64_t d = 0; d < D; d += 16) acc = _mm512_fmadd_ps(_mm512_loadu_ps(q + g * D + d), load16(key + d), acc);
      scores[g * S + s] = _mm512_reduce_add_ps(acc) * scale;
    }
  }
}

__attribute__((target("avx512f"))) void softmax_rows_avx512(float* scores, int64_t G, int64_t S, float* sums) {
  for (int64_t g = 0; g < G; ++g) {
    float* row = scores + g * S;
    const float m = *std::max_element(row, row + S);
    const __m512 vm = _mm512_set1_ps(m);
    __m512 vsum = _mm512_setzero_ps();
    int64_t s = 0;
    for (; s + 16 <= S; s += 16) {
      const __m512 e = exp16(_mm512_sub_ps(_mm512_loadu_ps(row + s), vm));
      _mm512_storeu_ps(row + s, e);
      vsum = _mm512_add_ps(vsum, e);
    }
    float sum = _mm512_reduce_add_ps(vsum);
    for (; s < S; ++s) {
      row[s] = fast_exp(row[s] - m);
      sum += row[s];
    }
    sums[g] = sum;
  }
}

__attribute__((target("avx512f"))) void weighted_values_avx512(const float* p, const float* sums, int64_t G,
                                                               const uint16_t* values, int64_t S, int64_t D,
                                                               float* acc) {
  std::fill(acc, acc + G * D, 0.0f);
  for (int64_t s = 0; s < S; ++s) {
    const uint16_t* value = values + s * D;
    for (int64_t d = 0; d < D; d += 16) {
      const __m512 v = load16(value + d);
      for (int64_t g = 0; g < G; ++g) {
        float* a = acc + g * D + d;
        _mm512_storeu_ps(a, _mm512_fmadd_ps(_mm512_set1_ps(p[g * S + s]), v, _mm512_loadu_ps(a)));
      }
    }
  }
  for (int64_t g = 0; g < G; ++g) {
    const __m512 inv = _mm512_set1_ps(1.0f / sums[g]);
    for (int64_t d = 0; d < D; d += 16) _mm512_storeu_ps(acc + g * D + d, _mm512_mul_ps(_mm512_loadu_ps(acc + g * D + d), inv));
  }
}

__attribute__((target("avx2,fma"))) void scores_avx2(const float* q, int64_t G, const uint16_t* keys, int64_t S,
                                                        int64_t D, float scale, float* scores) {
  for (int64_t s = 0; s < S; ++s) {
    const uint16_t* key = keys + s * D;
    for (int64_t g = 0; g < G; ++g) {
      __m256 acc = _mm256_setzero_ps();
      for (int64_t d = 0; d < D; d += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + g * D + d), load8(key + d), acc);
      scores[g * S + s] = reduce_add8(acc) * scale;
    }
  }
}

__attribute__((target("avx2,fma"))) void softmax_rows_avx2(float* scores, int64_t G, int64_t S, float* sums) {
  for (int64_t g = 0; g < G; ++g) {
    float* row = scores + g * S;
    const float m = *std::max_element(row, row + S);
    const __m256 vm = _mm256_set1_ps(m);
    __m256 vsum = _mm256_setzero_ps();
    int64_t s = 0;
    for (; s + 8 <= S; s += 8) {
      const __m256 e = exp8(_mm256_sub_ps(_mm256_loadu_ps(row + s), vm));
      _mm256_storeu_ps(row + s, e);
      vsum = _mm256_add_ps(vsum, e);
    }
    float sum = reduce_add8(vsum);
    for (; s < S; ++s) {
      row[s] = fast_exp(row[s] - m);
      sum += row[s];
    }
    sums[g] = sum;
  }
}

__attribute__((target("avx2,fma"))) void weighted_values_avx2(const float* p, const float* sums, int64_t G,
                                                                const uint16_t* values, int64_t S, int64_t D,
                                                                float* acc) {
  std::fill(acc, acc + G * D, 0.0f);
  for (int64_t s = 0; s < S; ++s) {
    const uint16_t* value = values + s * D;
    for (int64_t d = 0; d < D; d += 8) {
      const __m256 v = load8(value + d);
      for (int64_t g = 0; g < G; ++g) {
        float* a = acc + g * D + d;
        _mm256_storeu_ps(a, _mm256_fmadd_ps(_mm256_set1_ps(p[g * S + s]), v, _mm256_loadu_ps(a)));
      }
    }
  }
  for (int64_t g = 0; g < G; ++g) {
    const __m256 inv = _mm256_set1_ps(1.0f / sums[g]);
    for (int64_t d = 0; d < D; d += 8) _mm256_storeu_ps(acc + g * D + d, _mm256_mul_ps(_mm256_loadu_ps(acc + g * D + d), inv));
  }
}

void attend_one(const DecodeAttention& a, int64_t b, int64_t h, std::vector<float>& work) {
  const int64_t D = a.D, G = a.H / a.Kh, pos = a.positions[b], S = pos + 1;
  const uint16_t* cos = a.cos + b * D;
  const uint16_t* sin = a.sin + b * D;
  const int64_t cache_row = (a.slots[b] * a.Kh + h) * a.max_len;  // first key of (slot, head)
  uint16_t* keys = a.cache_k + cache_row * D;
  uint16_t* values = a.cache_v + cache_row * D;
  const uint16_t* k = a.k + b * a.ldk + h * D;
  const uint16_t* v = a.v + b * a.ldv + h * D;
  for (int64_t d = 0; d < D; ++d) {
    keys[pos * D + d] = float_to_bf16_bits(rotary_at(k, cos, sin, d, D));
    values[pos * D + d] = v[d];
  }
  work.resize(static_cast<size_t>(G * D + G * S + G + G * D));
  float* q = work.data();
  float* scores = q + G * D;
  float* sums = scores + G * S;
  float* acc = sums + G;
  for (int64_t g = 0; g < G; ++g) {
    const uint16_t* qh = a.q + b * a.ldq + (h * G + g) * D;
    for (int64_t d = 0; d < D; ++d) q[g * D + d] = rotary_at(qh, cos, sin, d, D);
  }
  if (cpu_has_avx512() && D % 16 == 0) {
    scores_avx512(q, G, keys, S, D, a.scale, scores);
    softmax_rows_avx512(scores, G, S, sums);
    weighted_values_avx512(scores, sums, G, values, S, D, acc);
  } else if (cpu_has_avx2() && D % 8 == 0) {
    scores_avx2(q, G, keys, S, D, a.scale, scores);
    softmax_rows_avx2(scores, G, S, sums);
    weighted_values_avx2(scores, sums, G, values, S, D, acc);
  } else {
    scores_plain(q, G, keys, S, D, a.scale, scores);
    softmax_rows_plain(scores, G, S, sums);
    weighted_values_plain(scores, sums, G, values, S, D, acc);
  }
  uint16_t* out = a.out + b * a.H * D + h * G * D;
  for (int64_t i = 0; i < G * D; ++i) out[i] = float_to_bf16_bits(acc[i]);
}

}  // namespace

void decode_attention_bf16(const DecodeAttention& a) {
  at::parallel_for(0, a.B * a.Kh, 1, [&](int64_t lo, int64_t hi) {
    thread_local std::vector<float> work;
    for (int64_t i = lo; i < hi; ++i) attend_one(a, i / a.Kh, i % a.Kh, work);
  });
}

}  // namespace zeroth::model::kernels
