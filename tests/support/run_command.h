// Runs a shell command for CLI tests and captures stdout, stderr and the exit code.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

#include "support/paths.h"

namespace zeroth::testing {

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// `command` runs under /bin/sh; `input` is fed to its standard input.
inline CommandResult run_command(const std::string& command, const std::string& input = "") {
  TempDir dir;
  std::string in_path = dir.file("stdin"), out_path = dir.file("stdout"), err_path = dir.file("stderr");
  std::ofstream(in_path) << input;
  std::string full = "(" + command + ") <" + in_path + " >" + out_path + " 2>" + err_path;
  int status = std::system(full.c_str());
  CommandResult result;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  auto slurp = [](const std::string& p) {
    std::ifstream f(p);
    std::stringstream s;
    s << f.rdbuf();
    return s.str();
  };
  result.out = slurp(out_path);
  result.err = slurp(err_path);
  return result;
}

}  // namespace zeroth::testing
