#!/usr/bin/env python3
"""Parity of zeroth's decoder with Hugging Face transformers (the real library, fp32, CPU or GPU).

Run through the reference environment (scripts/setup_peers.sh); CTest runs it as
`reference_transformers_parity` (label `reference`):

    scripts/with_peers.sh scripts/parity_transformers.py --zeroth build/zeroth [--device cpu] [--lora-probe build/tests/zeroth_lora_probe]

For each case below a small random model is built by transformers, saved with its own
`save_pretrained` (safetensors + config.json as transformers v5 writes it), and checked:
  score     `zeroth score --dtype fp32` log-probs of random token ids vs log_softmax of transformers'
            logits (eager attention). Bar: |diff| <= 1e-4 * max(1, |ref|) on every token.
  generate  greedy `zeroth generate --temperature 0` vs `model.generate(do_sample=False)`, same
            prompts, same max_new_tokens and EOS. Token-identical, except that a divergence is
            accepted at a near-tie: at the first differing position the gap between transformers'
            top two logits is below --tie-gap (reported as `near_ties`).
  init      a model written by `zeroth init-model` from the same config.json loads in transformers
            with no missing, unexpected or mismatched keys, and scores the same as in `score`.
  trained   the same for the model written by training stages: `zeroth run` of SFT (2 steps) then
            GRPO (1 step) from the transformers-saved model (its weights must have moved).
  lora_peft (with --lora-probe) a LoRA adapter saved by zeroth loads in peft (every stored tensor
            used, none missing), and peft's log-probs equal zeroth's of the merged model.
Cases cover tied and untied heads, head_dim != hidden/heads (Qwen3), q/k norm (Qwen3), llama3 rope
scaling, linear rope scaling, attention and MLP bias, GQA and MHA. Weights use a larger init
(--init-std) than HF's 0.02 so that logits are spread out and greedy ties are rare.
Prints one JSON object per case and check, then a summary; exits 1 on any failure.
"""
import argparse, json, os, shutil, subprocess, sys, tempfile

import torch


def cases(args):
    import transformers as tf
    V, H = args.vocab, args.hidden
    common = dict(vocab_size=V, hidden_size=H, intermediate_size=H * 3, num_hidden_layers=args.layers,
                  max_position_embeddings=4096, bos_token_id=257, eos_token_id=256, pad_token_id=256,
                  initializer_range=args.init_std)
    rope = lambda theta, **extra: dict(rope_parameters=dict(rope_type=extra.pop("rope_type", "default"),
                                                           rope_theta=theta, **extra))
    return {
        # Qwen2: q/k/v bias (always on), tied embeddings, GQA 8/2.
        "qwen2_tied_gqa": tf.Qwen2Config(num_attention_heads=8, num_key_value_heads=2, tie_word_embeddings=True,
                                         rms_norm_eps=1e-6, **rope(1e6), **common),
        # Qwen2 untied, MHA.
        "qwen2_untied_mha": tf.Qwen2Config(num_attention_heads=4, num_key_value_heads=4, tie_word_embeddings=False,
                                           rms_norm_eps=1e-6, **rope(1e4), **common),
        # Qwen3: q/k RMSNorm, head_dim 48 != 128/4, untied, GQA 4/2.
        "qwen3_untied_headdim": tf.Qwen3Config(num_attention_heads=4, num_key_value_heads=2, head_dim=48,
                                               tie_word_embeddings=False, rms_norm_eps=1e-6, **rope(1e6), **common),
        # Qwen3 tied (as the 0.6B/1.7B/4B checkpoints), head_dim 32 == 128/4.
        "qwen3_tied": tf.Qwen3Config(num_attention_heads=4, num_key_value_heads=1, head_dim=32,
                                     tie_word_embeddings=True, rms_norm_eps=1e-6, **rope(1e6), **common),
        # Llama 3 rope scaling (Llama 3.1/3.2 values, original context 64 so that it bites), attention
        # and MLP bias, untied, GQA 8/2.
        "llama3_rope_bias": tf.LlamaConfig(num_attention_heads=8, num_key_value_heads=2, tie_word_embeddings=False,
                                           attention_bias=True, mlp_bias=True, rms_norm_eps=1e-5,
                                           **rope(5e5, rope_type="llama3", factor=8.0, low_freq_factor=1.0,
                                                  high_freq_factor=4.0, original_max_position_embeddings=64),
                                           **common),
        # Llama with linear rope scaling, tied, head_dim given explicitly (32 != 128/8).
        "llama_linear_tied": tf.LlamaConfig(num_attention_heads=8, num_key_value_heads=4, head_dim=32,
                                            tie_word_embeddings=True, rms_norm_eps=1e-5,
                                            **rope(1e4, rope_type="linear", factor=2.0), **common),
    }


def zeroth(args, *argv, stdin=None):
    run = subprocess.run([args.zeroth, *argv], input=stdin, capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"zeroth {' '.join(argv)} failed (exit {run.returncode}):\n{run.stderr}")
    return run.stdout


def hf_logprobs(model, ids):
    with torch.no_grad():
        logits = model(ids).logits.float()
    return torch.log_softmax(logits[:, :-1], -1).gather(2, ids[:, 1:, None]).squeeze(2)


def zeroth_logprobs(args, model_dir, ids):
    lines = "".join(json.dumps({"prompt_ids": row[:1].tolist(), "completion_ids": row[1:].tolist()}) + "\n"
                    for row in ids)
    out = zeroth(args, "score", "--model", model_dir, "--dtype", "fp32", "--device", args.device, stdin=lines)
    return torch.tensor([json.loads(l)["logprobs"] for l in out.split("\n") if l])


def compare_logprobs(ref, got):
    diff = (got - ref).abs()
    bar = 1e-4 * ref.abs().clamp_min(1.0)
    return {"tokens": int(ref.numel()), "max_abs_diff": diff.max().item(),
            "mean_abs_diff": diff.mean().item(), "pass": bool((diff <= bar).all())}


def check_generate(args, model, model_dir, prompts):
    path = os.path.join(model_dir, "prompts.jsonl")
    with open(path, "w") as f:
        for p in prompts:
            f.write(json.dumps({"prompt_ids": p.tolist()}) + "\n")
    out = zeroth(args, "generate", "--model", model_dir, "--prompts", path, "--n", "1", "--temperature", "0",
                 "--max-new-tokens", str(args.new_tokens), "--dtype", "fp32", "--device", args.device, "--seed", "0")
    got = {}
    for line in out.split("\n")[:-1]:  # not splitlines(): U+2028 may be in a string
        o = json.loads(line)
        got[tuple(o["prompt_ids"])] = o["completion_ids"]
    identical, near_ties, failures, tokens = 0, [], [], 0
    for p in prompts:
        with torch.no_grad():
            seq = model.generate(p[None], do_sample=False, max_new_tokens=args.new_tokens,
                                 attention_mask=torch.ones(1, len(p), dtype=torch.long))[0]
        ref = seq[len(p):].tolist()
        mine = got[tuple(p.tolist())]
        tokens += len(ref)
        if mine == ref:
            identical += 1
            continue
        # First differing position; the gap between transformers' top-two logits there.
        k = next((i for i in range(min(len(ref), len(mine))) if ref[i] != mine[i]), min(len(ref), len(mine)))
        prefix = torch.cat([p, torch.tensor(ref[:k], dtype=torch.long)])[None]
        with torch.no_grad():
            logits = model(prefix).logits[0, -1].float()
        top2 = logits.topk(2).values
        gap = (top2[0] - top2[1]).item()
        zeroth_choice = mine[k] if k < len(mine) else None
        record = {"prompt_len": len(p), "position": k, "hf_token": ref[k] if k < len(ref) else None,
                  "zeroth_token": zeroth_choice, "top2_gap": gap,
                  "zeroth_token_logit_gap": (top2[0] - logits[zeroth_choice]).item() if zeroth_choice is not None else None}
        (near_ties if gap < args.tie_gap and record["zeroth_token_logit_gap"] is not None
         and record["zeroth_token_logit_gap"] < args.tie_gap else failures).append(record)
    return {"prompts": len(prompts), "hf_tokens": tokens, "identical": identical, "near_ties": near_ties,
            "failures": failures, "pass": not failures}


def check_init_model(args, config_path, tokenizer, ids, tmp):
    from transformers import AutoModelForCausalLM
    out_dir = os.path.join(tmp, "zeroth_init")
    zeroth(args, "init-model", "--config", config_path, "--tokenizer", tokenizer, "--out", out_dir, "--seed", "3")
    model, info = AutoModelForCausalLM.from_pretrained(out_dir, output_loading_info=True, dtype=torch.float32,
                                                       attn_implementation="eager")
    model.eval()
    keys = {k: sorted(info.get(k, [])) for k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    res = compare_logprobs(hf_logprobs(model, ids), zeroth_logprobs(args, out_dir, ids))
    res.update({k: v for k, v in keys.items() if v})
    res["pass"] = res["pass"] and not any(keys.values())
    return res


def check_trained(args, model_dir, ids, tmp):
    """SFT 2 steps then GRPO 1 step with `zeroth run` from the transformers-saved model; the stage's
    output must load in transformers with no missing/unexpected keys and score as zeroth does."""
    from transformers import AutoModelForCausalLM
    data = {"generator": "arithmetic", "params": {"digits": 2, "ops": "+"}, "num_examples": 64, "seed": 1,
            "eval_fraction": 0.1}
    recipe = {"name": "parity_train", "seed": 1, "device": args.device, "dtype": "fp32", "threads": 1, "stages": [
        {"kind": "sft", "name": "sft", "model": model_dir, "data": data, "prompt": "{question}=", "steps": 2,
         "batch_size": 4, "optimizer": {"lr": 1e-3, "weight_decay": 0.0}},
        {"kind": "grpo", "name": "grpo", "model": "${previous}", "data": data, "prompt": "{question}=",
         "rules": "r1_math", "steps": 1, "prompts_per_step": 2,
         "sampling": {"num_generations": 2, "temperature": 1.0, "max_new_tokens": 8},
         "optimizer": {"lr": 1e-3, "weight_decay": 0.0}}]}
    path = os.path.join(tmp, "recipe.json")
    with open(path, "w") as f:
        json.dump(recipe, f)
    run_dir = os.path.join(tmp, "run")
    zeroth(args, "run", path, "--out", run_dir)
    out_dir = os.path.join(run_dir, "grpo", "model")
    model, info = AutoModelForCausalLM.from_pretrained(out_dir, output_loading_info=True, dtype=torch.float32,
                                                       attn_implementation="eager")
    model.eval()
    keys = {k: sorted(info.get(k, [])) for k in ("missing_keys", "unexpected_keys", "mismatched_keys")}
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    moved = max((a - b).abs().max().item() for a, b in zip(base.parameters(), model.parameters()))
    res = compare_logprobs(hf_logprobs(model, ids), zeroth_logprobs(args, out_dir, ids))
    res.update({k: v for k, v in keys.items() if v})
    res["max_weight_change"] = moved
    res["pass"] = res["pass"] and not any(keys.values()) and moved > 0
    return res


def check_lora(args, model_dir, ids, tmp):
    """A LoRA adapter written by zeroth (tests/model/lora_probe.cpp: rank 4 on every linear, random A
    and B) loads in peft with every adapter weight used, and peft's log-probs equal zeroth's of the
    model with the adapter merged (zeroth score of merge_lora's output)."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM
    out = os.path.join(tmp, "lora")
    run = subprocess.run([args.lora_probe, model_dir, out], capture_output=True, text=True)
    if run.returncode != 0:
        raise RuntimeError(f"zeroth_lora_probe failed (exit {run.returncode}):\n{run.stderr}")
    base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32, attn_implementation="eager")
    model = PeftModel.from_pretrained(base, os.path.join(out, "adapter")).eval()
    from safetensors.torch import load_file
    stored = load_file(os.path.join(out, "adapter", "adapter_model.safetensors"))
    state = {k.replace(".default", ""): v for k, v in model.state_dict().items() if "lora_" in k}
    unused = sorted(set(stored) - set(state))
    missing = sorted(set(state) - set(stored))
    ref = hf_logprobs(model, ids)
    with model.disable_adapter():
        effect = (hf_logprobs(model, ids) - ref).abs().max().item()  # the adapter must matter
    res = compare_logprobs(ref, zeroth_logprobs(args, os.path.join(out, "merged"), ids))
    res.update({"adapter_tensors": len(stored), "adapter_effect": effect, **({"unused": unused[:5]} if unused else {}),
                **({"missing": missing[:5]} if missing else {})})
    res["pass"] = res["pass"] and not unused and not missing and effect > 1e-3
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--zeroth", default="build/zeroth")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--lora-probe", default="", help="the zeroth_lora_probe binary: also load a zeroth LoRA adapter in peft")
    # The byte-level test tokenizer's size: zeroth's sampler never emits ids past the tokenizer's
    # vocabulary (the padding rows of e.g. Qwen2.5's 151,936-row embedding), transformers' would.
    ap.add_argument("--vocab", type=int, default=263)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=3)
    ap.add_argument("--length", type=int, default=96, help="tokens per scored sequence")
    ap.add_argument("--batch", type=int, default=3)
    ap.add_argument("--prompts", type=int, default=4, help="greedy prompts per case")
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--init-std", type=float, default=0.1)
    ap.add_argument("--tie-gap", type=float, default=1e-4, help="top-2 logit gap below which a divergence is a near-tie")
    ap.add_argument("--only", default="", help="comma-separated case names")
    ap.add_argument("--tokenizer", default=os.path.join(os.path.dirname(__file__), "..", "data", "tokenizers", "byte_level"))
    args = ap.parse_args()
    import transformers
    from transformers import AutoModelForCausalLM
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    failed = []
    for name, cfg in cases(args).items():
        if args.only and name not in args.only.split(","):
            continue
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager", dtype=torch.float32).eval()
        tmp = tempfile.mkdtemp(prefix=f"parity_{name}_")
        try:
            model.save_pretrained(tmp, safe_serialization=True)
            for f in ("tokenizer.json", "tokenizer_config.json"):
                shutil.copy(os.path.join(args.tokenizer, f), tmp)
            g = torch.Generator().manual_seed(1)
            ids = torch.randint(3, args.vocab, (args.batch, args.length), generator=g)
            results = {"score": compare_logprobs(hf_logprobs(model, ids), zeroth_logprobs(args, tmp, ids))}
            prompts = [torch.randint(3, args.vocab, (n,), generator=g) for n in
                       [5 + 7 * i for i in range(args.prompts)]]
            results["generate"] = check_generate(args, model, tmp, prompts)
            results["init_model"] = check_init_model(args, os.path.join(tmp, "config.json"), args.tokenizer, ids, tmp)
            results["trained"] = check_trained(args, tmp, ids, tmp)
            if args.lora_probe:
                results["lora_peft"] = check_lora(args, tmp, ids, tmp)
        except Exception as e:  # one case's failure must not hide the others
            results = {"error": {"pass": False, "message": str(e)}}
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        for check, res in results.items():
            print(json.dumps({"case": name, "check": check, **res}), flush=True)
            if not res["pass"]:
                failed.append(f"{name}/{check}")
    print(json.dumps({"summary": "transformers parity", "transformers": transformers.__version__,
                      "torch": torch.__version__, "device": args.device, "failed": failed}))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
