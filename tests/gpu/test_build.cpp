// What this build is: ZEROTH_CUDA on means LibTorch's CUDA library is linked and registered (its
// hooks answer without a device); off means the CPU-only LibTorch. Runs on every machine (no [gpu]).
#include "support/catch.h"

#include <iostream>

#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/torch.h>
#include <torch/version.h>

TEST_CASE("build: ZEROTH_CUDA matches the LibTorch CUDA runtime linked into the binaries", "[build]") {
  const bool cuda_runtime = at::detail::getCUDAHooks().hasCUDART();
#ifdef ZEROTH_CUDA
  std::cout << "CUDA build: yes (LibTorch " << TORCH_VERSION << ", CUDA runtime "
            << at::detail::getCUDAHooks().versionCUDART() << ", devices visible: "
            << (torch::cuda::is_available() ? torch::cuda::device_count() : 0) << ")" << std::endl;
  REQUIRE(cuda_runtime);
  REQUIRE(at::detail::getCUDAHooks().versionCUDART() > 0);
#else
  std::cout << "CUDA build: no (LibTorch " << TORCH_VERSION << ")" << std::endl;
  REQUIRE_FALSE(cuda_runtime);
  REQUIRE_FALSE(torch::cuda::is_available());
#endif
}
