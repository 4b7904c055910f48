#!/usr/bin/env bash
# One-command set-up for zeroth on Debian 12: installs the system packages (idempotent,
# non-interactive), builds in Release, and runs the default tiny recipe when it exists.
#   scripts/setup.sh            install + build + run the default recipe
#   scripts/setup.sh --no-run   install + build only (what scripts/test.sh uses)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libopenblas0-pthread libgloo-dev
  nlohmann-json3-dev catch2 libspdlog-dev libfmt-dev libre2-dev libcli11-dev libicu-dev
  libprotobuf-dev protobuf-compiler chromium chromium-driver
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# ccache: paths relative to the checkout (hits across clones and worktrees); the torch PCH needs
# pch_defines/time_macros sloppiness to be cacheable.
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$PWD}
export CCACHE_SLOPPINESS=${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}

build_dir=${ZEROTH_BUILD_DIR:-build}
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release ${ZEROTH_CMAKE_ARGS:-}
cmake --build "$build_dir" --parallel "$(nproc)"

if [ "${1:-}" != "--no-run" ]; then
  if [ -f recipes/tiny/sft_then_grpo.json ]; then
    "$build_dir/zeroth" run recipes/tiny/sft_then_grpo.json --out runs/tiny
  else
    "$build_dir/zeroth" --help
  fi
fi
