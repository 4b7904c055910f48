// Recipes: overrides, whole-recipe validation before any work, and the dry run of every shipped
// recipe.
#include "support/catch.h"

#include <filesystem>
#include <fstream>
#include <iterator>

#include <torch/torch.h>

#include "support/paths.h"
#include "support/run_command.h"
#include "zeroth/core/error.h"
#include "zeroth/stages/recipe.h"

using namespace zeroth;
using namespace zeroth::stages;
namespace fs = std::filesystem;

namespace {

const char* kTinyStage = R"({"kind": "sft", "model": {"init": {"config": "CONFIG", "tokenizer": "TOKENIZER"}},
  "data": {"generator": "arithmetic", "num_examples": 50}, "steps": 1})";

std::string source_path(const std::string& relative) { return zeroth::testing::source_dir() + "/" + relative; }

std::string write_recipe(testing::TempDir& dir, const std::string& text) {
  std::string path = dir.file("recipe.json");
  std::ofstream(path) << text;
  return path;
}

std::string tiny_stage() {
  std::string s = kTinyStage;
  s.replace(s.find("CONFIG"), 6, source_path("recipes/tiny/model_config.json"));
  s.replace(s.find("TOKENIZER"), 9, source_path("data/tokenizers/byte_level"));
  return s;
}

}  // namespace

TEST_CASE("recipe: --set overrides a stage key by name, nested keys, and top-level keys", "[stages][recipe]") {
  Json r = {{"seed", 1}, {"stages", {{{"kind", "sft"}, {"steps", 5}}, {{"kind", "grpo"}, {"name", "rl"}}}}};
  Json out = apply_overrides(r, {"sft.steps=7", "rl.optimizer.lr=1e-5", "rl.rules=gsm8k", "seed=3"}, "r.json");
  REQUIRE(out["stages"][0]["steps"] == 7);
  REQUIRE(out["stages"][1]["optimizer"]["lr"].get<double>() == Approx(1e-5));
  REQUIRE(out["stages"][1]["rules"] == "gsm8k");  // not JSON: a plain string
  REQUIRE(out["seed"] == 3);
  REQUIRE_THROWS_WITH(apply_overrides(r, {"rll.steps=1"}, "r.json"), Catch::Contains("did you mean \"rl\""));
  REQUIRE_THROWS_WITH(apply_overrides(r, {"steps"}, "r.json"), Catch::Contains("STAGE.KEY=VALUE"));
}

TEST_CASE("recipe: every error of a bad recipe is reported at once, with the file and JSON path, before any work",
          "[stages][recipe]") {
  testing::TempDir dir;
  std::string text = std::string(R"({"seed": 1, "stages": [)") + tiny_stage() + R"(,
    {"kind": "grpp", "model": "${previous}"},
    {"kind": "grpo", "model": "${previous}", "data": {"path": "/nonexistent/train.jsonl"}, "rules": "r1_math",
     "stepz": 3},
    {"kind": "eval", "model": "/tmp", "data": {"path": "/nonexistent/test.jsonl"}, "rules": "no_such_rules"}]})";
  RunOptions o;
  o.recipe = write_recipe(dir, text);
  o.out = dir.file("run");
  try {
    run_recipe(o);
    FAIL("an invalid recipe ran");
  } catch (const Error& e) {
    const std::string m = e.what();
    INFO(m);
    CHECK(m.find("3 errors") != std::string::npos);
    CHECK(m.find("stages[1]") != std::string::npos);
    CHECK(m.find("did you mean \"grpo\"") != std::string::npos);
    CHECK(m.find("stages[2].stepz: unknown key; did you mean \"steps\"") != std::string::npos);
    CHECK(m.find("stages[3].rules") != std::string::npos);
    CHECK(m.find("no_such_rules") != std::string::npos);
  }
  REQUIRE_FALSE(fs::exists(o.out));  // nothing ran
}

TEST_CASE("recipe: missing inputs stop a real run before any work, --dry-run lists them and exits 0",
          "[stages][recipe]") {
  testing::TempDir dir;
  std::string text = std::string(R"({"stages": [)") + tiny_stage() + R"(,
    {"kind": "grpo", "model": "${previous}", "data": {"path": "/nonexistent/train.jsonl"}, "rules": "r1_math"},
    {"kind": "eval", "model": ")" + dir.path() + R"(", "data": {"path": "/nonexistent/test.jsonl"}, "rules": "gsm8k"}]})";
  RunOptions o;
  o.recipe = write_recipe(dir, text);
  o.out = dir.file("run");
  REQUIRE_THROWS_WITH(run_recipe(o), Catch::Contains("/nonexistent/train.jsonl") &&
                                         Catch::Contains("not a Hugging Face model") && Catch::Contains("nothing was run"));
  REQUIRE_FALSE(fs::exists(o.out));
  auto r = testing::run_command(testing::zeroth_binary() + " run --dry-run " + o.recipe);
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(r.out.find("absent here") != std::string::npos);
  REQUIRE(r.out.find("/nonexistent/test.jsonl") != std::string::npos);
  REQUIRE(r.out.find("2. grpo (grpo): model ") != std::string::npos);
}

TEST_CASE("recipe: every shipped recipe passes --dry-run", "[stages][recipe]") {
  int count = 0;
  for (const auto& entry : fs::recursive_directory_iterator(source_path("recipes"))) {
    const std::string file = entry.path().filename().string();
    if (entry.path().extension() != ".json" || file.rfind("model_config", 0) == 0 ||
        entry.path().parent_path().filename() == "rules") {
      continue;  // model configs and reward rule files, not recipes
    }
    ++count;
    auto r = testing::run_command("cd " + zeroth::testing::source_dir() + " && " + testing::zeroth_binary() +
                                  " run --dry-run " + entry.path().string());
    INFO(entry.path() << "\n" << r.out << r.err);
    REQUIRE(r.exit_code == 0);
    REQUIRE(r.out.find("1. ") != std::string::npos);
  }
  REQUIRE(count >= 7);
}

TEST_CASE("recipe: --out refuses a directory of other files before any work; --force keeps them", "[stages][recipe][output]") {
  testing::TempDir dir;
  const std::string recipe = write_recipe(dir, std::string(R"({"stages": [)") + tiny_stage() + "]}");
  const std::string out = dir.file("home");
  fs::create_directories(out + "/sft");
  std::ofstream(out + "/diary.txt") << "mine";
  std::ofstream(out + "/sft/keep.txt") << "also mine";
  const std::string command = testing::zeroth_binary() + " run " + recipe + " --out " + out;
  auto r = testing::run_command(command);
  REQUIRE(r.exit_code == 1);
  REQUIRE(r.err.find("--force") != std::string::npos);
  REQUIRE_FALSE(fs::exists(out + "/summary.json"));  // refused before any work

  r = testing::run_command(testing::zeroth_binary() + " run --dry-run " + recipe + " --out " + out);
  REQUIRE(r.exit_code == 0);
  REQUIRE(r.out.find("needs --force") != std::string::npos);

  r = testing::run_command(command + " --force");
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  REQUIRE(fs::exists(out + "/sft/model/model.safetensors"));
  auto slurp = [](const std::string& p) { std::ifstream f(p); return std::string(std::istreambuf_iterator<char>(f), {}); };
  REQUIRE(slurp(out + "/diary.txt") == "mine");
  REQUIRE(slurp(out + "/sft/keep.txt") == "also mine");
  // Now it is a run directory of zeroth's: a plain run (no --force) is accepted and skips the done stage.
  r = testing::run_command(command);
  REQUIRE(r.exit_code == 0);
  REQUIRE(slurp(out + "/diary.txt") == "mine");
}

TEST_CASE("recipe: a bad later-stage input stops the run before the first stage trains", "[stages][recipe]") {
  testing::TempDir dir;
  const std::string empty = dir.file("empty.jsonl"), garbage = dir.file("garbage.jsonl"), good = dir.file("good.jsonl");
  std::ofstream(empty) << "\n\n";
  std::ofstream(garbage) << "{\"question\": \"1+1\", \"answer\": \"2\"}\nthis is not json\n";
  std::ofstream(good) << "{\"question\": \"1+1\", \"answer\": \"2\"}\n";
  fs::create_directories(dir.file("a_dir"));
  struct Case {
    std::string stage2, expected;
  };
  const std::vector<Case> cases = {
      {R"("data": {"path": "DIR/a_dir"})", "is a directory"},
      {R"("data": {"path": "DIR/empty.jsonl"})", "no examples"},
      {R"("data": {"path": "DIR/garbage.jsonl"})", "garbage.jsonl:2"},
      {R"("data": {"path": "DIR/good.jsonl"}, "prompt": "Q: {question} {nope}")", "nope"},
  };
  for (const auto& c : cases) {
    std::string stage2 = c.stage2;
    for (size_t at; (at = stage2.find("DIR")) != std::string::npos;) stage2.replace(at, 3, dir.path());
    INFO(stage2);
    RunOptions o;
    o.recipe = write_recipe(dir, std::string(R"({"stages": [)") + tiny_stage() +
                                     R"(, {"kind": "grpo", "model": "${previous}", "rules": "r1_math", )" + stage2 + "}]}");
    o.out = dir.file("run");
    REQUIRE_THROWS_WITH(run_recipe(o), Catch::Contains(c.expected) && Catch::Contains("nothing was run"));
    REQUIRE_FALSE(fs::exists(o.out));  // stage 1 never started
  }
}

TEST_CASE("recipe: a CUDA device on a build or machine without one stops the run before anything is written",
          "[stages][recipe]") {
  if (torch::cuda::is_available()) return;  // the case cannot arise on a machine with a GPU
  testing::TempDir dir;
  RunOptions o;
  o.recipe = write_recipe(dir, std::string(R"({"device": "cuda", "stages": [)") + tiny_stage() + "]}");
  o.out = dir.file("run");
  REQUIRE_THROWS_WITH(run_recipe(o), Catch::Contains("device \"cuda\" requested"));
  REQUIRE_FALSE(fs::exists(o.out));
}
