// Model directories in Hugging Face layout: load (config.json + model.safetensors or a sharded
// index, any stored dtype -> the run dtype, strict names and shapes) and save (config.json,
// safetensors sharded above a size limit with model.safetensors.index.json, tokenizer and
// generation config copied; written to a temp directory and renamed into place).
//
//   auto m = load_hf_model("models/Qwen2.5-0.5B", torch::kBFloat16, torch::kCPU);
//   save_hf_model(*m, "runs/x/grpo/model", {.copy_from = "models/Qwen2.5-0.5B"});
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "zeroth/model/transformer.h"

namespace zeroth::model {

// generation_config.json fields the sampler can use; absent fields stay empty.
struct GenerationConfig {
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;  // int or list in the file
  std::optional<double> temperature, top_p;
  std::optional<int64_t> top_k;
};
// Reads dir/generation_config.json; a missing file gives an empty GenerationConfig.
GenerationConfig read_generation_config(const std::string& dir);

// Loads config.json (+ generation_config.json's EOS ids, added to config().eos_token_ids) and the
// weights, converted to `dtype` on `device`; eval mode. Errors name the directory; a weights
// mismatch lists every missing, unexpected and mis-shaped tensor in one message.
Transformer load_hf_model(const std::string& dir, c10::ScalarType dtype, c10::Device device);
// Strict load of dir's safetensors into an existing model (its dtype and device are kept).
void load_hf_weights(TransformerImpl& model, const std::string& dir);

struct SaveOptions {
  // Shards above this many bytes (transformers' default max_shard_size "5GB").
  uint64_t max_shard_bytes = 5'000'000'000ULL;
  // A directory to copy tokenizer files and generation_config.json from ("" = none; then a
  // generation_config.json is written from the config's bos/eos ids).
  std::string copy_from;
  // Stored dtype; default the model's (bit-exact round trip).
  std::optional<c10::ScalarType> dtype;
  // Write into a directory that holds files zeroth did not write (core/output_dir.h); even then
  // only the files zeroth writes are replaced. `flag` names the path's option in errors.
  bool force = false;
  std::string flag = "model directory";
};
// Writes the model to `dir`: an absent or empty directory, or one zeroth wrote (its marker lists
// the files), is replaced atomically (built in a sibling temp directory, swapped in by rename; the
// old files are removed by name). A directory with other files is refused unless options.force;
// then, and when the user added files to a model directory of zeroth's, only zeroth's files are
// replaced, one rename each. Nothing zeroth did not write is ever removed. LoRA adapters are not
// written (merge them first, or save them with save_lora_adapter).
void save_hf_model(const TransformerImpl& model, const std::string& dir, const SaveOptions& options = {});

// Files copied by save_hf_model when present in SaveOptions::copy_from.
const std::vector<std::string>& tokenizer_file_names();

}  // namespace zeroth::model
