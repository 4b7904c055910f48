#!/usr/bin/env bash
# libFuzzer + ASan + UBSan on zeroth's parsers of untrusted input, built with clang++ directly (no
# LibTorch) into build-fuzz/. Each target must turn any bytes into a result or a zeroth::Error:
#   json           parse_jsonl_line (every JSONL reader: reward, score, generate, tokenize, data)
#   tokenizer      a tokenizer.json loaded, then encode/decode
#   chat_template  a Jinja chat template parsed and rendered over a fixed conversation
#   safetensors    the safetensors header parser
#   math           the math answer engine of the verifiers
# Usage: scripts/fuzz.sh [TARGET|all] [SECONDS per target, default 60]
# Exit 0: every target ran clean; non-zero: a crash, leak or timeout, with the reproducer in
# build-fuzz/ (crash-*, timeout-*). CTest runs `scripts/fuzz.sh all 5` (label fuzz).
set -euo pipefail
cd "$(dirname "$0")/.."
target=${1:-all}
seconds=${2:-60}
out=build-fuzz
mkdir -p "$out"
if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ is not installed (apt-get install clang); skipped" >&2
  exit 77
fi

flags=(-std=c++17 -g -O1 -fno-sanitize-recover=undefined -Iinclude -Isrc)
core=(src/core/error.cpp src/core/json.cpp src/core/fs.cpp)
text=(src/text/unicode.cpp src/text/pipeline.cpp src/text/tokenizer.cpp src/text/chat_template.cpp)
read -r -a deps_cflags <<< "$(pkg-config --cflags re2 icu-uc icu-i18n spdlog fmt)"
read -r -a deps_libs <<< "$(pkg-config --libs re2 icu-uc icu-i18n spdlog fmt)"

# One object per source, shared by the targets, rebuilt when the source or any header is newer.
newest_header=$(ls -t include/zeroth/*/*.h src/*/*.h | head -n 1)
object() {
  local src=$1 obj="$out/obj/${1//\//_}.o"
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] || [ "$newest_header" -nt "$obj" ]; then
    mkdir -p "$out/obj"
    clang++ "${flags[@]}" -fsanitize=fuzzer-no-link,address,undefined "${deps_cflags[@]}" -c "$src" -o "$obj"
  fi
  echo "$obj"
}

build() {  # build NAME SOURCES...
  local name=$1
  shift
  local objects=()
  for src in "$@"; do objects+=("$(object "$src")"); done
  echo "fuzz: linking $out/fuzz_$name" >&2
  clang++ -fsanitize=fuzzer,address,undefined "${objects[@]}" "${deps_libs[@]}" -o "$out/fuzz_$name"
}

seed() {  # seed CORPUS_DIR NAME CONTENT
  mkdir -p "$1"
  [ -f "$1/$2" ] || printf '%s' "$3" > "$1/$2"
}

run() {  # run NAME CORPUS [libFuzzer flags...]
  local name=$1 corpus=$2
  shift 2
  # Inputs that once crashed a target stay in its corpus (tests/data/fuzz/NAME/).
  if [ -d "tests/data/fuzz/$name" ]; then cp -n "tests/data/fuzz/$name"/* "$out/$corpus/"; fi
  echo "fuzz: $name for ${seconds}s" >&2
  (cd "$out" && "./fuzz_$name" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    "$@" "$corpus" 2>&1 | tail -n 12)
  return "${PIPESTATUS[0]}"
}

fuzz_json() {
  build json fuzz/fuzz_json.cpp "${core[@]}"
  seed "$out/corpus_json" object '{"question": "1+1", "answer": "2", "tags": ["a", {"b": null}], "x": 1.5e3}'
  seed "$out/corpus_json" nested '[[[[{"a": [[[]]]}]]]]'
  run json corpus_json -max_len=2048
}

fuzz_tokenizer() {
  build tokenizer fuzz/fuzz_tokenizer_json.cpp "${core[@]}" "${text[@]}"
  mkdir -p "$out/corpus_tokenizer"
  cp -n data/tokenizers/byte_level/tokenizer.json "$out/corpus_tokenizer/byte_level" 2>/dev/null || true
  seed "$out/corpus_tokenizer" bpe '{"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}, "added_tokens": [{"id": 3, "content": "<think>", "special": true}], "pre_tokenizer": {"type": "ByteLevel"}, "decoder": {"type": "ByteLevel"}}'
  run tokenizer corpus_tokenizer -max_len=4096
}

fuzz_chat_template() {
  build chat_template fuzz/fuzz_chat_template.cpp "${core[@]}" "${text[@]}"
  seed "$out/corpus_chat_template" chatml "{% for m in messages %}<|im_start|>{{ m['role'] }}
{{ m['content'] }}<|im_end|>
{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant
{% endif %}"
  seed "$out/corpus_chat_template" llama "{{ bos_token }}{% set ns = namespace(sys='') %}{% for m in messages %}{% if m.role == 'system' %}{% set ns.sys = m.content | trim %}{% elif loop.last %}{{ '[INST] ' + m.content + ' [/INST]' }}{% else %}{{ m.content ~ eos_token }}{% endif %}{% endfor %}"
  run chat_template corpus_chat_template -max_len=1024
}

fuzz_safetensors() {
  build safetensors_header fuzz/fuzz_safetensors_header.cpp src/core/safetensors_header.cpp "${core[@]}"
  mkdir -p "$out/corpus_safetensors"
  printf '\x08\x00\x00\x00\x00\x00\x00\x00{}      ' > "$out/corpus_safetensors/empty"
  run safetensors_header corpus_safetensors -max_len=4096
}

fuzz_math() {
  build math_verifier fuzz/fuzz_math_verifier.cpp src/rewards/math/normalize.cpp src/rewards/math/extract.cpp \
    src/rewards/math/parse.cpp src/rewards/math/compare.cpp
  mkdir -p "$out/corpus_math"
  cp -n tests/data/rewards/fuzz_seeds/* "$out/corpus_math/" 2>/dev/null || true
  run math_verifier corpus_math -max_len=4096
}

case "$target" in
  json | tokenizer | chat_template | safetensors | math) "fuzz_$target" ;;
  all)
    for t in json tokenizer chat_template safetensors math; do "fuzz_$t"; done
    ;;
  *)
    echo "fuzz: unknown target '$target'; expected json, tokenizer, chat_template, safetensors, math or all" >&2
    exit 2
    ;;
esac
