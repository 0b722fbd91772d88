#!/usr/bin/python3
"""Writes small GPTQ checkpoints the way AutoGPTQ / transformers do, as the
"different tool" that tests/test_gptq.c reads (issue 12, part 3).

    /usr/bin/python3 tests/reference/make_gptq_checkpoint.py [OUT_DIR]

OUT_DIR defaults to tests/data/gptq. Needs only Debian's python3-torch and
python3-numpy (no safetensors, no auto_gptq package): the safetensors writer
is below, and the quantization and packing follow AutoGPTQ's code
(auto_gptq/quantization/quantizer.py Quantizer.find_params / quantize, and
auto_gptq/nn_modules/qlinear/qlinear_cuda_old.py QuantLinear.pack, which
packs with numpy uint32 shifts exactly as here) without sharing a line with
grating's C.

It writes, for one tiny BertForSequenceClassification (hidden 64,
intermediate 128, 1 layer, vocab 64, weights from a seeded torch generator,
stored in F16 like a half-precision model):

  source.safetensors   the six unquantized Linear weights of the layer (F16)
  <variant>/           config.json (with quantization_config), model.safetensors
                       (X.qweight/qzeros/scales/g_idx for the layer's Linear
                       weights, everything else F16), vocab.txt
  expected.json        per variant and weight: the FNV-1a 64 hash of the
                       dequantized weight as little-endian f32 (out, in) row-major,
                       its sum and first values; the dequantization is
                       W[j][i] = scales[g][j] * (q[i][j] - (qzeros_stored[g][j] + 1)),
                       g = g_idx[i], computed in f32 (exact: f16 scale x small int)

Round to nearest as AutoGPTQ's Quantizer (per output row and group): the
range [min(0, min w), max(0, max w)], symmetric widened to +-max|w| (always
centered: AutoGPTQ leaves min = 0 when no value is negative, which clips the
upper half), scale = (max - min) / (2^b - 1), zero = 2^(b-1) (sym) or
round(-min / scale); the scale is stored as f16 and q = clamp(round(w / scale_f16) + zero, 0, 2^b - 1).
zero is kept in [1, 2^b - 1] because the v1 format stores zero - 1 (AutoGPTQ's
packer would wrap a zero of 0 into the neighbouring fields). Act-order
(desc_act): GPTQ orders the columns by its Hessian diagonal; here a seeded
random permutation stands in (any permutation is valid), and column perm[k]
gets group k // group_size, as GPTQ's g_idx[invperm].
"""
import json
import os
import struct
import sys

import numpy as np
import torch

HIDDEN, INTER, LAYERS, VOCAB, POS, HEADS = 64, 128, 1, 64, 32, 2

VARIANTS = [
    # name, bits, group_size, sym, desc_act
    ("w4_sym_g128", 4, 128, True, False),
    ("w4_sym_g32", 4, 32, True, False),
    ("w4_asym_g32_act", 4, 32, False, True),
    ("w8_asym_gall", 8, -1, False, False),
    ("w8_sym_g32_act", 8, 32, True, True),
]


def layer_names(l):
    p = f"bert.encoder.layer.{l}."
    return [
        (p + "attention.self.query", HIDDEN, HIDDEN),
        (p + "attention.self.key", HIDDEN, HIDDEN),
        (p + "attention.self.value", HIDDEN, HIDDEN),
        (p + "attention.output.dense", HIDDEN, HIDDEN),
        (p + "intermediate.dense", INTER, HIDDEN),
        (p + "output.dense", HIDDEN, INTER),
    ]


def model_tensors(gen):
    """The unquantized model in HF order: {name: f16 tensor}."""
    def u(*shape, std=0.02, offset=0.0):
        a = std * 3 ** 0.5
        return (torch.rand(*shape, generator=gen) * 2 * a - a + offset).half()

    t = {}
    t["bert.embeddings.word_embeddings.weight"] = u(VOCAB, HIDDEN)
    t["bert.embeddings.position_embeddings.weight"] = u(POS, HIDDEN)
    t["bert.embeddings.token_type_embeddings.weight"] = u(2, HIDDEN)
    t["bert.embeddings.LayerNorm.weight"] = u(HIDDEN, std=0.05, offset=1.0)
    t["bert.embeddings.LayerNorm.bias"] = u(HIDDEN)
    for l in range(LAYERS):
        p = f"bert.encoder.layer.{l}."
        for name, out, inn in layer_names(l):
            # Columns of different magnitude, as in trained models (and so
            # that act-order groups differ from plain ones).
            col = torch.rand(inn, generator=gen) * 1.5 + 0.25
            t[name + ".weight"] = (u(out, inn).float() * col).half()
            t[name + ".bias"] = u(out)
            if name.endswith("attention.output.dense"):
                t[p + "attention.output.LayerNorm.weight"] = u(HIDDEN, std=0.05, offset=1.0)
                t[p + "attention.output.LayerNorm.bias"] = u(HIDDEN)
        t[p + "output.LayerNorm.weight"] = u(HIDDEN, std=0.05, offset=1.0)
        t[p + "output.LayerNorm.bias"] = u(HIDDEN)
    t["bert.pooler.dense.weight"] = u(HIDDEN, HIDDEN)
    t["bert.pooler.dense.bias"] = u(HIDDEN)
    t["classifier.weight"] = u(1, HIDDEN, std=0.5)
    t["classifier.bias"] = u(1)
    return t


def write_safetensors(path, tensors):
    """tensors: list of (name, np.ndarray) with dtypes float16 / float32 / int32."""
    names = {np.dtype("<f2"): "F16", np.dtype("<f4"): "F32", np.dtype("<i4"): "I32"}
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, a in tensors:
        a = np.ascontiguousarray(a)
        b = a.astype(a.dtype.newbyteorder("<")).tobytes()
        header[name] = {"dtype": names[np.dtype(a.dtype.newbyteorder("<"))],
                        "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def g_idx_for(inn, group, desc_act, gen):
    g = inn if group == -1 else group
    if not desc_act:
        return torch.tensor([i // g for i in range(inn)], dtype=torch.int32)
    perm = torch.randperm(inn, generator=gen)
    invperm = torch.argsort(perm)
    g_idx = torch.tensor([i // g for i in range(inn)], dtype=torch.int32)
    return g_idx[invperm]  # as GPTQ.fasterquant with actorder


def quantize(W, bits, g_idx, sym):
    """AutoGPTQ's Quantizer.find_params per group, then q from the f16 scale.
    W: (out, in) f32. Returns q (out, in) int, zero (G, out) int, scale16 (G, out) f16."""
    out, inn = W.shape
    maxq = torch.tensor(2 ** bits - 1, dtype=torch.float32)
    G = int(g_idx.max()) + 1
    q = torch.zeros(out, inn, dtype=torch.int32)
    zeros = torch.zeros(G, out, dtype=torch.int32)
    scales = torch.zeros(G, out, dtype=torch.float16)
    for grp in range(G):
        cols = (g_idx == grp).nonzero().flatten()
        x = W[:, cols]
        tmp = torch.zeros(out)
        xmin = torch.minimum(x.min(1)[0], tmp)
        xmax = torch.maximum(x.max(1)[0], tmp)
        if sym:
            xmax = torch.maximum(torch.abs(xmin), xmax)
            # AutoGPTQ sets xmin = -xmax only where xmin < 0; a group without
            # a negative value then clips its upper half. grating centers
            # every symmetric range, and so does this reference.
            xmin = -xmax
        both = (xmin == 0) & (xmax == 0)
        xmin[both] = -1
        xmax[both] = +1
        scale = (xmax - xmin) / maxq
        if sym:
            zero = torch.full_like(scale, (maxq.item() + 1) / 2)
        else:
            zero = torch.round(-xmin / scale)
        zero = torch.clamp(zero, 1, maxq.item())  # v1 stores zero - 1
        s16 = scale.half()
        s16[s16 == 0] = torch.tensor(2.0 ** -24).half()  # f16's smallest subnormal
        qq = torch.clamp(torch.round(x / s16.float().unsqueeze(1)) + zero.unsqueeze(1), 0,
                         maxq.item())
        q[:, cols] = qq.to(torch.int32)
        zeros[grp] = zero.to(torch.int32)
        scales[grp] = s16
    return q, zeros, scales


def pack(q, zeros, bits):
    """QuantLinear.pack (qlinear_cuda_old), from the integer weights on."""
    intweight = q.t().contiguous().numpy().astype(np.uint32)  # (in, out)
    qweight = np.zeros((intweight.shape[0] // 32 * bits, intweight.shape[1]), dtype=np.uint32)
    i, row = 0, 0
    while row < qweight.shape[0]:
        for j in range(i, i + (32 // bits)):
            qweight[row] |= intweight[j] << (bits * (j - i))
        i += 32 // bits
        row += 1
    qweight = qweight.astype(np.int32)
    zeros = (zeros - 1).numpy().astype(np.uint32)  # the v1 format: zero - 1
    qzeros = np.zeros((zeros.shape[0], zeros.shape[1] // 32 * bits), dtype=np.uint32)
    i, col = 0, 0
    while col < qzeros.shape[1]:
        for j in range(i, i + (32 // bits)):
            qzeros[:, col] |= zeros[:, j] << (bits * (j - i))
        i += 32 // bits
        col += 1
    return qweight, qzeros.astype(np.int32)


def dequant(qweight, qzeros, scales, g_idx, bits):
    """The torch fallback of the kernels: unpack with shifts, scale * (q - (z + 1))."""
    p = 32 // bits
    wf = torch.tensor(list(range(0, 32, bits)), dtype=torch.int32)
    qw = torch.from_numpy(qweight.astype(np.int64))
    qz = torch.from_numpy(qzeros.astype(np.int64))
    mask = 2 ** bits - 1
    w = torch.bitwise_and(torch.bitwise_right_shift(qw.unsqueeze(1).expand(-1, p, -1),
                                                     wf.view(1, p, 1)), mask)
    w = w.reshape(-1, w.shape[2])  # (in, out)
    z = torch.bitwise_and(torch.bitwise_right_shift(qz.unsqueeze(2).expand(-1, -1, p),
                                                     wf.view(1, 1, p)), mask)
    z = z.reshape(z.shape[0], -1) + 1  # (G, out)
    gi = g_idx.long()
    W = scales.float()[gi] * (w - z[gi]).float()  # (in, out)
    return W.t().contiguous()


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h ^= b
        h = (h * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h


def vocab():
    toks = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    toks += [chr(c) for c in range(ord("a"), ord("z") + 1)]
    toks += ["##" + chr(c) for c in range(ord("a"), ord("z") + 1)]
    toks += ["the", "cat", "dog", "on", "mat", "where", "is"]
    assert len(toks) == VOCAB
    return "\n".join(toks) + "\n"


def config(qc):
    c = {
        "architectures": ["BertForSequenceClassification"],
        "attention_probs_dropout_prob": 0.1, "hidden_act": "gelu", "hidden_dropout_prob": 0.1,
        "hidden_size": HIDDEN, "id2label": {"0": "LABEL_0"}, "initializer_range": 0.02,
        "intermediate_size": INTER, "label2id": {"LABEL_0": 0}, "layer_norm_eps": 1e-12,
        "max_position_embeddings": POS, "model_type": "bert", "num_attention_heads": HEADS,
        "num_hidden_layers": LAYERS, "pad_token_id": 0, "position_embedding_type": "absolute",
        "torch_dtype": "float16", "type_vocab_size": 2, "vocab_size": VOCAB,
    }
    if qc:
        c["quantization_config"] = qc
    return c


def main():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "tests", "data", "gptq")
    os.makedirs(out_dir, exist_ok=True)
    gen = torch.Generator().manual_seed(12)
    model = model_tensors(gen)
    linear = [n for l in range(LAYERS) for n, _, _ in layer_names(l)]
    write_safetensors(os.path.join(out_dir, "source.safetensors"),
                      [(n + ".weight", model[n + ".weight"].numpy()) for n in linear])
    expected = {"generator": "tests/reference/make_gptq_checkpoint.py", "variants": {}}
    for name, bits, group, sym, desc_act in VARIANTS:
        vdir = os.path.join(out_dir, name)
        os.makedirs(vdir, exist_ok=True)
        tensors, exp = [], {}
        ggen = torch.Generator().manual_seed(1000 + bits + group)
        for key, t in model.items():
            base = key[: -len(".weight")]
            if base not in linear or not key.endswith(".weight"):
                tensors.append((key, t.numpy()))
                continue
            W = t.float()
            g_idx = g_idx_for(W.shape[1], group, desc_act, ggen)
            q, zeros, scales = quantize(W, bits, g_idx, sym)
            qweight, qzeros = pack(q, zeros, bits)
            # AutoGPTQ's QuantLinear buffers, in registration order.
            tensors += [(base + ".qweight", qweight), (base + ".qzeros", qzeros),
                        (base + ".scales", scales.numpy()), (base + ".g_idx", g_idx.numpy())]
            D = dequant(qweight, qzeros, scales, g_idx, bits)
            raw = D.numpy().astype("<f4").tobytes()
            exp[key] = {"fnv1a64": "%016x" % fnv1a64(raw), "sum": float(D.double().sum()),
                        "first": [float(v) for v in D.flatten()[:4]],
                        "max_abs_err": float((D - W).abs().max())}
        write_safetensors(os.path.join(vdir, "model.safetensors"), tensors)
        qc = {"bits": bits, "group_size": group, "damp_percent": 0.01, "desc_act": desc_act,
              "static_groups": False, "sym": sym, "true_sequential": True,
              "quant_method": "gptq", "checkpoint_format": "gptq", "model_seqlen": None,
              "use_exllama": True}
        with open(os.path.join(vdir, "config.json"), "w") as f:
            json.dump(config(qc), f, indent=2, sort_keys=True)
            f.write("\n")
        with open(os.path.join(vdir, "vocab.txt"), "w") as f:
            f.write(vocab())
        expected["variants"][name] = {"bits": bits, "group_size": group, "sym": sym,
                                      "desc_act": desc_act, "weights": exp}
        print(f"{name}: max |W - dequant| " +
              ", ".join("%.3g" % e["max_abs_err"] for e in exp.values()))
    with open(os.path.join(out_dir, "expected.json"), "w") as f:
        json.dump(expected, f, indent=2, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
