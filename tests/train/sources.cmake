set(ZEROTH_TEST_train_SOURCES
  train/test_tensorboard.cpp
  train/test_report.cpp
)
