#!/usr/bin/env bash
# Runs the libFuzzer harnesses of tests/fuzz (README.md): each one first
# replays its seed corpus (tests/fuzz/corpus/<harness>/) and its saved crash
# inputs (tests/fuzz/crashes/<harness>-*: regressions, must no longer crash),
# then fuzzes for SECONDS. Exit status 1 when any harness crashed, hung or
# leaked, except libhdf5's own crashes in fuzz_trace_h5 (see below).
#
#   tests/fuzz/run.sh [--build DIR] [--seconds N] [--out DIR] [HARNESS...]
#
#   --build DIR    the GRATING_FUZZ=ON build (default build-fuzz)
#   --seconds N    fuzzing time per harness after the replay (default 20)
#   --out DIR      logs, grown corpora and crash files (default results/fuzz);
#                  a crash is saved as DIR/<harness>/crash-<sha1> etc.
#   HARNESS        only these (e.g. fuzz_bpe); default every built harness
#
# fuzz_trace_h5 feeds raw bytes to libhdf5 1.10.8, which crashes, hangs and
# leaks on some corrupt files (../shared/repros/trace-hdf5-*). A report whose
# first stack frame outside the sanitizer runtime is in libhdf5 (H5* in
# libhdf5*.so) is logged as "known libhdf5" and fuzzing resumes; any other
# report fails. grating's own validation of traces is fuzzed by fuzz_trace on
# well-formed HDF5, where no such exception applies.
set -uo pipefail
cd "$(dirname "$0")/../.."
BUILD=build-fuzz
SECONDS_EACH=20
OUT=results/fuzz
ONLY=()
while [ $# -gt 0 ]; do
    case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --seconds) SECONDS_EACH=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    -h | --help) sed -n 2,21p "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) ONLY+=("$1"); shift ;;
    esac
done
BIN=$BUILD/tests/fuzz
if [ ! -d "$BIN" ]; then
    echo "run.sh: $BIN does not exist: build with CC=clang cmake -S . -B $BUILD -DGRATING_FUZZ=ON && cmake --build $BUILD --target fuzzers" >&2
    exit 2
fi
mkdir -p "$OUT" || exit 2
HARNESSES=()
if [ ${#ONLY[@]} -gt 0 ]; then
    HARNESSES=("${ONLY[@]}")
else
    for src in tests/fuzz/fuzz_*.c; do
        h=$(basename "$src" .c)
        [ "$h" = fuzz_util ] || HARNESSES+=("$h")
    done
fi
# Leaks are checked per input; libhdf5's own allocations at exit are not ours.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
FLAGS=(-timeout=25 -rss_limit_mb=2560 -malloc_limit_mb=2048 -max_len=65536 -print_final_stats=1
    -dict=tests/fuzz/json.dict)

# Prints "libhdf5" when the first frame of the first report in log $1 that is
# in libhdf5 or in a source file of ours (compiled with -g: "file.c:LINE")
# is in libhdf5, else "grating". Frames of the sanitizer and libFuzzer
# runtimes, libc (signal trampolines, string functions) and other libraries
# without line numbers are skipped, so the caller decides.
classify() {
    awk '
        /ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)/ { inreport = 1 }
        /runtime error:/ { inreport = 1 }
        inreport && /^ *#[0-9]+ 0x/ {
            if ($0 ~ /libhdf5/ || $0 ~ / in H5[A-Za-z_]/) { print "libhdf5"; found = 1; exit }
            if ($0 ~ /\.[ch]:[0-9]+/) { print "grating"; found = 1; exit }
        }
        END { if (!found) print "grating" }' "$1"
}

failed=()
known=()
for h in "${HARNESSES[@]}"; do
    exe=$BIN/$h
    if [ ! -x "$exe" ]; then
        echo "run.sh: $exe is not built" >&2
        failed+=("$h(not built)")
        continue
    fi
    seeds=tests/fuzz/corpus/$h
    work=$OUT/$h/corpus
    art=$OUT/$h
    mkdir -p "$work" "$seeds"
    log=$OUT/$h.log
    : >"$log"
    echo "== $h: replay of $seeds and tests/fuzz/crashes/$h-*, then ${SECONDS_EACH}s of fuzzing"
    start=$(date +%s)
    # 1. Replay: seeds and saved crash inputs (regressions).
    regress=()
    for f in tests/fuzz/crashes/"$h"-*; do [ -f "$f" ] && regress+=("$f"); done
    if ! "$exe" "${FLAGS[@]}" -runs=1 "$seeds"/* ${regress[@]+"${regress[@]}"} >>"$log" 2>&1; then
        kind=$(classify "$log")
        if [ "$h" = fuzz_trace_h5 ] && [ "$kind" = libhdf5 ]; then
            known+=("$h(replay)")
            echo "   known libhdf5 report on replay (log: $log)"
        else
            failed+=("$h(replay)")
            echo "   FAILED on replay: $(grep -m1 -E 'ERROR|runtime error|Running:' "$log" | tail -1)"
            grep -E '^Running:|SUMMARY' "$log" | tail -2 | sed 's/^/   /'
        fi
    fi
    # 2. Fuzzing, restarted after a known libhdf5 report until the time is spent.
    while :; do
        now=$(date +%s)
        left=$((SECONDS_EACH - (now - start)))
        [ "$left" -ge 2 ] || break
        round=$OUT/$h.round.log
        "$exe" "${FLAGS[@]}" -max_total_time="$left" -artifact_prefix="$art/" "$work" "$seeds" >"$round" 2>&1
        rc=$?
        cat "$round" >>"$log"
        [ $rc -eq 0 ] && break
        kind=$(classify "$round")
        crash=$(grep -m1 -oE "Test unit written to [^ ]+" "$round" | sed 's/Test unit written to //')
        if [ "$h" = fuzz_trace_h5 ] && [ "$kind" = libhdf5 ]; then
            known+=("$h:${crash:-?}")
            echo "   known libhdf5 report: ${crash:-?} ($(grep -m1 -oE 'ERROR: [A-Za-z]+: [a-z-]+|SEGV|timeout' "$round" | head -1))"
            continue
        fi
        failed+=("$h:${crash:-rc $rc}")
        echo "   CRASH: ${crash:-rc $rc}"
        grep -m1 -E 'ERROR: |runtime error:' "$round" | sed 's/^/   /'
        grep -m1 -E '^SUMMARY' "$round" | sed 's/^/   /'
        break
    done
    rm -f "$OUT/$h.round.log"
    grep -E '^stat::number_of_executed_units|^#[0-9]+.*DONE' "$log" | tail -1 | sed 's/^/   /'
done
echo
echo "fuzz: ${#HARNESSES[@]} harnesses, ${#failed[@]} failed, ${#known[@]} known libhdf5 reports (logs in $OUT)"
for f in ${failed[@]+"${failed[@]}"}; do echo "  FAILED $f"; done
for k in ${known[@]+"${known[@]}"}; do echo "  known libhdf5: $k"; done
[ ${#failed[@]} -eq 0 ]
