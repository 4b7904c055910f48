// The decoder: embeddings, layers, final norm, LM head; the full-sequence path (training,
// scoring), the KV-cache paths (sampler) and per-layer gradient checkpointing.
// Shapes: B batch, T tokens, C hidden, V vocabulary, S keys, W prefill width, L live rows.
#include "zeroth/model/transformer.h"

#include <algorithm>
#include <limits>

#include <torch/torch.h>

#include "zeroth/core/error.h"

namespace zeroth::model {

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& cfg, int64_t index, const torch::TensorOptions& options)
    : index_(index) {
  self_attn = register_module("self_attn", Attention(cfg, options));
  mlp = register_module("mlp", Mlp(cfg, options));
  input_layernorm = register_module("input_layernorm", RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, options));
  post_attention_layernorm =
      register_module("post_attention_layernorm", RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, options));
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const AttentionInputs& in) {
  auto h = x + self_attn(input_layernorm(x), in, index_);
  return h + mlp(post_attention_layernorm(h));
}

DecoderImpl::DecoderImpl(const ModelConfig& cfg, const torch::TensorOptions& options) {
  embed_tokens = register_module("embed_tokens", Embedding(cfg.vocab_size, cfg.hidden_size, options));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < cfg.num_hidden_layers; ++i) layers->push_back(DecoderLayer(cfg, i, options));
  norm = register_module("norm", RMSNorm(cfg.hidden_size, cfg.rms_norm_eps, options));
}

TransformerImpl::TransformerImpl(const ModelConfig& cfg, const torch::TensorOptions& options) : cfg_(cfg) {
  model = register_module("model", Decoder(cfg, options));
  if (!cfg.tie_word_embeddings) {
    lm_head = register_module("lm_head", Linear(cfg.hidden_size, cfg.vocab_size, false, options));
  }
  inv_freq_cpu_ = rotary_inv_freq(cfg);
}

torch::Tensor TransformerImpl::lm_head_weight() const {
  return lm_head ? lm_head->weight : model->embed_tokens->weight;
}

c10::ScalarType TransformerImpl::dtype() const { return model->embed_tokens->weight.scalar_type(); }
c10::Device TransformerImpl::device() const { return model->embed_tokens->weight.device(); }

torch::Tensor TransformerImpl::rotary_for(const torch::Tensor& positions, AttentionInputs& in) {
  if (!inv_freq_.defined() || inv_freq_.device() != device()) inv_freq_ = inv_freq_cpu_.to(device());
  std::tie(in.cos, in.sin) = rotary_cos_sin(inv_freq_, positions.to(device()), dtype());
  return in.cos;
}

namespace {

// Recomputes one decoder layer in backward instead of keeping its activations (the reentrant
// scheme of torch.utils.checkpoint): forward runs without a graph; backward replays the layer with
// the saved input and the same random state (LoRA dropout), then backpropagates through the replay,
// which accumulates the layer's parameter gradients and returns the input's.
struct LayerCheckpoint : public torch::autograd::Function<LayerCheckpoint> {
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, torch::Tensor x, DecoderLayerImpl* layer,
                               const AttentionInputs* in) {
    ctx->saved_data["layer"] = reinterpret_cast<int64_t>(layer);
    ctx->saved_data["cos"] = in->cos;
    ctx->saved_data["sin"] = in->sin;
    ctx->saved_data["has_mask"] = in->mask.defined();
    if (in->mask.defined()) ctx->saved_data["mask"] = in->mask;
    ctx->saved_data["causal"] = in->causal;
    if (x.device().is_cpu()) ctx->saved_data["rng"] = at::detail::getDefaultCPUGenerator().get_state();
    ctx->save_for_backward({x});
    return layer->forward(x, *in);
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto* layer = reinterpret_cast<DecoderLayerImpl*>(ctx->saved_data["layer"].toInt());
    AttentionInputs in;
    in.cos = ctx->saved_data["cos"].toTensor();
    in.sin = ctx->saved_data["sin"].toTensor();
    if (ctx->saved_data["has_mask"].toBool()) in.mask = ctx->saved_data["mask"].toTensor();
    in.causal = ctx->saved_data["causal"].toBool();
    auto x = ctx->get_saved_variables()[0].detach().requires_grad_(true);
    torch::Tensor out;
    {
      torch::AutoGradMode enable(true);
      auto gen = at::detail::getDefaultCPUGenerator();
      at::Tensor rng_now;
      if (ctx->saved_data.count("rng")) {
        rng_now = gen.get_state();
        gen.set_state(ctx->saved_data["rng"].toTensor());
      }
      out = layer->forward(x, in);
      if (rng_now.defined()) gen.set_state(rng_now);
      torch::autograd::backward({out}, {grads[0]});
    }
    return {x.grad(), torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor TransformerImpl::run_layers(torch::Tensor x, const AttentionInputs& in) {
  const bool checkpoint = gradient_checkpointing_ && in.cache == nullptr && torch::GradMode::is_enabled();
  auto check = [&](const torch::Tensor& t, const std::string& where) {
    if (!check_finite_) return;
    torch::NoGradGuard no_grad;
    if (!torch::isfinite(t).all().item<bool>()) {
      throw Error(cat(where, ": the output holds NaN or Inf (the first non-finite activation of the model; check ",
                      "this module's weights and the config's rms_norm_eps, or use fp32/bf16 instead of fp16)"));
    }
  };
  check(x, "model.embed_tokens");
  int64_t index = 0;
  for (const auto& module : *model->layers) {
    auto* layer = module->as<DecoderLayerImpl>();
    if (checkpoint) {
      // A frozen embedding gives an input without grad; the layer's own parameters (e.g. LoRA)
      // still need the backward call, so the input is made to require grad.
      if (!x.requires_grad()) x = x.detach().requires_grad_(true);
      x = LayerCheckpoint::apply(x, layer, &in);
    } else {
      x = layer->forward(x, in);
    }
    check(x, cat("model.layers.", index++));
  }
  x = model->norm(x);
  check(x, "model.norm");
  return x;
}

namespace {

// LibTorch's CPU bf16 matrix products (oneDNN, AMX kernels here) fall off a cliff for some row
// counts that are not multiples of 64: [2544 x 4864] x [4864 x 896] ran 5x slower than 2560 rows
// (measured with LibTorch 1.13.1, 2 threads; 2120, 2360, 2480, 2552 too; every multiple of 64
// tried was fast). The rows of a training forward are B x T, so the width is padded up to where
// B x T is a multiple of 64 (or 32, 16) when that costs at most 1/8 more columns.
int64_t matmul_friendly_width(int64_t B, int64_t T) {
  for (int64_t multiple : {64, 32, 16}) {
    int64_t width = T;
    while ((B * width) % multiple != 0) ++width;
    if ((width - T) * 8 <= T) return width;
  }
  return T;
}

}  // namespace

torch::Tensor TransformerImpl::hidden_states(const torch::Tensor& ids, const torch::Tensor& attention_mask,
                                             const torch::Tensor& position_ids) {
  TORCH_CHECK(ids.dim() == 2, "hidden_states expects ids [B, T], got ", ids.sizes());
  const int64_t B = ids.size(0), T = ids.size(1);
  const auto dev = device();
  if (dev.is_cpu() && dtype() == torch::kBFloat16 && B * T >= 512) {
    const int64_t width = matmul_friendly_width(B, T);
    if (width != T) {
      // Filler columns on the right: real tokens never see them (causal), their outputs are dropped.
      const int64_t extra = width - T;
      auto fill_ids = torch::cat({ids, torch::zeros({B, extra}, ids.options())}, 1);
      torch::Tensor fill_mask, fill_positions;
      if (attention_mask.defined()) {
        fill_mask = torch::cat({attention_mask, torch::ones({B, extra}, attention_mask.options())}, 1);
      }
      if (position_ids.defined()) {
        auto step = torch::arange(1, extra + 1, position_ids.options()).unsqueeze(0);
        fill_positions = torch::cat({position_ids, position_ids.narrow(1, T - 1, 1) + step}, 1);
      }
      return hidden_states(fill_ids, fill_mask, fill_positions).narrow(1, 0, T);
    }
  }
  auto input = ids.to(dev);
  AttentionInputs in;
  torch::Tensor mask;
  if (attention_mask.defined()) {
    TORCH_CHECK(attention_mask.sizes() == ids.sizes(), "attention_mask must be [B, T] like ids, got ",
                attention_mask.sizes(), " vs ", ids.sizes());
    mask = attention_mask.to(dev).to(torch::kBool);
    if (mask.all().item<bool>()) mask = torch::Tensor();
  }
  torch::Tensor positions;
  if (position_ids.defined()) {
    positions = position_ids.to(dev);
  } else if (mask.defined()) {
    positions = (mask.to(torch::kLong).cumsum(1) - 1).clamp_min(0);  // [B, T]
  } else {
    positions = torch::arange(T, torch::TensorOptions().dtype(torch::kLong).device(dev)).unsqueeze(0).expand({B, T});
  }
  rotary_for(positions, in);
  if (mask.defined()) {
    // Query t sees key s when s <= t and s is a real token; it always sees itself, so that rows of
    // padding queries are never fully masked (their outputs are ignored).
    auto opts = torch::TensorOptions().dtype(torch::kBool).device(dev);
    auto causal = torch::ones({T, T}, opts).tril();
    auto self = torch::eye(T, opts);
    auto keep = causal.unsqueeze(0).logical_and(mask.unsqueeze(1).logical_or(self.unsqueeze(0)));  // [B, T, T]
    in.mask = torch::zeros({B, 1, T, T}, torch::TensorOptions().dtype(torch::kFloat).device(dev))
                  .masked_fill(keep.logical_not().unsqueeze(1), -std::numeric_limits<float>::infinity());
  }
  in.causal = true;
  auto x = model->embed_tokens(input);  // [B, T, C]
  return run_layers(x, in);
}

torch::Tensor TransformerImpl::forward(const torch::Tensor& ids, const torch::Tensor& attention_mask,
                                       const torch::Tensor& position_ids) {
  auto h = hidden_states(ids, attention_mask, position_ids);  // [B, T, C]
  return linear_fast(h, lm_head_weight(), torch::Tensor()).to(torch::kFloat);  // [B, T, V]
}

torch::Tensor TransformerImpl::hidden_states_cached(const torch::Tensor& ids, KvCache& cache,
                                                    const std::vector<int64_t>& slots,
                                                    const std::vector<int64_t>& num_new) {
  TORCH_CHECK(ids.dim() == 2, "hidden_states_cached expects ids [n, W], got ", ids.sizes());
  const int64_t n = ids.size(0), W = ids.size(1);
  ZEROTH_CHECK(static_cast<int64_t>(slots.size()) == n && static_cast<int64_t>(num_new.size()) == n,
               "one slot and one count per row: ", n, " rows, ", slots.size(), " slots, ", num_new.size(), " counts");
  ZEROTH_CHECK(cache.num_layers() == cfg_.num_hidden_layers, "the cache was made for another model");
  const auto dev = device();
  AttentionInputs in;
  in.cache = &cache;
  in.slots = slots;
  in.num_new = num_new;
  bool uniform = W == 1;
  bool consecutive = true;
  std::vector<int64_t> seen;
  for (int64_t i = 0; i < n; ++i) {
    ZEROTH_CHECK(num_new[i] >= 0 && num_new[i] <= W, "row ", i, ": num_new ", num_new[i], " outside [0, ", W, "]");
    const int64_t start = cache.length(slots[i]);
    if (start + num_new[i] > cache.max_len()) {
      throw Error(cat("kv cache: slot ", slots[i], " holds ", start, " tokens and cannot take ", num_new[i],
                      " more (max_len ", cache.max_len(), ")"));
    }
    ZEROTH_CHECK(std::find(seen.begin(), seen.end(), slots[i]) == seen.end(), "slot ", slots[i], " listed twice");
    seen.push_back(slots[i]);
    in.starts.push_back(start);
    in.kv_len = std::max(in.kv_len, start + std::max<int64_t>(num_new[i], 1));
    if (num_new[i] != 1 || start != cache.length(slots[0])) uniform = false;
    if (slots[i] != slots[0] + i) consecutive = false;
  }
  in.kv_len = std::min(in.kv_len, cache.max_len());
  in.first_slot = consecutive && n > 0 ? slots[0] : -1;
  auto long_cpu = torch::TensorOptions().dtype(torch::kLong);
  in.slot_index = torch::tensor(slots, long_cpu).to(dev);
  auto starts_cpu = torch::tensor(in.starts, long_cpu);  // [n]
  if (W == 1) in.pos_index = starts_cpu.to(dev);
  auto t = torch::arange(W, long_cpu);                                   // [W]
  auto positions = starts_cpu.unsqueeze(1) + t.unsqueeze(0);             // [n, W]
  rotary_for(positions, in);
  if (!uniform) {
    // Row i, query t (position starts[i] + t) sees keys <= starts[i] + t; padding queries (t >=
    // num_new[i]) see what the last real one sees, so no row is fully masked.
    auto num_new_cpu = torch::tensor(num_new, long_cpu);
    auto last = (num_new_cpu - 1).clamp_min(0).unsqueeze(1);                              // [n, 1]
    auto limit = starts_cpu.unsqueeze(1) + torch::minimum(t.unsqueeze(0), last);           // [n, W]
    auto keys = torch::arange(in.kv_len, long_cpu);                                        // [S]
    auto keep = keys.view({1, 1, -1}) <= limit.unsqueeze(2);                               // [n, W, S]
    in.mask = torch::zeros({n, 1, W, in.kv_len})
                  .masked_fill(keep.logical_not().unsqueeze(1), -std::numeric_limits<float>::infinity())
                  .to(dev);
  }
  auto x = model->embed_tokens(ids.to(dev));  // [n, W, C]
  auto h = run_layers(x, in);
  for (int64_t i = 0; i < n; ++i) cache.set_length(slots[i], in.starts[i] + num_new[i]);
  return h;
}

torch::Tensor TransformerImpl::forward_cached(const torch::Tensor& ids, KvCache& cache,
                                              const std::vector<int64_t>& slots) {
  TORCH_CHECK(ids.dim() == 2 && ids.size(1) == 1, "forward_cached expects ids [L, 1], got ", ids.sizes());
  std::vector<int64_t> ones(slots.size(), 1);
  auto h = hidden_states_cached(ids, cache, slots, ones).select(1, 0);  // [L, C]
  return linear_fast(h, lm_head_weight(), torch::Tensor()).to(torch::kFloat);  // [L, V]
}

std::vector<std::pair<std::string, torch::Tensor>> base_parameters(const TransformerImpl& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : model.named_parameters(/*recurse=*/true)) {
    if (item.key().find("lora_") != std::string::npos) continue;
    out.emplace_back(item.key(), item.value());
  }
  return out;
}

void init_weights(TransformerImpl& model) {
  torch::NoGradGuard no_grad;
  const double std = model.config().initializer_range;
  for (auto& [name, p] : base_parameters(model)) {
    const bool is_norm = name.size() >= 11 && name.compare(name.size() - 11, 11, "norm.weight") == 0;
    const bool is_bias = name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    if (is_norm) {
      p.fill_(1.0);
    } else if (is_bias) {
      p.zero_();
    } else {
      p.normal_(0.0, std);
    }
  }
}

}  // namespace zeroth::model
