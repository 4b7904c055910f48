// Row kernels of the chunked log-prob (logprobs.cpp) on CPU: the logits of a chunk of positions
// are read in the dtype the LM-head product wrote them (fp32 or bf16, raw bits for bf16), never
// copied to a [n, V] fp32 tensor. For one row z [V], target y, m = max z:
//   s = sum exp(z - m),  t = sum exp(z - m) z,  lse = m + log s,  logp_y = z_y - lse,
//   H = lse - t / s                                              (entropy of softmax(z))
// and in backward, with g = d loss / d logp_y and e = d loss / d H:
//   d loss / d z_j = g (onehot_j - p_j) - e p_j (log p_j + H) = -p_j (g + e (z_j - lse + H)) + g onehot_j
// written over the logits in place. Rows are split over LibTorch's intra-op threads; exp is a
// polynomial (relative error ~1e-7), AVX-512 where the CPU has it.
#pragma once

#include <cstdint>

namespace zeroth::model::kernels {

// logits: n rows of V values, `stride` elements apart. target < 0: logp 0 (still lse and H).
// entropy may be null.
void logprob_rows_forward_f32(const float* logits, int64_t n, int64_t V, int64_t stride, const int64_t* targets,
                              float* lse, float* logp, float* entropy);
void logprob_rows_forward_bf16(const uint16_t* logits, int64_t n, int64_t V, int64_t stride, const int64_t* targets,
                               float* lse, float* logp, float* entropy);

// In place: logits -> d loss / d logits. g_logp and/or g_entropy may be null (no gradient through
// that output); entropy is needed when g_entropy is given. Rows with target < 0 take no logp term.
void logprob_rows_backward_f32(float* logits, int64_t n, int64_t V, int64_t stride, const int64_t* targets,
                               const float* lse, const float* entropy, const float* g_logp, const float* g_entropy);
void logprob_rows_backward_bf16(uint16_t* logits, int64_t n, int64_t V, int64_t stride, const int64_t* targets,
                                const float* lse, const float* entropy, const float* g_logp, const float* g_entropy);

}  // namespace zeroth::model::kernels
