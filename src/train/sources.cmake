set(ZEROTH_train_SOURCES
  src/train/optimizer.cpp
  src/train/adamw_kernel.cpp
  src/train/distributed.cpp
  src/train/schedule.cpp
  src/train/train_state.cpp
  src/train/batching.cpp
  src/train/evaluate.cpp
  src/train/checkpoints.cpp
  src/train/sft_trainer.cpp
  src/train/grpo_trainer.cpp
  src/train/tensorboard.cpp
  src/train/report.cpp
)
# The fused AdamW loop vectorizes only when sqrt need not set errno (nothing there reads errno);
# the flag would invalidate the torch precompiled header, which that file does not need.
set_source_files_properties(src/train/adamw_kernel.cpp PROPERTIES COMPILE_OPTIONS "${ZEROTH_OPENMP_OPTIONS};-fno-math-errno;-Wno-uninitialized;-Wno-maybe-uninitialized"
                            SKIP_PRECOMPILE_HEADERS ON)
