#!/usr/bin/env bash
# One-command set-up for zeroth on Debian 12: installs the system packages (idempotent,
# non-interactive), builds in Release, and runs the default tiny recipe when it exists.
#   scripts/setup.sh              install + build + run the default recipe
#   scripts/setup.sh --no-run     install + build only (what scripts/test.sh uses)
#   scripts/setup.sh --torch pip  build against PyTorch's LibTorch with CUDA instead of Debian's
#                                 1.13.1 (CPU): installs the torch pinned in scripts/torch-pip.txt
#                                 into a virtual environment outside the checkout (below), or uses
#                                 $ZEROTH_PYTHON's torch, left as it is, and builds with
#                                 ZEROTH_CUDA=ON in build-pip/. Needs the CUDA toolkit.
# The pinned torch lives in $ZEROTH_VENV, by default ~/.cache/zeroth/venv-torch-<version>: one install
# (about 3 GB) serves every clone and worktree, instead of one per checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

torch_from=debian
run_recipe=1
while [ $# -gt 0 ]; do
  case "$1" in
    --no-run) run_recipe=0 ;;
    --torch) torch_from=${2:-}; shift ;;
    --torch=*) torch_from=${1#--torch=} ;;
    *) echo "setup: unknown argument '$1' (expected --no-run, --torch debian|pip)" >&2; exit 2 ;;
  esac
  shift
done
case "$torch_from" in
  debian|pip) ;;
  *) echo "setup: --torch '$torch_from': expected debian or pip" >&2; exit 2 ;;
esac

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libtorch-dev libopenblas0-pthread libgloo-dev
  nlohmann-json3-dev catch2 libspdlog-dev libfmt-dev libre2-dev libcli11-dev libicu-dev
  libprotobuf-dev protobuf-compiler chromium chromium-driver
  clang libclang-rt-14-dev python3-jinja2
)
[ "$torch_from" = pip ] && [ -z "${ZEROTH_PYTHON:-}" ] && packages+=(python3-venv)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# python3-venv is only needed when the system python3 is Debian's (not e.g. pyenv's).
if [ "$torch_from" = pip ] && python3 -c 'import venv, ensurepip' 2>/dev/null; then
  missing=("${missing[@]/python3-venv}")
  read -r -a missing <<< "${missing[*]}"
fi
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

cmake_args=()
if [ "$torch_from" = pip ]; then
  build_dir=${ZEROTH_BUILD_DIR:-build-pip}
  python=${ZEROTH_PYTHON:-}
  if [ -z "$python" ]; then
    # The pinned torch, reinstalled only when the pin changes.
    pin=$(grep -E '^torch==' scripts/torch-pip.txt | head -1 | cut -d= -f3)
    venv=${ZEROTH_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/zeroth/venv-torch-$pin}
    if [ ! -x "$venv/bin/python" ]; then
      mkdir -p "$(dirname "$venv")"
      python3 -m venv "$venv"
    fi
    python=$venv/bin/python
    have=$("$python" -c 'import importlib.metadata as m; print(m.version("torch").split("+")[0])' 2>/dev/null || true)
    if [ "$have" != "$pin" ]; then
      echo "setup: installing torch $pin into $venv (about 3 GB with its CUDA libraries)" >&2
      "$python" -m pip install --quiet --disable-pip-version-check -r scripts/torch-pip.txt
    fi
  fi
  # One import of torch (-W ignore: its "Failed to initialize NumPy" warning is no concern here).
  read -r torch_prefix torch_version < <("$python" -W ignore -c \
    'import torch; print(torch.utils.cmake_prefix_path, torch.__version__.split("+")[0])' 2>/dev/null) || true
  if [ -z "${torch_prefix:-}" ]; then
    echo "setup: '$python' has no importable torch (set ZEROTH_PYTHON to a python with PyTorch)" >&2; exit 1
  fi
  # nvcc for torch's CMake config (CUDAToolkit): the usual install place when it is not on PATH.
  if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then export PATH=/usr/local/cuda/bin:$PATH; fi
  cmake_args+=(-DTorch_DIR="$torch_prefix/Torch" -DZEROTH_TORCH_VERSION="$torch_version" -DZEROTH_CUDA=ON)
else
  build_dir=${ZEROTH_BUILD_DIR:-build}
fi

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release "${cmake_args[@]}" ${ZEROTH_CMAKE_ARGS:-}
cmake --build "$build_dir" --parallel "${ZEROTH_BUILD_JOBS:-$(nproc)}"

if [ "$run_recipe" = 1 ]; then
  if [ -f recipes/tiny/sft_then_grpo.json ]; then
    "$build_dir/zeroth" run recipes/tiny/sft_then_grpo.json --out runs/tiny
  else
    "$build_dir/zeroth" --help
  fi
fi
