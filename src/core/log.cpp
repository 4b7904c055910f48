// spdlog configuration: one stderr sink, rank in the pattern, level from flag or environment.
#include "zeroth/core/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdlib>

#include "zeroth/core/error.h"

namespace zeroth {

LogLevel parse_log_level(const std::string& name) {
  if (name == "trace") return LogLevel::Trace;
  if (name == "debug") return LogLevel::Debug;
  if (name == "info") return LogLevel::Info;
  if (name == "warn" || name == "warning") return LogLevel::Warn;
  if (name == "error") return LogLevel::Error;
  if (name == "off") return LogLevel::Off;
  throw Error("unknown log level " + quote(name) + "; expected trace, debug, info, warn, error or off");
}

void init_logging(const std::string& level, int rank, bool all_ranks) {
  std::string name = level;
  if (name.empty()) {
    const char* env = std::getenv("ZEROTH_LOG_LEVEL");
    name = env && *env ? env : "info";
  }
  LogLevel parsed = parse_log_level(name);
  if (rank > 0 && !all_ranks && parsed < LogLevel::Warn) parsed = LogLevel::Warn;

  auto logger = spdlog::stderr_color_mt("zeroth_" + std::to_string(rank) + "_" + std::to_string(std::rand()));
  logger->set_pattern("[%H:%M:%S] [%l] [rank " + std::to_string(rank) + "] %v");
  static const spdlog::level::level_enum levels[] = {spdlog::level::trace, spdlog::level::debug,
                                                      spdlog::level::info,  spdlog::level::warn,
                                                      spdlog::level::err,   spdlog::level::off};
  logger->set_level(levels[static_cast<int>(parsed)]);
  spdlog::set_default_logger(logger);
}

}  // namespace zeroth
