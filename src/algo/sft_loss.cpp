// Masked cross-entropy and top-k forward-KL distillation. Shapes: [B, T] and [B, T, K].
#include "zeroth/algo/sft_loss.h"

#include <torch/torch.h>

namespace zeroth::algo {

SupervisedLossOutput sft_loss(const torch::Tensor& logprobs, const torch::Tensor& mask, LossAggregation mode,
                              const LossNormalizer& normalizer) {
  TORCH_CHECK(logprobs.dim() == 2 && logprobs.sizes() == mask.sizes(), "sft_loss expects logprobs [B, T] and mask [B, T], got ",
              logprobs.sizes(), " and ", mask.sizes());
  const auto dtype = logprobs.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
  auto nll = -logprobs.to(dtype);  // [B, T]
  auto m = mask.detach().to(dtype);
  SupervisedLossOutput out;
  out.loss = aggregate_loss(nll, m, mode, normalizer);
  out.token_sum = (nll.detach() * m).sum().item<double>();
  out.num_tokens = m.sum().item<double>();
  return out;
}

SupervisedLossOutput distill_forward_kl(const torch::Tensor& student_logprobs, const torch::Tensor& teacher_logprobs,
                                        const torch::Tensor& mask, LossAggregation mode,
                                        const LossNormalizer& normalizer, bool renormalize_student) {
  TORCH_CHECK(student_logprobs.dim() == 3 && student_logprobs.sizes() == teacher_logprobs.sizes() &&
                  mask.dim() == 2 && mask.size(0) == student_logprobs.size(0) && mask.size(1) == student_logprobs.size(1),
              "distill_forward_kl expects student [B, T, K], teacher [B, T, K], mask [B, T], got ", student_logprobs.sizes(),
              ", ", teacher_logprobs.sizes(), ", ", mask.sizes());
  const auto dtype = student_logprobs.scalar_type() == torch::kDouble ? torch::kDouble : torch::kFloat;
  auto log_q = torch::log_softmax(teacher_logprobs.detach().to(dtype), -1);  // [B, T, K]
  auto q = log_q.exp();
  auto log_p = student_logprobs.to(dtype);
  if (renormalize_student) log_p = torch::log_softmax(log_p, -1);
  // q = 0 entries contribute 0 (avoid 0 * (-inf - x) = NaN).
  auto terms = torch::where(q > 0, q * (log_q - log_p), torch::zeros_like(log_p));  // [B, T, K]
  auto kl = terms.sum(-1);                                                           // [B, T]
  auto m = mask.detach().to(dtype);
  SupervisedLossOutput out;
  out.loss = aggregate_loss(kl, m, mode, normalizer);
  out.token_sum = (kl.detach() * m).sum().item<double>();
  out.num_tokens = m.sum().item<double>();
  return out;
}

}  // namespace zeroth::algo
