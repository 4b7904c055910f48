// Learning-rate schedules as a pure function of the step: linear warmup, then constant, cosine or
// linear decay to min_lr_ratio * lr (Hugging Face transformers' get_*_schedule_with_warmup, except
// that warmup starts at lr / W rather than 0, so the first step is not wasted).
#pragma once

#include <cstdint>

#include "zeroth/train/optimizer.h"

namespace zeroth::train {

// Warmup length: warmup_steps, or ceil(warmup_ratio * total_steps).
int64_t warmup_steps_for(const OptimizerOptions& options, int64_t total_steps);

// Learning rate for optimizer step `step` (0-based: the number of steps already taken) of
// `total_steps`. With W warmup steps and p = (step - W) / max(1, total_steps - W):
//   step < W:  lr * (step + 1) / W
//   constant:  lr
//   cosine:    min + (lr - min) * (1 + cos(pi * p)) / 2,   min = min_lr_ratio * lr
//   linear:    lr - (lr - min) * p
// p is capped at 1, so steps past total_steps stay at min.
double learning_rate_at(const OptimizerOptions& options, int64_t step, int64_t total_steps);

}  // namespace zeroth::train
