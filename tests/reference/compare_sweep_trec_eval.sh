#!/bin/sh
# Compares every row of a sweep with trec_eval on the sweep's exported runs.
#
#   grating sweep --trace T.h5 --grid G.json --out SW --export-run all
#   sh tests/reference/compare_sweep_trec_eval.sh SW QRELS.tsv PATH/TO/trec_eval
#
# QRELS.tsv is the BEIR qrels the sweep used (query-id, corpus-id, score with
# a header); it is converted to TREC qrels restricted to the traced queries
# (trec_eval 10.0 stops when a qrels query has no line in the run). Checks
# nDCG@10, P@1, P@5, P@10, RR (recip_rank) and RR@10 (recip_rank -M10) of
# every row to trec_eval's 4 decimals; prints the differences and exits 1 if
# there is any.
set -eu
SW=${1:?usage: compare_sweep_trec_eval.sh SWEEP_DIR QRELS.tsv TREC_EVAL}
QRELS=${2:?missing QRELS.tsv}
TE=${3:?missing the trec_eval binary}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/grating-te-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
first=$(find "$SW/runs" -name 'config-*.trec' | sort | head -1)
awk '{ print $1 }' "$first" | sort -u > "$tmp/qids"
awk -F'\t' 'NR == FNR { q[$1] = 1; next } FNR > 1 && ($1 in q) { print $1 " 0 " $2 " " $3 }' "$tmp/qids" "$QRELS" > "$tmp/qrels"
/usr/bin/env python3 - "$SW" "$tmp/qrels" "$TE" <<'PY'
import csv, subprocess, sys

sw, qrels, te = sys.argv[1:4]
rows = list(csv.DictReader(open(sw + "/sweep.csv")))
bad = checked = 0


def measures(*args):
    *opts, run = args
    out = subprocess.run([te, *opts, qrels, run], capture_output=True, text=True, check=True).stdout
    return {l.split()[0]: float(l.split()[2]) for l in out.splitlines()}


for r in rows:
    run = f"{sw}/runs/config-{int(r['config']):03d}.trec"
    v = measures("-m", "ndcg_cut.10", "-m", "P.1,5,10", "-m", "recip_rank", run)
    v10 = measures("-M10", "-m", "recip_rank", run)
    pairs = [("nDCG@10", v["ndcg_cut_10"]), ("P@1", v["P_1"]), ("P@5", v["P_5"]), ("P@10", v["P_10"]),
             ("RR", v["recip_rank"]), ("RR@10", v10["recip_rank"])]
    for name, want in pairs:
        checked += 1
        if abs(float(r[name]) - want) > 5e-5 + 1e-9:
            bad += 1
            print(f"config {r['config']} ({r['policy']} {r['params']} K={r['k']}) {name}: sweep {r[name]}, trec_eval {want:.4f}")
print(f"{len(rows)} rows, {checked} values compared with trec_eval: {bad} differ beyond its 4 decimals")
sys.exit(1 if bad else 0)
PY
