#!/usr/bin/env bash
# Fault test: a tiny SFT -> GRPO -> eval run is killed with SIGKILL at random moments (sampling,
# update, checkpoint write, eval alike) and continued with --resume each time. After the last
# resume the run must have finished with a valid summary.json (every stage done, eval figures), each
# stage's metrics.jsonl must hold every step once and no step twice, and no unfinished checkpoint
# folder may be left. The kill times come from ZEROTH_FAULT_SEED (default 1), so a failure can be
# replayed.
#   scripts/fault_test.sh ZEROTH_BINARY [KILLS]
set -euo pipefail
zeroth=$(realpath "$1")
kills=${2:-6}
cd "$(dirname "$0")/.."
RANDOM=${ZEROTH_FAULT_SEED:-1}
work=$(mktemp -d /tmp/zeroth_fault_XXXXXX)
trap 'rm -rf "$work"' EXIT
cat > "$work/recipe.json" <<JSON
{"name": "fault", "seed": 3, "threads": 1, "stages": [
  {"kind": "sft", "name": "sft",
   "model": {"init": {"config": "$PWD/recipes/tiny/model_config.json", "tokenizer": "$PWD/data/tokenizers/byte_level"}},
   "data": {"generator": "arithmetic", "num_examples": 400, "seed": 5, "eval_fraction": 0.1},
   "prompt": "{question}=", "steps": 12, "batch_size": 16, "save_every": 1, "eval_every": 6,
   "eval": {"rules": "r1_math", "k": 1, "max_new_tokens": 16, "limit": 8}},
  {"kind": "grpo", "name": "grpo", "model": "\${previous}",
   "data": {"generator": "arithmetic", "num_examples": 400, "seed": 5, "eval_fraction": 0.1},
   "prompt": "{question}=", "rules": "r1_math", "steps": 8, "prompts_per_step": 4, "save_every": 1,
   "eval_every": 4, "samples_every": 2,
   "sampling": {"num_generations": 4, "temperature": 1.0, "max_new_tokens": 24},
   "eval": {"rules": "r1_math", "k": 1, "max_new_tokens": 16, "limit": 8}},
  {"kind": "eval", "name": "eval", "model": "\${previous}",
   "data": {"generator": "arithmetic", "num_examples": 400, "seed": 5, "eval_fraction": 0.1},
   "prompt": "{question}=", "rules": "r1_math", "k": 1, "max_new_tokens": 16, "limit": 8}]}
JSON
export ZEROTH_LOG_LEVEL=warn
run="$work/run"

# How long an uninterrupted run takes here: the kills are spread over that span.
start=$(date +%s%N)
"$zeroth" run "$work/recipe.json" --out "$work/reference" > /dev/null
span_ms=$(( ($(date +%s%N) - start) / 1000000 ))
start=$(date +%s%N)
"$zeroth" run "$work/recipe.json" --out "$work/reference" > /dev/null  # every stage done: start-up only
startup_ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "fault: an uninterrupted run takes ${span_ms} ms (start-up ${startup_ms} ms); killing $kills times" >&2

resume=()
for i in $(seq 1 "$kills"); do
  # After its start-up each try works on average (span - start-up) / kills before its kill, so the
  # kills fall all over the run: sampling, updates, checkpoint writes, evaluations.
  work_ms=$((span_ms > startup_ms ? span_ms - startup_ms : 100))
  window=$((2 * work_ms / kills > 50 ? 2 * work_ms / kills : 50))
  delay_ms=$((startup_ms / 2 + (RANDOM * 32768 + RANDOM) % (window + startup_ms / 2)))
  "$zeroth" run "$work/recipe.json" --out "$run" "${resume[@]}" > /dev/null 2>> "$work/log" &
  pid=$!
  sleep "$(printf '%d.%03d' $((delay_ms / 1000)) $((delay_ms % 1000)))"
  if kill -9 "$pid" 2> /dev/null; then
    stage=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1])); print(", ".join(x["name"]+" "+x["status"] for x in s["stages"]))' \
      "$run/summary.json" 2> /dev/null || echo "no summary yet")
    echo "fault: kill $i after ${delay_ms} ms ($stage)" >&2
  else
    echo "fault: run $i finished before its kill at ${delay_ms} ms" >&2
  fi
  wait "$pid" 2> /dev/null || true
  resume=(--resume)
done
"$zeroth" run "$work/recipe.json" --out "$run" --resume > /dev/null

python3 - "$run" "$work/reference" <<'PY'
import json, os, sys
run, reference = sys.argv[1], sys.argv[2]
summary = json.load(open(os.path.join(run, "summary.json")))
names = [s["name"] for s in summary["stages"]]
assert names == ["sft", "grpo", "eval"], names
for s in summary["stages"]:
    assert s["status"] == "done", s
    assert "accuracy" in s.get("eval", {}), s
def lines(root, stage):
    # Every metrics line but its timings, in order: a resumed run must write exactly the lines of
    # the uninterrupted one (no step twice, none missing, same values: the CPU run is bit-exact).
    out = []
    for line in open(os.path.join(root, stage, "metrics.jsonl")):
        m = json.loads(line)
        out.append({k: v for k, v in m.items() if not k.startswith("time") and not k.endswith("_per_s")})
    return out
for stage in ("sft", "grpo"):
    got, want = lines(run, stage), lines(reference, stage)
    steps = lambda ls: [(l.get("step"), sorted(l)) for l in ls]
    assert steps(got) == steps(want), f"{stage}: metric lines differ from the uninterrupted run:\n{steps(got)}\n{steps(want)}"
    assert got == want, f"{stage}: metric values differ from the uninterrupted run"
    left = [d for d in os.listdir(os.path.join(run, stage, "checkpoints")) if d.endswith(".tmp")]
    assert not left, f"{stage}: unfinished checkpoints left: {left}"
# On the CPU a resumed run equals the uninterrupted one bit for bit.
ref = json.load(open(os.path.join(reference, "summary.json")))
for a, b in zip(summary["stages"], ref["stages"]):
    figures = lambda e: {k: v for k, v in e.items() if k != "seconds"}
    assert figures(a["eval"]) == figures(b["eval"]), (a["name"], a["eval"], b["eval"])
print("fault: every kill resumed to the same result as the uninterrupted run")
PY
