#!/usr/bin/python3
"""Independent PyTorch reference for BertForSequenceClassification cross-encoders.

    /usr/bin/python3 tests/reference/bert_reference.py MODEL_DIR INPUTS_JSON OUT_JSON
        [--name TEXT] [--qrels QRELS_TSV] [--threads N] [--no-f64]

MODEL_DIR is a Hugging Face folder (config.json + model.safetensors, or sharded
*.safetensors + model.safetensors.index.json; tensors F32, F16 or BF16).
INPUTS_JSON is a file written by gen_bert_inputs.mjs (token ids per query).

Nothing from transformers / safetensors is used: the checkpoint is read by the
minimal safetensors reader below and the forward is written out with
torch.nn.functional ops, following the Hugging Face BERT definition (post-LN,
GELU erf, additive attention mask of torch.finfo(dtype).min, tanh pooler on the
first token, linear classifier). Each query's candidates run as one
right-padded batch with an attention mask, as HF does.

Per-layer provisional score of layer l = classifier(tanh(pooler(h_l[:, 0]))),
h_0 = embedding output (after the embedding LayerNorm), h_L = final layer, so
layer_scores[L] == scores. The score is classifier logit 0.

OUT_JSON = {"model", "max_len", "n_layers", "queries": [{"qid", "doc_ids",
"scores", "layer_scores": [[...] for layers 0..L]}], plus informational keys
("reference", "weights_dtypes", "weights_sha256", "inputs", "f32_vs_f64_max_abs")}.
Scores are float32 values printed with 9 significant digits (round-trip exact).

The forward is also run in float64 (same weights, widened) and the max
|float32 - float64| is printed, with the per-layer score spread (std across
candidates) and the mean Kendall tau-b of each layer's ranking vs the final one.
With --qrels, nDCG@10 of reranking the candidates by each layer is printed too.
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

# ----------------------------------------------------------------------------
# Minimal safetensors reader
# ----------------------------------------------------------------------------

_NP_DTYPES = {
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "BF16": np.dtype("<u2"),  # widened below: uint16 << 16 viewed as float32
    "F64": np.dtype("<f8"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
}


def read_safetensors(path):
    """Return ({name: np.ndarray}, {name: dtype string}) for one .safetensors file.

    Floating tensors are returned as float32 (F16 and BF16 widened exactly).
    """
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
    base = 8 + hlen
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
        if end - start != n * npdt.itemsize or base + end > size or start < 0:
            raise ValueError(f"{path}: tensor {name}: bad data_offsets {start}..{end} "
                             f"for {dt} {list(shape)}")
        arr = np.frombuffer(data, dtype=npdt, count=n, offset=start).reshape(shape)
        if dt == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        elif dt in ("F16", "F64"):
            arr = arr.astype(np.float32)
        else:
            arr = arr.copy()
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
    if weight_map is not None:
        missing = [k for k in weight_map if k not in tensors]
        if missing:
            raise ValueError(f"{model_dir}: index lists tensors missing from shards: {missing[:5]}")
    return tensors, dtypes, hashes


# ----------------------------------------------------------------------------
# Model
# ----------------------------------------------------------------------------

class BertWeights:
    """HF BertForSequenceClassification weights as torch tensors of one dtype."""

    def __init__(self, cfg, tensors, dtype=torch.float32):
        self.cfg = cfg
        self.H = cfg["hidden_size"]
        self.L = cfg["num_hidden_layers"]
        self.nh = cfg["num_attention_heads"]
        self.hd = self.H // self.nh
        self.I = cfg["intermediate_size"]
        self.eps = float(cfg.get("layer_norm_eps", 1e-12))
        self.dtype = dtype
        if self.H % self.nh:
            raise ValueError("hidden_size not divisible by num_attention_heads")
        act = cfg.get("hidden_act", "gelu")
        if act != "gelu":
            raise ValueError(f"hidden_act {act!r} not supported (only exact 'gelu')")
        pet = cfg.get("position_embedding_type", "absolute")
        if pet != "absolute":
            raise ValueError(f"position_embedding_type {pet!r} not supported")
        self._t = tensors
        self._used = set()

        def g(name, shape):
            for cand in self._aliases(name):
                if cand in tensors:
                    a = tensors[cand]
                    if tuple(a.shape) != tuple(shape):
                        raise ValueError(f"tensor {cand}: shape {list(a.shape)}, expected {list(shape)}")
                    self._used.add(cand)
                    return torch.from_numpy(np.ascontiguousarray(a)).to(dtype)
            raise KeyError(f"tensor {name} not found in checkpoint")

        H, I = self.H, self.I
        V = cfg["vocab_size"]
        P = cfg["max_position_embeddings"]
        Tt = cfg.get("type_vocab_size", 2)
        e = "bert.embeddings."
        self.word = g(e + "word_embeddings.weight", (V, H))
        self.pos = g(e + "position_embeddings.weight", (P, H))
        self.type = g(e + "token_type_embeddings.weight", (Tt, H))
        self.emb_ln = (g(e + "LayerNorm.weight", (H,)), g(e + "LayerNorm.bias", (H,)))
        self.layers = []
        for l in range(self.L):
            p = f"bert.encoder.layer.{l}."
            self.layers.append(dict(
                q=(g(p + "attention.self.query.weight", (H, H)), g(p + "attention.self.query.bias", (H,))),
                k=(g(p + "attention.self.key.weight", (H, H)), g(p + "attention.self.key.bias", (H,))),
                v=(g(p + "attention.self.value.weight", (H, H)), g(p + "attention.self.value.bias", (H,))),
                ao=(g(p + "attention.output.dense.weight", (H, H)), g(p + "attention.output.dense.bias", (H,))),
                ln1=(g(p + "attention.output.LayerNorm.weight", (H,)), g(p + "attention.output.LayerNorm.bias", (H,))),
                fi=(g(p + "intermediate.dense.weight", (I, H)), g(p + "intermediate.dense.bias", (I,))),
                fo=(g(p + "output.dense.weight", (H, I)), g(p + "output.dense.bias", (H,))),
                ln2=(g(p + "output.LayerNorm.weight", (H,)), g(p + "output.LayerNorm.bias", (H,))),
            ))
        self.pooler = (g("bert.pooler.dense.weight", (H, H)), g("bert.pooler.dense.bias", (H,)))
        ncls = tensors.get("classifier.weight", np.zeros((1, H))).shape[0]
        self.classifier = (g("classifier.weight", (ncls, H)), g("classifier.bias", (ncls,)))
        self.num_labels = ncls
        unused = sorted(k for k in tensors if k not in self._used and not k.endswith("position_ids"))
        self.unused = unused
        del self._t

    @staticmethod
    def _aliases(name):
        # Exact HF names first; then checkpoints saved without the "bert."
        # prefix and old TF-style LayerNorm gamma/beta names.
        out = [name]
        if name.startswith("bert."):
            out.append(name[len("bert."):])
        more = []
        for n in out:
            if "LayerNorm.weight" in n:
                more.append(n.replace("LayerNorm.weight", "LayerNorm.gamma"))
            if "LayerNorm.bias" in n:
                more.append(n.replace("LayerNorm.bias", "LayerNorm.beta"))
        return out + more


def head(w, h):
    """Pooler (tanh of dense on the first token) + classifier -> logits [B, num_labels]."""
    pooled = torch.tanh(F.linear(h[:, 0], *w.pooler))
    return F.linear(pooled, *w.classifier)


def forward(w, input_ids, token_type_ids, attention_mask):
    """HF BertForSequenceClassification forward (eval mode).

    input_ids, token_type_ids, attention_mask: LongTensor [B, T] (right padded).
    Returns a list of L+1 logits tensors [B, num_labels]: index 0 = embeddings,
    index l = after encoder layer l.
    """
    B, T = input_ids.shape
    H, nh, hd, eps = w.H, w.nh, w.hd, w.eps
    pos_ids = torch.arange(T, dtype=torch.long).unsqueeze(0).expand(B, T)
    h = F.embedding(input_ids, w.word) + F.embedding(token_type_ids, w.type) + F.embedding(pos_ids, w.pos)
    h = F.layer_norm(h, (H,), *w.emb_ln, eps=eps)
    # HF extended attention mask: (1 - mask) * finfo(dtype).min, added to the scores.
    ext = (1.0 - attention_mask[:, None, None, :].to(w.dtype)) * torch.finfo(w.dtype).min
    scale = math.sqrt(hd)
    outs = [head(w, h)]
    for lw in w.layers:
        def split(x):
            return x.view(B, T, nh, hd).permute(0, 2, 1, 3)
        q = split(F.linear(h, *lw["q"]))
        k = split(F.linear(h, *lw["k"]))
        v = split(F.linear(h, *lw["v"]))
        s = torch.matmul(q, k.transpose(-1, -2)) / scale + ext
        p = torch.softmax(s, dim=-1)
        ctx = torch.matmul(p, v).permute(0, 2, 1, 3).reshape(B, T, H)
        a = F.layer_norm(F.linear(ctx, *lw["ao"]) + h, (H,), *lw["ln1"], eps=eps)
        f = F.linear(F.gelu(F.linear(a, *lw["fi"])), *lw["fo"])
        h = F.layer_norm(f + a, (H,), *lw["ln2"], eps=eps)
        outs.append(head(w, h))
    return outs


def pad_batch(input_ids, token_type_ids, pad_id=0):
    """Right-pad lists of ids to one LongTensor batch + attention mask."""
    T = max(len(x) for x in input_ids)
    B = len(input_ids)
    ids = torch.full((B, T), pad_id, dtype=torch.long)
    tt = torch.zeros((B, T), dtype=torch.long)
    mask = torch.zeros((B, T), dtype=torch.long)
    for i, (a, b) in enumerate(zip(input_ids, token_type_ids)):
        if len(a) != len(b):
            raise ValueError("input_ids and token_type_ids lengths differ")
        ids[i, :len(a)] = torch.tensor(a, dtype=torch.long)
        tt[i, :len(b)] = torch.tensor(b, dtype=torch.long)
        mask[i, :len(a)] = 1
    return ids, tt, mask


def run_query(w, q):
    """Return np.ndarray [L+1, n_candidates] of logit-0 scores for one query."""
    ids, tt, mask = pad_batch(q["input_ids"], q["token_type_ids"])
    with torch.inference_mode():
        outs = forward(w, ids, tt, mask)
    return torch.stack([o[:, 0] for o in outs]).numpy()


def load_model(model_dir, dtype=torch.float32):
    with open(os.path.join(model_dir, "config.json")) as f:
        cfg = json.load(f)
    archs = cfg.get("architectures") or ["BertForSequenceClassification"]
    if "BertForSequenceClassification" not in archs:
        raise ValueError(f"{model_dir}: architectures {archs} is not BertForSequenceClassification")
    tensors, dtypes, hashes = load_checkpoint(model_dir)
    w = BertWeights(cfg, tensors, dtype)
    return cfg, tensors, dtypes, hashes, w


# ----------------------------------------------------------------------------
# Analysis helpers
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


def ranking(scores):
    # Descending score, ties by original (BM25) order: stable sort.
    return list(np.argsort(-np.asarray(scores, dtype=np.float64), kind="stable"))


def ndcg10(doc_ids, scores, rel):
    order = ranking(scores)
    dcg = sum((2 ** rel.get(doc_ids[j], 0) - 1) / math.log2(r + 2) for r, j in enumerate(order[:10]))
    ideal = sorted(rel.values(), reverse=True)[:10]
    idcg = sum((2 ** g - 1) / math.log2(r + 2) for r, g in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def read_qrels(path):
    q = {}
    with open(path) as f:
        for line in f:
            p = line.strip().split("\t")
            if len(p) < 3 or p[0] == "query-id":
                continue
            q.setdefault(p[0], {})[p[1]] = int(p[2])
    return q


# ----------------------------------------------------------------------------
# Output
# ----------------------------------------------------------------------------

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
    ap.add_argument("--name", help="model description for the 'model' field "
                    "(default: folder name + architecture summary)")
    ap.add_argument("--qrels", help="BEIR qrels TSV: also print per-layer nDCG@10 of the reranked candidates")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's default)")
    ap.add_argument("--no-f64", action="store_true", help="skip the float64 comparison run")
    args = ap.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)

    with open(args.inputs_json) as f:
        inputs = json.load(f)
    cfg, tensors, dtypes, hashes, w32 = load_model(args.model_dir, torch.float32)
    if w32.unused:
        print(f"warning: {len(w32.unused)} checkpoint tensors unused: {w32.unused[:5]}", file=sys.stderr)
    L = w32.L
    wdt = sorted(set(dtypes.values()))
    folder = os.path.basename(os.path.normpath(args.model_dir))
    desc = args.name or folder
    desc += (f" | BertForSequenceClassification, {L} layers, hidden {w32.H}, {w32.nh} heads, "
             f"FFN {w32.I}, weights {'/'.join(wdt)}")

    t0 = time.time()
    out_q = []
    res32 = []
    for q in inputs["queries"]:
        ls = run_query(w32, q)  # [L+1, N]
        res32.append(ls)
        out_q.append({"qid": q["qid"], "doc_ids": q["doc_ids"],
                      "scores": ls[L].tolist(), "layer_scores": ls.tolist()})
    t32 = time.time() - t0

    n_bad = sum(int((~np.isfinite(r)).sum()) for r in res32)

    # float64 run of the same forward on the same (widened) weights
    maxdiff = maxdiff_final = None
    t64 = 0.0
    if not args.no_f64:
        w64 = BertWeights(cfg, tensors, torch.float64)
        t0 = time.time()
        maxdiff = maxdiff_final = 0.0
        maxabs = 0.0
        for q, r32 in zip(inputs["queries"], res32):
            r64 = run_query(w64, q)
            d = np.abs(r32.astype(np.float64) - r64)
            maxdiff = max(maxdiff, float(np.nanmax(d)))
            maxdiff_final = max(maxdiff_final, float(np.nanmax(d[L])))
            maxabs = max(maxabs, float(np.nanmax(np.abs(r64))))
        t64 = time.time() - t0
        del w64

    # ---- report ----
    print(f"== {desc}")
    print(f"inputs {args.inputs_json}: {len(inputs['queries'])} queries, max_len {inputs['max_len']}; "
          f"float32 forward {t32:.1f} s" + (f", float64 {t64:.1f} s" if not args.no_f64 else ""))
    if n_bad:
        print(f"ERROR: {n_bad} non-finite scores in the float32 run")
    if maxdiff is not None:
        print(f"max |float32 - float64| over all layer scores: {maxdiff:.3e} "
              f"(final scores: {maxdiff_final:.3e}; max |score| {maxabs:.3g})")
    qrels = read_qrels(args.qrels) if args.qrels else None
    hdr = "layer  mean_std  min_std   max_std   mean_range  kendall_tau_b_vs_final  top10_overlap"
    if qrels is not None:
        hdr += "  nDCG@10"
    print(hdr)
    for l in range(L + 1):
        stds = [float(np.std(r[l].astype(np.float64))) for r in res32]
        rngs = [float(np.ptp(r[l])) for r in res32]
        taus = [kendall_tau_b(r[l], r[L]) for r in res32]
        ov = [len(set(ranking(r[l])[:10]) & set(ranking(r[L])[:10])) / 10 for r in res32]
        ft = [t for t in taus if not math.isnan(t)]
        tau_s = f"{np.mean(ft):8.4f}" if ft else "     n/a"
        line = (f"{l:5d}  {np.mean(stds):.3e} {np.min(stds):.3e} {np.max(stds):.3e} {np.mean(rngs):.3e}"
                f"   {tau_s}                {np.mean(ov):.4f}")
        if qrels is not None:
            nd = [ndcg10(q["doc_ids"], r[l], qrels.get(q["qid"], {})) for q, r in zip(inputs["queries"], res32)]
            line += f"         {np.mean(nd):.4f}"
        print(line)
    if qrels is not None:
        bm = [ndcg10(q["doc_ids"], -np.arange(len(q["doc_ids"]), dtype=np.float64), qrels.get(q["qid"], {}))
              for q in inputs["queries"]]
        print(f"BM25 (run order) nDCG@10 over these queries: {np.mean(bm):.4f}")
    # Layer 0 is constant across candidates by construction: h_0[:, 0] is the
    # embedding of [CLS] at position 0 with token type 0 for every candidate.
    print("(layer 0 = embedding output: the first token is [CLS] at position 0 for every candidate, "
          "so its score is the same for all candidates by construction)")
    degenerate = [l for l in range(1, L + 1) if min(float(np.std(r[l].astype(np.float64))) for r in res32) < 1e-3]
    if degenerate:
        print(f"WARNING: score spread (std across candidates) < 1e-3 for some query at layers {degenerate}")
    if n_bad:
        print(f"not writing {args.out_json}: non-finite scores", file=sys.stderr)
        return 1

    meta = {
        "model": desc,
        "max_len": inputs["max_len"],
        "n_layers": L,
        "score": "logit 0 of classifier(tanh(pooler(h_l[:,0]))); layer 0 = embedding output",
        "reference": f"tests/reference/bert_reference.py, torch {torch.__version__}, numpy {np.__version__}, float32",
        "inputs": os.path.basename(args.inputs_json),
        "weights_dtypes": wdt,
        "weights_sha256": hashes,
        "f32_vs_f64_max_abs": None if maxdiff is None else float("%.3e" % maxdiff),
    }
    write_golden(args.out_json, meta, out_q)
    print(f"wrote {args.out_json} ({os.path.getsize(args.out_json)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
