#!/usr/bin/python3
"""Independent check of `grating sweep` figures from a trace (h5py + numpy).

    /usr/bin/python3 tests/reference/check_sweep_metrics.py TRACE.h5 QRELS.tsv SWEEP.csv

Recomputes, without any grating code:
  - for `none`: nDCG@10 and MRR@10 of the full model's ranking against the
    qrels (trec_eval definitions: graded gains, log2 discount, ideal DCG from
    all judged documents; ranking by score desc, ties by docid desc), and
    P@K against the qrels;
  - for `fixed-schedule {"schedule":[{"layer":2,"keep":0.5}]}`: the schedule
    replayed by hand (keep the top max(K, ceil(0.5 N)) by layer-2 score, ties
    by lower index; survivors ranked by final score), its Precision@K against
    the full top-K and its fraction of candidate-layers;
and prints them next to the matching rows of SWEEP.csv.
"""
import csv
import math
import sys

import h5py
import numpy as np


def ndcg_at(rels, judged, k):
    dcg = sum(r / math.log2(i + 2) for i, r in enumerate(rels[:k]) if r > 0)
    ideal = sorted([j for j in judged if j > 0], reverse=True)[:k]
    idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def main():
    trace_path, qrels_path, sweep_path = sys.argv[1:4]
    qrels = {}
    with open(qrels_path) as f:
        next(f)
        for line in f:
            q, d, r = line.rstrip("\n").split("\t")
            qrels.setdefault(q, {})[d] = int(r)
    f = h5py.File(trace_path, "r")
    L = int(f.attrs["n_layers"])
    qids = [q.decode() if isinstance(q, bytes) else q for q in f["query_ids"][:]]
    sums = {}
    for qid in qids:
        g = f["queries"][qid.replace("%", "%25").replace("/", "%2F")]
        docs = [d.decode() if isinstance(d, bytes) else d for d in g["candidates"][:]]
        s = g["scores"][:]
        n = len(docs)
        final = s[L]
        # trec_eval order: score desc, docid desc
        order = sorted(range(n), key=lambda i: (-float(final[i]), tuple(-ord(c) for c in docs[i])))
        engine_order = sorted(range(n), key=lambda i: (-float(final[i]), i))
        judged = list(qrels.get(qid, {}).values())
        rels = [qrels.get(qid, {}).get(docs[i], 0) for i in order]
        sums.setdefault("ndcg10", []).append(ndcg_at(rels, judged, 10))
        rr = next((1.0 / (i + 1) for i, r in enumerate(rels[:10]) if r > 0), 0.0)
        sums.setdefault("mrr10", []).append(rr)
        for k in (1, 5, 10):
            kk = min(k, n)
            sums.setdefault(f"p{k}", []).append(sum(1 for r in rels[:kk] if r > 0) / k)
            full_top = set(engine_order[:kk])
            keep = max(kk, math.ceil(0.5 * n))
            survivors = sorted(range(n), key=lambda i: (-float(s[2][i]), i))[:keep]
            top = sorted(survivors, key=lambda i: (-float(final[i]), i))[:kk]
            sums.setdefault(f"fs_prec{k}", []).append(len(full_top & set(top)) / kk)
            layers = 2 * n + (L - 2) * keep  # layers 1-2 for all, 3..L for survivors
            sums.setdefault(f"fs_frac{k}", []).append(layers / (n * L))
    mean = {k: float(np.mean(v)) for k, v in sums.items()}
    rows = list(csv.DictReader(open(sweep_path)))
    print(f"{len(qids)} queries")
    for r in rows:
        k = int(r["k"])
        if r["policy"] == "none" and r["chunk"] == "0":
            print(f"none K={k}: ndcg@10 python {mean['ndcg10']:.6f} grating {float(r['ndcg_at_10']):.6f} | "
                  f"mrr@10 python {mean['mrr10']:.6f} grating {float(r['mrr_at_10']):.6f} | "
                  f"P@K python {mean[f'p{k}']:.6f} grating {float(r['p_at_k_qrels']):.6f}")
        if r["policy"] == "fixed-schedule" and r["params"] == '{"schedule":[{"layer":2,"keep":0.5}]}':
            print(f"fixed-schedule keep 0.5 at layer 2, K={k}: precision python {mean[f'fs_prec{k}']:.6f} "
                  f"grating {float(r['precision_at_k_vs_full']):.6f} | fraction python "
                  f"{mean[f'fs_frac{k}']:.6f} grating {float(r['fraction_computed']):.6f}")


if __name__ == "__main__":
    main()
