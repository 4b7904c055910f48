// Supervised losses for the sft and distill stages: masked cross-entropy on response tokens, and
// forward KL to a teacher's top-k distribution. Both take log-probs (the model layer computes them
// in chunks, never [B, T, V] logits at once) and aggregate with the split-invariant normalizers of
// aggregation.h. Pure tensor math, no I/O. Shapes: B sequences, T tokens, K teacher top-k entries.
#pragma once

#include <ATen/core/Tensor.h>

#include "zeroth/algo/aggregation.h"

namespace zeroth::algo {

struct SupervisedLossOutput {
  torch::Tensor loss;     // scalar, this micro-batch's additive share
  double token_sum = 0;   // sum over mask tokens of the per-token value (NLL or KL), for metrics
  double num_tokens = 0;  // mask tokens in this micro-batch
};

// Masked cross-entropy: l_t = -logp(target_t) on mask tokens, aggregated (token-mean is the usual
// SFT choice). logprobs, mask: [B, T].
SupervisedLossOutput sft_loss(const torch::Tensor& logprobs, const torch::Tensor& mask, LossAggregation mode,
                              const LossNormalizer& normalizer);

// Forward KL(p_teacher || p_student) per token from the teacher's top-k:
//   student_logprobs: [B, T, K] student log-probs (over the full vocabulary) at the teacher's top-k ids
//   teacher_logprobs: [B, T, K] teacher log-probs of the same ids (as stored with the traces)
//   l_t = sum_k q_k (log q_k - log p_k)
// Renormalization: the teacher is renormalized over its top-k (q = softmax over K of
// teacher_logprobs), so q is a distribution and l_t is the true KL between the truncated teacher
// and the student, >= 0, 0 only when the student matches q on the k ids (all its mass there). The
// student is NOT renormalized by default: mass the student puts outside the teacher's top-k is
// penalized. renormalize_student = true uses log_softmax over K for the student as well (KL
// between the two distributions restricted to the k ids; ignores mass outside them).
// Entries with teacher log-prob -inf (padding when fewer than K ids were stored) get q = 0.
SupervisedLossOutput distill_forward_kl(const torch::Tensor& student_logprobs, const torch::Tensor& teacher_logprobs,
                                        const torch::Tensor& mask, LossAggregation mode,
                                        const LossNormalizer& normalizer, bool renormalize_student = false);

}  // namespace zeroth::algo
