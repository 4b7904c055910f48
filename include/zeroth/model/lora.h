// LoRA adapters (Hu et al. 2021, https://arxiv.org/abs/2106.09685) on the decoder's linear layers,
// in PEFT's conventions: y = W x + (alpha / r) B A dropout(x), A [r, in] Kaiming-uniform, B [out, r]
// zeros; saved as adapter_config.json + adapter_model.safetensors with keys
// "base_model.model.<module>.lora_A.weight" (PEFT's layout, loadable by peft.PeftModel).
//
//   apply_lora(*model, {.r = 16, .alpha = 32, .target_modules = {"q_proj", "v_proj"}});  // freezes the rest
//   ... train lora_parameters(*model) ...
//   save_lora_adapter(*model, "out/adapter", "Qwen/Qwen2.5-0.5B");
//   merge_lora(*model);   // W += (alpha / r) B A; adapters removed; save_hf_model() as usual
#pragma once

#include <string>
#include <vector>

#include "zeroth/core/json.h"
#include "zeroth/model/transformer.h"

namespace zeroth::model {

struct LoraConfig {
  int64_t r = 8;                   // rank
  double alpha = 16.0;             // scaling numerator: scaling = alpha / r (alpha / sqrt(r) with use_rslora)
  double dropout = 0.0;            // on the adapter's input, training mode only
  bool use_rslora = false;         // rank-stabilized scaling (Kalajdzievski 2023)
  // Module names (last name component) to adapt: q_proj k_proj v_proj o_proj gate_proj up_proj down_proj.
  std::vector<std::string> target_modules = {"q_proj", "k_proj", "v_proj", "o_proj"};
};
// Reads {"r", "alpha" | "lora_alpha", "dropout" | "lora_dropout", "use_rslora", "target_modules"};
// unknown keys are errors.
LoraConfig parse_lora_config(const JsonReader& json);

// Adds adapters (fp32) to every target linear, and freezes every other parameter. Returns the
// number of adapted layers; Error if a target name matches nothing.
int64_t apply_lora(TransformerImpl& model, const LoraConfig& config);
// The trainable adapter parameters, by name ("model.layers.0.self_attn.q_proj.lora_A.weight").
std::vector<std::pair<std::string, torch::Tensor>> lora_parameters(const TransformerImpl& model);
// Folds every adapter into its base weight and removes the adapters; unfreezes nothing.
void merge_lora(TransformerImpl& model);
// Sets requires_grad on the base (non-adapter) parameters.
void set_base_trainable(TransformerImpl& model, bool trainable);

// PEFT layout in `dir` (created; files written atomically).
void save_lora_adapter(const TransformerImpl& model, const std::string& dir, const std::string& base_model_name = "");
// Reads adapter_config.json, applies adapters to `model` and loads their weights (strict).
void load_lora_adapter(TransformerImpl& model, const std::string& dir);

}  // namespace zeroth::model
