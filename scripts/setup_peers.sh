#!/usr/bin/env bash
# Creates the reference environment: a Python virtual environment holding the real peers pinned in
# scripts/peers.txt (torch, transformers, tokenizers, TRL, peft, Math-Verify). Only the tests labelled
# `reference` (ctest -L reference) and the peer benchmarks use it; zeroth itself never calls Python.
#   scripts/setup_peers.sh            create or update it (about 5 GB: PyPI's torch wheel is a CUDA build)
#   scripts/setup_peers.sh --print    print the python it would use, create nothing
# Location: $ZEROTH_PEERS_VENV, default $HOME/.cache/zeroth/peers-venv (outside the checkout, so one
# environment serves every worktree). Reinstalls only when scripts/peers.txt changes.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${ZEROTH_PEERS_VENV:-$HOME/.cache/zeroth/peers-venv}
if [ "${1:-}" = --print ]; then echo "$venv/bin/python"; exit 0; fi
[ $# -eq 0 ] || { echo "setup_peers: unknown argument '$1' (expected nothing or --print)" >&2; exit 2; }

stamp="$venv/.peers.txt"
if [ -x "$venv/bin/python" ] && cmp -s scripts/peers.txt "$stamp"; then
  echo "setup_peers: $venv is up to date with scripts/peers.txt" >&2
  exit 0
fi
python3 -c 'import venv, ensurepip' 2>/dev/null || {
  echo "setup_peers: python3 lacks venv/ensurepip; on Debian run: sudo apt-get install python3-venv" >&2; exit 1; }
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
echo "setup_peers: installing scripts/peers.txt into $venv" >&2
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/peers.txt
cp scripts/peers.txt "$stamp"
"$venv/bin/python" - <<'PY'
import importlib.metadata as m
print("setup_peers: ready:", ", ".join(f"{p} {m.version(p)}" for p in
      ("torch", "transformers", "tokenizers", "trl", "peft", "math-verify")))
PY
