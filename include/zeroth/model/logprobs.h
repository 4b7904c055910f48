// Log-probabilities of target tokens under the LM head, computed in chunks of positions so the
// [B, T, V] logits are never held at once (V = 151,936 for Qwen): forward keeps only per-position
// logsumexp; backward recomputes each chunk's logits. Differentiable in `hidden` and `lm_head`.
// Shapes: B batch, T positions, C hidden, V vocabulary, N = B * T.
//
//   auto h = model->hidden_states(ids, mask);                         // [B, T, C]
//   // predict token t + 1 from position t:
//   auto lp = token_logprobs(h.narrow(1, 0, T - 1), model->lm_head_weight(), ids.narrow(1, 1, T - 1), 1024);
#pragma once

#include <cstdint>

#include <ATen/core/Tensor.h>

namespace zeroth::model {

// Positions per chunk by default: 1,024 x 151,936 fp32 logits = 622 MB at most.
constexpr int64_t kLogprobChunk = 1024;

// hidden [B, T, C] (any float dtype), lm_head [V, C], targets [B, T] int64 -> [B, T] fp32
// log p(target). A negative target gives 0 (and no gradient): mark padding with -1.
// `entropy` (optional out): [B, T] fp32 entropy of each position's distribution (differentiable).
// The logit products run in the hidden dtype (bf16 fast on CPU); softmax math in fp32.
at::Tensor token_logprobs(const at::Tensor& hidden, const at::Tensor& lm_head, const at::Tensor& targets,
                          int64_t chunk = kLogprobChunk, at::Tensor* entropy = nullptr);

// The plain computation (full [B, T, V] log_softmax) for tests and small vocabularies.
at::Tensor token_logprobs_naive(const at::Tensor& hidden, const at::Tensor& lm_head, const at::Tensor& targets,
                                at::Tensor* entropy = nullptr);

}  // namespace zeroth::model
