// The `zeroth` executable's contract: --help lists the subcommands, usage errors exit 2,
// user errors exit 1 with a message and no stack trace.
#include "support/catch.h"

#include <fstream>
#include <iterator>

#include "support/paths.h"
#include "support/run_command.h"
#include "zeroth/core/json.h"

using zeroth::testing::run_command;
using zeroth::testing::zeroth_binary;

TEST_CASE("zeroth --help lists every subcommand of the contract", "[cli]") {
  auto r = run_command(zeroth_binary() + " --help");
  REQUIRE(r.exit_code == 0);
  for (const char* name : {"run", "report", "init-model", "generate", "score", "eval", "reward", "tokenize", "bench"}) {
    INFO(name);
    REQUIRE(r.out.find(std::string("\n  ") + name + " ") != std::string::npos);
  }
}

TEST_CASE("zeroth --version prints the version", "[cli]") {
  auto r = run_command(zeroth_binary() + " --version");
  REQUIRE(r.exit_code == 0);
  REQUIRE(r.out.rfind("zeroth ", 0) == 0);
}

TEST_CASE("zeroth: unknown subcommand or flag is a usage error, exit 2", "[cli]") {
  auto r = run_command(zeroth_binary() + " rnu");
  REQUIRE(r.exit_code == 2);
  REQUIRE(r.err.find("unknown subcommand \"rnu\"; did you mean \"run\"?") != std::string::npos);
  auto flag = run_command(zeroth_binary() + " --no-such-flag");
  REQUIRE(flag.exit_code == 2);
  auto none = run_command(zeroth_binary());
  REQUIRE(none.exit_code == 2);
}

TEST_CASE("zeroth: a bad --log-level is a user error with a message, exit 1", "[cli]") {
  auto r = run_command(zeroth_binary() + " --log-level loud tokenize");
  REQUIRE(r.exit_code == 1);
  REQUIRE(r.err.find("unknown log level \"loud\"") != std::string::npos);
  REQUIRE(r.err.find("Exception raised from") == std::string::npos);  // no c10 backtrace
}

TEST_CASE("zeroth bench sampler: batch-1 and group decode of a tiny random model, with the memory bound", "[cli]") {
  auto r = run_command("cd " + zeroth::testing::source_dir() + " && " + zeroth_binary() +
                       " bench sampler --config recipes/tiny/model_config.json --dtype bf16 --prompt-len 8"
                       " --new-tokens 4 --g 3 --threads 1");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto out = zeroth::parse_json(r.out, "bench sampler output");
  REQUIRE(out["benchmark"] == "sampler");
  REQUIRE(out["batch_1"]["batch"] == 1);
  REQUIRE(out["group"]["batch"] == 3);
  for (const char* run : {"batch_1", "group"}) {
    INFO(run);
    const auto& j = out[run];
    REQUIRE(j["decode_tokens_per_s"].get<double>() > 0);
    REQUIRE(j["prefill_tokens_per_s"].get<double>() > 0);
    REQUIRE(j["slot_occupancy"].get<double>() > 0);
    REQUIRE(j["slot_occupancy"].get<double>() <= 1.0);
    REQUIRE(j["minor_page_faults_per_decode_step"].get<double>() >= 0);
  }
  // Tied embeddings: every parameter is read once per token (the embedding as the LM head), bf16.
  const auto& bound = out["memory_bound"];
  REQUIRE(bound["weight_bytes_per_token"].get<double>() == 625152.0 * 2);
  const double gbps = bound["read_bandwidth_gb_per_s"].get<double>();
  REQUIRE(gbps > 0.1);
  REQUIRE(bound["bound_ms_per_token"].get<double>() == Approx(1000.0 * 625152 * 2 / (gbps * 1e9)).epsilon(1e-9));
  REQUIRE(bound["batch_1_over_bound"].get<double>() ==
          Approx(out["batch_1"]["decode_ms_per_step"].get<double>() / bound["bound_ms_per_token"].get<double>()).epsilon(1e-9));
}

TEST_CASE("zeroth bench train: whole GRPO steps of a tiny random model, one JSON object with the split", "[cli]") {
  // The tiny recipes' shape: vocabulary 263, so the synthetic tokenizer covers it with the 256 byte
  // characters and 7 two-character tokens. Two steps, each reported; the temp directory is removed.
  auto r = run_command("cd " + zeroth::testing::source_dir() + " && " + zeroth_binary() +
                       " bench train --config recipes/tiny/model_config.json --prompts 2 --g 3 --prompt-len 8"
                       " --new-tokens 6 --steps 2 --threads 1");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto out = zeroth::parse_json(r.out, "bench train output");
  REQUIRE(out["benchmark"] == "train");
  REQUIRE(out["parameters"].get<int64_t>() == 625152);
  REQUIRE(out["steps"].size() == 2);
  for (const auto& s : out["steps"]) {
    REQUIRE(s["time_sample"].get<double>() > 0);
    REQUIRE(s["time_train"].get<double>() > 0);
    REQUIRE(s["time_train_forward"].get<double>() + s["time_train_backward"].get<double>() +
                s["time_optimizer"].get<double>() <= s["time_train"].get<double>());
    REQUIRE(s["completion_len_mean"].get<double>() <= 6.0);
    REQUIRE(s["time_step"].get<double>() >= s["time_sample"].get<double>() + s["time_train"].get<double>());
  }
  // Bad sizes are a user error naming the flags.
  auto bad = run_command(zeroth_binary() + " bench train --config " + zeroth::testing::source_dir() +
                         "/recipes/tiny/model_config.json --g 0");
  REQUIRE(bad.exit_code == 1);
  REQUIRE(bad.err.find("--g") != std::string::npos);
}

TEST_CASE("zeroth: a misspelled flag is a usage error before any work, with a did-you-mean", "[cli]") {
  // The subcommand must not run with the default in place of the misspelled flag.
  auto r = run_command(zeroth_binary() + " reward --rules r1_math --thread 2",
                       R"({"completion": "\\boxed{1}", "answer": "1"})" "\n");
  REQUIRE(r.exit_code == 2);
  REQUIRE(r.out.empty());  // nothing was scored
  REQUIRE(r.err.find("--thread") != std::string::npos);
  REQUIRE(r.err.find("did you mean --threads?") != std::string::npos);
  auto bad_count = run_command(zeroth_binary() + " reward --rules r1_math --threads -1", "");
  REQUIRE(bad_count.exit_code == 2);
}

TEST_CASE("zeroth bench train --dir refuses a directory of other files before any work", "[cli][output]") {
  zeroth::testing::TempDir dir;
  std::ofstream(dir.file("notes.txt")) << "mine";
  auto r = run_command(zeroth_binary() + " bench train --config " + zeroth::testing::source_dir() +
                       "/recipes/tiny/model_config.json --steps 1 --dir " + dir.path());
  REQUIRE(r.exit_code == 1);
  REQUIRE(r.err.find("--force") != std::string::npos);
  std::ifstream in(dir.file("notes.txt"));
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(text == "mine");
}

TEST_CASE("zeroth: ZEROTH_CPU_ISA naming no level is a clear error before any work", "[cli]") {
  auto r = run_command("ZEROTH_CPU_ISA=avx9 " + zeroth_binary() + " reward --rules r1_math",
                       R"({"completion": "\\boxed{1}", "answer": "1"})" "\n");
  REQUIRE(r.exit_code == 1);
  REQUIRE(r.out.empty());
  REQUIRE(r.err.find("ZEROTH_CPU_ISA=\"avx9\": expected generic, avx2, avx512 or amx") != std::string::npos);
  auto generic = run_command("ZEROTH_CPU_ISA=generic " + zeroth_binary() + " reward --rules r1_math",
                             R"({"completion": "\\boxed{1}", "answer": "1"})" "\n");
  REQUIRE(generic.exit_code == 0);  // every CPU has the generic loops
}
