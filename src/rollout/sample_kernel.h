// The draw of sample_tokens (logits_processors.h) on CPU in one pass per row family instead of
// ~10 ATen ops over [B, V] (log_softmax, exp, a double copy, cumsum, searchsorted; 14 ms of an
// 84 ms G = 16 decode step with a 151,936-token vocabulary before). Per row r, with the processed
// logits z (after the chain; -inf for filtered tokens) and the raw logits y:
//   e_j = exp(z_j - max z)  (0 where z_j = -inf or below max - 87),  s = sum e_j
//   token = the first i with e_0 + ... + e_i > u_r s         (inverse CDF, as searchsorted right)
//   sampling log-prob = z_token - max z - log s,  policy log-prob = y_token - logsumexp y
// Sums run over blocks of 16 in fp32, blocks added in double (the same order for s and the scan,
// so the scan always ends by the last token with mass).
#pragma once

#include <cstdint>

namespace zeroth::rollout::kernels {

// processed, raw: rows x V contiguous fp32 (raw may equal processed). Rows split over threads.
void sample_rows(const float* processed, const float* raw, int64_t rows, int64_t V, const double* uniforms,
                 int64_t* ids, float* sampling_logprobs, float* policy_logprobs);

}  // namespace zeroth::rollout::kernels
