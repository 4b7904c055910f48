// Data parallelism over real processes: two zeroth_dist_worker processes (tests/train/dist_worker.cpp)
// with Gloo on 127.0.0.1 against one process with the same global batch; ZeRO-1 against the
// unsharded AdamW step computed here; a killed or stopped rank makes the other exit within the timeout.
#include "support/catch.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <thread>

#include <torch/torch.h>

#include "support/paths.h"
#include "zeroth/core/json.h"
#include "zeroth/core/safetensors.h"
#include "zeroth/train/distributed.h"
#include "zeroth/train/optimizer.h"

extern char** environ;

using namespace zeroth;
using Clock = std::chrono::steady_clock;

namespace {

// A port the kernel says is free now (bound to port 0, then released).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  socklen_t len = sizeof(addr);
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

// Starts the worker with `mode OUT` and extra environment entries; stderr goes to OUT/stderr_<tag>.
pid_t spawn_worker(const std::string& mode, const std::string& out, const std::map<std::string, std::string>& env,
                   const std::string& tag) {
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e) {
    std::string s = *e;
    const std::string key = s.substr(0, s.find('='));
    if (env.count(key) || key == "RANK" || key == "WORLD_SIZE" || key == "MASTER_ADDR" || key == "MASTER_PORT" ||
        key == "LOCAL_RANK" || key == "LOCAL_WORLD_SIZE" || key == "ZEROTH_DIST_TIMEOUT") {
      continue;
    }
    env_strings.push_back(s);
  }
  for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string exe = testing::test_path("dist_worker");
  std::vector<std::string> args = {exe, mode, out};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  const std::string err = out + "/stderr_" + tag;
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  const int rc = posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE(rc == 0);
  return pid;
}

// Waits up to `limit` for `pid`; returns its exit code, or -1 (killed by a signal), or -2 after
// the limit (the process is then killed).
int wait_for(pid_t pid, std::chrono::duration<double> limit) {
  const auto start = Clock::now();
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (Clock::now() - start > limit) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -2;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::map<std::string, std::string> rank_env(int rank, int world, int port, int timeout_s = 60) {
  return {{"RANK", std::to_string(rank)},         {"WORLD_SIZE", std::to_string(world)},
          {"LOCAL_RANK", std::to_string(rank)},   {"LOCAL_WORLD_SIZE", std::to_string(world)},
          {"MASTER_ADDR", "127.0.0.1"},           {"MASTER_PORT", std::to_string(port)},
          {"ZEROTH_DIST_TIMEOUT", std::to_string(timeout_s)}, {"ZEROTH_LOG_LEVEL", "warn"}};
}

// Runs `mode` on two ranks into `out`; both must exit 0.
void run_two(const std::string& mode, const std::string& out) {
  const int port = free_port();
  pid_t p0 = spawn_worker(mode, out, rank_env(0, 2, port), "0");
  pid_t p1 = spawn_worker(mode, out, rank_env(1, 2, port), "1");
  const int r0 = wait_for(p0, std::chrono::seconds(120)), r1 = wait_for(p1, std::chrono::seconds(30));
  INFO("rank 0 stderr: " << slurp(out + "/stderr_0"));
  INFO("rank 1 stderr: " << slurp(out + "/stderr_1"));
  REQUIRE(r0 == 0);
  REQUIRE(r1 == 0);
}

void run_one(const std::string& mode, const std::string& out) {
  pid_t p = spawn_worker(mode, out, {{"ZEROTH_LOG_LEVEL", "warn"}}, "single");
  const int r = wait_for(p, std::chrono::seconds(120));
  INFO("stderr: " << slurp(out + "/stderr_single"));
  REQUIRE(r == 0);
}

std::map<std::string, at::Tensor> read_tensors(const std::string& path) {
  auto file = SafetensorsFile::open(path);
  std::map<std::string, at::Tensor> out;
  for (const auto& info : file->tensors()) out[info.name] = file->tensor(info.name);
  return out;
}

// Two "loop" workers (ranks 0 and 1) that have both joined the group and are training.
std::pair<pid_t, pid_t> start_looping_pair(const std::string& out, int port, int timeout_s) {
  pid_t p0 = spawn_worker("loop", out, rank_env(0, 2, port, timeout_s), "0");
  pid_t p1 = spawn_worker("loop", out, rank_env(1, 2, port, timeout_s), "1");
  const auto start = Clock::now();
  while (!std::filesystem::exists(out + "/ready_1") || !std::filesystem::exists(out + "/ready_0")) {
    REQUIRE(Clock::now() - start < std::chrono::seconds(60));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return {p0, p1};
}

}  // namespace

TEST_CASE("distributed: without launcher variables it is one process and every collective is a no-op", "[train][dist]") {
  train::Distributed d;
  CHECK(d.world() == 1);
  CHECK(d.rank() == 0);
  CHECK(d.is_main());
  CHECK_FALSE(d.active());
  CHECK(d.backend() == "none");
  CHECK(d.all_reduce_sum(2.5) == 2.5);
  std::vector<double> v{1, 2};
  d.all_reduce_sum(v);
  CHECK(v == std::vector<double>{1, 2});
  torch::nn::Linear lin(3, 2);
  lin->weight.mutable_grad() = torch::ones({2, 3});
  d.all_reduce_gradients(*lin);
  CHECK(torch::equal(lin->weight.grad(), torch::ones({2, 3})));
  CHECK_FALSE(lin->bias.grad().defined());  // no-op: nothing created
  d.barrier();
  // AdamW::shard on one process changes nothing.
  train::AdamW opt(*lin, {});
  opt.shard(d);
  CHECK(opt.owner("weight") == 0);
}

TEST_CASE("distributed: launcher variables are read and checked", "[train][dist]") {
  auto with_env = [](const std::map<std::string, std::string>& env, auto&& body) {
    for (const auto& [k, v] : env) ::setenv(k.c_str(), v.c_str(), 1);
    body();
    for (const auto& [k, v] : env) ::unsetenv(k.c_str());
  };
  with_env({{"RANK", "1"}, {"WORLD_SIZE", "4"}, {"MASTER_ADDR", "10.0.0.1"}, {"MASTER_PORT", "29511"},
            {"LOCAL_RANK", "1"}, {"LOCAL_WORLD_SIZE", "2"}, {"ZEROTH_DIST_TIMEOUT", "7"}},
           [] {
             auto o = train::DistributedOptions::from_env();
             CHECK(o.rank == 1);
             CHECK(o.world == 4);
             CHECK(o.local_rank == 1);
             CHECK(o.local_world == 2);
             CHECK(o.master_addr == "10.0.0.1");
             CHECK(o.master_port == 29511);
             CHECK(o.timeout == std::chrono::seconds(7));
           });
  with_env({{"RANK", "2"}, {"WORLD_SIZE", "2"}, {"MASTER_ADDR", "x"}, {"MASTER_PORT", "1"}},
           [] { CHECK_THROWS_WITH(train::DistributedOptions::from_env(), Catch::Contains("RANK=2 is not below WORLD_SIZE=2")); });
  with_env({{"RANK", "0"}, {"WORLD_SIZE", "2"}},
           [] { CHECK_THROWS_WITH(train::DistributedOptions::from_env(), Catch::Contains("MASTER_ADDR is not set")); });
  with_env({{"WORLD_SIZE", "two"}},
           [] { CHECK_THROWS_WITH(train::DistributedOptions::from_env(), Catch::Contains("WORLD_SIZE=\"two\": expected an integer")); });
  with_env({{"ZEROTH_DIST_TIMEOUT", "0"}},
           [] { CHECK_THROWS_WITH(train::DistributedOptions::from_env(), Catch::Contains("ZEROTH_DIST_TIMEOUT")); });
}

TEST_CASE("distributed: SFT on 2 Gloo processes equals one process with the same global batch", "[train][dist]") {
  testing::TempDir one, two;
  run_one("sft", one.path());
  run_two("sft", two.path());
  auto a = read_tensors(one.path() + "/weights.safetensors");
  auto b = read_tensors(two.path() + "/weights.safetensors");
  REQUIRE(a.size() == b.size());
  REQUIRE(a.size() > 5);
  // The tiny model started from different weights on rank 1 (broadcast fixes it) and trained with
  // lr 1e-2: the weights moved, and they match the single process to fp32 rounding.
  for (const auto& [name, t] : a) {
    INFO(name);
    REQUIRE(b.count(name));
    CHECK(torch::allclose(t, b[name], /*rtol=*/1e-4, /*atol=*/2e-5));
  }
  // Only rank 0 wrote metrics and the checkpoint.
  const std::string metrics = slurp(two.path() + "/run/metrics.jsonl");
  CHECK(std::count(metrics.begin(), metrics.end(), '\n') == 3);
  CHECK(std::filesystem::exists(two.path() + "/run/checkpoints/latest.json"));
  // The loss figures are global: the logged losses agree with the single process.
  const std::string single = slurp(one.path() + "/run/metrics.jsonl");
  auto first_loss = [](const std::string& text) { return Json::parse(text.substr(0, text.find('\n')))["loss"].get<double>(); };
  CHECK(first_loss(metrics) == Approx(first_loss(single)).epsilon(1e-5));
}

TEST_CASE("distributed: GRPO on 2 Gloo processes: disjoint groups, global metrics, identical weights", "[train][dist]") {
  testing::TempDir dir;
  const std::string out = dir.path();
  run_two("grpo", out);
  // Both ranks end with the same weights (ZeRO-1 broadcasts), which moved from rank 0's init.
  auto w0 = read_tensors(out + "/weights_0.safetensors"), w1 = read_tensors(out + "/weights_1.safetensors");
  REQUIRE(w0.size() == w1.size());
  for (const auto& [name, t] : w0) {
    INFO(name);
    CHECK(torch::equal(t, w1[name]));
  }
  // Rank 0 alone wrote the metrics: one line per step, with the global group count.
  std::vector<Json> lines;
  std::istringstream in(slurp(out + "/run/metrics.jsonl"));
  for (std::string line; std::getline(in, line);) lines.push_back(Json::parse(line));
  REQUIRE(lines.size() == 2);
  for (const auto& m : lines) {
    CHECK(m["world_size"].get<int>() == 2);
    CHECK(m["groups"].get<double>() == 4);  // 2 per rank, refilled by dynamic sampling or kept on the last round
    CHECK(m["reward_mean"].get<double>() >= 0.0);
  }
  CHECK(std::filesystem::exists(out + "/run/samples.jsonl"));
  CHECK(std::filesystem::exists(out + "/run/checkpoints/latest.json"));
}

TEST_CASE("distributed: ZeRO-1 AdamW over 2 processes equals the unsharded step", "[train][dist]") {
  testing::TempDir dir;
  const std::string out = dir.path();
  run_two("zero1", out);
  // Each rank owns a non-empty part; together every parameter once.
  auto owned0 = Json::parse(slurp(out + "/rank_0.json"))["owned"], owned1 = Json::parse(slurp(out + "/rank_1.json"))["owned"];
  CHECK(owned0.size() > 0);
  CHECK(owned1.size() > 0);
  CHECK(owned0.size() + owned1.size() == 5);
  for (const auto& n : owned0) CHECK(std::find(owned1.begin(), owned1.end(), n) == owned1.end());

  // The same 4 steps unsharded, with each step's gradient the sum of the two ranks' (as the worker
  // defines them: seed 1000 step + 10 k + rank).
  struct Toy : torch::nn::Module {
    Toy() {
      torch::manual_seed(3);
      register_parameter("a_weight", torch::randn({8, 6}));
      register_parameter("b_weight", torch::randn({5, 4}));
      register_parameter("c_bias", torch::randn({7}));
      register_parameter("d_weight", torch::randn({3, 3}).to(torch::kBFloat16));
      register_parameter("e_weight", torch::randn({10, 2}));
    }
  } toy;
  train::OptimizerOptions o;
  o.lr = 0.05;
  o.weight_decay = 0.1;
  o.max_grad_norm = 2.0;
  train::AdamW opt(toy, o);
  double first_norm = 0;
  for (int step = 0; step < 4; ++step) {
    opt.zero_grad();
    int k = 0;
    for (auto& p : toy.parameters()) {
      torch::Tensor sum;
      for (int rank = 0; rank < 2; ++rank) {
        torch::manual_seed(1000 * step + 10 * k + rank);
        auto g = torch::randn(p.sizes()).to(p.scalar_type()).to(torch::kFloat);
        sum = sum.defined() ? sum + g : g;
      }
      p.mutable_grad() = sum.to(p.scalar_type());
      ++k;
    }
    auto r = opt.step(o.lr);
    if (step == 0) first_norm = r.grad_norm;
  }
  CHECK(first_norm > 2.0);  // clipping was active
  auto sharded = read_tensors(out + "/params.safetensors");
  for (const auto& p : toy.named_parameters()) {
    INFO(p.key());
    REQUIRE(sharded.count(p.key()));
    CHECK(torch::allclose(p.value().to(torch::kFloat), sharded[p.key()].to(torch::kFloat), 1e-5, 1e-6));
  }
  // The gathered checkpoint holds every parameter's state.
  auto state = read_tensors(out + "/state.safetensors");
  CHECK(state.size() == 15);
}

TEST_CASE("distributed: a killed rank makes the other exit non-zero within the timeout", "[train][dist]") {
  testing::TempDir dir;
  const std::string out = dir.path();
  const int port = free_port();
  const int timeout_s = 5;
  auto [p0, p1] = start_looping_pair(out, port, timeout_s);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ::kill(p1, SIGKILL);
  ::waitpid(p1, nullptr, 0);
  const auto killed = Clock::now();
  const int r0 = wait_for(p0, std::chrono::seconds(timeout_s + 10));
  const double seconds = std::chrono::duration<double>(Clock::now() - killed).count();
  const std::string err = slurp(out + "/stderr_0");
  INFO("rank 0 stderr: " << err);
  CHECK(r0 == 1);
  CHECK(seconds < timeout_s + 3);
  CHECK_THAT(err, Catch::Contains("failed on rank 0 of 2"));
}

TEST_CASE("distributed: a stopped (hung) rank makes the other exit non-zero within the timeout", "[train][dist]") {
  testing::TempDir dir;
  const std::string out = dir.path();
  const int port = free_port();
  const int timeout_s = 3;
  auto [p0, p1] = start_looping_pair(out, port, timeout_s);
  ::kill(p1, SIGSTOP);
  const auto stopped = Clock::now();
  const int r0 = wait_for(p0, std::chrono::seconds(timeout_s + 10));
  const double seconds = std::chrono::duration<double>(Clock::now() - stopped).count();
  ::kill(p1, SIGKILL);
  ::waitpid(p1, nullptr, 0);
  const std::string err = slurp(out + "/stderr_0");
  INFO("rank 0 stderr: " << err);
  CHECK(r0 == 1);
  CHECK(seconds < timeout_s + 3);
  CHECK_THAT(err, Catch::Contains("ZEROTH_DIST_TIMEOUT"));
}
