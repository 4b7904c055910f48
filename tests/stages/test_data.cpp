// Datasets for the stages: generators checked by the shipped verifiers, field mapping on the real
// GSM8K / MATH-500 files, the held-out split, and errors that name the line.
#include "support/catch.h"

#include <fstream>
#include <set>

#include "support/paths.h"
#include "zeroth/rewards/rule_set.h"
#include "zeroth/stages/data.h"
#include "zeroth/text/tokenizer.h"

using namespace zeroth;
using namespace zeroth::stages;

namespace {

DataSpec generator_spec(const std::string& name, Json params, int64_t n, double eval_fraction = 0.0) {
  DataSpec s;
  s.where = "test.data";
  s.generator = name;
  s.generator_params = std::move(params);
  s.num_examples = n;
  s.eval_fraction = eval_fraction;
  return s;
}

}  // namespace

TEST_CASE("data: countdown examples are solvable, their traces score 1 with the countdown rule set", "[stages][data]") {
  auto examples = load_examples(generator_spec("countdown", {{"count", 4}, {"max_number", 25}}, 200), Split::kAll);
  REQUIRE(examples.size() == 200);
  auto rules = rewards::RuleSet::load("countdown");
  for (const auto& e : examples) {
    INFO(e.dump());
    REQUIRE(e["numbers"].size() == 4);
    REQUIRE(e["target"].get<int64_t>() >= 1);
    REQUIRE(e["target"].get<int64_t>() <= 100);
    auto r = rules.score({e["response"].get<std::string>(), e});
    REQUIRE(r.components[0].second == Approx(1.0));  // accuracy: the equation uses each number once
  }
}

TEST_CASE("data: arithmetic traces are right, and carry_error_rate forgets a carry only where there is one",
          "[stages][data]") {
  auto rules = rewards::RuleSet::load("r1_math");
  auto clean = load_examples(generator_spec("arithmetic", {{"digits", 2}}, 300), Split::kAll);
  for (const auto& e : clean) {
    auto r = rules.score({e["response"].get<std::string>(), e});
    INFO(e.dump());
    REQUIRE(r.components[0].second == Approx(1.0));  // accuracy
    REQUIRE(r.components[1].second == Approx(1.0));  // strict R1 format
  }
  // 47+38 written out by hand: 7+8=15 carries 1 into 4+3+1=8.
  auto one = generate_examples("arithmetic", {{"digits", 2}}, 400, 7, "t");
  for (const auto& e : one) {
    if (e["question"] == "47+38") REQUIRE(e["response"] == "<think>\n7+8=15 4+3+1=8\n</think>\n<answer>\n85\n</answer>");
  }
  auto noisy = load_examples(generator_spec("arithmetic", {{"digits", 2}, {"carry_error_rate", 1.0}}, 300), Split::kAll);
  int wrong = 0;
  for (const auto& e : noisy) {
    const std::string q = e["question"];
    const int64_t a = std::stoll(q.substr(0, q.find('+'))), b = std::stoll(q.substr(q.find('+') + 1));
    const bool carry = (a % 10 + b % 10 >= 10) || (a / 10 + b / 10 + (a % 10 + b % 10 >= 10) >= 10);
    auto r = rules.score({e["response"].get<std::string>(), e});
    INFO(e.dump());
    REQUIRE(e["answer"] == std::to_string(a + b));            // the gold stays true
    REQUIRE((r.components[0].second == Approx(1.0)) == !carry);  // wrong exactly when a carry was forgotten
    wrong += carry;
  }
  REQUIRE(wrong > 50);
}

TEST_CASE("data: the held-out split is disjoint from the training split and stable", "[stages][data]") {
  auto spec = generator_spec("arithmetic", {{"digits", 3}}, 2000, 0.1);
  auto train = load_examples(spec, Split::kTrain);
  auto eval = load_examples(spec, Split::kEval);
  REQUIRE(train.size() + eval.size() == 2000);
  REQUIRE(eval.size() > 120);
  REQUIRE(eval.size() < 280);
  std::set<std::string> train_q;
  for (const auto& e : train) train_q.insert(e["question"]);
  for (const auto& e : eval) REQUIRE(train_q.count(e["question"]) == 0);
  // Drawing more examples keeps every earlier example on the same side.
  spec.num_examples = 3000;
  auto more = load_examples(spec, Split::kEval);
  for (size_t i = 0; i < eval.size(); ++i) REQUIRE(more[i] == eval[i]);
}

TEST_CASE("data: GSM8K and MATH-500 files map to question and answer", "[stages][data]") {
  DataSpec gsm;
  gsm.path = testing::test_data_path("datasets/gsm8k/test.jsonl");
  gsm.limit = 3;
  auto g = load_examples(gsm, Split::kAll);
  REQUIRE(g.size() == 3);
  REQUIRE(g[0]["answer"] == "18");  // "... #### 18"
  REQUIRE(g[0]["question"].get<std::string>().rfind("Janet", 0) == 0);
  REQUIRE(g[0]["solution"].get<std::string>().find("#### 18") != std::string::npos);

  DataSpec math;
  math.path = testing::test_data_path("datasets/math500/test.jsonl");
  math.limit = 1;
  auto m = load_examples(math, Split::kAll);
  REQUIRE(m[0]["question"].get<std::string>().rfind("Convert the point", 0) == 0);
  REQUIRE(m[0]["answer"].is_string());
}

TEST_CASE("data: bad lines and bad specs name the file, the line and the key", "[stages][data]") {
  testing::TempDir dir;
  const std::string path = dir.file("bad.jsonl");
  std::ofstream(path) << "{\"question\": \"1+1\", \"answer\": \"2\"}\n{\"text\": \"no question\"}\n";
  DataSpec s;
  s.path = path;
  REQUIRE_THROWS_WITH(load_examples(s, Split::kAll), Catch::Contains(path + ":2") && Catch::Contains("question_field"));

  Json spec = {{"generator", "arithmetc"}, {"num_examples", 10}};
  REQUIRE_THROWS_WITH(parse_data_spec(JsonReader(spec, "r.json", "stages[0].data")),
                      Catch::Contains("r.json") && Catch::Contains("did you mean \"arithmetic\""));
  Json both = {{"generator", "arithmetic"}, {"path", "x.jsonl"}, {"num_examples", 10}};
  REQUIRE_THROWS_WITH(parse_data_spec(JsonReader(both, "r.json", "stages[0].data")), Catch::Contains("exactly one"));
  Json typo = {{"generator", "arithmetic"}, {"num_exampels", 10}};
  REQUIRE_THROWS_WITH(parse_data_spec(JsonReader(typo, "r.json", "stages[0].data")), Catch::Contains("num_examples"));
}

TEST_CASE("data: prompt templates fill fields, r1_zero is the paper's template", "[stages][data]") {
  Json e = {{"question", "2+2"}, {"answer", "4"}};
  PromptSpec p = parse_prompt_spec(JsonReader(Json("Q: {question} A:"), "r.json", "prompt"));
  REQUIRE(render_prompt(p, e, nullptr) == "Q: 2+2 A:");
  PromptSpec r1 = parse_prompt_spec(JsonReader(Json{{"template", "r1_zero"}}, "r.json", "prompt"));
  std::string text = render_prompt(r1, e, nullptr);
  REQUIRE(text.find("User: 2+2. Assistant: <think>") != std::string::npos);
  PromptSpec missing = parse_prompt_spec(JsonReader(Json("{problem}"), "r.json", "prompt"));
  REQUIRE_THROWS_WITH(render_prompt(missing, e, nullptr), Catch::Contains("problem"));
}

TEST_CASE("data: chat prompts take tools and chat_template_kwargs as transformers does",
          "[stages][data]") {
  const Json example = Json::parse(R"({"question": "2+2?", "answer": "4"})");
  auto qwen = text::Tokenizer::from_file(testing::tokenizer_dir("qwen3"));
  Json spec_json = Json::parse(R"({"chat": true, "chat_template_kwargs": {"enable_thinking": false},
    "tools": [{"type": "function", "function": {"name": "add_numbers", "description": "Adds",
               "parameters": {"type": "object", "properties": {}}}}]})");
  PromptSpec spec = parse_prompt_spec(JsonReader(spec_json, "recipe.json", "stages[0].prompt"));
  const std::string with_tools = render_prompt(spec, example, &qwen);
  REQUIRE(with_tools.find("<tools>") != std::string::npos);
  REQUIRE(with_tools.find("add_numbers") != std::string::npos);
  REQUIRE(with_tools.find("<think>\n\n</think>") != std::string::npos);  // enable_thinking=false

  Json bad = Json::parse(R"({"template": "{question}", "date_string": "01 Jan 2025"})");
  REQUIRE_THROWS_WITH(parse_prompt_spec(JsonReader(bad, "recipe.json", "stages[0].prompt")),
                      Catch::Contains("stages[0].prompt") && Catch::Contains("need \"chat\": true"));
}

TEST_CASE("data: a chat prompt's date_string reaches the template (Llama 3's Today Date)", "[stages][data]") {
  auto llama = text::Tokenizer::from_file(testing::tokenizer_dir("llama3"));  // external test data
  Json spec_json = Json::parse(R"({"chat": true, "date_string": "01 Jan 2025"})");
  PromptSpec spec = parse_prompt_spec(JsonReader(spec_json, "recipe.json", "stages[0].prompt"));
  const Json example = Json::parse(R"({"question": "2+2?", "answer": "4"})");
  const std::string dated = render_prompt(spec, example, &llama);
  REQUIRE(dated.find("Today Date: 01 Jan 2025") != std::string::npos);
}
