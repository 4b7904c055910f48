// JSON with comments, typed access by path, unknown-key errors with suggestions.
#include <catch2/catch.hpp>

#include "support/paths.h"
#include "zeroth/core/fs.h"
#include "zeroth/core/json.h"

using namespace zeroth;

TEST_CASE("parse_json: accepts // and /* */ comments", "[core][json]") {
  Json j = parse_json(R"({
    // a recipe
    "lr": 1e-6, /* inline */ "name": "x" // trailing
  })", "recipe.json");
  REQUIRE(j["lr"].get<double>() == Approx(1e-6));
  REQUIRE(j["name"] == "x");
}

TEST_CASE("parse_json: syntax errors name the source, line and column", "[core][json]") {
  REQUIRE_THROWS_WITH(parse_json("{\n  \"a\": 1,\n  \"b\": }\n", "recipes/x.json"),
                      Catch::StartsWith("recipes/x.json:3:") && Catch::Contains("invalid JSON"));
}

TEST_CASE("load_json: a missing file is an error naming it", "[core][json]") {
  REQUIRE_THROWS_WITH(load_json("/nonexistent/recipe.json"), Catch::Contains("/nonexistent/recipe.json"));
}

TEST_CASE("JsonReader: typed access with defaults", "[core][json]") {
  Json j = parse_json(R"({"steps": 10, "lr": 0.5, "name": "grpo", "on": true, "ids": [1, 2, 3],
                          "whole": 4.0, "nested": {"k": "v"}})", "r.json");
  JsonReader r(j, "r.json");
  REQUIRE(r.get<int64_t>("steps") == 10);
  REQUIRE(r.get<double>("lr") == 0.5);
  REQUIRE(r.get<double>("steps") == 10.0);  // integers are numbers
  REQUIRE(r.get<std::string>("name") == "grpo");
  REQUIRE(r.get<bool>("on"));
  REQUIRE(r.get<std::vector<int64_t>>("ids") == std::vector<int64_t>{1, 2, 3});
  REQUIRE(r.get<int>("whole") == 4);
  REQUIRE(r.get_or<double>("missing", 7.5) == 7.5);
  REQUIRE_FALSE(r.opt<int64_t>("missing").has_value());
  REQUIRE(r.at("nested").get<std::string>("k") == "v");
}

TEST_CASE("JsonReader: type errors name file, JSON path and what was expected", "[core][json]") {
  Json j = parse_json(R"({"stages": [{"kind": "sft"}, {"optimizer": {"lr": "1e-5"}, "steps": 0.5}]})", "recipes/x.json");
  JsonReader r(j, "recipes/x.json");
  auto stage = r.at("stages").at(1);
  REQUIRE_THROWS_WITH(stage.at("optimizer").get<double>("lr"),
                      "recipes/x.json: stages[1].optimizer.lr: expected a number, got \"1e-5\" (a string); remove the quotes");
  REQUIRE_THROWS_WITH(stage.get<int64_t>("steps"), Catch::StartsWith("recipes/x.json: stages[1].steps: expected an integer"));
  REQUIRE_THROWS_WITH(stage.get<std::string>("kind"), "recipes/x.json: stages[1].kind: missing required key");
  REQUIRE_THROWS_WITH(r.at("stages").at(5), Catch::Contains("stages: index 5 out of range (2 items)"));
  REQUIRE_THROWS_WITH(r.at("stages").at(0).get<bool>("kind"), Catch::Contains("expected true or false"));
}

TEST_CASE("JsonReader: unknown keys are errors with a did-you-mean", "[core][json]") {
  Json j = parse_json(R"({"optimizer": {"lr": 1e-6, "weight_decy": 0.1}})", "recipes/x.json");
  JsonReader r(j, "recipes/x.json");
  auto opt = r.at("optimizer");
  REQUIRE(opt.get_or<double>("lr", 0.0) == Approx(1e-6));
  REQUIRE(opt.get_or<double>("weight_decay", 0.0) == 0.0);
  // Keys read through another reader of the same path count as known.
  REQUIRE_THROWS_WITH(r.at("optimizer").reject_unknown_keys(),
                      "recipes/x.json: optimizer.weight_decy: unknown key; did you mean \"weight_decay\"?");
  REQUIRE_NOTHROW(r.reject_unknown_keys());  // "optimizer" itself was read
}

TEST_CASE("JsonReader: unknown key without a close match lists the known keys", "[core][json]") {
  Json j = parse_json(R"({"a": 1, "zzzzzz": 2})", "c.json");
  JsonReader r(j, "c.json");
  r.get<int>("a");
  REQUIRE_THROWS_WITH(r.reject_unknown_keys(), "c.json: zzzzzz: unknown key (known keys: a)");
  r.mark_used("zzzzzz");
  REQUIRE_NOTHROW(r.reject_unknown_keys());
}

TEST_CASE("JsonReader::owning keeps its document alive", "[core][json]") {
  JsonReader r = JsonReader::owning(parse_json(R"({"a": {"b": [5]}})", "x"), "x");
  auto child = r.at("a").at("b").at(0);
  REQUIRE(child.as<int>() == 5);
  REQUIRE(child.path() == "a.b[0]");
}
