// Progress: console progress for long work (sampling, SFT epochs, trace generation, eval).
// On a terminal it redraws one live line on stderr ("sampling 40/100 40% 12.5 it/s ETA 4.8s");
// elsewhere (CI, files) it logs a plain spdlog line every `log_interval_s` seconds or each
// `log_fraction` of the total, whichever comes first, and a last line on finish(). It is not a
// metrics sink: figures a run is judged by go to metrics.jsonl (core/metrics.h).
//
//   ProgressOptions opts;
//   opts.label = "sampling"; opts.total = n_prompts; opts.unit = "prompts";
//   Progress progress(opts);
//   for (...) { ...; progress.advance(); }   // advance() may be called from any thread
//   progress.finish();
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>

namespace zeroth {

struct ProgressOptions {
  std::string label = "progress";  // what is counted, first word of every line
  int64_t total = 0;               // expected count; 0 when unknown (no percentage, no ETA)
  std::string unit = "it";         // unit of the count, for the rate ("12.5 it/s")
  double log_interval_s = 10.0;    // plain mode: log at least this often (seconds) while advancing
  double log_fraction = 0.1;       // plain mode: also log each time this fraction of total is crossed
  double redraw_interval_s = 0.1;  // live mode: redraw at most this often (seconds)
  std::optional<bool> live;        // force live (true) or plain (false); default: isatty(stderr)
};

// "0.4s", "12s", "4m05s", "1h02m03s": durations for people.
std::string format_duration(double seconds);
// Units per second over `elapsed_s`; 0 when nothing was measured yet.
double progress_rate(int64_t done, double elapsed_s);
// Seconds left at the average rate so far; nullopt when unknown (no total, or no rate yet).
std::optional<double> progress_eta(int64_t done, int64_t total, double elapsed_s);
// One status line: "sampling 40/100 (40%) 12.5 prompts/s elapsed 3.2s ETA 4.8s". With total 0:
// "sampling 40 prompts 12.5 prompts/s elapsed 3.2s". With `finished`: "... done in 8.0s".
std::string format_progress_line(const std::string& label, int64_t done, int64_t total, const std::string& unit,
                                 double elapsed_s, bool finished = false);

class Progress {
 public:
  // Seconds on a monotonic clock; tests inject a fake one.
  using Clock = std::function<double()>;
  // Receives each line; `live` lines are meant to overwrite the previous one. The default writes
  // live lines to stderr with "\r...\x1b[K" and plain ones through spdlog::info.
  using Sink = std::function<void(const std::string& line, bool live)>;

  explicit Progress(ProgressOptions options, Clock clock = {}, Sink sink = {});
  // Calls finish() if it was not called.
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  // Adds `n` finished units; thread-safe. Emits a line when one is due.
  void advance(int64_t n = 1);
  // Emits the final line once (a live line ends with a newline). Later calls do nothing.
  void finish();

  int64_t done() const;
  bool live() const { return live_; }

 private:
  void emit(double now, bool finished);  // called with mutex_ held

  ProgressOptions options_;
  Clock clock_;
  Sink sink_;
  bool live_ = false;
  mutable std::mutex mutex_;
  double start_ = 0;
  double last_emit_ = 0;
  int64_t done_ = 0;
  int64_t next_milestone_ = 0;  // plain mode: the count at which the next fraction line is due
  bool finished_ = false;
};

}  // namespace zeroth
