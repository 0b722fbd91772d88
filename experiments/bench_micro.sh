#!/usr/bin/env bash
# experiments/bench_micro.sh - the paper's microbenchmark on this machine
# (Makefile.bench microbench): top-K of N first-stage candidates, K in a list,
# the full system at a low and a high cluster-gap threshold vs three
# full-forward baselines. Every configuration is one `grating rerank` process.
#
#   systems   in-memory      all layers and the embedding table resident, full
#                            forward (the paper's "HF")
#             W=1            each layer read right before it runs ("HF Offload")
#             chunk=C        sub-batched full forward, C candidates at a time,
#                            resident weights
#             full system    W=2 weight window + chunk C + embedding cache F +
#                            cluster-gap at threshold T (one system per T)
#   metrics   latency (the query: engine wall time; loading and tokenization
#             excluded), fraction of candidate-layers computed, Precision@K vs
#             the in-memory full forward's top-K, peak memory (allocator
#             high-water mark, peak RSS) and mean memory over the query (the
#             memory timeline's samples)
#
# Writes OUT/runs.csv (one row per run and K), OUT/summary.csv and
# OUT/summary.md (the table, printed too), OUT/pareto.{png,svg} (Precision@K vs
# fraction computed), OUT/memory-timeline{,-rss}.{csv,png,svg} (the first
# query's runs), OUT/runs/ (every run's JSON, timeline and stderr).
set -euo pipefail
BL_PROG=bench_micro
# shellcheck source=bench_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

BL_USAGE="usage: experiments/bench_micro.sh --model DIR --data DIR --run FILE [options]
  --grating BIN       grating binary (default build/grating)
  --weights KIND      trained | generated | auto (default: from the path)
  --data-label TEXT   dataset name for the labels (default: SciFact test)
  --queries Q         first Q queries of the run with >= N candidates (default 5)
  --n N               candidates per query (default 20)
  --k LIST            K values (default 1,5,10)
  --max-len L         tokens per pair (default 192)
  --thresholds LIST   cluster-gap thresholds, low and high (default 0.02,0.3)
  --score KIND        cluster-gap score: probability | logit | auto (default auto:
                      logit when the full forward's P(yes) spans < 0.05)
  --chunk C           candidates per chunk (default 2)
  --cache F           embedding cache, fraction of the vocabulary (default 0.1)
  --threads T         OpenBLAS threads (default 2)
  --repeat R          processes per configuration; the median latency counts (default 1)
  --cold 1|0          drop the checkpoint from the page cache before every run (default 1)
  --out DIR           output folder (default results/microbench)"
BL_OPTS="grating model weights data run data-label queries n k max-len thresholds score chunk cache threads cold out timeline-ms repeat"
GRATING=build/grating MODEL="" WEIGHTS=auto DATA="" RUN="" DATA_LABEL="SciFact test"
QUERIES=5 N=20 K=1,5,10 MAX_LEN=192 THRESHOLDS=0.02,0.3 SCORE=auto CHUNK=2 CACHE=0.1
THREADS=2 COLD=1 OUT=results/microbench TIMELINE_MS=5 REPEAT=1
bl_parse_args "$@"
bl_check_int queries "$QUERIES" 1
bl_check_int n "$N" 1
bl_check_list k "$K"
bl_check_int max-len "$MAX_LEN" 3
bl_check_int chunk "$CHUNK" 1
bl_check_int repeat "$REPEAT" 1
bl_setup_common
IFS=, read -r -a KS <<< "$K"
IFS=, read -r -a THRS <<< "$THRESHOLDS"
for k in "${KS[@]}"; do [ "$k" -le "$N" ] || bl_die "K = $k is larger than N = $N"; done
cold=()
[ "$COLD" = 1 ] && cold=(--cold)

mkdir -p "$OUT"
rm -rf "$OUT/runs"
mapfile -t QIDS < <(bl_pick_queries "$RUN" "$N" "$QUERIES")
[ ${#QIDS[@]} -gt 0 ] || bl_die "$RUN: no query has $N candidates"
ids_all=()
for q in "${QIDS[@]}"; do ids_all+=("$(bl_candidates "$RUN" "$q" "$N")"); done
bl_extract_docs "$DATA/corpus.jsonl" "$OUT/docs.jsonl" "${ids_all[@]}"

bl_say "microbench: $MODEL_LABEL"
bl_say "  ${#QIDS[@]} queries (${QIDS[*]}), N = $N, K in {$K}, max_len $MAX_LEN, thresholds {$THRESHOLDS}, chunk $CHUNK, cache $CACHE, $MACHINE"

runs=$OUT/runs.csv
echo "query,system,policy,threshold,k,latency_ms,load_ms,fraction_computed,precision_at_k_vs_full,alloc_peak_mib,alloc_mean_mib,rss_peak_mib,rss_mean_mib,latencies_ms,loadavg,run" > "$runs"
row() { # system policy threshold k precision run
    echo "$q,$1,$2,$3,$4,$BL_LAT_MS,$BL_LOAD_MS,$BL_FRACTION,$5,$BL_ALLOC_PEAK,$BL_ALLOC_MEAN,$BL_RSS_PEAK,$BL_RSS_MEAN,$BL_LAT_ALL,$BL_LOADAVG,$6" >> "$runs"
}
score_kind="" score_range="" tokens_sum=0
SYS_FULL=("in-memory" "W=1" "chunk=$CHUNK")
SYS_ARGS=("--window all" "--window 1" "--window all --chunk $CHUNK")
for i in "${!QIDS[@]}"; do
    q=${QIDS[$i]}
    ids=${ids_all[$i]}
    base=(--model "$MODEL" --queries "$DATA/queries.jsonl" --qid "$q" --docs "$OUT/docs.jsonl"
          --doc-ids "$ids" --max-len "$MAX_LEN" "${cold[@]}")
    # Baselines: full forwards, once per query (their top-K for every K is
    # the first K of the final order).
    full_ranking=""
    for s in "${!SYS_FULL[@]}"; do
        sys=${SYS_FULL[$s]}
        # shellcheck disable=SC2086
        bl_run "$OUT" "q$q-full-$s" "$sys" "${base[@]}" --top-k "${KS[${#KS[@]}-1]}" --policy none ${SYS_ARGS[$s]}
        if [ "$s" = 0 ]; then
            full_ranking=$BL_RANKING
            tokens_sum=$(awk -v a="$tokens_sum" -v b="$BL_TOKENS" 'BEGIN {print a + b}')
            if [ -z "$score_kind" ]; then
                read -r score_kind cv lo hi < <(bl_score_kind "$(bl_json_scores "$BL_JSON")")
                score_range="auto: CV of query $q's final P(yes) = $cv (P in [$lo, $hi]; logit below 0.05)"
                [ "$SCORE" = auto ] || { score_kind=$SCORE; score_range="given"; }
            fi
        fi
        for k in "${KS[@]}"; do
            row "$sys" none "" "$k" "$(bl_precision "$BL_RANKING" "$full_ranking" "$k")" "q$q-full-$s"
        done
    done
    for t in "${THRS[@]}"; do
        for k in "${KS[@]}"; do
            sys="W=2+chunk+cache+cluster-gap $t"
            bl_run "$OUT" "q$q-system-t$t-k$k" "$sys" "${base[@]}" --top-k "$k" --window 2 --chunk "$CHUNK" \
                --embed-cache "$CACHE" --policy cluster-gap \
                --policy-args "{\"threshold\": $t, \"score\": \"$score_kind\"}"
            row "$sys" cluster-gap "$t" "$k" "$(bl_precision "$BL_RANKING" "$full_ranking" "$k")" "q$q-system-t$t-k$k"
        done
    done
    bl_say "  query $q done"
done
mean_tokens=$(awk -v s="$tokens_sum" -v q="${#QIDS[@]}" -v n="$N" 'BEGIN {printf "%.0f", s / q / n}')

# Summary: means over the queries per (system, K).
summary=$OUT/summary.csv
ref_lat=$(bl_mean "$runs" latency_ms system=in-memory)
{
    echo "system,K,latency ms,vs in-memory,computed %,P@K vs full,peak alloc MiB,mean alloc MiB,peak RSS MiB,mean RSS MiB"
    for sys in "${SYS_FULL[@]}"; do
        k0=${KS[0]}
        p=""
        for k in "${KS[@]}"; do
            p="$p${p:+ / }$(awk -v v="$(bl_mean "$runs" precision_at_k_vs_full system="$sys" k="$k")" 'BEGIN {printf "%.3f", v}')"
        done
        lat=$(bl_mean "$runs" latency_ms system="$sys" k="$k0")
        awk -v s="$sys (full forward)" -v kk="$(echo "$K" | tr , /)" -v l="$lat" -v r="$ref_lat" -v p="$p" \
            -v f="$(bl_mean "$runs" fraction_computed system="$sys" k="$k0")" \
            -v ap="$(bl_mean "$runs" alloc_peak_mib system="$sys" k="$k0")" \
            -v am="$(bl_mean "$runs" alloc_mean_mib system="$sys" k="$k0")" \
            -v rp="$(bl_mean "$runs" rss_peak_mib system="$sys" k="$k0")" \
            -v rm="$(bl_mean "$runs" rss_mean_mib system="$sys" k="$k0")" \
            'BEGIN {printf "%s,%s,%.1f,%.2fx,%.1f,%s,%.1f,%.1f,%.1f,%.1f\n", s, kk, l, l / r, 100 * f, p, ap, am, rp, rm}'
    done
    for t in "${THRS[@]}"; do
        sys="W=2+chunk+cache+cluster-gap $t"
        for k in "${KS[@]}"; do
            lat=$(bl_mean "$runs" latency_ms system="$sys" k="$k")
            awk -v s="full system: W=2 + chunk $CHUNK + cache $CACHE + cluster-gap threshold $t" -v kk="$k" -v l="$lat" -v r="$ref_lat" \
                -v p="$(bl_mean "$runs" precision_at_k_vs_full system="$sys" k="$k")" \
                -v f="$(bl_mean "$runs" fraction_computed system="$sys" k="$k")" \
                -v ap="$(bl_mean "$runs" alloc_peak_mib system="$sys" k="$k")" \
                -v am="$(bl_mean "$runs" alloc_mean_mib system="$sys" k="$k")" \
                -v rp="$(bl_mean "$runs" rss_peak_mib system="$sys" k="$k")" \
                -v rm="$(bl_mean "$runs" rss_mean_mib system="$sys" k="$k")" \
                'BEGIN {printf "%s,%s,%.1f,%.2fx,%.1f,%.3f,%.1f,%.1f,%.1f,%.1f\n", s, kk, l, l / r, 100 * f, p, ap, am, rp, rm}'
        done
    done
} > "$summary"

# Ours next to the paper's headline microbenchmark figures (per threshold;
# "best" = over the K values, "worst" likewise).
{
    hdr="figure"
    for t in "${THRS[@]}"; do hdr="$hdr,ours: full system at threshold $t"; done
    echo "$hdr,paper reports (its models; Apple/NVIDIA devices)"
    lat_mem=$ref_lat
    lat_w1=$(bl_mean "$runs" latency_ms system=W=1)
    ap_mem=$(bl_mean "$runs" alloc_peak_mib system=in-memory)
    rp_mem=$(bl_mean "$runs" rss_peak_mib system=in-memory)
    ap_w1=$(bl_mean "$runs" alloc_peak_mib system=W=1)
    rp_w1=$(bl_mean "$runs" rss_peak_mib system=W=1)
    l1="latency vs W=1 offload (best K)" l2="latency vs in-memory (best K)"
    m1="peak memory: in-memory / full system (alloc; RSS)" m2="peak memory: W=1 / full system (alloc; RSS)"
    p1="worst P@K change vs the full forward (over K)"
    for t in "${THRS[@]}"; do
        sys="W=2+chunk+cache+cluster-gap $t"
        best=nan worst=nan
        for k in "${KS[@]}"; do
            l=$(bl_mean "$runs" latency_ms system="$sys" k="$k")
            p=$(bl_mean "$runs" precision_at_k_vs_full system="$sys" k="$k")
            best=$(awk -v a="$best" -v b="$l" 'BEGIN {print (a == "nan" || b + 0 < a + 0) ? b : a}')
            worst=$(awk -v a="$worst" -v b="$p" 'BEGIN {print (a == "nan" || b + 0 < a + 0) ? b : a}')
        done
        ap=$(bl_mean "$runs" alloc_peak_mib system="$sys")
        rp=$(bl_mean "$runs" rss_peak_mib system="$sys")
        l1="$l1,$(awk -v x="$best" -v y="$lat_w1" 'BEGIN {printf "%+.1f%%", 100 * (x / y - 1)}')"
        l2="$l2,$(awk -v x="$best" -v y="$lat_mem" 'BEGIN {printf "%+.1f%%", 100 * (x / y - 1)}')"
        m1="$m1,$(awk -v a="$ap_mem" -v b="$ap" -v c="$rp_mem" -v d="$rp" 'BEGIN {printf "%.2fx; %.2fx", a / b, c / d}')"
        m2="$m2,$(awk -v a="$ap_w1" -v b="$ap" -v c="$rp_w1" -v d="$rp" 'BEGIN {printf "%.2fx; %.2fx", a / b, c / d}')"
        p1="$p1,$(awk -v x="$worst" 'BEGIN {printf "%+.3f", x - 1}')"
    done
    echo "$l1,up to -89.2% (Bge-MiniCPM; P@1)"
    echo "$l2,up to -72%"
    echo "$m1,5.34x-11.45x lower than HF"
    echo "$m2,1.34x-3.83x lower than HF Offload"
    echo "$p1,within -0.008; often none"
} > "$OUT/paper-vs-ours.csv"

# Plots: Precision@K vs fraction computed (one point per system and K), and
# the memory timelines of the first query (K = the middle of the list).
note="$MODEL_SHORT, $DATA_LABEL, N=$N, max_len $MAX_LEN, $(bl_machine_short), $DATE"
pareto=$OUT/pareto.csv
{
    echo "policy,k,precision_at_k_vs_full,fraction_computed,latency_ms,n_queries"
    for sys in "${SYS_FULL[@]}" $(for t in "${THRS[@]}"; do echo "W=2+chunk+cache+cluster-gap_$t"; done); do
        s=${sys//_/ }
        for k in "${KS[@]}"; do
            echo "$s,$k,$(bl_mean "$runs" precision_at_k_vs_full system="$s" k="$k"),$(bl_mean "$runs" fraction_computed system="$s" k="$k"),$(bl_mean "$runs" latency_ms system="$s" k="$k"),${#QIDS[@]}"
        done
    done
} > "$pareto"
bl_plot pareto "$pareto" "$OUT/pareto" "$note" \
    --title "Microbenchmark: Precision@K vs the full forward, per system (live runs, measured fraction computed)"
kmid=${KS[$(( ${#KS[@]} / 2 ))]}
q=${QIDS[0]}
{
    echo "system,t_ms,bytes"
    for f in "$OUT/runs/q$q-full-"[0-9].csv "$OUT/runs/q$q-system-t"*"-k$kmid.csv"; do tail -n +2 "$f"; done
} > "$OUT/memory-timeline.csv"
{
    echo "system,t_ms,bytes"
    for f in "$OUT/runs/q$q-full-"[0-9]-categories.csv "$OUT/runs/q$q-system-t"*"-k$kmid-categories.csv"; do
        bl_rss_timeline "$f" | tail -n +2
    done
} > "$OUT/memory-timeline-rss.csv"
bl_plot memory-timeline "$OUT/memory-timeline.csv" "$OUT/memory-timeline" "query $q, K=$kmid, $note" \
    --title "Microbenchmark: allocator memory over time (loading + query), one process per system"
bl_plot memory-timeline "$OUT/memory-timeline-rss.csv" "$OUT/memory-timeline-rss" "query $q, K=$kmid, $note" \
    --title "Microbenchmark: resident set size (RSS) over time (loading + query), one process per system"

# summary.md
{
    bl_header "Microbenchmark (make -f Makefile.bench microbench)"
    printf -- '- **workload**: %s, %d queries (ids %s), N = %s first-stage candidates each (`%s`), K in {%s}, max_len %s (mean %s tokens per candidate)\n' \
        "$DATA_LABEL" "${#QIDS[@]}" "${QIDS[*]}" "$N" "$RUN" "$K" "$MAX_LEN" "$mean_tokens"
    printf -- '- **systems**: in-memory = all weights resident, full forward (the paper'"'"'s HF); W=1 = each layer read right before it runs (HF Offload); chunk=%s = sub-batched full forward, resident; full system = W=2 dual-layer window + chunks of %s + embedding cache of %s of the vocabulary + cluster-gap (score %s; %s) at thresholds %s\n' \
        "$CHUNK" "$CHUNK" "$CACHE" "$score_kind" "$score_range" "$THRESHOLDS"
    printf -- '- **method**: one `grating rerank` process per run%s; latency = the query (engine wall time, loading and tokenization excluded), mean over the queries; peak alloc = the allocator high-water mark, peak RSS = getrusage (both include loading); mean = mean of the memory-timeline samples (every %s ms) during the query; computed = candidate-layers computed / (N x layers); P@K = |top-K ∩ in-memory full forward top-K| / K. Full forwards run once per query with K = %s (their top-K at every K is the first K of the final order).\n' \
        "$([ "$COLD" = 1 ] && echo ', the checkpoint dropped from the page cache before each (cold reads)')" "$TIMELINE_MS" "${KS[${#KS[@]}-1]}"
    bl_runs_note "$runs"
    echo
    bl_md_table "$summary"
    printf '\n## Ours next to the paper'"'"'s\n\n'
    printf 'The right column is **the paper'"'"'s** reported headline (PRISM/GRATING, arXiv 2510.15620: Qwen3-Reranker-0.6B/4B/8B, bge-reranker-v2-minicpm-layerwise and bge-reranker-v2-m3, N = 20, K in {1, 5, 10}, ~500 tokens, on Apple and NVIDIA devices; HF = in memory, HF Offload = W=1), copied from ../shared/PAPER.md, **not measured here**. Ours: %s on %s, the means above. Different models, machines and implementations: only directions and rough sizes are comparable.\n\n' \
        "$(basename "$MODEL")$([ "$WEIGHTS_KIND" = generated ] && echo ' (GENERATED weights)')" "$MACHINE"
    bl_md_table "$OUT/paper-vs-ours.csv"
    printf '\nRaw: `runs.csv` (one row per run and K), `runs/` (JSON, timelines). Plots: `pareto.png` (Precision@K vs fraction computed), `memory-timeline.png` (allocator), `memory-timeline-rss.png` (RSS), query %s at K = %s.\n' "$q" "$kmid"
} > "$OUT/summary.md"
cat "$OUT/summary.md"
