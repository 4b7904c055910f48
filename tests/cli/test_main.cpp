// The `zeroth` executable's contract: --help lists the subcommands, usage errors exit 2,
// user errors exit 1 with a message and no stack trace.
#include <catch2/catch.hpp>

#include "support/run_command.h"

using zeroth::testing::run_command;
using zeroth::testing::zeroth_binary;

TEST_CASE("zeroth --help lists every subcommand of the contract", "[cli]") {
  auto r = run_command(zeroth_binary() + " --help");
  REQUIRE(r.exit_code == 0);
  for (const char* name : {"run", "report", "init-model", "generate", "score", "eval", "reward", "tokenize", "bench"}) {
    INFO(name);
    REQUIRE(r.out.find(std::string("\n  ") + name + " ") != std::string::npos);
  }
}

TEST_CASE("zeroth --version prints the version", "[cli]") {
  auto r = run_command(zeroth_binary() + " --version");
  REQUIRE(r.exit_code == 0);
  REQUIRE(r.out.rfind("zeroth ", 0) == 0);
}

TEST_CASE("zeroth: unknown subcommand or flag is a usage error, exit 2", "[cli]") {
  auto r = run_command(zeroth_binary() + " rnu");
  REQUIRE(r.exit_code == 2);
  REQUIRE(r.err.find("unknown subcommand \"rnu\"; did you mean \"run\"?") != std::string::npos);
  auto flag = run_command(zeroth_binary() + " --no-such-flag");
  REQUIRE(flag.exit_code == 2);
  auto none = run_command(zeroth_binary());
  REQUIRE(none.exit_code == 2);
}

TEST_CASE("zeroth: a bad --log-level is a user error with a message, exit 1", "[cli]") {
  auto r = run_command(zeroth_binary() + " --log-level loud tokenize");
  REQUIRE(r.exit_code == 1);
  REQUIRE(r.err.find("unknown log level \"loud\"") != std::string::npos);
  REQUIRE(r.err.find("Exception raised from") == std::string::npos);  // no c10 backtrace
}
