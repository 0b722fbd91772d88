#!/usr/bin/env bash
# experiments/bench_ablation.sh - the paper's incremental ablation on this
# machine (Makefile.bench ablation): N first-stage candidates of ~500 tokens,
# the mechanisms added one at a time, each step one `grating rerank` process
# per query (steps interleaved per query so machine noise hits all alike):
#
#   baseline          all in memory, full forward
#   +pruning          cluster-gap (in memory)
#   +chunking         ... run each layer over chunks of C candidates
#   +streaming        ... W=2 dual-layer weight window instead of resident layers
#   +embedding cache  ... LRU of F of the embedding rows instead of the table
#
# Writes OUT/runs.csv, OUT/ablation.csv (step,latency_ms,peak_mib = allocator
# high-water mark) and OUT/ablation-rss.csv (peak_mib = peak RSS) with their
# plots (plotting/plot.sh ablation), OUT/summary.csv and OUT/summary.md (our
# table, then our relative changes next to the paper's reported ones).
set -euo pipefail
BL_PROG=bench_ablation
# shellcheck source=bench_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

BL_USAGE="usage: experiments/bench_ablation.sh --model DIR --data DIR --run FILE [options]
  --grating BIN       grating binary (default build/grating)
  --weights KIND      trained | generated | auto (default: from the path)
  --data-label TEXT   dataset name for the labels (default: SciFact test)
  --queries Q         first Q queries of the run with >= N candidates (default 3)
  --n N               candidates per query (default 60)
  --k K               top-K (default 5; the paper does not give K for its ablation)
  --max-len L         tokens per pair (default 512; capped at the model's positions)
  --threshold T       cluster-gap threshold (default 0.05, the policy's default)
  --score KIND        cluster-gap score: probability | logit | auto (default auto)
  --chunk C           candidates per chunk (default 2)
  --cache F           embedding cache, fraction of the vocabulary (default 0.1)
  --threads T         OpenBLAS threads (default 2)
  --repeat R          processes per configuration; the median latency counts (default 1)
  --cold 1|0          drop the checkpoint from the page cache before every run (default 1)
  --trained-len L     the sequence length the model was trained at, for the labels
                      (default: 192 for the SciFact demo model, else unknown)
  --out DIR           output folder (default results/ablation)"
BL_OPTS="grating model weights data run data-label queries n k max-len threshold score chunk cache threads cold trained-len out timeline-ms repeat"
GRATING=build/grating MODEL="" WEIGHTS=auto DATA="" RUN="" DATA_LABEL="SciFact test"
QUERIES=3 N=60 K=5 MAX_LEN=512 THRESHOLD=0.05 SCORE=auto CHUNK=2 CACHE=0.1 THREADS=2 COLD=1
TRAINED_LEN="" OUT=results/ablation TIMELINE_MS=5 REPEAT=1
bl_parse_args "$@"
bl_check_int queries "$QUERIES" 1
bl_check_int n "$N" 1
bl_check_int k "$K" 1
bl_check_int max-len "$MAX_LEN" 3
bl_check_int chunk "$CHUNK" 1
[ "$K" -le "$N" ] || bl_die "K = $K is larger than N = $N"
bl_check_int repeat "$REPEAT" 1
bl_setup_common
len_note=""
if [ -n "$BL_MAXPOS" ] && [ "$MAX_LEN" -gt "$BL_MAXPOS" ]; then
    len_note="max_len $MAX_LEN capped at the model's $BL_MAXPOS positions; "
    MAX_LEN=$BL_MAXPOS
fi
if [ -z "$TRAINED_LEN" ] && [ "$(basename "$MODEL")" = scifact-minibert-demo ]; then TRAINED_LEN=192; fi
if [ -n "$TRAINED_LEN" ] && [ "$MAX_LEN" -gt "$TRAINED_LEN" ]; then
    len_note="${len_note}the model was trained at $TRAINED_LEN tokens; its config has $BL_MAXPOS positions, so max_len $MAX_LEN runs (positions beyond $TRAINED_LEN were never trained: costs are real, its rankings there are less meaningful)"
fi
cold=()
[ "$COLD" = 1 ] && cold=(--cold)

mkdir -p "$OUT"
rm -rf "$OUT/runs"
mapfile -t QIDS < <(bl_pick_queries "$RUN" "$N" "$QUERIES")
[ ${#QIDS[@]} -gt 0 ] || bl_die "$RUN: no query has $N candidates"
ids_all=()
for q in "${QIDS[@]}"; do ids_all+=("$(bl_candidates "$RUN" "$q" "$N")"); done
bl_extract_docs "$DATA/corpus.jsonl" "$OUT/docs.jsonl" "${ids_all[@]}"

STEPS=("baseline" "+pruning" "+chunking" "+streaming" "+embedding cache")
bl_say "ablation: $MODEL_LABEL"
bl_say "  ${#QIDS[@]} queries (${QIDS[*]}), N = $N, K = $K, max_len $MAX_LEN, threshold $THRESHOLD, chunk $CHUNK, cache $CACHE, $MACHINE"

runs=$OUT/runs.csv
echo "query,step,latency_ms,load_ms,fraction_computed,precision_at_k_vs_full,alloc_peak_mib,alloc_mean_mib,rss_peak_mib,rss_mean_mib,latencies_ms,loadavg,run" > "$runs"
score_kind="" score_note="" tokens_sum=0
for i in "${!QIDS[@]}"; do
    q=${QIDS[$i]}
    base=(--model "$MODEL" --queries "$DATA/queries.jsonl" --qid "$q" --docs "$OUT/docs.jsonl"
          --doc-ids "${ids_all[$i]}" --max-len "$MAX_LEN" --top-k "$K" "${cold[@]}")
    full_ranking=""
    for s in "${!STEPS[@]}"; do
        args=()
        if [ "$s" -ge 1 ]; then
            args+=(--policy cluster-gap --policy-args "{\"threshold\": $THRESHOLD, \"score\": \"$score_kind\"}")
        else
            args+=(--policy none)
        fi
        [ "$s" -ge 2 ] && args+=(--chunk "$CHUNK")
        if [ "$s" -ge 3 ]; then args+=(--window 2); else args+=(--window all); fi
        [ "$s" -ge 4 ] && args+=(--embed-cache "$CACHE")
        name="q$q-step$s"
        bl_run "$OUT" "$name" "${STEPS[$s]}" "${base[@]}" "${args[@]}"
        if [ "$s" = 0 ]; then
            full_ranking=$BL_RANKING
            tokens_sum=$(awk -v a="$tokens_sum" -v b="$BL_TOKENS" 'BEGIN {print a + b}')
            if [ -z "$score_kind" ]; then
                read -r score_kind cv lo hi < <(bl_score_kind "$(bl_json_scores "$BL_JSON")")
                score_note="auto: CV of query $q's final P(yes) = $cv, logit below 0.05"
                [ "$SCORE" = auto ] || { score_kind=$SCORE; score_note="given"; }
            fi
        fi
        echo "$q,${STEPS[$s]},$BL_LAT_MS,$BL_LOAD_MS,$BL_FRACTION,$(bl_precision "$BL_RANKING" "$full_ranking" "$K"),$BL_ALLOC_PEAK,$BL_ALLOC_MEAN,$BL_RSS_PEAK,$BL_RSS_MEAN,$BL_LAT_ALL,$BL_LOADAVG,$name" >> "$runs"
    done
    bl_say "  query $q done"
done
mean_tokens=$(awk -v s="$tokens_sum" -v q="${#QIDS[@]}" -v n="$N" 'BEGIN {printf "%.0f", s / q / n}')

# Means per step.
declare -A LAT AP RP AM RM FR PR
for s in "${STEPS[@]}"; do
    LAT[$s]=$(bl_mean "$runs" latency_ms step="$s")
    AP[$s]=$(bl_mean "$runs" alloc_peak_mib step="$s")
    RP[$s]=$(bl_mean "$runs" rss_peak_mib step="$s")
    AM[$s]=$(bl_mean "$runs" alloc_mean_mib step="$s")
    RM[$s]=$(bl_mean "$runs" rss_mean_mib step="$s")
    FR[$s]=$(bl_mean "$runs" fraction_computed step="$s")
    PR[$s]=$(bl_mean "$runs" precision_at_k_vs_full step="$s")
done
b=${STEPS[0]}
{
    echo "step,latency ms,latency vs baseline,peak alloc MiB,alloc vs baseline,peak RSS MiB,RSS vs baseline,mean alloc MiB,mean RSS MiB,computed %,P@$K vs full"
    for s in "${STEPS[@]}"; do
        awk -v s="$s" -v l="${LAT[$s]}" -v l0="${LAT[$b]}" -v a="${AP[$s]}" -v a0="${AP[$b]}" \
            -v r="${RP[$s]}" -v r0="${RP[$b]}" -v am="${AM[$s]}" -v rm="${RM[$s]}" -v f="${FR[$s]}" -v p="${PR[$s]}" \
            'function pct(x, y) { return sprintf("%+.1f%%", 100 * (x / y - 1)) }
             BEGIN { printf "%s,%.1f,%s,%.1f,%s,%.1f,%s,%.1f,%.1f,%.1f,%.3f\n", s, l, pct(l, l0), a, pct(a, a0), r, pct(r, r0), am, rm, 100 * f, p }'
    done
} > "$OUT/summary.csv"
{
    echo "step,latency_ms,peak_mib"
    for s in "${STEPS[@]}"; do echo "$s,${LAT[$s]},${AP[$s]}"; done
} > "$OUT/ablation.csv"
{
    echo "step,latency_ms,peak_mib"
    for s in "${STEPS[@]}"; do echo "$s,${LAT[$s]},${RP[$s]}"; done
} > "$OUT/ablation-rss.csv"

# Ours in the paper's terms (each figure computed the way the paper states its own).
pc() { awk -v x="$1" -v y="$2" 'BEGIN {printf "%+.1f%%", 100 * (x / y - 1)}'; }
dms() { awk -v x="$1" -v y="$2" 'BEGIN {printf "%+.0f ms", x - y}'; }
S1=${STEPS[1]} S2=${STEPS[2]} S3=${STEPS[3]} S4=${STEPS[4]}
{
    echo "step,ours (latency; peak alloc / peak RSS),paper reports (Qwen3-Reranker-0.6B; Apple/NVIDIA device)"
    echo "+pruning vs baseline,latency $(pc "${LAT[$S1]}" "${LAT[$b]}"); peak $(pc "${AP[$S1]}" "${AP[$b]}") / $(pc "${RP[$S1]}" "${RP[$b]}"),latency -49.0%; peak memory +44.8%"
    echo "+chunking: peak vs baseline,peak $(pc "${AP[$S2]}" "${AP[$b]}") / $(pc "${RP[$S2]}" "${RP[$b]}"); latency $(pc "${LAT[$S2]}" "${LAT[$b]}"),memory overhead down to +7.2%"
    echo "+streaming vs +chunking,peak $(pc "${AP[$S3]}" "${AP[$S2]}") / $(pc "${RP[$S3]}" "${RP[$S2]}"); latency $(dms "${LAT[$S3]}" "${LAT[$S2]}"),memory -57.8%; latency +81 ms"
    echo "+embedding cache vs +streaming,latency $(dms "${LAT[$S4]}" "${LAT[$S3]}"); peak $(awk -v x="${AP[$S4]}" 'BEGIN {printf "%.1f", x}') / $(awk -v x="${RP[$S4]}" 'BEGIN {printf "%.1f", x}') MiB,latency +4 ms; peak 271 MiB"
    echo "all vs baseline,latency $(pc "${LAT[$S4]}" "${LAT[$b]}"); peak $(pc "${AP[$S4]}" "${AP[$b]}") / $(pc "${RP[$S4]}" "${RP[$b]}"),latency -48.5%; peak memory -78.4%"
} > "$OUT/paper-vs-ours.csv"

note="$MODEL_SHORT, $DATA_LABEL, N=$N, K=$K, max_len $MAX_LEN, $(bl_machine_short), $DATE"
bl_plot ablation "$OUT/ablation.csv" "$OUT/ablation" "$note" \
    --title "Ablation: latency and peak allocator memory as mechanisms are added (mean of ${#QIDS[@]} queries)"
bl_plot ablation "$OUT/ablation-rss.csv" "$OUT/ablation-rss" "$note" \
    --title "Ablation: latency and peak RSS as mechanisms are added (mean of ${#QIDS[@]} queries)"

{
    bl_header "Ablation (make -f Makefile.bench ablation)"
    printf -- '- **workload**: %s, %d queries (ids %s), N = %s first-stage candidates each (`%s`), K = %s, max_len %s, mean %s tokens per candidate%s\n' \
        "$DATA_LABEL" "${#QIDS[@]}" "${QIDS[*]}" "$N" "$RUN" "$K" "$MAX_LEN" "$mean_tokens" "${len_note:+ ($len_note)}"
    printf -- '- **steps** (cumulative): baseline = all weights resident, full forward; +pruning = cluster-gap threshold %s (score %s; %s); +chunking = chunks of %s candidates; +streaming = W=2 dual-layer weight window; +embedding cache = LRU of %s of the vocabulary'"'"'s rows\n' \
        "$THRESHOLD" "$score_kind" "$score_note" "$CHUNK" "$CACHE"
    printf -- '- **method**: one `grating rerank` process per step and query%s; latency = the query (engine wall time; loading and tokenization excluded); peak alloc = allocator high-water mark, peak RSS = getrusage (both include loading); means over the query from the memory timeline; all values are means over the queries. P@K = overlap with the baseline'"'"'s top-K.\n' \
        "$([ "$COLD" = 1 ] && echo ', the checkpoint dropped from the page cache before each (cold reads)')"
    bl_runs_note "$runs"
    echo
    printf '## Ours\n\n'
    bl_md_table "$OUT/summary.csv"
    printf '\n## Ours next to the paper'"'"'s\n\n'
    printf 'The right column is **the paper'"'"'s** reported result (PRISM/GRATING, arXiv 2510.15620: Qwen3-Reranker-0.6B, N = 60, ~500 tokens, on an Apple or NVIDIA device), copied from ../shared/PAPER.md, **not measured here**. The middle column is ours (%s on %s): a different model, machine and implementation, so only the direction and rough size of each change are comparable. Where the paper does not say what a change is relative to, we compare with the previous step and say so.\n\n' \
        "$(basename "$MODEL")$([ "$WEIGHTS_KIND" = generated ] && echo ', GENERATED weights')" "$MACHINE"
    bl_md_table "$OUT/paper-vs-ours.csv"
    printf '\nPlots: `ablation.png` (latency, peak allocator memory), `ablation-rss.png` (latency, peak RSS). Raw: `runs.csv`, `runs/`.\n'
} > "$OUT/summary.md"
cat "$OUT/summary.md"
