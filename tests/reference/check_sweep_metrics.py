#!/usr/bin/python3
"""Independent check of `grating sweep` figures from a trace (h5py + numpy).

    /usr/bin/python3 tests/reference/check_sweep_metrics.py TRACE.h5 QRELS.tsv SWEEP.csv

Recomputes, without any grating code:
  - for `none`: nDCG@10, RR@10, RR and P@1/5/10 of the full model's ranking
    against the qrels (trec_eval definitions: graded gains, log2 discount,
    ideal DCG from all judged documents; P@k divided by k; queries without
    qrels lines left out; ranking by score desc, ties by docid desc);
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
    skipped = 0
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
        if judged:  # trec_eval evaluates only queries with qrels lines
            sums.setdefault("ndcg10", []).append(ndcg_at(rels, judged, 10))
            rr = next((1.0 / (i + 1) for i, r in enumerate(rels[:10]) if r > 0), 0.0)
            sums.setdefault("rr10", []).append(rr)
            sums.setdefault("rr", []).append(next((1.0 / (i + 1) for i, r in enumerate(rels) if r > 0), 0.0))
            for k in (1, 5, 10):
                sums.setdefault(f"p{k}", []).append(sum(1 for r in rels[:k] if r > 0) / k)
        else:
            skipped += 1
        for k in (1, 5, 10):
            kk = min(k, n)
            full_top = set(engine_order[:kk])
            keep = max(kk, math.ceil(0.5 * n))
            survivors = sorted(range(n), key=lambda i: (-float(s[2][i]), i))[:keep]
            top = sorted(survivors, key=lambda i: (-float(final[i]), i))[:kk]
            sums.setdefault(f"fs_prec{k}", []).append(len(full_top & set(top)) / kk)
            layers = 2 * n + (L - 2) * keep  # layers 1-2 for all, 3..L for survivors
            sums.setdefault(f"fs_frac{k}", []).append(layers / (n * L))
    mean = {k: float(np.mean(v)) for k, v in sums.items()}
    rows = list(csv.DictReader(open(sweep_path)))
    print(f"{len(qids)} queries, {skipped} without qrels lines (left out of the label means)")
    for r in rows:
        k = int(r["k"])
        if r["policy"] == "none" and r["chunk"] == "0":
            print(f"none K={k}: nDCG@10 python {mean['ndcg10']:.6f} grating {float(r['nDCG@10']):.6f} | "
                  f"RR@10 python {mean['rr10']:.6f} grating {float(r['RR@10']):.6f} | "
                  f"RR python {mean['rr']:.6f} grating {float(r['RR']):.6f} | "
                  + " | ".join(f"P@{c} python {mean[f'p{c}']:.6f} grating {float(r[f'P@{c}']):.6f}"
                               for c in (1, 5, 10)))
        if r["policy"] == "fixed-schedule" and r["params"] == '{"schedule":[{"layer":2,"keep":0.5}]}':
            print(f"fixed-schedule keep 0.5 at layer 2, K={k}: precision python {mean[f'fs_prec{k}']:.6f} "
                  f"grating {float(r['precision_at_k_vs_full']):.6f} | fraction python "
                  f"{mean[f'fs_frac{k}']:.6f} grating {float(r['fraction_computed']):.6f}")


if __name__ == "__main__":
    main()
