// MetricsWriter: appends one JSON object per step to metrics.jsonl ("step" plus named figures).
// Each line is written whole and flushed, so a killed run keeps every finished step.
#pragma once

#include <cstdio>
#include <string>

#include "zeroth/core/json.h"

namespace zeroth {

class MetricsWriter {
 public:
  // Opens `path` for appending (truncates first when `truncate` is set); creates parent dirs.
  explicit MetricsWriter(const std::string& path, bool truncate = false);
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;

  // Writes {"step": step, ...figures} as one line. NaN/Inf figures are written as null.
  void write(int64_t step, const Json& figures);
  // Writes an arbitrary object as one line.
  void write_line(const Json& object);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace zeroth
