// Save -> load round trips (single file and sharded), dtype conversion, strict loading errors, and
// what a save may replace in an existing directory.
#include "support/catch.h"

#include <filesystem>
#include <set>

#include <torch/torch.h>

#include "model/tiny.h"
#include "support/paths.h"
#include "support/tensor_asserts.h"
#include "zeroth/core/error.h"
#include "zeroth/core/fs.h"
#include "zeroth/core/output_dir.h"
#include "zeroth/core/safetensors.h"
#include "zeroth/model/checkpoint.h"

using namespace zeroth;
using zeroth::testing::TempDir;
using zeroth::testing::tiny_model;
namespace fs = std::filesystem;

namespace {

void require_same_weights(model::TransformerImpl& a, model::TransformerImpl& b) {
  auto pa = model::base_parameters(a), pb = model::base_parameters(b);
  REQUIRE(pa.size() == pb.size());
  for (size_t i = 0; i < pa.size(); ++i) {
    INFO(pa[i].first);
    REQUIRE(pa[i].first == pb[i].first);
    REQUIRE(pa[i].second.scalar_type() == pb[i].second.scalar_type());
    REQUIRE(torch::equal(pa[i].second, pb[i].second));
  }
}

}  // namespace

TEST_CASE("checkpoint: save -> load is bit-exact, single file and sharded, fp32 and bf16", "[model][checkpoint]") {
  for (std::string arch : {"qwen2", "qwen3", "llama"}) {
    INFO(arch);
    auto m = tiny_model(arch);
    TempDir dir;
    const std::string one = dir.file("one"), sharded = dir.file("sharded");
    model::save_hf_model(*m, one);
    REQUIRE(fs::exists(one + "/model.safetensors"));
    REQUIRE(fs::exists(one + "/config.json"));
    REQUIRE(fs::exists(one + "/generation_config.json"));
    auto back = model::load_hf_model(one, torch::kFloat, torch::kCPU);
    require_same_weights(*m, *back);
    auto ids = torch::randint(3, 300, {2, 9}, torch::kLong);
    torch::NoGradGuard g;
    REQUIRE(torch::equal(m->forward(ids), back->forward(ids)));

    model::save_hf_model(*m, sharded, {.max_shard_bytes = 100000});
    REQUIRE(fs::exists(sharded + "/model.safetensors.index.json"));
    REQUIRE_FALSE(fs::exists(sharded + "/model.safetensors"));
    std::set<std::string> files;
    const Json index = load_json(sharded + "/model.safetensors.index.json");
    for (const auto& item : index["weight_map"].items()) files.insert(item.value().get<std::string>());
    REQUIRE(files.size() > 1);
    for (const auto& f : files) REQUIRE(fs::exists(sharded + "/" + f));
    require_same_weights(*m, *model::load_hf_model(sharded, torch::kFloat, torch::kCPU));

    // bf16: stored as bf16 (config says bfloat16), loads bit-exact in bf16, and converts to fp32.
    m->to(torch::kBFloat16);
    model::save_hf_model(*m, one);  // replaces the directory
    REQUIRE(load_json(one + "/config.json")["torch_dtype"] == "bfloat16");
    require_same_weights(*m, *model::load_hf_model(one, torch::kBFloat16, torch::kCPU));
    auto up = model::load_hf_model(one, torch::kFloat, torch::kCPU);
    REQUIRE(up->dtype() == torch::kFloat);
    REQUIRE(torch::equal(up->lm_head_weight(), m->lm_head_weight().to(torch::kFloat)));
  }
}

TEST_CASE("checkpoint: tokenizer and generation config are copied, eos ids merged", "[model][checkpoint]") {
  TempDir dir;
  const std::string src = dir.file("src"), out = dir.file("out");
  fs::create_directories(src);
  write_file_atomic(src + "/tokenizer.json", "{\"fake\": true}");
  write_file_atomic(src + "/generation_config.json", "{\"eos_token_id\": [2, 5], \"temperature\": 0.6}");
  auto m = tiny_model("qwen3");
  model::save_hf_model(*m, out, {.copy_from = src});
  REQUIRE(read_file(out + "/tokenizer.json") == "{\"fake\": true}");
  auto g = model::read_generation_config(out);
  REQUIRE(g.eos_token_ids == std::vector<int64_t>{2, 5});
  REQUIRE(*g.temperature == 0.6);
  auto back = model::load_hf_model(out, torch::kFloat, torch::kCPU);
  REQUIRE(back->config().eos_token_ids == std::vector<int64_t>{2, 5});
  // No temp directories are left beside the output.
  int entries = 0;
  for (const auto& e : fs::directory_iterator(dir.path())) entries += e.is_directory();
  REQUIRE(entries == 2);
}

TEST_CASE("checkpoint: strict loading lists every missing, unexpected and mis-shaped tensor", "[model][checkpoint]") {
  auto m = tiny_model("llama");
  TempDir dir;
  model::save_hf_model(*m, dir.path() + "/m");
  // Rewrite the weights: drop two tensors, add one, reshape one.
  NamedTensors tensors;
  for (auto& [name, p] : model::base_parameters(*m)) {
    if (name == "model.layers.0.mlp.up_proj.weight" || name == "lm_head.weight") continue;
    if (name == "model.layers.1.self_attn.k_proj.weight") {
      tensors.emplace_back(name, torch::zeros({16, 64}));
      continue;
    }
    tensors.emplace_back(name, p.detach());
  }
  tensors.emplace_back("model.layers.7.mlp.up_proj.weight", torch::zeros({2}));
  write_safetensors(dir.path() + "/m/model.safetensors", tensors);
  try {
    model::load_hf_model(dir.path() + "/m", torch::kFloat, torch::kCPU);
    FAIL("expected an error");
  } catch (const Error& e) {
    std::string msg = e.what();
    INFO(msg);
    CHECK(msg.find("2 missing tensors") != std::string::npos);
    CHECK(msg.find("model.layers.0.mlp.up_proj.weight [128, 64]") != std::string::npos);
    CHECK(msg.find("lm_head.weight") != std::string::npos);
    CHECK(msg.find("1 unexpected tensors") != std::string::npos);
    CHECK(msg.find("model.layers.7.mlp.up_proj.weight") != std::string::npos);
    CHECK(msg.find("model.layers.1.self_attn.k_proj.weight: checkpoint [16, 64], model [32, 64]") != std::string::npos);
    CHECK(msg.find(dir.path() + "/m") != std::string::npos);
  }
  REQUIRE_THROWS_WITH(model::load_hf_model(dir.file("nope"), torch::kFloat, torch::kCPU), Catch::Contains("nope"));
}

namespace {

std::set<std::string> entries(const std::string& dir) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.insert(e.path().filename().string());
  return names;
}

}  // namespace

TEST_CASE("checkpoint: a save never removes files zeroth did not write", "[model][checkpoint][output]") {
  auto m = tiny_model("qwen3");
  TempDir dir;

  SECTION("a directory of other files is refused, and nothing in it changes") {
    const std::string out = dir.file("home");
    write_file_atomic(out + "/notes.txt", "my notes");
    write_file_atomic(out + "/config.json", "{\"mine\": 1}");
    REQUIRE_THROWS_WITH(model::save_hf_model(*m, out), Catch::Contains(out) && Catch::Contains("--force") &&
                                                              Catch::Contains("notes.txt"));
    REQUIRE(entries(out) == std::set<std::string>{"config.json", "notes.txt"});
    REQUIRE(read_file(out + "/config.json") == "{\"mine\": 1}");
    REQUIRE(entries(dir.path()) == std::set<std::string>{"home"});  // no temp directory left beside it
  }

  SECTION("--force writes zeroth's files beside the others and removes none of them") {
    const std::string out = dir.file("home");
    write_file_atomic(out + "/notes.txt", "my notes");
    write_file_atomic(out + "/sub/deep.txt", "deep");
    model::SaveOptions options;
    options.force = true;
    model::save_hf_model(*m, out, options);
    REQUIRE(read_file(out + "/notes.txt") == "my notes");
    REQUIRE(read_file(out + "/sub/deep.txt") == "deep");
    require_same_weights(*m, *model::load_hf_model(out, torch::kFloat, torch::kCPU));
    REQUIRE(inspect_output_dir(out) == OutputDirState::ours);
    REQUIRE(entries(out) == std::set<std::string>{".zeroth-output.json", "config.json", "generation_config.json",
                                                  "model.safetensors", "notes.txt", "sub"});
    // Saved again (now with the marker): the user's files still stay.
    model::save_hf_model(*m, out);
    REQUIRE(read_file(out + "/notes.txt") == "my notes");
    REQUIRE(read_file(out + "/sub/deep.txt") == "deep");
  }

  SECTION("a model directory of zeroth's is replaced whole: old shards go, a file the user added stays") {
    const std::string out = dir.file("model");
    model::save_hf_model(*m, out, {.max_shard_bytes = 100000});
    REQUIRE(fs::exists(out + "/model.safetensors.index.json"));
    model::save_hf_model(*m, out);  // only ours there: the whole directory is swapped
    REQUIRE(entries(out) == std::set<std::string>{".zeroth-output.json", "config.json", "generation_config.json",
                                                  "model.safetensors"});
    REQUIRE(entries(dir.path()) == std::set<std::string>{"model"});  // the old copy is gone, nothing else left
    model::save_hf_model(*m, out, {.max_shard_bytes = 100000});
    write_file_atomic(out + "/README.md", "my model card");
    model::save_hf_model(*m, out);  // a user file there: files are replaced one by one
    REQUIRE(read_file(out + "/README.md") == "my model card");
    REQUIRE(entries(out) == std::set<std::string>{".zeroth-output.json", "README.md", "config.json",
                                                  "generation_config.json", "model.safetensors"});
    require_same_weights(*m, *model::load_hf_model(out, torch::kFloat, torch::kCPU));
  }

  SECTION("an empty directory is used; a file in the way is an error") {
    const std::string out = dir.file("empty");
    fs::create_directories(out);
    model::save_hf_model(*m, out);
    REQUIRE(fs::exists(out + "/model.safetensors"));
    const std::string file = dir.file("a_file");
    write_file_atomic(file, "x");
    REQUIRE_THROWS_WITH(model::save_hf_model(*m, file), Catch::Contains("not a directory"));
    REQUIRE(read_file(file) == "x");
  }
}
