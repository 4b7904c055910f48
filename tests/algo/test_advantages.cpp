// Advantage estimators against values computed by hand in the comments.
#include "support/catch.h"

#include <cmath>
#include <limits>

#include <torch/torch.h>

#include "support/tensor_asserts.h"
#include "zeroth/algo/advantages.h"
#include "zeroth/core/json.h"

using namespace zeroth;
using namespace zeroth::algo;
using zeroth::testing::require_close;

namespace {
const double kNaN = std::numeric_limits<double>::quiet_NaN();
AdvantageOptions with(AdvantageEstimator e) {
  AdvantageOptions o;
  o.estimator = e;
  return o;
}
AdvantageOptions parse(const std::string& text) {
  return AdvantageOptions::from_json(JsonReader::owning(parse_json(text, "recipe.json"), "recipe.json"));
}
}  // namespace

TEST_CASE("grpo advantages: z-score with the sample std within each group, not across", "[algo][advantages]") {
  auto r = torch::tensor({1.0, 0.0, 0.0, 1.0, 1.0, 1.0}, torch::kDouble);  // N=2, G=3
  auto res = compute_advantages(r, 3, with(AdvantageEstimator::Grpo));
  // group 0: mean 1/3, sample var ((2/3)^2 + 2 (1/3)^2) / 2 = 1/3, std 0.5773503;
  // (2/3) / (0.5773503 + 1e-6) = 1.1546985, (-1/3) / 0.5773513 = -0.5773493. group 1: constant -> 0.
  require_close(res.advantages, torch::tensor({1.1546985, -0.5773493, -0.5773493, 0.0, 0.0, 0.0}), 1e-6);
  REQUIRE(res.advantages.scalar_type() == torch::kDouble);
  require_close(res.group_mean, torch::tensor({1.0 / 3.0, 1.0}, torch::kDouble), 1e-12);
  require_close(res.group_std, torch::tensor({std::sqrt(1.0 / 3.0), 0.0}, torch::kDouble), 1e-12);
  REQUIRE(res.num_groups == 2);
  REQUIRE(res.num_zero_std == 1);
  REQUIRE(res.frac_zero_std == Approx(0.5));
  REQUIRE(res.zero_std[0].item<bool>() == false);
  REQUIRE(res.zero_std[1].item<bool>() == true);
}

TEST_CASE("grpo advantages: epsilon is added to the std, and [N, G] input keeps its shape", "[algo][advantages]") {
  auto r = torch::tensor({{2.0f, 0.0f}});  // mean 1, sample std sqrt(2) = 1.4142136
  AdvantageOptions o;
  o.epsilon = 0.5;
  auto res = compute_advantages(r, 2, o);
  REQUIRE(res.advantages.sizes() == r.sizes());
  REQUIRE(res.advantages.scalar_type() == torch::kFloat);
  // 1 / (1.4142136 + 0.5) = 0.5224077
  require_close(res.advantages, torch::tensor({{0.5224077f, -0.5224077f}}), 1e-6);
}

TEST_CASE("dr_grpo advantages: mean-centred, no std", "[algo][advantages]") {
  auto r = torch::tensor({1.0, 0.0, 0.0, 5.0, 1.0, 3.0});
  auto res = compute_advantages(r, 3, with(AdvantageEstimator::DrGrpo));
  // group 0 mean 1/3; group 1 mean 3
  require_close(res.advantages, torch::tensor({2.0 / 3, -1.0 / 3, -1.0 / 3, 2.0, -2.0, 0.0}), 1e-6);
}

TEST_CASE("batch_std advantages: group mean, std of all rewards of the batch", "[algo][advantages]") {
  auto r = torch::tensor({1.0, 0.0, 0.0, 1.0, 1.0, 1.0});
  auto res = compute_advantages(r, 3, with(AdvantageEstimator::BatchStd));
  // batch mean 2/3; sample var (4 (1/3)^2 + 2 (2/3)^2) / 5 = 4/15; std 0.5163978
  // group 0: (2/3) / (0.5163978 + 1e-6) = 1.2909919, -0.6454960; group 1: 0
  require_close(res.advantages, torch::tensor({1.2909919, -0.6454960, -0.6454960, 0.0, 0.0, 0.0}), 1e-6);
}

TEST_CASE("rloo advantages: reward minus the mean of the others", "[algo][advantages]") {
  auto r = torch::tensor({1.0, 0.0, 0.0, 0.0, 2.0, 4.0, 0.0, 6.0});  // N=2, G=4
  auto res = compute_advantages(r, 4, with(AdvantageEstimator::Rloo));
  // group 0: 1 - 0 = 1; 0 - 1/3 each. group 1: 2 - 10/3 = -4/3; 4 - 8/3 = 4/3; 0 - 4 = -4; 6 - 2 = 4
  require_close(res.advantages, torch::tensor({1.0, -1.0 / 3, -1.0 / 3, -1.0 / 3, -4.0 / 3, 4.0 / 3, -4.0, 4.0}), 1e-6);
}

TEST_CASE("reinforce_plus_plus_baseline: group-centred, then whitened over the batch", "[algo][advantages]") {
  auto r = torch::tensor({1.0, 0.0, 1.0, 1.0});  // N=2, G=2: centred 0.5, -0.5, 0, 0
  auto res = compute_advantages(r, 2, with(AdvantageEstimator::ReinforcePlusPlusBaseline));
  // weights 1: mean 0, unbiased var (0.25 + 0.25) / 3 = 1/6 -> 0.5 / sqrt(1/6 + 1e-8) = 1.2247449
  require_close(res.advantages, torch::tensor({1.2247449, -1.2247449, 0.0, 0.0}), 1e-6);

  // Token-weighted (verl whitens over tokens): lengths 1, 3, 2, 2, W = 8;
  // mean (0.5 - 1.5) / 8 = -1/8; shifted 0.625, -0.375, 0.125, 0.125;
  // var (0.390625 + 3 * 0.140625 + 4 * 0.015625) / 7 = 0.125, std 0.3535534
  auto lengths = torch::tensor({1, 3, 2, 2});
  auto w = compute_advantages(r, 2, with(AdvantageEstimator::ReinforcePlusPlusBaseline), {}, lengths);
  require_close(w.advantages, torch::tensor({1.7677669, -1.0606602, 0.3535534, 0.3535534}), 1e-5);
}

TEST_CASE("unscorable completions are left out of the baseline and get advantage 0", "[algo][advantages]") {
  // group 0: index 1 is NaN (TRL None), index 3 flagged by the mask -> scorable {1, 0}: mean 0.5,
  // sample std sqrt(0.5) = 0.7071068 -> +-0.5 / 0.7071078 = +-0.7071058.
  // group 1: one scorable reward -> no relative signal -> zeros, counted in frac_zero_std.
  auto r = torch::tensor({1.0, kNaN, 0.0, 0.5, 1.0, kNaN, kNaN, kNaN});
  auto mask = torch::tensor({false, false, false, true, false, false, false, false});
  auto res = compute_advantages(r, 4, with(AdvantageEstimator::Grpo), mask);
  require_close(res.advantages, torch::tensor({0.7071058, 0.0, -0.7071058, 0.0, 0.0, 0.0, 0.0, 0.0}), 1e-6);
  REQUIRE(res.num_unscorable == 5);  // indices 1, 3, 5, 6, 7
  REQUIRE(res.num_zero_std == 1);
  require_close(res.group_mean, torch::tensor({0.5, 1.0}), 1e-12);

  auto rloo = compute_advantages(r, 4, with(AdvantageEstimator::Rloo), mask);
  // RLOO over {1, 0}: 1 - 0 = 1, 0 - 1 = -1
  require_close(rloo.advantages, torch::tensor({1.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0}), 1e-12);
  REQUIRE_FALSE(rloo.advantages.isnan().any().item<bool>());
}

TEST_CASE("compute_advantages: bad shapes and group sizes are errors", "[algo][advantages]") {
  REQUIRE_THROWS_WITH(compute_advantages(torch::tensor({1.0, 2.0}), 1, {}), Catch::Contains("at least 2 completions"));
  REQUIRE_THROWS_WITH(compute_advantages(torch::tensor({1.0, 2.0, 3.0}), 2, {}), Catch::Contains("not [N*G] or [N, G]"));
  REQUIRE_THROWS_WITH(compute_advantages(torch::tensor({1, 2}), 2, {}), Catch::Contains("floating-point"));
}

TEST_CASE("AdvantageOptions::from_json: names, aliases and errors", "[algo][advantages]") {
  REQUIRE(parse("{}").estimator == AdvantageEstimator::Grpo);
  REQUIRE(parse("{}").epsilon == 1e-6);
  REQUIRE(parse(R"({"estimator": "batch"})").estimator == AdvantageEstimator::BatchStd);
  REQUIRE(parse(R"({"estimator": "none"})").estimator == AdvantageEstimator::DrGrpo);
  REQUIRE(parse(R"({"estimator": "rloo", "epsilon": 1e-4})").epsilon == 1e-4);
  REQUIRE_THROWS_WITH(parse(R"({"estimator": "rlooo"})"), Catch::Contains("estimator") && Catch::Contains("did you mean \"rloo\""));
  REQUIRE_THROWS_WITH(parse(R"({"epsilonn": 1})"), Catch::Contains("epsilonn") && Catch::Contains("epsilon"));
  REQUIRE_THROWS_WITH(parse(R"({"epsilon": -1})"), Catch::Contains("epsilon: must be >= 0"));
}
