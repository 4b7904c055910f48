set(ZEROTH_TEST_train_SOURCES
  train/test_optimizer.cpp
  train/test_train_state.cpp
  train/test_grpo.cpp
  train/test_distributed.cpp
)
