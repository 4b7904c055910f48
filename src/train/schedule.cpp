// Warmup + constant / cosine / linear learning-rate schedules.
#include "zeroth/train/schedule.h"

#include <algorithm>
#include <cmath>

namespace zeroth::train {

int64_t warmup_steps_for(const OptimizerOptions& o, int64_t total_steps) {
  if (o.warmup_steps > 0) return o.warmup_steps;
  return static_cast<int64_t>(std::ceil(o.warmup_ratio * static_cast<double>(total_steps)));
}

double learning_rate_at(const OptimizerOptions& o, int64_t step, int64_t total_steps) {
  const int64_t W = warmup_steps_for(o, total_steps);
  if (step < W) return o.lr * static_cast<double>(step + 1) / static_cast<double>(W);
  if (o.lr_scheduler == LrSchedule::Constant) return o.lr;
  const double min_lr = o.min_lr_ratio * o.lr;
  const double p = std::min(1.0, static_cast<double>(step - W) / static_cast<double>(std::max<int64_t>(1, total_steps - W)));
  if (o.lr_scheduler == LrSchedule::Cosine) return min_lr + (o.lr - min_lr) * 0.5 * (1.0 + std::cos(std::acos(-1.0) * p));
  return o.lr - (o.lr - min_lr) * p;
}

}  // namespace zeroth::train
