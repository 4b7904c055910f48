// config.json -> ModelConfig and back. Defaults follow transformers' Qwen2Config, Qwen3Config and
// LlamaConfig for keys a file may leave out.
#include "zeroth/model/config.h"

#include "zeroth/core/error.h"

namespace zeroth::model {

const std::vector<std::string>& supported_architectures() {
  static const std::vector<std::string> names = {"Qwen2ForCausalLM", "Qwen3ForCausalLM", "LlamaForCausalLM"};
  return names;
}

namespace {

std::string join(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

std::vector<int64_t> read_token_ids(const JsonReader& json, const std::string& key) {
  if (!json.has(key) || json.json()[key].is_null()) return {};
  if (json.json()[key].is_array()) return json.get<std::vector<int64_t>>(key);
  return {json.get<int64_t>(key)};
}

int64_t positive(const JsonReader& json, const std::string& key, int64_t value) {
  if (value <= 0) json.at(key).fail(cat("expected a positive integer, got ", value));
  return value;
}

}  // namespace

ModelConfig parse_model_config(const JsonReader& json) {
  if (!json.is_object()) json.fail("expected a config.json object");
  ModelConfig c;
  c.source = json.json();
  if (!json.has("architectures")) {
    json.fail("missing \"architectures\": expected one of " + join(supported_architectures()));
  }
  auto archs = json.get<std::vector<std::string>>("architectures");
  if (archs.size() != 1) json.at("architectures").fail("expected exactly one architecture, got " + std::to_string(archs.size()));
  c.architecture = archs[0];
  const auto& supported = supported_architectures();
  if (std::find(supported.begin(), supported.end(), c.architecture) == supported.end()) {
    json.at("architectures").fail(cat("unsupported architecture ", quote(c.architecture), "; supported: ", join(supported)));
  }
  const bool qwen2 = c.architecture == "Qwen2ForCausalLM";
  const bool qwen3 = c.architecture == "Qwen3ForCausalLM";
  c.model_type = json.get_or<std::string>("model_type", qwen2 ? "qwen2" : qwen3 ? "qwen3" : "llama");

  c.vocab_size = positive(json, "vocab_size", json.get<int64_t>("vocab_size"));
  c.hidden_size = positive(json, "hidden_size", json.get<int64_t>("hidden_size"));
  c.num_hidden_layers = positive(json, "num_hidden_layers", json.get<int64_t>("num_hidden_layers"));
  c.num_attention_heads = positive(json, "num_attention_heads", json.get<int64_t>("num_attention_heads"));
  c.num_key_value_heads = json.get_or<int64_t>("num_key_value_heads", c.num_attention_heads);
  positive(json, "num_key_value_heads", c.num_key_value_heads);
  c.intermediate_size = positive(json, "intermediate_size", json.get<int64_t>("intermediate_size"));
  if (c.num_attention_heads % c.num_key_value_heads != 0) {
    json.at("num_key_value_heads").fail(cat("num_attention_heads (", c.num_attention_heads,
                                            ") must be a multiple of num_key_value_heads (", c.num_key_value_heads, ")"));
  }
  // Qwen3Config defaults head_dim to 128; Qwen2 has no such key; Llama derives it.
  int64_t derived = c.hidden_size / c.num_attention_heads;
  c.head_dim = json.get_or<int64_t>("head_dim", qwen3 ? 128 : derived);
  if (!json.has("head_dim") && !qwen3 && derived * c.num_attention_heads != c.hidden_size) {
    json.at("hidden_size").fail(cat("hidden_size (", c.hidden_size, ") is not a multiple of num_attention_heads (",
                                    c.num_attention_heads, ") and no head_dim is given"));
  }
  if (c.head_dim <= 0 || c.head_dim % 2 != 0) json.fail(cat("head_dim must be a positive even number, got ", c.head_dim));

  c.rms_norm_eps = json.get_or<double>("rms_norm_eps", 1e-6);
  if (!(c.rms_norm_eps > 0)) json.at("rms_norm_eps").fail(cat("expected a positive number, got ", c.rms_norm_eps));
  // transformers v5 writes the rope settings as one "rope_parameters" object, rope_theta included
  // ({"rope_type": "llama3", "rope_theta": 5e5, "factor": 8, ...}); v4 wrote a top-level "rope_theta"
  // and a "rope_scaling" object (null for the default rope). Read whichever form the file has.
  const bool v5_rope = json.has("rope_parameters") && !json.json()["rope_parameters"].is_null();
  const JsonReader rope_theta_json = v5_rope ? json.at("rope_parameters") : json;
  if (v5_rope && !rope_theta_json.has("rope_type") && !rope_theta_json.has("rope_theta")) {
    rope_theta_json.fail("expected a rope_type and rope_theta (per-layer-type rope parameters are not supported)");
  }
  c.rope_theta = rope_theta_json.get_or<double>("rope_theta", 10000.0);
  if (!(c.rope_theta > 0)) rope_theta_json.at("rope_theta").fail(cat("expected a positive number, got ", c.rope_theta));
  const char* scaling_key = v5_rope ? "rope_parameters" : "rope_scaling";
  if (json.has(scaling_key) && !json.json()[scaling_key].is_null()) {
    JsonReader rs = json.at(scaling_key);
    std::string type = rs.has("rope_type") ? rs.get<std::string>("rope_type") : rs.get_or<std::string>("type", "default");
    c.rope_scaling.rope_type = type;
    if (type == "llama3") {
      c.rope_scaling.factor = rs.get<double>("factor");
      c.rope_scaling.low_freq_factor = rs.get<double>("low_freq_factor");
      c.rope_scaling.high_freq_factor = rs.get<double>("high_freq_factor");
      c.rope_scaling.original_max_position_embeddings = rs.get<int64_t>("original_max_position_embeddings");
      if (c.rope_scaling.high_freq_factor <= c.rope_scaling.low_freq_factor) {
        rs.fail("high_freq_factor must exceed low_freq_factor");
      }
    } else if (type == "linear") {
      c.rope_scaling.factor = rs.get<double>("factor");
    } else if (type != "default") {
      rs.fail(cat("unsupported rope type ", quote(type), "; supported: default, linear, llama3"));
    }
    if (c.rope_scaling.factor <= 0) rs.fail("factor must be positive");
  }
  c.tie_word_embeddings = json.get_or<bool>("tie_word_embeddings", false);
  if (qwen2) {
    c.attention_bias = true;
    c.o_proj_bias = false;
  } else {
    c.attention_bias = json.get_or<bool>("attention_bias", false);
    c.o_proj_bias = c.attention_bias;
    c.mlp_bias = json.get_or<bool>("mlp_bias", false);
  }
  c.qk_norm = qwen3;
  c.max_position_embeddings = json.get_or<int64_t>("max_position_embeddings", qwen2 || qwen3 ? 32768 : 2048);
  positive(json, "max_position_embeddings", c.max_position_embeddings);
  c.torch_dtype = json.get_or<std::string>("torch_dtype", json.get_or<std::string>("dtype", "float32"));
  c.initializer_range = json.get_or<double>("initializer_range", 0.02);
  if (!(c.initializer_range >= 0)) json.at("initializer_range").fail(cat("expected a number >= 0, got ", c.initializer_range));
  c.bos_token_id = json.opt<int64_t>("bos_token_id");
  c.eos_token_ids = read_token_ids(json, "eos_token_id");
  std::string act = json.get_or<std::string>("hidden_act", "silu");
  if (act != "silu") json.at("hidden_act").fail(cat("unsupported activation ", quote(act), "; only \"silu\" (SwiGLU)"));
  if (json.get_or<bool>("use_sliding_window", false)) {
    json.at("use_sliding_window").fail("sliding-window attention is not supported; set it to false");
  }
  for (int64_t id : c.eos_token_ids) {
    if (id < 0 || id >= c.vocab_size) json.at("eos_token_id").fail(cat("token id ", id, " is outside the vocabulary"));
  }
  return c;
}

ModelConfig load_model_config(const std::string& dir) {
  const std::string path = dir + "/config.json";
  return parse_model_config(JsonReader::owning(load_json(path), path));
}

Json to_json(const ModelConfig& c) {
  Json out = c.source.is_object() ? c.source : Json::object();
  out["architectures"] = Json::array({c.architecture});
  out["model_type"] = c.model_type;
  out["vocab_size"] = c.vocab_size;
  out["hidden_size"] = c.hidden_size;
  out["intermediate_size"] = c.intermediate_size;
  out["num_hidden_layers"] = c.num_hidden_layers;
  out["num_attention_heads"] = c.num_attention_heads;
  out["num_key_value_heads"] = c.num_key_value_heads;
  if (c.model_type != "qwen2" || c.head_dim != c.hidden_size / c.num_attention_heads) out["head_dim"] = c.head_dim;
  out["hidden_act"] = "silu";
  out["rms_norm_eps"] = c.rms_norm_eps;
  Json rope{{"rope_type", c.rope_scaling.rope_type}};
  if (c.rope_scaling.rope_type != "default") rope["factor"] = c.rope_scaling.factor;
  if (c.rope_scaling.rope_type == "llama3") {
    rope["low_freq_factor"] = c.rope_scaling.low_freq_factor;
    rope["high_freq_factor"] = c.rope_scaling.high_freq_factor;
    rope["original_max_position_embeddings"] = c.rope_scaling.original_max_position_embeddings;
  }
  if (out.contains("rope_parameters") && !out["rope_parameters"].is_null()) {
    // A transformers v5 file: keep its form (rope_theta inside rope_parameters).
    rope["rope_theta"] = c.rope_theta;
    out["rope_parameters"] = rope;
  } else {
    out["rope_theta"] = c.rope_theta;
    out["rope_scaling"] = c.rope_scaling.rope_type == "default" ? Json(nullptr) : rope;
  }
  out["tie_word_embeddings"] = c.tie_word_embeddings;
  if (c.model_type != "qwen2") {
    out["attention_bias"] = c.attention_bias;
    if (c.model_type == "llama") out["mlp_bias"] = c.mlp_bias;
  }
  out["max_position_embeddings"] = c.max_position_embeddings;
  out["torch_dtype"] = c.torch_dtype;
  if (out.contains("dtype")) out["dtype"] = c.torch_dtype;  // transformers v5's name for it
  out["initializer_range"] = c.initializer_range;
  // eos_token_ids may include generation_config.json's ids: keep the file's own value when it had one.
  if (c.bos_token_id && !out.contains("bos_token_id")) out["bos_token_id"] = *c.bos_token_id;
  if (out.contains("eos_token_id")) {
  } else if (c.eos_token_ids.size() == 1) {
    out["eos_token_id"] = c.eos_token_ids[0];
  } else if (!c.eos_token_ids.empty()) {
    out["eos_token_id"] = c.eos_token_ids;
  }
  return out;
}

Json qwen25_05b_config_json() {
  return Json{{"architectures", {"Qwen2ForCausalLM"}}, {"model_type", "qwen2"}, {"vocab_size", 151936},
              {"hidden_size", 896}, {"intermediate_size", 4864}, {"num_hidden_layers", 24},
              {"num_attention_heads", 14}, {"num_key_value_heads", 2}, {"rms_norm_eps", 1e-6},
              {"rope_theta", 1000000.0}, {"max_position_embeddings", 32768}, {"tie_word_embeddings", true},
              {"eos_token_id", 151643}, {"torch_dtype", "bfloat16"}};
}

int64_t ModelConfig::num_parameters() const {
  const int64_t H = hidden_size, q = num_attention_heads * head_dim, kv = num_key_value_heads * head_dim;
  int64_t attn = H * q + 2 * H * kv + q * H;
  if (attention_bias) attn += q + 2 * kv;
  if (o_proj_bias) attn += H;
  if (qk_norm) attn += 2 * head_dim;
  int64_t mlp = 3 * H * intermediate_size + (mlp_bias ? 2 * intermediate_size + H : 0);
  int64_t layer = attn + mlp + 2 * H;
  return vocab_size * H + num_hidden_layers * layer + H + (tie_word_embeddings ? 0 : vocab_size * H);
}

}  // namespace zeroth::model
