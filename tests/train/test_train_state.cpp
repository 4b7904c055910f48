// Training state: save -> load -> continue equals uninterrupted training bit for bit on CPU
// (fp32 and bf16-with-fp32-masters), atomic directory swap, NaN refusal, errors.
#include "support/catch.h"

#include <filesystem>
#include <limits>

#include <torch/torch.h>

#include "support/paths.h"
#include "zeroth/core/fs.h"
#include "zeroth/core/random.h"
#include "zeroth/train/checkpoints.h"
#include "zeroth/train/distributed.h"
#include "zeroth/train/optimizer.h"
#include "zeroth/train/schedule.h"
#include "zeroth/train/train_state.h"

using namespace zeroth;
using namespace zeroth::train;
using zeroth::testing::TempDir;

namespace {
constexpr int64_t kTotalSteps = 8;

OptimizerOptions options() {
  OptimizerOptions o;
  o.lr = 0.05;
  o.weight_decay = 0.1;
  o.max_grad_norm = 0.5;
  o.lr_scheduler = LrSchedule::Cosine;
  o.warmup_steps = 2;
  return o;
}

// One training step whose data depends on the torch CPU generator (randn) and on a SplitMix64
// data-order stream kept in the state, like the real loop.
double train_step(torch::nn::Linear& model, AdamW& opt, TrainState& state) {
  SplitMix64 order(state.rng["data_order"]);
  const double shift = static_cast<double>(order.below(5));
  state.rng["data_order"] = order.state();
  auto x = torch::randn({6, 4}).to(model->weight.scalar_type());
  auto y = (torch::randn({6, 3}) + shift).to(model->weight.scalar_type());
  opt.zero_grad();
  auto loss = torch::mse_loss(model(x).to(torch::kFloat), y.to(torch::kFloat));
  loss.backward();
  opt.step(learning_rate_at(opt.options(), state.step, kTotalSteps));
  state.step += 1;
  state.data_position += 6;
  return loss.item<double>();
}

torch::nn::Linear make_model(uint64_t seed, torch::Dtype dtype) {
  torch::manual_seed(seed);
  torch::nn::Linear m(torch::nn::LinearOptions(4, 3));
  m->to(dtype);
  return m;
}
}  // namespace

TEST_CASE("train state: save, load and continue equals uninterrupted training bit for bit", "[train][train_state]") {
  auto dtype = GENERATE(torch::kFloat, torch::kBFloat16);
  INFO("dtype " << dtype);
  TempDir tmp;
  const std::string dir = tmp.file("checkpoints/state");

  // Uninterrupted: kTotalSteps steps.
  std::vector<double> losses_a;
  auto a = make_model(1, dtype);
  AdamW opt_a(*a, options());
  TrainState state_a;
  state_a.rng["data_order"] = 42;
  torch::manual_seed(100);
  for (int64_t s = 0; s < kTotalSteps; ++s) losses_a.push_back(train_step(a, opt_a, state_a));

  // Interrupted: half, save, then a fresh process-like restart.
  std::vector<double> losses_b;
  {
    auto b = make_model(1, dtype);
    AdamW opt_b(*b, options());
    TrainState state_b;
    state_b.rng["data_order"] = 42;
    torch::manual_seed(100);
    for (int64_t s = 0; s < kTotalSteps / 2; ++s) losses_b.push_back(train_step(b, opt_b, state_b));
    state_b.extra["note"] = "half way";
    save_train_state(dir, state_b, opt_b);
    // Training past the save (lost when the run is killed) must not matter.
    train_step(b, opt_b, state_b);
  }
  torch::manual_seed(999);  // a restarted process has other RNG state and other initial weights
  (void)torch::randn({100});
  auto c = make_model(7, dtype);
  AdamW opt_c(*c, options());
  REQUIRE(has_train_state(dir));
  TrainState state_c = load_train_state(dir, opt_c);
  REQUIRE(state_c.step == kTotalSteps / 2);
  REQUIRE(state_c.data_position == 6 * kTotalSteps / 2);
  REQUIRE(state_c.extra["note"] == "half way");
  REQUIRE(opt_c.num_steps() == kTotalSteps / 2);
  for (int64_t s = kTotalSteps / 2; s < kTotalSteps; ++s) losses_b.push_back(train_step(c, opt_c, state_c));

  REQUIRE(losses_a.size() == losses_b.size());
  for (size_t i = 0; i < losses_a.size(); ++i) {
    INFO("step " << i);
    REQUIRE(losses_a[i] == losses_b[i]);  // exact
  }
  REQUIRE(torch::equal(a->weight, c->weight));
  REQUIRE(torch::equal(a->bias, c->bias));
  REQUIRE(state_a.rng["data_order"] == state_c.rng["data_order"]);
  auto sa = opt_a.state_tensors(), sc = opt_c.state_tensors();
  for (size_t i = 0; i < sa.size(); ++i) REQUIRE(torch::equal(sa[i].second, sc[i].second));
  // The loss did go down, so the comparison is not between two stuck runs.
  REQUIRE(losses_a.back() < losses_a.front());

  // Control: without restoring the generator the continued run draws other data and diverges.
  torch::manual_seed(999);
  auto d = make_model(7, dtype);
  AdamW opt_d(*d, options());
  TrainState state_d = load_train_state(dir, opt_d, /*restore_rng=*/false);
  REQUIRE(train_step(d, opt_d, state_d) != losses_a[kTotalSteps / 2]);
}

TEST_CASE("train state: a second save replaces the first atomically, NaN state is refused", "[train][train_state]") {
  TempDir tmp;
  const std::string dir = tmp.file("state");
  auto m = make_model(1, torch::kFloat);
  AdamW opt(*m, options());
  TrainState st;
  st.step = 1;
  save_train_state(dir, st, opt);
  st.step = 2;
  st.rng["big"] = std::numeric_limits<uint64_t>::max();
  save_train_state(dir, st, opt);
  REQUIRE_FALSE(std::filesystem::exists(dir + ".tmp"));
  REQUIRE_FALSE(std::filesystem::exists(dir + ".old"));
  auto loaded = load_train_state(dir, opt);
  REQUIRE(loaded.step == 2);
  REQUIRE(loaded.rng["big"] == std::numeric_limits<uint64_t>::max());

  // A crash between the two renames leaves only DIR.old: it is still found.
  std::filesystem::rename(dir, dir + ".old");
  REQUIRE(has_train_state(dir));
  REQUIRE(load_train_state(dir, opt).step == 2);
  std::filesystem::rename(dir + ".old", dir);

  // NaN in the weights (hence the masters): refuse, keep the previous state.
  {
    torch::NoGradGuard ng;
    m->weight[0][0] = std::numeric_limits<float>::quiet_NaN();
  }
  st.step = 3;
  REQUIRE_THROWS_WITH(save_train_state(dir, st, opt),
                      Catch::Contains("refusing to write") && Catch::Contains("master.weight") && Catch::Contains("NaN"));
  {
    torch::NoGradGuard ng;
    m->weight[0][0] = 0.0f;
  }
  REQUIRE(load_train_state(dir, opt).step == 2);
}

TEST_CASE("train state: loading into another model or from nothing is a clear error", "[train][train_state]") {
  TempDir tmp;
  auto m = make_model(1, torch::kFloat);
  AdamW opt(*m, options());
  REQUIRE_THROWS_WITH(load_train_state(tmp.file("none"), opt), Catch::Contains("no training state"));
  save_train_state(tmp.file("s"), TrainState{}, opt);
  torch::nn::Linear other(torch::nn::LinearOptions(4, 5));
  AdamW opt_other(*other, options());
  REQUIRE_THROWS_WITH(load_train_state(tmp.file("s"), opt_other),
                      Catch::Contains("optimizer.safetensors") && Catch::Contains("master.weight") && Catch::Contains("shape"));
  write_file_atomic(tmp.file("s/train_state.json"), R"({"format": "something else", "version": 1})");
  REQUIRE_THROWS_WITH(load_train_state(tmp.file("s"), opt), Catch::Contains("train_state.json: format"));
}

TEST_CASE("truncate_metrics_after: later steps go; at the last checkpoint its evaluation lines go too",
          "[train][checkpoint]") {
  TempDir dir;
  const std::string path = dir.file("metrics.jsonl");
  const std::string lines = R"({"step": 1, "loss": 0.5})" "\n" R"({"step": 2, "loss": 0.4})" "\n"
                            R"({"step": 2, "eval/accuracy": 0.3})" "\n" R"({"step": 3, "loss": 0.3})" "\n"
                            R"({"step": 3, "eval/acc)";  // torn by a kill
  write_file_atomic(path, lines);
  truncate_metrics_after(path, 2);
  REQUIRE(read_file(path) == R"({"step": 1, "loss": 0.5})" "\n" R"({"step": 2, "loss": 0.4})" "\n"
                             R"({"step": 2, "eval/accuracy": 0.3})" "\n");
  truncate_metrics_after(path, 2, /*drop_eval_at_step=*/true);
  REQUIRE(read_file(path) == R"({"step": 1, "loss": 0.5})" "\n" R"({"step": 2, "loss": 0.4})" "\n");
}

TEST_CASE("checkpoints: an unfinished step-N.tmp of an earlier run is removed; the schedule saves by steps",
          "[train][checkpoint]") {
  TempDir dir;
  write_file_atomic(dir.file("checkpoints/step-4.tmp/state/optimizer.safetensors"), "half");
  write_file_atomic(dir.file("checkpoints/step-3/keep"), "done");
  Checkpoints checkpoints(dir.file("checkpoints"));
  REQUIRE_FALSE(std::filesystem::exists(dir.file("checkpoints/step-4.tmp")));
  REQUIRE(std::filesystem::exists(dir.file("checkpoints/step-3/keep")));

  Distributed single;
  CheckpointSchedule every_three(3, /*save_minutes=*/0);
  std::vector<int64_t> saved;
  for (int64_t step = 1; step <= 10; ++step) {
    if (every_three.due(step, 10, single)) saved.push_back(step);
  }
  REQUIRE(saved == std::vector<int64_t>{3, 6, 9, 10});
  CheckpointSchedule by_time(0, /*save_minutes=*/1e-9);  // always late
  REQUIRE(by_time.due(1, 10, single));
  CheckpointSchedule off(0, 0);
  REQUIRE_FALSE(off.due(1, 10, single));
  REQUIRE(off.due(10, 10, single));
}
