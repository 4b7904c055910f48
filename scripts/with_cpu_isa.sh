#!/usr/bin/env bash
# Runs a command with ZEROTH_CPU_ISA=ISA, so that zeroth's CPU kernels take that path; exits 77
# (CTest's skip code, set by tests/CMakeLists.txt) when this CPU lacks the instructions, so a path
# that cannot run here is reported as skipped, never as passed.
#   scripts/with_cpu_isa.sh generic|avx2|avx512|amx COMMAND [ARGS...]
set -euo pipefail
isa=$1
shift
flags=" $(grep -m1 '^flags' /proc/cpuinfo | cut -d: -f2) "
case "$isa" in
  generic) need=() ;;
  avx2) need=(avx2 fma) ;;
  avx512) need=(avx512f) ;;
  amx) need=(avx512f amx_tile amx_bf16) ;;
  *) echo "with_cpu_isa: unknown level '$isa'; expected generic, avx2, avx512 or amx" >&2; exit 2 ;;
esac
for flag in "${need[@]}"; do
  if [[ "$flags" != *" $flag "* ]]; then
    echo "skipped: this CPU lacks $flag, so the $isa kernels cannot run here" >&2
    exit 77
  fi
done
ZEROTH_CPU_ISA=$isa exec "$@"
