// `zeroth bench KIND`: the table of benchmarks. Each prints one JSON object of figures on stdout
// (progress on stderr), so scripts/ can collect them side by side with the peers' figures.
#include <fstream>
#include <string>

#include "cli/commands.h"

namespace zeroth::cli {

int64_t peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;
  }
  return 0;
}

void add_bench_command(CLI::App& app) {
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks; each prints one JSON object of figures");
  bench->require_subcommand(1);
  add_bench_tokenizer_command(*bench);
  add_bench_model_command(*bench);
  add_bench_reward(*bench);
  add_bench_sampler_command(*bench);
  add_pending_command(*bench, "train", "One GRPO step split into sample / reward / train", 7);
}

}  // namespace zeroth::cli
