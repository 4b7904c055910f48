#!/usr/bin/env bash
# Runs a Python script with the reference environment's interpreter (the real peers: transformers,
# tokenizers, TRL, Math-Verify; see scripts/setup_peers.sh). Used by the CTest tests labelled
# `reference`: when the environment is absent it says how to create it and exits 77, which CTest
# reports as skipped (SKIP_RETURN_CODE 77), never as passed.
#   scripts/with_peers.sh SCRIPT.py [ARGS...]
set -euo pipefail
venv=${ZEROTH_PEERS_VENV:-$HOME/.cache/zeroth/peers-venv}
python="$venv/bin/python"
if [ ! -x "$python" ] || [ ! -f "$venv/.peers.txt" ]; then
  echo "SKIPPED: the reference environment is missing ($venv);" \
       "create it with scripts/setup_peers.sh (or point ZEROTH_PEERS_VENV at one)" >&2
  exit 77
fi
exec "$python" "$@"
