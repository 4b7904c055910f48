# Finds LibTorch in either world:
#  - Debian 12's libtorch-dev 1.13.1 (CPU only), found in the system prefix;
#  - a LibTorch 2.x with CUDA, e.g. inside a Python PyTorch install:
#      cmake -DCMAKE_PREFIX_PATH="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')" ...
# Defines the imported target Torch::Torch, the option ZEROTH_CUDA (defaults to what the found
# LibTorch supports) and zeroth_torch_pch(target), which precompiles <torch/torch.h>.
find_package(Torch REQUIRED)

set(_zeroth_torch_has_cuda OFF)
if(TORCH_CUDA_LIBRARIES OR CAFFE2_USE_CUDA OR TARGET torch_cuda)
  set(_zeroth_torch_has_cuda ON)
endif()
option(ZEROTH_CUDA "Build the CUDA paths (needs a LibTorch built with CUDA)" ${_zeroth_torch_has_cuda})
if(ZEROTH_CUDA AND NOT _zeroth_torch_has_cuda)
  message(FATAL_ERROR "ZEROTH_CUDA=ON but the LibTorch found at ${Torch_DIR} has no CUDA support")
endif()
message(STATUS "zeroth: LibTorch ${Torch_VERSION} at ${Torch_DIR}, CUDA ${ZEROTH_CUDA}")

if(NOT TARGET Torch::Torch)
  add_library(Torch::Torch INTERFACE IMPORTED)
  # TORCH_CXX_FLAGS carries -D_GLIBCXX_USE_CXX11_ABI=... for pip wheels; Debian's is empty.
  separate_arguments(_zeroth_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
  set_target_properties(Torch::Torch PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${TORCH_INCLUDE_DIRS}"
    INTERFACE_LINK_LIBRARIES "${TORCH_LIBRARIES}"
    INTERFACE_COMPILE_OPTIONS "${_zeroth_torch_flags}")
  if(ZEROTH_CUDA)
    set_property(TARGET Torch::Torch APPEND PROPERTY INTERFACE_COMPILE_DEFINITIONS ZEROTH_CUDA=1)
  endif()
endif()

function(zeroth_torch_pch target)
  target_precompile_headers(${target} PRIVATE <torch/torch.h> <nlohmann/json.hpp>
    <string> <vector> <map> <memory> <optional> <functional>)
endfunction()
