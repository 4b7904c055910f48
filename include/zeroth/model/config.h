// ModelConfig: the fields of a Hugging Face `config.json` that the decoder needs, named as the file
// names them, for Qwen2ForCausalLM, Qwen3ForCausalLM and LlamaForCausalLM.
// Spec: transformers' configuration_{qwen2,qwen3,llama}.py and modeling_rope_utils.py (llama3 rope).
// Not here: the modules (transformer.h), weights (checkpoint.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "zeroth/core/json.h"

namespace zeroth::model {

// `rope_scaling` of config.json. rope_type "default" (absent), "linear" or "llama3".
struct RopeScaling {
  std::string rope_type = "default";
  double factor = 1.0;
  double low_freq_factor = 1.0;                       // llama3
  double high_freq_factor = 4.0;                      // llama3
  int64_t original_max_position_embeddings = 8192;    // llama3
};

struct ModelConfig {
  std::string architecture;          // "Qwen2ForCausalLM" | "Qwen3ForCausalLM" | "LlamaForCausalLM"
  std::string model_type;            // "qwen2" | "qwen3" | "llama"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;   // GQA: query heads share K/V heads in groups of H / K
  int64_t head_dim = 0;              // config.json's head_dim, else hidden_size / num_attention_heads
  int64_t intermediate_size = 0;     // SwiGLU MLP width
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;  // lm_head shares model.embed_tokens.weight
  bool attention_bias = false;       // bias on q/k/v projections (Qwen2: always)
  bool o_proj_bias = false;          // bias on o_proj (Llama/Qwen3: = attention_bias; Qwen2: never)
  bool mlp_bias = false;             // Llama's mlp_bias
  bool qk_norm = false;              // Qwen3: RMSNorm over head_dim on q and k before rotary
  int64_t max_position_embeddings = 2048;
  std::string torch_dtype = "float32";
  double initializer_range = 0.02;   // std of the normal init (init_weights)
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;  // config.json's eos_token_id (int or list), plus generation_config's
  Json source;                         // the parsed config.json object (keys we do not read survive a save)

  int64_t num_parameters() const;
  int64_t kv_groups() const { return num_attention_heads / num_key_value_heads; }
};

// The supported "architectures" values, for messages.
const std::vector<std::string>& supported_architectures();

// Reads a config.json object. Keys zeroth does not use are ignored (HF files carry many); a missing
// or inconsistent required field is an Error naming the source and key. Unknown architectures list
// the supported ones.
ModelConfig parse_model_config(const JsonReader& json);
// load_json(dir + "/config.json") + parse_model_config.
ModelConfig load_model_config(const std::string& dir);

// A Qwen2.5-0.5B-shaped config.json (hidden 896, 24 layers, 14/2 heads, intermediate 4864, vocab
// 151,936, tied embeddings): the benchmarks' reference shape (docs/perf_notes.md).
Json qwen25_05b_config_json();

// config.json in Hugging Face form: `source` with the fields above written over it.
Json to_json(const ModelConfig& config);

}  // namespace zeroth::model
