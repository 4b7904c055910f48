// Grouped-query attention: projections, q/k norm (Qwen3), rotary, KV-cache writes, SDPA.
// Shapes: B rows, T new tokens, S keys, H/K query/kv heads, D head dim, C hidden.
#include "zeroth/model/attention.h"

#include <algorithm>
#include <cmath>

#include <torch/torch.h>

#include "core/tensor_bits.h"
#include "core/torch_compat.h"
#include "model/attention_kernel.h"
#include "model/bf16_products.h"

namespace zeroth::model {
namespace {

// SDPA; on fp32 copies where CPU bf16 products would take LibTorch's reference GEMM (bf16_products.h).
torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& mask,
                     bool causal) {
  if (!widen_bf16_product(q)) return compat::scaled_dot_product_attention(q, k, v, mask, causal);
  return compat::scaled_dot_product_attention(q.to(torch::kFloat), k.to(torch::kFloat), v.to(torch::kFloat), mask,
                                              causal)
      .to(q.scalar_type());
}

}  // namespace

AttentionImpl::AttentionImpl(const ModelConfig& cfg, const torch::TensorOptions& options)
    : num_heads_(cfg.num_attention_heads), num_kv_heads_(cfg.num_key_value_heads), head_dim_(cfg.head_dim) {
  const int64_t C = cfg.hidden_size;
  q_proj = register_module("q_proj", Linear(C, num_heads_ * head_dim_, cfg.attention_bias, options));
  k_proj = register_module("k_proj", Linear(C, num_kv_heads_ * head_dim_, cfg.attention_bias, options));
  v_proj = register_module("v_proj", Linear(C, num_kv_heads_ * head_dim_, cfg.attention_bias, options));
  o_proj = register_module("o_proj", Linear(num_heads_ * head_dim_, C, cfg.o_proj_bias, options));
  if (cfg.qk_norm) {
    q_norm = register_module("q_norm", RMSNorm(head_dim_, cfg.rms_norm_eps, options));
    k_norm = register_module("k_norm", RMSNorm(head_dim_, cfg.rms_norm_eps, options));
  }
}

bool AttentionImpl::decode_kernel_applies(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                          const AttentionInputs& in) const {
  if (in.cache == nullptr || q.size(1) != 1 || !q.device().is_cpu() || q.scalar_type() != torch::kBFloat16) return false;
  if (in.cache->keys(0).scalar_type() != torch::kBFloat16 || head_dim_ % 2 != 0) return false;
  // The kernel works on raw memory: nothing may need a gradient through it (LoRA's q/k/v would).
  if (torch::GradMode::is_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad())) return false;
  return std::all_of(in.num_new.begin(), in.num_new.end(), [](int64_t n) { return n == 1; });
}

torch::Tensor AttentionImpl::decode_step(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                         const AttentionInputs& in, int64_t layer) {
  const int64_t B = q.size(0);
  auto qc = q.reshape({B, num_heads_ * head_dim_}).contiguous();
  auto kc = k.reshape({B, num_kv_heads_ * head_dim_}).contiguous();
  auto vc = v.reshape({B, num_kv_heads_ * head_dim_}).contiguous();
  auto cos = in.cos.reshape({B, head_dim_}).contiguous();
  auto sin = in.sin.reshape({B, head_dim_}).contiguous();
  auto& cache_k = in.cache->keys(layer);
  auto& cache_v = in.cache->values(layer);
  TORCH_CHECK(cache_k.is_contiguous() && cache_v.is_contiguous(), "the kv cache must be contiguous");
  auto out = torch::empty({B, 1, num_heads_ * head_dim_}, q.options());
  kernels::DecodeAttention a;
  a.B = B;
  a.H = num_heads_;
  a.Kh = num_kv_heads_;
  a.D = head_dim_;
  a.q = bf16_bits(qc);
  a.k = bf16_bits(kc);
  a.v = bf16_bits(vc);
  a.ldq = qc.stride(0);
  a.ldk = kc.stride(0);
  a.ldv = vc.stride(0);
  a.cos = bf16_bits(cos);
  a.sin = bf16_bits(sin);
  a.cache_k = bf16_bits(cache_k);
  a.cache_v = bf16_bits(cache_v);
  a.max_len = cache_k.size(2);
  a.slots = in.slots.data();
  a.positions = in.starts.data();
  a.out = bf16_bits(out);
  a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim_)));
  kernels::decode_attention_bf16(a);
  return out;
}

torch::Tensor AttentionImpl::forward(const torch::Tensor& x, const AttentionInputs& in, int64_t layer) {
  TORCH_CHECK(x.dim() == 3, "attention expects [B, T, C], got ", x.sizes());
  const int64_t B = x.size(0), T = x.size(1);
  auto qkv = linear_many(x, {q_proj.get(), k_proj.get(), v_proj.get()});
  auto q = qkv[0].view({B, T, num_heads_, head_dim_});     // [B, T, H, D]
  auto k = qkv[1].view({B, T, num_kv_heads_, head_dim_});  // [B, T, K, D]
  auto v = qkv[2].view({B, T, num_kv_heads_, head_dim_});
  if (q_norm) {
    q = q_norm(q);
    k = k_norm(k);
  }
  if (decode_kernel_applies(q, k, v, in)) return o_proj(decode_step(q, k, v, in, layer));
  q = apply_rotary(q.transpose(1, 2), in.cos, in.sin);  // [B, H, T, D]
  k = apply_rotary(k.transpose(1, 2), in.cos, in.sin);  // [B, K, T, D]
  v = v.transpose(1, 2);                                // [B, K, T, D]

  torch::Tensor out;
  if (in.cache == nullptr) {
    out = attend(q, k, v, in.mask, in.mask.defined() ? false : in.causal);
  } else {
    auto& cache_k = in.cache->keys(layer);    // [slots, K, T_max, D]
    auto& cache_v = in.cache->values(layer);
    {
      torch::NoGradGuard no_grad;
      if (T == 1) {
        using torch::indexing::Slice;
        cache_k.index_put_({in.slot_index, Slice(), in.pos_index}, k.select(2, 0).to(cache_k.scalar_type()));
        cache_v.index_put_({in.slot_index, Slice(), in.pos_index}, v.select(2, 0).to(cache_v.scalar_type()));
      } else {
        for (int64_t i = 0; i < B; ++i) {
          const int64_t n = in.num_new[i];
          if (n == 0) continue;
          cache_k[in.slots[i]].narrow(1, in.starts[i], n).copy_(k[i].narrow(1, 0, n));
          cache_v[in.slots[i]].narrow(1, in.starts[i], n).copy_(v[i].narrow(1, 0, n));
        }
      }
    }
    auto keys = in.first_slot >= 0 ? cache_k.narrow(0, in.first_slot, B) : cache_k.index_select(0, in.slot_index);
    auto values = in.first_slot >= 0 ? cache_v.narrow(0, in.first_slot, B) : cache_v.index_select(0, in.slot_index);
    keys = keys.narrow(2, 0, in.kv_len).to(q.scalar_type());      // [B, K, S, D]
    values = values.narrow(2, 0, in.kv_len).to(q.scalar_type());
    out = attend(q, keys, values, in.mask, false);
  }
  return o_proj(out.transpose(1, 2).reshape({B, T, num_heads_ * head_dim_}));
}

}  // namespace zeroth::model
