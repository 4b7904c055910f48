#!/usr/bin/env bash
# Writes the model parity fixtures under tests/data/model/<arch>/: a tiny random model made by
# `zeroth init-model` from tests/data/model/configs/<arch>.json (the same shapes as tests/model/tiny.h)
# with the byte-level tokenizer, and reference.safetensors from scripts/make_reference.py (an
# independent plain-PyTorch forward, run with Debian's python3-torch). Run after building `zeroth`:
#   bash scripts/make_model_fixtures.sh [build/zeroth]
set -euo pipefail
cd "$(dirname "$0")/.."
ZEROTH=${1:-build/zeroth}
for arch in qwen2 qwen3 llama; do
  out=tests/data/model/$arch
  "$ZEROTH" init-model --config tests/data/model/configs/$arch.json --tokenizer data/tokenizers/byte_level \
    --out "$out" --seed 7
  /usr/bin/python3 scripts/make_reference.py "$out" --batch 2 --length 80
done
