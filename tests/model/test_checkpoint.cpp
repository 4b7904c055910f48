// Save -> load round trips (single file and sharded), dtype conversion, strict loading errors.
#include <catch2/catch.hpp>

#include <filesystem>
#include <set>

#include <torch/torch.h>

#include "model/tiny.h"
#include "support/paths.h"
#include "support/tensor_asserts.h"
#include "zeroth/core/fs.h"
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
