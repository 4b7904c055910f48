// JSON with comments, typed access by path, unknown-key errors with suggestions.
#include "support/catch.h"

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

TEST_CASE("json: nesting deeper than the limit is an error naming the source and line, not a stack overflow",
          "[core][json]") {
  const size_t limit = json_max_depth();
  REQUIRE(limit == 512);
  auto nested = [](size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); };
  REQUIRE(parse_json(nested(limit), "ok.json").is_array());
  REQUIRE_THROWS_WITH(parse_json("{\"a\":\n" + nested(70000) + "}", "deep.json"),
                      Catch::Contains("deep.json:2:") && Catch::Contains("deeper than 512"));
  // Brackets inside strings do not count.
  REQUIRE(parse_json("{\"s\": \"" + std::string(10000, '[') + "\\\"\"}", "s.json")["s"].get<std::string>().size() == 10001);
}

TEST_CASE("json: a JSONL line over the size limit is an error naming its source", "[core][json]") {
  REQUIRE(jsonl_max_line_bytes() == (size_t{64} << 20));
  const std::string line = "{\"text\": \"" + std::string(jsonl_max_line_bytes(), 'x') + "\"}";
  REQUIRE_THROWS_WITH(parse_jsonl_line(line, "in.jsonl:3"), Catch::Contains("in.jsonl:3: the line has") &&
                                                                 Catch::Contains("ZEROTH_JSONL_MAX_LINE_BYTES"));
  REQUIRE(parse_jsonl_line("{\"a\": 1}", "in.jsonl:4")["a"] == 1);
}

TEST_CASE("json: a duplicate key in one object is an error naming it; the same key in two objects is fine",
          "[core][json]") {
  REQUIRE_THROWS_WITH(parse_json(R"({"stages": [{"lr": 1, "steps": 2, "lr": 3}]})", "r.json"),
                      Catch::Contains("r.json") && Catch::Contains("duplicate key \"lr\""));
  Json ok = parse_json(R"({"a": {"x": 1}, "b": {"x": 2}, "x": {"x": {"x": 3}}})", "ok.json");
  REQUIRE(ok["x"]["x"]["x"] == 3);
}

TEST_CASE("json: a number too large for a double is an Error naming the source (found by fuzzing)", "[core][json]") {
  REQUIRE_THROWS_AS(parse_jsonl_line("[[[8888888888888888000E0000000010976666]]]", "in.jsonl:1"), Error);
  REQUIRE_THROWS_WITH(parse_json("{\"lr\": 1e400}", "r.json"), Catch::Contains("r.json: invalid JSON: number overflow"));
}
