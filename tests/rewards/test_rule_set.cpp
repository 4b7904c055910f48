// Rule sets: the shipped files load and score as documented; bad files give errors naming the
// file and JSON path; batch scoring on a thread pool equals one-by-one scoring.
#include "support/catch.h"

#include <fstream>

#include "support/paths.h"
#include "zeroth/core/error.h"
#include "zeroth/core/json.h"
#include "zeroth/rewards/registry.h"
#include "zeroth/rewards/rule_set.h"

using namespace zeroth;
using namespace zeroth::rewards;
using zeroth::testing::TempDir;

namespace {
const char* kGood = "<think>\nhalf of one\n</think>\n<answer>\n\\boxed{\\frac{1}{2}}\n</answer>";
}

TEST_CASE("rule sets: shipped r1_math scores accuracy and format with its weights", "[rewards][rule_set]") {
  RuleSet rules = RuleSet::load("r1_math");
  CHECK(rules.name() == "r1_math");
  Json example = {{"answer", "0.5"}};
  RewardResult r = rules.score({kGood, example});
  REQUIRE(r.components.size() == 2);
  CHECK(r.components[0].first == "accuracy");
  CHECK(r.components[0].second == 1.0);
  CHECK(r.components[1].first == "format");
  CHECK(r.components[1].second == 1.0);
  CHECK(r.total == Approx(1.5));                         // 1.0 * 1 + 0.5 * 1
  RewardResult wrong = rules.score({"\\boxed{3}", example});
  CHECK(wrong.components[0].second == 0.0);
  CHECK(wrong.components[1].second == 0.0);
  CHECK(wrong.total == 0.0);
  Json no_gold = Json::object();
  RewardResult skipped = rules.score({kGood, no_gold});
  CHECK_FALSE(skipped.components[0].second.has_value());  // cannot judge: null, adds nothing
  CHECK(skipped.total == Approx(0.5));
  Json j = RuleSet::components_json(skipped);
  CHECK(j["accuracy"].is_null());
  CHECK(j["format"] == 1.0);
}

TEST_CASE("rule sets: every shipped set names accuracy and/or format", "[rewards][rule_set]") {
  for (const char* name : {"r1_math", "gsm8k", "countdown", "r1_format", "math_any"}) {
    INFO(name);
    RuleSet rules = RuleSet::load(name);
    bool named = false;
    for (const RuleComponent& c : rules.components()) named = named || c.name == "accuracy" || c.name == "format";
    CHECK(named);
  }
  // math_any reads an unboxed final answer from the last math span (Math-Verify's free-form extraction).
  RewardResult m = RuleSet::load("math_any").score({"Therefore $x \\geq 5$ is the solution.", Json{{"answer", "$x >= 5$"}}});
  CHECK(m.total == Approx(1.0));
  CHECK(RuleSet::load("r1_math").score({"Therefore $x \\geq 5$ is the solution.", Json{{"answer", "$x >= 5$"}}}).total == 0.0);
  Json gsm = {{"answer", "#### 72"}};
  RewardResult g = RuleSet::load("gsm8k").score({"so #### 72", gsm});
  CHECK(g.total == Approx(1.1));
  Json cd = {{"numbers", {1, 2, 3}}, {"target", 9}};
  RewardResult c = RuleSet::load("countdown").score({"<think>x</think> <answer>(1+2)*3</answer>", cd});
  CHECK(c.total == Approx(1.0));
  CHECK(c.components[1].second == 1.0);   // format reported, weight 0
  RewardResult f = RuleSet::load("r1_format").score({kGood, Json::object()});
  CHECK(f.total == 1.0);
}

TEST_CASE("rule sets: a custom file with a regex component and shaping", "[rewards][rule_set]") {
  TempDir dir;
  std::string path = dir.file("mine.json");
  std::ofstream(path) << R"({
    // comments are allowed
    "name": "mine",
    "components": [
      {"name": "accuracy", "verifier": "math", "weight": 2.0},
      {"name": "says_therefore", "verifier": "regex", "weight": 0.5, "params": {"pattern": "(?i)therefore"}},
      {"name": "short", "verifier": "cosine_length", "weight": 1.0, "params": {"max_length": 1000}}
    ]})";
  RuleSet rules = RuleSet::load(path);
  Json example = {{"answer", "7"}};
  RewardResult r = rules.score({"Therefore \\boxed{7}", example});
  CHECK(r.components[0].second == 2.0 / 2.0);
  CHECK(r.components[1].second == 1.0);
  double len = 19;  // "Therefore \boxed{7}" has 19 characters
  double cosine = 0.5 + 0.25 * (1 + std::cos(len / 1000 * M_PI));
  CHECK(r.components[2].second.value() == Approx(cosine));
  CHECK(r.total == Approx(2.0 + 0.5 + cosine));
}

TEST_CASE("rule sets: errors name the file, the JSON path and the fix", "[rewards][rule_set]") {
  TempDir dir;
  auto write = [&](const std::string& text) {
    std::string path = dir.file("bad.json");
    std::ofstream(path) << text;
    return path;
  };
  CHECK_THROWS_WITH(RuleSet::load(write(R"({"components": [{"name": "a", "verifier": "maths"}]})")),
                    Catch::Contains("bad.json") && Catch::Contains("maths") && Catch::Contains("did you mean \"math\""));
  CHECK_THROWS_WITH(RuleSet::load(write(R"({"components": [{"name": "a", "verifier": "math", "params": {"corect": 1}}]})")),
                    Catch::Contains("components[0].params") && Catch::Contains("corect"));
  CHECK_THROWS_WITH(RuleSet::load(write(R"({"components": [{"name": "a", "verifier": "regex", "params": {"pattern": "(a"}}]})")),
                    Catch::Contains("components[0].params.pattern") && Catch::Contains("invalid re2"));
  CHECK_THROWS_WITH(RuleSet::load(write(R"({"components": [{"name": "a", "verifier": "math", "weight": "1"}]})")),
                    Catch::Contains("components[0].weight"));
  CHECK_THROWS_WITH(RuleSet::load(write(R"({"components": []})")), Catch::Contains("components"));
  CHECK_THROWS_WITH(RuleSet::load(write(R"({"components": [{"name": "a", "verifier": "math"}, {"name": "a", "verifier": "format"}]})")),
                    Catch::Contains("duplicate component name"));
  CHECK_THROWS_WITH(RuleSet::load(write(R"({"components": [{"name": "a", "verifier": "math"}], "weights": 1})")),
                    Catch::Contains("weights"));
  CHECK_THROWS_WITH(RuleSet::load("r1_mth"), Catch::Contains("did you mean \"r1_math\""));
  CHECK_THROWS_WITH(RuleSet::load(write("{ not json")), Catch::Contains("bad.json"));
}

TEST_CASE("rule sets: batch scoring on threads equals one-by-one scoring, in order", "[rewards][rule_set]") {
  RuleSet rules = RuleSet::load("r1_math");
  std::vector<Json> examples;
  std::vector<std::string> completions;
  for (int i = 0; i < 2000; ++i) {
    examples.push_back({{"answer", std::to_string(i % 37)}});
    completions.push_back("<think>\nx\n</think>\n<answer>\n\\boxed{" + std::to_string(i % 41) + "}\n</answer>");
  }
  std::vector<RewardInput> inputs;
  for (size_t i = 0; i < examples.size(); ++i) inputs.emplace_back(completions[i], examples[i]);
  std::vector<RewardResult> batch = rules.score_batch(inputs, 4);
  REQUIRE(batch.size() == inputs.size());
  size_t correct = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    RewardResult one = rules.score(inputs[i]);
    REQUIRE(one.total == batch[i].total);
    bool expect = (i % 37) == (i % 41);
    REQUIRE(batch[i].components[0].second == (expect ? 1.0 : 0.0));
    correct += expect;
  }
  CHECK(correct > 0);
}

TEST_CASE("registry: built-ins, unknown names, and adding a verifier", "[rewards][registry]") {
  const VerifierRegistry& r = verifier_registry();
  for (const char* name : {"math", "gsm8k", "countdown", "choice", "format", "tag_count", "cosine_length", "overlong",
                           "repetition", "language", "regex"})
    CHECK(r.has(name));
  VerifierRegistry mine;
  struct Always : Verifier {
    std::optional<double> score(const RewardInput&) const override { return 0.25; }
  };
  mine.add("always", [](const JsonReader&) { return std::make_unique<Always>(); });
  Json params = Json::object();
  CHECK(mine.make("always", JsonReader(params, "t"))->score(RewardInput()) == 0.25);
  CHECK_THROWS_WITH(mine.add("always", [](const JsonReader&) { return std::make_unique<Always>(); }),
                    Catch::Contains("registered twice"));
}
