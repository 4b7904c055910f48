// zeroth_lora_probe MODEL_DIR OUT_DIR: a LoRA adapter made by zeroth, for scripts/parity_transformers.py
// to load with peft. Applies rank-4 adapters to every linear of MODEL_DIR's model, fills them with
// random values (B is zero at init, which would make any adapter look right), and writes
// OUT_DIR/adapter (PEFT layout, save_lora_adapter) and OUT_DIR/merged (merge_lora, then save_hf_model).
// Not a user command (test helper). Exit 0, or 1 with the error on stderr.
#include <iostream>

#include <torch/torch.h>

#include "zeroth/model/checkpoint.h"
#include "zeroth/model/lora.h"

using namespace zeroth;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: zeroth_lora_probe MODEL_DIR OUT_DIR\n";
    return 2;
  }
  try {
    const std::string dir = argv[1], out = argv[2];
    auto model = model::load_hf_model(dir, torch::kFloat, torch::kCPU);
    model::LoraConfig config;
    config.r = 4;
    config.alpha = 8.0;
    config.target_modules = {"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
    model::apply_lora(*model, config);
    torch::manual_seed(7);
    {
      torch::NoGradGuard no_grad;
      for (auto& [name, p] : model::lora_parameters(*model)) p.normal_(0.0, 0.05);
    }
    model::save_lora_adapter(*model, out + "/adapter", dir);
    model::merge_lora(*model);
    model::SaveOptions options;
    options.copy_from = dir;
    model::save_hf_model(*model, out + "/merged", options);
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
