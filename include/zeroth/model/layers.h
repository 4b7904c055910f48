// The building blocks of the decoder, named as the Hugging Face weights name them: Linear (with an
// optional LoRA adapter), Embedding, RMSNorm, the SwiGLU MLP, and rotary position embeddings.
// Shapes: B batch, T tokens, C hidden, I intermediate, D head dim, V vocabulary.
// Spec: transformers' modeling_qwen2.py / modeling_llama.py; LoRA: Hu et al. 2021 and PEFT's
// tuners/lora/layer.py (y = W x + b + (alpha / r) B A dropout(x), A: [r, in], B: [out, r]).
#pragma once

#include <cstdint>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include "zeroth/model/config.h"

namespace zeroth::model {

// x W^T + b. x: [..., in], w: [out, in], b: [out] or undefined. On CPU outside autograd: bf16
// products of a few rows (decode steps) run on the kernels of model/matmul_kernel.h when the CPU
// has AMX (<= 64 rows), AVX512-BF16 (<= 2 rows) or else AVX2 (<= 64 rows); a single fp32 row goes
// through mv (5x faster than linear for one row there: docs/perf_notes.md); the rest through
// torch::linear, on fp32 copies for CPU bf16 without bf16 instructions (model/bf16_products.h).
torch::Tensor linear_fast(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b);

// y = x W^T + b through linear_fast (decode kernels, mv for one fp32 row), plus the adapter. Weights are allocated uninitialized: load them or call init_weights().
class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in_features, int64_t out_features, bool bias, const torch::TensorOptions& options);
  // x: [..., in] -> [..., out]
  torch::Tensor forward(const torch::Tensor& x);

  torch::Tensor weight;  // [out, in]
  torch::Tensor bias;    // [out] or undefined

  // LoRA adapter: registers submodules "lora_A" (weight [r, in], Kaiming-uniform as PEFT) and
  // "lora_B" (weight [out, r], zeros), in `dtype` (fp32 master weights by default).
  void add_lora(int64_t r, double alpha, double dropout, bool use_rslora, c10::ScalarType dtype);
  bool has_lora() const { return lora_r_ > 0; }
  torch::Tensor lora_A() const;  // [r, in]
  torch::Tensor lora_B() const;  // [out, r]
  double lora_scaling() const { return lora_scaling_; }
  double lora_dropout() const { return lora_dropout_; }
  bool lora_rslora() const { return lora_rslora_; }
  // weight += scaling * B A (in fp32, rounded once to the weight's dtype); the adapter is removed.
  void merge_lora();
  void remove_lora();
  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }

 private:
  int64_t in_, out_;
  int64_t lora_r_ = 0;
  double lora_scaling_ = 0.0, lora_dropout_ = 0.0;
  bool lora_rslora_ = false;
};
TORCH_MODULE(Linear);

// layer_i(x) for several layers reading the same x (q/k/v, gate/up): one parallel pass over all
// their weights when linear_fast would take a decode kernel for each and none has a LoRA adapter.
std::vector<torch::Tensor> linear_many(const torch::Tensor& x, const std::vector<LinearImpl*>& layers);

// One LoRA matrix as a module, so that its parameter is named "lora_A.weight" as in PEFT.
class LoraMatrixImpl : public torch::nn::Module {
 public:
  explicit LoraMatrixImpl(torch::Tensor w) { weight = register_parameter("weight", std::move(w)); }
  torch::Tensor weight;
};
TORCH_MODULE(LoraMatrix);

class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t num, int64_t dim, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& ids);  // [B, T] -> [B, T, C]
  torch::Tensor weight;                             // [V, C]
};
TORCH_MODULE(Embedding);

// HF RMSNorm: normalize in fp32, cast back, then scale: weight * (x / rms(x)).to(dtype).
class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  torch::Tensor weight;  // [dim]
 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

// down_proj(silu(gate_proj(x)) * up_proj(x)). [B, T, C] -> [B, T, C]
class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(const ModelConfig& cfg, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x);
  Linear gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
};
TORCH_MODULE(Mlp);

// Rotary inverse frequencies [D/2] (fp32), with `rope_scaling` applied (llama3, linear).
torch::Tensor rotary_inv_freq(const ModelConfig& cfg);
// cos/sin [B, T, D] (fp32 math, as HF, then cast to `dtype`) for integer positions [B, T].
std::pair<torch::Tensor, torch::Tensor> rotary_cos_sin(const torch::Tensor& inv_freq, const torch::Tensor& positions,
                                                       c10::ScalarType dtype);
// x: [B, heads, T, D]; cos/sin: [B, T, D]. x * cos + rotate_half(x) * sin.
torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);

}  // namespace zeroth::model
