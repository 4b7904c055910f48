// A helper process for tests/train/test_distributed.cpp: the tests start two of these with the
// launcher variables (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT, ...) or one without them.
//   zeroth_dist_worker sft OUT      SFT on a tiny model (3 steps, global batch 4); rank 0 writes OUT/weights.safetensors
//   zeroth_dist_worker zero1 OUT    AdamW steps on fixed per-rank gradients (sharded when world > 1), a
//                                   checkpoint round trip through OUT/state.safetensors; rank 0 writes
//                                   OUT/params.safetensors, every rank OUT/rank_R.json (its owned parameters)
//   zeroth_dist_worker grpo OUT     GRPO on a tiny policy (2 steps, 4 groups, dynamic sampling); every rank
//                                   writes OUT/weights_R.safetensors
//   zeroth_dist_worker loop OUT     all-reduces forever (writes OUT/ready_R first): the failure tests kill one
// Exit 0 on success; 1 with the error on stderr.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <thread>

#include <torch/torch.h>

#include "support/test_paths.h"
#include "zeroth/core/error.h"
#include "zeroth/core/json.h"
#include "zeroth/core/log.h"
#include "zeroth/core/random.h"
#include "zeroth/core/safetensors.h"
#include "zeroth/model/config.h"
#include "zeroth/model/transformer.h"
#include "zeroth/rewards/rule_set.h"
#include "zeroth/text/tokenizer.h"
#include "zeroth/train/distributed.h"
#include "zeroth/train/grpo_trainer.h"
#include "zeroth/train/optimizer.h"
#include "zeroth/train/sft_trainer.h"

using namespace zeroth;

namespace {

model::Transformer tiny_model() {
  Json cfg = {{"architectures", {"Qwen2ForCausalLM"}}, {"vocab_size", 32}, {"hidden_size", 32},
              {"intermediate_size", 64}, {"num_hidden_layers", 2}, {"num_attention_heads", 2},
              {"num_key_value_heads", 1}, {"max_position_embeddings", 64}, {"tie_word_embeddings", false},
              {"eos_token_id", 31}};
  // A different init per rank: the broadcast from rank 0 must make them equal.
  const char* rank = std::getenv("RANK");
  torch::manual_seed(7 + (rank ? std::atoi(rank) : 0));
  model::Transformer m(model::parse_model_config(JsonReader(cfg, "tiny model")));
  model::init_weights(*m);
  if (rank == nullptr || std::atoi(rank) == 0) {
    torch::manual_seed(7);  // rank 0 and the single process: the same weights
    model::Transformer again(model::parse_model_config(JsonReader(cfg, "tiny model")));
    model::init_weights(*again);
    return again;
  }
  return m;
}

NamedTensors parameters_of(torch::nn::Module& m) {
  NamedTensors out;
  for (const auto& p : m.named_parameters()) out.emplace_back(p.key(), p.value().detach().to(torch::kCPU).clone());
  return out;
}

int run_sft(train::Distributed& dist, const std::string& out) {
  auto m = tiny_model();
  std::vector<train::Sequence> data;
  SplitMix64 rng(11);
  for (int i = 0; i < 12; ++i) {
    train::Sequence s;
    const auto prompt_len = 1 + rng.below(4), completion_len = 1 + rng.below(6);
    for (uint64_t t = 0; t < prompt_len; ++t) s.prompt.push_back(static_cast<int64_t>(rng.below(30)));
    for (uint64_t t = 0; t < completion_len; ++t) s.completion.push_back(static_cast<int64_t>(rng.below(30)));
    data.push_back(std::move(s));
  }
  train::SftOptions o;
  o.steps = 3;
  o.batch_size = 4;
  o.micro_batch_tokens = 12;  // several micro-batches per rank
  o.log_every = 1;
  o.optimizer.lr = 1e-2;
  o.optimizer.max_grad_norm = 0.5;  // clipping on: the norm must be the global one
  train::SftRun run;
  run.model = m.get();
  run.train = data;
  run.dir = out + "/run";
  run.seed = 5;
  run.dist = &dist;
  train::train_sft(run, o);
  if (dist.is_main()) write_safetensors(out + "/weights.safetensors", parameters_of(*m));
  return 0;
}

// Parameters of several sizes (the split over ranks is uneven by count) and one bf16 parameter
// (separate fp32 master).
struct Toy : torch::nn::Module {
  Toy() {
    torch::manual_seed(3);
    a = register_parameter("a_weight", torch::randn({8, 6}));
    b = register_parameter("b_weight", torch::randn({5, 4}));
    c = register_parameter("c_bias", torch::randn({7}));
    d = register_parameter("d_weight", torch::randn({3, 3}).to(torch::kBFloat16));
    e = register_parameter("e_weight", torch::randn({10, 2}));
  }
  torch::Tensor a, b, c, d, e;
};

// Rank r's gradient of parameter p at step t: a fixed function, so the test can sum them.
void set_grads(Toy& toy, int rank, int step) {
  int k = 0;
  for (auto& p : toy.parameters()) {
    torch::manual_seed(1000 * step + 10 * k + rank);
    p.mutable_grad() = torch::randn(p.sizes()).to(p.scalar_type());
    ++k;
  }
}

int run_zero1(train::Distributed& dist, const std::string& out) {
  Toy toy;
  train::OptimizerOptions o;
  o.lr = 0.05;
  o.weight_decay = 0.1;
  o.max_grad_norm = 2.0;  // the summed gradients' norm is well above: clipping on
  const int steps = 4;
  auto make = [&] {
    auto opt = std::make_unique<train::AdamW>(toy, o);
    opt->shard(dist);
    return opt;
  };
  auto opt = make();
  for (int step = 0; step < steps; ++step) {
    if (step == 2) {  // checkpoint round trip: gather on rank 0, every rank restores its shard
      auto state = opt->state_tensors();
      if (dist.is_main()) write_safetensors(out + "/state.safetensors", state);
      dist.barrier();
      auto file = SafetensorsFile::open(out + "/state.safetensors");
      std::map<std::string, at::Tensor> tensors;
      for (const auto& [name, t] : state) tensors[name] = t;
      if (!dist.is_main()) {
        for (const auto& slot : opt->parameter_names()) {
          for (const char* prefix : {"master.", "exp_avg.", "exp_avg_sq."}) tensors[prefix + slot] = file->tensor(prefix + slot);
        }
      }
      const int64_t done = opt->num_steps();
      {  // scramble the parameters: the load must restore them
        torch::NoGradGuard no_grad;
        for (auto& p : toy.parameters()) p.fill_(0.25);
      }
      opt = make();
      opt->load_state_tensors(tensors, done, out + "/state.safetensors");
    }
    opt->zero_grad();
    set_grads(toy, dist.rank(), step);
    dist.all_reduce_gradients(toy);
    auto r = opt->step(o.lr);
    if (!r.applied()) throw Error("zero1 worker: step skipped");
  }
  Json owned = Json::array();
  for (const auto& name : opt->parameter_names()) {
    if (opt->owner(name) == dist.rank()) owned.push_back(name);
  }
  std::ofstream(out + "/rank_" + std::to_string(dist.rank()) + ".json") << Json{{"owned", owned}}.dump();
  if (dist.is_main()) write_safetensors(out + "/params.safetensors", parameters_of(toy));
  return 0;
}

int run_grpo(train::Distributed& dist, const std::string& out) {
  auto tok = text::Tokenizer::from_file(zeroth::testing::source_dir() + "/data/tokenizers/byte_level");
  auto rules = rewards::RuleSet::from_json(
      Json{{"name", "first digit"},
           {"components", {{{"name", "accuracy"}, {"verifier", "regex"}, {"weight", 1.0},
                            {"params", {{"pattern", "^([0-9])"}, {"mode", "extract"}, {"compare", "exact"}}}}}}},
      "worker rules");
  train::PromptData data;
  data.name = "digits";
  for (int i = 0; i < 10; ++i) {
    std::string text = std::to_string(i) + std::to_string((i * 7) % 10) + ":";
    auto ids = tok.encode(text);
    data.ids.emplace_back(ids.begin(), ids.end());
    data.texts.push_back(text);
    data.examples.push_back({{"question", text}, {"answer", std::to_string(i)}});
  }
  Json cfg = {{"architectures", {"Qwen2ForCausalLM"}}, {"vocab_size", tok.vocab_size()}, {"hidden_size", 32},
              {"intermediate_size", 64}, {"num_hidden_layers", 1}, {"num_attention_heads", 2},
              {"num_key_value_heads", 1}, {"max_position_embeddings", 64}, {"tie_word_embeddings", true},
              {"eos_token_id", 256}};
  torch::manual_seed(3 + dist.rank());  // different on each rank: the broadcast makes them equal
  model::Transformer policy(model::parse_model_config(JsonReader(cfg, "tiny policy")));
  model::init_weights(*policy);
  train::GrpoOptions o;
  o.steps = 2;
  o.prompts_per_step = 4;
  o.sampling.num_generations = 4;
  o.sampling.max_new_tokens = 1;
  o.sampling.temperature = 1.0;
  for (int64_t id = 0; id < tok.vocab_size(); ++id) {
    if (id < '0' || id > '9') o.sampling.banned_token_ids.push_back(id);
  }
  o.mini_batches = 2;
  o.dynamic_sampling = true;
  o.max_resample_rounds = 2;
  o.optimizer.lr = 1e-2;
  o.samples_every = 1;
  train::GrpoRun run;
  run.policy = policy.get();
  run.tokenizer = &tok;
  run.rules = &rules;
  run.train = data;
  run.dir = out + "/run";
  run.seed = 9;
  run.dist = &dist;
  train::train_grpo(run, o);
  write_safetensors(out + "/weights_" + std::to_string(dist.rank()) + ".safetensors", parameters_of(*policy));
  return 0;
}

int run_loop(train::Distributed& dist, const std::string& out) {
  std::ofstream(out + "/ready_" + std::to_string(dist.rank())) << ::getpid();
  for (;;) {
    dist.all_reduce_sum(1.0);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: zeroth_dist_worker sft|zero1|grpo|loop OUT_DIR\n";
    return 2;
  }
  const std::string mode = argv[1], out = argv[2];
  try {
    const auto options = train::DistributedOptions::from_env();
    init_logging("warn", options.rank);
    torch::set_num_threads(1);
    train::Distributed dist(options, torch::kCPU);
    if (mode == "sft") return run_sft(dist, out);
    if (mode == "zero1") return run_zero1(dist, out);
    if (mode == "grpo") return run_grpo(dist, out);
    if (mode == "loop") return run_loop(dist, out);
    std::cerr << "unknown mode " << mode << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "zeroth_dist_worker: " << e.what() << "\n";
    return 1;
  }
}
