// Load and save of Hugging Face model directories (see checkpoint.h).
#include "zeroth/model/checkpoint.h"

#include <algorithm>
#include <filesystem>
#include <random>
#include <set>

#include <unistd.h>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "zeroth/core/device.h"
#include "zeroth/core/error.h"
#include "zeroth/core/fs.h"
#include "zeroth/core/output_dir.h"
#include "zeroth/core/safetensors.h"

namespace zeroth::model {
namespace fs = std::filesystem;

namespace {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// Keys a checkpoint may hold that the model rightly lacks.
bool ignorable(const std::string& name, const ModelConfig& cfg) {
  if (name.find("rotary_emb.inv_freq") != std::string::npos) return true;  // old transformers buffers
  return cfg.tie_word_embeddings && name == "lm_head.weight";              // tied copy
}

std::string list_block(const std::string& title, const std::vector<std::string>& items) {
  if (items.empty()) return "";
  std::string out = cat("\n  ", items.size(), " ", title, ":");
  const size_t shown = std::min<size_t>(items.size(), 30);
  for (size_t i = 0; i < shown; ++i) out += "\n    " + items[i];
  if (shown < items.size()) out += cat("\n    ... and ", items.size() - shown, " more");
  return out;
}

std::string scalar_type_to_hf(c10::ScalarType t) {
  switch (t) {
    case torch::kFloat: return "float32";
    case torch::kBFloat16: return "bfloat16";
    case torch::kHalf: return "float16";
    default: return dtype_name(t);
  }
}

}  // namespace

const std::vector<std::string>& tokenizer_file_names() {
  static const std::vector<std::string> names = {"tokenizer.json", "tokenizer_config.json", "special_tokens_map.json",
                                                 "vocab.json", "merges.txt", "added_tokens.json",
                                                 "chat_template.jinja", "generation_config.json"};
  return names;
}

GenerationConfig read_generation_config(const std::string& dir) {
  GenerationConfig g;
  const std::string path = dir + "/generation_config.json";
  if (!fs::exists(path)) return g;
  JsonReader r = JsonReader::owning(load_json(path), path);
  if (!r.is_object()) r.fail("expected a JSON object");
  g.bos_token_id = r.opt<int64_t>("bos_token_id");
  if (r.has("eos_token_id") && !r.json()["eos_token_id"].is_null()) {
    if (r.json()["eos_token_id"].is_array()) {
      g.eos_token_ids = r.get<std::vector<int64_t>>("eos_token_id");
    } else {
      g.eos_token_ids = {r.get<int64_t>("eos_token_id")};
    }
  }
  g.temperature = r.opt<double>("temperature");
  g.top_p = r.opt<double>("top_p");
  g.top_k = r.opt<int64_t>("top_k");
  return g;
}

void load_hf_weights(TransformerImpl& model, const std::string& dir) {
  auto ckpt = SafetensorsCheckpoint::open_dir(dir);
  const auto dtype = model.dtype();
  const auto device = model.device();
  std::vector<std::string> missing, unexpected, misshaped;
  std::set<std::string> expected;
  auto params = base_parameters(model);
  for (auto& [name, p] : params) {
    expected.insert(name);
    if (!ckpt.contains(name)) {
      missing.push_back(name + " " + shape_str(p.sizes().vec()));
      continue;
    }
    const auto& info = ckpt.info(name);
    if (info.shape != p.sizes().vec()) {
      misshaped.push_back(cat(name, ": checkpoint ", shape_str(info.shape), ", model ", shape_str(p.sizes().vec())));
    }
  }
  for (const auto& name : ckpt.names()) {
    if (!expected.count(name) && !ignorable(name, model.config())) unexpected.push_back(name);
  }
  if (!missing.empty() || !unexpected.empty() || !misshaped.empty()) {
    throw Error(cat(dir, ": the checkpoint does not match the ", model.config().architecture, " config (",
                    model.config().num_hidden_layers, " layers, hidden ", model.config().hidden_size, ")",
                    list_block("missing tensors", missing), list_block("unexpected tensors", unexpected),
                    list_block("tensors with the wrong shape", misshaped),
                    "\n  check that config.json belongs to these weights"));
  }
  torch::NoGradGuard no_grad;
  for (auto& [name, p] : params) {
    auto t = ckpt.tensor(name).to(device, dtype);  // stored dtype -> run dtype
    // A NaN or Inf weight makes every output NaN (log-probs printed as null): refuse it here.
    if (!torch::isfinite(t).all().item<bool>()) {
      const int64_t bad = t.numel() - torch::isfinite(t).sum().item<int64_t>();
      throw Error(cat(dir, ": tensor ", name, " holds ", bad, " NaN or Inf value", bad == 1 ? "" : "s", " (of ", t.numel(),
                      ") after conversion to ", dtype_name(dtype),
                      "; the checkpoint is damaged, or its values do not fit this dtype"));
    }
    p.set_data(t.contiguous());
  }
}

Transformer load_hf_model(const std::string& dir, c10::ScalarType dtype, c10::Device device) {
  require_directory(dir, "model directory");
  try {
    ModelConfig cfg = load_model_config(dir);
    for (int64_t id : read_generation_config(dir).eos_token_ids) {
      if (std::find(cfg.eos_token_ids.begin(), cfg.eos_token_ids.end(), id) == cfg.eos_token_ids.end()) {
        cfg.eos_token_ids.push_back(id);
      }
    }
    Transformer m(cfg, torch::TensorOptions().dtype(dtype).device(device));
    load_hf_weights(*m, dir);
    m->eval();
    spdlog::info("loaded {} from {}: {} parameters, {} on {}", cfg.architecture, dir, cfg.num_parameters(),
                 dtype_name(dtype), device.str());
    return m;
  } catch (Error& e) {
    e.add_context("while loading the model in " + dir);
    throw;
  }
}

namespace {

// Installs the finished model in `tmp` at `target` (see save_hf_model), given what was there.
void install_model_dir(const fs::path& tmp, const fs::path& target, OutputDirState state) {
  std::vector<std::string> written;
  for (const auto& entry : fs::directory_iterator(tmp)) written.push_back(entry.path().filename().string());
  std::sort(written.begin(), written.end());
  write_output_marker(tmp.string(), "model", written);
  if (state == OutputDirState::absent || state == OutputDirState::empty) {
    if (state == OutputDirState::empty) fs::remove(target);  // removes an empty directory only
    if (target.has_parent_path()) fs::create_directories(target.parent_path());
    fs::rename(tmp, target);
    return;
  }
  const std::vector<std::string> before = output_marker_files(target.string());
  auto listed = [&](const std::string& name) {
    return name == kOutputMarker || std::find(before.begin(), before.end(), name) != before.end();
  };
  bool only_ours = state == OutputDirState::ours;
  for (const auto& entry : fs::directory_iterator(target)) only_ours = only_ours && listed(entry.path().filename().string());
  if (only_ours) {
    // Everything there is a file zeroth wrote: swap whole directories (a crash leaves the old or
    // the new model), then remove the old files one by one.
    std::random_device rd;
    fs::path old = target;
    old += cat(".old-", ::getpid(), "-", rd());
    fs::rename(target, old);
    fs::rename(tmp, target);
    for (const auto& name : before) fs::remove(old / name);
    fs::remove(old / kOutputMarker);
    std::error_code ec;
    if (!fs::remove(old, ec) || ec) spdlog::warn("{}: left in place: it was not empty after the swap", old.string());
    return;
  }
  // Other files live there (the user's, or a --force into a foreign directory): replace only the
  // files of the names zeroth writes, one atomic rename each, and drop the ones an earlier save of
  // zeroth listed that this save does not write (old shards). Nothing else is touched.
  for (const auto& name : before) {
    if (!std::binary_search(written.begin(), written.end(), name) && fs::is_regular_file(target / name)) {
      fs::remove(target / name);
    }
  }
  for (const auto& name : written) {
    if (name != kOutputMarker) fs::rename(tmp / name, target / name);
  }
  fs::rename(tmp / kOutputMarker, target / kOutputMarker);  // last: marks a complete model
  fs::remove(tmp);
}

}  // namespace

void save_hf_model(const TransformerImpl& model, const std::string& dir, const SaveOptions& options) {
  const auto dtype = options.dtype.value_or(model.dtype());
  fs::path target = fs::absolute(fs::path(dir)).lexically_normal();
  if (target.filename().empty()) target = target.parent_path();
  // Before any work: refuses a directory of someone else's files unless forced.
  const OutputDirState state = check_output_dir(target.string(), options.flag, options.force);
  std::random_device rd;
  const std::string suffix = cat(".tmp-", ::getpid(), "-", rd());
  // The model is built in a temporary directory beside the target (whole-directory swap), or
  // inside a foreign target under --force (files moved up one by one; same file system either way).
  const fs::path tmp = state == OutputDirState::foreign ? target / (".zeroth" + suffix) : fs::path(target.string() + suffix);
  fs::create_directories(tmp);
  try {
    ModelConfig cfg = model.config();
    cfg.torch_dtype = scalar_type_to_hf(dtype);
    write_file_atomic((tmp / "config.json").string(), to_json(cfg).dump(2) + "\n");
    NamedTensors tensors;
    {
      torch::NoGradGuard no_grad;
      for (const auto& [name, p] : base_parameters(model)) {
        tensors.emplace_back(name, p.detach().to(torch::kCPU, dtype).contiguous());
      }
    }
    write_safetensors_sharded(tmp.string(), tensors, options.max_shard_bytes, {{"format", "pt"}});
    bool have_generation_config = false;
    if (!options.copy_from.empty()) {
      for (const auto& name : tokenizer_file_names()) {
        fs::path from = fs::path(options.copy_from) / name;
        if (!fs::exists(from)) continue;
        write_file_atomic((tmp / name).string(), read_file(from.string()));
        if (name == "generation_config.json") have_generation_config = true;
      }
    }
    if (!have_generation_config) {
      Json g = Json::object();
      if (cfg.bos_token_id) g["bos_token_id"] = *cfg.bos_token_id;
      if (cfg.eos_token_ids.size() == 1) g["eos_token_id"] = cfg.eos_token_ids[0];
      if (cfg.eos_token_ids.size() > 1) g["eos_token_id"] = cfg.eos_token_ids;
      write_file_atomic((tmp / "generation_config.json").string(), g.dump(2) + "\n");
    }
    install_model_dir(tmp, target, state);
  } catch (const std::exception& e) {
    std::error_code ec;
    fs::remove_all(tmp, ec);  // our own temporary directory, never the user's
    throw Error(cat("while saving the model to ", dir, ": ", e.what()));
  }
}

}  // namespace zeroth::model
