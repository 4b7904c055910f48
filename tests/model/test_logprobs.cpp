// Chunked log-probs and entropy against the naive full log_softmax, values and gradients.
#include "support/catch.h"

#include <algorithm>

#include <torch/torch.h>

#include "core/tensor_bits.h"
#include "support/tensor_asserts.h"
#include "model/logprob_kernel.h"
#include "zeroth/model/logprobs.h"

using namespace zeroth;
using zeroth::testing::require_close;

TEST_CASE("token_logprobs: chunked values and entropy equal the naive computation", "[model][logprobs]") {
  torch::manual_seed(0);
  auto h = torch::randn({3, 7, 16});
  auto w = torch::randn({50, 16}) * 0.5;
  auto targets = torch::randint(0, 50, {3, 7}, torch::kLong);
  targets[1][6] = -1;  // padding
  for (int64_t chunk : {1, 4, 21, 100}) {
    INFO("chunk " << chunk);
    torch::Tensor ent, ent_ref;
    auto lp = model::token_logprobs(h, w, targets, chunk, &ent);
    auto ref = model::token_logprobs_naive(h, w, targets, &ent_ref);
    REQUIRE(lp.sizes() == torch::IntArrayRef({3, 7}));
    require_close(lp, ref, 1e-5);
    require_close(ent, ent_ref, 1e-5);
    REQUIRE(lp[1][6].item<float>() == 0.0f);
  }
  // Hand check of one position: log p = z_y - log sum exp z.
  auto z = torch::matmul(h[0][0], w.t());
  double expected = z[targets[0][0].item<int64_t>()].item<double>() - z.logsumexp(0).item<double>();
  REQUIRE(model::token_logprobs(h, w, targets, 5)[0][0].item<double>() == Approx(expected).margin(1e-5));
}

TEST_CASE("token_logprobs: gradients of hidden and lm_head equal the naive ones", "[model][logprobs]") {
  torch::manual_seed(1);
  auto h0 = torch::randn({2, 9, 8});
  auto w0 = torch::randn({30, 8}) * 0.3;
  auto targets = torch::randint(0, 30, {2, 9}, torch::kLong);
  targets[0][0] = -1;
  auto coef_lp = torch::randn({2, 9});
  auto coef_ent = torch::randn({2, 9});
  auto run = [&](bool chunked) {
    auto h = h0.clone().requires_grad_(true);
    auto w = w0.clone().requires_grad_(true);
    torch::Tensor ent;
    auto lp = chunked ? model::token_logprobs(h, w, targets, 4, &ent) : model::token_logprobs_naive(h, w, targets, &ent);
    ((lp * coef_lp).sum() + (ent * coef_ent).sum()).backward();
    return std::make_pair(h.grad(), w.grad());
  };
  auto [gh, gw] = run(true);
  auto [gh_ref, gw_ref] = run(false);
  require_close(gh, gh_ref, 1e-5);
  require_close(gw, gw_ref, 1e-5);
  // Only the log-prob (no entropy requested) also differentiates.
  auto h = h0.clone().requires_grad_(true);
  model::token_logprobs(h, w0, targets, 3).sum().backward();
  auto h2 = h0.clone().requires_grad_(true);
  model::token_logprobs_naive(h2, w0, targets).sum().backward();
  require_close(h.grad(), h2.grad(), 1e-5);
}

TEST_CASE("token_logprobs: bf16 hidden states give fp32 log-probs close to fp32", "[model][logprobs]") {
  torch::manual_seed(2);
  auto h = torch::randn({2, 5, 32});
  auto w = torch::randn({64, 32}) * 0.2;
  auto targets = torch::randint(0, 64, {2, 5}, torch::kLong);
  auto lp = model::token_logprobs(h.to(torch::kBFloat16), w.to(torch::kBFloat16), targets, 3);
  REQUIRE(lp.scalar_type() == torch::kFloat);
  require_close(lp, model::token_logprobs_naive(h, w, targets), 0.1);
  REQUIRE_THROWS(model::token_logprobs(h, w, torch::zeros({2, 4}, torch::kLong), 3));
  REQUIRE_THROWS(model::token_logprobs(h, w, torch::full({2, 5}, 64, torch::kLong), 3));
}

TEST_CASE("token_logprobs: GRPO's use (entropy returned, loss on log-probs only) at a real chunk size", "[model][logprobs][kernels]") {
  // 300 positions over a 263-token vocabulary (the tiny recipes'), chunks of 256: the row kernels'
  // 16-lane runs, their tails and a partial last chunk, against the naive computation.
  torch::manual_seed(5);
  auto h0 = torch::randn({3, 100, 32});
  auto w0 = torch::randn({263, 32}) * 0.4;
  auto targets = torch::randint(0, 263, {3, 100}, torch::kLong);
  auto coef = torch::randn({3, 100});
  auto run = [&](bool chunked) {
    auto h = h0.clone().requires_grad_(true);
    auto w = w0.clone().requires_grad_(true);
    torch::Tensor ent;
    auto lp = chunked ? model::token_logprobs(h, w, targets, 256, &ent) : model::token_logprobs_naive(h, w, targets, &ent);
    (lp * coef).sum().backward();
    return std::make_tuple(lp.detach(), ent.detach(), h.grad(), w.grad());
  };
  auto [lp, ent, gh, gw] = run(true);
  auto [lp_ref, ent_ref, gh_ref, gw_ref] = run(false);
  require_close(lp, lp_ref, 1e-5);
  require_close(ent, ent_ref, 1e-5);
  require_close(gh, gh_ref, 1e-5);
  require_close(gw, gw_ref, 1e-5);
  // bf16 (the row-kernel path of token_logprobs) against the fp32 naive gradients.
  auto h = h0.to(torch::kBFloat16).requires_grad_(true);
  auto w = w0.to(torch::kBFloat16).requires_grad_(true);
  torch::Tensor ent_low;
  auto lp_low = model::token_logprobs(h, w, targets, 256, &ent_low);
  (lp_low * coef).sum().backward();
  require_close(lp_low, lp_ref, 0.05, 0.02);
  require_close(ent_low, ent_ref, 0.05, 0.02);
  require_close(h.grad().to(torch::kFloat), gh_ref, 0.05, 0.05);
  require_close(w.grad().to(torch::kFloat), gw_ref, 0.05, 0.05);
}

TEST_CASE("logprob row kernels: fp32 and bf16 rows against a double-precision reference", "[model][logprobs][kernels]") {
  // The kernels directly (token_logprobs uses them for bf16): vocabularies with and without a
  // 16-lane tail and longer than one 1024-value run, a row without target, both gradient terms.
  torch::manual_seed(7);
  for (int64_t V : {263, 5000}) {
    INFO("V " << V);
    const int64_t n = 9;
    auto z = torch::randn({n, V}) * 3;
    auto targets = torch::randint(0, V, {n}, torch::kLong);
    targets[4] = -1;
    auto g = torch::randn({n}), ge = torch::randn({n});
    auto zd = z.to(torch::kDouble).requires_grad_(true);
    auto ls = torch::log_softmax(zd, -1);
    auto valid = targets.ge(0);
    auto ref_lp = ls.gather(1, targets.clamp_min(0).unsqueeze(1)).squeeze(1).masked_fill(valid.logical_not(), 0.0);
    auto ref_ent = -(ls.exp() * ls).sum(-1);
    ((ref_lp * g.to(torch::kDouble)).sum() + (ref_ent * ge.to(torch::kDouble)).sum()).backward();
    auto ref_grad = zd.grad().to(torch::kFloat);
    // Tolerances from the arithmetic, not from one CPU. The kernels' own bound: s = sum exp(z - m)
    // is summed per lane in fp32 (8 lanes for AVX2, 16 otherwise) over runs of at most 1024 values,
    // so L = min(V, 1024) / 8 terms per lane err by gamma_L relative at most; each exp(x) errs by
    // ~|x| u (its argument's rounding, |x| <= R = the row's range) plus ~8 u (polynomial and its
    // roundings); lse = m + log s inherits the relative error of s as an absolute one, plus the
    // roundings of lse itself (u |lse|, and as much for z_y - lse). So
    //   log-prob, lse:  gamma_L + (R + 8) u + 2 u max(|lse|, |z|)
    //   entropy:        that plus t / s's relative error (the same bound) times max |z|, twice.
    // Gradient elements exp(z - lse) (c + e z) take that relative error (rtol). The same formulas in
    // LibTorch's own fp32 ops also show how far fp32 rounding takes these rows from the double
    // reference: the tolerance is the larger of the bound and twice LibTorch's error.
    auto zf = z.clone().requires_grad_(true);
    auto lsf = torch::log_softmax(zf, -1);
    auto lp_f32 = lsf.gather(1, targets.clamp_min(0).unsqueeze(1)).squeeze(1).masked_fill(valid.logical_not(), 0.0);
    auto ent_f32 = -(lsf.exp() * lsf).sum(-1);
    ((lp_f32 * g).sum() + (ent_f32 * ge).sum()).backward();
    auto fp32_error = [](const torch::Tensor& a, const torch::Tensor& ref) {
      return std::max(1e-6, 2.0 * (a.detach().to(torch::kDouble) - ref.detach()).abs().max().item<double>());
    };
    constexpr double u = 5.9604644775390625e-8;  // 2^-24
    const int64_t L = (std::min<int64_t>(V, 1024) + 7) / 8;
    const double range = std::min(87.0, (std::get<0>(z.max(-1)) - std::get<0>(z.min(-1))).max().item<double>());
    const double z_max = z.abs().max().item<double>();
    const double lse_max = torch::logsumexp(z.to(torch::kDouble), -1).abs().max().item<double>();
    const double rel = L * u / (1 - L * u) + (range + 8) * u;
    const double lp_bound = rel + 2 * u * std::max(lse_max, z_max);
    const double ent_bound = lp_bound + 2 * rel * z_max;
    const double lp_tol = std::max(lp_bound, fp32_error(lp_f32, ref_lp));
    const double ent_tol = std::max(ent_bound, fp32_error(ent_f32, ref_ent));
    const double grad_tol = fp32_error(zf.grad(), zd.grad());
    INFO("tolerances from LibTorch's fp32: log-prob " << lp_tol << ", entropy " << ent_tol << ", gradient " << grad_tol);
    auto lse = torch::empty({n}), lp = torch::empty({n}), ent = torch::empty({n});
    model::kernels::logprob_rows_forward_f32(z.data_ptr<float>(), n, V, V, targets.data_ptr<int64_t>(),
                                             lse.data_ptr<float>(), lp.data_ptr<float>(), ent.data_ptr<float>());
    require_close(lp, ref_lp.to(torch::kFloat), lp_tol);
    require_close(ent, ref_ent.to(torch::kFloat), ent_tol);
    require_close(lse, torch::logsumexp(z.to(torch::kDouble), -1).to(torch::kFloat), lp_tol);
    auto grad = z.clone();
    model::kernels::logprob_rows_backward_f32(grad.data_ptr<float>(), n, V, V, targets.data_ptr<int64_t>(),
                                              lse.data_ptr<float>(), ent.data_ptr<float>(), g.data_ptr<float>(),
                                              ge.data_ptr<float>());
    require_close(grad, ref_grad, grad_tol, rel + 2 * u * lse_max);
    // bf16 logits: the same rows rounded to bf16, compared with the reference on those rounded values.
    auto zb = z.to(torch::kBFloat16);
    auto zbd = zb.to(torch::kDouble);
    auto lsb = torch::log_softmax(zbd, -1);
    auto ref_lpb = lsb.gather(1, targets.clamp_min(0).unsqueeze(1)).squeeze(1).masked_fill(valid.logical_not(), 0.0);
    model::kernels::logprob_rows_forward_bf16(bf16_bits(zb), n, V, V,
                                              targets.data_ptr<int64_t>(), lse.data_ptr<float>(), lp.data_ptr<float>(),
                                              nullptr);
    require_close(lp, ref_lpb.to(torch::kFloat), 1e-5);
    auto gb = zb.clone();
    model::kernels::logprob_rows_backward_bf16(bf16_bits(gb), n, V, V,
                                               targets.data_ptr<int64_t>(), lse.data_ptr<float>(), nullptr,
                                               g.data_ptr<float>(), nullptr);
    auto zbr = zbd.clone().requires_grad_(true);
    auto lsr = torch::log_softmax(zbr, -1);
    (lsr.gather(1, targets.clamp_min(0).unsqueeze(1)).squeeze(1).masked_fill(valid.logical_not(), 0.0) *
     g.to(torch::kDouble)).sum().backward();
    require_close(gb.to(torch::kFloat), zbr.grad().to(torch::kFloat), 1e-3, 1e-2);  // bf16 output rounding
  }
}
