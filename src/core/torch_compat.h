// The one place that knows which LibTorch it is built against: Debian's 1.13.1 (CPU) or 2.x
// (CUDA). Everything else calls these wrappers instead of testing versions.
#pragma once

#include <torch/torch.h>
#include <torch/version.h>

namespace zeroth::compat {

constexpr bool kTorch2 = TORCH_VERSION_MAJOR >= 2;

inline const char* torch_version() { return TORCH_VERSION; }

// softmax(q k^T / sqrt(D) + mask) v. q: [B, H, T, D], k/v: [B, H, S, D]; `mask` is additive
// (0 or -inf, broadcastable to [B, H, T, S]) or undefined; `causal` applies the lower-triangular
// mask aligned to the end (query t sees keys <= t + S - T). LibTorch 2.x uses its fused kernels
// (flash / memory-efficient on GPU); 1.13 computes it in plain ops.
inline torch::Tensor scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k,
                                                  const torch::Tensor& v, const torch::Tensor& mask,
                                                  bool causal) {
#if TORCH_VERSION_MAJOR >= 2
  if (!mask.defined()) {
    // The fused kernels take is_causal only for square (T == S) attention.
    if (!causal || q.size(2) == k.size(2)) {
      return at::scaled_dot_product_attention(q, k, v, {}, 0.0, causal && q.size(2) > 1);
    }
  }
#endif
  const int64_t T = q.size(2), S = k.size(2);
  auto scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(q.size(-1)));
  if (causal && T > 1) {
    auto keep = torch::ones({T, S}, torch::TensorOptions().dtype(torch::kBool).device(q.device())).tril(S - T);
    scores = scores.masked_fill(keep.logical_not(), -std::numeric_limits<float>::infinity());
  }
  if (mask.defined()) scores = scores + mask.to(scores.scalar_type());
  auto probs = torch::softmax(scores.to(torch::kFloat), -1).to(q.scalar_type());
  return torch::matmul(probs, v);
}

}  // namespace zeroth::compat
