// Progress reporter: live line on a terminal, periodic spdlog lines elsewhere. The arithmetic
// (rate, ETA, formatting) is in free functions so that tests check it without a clock or a TTY.
#include "zeroth/core/progress.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>

#include <spdlog/spdlog.h>

#include "zeroth/core/error.h"

namespace zeroth {

std::string format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) seconds = 0;
  char buf[64];
  if (seconds < 10) {
    std::snprintf(buf, sizeof buf, "%.1fs", seconds);
    return buf;
  }
  auto total = static_cast<int64_t>(std::llround(seconds));
  int64_t h = total / 3600, m = (total % 3600) / 60, s = total % 60;
  if (h > 0) {
    std::snprintf(buf, sizeof buf, "%lldh%02lldm%02llds", static_cast<long long>(h), static_cast<long long>(m),
                  static_cast<long long>(s));
  } else if (m > 0) {
    std::snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(m), static_cast<long long>(s));
  } else {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  }
  return buf;
}

double progress_rate(int64_t done, double elapsed_s) {
  if (done <= 0 || !(elapsed_s > 0)) return 0.0;
  return static_cast<double>(done) / elapsed_s;
}

std::optional<double> progress_eta(int64_t done, int64_t total, double elapsed_s) {
  if (total <= 0) return std::nullopt;
  if (done >= total) return 0.0;
  double rate = progress_rate(done, elapsed_s);
  if (rate <= 0) return std::nullopt;
  return static_cast<double>(total - done) / rate;
}

static std::string format_rate(double rate) {
  char buf[32];
  if (rate >= 100) {
    std::snprintf(buf, sizeof buf, "%.0f", rate);
  } else if (rate >= 1) {
    std::snprintf(buf, sizeof buf, "%.1f", rate);
  } else {
    std::snprintf(buf, sizeof buf, "%.3f", rate);
  }
  return buf;
}

std::string format_progress_line(const std::string& label, int64_t done, int64_t total, const std::string& unit,
                                 double elapsed_s, bool finished) {
  std::string line = label + " " + std::to_string(done);
  if (total > 0) {
    double percent = 100.0 * static_cast<double>(done) / static_cast<double>(total);
    char buf[32];
    std::snprintf(buf, sizeof buf, " (%.0f%%)", std::floor(percent));
    line += "/" + std::to_string(total) + buf;
  } else {
    line += " " + unit;
  }
  double rate = progress_rate(done, elapsed_s);
  if (rate > 0) line += " " + format_rate(rate) + " " + unit + "/s";
  if (finished) {
    line += " done in " + format_duration(elapsed_s);
    return line;
  }
  line += " elapsed " + format_duration(elapsed_s);
  if (auto eta = progress_eta(done, total, elapsed_s)) line += " ETA " + format_duration(*eta);
  return line;
}

static double steady_seconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static void default_sink(const std::string& line, bool live) {
  // The log level governs both forms: --log-level warn, and ranks above 0, print no progress.
  if (!spdlog::default_logger_raw()->should_log(spdlog::level::info)) return;
  if (live) {
    // \r returns to column 0, \x1b[K clears what a longer previous line left.
    std::fprintf(stderr, "\r%s\x1b[K", line.c_str());
    std::fflush(stderr);
  } else {
    spdlog::info("{}", line);
  }
}

Progress::Progress(ProgressOptions options, Clock clock, Sink sink)
    : options_(std::move(options)), clock_(std::move(clock)), sink_(std::move(sink)) {
  if (!clock_) clock_ = steady_seconds;
  if (!sink_) sink_ = default_sink;
  if (options_.total < 0) throw Error(cat("progress ", quote(options_.label), ": total must be >= 0, got ", options_.total));
  live_ = options_.live ? *options_.live : ::isatty(STDERR_FILENO) == 1;
  start_ = last_emit_ = clock_();
  if (options_.total > 0 && options_.log_fraction > 0) {
    next_milestone_ = static_cast<int64_t>(std::ceil(options_.log_fraction * static_cast<double>(options_.total)));
  }
}

Progress::~Progress() {
  try {
    finish();
  } catch (...) {
    // A destructor must not throw; a failing sink only loses the last line.
  }
}

int64_t Progress::done() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return done_;
}

void Progress::advance(int64_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return;
  done_ += n;
  double now = clock_();
  bool due = false;
  if (live_) {
    due = now - last_emit_ >= options_.redraw_interval_s || (options_.total > 0 && done_ >= options_.total);
  } else {
    due = now - last_emit_ >= options_.log_interval_s;
    if (next_milestone_ > 0 && done_ >= next_milestone_) {
      due = true;
      // Skip every milestone this advance crossed, so a big step logs one line, not several.
      double step = std::max(1.0, options_.log_fraction * static_cast<double>(options_.total));
      while (next_milestone_ <= done_) next_milestone_ = static_cast<int64_t>(std::ceil(next_milestone_ + step));
    }
    // The last unit is reported by finish(), with the total time.
    if (options_.total > 0 && done_ >= options_.total) due = false;
  }
  if (due) emit(now, false);
}

void Progress::finish() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (finished_) return;
  finished_ = true;
  emit(clock_(), true);
}

void Progress::emit(double now, bool finished) {
  last_emit_ = now;
  std::string line = format_progress_line(options_.label, done_, options_.total, options_.unit, now - start_, finished);
  if (live_ && finished) {
    sink_(line + "\n", true);
  } else {
    sink_(line, live_);
  }
}

}  // namespace zeroth
