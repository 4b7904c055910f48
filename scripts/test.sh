#!/usr/bin/env bash
# Builds zeroth (installing system packages first if any are missing) and runs the whole test suite
# through one CTest run: the CPU tests and the GPU-labelled ones, which report "skipped" (not passed)
# on a machine without a CUDA device and run one at a time (RUN_SERIAL) on a machine with one.
#   scripts/test.sh              Debian's LibTorch 1.13.1 (CPU), build/
#   scripts/test.sh --torch pip  PyTorch's LibTorch with CUDA (scripts/setup.sh --torch pip), build-pip/
set -euo pipefail
cd "$(dirname "$0")/.."
torch_from=debian
case "${1:-}" in
  "") ;;
  --torch) torch_from=${2:-} ;;
  --torch=*) torch_from=${1#--torch=} ;;
  *) echo "test: unknown argument '$1' (expected --torch debian|pip)" >&2; exit 2 ;;
esac
scripts/setup.sh --no-run --torch "$torch_from"
if [ "$torch_from" = pip ]; then
  build_dir=${ZEROTH_BUILD_DIR:-build-pip}
else
  build_dir=${ZEROTH_BUILD_DIR:-build}
fi
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" --timeout 900
