set(ZEROTH_TEST_core_SOURCES
  core/test_error.cpp
  core/test_json.cpp
  core/test_safetensors.cpp
  core/test_fs_metrics.cpp
  core/test_output_dir.cpp
  core/test_progress.cpp
)
