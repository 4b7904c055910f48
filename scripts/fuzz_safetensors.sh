#!/usr/bin/env bash
# Builds the safetensors header parser with clang's libFuzzer + AddressSanitizer and fuzzes it for
# N seconds (default 60), starting from a small seed corpus. Not part of CI.
#   scripts/fuzz_safetensors.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
command -v clang++ >/dev/null || { echo "needs clang: apt-get install -y clang" >&2; exit 1; }
out=build-fuzz
mkdir -p "$out/corpus_safetensors"
clang++ -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude \
  fuzz/fuzz_safetensors_header.cpp src/core/safetensors_header.cpp src/core/error.cpp src/core/json.cpp src/core/fs.cpp \
  -o "$out/fuzz_safetensors_header"
# Seeds: a valid two-tensor file and an empty header.
printf '\x50\x00\x00\x00\x00\x00\x00\x00{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[1],"data_offsets":[8,9]}} \x00\x00\x80\x3f\x00\x00\x00\x40\x07' \
  > "$out/corpus_safetensors/valid"
printf '\x08\x00\x00\x00\x00\x00\x00\x00{}      ' > "$out/corpus_safetensors/empty"
"$out/fuzz_safetensors_header" -max_total_time="$seconds" -max_len=4096 -print_final_stats=1 "$out/corpus_safetensors"
