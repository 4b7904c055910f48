// Line-buffered JSONL metrics file.
#include "zeroth/core/metrics.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>

namespace zeroth {

MetricsWriter::MetricsWriter(const std::string& path, bool truncate) : path_(path) {
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  file_ = std::fopen(path.c_str(), truncate ? "w" : "a");
  if (!file_) throw Error(cat(path, ": cannot open for writing: ", std::strerror(errno)));
}

MetricsWriter::~MetricsWriter() {
  if (file_) std::fclose(file_);
}

static Json finite_or_null(const Json& value) {
  if (value.is_number_float() && !std::isfinite(value.get<double>())) return nullptr;
  if (value.is_structured()) {
    Json out = value;
    for (auto it = out.begin(); it != out.end(); ++it) *it = finite_or_null(*it);
    return out;
  }
  return value;
}

void MetricsWriter::write(int64_t step, const Json& figures) {
  Json line = Json::object();
  line["step"] = step;
  for (auto it = figures.begin(); it != figures.end(); ++it) {
    if (it.key() != "step") line[it.key()] = it.value();
  }
  write_line(line);
}

void MetricsWriter::write_line(const Json& object) {
  std::string text = finite_or_null(object).dump(-1, ' ', false, Json::error_handler_t::replace) + "\n";
  if (std::fwrite(text.data(), 1, text.size(), file_) != text.size() || std::fflush(file_) != 0) {
    throw Error(cat(path_, ": write failed: ", std::strerror(errno)));
  }
}

}  // namespace zeroth
