// zeroth::Error context chains, quoting and did-you-mean.
#include "support/catch.h"

#include "zeroth/core/error.h"

using namespace zeroth;

TEST_CASE("Error: context is prepended as the error rises, outermost first", "[core][error]") {
  try {
    try {
      throw Error("stages[1].lr: expected a number, got string");
    } catch (Error& e) {
      e.add_context("while loading recipes/x.json");
      throw;
    }
  } catch (const Error& e) {
    REQUIRE(std::string(e.what()) == "while loading recipes/x.json: stages[1].lr: expected a number, got string");
  }
}

TEST_CASE("ZEROTH_CHECK: names the condition, file and line", "[core][error]") {
  int x = 3;
  auto check = [&] { ZEROTH_CHECK(x == 4, "x was ", x); };
  REQUIRE_THROWS_WITH(check(),
                      Catch::Contains("x == 4") && Catch::Contains("test_error.cpp") && Catch::Contains("x was 3"));
  auto pass = [&] { ZEROTH_CHECK(x == 3); };
  REQUIRE_NOTHROW(pass());
}

TEST_CASE("quote: escapes control characters and cuts long text", "[core][error]") {
  REQUIRE(quote("a\"b\n") == "\"a\\\"b\\n\"");
  REQUIRE(quote(std::string("\x01", 1)) == "\"\\x01\"");
  REQUIRE(quote("abcdef", 3) == "\"abc...\"");
}

TEST_CASE("did_you_mean: suggests the closest candidate only when close", "[core][error]") {
  std::vector<std::string> keys = {"learning_rate", "num_generations", "beta", "epsilon_high"};
  REQUIRE(did_you_mean("learnig_rate", keys) == "learning_rate");
  REQUIRE(did_you_mean("num_generation", keys) == "num_generations");
  REQUIRE(did_you_mean("bta", keys) == "beta");
  REQUIRE(did_you_mean("completely_different", keys).empty());
}
