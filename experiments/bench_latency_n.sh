#!/usr/bin/env bash
# experiments/bench_latency_n.sh - latency vs the number of candidates N
# (Makefile.bench latency-n): for every N of a list, the in-memory full
# forward and the full system (W=2 + chunks + embedding cache + cluster-gap),
# one `grating rerank` process each, per query (interleaved).
#
# Writes OUT/runs.csv, OUT/latency-n.csv (system,n,latency_ms: means over the
# queries) and its plot (plotting/plot.sh latency-n), OUT/summary.csv and
# OUT/summary.md (printed).
set -euo pipefail
BL_PROG=bench_latency_n
# shellcheck source=bench_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

BL_USAGE="usage: experiments/bench_latency_n.sh --model DIR --data DIR --run FILE [options]
  --grating BIN       grating binary (default build/grating)
  --weights KIND      trained | generated | auto (default: from the path)
  --data-label TEXT   dataset name for the labels (default: SciFact test)
  --queries Q         first Q queries of the run with >= max(N) candidates (default 3)
  --n LIST            numbers of candidates (default 10,20,40,60)
  --k K               top-K (default 5; at most the smallest N)
  --max-len L         tokens per pair (default 192)
  --threshold T       cluster-gap threshold of the full system (default 0.05)
  --score KIND        cluster-gap score: probability | logit | auto (default auto)
  --chunk C           candidates per chunk (default 2)
  --cache F           embedding cache, fraction of the vocabulary (default 0.1)
  --threads T         OpenBLAS threads (default 2)
  --repeat R          processes per configuration; the median latency counts (default 1)
  --cold 1|0          drop the checkpoint from the page cache before every run (default 1)
  --out DIR           output folder (default results/latency-n)"
BL_OPTS="grating model weights data run data-label queries n k max-len threshold score chunk cache threads cold out timeline-ms repeat"
GRATING=build/grating MODEL="" WEIGHTS=auto DATA="" RUN="" DATA_LABEL="SciFact test"
QUERIES=3 N=10,20,40,60 K=5 MAX_LEN=192 THRESHOLD=0.05 SCORE=auto CHUNK=2 CACHE=0.1 THREADS=2 COLD=1
OUT=results/latency-n TIMELINE_MS=5 REPEAT=1
bl_parse_args "$@"
bl_check_int queries "$QUERIES" 1
bl_check_list n "$N"
bl_check_int k "$K" 1
bl_check_int max-len "$MAX_LEN" 3
bl_check_int chunk "$CHUNK" 1
bl_check_int repeat "$REPEAT" 1
bl_setup_common
IFS=, read -r -a NS <<< "$N"
nmax=0
for n in "${NS[@]}"; do
    [ "$K" -le "$n" ] || bl_die "K = $K is larger than N = $n"
    [ "$n" -gt "$nmax" ] && nmax=$n
done
cold=()
[ "$COLD" = 1 ] && cold=(--cold)

mkdir -p "$OUT"
rm -rf "$OUT/runs"
mapfile -t QIDS < <(bl_pick_queries "$RUN" "$nmax" "$QUERIES")
[ ${#QIDS[@]} -gt 0 ] || bl_die "$RUN: no query has $nmax candidates"
ids_all=()
for q in "${QIDS[@]}"; do ids_all+=("$(bl_candidates "$RUN" "$q" "$nmax")"); done
bl_extract_docs "$DATA/corpus.jsonl" "$OUT/docs.jsonl" "${ids_all[@]}"

FULL="full forward (in memory)"
SYSTEM="full system (W=2+chunk+cache+cluster-gap)"
bl_say "latency-n: $MODEL_LABEL"
bl_say "  ${#QIDS[@]} queries (${QIDS[*]}), N in {$N}, K = $K, max_len $MAX_LEN, $MACHINE"
runs=$OUT/runs.csv
echo "query,system,n,latency_ms,load_ms,fraction_computed,precision_at_k_vs_full,alloc_peak_mib,rss_peak_mib,latencies_ms,loadavg,run" > "$runs"
score_kind="" score_note=""
for i in "${!QIDS[@]}"; do
    q=${QIDS[$i]}
    for n in "${NS[@]}"; do
        ids=$(bl_candidates "$RUN" "$q" "$n")
        base=(--model "$MODEL" --queries "$DATA/queries.jsonl" --qid "$q" --docs "$OUT/docs.jsonl"
              --doc-ids "$ids" --max-len "$MAX_LEN" --top-k "$K" "${cold[@]}")
        bl_run "$OUT" "q$q-n$n-full" "$FULL" "${base[@]}" --policy none --window all
        full_ranking=$BL_RANKING
        if [ -z "$score_kind" ]; then
            read -r score_kind cv lo hi < <(bl_score_kind "$(bl_json_scores "$BL_JSON")")
            score_note="auto: CV of query $q's final P(yes) = $cv, logit below 0.05"
            [ "$SCORE" = auto ] || { score_kind=$SCORE; score_note="given"; }
        fi
        echo "$q,$FULL,$n,$BL_LAT_MS,$BL_LOAD_MS,$BL_FRACTION,1,$BL_ALLOC_PEAK,$BL_RSS_PEAK,$BL_LAT_ALL,$BL_LOADAVG,q$q-n$n-full" >> "$runs"
        bl_run "$OUT" "q$q-n$n-system" "$SYSTEM" "${base[@]}" --window 2 --chunk "$CHUNK" \
            --embed-cache "$CACHE" --policy cluster-gap \
            --policy-args "{\"threshold\": $THRESHOLD, \"score\": \"$score_kind\"}"
        echo "$q,$SYSTEM,$n,$BL_LAT_MS,$BL_LOAD_MS,$BL_FRACTION,$(bl_precision "$BL_RANKING" "$full_ranking" "$K"),$BL_ALLOC_PEAK,$BL_RSS_PEAK,$BL_LAT_ALL,$BL_LOADAVG,q$q-n$n-system" >> "$runs"
    done
    bl_say "  query $q done"
done

{
    echo "system,n,latency_ms"
    for s in "$FULL" "$SYSTEM"; do
        for n in "${NS[@]}"; do echo "$s,$n,$(bl_mean "$runs" latency_ms system="$s" n="$n")"; done
    done
} > "$OUT/latency-n.csv"
{
    echo "N,full forward ms,full system ms,speedup,full system computed %,P@$K vs full,peak alloc MiB (full / system),peak RSS MiB (full / system)"
    for n in "${NS[@]}"; do
        awk -v n="$n" -v lf="$(bl_mean "$runs" latency_ms system="$FULL" n="$n")" \
            -v ls="$(bl_mean "$runs" latency_ms system="$SYSTEM" n="$n")" \
            -v f="$(bl_mean "$runs" fraction_computed system="$SYSTEM" n="$n")" \
            -v p="$(bl_mean "$runs" precision_at_k_vs_full system="$SYSTEM" n="$n")" \
            -v af="$(bl_mean "$runs" alloc_peak_mib system="$FULL" n="$n")" \
            -v as="$(bl_mean "$runs" alloc_peak_mib system="$SYSTEM" n="$n")" \
            -v rf="$(bl_mean "$runs" rss_peak_mib system="$FULL" n="$n")" \
            -v rs="$(bl_mean "$runs" rss_peak_mib system="$SYSTEM" n="$n")" \
            'BEGIN {printf "%s,%.1f,%.1f,%.2fx,%.1f,%.3f,%.1f / %.1f,%.1f / %.1f\n", n, lf, ls, lf / ls, 100 * f, p, af, as, rf, rs}'
    done
} > "$OUT/summary.csv"

note="$MODEL_SHORT, $DATA_LABEL, K=$K, max_len $MAX_LEN, $(bl_machine_short), $DATE"
bl_plot latency-n "$OUT/latency-n.csv" "$OUT/latency-n" "$note" \
    --title "Latency vs number of candidates N (mean of ${#QIDS[@]} queries per N)"

{
    bl_header "Latency vs N (make -f Makefile.bench latency-n)"
    printf -- '- **workload**: %s, %d queries (ids %s), the first N of each query'"'"'s first-stage candidates (`%s`) for N in {%s}, K = %s, max_len %s\n' \
        "$DATA_LABEL" "${#QIDS[@]}" "${QIDS[*]}" "$RUN" "$N" "$K" "$MAX_LEN"
    printf -- '- **systems**: full forward = all weights resident, policy none; full system = W=2 dual-layer window + chunks of %s + embedding cache of %s of the vocabulary + cluster-gap threshold %s (score %s; %s)\n' \
        "$CHUNK" "$CACHE" "$THRESHOLD" "$score_kind" "$score_note"
    printf -- '- **method**: one `grating rerank` process per run%s; latency = the query (engine wall time; loading and tokenization excluded), mean over the queries; P@K = overlap with the full forward'"'"'s top-K\n' \
        "$([ "$COLD" = 1 ] && echo ', the checkpoint dropped from the page cache before each (cold reads)')"
    bl_runs_note "$runs"
    echo
    bl_md_table "$OUT/summary.csv"
    printf '\nPlot: `latency-n.png`. Raw: `latency-n.csv` (means), `runs.csv`, `runs/`.\n'
} > "$OUT/summary.md"
cat "$OUT/summary.md"
