#!/usr/bin/env bash
# Rollout throughput side by side on the same machine and in the same run: `zeroth bench sampler`
# and a plain-PyTorch eager Python sampler (tuned as PERF_NOTES says: AVX-512 BLAS, malloc kept) (scripts/bench_sampler_reference.py, Debian python3-torch)
# on the Qwen2.5-0.5B shape (random weights), prompt 256, G = 16. Wait for an idle CPU first.
#   scripts/bench_sampler.sh [bf16|fp32] [new_tokens]      (THREADS=N: intra-op threads, default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
dtype=${1:-bf16}
new=${2:-32}
threads=${THREADS:-2}
zeroth=${ZEROTH:-build/zeroth}
echo "# $(date -u +%F) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
$zeroth bench sampler --dtype "$dtype" --new-tokens "$new" --g 16 --prompt-len 256 --threads "$threads"
OPENBLAS_CORETYPE=SkylakeX MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_TOP_PAD_=67108864 \
  /usr/bin/python3 scripts/bench_sampler_reference.py --dtype "$dtype" --new-tokens "$new" --g 16 --prompt-len 256 --threads "$threads"
