// AdamW against hand-computed updates and against torch::optim::AdamW + clip_grad_norm_, fp32
// master weights under a bf16 module, NaN skipping, the skip guard, schedules and options.
#include "support/catch.h"

#include <cmath>
#include <limits>

#include <torch/torch.h>

#include "support/tensor_asserts.h"
#include "zeroth/core/json.h"
#include "zeroth/train/optimizer.h"
#include "zeroth/train/schedule.h"

using namespace zeroth;
using namespace zeroth::train;
using zeroth::testing::require_close;

namespace {
// A module holding one named parameter.
struct One : torch::nn::Module {
  explicit One(torch::Tensor init, const std::string& name = "w") { w = register_parameter(name, init); }
  torch::Tensor w;
};
torch::Tensor state_of(const AdamW& opt, const std::string& name) {
  for (const auto& [n, t] : opt.state_tensors()) {
    if (n == name) return t;
  }
  FAIL("no state " << name);
  return {};
}
OptimizerOptions parse(const std::string& text) {
  return OptimizerOptions::from_json(JsonReader::owning(parse_json(text, "recipe.json"), "recipe.json"));
}
}  // namespace

TEST_CASE("AdamW: first step by hand (decoupled decay, bias-corrected moments)", "[train][optimizer]") {
  One m(torch::tensor({{1.0f, -2.0f}}));
  OptimizerOptions o;
  o.weight_decay = 0.1;
  o.max_grad_norm = 0;
  AdamW opt(m, o);
  m.w.mutable_grad() = torch::tensor({{0.5f, -4.0f}});
  auto r = opt.step(0.1);
  REQUIRE(r.applied());
  REQUIRE(r.grad_norm == Approx(std::sqrt(0.25 + 16.0)));
  // t = 1: m_hat = g, v_hat = g^2 -> update lr * g / (|g| + eps) = +-0.1; decay first: p * (1 - 0.01)
  // 1 * 0.99 - 0.1 = 0.89; -2 * 0.99 + 0.1 = -1.88
  require_close(m.w, torch::tensor({{0.89f, -1.88f}}), 1e-6);
  require_close(state_of(opt, "exp_avg.w"), torch::tensor({{0.05f, -0.4f}}), 1e-7);
  require_close(state_of(opt, "exp_avg_sq.w"), torch::tensor({{0.00025f, 0.016f}}), 1e-9);
  REQUIRE(opt.num_steps() == 1);
}

TEST_CASE("AdamW: global-norm clipping returns the pre-clip norm and scales the moments", "[train][optimizer]") {
  One m(torch::tensor({{0.0f, 0.0f}}));
  OptimizerOptions o;
  o.weight_decay = 0;
  o.max_grad_norm = 1.0;
  AdamW opt(m, o);
  m.w.mutable_grad() = torch::tensor({{3.0f, 4.0f}});
  auto r = opt.step(1e-3);
  REQUIRE(r.grad_norm == Approx(5.0));
  REQUIRE(r.clip_coef == Approx(1.0 / (5.0 + 1e-6)));
  // exp_avg = (1 - beta1) * g * coef = 0.1 * (0.6, 0.8)
  require_close(state_of(opt, "exp_avg.w"), torch::tensor({{0.06f, 0.08f}}), 1e-7);
}

TEST_CASE("AdamW: matches torch::optim::AdamW with clip_grad_norm_ bit for bit on fp32", "[train][optimizer]") {
  torch::manual_seed(3);
  torch::nn::Linear a(torch::nn::LinearOptions(5, 3));
  torch::nn::Linear b(torch::nn::LinearOptions(5, 3));
  {
    torch::NoGradGuard ng;
    b->weight.copy_(a->weight);
    b->bias.copy_(a->bias);
  }
  OptimizerOptions o;
  o.lr = 0.01;
  o.weight_decay = 0.05;
  o.beta2 = 0.99;
  o.max_grad_norm = 0.5;
  AdamW ours(*a, o);
  REQUIRE(ours.decays("weight"));
  REQUIRE_FALSE(ours.decays("bias"));
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::vector<torch::Tensor>{b->weight},
                      std::make_unique<torch::optim::AdamWOptions>(
                          torch::optim::AdamWOptions(0.01).betas({0.9, 0.99}).eps(1e-8).weight_decay(0.05)));
  groups.emplace_back(std::vector<torch::Tensor>{b->bias},
                      std::make_unique<torch::optim::AdamWOptions>(
                          torch::optim::AdamWOptions(0.01).betas({0.9, 0.99}).eps(1e-8).weight_decay(0.0)));
  torch::optim::AdamW reference(groups, torch::optim::AdamWOptions(0.01));
  for (int step = 0; step < 5; ++step) {
    auto x = torch::randn({8, 5});
    auto y = torch::randn({8, 3});
    ours.zero_grad();
    torch::mse_loss(a(x), y).backward();
    auto r = ours.step(0.01);
    reference.zero_grad();
    torch::mse_loss(b(x), y).backward();
    double norm = torch::nn::utils::clip_grad_norm_(b->parameters(), 0.5);
    reference.step();
    REQUIRE(r.grad_norm == Approx(norm).epsilon(1e-6));
    REQUIRE(torch::equal(a->weight, b->weight));
    REQUIRE(torch::equal(a->bias, b->bias));
  }
}

TEST_CASE("AdamW: NaN or Inf gradients skip the step and change nothing", "[train][optimizer]") {
  One m(torch::tensor({{1.0f, 2.0f}}));
  AdamW opt(m, OptimizerOptions{});
  m.w.mutable_grad() = torch::tensor({{0.1f, 0.2f}});
  REQUIRE(opt.step(0.1).applied());
  auto w = m.w.detach().clone();
  auto ea = state_of(opt, "exp_avg.w");
  m.w.mutable_grad() = torch::tensor({{std::numeric_limits<float>::quiet_NaN(), 0.2f}});
  auto r = opt.step(0.1);
  REQUIRE(r.status == StepStatus::SkippedNonFinite);
  REQUIRE(std::isnan(r.grad_norm));
  REQUIRE(torch::equal(m.w, w));
  REQUIRE(torch::equal(state_of(opt, "exp_avg.w"), ea));
  REQUIRE(opt.num_steps() == 1);
  m.w.mutable_grad() = torch::tensor({{std::numeric_limits<float>::infinity(), 0.2f}});
  REQUIRE_FALSE(opt.step(0.1).applied());
}

TEST_CASE("NonFiniteGuard: aborts after K consecutive skips, an applied step resets the count", "[train][optimizer]") {
  NonFiniteGuard guard(3);
  guard.record(false, 1);
  guard.record(false, 2);
  guard.record(true, 3);
  REQUIRE(guard.consecutive() == 0);
  guard.record(false, 4);
  guard.record(false, 5, "loss");
  REQUIRE(guard.total_skipped() == 4);
  REQUIRE_THROWS_WITH(guard.record(false, 6, "loss"),
                      Catch::Contains("training stopped at step 6") && Catch::Contains("3 consecutive steps had NaN/Inf loss") &&
                          Catch::Contains("max_consecutive_skips"));
}

TEST_CASE("AdamW: fp32 master weights keep updates a bf16 parameter cannot hold", "[train][optimizer]") {
  One m(torch::ones({1, 1}, torch::kBFloat16));
  OptimizerOptions o;
  o.weight_decay = 0;
  o.max_grad_norm = 0;
  AdamW opt(m, o);
  REQUIRE(opt.has_separate_masters());
  // A constant gradient makes each Adam update ~lr = 1e-4: far below bf16's spacing near 1 (2^-8).
  for (int i = 0; i < 10; ++i) {
    m.w.mutable_grad() = torch::ones({1, 1}, torch::kBFloat16);
    opt.step(1e-4);
  }
  REQUIRE(state_of(opt, "master.w").item<float>() == Approx(1.0 - 1e-3).epsilon(1e-5));
  REQUIRE(m.w.item<float>() == 1.0f);  // 0.999 rounds to 1 in bf16
  REQUIRE(m.w.scalar_type() == torch::kBFloat16);
  for (int i = 0; i < 40; ++i) {
    m.w.mutable_grad() = torch::ones({1, 1}, torch::kBFloat16);
    opt.step(1e-4);
  }
  // master 0.995 -> nearest bf16 is 0.99609375 (spacing 2^-8 below 1)
  REQUIRE(state_of(opt, "master.w").item<float>() == Approx(0.995).epsilon(1e-5));
  REQUIRE(m.w.item<float>() == 0.99609375f);
}

TEST_CASE("AdamW: weight decay skips norms, biases and 1-D parameters unless asked", "[train][optimizer]") {
  struct Net : torch::nn::Module {
    Net() {
      proj = register_module("proj", torch::nn::Linear(4, 4));
      embed = register_parameter("embed_tokens", torch::zeros({10, 4}));
      norm = register_parameter("input_layernorm_weight", torch::ones({4, 1}));
      scale = register_parameter("scale", torch::ones({4}));
    }
    torch::nn::Linear proj{nullptr};
    torch::Tensor embed, norm, scale;
  } net;
  AdamW opt(net, OptimizerOptions{});
  REQUIRE(opt.decays("proj.weight"));
  REQUIRE(opt.decays("embed_tokens"));
  REQUIRE_FALSE(opt.decays("proj.bias"));
  REQUIRE_FALSE(opt.decays("input_layernorm_weight"));
  REQUIRE_FALSE(opt.decays("scale"));
  OptimizerOptions all;
  all.decay_norms_and_biases = true;
  REQUIRE(AdamW(net, all).decays("proj.bias"));
  net.scale.set_requires_grad(false);
  auto names = AdamW(net, OptimizerOptions{}).parameter_names();
  REQUIRE(std::find(names.begin(), names.end(), "scale") == names.end());  // frozen: not optimized
}

TEST_CASE("learning_rate_at: warmup then constant, cosine, linear by hand", "[train][schedule]") {
  OptimizerOptions o;
  o.lr = 1.0;
  o.warmup_steps = 2;
  // constant: 0.5, 1, 1, ...
  REQUIRE(learning_rate_at(o, 0, 6) == Approx(0.5));
  REQUIRE(learning_rate_at(o, 1, 6) == Approx(1.0));
  REQUIRE(learning_rate_at(o, 5, 6) == Approx(1.0));
  o.lr_scheduler = LrSchedule::Cosine;  // p = (s - 2) / 4
  REQUIRE(learning_rate_at(o, 2, 6) == Approx(1.0));
  REQUIRE(learning_rate_at(o, 3, 6) == Approx(0.5 * (1 + std::cos(std::acos(-1.0) / 4))));  // 0.8535534
  REQUIRE(learning_rate_at(o, 4, 6) == Approx(0.5));
  REQUIRE(learning_rate_at(o, 5, 6) == Approx(0.1464466));
  REQUIRE(learning_rate_at(o, 60, 6) == Approx(0.0).margin(1e-12));  // past the end: the floor
  o.min_lr_ratio = 0.1;
  REQUIRE(learning_rate_at(o, 4, 6) == Approx(0.55));
  o.lr_scheduler = LrSchedule::Linear;
  o.min_lr_ratio = 0;
  REQUIRE(learning_rate_at(o, 3, 6) == Approx(0.75));
  REQUIRE(learning_rate_at(o, 5, 6) == Approx(0.25));
  o.warmup_steps = 0;
  o.warmup_ratio = 0.5;  // ceil(0.5 * 5) = 3
  REQUIRE(warmup_steps_for(o, 5) == 3);
  REQUIRE(learning_rate_at(o, 0, 5) == Approx(1.0 / 3));
}

TEST_CASE("OptimizerOptions::from_json: keys, defaults and errors", "[train][optimizer]") {
  auto d = parse("{}");
  REQUIRE(d.lr == 1e-6);
  REQUIRE(d.weight_decay == 0.01);
  REQUIRE(d.max_grad_norm == 1.0);
  REQUIRE(d.lr_scheduler == LrSchedule::Constant);
  auto o = parse(R"({"lr": 2e-5, "beta1": 0.8, "beta2": 0.95, "eps": 1e-6, "weight_decay": 0.1,
                     "decay_norms_and_biases": true, "max_grad_norm": 0, "max_consecutive_skips": 2,
                     "lr_scheduler": "cosine", "warmup_ratio": 0.03, "min_lr_ratio": 0.1})");
  REQUIRE(o.lr == 2e-5);
  REQUIRE(o.beta1 == 0.8);
  REQUIRE(o.beta2 == 0.95);
  REQUIRE(o.eps == 1e-6);
  REQUIRE(o.weight_decay == 0.1);
  REQUIRE(o.decay_norms_and_biases);
  REQUIRE(o.max_grad_norm == 0);
  REQUIRE(o.max_consecutive_skips == 2);
  REQUIRE(o.lr_scheduler == LrSchedule::Cosine);
  REQUIRE(o.warmup_ratio == 0.03);
  REQUIRE(o.min_lr_ratio == 0.1);
  REQUIRE_THROWS_WITH(parse(R"({"learning_rate": 1})"), Catch::Contains("learning_rate"));
  REQUIRE_THROWS_WITH(parse(R"({"lr_scheduler": "cosin"})"), Catch::Contains("did you mean \"cosine\""));
  REQUIRE_THROWS_WITH(parse(R"({"beta2": 1.0})"), Catch::Contains("beta2: must be in [0, 1)"));
  REQUIRE_THROWS_WITH(parse(R"({"warmup_steps": 5, "warmup_ratio": 0.1})"), Catch::Contains("not both"));
}

TEST_CASE("AdamW: the fused bf16 update equals the same arithmetic in fp32 torch ops", "[train][optimizer][kernels]") {
  // Two bf16 parameters (a 1-D one, not decayed), 300k elements so the fused loops split over
  // threads and blocks; clipping active; three steps. The expectation is computed here with
  // torch ops on fp32 copies, written from the AdamW formulas, not from the kernel. Run under every
  // ZEROTH_CPU_ISA level (kernels_train_isa_<level>): the generic, AVX2 and AVX-512 loops.
  // Tolerances: each element is ~10 fp32 operations (each within u = 2^-24 relative, FMA
  // contraction or not) on both sides, so masters agree to ~20 u |w| + the update's own rounding
  // (rtol and atol 1e-6 > 20 u = 1.2e-6 |w| for |w| < 1 and updates ~1e-3); the squared norm is a
  // sum of 300k squares in fp32 runs of 1024 added in double (gamma_64 per lane, 4e-6 relative),
  // so the norm, its square root, to 1e-5.
  torch::manual_seed(3);
  struct Two : torch::nn::Module {
    Two() {
      w = register_parameter("w", (torch::randn({300, 1000}) * 0.1).to(torch::kBFloat16));
      b = register_parameter("bias", torch::randn({777}).to(torch::kBFloat16));
    }
    torch::Tensor w, b;
  } m;
  OptimizerOptions o;
  o.weight_decay = 0.1;
  o.max_grad_norm = 1.0;
  AdamW opt(m, o);
  std::vector<torch::Tensor> master{m.w.detach().to(torch::kFloat), m.b.detach().to(torch::kFloat)};
  std::vector<torch::Tensor> exp_avg{torch::zeros_like(master[0]), torch::zeros_like(master[1])};
  std::vector<torch::Tensor> exp_avg_sq{torch::zeros_like(master[0]), torch::zeros_like(master[1])};
  const double lr = 1e-3, b1 = 0.9, b2 = 0.999;
  for (int step = 1; step <= 3; ++step) {
    std::vector<torch::Tensor> grads{torch::randn({300, 1000}).to(torch::kBFloat16), torch::randn({777}).to(torch::kBFloat16)};
    m.w.mutable_grad() = grads[0].clone();
    m.b.mutable_grad() = grads[1].clone();
    auto result = opt.step(lr);
    REQUIRE(result.applied());
    const double norm = std::sqrt(grads[0].to(torch::kDouble).pow(2).sum().item<double>() +
                                  grads[1].to(torch::kDouble).pow(2).sum().item<double>());
    REQUIRE(result.grad_norm == Approx(norm).epsilon(1e-5));
    const double coef = std::min(1.0, 1.0 / (norm + 1e-6));
    for (int i = 0; i < 2; ++i) {
      auto g = grads[i].to(torch::kFloat) * coef;
      if (i == 0) master[i].mul_(1.0 - lr * 0.1);  // the 1-D bias is not decayed
      exp_avg[i].mul_(b1).add_(g, 1.0 - b1);
      exp_avg_sq[i].mul_(b2).addcmul_(g, g, 1.0 - b2);
      auto denom = exp_avg_sq[i].sqrt() / std::sqrt(1.0 - std::pow(b2, step)) + 1e-8;
      master[i].addcdiv_(exp_avg[i], denom, -lr / (1.0 - std::pow(b1, step)));
    }
    require_close(state_of(opt, "master.w"), master[0], 1e-6, 1e-6);
    require_close(state_of(opt, "master.bias"), master[1], 1e-6, 1e-6);
    require_close(state_of(opt, "exp_avg_sq.w"), exp_avg_sq[0], 1e-6, 1e-12);
    // The bf16 parameter is its master rounded to nearest even, exactly as torch converts it.
    REQUIRE(torch::equal(m.w, state_of(opt, "master.w").to(torch::kBFloat16)));
    REQUIRE(torch::equal(m.b, state_of(opt, "master.bias").to(torch::kBFloat16)));
  }
  // A NaN anywhere skips the whole step and leaves everything as it was.
  auto before = state_of(opt, "master.w").clone();
  m.w.mutable_grad() = torch::zeros({300, 1000}, torch::kBFloat16);
  m.w.mutable_grad()[7][9] = std::numeric_limits<float>::quiet_NaN();
  m.b.mutable_grad() = torch::zeros({777}, torch::kBFloat16);
  REQUIRE_FALSE(opt.step(lr).applied());
  REQUIRE(torch::equal(state_of(opt, "master.w"), before));
}
