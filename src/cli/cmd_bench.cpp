// `zeroth bench KIND`: the table of benchmarks. Each prints one JSON object of figures on stdout
// (progress on stderr), so scripts/ can collect them side by side with the peers' figures.
#include "cli/commands.h"

namespace zeroth::cli {

void add_bench_command(CLI::App& app) {
  CLI::App* bench = app.add_subcommand("bench", "Benchmarks; each prints one JSON object of figures");
  bench->require_subcommand(1);
  add_bench_tokenizer_command(*bench);
  add_pending_command(*bench, "model", "Prefill, decode and forward+backward of a decoder", 4);
  add_bench_reward(*bench);
  add_pending_command(*bench, "sampler", "Rollout prefill/decode tokens per second", 6);
  add_pending_command(*bench, "train", "One GRPO step split into sample / reward / train", 7);
}

}  // namespace zeroth::cli
