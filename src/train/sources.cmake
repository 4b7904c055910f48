set(ZEROTH_train_SOURCES
  src/train/optimizer.cpp
  src/train/schedule.cpp
  src/train/train_state.cpp
  src/train/tensorboard.cpp
  src/train/report.cpp
)
