#!/usr/bin/env python3
"""Plain-PyTorch eager reference for `zeroth bench model` (same shape, same library underneath).

A Qwen2-shaped decoder (default: the Qwen2.5-0.5B shape, random weights) written as a careful
Python user would: nn.Linear modules, HF-style RMSNorm / rotary / GQA attention, and
  - prefill (batch 1, prompt into a preallocated KV cache) in tokens/s,
  - single-token decode latency (batch 1),
  - forward + backward of completion log-probs over a batch x length scoring batch, the log-probs
    computed in chunks of positions (each chunk's logits stay alive for autograd: what eager
    PyTorch can do without a custom autograd function),
best and median of --repeats runs, one JSON object on stdout. Run with Debian's interpreter:
    MALLOC_MMAP_THRESHOLD_=1073741824 MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_TOP_PAD_=67108864 \\
    OPENBLAS_CORETYPE=SkylakeX /usr/bin/python3 scripts/bench_model_reference.py --dtype bf16
(the environment zeroth sets for itself at start-up).
"""
import argparse, json, math, resource, time

import torch
import torch.nn.functional as F


class Layer(torch.nn.Module):
    def __init__(self, C, H, K, D, I):
        super().__init__()
        self.H, self.K, self.D = H, K, D
        self.ln1 = torch.nn.Parameter(torch.ones(C))
        self.ln2 = torch.nn.Parameter(torch.ones(C))
        self.q = torch.nn.Linear(C, H * D)
        self.k = torch.nn.Linear(C, K * D)
        self.v = torch.nn.Linear(C, K * D)
        self.o = torch.nn.Linear(H * D, C, bias=False)
        self.gate = torch.nn.Linear(C, I, bias=False)
        self.up = torch.nn.Linear(C, I, bias=False)
        self.down = torch.nn.Linear(I, C, bias=False)


def rms(x, w, eps=1e-6):
    xf = x.float()
    return w * (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


class Model(torch.nn.Module):
    def __init__(self, V, C, L, H, K, I):
        super().__init__()
        D = C // H
        self.D = D
        self.embed = torch.nn.Embedding(V, C)
        self.layers = torch.nn.ModuleList([Layer(C, H, K, D, I) for _ in range(L)])
        self.norm = torch.nn.Parameter(torch.ones(C))
        for p in self.parameters():
            if p.dim() > 1:
                torch.nn.init.normal_(p, std=0.02)
        self.inv_freq = 1.0 / (1e6 ** (torch.arange(0, D, 2, dtype=torch.float32) / D))

    def rope(self, x, pos):  # x [B, h, T, D], pos [T]
        f = pos.float()[:, None] * self.inv_freq[None, :]
        emb = torch.cat([f, f], -1)
        cos, sin = emb.cos().to(x.dtype), emb.sin().to(x.dtype)
        half = self.D // 2
        return x * cos + torch.cat([-x[..., half:], x[..., :half]], -1) * sin

    def hidden(self, ids, cache=None, start=0):
        B, T = ids.shape
        h = self.embed(ids)
        pos = torch.arange(start, start + T)
        causal = torch.full((T, start + T), float("-inf")).triu(start + 1) if T > 1 else None
        for i, m in enumerate(self.layers):
            x = rms(h, m.ln1)
            q = m.q(x).view(B, T, m.H, m.D).transpose(1, 2)
            k = m.k(x).view(B, T, m.K, m.D).transpose(1, 2)
            v = m.v(x).view(B, T, m.K, m.D).transpose(1, 2)
            q, k = self.rope(q, pos), self.rope(k, pos)
            if cache is not None:
                ck, cv = cache[i]
                ck[:, :, start:start + T] = k
                cv[:, :, start:start + T] = v
                k, v = ck[:, :, :start + T], cv[:, :, :start + T]
            k = k.repeat_interleave(m.H // m.K, 1)
            v = v.repeat_interleave(m.H // m.K, 1)
            s = (q @ k.transpose(-1, -2)) / math.sqrt(m.D)
            if causal is not None:
                s = s + causal.to(s.dtype)
            a = torch.softmax(s.float(), -1).to(q.dtype) @ v
            h = h + m.o(a.transpose(1, 2).reshape(B, T, -1))
            x = rms(h, m.ln2)
            h = h + m.down(F.silu(m.gate(x)) * m.up(x))
        return rms(h, self.norm)


def add_shape_arguments(ap):
    """The model-shape flags (default: the Qwen2.5-0.5B shape), shared with bench_train_reference.py."""
    for name, default in (("vocab", 151936), ("hidden", 896), ("layers", 24), ("heads", 14), ("kv-heads", 2),
                          ("intermediate", 4864)):
        ap.add_argument("--" + name, type=int, default=default)


def stats(v, higher_is_better=False):
    v = sorted(v)
    return {"best": v[-1] if higher_is_better else v[0], "median": v[len(v) // 2], "runs": len(v)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtype", default="bf16", choices=["fp32", "bf16"])
    add_shape_arguments(ap)
    ap.add_argument("--prompt-len", type=int, default=256)
    ap.add_argument("--decode-tokens", type=int, default=16)
    ap.add_argument("--score-batch", type=int, default=16)
    ap.add_argument("--score-len", type=int, default=512)
    ap.add_argument("--chunk", type=int, default=1024)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--skip-score", action="store_true")
    ap.add_argument("--threads", type=int, default=0, help="intra-op threads (0: torch's default)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    dtype = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    torch.manual_seed(0)
    m = Model(a.vocab, a.hidden, a.layers, a.heads, a.kv_heads, a.intermediate).to(dtype)
    out = {"benchmark": "model_reference_python", "dtype": a.dtype, "threads": torch.get_num_threads(),
           "torch": torch.__version__, "parameters": sum(p.numel() for p in m.parameters())}
    V, K, D = a.vocab, a.kv_heads, a.hidden // a.heads
    with torch.no_grad():
        prefill, decode = [], []
        max_len = a.prompt_len + a.decode_tokens + 1
        cache = [(torch.zeros(1, K, max_len, D, dtype=dtype), torch.zeros(1, K, max_len, D, dtype=dtype))
                 for _ in range(a.layers)]
        prompt = torch.randint(0, V, (1, a.prompt_len))
        for r in range(a.repeats + 1):
            t0 = time.perf_counter()
            m.hidden(prompt, cache, 0)
            s = time.perf_counter() - t0
            nxt = torch.randint(0, V, (1, 1))
            steps = []
            for i in range(a.decode_tokens):
                t1 = time.perf_counter()
                h = m.hidden(nxt, cache, a.prompt_len + i)
                logits = (h[:, -1] @ m.embed.weight.t()).float()
                nxt = logits.argmax(-1, keepdim=True)
                steps.append(1000 * (time.perf_counter() - t1))
            if r == 0:
                continue
            prefill.append(a.prompt_len / s)
            decode.append(sorted(steps)[len(steps) // 2])
        out["prefill_tokens_per_s"] = stats(prefill, True)
        out["decode_ms_per_token"] = stats(decode)
        out["decode_tokens_per_s_best"] = 1000.0 / min(decode)
    if not a.skip_score:
        m.train()
        ids = torch.randint(0, V, (a.score_batch, a.score_len))
        T = a.score_len
        tps, fwd, bwd = [], [], []
        for r in range(a.repeats):
            m.zero_grad(set_to_none=True)
            t0 = time.perf_counter()
            h = m.hidden(ids)[:, :-1].reshape(-1, a.hidden)
            tgt = ids[:, 1:].reshape(-1)
            parts = []
            for s in range(0, h.shape[0], a.chunk):
                z = (h[s:s + a.chunk] @ m.embed.weight.t()).float()
                parts.append(torch.log_softmax(z, -1).gather(1, tgt[s:s + a.chunk, None]).squeeze(1))
            loss = -torch.cat(parts).mean()
            loss.item()
            f = time.perf_counter() - t0
            t1 = time.perf_counter()
            loss.backward()
            b = time.perf_counter() - t1
            fwd.append(f); bwd.append(b)
            tps.append(a.score_batch * a.score_len / (f + b))
        out.update({"score_batch": a.score_batch, "score_len": a.score_len, "logprob_chunk": a.chunk,
                    "forward_backward_tokens_per_s": stats(tps, True), "forward_s": stats(fwd), "backward_s": stats(bwd)})
    out["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps(out))


if __name__ == "__main__":
    main()
