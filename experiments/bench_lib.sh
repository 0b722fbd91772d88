# shellcheck shell=bash
# experiments/bench_lib.sh - helpers shared by the bench scripts of
# Makefile.bench (bench_micro.sh, bench_ablation.sh, bench_latency_n.sh,
# summary_*.sh, bench_quick.sh). Sourced, not run. Needs bash, a POSIX awk and
# the grating binary; plots need gnuplot (plotting/plot.sh).
#
# Every measured configuration is one `grating rerank --json --memory-timeline`
# process, so its peak RSS is its own. bl_run stores the JSON, the timeline
# CSVs and stderr under OUT/runs/ and sets the BL_* variables below.

BL_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

bl_die() { printf '%s: %s\n' "${BL_PROG:-bench}" "$*" >&2; exit 1; }
bl_say() { printf '%s\n' "$*" >&2; }

# "AMD EPYC, 2 cores" (model name of /proc/cpuinfo, online cores).
bl_machine() {
    local m
    m=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null)
    [ -n "$m" ] || m=$(uname -m)
    printf '%s, %s cores' "$m" "$(nproc 2>/dev/null || echo '?')"
}

# Short form for plot titles: "AMD EPYC 2c".
bl_machine_short() {
    local m
    m=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null)
    [ -n "$m" ] || m=$(uname -m)
    m=$(printf '%s' "$m" | sed -e 's/([^)]*)//g' -e 's/ CPU//; s/ Processor//; s/ @.*//; s/  */ /g' | cut -c1-32)
    printf '%s %sc' "$m" "$(nproc 2>/dev/null || echo '?')"
}

bl_date() { date +%F; }

# Short git description of the checkout (or "unknown").
bl_commit() {
    git -C "$BL_ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown
}

# bl_weights_kind MODEL_DIR [KIND]: "trained" or "generated". An explicit KIND
# (trained|generated) wins; otherwise folders whose path says synth/generated
# are generated, the SciFact demo model is trained, anything else is reported
# as "unverified" (the scripts say so in every label).
bl_weights_kind() {
    case ${2:-auto} in
    trained | generated) echo "$2"; return ;;
    auto) ;;
    *) bl_die "--weights must be trained, generated or auto (got '$2')" ;;
    esac
    case $1 in
    *synth* | *generated*) echo generated ;;
    *scifact-minibert-demo*) echo trained ;;
    *) echo unverified ;;
    esac
}

# bl_model_info MODEL_DIR: sets BL_ARCH BL_LAYERS BL_HIDDEN BL_PARAMS BL_MAXPOS
# BL_VOCAB from `grating info --json`.
bl_model_info() {
    local js
    js=$("$GRATING" info --model "$1" --json) || bl_die "grating info --model $1 failed"
    BL_ARCH=$(printf '%s' "$js" | awk -F'"' '/"architecture"/ {print $4; exit}')
    BL_LAYERS=$(printf '%s' "$js" | awk -F'[:,]' '/"layers":/ {gsub(/[ \t]/, "", $2); print $2; exit}')
    BL_HIDDEN=$(printf '%s' "$js" | awk -F'[:,]' '/"hidden_size"/ {gsub(/[ \t]/, "", $2); print $2; exit}')
    BL_PARAMS=$(printf '%s' "$js" | awk -F'[:,]' '/"parameters"/ {gsub(/[ \t]/, "", $2); print $2; exit}')
    BL_MAXPOS=$(printf '%s' "$js" | awk -F'[:,]' '/"max_position_embeddings"/ {gsub(/[ \t]/, "", $2); print $2; exit}')
    BL_VOCAB=$(printf '%s' "$js" | awk -F'[:,]' '/"vocab_size"/ {gsub(/[ \t]/, "", $2); print $2; exit}')
}

# bl_model_label MODEL_DIR KIND: one line naming the model and its weights.
bl_model_label() {
    local name kind=$2 w
    name=$(basename "$1")
    case $kind in
    trained) w="trained weights" ;;
    generated) w="GENERATED weights (random, not trained: costs are real, rankings are not)" ;;
    *) w="weights of unverified origin" ;;
    esac
    if [ "$name" = scifact-minibert-demo ] && [ "$kind" = trained ]; then
        w="trained from scratch on SciFact train, not a production reranker"
    fi
    printf '%s (%s, %s layers, hidden %s%s; %s)' "$name" "$BL_ARCH" "$BL_LAYERS" \
        "$BL_HIDDEN" "${BL_PARAMS:+, $BL_PARAMS parameters}" "$w"
}

# Short form for plot titles.
bl_model_short() {
    local name
    name=$(basename "$1")
    case $2 in
    trained) [ "$name" = scifact-minibert-demo ] && echo "demo model (trained)" || echo "$name (trained)" ;;
    generated) echo "$name (GENERATED weights)" ;;
    *) echo "$name (weights unverified)" ;;
    esac
}

# bl_pick_queries RUN N Q: the first Q query ids of the TREC run (file order)
# that have at least N candidates.
bl_pick_queries() {
    awk -v n="$2" -v q="$3" '
        !($1 in cnt) { order[++m] = $1 }
        { cnt[$1]++ }
        END { got = 0
              for (i = 1; i <= m && got < q; i++) if (cnt[order[i]] >= n) { print order[i]; got++ } }' "$1"
}

# bl_candidates RUN QID N: comma-separated doc ids of the query's first N
# candidates by rank.
bl_candidates() {
    awk -v q="$2" -v n="$3" '$1 == q && $4 + 0 <= n + 0 {printf "%s%s", sep, $3; sep = ","}' "$1"
}

# bl_extract_docs CORPUS OUT IDS...: the corpus lines whose "_id" (or "id")
# is one of the comma-separated IDS lists, written to OUT (a small JSONL, so
# each run loads a few documents instead of the whole corpus).
bl_extract_docs() {
    local corpus=$1 out=$2
    shift 2
    printf '%s\n' "$@" | tr ',' '\n' | awk -v corpus="$corpus" '
        NR == FNR { if ($0 != "") want[$0] = 1; next }
        { if (match($0, /"_?id": *"[^"]*"/)) {
              s = substr($0, RSTART, RLENGTH); sub(/^"_?id": *"/, "", s); sub(/"$/, "", s)
              if (s in want && !(s in seen)) { seen[s] = 1; print } } }' - "$corpus" > "$out"
    [ -s "$out" ] || bl_die "$corpus: none of the candidate documents found"
}

# bl_json_num JSON KEY: the first number after "KEY": in the one-line JSON.
bl_json_num() {
    printf '%s' "$1" | awk -v k="\"$2\":" '{
        i = index($0, k); if (!i) { print "nan"; exit }
        s = substr($0, i + length(k)); match(s, /^-?[0-9.eE+-]+/)
        print (RLENGTH > 0 ? substr(s, 1, RLENGTH) : "nan") }'
}

# bl_json_ranking JSON: every candidate id in the final order, comma-separated.
bl_json_ranking() {
    printf '%s' "$1" | awk '{
        i = index($0, "\"candidates\":["); s = substr($0, i); out = ""
        while (match(s, /"id":"[^"]*"/)) {
            id = substr(s, RSTART + 6, RLENGTH - 7); out = out (out == "" ? "" : ",") id
            s = substr(s, RSTART + RLENGTH) }
        print out }'
}

# bl_json_scores JSON: the candidates' scores (latest, logits), comma-separated.
bl_json_scores() {
    printf '%s' "$1" | awk '{
        i = index($0, "\"candidates\":["); s = substr($0, i); out = ""
        while (match(s, /"score":-?[0-9.eE+-]+/)) {
            v = substr(s, RSTART + 8, RLENGTH - 8); out = out (out == "" ? "" : ",") v
            s = substr(s, RSTART + RLENGTH) }
        print out }'
}

# bl_precision LIST_A LIST_B K: |first K of A ∩ first K of B| / K.
bl_precision() {
    awk -v a="$1" -v b="$2" -v k="$3" 'BEGIN {
        na = split(a, A, ","); nb = split(b, B, ",")
        for (i = 1; i <= k && i <= nb; i++) in_b[B[i]] = 1
        hit = 0; for (i = 1; i <= k && i <= na; i++) if (A[i] in in_b) hit++
        printf "%.6f", hit / k }'
}

# bl_score_kind SCORES: cluster-gap's score for this model: "logit" when the
# coefficient of variation (std/mean) of the full forward's final P(yes) =
# sigmoid(score) is below 0.05, so that the policy's CV trigger on P(yes)
# could never fire (generated checkpoints score everything ~0, P ~ 0.5); else
# "probability" (the policy's default, the paper's). Prints "KIND CV MIN MAX".
bl_score_kind() {
    awk -v s="$1" 'BEGIN { n = split(s, v, ","); lo = 1; hi = 0; sum = 0; sq = 0
        for (i = 1; i <= n; i++) { p = 1 / (1 + exp(-v[i])); sum += p; sq += p * p
                                   if (p < lo) lo = p; if (p > hi) hi = p }
        m = sum / n; var = sq / n - m * m; if (var < 0) var = 0
        cv = m > 0 ? sqrt(var) / m : 0
        printf "%s %.4f %.4f %.4f\n", (cv < 0.05 ? "logit" : "probability"), cv, lo, hi }'
}

# bl_run DIR NAME LABEL RERANK_ARGS...: REPEAT (default 1) `grating rerank`
# processes of one configuration, each with a memory timeline; files
# DIR/runs/NAME-rI.{json,err,csv,-categories.csv}; the run with the median
# latency is copied to DIR/runs/NAME.* and sets the variables below. LABEL is
# the timeline's `system` column (no commas).
#   BL_JSON, BL_LAT_MS (the query: engine wall time, loading and tokenization
#   excluded), BL_LAT_ALL (every repetition's latency, "a/b/c"), BL_LOAD_MS,
#   BL_FRACTION, BL_TOKENS (largest chunk), BL_ALLOC_PEAK / BL_RSS_PEAK (MiB:
#   allocator high-water mark, getrusage peak RSS), BL_ALLOC_MEAN / BL_RSS_MEAN
#   (MiB: mean of the timeline samples taken during the query), BL_RANKING,
#   BL_TIMELINE (FILE.csv), BL_SAMPLES, BL_LOADAVG (1-minute load average of
#   the machine when the median run started: other work slows latencies).
bl_run() {
    local dir=$1 name=$2 label=$3
    shift 3
    mkdir -p "$dir/runs"
    local rep=${REPEAT:-1} i lats="" best
    for ((i = 1; i <= rep; i++)); do
        local base="$dir/runs/$name-r$i"
        rm -f "$base.csv" "$base-categories.csv"
        cut -d' ' -f1 /proc/loadavg > "$base.loadavg" 2>/dev/null || echo nan > "$base.loadavg"
        if ! OPENBLAS_NUM_THREADS=${THREADS:-2} "$GRATING" rerank "$@" --json \
            --memory-timeline "$base.csv" --timeline-ms "${TIMELINE_MS:-5}" --label "$label" \
            > "$base.json" 2> "$base.err"; then
            cat "$base.err" >&2
            bl_die "grating rerank failed for $label (arguments: $*)"
        fi
        lats="$lats $i:$(bl_json_num "$(cat "$base.json")" total_seconds)"
    done
    # The median repetition (the lower middle one for an even count).
    best=$(printf '%s\n' $lats | sort -t: -k2,2g | awk -v n="$rep" 'NR == int((n + 1) / 2) { split($0, a, ":"); print a[1] }')
    BL_LAT_ALL=$(printf '%s\n' $lats | awk -F: '{ printf "%s%.1f", (NR > 1 ? "/" : ""), $2 * 1000 }')
    local ext
    for ext in json err csv -categories.csv loadavg; do
        case $ext in -*) cp "$dir/runs/$name-r$best$ext" "$dir/runs/$name$ext" ;;
                     *) cp "$dir/runs/$name-r$best.$ext" "$dir/runs/$name.$ext" ;; esac
    done
    bl_parse_run "$dir/runs/$name"
}

# bl_parse_run BASE: the BL_* variables of bl_run from BASE.json,
# BASE-categories.csv and BASE.loadavg.
bl_parse_run() {
    local base=$1
    BL_JSON=$(cat "$base.json")
    BL_TIMELINE="$base.csv"
    BL_LOADAVG=$(cat "$base.loadavg" 2>/dev/null || echo nan)
    local total load
    total=$(bl_json_num "$BL_JSON" total_seconds)
    load=$(bl_json_num "$BL_JSON" load_seconds)
    BL_LAT_MS=$(awk -v t="$total" 'BEGIN {printf "%.3f", t * 1000}')
    BL_LOAD_MS=$(awk -v t="$load" 'BEGIN {printf "%.3f", t * 1000}')
    BL_FRACTION=$(bl_json_num "$BL_JSON" fraction_computed)
    BL_TOKENS=$(bl_json_num "$BL_JSON" peak_chunk_tokens)
    BL_ALLOC_PEAK=$(awk -v b="$(bl_json_num "$BL_JSON" allocator_total)" 'BEGIN {printf "%.2f", b / 1048576}')
    BL_RSS_PEAK=$(awk -v b="$(bl_json_num "$BL_JSON" rss)" 'BEGIN {printf "%.2f", b / 1048576}')
    BL_RANKING=$(bl_json_ranking "$BL_JSON")
    # Means over the query: samples in the last total_seconds of the timeline
    # (the sampler stops right after the query); the last sample if none.
    read -r BL_ALLOC_MEAN BL_RSS_MEAN BL_SAMPLES < <(awk -F, -v q="$BL_LAT_MS" '
        NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
        { n++; t[n] = $c["t_ms"]; a[n] = $c["total"]; r[n] = $c["rss"] }
        END { if (!n) { print "nan nan 0"; exit }
              from = t[n] - q; s = 0; sr = 0; m = 0
              for (i = 1; i <= n; i++) if (t[i] >= from) { s += a[i]; sr += r[i]; m++ }
              if (!m) { s = a[n]; sr = r[n]; m = 1 }
              printf "%.2f %.2f %d\n", s / m / 1048576, sr / m / 1048576, m }' "$base-categories.csv")
}

# bl_loadavg_range CSV: "min-max" of the loadavg column.
bl_loadavg_range() {
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
             $c["loadavg"] != "nan" { v = $c["loadavg"] + 0; if (n++ == 0 || v < lo) lo = v; if (n == 1 || v > hi) hi = v }
             END { if (n) printf "%.2f-%.2f", lo, hi; else printf "unknown" }' "$1"
}

# bl_rss_timeline IN_CATEGORIES.csv: system,t_ms,bytes rows of the RSS column.
bl_rss_timeline() {
    awk -F, 'NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i; next }
             { print $c["system"] "," $c["t_ms"] "," $c["rss"] }' "$1"
}

# bl_md_table CSV: the CSV (no quoted fields) as a markdown table.
bl_md_table() {
    awk -F, 'NR == 1 { printf "|"; for (i = 1; i <= NF; i++) printf " %s |", $i; printf "\n|"
                       for (i = 1; i <= NF; i++) printf "---|"; printf "\n"; next }
             { printf "|"; for (i = 1; i <= NF; i++) printf " %s |", $i; printf "\n" }' "$1"
}

# bl_plot KIND CSV OUT_PREFIX NOTE [options]: plotting/plot.sh, or a note when
# gnuplot is absent (the CSVs are still written).
bl_plot() {
    local kind=$1 csv=$2 out=$3 note=$4
    shift 4
    if ! command -v gnuplot > /dev/null 2>&1; then
        bl_say "note: gnuplot not found (Debian gnuplot-nox): $out.png/.svg not drawn"
        return 0
    fi
    "$BL_ROOT/plotting/plot.sh" "$kind" "$csv" "$out" --title-note "$note" "$@" > /dev/null ||
        bl_die "plotting/plot.sh $kind $csv failed"
}

# bl_need_file PATH WHAT
bl_need_file() { [ -f "$1" ] || bl_die "$2: $1 not found"; }

# bl_mean FILE COLUMN [KEY=VALUE...]: mean of COLUMN over the rows of the CSV
# (no quoted fields) where every column KEY equals VALUE (split at the first
# '='; values may hold spaces and '='); "nan" when no row matches.
bl_mean() {
    local file=$1 col=$2 filt=""
    shift 2
    local f sep=$'\034'
    for f in "$@"; do filt="$filt${filt:+$sep}$f"; done
    awk -F, -v col="$col" -v filt="$filt" '
        NR == 1 { for (i = 1; i <= NF; i++) c[$i] = i
                  if (!(col in c)) { print "bl_mean: no column " col > "/dev/stderr"; exit 1 }
                  nf = filt == "" ? 0 : split(filt, f, "\034")
                  for (j = 1; j <= nf; j++) { e = index(f[j], "="); fk[j] = substr(f[j], 1, e - 1); fv[j] = substr(f[j], e + 1) }
                  next }
        { for (j = 1; j <= nf; j++) if ($c[fk[j]] != fv[j]) next
          if ($c[col] == "" || tolower($c[col]) == "nan") next
          s += $c[col]; n++ }
        END { if (n) printf "%.6g", s / n; else printf "nan" }' "$file"
}

# bl_parse_args "$@": --NAME VALUE pairs into the variables NAME (upper case,
# '-' -> '_'), for the names listed in BL_OPTS (space-separated); --help
# prints BL_USAGE. Unknown options are an error.
bl_parse_args() {
    while [ $# -gt 0 ]; do
        case $1 in
        -h | --help) printf '%s\n' "$BL_USAGE"; exit 0 ;;
        --*)
            local name=${1#--}
            case " $BL_OPTS " in *" $name "*) ;; *) printf '%s\n' "$BL_USAGE" >&2; bl_die "unknown option $1" ;; esac
            [ $# -ge 2 ] || bl_die "option $1 needs a value"
            local var
            var=$(printf '%s' "$name" | tr 'a-z-' 'A-Z_')
            printf -v "$var" '%s' "$2"
            shift 2 ;;
        *) printf '%s\n' "$BL_USAGE" >&2; bl_die "unexpected argument '$1'" ;;
        esac
    done
}

# bl_check_int NAME VALUE MIN
bl_check_int() {
    [[ $2 =~ ^[0-9]+$ ]] && [ "$2" -ge "$3" ] || bl_die "--$1 must be an integer >= $3 (got '$2')"
}

# bl_check_list NAME VALUE: comma-separated positive integers
bl_check_list() {
    [[ $2 =~ ^[0-9]+(,[0-9]+)*$ ]] || bl_die "--$1 must be comma-separated integers (got '$2')"
}

# bl_setup_common: checks GRATING MODEL DATA RUN, reads the model's info,
# sets WEIGHTS_KIND, MODEL_LABEL, MODEL_SHORT, MACHINE, DATE, COMMIT.
bl_setup_common() {
    [ -x "$GRATING" ] || bl_die "grating binary $GRATING not found (build first: cmake --build build)"
    [ -f "$MODEL/config.json" ] || bl_die "model: $MODEL/config.json not found"
    bl_need_file "$DATA/queries.jsonl" "data"
    bl_need_file "$DATA/corpus.jsonl" "data"
    bl_need_file "$RUN" "run"
    bl_model_info "$MODEL"
    WEIGHTS_KIND=$(bl_weights_kind "$MODEL" "${WEIGHTS:-auto}")
    MODEL_LABEL=$(bl_model_label "$MODEL" "$WEIGHTS_KIND")
    MODEL_SHORT=$(bl_model_short "$MODEL" "$WEIGHTS_KIND")
    MACHINE=$(bl_machine)
    DATE=$(bl_date)
    COMMIT=$(bl_commit)
}

# bl_header TITLE: the labelling block every summary.md starts with (model,
# machine, date, commit); the script appends its own workload lines.
bl_header() {
    printf '# %s\n\n' "$1"
    printf -- '- **model**: `%s`: %s\n' "$MODEL" "$MODEL_LABEL"
    if [ "$WEIGHTS_KIND" = generated ]; then
        printf -- '- **GENERATED WEIGHTS**: this checkpoint was written by `grating synth` (random weights of a real shape). Latency and memory are real measurements of this shape; rankings, precision and nDCG say nothing about a trained reranker.\n'
    fi
    if [ "${THREADS:-2}" = - ]; then
        printf -- '- **machine** (of this summary; timings inside a trace were measured when it was made): %s\n' "$MACHINE"
    else
        printf -- '- **machine**: %s; OpenBLAS threads %s\n' "$MACHINE" "${THREADS:-2}"
    fi
    printf -- '- **date**: %s; grating commit %s\n' "$DATE" "$COMMIT"
}

# bl_trace_attr FILE.h5 NAME: a root attribute of a grating trace (h5dump).
bl_trace_attr() {
    h5dump -a "/$2" "$1" 2>/dev/null | awk '/\(0\):/ { sub(/^[^:]*: */, ""); gsub(/^"|"$/, ""); print; exit }'
}

# bl_setup_trace FILE.h5: the labels of a trace's model and workload: sets
# MODEL, BL_ARCH, BL_LAYERS, BL_HIDDEN, TRACE_N (top_n), TRACE_MAXLEN,
# TRACE_QUERIES, TRACE_CREATED, TRACE_DATASET, then WEIGHTS_KIND, MODEL_LABEL,
# MODEL_SHORT, MACHINE, DATE, COMMIT. Needs h5dump (Debian hdf5-tools).
bl_setup_trace() {
    bl_need_file "$1" "trace"
    command -v h5dump > /dev/null 2>&1 || bl_die "h5dump not found (Debian hdf5-tools): needed to read the trace's labels"
    MODEL=$(bl_trace_attr "$1" model)
    BL_ARCH=$(bl_trace_attr "$1" architecture)
    BL_LAYERS=$(bl_trace_attr "$1" n_layers)
    BL_HIDDEN=$(bl_trace_attr "$1" hidden_size)
    BL_PARAMS=""
    TRACE_N=$(bl_trace_attr "$1" top_n)
    TRACE_MAXLEN=$(bl_trace_attr "$1" max_len)
    TRACE_QUERIES=$(bl_trace_attr "$1" n_queries)
    TRACE_CREATED=$(bl_trace_attr "$1" created)
    TRACE_DATASET=$(bl_trace_attr "$1" dataset)
    WEIGHTS_KIND=$(bl_weights_kind "$MODEL" "${WEIGHTS:-auto}")
    MODEL_LABEL=$(bl_model_label "$MODEL" "$WEIGHTS_KIND")
    MODEL_SHORT=$(bl_model_short "$MODEL" "$WEIGHTS_KIND")
    MACHINE=$(bl_machine)
    DATE=$(bl_date)
    COMMIT=$(bl_commit)
}

# bl_runs_note RUNS_CSV: the summary line on repetitions and machine load.
bl_runs_note() {
    printf -- '- **runs**: %s per configuration and query%s; the 1-minute load average of the machine when the runs started was %s (%s cores; the benchmark itself accounts for up to about %s, its OpenBLAS threads: more means other work shared the cores and inflated some latencies; every run'"'"'s latency and load are in runs.csv)\n' \
        "$([ "${REPEAT:-1}" -gt 1 ] && echo "${REPEAT} processes" || echo "1 process")" \
        "$([ "${REPEAT:-1}" -gt 1 ] && echo ", the median latency counted")" "$(bl_loadavg_range "$1")" \
        "$(nproc 2>/dev/null || echo '?')" "${THREADS:-2}"
}
