set(ZEROTH_core_SOURCES
  src/core/error.cpp
  src/core/json.cpp
  src/core/fs.cpp
  src/core/output_dir.cpp
  src/core/memory.cpp
  src/core/cpu_isa.cpp
  src/core/log.cpp
  src/core/metrics.cpp
  src/core/progress.cpp
  src/core/device.cpp
  src/core/bandwidth.cpp
  src/core/random.cpp
  src/core/safetensors.cpp
  src/core/safetensors_header.cpp
)
set_source_files_properties(src/core/bandwidth.cpp PROPERTIES
                            COMPILE_OPTIONS "${ZEROTH_OPENMP_OPTIONS};-Wno-uninitialized;-Wno-maybe-uninitialized"
                            SKIP_PRECOMPILE_HEADERS ON)
