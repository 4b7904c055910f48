set(ZEROTH_train_SOURCES
  src/train/tensorboard.cpp
  src/train/report.cpp
)
