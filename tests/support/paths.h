// Paths tests use: the shared/ data folder (datasets, tokenizers), the tests' own fixtures, the
// built `zeroth` binary, and fresh temporary directories. A missing shared file fails loudly.
#pragma once

#include "support/catch.h"

#include <filesystem>
#include <random>
#include <string>

namespace zeroth::testing {

inline std::string shared_path(const std::string& relative) {
  std::string path = std::string(ZEROTH_SHARED_DIR) + "/" + relative;
  if (!std::filesystem::exists(path)) FAIL("missing shared test data: " << path << " (set -DZEROTH_SHARED_DIR)");
  return path;
}

inline std::string test_data_path(const std::string& relative) {
  return std::string(ZEROTH_TEST_DATA_DIR) + "/" + relative;
}

inline std::string zeroth_binary() { return ZEROTH_BINARY; }

// A new empty directory under the system temp dir, removed when the object goes out of scope.
class TempDir {
 public:
  TempDir() {
    std::random_device rd;
    path_ = std::filesystem::temp_directory_path() / ("zeroth_test_" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string path() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace zeroth::testing
