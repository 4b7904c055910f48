// The `zeroth` subcommands. Each cmd_<name>.cpp defines one add_<name>_command(), which declares
// the subcommand's flags on `app` and sets its callback; the callback parses nothing by hand and
// calls the library. main.cpp holds the one table of what exists.
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

namespace zeroth::cli {

// The work of a subcommand. main() runs it once the whole command line has parsed: CLI11 calls
// callbacks before it checks for unknown flags, so a misspelled flag would otherwise run the command
// with a default value before the usage error.
void on_parsed(CLI::App* sub, std::function<void()> action);

// A per-line input error as printed: `message` when it already starts with `where` ("file:12"),
// else "where: message" (one location, never "line 1: stdin:1: ...").
inline std::string at_line(const std::string& where, const std::string& message) {
  return message.rfind(where, 0) == 0 ? message : where + ": " + message;
}

// `zeroth bench KIND ...`: each benchmark prints one JSON object of figures on stdout.
// cmd_bench.cpp holds the table of kinds; each kind lives in bench_<kind>.cpp.
void add_bench_command(CLI::App& app);

// `zeroth tokenize` (cmd_tokenize.cpp) and `zeroth bench tokenizer` (bench_tokenizer.cpp).
void add_tokenize_command(CLI::App& app);
void add_bench_tokenizer_command(CLI::App& bench);
// `zeroth reward --rules NAME|FILE`: JSONL in, JSONL with "rewards" and "reward" out (cmd_reward.cpp).
void add_reward_command(CLI::App& app);
// `zeroth bench reward`: math verifications per second and latency histogram (bench_reward.cpp).
void add_bench_reward(CLI::App& bench);

// `zeroth init-model` (cmd_init_model.cpp), `zeroth score` (cmd_score.cpp), `zeroth bench model`
// (bench_model.cpp).
void add_init_model_command(CLI::App& app);
void add_score_command(CLI::App& app);
void add_bench_model_command(CLI::App& bench);
// `zeroth generate` (cmd_generate.cpp) and `zeroth bench sampler` (bench_sampler.cpp).
void add_generate_command(CLI::App& app);
void add_bench_sampler_command(CLI::App& bench);
// `zeroth bench train`: one GRPO step split into sample / reward / train (bench_train.cpp).
void add_bench_train_command(CLI::App& bench);
// Peak resident memory of this process so far (VmHWM), in bytes; 0 where unknown.
int64_t peak_rss_bytes();
// `zeroth run RECIPE` and `zeroth eval` (cmd_run.cpp).
void add_run_command(CLI::App& app);
void add_eval_command(CLI::App& app);
// `zeroth report RUN_DIR`: writes RUN_DIR/report.html (cmd_report.cpp; the page: train/report.h).
void add_report_command(CLI::App& app);

}  // namespace zeroth::cli
