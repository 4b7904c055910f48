#!/usr/bin/env python3
"""Reference logits for zeroth's model tests from an independent plain-PyTorch decoder.

Reads a model directory in Hugging Face layout (config.json + model.safetensors, e.g. written by
`zeroth init-model`), runs Qwen2 / Qwen3 / Llama forward passes written here from transformers'
modeling_{qwen2,qwen3,llama}.py semantics (no transformers import: Debian's python3-torch only),
and writes DIR/reference.safetensors with
    ids      [B, T] int64   deterministic token ids
    logits   [B, T, V] fp32 full-sequence logits
    logprobs [B, T-1] fp32  log p(ids[:, t+1] | ids[:, :t+1])

Usage (Debian's interpreter, which has python3-torch):
    /usr/bin/python3 scripts/make_reference.py tests/data/model/qwen2 [--batch 2 --length 80]
The fixtures in tests/data/model/ are made by scripts/make_model_fixtures.sh.
"""
import argparse, json, math, os, struct

import torch

DTYPES = {"F32": torch.float32, "BF16": torch.bfloat16, "F16": torch.float16, "I64": torch.int64}
NAMES = {v: k for k, v in DTYPES.items()}


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, info in header.items():
        b, e = info["data_offsets"]
        buf = bytearray(data[8 + n + b: 8 + n + e])
        t = torch.frombuffer(buf, dtype=DTYPES[info["dtype"]]) if e > b else torch.empty(0, dtype=DTYPES[info["dtype"]])
        out[name] = t.reshape(info["shape"]).clone()
    return out


def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        raw = t.contiguous().view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def load_weights(model_dir):
    index = os.path.join(model_dir, "model.safetensors.index.json")
    if os.path.exists(index):
        files = sorted(set(json.load(open(index))["weight_map"].values()))
        w = {}
        for f in files:
            w.update(read_safetensors(os.path.join(model_dir, f)))
        return w
    return read_safetensors(os.path.join(model_dir, "model.safetensors"))


def inv_freq_of(cfg, D):
    base = cfg.get("rope_theta", 10000.0)
    inv_freq = 1.0 / (base ** (torch.arange(0, D, 2, dtype=torch.int64).float() / D))
    rs = cfg.get("rope_scaling") or {}
    kind = rs.get("rope_type", rs.get("type", "default"))
    if kind == "linear":
        inv_freq = inv_freq / rs["factor"]
    elif kind == "llama3":  # transformers' _compute_llama3_parameters
        factor, lo, hi = rs["factor"], rs["low_freq_factor"], rs["high_freq_factor"]
        old = rs["original_max_position_embeddings"]
        low_wl, high_wl = old / lo, old / hi
        wavelen = 2 * math.pi / inv_freq
        inv_l = torch.where(wavelen > low_wl, inv_freq / factor, inv_freq)
        smooth = (old / wavelen - lo) / (hi - lo)
        smoothed = (1 - smooth) * inv_l / factor + smooth * inv_l
        medium = ~(wavelen < high_wl) * ~(wavelen > low_wl)
        inv_freq = torch.where(medium, smoothed, inv_l)
    return inv_freq


def rms_norm(x, w, eps):
    xf = x.to(torch.float32)
    xf = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + eps)
    return w * xf.to(x.dtype)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def forward(cfg, w, ids):
    arch = cfg["architectures"][0]
    qwen2, qwen3 = arch == "Qwen2ForCausalLM", arch == "Qwen3ForCausalLM"
    H = cfg["num_attention_heads"]
    K = cfg.get("num_key_value_heads", H)
    D = cfg.get("head_dim", 128 if qwen3 else cfg["hidden_size"] // H)
    eps = cfg.get("rms_norm_eps", 1e-6)
    B, T = ids.shape
    bias = lambda name: w.get(name)
    lin = lambda x, name: torch.nn.functional.linear(x, w[name + ".weight"], bias(name + ".bias"))

    h = w["model.embed_tokens.weight"][ids]
    pos = torch.arange(T)[None, :].expand(B, T)
    freqs = (inv_freq_of(cfg, D)[None, :, None] @ pos[:, None, :].float()).transpose(1, 2)
    emb = torch.cat((freqs, freqs), dim=-1)
    cos, sin = emb.cos()[:, None], emb.sin()[:, None]  # [B, 1, T, D]
    causal = torch.full((T, T), float("-inf")).triu(1)
    for l in range(cfg["num_hidden_layers"]):
        p = f"model.layers.{l}."
        x = rms_norm(h, w[p + "input_layernorm.weight"], eps)
        q = lin(x, p + "self_attn.q_proj").view(B, T, H, D)
        k = lin(x, p + "self_attn.k_proj").view(B, T, K, D)
        v = lin(x, p + "self_attn.v_proj").view(B, T, K, D).transpose(1, 2)
        if qwen3:
            q = rms_norm(q, w[p + "self_attn.q_norm.weight"], eps)
            k = rms_norm(k, w[p + "self_attn.k_norm.weight"], eps)
        q, k = q.transpose(1, 2), k.transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        # repeat_kv: kv head j serves query heads j*G .. j*G+G-1
        k = k[:, :, None].expand(B, K, H // K, T, D).reshape(B, H, T, D)
        v = v[:, :, None].expand(B, K, H // K, T, D).reshape(B, H, T, D)
        scores = (q @ k.transpose(2, 3)) * D ** -0.5 + causal
        probs = torch.softmax(scores, dim=-1, dtype=torch.float32).to(q.dtype)
        a = (probs @ v).transpose(1, 2).reshape(B, T, H * D)
        h = h + lin(a, p + "self_attn.o_proj")
        x = rms_norm(h, w[p + "post_attention_layernorm.weight"], eps)
        g = lin(x, p + "mlp.gate_proj")
        h = h + lin(torch.nn.functional.silu(g) * lin(x, p + "mlp.up_proj"), p + "mlp.down_proj")
    h = rms_norm(h, w["model.norm.weight"], eps)
    head = w.get("lm_head.weight") if not cfg.get("tie_word_embeddings", False) else w["model.embed_tokens.weight"]
    return (h @ head.t()).float()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--length", type=int, default=80)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--out", default=None, help="default: MODEL_DIR/reference.safetensors")
    args = ap.parse_args()
    cfg = json.load(open(os.path.join(args.model_dir, "config.json")))
    w = {k: v.float() for k, v in load_weights(args.model_dir).items()}
    g = torch.Generator().manual_seed(args.seed)
    ids = torch.randint(3, cfg["vocab_size"], (args.batch, args.length), generator=g)
    with torch.no_grad():
        logits = forward(cfg, w, ids)
    logprobs = torch.log_softmax(logits[:, :-1], -1).gather(2, ids[:, 1:, None]).squeeze(2)
    out = args.out or os.path.join(args.model_dir, "reference.safetensors")
    write_safetensors(out, {"ids": ids, "logits": logits.contiguous(), "logprobs": logprobs.contiguous()})
    print(json.dumps({"model": args.model_dir, "ids": list(ids.shape), "logits_abs_max": logits.abs().max().item()}))


if __name__ == "__main__":
    main()
