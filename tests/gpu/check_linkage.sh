#!/usr/bin/env bash
# CTest `cuda_build_linkage`: the zeroth binary of a ZEROTH_CUDA build loads libtorch_cuda and
# carries the NCCL process group; a CPU build has neither.
#   tests/gpu/check_linkage.sh PATH/TO/zeroth ON|OFF
set -euo pipefail
bin=$1
want=$2
libs=$(ldd "$bin")
nccl=$(nm -C "$bin" | grep -c 'c10d::ProcessGroupNCCL::ProcessGroupNCCL' || true)
has_cuda=0
grep -q 'libtorch_cuda\.so' <<< "$libs" && has_cuda=1
if grep -q 'not found' <<< "$libs"; then
  echo "unresolved libraries:"; grep 'not found' <<< "$libs"; exit 1
fi
echo "libtorch_cuda linked: $has_cuda; ProcessGroupNCCL references: $nccl"
grep -E 'libtorch|libc10|libgomp|libnccl|libcudart' <<< "$libs" || true
case "$want" in
  ON|on|1|TRUE|true) [ "$has_cuda" = 1 ] && [ "$nccl" -gt 0 ] ;;
  *) [ "$has_cuda" = 0 ] && [ "$nccl" = 0 ] ;;
esac
