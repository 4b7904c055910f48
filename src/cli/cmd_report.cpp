// `zeroth report RUN_DIR [--max-samples N] [--tensorboard]`: writes RUN_DIR/report.html (curves,
// eval table, sampled completions) from the run directory; works on a run still in progress.
// --tensorboard also writes RUN_DIR/tensorboard/<stage>/events.out.tfevents.* from the same files. The page is
// built by train/report.h, which stages can call too; this file only parses flags.
#include <memory>

#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "zeroth/train/report.h"

namespace zeroth::cli {

void add_report_command(CLI::App& app) {
  auto run_dir = std::make_shared<std::string>();
  auto options = std::make_shared<train::ReportOptions>();
  auto tensorboard = std::make_shared<bool>(false);
  CLI::App* sub = app.add_subcommand("report", "Write RUN_DIR/report.html with curves, evals and samples");
  sub->add_option("RUN_DIR", *run_dir, "The --out folder of `zeroth run` (finished or still running)")->required();
  sub->add_option("--max-samples", options->max_samples, "Sampled completions shown per stage (the most recent)")
      ->check(CLI::PositiveNumber);
  sub->add_flag("--tensorboard", *tensorboard,
                "Also write RUN_DIR/tensorboard/<stage>/ event files from metrics.jsonl and samples.jsonl");
  on_parsed(sub, [run_dir, options, tensorboard] {
    std::string path = train::write_run_report(*run_dir, *options);
    spdlog::info("report: wrote {}", path);
    if (*tensorboard) {
      std::string out = *run_dir + "/tensorboard";
      size_t n = train::export_tensorboard(train::load_run(*run_dir), out);
      spdlog::info("report: wrote {} TensorBoard event file(s) under {} (tensorboard --logdir {})", n, out, out);
    }
  });
}

}  // namespace zeroth::cli
