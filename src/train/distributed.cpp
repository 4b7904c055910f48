// c10d process groups for data parallelism. See distributed.h.
// LibTorch versions: 1.13 (Debian) derives ProcessGroupGloo/NCCL from c10d::ProcessGroup; 2.x from
// c10d::Backend. Both expose the same allreduce/broadcast/barrier calls, so only the base type differs.
#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#if defined(ZEROTH_CUDA) && !defined(USE_C10D_NCCL)
#define USE_C10D_NCCL 1
#endif
#include "zeroth/train/distributed.h"

#include <cstdlib>
#include <optional>
#include <map>

#include <spdlog/spdlog.h>
#include <torch/torch.h>
#include <torch/version.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef ZEROTH_CUDA
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include "zeroth/core/error.h"

namespace zeroth::train {

namespace {

// ---- LibTorch compat (the process-group base class) ----
#if TORCH_VERSION_MAJOR >= 2
using GroupBase = c10d::Backend;
#else
using GroupBase = c10d::ProcessGroup;
#endif

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return std::nullopt;
  return std::string(v);
}

int64_t env_int(const char* name, int64_t fallback, int64_t min_value) {
  auto v = env(name);
  if (!v) return fallback;
  size_t used = 0;
  int64_t x = 0;
  try {
    x = std::stoll(*v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v->size()) throw Error(cat("environment variable ", name, "=", quote(*v), ": expected an integer"));
  if (x < min_value) throw Error(cat("environment variable ", name, "=", x, ": expected >= ", min_value));
  return x;
}

// LibTorch >= 2.4 asks TCPStore for its libuv backend by default, and a LibTorch built without libuv
// (USE_LIBUV=0; the check is not exported, so it is asked at run time) refuses with "use_libuv was
// requested but PyTorch was build without libuv support": then the classic backend is used. 1.13 has
// only the classic one.
c10::intrusive_ptr<c10d::Store> make_tcp_store(const std::string& host, c10d::TCPStoreOptions so) {
#if TORCH_VERSION_MAJOR >= 2 && (TORCH_VERSION_MAJOR > 2 || TORCH_VERSION_MINOR >= 4)
  so.useLibUV = true;
  try {
    return c10::make_intrusive<c10d::TCPStore>(host, so);
  } catch (const c10::Error& e) {
    if (std::string(e.what_without_backtrace()).find("libuv") == std::string::npos) throw;
    spdlog::debug("distributed: this LibTorch has no libuv TCPStore backend; using the classic one");
  }
  so.useLibUV = false;
#endif
  return c10::make_intrusive<c10d::TCPStore>(host, so);
}

bool is_loopback(const std::string& host) {
  return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1";
}

}  // namespace

DistributedOptions DistributedOptions::from_env() {
  DistributedOptions o;
  o.world = static_cast<int>(env_int("WORLD_SIZE", 1, 1));
  o.rank = static_cast<int>(env_int("RANK", 0, 0));
  if (o.rank >= o.world) throw Error(cat("environment: RANK=", o.rank, " is not below WORLD_SIZE=", o.world));
  o.local_rank = static_cast<int>(env_int("LOCAL_RANK", o.world > 1 ? o.rank : 0, 0));
  o.local_world = static_cast<int>(env_int("LOCAL_WORLD_SIZE", o.world, 1));
  if (o.local_rank >= o.local_world) {
    throw Error(cat("environment: LOCAL_RANK=", o.local_rank, " is not below LOCAL_WORLD_SIZE=", o.local_world));
  }
  o.timeout = std::chrono::milliseconds(env_int("ZEROTH_DIST_TIMEOUT", 300, 1) * 1000);
  o.force_group = env("ZEROTH_DIST_FORCE").value_or("0") == "1";
  if (o.world > 1 || o.force_group) {
    auto addr = env("MASTER_ADDR");
    if (!addr && o.world > 1) throw Error(cat("environment: WORLD_SIZE=", o.world, " but MASTER_ADDR is not set (use torchrun, or export MASTER_ADDR and MASTER_PORT)"));
    if (addr) o.master_addr = *addr;
    if (!env("MASTER_PORT") && o.world > 1) throw Error(cat("environment: WORLD_SIZE=", o.world, " but MASTER_PORT is not set"));
    o.master_port = static_cast<int>(env_int("MASTER_PORT", 29500, 1));
    if (o.master_port > 65535) throw Error(cat("environment: MASTER_PORT=", o.master_port, " is not a TCP port"));
  }
  return o;
}

struct Distributed::Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<GroupBase> pg;
  std::string backend;
  int64_t barriers = 0;  // store barriers so far (the key of the next one)
};

Distributed::Distributed() = default;
Distributed::~Distributed() = default;

Distributed::Distributed(const DistributedOptions& options, c10::Device device) : options_(options), device_(device) {
  if (options_.world <= 1 && !options_.force_group) return;
  const auto seconds = options_.timeout.count() / 1000.0;
  spdlog::info("distributed: rank {} of {} (local {} of {}), rendezvous at {}:{}, timeout {}s", options_.rank,
               options_.world, options_.local_rank, options_.local_world, options_.master_addr, options_.master_port,
               seconds);
  group_ = std::make_unique<Group>();
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(options_.master_port);
    so.isServer = options_.rank == 0;
    so.numWorkers = static_cast<std::size_t>(options_.world);
    so.waitWorkers = true;
    so.timeout = options_.timeout;
    group_->store = make_tcp_store(options_.master_addr, so);
  } catch (const std::exception& e) {
    throw Error(cat("distributed: rank ", options_.rank, " of ", options_.world, ": rendezvous at ",
                    options_.master_addr, ":", options_.master_port, " failed within ", seconds,
                    "s (are all ranks started, is the port free and reachable?): ", e.what()));
  }
  try {
    if (device_.is_cuda()) {
#ifdef ZEROTH_CUDA
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = options_.timeout;
      group_->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(group_->store, options_.rank, options_.world, opts);
      group_->backend = "nccl";
#else
      throw Error("distributed: a CUDA device needs a ZEROTH_CUDA build for NCCL");
#endif
    } else {
      auto opts = c10d::ProcessGroupGloo::Options::create(options_.timeout);
      if (auto ifname = env("GLOO_SOCKET_IFNAME")) {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(*ifname));
      } else if (is_loopback(options_.master_addr)) {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      } else {
        opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      }
      opts->threads = 2;
      group_->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(group_->store, options_.rank, options_.world, opts);
      group_->backend = "gloo";
    }
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(cat("distributed: rank ", options_.rank, " of ", options_.world, ": creating the process group failed: ",
                    e.what()));
  }
  barrier();  // everyone connected
}

std::string Distributed::backend() const { return group_ ? group_->backend : "none"; }

void Distributed::run(const char* what, const std::function<void()>& op) {
  auto fail = [&](const std::string& detail) {
    return Error(cat("distributed: ", what, " failed on rank ", options_.rank, " of ", options_.world,
                     " (another rank died, hung, or took more than the timeout of ", options_.timeout.count() / 1000.0,
                     "s; set ZEROTH_DIST_TIMEOUT to change it): ", detail));
  };
  try {
    op();
  } catch (const c10::Error& e) {
    throw fail(e.what_without_backtrace());
  } catch (const std::exception& e) {
    throw fail(e.what());
  }
}

namespace {
// Gloo in LibTorch 1.13 has no bfloat16 (nor bool) kernels: such tensors travel as fp32 (exact for
// broadcasts; sums are rounded once, after adding in fp32).
bool needs_fp32(const at::Tensor& t, const std::string& backend) {
  return backend == "gloo" && (t.scalar_type() == torch::kBFloat16 || t.scalar_type() == torch::kBool);
}
}  // namespace

void Distributed::all_reduce_sum(at::Tensor& tensor) {
  if (!group_) return;
  if (needs_fp32(tensor, group_->backend)) {
    at::Tensor wide = tensor.to(torch::kFloat);
    all_reduce_sum(wide);
    tensor.copy_(wide);
    return;
  }
  run("all_reduce", [&] {
    std::vector<at::Tensor> ts{tensor};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::SUM;
    o.timeout = options_.timeout;
    group_->pg->allreduce(ts, o)->wait(options_.timeout);
  });
}

void Distributed::broadcast(at::Tensor& tensor, int root) {
  if (!group_) return;
  if (needs_fp32(tensor, group_->backend)) {
    at::Tensor wide = tensor.to(torch::kFloat);
    broadcast(wide, root);
    tensor.copy_(wide);
    return;
  }
  run("broadcast", [&] {
    std::vector<at::Tensor> ts{tensor};
    c10d::BroadcastOptions o;
    o.rootRank = root;
    o.rootTensor = 0;
    o.timeout = options_.timeout;
    group_->pg->broadcast(ts, o)->wait(options_.timeout);
  });
}

void Distributed::barrier() { barrier(options_.timeout); }

void Distributed::barrier(std::chrono::milliseconds timeout) {
  if (!group_) return;
  // Through the TCPStore, whose waits take their own timeout (Gloo collectives use the group's):
  // every rank adds 1 to this barrier's counter, the last one sets its "done" key, all wait for it.
  const std::string key = cat("zeroth/barrier/", group_->barriers++);
  run("barrier", [&] {
    if (group_->store->add(key, 1) == options_.world) group_->store->set(key + "/done", std::vector<uint8_t>{1});
    group_->store->wait({key + "/done"}, timeout);
  });
}

double Distributed::all_reduce_sum(double value) {
  std::vector<double> v{value};
  all_reduce_sum(v);
  return v[0];
}

void Distributed::all_reduce_sum(std::vector<double>& values) {
  if (!group_ || values.empty()) return;
  auto t = torch::tensor(values, torch::kDouble).to(device_);
  all_reduce_sum(t);
  auto cpu = t.to(torch::kCPU).contiguous();
  std::copy(cpu.data_ptr<double>(), cpu.data_ptr<double>() + cpu.numel(), values.begin());
}

void Distributed::broadcast_parameters(torch::nn::Module& module) {
  if (!group_) return;
  torch::NoGradGuard no_grad;
  auto send = [&](const at::Tensor& x) {
    if (!x.defined()) return;
    if (x.is_contiguous() && x.device() == device_) {
      at::Tensor d = x.detach();
      broadcast(d, 0);
    } else {
      at::Tensor tmp = x.detach().to(device_).contiguous();
      broadcast(tmp, 0);
      x.detach().copy_(tmp);
    }
  };
  for (const auto& p : module.parameters(/*recurse=*/true)) send(p);
  for (const auto& b : module.buffers(/*recurse=*/true)) send(b);
}

void Distributed::all_reduce_gradients(torch::nn::Module& module) {
  if (!group_) return;
  torch::NoGradGuard no_grad;
  // Buckets per dtype, in parameter order (the same on every rank).
  std::map<int, std::vector<at::Tensor>> by_dtype;
  std::vector<int> dtype_order;
  for (const auto& p : module.parameters(/*recurse=*/true)) {
    if (!p.requires_grad()) continue;
    auto& g = p.mutable_grad();
    if (!g.defined()) g = torch::zeros_like(p);
    const int key = static_cast<int>(g.scalar_type());
    if (by_dtype.find(key) == by_dtype.end()) dtype_order.push_back(key);
    by_dtype[key].push_back(g);
  }
  for (int key : dtype_order) {
    const auto& grads = by_dtype[key];
    size_t i = 0;
    while (i < grads.size()) {
      std::vector<at::Tensor> bucket;
      int64_t bytes = 0;
      do {
        bucket.push_back(grads[i]);
        bytes += grads[i].numel() * static_cast<int64_t>(grads[i].element_size());
        ++i;
      } while (i < grads.size() && bytes + grads[i].numel() * static_cast<int64_t>(grads[i].element_size()) <=
                                       options_.bucket_bytes);
      std::vector<at::Tensor> flat_parts;
      for (const auto& g : bucket) flat_parts.push_back(g.reshape({-1}).to(device_));
      at::Tensor flat = torch::cat(flat_parts);
      all_reduce_sum(flat);
      int64_t offset = 0;
      for (const auto& g : bucket) {
        g.copy_(flat.narrow(0, offset, g.numel()).view(g.sizes()));
        offset += g.numel();
      }
    }
  }
}

}  // namespace zeroth::train
