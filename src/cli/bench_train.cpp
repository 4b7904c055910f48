// `zeroth bench train`: whole GRPO steps of the real training loop (train::train_grpo) on a
// random-init model (default: the Qwen2.5-0.5B shape) or a model directory, with random prompts:
// sample P prompts x G completions, score them with a rule set, compute advantages, one policy
// update. Prints one JSON object: per step, seconds and tokens/s of sample / reward / train, and
// the peak memory. scripts/bench_train.sh runs it beside a plain-PyTorch Python step
// (scripts/bench_train_reference.py) on the same machine.
//
// A random model needs a tokenizer that can decode all its ids (the rewards read text): unless
// --tokenizer is given, one is written for it, byte-level with a made-up vocabulary of the model's
// size (short strings of letters, digits, spaces and TeX punctuation), no merges and no EOS, so
// every completion runs to --new-tokens as in the Python step.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "cli/bench_common.h"
#include "cli/commands.h"
#include "zeroth/core/device.h"
#include "zeroth/core/error.h"
#include "zeroth/core/fs.h"
#include "zeroth/core/output_dir.h"
#include "zeroth/core/json.h"
#include "zeroth/core/random.h"
#include "zeroth/rewards/rule_set.h"
#include "zeroth/text/tokenizer.h"
#include "zeroth/train/grpo_trainer.h"

namespace zeroth::cli {
namespace {

namespace fs = std::filesystem;

struct BenchTrainArgs {
  std::string config, model, tokenizer, dtype = "bf16", device = "cpu", rules = "r1_math", dir;
  int64_t prompts = 8, group = 8, prompt_len = 128, new_tokens = 256, micro_batch_tokens = 2048, chunk = 1024;
  int64_t steps = 1, threads = 0;
  bool checkpointing = false, force = false;
  uint64_t seed = 0;
};

// GPT-2's byte -> printable character map (what ByteLevel decoders invert).
std::string byte_char(int b) {
  const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  int cp = b;
  if (!printable) {
    int n = 0;
    for (int c = 0; c < b; ++c) {
      if (!((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE && c <= 0xFF))) ++n;
    }
    cp = 256 + n;
  }
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return out;
}

// A byte-level BPE tokenizer.json with exactly `vocab_size` ids: the 256 byte characters, then
// every string of 2, 3, ... characters over a small alphabet, in order. Decoding only.
void write_synthetic_tokenizer(const std::string& dir, int64_t vocab_size) {
  ZEROTH_CHECK(vocab_size >= 256, "a synthetic byte-level tokenizer needs a vocabulary of at least 256, got ", vocab_size);
  std::vector<std::string> alphabet;
  for (char c : std::string("abcdefghijklmnopqrstuvwxyz0123456789 \\{}=+.,()")) alphabet.push_back(byte_char(static_cast<unsigned char>(c)));
  // The vocabulary object is written as text: Json is an ordered (linear-lookup) map.
  std::string vocab = "{";
  auto add = [&](const std::string& token, int64_t id) {
    if (id > 0) vocab += ',';
    vocab += Json(token).dump() + ':' + std::to_string(id);
  };
  for (int b = 0; b < 256; ++b) add(byte_char(b), b);
  const auto A = static_cast<int64_t>(alphabet.size());
  int64_t id = 256;
  for (int len = 2; id < vocab_size; ++len) {
    int64_t count = 1;
    for (int i = 0; i < len; ++i) count *= A;
    for (int64_t k = 0; k < count && id < vocab_size; ++k, ++id) {
      std::string s;
      for (int64_t r = k, i = 0; i < len; ++i, r /= A) s += alphabet[static_cast<size_t>(r % A)];
      add(s, id);
    }
  }
  vocab += '}';
  const Json byte_level{{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  Json tok{{"version", "1.0"}, {"truncation", nullptr}, {"padding", nullptr}, {"added_tokens", Json::array()},
           {"normalizer", nullptr}, {"pre_tokenizer", byte_level}, {"post_processor", byte_level},
           {"decoder", byte_level},
           {"model", {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
                      {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false},
                      {"ignore_merges", false}, {"vocab", "@VOCAB@"}, {"merges", Json::array()}}}};
  std::string text = tok.dump();
  text.replace(text.find("\"@VOCAB@\""), 9, vocab);
  write_file_atomic(dir + "/tokenizer.json", text);
  write_file_atomic(dir + "/tokenizer_config.json",
                    Json{{"tokenizer_class", "PreTrainedTokenizerFast"}, {"eos_token", nullptr}}.dump());
}

void run_bench_train(const BenchTrainArgs& a) {
  if (a.threads > 0) torch::set_num_threads(static_cast<int>(a.threads));
  if (a.prompts < 1 || a.group < 1 || a.prompt_len < 1 || a.new_tokens < 1 || a.steps < 1) {
    throw Error("bench train: --prompts, --g, --prompt-len, --new-tokens and --steps must be positive");
  }
  if (!a.dir.empty()) claim_output_dir(a.dir, "bench", "--dir", a.force);  // before any work
  auto device = parse_device(a.device);
  auto [m, source] = load_bench_model(a.config, a.model, parse_dtype(a.dtype), device, a.seed);
  const auto& cfg = m->config();

  const bool own_dir = a.dir.empty();
  std::string dir = a.dir;
  if (own_dir) {
    std::string pattern = (fs::temp_directory_path() / "zeroth-bench-train-XXXXXX").string();
    if (mkdtemp(pattern.data()) == nullptr) throw Error(cat("bench train: cannot create a directory like ", pattern));
    dir = pattern;
  }
  std::string tokenizer_path = a.tokenizer;
  if (tokenizer_path.empty() && !a.model.empty()) tokenizer_path = a.model;
  if (tokenizer_path.empty()) {
    tokenizer_path = dir + "/tokenizer";
    fs::create_directories(tokenizer_path);
    write_synthetic_tokenizer(tokenizer_path, cfg.vocab_size);
  }
  const auto tokenizer = text::Tokenizer::from_file(tokenizer_path);
  if (tokenizer.vocab_size() < cfg.vocab_size) {
    spdlog::warn("bench train: the tokenizer has {} ids and the model {}: sampled ids beyond the tokenizer fail to decode",
                 tokenizer.vocab_size(), cfg.vocab_size);
  }
  const auto rules = rewards::RuleSet::load(a.rules);

  // Random prompts: ids drawn uniformly from the tokenizer's range, one fixed answer to verify.
  train::PromptData data;
  data.name = "random prompts";
  SplitMix64 rng(a.seed + 1);
  const auto id_range = static_cast<uint64_t>(std::min<int64_t>(tokenizer.vocab_size(), cfg.vocab_size));
  for (int64_t p = 0; p < a.prompts * a.steps; ++p) {
    std::vector<int64_t> ids;
    std::vector<int32_t> ids32;
    for (int64_t t = 0; t < a.prompt_len; ++t) {
      ids.push_back(static_cast<int64_t>(rng.below(id_range)));
      ids32.push_back(static_cast<int32_t>(ids.back()));
    }
    data.texts.push_back(tokenizer.decode(ids32));
    data.ids.push_back(std::move(ids));
    data.examples.push_back(Json{{"prompt", data.texts.back()}, {"answer", "42"}});
  }

  train::GrpoOptions o;
  o.steps = a.steps;
  o.prompts_per_step = a.prompts;
  o.sampling.num_generations = a.group;
  o.sampling.max_new_tokens = a.new_tokens;
  o.sampling.temperature = 1.0;
  o.micro_batch_tokens = a.micro_batch_tokens;
  o.logprob_chunk = a.chunk;
  o.gradient_checkpointing = a.checkpointing;
  o.samples_every = 0;
  o.write_checkpoints = false;

  train::GrpoRun run;
  run.policy = m.get();
  run.tokenizer = &tokenizer;
  run.rules = &rules;
  run.train = std::move(data);
  run.dir = dir + "/run";
  run.seed = a.seed;
  spdlog::info("bench train: {} ({} parameters), {} on {}, {} threads; {} step(s) of {} prompts x G {}, prompt {} + {} new tokens",
               source, cfg.num_parameters(), a.dtype, a.device, torch::get_num_threads(), a.steps, a.prompts, a.group,
               a.prompt_len, a.new_tokens);
  train::train_grpo(run, o);

  Json steps = Json::array();
  std::ifstream metrics(run.dir + "/metrics.jsonl");
  for (std::string line; std::getline(metrics, line);) {
    if (line.empty()) continue;
    auto f = Json::parse(line);
    Json s{{"step", f.value("step", int64_t{0})}};
    for (const char* key : {"time_sample", "time_reward", "time_train", "time_train_forward",
                            "time_train_backward", "time_optimizer", "time_step", "sample_tokens_per_s",
                            "train_tokens_per_s", "completion_len_mean"}) {
      if (f.contains(key)) s[key] = f[key];
    }
    const double completions = static_cast<double>(a.prompts * a.group);
    if (f.value("time_reward", 0.0) > 0) s["reward_completions_per_s"] = completions / f["time_reward"].get<double>();
    steps.push_back(s);
  }
  Json out{{"benchmark", "train"}, {"model", source}, {"parameters", cfg.num_parameters()}, {"dtype", a.dtype},
           {"device", a.device}, {"threads", torch::get_num_threads()}, {"prompts", a.prompts}, {"g", a.group},
           {"prompt_len", a.prompt_len}, {"new_tokens", a.new_tokens}, {"micro_batch_tokens", a.micro_batch_tokens},
           {"logprob_chunk", a.chunk}, {"gradient_checkpointing", a.checkpointing}, {"rules", a.rules},
           {"steps", steps}, {"peak_rss_bytes", peak_rss_bytes()}};
  std::cout << out.dump() << std::endl;
  if (own_dir) fs::remove_all(dir);
}

}  // namespace

void add_bench_train_command(CLI::App& bench) {
  auto a = std::make_shared<BenchTrainArgs>();
  CLI::App* sub = bench.add_subcommand("train", "One GRPO step (or --steps) split into sample / reward / train");
  sub->add_option("--config", a->config, "config.json of a random-init model (default: Qwen2.5-0.5B shape)");
  sub->add_option("--model", a->model, "A model directory instead of a random model");
  sub->add_option("--tokenizer", a->tokenizer,
                  "Tokenizer (default: the model directory's; for a random model, a synthetic one of its vocabulary)");
  sub->add_option("--rules", a->rules, "Reward rule set (name or file)")->capture_default_str();
  sub->add_option("--dtype", a->dtype, "fp32 | bf16")->capture_default_str();
  sub->add_option("--device", a->device, "cpu | cuda[:N]")->capture_default_str();
  sub->add_option("--prompts", a->prompts, "Prompts per step")->capture_default_str();
  sub->add_option("--g", a->group, "Completions per prompt (G)")->capture_default_str();
  sub->add_option("--prompt-len", a->prompt_len, "Tokens per (random) prompt")->capture_default_str();
  sub->add_option("--new-tokens", a->new_tokens, "Tokens generated per completion")->capture_default_str();
  sub->add_option("--micro-batch-tokens", a->micro_batch_tokens, "Padded tokens per forward/backward")->capture_default_str();
  sub->add_option("--chunk", a->chunk, "Positions per log-prob chunk of the LM head")->capture_default_str();
  sub->add_option("--steps", a->steps, "GRPO steps (each reported)")->capture_default_str();
  sub->add_flag("--checkpointing", a->checkpointing, "Gradient checkpointing per layer");
  sub->add_option("--dir", a->dir, "Keep the run here (metrics.jsonl) instead of a removed temp directory");
  sub->add_flag("--force", a->force, "Also use a --dir that holds files zeroth did not write (they are left alone)");
  sub->add_option("--threads", a->threads, "Intra-op threads (0: LibTorch's default)");
  sub->add_option("--seed", a->seed)->capture_default_str();
  on_parsed(sub, [a] { run_bench_train(*a); });
}

}  // namespace zeroth::cli
