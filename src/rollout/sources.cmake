set(ZEROTH_rollout_SOURCES
  src/rollout/sampling_options.cpp
  src/rollout/logits_processors.cpp
  src/rollout/sampler.cpp
)
