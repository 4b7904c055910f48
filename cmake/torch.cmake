# Finds LibTorch in either world:
#  - Debian 12's libtorch-dev 1.13.1 (CPU only), found in the system prefix;
#  - a LibTorch 2.x with CUDA, e.g. inside a Python PyTorch install (scripts/setup.sh --torch pip):
#      cmake -DTorch_DIR="$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')/Torch" ...
# Defines the imported target Torch::Torch, the option ZEROTH_CUDA (defaults to what the found
# LibTorch supports), ZEROTH_TORCH_OPENMP_LIBRARY (the OpenMP runtime that LibTorch's own thread
# pool uses) and zeroth_torch_pch(target), which precompiles <torch/torch.h>.
# Optional: -DZEROTH_TORCH_VERSION=2.11.0 makes a LibTorch of another version a configure error.

set(ZEROTH_TORCH_VERSION "" CACHE STRING "LibTorch version this build expects (empty: any)")
set(_zeroth_torch_hint "Set Torch_DIR to the folder holding TorchConfig.cmake: Debian's libtorch-dev \
puts it in /usr/lib/x86_64-linux-gnu/cmake/Torch (apt-get install libtorch-dev); PyTorch's is \
\"$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)')/Torch\" \
(or run scripts/setup.sh --torch pip)")

# A Torch_DIR given but wrong would otherwise be searched past (to Debian's LibTorch, silently).
if(Torch_DIR AND NOT EXISTS "${Torch_DIR}/TorchConfig.cmake" AND NOT EXISTS "${Torch_DIR}/torch-config.cmake")
  message(FATAL_ERROR "zeroth: Torch_DIR=${Torch_DIR} holds no TorchConfig.cmake. ${_zeroth_torch_hint}")
endif()

# A CUDA LibTorch's CMake config (Caffe2's public/cuda.cmake) needs the CUDA toolkit (nvcc, cudart,
# nvrtc, NVTX headers): look for it first, so that its absence is one clear error instead of
# Caffe2's. A LibTorch folder with libtorch_cuda.so next to its lib/libtorch.so is a CUDA build.
if(Torch_DIR AND EXISTS "${Torch_DIR}/../../../lib/libtorch_cuda.so")
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
    find_program(_zeroth_nvcc nvcc HINTS ENV CUDA_HOME ENV CUDA_PATH PATHS /usr/local/cuda/bin)
    if(_zeroth_nvcc)
      set(CMAKE_CUDA_COMPILER "${_zeroth_nvcc}" CACHE FILEPATH "nvcc, for the CUDA LibTorch's CMake config")
    endif()
  endif()
  if(NOT CMAKE_CUDA_COMPILER AND NOT DEFINED ENV{CUDACXX})
    message(FATAL_ERROR "zeroth: the LibTorch at ${Torch_DIR} is a CUDA build and its CMake config needs "
      "the CUDA toolkit, but nvcc was not found. Install the CUDA toolkit and set CMAKE_CUDA_COMPILER "
      "(e.g. -DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc), or set Torch_DIR to a CPU LibTorch.")
  endif()
endif()

# Caffe2's config stands in an empty protobuf::libprotobuf target when none exists yet (PyTorch
# wheels link protobuf statically): find the system's first, for cmake/tensorboard_proto.cmake, and
# before the LibTorch prefix joins CMAKE_PREFIX_PATH (its include/ holds protobuf 3.13 headers).
find_package(Protobuf QUIET)
# TorchConfig.cmake looks for its Caffe2 config with find_package(Caffe2 PATHS <its sibling>), and
# PATHS come after the system prefix: with Debian's libtorch-dev installed, a PyTorch Torch_DIR
# would pull Debian's 1.13 libraries. Caffe2_DIR follows Torch_DIR instead. Its find_library(c10 /
# torch PATHS <its lib>) likewise: the LibTorch's own prefix goes first in CMAKE_PREFIX_PATH while
# it is found, and those results are looked up afresh on every configure.
set(_zeroth_prefix_path_before "${CMAKE_PREFIX_PATH}")
if(Torch_DIR AND EXISTS "${Torch_DIR}/../Caffe2/Caffe2Config.cmake")
  get_filename_component(_zeroth_caffe2_dir "${Torch_DIR}/../Caffe2" ABSOLUTE)
  set(Caffe2_DIR "${_zeroth_caffe2_dir}" CACHE PATH "Caffe2 config of the LibTorch at Torch_DIR" FORCE)
  get_filename_component(_zeroth_torch_prefix "${Torch_DIR}/../../.." ABSOLUTE)
  list(PREPEND CMAKE_PREFIX_PATH "${_zeroth_torch_prefix}")
endif()
foreach(_var TORCH_LIBRARY c10_LIBRARY kineto_LIBRARY C10_CUDA_LIBRARY CAFFE2_NVRTC_LIBRARY)
  unset(${_var} CACHE)
endforeach()
find_package(Torch QUIET)
set(CMAKE_PREFIX_PATH "${_zeroth_prefix_path_before}")
if(NOT Torch_FOUND)
  message(FATAL_ERROR "zeroth: LibTorch not found (Torch_DIR=${Torch_DIR}). ${_zeroth_torch_hint}")
endif()
# Every LibTorch library file must come from the one install (a mix links, then crashes).
foreach(_lib ${TORCH_LIBRARIES})
  string(FIND "${_lib}" "${TORCH_INSTALL_PREFIX}/" _zeroth_at)
  if(_lib MATCHES "/lib(torch|c10)[^/]*\\.so" AND NOT _zeroth_at EQUAL 0)
    message(FATAL_ERROR "zeroth: mismatched LibTorch: ${_lib} is not part of the LibTorch at ${TORCH_INSTALL_PREFIX} "
      "(Torch_DIR=${Torch_DIR}): set Torch_DIR to one LibTorch and configure a fresh build folder")
  endif()
endforeach()
get_filename_component(_zeroth_torch_root "${Torch_DIR}/.." ABSOLUTE)
get_filename_component(_zeroth_caffe2_root "${Caffe2_DIR}/.." ABSOLUTE)
if(NOT _zeroth_torch_root STREQUAL _zeroth_caffe2_root)
  message(FATAL_ERROR "zeroth: mismatched LibTorch: Torch_DIR=${Torch_DIR} but Caffe2_DIR=${Caffe2_DIR} (two "
    "installs mixed); set Torch_DIR to the one you want (Caffe2_DIR follows it) and reconfigure a fresh build folder")
endif()
if(ZEROTH_TORCH_VERSION AND NOT Torch_VERSION VERSION_EQUAL ZEROTH_TORCH_VERSION)
  message(FATAL_ERROR "zeroth: the LibTorch at ${Torch_DIR} is ${Torch_VERSION}, but ZEROTH_TORCH_VERSION "
    "asks for ${ZEROTH_TORCH_VERSION}: set Torch_DIR to a LibTorch ${ZEROTH_TORCH_VERSION} "
    "(or ZEROTH_TORCH_VERSION to empty to accept any)")
endif()
if(Torch_VERSION VERSION_LESS 1.13)
  message(FATAL_ERROR "zeroth: the LibTorch at ${Torch_DIR} is ${Torch_VERSION}; zeroth needs 1.13 or newer. "
    "${_zeroth_torch_hint}")
endif()
# Our other libraries (spdlog, fmt, re2, ICU from Debian) use the C++11 string ABI; a LibTorch built
# with the old one (pip wheels before 2.7) cannot link with them.
if(TORCH_CXX_FLAGS MATCHES "_GLIBCXX_USE_CXX11_ABI=0")
  message(FATAL_ERROR "zeroth: the LibTorch ${Torch_VERSION} at ${Torch_DIR} uses the pre-C++11 string ABI "
    "(_GLIBCXX_USE_CXX11_ABI=0) and cannot link with the system libraries: set Torch_DIR to a LibTorch built "
    "with the C++11 ABI (PyTorch >= 2.7 wheels, or the cxx11-abi LibTorch zip)")
endif()

set(_zeroth_torch_has_cuda OFF)
if(TORCH_CUDA_LIBRARIES OR CAFFE2_USE_CUDA OR TARGET torch_cuda)
  set(_zeroth_torch_has_cuda ON)
endif()
option(ZEROTH_CUDA "Build the CUDA paths (needs a LibTorch built with CUDA)" ${_zeroth_torch_has_cuda})
if(ZEROTH_CUDA AND NOT _zeroth_torch_has_cuda)
  message(FATAL_ERROR "zeroth: ZEROTH_CUDA=ON but the LibTorch ${Torch_VERSION} at ${Torch_DIR} has no CUDA "
    "support: set Torch_DIR to a CUDA LibTorch (scripts/setup.sh --torch pip), or configure with -DZEROTH_CUDA=OFF")
endif()

# The OpenMP runtime LibTorch's CPU thread pool uses. PyTorch wheels bundle their own libgomp.so.1
# in torch/lib (Debian's 1.13 uses the system one): our at::parallel_for kernels (src/core/parallel.h,
# compiled with -fopenmp) must call the same runtime, or two OpenMP pools, each sized to all cores,
# oversubscribe the CPU. The linker then resolves GOMP_* from this file rather than the system's.
set(ZEROTH_TORCH_OPENMP_LIBRARY "")
foreach(_dir ${TORCH_INSTALL_PREFIX}/lib)
  if(EXISTS "${_dir}/libgomp.so.1")
    set(ZEROTH_TORCH_OPENMP_LIBRARY "${_dir}/libgomp.so.1")
  endif()
endforeach()
message(STATUS "zeroth: LibTorch ${Torch_VERSION} at ${Torch_DIR}, CUDA ${ZEROTH_CUDA}, OpenMP runtime "
  "${ZEROTH_TORCH_OPENMP_LIBRARY}")

# PyTorch wheels carry their own fmt (12.x) and protobuf (3.13) headers in torch/include, ahead of
# /usr/include: Debian's spdlog (built on fmt 9) and our protoc 3.21 code would compile against the
# wrong ones ("'basic_runtime' is not a member of 'fmt'"). A folder of links to the system fmt/ and
# google/ headers goes before LibTorch's include directories. (LibTorch's own c10d headers that
# include fmt then see fmt 9, whose API they also compile with.)
set(_zeroth_torch_include_shim "")
if(EXISTS "${TORCH_INSTALL_PREFIX}/include/fmt" OR EXISTS "${TORCH_INSTALL_PREFIX}/include/google")
  set(_zeroth_torch_include_shim "${CMAKE_BINARY_DIR}/torch_include_shim")
  file(MAKE_DIRECTORY "${_zeroth_torch_include_shim}")
  foreach(_pair "fmt|fmt/core.h" "google|google/protobuf/message.h")
    string(REPLACE "|" ";" _pair "${_pair}")
    list(GET _pair 0 _name)
    list(GET _pair 1 _probe)
    if(NOT EXISTS "${TORCH_INSTALL_PREFIX}/include/${_name}")
      continue()
    endif()
    find_path(ZEROTH_SYSTEM_${_name}_INCLUDE_DIR "${_probe}" PATHS /usr/include /usr/local/include NO_CMAKE_PATH
      NO_CMAKE_ENVIRONMENT_PATH NO_CMAKE_FIND_ROOT_PATH)
    if(NOT ZEROTH_SYSTEM_${_name}_INCLUDE_DIR)
      message(FATAL_ERROR "zeroth: the LibTorch at ${Torch_DIR} ships its own ${_name}/ headers, and the "
        "system's (${_probe}) were not found: install them (scripts/setup.sh) or set ZEROTH_SYSTEM_${_name}_INCLUDE_DIR")
    endif()
    file(REMOVE "${_zeroth_torch_include_shim}/${_name}")
    file(CREATE_LINK "${ZEROTH_SYSTEM_${_name}_INCLUDE_DIR}/${_name}" "${_zeroth_torch_include_shim}/${_name}" SYMBOLIC)
  endforeach()
endif()

if(NOT TARGET Torch::Torch)
  add_library(Torch::Torch INTERFACE IMPORTED)
  # TORCH_CXX_FLAGS carries -D_GLIBCXX_USE_CXX11_ABI=... for pip wheels; Debian's is empty.
  separate_arguments(_zeroth_torch_flags UNIX_COMMAND "${TORCH_CXX_FLAGS}")
  set_target_properties(Torch::Torch PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${_zeroth_torch_include_shim};${TORCH_INCLUDE_DIRS}"
    INTERFACE_LINK_LIBRARIES "${TORCH_LIBRARIES}"
    INTERFACE_COMPILE_OPTIONS "${_zeroth_torch_flags}")
  if(ZEROTH_CUDA)
    set_property(TARGET Torch::Torch APPEND PROPERTY INTERFACE_COMPILE_DEFINITIONS ZEROTH_CUDA=1)
  endif()
  # PyTorch wheels export parts of std::filesystem (remove_all, permissions, ...) from libtorch.so
  # and libtorch_cpu.so. Ahead of libstdc++ in an executable's library order they take our calls,
  # and their remove_all jumps to address 0 (every test's TempDir crashed). libstdc++ goes first.
  find_program(ZEROTH_NM NAMES nm)
  set(_zeroth_std_fs_exports 0)
  foreach(_lib libtorch.so libtorch_cpu.so)
    if(ZEROTH_NM AND EXISTS "${TORCH_INSTALL_PREFIX}/lib/${_lib}")
      execute_process(COMMAND "${ZEROTH_NM}" -D --defined-only "${TORCH_INSTALL_PREFIX}/lib/${_lib}"
                      COMMAND grep -c "_ZNSt10filesystem" OUTPUT_VARIABLE _n OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
      if(_n GREATER 0)
        math(EXPR _zeroth_std_fs_exports "${_zeroth_std_fs_exports} + ${_n}")
      endif()
    endif()
  endforeach()
  if(_zeroth_std_fs_exports GREATER 0)
    message(STATUS "zeroth: this LibTorch exports ${_zeroth_std_fs_exports} std::filesystem symbols; "
      "libstdc++ is linked ahead of it")
    set_property(TARGET Torch::Torch APPEND PROPERTY INTERFACE_LINK_OPTIONS
      "SHELL:-Wl,--push-state,--no-as-needed -lstdc++ -Wl,--pop-state")
  endif()
endif()

function(zeroth_torch_pch target)
  target_precompile_headers(${target} PRIVATE <torch/torch.h> <nlohmann/json.hpp>
    <string> <vector> <map> <memory> <optional> <functional>)
endfunction()
