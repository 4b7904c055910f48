// Grouped-query self-attention with rotary embeddings, optional q/k RMSNorm (Qwen3) and a KV cache.
// Shapes: B batch rows, T new tokens, S keys attended (cached + new), H query heads, K kv heads,
// D head dim, C hidden.
#pragma once

#include <cstdint>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "zeroth/model/config.h"
#include "zeroth/model/kv_cache.h"
#include "zeroth/model/layers.h"

namespace zeroth::model {

// What every layer of one forward pass shares (built once by TransformerImpl).
struct AttentionInputs {
  torch::Tensor cos, sin;  // [B, T, D] rotary tables in the model dtype
  torch::Tensor mask;      // additive [B, 1, T, S] (0 keep / -inf drop), or undefined
  bool causal = true;      // with an undefined mask and no cache: plain lower-triangular attention
  // Cache mode (cache != nullptr): row i writes its first num_new[i] keys at positions
  // starts[i].. of slot slots[i], then attends to keys [0, kv_len) of that slot.
  KvCache* cache = nullptr;
  std::vector<int64_t> slots, starts, num_new;
  int64_t kv_len = 0;
  torch::Tensor slot_index, pos_index;  // [B] int64 on the device (T == 1: one index_put_ per layer)
  int64_t first_slot = -1;              // >= 0 when slots are consecutive: a view instead of a gather
};

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const ModelConfig& cfg, const torch::TensorOptions& options);
  // x: [B, T, C] -> [B, T, C]
  torch::Tensor forward(const torch::Tensor& x, const AttentionInputs& in, int64_t layer);
  Linear q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  RMSNorm q_norm{nullptr}, k_norm{nullptr};  // Qwen3 only

 private:
  // One token per row into a bf16 cache on CPU: the fused kernel of model/attention_kernel.h.
  // q [B, T, H, D], k/v [B, T, Kh, D] after the projections (and q/k norms).
  bool decode_kernel_applies(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                             const AttentionInputs& in) const;
  // q [B, 1, H, D], k/v [B, 1, Kh, D] before rotary -> [B, 1, H * D]; writes the cache.
  torch::Tensor decode_step(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                            const AttentionInputs& in, int64_t layer);
  int64_t num_heads_, num_kv_heads_, head_dim_;
};
TORCH_MODULE(Attention);

}  // namespace zeroth::model
