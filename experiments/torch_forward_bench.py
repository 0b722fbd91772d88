#!/usr/bin/python3
"""Time the PyTorch reference forward of a BERT cross-encoder (float32, CPU).

    /usr/bin/python3 experiments/torch_forward_bench.py --model ../shared/models/scifact-minibert-demo
        [--inputs tests/golden/bert/inputs_len256.json] [--qid 1] [--threads 1,2]
        [--warmup 2] [--runs 7]

Workload: one query's candidates as one right-padded batch with an attention
mask (default: SciFact test query 1, its first 20 BM25 candidates, tokenized
with the real HF tokenizer at max length 256 by tests/reference/gen_bert_inputs.mjs
and committed as tests/golden/bert/inputs_len256.json; mean ~250 tokens).
The forward is exactly the golden reference code path
(tests/reference/bert_reference.py: forward(), which also computes the
provisional pooler+classifier score after the embeddings and after every
layer), under torch.inference_mode, float32.

For each torch thread count: warm-up runs, then the median wall time of
--runs timed forwards. Prints one line per thread count:
    torch_threads=<n> ms_per_forward=<x> gflops=<y>
gflops = counted FLOPs / median time, FLOPs = 2*m*n*k over every linear layer
(Q, K, V, attention output, FFN in/out, plus the pooler and classifier of the
L+1 provisional heads) and the two attention matmuls (QK^T and PV), counted on
real tokens only (padding excluded; attention n^2 per sequence of its own length).
"""

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "reference"))

import torch  # noqa: E402

import bert_reference as ref  # noqa: E402


def count_flops(w, lengths):
    H, I, L = w.H, w.I, w.L
    ncls = w.num_labels
    total = 0
    for n in lengths:
        per_layer_linear = 2 * n * (4 * H * H + 2 * H * I)  # Q,K,V,O + FFN in/out
        per_layer_attn = 2 * (2 * n * n * H)  # QK^T and PV over all heads
        total += L * (per_layer_linear + per_layer_attn)
        total += (L + 1) * (2 * H * H + 2 * H * ncls)  # pooler + classifier on token 0, per provisional head
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="HF folder (config.json + safetensors)")
    ap.add_argument("--inputs", default=os.path.join(REPO, "tests", "golden", "bert", "inputs_len256.json"))
    ap.add_argument("--qid", default="1", help="query id in the inputs file (default 1)")
    ap.add_argument("--threads", default="1,2", help="comma-separated torch thread counts")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--runs", type=int, default=7)
    args = ap.parse_args()

    if not os.path.isdir(args.model):
        print(f"torch_forward_bench: model folder {args.model} not found", file=sys.stderr)
        return 1
    with open(args.inputs) as f:
        inputs = json.load(f)
    q = next((x for x in inputs["queries"] if x["qid"] == args.qid), None)
    if q is None:
        print(f"torch_forward_bench: qid {args.qid} not in {args.inputs}", file=sys.stderr)
        return 1

    _, _, _, _, w = ref.load_model(args.model, torch.float32)
    ids, tt, mask = ref.pad_batch(q["input_ids"], q["token_type_ids"])
    lengths = [len(x) for x in q["input_ids"]]
    flops = count_flops(w, lengths)
    print(f"# model={os.path.basename(os.path.normpath(args.model))} layers={w.L} hidden={w.H} "
          f"inputs={os.path.basename(args.inputs)} qid={args.qid} candidates={len(lengths)} "
          f"tokens_mean={sum(lengths) / len(lengths):.1f} tokens_max={max(lengths)} "
          f"gflop_per_forward={flops / 1e9:.3f} torch={torch.__version__} "
          f"warmup={args.warmup} runs={args.runs}")

    for nt in [int(x) for x in args.threads.split(",") if x.strip()]:
        torch.set_num_threads(nt)
        times = []
        with torch.inference_mode():
            for i in range(args.warmup + args.runs):
                t0 = time.perf_counter()
                outs = ref.forward(w, ids, tt, mask)
                _ = outs[-1][:, 0].sum().item()
                dt = time.perf_counter() - t0
                if i >= args.warmup:
                    times.append(dt)
        med = statistics.median(times)
        print(f"torch_threads={nt} ms_per_forward={med * 1e3:.1f} gflops={flops / med / 1e9:.2f}")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
