// Training on CUDA: a one-rank NCCL process group, and the tiny SFT -> GRPO recipe for two steps
// each through `zeroth run` on device cuda. Tag [gpu]: skipped (exit 77) without a CUDA device.
#include "support/catch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <torch/torch.h>

#include "gpu/gpu.h"
#include "model/tiny.h"
#include "support/paths.h"
#include "support/run_command.h"
#include "zeroth/core/json.h"
#include "zeroth/train/distributed.h"

using namespace zeroth;
using zeroth::testing::cuda0;
using zeroth::testing::max_abs_diff;

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

}  // namespace

TEST_CASE("a one-rank NCCL group runs all_reduce / broadcast / barrier", "[gpu][distributed]") {
  zeroth::testing::require_cuda();
  train::DistributedOptions o;
  o.force_group = true;
  o.master_addr = "127.0.0.1";
  o.master_port = free_port();
  o.timeout = std::chrono::milliseconds(60000);
  train::Distributed dist(o, cuda0());
  REQUIRE(dist.active());
  REQUIRE(dist.backend() == "nccl");

  auto t = torch::arange(6, torch::TensorOptions().dtype(torch::kFloat).device(cuda0()));
  dist.all_reduce_sum(t);  // one rank: the sum is the tensor itself
  CHECK(max_abs_diff(t, torch::arange(6, torch::kFloat)) == 0.0);
  auto b = torch::full({4}, 1.5, torch::TensorOptions().dtype(torch::kBFloat16).device(cuda0()));
  dist.all_reduce_sum(b);
  CHECK(max_abs_diff(b, torch::full({4}, 1.5)) == 0.0);
  dist.broadcast(t, 0);
  CHECK(max_abs_diff(t, torch::arange(6, torch::kFloat)) == 0.0);
  CHECK(dist.all_reduce_sum(2.5) == 2.5);
  dist.barrier();

  auto m = zeroth::testing::tiny_model("qwen2");
  m->to(cuda0());
  dist.broadcast_parameters(*m);
  auto ids = torch::randint(3, 300, {2, 8}, torch::TensorOptions().dtype(torch::kLong).device(cuda0()));
  m->forward(ids).logsumexp(-1).mean().backward();
  std::vector<torch::Tensor> before;
  for (const auto& p : m->parameters()) before.push_back(p.grad().clone());
  dist.all_reduce_gradients(*m);
  size_t i = 0;
  for (const auto& p : m->parameters()) CHECK(max_abs_diff(p.grad(), before[i++]) == 0.0);
}

TEST_CASE("two SFT and two GRPO steps of the tiny recipe run on CUDA", "[gpu][stages]") {
  zeroth::testing::require_cuda();
  zeroth::testing::TempDir dir;
  const std::string out = dir.file("run");
  auto r = zeroth::testing::run_command(
      "cd " + zeroth::testing::source_dir() + " && " + zeroth::testing::zeroth_binary() +
      " run recipes/tiny/sft_then_grpo.json --out " + out +
      " --set device=cuda --set sft.steps=2 --set sft.optimizer.warmup_steps=1 --set grpo.steps=2"
      " --set sft.eval.limit=8 --set grpo.eval.limit=8 --set eval.limit=8");
  INFO(r.err.substr(r.err.size() > 4000 ? r.err.size() - 4000 : 0));
  REQUIRE(r.exit_code == 0);
  Json summary = load_json(out + "/summary.json");
  REQUIRE(summary["stages"].size() == 3);
  for (const auto& s : summary["stages"]) REQUIRE(s["status"] == "done");
  Json recipe = load_json(out + "/recipe.json");
  REQUIRE(recipe["device"] == "cuda");
}
