// `zeroth bench KIND`: the table of benchmarks. Each prints one JSON object of figures on stdout
// (progress on stderr), so scripts/ can collect them side by side with the peers' figures.
#include <fstream>
#include <string>

#include "cli/bench_common.h"
#include "cli/commands.h"
#include "zeroth/core/json.h"
#include "zeroth/model/checkpoint.h"
#include "zeroth/model/config.h"

namespace zeroth::cli {

int64_t peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return 0;
}

BenchModel load_bench_model(const std::string& config, const std::string& dir, c10::ScalarType dtype,
                            c10::Device device, uint64_t seed) {
  BenchModel b;
  if (!dir.empty()) {
    b.model = model::load_hf_model(dir, dtype, device);
    b.source = dir;
  } else {
    Json cfg_json = config.empty() ? model::qwen25_05b_config_json() : load_json(config);
    auto cfg = model::parse_model_config(JsonReader(cfg_json, config.empty() ? "qwen2.5-0.5b shape" : config));
    torch::manual_seed(seed);
    b.model = model::Transformer(cfg, torch::TensorOptions().dtype(dtype).device(device));
    model::init_weights(*b.model);
    b.source = config.empty() ? "random Qwen2.5-0.5B shape" : config;
  }
  return b;
}

void add_bench_command(CLI::App& app) {
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks; each prints one JSON object of figures");
  bench->require_subcommand(1);
  add_bench_tokenizer_command(*bench);
  add_bench_model_command(*bench);
  add_bench_reward(*bench);
  add_bench_sampler_command(*bench);
  add_bench_train_command(*bench);
}

}  // namespace zeroth::cli
