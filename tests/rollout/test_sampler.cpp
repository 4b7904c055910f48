// The sampler against the model's full forward pass (no cache), and its scheduling invariants.
#include "support/catch.h"

#include <torch/torch.h>

#include "model/tiny.h"
#include "support/test_paths.h"
#include "zeroth/core/json.h"
#include "zeroth/rollout/sampler.h"
#include "zeroth/text/tokenizer.h"

using namespace zeroth;
using namespace zeroth::rollout;

namespace {

// Next-token logits [V] after `ids`, from a plain forward over the whole sequence (no KV cache).
torch::Tensor full_forward_last(model::TransformerImpl& m, const std::vector<int64_t>& ids) {
  torch::NoGradGuard g;
  auto input = torch::tensor(ids, torch::kLong).unsqueeze(0);
  return m.forward(input).select(0, 0).select(0, static_cast<int64_t>(ids.size()) - 1).to(torch::kFloat);
}

const std::vector<std::vector<int64_t>> kPrompts = {{5, 17, 42}, {9, 8, 7, 6, 5, 4, 3}, {11}, {100, 200, 150, 20, 1}};

}  // namespace

TEST_CASE("sampler: greedy generation equals step-by-step argmax of the full forward pass", "[rollout][sampler]") {
  auto m = zeroth::testing::tiny_model("qwen2");
  SamplingOptions o;
  o.num_generations = 2;
  o.temperature = 0.0;
  o.max_new_tokens = 6;
  o.eos_token_ids = {};
  Sampler sampler(*m, nullptr, {.num_slots = 3});  // fewer slots than samples: slots get refilled
  auto r = sampler.sample_groups(kPrompts, o);
  REQUIRE(r.completions.size() == 8);
  for (const auto& c : r.completions) {
    INFO("prompt " << c.prompt_index << " sample " << c.sample_index);
    std::vector<int64_t> seq = kPrompts[c.prompt_index];
    std::vector<int64_t> expected;
    for (int step = 0; step < o.max_new_tokens; ++step) {
      int64_t next = full_forward_last(*m, seq).argmax().item<int64_t>();
      expected.push_back(next);
      seq.push_back(next);
      if (next == 2) break;  // the tiny config's eos_token_id
    }
    REQUIRE(c.ids == expected);
    REQUIRE(c.finish_reason == (expected.back() == 2 ? "stop" : "length"));
  }
}

TEST_CASE("sampler: policy log-probs equal the full forward's log-softmax of the sampled tokens", "[rollout][sampler]") {
  auto m = zeroth::testing::tiny_model("qwen3");
  SamplingOptions o;
  o.num_generations = 3;
  o.temperature = 0.7;
  o.top_k = 50;
  o.max_new_tokens = 8;
  o.seed = 11;
  Sampler sampler(*m, nullptr, {.num_slots = 4});
  auto r = sampler.sample_groups(kPrompts, o);
  for (const auto& c : r.completions) {
    std::vector<int64_t> seq = kPrompts[c.prompt_index];
    REQUIRE(c.ids.size() == c.logprobs.size());
    REQUIRE(c.ids.size() == c.sampling_logprobs.size());
    for (size_t t = 0; t < c.ids.size(); ++t) {
      auto logp = torch::log_softmax(full_forward_last(*m, seq), 0);
      REQUIRE(c.logprobs[t] == Approx(logp[c.ids[t]].item<float>()).margin(1e-5));
      // The sampled token survived the top-k filter: finite sampling log-prob.
      REQUIRE(std::isfinite(c.sampling_logprobs[t]));
      REQUIRE(c.sampling_logprobs[t] <= 1e-6f);
      seq.push_back(c.ids[t]);
    }
  }
}

TEST_CASE("sampler: continuous batching gives the same completions as one at a time", "[rollout][sampler]") {
  auto m = zeroth::testing::tiny_model("llama");
  SamplingOptions o;
  o.num_generations = 4;
  o.temperature = 1.0;
  o.max_new_tokens = 10;
  o.seed = 5;
  Sampler batched(*m, nullptr, {.num_slots = 5});
  auto together = batched.sample_groups(kPrompts, o);
  REQUIRE(together.stats.slot_occupancy > 0.5);
  // One slot: every sample runs alone. (The same prompt list: a sample's random stream is derived
  // from its prompt's index in the call and its sample index.)
  Sampler single(*m, nullptr, {.num_slots = 1});
  auto alone = single.sample_groups(kPrompts, o);
  for (size_t p = 0; p < kPrompts.size(); ++p) {
    for (int64_t g = 0; g < o.num_generations; ++g) {
      INFO("prompt " << p << " sample " << g);
      const auto& a = alone.completions[p * o.num_generations + g];
      const auto& b = together.completions[p * o.num_generations + g];
      REQUIRE(b.prompt_index == static_cast<int64_t>(p));
      REQUIRE(b.sample_index == g);
      REQUIRE(a.ids == b.ids);
      for (size_t t = 0; t < a.ids.size(); ++t) REQUIRE(a.logprobs[t] == Approx(b.logprobs[t]).margin(1e-5));
    }
  }
  // Different seeds give different samples (with overwhelming probability over 4 x 4 x 10 draws).
  o.seed = 6;
  auto other = batched.sample_groups(kPrompts, o);
  bool any_different = false;
  for (size_t i = 0; i < other.completions.size(); ++i) any_different |= other.completions[i].ids != together.completions[i].ids;
  REQUIRE(any_different);
}

TEST_CASE("sampler: stats count prefill once per group and every decode token", "[rollout][sampler]") {
  auto m = zeroth::testing::tiny_model("qwen2");
  SamplingOptions o;
  o.num_generations = 4;
  o.max_new_tokens = 3;
  o.temperature = 1.0;
  Sampler sampler(*m, nullptr, {.num_slots = 8});
  auto r = sampler.sample_groups({{5, 6, 7, 8}, {9, 10}}, o);
  // Prompts of 4 and 2 tokens: prefill P - 1 = 3 + 1 tokens, each group once (8 slots hold both groups).
  REQUIRE(r.stats.prefill_tokens == 4);
  int64_t generated = 0;
  for (const auto& c : r.completions) generated += static_cast<int64_t>(c.ids.size());
  REQUIRE(r.stats.decode_tokens == generated);
  REQUIRE(r.stats.completions == 8);
}

TEST_CASE("sampler: bad prompts are errors naming the prompt", "[rollout][sampler]") {
  auto m = zeroth::testing::tiny_model("qwen2");
  Sampler sampler(*m, nullptr, {.num_slots = 2});
  SamplingOptions o;
  REQUIRE_THROWS_WITH(sampler.sample_groups({{1, 2}, {}}, o), Catch::Contains("prompt 1 is empty"));
  REQUIRE_THROWS_WITH(sampler.sample_groups({{1, 300}}, o), Catch::Contains("outside the vocabulary"));
  o.stop = {"</answer>"};
  REQUIRE_THROWS_WITH(sampler.sample_groups({{1, 2}}, o), Catch::Contains("stop strings need a tokenizer"));
}

TEST_CASE("sampler: stop strings are found in decoded text and cut from it, EOS ends a completion",
          "[rollout][sampler]") {
  auto tokenizer = text::Tokenizer::from_file(zeroth::testing::source_dir() + "/data/tokenizers/byte_level");
  Json cfg_json = zeroth::testing::tiny_config_json("qwen2");
  cfg_json["vocab_size"] = tokenizer.vocab_size();
  cfg_json["eos_token_id"] = 256;
  torch::manual_seed(1);
  model::Transformer m(model::parse_model_config(JsonReader(cfg_json, "byte_level tiny")));
  model::init_weights(*m);
  Sampler sampler(*m, &tokenizer, {.num_slots = 4});

  // Only 'a' (97) and 'b' (98) may be drawn, so "ab" turns up within a few tokens.
  SamplingOptions o;
  o.num_generations = 4;
  o.max_new_tokens = 60;
  o.stop = {"ab"};
  for (int64_t id = 0; id < tokenizer.vocab_size(); ++id) {
    if (id != 97 && id != 98) o.banned_token_ids.push_back(id);
  }
  auto r = sampler.sample_groups({{104, 105}}, o);
  for (const auto& c : r.completions) {
    REQUIRE(c.finish_reason == "stop");
    REQUIRE(c.text.find("ab") == std::string::npos);
    std::vector<int32_t> ids(c.ids.begin(), c.ids.end());
    REQUIRE(tokenizer.decode(ids) == c.text + "ab");
  }

  // Only 'a' and EOS: every completion either ends with EOS (kept in ids, not in text) or runs out.
  o.stop.clear();
  o.banned_token_ids.clear();
  for (int64_t id = 0; id < tokenizer.vocab_size(); ++id) {
    if (id != 97 && id != 256) o.banned_token_ids.push_back(id);
  }
  o.max_new_tokens = 200;
  auto e = sampler.sample_groups({{104, 105}}, o);
  int64_t stopped = 0;
  for (const auto& c : e.completions) {
    if (c.finish_reason == "stop") {
      ++stopped;
      REQUIRE(c.ids.back() == 256);
      REQUIRE(c.text == std::string(c.ids.size() - 1, 'a'));
    } else {
      REQUIRE(c.ids.size() == 200);
    }
  }
  REQUIRE(stopped > 0);
}
