// The GRPO loop end to end on a tiny policy: it learns a verifiable task (and does not with lr 0),
// and a run killed in the middle and resumed equals the uninterrupted run bit for bit.
#include "support/catch.h"

#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "support/paths.h"
#include "zeroth/core/metrics.h"
#include "zeroth/core/random.h"
#include "zeroth/model/config.h"
#include "zeroth/model/transformer.h"
#include "zeroth/rewards/rule_set.h"
#include "zeroth/text/tokenizer.h"
#include "zeroth/train/grpo_trainer.h"

using namespace zeroth;
namespace fs = std::filesystem;

namespace {

// Prompts "d d d d d:" (five digits, one of them three times); the answer is that digit.
train::PromptData majority_prompts(const text::Tokenizer& tok, int64_t n, uint64_t seed) {
  train::PromptData data;
  data.name = "majority digit";
  SplitMix64 rng(seed);
  for (int64_t i = 0; i < n; ++i) {
    int64_t major = static_cast<int64_t>(rng.below(10));
    std::vector<int64_t> digits = {major, major, major};
    while (digits.size() < 5) {
      int64_t d = static_cast<int64_t>(rng.below(10));
      if (d != major && std::count(digits.begin(), digits.end(), d) == 0) digits.push_back(d);
    }
    for (int64_t k = 4; k > 0; --k) std::swap(digits[k], digits[rng.below(static_cast<uint64_t>(k + 1))]);
    std::string text;
    for (int64_t d : digits) text += std::to_string(d);
    text += ":";
    auto ids = tok.encode(text);
    data.ids.emplace_back(ids.begin(), ids.end());
    data.texts.push_back(text);
    data.examples.push_back({{"question", text}, {"answer", std::to_string(major)}});
  }
  return data;
}

model::Transformer tiny_policy(int64_t vocab) {
  Json cfg = {{"architectures", {"Qwen2ForCausalLM"}}, {"vocab_size", vocab}, {"hidden_size", 32},
              {"intermediate_size", 64}, {"num_hidden_layers", 1}, {"num_attention_heads", 2},
              {"num_key_value_heads", 1}, {"max_position_embeddings", 64}, {"tie_word_embeddings", true},
              {"eos_token_id", 256}};
  torch::manual_seed(3);
  model::Transformer m(model::parse_model_config(JsonReader(cfg, "tiny policy")));
  model::init_weights(*m);
  return m;
}

struct Setup {
  text::Tokenizer tok = text::Tokenizer::from_file(zeroth::testing::source_dir() + "/data/tokenizers/byte_level");
  rewards::RuleSet rules = rewards::RuleSet::from_json(
      Json{{"name", "first digit"},
           {"components", {{{"name", "accuracy"}, {"verifier", "regex"}, {"weight", 1.0},
                            {"params", {{"pattern", "^([0-9])"}, {"mode", "extract"}, {"compare", "exact"}}}}}}},
      "majority rules");

  train::GrpoOptions options(int64_t steps, double lr) const {
    train::GrpoOptions o;
    o.steps = steps;
    o.prompts_per_step = 16;
    o.sampling.num_generations = 8;
    o.sampling.max_new_tokens = 1;
    o.sampling.temperature = 1.0;
    for (int64_t id = 0; id < tok.vocab_size(); ++id) {
      if (id < '0' || id > '9') o.sampling.banned_token_ids.push_back(id);  // byte-level: id == byte
    }
    o.optimizer.lr = lr;
    o.optimizer.weight_decay = 0.0;
    o.samples_every = 0;
    return o;
  }
};

std::vector<Json> read_metrics(const std::string& path) {
  std::vector<Json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) out.push_back(Json::parse(line));
  return out;
}

double mean_reward(const std::vector<Json>& m, size_t from, size_t to) {
  double s = 0;
  for (size_t i = from; i < to; ++i) s += m[i]["reward_mean"].get<double>();
  return s / static_cast<double>(to - from);
}

}  // namespace

TEST_CASE("grpo: a tiny policy learns to name the majority digit, with lr 0 it does not", "[train][grpo]") {
  Setup s;
  auto prompts = majority_prompts(s.tok, 512, 1);
  for (double lr : {1e-2, 0.0}) {
    testing::TempDir dir;
    auto policy = tiny_policy(s.tok.vocab_size());
    train::GrpoRun run;
    run.policy = policy.get();
    run.tokenizer = &s.tok;
    run.rules = &s.rules;
    run.train = prompts;
    run.dir = dir.path();
    run.seed = 5;
    train::train_grpo(run, s.options(40, lr));
    auto m = read_metrics(dir.file("metrics.jsonl"));
    REQUIRE(m.size() == 40);
    const double first = mean_reward(m, 0, 5), last = mean_reward(m, 35, 40);
    INFO("lr " << lr << ": reward " << first << " -> " << last);
    if (lr > 0) {
      REQUIRE(last > first + 0.3);
      REQUIRE(last > 0.6);
    } else {
      REQUIRE(last < first + 0.1);
      REQUIRE(m.back()["grad_norm"].get<double>() > 0.0);  // gradients flow; only the step is zero
    }
  }
}

TEST_CASE("grpo: a run killed after step 2 and resumed equals the uninterrupted run", "[train][grpo]") {
  Setup s;
  auto prompts = majority_prompts(s.tok, 64, 2);
  auto options = s.options(4, 5e-3);
  options.save_every = 2;
  options.mu = 2;            // old log-probs and mini-batches: the full update path
  options.mini_batches = 2;

  auto train_run = [&](const std::string& dir, bool resume, int64_t stop_after) {
    auto policy = tiny_policy(s.tok.vocab_size());
    train::GrpoRun run;
    run.policy = policy.get();
    run.tokenizer = &s.tok;
    run.rules = &s.rules;
    run.train = prompts;
    run.dir = dir;
    run.seed = 9;
    run.resume = resume;
    run.save_model = [&](const std::string& d) { fs::create_directories(d); };
    run.on_step_end = [stop_after](int64_t step) {
      if (step == stop_after) throw std::runtime_error("killed");
    };
    try {
      train::train_grpo(run, options);
    } catch (const std::runtime_error& e) {
      REQUIRE(std::string(e.what()) == "killed");
    }
    return policy;
  };
  testing::TempDir a, b;
  auto full = train_run(a.path(), false, -1);
  train_run(b.path(), false, 3);  // dies after step 3: the checkpoint of step 2 survives
  auto resumed = train_run(b.path(), true, -1);
  auto pa = full->named_parameters(), pb = resumed->named_parameters();
  for (const auto& item : pa) {
    INFO(item.key());
    REQUIRE(torch::equal(item.value(), pb[item.key()]));
  }
  auto ma = read_metrics(a.file("metrics.jsonl")), mb = read_metrics(b.file("metrics.jsonl"));
  REQUIRE(ma.size() == 4);
  REQUIRE(mb.size() == 4);
  for (size_t i = 0; i < 4; ++i) {
    REQUIRE(mb[i]["step"] == ma[i]["step"]);
    REQUIRE(mb[i]["reward_mean"] == ma[i]["reward_mean"]);
    REQUIRE(mb[i]["policy_loss"] == ma[i]["policy_loss"]);
  }
}
