#!/usr/bin/env bash
# experiments/summary_sweep.sh - plots and summary of policy sweeps replayed on
# a trace (Makefile.bench sweep-scifact): for every sweep folder (the --out of
# `grating sweep`, holding sweep.csv), Pareto plots of Precision@K vs fraction
# computed and vs predicted latency, nDCG@10 vs compute (when the sweep has
# qrels), and one summary table of the best configurations per K over all the
# sweeps:
#
#   best P@K at <= B compute     highest Precision@K vs the full model among the
#                                configurations computing at most B of the
#                                candidate-layers (ties: less compute)
#   cheapest with P@K >= P       least compute among those reaching P (for each
#                                P of --targets)
#   best nDCG@10 at <= B compute highest nDCG@10 vs qrels within the budget
#   full model                   policy none (nDCG@10 of the full forward)
#   first stage                  the trace's first-stage ranking (e.g. BM25;
#                                the sweep's "first-stage" rows, zero reranker
#                                cost; never picked by the other criteria)
#
# Writes OUT/summary.csv, OUT/summary.md (printed), OUT/<sweep>-pareto,
# OUT/<sweep>-pareto-latency, OUT/<sweep>-ndcg-compute (.png/.svg).
set -euo pipefail
BL_PROG=summary_sweep
# shellcheck source=bench_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

BL_USAGE="usage: experiments/summary_sweep.sh --trace FILE.h5 --sweeps DIR[,DIR...] [options]
  --trace FILE.h5     the trace the sweeps replayed (labels: model, N, max_len, queries)
  --sweeps LIST       comma-separated sweep folders (each with sweep.csv)
  --weights KIND      trained | generated | auto (default: from the trace's model path)
  --data-label TEXT   dataset name for the labels (default: SciFact test)
  --budget B          compute budget as a fraction of the full forward (default 0.40)
  --targets LIST      precision targets for the cheapest-configuration rows (default 0.95,0.99)
  --series-cluster-gap SPEC  plot series for sweeps of cluster-gap only
                      (default params.k,params.score)
  --out DIR           output folder (default results/sweep-scifact)"
BL_OPTS="trace sweeps weights data-label budget targets series-cluster-gap out"
TRACE="" SWEEPS="" WEIGHTS=auto DATA_LABEL="SciFact test" BUDGET=0.40 TARGETS=0.95,0.99
SERIES_CLUSTER_GAP=params.k,params.score OUT=results/sweep-scifact THREADS=-
bl_parse_args "$@"
[ -n "$TRACE" ] || bl_die "--trace is required"
[ -n "$SWEEPS" ] || bl_die "--sweeps is required"
bl_setup_trace "$TRACE"
IFS=, read -r -a DIRS <<< "$SWEEPS"
mkdir -p "$OUT"

note="$MODEL_SHORT, $DATA_LABEL, N=$TRACE_N, max_len $TRACE_MAXLEN, $(bl_machine_short), trace $(printf '%s' "$TRACE_CREATED" | cut -c1-10)"

# CSV (RFC 4180, quoted params JSON) -> tab-separated rows of the columns we
# need, params flattened to "key=value key=value".
flatten() {
    awk -v want="config policy params k n_queries precision_at_k_vs_full nDCG@10 fraction_computed latency_ms latency_full_ms speedup n_judged n_unjudged unjudged" '
    function csv_split(line, f,    n, i, c, q, field, len) {
        n = 0; field = ""; q = 0; len = length(line)
        for (i = 1; i <= len; i++) {
            c = substr(line, i, 1)
            if (q) { if (c == "\"") { if (substr(line, i + 1, 1) == "\"") { field = field "\""; i++ } else q = 0 } else field = field c }
            else if (c == "\"") q = 1
            else if (c == ",") { f[++n] = field; field = "" }
            else field = field c
        }
        f[++n] = field; return n }
    { sub(/\r$/, "") }
    NR == 1 { sub(/^\357\273\277/, ""); n = csv_split($0, h); for (i = 1; i <= n; i++) c[h[i]] = i
              nw = split(want, w, " ")
              for (j = 1; j <= nw; j++) if (!(w[j] in c)) { print "summary_sweep: " FILENAME ": no column " w[j] > "/dev/stderr"; exit 1 }
              next }
    { csv_split($0, f)
      p = f[c["params"]]; gsub(/^\{|\}$/, "", p); gsub(/"/, "", p); gsub(/:/, "=", p); gsub(/,/, " ", p)
      if (p == "") p = "(defaults)"
      f[c["params"]] = p
      out = ""; for (j = 1; j <= nw; j++) out = out (j > 1 ? "\t" : "") f[c[w[j]]]
      print out }' "$1"
}

all=$OUT/all-configs.tsv
: > "$all"
for d in "${DIRS[@]}"; do
    bl_need_file "$d/sweep.csv" "sweep"
    flatten "$d/sweep.csv" | awk -v g="$(basename "$d")" -F'\t' '{ print g "\t" $0 }' >> "$all"
done
# The full model's nDCG@10 (policy none; the same at every K) for the sweeps
# without a `none` row.
full_ndcg=$(awk -F'\t' '$3 == "none" && $8 != "nan" && $8 != "" { print $8; exit }' "$all")
for d in "${DIRS[@]}"; do
    csv=$d/sweep.csv
    name=$(basename "$d")
    series=()
    if ! awk -F, 'NR > 1 && $2 != "cluster-gap" && $2 != "first-stage" { found = 1 } END { exit !found }' "$csv"; then
        series=(--series "$SERIES_CLUSTER_GAP")
    fi
    bl_plot pareto "$csv" "$OUT/$name-pareto" "$note" "${series[@]}" \
        --title "$name: Precision@K vs fraction computed (offline replay of the trace), Pareto front"
    bl_plot pareto "$csv" "$OUT/$name-pareto-latency" "$note" "${series[@]}" --x latency
    has_ndcg=$(awk -F'\t' -v g="$name" '$1 == g && $8 != "nan" && $8 != "" { print 1; exit }' "$all")
    has_none=$(awk -F'\t' -v g="$name" '$1 == g && $3 == "none" { print 1; exit }' "$all")
    if [ -n "$has_ndcg" ]; then
        if [ -n "$has_none" ]; then
            bl_plot ndcg-compute "$csv" "$OUT/$name-ndcg-compute" "$note" "${series[@]}"
        elif [ -n "$full_ndcg" ]; then
            bl_plot ndcg-compute "$csv" "$OUT/$name-ndcg-compute" "$note" "${series[@]}" --ref "$full_ndcg"
        fi
    fi
done
[ -s "$all" ] || bl_die "no configurations in $SWEEPS"

# The table. Columns of all-configs.tsv: 1 grid, 2 config, 3 policy, 4 params,
# 5 k, 6 n_queries, 7 P@K, 8 nDCG@10, 9 fraction, 10 latency, 11 full latency, 12 speedup,
# 13 n_judged, 14 n_unjudged, 15 unjudged (skip | zero | empty without qrels).
awk -F'\t' -v budget="$BUDGET" -v targets="$TARGETS" '
    function isnum(x) { return x != "" && tolower(x) != "nan" }
    function row(crit, i) {
        if (!i) { printf "%s,%s,-,-,-,-,-,-,-\n", K[kk], crit; return }
        printf "%s,%s,%s,%s %s,%.3f,%.1f,%s,%.1f,%s\n", K[kk], crit, G[i], P[i], A[i], PK[i], 100 * F[i],
               isnum(N[i]) ? sprintf("%.3f", N[i]) : "nan", L[i], isnum(S[i]) ? sprintf("%.2fx", S[i]) : "-" }
    { n++; G[n] = $1; P[n] = $3; A[n] = $4; KV[n] = $5; PK[n] = $7; N[n] = $8; F[n] = $9; L[n] = $10; S[n] = $12
      if (!($5 in seenk)) { seenk[$5] = 1; K[++nk] = $5 } }
    END {
        # K values in increasing order
        for (i = 1; i <= nk; i++) for (j = i + 1; j <= nk; j++) if (K[j] + 0 < K[i] + 0) { t = K[i]; K[i] = K[j]; K[j] = t }
        nt = split(targets, T, ",")
        print "K,criterion,sweep,policy and parameters,P@K vs full,computed %,nDCG@10,predicted ms,speedup"
        for (kk = 1; kk <= nk; kk++) {
            best = 0; full = 0; bn = 0; fs = 0
            for (i = 1; i <= n; i++) {
                if (KV[i] != K[kk]) continue
                if (P[i] == "none" && !full) full = i
                if (P[i] == "first-stage") { if (!fs) fs = i; continue }
                if (F[i] <= budget + 1e-12) {
                    if (!best || PK[i] > PK[best] || (PK[i] == PK[best] && F[i] < F[best])) best = i
                    if (isnum(N[i]) && (!bn || N[i] > N[bn] || (N[i] == N[bn] && F[i] < F[bn]))) bn = i
                }
            }
            if (full) row("full model", full)
            if (fs) row("first stage (no reranking)", fs)
            row("best P@K at <= " 100 * budget "% compute", best)
            for (t = 1; t <= nt; t++) {
                c = 0
                for (i = 1; i <= n; i++)
                    if (KV[i] == K[kk] && P[i] != "none" && P[i] != "first-stage" && PK[i] >= T[t] - 1e-12 && (!c || F[i] < F[c] || (F[i] == F[c] && PK[i] > PK[c]))) c = i
                row("least compute with P@K >= " T[t], c)
            }
            if (bn) row("best nDCG@10 at <= " 100 * budget "% compute", bn)
        }
    }' "$all" > "$OUT/summary.csv"

{
    bl_header "Policy sweeps on the trace (make -f Makefile.bench sweep-scifact)"
    printf -- '- **trace**: `%s`: %s queries of %s (`%s`), N = %s first-stage candidates, max_len %s, created %s\n' \
        "$TRACE" "$TRACE_QUERIES" "$DATA_LABEL" "$TRACE_DATASET" "$TRACE_N" "$TRACE_MAXLEN" "$TRACE_CREATED"
    printf -- '- **sweeps**: %s (grids in experiments/*.json; `grating sweep` replays the trace offline with the policies'"'"' own code)\n' \
        "$(for d in "${DIRS[@]}"; do printf '`%s` (%s configurations) ' "$d/sweep.csv" "$(($(wc -l < "$d/sweep.csv") - 1))"; done)"
    judged=$(awk -F'\t' 'NR == 1 { if ($15 == "") print "no qrels"; else if ($14 + 0 == 0) print "all " $13 " queries judged"; else if ($15 == "zero") print $13 " judged queries, " $14 " without judgements counted as 0"; else print "means over the " $13 " judged queries; " $14 " without judgements left out, as trec_eval does"; exit }' "$all")
    printf -- '- **metrics**: P@K = mean over queries of |top-K ∩ full model'"'"'s top-K| / K; computed = candidate-layers computed / (N x layers); nDCG@10 vs the qrels over the final order of all N, as trec_eval ndcg_cut_10 (%s); predicted ms = the sweep'"'"'s cost model (per-layer times measured in the trace'"'"'s full forwards, scaled by the active share): a prediction, not a timed run (`make -f Makefile.bench microbench` times live runs)\n' "$judged"
    printf -- '- **selection**: per K over all the sweeps above; ties go to less compute\n\n'
    bl_md_table "$OUT/summary.csv"
    printf '\nPlots per sweep: `*-pareto.png` (P@K vs fraction computed, Pareto front), `*-pareto-latency.png` (vs predicted latency), `*-ndcg-compute.png` (nDCG@10 vs compute). All configurations: `all-configs.tsv`.\n'
} > "$OUT/summary.md"
cat "$OUT/summary.md"
