#!/usr/bin/env python3
"""Plain-PyTorch eager reference sampler, for `scripts/bench_sampler.sh` to compare zeroth against.

A Qwen2-shaped decoder (random weights) with a preallocated KV cache, run the way a careful
Python user would: torch.no_grad, one forward per token, softmax + multinomial sampling. Prints
one JSON object: prefill tokens/s and decode tokens/s at batch 1 and at batch G. Needs Debian's
python3-torch (run with /usr/bin/python3).
"""
import argparse, json, math, time

import torch
import torch.nn.functional as F


class Model(torch.nn.Module):
    def __init__(self, V, C, L, H, K, I):
        super().__init__()
        self.H, self.K, self.D = H, K, C // H
        self.embed = torch.nn.Embedding(V, C)
        self.layers = torch.nn.ModuleList()
        for _ in range(L):
            m = torch.nn.Module()
            m.ln1 = torch.nn.Parameter(torch.ones(C)); m.ln2 = torch.nn.Parameter(torch.ones(C))
            m.q = torch.nn.Linear(C, H * self.D); m.k = torch.nn.Linear(C, K * self.D); m.v = torch.nn.Linear(C, K * self.D)
            m.o = torch.nn.Linear(H * self.D, C, bias=False)
            m.gate = torch.nn.Linear(C, I, bias=False); m.up = torch.nn.Linear(C, I, bias=False); m.down = torch.nn.Linear(I, C, bias=False)
            self.layers.append(m)
        self.norm = torch.nn.Parameter(torch.ones(C))
        for p in self.parameters():
            if p.dim() > 1: torch.nn.init.normal_(p, std=0.02)

    @staticmethod
    def rms(x, w, eps=1e-6):
        xf = x.float()
        return (xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype) * w

    def rope(self, x, pos):  # x [B, h, T, D], pos [T]
        D = self.D
        inv = 1.0 / (1e6 ** (torch.arange(0, D, 2, dtype=torch.float32) / D))
        f = pos.float()[:, None] * inv[None, :]
        cos, sin = torch.cat([f, f], -1).cos().to(x.dtype), torch.cat([f, f], -1).sin().to(x.dtype)
        x1, x2 = x[..., : D // 2], x[..., D // 2:]
        return x * cos + torch.cat([-x2, x1], -1) * sin

    def forward(self, ids, cache, start):  # ids [B, T]; cache: list of (k, v) [B, K, Tmax, D]
        B, T = ids.shape
        h = self.embed(ids)
        pos = torch.arange(start, start + T)
        for i, m in enumerate(self.layers):
            x = self.rms(h, m.ln1)
            q = m.q(x).view(B, T, self.H, self.D).transpose(1, 2)
            k = m.k(x).view(B, T, self.K, self.D).transpose(1, 2)
            v = m.v(x).view(B, T, self.K, self.D).transpose(1, 2)
            q, k = self.rope(q, pos), self.rope(k, pos)
            ck, cv = cache[i]
            ck[:, :, start:start + T] = k; cv[:, :, start:start + T] = v
            k, v = ck[:, :, :start + T], cv[:, :, :start + T]
            k = k.repeat_interleave(self.H // self.K, 1); v = v.repeat_interleave(self.H // self.K, 1)
            s = (q @ k.transpose(-1, -2)) / math.sqrt(self.D)
            if T > 1:
                mask = torch.ones(T, start + T, dtype=torch.bool).tril(start)
                s = s.masked_fill(~mask, float("-inf"))
            a = (torch.softmax(s.float(), -1).to(q.dtype) @ v).transpose(1, 2).reshape(B, T, -1)
            h = h + m.o(a)
            x = self.rms(h, m.ln2)
            h = h + m.down(F.silu(m.gate(x)) * m.up(x))
        h = self.rms(h[:, -1], self.norm)
        return h @ self.embed.weight.t()  # tied head, last position: [B, V]


def run(model, B, prompt_len, new_tokens, dtype, V):
    torch.manual_seed(0)
    cache = [(torch.zeros(B, model.K, prompt_len + new_tokens + 1, model.D, dtype=dtype),
              torch.zeros(B, model.K, prompt_len + new_tokens + 1, model.D, dtype=dtype)) for _ in model.layers]
    prompt = torch.randint(0, V, (1, prompt_len))
    t0 = time.perf_counter()
    # Prefill once, copy the cache to the B rows (as a group sampler would).
    one = [(k[:1], v[:1]) for k, v in cache]
    logits = model(prompt, one, 0).expand(B, -1)
    for (k, v) in cache:
        k[1:, :, :prompt_len] = k[:1, :, :prompt_len]; v[1:, :, :prompt_len] = v[:1, :, :prompt_len]
    prefill = time.perf_counter() - t0
    t0 = time.perf_counter()
    pos = prompt_len
    for _ in range(new_tokens):
        probs = torch.softmax(logits.float(), -1)
        nxt = torch.multinomial(probs, 1)
        logits = model(nxt, cache, pos)
        pos += 1
    decode = time.perf_counter() - t0
    return {"batch": B, "prefill_tokens_per_s": prompt_len / prefill, "decode_tokens_per_s": B * new_tokens / decode,
            "decode_ms_per_step": 1000 * decode / new_tokens}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--dtype", default="bf16", choices=["bf16", "fp32"])
    ap.add_argument("--prompt-len", type=int, default=256)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--g", type=int, default=16)
    ap.add_argument("--threads", type=int, default=0)
    a = ap.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    dtype = torch.bfloat16 if a.dtype == "bf16" else torch.float32
    V, C, L, H, K, I = 151936, 896, 24, 14, 2, 4864
    torch.manual_seed(0)
    model = Model(V, C, L, H, K, I).to(dtype).eval()
    with torch.no_grad():
        out = {"benchmark": "sampler_reference", "system": "plain PyTorch eager (python3-torch %s)" % torch.__version__,
               "dtype": a.dtype, "threads": torch.get_num_threads(), "prompt_len": a.prompt_len, "new_tokens": a.new_tokens,
               "batch_1": run(model, 1, a.prompt_len, a.new_tokens, dtype, V),
               "group": run(model, a.g, a.prompt_len, a.new_tokens, dtype, V)}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
