// Atomic save / load of the training state directory (safetensors + JSON).
#include "zeroth/train/train_state.h"

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <mutex>

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include "zeroth/core/fs.h"
#include "zeroth/core/safetensors.h"

namespace zeroth::train {

namespace fs = std::filesystem;

namespace {
constexpr const char* kFormat = "zeroth-train-state";
constexpr int64_t kVersion = 1;
constexpr const char* kJsonFile = "train_state.json";
constexpr const char* kTensorFile = "optimizer.safetensors";

void fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

int64_t num_cuda_generators() { return torch::cuda::is_available() ? static_cast<int64_t>(torch::cuda::device_count()) : 0; }

at::Generator cpu_generator() { return at::detail::getDefaultCPUGenerator(); }

at::Generator cuda_generator(int64_t index) {
  return at::globalContext().defaultGenerator(c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index)));
}

fs::path resolve(const std::string& dir) {
  fs::path p(dir);
  if (fs::exists(p / kJsonFile)) return p;
  fs::path old = p.string() + ".old";
  if (fs::exists(old / kJsonFile)) return old;
  return p;
}
}  // namespace

bool has_train_state(const std::string& dir) { return fs::exists(resolve(dir) / kJsonFile); }

void save_train_state(const std::string& dir, const TrainState& state, const AdamW& optimizer) {
  if (!state.extra.is_object()) throw Error("save_train_state: TrainState::extra must be a JSON object");
  NamedTensors tensors = optimizer.state_tensors();
  for (const auto& [name, t] : tensors) {
    if (t.is_floating_point() && !torch::isfinite(t).all().item<bool>()) {
      throw Error("refusing to write the training state to " + dir + ": " + quote(name) +
                  " holds NaN or Inf values; the previous checkpoint is kept");
    }
  }
  {
    auto gen = cpu_generator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    tensors.emplace_back("rng.torch_cpu", gen.get_state());
  }
  const int64_t n_cuda = num_cuda_generators();
  for (int64_t i = 0; i < n_cuda; ++i) {
    auto gen = cuda_generator(i);
    std::lock_guard<std::mutex> lock(gen.mutex());
    tensors.emplace_back(cat("rng.cuda.", i), gen.get_state());
  }

  Json j = Json::object();
  j["format"] = kFormat;
  j["version"] = kVersion;
  j["step"] = state.step;
  j["optimizer_steps"] = optimizer.num_steps();
  j["data_epoch"] = state.data_epoch;
  j["data_position"] = state.data_position;
  Json rng = Json::object();
  for (const auto& [name, value] : state.rng) rng[name] = std::to_string(value);  // u64 as a decimal string
  j["rng"] = rng;
  j["cuda_generators"] = n_cuda;
  j["parameters"] = optimizer.parameter_names();
  j["extra"] = state.extra;

  const fs::path target(dir);
  const fs::path tmp = target.string() + ".tmp";
  const fs::path old = target.string() + ".old";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp);
  write_safetensors((tmp / kTensorFile).string(), tensors, {{"format", kFormat}});
  write_file_atomic((tmp / kJsonFile).string(), j.dump(2) + "\n");  // last: its presence marks a complete state
  // Swap: DIR -> DIR.old, DIR.tmp -> DIR, remove DIR.old. A crash in between leaves DIR.old.
  fs::remove_all(old, ec);
  if (fs::exists(target)) fs::rename(target, old);
  fs::rename(tmp, target);
  fsync_dir(target.has_parent_path() ? target.parent_path() : fs::path("."));
  fs::remove_all(old, ec);
}

TrainState load_train_state(const std::string& dir, AdamW& optimizer, bool restore_rng) {
  const fs::path base = resolve(dir);
  const std::string json_path = (base / kJsonFile).string();
  if (!fs::exists(json_path)) throw Error("no training state in " + dir + " (missing " + kJsonFile + "); nothing to resume");
  JsonReader j = JsonReader::owning(load_json(json_path), json_path);
  if (j.get<std::string>("format") != kFormat) j.at("format").fail(cat("expected \"", kFormat, "\""));
  if (j.get<int64_t>("version") != kVersion) j.at("version").fail(cat("unsupported version; this build reads ", kVersion));
  TrainState state;
  state.step = j.get<int64_t>("step");
  int64_t optimizer_steps = j.get<int64_t>("optimizer_steps");
  state.data_epoch = j.get<int64_t>("data_epoch");
  state.data_position = j.get<int64_t>("data_position");
  JsonReader rng = j.at("rng");
  for (const auto& name : rng.keys()) {
    std::string text = rng.get<std::string>(name);
    try {
      size_t used = 0;
      state.rng[name] = std::stoull(text, &used);
      if (used != text.size()) throw std::invalid_argument("trailing characters");
    } catch (const std::exception&) {
      rng.at(name).fail("expected an unsigned 64-bit integer as a decimal string, got " + quote(text));
    }
  }
  int64_t n_cuda = j.get<int64_t>("cuda_generators");
  j.mark_used("parameters");
  state.extra = j.get<Json>("extra");

  auto file = SafetensorsFile::open((base / kTensorFile).string());
  std::map<std::string, at::Tensor> tensors;
  for (const auto& info : file->tensors()) tensors[info.name] = file->tensor(info.name);
  optimizer.load_state_tensors(tensors, optimizer_steps, file->source());

  if (restore_rng) {
    auto it = tensors.find("rng.torch_cpu");
    if (it == tensors.end()) throw Error(file->source() + ": missing rng.torch_cpu");
    auto gen = cpu_generator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(it->second);
    const int64_t here = num_cuda_generators();
    for (int64_t i = 0; i < std::min(n_cuda, here); ++i) {
      auto cuda = tensors.find(cat("rng.cuda.", i));
      if (cuda == tensors.end()) throw Error(cat(file->source(), ": missing rng.cuda.", i));
      auto g = cuda_generator(i);
      std::lock_guard<std::mutex> lock_cuda(g.mutex());
      g.set_state(cuda->second);
    }
  }
  return state;
}

}  // namespace zeroth::train
