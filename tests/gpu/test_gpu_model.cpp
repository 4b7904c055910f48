// The model, sampler and LM-head log-probs on CUDA against the same computation on CPU. Tag [gpu]:
// skipped (exit 77) without a CUDA device. Tolerances: fp32 CUDA kernels (cuBLAS without TF32,
// fused SDPA) reorder sums, so values agree to ~1e-5 relative, not bit for bit.
#include "support/catch.h"

#include <torch/torch.h>

#include "gpu/gpu.h"
#include "model/tiny.h"
#include "zeroth/model/logprobs.h"
#include "zeroth/rollout/sampler.h"

using namespace zeroth;
using zeroth::testing::cuda0;
using zeroth::testing::max_abs_diff;

namespace {

// ids [2, 12] with the second row left-padded by 3.
std::pair<torch::Tensor, torch::Tensor> batch() {
  torch::manual_seed(5);
  auto ids = torch::randint(3, 300, {2, 12}, torch::kLong);
  auto mask = torch::ones({2, 12}, torch::kLong);
  mask[1].narrow(0, 0, 3).zero_();
  return {ids, mask};
}

}  // namespace

TEST_CASE("model forward and backward on CUDA equal CPU (qwen2 / qwen3 / llama)", "[gpu][model]") {
  zeroth::testing::require_cuda();
  for (const char* arch : {"qwen2", "qwen3", "llama"}) {
    INFO(arch);
    auto cpu = zeroth::testing::tiny_model(arch, 3);
    auto gpu = zeroth::testing::tiny_model(arch, 3);
    gpu->to(cuda0());
    auto [ids, mask] = batch();
    auto targets = torch::roll(ids, -1, 1);

    auto loss_of = [&](model::TransformerImpl& m, torch::Device d) {
      auto logits = m.forward(ids.to(d), mask.to(d));                       // [B, T, V] fp32
      auto logp = torch::log_softmax(logits, -1).gather(-1, targets.to(d).unsqueeze(-1)).squeeze(-1);
      return std::make_pair(logits, -(logp * mask.to(d)).sum());
    };
    auto [logits_c, loss_c] = loss_of(*cpu, torch::kCPU);
    auto [logits_g, loss_g] = loss_of(*gpu, cuda0());
    REQUIRE(logits_g.is_cuda());
    // Padded positions hold garbage on either device; compare real tokens only.
    auto real = mask.to(torch::kBool).unsqueeze(-1).expand_as(logits_c);
    CHECK(max_abs_diff(logits_c.masked_select(real), logits_g.cpu().masked_select(real)) < 1e-4);

    loss_c.backward();
    loss_g.backward();
    auto pc = cpu->named_parameters(), pg = gpu->named_parameters();
    for (const auto& item : pc) {
      INFO(item.key());
      const auto& gc = item.value().grad();
      const auto& gg = pg[item.key()].grad();
      REQUIRE(gc.defined());
      REQUIRE(gg.defined());
      REQUIRE(gg.is_cuda());
      const double scale = std::max(1.0, gc.abs().max().item<double>());
      CHECK(max_abs_diff(gc, gg) < 1e-3 * scale);
    }
  }
}

TEST_CASE("greedy sampling on CUDA gives the CPU completions", "[gpu][rollout]") {
  zeroth::testing::require_cuda();
  const std::vector<std::vector<int64_t>> prompts = {{5, 17, 42}, {9, 8, 7, 6, 5, 4, 3}, {11}, {100, 200, 150, 20, 1}};
  for (const char* arch : {"qwen2", "llama"}) {
    INFO(arch);
    auto cpu = zeroth::testing::tiny_model(arch, 7);
    auto gpu = zeroth::testing::tiny_model(arch, 7);
    gpu->to(cuda0());
    rollout::SamplingOptions o;
    o.num_generations = 2;
    o.temperature = 0.0;
    o.max_new_tokens = 10;
    torch::NoGradGuard no_grad;
    auto rc = rollout::Sampler(*cpu, nullptr, {.num_slots = 3}).sample_groups(prompts, o);
    auto rg = rollout::Sampler(*gpu, nullptr, {.num_slots = 3}).sample_groups(prompts, o);
    REQUIRE(rc.completions.size() == rg.completions.size());
    for (size_t i = 0; i < rc.completions.size(); ++i) {
      INFO("completion " << i);
      REQUIRE(rg.completions[i].ids == rc.completions[i].ids);
      REQUIRE(rg.completions[i].finish_reason == rc.completions[i].finish_reason);
      for (size_t t = 0; t < rc.completions[i].logprobs.size(); ++t) {
        CHECK(rg.completions[i].logprobs[t] == Approx(rc.completions[i].logprobs[t]).margin(1e-4));
      }
    }
  }
}

TEST_CASE("bf16 LM-head log-probs and gradients on CUDA equal the fp32 CPU reference", "[gpu][logprobs]") {
  zeroth::testing::require_cuda();
  torch::manual_seed(2);
  auto h32 = torch::randn({2, 33, 64});
  auto w32 = torch::randn({300, 64}) * 0.2;
  auto targets = torch::randint(0, 300, {2, 33}, torch::kLong);
  targets[1][32] = -1;  // padding: log-prob 0, no gradient

  auto h_ref = h32.clone().requires_grad_(true), w_ref = w32.clone().requires_grad_(true);
  auto ref = model::token_logprobs_naive(h_ref, w_ref, targets);
  ref.sum().backward();

  auto h = h32.to(cuda0(), torch::kBFloat16).requires_grad_(true);
  auto w = w32.to(cuda0(), torch::kBFloat16).requires_grad_(true);
  torch::Tensor entropy;
  auto lp = model::token_logprobs(h, w, targets.to(cuda0()), /*chunk=*/16, &entropy);
  REQUIRE(lp.is_cuda());
  REQUIRE(lp.scalar_type() == torch::kFloat);
  REQUIRE(lp[1][32].item<float>() == 0.0f);
  // bf16 inputs: 8 bits of mantissa, |logit| up to ~10 here -> errors of a few 1e-2.
  CHECK(max_abs_diff(lp, ref) < 0.1);
  CHECK(torch::isfinite(entropy).all().item<bool>());
  lp.sum().backward();
  REQUIRE(h.grad().is_cuda());
  CHECK(max_abs_diff(h.grad(), h_ref.grad()) < 0.05 * std::max(1.0, h_ref.grad().abs().max().item<double>()));
  CHECK(max_abs_diff(w.grad(), w_ref.grad()) < 0.05 * std::max(1.0, w_ref.grad().abs().max().item<double>()));
}
