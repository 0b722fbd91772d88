#!/usr/bin/python3
"""Independent PyTorch reference for Qwen3-Reranker (Qwen3ForCausalLM scored by yes/no logits).

    /usr/bin/python3 tests/reference/qwen3_reference.py MODEL_DIR INPUTS_JSON OUT_JSON
        [--name TEXT] [--threads N] [--no-f64] [--no-padded]

MODEL_DIR is a Hugging Face folder (config.json + model.safetensors, or sharded
*.safetensors + model.safetensors.index.json; tensors F32, F16 or BF16).
INPUTS_JSON is a file written by gen_qwen3_inputs.mjs (prompt token ids per
query, plus the "yes"/"no" token ids).

Nothing from transformers / safetensors is used: the checkpoint is read by the
minimal safetensors reader below and the forward is written out with torch
ops, following the Hugging Face Qwen3 definition (transformers
models/qwen3/modeling_qwen3.py, eager attention):
  - RMSNorm as Qwen3RMSNorm: in float32, x * rsqrt(mean(x^2) + eps), cast back,
    times the weight;
  - q_norm / k_norm: RMSNorm over head_dim of every head, before RoPE;
  - RoPE, default rope type: inv_freq = 1 / theta^(arange(0, hd, 2) / hd) in
    float32, angles = position * inv_freq, emb = cat(angles, angles),
    x * cos + rotate_half(x) * sin with rotate_half(x) = cat(-x2, x1);
  - grouped-query attention: kv heads repeated with repeat_interleave
    (query head j reads kv head j // (n_heads / n_kv_heads)), scores scaled by
    head_dim^-0.5, additive causal mask of finfo.min, softmax;
  - MLP: down(silu(gate(x)) * up(x)); residual adds after attention and MLP;
  - final model.norm, then the LM-head rows of the "yes" and "no" tokens
    (embed_tokens rows when tie_word_embeddings, else lm_head.weight rows).

Score = logit_yes - logit_no at the last token (the official relevance is
P(yes) = softmax([no, yes])[1] = sigmoid(score)). Provisional score of layer
l = the same head on the last-token state after layer l (l = 0: embedding
output), so layer_scores[L] == scores.

Every candidate runs ALONE with positions 0..len-1 (the golden values: the
official scoring is per sequence). Also checked and reported: the same
candidates as one left-padded batch (pad id <|endoftext|> 151643) with an
attention mask and explicit position_ids = cumsum(mask) - 1, as HF generation
builds them, must equal the alone run within float noise; the float64 run of
the alone forward (same weights widened; inv_freq and cos/sin in float64)
gives the intrinsic float32 noise.

OUT_JSON = {"model", "n_layers", "yes_id", "no_id", "score", "queries":
[{"qid", "doc_ids", "scores", "layer_scores": [[...] for layers 0..L]}], plus
informational keys}. Scores are float32 values printed with 9 significant
digits (round-trip exact).
"""

import argparse
import hashlib
import json
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

PAD_ID = 151643  # <|endoftext|>, the Qwen3 tokenizer's pad token

# ----------------------------------------------------------------------------
# Minimal safetensors reader
# ----------------------------------------------------------------------------

_NP_DTYPES = {
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),  # widened below: uint16 << 16 viewed as float32
    "F64": np.dtype("<f8"),
}


def read_safetensors(path):
    """Return ({name: float32 np.ndarray}, {name: dtype string}) for one file."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError(f"{path}: file too short for the 8-byte header length")
        (hlen,) = struct.unpack("<Q", head)
        if hlen > size - 8:
            raise ValueError(f"{path}: header length {hlen} exceeds file size {size}")
        header = json.loads(f.read(hlen).decode("utf-8"))
        data = f.read()
    out, dtypes = {}, {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dt = info["dtype"]
        if dt not in _NP_DTYPES:
            raise ValueError(f"{path}: tensor {name}: unsupported dtype {dt}")
        start, end = info["data_offsets"]
        shape = tuple(info["shape"])
        npdt = _NP_DTYPES[dt]
        n = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if end - start != n * npdt.itemsize or 8 + hlen + end > size or start < 0:
            raise ValueError(f"{path}: tensor {name}: bad data_offsets {start}..{end} "
                             f"for {dt} {list(shape)}")
        arr = np.frombuffer(data, dtype=npdt, count=n, offset=start).reshape(shape)
        if dt == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        else:
            arr = arr.astype(np.float32)
        out[name] = arr
        dtypes[name] = dt
    return out, dtypes


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_checkpoint(model_dir):
    """Read all tensors of a HF folder (single file or sharded with index)."""
    index = os.path.join(model_dir, "model.safetensors.index.json")
    single = os.path.join(model_dir, "model.safetensors")
    if os.path.exists(index):
        with open(index) as f:
            weight_map = json.load(f)["weight_map"]
        files = sorted(set(weight_map.values()))
    elif os.path.exists(single):
        weight_map = None
        files = ["model.safetensors"]
    else:
        raise FileNotFoundError(f"{model_dir}: neither model.safetensors nor "
                                f"model.safetensors.index.json")
    tensors, dtypes, hashes = {}, {}, {}
    for fn in files:
        p = os.path.join(model_dir, fn)
        t, d = read_safetensors(p)
        for k in t:
            if k in tensors:
                raise ValueError(f"{p}: tensor {k} appears in more than one shard")
            if weight_map is not None and weight_map.get(k) != fn:
                raise ValueError(f"{p}: tensor {k} not mapped to this shard by the index")
        tensors.update(t)
        dtypes.update(d)
        hashes[fn] = sha256_file(p)
    return tensors, dtypes, hashes


# ----------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------

class Qwen3Weights:
    """Qwen3ForCausalLM weights (only the yes/no LM-head rows) as torch tensors of one dtype."""

    def __init__(self, cfg, tensors, yes_id, no_id, dtype=torch.float32):
        archs = cfg.get("architectures") or []
        if archs[:1] != ["Qwen3ForCausalLM"]:
            raise ValueError(f"architectures {archs}: expected Qwen3ForCausalLM")
        if cfg.get("hidden_act", "silu") != "silu":
            raise ValueError(f"hidden_act {cfg.get('hidden_act')!r} not supported")
        if cfg.get("attention_bias", False):
            raise ValueError("attention_bias true not supported")
        if cfg.get("rope_scaling") is not None:
            raise ValueError("rope_scaling not supported")
        if cfg.get("use_sliding_window", False):
            raise ValueError("use_sliding_window not supported")
        self.H = cfg["hidden_size"]
        self.L = cfg["num_hidden_layers"]
        self.nh = cfg["num_attention_heads"]
        kv = cfg.get("num_key_value_heads", 32)
        self.nkv = self.nh if kv is None else kv
        self.hd = cfg.get("head_dim", 128)
        self.F = cfg["intermediate_size"]
        self.V = cfg["vocab_size"]
        self.eps = float(cfg.get("rms_norm_eps", 1e-6))
        self.theta = float(cfg.get("rope_theta", 10000.0))
        self.tied = bool(cfg.get("tie_word_embeddings", False))
        self.dtype = dtype
        if self.nh % self.nkv:
            raise ValueError("num_attention_heads not divisible by num_key_value_heads")
        if not (0 <= yes_id < self.V and 0 <= no_id < self.V):
            raise ValueError(f"yes/no ids {yes_id}/{no_id} outside the vocabulary")
        used = set()

        def g(name, shape):
            if name not in tensors:
                raise KeyError(f"tensor {name} not found in checkpoint")
            a = tensors[name]
            if tuple(a.shape) != tuple(shape):
                raise ValueError(f"tensor {name}: shape {list(a.shape)}, expected {list(shape)}")
            used.add(name)
            return torch.from_numpy(np.ascontiguousarray(a)).to(dtype)

        H, F_, hd, Q, KV = self.H, self.F, self.hd, self.nh * self.hd, self.nkv * self.hd
        self.embed = g("model.embed_tokens.weight", (self.V, H))
        self.layers = []
        for l in range(self.L):
            p = f"model.layers.{l}."
            self.layers.append(dict(
                ln1=g(p + "input_layernorm.weight", (H,)),
                q=g(p + "self_attn.q_proj.weight", (Q, H)),
                k=g(p + "self_attn.k_proj.weight", (KV, H)),
                v=g(p + "self_attn.v_proj.weight", (KV, H)),
                o=g(p + "self_attn.o_proj.weight", (H, Q)),
                q_norm=g(p + "self_attn.q_norm.weight", (hd,)),
                k_norm=g(p + "self_attn.k_norm.weight", (hd,)),
                ln2=g(p + "post_attention_layernorm.weight", (H,)),
                gate=g(p + "mlp.gate_proj.weight", (F_, H)),
                up=g(p + "mlp.up_proj.weight", (F_, H)),
                down=g(p + "mlp.down_proj.weight", (H, F_)),
            ))
        self.norm = g("model.norm.weight", (H,))
        head = self.embed if self.tied else g("lm_head.weight", (self.V, H))
        self.yes_no = head[[yes_id, no_id]].clone()  # (2, H): only these rows are needed
        self.unused = sorted(k for k in tensors if k not in used)
        # RoPE inverse frequencies as HF: int64 arange -> float32, / dim, theta ** that,
        # 1.0 / that, all in float32 (float64 for the float64 run).
        fdt = torch.float64 if dtype == torch.float64 else torch.float32
        self.inv_freq = 1.0 / (self.theta ** (torch.arange(0, hd, 2, dtype=torch.int64).to(fdt) / hd))


def rmsnorm(x, w, eps):
    """Qwen3RMSNorm: normalise in (at least) float32, cast back, times the weight."""
    dt = x.dtype
    xc = x.to(torch.float64 if dt == torch.float64 else torch.float32)
    var = xc.pow(2).mean(-1, keepdim=True)
    xc = xc * torch.rsqrt(var + eps)
    return w * xc.to(dt)


def rotate_half(x):
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope_cos_sin(w, position_ids):
    """cos, sin (B, T, hd) for LongTensor position_ids (B, T), as HF's Qwen3RotaryEmbedding."""
    freqs = position_ids[:, :, None].to(w.inv_freq.dtype) * w.inv_freq[None, None, :]
    emb = torch.cat((freqs, freqs), dim=-1)
    return emb.cos().to(w.dtype), emb.sin().to(w.dtype)


def head_scores(w, h_last):
    """Score = logit_yes - logit_no of the final-normed last-token states h_last (B, H)."""
    logits = F.linear(rmsnorm(h_last, w.norm, w.eps), w.yes_no)  # (B, 2)
    return logits[:, 0] - logits[:, 1]


def forward(w, input_ids, position_ids, attention_mask=None):
    """Qwen3 forward over a (left-padded) batch.

    input_ids, position_ids: LongTensor (B, T); attention_mask (B, T) of 0/1 or None.
    Returns a list of L+1 score tensors (B,) taken at the last position.
    """
    B, T = input_ids.shape
    nh, nkv, hd, eps = w.nh, w.nkv, w.hd, w.eps
    rep = nh // nkv
    minv = torch.finfo(w.dtype).min
    causal = torch.ones((T, T), dtype=torch.bool).tril()
    allowed = causal[None, None, :, :].expand(B, 1, T, T)
    if attention_mask is not None:
        allowed = allowed & attention_mask.bool()[:, None, None, :]
    mask = torch.zeros((B, 1, T, T), dtype=w.dtype).masked_fill(~allowed, minv)
    cos, sin = rope_cos_sin(w, position_ids)
    cos, sin = cos[:, None], sin[:, None]  # (B, 1, T, hd)
    scale = hd ** -0.5
    h = F.embedding(input_ids, w.embed)
    outs = [head_scores(w, h[:, -1])]
    for lw in w.layers:
        x = rmsnorm(h, lw["ln1"], eps)
        q = rmsnorm(F.linear(x, lw["q"]).view(B, T, nh, hd), lw["q_norm"], eps).transpose(1, 2)
        k = rmsnorm(F.linear(x, lw["k"]).view(B, T, nkv, hd), lw["k_norm"], eps).transpose(1, 2)
        v = F.linear(x, lw["v"]).view(B, T, nkv, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(rep, dim=1)
        v = v.repeat_interleave(rep, dim=1)
        s = torch.matmul(q, k.transpose(-1, -2)) * scale + mask
        p = torch.softmax(s, dim=-1)
        ctx = torch.matmul(p, v).transpose(1, 2).reshape(B, T, nh * hd)
        h = h + F.linear(ctx, lw["o"])
        x = rmsnorm(h, lw["ln2"], eps)
        h = h + F.linear(F.silu(F.linear(x, lw["gate"])) * F.linear(x, lw["up"]), lw["down"])
        outs.append(head_scores(w, h[:, -1]))
    return outs


def run_alone(w, ids):
    """Scores [L+1] of one candidate run alone with positions 0..len-1."""
    t = torch.tensor([ids], dtype=torch.long)
    pos = torch.arange(len(ids), dtype=torch.long)[None, :]
    with torch.inference_mode():
        outs = forward(w, t, pos)
    return np.array([float(o[0]) for o in outs], dtype=np.float64)


def run_query_alone(w, q):
    """np.ndarray [L+1, n_candidates] of scores, every candidate alone."""
    return np.stack([run_alone(w, ids) for ids in q["input_ids"]], axis=1)


def run_query_padded(w, q):
    """The query's candidates as one left-padded batch with explicit position_ids."""
    seqs = q["input_ids"]
    T = max(len(s) for s in seqs)
    B = len(seqs)
    ids = torch.full((B, T), PAD_ID, dtype=torch.long)
    mask = torch.zeros((B, T), dtype=torch.long)
    for i, s in enumerate(seqs):
        ids[i, T - len(s):] = torch.tensor(s, dtype=torch.long)
        mask[i, T - len(s):] = 1
    pos = mask.cumsum(-1) - 1
    pos = pos.masked_fill(mask == 0, 1)  # as HF generation's prepare_inputs
    with torch.inference_mode():
        outs = forward(w, ids, pos, mask)
    return torch.stack(outs).numpy().astype(np.float64)


def load_model(model_dir, yes_id, no_id, dtype=torch.float32):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    tensors, dtypes, hashes = load_checkpoint(model_dir)
    return cfg, tensors, dtypes, hashes, Qwen3Weights(cfg, tensors, yes_id, no_id, dtype)


# ----------------------------------------------------------------------------
# Analysis and output
# ----------------------------------------------------------------------------

def kendall_tau_b(x, y):
    """Kendall tau-b (as scipy.stats.kendalltau default), O(n^2)."""
    n = len(x)
    nc = nd = tx = ty = 0
    for i in range(n):
        for j in range(i + 1, n):
            dx = np.sign(x[i] - x[j])
            dy = np.sign(y[i] - y[j])
            if dx == 0 and dy == 0:
                tx += 1
                ty += 1
            elif dx == 0:
                tx += 1
            elif dy == 0:
                ty += 1
            elif dx == dy:
                nc += 1
            else:
                nd += 1
    n0 = n * (n - 1) // 2
    den = math.sqrt((n0 - tx) * (n0 - ty))
    return float("nan") if den == 0 else (nc - nd) / den


def fmt_f32(x):
    x = float(np.float32(x))
    if not math.isfinite(x):
        raise ValueError(f"non-finite score {x}")
    return "%.9g" % x


def write_golden(path, meta, queries):
    parts = ["{"]
    for k, v in meta.items():
        parts.append(json.dumps(k) + ":" + json.dumps(v, separators=(",", ":")) + ",")
    parts.append('"queries":[\n')
    qs = []
    for q in queries:
        s = ('{"qid":' + json.dumps(q["qid"]) + ',"doc_ids":' + json.dumps(q["doc_ids"], separators=(",", ":"))
             + ',"scores":[' + ",".join(fmt_f32(x) for x in q["scores"]) + "]"
             + ',"layer_scores":[' + ",".join("[" + ",".join(fmt_f32(x) for x in row) + "]"
                                              for row in q["layer_scores"]) + "]}")
        qs.append(s)
    parts.append(",\n".join(qs))
    parts.append("\n]}\n")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("".join(parts))
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model_dir")
    ap.add_argument("inputs_json")
    ap.add_argument("out_json")
    ap.add_argument("--name", help="model description for the 'model' field")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's default)")
    ap.add_argument("--no-f64", action="store_true", help="skip the float64 comparison run")
    ap.add_argument("--no-padded", action="store_true", help="skip the left-padded batch check")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    with open(args.inputs_json) as f:
        inputs = json.load(f)
    yes_id, no_id = inputs["yes_id"], inputs["no_id"]
    cfg, tensors, dtypes, hashes, w32 = load_model(args.model_dir, yes_id, no_id, torch.float32)
    if w32.unused:
        print(f"warning: {len(w32.unused)} checkpoint tensors unused: {w32.unused[:5]}", file=sys.stderr)
    L = w32.L
    wdt = sorted(set(dtypes.values()))
    folder = os.path.basename(os.path.normpath(args.model_dir))
    desc = (args.name or folder) + (
        f" | Qwen3ForCausalLM, {L} layers, hidden {w32.H}, {w32.nh}/{w32.nkv} heads of {w32.hd}, "
        f"FFN {w32.F}, rope_theta {w32.theta:g}, {'tied' if w32.tied else 'untied'} LM head, "
        f"weights {'/'.join(wdt)}")
    n_cands = sum(len(q["input_ids"]) for q in inputs["queries"])
    n_tok = sum(len(s) for q in inputs["queries"] for s in q["input_ids"])

    t0 = time.time()
    out_q, res32 = [], []
    for q in inputs["queries"]:
        ls = run_query_alone(w32, q)  # [L+1, N]
        res32.append(ls)
        out_q.append({"qid": q["qid"], "doc_ids": q["doc_ids"],
                      "scores": ls[L].tolist(), "layer_scores": ls.tolist()})
    t32 = time.time() - t0
    n_bad = sum(int((~np.isfinite(r)).sum()) for r in res32)

    padded_diff = None
    tpad = 0.0
    if not args.no_padded:
        t0 = time.time()
        padded_diff = 0.0
        for q, r32 in zip(inputs["queries"], res32):
            padded_diff = max(padded_diff, float(np.max(np.abs(run_query_padded(w32, q) - r32))))
        tpad = time.time() - t0

    maxdiff = maxdiff_final = None
    maxabs = 0.0
    t64 = 0.0
    if not args.no_f64:
        w64 = Qwen3Weights(cfg, tensors, yes_id, no_id, torch.float64)
        t0 = time.time()
        maxdiff = maxdiff_final = 0.0
        for q, r32 in zip(inputs["queries"], res32):
            r64 = run_query_alone(w64, q)
            d = np.abs(r32 - r64)
            maxdiff = max(maxdiff, float(np.max(d)))
            maxdiff_final = max(maxdiff_final, float(np.max(d[L])))
            maxabs = max(maxabs, float(np.max(np.abs(r64))))
        t64 = time.time() - t0
        del w64

    # ---- report ----
    print(f"== {desc}")
    print(f"inputs {args.inputs_json}: {len(inputs['queries'])} queries, {n_cands} candidates, "
          f"{n_tok} tokens (longest {max(len(s) for q in inputs['queries'] for s in q['input_ids'])}); "
          f"float32 alone {t32:.1f} s" + (f", padded batch {tpad:.1f} s" if padded_diff is not None else "")
          + (f", float64 {t64:.1f} s" if maxdiff is not None else ""))
    if n_bad:
        print(f"ERROR: {n_bad} non-finite scores in the float32 run")
    if padded_diff is not None:
        print(f"max |left-padded batch with position_ids - alone| over all layer scores: {padded_diff:.3e}")
    if maxdiff is not None:
        print(f"max |float32 - float64| over all layer scores: {maxdiff:.3e} "
              f"(final scores: {maxdiff_final:.3e}; max |score| {maxabs:.3g})")
    print("layer  mean_std  min_std   max_std   mean_range  kendall_tau_b_vs_final")
    for l in range(L + 1):
        stds = [float(np.std(r[l])) for r in res32]
        rngs = [float(np.ptp(r[l])) for r in res32]
        taus = [t for t in (kendall_tau_b(r[l], r[L]) for r in res32) if not math.isnan(t)]
        tau_s = f"{np.mean(taus):8.4f}" if taus else "     n/a"
        print(f"{l:5d}  {np.mean(stds):.3e} {np.min(stds):.3e} {np.max(stds):.3e} {np.mean(rngs):.3e}"
              f"   {tau_s}")
    print("(layer 0 = embedding output of the last token, the same suffix token for every "
          "candidate, so its score is equal for all candidates by construction)")
    degenerate = [l for l in range(1, L + 1) if min(float(np.std(r[l])) for r in res32) < 1e-3]
    if degenerate:
        print(f"WARNING: score spread (std across candidates) < 1e-3 for some query at layers {degenerate}")
    if n_bad:
        print(f"not writing {args.out_json}: non-finite scores", file=sys.stderr)
        return 1
    if padded_diff is not None and padded_diff > 1e-4:
        print(f"not writing {args.out_json}: the left-padded batch differs from the alone run "
              f"by {padded_diff:.3e}", file=sys.stderr)
        return 1

    meta = {
        "model": desc,
        "n_layers": L,
        "yes_id": yes_id,
        "no_id": no_id,
        "score": "logit_yes - logit_no of the LM head on RMSNorm(h_l[last token]; model.norm); "
                 "layer 0 = embedding output; each candidate alone, positions 0..len-1; "
                 "official P(yes) = sigmoid(score)",
        "reference": f"tests/reference/qwen3_reference.py, torch {torch.__version__}, "
                     f"numpy {np.__version__}, float32",
        "inputs": os.path.basename(args.inputs_json),
        "weights_dtypes": wdt,
        "weights_sha256": hashes,
        "f32_vs_f64_max_abs": None if maxdiff is None else float("%.3e" % maxdiff),
        "padded_vs_alone_max_abs": None if padded_diff is None else float("%.3e" % padded_diff),
    }
    write_golden(args.out_json, meta, out_q)
    print(f"wrote {args.out_json} ({os.path.getsize(args.out_json)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
