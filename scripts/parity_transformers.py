#!/usr/bin/env python3
"""Parity of zeroth's decoder with Hugging Face transformers (GPU session; needs `transformers`).

For each architecture (Qwen2, Qwen3, Llama with llama3 rope scaling) a small random model is made
with transformers, saved with save_pretrained (safetensors), and scored twice on the same random
token ids: by transformers (fp32, eager attention) and by `zeroth score` (fp32). Log-probs of every
token after the first are compared (they are log_softmax of the logits, so a logits mismatch
shows). Bar: max |diff| <= 1e-4 * max(1, |ref|). Prints one JSON object per architecture and exits 1
on a failure.

    python3 scripts/parity_transformers.py --zeroth build/zeroth --device cuda [--hidden 256 --layers 4]

Not runnable on the CPU developers' machines (no transformers there): scripts/make_reference.py is
the CPU counterpart.
"""
import argparse, json, os, shutil, subprocess, sys, tempfile

import torch


def configs(args):
    from transformers import LlamaConfig, Qwen2Config
    common = dict(vocab_size=args.vocab, hidden_size=args.hidden, intermediate_size=args.hidden * 3,
                  num_hidden_layers=args.layers, num_attention_heads=8, num_key_value_heads=2,
                  max_position_embeddings=4096, rms_norm_eps=1e-6, bos_token_id=1, eos_token_id=2,
                  torch_dtype="float32")
    out = {"qwen2": Qwen2Config(tie_word_embeddings=True, rope_theta=1e6, **common),
           "llama": LlamaConfig(tie_word_embeddings=False, rope_theta=5e5,
                                rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                              "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
                                **common)}
    try:
        from transformers import Qwen3Config
        out["qwen3"] = Qwen3Config(tie_word_embeddings=False, rope_theta=1e6, head_dim=args.hidden // 4, **common)
    except ImportError:
        print("transformers has no Qwen3 here; skipping qwen3", file=sys.stderr)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--zeroth", default="build/zeroth")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--vocab", type=int, default=1000)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--length", type=int, default=200)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--tokenizer", default="data/tokenizers/byte_level")
    args = ap.parse_args()
    from transformers import AutoModelForCausalLM
    failed = False
    for name, cfg in configs(args).items():
        torch.manual_seed(0)
        cfg._attn_implementation = "eager"
        model = AutoModelForCausalLM.from_config(cfg).float().eval()
        tmp = tempfile.mkdtemp(prefix=f"parity_{name}_")
        try:
            model.save_pretrained(tmp, safe_serialization=True)
            for f in ("tokenizer.json", "tokenizer_config.json"):
                shutil.copy(os.path.join(args.tokenizer, f), tmp)
            ids = torch.randint(3, args.vocab, (args.batch, args.length))
            with torch.no_grad():
                logits = model.to(args.device)(ids.to(args.device)).logits.float().cpu()
            ref = torch.log_softmax(logits[:, :-1], -1).gather(2, ids[:, 1:, None]).squeeze(2)
            lines = "".join(json.dumps({"prompt_ids": row[:1].tolist(), "completion_ids": row[1:].tolist()}) + "\n"
                            for row in ids)
            run = subprocess.run([args.zeroth, "score", "--model", tmp, "--dtype", "fp32", "--device", args.device],
                                 input=lines, capture_output=True, text=True)
            if run.returncode != 0:
                print(run.stderr, file=sys.stderr)
                raise SystemExit(f"{name}: zeroth score failed")
            got = torch.tensor([json.loads(l)["logprobs"] for l in run.stdout.splitlines()])
            diff = (got - ref).abs()
            bar = 1e-4 * ref.abs().clamp_min(1.0)
            ok = bool((diff <= bar).all())
            failed |= not ok
            print(json.dumps({"arch": name, "tokens": int(ref.numel()), "max_abs_diff": diff.max().item(),
                              "max_rel_diff": (diff / ref.abs().clamp_min(1e-6)).max().item(), "pass": ok,
                              "device": args.device}))
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
