// `zeroth tokenize`: the JSONL contract of ARCHITECTURE.md, checked against the shared references.
#include "support/catch.h"

#include <fstream>
#include <sstream>

#include "support/paths.h"
#include "support/run_command.h"
#include "zeroth/core/json.h"

using namespace zeroth;
using zeroth::testing::run_command;
using zeroth::testing::tokenizer_dir;
using zeroth::testing::zeroth_binary;

namespace {

std::vector<Json> parse_lines(const std::string& out) {
  std::vector<Json> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line))
    if (!line.empty()) lines.push_back(Json::parse(line));
  return lines;
}

}  // namespace

TEST_CASE("zeroth tokenize encodes, decodes and renders chats", "[text][cli]") {
  std::string dir = tokenizer_dir("llama3");
  std::string cmd = zeroth_binary() + " tokenize --tokenizer " + dir;

  auto enc = run_command(cmd, "{\"text\": \"Hello world\"}\n\n{\"text\": \"<|begin_of_text|><|eot_id|>\"}\n");
  INFO(enc.err);
  REQUIRE(enc.exit_code == 0);
  auto lines = parse_lines(enc.out);
  REQUIRE(lines.size() == 2);
  CHECK(lines[0] == Json::parse(R"({"ids": [9906, 1917]})"));
  CHECK(lines[1] == Json::parse(R"({"ids": [128000, 128009]})"));

  auto bos = run_command(cmd + " --add-special-tokens", "{\"text\": \"Hello world\"}\n");
  REQUIRE(bos.exit_code == 0);
  CHECK(parse_lines(bos.out).at(0) == Json::parse(R"({"ids": [128000, 9906, 1917]})"));

  auto dec = run_command(cmd + " --decode", "{\"ids\": [9906, 1917]}\n");
  REQUIRE(dec.exit_code == 0);
  CHECK(parse_lines(dec.out).at(0) == Json::parse(R"({"text": "Hello world"})"));

  // --chat against the first reference conversation.
  std::ifstream ref(tokenizer_dir("llama3") + "/chat_template_sample.jsonl");
  std::string first;
  std::getline(ref, first);
  Json expected = Json::parse(first);
  // The reference was rendered on a fixed date; without date_string Llama 3's template takes today's
  // (strftime_now), as transformers does.
  Json input = {{"messages", expected["messages"]},
                {"add_generation_prompt", expected["add_generation_prompt"]},
                {"date_string", "26 Jul 2024"}};
  auto chat = run_command(cmd + " --chat", input.dump() + "\n");
  INFO(chat.err);
  REQUIRE(chat.exit_code == 0);
  Json got = parse_lines(chat.out).at(0);
  CHECK(got["text"] == expected["rendered"]);
  CHECK(got["ids"] == expected["ids"]);
}

TEST_CASE("zeroth tokenize reports bad lines and keeps going", "[text][cli][errors]") {
  std::string cmd = zeroth_binary() + " tokenize --tokenizer " + tokenizer_dir("qwen3");
  auto r = run_command(cmd, "{\"text\": \"a\"}\nnot json\n{\"txt\": \"b\"}\n{\"text\": \"c\"}\n");
  CHECK(r.exit_code == 1);
  CHECK(parse_lines(r.out).size() == 2);
  CHECK(r.err.find("line 2") != std::string::npos);
  CHECK(r.err.find("line 3: expected a string field \"text\"") != std::string::npos);
  auto d = run_command(cmd + " --decode", "{\"ids\": [999999]}\n");
  CHECK(d.exit_code == 1);
  CHECK(d.err.find("line 1: ids[0]: token id 999999 is outside the vocabulary") != std::string::npos);
  // Ids past 32 bits are errors too, not their low bits (4294967368 = 2^32 + 72 once decoded as "H").
  auto wide = run_command(cmd + " --decode", "{\"ids\": [4294967368]}\n{\"ids\": [-1]}\n{\"ids\": [72]}\n");
  CHECK(wide.exit_code == 1);
  CHECK(wide.err.find("line 1: ids[0]: token id 4294967368 is outside") != std::string::npos);
  CHECK(wide.err.find("line 2: ids[0]: token id -1 is outside") != std::string::npos);
  CHECK(parse_lines(wide.out).size() == 1);
  auto missing = run_command(zeroth_binary() + " tokenize --tokenizer /nonexistent/dir", "");
  CHECK(missing.exit_code == 1);
  CHECK(missing.err.find("/nonexistent/dir") != std::string::npos);
  auto usage = run_command(zeroth_binary() + " tokenize", "");
  CHECK(usage.exit_code == 2);
}
