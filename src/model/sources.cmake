set(ZEROTH_model_SOURCES
  src/model/config.cpp
  src/model/layers.cpp
  src/model/attention.cpp
  src/model/kv_cache.cpp
  src/model/transformer.cpp
  src/model/logprobs.cpp
  src/model/logprob_kernel.cpp
  src/model/matmul_kernel.cpp
  src/model/attention_kernel.cpp
  src/model/checkpoint.cpp
  src/model/lora.cpp
)
# The log-prob row kernels vectorize only when no math call may set errno; the flag would
# invalidate the torch precompiled header, which that file does not need. GCC 12's own AVX-512
# headers trip -W(maybe-)uninitialized (their `__Y = __Y` idiom for undefined registers).
set_source_files_properties(src/model/logprob_kernel.cpp PROPERTIES
                            COMPILE_OPTIONS "${ZEROTH_OPENMP_OPTIONS};-fno-math-errno;-Wno-uninitialized;-Wno-maybe-uninitialized"
                            SKIP_PRECOMPILE_HEADERS ON)
# AMX tile instructions are inline assembly in GCC's headers: no target flag is needed, and the
# file runs them only after amx_available() said yes.
set_source_files_properties(src/model/matmul_kernel.cpp PROPERTIES
                            COMPILE_OPTIONS "${ZEROTH_OPENMP_OPTIONS};-Wno-uninitialized;-Wno-maybe-uninitialized"
                            SKIP_PRECOMPILE_HEADERS ON)
set_source_files_properties(src/model/attention_kernel.cpp PROPERTIES
                            COMPILE_OPTIONS "${ZEROTH_OPENMP_OPTIONS};-Wno-uninitialized;-Wno-maybe-uninitialized"
                            SKIP_PRECOMPILE_HEADERS ON)
