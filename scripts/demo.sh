#!/usr/bin/env bash
# The main job (run by scripts/setup.sh): rerank the BM25 top candidates of a
# few SciFact test claims with the demo cross-encoder, printing the provisional
# score of every layer; relevant documents (qrels) are marked with '*'.
# Without ../shared it generates a small BERT model and scores made-up texts.
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${GRATING_SHARED:-../shared}
bin=build/grating
mkdir -p results/demo

model=$shared/models/scifact-minibert-demo
data=$shared/data/scifact
if [ -f "$model/model.safetensors" ] && [ -f "$data/corpus.jsonl" ]; then
  "$bin" info --model "$model"
  for qid in 1 3 5; do
    ids=$(awk -v q="$qid" '$1 == q && $4 <= 8 {printf "%s%s", sep, $3; sep=","}' \
      "$data/bm25/test.bm25.top100.trec")
    rel=$(awk -v q="$qid" -F'\t' '$1 == q {printf "%s ", $2}' "$data/qrels/test.tsv")
    echo
    echo "== SciFact test claim $qid: BM25 top-8 reranked by the demo model (max length 192)"
    echo "   relevant documents (qrels): $rel"
    "$bin" score --model "$model" --queries "$data/queries.jsonl" --qid "$qid" \
      --docs "$data/corpus.jsonl" --doc-ids "$ids" --max-len 192 --per-layer --mark "$rel"
  done
  ids=$(awk '$1 == 1 && $4 <= 20 {printf "%s%s", sep, $3; sep=","}' "$data/bm25/test.bm25.top100.trec")
  echo
  echo "== claim 1, BM25 top-20: top-5 by progressive cluster pruning inside one forward"
  "$bin" rerank --model "$model" --queries "$data/queries.jsonl" --qid 1 --docs "$data/corpus.jsonl" \
    --doc-ids "$ids" --max-len 192 --top-k 5 --policy cluster-gap --window 2 --chunk 4
else
  echo "note: $shared is absent; generating a small BERT model instead of the SciFact demo" >&2
  tmp=results/demo/generated-bert-tiny
  rm -rf "$tmp"
  "$bin" synth --config tests/data/bert-tiny/config.json --seed 7 --out "$tmp"
  "$bin" info --model "$tmp"
  docs=results/demo/generated-docs.jsonl
  printf '%s\n' \
    '{"id": "a", "title": "cells", "text": "stem cells divide and renew tissue"}' \
    '{"id": "b", "text": "the weather was cold and dry"}' \
    '{"id": "c", "text": "tissue renewal depends on stem cell division"}' > "$docs"
  "$bin" score --model "$tmp" --query "do stem cells renew tissue?" --docs "$docs" --per-layer
fi
