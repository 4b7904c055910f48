// LoRA: attach, merge, freeze, and the PEFT save/load layout (see lora.h).
#include "zeroth/model/lora.h"

#include <filesystem>
#include <set>

#include <torch/torch.h>

#include "zeroth/core/error.h"
#include "zeroth/core/fs.h"
#include "zeroth/core/safetensors.h"

namespace zeroth::model {
namespace {

const char* kPeftPrefix = "base_model.model.";

std::string last_component(const std::string& name) {
  auto dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(dot + 1);
}

// Every Linear of the model with its HF module name ("model.layers.0.self_attn.q_proj").
std::vector<std::pair<std::string, LinearImpl*>> linears(const TransformerImpl& model) {
  std::vector<std::pair<std::string, LinearImpl*>> out;
  for (const auto& item : model.named_modules("", /*include_self=*/false)) {
    if (auto* lin = item.value()->as<LinearImpl>()) out.emplace_back(item.key(), lin);
  }
  return out;
}

}  // namespace

LoraConfig parse_lora_config(const JsonReader& json) {
  LoraConfig c;
  c.r = json.get_or<int64_t>("r", c.r);
  c.alpha = json.get_or<double>("alpha", json.get_or<double>("lora_alpha", c.alpha));
  c.dropout = json.get_or<double>("dropout", json.get_or<double>("lora_dropout", c.dropout));
  c.use_rslora = json.get_or<bool>("use_rslora", false);
  c.target_modules = json.get_or<std::vector<std::string>>("target_modules", c.target_modules);
  if (c.r <= 0) json.at("r").fail(cat("expected a positive rank, got ", c.r));
  if (c.dropout < 0 || c.dropout >= 1) json.fail(cat("lora dropout must be in [0, 1), got ", c.dropout));
  json.reject_unknown_keys();
  return c;
}

int64_t apply_lora(TransformerImpl& model, const LoraConfig& config) {
  static const std::vector<std::string> known = {"q_proj", "k_proj", "v_proj", "o_proj",
                                                 "gate_proj", "up_proj", "down_proj", "lm_head"};
  for (const auto& t : config.target_modules) {
    if (std::find(known.begin(), known.end(), t) == known.end()) {
      std::string hint = did_you_mean(t, known);
      throw Error(cat("lora target_modules: unknown module ", quote(t),
                      hint.empty() ? "" : "; did you mean " + quote(hint) + "?",
                      " (q_proj k_proj v_proj o_proj gate_proj up_proj down_proj lm_head)"));
    }
  }
  set_base_trainable(model, false);
  int64_t count = 0;
  std::set<std::string> matched;
  for (auto& [name, lin] : linears(model)) {
    const std::string leaf = last_component(name);
    if (std::find(config.target_modules.begin(), config.target_modules.end(), leaf) == config.target_modules.end()) {
      continue;
    }
    lin->add_lora(config.r, config.alpha, config.dropout, config.use_rslora, torch::kFloat);
    matched.insert(leaf);
    ++count;
  }
  for (const auto& t : config.target_modules) {
    if (!matched.count(t)) throw Error(cat("lora target_modules: ", quote(t), " matches no layer of this model"));
  }
  return count;
}

std::vector<std::pair<std::string, torch::Tensor>> lora_parameters(const TransformerImpl& model) {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& item : model.named_parameters(true)) {
    if (item.key().find("lora_") != std::string::npos) out.emplace_back(item.key(), item.value());
  }
  return out;
}

void merge_lora(TransformerImpl& model) {
  for (auto& [name, lin] : linears(model)) lin->merge_lora();
}

void set_base_trainable(TransformerImpl& model, bool trainable) {
  for (auto& [name, p] : base_parameters(model)) p.set_requires_grad(trainable);
}

void save_lora_adapter(const TransformerImpl& model, const std::string& dir, const std::string& base_model_name) {
  NamedTensors tensors;
  std::vector<std::string> targets;
  int64_t r = 0;
  double scaling = 0.0, dropout = 0.0;
  bool rslora = false;
  for (auto& [name, lin] : linears(model)) {
    if (!lin->has_lora()) continue;
    tensors.emplace_back(kPeftPrefix + name + ".lora_A.weight", lin->lora_A().detach().to(torch::kCPU).contiguous());
    tensors.emplace_back(kPeftPrefix + name + ".lora_B.weight", lin->lora_B().detach().to(torch::kCPU).contiguous());
    const std::string leaf = last_component(name);
    if (std::find(targets.begin(), targets.end(), leaf) == targets.end()) targets.push_back(leaf);
    r = lin->lora_A().size(0);
    scaling = lin->lora_scaling();
    dropout = lin->lora_dropout();
    rslora = lin->lora_rslora();
  }
  if (tensors.empty()) throw Error("save_lora_adapter: the model has no LoRA adapters");
  // PEFT stores alpha; we keep scaling = alpha / r (alpha / sqrt(r) with rslora).
  const double alpha = scaling * (rslora ? std::sqrt(static_cast<double>(r)) : static_cast<double>(r));
  Json config{{"peft_type", "LORA"},
              {"task_type", "CAUSAL_LM"},
              {"base_model_name_or_path", base_model_name},
              {"r", r},
              {"lora_alpha", alpha},
              {"lora_dropout", dropout},
              {"target_modules", targets},
              {"bias", "none"},
              {"fan_in_fan_out", false},
              {"inference_mode", true},
              {"init_lora_weights", true},
              {"use_rslora", rslora},
              {"modules_to_save", nullptr}};
  std::filesystem::create_directories(dir);
  write_safetensors(dir + "/adapter_model.safetensors", tensors, {{"format", "pt"}});
  write_file_atomic(dir + "/adapter_config.json", config.dump(2) + "\n");
}

void load_lora_adapter(TransformerImpl& model, const std::string& dir) {
  const std::string config_path = dir + "/adapter_config.json";
  JsonReader json = JsonReader::owning(load_json(config_path), config_path);
  if (json.get_or<std::string>("peft_type", "LORA") != "LORA") json.at("peft_type").fail("only LORA adapters are supported");
  LoraConfig c;
  c.r = json.get<int64_t>("r");
  c.alpha = json.get<double>("lora_alpha");
  c.dropout = json.get_or<double>("lora_dropout", 0.0);
  c.use_rslora = json.get_or<bool>("use_rslora", false);
  c.target_modules = json.get<std::vector<std::string>>("target_modules");
  apply_lora(model, c);
  auto file = SafetensorsFile::open(dir + "/adapter_model.safetensors");
  std::vector<std::string> missing, misshaped;
  std::set<std::string> expected;
  torch::NoGradGuard no_grad;
  for (auto& [name, p] : lora_parameters(model)) {
    const std::string key = kPeftPrefix + name;
    expected.insert(key);
    const auto* info = file->find(key);
    if (!info) {
      missing.push_back(key);
    } else if (info->shape != p.sizes().vec()) {
      misshaped.push_back(key);
    } else {
      p.copy_(file->tensor(key));
    }
  }
  std::vector<std::string> unexpected;
  for (const auto& info : file->tensors()) {
    if (!expected.count(info.name)) unexpected.push_back(info.name);
  }
  if (!missing.empty() || !misshaped.empty() || !unexpected.empty()) {
    std::string msg = cat(dir, ": adapter weights do not match adapter_config.json:");
    for (auto& m : missing) msg += "\n  missing: " + m;
    for (auto& m : unexpected) msg += "\n  unexpected: " + m;
    for (auto& m : misshaped) msg += "\n  wrong shape: " + m;
    throw Error(msg);
  }
}

}  // namespace zeroth::model
