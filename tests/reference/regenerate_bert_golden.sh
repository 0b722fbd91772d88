#!/bin/sh
# Regenerate every BERT golden file in tests/golden/bert/ (see tests/reference/README.md).
#
#   tests/reference/regenerate_bert_golden.sh [--demo-only]
#
# Steps:
#   1. build the C project in <repo>/build-ref (Release, target grating);
#   2. grating synth: generated-weight HF folders for the exact configs of
#      ms-marco-MiniLM-L-6-v2 (seed 1, f32) and ms-marco-TinyBERT-L-2-v2
#      (seed 2, bf16), in a temporary directory;
#   3. gen_bert_inputs.mjs: token ids with the real HF tokenizers
#      (inputs_len192.json, inputs_len256.json, inputs_len512.json);
#   4. bert_reference.py: scores + per-layer scores for the demo model at 192
#      and for both generated folders at 512.
# --demo-only skips steps 1-2 and the generated-weight goldens.
#
# Environment: GRATING_SHARED (default <repo>/../shared), PYTHON (default
# /usr/bin/python3, needs torch + numpy), NODE (default /usr/bin/node),
# KEEP_TMP=1 keeps the generated model folders.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
shared=${GRATING_SHARED:-$repo/../shared}
PY=${PYTHON:-/usr/bin/python3}
NODE=${NODE:-/usr/bin/node}
golden=$repo/tests/golden/bert
demo_only=0
for a in "$@"; do
    case $a in
        --demo-only) demo_only=1 ;;
        *) echo "usage: $0 [--demo-only]" >&2; exit 2 ;;
    esac
done

for f in "$shared/models/scifact-minibert-demo/model.safetensors" \
         "$shared/models/ms-marco-MiniLM-L-6-v2/config.json" \
         "$shared/models/ms-marco-TinyBERT-L-2-v2/config.json" \
         "$shared/data/scifact/bm25/test.bm25.top100.trec"; do
    [ -e "$f" ] || { echo "regenerate_bert_golden: missing $f (set GRATING_SHARED)" >&2; exit 1; }
done
"$PY" -c 'import torch, numpy' || { echo "regenerate_bert_golden: $PY lacks torch/numpy" >&2; exit 1; }

tmp=$(mktemp -d /tmp/grating-golden.XXXXXX)
cleanup() { if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $tmp"; else rm -rf "$tmp"; fi; }
trap cleanup EXIT INT TERM

if [ "$demo_only" = 0 ]; then
    echo "== build (build-ref)"
    cmake -S "$repo" -B "$repo/build-ref" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$repo/build-ref" -j2 --target grating
    grating=$repo/build-ref/grating
    "$grating" synth --help >/dev/null 2>&1 || {
        echo "regenerate_bert_golden: '$grating synth --help' fails: synth not available (use --demo-only)" >&2
        exit 1
    }
    echo "== grating synth"
    "$grating" synth --config "$shared/models/ms-marco-MiniLM-L-6-v2/config.json" \
        --seed 1 --dtype f32 --out "$tmp/minilm-l6-seed1-f32"
    "$grating" synth --config "$shared/models/ms-marco-TinyBERT-L-2-v2/config.json" \
        --seed 2 --dtype bf16 --out "$tmp/tinybert-l2-seed2-bf16"
fi

echo "== tokenize (HF tokenizers via node)"
if [ ! -d "$here/node_modules/tokenizers" ]; then
    if [ -f "$here/package.json" ]; then (cd "$here" && npm install --no-audit --no-fund)
    else (cd "$here" && npm install --no-save tokenizers@0.23.2); fi
fi
"$NODE" "$here/gen_bert_inputs.mjs" --shared "$shared" --out-dir "$golden" 192 256 512

echo "== reference forwards"
"$PY" "$here/bert_reference.py" "$shared/models/scifact-minibert-demo" \
    "$golden/inputs_len192.json" "$golden/scifact-minibert-demo.len192.json" \
    --name "scifact-minibert-demo (../shared/models/scifact-minibert-demo)" \
    --qrels "$shared/data/scifact/qrels/test.tsv"
if [ "$demo_only" = 0 ]; then
    "$PY" "$here/bert_reference.py" "$tmp/minilm-l6-seed1-f32" \
        "$golden/inputs_len512.json" "$golden/minilm-l6-seed1-f32.len512.json" \
        --name "minilm-l6-seed1-f32 (grating synth --config ms-marco-MiniLM-L-6-v2/config.json --seed 1 --dtype f32)"
    "$PY" "$here/bert_reference.py" "$tmp/tinybert-l2-seed2-bf16" \
        "$golden/inputs_len512.json" "$golden/tinybert-l2-seed2-bf16.len512.json" \
        --name "tinybert-l2-seed2-bf16 (grating synth --config ms-marco-TinyBERT-L-2-v2/config.json --seed 2 --dtype bf16)"
fi
# The len-512 ids stay out of the repo (they spell out ../shared's text): only
# the pairs and a digest are committed; test_bert_parity rebuilds the ids.
"$PY" "$here/compact_bert_inputs.py" "$golden/inputs_len512.json" "$tmp/inputs_len512.compact.json"
mv "$tmp/inputs_len512.compact.json" "$golden/inputs_len512.json"
echo "== done"
ls -l "$golden"
