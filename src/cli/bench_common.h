// What the `zeroth bench` kinds that run a decoder share: the model they measure (a directory, or a
// random-init model of a config, by default the Qwen2.5-0.5B shape) and its name in the output.
#pragma once

#include <cstdint>
#include <string>

#include <torch/torch.h>

#include "zeroth/model/transformer.h"

namespace zeroth::cli {

struct BenchModel {
  model::Transformer model{nullptr};
  std::string source;  // "random Qwen2.5-0.5B shape", the config path, or the model directory
};

// `dir` non-empty: load that Hugging Face directory. Otherwise random-init the architecture of
// `config` (empty: the Qwen2.5-0.5B shape) with torch's generator seeded by `seed`.
BenchModel load_bench_model(const std::string& config, const std::string& dir, c10::ScalarType dtype,
                            c10::Device device, uint64_t seed);

}  // namespace zeroth::cli
