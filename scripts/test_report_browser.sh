#!/usr/bin/env bash
# Browser test of `zeroth report`: builds a synthetic run directory (an SFT stage that finished and
# a GRPO stage still running, with the trainer's figures, an unknown figure, samples with
# HTML-hostile text and a half-written last line), writes report.html, opens it in headless
# Chromium and checks that the page's own check passed (every chart path non-empty and drawn) and
# that the browser logged no console message. Exit 77 (CTest: skipped) when chromium is missing.
#   scripts/test_report_browser.sh ZEROTH_BINARY [--screenshot PNG] [--keep DIR]
# Registered in tests/CMakeLists.txt; docs/report.png comes from the --screenshot flag.
set -euo pipefail

zeroth=${1:?usage: test_report_browser.sh ZEROTH_BINARY [--screenshot PNG] [--keep DIR]}
shift
screenshot=""
keep=""
while [ $# -gt 0 ]; do
  case "$1" in
    --screenshot) screenshot=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

browser=""
for b in chromium chromium-browser; do
  if command -v "$b" >/dev/null 2>&1; then browser=$b; break; fi
done
if [ -z "$browser" ]; then
  echo "SKIPPED: chromium is not installed (scripts/setup.sh installs Debian's chromium and chromium-driver)"
  exit 77
fi

if [ -n "$keep" ]; then
  work=$keep
  rm -rf "$work"
  mkdir -p "$work"
else
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
fi
run="$work/run"
mkdir -p "$run/sft" "$run/grpo"

cat > "$run/summary.json" <<'EOF'
{"stages": [
  {"name": "sft", "kind": "sft", "status": "done", "seconds": 312.4,
   "eval": {"dataset": "countdown", "n": 256, "k": 4, "accuracy": 0.121, "format_rate": 0.934, "mean_length": 187.2}},
  {"name": "grpo", "kind": "grpo", "status": "running"}
]}
EOF
cp "$run/summary.json" "$run/recipe.json"
echo '{"dataset": "countdown", "n": 256, "k": 4, "accuracy": 0.121, "format_rate": 0.934, "mean_length": 187.2}' > "$run/sft/eval.json"

# SFT: 40 steps of a decaying loss.
awk 'BEGIN { srand(1); for (s = 0; s < 40; s++) {
  loss = 0.6 + 1.8 * exp(-s / 9) + 0.05 * (rand() - 0.5);
  lr = (s < 4 ? 2e-5 * (s + 1) / 4 : 2e-5 * (1 - (s - 4) / 40));
  printf "{\"step\": %d, \"loss\": %.4f, \"lr\": %.3g, \"grad_norm\": %.3f, \"tokens_per_s\": %.0f}\n", s, loss, lr, 2 + rand(), 5200 + 300 * rand() } }' \
  > "$run/sft/metrics.jsonl"

# GRPO: 60 steps of the trainer's figures, KL missing at step 17 (a null), then a half-written line.
awk 'BEGIN { srand(2); for (s = 0; s < 60; s++) {
  acc = 0.12 + 0.5 * (1 - exp(-s / 25)) + 0.04 * (rand() - 0.5);
  fmt = 0.93 + 0.06 * (1 - exp(-s / 10)) + 0.01 * (rand() - 0.5);
  kl = (s == 17 ? "null" : sprintf("%.5f", 0.002 * s * (1 + 0.2 * rand())));
  len = 190 + 4 * s + 20 * (rand() - 0.5);
  ts = 6 + len / 60 + rand(); tr = 0.2 + 0.05 * rand(); tt = 3.5 + 0.3 * rand();
  printf "{\"step\": %d, \"reward_mean\": %.4f, \"reward_std\": %.4f, \"reward/accuracy_mean\": %.4f, \"reward/format_mean\": %.4f, ", s, acc + fmt, 0.45 - 0.1 * s / 60, acc, fmt;
  printf "\"accuracy\": %.4f, \"format_rate\": %.4f, \"advantage_mean\": 0.0, \"advantage_std\": %.3f, \"frac_zero_std\": %.3f, ", acc, fmt, 0.9, 0.3 * exp(-s / 30);
  printf "\"kl\": %s, \"clip_frac_low\": %.4f, \"clip_frac_high\": %.4f, \"entropy\": %.4f, \"policy_loss\": %.4f, \"grad_norm\": %.3f, \"lr\": 1e-6, ", kl, 0.002 * rand(), 0.01 * rand(), 1.1 - 0.006 * s, 0.02 * (rand() - 0.5), 0.5 + rand();
  printf "\"completion_len_mean\": %.1f, \"completion_len_max\": %d, \"truncation_rate\": %.3f, \"sample_tokens_per_s\": %.0f, \"train_tokens_per_s\": %.0f, ", len, (len * 2 > 512 ? 512 : len * 2), (len > 300 ? 0.1 : 0.02), 2400 + 200 * rand(), 6100 + 300 * rand();
  printf "\"time_sample\": %.3f, \"time_reward\": %.3f, \"time_train\": %.3f, \"time_step\": %.3f, \"zeroth_custom_figure\": %.3f}\n", ts, tr, tt, ts + tr + tt, sin(s / 6) } }' \
  > "$run/grpo/metrics.jsonl"
printf '{"step": 60, "reward_mean": 1.4' >> "$run/grpo/metrics.jsonl"

# Samples: at steps 0, 20 and 40, two prompts with four completions each.
for step in 0 20 40; do
  for p in 0 1; do
    for g in 0 1 2 3; do
      if [ $(((g + p + step / 20) % 2)) -eq 0 ]; then
        completion="<think>We need 24 from 3, 4, 2: 3 * 4 = 12 and 12 * 2 = 24 & that's it <b>bold?</b></think><answer>3 * 4 * 2</answer>"
        acc=1.0; fmt=1.0; adv=0.866
      else
        completion="<think>Try 3 + 4 = 7... then 7 * 2 = 14 < 24</think> no answer tag <script>alert(\\\"x\\\")</script>"
        acc=0.0; fmt=0.0; adv=-0.866
      fi
      printf '{"step": %d, "prompt": "Using the numbers [3, 4, 2] (prompt %d), create an equation that equals 24. Show your work in <think> </think> tags.", "completion": "%s", "rewards": {"accuracy": %s, "format": %s}, "reward": %s, "advantage": %s, "answer": "24"}\n' \
        "$step" "$p" "$completion" "$acc" "$fmt" "$(awk "BEGIN{print $acc + $fmt}")" "$adv" >> "$run/grpo/samples.jsonl"
    done
  done
done

ZEROTH_LOG_LEVEL=warn "$zeroth" report "$run"
[ -f "$run/report.html" ] || { echo "FAIL: $run/report.html was not written"; exit 1; }

flags=(--headless --no-sandbox --disable-gpu --user-data-dir="$work/profile" --enable-logging=stderr --v=0)
url="file://$(cd "$run" && pwd)/report.html"
if ! timeout 120 "$browser" "${flags[@]}" --dump-dom "$url" > "$work/dom.html" 2> "$work/browser.log"; then
  echo "FAIL: $browser --dump-dom failed; its log:"
  tail -20 "$work/browser.log"
  exit 1
fi

status=0
status_line=$(grep -o '<p id="report-status"[^>]*>[^<]*</p>' "$work/dom.html" || true)
echo "page check: $status_line"
if ! echo "$status_line" | grep -q 'data-status="ok"'; then
  echo "FAIL: the page's chart check did not report ok (script error or empty paths)"
  status=1
fi
charts=$(echo "$status_line" | sed -nE 's/.*>ok: ([0-9]+) charts, ([0-9]+) series, ([0-9]+) drawn, 0 empty<.*/\1 \2 \3/p')
read -r n_charts n_series n_drawn <<< "${charts:-0 0 0}"
# sft: 4 charts (loss, throughput, grad norm, lr), 4 series; grpo: 13 figure groups + the custom
# figure = 14 charts, 26 series (reward 4, accuracy/format 2, loss 1, kl 1, entropy 1, clip 2,
# length 2, truncation 1, advantages 3, step time 4, throughput 2, grad norm 1, lr 1, custom 1).
if [ "$n_charts" -ne 18 ] || [ "$n_series" -ne 30 ] || [ "$n_drawn" -ne "$n_series" ]; then
  echo "FAIL: expected 18 charts and 30 drawn series, got: ${charts:-none}"
  status=1
fi
if grep -q ' d=""' "$work/dom.html"; then
  echo "FAIL: an SVG path with an empty d attribute"
  status=1
fi
if grep -q '<script>alert' "$work/dom.html"; then
  echo "FAIL: sample text reached the DOM unescaped"
  status=1
fi
if grep -E ':CONSOLE[:(]' "$work/browser.log"; then
  echo "FAIL: the browser logged console messages (above)"
  status=1
fi

if [ -n "$screenshot" ]; then
  mkdir -p "$(dirname "$screenshot")"
  timeout 120 "$browser" "${flags[@]}" --hide-scrollbars --window-size=1280,2200 --screenshot="$screenshot" "$url" \
    2>> "$work/browser.log" >/dev/null
  [ -s "$screenshot" ] || { echo "FAIL: no screenshot written to $screenshot"; status=1; }
fi

if [ $status -eq 0 ]; then
  echo "report browser test: ok ($n_charts charts, $n_series series drawn, no console messages)"
fi
exit $status
