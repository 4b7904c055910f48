set(ZEROTH_TEST_train_SOURCES
  train/test_optimizer.cpp
  train/test_train_state.cpp
  train/test_grpo.cpp
  train/test_batching.cpp
  train/test_tensorboard.cpp
  train/test_report.cpp
  train/test_distributed.cpp
)
# The test parses the written records with the generated messages (cmake/tensorboard_proto.cmake).
set_source_files_properties(train/test_tensorboard.cpp PROPERTIES INCLUDE_DIRECTORIES "${ZEROTH_PROTO_OUT_DIR}")
