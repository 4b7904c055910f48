// Paths tests use: the tests' own fixtures (tests/data/, and what CMake unpacks from it into the
// build folder), the optional external test data (tokenizers whose licences keep them out of the
// repository), the built `zeroth` binary, and fresh temporary directories.
#pragma once

#include "support/catch.h"

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <random>
#include <string>

#include "support/test_paths.h"

namespace zeroth::testing {

// CTest's skip code for every test (SKIP_RETURN_CODE in tests/CMakeLists.txt): a test that cannot
// run here says why and is reported as skipped, never as passed. CTest runs each test case in its
// own process; run by hand, an executable stops at the first skipped case.
constexpr int kSkipCode = 77;

[[noreturn]] inline void skip_test(const std::string& why) {
  std::cout << "SKIPPED: " << why << std::endl;
  std::exit(kSkipCode);
}

// A file of tests/data/ (its path need not exist: tests of missing files use it too).
inline std::string test_data_path(const std::string& relative) {
  return test_path("test_data_dir") + "/" + relative;
}

// A file of the external test data folder: $ZEROTH_EXTERNAL_TEST_DATA, by default ../shared beside
// the checkout. Skips the test when it is missing.
inline std::string external_data_path(const std::string& relative) {
  const char* env = std::getenv("ZEROTH_EXTERNAL_TEST_DATA");
  const std::string root = env != nullptr && *env != '\0' ? std::string(env) : test_path("external_data_dir");
  const std::string path = root + "/" + relative;
  if (!std::filesystem::exists(path))
    skip_test("needs " + path + " (external test data: set ZEROTH_EXTERNAL_TEST_DATA to a folder holding " + relative + ")");
  return path;
}

// A real tokenizer's folder (tokenizer.json, tokenizer_config.json, reference_sample.jsonl,
// chat_template_sample.jsonl): qwen3 is in the repository (tests/data/tokenizers/README.md), the
// others come from the external test data or the test is skipped.
inline std::string tokenizer_dir(const std::string& name) {
  if (name == "qwen3") return test_path("build_data_dir") + "/tokenizers/qwen3";
  return external_data_path("tokenizers/" + name);
}

inline std::string zeroth_binary() { return test_path("zeroth"); }

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
