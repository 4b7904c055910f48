// Training checkpoints for --resume: RUN_DIR/<stage>/checkpoints/step-N/ holds the model in
// Hugging Face layout (model/) and the training state of train_state.h (state/: fp32 masters and
// moments, every RNG, and the trainer's step, data position and counters as its "extra");
// latest.json names the newest complete one. A checkpoint is written into a
// temporary folder and renamed, so a killed run never leaves a half-written one; older ones are
// removed after the new one is in place.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "zeroth/core/json.h"
#include "zeroth/model/transformer.h"
#include "zeroth/train/optimizer.h"

namespace zeroth::train {

class Checkpoints {
 public:
  explicit Checkpoints(std::string dir, int64_t keep_last = 1);

  struct Entry {
    std::string dir;   // the step-N folder
    int64_t step = 0;
    Json state;        // the trainer's values (TrainState::extra)
  };
  std::optional<Entry> latest() const;

  // `save_model(dir)` writes the model in HF layout; `extra` goes into trainer.json.
  void save(int64_t step, AdamW& optimizer, const Json& extra, const std::function<void(const std::string&)>& save_model);
  // Loads the training state (the optimizer's fp32 masters are copied into the model's parameters,
  // the torch generators restored); returns the step.
  int64_t restore(const Entry& entry, AdamW& optimizer);
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  int64_t keep_last_;
};

// Drops the lines of a metrics.jsonl whose "step" is above `step` (the steps a resumed run redoes),
// and a torn last line.
void truncate_metrics_after(const std::string& path, int64_t step);

}  // namespace zeroth::train
