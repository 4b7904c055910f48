// Parity with an independent implementation: tiny models written by `zeroth init-model` and
// reference logits from scripts/make_reference.py (plain PyTorch, written from transformers'
// modeling code). Fixtures: scripts/make_model_fixtures.sh.
#include "support/catch.h"

#include <torch/torch.h>

#include "support/paths.h"
#include "support/tensor_asserts.h"
#include "zeroth/core/safetensors.h"
#include "zeroth/model/checkpoint.h"
#include "zeroth/model/kv_cache.h"
#include "zeroth/model/logprobs.h"

using namespace zeroth;
using zeroth::testing::require_close;
using zeroth::testing::test_data_path;

TEST_CASE("reference parity: logits and log-probs equal the plain-PyTorch reference (fp32 <= 1e-4)",
          "[model][reference]") {
  for (std::string arch : {"qwen2", "qwen3", "llama"}) {
    INFO(arch);
    const std::string dir = test_data_path("model/" + arch);
    auto m = model::load_hf_model(dir, torch::kFloat, torch::kCPU);
    auto ref = SafetensorsFile::open(dir + "/reference.safetensors");
    auto ids = ref->tensor("ids");          // [B, T]
    auto logits_ref = ref->tensor("logits");  // [B, T, V]
    auto logprobs_ref = ref->tensor("logprobs");
    torch::NoGradGuard g;
    auto logits = m->forward(ids);
    require_close(logits, logits_ref, 1e-4);
    const int64_t T = ids.size(1);
    auto h = m->hidden_states(ids);
    auto lp = model::token_logprobs(h.narrow(1, 0, T - 1), m->lm_head_weight(), ids.narrow(1, 1, T - 1), 32);
    require_close(lp, logprobs_ref, 1e-4);
    // The KV-cache path too: prefill half of row 0, decode the rest.
    model::KvCache cache(m->config(), 1, T, torch::kFloat, torch::kCPU);
    const int64_t P = T / 2;
    m->hidden_states_cached(ids.narrow(0, 0, 1).narrow(1, 0, P), cache, {0}, {P});
    for (int64_t t = P; t < T; ++t) {
      auto step = m->forward_cached(ids.narrow(0, 0, 1).narrow(1, t, 1), cache, {0});
      require_close(step.squeeze(0), logits_ref[0][t], 1e-4);
    }
  }
}
