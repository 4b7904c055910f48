// The instruction-set level zeroth's CPU kernels run at: the best this CPU has (AMX, AVX-512, AVX2,
// or generic loops), or a lower one forced with ZEROTH_CPU_ISA=generic|avx2|avx512|amx, so that any
// machine can test the paths below its best. The kernels ask cpu_isa() instead of probing the CPU
// themselves; it never returns a level the CPU lacks (no SIGILL whatever the variable says).
#pragma once

#include <string>

namespace zeroth {

enum class CpuIsa { generic = 0, avx2 = 1, avx512 = 2, amx = 3 };

// "generic", "avx2", "avx512", "amx".
const char* cpu_isa_name(CpuIsa isa);
// The best level of this CPU: amx (AMX tiles and bf16, with AVX-512F), avx512 (AVX-512F), avx2
// (AVX2 and FMA), else generic.
CpuIsa detected_cpu_isa();
// The level the kernels use: ZEROTH_CPU_ISA when it is valid and not above the CPU's, else the
// detected one. Cached on first use.
CpuIsa cpu_isa();
// Error when ZEROTH_CPU_ISA names no level, or one this CPU lacks (with what the CPU has).
// main() calls it before any work.
void check_cpu_isa_request();

}  // namespace zeroth
