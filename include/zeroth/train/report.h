// The run report: reads a run directory (docs/architecture.md "Run directory": summary.json,
// <stage>/metrics.jsonl, <stage>/samples.jsonl, <stage>/eval.json) and writes one self-contained
// RUN_DIR/report.html: inline SVG line charts, an eval table per stage, and the sampled
// completions with <think>/<answer> highlighted. No network, no external script or font.
// It reads runs still in progress: a partial last JSONL line is ignored, a stage without an end
// shows as "running". `zeroth report RUN_DIR` calls write_run_report(); stages may call it too.
//
//   std::string path = train::write_run_report("runs/tiny");   // runs/tiny/report.html
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "zeroth/core/json.h"

namespace zeroth::train {

// Lines of a JSONL file that a running process may be appending to. A last line without its
// newline that does not parse is being written: it is dropped and `partial_tail` is set. Any other
// bad line is an Error naming "path:line N" and what was expected (a JSON object).
struct JsonlLines {
  std::vector<Json> lines;
  std::vector<size_t> line_numbers;  // 1-based line of each object in the file (blank lines skipped)
  bool partial_tail = false;
};
JsonlLines read_jsonl_lines(const std::string& path);

struct StageRun {
  std::string name;
  std::string kind;              // "grpo", "sft", ...; "" when summary.json does not say
  std::string status;            // "done", "running", "failed", ... as summary.json says; "running" if unknown
  std::optional<double> seconds;
  std::string error;             // summary.json's "error" of a failed stage
  std::vector<Json> metrics;     // metrics.jsonl: each has a numeric "step"
  std::vector<Json> samples;     // samples.jsonl
  Json eval;                     // eval.json, else summary.json's "eval"; null when neither
  bool partial_tail = false;     // a JSONL file of this stage ended in a line being written
};

struct RunData {
  std::string dir;
  bool has_summary = false;
  std::vector<StageRun> stages;  // summary.json's order, then stage folders it does not name (sorted)
  Json recipe;                   // recipe.json, or null
};

// Reads a run directory. Errors name the file (and line) when the directory is missing, is not a
// run (no summary.json and no stage folder with metrics.jsonl, samples.jsonl or eval.json), or a
// file is not what the contract says.
RunData load_run(const std::string& run_dir);

struct ReportOptions {
  size_t max_samples = 512;      // sampled completions shown per stage: the most recent ones
};

// The whole page. `generated_at` is printed in the header (e.g. "2026-12-02 03:00 UTC").
std::string render_report_html(const RunData& run, const ReportOptions& options = {},
                               const std::string& generated_at = "");
// load_run + render + write RUN_DIR/report.html atomically; returns the path written.
std::string write_run_report(const std::string& run_dir, const ReportOptions& options = {});

// TensorBoard view of a run from its files, for runs whose stages wrote no event files (or to
// rebuild them): for each stage, out_dir/<stage>/events.out.tfevents.* with every metrics.jsonl
// figure as a scalar at its step and each step's samples.jsonl lines as one text sample
// ("samples", Markdown). Earlier event files in out_dir/<stage>/ are removed first, so running it
// again does not double the curves. Returns the number of event files written.
size_t export_tensorboard(const RunData& run, const std::string& out_dir);

// Building blocks, public for tests.
std::string html_escape(const std::string& text);
// HTML-escapes `text` and wraps <think>…</think> and <answer>…</answer> (and their tags) in
// spans; unbalanced tags are marked, never left open: the output is always well-formed.
std::string highlight_format_tags(const std::string& text);

struct ChartSeries {
  std::string name;
  std::vector<std::pair<double, std::optional<double>>> points;  // (step, value); nullopt = gap
};
// One line chart as an <svg class="chart">, each series a <path class="series"> (a gap starts a
// new subpath), with axes, ticks and a legend.
std::string render_line_chart_svg(const std::string& title, const std::vector<ChartSeries>& series);
// At most about 2 * buckets points with the same look: points are split into `buckets` runs of
// equal count, and each run keeps its first gap (if any) and its lowest and highest value, in step
// order, so spikes survive. Series of at most 2 * buckets points are returned as they are.
// render_line_chart_svg draws each series through this with 1000 buckets.
std::vector<std::pair<double, std::optional<double>>> decimate_min_max(
    const std::vector<std::pair<double, std::optional<double>>>& points, size_t buckets);
// "Nice" axis ticks covering [lo, hi]: steps of 1, 2 or 5 times a power of ten, about `target`.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);

}  // namespace zeroth::train
