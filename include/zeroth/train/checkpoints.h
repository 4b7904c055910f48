// Training checkpoints for --resume: RUN_DIR/<stage>/checkpoints/step-N/ holds the model in
// Hugging Face layout (model/) and the training state of train_state.h (state/: fp32 masters and
// moments, every RNG, and the trainer's step, data position and counters as its "extra");
// latest.json names the newest complete one. A checkpoint is written into a
// temporary folder and renamed, so a killed run never leaves a half-written one; older ones are
// removed after the new one is in place.
#pragma once

#include <chrono>
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

class Distributed;

// When a training loop writes a checkpoint: at the last step, every `save_every` steps (0: off), and
// when `save_minutes` (0: off) have passed since the last one. The default of both trainers is
// save_minutes = 30, so a killed run loses at most about half an hour even when a recipe sets no
// save_every. Ranks decide together ([dist]: one all-reduce per step when save_minutes is on), so
// a time-based save never happens on one rank alone.
class CheckpointSchedule {
 public:
  CheckpointSchedule(int64_t save_every, double save_minutes);
  bool due(int64_t step, int64_t last_step, Distributed& dist);
  void saved();  // restarts the clock

 private:
  int64_t save_every_;
  double save_minutes_;
  std::chrono::steady_clock::time_point last_;
};

// Drops the lines of a metrics.jsonl whose "step" is above `step` (the steps a resumed run redoes),
// and a torn last line. With `drop_eval_at_step`, also the evaluation lines ("eval/..." figures) of
// `step` itself: a run resumed from its last checkpoint redoes the final evaluation, which comes
// after that checkpoint.
void truncate_metrics_after(const std::string& path, int64_t step, bool drop_eval_at_step = false);

}  // namespace zeroth::train
