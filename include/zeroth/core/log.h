// Logging set-up. spdlog is used only in .cpp files; this header hides it. The sink is stderr
// (stdout carries JSONL), the pattern "[%H:%M:%S] [%l] [rank N] %v". Ranks above 0 log warnings
// and up unless all_ranks is set.
#pragma once

#include <string>

namespace zeroth {

enum class LogLevel { Trace, Debug, Info, Warn, Error, Off };

// "trace" | "debug" | "info" | "warn" | "error" | "off"; Error on anything else.
LogLevel parse_log_level(const std::string& name);

// Level from the argument, else ZEROTH_LOG_LEVEL, else info. Safe to call more than once.
void init_logging(const std::string& level = "", int rank = 0, bool all_ranks = false);

}  // namespace zeroth
