// Chunked token log-probs with a hand-written backward (recompute the chunk's logits).
// For one position with logits z [V], p = softmax(z), target y:
//   logp_y = z_y - lse(z),            d logp_y / dz = onehot(y) - p
//   H = lse(z) - sum(p z),            dH / dz = -p (log p + H)
// Shapes: N positions, C hidden, V vocabulary, n positions in a chunk.
#include "zeroth/model/logprobs.h"

#include <torch/torch.h>

#include "core/tensor_bits.h"
#include "model/bf16_products.h"
#include "model/logprob_kernel.h"
#include "zeroth/core/error.h"

namespace zeroth::model {
namespace {

// CPU bf16 (the big-model case): the row kernels of logprob_kernel.h read the chunk's logits in
// bf16; no [n, V] fp32 copies (at chunk 1024 each was a fresh 622 MB tensor whose page faults alone
// cost ~1 s). fp32 keeps the torch-op path below: exact torch arithmetic, cheap for the small
// models that run in fp32, and the tiny recipes' trajectories stay as published (the kernels agree
// to ~1e-6, but 400 Adam steps of a tiny model amplify that into different runs). CUDA and fp16
// take the op path too. logprob_kernel_test covers the fp32 kernels directly.
bool use_row_kernels(const torch::Tensor& hidden) {
  return hidden.device().is_cpu() && hidden.scalar_type() == torch::kBFloat16;
}

// The chunk's logits, in a buffer kept per thread and reused by every chunk, forward and backward
// (one [chunk, V] block: 311 MB in bf16 at chunk 1024 for Qwen's vocabulary).
torch::Tensor logits_workspace(int64_t n, int64_t V, const torch::TensorOptions& options) {
  thread_local torch::Tensor buffer;
  if (!buffer.defined() || buffer.size(1) != V || buffer.size(0) < n || buffer.scalar_type() != options.dtype().toScalarType()) {
    buffer = torch::Tensor();  // free the old one first
    buffer = torch::empty({n, V}, options);
  }
  return buffer.narrow(0, 0, n);
}

void forward_kernel(const torch::Tensor& hidden, const torch::Tensor& weight, const torch::Tensor& targets,
                    int64_t chunk, torch::Tensor& logp, torch::Tensor& lse, torch::Tensor* entropy) {
  const int64_t N = hidden.size(0), V = weight.size(0);
  const int64_t* t = targets.data_ptr<int64_t>();
  // Without bf16 instructions the products run on fp32 copies (bf16_products.h): the weight's once.
  const auto wt = widen_bf16_product(weight) ? weight.to(torch::kFloat).t() : weight.t();
  for (int64_t s = 0; s < N; s += chunk) {
    const int64_t n = std::min(chunk, N - s);
    auto z = logits_workspace(n, V, hidden.options());
    mm_out_any(z, hidden.narrow(0, s, n), wt);
    float* ent = entropy ? entropy->data_ptr<float>() + s : nullptr;
    if (z.scalar_type() == torch::kFloat) {
      kernels::logprob_rows_forward_f32(z.data_ptr<float>(), n, V, z.stride(0), t + s, lse.data_ptr<float>() + s,
                                        logp.data_ptr<float>() + s, ent);
    } else {
      kernels::logprob_rows_forward_bf16(bf16_bits(z), n, V, z.stride(0),
                                         t + s, lse.data_ptr<float>() + s, logp.data_ptr<float>() + s, ent);
    }
  }
}

// The same with torch ops on fp32 copies of each chunk's logits (fp32 models, CUDA, fp16).
void forward_ops(const torch::Tensor& hidden, const torch::Tensor& weight, const torch::Tensor& targets, int64_t chunk,
                 torch::Tensor& logp, torch::Tensor& lse_all, torch::Tensor* entropy) {
  const int64_t N = hidden.size(0);
  auto valid = targets.ge(0);
  auto safe_targets = targets.clamp_min(0);
  for (int64_t s = 0; s < N; s += chunk) {
    const int64_t n = std::min(chunk, N - s);
    auto z = torch::matmul(hidden.narrow(0, s, n), weight.t()).to(torch::kFloat);  // [n, V]
    auto lse = z.logsumexp(-1);                                                   // [n]
    auto zy = z.gather(1, safe_targets.narrow(0, s, n).unsqueeze(1)).squeeze(1);   // [n]
    logp.narrow(0, s, n).copy_((zy - lse).masked_fill(valid.narrow(0, s, n).logical_not(), 0.0));
    lse_all.narrow(0, s, n).copy_(lse);
    if (entropy) {
      auto p = (z - lse.unsqueeze(1)).exp_();  // [n, V]
      entropy->narrow(0, s, n).copy_(lse - (p * z).sum(-1));
    }
  }
}

// d loss / d hidden (into grad_h when defined) and d loss / d weight (returned; undefined when
// not needed) through the row kernels.
torch::Tensor backward_kernel(const torch::Tensor& hidden, const torch::Tensor& weight, const torch::Tensor& targets,
                              int64_t chunk, const torch::Tensor& lse, const torch::Tensor& entropy,
                              const torch::Tensor& g_logp, const torch::Tensor& g_ent, torch::Tensor& grad_h,
                              bool need_w) {
  const int64_t N = hidden.size(0), V = weight.size(0);
  const int64_t* t = targets.data_ptr<int64_t>();
  torch::Tensor grad_w;
  // Without bf16 instructions (bf16_products.h) the products run on fp32 copies, the weight's made
  // once, and its gradient sums the chunks in fp32 (rounded to the weight's dtype at the end).
  const bool widen = widen_bf16_product(weight);
  const auto w = widen ? weight.to(torch::kFloat) : weight;
  for (int64_t s = 0; s < N; s += chunk) {
    const int64_t n = std::min(chunk, N - s);
    auto h = hidden.narrow(0, s, n);
    auto z = logits_workspace(n, V, hidden.options());
    mm_out_any(z, h, w.t());
    const float* gl = g_logp.defined() ? g_logp.data_ptr<float>() + s : nullptr;
    const float* ge = g_ent.defined() ? g_ent.data_ptr<float>() + s : nullptr;
    const float* ent = g_ent.defined() ? entropy.data_ptr<float>() + s : nullptr;
    if (z.scalar_type() == torch::kFloat) {
      kernels::logprob_rows_backward_f32(z.data_ptr<float>(), n, V, z.stride(0), t + s, lse.data_ptr<float>() + s, ent, gl, ge);
    } else {
      kernels::logprob_rows_backward_bf16(bf16_bits(z), n, V, z.stride(0), t + s,
                                          lse.data_ptr<float>() + s, ent, gl, ge);
    }
    if (grad_h.defined()) {
      auto out = grad_h.narrow(0, s, n);
      mm_out_any(out, z, w);
    }
    if (need_w) {
      const auto zt = widen ? z.t().to(torch::kFloat) : z.t();
      const auto hw = widen ? h.to(torch::kFloat) : h;
      if (grad_w.defined()) {
        grad_w.addmm_(zt, hw);
      } else {
        grad_w = torch::mm(zt, hw);  // [V, C]
      }
    }
  }
  return widen && grad_w.defined() ? grad_w.to(weight.scalar_type()) : grad_w;
}

struct ChunkedLogprobs : public torch::autograd::Function<ChunkedLogprobs> {
  // hidden [N, C], weight [V, C], targets [N] -> {logp [N], entropy [N] (empty unless wanted)}
  static torch::autograd::variable_list forward(torch::autograd::AutogradContext* ctx, torch::Tensor hidden,
                                                torch::Tensor weight, torch::Tensor targets, int64_t chunk,
                                                bool want_entropy) {
    // An output the loss does not use (the entropy, mostly) gets no gradient rather than zeros,
    // so the backward skips its [n, V] passes.
    ctx->set_materialize_grads(false);
    const int64_t N = hidden.size(0);
    auto f32 = hidden.options().dtype(torch::kFloat);
    auto logp = torch::zeros({N}, f32);
    auto lse_all = torch::empty({N}, f32);
    auto ent = want_entropy ? torch::empty({N}, f32) : torch::empty({0}, f32);
    if (use_row_kernels(hidden)) {
      forward_kernel(hidden.contiguous(), weight.contiguous(), targets.to(torch::kLong).contiguous(), chunk, logp,
                     lse_all, want_entropy ? &ent : nullptr);
    } else {
      forward_ops(hidden, weight, targets, chunk, logp, lse_all, want_entropy ? &ent : nullptr);
    }
    ctx->save_for_backward({hidden, weight, targets, lse_all, ent});
    ctx->saved_data["chunk"] = chunk;
    ctx->saved_data["entropy"] = want_entropy;
    return {logp, ent};
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto hidden = saved[0], weight = saved[1], targets = saved[2], lse_all = saved[3], ent = saved[4];
    const int64_t chunk = ctx->saved_data["chunk"].toInt();
    const bool want_entropy = ctx->saved_data["entropy"].toBool();
    auto g_logp = grads.size() > 0 && grads[0].defined() ? grads[0].to(torch::kFloat) : torch::Tensor();
    auto g_ent = want_entropy && grads.size() > 1 && grads[1].defined() ? grads[1].to(torch::kFloat) : torch::Tensor();
    const bool need_h = ctx->needs_input_grad(0), need_w = ctx->needs_input_grad(1);
    const int64_t N = hidden.size(0);
    if (use_row_kernels(hidden)) {
      if (!g_logp.defined() && !g_ent.defined()) {
        return {need_h ? torch::zeros_like(hidden) : torch::Tensor(), need_w ? torch::zeros_like(weight) : torch::Tensor(),
                torch::Tensor(), torch::Tensor(), torch::Tensor()};
      }
      auto h = hidden.contiguous();
      auto t = targets.to(torch::kLong).contiguous();
      torch::Tensor grad_h = need_h ? torch::empty_like(h) : torch::Tensor();
      auto gl = g_logp.defined() ? g_logp.contiguous() : g_logp;
      auto ge = g_ent.defined() ? g_ent.contiguous() : g_ent;
      auto grad_w = backward_kernel(h, weight.contiguous(), t, chunk, lse_all, ent, gl, ge, grad_h, need_w);
      return {grad_h, grad_w, torch::Tensor(), torch::Tensor(), torch::Tensor()};
    }
    torch::Tensor grad_h = need_h ? torch::zeros_like(hidden) : torch::Tensor();
    // The weight's gradient is summed over chunks in the weight's dtype (addmm_ into the first
    // chunk's product), as autograd sums the per-chunk gradients of an eager chunked loop.
    torch::Tensor grad_w;
    auto valid = targets.ge(0);
    auto safe_targets = targets.clamp_min(0);
    for (int64_t s = 0; s < N; s += chunk) {
      const int64_t n = std::min(chunk, N - s);
      auto h = hidden.narrow(0, s, n);
      auto z = torch::matmul(h, weight.t()).to(torch::kFloat);  // [n, V], a fresh buffer
      auto lse = lse_all.narrow(0, s, n).unsqueeze(1);           // [n, 1]
      torch::Tensor g;                                           // [n, 1] d loss / d logp_y
      if (g_logp.defined()) {
        g = g_logp.narrow(0, s, n).masked_fill(valid.narrow(0, s, n).logical_not(), 0.0).unsqueeze(1);
      }
      torch::Tensor gz;  // [n, V] d loss / d z
      if (g_ent.defined()) {
        auto logp_all = z - lse;
        auto p = logp_all.exp();
        gz = p * (logp_all + ent.narrow(0, s, n).unsqueeze(1)) * g_ent.narrow(0, s, n).unsqueeze(1);
        gz.neg_();
        if (g.defined()) gz.addcmul_(p, g, -1.0);
      } else if (g.defined()) {
        gz = z.sub_(lse).exp_().mul_(-g);  // -p g, in place: no extra [n, V] buffers
      } else {
        continue;  // no gradient reaches this chunk
      }
      if (g.defined()) gz.scatter_add_(1, safe_targets.narrow(0, s, n).unsqueeze(1), g);
      auto gz_low = gz.to(hidden.scalar_type());
      if (need_h) grad_h.narrow(0, s, n).copy_(torch::matmul(gz_low, weight));
      if (need_w) {
        if (grad_w.defined()) {
          grad_w.addmm_(gz_low.t(), h);
        } else {
          grad_w = torch::matmul(gz_low.t(), h);  // [V, C]
        }
      }
    }
    if (need_w && !grad_w.defined()) grad_w = torch::zeros_like(weight);
    return {grad_h, grad_w, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

void check_shapes(const at::Tensor& hidden, const at::Tensor& lm_head, const at::Tensor& targets) {
  TORCH_CHECK(hidden.dim() == 3, "token_logprobs: hidden must be [B, T, C], got ", hidden.sizes());
  TORCH_CHECK(lm_head.dim() == 2 && lm_head.size(1) == hidden.size(2), "token_logprobs: lm_head must be [V, ",
              hidden.size(2), "], got ", lm_head.sizes());
  TORCH_CHECK(targets.dim() == 2 && targets.size(0) == hidden.size(0) && targets.size(1) == hidden.size(1),
              "token_logprobs: targets must be [B, T] = ", hidden.sizes().slice(0, 2), ", got ", targets.sizes());
  TORCH_CHECK(targets.max().item<int64_t>() < lm_head.size(0), "token_logprobs: a target id is outside the vocabulary");
}

}  // namespace

at::Tensor token_logprobs(const at::Tensor& hidden, const at::Tensor& lm_head, const at::Tensor& targets, int64_t chunk,
                          at::Tensor* entropy) {
  check_shapes(hidden, lm_head, targets);
  TORCH_CHECK(chunk > 0, "token_logprobs: chunk must be positive");
  const int64_t B = hidden.size(0), T = hidden.size(1);
  if (B * T == 0) {
    if (entropy) *entropy = torch::zeros({B, T}, hidden.options().dtype(torch::kFloat));
    return torch::zeros({B, T}, hidden.options().dtype(torch::kFloat));
  }
  auto h = hidden.reshape({B * T, hidden.size(2)});
  auto w = lm_head.to(hidden.scalar_type());
  auto out = ChunkedLogprobs::apply(h, w, targets.reshape({B * T}).to(hidden.device()), chunk, entropy != nullptr);
  if (entropy) *entropy = out[1].view({B, T});
  return out[0].view({B, T});
}

at::Tensor token_logprobs_naive(const at::Tensor& hidden, const at::Tensor& lm_head, const at::Tensor& targets,
                                at::Tensor* entropy) {
  check_shapes(hidden, lm_head, targets);
  auto logits = torch::matmul(hidden, lm_head.to(hidden.scalar_type()).t()).to(torch::kFloat);  // [B, T, V]
  auto logp = torch::log_softmax(logits, -1);
  auto valid = targets.ge(0);
  auto out = logp.gather(2, targets.clamp_min(0).unsqueeze(2)).squeeze(2).masked_fill(valid.logical_not(), 0.0);
  if (entropy) *entropy = -(logp.exp() * logp).sum(-1);
  return out;
}

}  // namespace zeroth::model
