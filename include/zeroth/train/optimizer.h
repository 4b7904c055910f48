// AdamW over a module's trainable parameters with fp32 master weights and moments (mixed
// precision: the module may hold bf16/fp16 parameters and gradients), decoupled weight decay that
// skips norms and biases, global-norm gradient clipping, and NaN/Inf detection that skips the step.
// Not here: the training loop, gradient accumulation and all-reduce (the caller's), saving (train_state.h).
// Update rule: torch.optim.AdamW (Loshchilov & Hutter, arXiv:1711.05101), bit for bit on fp32.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <torch/nn/module.h>

#include "zeroth/core/json.h"
#include "zeroth/core/safetensors.h"

namespace zeroth::train {

class Distributed;  // distributed.h

enum class LrSchedule { Constant, Cosine, Linear };  // "constant", "cosine", "linear"

// The recipe's "optimizer" object. Defaults: TRL/verl lr 1e-6, torch's betas and eps, verl's
// weight decay 0.01 and grad clip 1.0, DAPO's constant schedule.
struct OptimizerOptions {
  double lr = 1e-6;             // peak learning rate
  double beta1 = 0.9;           // Adam first-moment decay
  double beta2 = 0.999;         // Adam second-moment decay (OpenRLHF uses 0.95)
  double eps = 1e-8;            // added to sqrt(v_hat)
  double weight_decay = 0.01;   // decoupled: p <- p (1 - lr wd) before the Adam update (DAPO 0.1)
  // Also decay 1-D parameters, biases and norm weights (false: they are never decayed, as usual).
  bool decay_norms_and_biases = false;
  // Global L2 norm cap of the gradient (torch clip_grad_norm_: g *= min(1, max / (norm + 1e-6)));
  // 0 disables clipping (the norm is still measured and returned).
  double max_grad_norm = 1.0;
  // Abort (zeroth::Error) after this many consecutive steps skipped for NaN/Inf (NonFiniteGuard).
  int64_t max_consecutive_skips = 5;
  // Learning-rate schedule after warmup (schedule.h: learning_rate_at).
  LrSchedule lr_scheduler = LrSchedule::Constant;
  // Linear warmup from lr/warmup to lr over this many steps; when 0, warmup_ratio * total steps.
  int64_t warmup_steps = 0;
  double warmup_ratio = 0.0;
  // Floor of cosine / linear decay as a fraction of lr (OpenRLHF cosine_with_min_lr: 0.1).
  double min_lr_ratio = 0.0;

  // Reads an "optimizer" object; unknown keys and out-of-range values are errors naming the path.
  static OptimizerOptions from_json(const JsonReader& json);
};

enum class StepStatus { Applied, SkippedNonFinite };

struct StepResult {
  StepStatus status = StepStatus::Applied;
  double grad_norm = 0;   // global L2 norm before clipping (NaN/Inf when skipped)
  double clip_coef = 1;   // factor the gradients were multiplied by (1 = not clipped)
  double lr = 0;
  bool applied() const { return status == StepStatus::Applied; }
};

class AdamW {
 public:
  // Takes module.named_parameters() that require grad, in that order. Parameters not in fp32 get an
  // fp32 master copy; fp32 parameters are their own masters. Moments are fp32, on the parameter's device.
  AdamW(torch::nn::Module& module, const OptimizerOptions& options);

  // One update with learning rate `lr` from the parameters' current .grad() (summed over
  // micro-batches and ranks by the caller). Parameters without a gradient are left alone (as torch
  // does). If the gradient norm is NaN/Inf nothing changes and SkippedNonFinite is returned.
  // Gradients are not zeroed (zero_grad()).
  StepResult step(double lr);
  void zero_grad();

  int64_t num_steps() const { return num_steps_; }   // applied steps (Adam's t)
  const OptimizerOptions& options() const { return options_; }
  std::vector<std::string> parameter_names() const;
  bool decays(const std::string& name) const;         // whether weight decay applies to it
  bool has_separate_masters() const;                  // some parameter is not fp32

  // State for checkpoints: "master.<name>", "exp_avg.<name>", "exp_avg_sq.<name>" (fp32, CPU copies).
  NamedTensors state_tensors() const;
  // Restores state_tensors() output and the step count, then copies the masters into the module's
  // parameters. Error naming `source` and the tensor on a missing name or a shape mismatch.
  void load_state_tensors(const std::map<std::string, at::Tensor>& tensors, int64_t num_steps, const std::string& source);

  // ZeRO-1 (distributed.h): from now on this rank keeps fp32 masters and moments only for the
  // parameters it owns (a balanced split by size over dist.world() ranks, the same on every rank).
  // step() still measures the global norm over ALL gradients (which the caller has summed over
  // ranks, so it is identical everywhere), updates the owned parameters and broadcasts each updated
  // parameter from its owner: the result equals the unsharded step. Collectives, which every rank
  // must call together: step(), state_tensors() (gathers the full state on rank 0; other ranks get
  // an empty list) and load_state_tensors() (each rank takes its shard from the full state). No-op
  // when dist is single-process. `dist` must outlive the optimizer.
  void shard(Distributed& dist);
  int owner(const std::string& name) const;   // the rank that owns a parameter (0 when unsharded)

 private:
  struct Slot {
    std::string name;
    at::Tensor param;       // the module's parameter (any dtype)
    at::Tensor master;      // fp32 weights (== param when param is fp32)
    at::Tensor exp_avg;     // fp32
    at::Tensor exp_avg_sq;  // fp32
    bool decay = true;
    int owner = 0;          // ZeRO-1: the rank holding master and moments
  };
  bool owns(const Slot& s) const;
  // step() for contiguous CPU bf16 parameters with fp32 masters: one fused pass per tensor.
  StepResult step_fused(double lr);
  OptimizerOptions options_;
  Distributed* dist_ = nullptr;  // set by shard(); null: unsharded
  std::vector<Slot> slots_;
  int64_t num_steps_ = 0;
};

// Counts consecutive skipped steps and aborts after max_consecutive_skips of them in a row:
//   guard.record(result.applied(), step, "gradients");   // throws zeroth::Error on the K-th skip
class NonFiniteGuard {
 public:
  explicit NonFiniteGuard(int64_t max_consecutive_skips) : max_(max_consecutive_skips) {}
  // `what` names the NaN/Inf source in the message ("loss", "gradients").
  void record(bool applied, int64_t step, const std::string& what = "gradients");
  int64_t consecutive() const { return consecutive_; }
  int64_t total_skipped() const { return total_; }

 private:
  int64_t max_;
  int64_t consecutive_ = 0;
  int64_t total_ = 0;
};

}  // namespace zeroth::train
