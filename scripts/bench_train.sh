#!/usr/bin/env bash
# One GRPO step side by side on the same machine and in the same run: `zeroth bench train` and a
# plain-PyTorch eager Python step (scripts/bench_train_reference.py, Debian python3-torch, tuned as
# PERF_NOTES says: AVX-512 BLAS, malloc kept) on the Qwen2.5-0.5B shape (random weights), bf16.
# Defaults are the issue's: 8 prompts x G = 8, prompt 128 + 256 new tokens, 2 threads. Wait for an
# idle CPU first; one step of each takes minutes on 2 cores.
#   scripts/bench_train.sh [extra flags for both, e.g. --new-tokens 64 --steps 2]
set -euo pipefail
cd "$(dirname "$0")/.."
zeroth=${ZEROTH:-build/zeroth}
threads=${THREADS:-2}
echo "# $(date -u '+%F %H:%M') UTC, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), load $(cut -d' ' -f1-3 /proc/loadavg)"
$zeroth bench train --threads "$threads" "$@"
OPENBLAS_CORETYPE=SkylakeX MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_TOP_PAD_=67108864 \
  /usr/bin/python3 scripts/bench_train_reference.py --threads "$threads" "$@"
