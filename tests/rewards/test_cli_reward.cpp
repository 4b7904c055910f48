// `zeroth reward` end to end: the JSONL contract (input fields kept, "rewards" and "reward"
// added, order kept), bad lines reported by number with the rest still scored, exit codes.
#include "support/catch.h"

#include <sstream>

#include "support/run_command.h"
#include "zeroth/core/json.h"

using namespace zeroth;
using zeroth::testing::run_command;
using zeroth::testing::zeroth_binary;

TEST_CASE("zeroth reward: JSONL in, rewards out, bad lines named", "[rewards][cli]") {
  std::string input =
      R"({"id": 1, "completion": "<think>\nx\n</think>\n<answer>\n\\boxed{\\frac12}\n</answer>", "answer": "0.5"})" "\n"
      R"({"id": 2, "completion": "\\boxed{3}", "answer": 4})" "\n"
      "not json\n"
      R"({"id": 4, "answer": "1"})" "\n"
      "\n"
      R"({"id": 6, "completion": "\\boxed{1}", "answer": "1"})" "\n";
  auto result = run_command(zeroth_binary() + " reward --rules r1_math --threads 2", input);
  INFO(result.err);
  CHECK(result.exit_code == 1);
  CHECK(result.err.find("line 3:") != std::string::npos);
  CHECK(result.err.find("line 4:") != std::string::npos);
  CHECK(result.err.find("completion") != std::string::npos);
  std::istringstream lines(result.out);
  std::vector<Json> out;
  for (std::string line; std::getline(lines, line);) out.push_back(Json::parse(line));
  REQUIRE(out.size() == 3);
  CHECK(out[0]["id"] == 1);
  CHECK(out[0]["answer"] == "0.5");
  CHECK(out[0]["rewards"]["accuracy"] == 1.0);
  CHECK(out[0]["rewards"]["format"] == 1.0);
  CHECK(out[0]["reward"] == 1.5);
  CHECK(out[1]["id"] == 2);
  CHECK(out[1]["rewards"]["accuracy"] == 0.0);
  CHECK(out[1]["reward"] == 0.0);
  CHECK(out[2]["id"] == 6);
  CHECK(out[2]["reward"] == 1.0);
}

TEST_CASE("zeroth reward: countdown gold fields, all lines good -> exit 0", "[rewards][cli]") {
  std::string input = R"({"completion": "<answer>(1 + 2) * 3</answer>", "numbers": [1, 2, 3], "target": 9})" "\n";
  auto result = run_command(zeroth_binary() + " reward --rules countdown", input);
  INFO(result.err);
  CHECK(result.exit_code == 0);
  Json j = Json::parse(result.out);
  CHECK(j["rewards"]["accuracy"] == 1.0);
  CHECK(j["reward"] == 1.0);
}

TEST_CASE("zeroth reward: unknown rules and missing flag", "[rewards][cli]") {
  auto unknown = run_command(zeroth_binary() + " reward --rules r1_mat", "");
  CHECK(unknown.exit_code == 1);
  CHECK(unknown.err.find("r1_math") != std::string::npos);
  auto missing = run_command(zeroth_binary() + " reward", "");
  CHECK(missing.exit_code == 2);
}

TEST_CASE("zeroth reward: a 70,000-deep line is one bad line; the good lines around it are scored", "[rewards][cli]") {
  std::string deep = R"({"completion": "x", "answer": "1", "extra": )" + std::string(70000, '[') +
                     std::string(70000, ']') + "}";
  std::string input = R"({"id": 1, "completion": "\\boxed{1}", "answer": "1"})" "\n" + deep + "\n" +
                      R"({"id": 3, "completion": "\\boxed{2}", "answer": "1"})" "\n";
  auto result = run_command(zeroth_binary() + " reward --rules r1_math", input);
  INFO(result.err);
  CHECK(result.exit_code == 1);  // not a crash (a signal gives -1 here)
  CHECK(result.err.find("line 2:") != std::string::npos);
  CHECK(result.err.find("deeper than") != std::string::npos);
  std::istringstream lines(result.out);
  std::vector<Json> out;
  for (std::string line; std::getline(lines, line);) out.push_back(Json::parse(line));
  REQUIRE(out.size() == 2);
  CHECK(out[0]["id"] == 1);
  CHECK(out[1]["id"] == 3);
}
