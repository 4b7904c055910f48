// Data-parallel process groups on LibTorch's c10d: a TCPStore rendezvous and Gloo (CPU) or NCCL
// (CUDA) collectives, set up from the standard launcher environment (torchrun, Slurm srun with the
// variables exported, mpirun): RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT.
// Without WORLD_SIZE (or with WORLD_SIZE=1) it is a single process: no process group is created and
// every collective is a no-op, so the training loops call them unconditionally.
//
// Every collective waits at most `timeout` (ZEROTH_DIST_TIMEOUT seconds, default 300): a rank that
// died or hangs makes the others throw zeroth::Error naming the operation, the rank and the timeout.
// Sums, never means: the loss normalizers are global (algo/aggregation.h), so per-rank gradients of
// a globally normalized loss add up to the single-process gradient.
// Not here: the optimizer sharding (optimizer.h, AdamW::shard), the loops' data split (the trainers).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>
#include <torch/nn/module.h>

namespace zeroth::train {

struct DistributedOptions {
  int rank = 0;
  int world = 1;
  int local_rank = 0;
  int local_world = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  std::chrono::milliseconds timeout{300000};
  // Create the process group even for world 1 (tests the full Gloo/NCCL path on one device).
  bool force_group = false;
  // Bytes per gradient bucket of all_reduce_gradients.
  int64_t bucket_bytes = 25 * 1024 * 1024;

  // From the launcher variables above plus ZEROTH_DIST_TIMEOUT (seconds) and ZEROTH_DIST_FORCE=1.
  // Error naming the variable on a malformed or inconsistent value (RANK >= WORLD_SIZE, a missing
  // MASTER_ADDR/MASTER_PORT when WORLD_SIZE > 1, ...).
  static DistributedOptions from_env();
};

class Distributed {
 public:
  // Single process (world 1, no process group).
  Distributed();
  // Joins the group: rank 0 hosts the TCPStore at master_addr:master_port; backend NCCL when
  // `device` is CUDA (needs a ZEROTH_CUDA build), else Gloo. Error when the rendezvous times out.
  Distributed(const DistributedOptions& options, c10::Device device);
  ~Distributed();
  Distributed(const Distributed&) = delete;
  Distributed& operator=(const Distributed&) = delete;

  int rank() const { return options_.rank; }
  int world() const { return options_.world; }
  int local_rank() const { return options_.local_rank; }
  bool is_main() const { return options_.rank == 0; }
  bool active() const { return group_ != nullptr; }   // a process group exists
  const DistributedOptions& options() const { return options_; }
  std::string backend() const;                         // "none", "gloo" or "nccl"

  // Copies rank 0's parameters (and buffers) into every rank's module.
  void broadcast_parameters(torch::nn::Module& module);
  // Sums the gradients of the module's trainable parameters over ranks, flattened into buckets of
  // options().bucket_bytes per dtype. A parameter without a gradient gets a zero one first (so
  // every rank takes part in the same buckets).
  void all_reduce_gradients(torch::nn::Module& module);
  double all_reduce_sum(double value);
  void all_reduce_sum(std::vector<double>& values);   // element-wise, in place
  void all_reduce_sum(at::Tensor& tensor);             // in place; on the group's device
  void broadcast(at::Tensor& tensor, int root);        // in place; on the group's device
  void barrier();
  // A barrier with its own timeout, for ranks that wait while rank 0 writes files or samples
  // traces (a dead rank 0 still fails it at once: its connections close).
  void barrier(std::chrono::milliseconds timeout);

 private:
  struct Group;
  void run(const char* what, const std::function<void()>& op);
  DistributedOptions options_;
  c10::Device device_{c10::kCPU};
  std::unique_ptr<Group> group_;
};

}  // namespace zeroth::train
