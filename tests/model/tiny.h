// Tiny random models for tests of every layer that needs a model (model, rollout, train, stages).
// Header-only and cheap: vocab 300, hidden 64, 2 layers, 4 query heads, 2 KV heads, EOS id 2.
//   "qwen2": q/k/v bias, tied embeddings;  "qwen3": q/k norms, head_dim 32 != 64/4, untied;
//   "llama": llama3 rope scaling, untied, no biases.
#pragma once

#include <string>

#include <torch/torch.h>

#include "zeroth/core/json.h"
#include "zeroth/model/config.h"
#include "zeroth/model/transformer.h"

namespace zeroth::testing {

inline Json tiny_config_json(const std::string& arch) {
  Json c{{"vocab_size", 300}, {"hidden_size", 64}, {"intermediate_size", 128}, {"num_hidden_layers", 2},
         {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"rms_norm_eps", 1e-6},
         {"max_position_embeddings", 512}, {"bos_token_id", 1}, {"eos_token_id", 2}, {"hidden_act", "silu"},
         {"torch_dtype", "float32"}};
  if (arch == "qwen2") {
    c["architectures"] = {"Qwen2ForCausalLM"};
    c["model_type"] = "qwen2";
    c["rope_theta"] = 1000000.0;
    c["tie_word_embeddings"] = true;
  } else if (arch == "qwen3") {
    c["architectures"] = {"Qwen3ForCausalLM"};
    c["model_type"] = "qwen3";
    c["head_dim"] = 32;
    c["rope_theta"] = 1000000.0;
    c["tie_word_embeddings"] = false;
    c["attention_bias"] = false;
  } else if (arch == "llama") {
    c["architectures"] = {"LlamaForCausalLM"};
    c["model_type"] = "llama";
    c["rope_theta"] = 500000.0;
    c["rope_scaling"] = {{"rope_type", "llama3"}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                         {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 64}};
    c["tie_word_embeddings"] = false;
  } else {
    throw std::invalid_argument("tiny_config_json: unknown arch " + arch);
  }
  return c;
}

// Seeded (manual_seed(seed)), HF-style init, eval mode, fp32 on CPU.
inline model::Transformer tiny_model(const std::string& arch, uint64_t seed = 0) {
  Json json = tiny_config_json(arch);
  auto cfg = model::parse_model_config(JsonReader(json, "tiny " + arch));
  torch::manual_seed(seed);
  model::Transformer m(cfg);
  model::init_weights(*m);
  // A larger std than HF's 0.02 would make logits less flat; keep HF's, but give the norms some
  // spread so that a wrong norm placement shows up in parity tests.
  {
    torch::NoGradGuard g;
    for (auto& item : m->named_parameters()) {
      if (item.key().find("norm.weight") != std::string::npos) item.value().uniform_(0.5, 1.5);
    }
  }
  m->eval();
  return m;
}

}  // namespace zeroth::testing
