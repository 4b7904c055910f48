// Available memory and the check before large allocations (see memory.h).
#include "zeroth/core/memory.h"

#include <cstdio>
#include <new>
#include <fstream>
#include <sstream>

#include <c10/util/Exception.h>

#include "zeroth/core/error.h"

namespace zeroth {

std::optional<uint64_t> available_memory_bytes(c10::Device device) {
  if (!device.is_cpu()) return std::nullopt;
  std::ifstream meminfo("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (meminfo >> key >> kib >> unit) {
    if (key == "MemAvailable:") return kib * 1024;
  }
  return std::nullopt;
}

std::string format_bytes(uint64_t bytes) {
  char text[32];
  if (bytes >= 1000ULL * 1000 * 1000) {
    std::snprintf(text, sizeof text, "%.1f GB", bytes / 1e9);
  } else if (bytes >= 1000ULL * 1000) {
    std::snprintf(text, sizeof text, "%.1f MB", bytes / 1e6);
  } else {
    std::snprintf(text, sizeof text, "%.1f kB", bytes / 1e3);
  }
  return text;
}

void require_memory(uint64_t bytes, c10::Device device, const std::string& what, const std::string& fix) {
  const auto available = available_memory_bytes(device);
  if (!available || bytes <= *available) return;
  throw Error(cat(what, " needs ", format_bytes(bytes), ", but ", format_bytes(*available), " are available on ",
                  device.str(), "; ", fix));
}

std::optional<std::string> allocation_failure(const std::exception& e) {
  if (dynamic_cast<const std::bad_alloc*>(&e) != nullptr) return std::string();
  const auto* torch_error = dynamic_cast<const c10::Error*>(&e);
  if (torch_error == nullptr) return std::nullopt;
  const std::string what = torch_error->what_without_backtrace();
  if (what.find("alloc") == std::string::npos && what.find("out of memory") == std::string::npos) return std::nullopt;
  return " (" + what.substr(0, what.find('\n')) + ")";
}

}  // namespace zeroth
