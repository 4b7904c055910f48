set(ZEROTH_rollout_SOURCES
  src/rollout/sampling_options.cpp
  src/rollout/logits_processors.cpp
  src/rollout/sampler.cpp
  src/rollout/sample_kernel.cpp
)
# The draw's row kernel splits rows with at::parallel_for (OpenMP, src/core/parallel.h) and needs
# no torch precompiled header.
set_source_files_properties(src/rollout/sample_kernel.cpp PROPERTIES
                            COMPILE_OPTIONS "${ZEROTH_OPENMP_OPTIONS};-Wno-uninitialized;-Wno-maybe-uninitialized"
                            SKIP_PRECOMPILE_HEADERS ON)
