// Atomic writes, metrics JSONL, seeding, device and dtype parsing.
#include "support/catch.h"

#include <filesystem>
#include <fstream>

#include <torch/torch.h>

#include "support/paths.h"
#include "zeroth/core/device.h"
#include "zeroth/core/fs.h"
#include "zeroth/core/metrics.h"
#include "zeroth/core/random.h"

using namespace zeroth;
using zeroth::testing::TempDir;

TEST_CASE("write_file_atomic: creates parents, replaces whole, leaves no temp files", "[core][fs]") {
  TempDir dir;
  std::string path = dir.file("a/b/c.txt");
  write_file_atomic(path, "first");
  REQUIRE(read_file(path) == "first");
  write_file_atomic(path, std::string(100000, 'x'));
  REQUIRE(read_file(path) == std::string(100000, 'x'));
  size_t entries = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.file("a/b"))) {
    (void)e;
    ++entries;
  }
  REQUIRE(entries == 1);
}

TEST_CASE("read_file: errors name the path", "[core][fs]") {
  TempDir dir;
  REQUIRE_THROWS_WITH(read_file(dir.file("nope")), Catch::Contains("nope") && Catch::Contains("cannot open"));
  REQUIRE_THROWS_WITH(read_file(dir.path()), Catch::Contains("is a directory"));
  REQUIRE_THROWS_WITH(require_directory(dir.file("nope"), "--model"), Catch::StartsWith("--model: "));
}

TEST_CASE("MetricsWriter: one JSON object per line, step first, NaN as null", "[core][metrics]") {
  TempDir dir;
  std::string path = dir.file("run/metrics.jsonl");
  {
    MetricsWriter w(path);
    w.write(1, Json{{"reward", 0.5}, {"kl", 0.01}});
    w.write(2, Json{{"reward", std::nan("")}});
  }
  std::ifstream in(path);
  std::string l1, l2, l3;
  std::getline(in, l1);
  std::getline(in, l2);
  REQUIRE_FALSE(std::getline(in, l3));
  REQUIRE(l1 == R"({"step":1,"reward":0.5,"kl":0.01})");
  REQUIRE(l2 == R"({"step":2,"reward":null})");
}

TEST_CASE("derive_seed: deterministic, and distinct for different parts", "[core][random]") {
  REQUIRE(derive_seed(42, {1, 2}) == derive_seed(42, {1, 2}));
  REQUIRE(derive_seed(42, {1, 2}) != derive_seed(42, {2, 1}));
  REQUIRE(derive_seed(42, {1}) != derive_seed(43, {1}));
  auto g1 = make_cpu_generator(7), g2 = make_cpu_generator(7);
  auto a = torch::rand({5}, g1), b = torch::rand({5}, g2);
  REQUIRE(torch::equal(a, b));
  SplitMix64 rng(1);
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(rng.below(7) < 7);
    double u = rng.uniform();
    REQUIRE((u >= 0.0 && u < 1.0));
  }
}

TEST_CASE("parse_device / parse_dtype: names users type", "[core][device]") {
  REQUIRE(parse_device("cpu").is_cpu());
  REQUIRE(parse_dtype("bf16") == torch::kBFloat16);
  REQUIRE(parse_dtype("fp32") == torch::kFloat);
  REQUIRE(parse_dtype("float16") == torch::kHalf);
  REQUIRE(dtype_name(torch::kBFloat16) == "bf16");
  REQUIRE_THROWS_WITH(parse_dtype("fp8"), Catch::Contains("unknown dtype \"fp8\""));
  REQUIRE_THROWS_WITH(parse_device("tpu"), Catch::Contains("\"tpu\""));
  if (!torch::cuda::is_available()) {
#ifdef ZEROTH_CUDA
    REQUIRE_THROWS_WITH(parse_device("cuda:0"), Catch::Contains("no usable CUDA device"));
#else
    REQUIRE_THROWS_WITH(parse_device("cuda:0"), Catch::Contains("built without CUDA"));
#endif
    REQUIRE(parse_device("auto").is_cpu());
  }
}
