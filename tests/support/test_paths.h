// Where the tests' files are, read at run time from <build>/tests/test_paths.json, which CMake writes
// beside the test executables: the source tree, tests/data/, what CMake unpacked from it, the external
// test data, and the built binaries. No path is compiled into a test (a rebuilt test binary points
// wherever its build folder's file says). ZEROTH_TEST_PATHS names another file.
#pragma once

#include <cstdlib>
#include <string>

#include "zeroth/core/error.h"
#include "zeroth/core/fs.h"
#include "zeroth/core/json.h"

namespace zeroth::testing {

inline const Json& test_paths() {
  static const Json paths = [] {
    const char* env = std::getenv("ZEROTH_TEST_PATHS");
    const std::string file = env != nullptr && *env != '\0' ? std::string(env) : executable_dir() + "/test_paths.json";
    try {
      return Json::parse(read_file(file));
    } catch (const std::exception& e) {
      throw Error(cat("cannot read the tests' paths from ", file, " (written by CMake beside the test executables; ",
                      "set ZEROTH_TEST_PATHS to it when running a test from elsewhere): ", e.what()));
    }
  }();
  return paths;
}

inline std::string test_path(const char* key) { return test_paths().at(key).get<std::string>(); }

// A path inside the source tree (recipes, data/, rewards/).
inline std::string source_path(const std::string& relative) { return test_path("source_dir") + "/" + relative; }
inline std::string source_dir() { return test_path("source_dir"); }

}  // namespace zeroth::testing
