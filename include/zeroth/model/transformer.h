// The decoder-only transformer of Qwen2, Qwen3 and Llama, with module names equal to the Hugging
// Face weight keys ("model.layers.3.self_attn.q_proj.weight", "lm_head.weight"), so loading and
// saving are loops over named_parameters() with no translation table.
// Shapes: B batch, T tokens, C hidden, V vocabulary, L live cache rows, W prefill width.
//
//   auto m = load_hf_model("models/qwen3-0.6b", torch::kBFloat16, torch::kCPU);   // checkpoint.h
//   auto logits = m->forward(ids, attention_mask);              // [B, T, V] fp32
//   auto h = m->hidden_states(ids, attention_mask);              // [B, T, C] (final norm applied)
//   auto lp = token_logprobs(h, m->lm_head_weight(), targets, 1024);   // logprobs.h, [B, T]
//
// Not here: sampling (rollout/), losses (algo/), weights I/O (checkpoint.h).
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include <torch/nn/module.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/pimpl.h>

#include "zeroth/model/attention.h"
#include "zeroth/model/config.h"
#include "zeroth/model/kv_cache.h"
#include "zeroth/model/layers.h"

namespace zeroth::model {

// x + attn(input_layernorm(x)), then + mlp(post_attention_layernorm(.)). [B, T, C] -> [B, T, C]
class DecoderLayerImpl : public torch::nn::Module {
 public:
  DecoderLayerImpl(const ModelConfig& cfg, int64_t index, const torch::TensorOptions& options);
  torch::Tensor forward(const torch::Tensor& x, const AttentionInputs& in);
  Attention self_attn{nullptr};
  Mlp mlp{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};

 private:
  int64_t index_;
};
TORCH_MODULE(DecoderLayer);

// HF's inner "model": embed_tokens, layers, norm.
class DecoderImpl : public torch::nn::Module {
 public:
  DecoderImpl(const ModelConfig& cfg, const torch::TensorOptions& options);
  Embedding embed_tokens{nullptr};
  torch::nn::ModuleList layers{nullptr};
  RMSNorm norm{nullptr};
};
TORCH_MODULE(Decoder);

class TransformerImpl : public torch::nn::Module {
 public:
  // Parameters are allocated with `options` (dtype, device) but NOT initialized: call
  // init_weights() or load weights (load_hf_model does).
  explicit TransformerImpl(const ModelConfig& cfg, const torch::TensorOptions& options = {});

  // ids: [B, T] int64. attention_mask: [B, T] (1 = token, 0 = padding; left or right padding).
  // position_ids: [B, T]; default: the count of real tokens before each one (cumsum(mask) - 1), so a
  // padded row gets the positions it would have alone. Returns [B, T, V] fp32 logits.
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& attention_mask = {},
                        const torch::Tensor& position_ids = {});
  // The same, before the LM head: [B, T, C] in the model dtype (final RMSNorm applied).
  torch::Tensor hidden_states(const torch::Tensor& ids, const torch::Tensor& attention_mask = {},
                              const torch::Tensor& position_ids = {});
  // [V, C]: lm_head.weight, or model.embed_tokens.weight when tied.
  torch::Tensor lm_head_weight() const;

  // One decode step for each listed slot: ids [L, 1]; each token's position is its slot's cache
  // length, and its key/value is appended. Returns next-token logits [L, V] fp32.
  torch::Tensor forward_cached(const torch::Tensor& ids, KvCache& cache, const std::vector<int64_t>& slots);
  // Prefill: ids [n, W] right-padded; row i appends its first num_new[i] tokens to slot slots[i]
  // (after what the slot already holds). Returns [n, W, C] hidden states (padding rows: garbage).
  torch::Tensor hidden_states_cached(const torch::Tensor& ids, KvCache& cache, const std::vector<int64_t>& slots,
                                     const std::vector<int64_t>& num_new);

  // Gradient checkpointing per decoder layer (training forward only): activations inside a layer
  // are recomputed in backward instead of stored.
  void set_gradient_checkpointing(bool enabled) { gradient_checkpointing_ = enabled; }
  bool gradient_checkpointing() const { return gradient_checkpointing_; }

  // Diagnosis of non-finite outputs: while on, the embedding, every layer's output and the final
  // norm are checked, and the first that holds a NaN or Inf is an Error naming it
  // ("model.layers.2: the output holds NaN or Inf ..."). Costs a pass over each activation.
  void set_check_finite(bool enabled) { check_finite_ = enabled; }

  const ModelConfig& config() const { return cfg_; }
  c10::ScalarType dtype() const;
  c10::Device device() const;

  Decoder model{nullptr};
  Linear lm_head{nullptr};  // null when tie_word_embeddings

 private:
  torch::Tensor run_layers(torch::Tensor x, const AttentionInputs& in);
  torch::Tensor rotary_for(const torch::Tensor& positions, AttentionInputs& in);
  ModelConfig cfg_;
  torch::Tensor inv_freq_cpu_;  // [D/2] fp32
  torch::Tensor inv_freq_;      // on the model's device (refreshed when it moves)
  bool gradient_checkpointing_ = false;
  bool check_finite_ = false;
};
TORCH_MODULE(Transformer);

// Hugging Face's _init_weights: Linear and Embedding weights ~ normal(0, initializer_range),
// biases 0, RMSNorm weights 1. Deterministic under torch::manual_seed (parameter order).
void init_weights(TransformerImpl& model);

// The model's parameters that are not LoRA adapters, by HF name ("model.norm.weight").
std::vector<std::pair<std::string, torch::Tensor>> base_parameters(const TransformerImpl& model);

}  // namespace zeroth::model
