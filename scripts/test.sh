#!/usr/bin/env bash
# Builds zeroth (installing system packages first if any are missing) and runs the whole CPU test
# suite through CTest. GPU-tagged tests are excluded here; on a GPU machine run `ctest -L gpu`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --no-run
build_dir=${ZEROTH_BUILD_DIR:-build}
ctest --test-dir "$build_dir" -LE gpu --output-on-failure -j "$(nproc)" --timeout 900
