// Training checkpoints. See checkpoints.h.
#include "zeroth/train/checkpoints.h"

#include <filesystem>
#include <fstream>

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include "zeroth/core/error.h"
#include "zeroth/core/fs.h"
#include "zeroth/train/distributed.h"
#include "zeroth/train/train_state.h"

namespace fs = std::filesystem;

namespace zeroth::train {

namespace {

// A checkpoint folder being written ("step-N.tmp"): left behind by a run killed or failed mid-write.
bool is_partial_checkpoint(const fs::directory_entry& entry) {
  const std::string f = entry.path().filename().string();
  return entry.is_directory() && f.rfind("step-", 0) == 0 && f.size() > 4 && f.compare(f.size() - 4, 4, ".tmp") == 0;
}

}  // namespace

Checkpoints::Checkpoints(std::string dir, int64_t keep_last) : dir_(std::move(dir)), keep_last_(keep_last) {
  std::error_code ec;
  if (!fs::is_directory(dir_, ec)) return;
  for (const auto& entry : fs::directory_iterator(dir_, ec)) {
    if (!is_partial_checkpoint(entry)) continue;
    spdlog::info("checkpoint: removing the unfinished {} of an earlier run", entry.path().string());
    fs::remove_all(entry.path(), ec);
  }
}

std::optional<Checkpoints::Entry> Checkpoints::latest() const {
  const std::string path = dir_ + "/latest.json";
  if (!fs::exists(path)) return std::nullopt;
  Json latest = load_json(path);
  JsonReader r(latest, path);
  Entry e;
  e.dir = dir_ + "/" + r.get<std::string>("dir");
  e.step = r.get<int64_t>("step");
  // The trainer's values travel as the training state's "extra" (train_state.h layout).
  e.state = load_json(e.dir + "/state/train_state.json").at("extra");
  return e;
}

void Checkpoints::save(int64_t step, AdamW& optimizer, const Json& extra,
                       const std::function<void(const std::string&)>& save_model) {
  const std::string name = cat("step-", step);
  const std::string final_dir = dir_ + "/" + name;
  const std::string tmp = final_dir + ".tmp";
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  TrainState state;
  state.step = optimizer.num_steps();
  state.extra = extra;
  state.extra["step"] = step;
  try {
    save_train_state(tmp + "/state", state, optimizer);  // refuses NaN/Inf; keeps every RNG
    if (save_model) save_model(tmp + "/model");
  } catch (...) {
    std::error_code ec;
    fs::remove_all(tmp, ec);  // a full disk must not leave a half-written step-N.tmp behind
    throw;
  }
  fs::remove_all(final_dir);
  fs::rename(tmp, final_dir);
  write_file_atomic(dir_ + "/latest.json", Json{{"step", step}, {"dir", name}}.dump() + "\n");
  // Older checkpoints go once the new one is complete.
  std::vector<std::pair<int64_t, fs::path>> old;
  for (const auto& entry : fs::directory_iterator(dir_)) {
    const std::string f = entry.path().filename().string();
    if (entry.is_directory() && f.rfind("step-", 0) == 0 && f.find('.') == std::string::npos && f != name) {
      try {
        old.push_back({std::stoll(f.substr(5)), entry.path()});
      } catch (const std::exception&) {
      }
    }
  }
  std::sort(old.begin(), old.end());
  while (static_cast<int64_t>(old.size()) > keep_last_ - 1 && !old.empty()) {
    fs::remove_all(old.front().second);
    old.erase(old.begin());
  }
  spdlog::info("checkpoint: {}", final_dir);
}

int64_t Checkpoints::restore(const Entry& entry, AdamW& optimizer) {
  load_train_state(entry.dir + "/state", optimizer);
  return entry.step;
}

CheckpointSchedule::CheckpointSchedule(int64_t save_every, double save_minutes)
    : save_every_(save_every), save_minutes_(save_minutes), last_(std::chrono::steady_clock::now()) {}

bool CheckpointSchedule::due(int64_t step, int64_t last_step, Distributed& dist) {
  if (step == last_step || (save_every_ > 0 && step % save_every_ == 0)) return true;
  if (save_minutes_ <= 0) return false;
  const double minutes = std::chrono::duration<double>(std::chrono::steady_clock::now() - last_).count() / 60.0;
  double late = minutes >= save_minutes_ ? 1.0 : 0.0;
  if (dist.world() > 1) late = dist.all_reduce_sum(late);  // [dist] any rank's clock decides for all
  return late > 0;
}

void CheckpointSchedule::saved() { last_ = std::chrono::steady_clock::now(); }

void truncate_metrics_after(const std::string& path, int64_t step, bool drop_eval_at_step) {
  if (!fs::exists(path)) return;
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_object()) continue;  // a torn last line
    if (j.contains("step") && j["step"].is_number() && j["step"].get<int64_t>() > step) continue;
    if (drop_eval_at_step && j.contains("step") && j["step"].is_number() && j["step"].get<int64_t>() == step) {
      bool eval_line = false;
      for (auto it = j.begin(); it != j.end(); ++it) eval_line = eval_line || it.key().rfind("eval/", 0) == 0;
      if (eval_line) continue;
    }
    kept += line + "\n";
  }
  in.close();
  write_file_atomic(path, kept);
}

}  // namespace zeroth::train
