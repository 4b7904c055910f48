#!/usr/bin/env python3
"""Parity of `zeroth tokenize` with the Rust `tokenizers` library and of `zeroth tokenize --chat` with
transformers' `apply_chat_template(tokenize=False)`, on the real tokenizers in shared/tokenizers/.

Run through the reference environment (scripts/setup_peers.sh); CTest runs it as
`reference_tokenizers_parity` (label `reference`):

    scripts/with_peers.sh scripts/parity_tokenizers.py --zeroth build/zeroth [--shared ../shared] [--fuzz 3000]

Per tokenizer (qwen3, deepseek_v3, llama3):
  encode   every GSM8K question and answer (train + test), every MATH-500 problem and solution,
           AIME 2024 and AMC 2023 problems, and --fuzz random adversarial strings (whitespace of
           every kind incl. U+0085/U+FEFF, contractions and U+017F/U+212A case folds, combining
           marks, digits of several scripts, CJK, emoji/ZWJ, special tokens and near misses; valid
           UTF-8 only): ids of `zeroth tokenize` == `Tokenizer.encode(text, add_special_tokens=False)`.
  special  a sample of the same texts with --add-special-tokens vs add_special_tokens=True (plus the
           BOS that zeroth adds, as transformers 4.x did, for LlamaTokenizerFast + add_bos_token configs).
  decode   `zeroth tokenize --decode` of the ids == `Tokenizer.decode(ids, skip_special_tokens=False)`.
  chat     conversations (the shared chat samples plus GSM8K/MATH turns with system prompts,
           multi-turn, add_generation_prompt both ways, Qwen3 enable_thinking both ways, Llama
           date_string pinned) rendered by `zeroth tokenize --chat` == apply_chat_template(tokenize=False).
Prints one JSON object per tokenizer and check (with the first mismatches), then a summary; exit 1 on
any mismatch.
"""
import argparse, json, os, random, subprocess, sys

HERE = os.path.dirname(os.path.abspath(__file__))


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]


def corpus(shared):
    d = os.path.join(shared, "datasets")
    texts = []
    for split in ("train", "test"):
        for o in read_jsonl(os.path.join(d, "gsm8k", f"{split}.jsonl")):
            texts += [o["question"], o["answer"]]
    for o in read_jsonl(os.path.join(d, "math500", "test.jsonl")):
        texts += [o["problem"], o["solution"]]
    for name in ("aime24", "amc23"):
        for o in read_jsonl(os.path.join(d, name, "test.jsonl")):
            texts.append(o["problem"])
    return texts


def adversarial(n, specials, seed):
    rng = random.Random(seed)
    pieces = [
        " ", "  ", "\t", "\n", "\r\n", "\r", "\n\n", "\u00a0", "\u2009", "\u3000", "\u200b", "\u0085", "\ufeff",
        "\u2028", "\u000b", "\u000c", "'s", "'S", "'t", "'re", "'ve", "'M", "'ll", "'d", "\u017f", "'\u017f",
        "\u212a", "\ufb01", "e\u0301", "\u212b", "a\u0308", "\u0915\u094d\u0937", "0", "12", "345", "6789",
        "\u0661\u0662\u0663", "\u0968\u0969", "\uff11\uff12", "\u00bd", "\u2167", "Hello", "world", "the", " the",
        "\\frac{1}{2}", "\\boxed{42}", "$x^2$", "x_{i,j}", "{", "}}", "((", "...", "!!!", "?!", "--", "<<", ">>",
        "\u4f60\u597d", "\u6570\u5b66", "\u3072\u3089\u304c\u306a", "\u30ab\u30bf\u30ab\u30ca", "\ud55c\uad6d\uc5b4",
        "\U0001f600", "\U0001f468\u200d\U0001f469\u200d\U0001f467", "\U0001f1fa\U0001f1f8", "\U0001f44d\U0001f3fd",
        "\U0001d400\U0001d401", "\U00020000", "\u00e9", "vi\u1ec7c", "\u0436\u0438\u0437\u043d\u044c",
        "\u0645\u0631\u062d\u0628\u0627", "\u05e9\u05dc\u05d5\u05dd", "\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35",
        "def f(x):\n    return x", "\t\tif", "    ", "        \n",
    ]
    for s in specials:
        pieces += [s, s[:-1], s.upper(), " " + s, s + " ", s + s]
    out = []
    for _ in range(n):
        out.append("".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))))
    return out


def zeroth_jsonl(zeroth, argv, objects):
    lines = "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects)
    run = subprocess.run([zeroth, "tokenize", *argv], input=lines.encode(), capture_output=True)
    # split("\n"), not splitlines(): the JSON strings may hold U+2028, U+0085, ... unescaped.
    out = [json.loads(l) for l in run.stdout.decode().split("\n") if l]
    if len(out) != len(objects):
        raise RuntimeError(f"zeroth tokenize {' '.join(argv)}: {len(out)} lines for {len(objects)} inputs "
                           f"(exit {run.returncode}):\n{run.stderr.decode()[-3000:]}")
    return out


def mismatches(pairs, limit=5):
    bad = [(i, a, b) for i, (a, b) in enumerate(pairs) if a != b]
    return len(bad), [{"index": i, "zeroth": a, "reference": b} for i, a, b in bad[:limit]]


def conversations(shared, name):
    d = os.path.join(shared, "datasets")
    gsm = read_jsonl(os.path.join(d, "gsm8k", "test.jsonl"))[:40]
    math = read_jsonl(os.path.join(d, "math500", "test.jsonl"))[:40]
    chats = [{"messages": o["messages"], "add_generation_prompt": o["add_generation_prompt"]}
             for o in read_jsonl(os.path.join(shared, "tokenizers", name, "chat_template_sample.jsonl"))]
    system = "A conversation between User and Assistant. The assistant first thinks about the reasoning process."
    for i, (g, m) in enumerate(zip(gsm, math)):
        msgs = [{"role": "user", "content": g["question"]}]
        if i % 2:
            msgs.insert(0, {"role": "system", "content": system})
        chats.append({"messages": msgs, "add_generation_prompt": True})
        reply = f"<think>\n{m['solution'][:300]}\n</think>\n\n{g['answer'].split('####')[-1].strip()}" if i % 3 == 0 \
            else g["answer"]
        chats.append({"messages": msgs + [{"role": "assistant", "content": reply},
                                          {"role": "user", "content": m["problem"]}],
                      "add_generation_prompt": i % 4 != 1})
        chats.append({"messages": msgs + [{"role": "assistant", "content": reply}], "add_generation_prompt": False})
    if name == "qwen3":
        chats += [dict(c, enable_thinking=False) for c in chats[-20:]]
    if name == "llama3":
        for c in chats:
            c["date_string"] = "26 Jul 2024"  # transformers' strftime_now reads the real clock
    return chats


def check_tokenizer(args, name):
    from tokenizers import Tokenizer
    from transformers import AutoTokenizer
    tdir = os.path.join(args.shared, "tokenizers", name)
    tok = Tokenizer.from_file(os.path.join(tdir, "tokenizer.json"))
    specials = [t.content for t in tok.get_added_tokens_decoder().values()][:40]
    texts = corpus(args.shared)
    fuzz = adversarial(args.fuzz, specials, seed=args.seed * 1000 + sum(map(ord, name)))
    results = []
    for label, items in (("encode_datasets", texts), ("encode_adversarial", fuzz)):
        ref = [e.ids for e in tok.encode_batch(items, add_special_tokens=False)]
        got = [o["ids"] for o in zeroth_jsonl(args.zeroth, ["--tokenizer", tdir], [{"text": t} for t in items])]
        n_bad, first = mismatches(zip(got, ref))
        results.append({"check": label, "strings": len(items), "tokens": sum(map(len, ref)), "mismatches": n_bad,
                        "first": first})
        if label == "encode_adversarial":
            dec_ref = [tok.decode(ids, skip_special_tokens=False) for ids in ref]
            dec = [o["text"] for o in zeroth_jsonl(args.zeroth, ["--tokenizer", tdir, "--decode"], [{"ids": i} for i in ref])]
            n_bad, first = mismatches(zip(dec, dec_ref))
            results.append({"check": "decode_adversarial", "strings": len(ref), "mismatches": n_bad, "first": first})
    sample = texts[::20] + fuzz[::10]
    ref = [e.ids for e in tok.encode_batch(sample, add_special_tokens=True)]
    config = json.load(open(os.path.join(tdir, "tokenizer_config.json"), encoding="utf-8"))
    if config.get("tokenizer_class") == "LlamaTokenizerFast" and config.get("add_bos_token"):
        # Intended difference (docs/text.md, docs/peers.md): for these configs (DeepSeek-V3/R1)
        # zeroth adds BOS as transformers 4.x's LlamaTokenizerFast does; the Rust library's
        # post-processor (ByteLevel) adds nothing, and neither does transformers 5.25.
        bos = config["bos_token"]["content"] if isinstance(config["bos_token"], dict) else config["bos_token"]
        ref = [[tok.token_to_id(bos)] + ids for ids in ref]
    got = [o["ids"] for o in zeroth_jsonl(args.zeroth, ["--tokenizer", tdir, "--add-special-tokens"],
                                          [{"text": t} for t in sample])]
    n_bad, first = mismatches(zip(got, ref))
    results.append({"check": "encode_add_special_tokens", "strings": len(sample), "mismatches": n_bad, "first": first})

    hf = AutoTokenizer.from_pretrained(tdir)
    chats = conversations(args.shared, name)
    ref = []
    for c in chats:
        extra = {k: v for k, v in c.items() if k not in ("messages", "add_generation_prompt")}
        ref.append(hf.apply_chat_template(c["messages"], tokenize=False,
                                          add_generation_prompt=c["add_generation_prompt"], **extra))
    got = [o["text"] for o in zeroth_jsonl(args.zeroth, ["--tokenizer", tdir, "--chat"], chats)]
    n_bad, first = mismatches(zip(got, ref), limit=3)
    results.append({"check": "chat_template", "conversations": len(chats), "mismatches": n_bad, "first": first})
    for r in results:
        r["pass"] = r["mismatches"] == 0
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--zeroth", default="build/zeroth")
    ap.add_argument("--shared", default=os.path.join(HERE, "..", "..", "shared"))
    ap.add_argument("--fuzz", type=int, default=3000, help="adversarial strings per tokenizer")
    ap.add_argument("--seed", type=int, default=23)
    ap.add_argument("--only", default="", help="comma-separated tokenizer names")
    args = ap.parse_args()
    import tokenizers, transformers
    failed = []
    for name in ("qwen3", "deepseek_v3", "llama3"):
        if args.only and name not in args.only.split(","):
            continue
        try:
            results = check_tokenizer(args, name)
        except Exception as e:
            results = [{"check": "error", "pass": False, "message": str(e)}]
        for r in results:
            print(json.dumps({"tokenizer": name, **r}, ensure_ascii=False), flush=True)
            if not r["pass"]:
                failed.append(f"{name}/{r['check']}")
    print(json.dumps({"summary": "tokenizer parity", "tokenizers": tokenizers.__version__,
                      "transformers": transformers.__version__, "failed": failed}))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
