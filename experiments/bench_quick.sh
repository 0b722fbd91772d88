#!/usr/bin/env bash
# experiments/bench_quick.sh - a reduced profile of every reproduction target
# (Makefile.bench quick): microbench, ablation, latency-n, sweep-scifact and
# stability with fewer queries, in minutes, into OUT/<target>/ and one
# OUT/summary.md holding every table and linking every target's summary.
#
# With ../shared (the trained SciFact demo model and SciFact) it runs on real
# data and reuses an existing trace (--trace) or traces the first 30 queries.
# Without it, it generates a BERT of the demo model's shape with random
# weights and made-up documents (experiments/make_generated_data.sh) and says
# so in its output and in every summary.
#
#   --profile quick   real data when present (default)
#   --profile tiny    always generated: tests/data/bert-tiny's shape with 6
#                     layers, 3 queries of 12 made-up documents (seconds;
#                     tests/test_bench_targets.c)
set -euo pipefail
BL_PROG=bench_quick
# shellcheck source=bench_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

BL_USAGE="usage: experiments/bench_quick.sh [options]
  --grating BIN     grating binary (default build/grating)
  --shared DIR      the read-only real data (default ../shared)
  --trace FILE.h5   a trace of the demo model on SciFact test to reuse when it
                    exists (default results/scifact-demo-n20.h5)
  --profile P       quick | tiny (default quick)
  --threads T       OpenBLAS threads (default 2)
  --repeat R        processes per configuration, median latency (default 3; tiny: 1)
  --out DIR         output folder (default results/quick)"
BL_OPTS="grating shared trace profile threads repeat out"
GRATING=build/grating SHARED=../shared TRACE=results/scifact-demo-n20.h5 PROFILE=quick THREADS=2 REPEAT="" OUT=results/quick
bl_parse_args "$@"
[ -x "$GRATING" ] || bl_die "grating binary $GRATING not found (build first: cmake --build build)"
here=$(dirname "${BASH_SOURCE[0]}")
start=$(date +%s)
mkdir -p "$OUT"
log=$OUT/quick.log
: > "$log"

model=$SHARED/models/scifact-minibert-demo
data=$SHARED/data/scifact
generated=0
case $PROFILE in
quick)
    if [ -f "$model/model.safetensors" ] && [ -f "$data/corpus.jsonl" ] && [ -f "$data/bm25/test.bm25.top100.trec" ]; then
        run=$data/bm25/test.bm25.top100.trec
        data_label="SciFact test"
        weights=trained
    else
        generated=1
        shape=demo gq=12 gd=80 gw=110
    fi ;;
tiny) generated=1 shape=tiny gq=3 gd=12 gw=10 ;;
*) bl_die "--profile must be quick or tiny (got '$PROFILE')" ;;
esac
if [ "$generated" = 1 ]; then
    banner="NOTE: GENERATED WEIGHTS AND MADE-UP DOCUMENTS. $([ "$PROFILE" = quick ] && echo "$SHARED (the trained demo model and SciFact) is absent, so this" || echo "The tiny profile") runs a BERT of the $shape shape with random weights (grating synth) on made-up texts: latency and memory are real measurements of that shape; rankings, precision and nDCG mean nothing."
    bl_say "$banner"
    model=$("$here/make_generated_data.sh" --out "$OUT/generated" --shape "$shape" --queries "$gq" --docs "$gd" \
        --words "$gw" --grating "$GRATING")
    data=$OUT/generated/data run=$OUT/generated/data/run.trec
    data_label="made-up texts"
    weights=generated
fi

# The profile: queries and sizes per target.
if [ "$PROFILE" = tiny ]; then
    micro=(--queries 2 --n 8 --k 1,3 --max-len 64)
    abl=(--queries 1 --n 12 --k 3 --max-len 64)
    latn=(--queries 1 --n 4,8,12 --k 2 --max-len 64)
    trace_q=3 trace_n=8 trace_len=64
    REPEAT=${REPEAT:-1}
else
    micro=(--queries 3 --n 20 --k 1,5,10 --max-len 192)
    abl=(--queries 2 --n 60 --k 5 --max-len 512)
    latn=(--queries 2 --n 10,20,40,60 --k 5 --max-len 192)
    trace_q=30 trace_n=20 trace_len=192
    REPEAT=${REPEAT:-3}
fi
bl_check_int repeat "$REPEAT" 1
common=(--grating "$GRATING" --model "$model" --weights "$weights" --data "$data" --run "$run"
        --data-label "$data_label" --threads "$THREADS" --repeat "$REPEAT")

step() { # NAME COMMAND...: runs a stage, its output into the log, its time printed
    local name=$1 t0 t1
    shift
    t0=$(date +%s)
    bl_say "== quick: $name"
    if ! "$@" >> "$log" 2>&1; then
        tail -20 "$log" >&2
        bl_die "$name failed (full log: $log)"
    fi
    t1=$(date +%s)
    bl_say "   $name: $((t1 - t0)) s"
    printf '%s,%s\n' "$name" "$((t1 - t0))" >> "$OUT/times.csv"
}
echo "stage,seconds" > "$OUT/times.csv"

step microbench "$here/bench_micro.sh" "${common[@]}" "${micro[@]}" --out "$OUT/microbench"
step ablation "$here/bench_ablation.sh" "${common[@]}" "${abl[@]}" --out "$OUT/ablation"
step latency-n "$here/bench_latency_n.sh" "${common[@]}" "${latn[@]}" --out "$OUT/latency-n"

# The trace: reuse (real data only), else a short one.
if [ "$generated" = 0 ] && [ -f "$TRACE" ]; then
    trace=$TRACE
    trace_note="reused the existing trace \`$TRACE\`"
else
    trace=$OUT/trace-n$trace_n-q$trace_q.h5
    if [ "$generated" = 1 ] || [ ! -f "$trace" ]; then
        rm -f "$trace" "$trace.partial"
        step trace env OPENBLAS_NUM_THREADS="$THREADS" "$GRATING" trace --model "$model" --dataset "$data" \
            --run "$run" --top-n "$trace_n" --max-len "$trace_len" --limit "$trace_q" --out "$trace"
        trace_note="traced the first $trace_q queries into \`$trace\`"
    else
        trace_note="reused \`$trace\` (an earlier quick run's trace)"
    fi
fi
sweeps=()
for g in policy-comparison-scifact cluster-gap-thresholds; do
    # Replaces the previous quick run's sweep (--force where sweep has it).
    # shellcheck disable=SC2046
    step "sweep $g" "$GRATING" sweep --trace "$trace" --grid "$BL_ROOT/experiments/$g.json" \
        --out "$OUT/sweep-scifact/$g" $(bl_force sweep)
    sweeps+=("$OUT/sweep-scifact/$g")
done
step sweep-scifact "$here/summary_sweep.sh" --trace "$trace" --weights "$weights" --data-label "$data_label" \
    --sweeps "$(IFS=,; echo "${sweeps[*]}")" --out "$OUT/sweep-scifact"
step stability "$here/summary_stability.sh" --grating "$GRATING" --trace "$trace" --weights "$weights" \
    --data-label "$data_label" --out "$OUT/stability"
end=$(date +%s)

# One summary: every target's tables, links to the rest.
tables() { awk '/^\|/ { print; t = 1; next } t { print ""; t = 0 }' "$1"; }
{
    echo "# Reproduction, quick profile (make -f Makefile.bench quick)"
    echo
    [ "$generated" = 1 ] && printf '> **%s**\n\n' "$banner"
    printf -- '- **model**: `%s`: %s\n' "$model" "$(bl_model_info "$model"; bl_model_label "$model" "$weights")"
    printf -- '- **data**: %s (`%s`), first stage `%s`\n' "$data_label" "$data" "$run"
    printf -- '- **machine**: %s; OpenBLAS threads %s\n' "$(bl_machine)" "$THREADS"
    printf -- '- **date**: %s; grating commit %s; profile %s; **wall time %d s** (stages: %s)\n' "$(bl_date)" "$(bl_commit)" \
        "$PROFILE" "$((end - start))" "$(awk -F, 'NR > 1 {printf "%s%s %s s", sep, $1, $2; sep = ", "}' "$OUT/times.csv")"
    printf -- '- **reduced** from the full targets: microbench %s; ablation %s; latency-n %s; %s process(es) per configuration (median latency); sweeps: %s\n' \
        "${micro[*]}" "${abl[*]}" "${latn[*]}" "$REPEAT" "$trace_note"
    echo "- Paper figures appear only in the microbench's and the ablation's comparison tables (\"Ours next to the paper's\"), labelled as the paper's (other models, Apple/NVIDIA devices); every other number was measured here."
    echo
    for t in microbench ablation latency-n sweep-scifact stability; do
        echo "## $t"
        echo
        echo "Full summary with labels and method: [$t/summary.md]($t/summary.md); plots: $(cd "$OUT/$t" && ls ./*.png 2>/dev/null | sed 's|^\./||' | awk -v t="$t" '{printf "%s[%s](%s/%s)", sep, $0, t, $0; sep = ", "}')"
        echo
        tables "$OUT/$t/summary.md"
        echo
    done
} > "$OUT/summary.md"
cat "$OUT/summary.md"
[ "$generated" = 1 ] && bl_say "$banner"
bl_say "quick profile: $((end - start)) s wall; $OUT/summary.md"
