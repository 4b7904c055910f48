#!/usr/bin/env python3
"""Plain-PyTorch eager GRPO step, for `scripts/bench_train.sh` to compare `zeroth bench train` against.

The same step zeroth's loop takes, written as a careful Python user would (no vLLM, no DeepSpeed:
the same ATen library underneath, so the difference is the framework around it):
  sample  P random prompts x G completions with a KV cache: each prompt prefilled once and its
          cache copied to its G rows, then one batched decode step per token (softmax at T = 1,
          torch.multinomial), the behaviour log-probs gathered on the way;
  reward  a cheap rule on the ids (there is no tokenizer here; zeroth's reward is text through a
          rule set, and costs milliseconds either way);
  train   GRPO advantages (z-score per group), then one update (mu = 1, so the ratio is
          exp(logp - logp.detach()) = 1): micro-batches of at most --micro-batch-tokens tokens,
          completion log-probs in chunks of --chunk positions (each chunk's logits kept for
          autograd), entropy of every position (logged, as zeroth and TRL do), clipped surrogate
          (0.2 / 0.28) with token-mean over the step, backward; then gradients to fp32 master
          weights, clip to global norm 1, torch.optim.AdamW on the masters, copy back to bf16.
The model is the Qwen2-shaped decoder of bench_model_reference.py (bf16 weights). Prints one JSON
object with the same step fields as zeroth. Run with Debian's interpreter and the environment
zeroth sets for itself (scripts/bench_train.sh does):
    MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_TOP_PAD_=67108864 \\
    OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 scripts/bench_train_reference.py
"""
import argparse, json, os, resource, sys, time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_model_reference import Model, add_shape_arguments  # noqa: E402


def sample(m, prompts, G, new_tokens, gen):
    P, Tp = prompts.shape
    B, L, K, D = P * G, len(m.layers), m.layers[0].K, m.D
    dtype = m.embed.weight.dtype
    W = m.embed.weight
    total = Tp + new_tokens + 1
    with torch.no_grad():
        pre = [(torch.zeros(P, K, total, D, dtype=dtype), torch.zeros(P, K, total, D, dtype=dtype)) for _ in range(L)]
        h = m.hidden(prompts, pre, 0)
        logits = (h[:, -1] @ W.t()).float().repeat_interleave(G, 0)  # [B, V]
        cache = [(k.repeat_interleave(G, 0), v.repeat_interleave(G, 0)) for k, v in pre]
        del pre
        tokens = torch.empty(B, new_tokens, dtype=torch.long)
        logps = torch.empty(B, new_tokens)
        for t in range(new_tokens):
            lp = torch.log_softmax(logits, -1)
            nxt = torch.multinomial(lp.exp(), 1, generator=gen)  # [B, 1]
            tokens[:, t] = nxt[:, 0]
            logps[:, t] = lp.gather(1, nxt)[:, 0]
            if t + 1 < new_tokens:
                h = m.hidden(nxt, cache, Tp + t)
                logits = (h[:, -1] @ W.t()).float()
    return tokens, logps


def train_step(m, masters, opt, prompts, G, tokens, adv, micro_tokens, chunk):
    P, Tp = prompts.shape
    B, Tc = tokens.shape
    T = Tp + Tc
    ids = torch.cat([prompts.repeat_interleave(G, 0), tokens], 1)  # [B, T]
    W = m.embed.weight
    params = list(m.parameters())
    per_micro = max(1, micro_tokens // T)
    n_tokens = B * Tc
    entropy_sum = 0.0
    times = {"time_train_forward": 0.0, "time_train_backward": 0.0, "time_optimizer": 0.0}
    for s in range(0, B, per_micro):
        t0 = time.perf_counter()
        x, a = ids[s:s + per_micro], adv[s:s + per_micro]
        b = x.shape[0]
        h = m.hidden(x)[:, Tp - 1:T - 1].reshape(-1, W.shape[1])  # positions that predict the completion
        tgt = x[:, Tp:].reshape(-1)
        parts = []
        for c in range(0, h.shape[0], chunk):
            z = (h[c:c + chunk] @ W.t()).float()
            lsm = torch.log_softmax(z, -1)
            parts.append(lsm.gather(1, tgt[c:c + chunk, None])[:, 0])
            with torch.no_grad():
                entropy_sum += float(-(lsm.exp() * lsm).sum())
        lp = torch.cat(parts).view(b, Tc)
        ratio = torch.exp(lp - lp.detach())
        A = a[:, None]
        surrogate = torch.minimum(ratio * A, ratio.clamp(1 - 0.2, 1 + 0.28) * A)
        loss = -surrogate.sum() / n_tokens
        t1 = time.perf_counter()
        loss.backward()
        times["time_train_forward"] += t1 - t0
        times["time_train_backward"] += time.perf_counter() - t1
    t0 = time.perf_counter()
    for p, w in zip(params, masters):
        w.grad = p.grad.float()
        p.grad = None
    torch.nn.utils.clip_grad_norm_(masters, 1.0)
    opt.step()
    opt.zero_grad(set_to_none=True)
    with torch.no_grad():
        for p, w in zip(params, masters):
            p.copy_(w)
    times["time_optimizer"] = time.perf_counter() - t0
    return B * T, entropy_sum / n_tokens, times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--g", type=int, default=8)
    ap.add_argument("--prompt-len", type=int, default=128)
    ap.add_argument("--new-tokens", type=int, default=256)
    ap.add_argument("--micro-batch-tokens", type=int, default=2048)
    ap.add_argument("--chunk", type=int, default=1024)
    ap.add_argument("--steps", type=int, default=1)
    ap.add_argument("--threads", type=int, default=0)
    add_shape_arguments(ap)
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    m = Model(a.vocab, a.hidden, a.layers, a.heads, a.kv_heads, a.intermediate).to(torch.bfloat16)
    masters = [p.detach().float().clone().requires_grad_(True) for p in m.parameters()]
    opt = torch.optim.AdamW(masters, lr=1e-6, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)
    gen = torch.Generator().manual_seed(0)
    steps = []
    for step in range(1, a.steps + 1):
        prompts = torch.randint(0, a.vocab, (a.prompts, a.prompt_len), generator=gen)
        t0 = time.perf_counter()
        m.eval()
        tokens, behaviour_logps = sample(m, prompts, a.g, a.new_tokens, gen)
        t1 = time.perf_counter()
        rewards = ((tokens % 7 == 0).float().mean(1) > 1 / 7).float()  # [B]
        r = rewards.view(a.prompts, a.g)
        adv = ((r - r.mean(1, keepdim=True)) / (r.std(1, keepdim=True) + 1e-4)).view(-1)
        t2 = time.perf_counter()
        m.train()
        trained_tokens, entropy, times = train_step(m, masters, opt, prompts, a.g, tokens, adv, a.micro_batch_tokens, a.chunk)
        t3 = time.perf_counter()
        sampled = tokens.numel()
        steps.append({"step": step, "time_sample": t1 - t0, "time_reward": t2 - t1, "time_train": t3 - t2,
                      "time_step": t3 - t0, "sample_tokens_per_s": sampled / (t1 - t0),
                      "train_tokens_per_s": trained_tokens / (t3 - t2), "completion_len_mean": float(a.new_tokens),
                      "entropy": entropy, **times})
        print("step %d: sample %.1f s, reward %.3f s, train %.1f s" % (step, t1 - t0, t2 - t1, t3 - t2), file=sys.stderr)
    out = {"benchmark": "train_reference_python", "system": "plain PyTorch eager (python3-torch %s)" % torch.__version__,
           "dtype": "bf16", "threads": torch.get_num_threads(), "parameters": sum(p.numel() for p in m.parameters()),
           "prompts": a.prompts, "g": a.g, "prompt_len": a.prompt_len, "new_tokens": a.new_tokens,
           "micro_batch_tokens": a.micro_batch_tokens, "logprob_chunk": a.chunk, "steps": steps,
           "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
