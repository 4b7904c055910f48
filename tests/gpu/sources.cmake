set(ZEROTH_TEST_gpu_SOURCES
  gpu/test_build.cpp
  gpu/test_gpu_model.cpp
  gpu/test_gpu_train.cpp
)
