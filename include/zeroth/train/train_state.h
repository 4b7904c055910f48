// Training state for --resume: optimizer masters and moments, the scheduler step, the data
// position and every RNG (torch's default CPU generator, CUDA generators when present, and the
// named SplitMix64 states / seeds the loop keeps), written into one directory atomically.
// Not here: the model weights in Hugging Face layout (model/checkpoint) - although the fp32 master
// weights saved here are what a resumed run continues from.
//
// Layout of DIR:
//   train_state.json       {"format": "zeroth-train-state", "version": 1, "step", "optimizer_steps",
//                           "data_epoch", "data_position", "rng": {name: "decimal u64"}, "extra": {...},
//                           "parameters": [names]}
//   optimizer.safetensors  master.<p>, exp_avg.<p>, exp_avg_sq.<p> (F32), rng.torch_cpu (U8), rng.cuda.<i>
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "zeroth/core/json.h"
#include "zeroth/train/optimizer.h"

namespace zeroth::train {

struct TrainState {
  int64_t step = 0;           // optimizer steps completed (the scheduler's position)
  int64_t data_epoch = 0;     // passes over the prompt set completed
  int64_t data_position = 0;  // next prompt index within the epoch
  // Named host-side RNG states (SplitMix64::state()) or seeds, restored verbatim.
  std::map<std::string, uint64_t> rng;
  // Loop-specific values (e.g. an adaptive entropy coefficient); must be a JSON object.
  Json extra = Json::object();
};

// Writes DIR atomically: everything goes to DIR.tmp, then DIR is swapped in by rename (a crash
// leaves the previous DIR, or DIR.old which load_train_state falls back to). Captures the torch
// CPU (and CUDA) generator states at the time of the call. Refuses (zeroth::Error, nothing
// written) if any optimizer tensor holds NaN or Inf.
void save_train_state(const std::string& dir, const TrainState& state, const AdamW& optimizer);

// Reads DIR (or DIR.old after an interrupted swap), restores the optimizer (which copies the
// masters into the module's parameters) and, when restore_rng, the torch generator states.
// Errors name the file and what is wrong (missing file, other model, bad format).
TrainState load_train_state(const std::string& dir, AdamW& optimizer, bool restore_rng = true);

// Whether DIR (or DIR.old) holds a training state.
bool has_train_state(const std::string& dir);

}  // namespace zeroth::train
