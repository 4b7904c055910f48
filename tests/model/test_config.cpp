// config.json parsing: the three architectures, defaults, errors, and the HF round trip.
#include "support/catch.h"

#include "model/tiny.h"
#include "zeroth/model/config.h"

using namespace zeroth;
using zeroth::testing::tiny_config_json;

namespace {
model::ModelConfig parse(const Json& j) { return model::parse_model_config(JsonReader(j, "config.json")); }
}  // namespace

TEST_CASE("model config: each architecture sets its biases, norms and head_dim", "[model][config]") {
  auto q2 = parse(tiny_config_json("qwen2"));
  CHECK(q2.attention_bias);
  CHECK_FALSE(q2.o_proj_bias);
  CHECK_FALSE(q2.qk_norm);
  CHECK(q2.head_dim == 16);
  CHECK(q2.tie_word_embeddings);
  CHECK(q2.eos_token_ids == std::vector<int64_t>{2});
  auto q3 = parse(tiny_config_json("qwen3"));
  CHECK(q3.qk_norm);
  CHECK(q3.head_dim == 32);
  CHECK_FALSE(q3.attention_bias);
  auto ll = parse(tiny_config_json("llama"));
  CHECK(ll.rope_scaling.rope_type == "llama3");
  CHECK(ll.rope_scaling.factor == 8.0);
  CHECK(ll.rope_scaling.original_max_position_embeddings == 64);
  // Qwen3Config's default head_dim is 128, not hidden / heads.
  Json j = tiny_config_json("qwen3");
  j.erase("head_dim");
  CHECK(parse(j).head_dim == 128);
  // eos_token_id may be a list; num_key_value_heads defaults to the query heads.
  j = tiny_config_json("llama");
  j["eos_token_id"] = {2, 7};
  j.erase("num_key_value_heads");
  auto c = parse(j);
  CHECK(c.eos_token_ids == std::vector<int64_t>{2, 7});
  CHECK(c.num_key_value_heads == 4);
}

TEST_CASE("model config: num_parameters equals the model's parameter count", "[model][config]") {
  for (std::string arch : {"qwen2", "qwen3", "llama"}) {
    auto m = zeroth::testing::tiny_model(arch);
    int64_t total = 0;
    for (const auto& p : m->parameters()) total += p.numel();
    INFO(arch);
    CHECK(m->config().num_parameters() == total);
  }
  // Qwen2.5-0.5B: 494,032,768 parameters (tied embeddings), as its model card says (0.49B).
  Json j{{"architectures", {"Qwen2ForCausalLM"}}, {"vocab_size", 151936}, {"hidden_size", 896},
         {"intermediate_size", 4864}, {"num_hidden_layers", 24}, {"num_attention_heads", 14},
         {"num_key_value_heads", 2}, {"tie_word_embeddings", true}};
  CHECK(parse(j).num_parameters() == 494032768);
}

TEST_CASE("model config: bad configs name the key and the fix", "[model][config]") {
  Json j = tiny_config_json("qwen2");
  j["architectures"] = {"MistralForCausalLM"};
  REQUIRE_THROWS_WITH(parse(j), Catch::Contains("unsupported architecture") && Catch::Contains("Qwen3ForCausalLM") &&
                                    Catch::Contains("LlamaForCausalLM"));
  j = tiny_config_json("qwen2");
  j.erase("architectures");
  REQUIRE_THROWS_WITH(parse(j), Catch::Contains("architectures"));
  j = tiny_config_json("qwen2");
  j["num_key_value_heads"] = 3;
  REQUIRE_THROWS_WITH(parse(j), Catch::Contains("multiple of num_key_value_heads"));
  j = tiny_config_json("llama");
  j["rope_scaling"] = {{"rope_type", "yarn"}, {"factor", 4.0}};
  REQUIRE_THROWS_WITH(parse(j), Catch::Contains("rope_scaling") && Catch::Contains("yarn"));
  j = tiny_config_json("llama");
  j["hidden_act"] = "gelu";
  REQUIRE_THROWS_WITH(parse(j), Catch::Contains("hidden_act"));
  j = tiny_config_json("llama");
  j["vocab_size"] = "300";
  REQUIRE_THROWS_WITH(parse(j), Catch::Contains("vocab_size") && Catch::Contains("string"));
  // Unknown keys (HF files carry many) are not errors.
  j = tiny_config_json("llama");
  j["transformers_version"] = "4.51.0";
  j["use_cache"] = true;
  REQUIRE_NOTHROW(parse(j));
}

TEST_CASE("model config: to_json keeps unknown keys and parses back to the same config", "[model][config]") {
  for (std::string arch : {"qwen2", "qwen3", "llama"}) {
    Json j = tiny_config_json(arch);
    j["transformers_version"] = "4.51.0";
    auto c = parse(j);
    Json out = model::to_json(c);
    CHECK(out["transformers_version"] == "4.51.0");
    auto back = parse(out);
    CHECK(back.num_parameters() == c.num_parameters());
    CHECK(back.head_dim == c.head_dim);
    CHECK(back.rope_scaling.rope_type == c.rope_scaling.rope_type);
    CHECK(back.rope_scaling.low_freq_factor == c.rope_scaling.low_freq_factor);
    CHECK(back.eos_token_ids == c.eos_token_ids);
    CHECK(back.tie_word_embeddings == c.tie_word_embeddings);
    CHECK(back.qk_norm == c.qk_norm);
  }
}

TEST_CASE("model config: transformers v5 rope_parameters (rope_theta inside) is read and written back", "[model][config]") {
  // What transformers 5.x save_pretrained writes: no top-level rope_theta or rope_scaling.
  Json j = tiny_config_json("llama");
  j.erase("rope_theta");
  j.erase("rope_scaling");
  j["rope_parameters"] = {{"rope_type", "llama3"}, {"rope_theta", 500000.0}, {"factor", 8.0}, {"low_freq_factor", 1.0},
                          {"high_freq_factor", 4.0}, {"original_max_position_embeddings", 64}};
  auto c = parse(j);
  CHECK(c.rope_theta == 500000.0);
  CHECK(c.rope_scaling.rope_type == "llama3");
  CHECK(c.rope_scaling.factor == 8.0);
  CHECK(c.rope_scaling.original_max_position_embeddings == 64);
  Json out = model::to_json(c);
  CHECK_FALSE(out.contains("rope_theta"));
  CHECK_FALSE(out.contains("rope_scaling"));
  CHECK(out["rope_parameters"]["rope_theta"] == 500000.0);
  CHECK(parse(out).rope_scaling.high_freq_factor == 4.0);

  Json q = tiny_config_json("qwen2");
  q.erase("rope_theta");
  q["rope_parameters"] = {{"rope_type", "default"}, {"rope_theta", 1000000.0}};
  auto cq = parse(q);
  CHECK(cq.rope_theta == 1000000.0);
  CHECK(cq.rope_scaling.rope_type == "default");
  q["rope_parameters"] = {{"full_attention", {{"rope_type", "default"}}}};
  REQUIRE_THROWS_WITH(parse(q), Catch::Contains("rope_parameters") && Catch::Contains("per-layer-type"));
}
