#!/usr/bin/env bash
# Builds zeroth against Debian 13 (trixie)'s LibTorch 2.6 (CPU) and Catch2 v3, in a debootstrap
# chroot, and runs the CPU suite there. Not part of CI (it downloads ~1.5 GB and builds from cold);
# run it by hand as root on a Debian machine with the package archive in reach:
#
#   scripts/check_debian13.sh            create or reuse the chroot, build, run the suite
#   scripts/check_debian13.sh --prepare  create the chroot and install its packages only
#   scripts/check_debian13.sh --shell    a shell in the chroot, the checkout at /src/zeroth
#
# The chroot lives in $ZEROTH_DEB13_ROOT (default ~/.cache/zeroth/debian13); the checkout and the
# ../shared folder beside it are bind-mounted into it (and unmounted on exit), and the build goes
# to build-deb13/ in the checkout (git-ignored). libtorch-cuda-dev 2.6 (contrib, CUDA 12.4 from
# non-free) is left out: it needs the whole of Debian's nvidia-cuda-toolkit in the chroot.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$PWD
shared=$(cd .. && pwd)/shared
root=${ZEROTH_DEB13_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/zeroth/debian13}
mirror=${ZEROTH_DEBIAN_MIRROR:-http://deb.debian.org/debian}

[ "$(id -u)" = 0 ] || { echo "check_debian13: needs root (debootstrap, chroot, mount)" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "check_debian13: needs debootstrap (apt-get install debootstrap)" >&2; exit 1; }

if [ ! -x "$root/usr/bin/apt-get" ]; then
  echo "check_debian13: debootstrap trixie into $root" >&2
  mkdir -p "$root"
  debootstrap --variant=minbase trixie "$root" "$mirror"
fi

mounted=()
cleanup() {
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
bind() {  # bind SRC DEST (DEST inside the chroot)
  mkdir -p "$2"
  mountpoint -q "$2" || { mount --bind "$1" "$2"; mounted+=("$2"); }
}
bind /proc "$root/proc"
bind /dev "$root/dev"
bind "$checkout" "$root/src/zeroth"
[ -d "$shared" ] && bind "$shared" "$root/src/shared"
cp /etc/resolv.conf "$root/etc/resolv.conf"

packages=(build-essential cmake ninja-build ccache pkg-config git python3 python3-jinja2
  libtorch-dev libopenblas0-pthread libgloo-dev nlohmann-json3-dev catch2 libspdlog-dev libfmt-dev
  libre2-dev libcli11-dev libicu-dev libprotobuf-dev protobuf-compiler)
chroot "$root" /usr/bin/env DEBIAN_FRONTEND=noninteractive bash -c '
  set -e
  missing=()
  for p in "$@"; do
    dpkg-query -W -f="\${Status}" "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} = 0 ] && exit 0
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
' install "${packages[@]}"

[ "${1:-}" = --prepare ] && exit 0
if [ "${1:-}" = --shell ]; then
  chroot "$root" /bin/bash -c 'cd /src/zeroth && exec bash -i'
  exit
fi

chroot "$root" /bin/bash -c '
  set -euo pipefail
  cd /src/zeroth
  echo "check_debian13: $(dpkg-query -W -f="\${Package} \${Version}\n" libtorch-dev catch2 g++ | tr "\n" " ")"
  export CCACHE_DIR=/src/zeroth/build-deb13/.ccache CCACHE_BASEDIR=/src/zeroth
  export CCACHE_SLOPPINESS=pch_defines,time_macros,include_file_mtime,include_file_ctime
  cmake -S . -B build-deb13 -G Ninja -DCMAKE_BUILD_TYPE=Release
  cmake --build build-deb13 --parallel "$(nproc)"
  ctest --test-dir build-deb13 --output-on-failure -j "$(nproc)" --timeout 900
'
