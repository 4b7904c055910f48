#!/usr/bin/env bash
# Fuzzes the math answer engine (fuzz/fuzz_math_verifier.cpp) with libFuzzer + ASan + UBSan for
# SECONDS (default 60). Not part of CI. Builds with clang++ directly (no LibTorch needed) into
# build-fuzz/. Exit code 0: ran clean; non-zero: a crash, with the reproducer in build-fuzz/.
#   scripts/fuzz_rewards.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
out=build-fuzz
mkdir -p "$out/corpus"
cp -n tests/data/rewards/fuzz_seeds/* "$out/corpus/" 2>/dev/null || true
clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Iinclude -Isrc fuzz/fuzz_math_verifier.cpp src/rewards/math/normalize.cpp src/rewards/math/extract.cpp \
  src/rewards/math/parse.cpp src/rewards/math/compare.cpp -o "$out/fuzz_math_verifier"
cd "$out"
./fuzz_math_verifier -max_total_time="$seconds" -max_len=4096 -timeout=5 -rss_limit_mb=2048 \
  -print_final_stats=1 corpus
