// The decode-step kernels (model/matmul_kernel.h, model/attention_kernel.h) against double references computed by
// LibTorch, with tolerances from the kernels' fp32 accumulation and bf16 output rounding.
#include "support/catch.h"

#include <torch/torch.h>

#include "core/tensor_bits.h"
#include "model/attention_kernel.h"
#include "model/bf16_products.h"
#include "model/matmul_kernel.h"
#include "zeroth/model/layers.h"

using namespace zeroth;

namespace {

constexpr double kFp32Unit = 5.9604644775390625e-8;  // u = 2^-24, fp32's unit roundoff
constexpr double kBf16Unit = 1.0 / 256;              // 2^-8, bf16's unit roundoff (8 significant bits)

// gamma_n = n u / (1 - n u): the bound on the relative error of a sum of n fp32 terms in any order
// (and of n-term dot products with or without FMA), relative to the sum of the terms' magnitudes.
double gamma(int64_t n) { return n * kFp32Unit / (1.0 - n * kFp32Unit); }

// |y - ref| <= bound elementwise, with the largest error shown.
void require_within(const torch::Tensor& y, const torch::Tensor& ref, const torch::Tensor& bound) {
  auto err = (y.to(torch::kDouble) - ref.to(torch::kDouble)).abs();
  INFO("max error " << err.max().item<double>() << ", max |ref| " << ref.abs().max().item<double>()
                    << ", max error / bound " << (err / bound).max().item<double>());
  REQUIRE((err <= bound).all().item<bool>());
}

// A product y = x w^T (+ b) of bf16 inputs rounded once to bf16, against the exact products of
// those inputs (double): the fp32 sums of K terms err by at most gamma_K sum_k |x_k w_k| (plus the
// bias add, one more term), and the rounding to bf16 by at most 2^-8 |y| (8 significant bits). The kernel's own
// sum can sit right at a bf16 rounding boundary, so the rounding term takes the exact |y| plus the
// sum error.
void require_product_close(const torch::Tensor& y, const torch::Tensor& x, const torch::Tensor& w,
                           const torch::Tensor& b = {}) {
  auto xd = x.to(torch::kDouble), wd = w.to(torch::kDouble);
  auto ref = torch::matmul(xd, wd.transpose(-2, -1));
  auto magnitude = torch::matmul(xd.abs(), wd.abs().transpose(-2, -1));
  if (b.defined()) {
    ref = ref + b.to(torch::kDouble);
    magnitude = magnitude + b.to(torch::kDouble).abs();
  }
  auto sum_error = magnitude * gamma(w.size(-1) + 1);
  require_within(y, ref, (ref.abs() + sum_error) * kBf16Unit + sum_error);
}

torch::Tensor bf16(const torch::Tensor& t) { return t.to(torch::kBFloat16); }

}  // namespace

// y = x w^T (+ b) through `kernel` directly, for a weight with row stride ldw >= K.
torch::Tensor run_kernel(model::kernels::RowsKernel kernel, const torch::Tensor& x, const torch::Tensor& w,
                         const torch::Tensor& b) {
  const int64_t M = x.size(0), K = x.size(1), N = w.size(0);
  auto y = torch::empty({M, N}, torch::kBFloat16);
  model::kernels::RowsProduct p;
  p.w = bf16_bits(w);
  p.ldw = w.stride(0);
  p.b = b.defined() ? bf16_bits(b) : nullptr;
  p.y = bf16_bits(y);
  p.ldy = N;
  p.N = N;
  model::kernels::rows_products_bf16(kernel, bf16_bits(x), K, M, K, &p, 1);
  return y;
}

TEST_CASE("decode products: bf16 rows times weights equal an fp32 product, every kernel, row count and tail", "[model][kernels]") {
  torch::NoGradGuard no_grad;
  using model::kernels::RowsKernel;
  std::vector<RowsKernel> kernels;
  // Every kernel this CPU (at the ZEROTH_CPU_ISA level) can run; the CTest entries
  // kernels_model_isa_<level> run this once per level and report levels the CPU lacks as skipped.
  if (model::kernels::amx_available()) kernels.push_back(RowsKernel::amx);
  if (model::kernels::avx512_bf16_available()) kernels.push_back(RowsKernel::avx512_bf16);
  if (model::kernels::avx2_available()) kernels.push_back(RowsKernel::avx2);
  if (kernels.empty()) WARN("generic level: no decode kernel runs here; only the torch::linear fallback is checked");
  torch::manual_seed(5);
  for (auto kernel : kernels) {
    for (int64_t M : {1, 2, 3, 4, 5, 16, 17, 32, 45, 64}) {
      for (int64_t N : {16, 85, 208}) {  // 85: five blocks of 16 and a tail of 5; 208: 13 blocks (4 + 4 + 4 + 1)
        for (int64_t K : {32, 96, 40}) {  // 40: not a multiple of 32 (AVX2 only)
          if (!model::kernels::rows_product_supported(kernel, M, K)) continue;
          INFO("kernel " << static_cast<int>(kernel) << " M " << M << " N " << N << " K " << K);
          auto x = bf16(torch::randn({M, K}));
          auto big = bf16(torch::randn({N, K + 32}));
          auto w = big.narrow(1, 16, K);  // rows K + 32 apart
          auto b = bf16(torch::randn({N}));
          require_product_close(run_kernel(kernel, x, w, {}), x, w);
          require_product_close(run_kernel(kernel, x, w, b), x, w, b);
        }
      }
    }
  }
  // Through linear_fast, whichever kernel this machine uses (or torch::linear).
  for (int64_t M : {1, 5}) {
    auto x = bf16(torch::randn({M, 64}));
    auto w = bf16(torch::randn({48, 64}));
    require_product_close(model::linear_fast(x, w, {}), x, w);
  }
  // Leading dimensions are kept: [B, 1, K] -> [B, 1, N]; a weight that is a row slice of a larger one.
  auto x = bf16(torch::randn({4, 1, 64}));
  auto big = bf16(torch::randn({40, 64}));
  auto w = big.narrow(0, 8, 32);
  auto y = model::linear_fast(x, w, {});
  REQUIRE(y.sizes() == torch::IntArrayRef({4, 1, 32}));
  require_product_close(y, x, w);
}

TEST_CASE("decode products: shapes the kernel does not take go through torch::linear unchanged", "[model][kernels]") {
  torch::NoGradGuard no_grad;
  using model::kernels::RowsKernel;
  REQUIRE(model::kernels::rows_product_supported(RowsKernel::amx, 64, 64));
  REQUIRE_FALSE(model::kernels::rows_product_supported(RowsKernel::amx, 65, 64));  // too many rows: a prefill
  REQUIRE(model::kernels::rows_product_supported(RowsKernel::avx512_bf16, 2, 64));
  REQUIRE_FALSE(model::kernels::rows_product_supported(RowsKernel::avx512_bf16, 3, 64));
  REQUIRE_FALSE(model::kernels::rows_product_supported(RowsKernel::amx, 4, 48));   // K not a multiple of 32
  REQUIRE_FALSE(model::kernels::rows_product_supported(RowsKernel::amx, 0, 64));
  REQUIRE_FALSE(model::kernels::rows_product_supported(RowsKernel::none, 1, 64));
  REQUIRE(model::kernels::rows_product_supported(RowsKernel::avx2, 64, 40));
  REQUIRE_FALSE(model::kernels::rows_product_supported(RowsKernel::avx2, 65, 64));
  REQUIRE_FALSE(model::kernels::rows_product_supported(RowsKernel::avx2, 4, 44));  // K not a multiple of 8
  torch::manual_seed(6);
  auto x = bf16(torch::randn({70, 48}));
  auto w = bf16(torch::randn({24, 48}));
  if (model::bf16_products_through_fp32()) {
    // No bf16 instructions at this level: fp32 copies, one rounding (bf16_products.h).
    require_product_close(model::linear_fast(x, w, {}), x, w);
  } else {
    REQUIRE(torch::equal(model::linear_fast(x, w, {}), torch::linear(x, w)));
  }
}

TEST_CASE("bf16 products: linear_fast under autograd (training) gives the exact products and gradients to bf16 rounding", "[model][kernels]") {
  // At every ZEROTH_CPU_ISA level: LibTorch's bf16 GEMM, or fp32 copies where the level has no bf16
  // instructions. Both sum in fp32 and round once, so each output is held to require_product_close.
  torch::manual_seed(9);
  auto x = bf16(torch::randn({70, 48})).requires_grad_(true);
  auto w = bf16(torch::randn({24, 48})).requires_grad_(true);
  auto b = bf16(torch::randn({24})).requires_grad_(true);
  auto y = model::linear_fast(x, w, b);
  REQUIRE(y.scalar_type() == torch::kBFloat16);
  require_product_close(y.detach(), x.detach(), w.detach(), b.detach());
  auto gy = bf16(torch::randn({70, 24}));
  y.backward(gy);
  require_product_close(x.grad(), gy, w.detach().t());           // dx = gy w: 24 terms
  require_product_close(w.grad(), gy.t(), x.detach().t());       // dw = gy^T x: 70 terms
  require_product_close(b.grad().unsqueeze(0), bf16(torch::ones({1, 70})), gy.t());  // db: column sums
}

TEST_CASE("decode products: linear_many equals one linear per layer, with biases and LoRA", "[model][kernels]") {
  torch::NoGradGuard no_grad;
  torch::manual_seed(7);
  auto opts = torch::TensorOptions().dtype(torch::kBFloat16);
  model::Linear q(64, 64, true, opts), k(64, 32, true, opts), v(64, 32, false, opts);
  for (auto* l : {q.get(), k.get(), v.get()}) {
    l->weight.normal_();
    if (l->bias.defined()) l->bias.normal_();
  }
  auto x = bf16(torch::randn({5, 1, 64}));
  auto outs = model::linear_many(x, {q.get(), k.get(), v.get()});
  REQUIRE(outs.size() == 3);
  REQUIRE(torch::equal(outs[0], q(x)));
  REQUIRE(torch::equal(outs[1], k(x)));
  REQUIRE(torch::equal(outs[2], v(x)));
  require_product_close(outs[1], x, k->weight, k->bias);
  // A layer with an adapter makes the group fall back to each layer's own forward (LoRA included).
  k->add_lora(4, 8.0, 0.0, false, torch::kFloat);
  k->lora_B().normal_();
  auto with_lora = model::linear_many(x, {q.get(), k.get(), v.get()});
  REQUIRE(torch::equal(with_lora[1], k(x)));
  REQUIRE_FALSE(torch::equal(with_lora[1], outs[1]));
}

TEST_CASE("decode attention: rotary, cache writes and attention equal an fp32 reference per row", "[model][kernels]") {
  torch::NoGradGuard no_grad;
  torch::manual_seed(8);
  // D = 32 takes the AVX-512 or AVX2 loops (per ZEROTH_CPU_ISA), D = 8 the AVX2 loops at that level
  // and the plain ones above it, D = 6 the plain ones; G = 3 queries per kv head.
  for (int64_t D : {32, 8, 6}) {
    INFO("head dim " << D);
    const int64_t B = 3, Kh = 2, G = 3, H = Kh * G, slots = 5, max_len = 40;
    auto q = bf16(torch::randn({B, 1, H, D}));
    auto k = bf16(torch::randn({B, 1, Kh, D}));
    auto v = bf16(torch::randn({B, 1, Kh, D}));
    auto cache_k = bf16(torch::randn({slots, Kh, max_len, D}));
    auto cache_v = bf16(torch::randn({slots, Kh, max_len, D}));
    const std::vector<int64_t> slot = {4, 0, 2}, pos = {0, 17, 33};  // a first token, and two longer rows
    auto positions = torch::tensor(pos, torch::kLong).view({B, 1});
    auto inv_freq = 1.0 / torch::pow(10000.0, torch::arange(0, D, 2, torch::kFloat) / static_cast<double>(D));
    auto [cos, sin] = model::rotary_cos_sin(inv_freq, positions, torch::kBFloat16);  // [B, 1, D]
    // The reference: HF's bf16 rotary (model::apply_rotary), then attention in fp32 over keys 0..pos.
    auto q_rot = model::apply_rotary(q.transpose(1, 2), cos, sin);  // [B, H, 1, D]
    auto k_rot = model::apply_rotary(k.transpose(1, 2), cos, sin);  // [B, Kh, 1, D]
    auto expect_k = cache_k.clone(), expect_v = cache_v.clone();
    for (int64_t b = 0; b < B; ++b) {
      expect_k[slot[b]].select(1, pos[b]).copy_(k_rot[b].select(1, 0));
      expect_v[slot[b]].select(1, pos[b]).copy_(v[b][0]);
    }
    auto out = torch::empty({B, H * D}, torch::kBFloat16);
    auto cos2 = cos.reshape({B, D}).contiguous(), sin2 = sin.reshape({B, D}).contiguous();
    auto q2 = q.reshape({B, H * D}).contiguous(), k2 = k.reshape({B, Kh * D}).contiguous();
    auto v2 = v.reshape({B, Kh * D}).contiguous();
    model::kernels::DecodeAttention a;
    a.B = B, a.H = H, a.Kh = Kh, a.D = D;
    a.q = bf16_bits(q2), a.k = bf16_bits(k2), a.v = bf16_bits(v2), a.ldq = H * D, a.ldk = Kh * D, a.ldv = Kh * D;
    a.cos = bf16_bits(cos2), a.sin = bf16_bits(sin2);
    a.cache_k = bf16_bits(cache_k), a.cache_v = bf16_bits(cache_v), a.max_len = max_len;
    a.slots = slot.data(), a.positions = pos.data(), a.out = bf16_bits(out);
    a.scale = static_cast<float>(1.0 / std::sqrt(static_cast<double>(D)));
    model::kernels::decode_attention_bf16(a);
    // Cached keys are bit-equal to the bf16 rotary of the full-sequence path; nothing else changed.
    REQUIRE(torch::equal(cache_k, expect_k));
    REQUIRE(torch::equal(cache_v, expect_v));
    // The reference in double on the same bf16 q, keys and values. Tolerance from the kernel's fp32
    // arithmetic: each score is a D-term dot, off by delta <= gamma_D scale sum_d |q_d k_d|; the
    // unnormalized weights exp(score - max) then err relatively by 2 delta (the score and the max)
    // plus the polynomial and its roundings (4u); their sum and the weighted sum of values are S-term
    // sums (gamma_S each) and the division one more u. So |out - ref| <= eps sum_s p_s |v_s| with
    // eps = 2 (2 delta + 4u) + 2 gamma_S + u, and the bf16 output rounding adds 2^-8 (|ref| + that).
    const double scale = 1.0 / std::sqrt(static_cast<double>(D));
    for (int64_t b = 0; b < B; ++b) {
      INFO("row " << b);
      const int64_t S = pos[b] + 1;
      auto keys = expect_k[slot[b]].narrow(1, 0, S).to(torch::kDouble);    // [Kh, S, D]
      auto values = expect_v[slot[b]].narrow(1, 0, S).to(torch::kDouble);
      auto qd = q_rot[b].select(1, 0).to(torch::kDouble).view({Kh, G, D});  // heads h * G + g share kv head h
      auto p = torch::softmax(torch::matmul(qd, keys.transpose(1, 2)) * scale, -1);  // [Kh, G, S]
      auto ref = torch::matmul(p, values).reshape({H * D});
      auto delta = std::get<0>(torch::matmul(qd.abs(), keys.abs().transpose(1, 2)).max(-1, true)) * (gamma(D) * scale);
      auto eps = (4.0 * delta + (8 * kFp32Unit + 2 * gamma(S) + kFp32Unit));   // [Kh, G, 1]
      auto spread = (eps * torch::matmul(p, values.abs())).reshape({H * D});  // eps sum_s p_s |v_s|
      require_within(out[b], ref, (ref.abs() + spread) * kBf16Unit + spread);
    }
  }
}
