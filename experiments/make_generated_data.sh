#!/usr/bin/env bash
# experiments/make_generated_data.sh - a stand-in for ../shared when it is
# absent: a BERT cross-encoder with GENERATED weights (`grating synth`) and a
# made-up dataset in BEIR layout with a first-stage run, so that every bench
# script runs end to end. Nothing here is trained or real: latency and memory
# are real measurements of the model's shape, rankings are meaningless.
#
#   experiments/make_generated_data.sh --out DIR [--shape demo|tiny] [--queries Q]
#       [--docs D] [--words W] [--grating BIN]
#
#   --shape demo   the shape of ../shared/models/scifact-minibert-demo (BERT,
#                  8 layers, hidden 256, 4 heads, FFN 1024, 512 positions,
#                  vocabulary 30,522; config written here) (default)
#   --shape tiny   tests/data/bert-tiny with 6 layers instead of 2 (hidden 32,
#                  64 positions; enough layers for the experiments/ grids, whose
#                  fixed schedules act at layers 2 and 4)
#
# Writes DIR/generated-bert-SHAPE/ (config.json, generated vocab.txt,
# model.safetensors),
# DIR/data/{corpus.jsonl,queries.jsonl,qrels/test.tsv} and DIR/data/run.trec
# (every query's documents ranked by how many query words they contain), and
# DIR/README.md saying what all this is; prints the model folder.
# Deterministic; an existing model folder with the same config is reused.
set -euo pipefail
BL_PROG=make_generated_data
# shellcheck source=bench_lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/bench_lib.sh"

BL_USAGE="usage: experiments/make_generated_data.sh --out DIR [--shape demo|tiny] [--queries Q] [--docs D] [--words W] [--grating BIN]"
BL_OPTS="out shape queries docs words grating"
OUT="" SHAPE=demo QUERIES=12 DOCS=80 WORDS=110 GRATING=build/grating
bl_parse_args "$@"
[ -n "$OUT" ] || bl_die "--out is required"
bl_check_int queries "$QUERIES" 1
bl_check_int docs "$DOCS" 2
bl_check_int words "$WORDS" 1
[ -x "$GRATING" ] || bl_die "grating binary $GRATING not found (build first)"
mkdir -p "$OUT/data/qrels"

cfg=$OUT/config.json
case $SHAPE in
tiny) sed 's/"num_hidden_layers": *2/"num_hidden_layers": 6/' "$BL_ROOT/tests/data/bert-tiny/config.json" > "$cfg" ;;
demo)
    cat > "$cfg" <<'JSON'
{
  "architectures": ["BertForSequenceClassification"],
  "attention_probs_dropout_prob": 0.1,
  "hidden_act": "gelu",
  "hidden_dropout_prob": 0.1,
  "hidden_size": 256,
  "id2label": {"0": "LABEL_0"},
  "initializer_range": 0.02,
  "intermediate_size": 1024,
  "label2id": {"LABEL_0": 0},
  "layer_norm_eps": 1e-12,
  "max_position_embeddings": 512,
  "model_type": "bert",
  "num_attention_heads": 4,
  "num_hidden_layers": 8,
  "num_labels": 1,
  "pad_token_id": 0,
  "position_embedding_type": "absolute",
  "type_vocab_size": 2,
  "vocab_size": 30522
}
JSON
    ;;
*) bl_die "--shape must be demo or tiny (got '$SHAPE')" ;;
esac
model=$OUT/generated-bert-$SHAPE
if ! { [ -f "$model/model.safetensors" ] && cmp -s "$cfg" "$model/config.json"; }; then
    rm -rf "$model"
    "$GRATING" synth --config "$cfg" --seed 7 --out "$model" 2> "$OUT/synth.log" ||
        { cat "$OUT/synth.log" >&2; bl_die "grating synth failed"; }
fi

# Made-up text: words drawn by a fixed LCG from a small word list; every
# query's words are planted in two documents (its qrels).
awk -v nq="$QUERIES" -v nd="$DOCS" -v nw="$WORDS" -v dir="$OUT/data" 'BEGIN {
    split("cell tissue stem protein gene brain heart blood immune virus cancer tumor drug dose trial " \
          "mouse human risk rate level signal growth receptor enzyme membrane neuron muscle bone liver " \
          "lung kidney skin infection vaccine antibody therapy mutation expression pathway response " \
          "increase decrease effect cause patient study model sample result change loss gain factor", W, " ")
    n = 0; for (i in W) n++
    state = 12345
    for (q = 1; q <= nq; q++) {
        for (j = 1; j <= 3; j++) { state = (state * 1103515245 + 12345) % 2147483648; qw[q, j] = W[1 + int(state / 65536) % n] }
        qtext[q] = "does " qw[q, 1] " affect " qw[q, 2] " " qw[q, 3] "?"
        printf "{\"_id\": \"gq%d\", \"text\": \"%s\", \"metadata\": {}}\n", q, qtext[q] > (dir "/queries.jsonl")
    }
    print "query-id\tcorpus-id\tscore" > (dir "/qrels/test.tsv")
    for (d = 1; d <= nd; d++) {
        text = ""
        for (j = 1; j <= nw; j++) { state = (state * 1103515245 + 12345) % 2147483648; text = text (j > 1 ? " " : "") W[1 + int(state / 65536) % n] }
        # query q owns documents 2q-1 and 2q (when they exist)
        q = int((d + 1) / 2)
        if (q <= nq) { text = qw[q, 1] " " qw[q, 2] " " qw[q, 3] " " text; printf "gq%d\tgd%d\t1\n", q, d >> (dir "/qrels/test.tsv") }
        printf "{\"_id\": \"gd%d\", \"title\": \"generated document %d\", \"text\": \"%s.\"}\n", d, d, text > (dir "/corpus.jsonl")
        doc[d] = " " text " "
    }
    # First stage: query words contained, ties by document number.
    for (q = 1; q <= nq; q++) {
        for (d = 1; d <= nd; d++) {
            s = 0; for (j = 1; j <= 3; j++) if (index(doc[d], " " qw[q, j] " ")) s++
            sc[d] = s; ord[d] = d
        }
        for (i = 2; i <= nd; i++) { v = ord[i]; k = i - 1
            while (k >= 1 && (sc[ord[k]] < sc[v])) { ord[k + 1] = ord[k]; k-- }
            ord[k + 1] = v }
        for (r = 1; r <= nd; r++) printf "gq%d Q0 gd%d %d %d word-overlap\n", q, ord[r], r, nd - r + 1 > (dir "/run.trec")
    }
}'
cat > "$OUT/README.md" <<EOF
# Generated stand-in data (not real)

Written by \`experiments/make_generated_data.sh --shape $SHAPE\` because ../shared
(the trained SciFact demo model and SciFact) was not used.

- \`generated-bert-$SHAPE/\`: a BERT cross-encoder of shape \`$SHAPE\` with **GENERATED weights**
  (\`grating synth --seed 7\`; generated character-level vocabulary). It is not a
  trained reranker: its scores and rankings are meaningless; its latency and
  memory are real measurements of the shape.
- \`data/\`: $QUERIES made-up queries and $DOCS made-up documents ($WORDS
  words each from a fixed word list), qrels = the two documents each query's
  words were planted in, \`run.trec\` = documents ranked by query words contained.
EOF
echo "$model"
