// LoRA: merged == unmerged, freezing, PEFT save/load; gradient checkpointing gives equal gradients.
#include "support/catch.h"

#include <filesystem>

#include <torch/torch.h>

#include "model/tiny.h"
#include "support/paths.h"
#include "support/tensor_asserts.h"
#include "zeroth/core/safetensors.h"
#include "zeroth/model/logprobs.h"
#include "zeroth/model/lora.h"

using namespace zeroth;
using zeroth::testing::require_close;
using zeroth::testing::TempDir;
using zeroth::testing::tiny_model;

namespace {

// Non-zero B so the adapters change the output.
void randomize_adapters(model::TransformerImpl& m) {
  torch::NoGradGuard g;
  for (auto& [name, p] : model::lora_parameters(m)) p.normal_(0.0, 0.05);
}

}  // namespace

TEST_CASE("lora: adapters start as the identity, merged equals unmerged", "[model][lora]") {
  for (std::string arch : {"qwen2", "llama"}) {
    INFO(arch);
    auto m = tiny_model(arch);
    auto ids = torch::randint(3, 300, {2, 10}, torch::kLong);
    torch::Tensor base;
    {
      torch::NoGradGuard g;
      base = m->forward(ids);
    }
    model::LoraConfig cfg;
    cfg.r = 4;
    cfg.alpha = 8;
    cfg.target_modules = {"q_proj", "v_proj", "down_proj"};
    REQUIRE(model::apply_lora(*m, cfg) == 3 * 2);
    // Only adapters train.
    for (auto& item : m->named_parameters()) {
      INFO(item.key());
      REQUIRE(item.value().requires_grad() == (item.key().find("lora_") != std::string::npos));
    }
    REQUIRE(model::lora_parameters(*m).size() == 12);
    REQUIRE(model::lora_parameters(*m)[0].first == "model.layers.0.self_attn.q_proj.lora_A.weight");
    torch::NoGradGuard g;
    require_close(m->forward(ids), base, 1e-6);  // B = 0
    randomize_adapters(*m);
    auto adapted = m->forward(ids);
    REQUIRE((adapted - base).abs().max().item<double>() > 1e-3);
    model::merge_lora(*m);
    REQUIRE(model::lora_parameters(*m).empty());
    require_close(m->forward(ids), adapted, 1e-5);
  }
  auto m = tiny_model("qwen2");
  model::LoraConfig bad;
  bad.target_modules = {"q_prj"};
  REQUIRE_THROWS_WITH(model::apply_lora(*m, bad), Catch::Contains("did you mean \"q_proj\""));
}

TEST_CASE("lora: PEFT layout save -> load gives the same adapted model", "[model][lora]") {
  auto m = tiny_model("qwen3");
  model::LoraConfig cfg;
  cfg.r = 2;
  cfg.alpha = 6;
  cfg.target_modules = {"k_proj", "o_proj", "gate_proj"};
  model::apply_lora(*m, cfg);
  randomize_adapters(*m);
  TempDir dir;
  model::save_lora_adapter(*m, dir.path(), "tiny-qwen3");
  auto config = load_json(dir.path() + "/adapter_config.json");
  REQUIRE(config["peft_type"] == "LORA");
  REQUIRE(config["r"] == 2);
  REQUIRE(config["lora_alpha"].get<double>() == Approx(6.0));
  auto file = SafetensorsFile::open(dir.path() + "/adapter_model.safetensors");
  REQUIRE(file->find("base_model.model.model.layers.1.mlp.gate_proj.lora_B.weight"));
  REQUIRE(file->info("base_model.model.model.layers.0.self_attn.k_proj.lora_A.weight").shape ==
          std::vector<int64_t>{2, 64});

  auto fresh = tiny_model("qwen3");
  model::load_lora_adapter(*fresh, dir.path());
  auto ids = torch::randint(3, 300, {1, 12}, torch::kLong);
  torch::NoGradGuard g;
  require_close(fresh->forward(ids), m->forward(ids), 0.0);
}

TEST_CASE("gradient checkpointing: same loss and gradients, full and LoRA training", "[model][checkpointing]") {
  for (bool lora : {false, true}) {
    INFO((lora ? "lora" : "full"));
    auto ids = torch::randint(3, 300, {2, 12}, torch::kLong);
    auto mask = torch::ones({2, 12}, torch::kLong);
    mask[1].narrow(0, 0, 3).zero_();  // left padding
    auto run = [&](bool checkpointing) {
      auto m = tiny_model("qwen3");
      if (lora) {
        model::LoraConfig cfg;
        cfg.r = 4;
        cfg.dropout = 0.1;  // the replay must see the same dropout masks
        model::apply_lora(*m, cfg);
        randomize_adapters(*m);
      }
      m->train();
      m->set_gradient_checkpointing(checkpointing);
      torch::manual_seed(42);
      auto h = m->hidden_states(ids, mask);
      auto lp = model::token_logprobs(h.narrow(1, 0, 11), m->lm_head_weight(), ids.narrow(1, 1, 11), 8);
      auto loss = -lp.mean();
      loss.backward();
      std::vector<std::pair<std::string, torch::Tensor>> grads;
      for (auto& item : m->named_parameters()) {
        if (item.value().requires_grad()) grads.emplace_back(item.key(), item.value().grad().clone());
      }
      return std::make_pair(loss.item<double>(), grads);
    };
    auto [loss_plain, grads_plain] = run(false);
    auto [loss_ckpt, grads_ckpt] = run(true);
    REQUIRE(loss_ckpt == Approx(loss_plain).epsilon(1e-6));
    REQUIRE(grads_plain.size() == grads_ckpt.size());
    REQUIRE_FALSE(grads_plain.empty());
    for (size_t i = 0; i < grads_plain.size(); ++i) {
      INFO(grads_plain[i].first);
      REQUIRE(grads_ckpt[i].second.defined());
      require_close(grads_ckpt[i].second, grads_plain[i].second, 1e-6, 1e-4);
    }
  }
}
