// Linear (+LoRA), Embedding, RMSNorm, SwiGLU MLP and rotary embeddings, as HF computes them.
#include "zeroth/model/layers.h"

#include <cmath>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "core/tensor_bits.h"
#include "model/bf16_products.h"
#include "model/matmul_kernel.h"
#include "zeroth/core/cpu_isa.h"
#include "zeroth/core/error.h"

namespace zeroth::model {

LinearImpl::LinearImpl(int64_t in_features, int64_t out_features, bool bias_, const torch::TensorOptions& options)
    : in_(in_features), out_(out_features) {
  weight = register_parameter("weight", torch::empty({out_features, in_features}, options));
  if (bias_) bias = register_parameter("bias", torch::empty({out_features}, options));
}

namespace {

// The decode products (matmul_kernel.h) take CPU bf16 products of a few rows outside autograd.
// b may be undefined.
bool rows_kernel_applies(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  if (!x.device().is_cpu() || x.scalar_type() != torch::kBFloat16 || w.scalar_type() != torch::kBFloat16) return false;
  if (b.defined() && b.scalar_type() != torch::kBFloat16) return false;
  if (torch::GradMode::is_enabled() && (x.requires_grad() || w.requires_grad())) return false;
  if (w.dim() != 2 || w.stride(1) != 1 || x.size(-1) != w.size(1)) return false;
  return kernels::rows_product_supported(kernels::rows_kernel(), x.numel() / w.size(1), w.size(1));
}

std::vector<torch::Tensor> rows_products(const torch::Tensor& x, const std::vector<torch::Tensor>& weights,
                                         const std::vector<torch::Tensor>& biases) {
  const int64_t K = x.size(-1), M = x.numel() / K;
  auto x2 = x.reshape({M, K}).contiguous();
  std::vector<torch::Tensor> outs;
  std::vector<kernels::RowsProduct> products;
  for (size_t i = 0; i < weights.size(); ++i) {
    const auto& w = weights[i];
    const int64_t N = w.size(0);
    auto y = torch::empty({M, N}, x.options());
    kernels::RowsProduct p;
    p.w = bf16_bits(w);
    p.ldw = w.stride(0);
    if (biases[i].defined()) {
      TORCH_CHECK(biases[i].is_contiguous(), "bias must be contiguous");
      p.b = bf16_bits(biases[i]);
    }
    p.y = bf16_bits(y);
    p.ldy = N;
    p.N = N;
    products.push_back(p);
    auto shape = x.sizes().vec();
    shape.back() = N;
    outs.push_back(y.view(shape));
  }
  kernels::rows_products_bf16(kernels::rows_kernel(), bf16_bits(x2), K, M, K, products.data(),
                              static_cast<int64_t>(products.size()));
  return outs;
}

}  // namespace

bool bf16_products_through_fp32() {
  static const bool widen = [] {
    const bool hardware = kernels::amx_available() || kernels::avx512_bf16_available();
    if (!hardware && kernels::rows_kernel() == kernels::RowsKernel::avx2) {
      spdlog::info("CPU bf16 products: no AMX or AVX512-BF16 at level {}; products of <= {} rows run on zeroth's "
                   "AVX2 kernel, larger ones on fp32 copies of their operands",
                   cpu_isa_name(cpu_isa()), kernels::kMaxRows);
    } else if (!hardware) {
      spdlog::info("CPU bf16 products: no AMX or AVX512-BF16 at level {}; they run on fp32 copies of their operands",
                   cpu_isa_name(cpu_isa()));
    }
    return !hardware;
  }();
  return widen;
}

bool widen_bf16_product(const torch::Tensor& a) {
  return a.device().is_cpu() && a.scalar_type() == torch::kBFloat16 && bf16_products_through_fp32();
}

void mm_out_any(torch::Tensor& out, const torch::Tensor& a, const torch::Tensor& b) {
  if (widen_bf16_product(a)) {
    out.copy_(torch::mm(a.to(torch::kFloat), b.to(torch::kFloat)));
  } else {
    at::mm_out(out, a, b);
  }
}

torch::Tensor linear_fast(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  const int64_t in = w.size(1), out = w.size(0);
  if (rows_kernel_applies(x, w, b)) return rows_products(x, {w}, {b})[0];
  const bool one_row = x.numel() == in;
  if (one_row && x.device().is_cpu() && x.scalar_type() == torch::kFloat && w.scalar_type() == torch::kFloat &&
      !(torch::GradMode::is_enabled() && (x.requires_grad() || w.requires_grad()))) {
    auto y = torch::mv(w, x.reshape({in}));  // [out]
    if (b.defined()) y.add_(b);
    auto shape = x.sizes().vec();
    shape.back() = out;
    return y.view(shape);
  }
  if (widen_bf16_product(x) && w.scalar_type() == torch::kBFloat16) {
    // fp32 copies (autograd passes the gradients back through the casts in bf16).
    auto y = torch::linear(x.to(torch::kFloat), w.to(torch::kFloat), b.defined() ? b.to(torch::kFloat) : b);
    return y.to(torch::kBFloat16);
  }
  return torch::linear(x, w, b);
}

std::vector<torch::Tensor> linear_many(const torch::Tensor& x, const std::vector<LinearImpl*>& layers) {
  bool together = true;
  std::vector<torch::Tensor> weights, biases;
  for (auto* layer : layers) {
    together = together && !layer->has_lora() && rows_kernel_applies(x, layer->weight, layer->bias);
    weights.push_back(layer->weight);
    biases.push_back(layer->bias);
  }
  if (together) return rows_products(x, weights, biases);
  std::vector<torch::Tensor> outs;
  for (auto* layer : layers) outs.push_back(layer->forward(x));
  return outs;
}

torch::Tensor LinearImpl::forward(const torch::Tensor& x) {
  torch::Tensor y = linear_fast(x, weight, bias);
  if (lora_r_ > 0) {
    auto h = x.to(lora_A().scalar_type());
    if (is_training() && lora_dropout_ > 0) h = torch::dropout(h, lora_dropout_, true);
    auto delta = torch::linear(torch::linear(h, lora_A()), lora_B()) * lora_scaling_;  // [..., out]
    y = y + delta.to(y.scalar_type());
  }
  return y;
}

void LinearImpl::add_lora(int64_t r, double alpha, double dropout, bool use_rslora, c10::ScalarType dtype) {
  if (r <= 0) throw Error(cat("lora: r must be positive, got ", r));
  if (has_lora()) throw Error("lora: this layer already has an adapter; merge or remove it first");
  auto options = torch::TensorOptions().dtype(dtype).device(weight.device());
  torch::NoGradGuard no_grad;
  // PEFT: lora_A ~ kaiming_uniform(a = sqrt(5)) = U(-1/sqrt(in), 1/sqrt(in)); lora_B = 0, so the
  // adapted layer starts equal to the base layer.
  const double bound = 1.0 / std::sqrt(static_cast<double>(in_));
  register_module("lora_A", LoraMatrix(torch::empty({r, in_}, options).uniform_(-bound, bound)));
  register_module("lora_B", LoraMatrix(torch::zeros({out_, r}, options)));
  lora_r_ = r;
  lora_scaling_ = use_rslora ? alpha / std::sqrt(static_cast<double>(r)) : alpha / static_cast<double>(r);
  lora_dropout_ = dropout;
  lora_rslora_ = use_rslora;
}

torch::Tensor LinearImpl::lora_A() const {
  return named_children()["lora_A"]->as<LoraMatrixImpl>()->weight;
}

torch::Tensor LinearImpl::lora_B() const {
  return named_children()["lora_B"]->as<LoraMatrixImpl>()->weight;
}

void LinearImpl::merge_lora() {
  if (!has_lora()) return;
  torch::NoGradGuard no_grad;
  auto delta = torch::matmul(lora_B().to(torch::kFloat), lora_A().to(torch::kFloat)) * lora_scaling_;  // [out, in]
  weight.copy_((weight.to(torch::kFloat) + delta).to(weight.scalar_type()));
  remove_lora();
}

void LinearImpl::remove_lora() {
  if (!has_lora()) return;
  unregister_module("lora_A");
  unregister_module("lora_B");
  lora_r_ = 0;
}

EmbeddingImpl::EmbeddingImpl(int64_t num, int64_t dim, const torch::TensorOptions& options) {
  weight = register_parameter("weight", torch::empty({num, dim}, options));
}

torch::Tensor EmbeddingImpl::forward(const torch::Tensor& ids) { return torch::embedding(weight, ids); }

RMSNormImpl::RMSNormImpl(int64_t dim, double eps, const torch::TensorOptions& options) : eps_(eps) {
  weight = register_parameter("weight", torch::empty({dim}, options));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  auto xf = x.to(torch::kFloat);
  auto variance = xf.pow(2).mean(-1, /*keepdim=*/true);
  return weight * (xf * torch::rsqrt(variance + eps_)).to(x.scalar_type());
}

MlpImpl::MlpImpl(const ModelConfig& cfg, const torch::TensorOptions& options) {
  gate_proj = register_module("gate_proj", Linear(cfg.hidden_size, cfg.intermediate_size, cfg.mlp_bias, options));
  up_proj = register_module("up_proj", Linear(cfg.hidden_size, cfg.intermediate_size, cfg.mlp_bias, options));
  down_proj = register_module("down_proj", Linear(cfg.intermediate_size, cfg.hidden_size, cfg.mlp_bias, options));
}

torch::Tensor MlpImpl::forward(const torch::Tensor& x) {
  auto gate_up = linear_many(x, {gate_proj.get(), up_proj.get()});
  return down_proj(torch::silu(gate_up[0]) * gate_up[1]);
}

torch::Tensor rotary_inv_freq(const ModelConfig& cfg) {
  const int64_t D = cfg.head_dim;
  // inv_freq = 1 / theta^(arange(0, D, 2) / D), in fp32 as transformers computes it.
  auto exponent = torch::arange(0, D, 2, torch::kLong).to(torch::kFloat) / static_cast<double>(D);
  auto inv_freq = 1.0 / torch::pow(torch::scalar_tensor(cfg.rope_theta, torch::kFloat), exponent);
  const auto& rs = cfg.rope_scaling;
  if (rs.rope_type == "linear") {
    inv_freq = inv_freq / rs.factor;
  } else if (rs.rope_type == "llama3") {
    // modeling_rope_utils._compute_llama3_parameters
    const double old_len = static_cast<double>(rs.original_max_position_embeddings);
    const double low_freq_wavelen = old_len / rs.low_freq_factor;
    const double high_freq_wavelen = old_len / rs.high_freq_factor;
    auto wavelen = 2 * M_PI / inv_freq;
    auto inv_freq_llama = torch::where(wavelen > low_freq_wavelen, inv_freq / rs.factor, inv_freq);
    auto smooth = (old_len / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
    auto smoothed = (1 - smooth) * inv_freq_llama / rs.factor + smooth * inv_freq_llama;
    auto is_medium = (wavelen < high_freq_wavelen).logical_not().logical_and((wavelen > low_freq_wavelen).logical_not());
    inv_freq = torch::where(is_medium, smoothed, inv_freq_llama);
  }
  return inv_freq.contiguous();
}

std::pair<torch::Tensor, torch::Tensor> rotary_cos_sin(const torch::Tensor& inv_freq, const torch::Tensor& positions,
                                                       c10::ScalarType dtype) {
  auto freqs = positions.to(torch::kFloat).unsqueeze(-1) * inv_freq;  // [B, T, D/2]
  auto emb = torch::cat({freqs, freqs}, -1);                            // [B, T, D]
  return {emb.cos().to(dtype), emb.sin().to(dtype)};
}

torch::Tensor apply_rotary(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  const int64_t half = x.size(-1) / 2;
  auto x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, half);
  auto rotated = torch::cat({-x2, x1}, -1);
  return x * cos.unsqueeze(1) + rotated * sin.unsqueeze(1);
}

}  // namespace zeroth::model
