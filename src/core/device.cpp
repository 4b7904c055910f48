// Device/dtype parsing and process-level CPU tuning.
#include "zeroth/core/device.h"

#include <malloc.h>

#include <cstdlib>
#include <fstream>

#include <torch/torch.h>
#include <torch/version.h>

#include "zeroth/core/error.h"

namespace zeroth {

c10::Device parse_device(const std::string& name) {
  std::string n = name.empty() ? "auto" : name;
  if (n == "auto") return torch::cuda::is_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  c10::Device device(c10::kCPU);
  try {
    device = c10::Device(n);
  } catch (const c10::Error&) {
    throw Error("unknown device " + quote(name) + "; expected cpu, cuda, cuda:N or auto");
  }
  if (device.is_cuda()) {
    if (!torch::cuda::is_available()) {
#ifdef ZEROTH_CUDA
      throw Error("device " + quote(name) + " requested, but this machine has no usable CUDA device (driver "
                  "missing, or CUDA_VISIBLE_DEVICES hides them); use --device cpu / \"device\": \"cpu\"");
#else
      throw Error("device " + quote(name) + " requested, but this zeroth is built without CUDA (LibTorch " +
                  std::string(TORCH_VERSION) + ", CPU only): build against PyTorch's LibTorch with "
                  "scripts/setup.sh --torch pip, or use --device cpu / \"device\": \"cpu\"");
#endif
    }
    int64_t count = static_cast<int64_t>(torch::cuda::device_count());
    if (device.has_index() && device.index() >= count) {
      throw Error(cat("device ", quote(name), ": only ", count, " CUDA device(s) present"));
    }
  } else if (!device.is_cpu()) {
    throw Error("unsupported device " + quote(name) + "; expected cpu, cuda, cuda:N or auto");
  }
  return device;
}

c10::ScalarType parse_dtype(const std::string& name) {
  if (name == "fp32" || name == "float32" || name == "float") return c10::kFloat;
  if (name == "bf16" || name == "bfloat16") return c10::kBFloat16;
  if (name == "fp16" || name == "float16" || name == "half") return c10::kHalf;
  if (name == "fp64" || name == "float64") return c10::kDouble;
  throw Error("unknown dtype " + quote(name) + "; expected fp32, bf16 or fp16");
}

std::string dtype_name(c10::ScalarType dtype) {
  switch (dtype) {
    case c10::kFloat: return "fp32";
    case c10::kBFloat16: return "bf16";
    case c10::kHalf: return "fp16";
    case c10::kDouble: return "fp64";
    default: return c10::toString(dtype);
  }
}

static bool cpu_has_flag(const std::string& flag) {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("flags", 0) == 0) return (line + " ").find(" " + flag + " ") != std::string::npos;
  }
  return false;
}

std::string configure_process_for_speed() {
  // Fresh pages cost ~7 us per 4 KiB here; keep freed memory instead of returning it to the kernel.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  // Never trim: freeing two neighbouring 622 MB log-prob buffers would otherwise exceed any
  // threshold that fits in mallopt's int and hand them back, and every next one faults in again.
  mallopt(M_TRIM_THRESHOLD, -1);
  mallopt(M_TOP_PAD, 64 << 20);
  std::string note = "malloc keeps freed memory";
  const char* coretype = std::getenv("OPENBLAS_CORETYPE");
  if (!coretype || !*coretype) {
    if (cpu_has_flag("avx512f")) {
      setenv("OPENBLAS_CORETYPE", "SkylakeX", 0);
      note += "; OPENBLAS_CORETYPE=SkylakeX (AVX-512)";
    }
  } else {
    note += std::string("; OPENBLAS_CORETYPE=") + coretype + " (from the environment)";
  }
  return note;
}

}  // namespace zeroth
