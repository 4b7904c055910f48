// The one place that knows which LibTorch it is built against: Debian's 1.13.1 (CPU) or 2.x
// (CUDA). Everything else calls these wrappers instead of testing versions.
#pragma once

#include <torch/torch.h>
#include <torch/version.h>

namespace zeroth::compat {

// softmax(q k^T / sqrt(D) + mask) v with grouped-query attention. q: [B, H, T, D]; k/v: [B, K, S, D]
// with H a multiple of K (query head h uses kv head h / (H / K), as transformers' repeat_kv).
// `mask` is additive (0 or -inf, broadcastable to [B, 1, T, S]) or undefined; `causal` applies the
// lower-triangular mask aligned to the end (query t sees keys <= t + S - T). Every query row must
// keep at least one key (a fully masked row gives NaN). LibTorch 2.x uses its fused kernels (flash /
// memory-efficient on GPU) on K/V expanded to H heads; 1.13 computes it in plain ops, folding the
// query heads of a group into one matrix product instead of copying K/V. Softmax in fp32.
inline torch::Tensor scaled_dot_product_attention(const torch::Tensor& q, const torch::Tensor& k,
                                                  const torch::Tensor& v, const torch::Tensor& mask,
                                                  bool causal) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3);
  const int64_t K = k.size(1), S = k.size(2);
  TORCH_CHECK(H % K == 0, "attention: ", H, " query heads are not a multiple of ", K, " kv heads");
  const int64_t G = H / K;
#if TORCH_VERSION_MAJOR >= 2
  {
    auto ke = G == 1 ? k : k.repeat_interleave(G, 1);
    auto ve = G == 1 ? v : v.repeat_interleave(G, 1);
    if (mask.defined()) {
      auto m = mask.to(q.scalar_type());
      if (causal && T > 1) {
        auto keep = torch::ones({T, S}, torch::TensorOptions().dtype(torch::kBool).device(q.device())).tril(S - T);
        m = m.masked_fill(keep.logical_not(), -std::numeric_limits<float>::infinity());
      }
      return at::scaled_dot_product_attention(q, ke, ve, m, 0.0, false);
    }
    // The fused kernels take is_causal only for square (T == S) attention.
    if (!causal || T == 1 || T == S) return at::scaled_dot_product_attention(q, ke, ve, {}, 0.0, causal && T > 1);
  }
#endif
  auto qf = q.reshape({B, K, G * T, D});                                                      // [B, K, G*T, D]
  auto scores = torch::matmul(qf, k.transpose(-2, -1)) / std::sqrt(static_cast<double>(D));  // [B, K, G*T, S]
  scores = scores.view({B, K, G, T, S});
  if (causal && T > 1) {
    auto keep = torch::ones({T, S}, torch::TensorOptions().dtype(torch::kBool).device(q.device())).tril(S - T);
    scores = scores.masked_fill(keep.logical_not(), -std::numeric_limits<float>::infinity());
  }
  if (mask.defined()) scores = scores + mask.to(scores.scalar_type()).unsqueeze(2);  // [B, 1, 1, T, S]
  auto probs = torch::softmax(scores.to(torch::kFloat), -1).to(q.scalar_type()).view({B, K, G * T, S});
  return torch::matmul(probs, v).view({B, H, T, D});
}

}  // namespace zeroth::compat
