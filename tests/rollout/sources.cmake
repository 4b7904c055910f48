set(ZEROTH_TEST_rollout_SOURCES
  rollout/test_logits_processors.cpp
  rollout/test_sampler.cpp
)
