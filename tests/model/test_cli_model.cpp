// `zeroth init-model` and `zeroth score` end to end through the built binary.
#include "support/catch.h"

#include <filesystem>
#include <sstream>

#include <torch/torch.h>

#include "support/paths.h"
#include "support/run_command.h"
#include "zeroth/core/fs.h"
#include "zeroth/core/json.h"
#include "zeroth/model/checkpoint.h"
#include "zeroth/text/tokenizer.h"

using namespace zeroth;
using namespace zeroth::testing;
namespace fs = std::filesystem;

namespace {
const std::string kTokenizer = zeroth::testing::source_dir() + "/data/tokenizers/byte_level";

// log p(completion[j] | prompt + completion[:j]) from a plain forward in this process.
std::vector<double> expected_logprobs(model::TransformerImpl& m, const std::vector<int64_t>& prompt,
                                      const std::vector<int64_t>& completion) {
  std::vector<int64_t> seq = prompt;
  seq.insert(seq.end(), completion.begin(), completion.end());
  torch::NoGradGuard g;
  auto logp = torch::log_softmax(m.forward(torch::tensor(seq, torch::kLong).unsqueeze(0)).squeeze(0), -1);
  std::vector<double> out;
  for (size_t j = 0; j < completion.size(); ++j) out.push_back(logp[prompt.size() + j - 1][completion[j]].item<double>());
  return out;
}
}  // namespace

TEST_CASE("cli: init-model writes a loadable HF directory, score gives per-token log-probs", "[model][cli]") {
  TempDir dir;
  const std::string out = dir.file("tiny");
  auto r = run_command(zeroth_binary() + " init-model --config " + test_data_path("model/configs/qwen3.json") +
                       " --tokenizer " + kTokenizer + " --out " + out + " --seed 3");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  for (std::string f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
                        "generation_config.json"}) {
    INFO(f);
    REQUIRE(fs::exists(out + "/" + f));
  }
  auto m = model::load_hf_model(out, torch::kFloat, torch::kCPU);
  REQUIRE(m->config().architecture == "Qwen3ForCausalLM");
  // Same seed, same weights.
  const std::string again = dir.file("again");
  REQUIRE(run_command(zeroth_binary() + " init-model --config " + test_data_path("model/configs/qwen3.json") +
                      " --tokenizer " + kTokenizer + " --out " + again + " --seed 3")
              .exit_code == 0);
  REQUIRE(read_file(out + "/model.safetensors") == read_file(again + "/model.safetensors"));

  auto tok = text::Tokenizer::from_file(out);
  std::vector<int64_t> p_text, c_text;
  for (int32_t id : tok.encode("Question: 2+2?")) p_text.push_back(id);
  for (int32_t id : tok.encode(" <answer>4</answer>")) c_text.push_back(id);
  std::string input =
      "{\"prompt_ids\": [5, 17, 42], \"completion_ids\": [7, 8, 9, 10], \"tag\": \"a\"}\n"
      "{\"prompt\": \"Question: 2+2?\", \"completion\": \" <answer>4</answer>\"}\n"
      "{\"prompt_ids\": [], \"completion_ids\": [1]}\n"
      "{\"prompt_ids\": [3], \"completion_ids\": [300]}\n"
      "{\"prompt_ids\": [11, 12], \"completion_ids\": [13]}\n";
  auto s = run_command(zeroth_binary() + " score --model " + out + " --batch-size 2", input);
  INFO(s.err);
  REQUIRE(s.exit_code == 1);  // two bad lines
  REQUIRE(s.err.find("stdin:3: the prompt is empty") != std::string::npos);  // one location, not "line 3: stdin:3:"
  REQUIRE(s.err.find("line 3") == std::string::npos);
  REQUIRE(s.err.find("stdin:4: completion_ids") != std::string::npos);
  REQUIRE(s.err.find("outside the vocabulary") != std::string::npos);
  std::istringstream lines(s.out);
  std::vector<Json> outs;
  std::string line;
  while (std::getline(lines, line)) outs.push_back(parse_json(line, "stdout"));
  REQUIRE(outs.size() == 3);
  REQUIRE(outs[0]["tag"] == "a");
  std::vector<std::vector<int64_t>> prompts = {{5, 17, 42}, p_text, {11, 12}};
  std::vector<std::vector<int64_t>> completions = {{7, 8, 9, 10}, c_text, {13}};
  for (size_t i = 0; i < outs.size(); ++i) {
    INFO("output " << i);
    REQUIRE(outs[i]["completion_ids"].get<std::vector<int64_t>>() == completions[i]);
    auto lp = outs[i]["logprobs"].get<std::vector<double>>();
    auto expected = expected_logprobs(*m, prompts[i], completions[i]);
    REQUIRE(lp.size() == expected.size());
    for (size_t j = 0; j < lp.size(); ++j) REQUIRE(lp[j] == Approx(expected[j]).margin(1e-4));
  }
}

TEST_CASE("cli: init-model rejects a vocabulary smaller than the tokenizer's", "[model][cli]") {
  TempDir dir;
  Json cfg = load_json(test_data_path("model/configs/llama.json"));
  cfg["vocab_size"] = 100;
  write_file_atomic(dir.file("c.json"), cfg.dump());
  auto r = run_command(zeroth_binary() + " init-model --config " + dir.file("c.json") + " --tokenizer " + kTokenizer +
                       " --out " + dir.file("m"));
  REQUIRE(r.exit_code == 1);
  REQUIRE(r.err.find("vocab_size (100)") != std::string::npos);
  REQUIRE_FALSE(fs::exists(dir.file("m")));
}

TEST_CASE("cli: init-model --out never removes files it did not write", "[model][cli][output]") {
  TempDir dir;
  const std::string out = dir.file("home");
  write_file_atomic(out + "/thesis.tex", "years of work");
  const std::string command = zeroth_binary() + " init-model --config " + test_data_path("model/configs/qwen3.json") +
                              " --tokenizer " + kTokenizer + " --out " + out;
  auto r = run_command(command);
  REQUIRE(r.exit_code == 1);
  REQUIRE(r.err.find("--force") != std::string::npos);
  REQUIRE(r.err.find("thesis.tex") != std::string::npos);
  REQUIRE(read_file(out + "/thesis.tex") == "years of work");
  REQUIRE_FALSE(fs::exists(out + "/config.json"));

  r = run_command(command + " --force");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(read_file(out + "/thesis.tex") == "years of work");
  REQUIRE(fs::exists(out + "/model.safetensors"));
  // Once written, the directory is zeroth's: a second init-model replaces the model, not the thesis.
  r = run_command(command + " --seed 9");
  REQUIRE(r.exit_code == 0);
  REQUIRE(read_file(out + "/thesis.tex") == "years of work");
}
