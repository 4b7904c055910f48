// Loss aggregation modes with global normalizers (split-invariant). Shapes: [B, T].
#include "zeroth/algo/aggregation.h"

#include <torch/torch.h>

namespace zeroth::algo {

const char* loss_aggregation_name(LossAggregation mode) {
  switch (mode) {
    case LossAggregation::TokenMean: return "token-mean";
    case LossAggregation::SeqMeanTokenMean: return "seq-mean-token-mean";
    case LossAggregation::SeqMeanTokenSum: return "seq-mean-token-sum";
    case LossAggregation::SeqMeanTokenSumNorm: return "seq-mean-token-sum-norm";
  }
  return "?";
}

LossAggregation parse_loss_aggregation(const std::string& name, const std::string& where) {
  if (name == "token-mean" || name == "dapo" || name == "bnpo") return LossAggregation::TokenMean;
  if (name == "seq-mean-token-mean" || name == "grpo") return LossAggregation::SeqMeanTokenMean;
  if (name == "seq-mean-token-sum") return LossAggregation::SeqMeanTokenSum;
  if (name == "seq-mean-token-sum-norm" || name == "dr_grpo") return LossAggregation::SeqMeanTokenSumNorm;
  std::vector<std::string> names = {"token-mean", "seq-mean-token-mean", "seq-mean-token-sum",
                                    "seq-mean-token-sum-norm", "dapo", "bnpo", "grpo", "dr_grpo"};
  std::string hint = did_you_mean(name, names);
  throw Error(where + ": unknown loss aggregation " + quote(name) +
              "; expected token-mean, seq-mean-token-mean, seq-mean-token-sum or seq-mean-token-sum-norm "
              "(TRL aliases: dapo, bnpo, grpo, dr_grpo)" +
              (hint.empty() ? "" : "; did you mean \"" + hint + "\"?"));
}

LossNormalizer make_loss_normalizer(const torch::Tensor& mask, double constant_length) {
  TORCH_CHECK(mask.dim() == 2, "make_loss_normalizer expects a [B, T] mask, got ", mask.sizes());
  auto m = mask.detach().to(torch::kDouble);
  LossNormalizer n;
  n.num_tokens = m.sum().item<double>();
  n.num_sequences = (m.sum(1) > 0).sum().item<double>();
  n.constant_length = constant_length;
  return n;
}

torch::Tensor aggregate_loss(const torch::Tensor& loss_mat, const torch::Tensor& mask, LossAggregation mode,
                             const LossNormalizer& norm) {
  TORCH_CHECK(loss_mat.dim() == 2 && loss_mat.sizes() == mask.sizes(), "aggregate_loss expects loss [B, T] and mask [B, T], got ",
              loss_mat.sizes(), " and ", mask.sizes());
  auto m = mask.to(loss_mat.scalar_type());
  auto masked = loss_mat * m;  // [B, T]
  auto require = [&](double value, const char* what) {
    if (!(value > 0)) {
      throw Error(cat("loss aggregation ", loss_aggregation_name(mode), ": ", what, " must be > 0, got ", value,
                      " (pass the mini-batch normalizers from make_loss_normalizer)"));
    }
  };
  switch (mode) {
    case LossAggregation::TokenMean:
      require(norm.num_tokens, "num_tokens");
      return masked.sum() / norm.num_tokens;
    case LossAggregation::SeqMeanTokenMean: {
      require(norm.num_sequences, "num_sequences");
      auto per_seq = masked.sum(1) / m.sum(1).clamp_min(1.0);  // [B]
      return per_seq.sum() / norm.num_sequences;
    }
    case LossAggregation::SeqMeanTokenSum:
      require(norm.num_sequences, "num_sequences");
      return masked.sum() / norm.num_sequences;
    case LossAggregation::SeqMeanTokenSumNorm:
      require(norm.num_sequences, "num_sequences");
      require(norm.constant_length, "constant_length (L, loss_scale_factor)");
      return masked.sum() / (norm.num_sequences * norm.constant_length);
  }
  throw Error("aggregate_loss: unknown mode");
}

}  // namespace zeroth::algo
