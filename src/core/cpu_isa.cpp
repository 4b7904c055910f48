// CPU instruction-set levels for the kernels (see cpu_isa.h).
#include "zeroth/core/cpu_isa.h"

#include <cpuid.h>

#include <cstdlib>
#include <optional>

#include "zeroth/core/error.h"

namespace zeroth {
namespace {

bool cpu_has_amx_tiles() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  return (d & (1u << 22)) && (d & (1u << 24));  // amx_bf16, amx_tile
}

std::optional<CpuIsa> parse_isa(const std::string& name) {
  for (CpuIsa isa : {CpuIsa::generic, CpuIsa::avx2, CpuIsa::avx512, CpuIsa::amx}) {
    if (name == cpu_isa_name(isa)) return isa;
  }
  return std::nullopt;
}

const char* requested_name() {
  const char* value = std::getenv("ZEROTH_CPU_ISA");
  return value != nullptr && *value != '\0' ? value : nullptr;
}

}  // namespace

const char* cpu_isa_name(CpuIsa isa) {
  switch (isa) {
    case CpuIsa::generic: return "generic";
    case CpuIsa::avx2: return "avx2";
    case CpuIsa::avx512: return "avx512";
    case CpuIsa::amx: return "amx";
  }
  return "generic";
}

CpuIsa detected_cpu_isa() {
  static const CpuIsa detected = [] {
    if (__builtin_cpu_supports("avx512f")) return cpu_has_amx_tiles() ? CpuIsa::amx : CpuIsa::avx512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return CpuIsa::avx2;
    return CpuIsa::generic;
  }();
  return detected;
}

CpuIsa cpu_isa() {
  static const CpuIsa used = [] {
    const CpuIsa detected = detected_cpu_isa();
    const char* name = requested_name();
    if (name == nullptr) return detected;
    const auto requested = parse_isa(name);
    return requested && *requested <= detected ? *requested : detected;
  }();
  return used;
}

void check_cpu_isa_request() {
  const char* name = requested_name();
  if (name == nullptr) return;
  const auto requested = parse_isa(name);
  if (!requested) {
    throw Error(cat("ZEROTH_CPU_ISA=", quote(name), ": expected generic, avx2, avx512 or amx"));
  }
  if (*requested > detected_cpu_isa()) {
    throw Error(cat("ZEROTH_CPU_ISA=", name, ": this CPU lacks it (its best is ", cpu_isa_name(detected_cpu_isa()),
                    "); ask for that level or a lower one"));
  }
}

}  // namespace zeroth
