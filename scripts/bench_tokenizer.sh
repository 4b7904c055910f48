#!/usr/bin/env bash
# Side-by-side single-thread encode throughput on GSM8K (test) + MATH-500 text:
#   zeroth (`zeroth bench tokenizer`), the JavaScript @lenml/tokenizers (transformers.js fork) and
#   the Rust `tokenizers` library through its Node bindings (npm `tokenizers`), for each shared
#   tokenizer. Prints one JSON line per (implementation, tokenizer) and a markdown table.
# Usage: scripts/bench_tokenizer.sh [BUILD_DIR] [MIN_SECONDS]
# npm packages go to .bench/node_modules (git-ignored); node must be on PATH.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
build="${1:-$root/build}"
min_seconds="${2:-3}"
shared="${ZEROTH_SHARED_DIR:-$root/../shared}"
bench_dir="$root/.bench"
mkdir -p "$bench_dir"
if [[ ! -d "$bench_dir/node_modules/@lenml/tokenizers" || ! -d "$bench_dir/node_modules/tokenizers" ]]; then
  (cd "$bench_dir" && npm install --no-audit --no-fund --prefix . @lenml/tokenizers@3.7.2 tokenizers@0.23.2 >&2)
fi
cat > "$bench_dir/bench.js" <<'JS'
// node bench.js SHARED_DIR TOKENIZER MIN_SECONDS -> JSON lines for @lenml/tokenizers and Rust tokenizers
const fs = require("fs");
const path = require("path");
const [shared, name, minSeconds] = [process.argv[2], process.argv[3], Number(process.argv[4])];
const docs = [];
for (const [file, fields] of [["gsm8k/test.jsonl", ["question", "answer"]], ["math500/test.jsonl", ["problem", "solution"]]]) {
  for (const line of fs.readFileSync(path.join(shared, "datasets", file), "utf8").split("\n")) {
    if (!line) continue;
    const j = JSON.parse(line);
    for (const f of fields) if (typeof j[f] === "string") docs.push(j[f]);
  }
}
const bytes = docs.reduce((n, d) => n + Buffer.byteLength(d, "utf8"), 0);
const dir = path.join(shared, "tokenizers", name);
function report(impl, load, cold, warm, passes, tokens) {
  console.log(JSON.stringify({impl, tokenizer: name, threads: 1, documents: docs.length, bytes, tokens,
    load_seconds: load, cold_mb_per_s: bytes / cold / 1e6, warm_passes: passes, mb_per_s: bytes / warm / 1e6}));
}
async function main() {
  {  // @lenml/tokenizers (pure JavaScript)
    const { TokenizerLoader } = require("@lenml/tokenizers");
    let t0 = process.hrtime.bigint();
    const tok = TokenizerLoader.fromPreTrained({
      tokenizerJSON: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")),
      tokenizerConfig: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")),
    });
    const load = Number(process.hrtime.bigint() - t0) / 1e9;
    const pass = () => { let n = 0; const s = process.hrtime.bigint();
      for (const d of docs) n += tok.encode(d, { add_special_tokens: false }).length;
      return [Number(process.hrtime.bigint() - s) / 1e9, n]; };
    const [cold, tokens] = pass();
    let total = 0, passes = 0;
    while (total < minSeconds || passes < 2) { total += pass()[0]; passes++; }
    report("@lenml/tokenizers 3.7.2 (JavaScript)", load, cold, total / passes, passes, tokens);
  }
  {  // Rust tokenizers 0.23.2 through the Node bindings; one awaited encode at a time
    process.env.TOKENIZERS_PARALLELISM = "false";
    const { Tokenizer } = require("tokenizers");
    let t0 = process.hrtime.bigint();
    const tok = Tokenizer.fromFile(path.join(dir, "tokenizer.json"));
    const load = Number(process.hrtime.bigint() - t0) / 1e9;
    const pass = async () => { let n = 0; const s = process.hrtime.bigint();
      for (const d of docs) n += (await tok.encode(d, null, { addSpecialTokens: false })).getIds().length;
      return [Number(process.hrtime.bigint() - s) / 1e9, n]; };
    const [cold, tokens] = await pass();
    let total = 0, passes = 0;
    while (total < minSeconds || passes < 2) { total += (await pass())[0]; passes++; }
    report("tokenizers 0.23.2 (Rust, Node bindings, one await per text)", load, cold, total / passes, passes, tokens);
    // The same library given all texts at once (encodeBatch, TOKENIZERS_PARALLELISM=false: one thread),
    // which removes the per-call Promise overhead of the bindings.
    const batch = async () => { const s = process.hrtime.bigint();
      const encs = await tok.encodeBatch(docs, { addSpecialTokens: false });
      let n = 0; for (const e of encs) n += e.getIds().length;
      return [Number(process.hrtime.bigint() - s) / 1e9, n]; };
    const [bcold, btokens] = await batch();
    total = 0; passes = 0;
    while (total < minSeconds || passes < 2) { total += (await batch())[0]; passes++; }
    report("tokenizers 0.23.2 (Rust, Node bindings, encodeBatch)", load, bcold, total / passes, passes, btokens);
  }
}
main().catch((e) => { console.error(e); process.exit(1); });
JS
results=()
for name in qwen3 deepseek_v3 llama3; do
  z=$("$build/zeroth" bench tokenizer --tokenizer "$shared/tokenizers/$name" --datasets "$shared/datasets" --min-seconds "$min_seconds")
  z=$(python3 -c 'import json,sys; j=json.loads(sys.argv[1]); j["impl"]="zeroth"; j["tokenizer"]=sys.argv[2]; print(json.dumps(j))' "$z" "$name")
  echo "$z"; results+=("$z")
  while IFS= read -r line; do echo "$line"; results+=("$line"); done < <(NODE_PATH="$bench_dir/node_modules" TOKENIZERS_PARALLELISM=false RAYON_NUM_THREADS=1 node "$bench_dir/bench.js" "$shared" "$name" "$min_seconds")
done
printf '%s\n' "${results[@]}" | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if l.strip()]
print()
print("| tokenizer | implementation | tokens | cold MB/s | warm MB/s | zeroth speed-up |")
print("|---|---|---|---|---|---|")
for r in rows:
    z = next(x for x in rows if x["tokenizer"] == r["tokenizer"] and x["impl"] == "zeroth")
    print("| %s | %s | %d | %.2f | %.2f | %.1fx |" % (r["tokenizer"], r["impl"], r["tokens"], r["cold_mb_per_s"], r["mb_per_s"], z["mb_per_s"] / r["mb_per_s"]))'
