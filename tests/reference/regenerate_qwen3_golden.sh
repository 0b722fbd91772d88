#!/bin/sh
# Regenerate the Qwen3-Reranker golden files in tests/golden/qwen3/ (see
# tests/reference/README.md, section "Qwen3-Reranker").
#
#   tests/reference/regenerate_qwen3_golden.sh [--no-inputs]
#
# Steps:
#   1. build the C project in <repo>/build-ref (Release, target grating);
#   2. gen_qwen3_inputs.mjs: the official prompt ids of 20 SciFact queries x 10
#      BM25 candidates with the real HF tokenizers -> inputs.json
#      (--no-inputs keeps the committed inputs.json, e.g. without ../shared);
#   3. grating synth: generated-weight folders of the reduced configs
#        tests/data/qwen3-tiny         (tied LM head)  seed 5, bf16
#        tests/data/qwen3-tiny-untied  (lm_head.weight) seed 7, f32
#      in a temporary directory (tests/test_qwen3_parity.c synthesises the same
#      folders: synth output depends only on config, seed and dtype);
#   4. qwen3_reference.py: scores + per-layer scores of every candidate run
#      alone, checked against a left-padded batch and a float64 run.
#
# Environment: GRATING_SHARED (default <repo>/../shared), PYTHON (default
# /usr/bin/python3, needs torch + numpy), NODE (default /usr/bin/node),
# KEEP_TMP=1 keeps the generated model folders. Takes about 20 minutes on 2
# cores (the reference runs every candidate alone, in float32 and float64).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
shared=${GRATING_SHARED:-$repo/../shared}
PY=${PYTHON:-/usr/bin/python3}
NODE=${NODE:-/usr/bin/node}
golden=$repo/tests/golden/qwen3
inputs=1
for a in "$@"; do
    case $a in
        --no-inputs) inputs=0 ;;
        *) echo "usage: $0 [--no-inputs]" >&2; exit 2 ;;
    esac
done

if [ "$inputs" = 1 ]; then
    for f in "$shared/models/qwen3-reranker-tokenizer/tokenizer.json" \
             "$shared/data/scifact/bm25/test.bm25.top100.trec"; do
        [ -e "$f" ] || { echo "regenerate_qwen3_golden: missing $f (set GRATING_SHARED or use --no-inputs)" >&2; exit 1; }
    done
fi
"$PY" -c 'import torch, numpy' || { echo "regenerate_qwen3_golden: $PY lacks torch/numpy" >&2; exit 1; }

tmp=$(mktemp -d /tmp/grating-qwen3-golden.XXXXXX)
cleanup() { if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi; }
trap cleanup EXIT INT TERM

echo "== build (build-ref)"
cmake -S "$repo" -B "$repo/build-ref" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$repo/build-ref" -j2 --target grating
grating=$repo/build-ref/grating

if [ "$inputs" = 1 ]; then
    echo "== tokenize (HF tokenizers via node)"
    if [ ! -d "$here/node_modules/tokenizers" ]; then
        (cd "$here" && npm install --no-audit --no-fund)
    fi
    "$NODE" "$here/gen_qwen3_inputs.mjs" --shared "$shared" --out "$golden/inputs.json"
fi

echo "== grating synth"
"$grating" synth --config "$repo/tests/data/qwen3-tiny/config.json" \
    --seed 5 --dtype bf16 --out "$tmp/qwen3-tiny-seed5-bf16"
"$grating" synth --config "$repo/tests/data/qwen3-tiny-untied/config.json" \
    --seed 7 --dtype f32 --out "$tmp/qwen3-tiny-untied-seed7-f32"

echo "== reference forwards"
"$PY" "$here/qwen3_reference.py" "$tmp/qwen3-tiny-seed5-bf16" \
    "$golden/inputs.json" "$golden/qwen3-tiny-seed5-bf16.json" \
    --name "qwen3-tiny-seed5-bf16 (grating synth --config tests/data/qwen3-tiny/config.json --seed 5 --dtype bf16)"
"$PY" "$here/qwen3_reference.py" "$tmp/qwen3-tiny-untied-seed7-f32" \
    "$golden/inputs.json" "$golden/qwen3-tiny-untied-seed7-f32.json" \
    --name "qwen3-tiny-untied-seed7-f32 (grating synth --config tests/data/qwen3-tiny-untied/config.json --seed 7 --dtype f32)"
echo "== done"
ls -l "$golden"
