// Helpers of the CUDA tests (tag [gpu], CTest label `gpu`). Without a usable CUDA device a test
// prints why and exits with kSkipCode, which CTest reports as skipped (SKIP_RETURN_CODE in
// tests/CMakeLists.txt), never as passed. CTest runs each test case in its own process; run by
// hand, the executable stops at the first skipped case.
#pragma once

#include <torch/torch.h>

#include "support/paths.h"  // skip_test, kSkipCode

namespace zeroth::testing {

inline void require_cuda() {
  if (torch::cuda::is_available()) return;
#ifdef ZEROTH_CUDA
  skip_test("no usable CUDA device on this machine (this is a ZEROTH_CUDA build)");
#else
  skip_test("zeroth is built without CUDA (ZEROTH_CUDA off; scripts/setup.sh --torch pip builds it)");
#endif
}

inline torch::Device cuda0() { return torch::Device(torch::kCUDA, 0); }

// max |a - b| after moving both to CPU fp32.
inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.detach().to(torch::kCPU, torch::kFloat) - b.detach().to(torch::kCPU, torch::kFloat)).abs().max().item<double>();
}

}  // namespace zeroth::testing
