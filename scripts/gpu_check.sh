#!/usr/bin/env bash
# The GPU session's checks in one go, on a machine with a CUDA device and PyTorch installed:
#   1. builds zeroth against that PyTorch's LibTorch (ZEROTH_CUDA=ON, build-gpu/), reusing the
#      installed torch (ZEROTH_PYTHON, default python3) rather than downloading the pinned one;
#   2. ctest -L gpu (the CUDA tests) and the CPU suite's build check (cuda_build_linkage);
#   3. scripts/parity_transformers.py on CUDA, when `transformers` is importable;
#   4. `zeroth bench sampler --device cuda` beside Hugging Face generate (sampling, same shape and
#      lengths), when `transformers` is importable (else zeroth alone);
#   5. `zeroth bench train --device cuda`, with MFU = 6 * parameters * train tokens/s / peak bf16
#      FLOP/s when the peak is known (ZEROTH_PEAK_TFLOPS, or the table below by GPU name).
# Prints one JSON object on stdout (progress on stderr); a step that cannot run says why in it.
#   scripts/gpu_check.sh              everything
#   scripts/gpu_check.sh --dry-run    every step but those that need a GPU (build, linkage, the
#                                     CPU-visible skips of ctest -L gpu); marks the others skipped
#   scripts/gpu_check.sh --prepare    on a machine with the Debian archive: downloads the .deb files
#                                     the build needs (and their dependencies) into .gpu-debs/, for
#                                     `apt-get install ./.gpu-debs/*.deb` on a machine without it
# Environment: ZEROTH_PYTHON, ZEROTH_BUILD_DIR (default build-gpu), ZEROTH_PEAK_TFLOPS,
# BENCH_NEW_TOKENS (default 64), BENCH_G (default 16).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=full
case "${1:-}" in
  "") ;;
  --dry-run) mode=dry ;;
  --prepare) mode=prepare ;;
  *) echo "gpu_check: unknown argument '$1' (expected --dry-run or --prepare)" >&2; exit 2 ;;
esac

# What scripts/setup.sh --torch pip needs from Debian (LibTorch itself comes from PyTorch).
debs=(build-essential cmake ninja-build ccache pkg-config nlohmann-json3-dev catch2 libspdlog-dev libfmt-dev
      libre2-dev libcli11-dev libicu-dev libprotobuf-dev protobuf-compiler)

if [ "$mode" = prepare ]; then
  mkdir -p .gpu-debs
  deps=$(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts --no-breaks --no-replaces \
           --no-enhances "${debs[@]}" | grep -E '^[a-z0-9]' | sort -u)
  # Virtual packages have no .deb; apt-get download skips nothing silently, so try one by one.
  (cd .gpu-debs && for p in $deps; do apt-get download -qq "$p" 2>/dev/null || true; done)
  echo "gpu_check: $(ls .gpu-debs/*.deb | wc -l) .deb files in .gpu-debs/ (install: apt-get install ./.gpu-debs/*.deb)" >&2
  exit 0
fi

python=${ZEROTH_PYTHON:-python3}
build_dir=${ZEROTH_BUILD_DIR:-build-gpu}
new_tokens=${BENCH_NEW_TOKENS:-64}
group=${BENCH_G:-16}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
log() { echo "gpu_check: $*" >&2; }
# Each step writes its JSON fragment to $work/<name>.json.
put() { printf '%s\n' "$2" > "$work/$1.json"; }

gpu_present=0
if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then gpu_present=1; fi
gpu_name=$( [ $gpu_present = 1 ] && nvidia-smi --query-gpu=name --format=csv,noheader | head -1 || echo "")
put machine "$("$python" - "$gpu_name" <<'EOF'
import json, os, sys
try:
    import torch
    t = {"torch": torch.__version__, "cuda": torch.version.cuda, "cuda_available": torch.cuda.is_available()}
except Exception as e:
    t = {"torch": None, "error": str(e)}
try:
    import transformers
    t["transformers"] = transformers.__version__
except Exception:
    t["transformers"] = None
t["gpu"] = sys.argv[1] or None
t["cpus"] = os.cpu_count()
print(json.dumps(t))
EOF
)"
has_transformers=$("$python" -c 'import transformers' 2>/dev/null && echo 1 || echo 0)

# 1. Build.
log "building in $build_dir against $("$python" -c 'import torch; print(torch.__version__)')"
start=$(date +%s)
if ZEROTH_PYTHON="$python" ZEROTH_BUILD_DIR="$build_dir" scripts/setup.sh --no-run --torch pip >"$work/build.log" 2>&1; then
  put build "{\"ok\": true, \"seconds\": $(( $(date +%s) - start )), \"dir\": \"$build_dir\"}"
else
  tail -30 "$work/build.log" >&2
  put build "{\"ok\": false, \"seconds\": $(( $(date +%s) - start )), \"log_tail\": $(tail -5 "$work/build.log" | "$python" -c 'import json,sys; print(json.dumps(sys.stdin.read()))')}"
  gpu_present=0; mode=failed
fi
zeroth=$build_dir/zeroth

# 2. Tests: the linkage check always; the GPU tests (they report skipped without a device).
ctest_summary() {  # ctest output -> {"passed": n, "failed": n, "skipped": n}
  "$python" -c '
import json, re, sys
out = sys.stdin.read()
lines = [l for l in out.splitlines() if re.search(r"Test +#\d+:", l)]
print(json.dumps({"passed": sum("Passed" in l for l in lines), "skipped": sum("Skipped" in l or "Not Run" in l for l in lines),
                  "failed": sum(not ("Passed" in l or "Skipped" in l or "Not Run" in l) for l in lines)}))'
}
if [ "$mode" != failed ]; then
  ctest --test-dir "$build_dir" -R cuda_build_linkage --output-on-failure >"$work/linkage.log" 2>&1 || true
  put linkage "$(ctest_summary < "$work/linkage.log")"
  log "ctest -L gpu"
  ctest --test-dir "$build_dir" -L gpu --output-on-failure --timeout 900 >"$work/gpu_tests.log" 2>&1 || true
  cat "$work/gpu_tests.log" >&2
  put gpu_tests "$(ctest_summary < "$work/gpu_tests.log")"
fi

gpu_step() {  # name: true when the step may run; else records why not
  if [ "$mode" = dry ]; then put "$1" '{"skipped": "dry run"}'; return 1; fi
  if [ "$mode" = failed ]; then put "$1" '{"skipped": "build failed"}'; return 1; fi
  if [ $gpu_present = 0 ]; then put "$1" '{"skipped": "no CUDA device (nvidia-smi)"}'; return 1; fi
  return 0
}

# 3. Parity with transformers on CUDA.
if gpu_step parity; then
  if [ "$has_transformers" = 1 ]; then
    log "parity_transformers.py on cuda"
    if "$python" scripts/parity_transformers.py --zeroth "$zeroth" --device cuda >"$work/parity.out" 2>"$work/parity.err"; then ok=true; else ok=false; fi
    put parity "{\"ok\": $ok, \"results\": [$(paste -sd, "$work/parity.out")]}"
  else
    put parity '{"skipped": "transformers is not installed"}'
  fi
fi

# 4. Sampler: zeroth and Hugging Face generate on the same random Qwen2.5-0.5B-shaped model config.
cat > "$work/config.json" <<'EOF'
{"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": 151936, "hidden_size": 896,
 "intermediate_size": 4864, "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2,
 "max_position_embeddings": 32768, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0, "tie_word_embeddings": true,
 "bos_token_id": 151643, "eos_token_id": 151645, "hidden_act": "silu", "torch_dtype": "bfloat16"}
EOF
if gpu_step sampler; then
  log "zeroth bench sampler --device cuda"
  "$zeroth" bench sampler --device cuda --dtype bf16 --config "$work/config.json" --prompt-len 256 \
    --new-tokens "$new_tokens" --g "$group" --prompts 1 > "$work/zs.json" 2>"$work/zs.err" || echo '{"error": "zeroth bench sampler failed"}' > "$work/zs.json"
  if [ "$has_transformers" = 1 ]; then
    log "Hugging Face generate on cuda"
    "$python" - "$work/config.json" "$new_tokens" "$group" > "$work/hf.json" 2>"$work/hf.err" <<'EOF' || echo '{"error": "hf generate failed"}' > "$work/hf.json"
import json, sys, time
import torch
from transformers import Qwen2Config, Qwen2ForCausalLM
cfg = Qwen2Config.from_json_file(sys.argv[1]); new = int(sys.argv[2]); G = int(sys.argv[3])
torch.manual_seed(0)
m = Qwen2ForCausalLM(cfg).to("cuda", torch.bfloat16).eval()
ids = torch.randint(0, cfg.vocab_size, (G, 256), device="cuda")
def run():
    torch.cuda.synchronize(); t = time.perf_counter()
    m.generate(ids, attention_mask=torch.ones_like(ids), do_sample=True, max_new_tokens=new, min_new_tokens=new,
               pad_token_id=0)
    torch.cuda.synchronize(); return time.perf_counter() - t
run()
s = min(run() for _ in range(3))
print(json.dumps({"generate": "transformers", "batch": G, "prompt_len": 256, "new_tokens": new, "seconds": s,
                  "new_tokens_per_s_incl_prefill": G * new / s}))
EOF
  else
    echo '{"skipped": "transformers is not installed"}' > "$work/hf.json"
  fi
  put sampler "{\"zeroth\": $(cat "$work/zs.json"), \"hf_generate\": $(cat "$work/hf.json")}"
fi

# 5. One-step GRPO bench with MFU.
if gpu_step train; then
  log "zeroth bench train --device cuda"
  "$zeroth" bench train --device cuda --dtype bf16 --config "$work/config.json" --steps 2 > "$work/zt.json" 2>"$work/zt.err" \
    || echo '{"error": "zeroth bench train failed"}' > "$work/zt.json"
  put train "$("$python" - "$work/zt.json" "$gpu_name" "${ZEROTH_PEAK_TFLOPS:-}" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1])); name = sys.argv[2]; peak = sys.argv[3]
# Dense bf16 tensor-core peaks (TFLOP/s), from the vendors' data sheets.
table = {"H200": 989.0, "H100 SXM": 989.0, "H100 80GB HBM3": 989.0, "H100 PCIe": 756.0, "A100": 312.0, "L40S": 362.0}
tf = float(peak) if peak else next((v for k, v in table.items() if k in name), None)
if "steps" in r and r["steps"] and tf:
    last = r["steps"][-1]
    tps = last.get("train_tokens_per_s")
    if tps:
        r["mfu"] = 6.0 * r["parameters"] * tps / (tf * 1e12)
        r["mfu_note"] = "6 * parameters * train tokens/s (last step) / %g TFLOP/s; attention FLOPs not counted" % tf
print(json.dumps(r))
EOF
)"
fi

"$python" - "$work" "$mode" <<'EOF'
import json, os, sys
work, mode = sys.argv[1], sys.argv[2]
out = {"check": "gpu", "mode": mode}
for name in ["machine", "build", "linkage", "gpu_tests", "parity", "sampler", "train"]:
    p = os.path.join(work, name + ".json")
    if os.path.exists(p):
        with open(p) as f:
            out[name] = json.loads(f.read())
print(json.dumps(out, indent=1))
EOF
