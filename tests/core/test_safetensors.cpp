// safetensors: round trips for every dtype, a file assembled byte by byte from the format
// description, the reference writer's exact byte layout, sharded checkpoints, and malformed files.
#include "support/catch.h"

#include <cstring>
#include <filesystem>

#include <torch/torch.h>

#include "support/paths.h"
#include "zeroth/core/fs.h"
#include "zeroth/core/safetensors.h"

using namespace zeroth;
using zeroth::testing::TempDir;

namespace {

// 8-byte little-endian length + header text + data bytes, exactly as the format describes.
std::string assemble(const std::string& header, const std::string& data) {
  std::string out;
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  return out + header + data;
}

std::string f32_bytes(std::initializer_list<float> values) {
  std::string out;
  for (float v : values) out.append(reinterpret_cast<const char*>(&v), 4);
  return out;
}

}  // namespace

TEST_CASE("safetensors: round trip of every dtype through a file", "[core][safetensors]") {
  TempDir dir;
  torch::manual_seed(0);
  NamedTensors tensors = {
      {"f64", torch::randn({3, 2}, torch::kDouble)},
      {"f32", torch::randn({4}, torch::kFloat)},
      {"f16", torch::randn({2, 2}).to(torch::kHalf)},
      {"bf16", torch::randn({5, 1}).to(torch::kBFloat16)},
      {"i64", torch::arange(-3, 3, torch::kLong)},
      {"i32", torch::arange(0, 7, torch::kInt)},
      {"i16", torch::tensor({-32768, 0, 32767}, torch::kShort)},
      {"i8", torch::tensor({-128, 5, 127}, torch::kChar)},
      {"u8", torch::tensor({0, 200, 255}, torch::kByte)},
      {"bool", torch::tensor({true, false, true})},
      {"empty", torch::zeros({0, 3})},
      {"scalar", torch::tensor(2.5)},
      {"strided", torch::arange(12, torch::kFloat).reshape({3, 4}).t()},  // non-contiguous input
  };
  std::string path = dir.file("all.safetensors");
  write_safetensors(path, tensors, {{"format", "pt"}});
  auto file = SafetensorsFile::open(path);
  REQUIRE(file->tensors().size() == tensors.size());
  REQUIRE(file->metadata().at("format") == "pt");
  for (const auto& [name, t] : tensors) {
    INFO(name);
    auto back = file->tensor(name);
    REQUIRE(back.scalar_type() == t.scalar_type());
    REQUIRE(back.sizes() == t.sizes());
    REQUIRE(torch::equal(back, t));
  }
  REQUIRE(std::string(st_dtype_name(file->info("bf16").dtype)) == "BF16");
}

TEST_CASE("safetensors: reads a file assembled byte by byte from the format description", "[core][safetensors]") {
  // Two tensors, offsets relative to the start of the data buffer, and metadata.
  std::string header =
      R"({"__metadata__":{"format":"pt"},"b":{"dtype":"I16","shape":[2],"data_offsets":[16,20]},)"
      R"("a":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]}})";
  std::string data = f32_bytes({1.0f, -2.0f, 0.5f, 3.0f});
  int16_t shorts[2] = {-7, 300};
  data.append(reinterpret_cast<const char*>(shorts), 4);
  auto file = SafetensorsFile::from_bytes(assemble(header, data), "hand.safetensors");
  REQUIRE(file->tensors().size() == 2);
  REQUIRE(file->tensors()[0].name == "a");  // ordered by offset
  auto a = file->tensor("a");
  REQUIRE(a.sizes() == torch::IntArrayRef({2, 2}));
  REQUIRE(torch::equal(a, torch::tensor({{1.0f, -2.0f}, {0.5f, 3.0f}})));
  REQUIRE(torch::equal(file->tensor("b"), torch::tensor({-7, 300}, torch::kShort)));
  REQUIRE_THROWS_WITH(file->tensor("c"), Catch::Contains("no tensor named \"c\""));
}

TEST_CASE("safetensors: writer output matches the reference layout byte for byte", "[core][safetensors]") {
  // One F32 tensor "attn.0" of shape [1,2,3] holding 0..5. Its header is exactly 64 bytes, so no
  // padding; the reference writes compact JSON with keys dtype, shape, data_offsets.
  std::string header = R"({"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}})";
  REQUIRE(header.size() == 64);
  std::string expected = assemble(header, f32_bytes({0, 1, 2, 3, 4, 5}));
  auto t = torch::arange(6, torch::kFloat).reshape({1, 2, 3});
  REQUIRE(serialize_safetensors({{"attn.0", t}}) == expected);

  // Shape [1,1,2,3] under "attn0" makes a 65-byte header: padded with 7 spaces to 72, so the data
  // starts 8-byte aligned.
  std::string header2 = R"({"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}})";
  REQUIRE(header2.size() == 65);
  std::string expected2 = assemble(header2 + std::string(7, ' '), f32_bytes({0, 1, 2, 3, 4, 5}));
  REQUIRE(serialize_safetensors({{"attn0", t.reshape({1, 1, 2, 3})}}) == expected2);

  // No tensors: "{}" padded to 8 bytes with spaces.
  REQUIRE(serialize_safetensors({}) == assemble("{}      ", ""));
}

TEST_CASE("safetensors: tensors are ordered by dtype size (largest first), then name", "[core][safetensors]") {
  NamedTensors tensors = {{"z_u8", torch::zeros({1}, torch::kByte)},
                          {"b_f32", torch::zeros({1})},
                          {"a_f32", torch::zeros({1})},
                          {"c_i64", torch::zeros({1}, torch::kLong)}};
  auto file = SafetensorsFile::from_bytes(serialize_safetensors(tensors), "order");
  std::vector<std::string> order;
  for (const auto& t : file->tensors()) order.push_back(t.name);
  REQUIRE(order == std::vector<std::string>{"c_i64", "a_f32", "b_f32", "z_u8"});
}

TEST_CASE("safetensors: sharded checkpoints with an index load as one", "[core][safetensors]") {
  TempDir dir;
  NamedTensors tensors;
  for (int i = 0; i < 6; ++i) tensors.push_back({"layer." + std::to_string(i), torch::full({256}, float(i))});
  // 1 KiB per tensor; 2.5 KiB shards -> 3 shards of 2 tensors.
  auto written = write_safetensors_sharded(dir.path(), tensors, 2560);
  REQUIRE(written.size() == 4);
  REQUIRE(std::filesystem::exists(dir.file("model-00001-of-00003.safetensors")));
  REQUIRE(std::filesystem::exists(dir.file("model.safetensors.index.json")));
  auto ckpt = SafetensorsCheckpoint::open_dir(dir.path());
  REQUIRE(ckpt.names().size() == 6);
  for (int i = 0; i < 6; ++i) REQUIRE(torch::equal(ckpt.tensor("layer." + std::to_string(i)), torch::full({256}, float(i))));

  // Small enough for one file: the index and shards are replaced by model.safetensors.
  TempDir single;
  write_safetensors_sharded(single.path(), tensors, 1 << 20);
  REQUIRE(std::filesystem::exists(single.file("model.safetensors")));
  REQUIRE(SafetensorsCheckpoint::open_dir(single.path()).names().size() == 6);
}

TEST_CASE("safetensors: an index naming a tensor its shard lacks is an error", "[core][safetensors]") {
  TempDir dir;
  write_safetensors(dir.file("part.safetensors"), {{"w", torch::zeros({2})}});
  write_file_atomic(dir.file("model.safetensors.index.json"),
                    R"({"weight_map": {"w": "part.safetensors", "missing": "part.safetensors"}})");
  REQUIRE_THROWS_WITH(SafetensorsCheckpoint::open_dir(dir.path()), Catch::Contains("\"missing\""));
  REQUIRE_THROWS_WITH(SafetensorsCheckpoint::open_dir(dir.file("nope")), Catch::Contains("no such directory"));
}

TEST_CASE("safetensors: malformed files are rejected with a clear message", "[core][safetensors]") {
  const std::string t4 = f32_bytes({1, 2, 3, 4});
  struct Case {
    const char* what;
    std::string bytes;
    const char* message;
  };
  std::string huge_len("\xff\xff\xff\xff\xff\xff\xff\x7f", 8);
  std::string past_end("\x40\x00\x00\x00\x00\x00\x00\x00{}", 10);
  std::vector<Case> cases = {
      {"empty file", "", "shorter than the 8-byte header size"},
      {"truncated size", std::string("\x08\x00\x00", 3), "shorter than the 8-byte header size"},
      {"header size beyond 100 MB", huge_len + "{}", "exceeds the 100 MB limit"},
      {"header size beyond file", past_end, "runs past the end of the file"},
      {"not JSON", assemble("{\"a\": nope}", ""), "not valid JSON"},
      {"not an object", assemble("[1,2]", ""), "does not start with '{'"},
      {"invalid UTF-8 in header", assemble("{\"\xff\":1}", ""), "not valid JSON"},
      {"unknown dtype", assemble(R"({"a":{"dtype":"F8","shape":[4],"data_offsets":[0,4]}})", "abcd"), "unsupported dtype \"F8\""},
      {"negative shape", assemble(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,16]}})", t4), "non-negative integers"},
      {"shape x dtype != bytes", assemble(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,16]}})", t4), "need 3 x 4 bytes"},
      {"offset past data", assemble(R"({"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]}})", t4), "past the end of the data"},
      {"end before begin", assemble(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", t4), "end before begin"},
      {"overlapping", assemble(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", t4), "overlap"},
      {"gap", assemble(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", t4), "leaving a gap"},
      {"trailing bytes", assemble(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", t4), "file holds 16"},
      {"duplicate names", assemble(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", t4), "duplicate tensor name \"a\""},
      {"missing offsets", assemble(R"({"a":{"dtype":"F32","shape":[4]}})", t4), "data_offsets must be"},
      {"shape overflow", assemble(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,16]}})", t4), "overflows"},
      {"metadata not strings", assemble(R"({"__metadata__":{"x":1}})", ""), "__metadata__.x must be a string"},
      {"unknown tensor field", assemble(R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16],"extra":1}})", t4), "unknown field \"extra\""},
  };
  REQUIRE(cases.size() >= 10);
  for (const auto& c : cases) {
    INFO(c.what);
    REQUIRE_THROWS_WITH(SafetensorsFile::from_bytes(c.bytes, "bad.safetensors"),
                        Catch::StartsWith("bad.safetensors: invalid safetensors file: ") && Catch::Contains(c.message));
  }
}

TEST_CASE("safetensors: open() errors name the path", "[core][safetensors]") {
  TempDir dir;
  REQUIRE_THROWS_WITH(SafetensorsFile::open(dir.file("missing.safetensors")), Catch::Contains("missing.safetensors"));
  write_file_atomic(dir.file("short.safetensors"), "abc");
  REQUIRE_THROWS_WITH(SafetensorsFile::open(dir.file("short.safetensors")), Catch::Contains("short.safetensors: invalid"));
}
