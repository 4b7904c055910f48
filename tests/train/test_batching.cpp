// Padded batches: the trainer's completion log-probs equal the sampler's for the same tokens, with
// left-padded prompts and right-padded completions of different lengths in one batch.
#include "support/catch.h"

#include <torch/torch.h>

#include "model/tiny.h"
#include "zeroth/rollout/sampler.h"
#include "zeroth/train/batching.h"

using namespace zeroth;

TEST_CASE("batching: trainer log-probs of sampled completions equal the sampler's (fp32, <= 1e-5)", "[train][batching]") {
  auto m = testing::tiny_model("qwen2");
  rollout::SamplingOptions o;
  o.num_generations = 3;
  o.temperature = 1.0;
  o.max_new_tokens = 7;
  o.seed = 4;
  std::vector<std::vector<int64_t>> prompts = {{5, 17, 42}, {9, 8, 7, 6, 5, 4, 3}, {11}};
  rollout::Sampler sampler(*m, nullptr, {.num_slots = 4});
  auto r = sampler.sample_groups(prompts, o);
  std::vector<train::Sequence> seqs;
  for (const auto& c : r.completions) seqs.push_back({prompts[c.prompt_index], c.ids});
  std::vector<int64_t> rows(seqs.size());
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = static_cast<int64_t>(i);
  auto batch = train::pad_batch(seqs, rows, torch::kCPU);
  REQUIRE(batch.prompt_width == 7);
  torch::NoGradGuard g;
  auto lp = train::completion_logprobs(*m, batch, 3);
  for (size_t i = 0; i < seqs.size(); ++i) {
    const auto& c = r.completions[i];
    for (size_t t = 0; t < c.ids.size(); ++t) {
      INFO("row " << i << " token " << t);
      REQUIRE(lp[static_cast<int64_t>(i)][static_cast<int64_t>(t)].item<float>() == Approx(c.logprobs[t]).margin(1e-5));
    }
    for (int64_t t = static_cast<int64_t>(c.ids.size()); t < batch.completion_width; ++t) {
      REQUIRE(lp[static_cast<int64_t>(i)][t].item<float>() == 0.0f);  // padding
    }
  }
}

TEST_CASE("batching: micro-batches stay within the token budget and keep every row once", "[train][batching]") {
  std::vector<train::Sequence> seqs;
  for (int64_t i = 0; i < 10; ++i) seqs.push_back({std::vector<int64_t>(2 + i, 1), std::vector<int64_t>(3, 2)});
  std::vector<int64_t> rows = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  auto parts = train::split_by_tokens(seqs, rows, 30);
  std::vector<int64_t> seen;
  for (const auto& p : parts) {
    int64_t longest = 0;
    for (int64_t r : p) longest = std::max<int64_t>(longest, 5 + r);
    REQUIRE((static_cast<int64_t>(p.size()) * longest <= 30 || p.size() == 1));
    seen.insert(seen.end(), p.begin(), p.end());
  }
  REQUIRE(seen == rows);
  // 5+6 tokens per row at most: rows 0..3 (longest 8, 4 rows = 32 > 30) split as [0,1,2], [3,4,5]?
  REQUIRE(parts.front() == std::vector<int64_t>{0, 1, 2});
}
