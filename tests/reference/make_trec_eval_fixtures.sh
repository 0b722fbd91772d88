#!/bin/sh
# Regenerates the trec_eval expectations of tests/data/trec-eval-fixtures/
# (checked by tests/test_metrics.c; trec_eval is not needed to run the tests).
#
#   sh tests/reference/make_trec_eval_fixtures.sh /tmp/trec_eval/trec_eval
#
# trec_eval 10.0 from https://github.com/usnistgov/trec_eval (make in a copy
# of the source outside the repository). Measures: P_1, P_5, P_10,
# ndcg_cut_10, recip_rank per query (-q) and over all evaluated queries, and
# recip_rank with -M10 (= RR@10). trec_eval evaluates only the queries that
# have qrels lines (q3 of run.txt has none: it is left out of "all").
set -eu
TE=${1:?usage: make_trec_eval_fixtures.sh PATH/TO/trec_eval}
D=$(dirname "$0")/../data/trec-eval-fixtures
"$TE" -q -m P.1,5,10 -m ndcg_cut.10 -m recip_rank "$D/qrels.txt" "$D/run.txt" > "$D/expected.txt"
"$TE" -q -M10 -m recip_rank "$D/qrels.txt" "$D/run.txt" > "$D/expected-M10.txt"
echo "wrote $D/expected.txt and $D/expected-M10.txt ($("$TE" --version 2>&1 | head -1))"
