// Metric code against hand-computed fixtures (values worked out in the
// comments), including trec_eval's tie rule.
#include "testutil.h"

#include "analysis/metrics.h"
#include "trec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void test_precision_vs_full(void **state) {
    (void)state;
    size_t full[3] = {4, 1, 7};
    size_t top[3] = {7, 2, 4}; // 7 and 4 are in the full top-3: 2/3
    assert_true(fabs(metric_precision_vs_full(top, 3, full, 3) - 2.0 / 3.0) < 1e-12);
    size_t same[3] = {1, 7, 4}; // order does not matter: 1
    assert_true(metric_precision_vs_full(same, 3, full, 3) == 1.0);
    // Fewer full top-K members than K: divide by their number (paper rule).
    assert_true(metric_precision_vs_full(top, 3, full, 2) == 0.5); // only 4 of {4, 1}
}

static void test_trec_order_ties_by_docid_descending(void **state) {
    (void)state;
    const char *ids[5] = {"d1", "d3", "d2", "d10", "d0"};
    float scores[5] = {1.0f, 2.0f, 2.0f, 2.0f, 0.5f};
    size_t order[5];
    metric_trec_order(ids, scores, 5, order);
    // Score 2.0 ties among d3, d2, d10: docid descending by strcmp: "d3" > "d2" > "d10".
    assert_int_equal(order[0], 1); // d3
    assert_int_equal(order[1], 2); // d2
    assert_int_equal(order[2], 3); // d10
    assert_int_equal(order[3], 0); // d1 (1.0)
    assert_int_equal(order[4], 4); // d0 (0.5)
}

static void test_ndcg_mrr_precision(void **state) {
    (void)state;
    // Ranked relevances: [0, 2, 0, 1]; judged relevant: {2, 1, 1} (one relevant
    // document not retrieved).
    int ranked[4] = {0, 2, 0, 1};
    int judged[4] = {1, 0, 2, 1}; // a 0 judgement is ignored
    // DCG@10 = 2/log2(3) + 1/log2(5) = 1.2618595 + 0.4306766 = 1.6925361
    // IDCG@10 = 2/log2(2) + 1/log2(3) + 1/log2(4) = 2 + 0.6309298 + 0.5 = 3.1309298
    double expect = (2.0 / log2(3.0) + 1.0 / log2(5.0)) / (2.0 + 1.0 / log2(3.0) + 0.5);
    assert_true(fabs(metric_ndcg_at(ranked, 4, judged, 4, 10) - expect) < 1e-12);
    assert_true(fabs(expect - 0.5405858) < 1e-6); // 1.6925361 / 3.1309298
    // @2: DCG = 2/log2(3) = 1.2618595, IDCG = 2 + 1/log2(3) = 2.6309298 -> 0.479625
    assert_true(fabs(metric_ndcg_at(ranked, 4, judged, 4, 2) - 0.4796249) < 1e-6);
    assert_true(metric_rr_at(ranked, 4, 10) == 0.5);
    assert_true(metric_rr_at(ranked, 4, 1) == 0.0);
    assert_true(metric_precision_at(ranked, 4, 4) == 0.5);
    assert_true(metric_precision_at(ranked, 4, 10) ==
                0.2); // divides by the cutoff, as trec_eval P_10
    int none[3] = {0, 0, 0};
    assert_true(metric_ndcg_at(none, 3, none, 3, 10) == 0.0); // no relevant document: 0
}

// ---- against trec_eval 10.0 (tests/data/trec-eval-fixtures/README.md) ----

typedef struct {
    char qid[32], doc[32];
    int rel;
} fixture_qrel;

typedef struct {
    char measure[32], qid[32];
    double value;
    int used;
} fixture_expect;

static size_t fixture_read_qrels(const char *path, fixture_qrel *q, size_t cap) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = 0;
    char it[8];
    while (n < cap && fscanf(f, "%31s %7s %31s %d", q[n].qid, it, q[n].doc, &q[n].rel) == 4)
        n++;
    fclose(f);
    return n;
}

static size_t fixture_read_expect(const char *path, fixture_expect *e, size_t cap,
                                  const char *suffix) {
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = 0;
    while (n < cap && fscanf(f, "%31s %31s %lf", e[n].measure, e[n].qid, &e[n].value) == 3) {
        strncat(e[n].measure, suffix, sizeof e[n].measure - strlen(e[n].measure) - 1);
        e[n].used = 0;
        n++;
    }
    fclose(f);
    return n;
}

static void fixture_check(fixture_expect *e, size_t ne, const char *measure, const char *qid,
                          double v) {
    for (size_t i = 0; i < ne; i++)
        if (strcmp(e[i].measure, measure) == 0 && strcmp(e[i].qid, qid) == 0) {
            // trec_eval prints 4 decimals: agree after rounding.
            if (fabs(v - e[i].value) > 0.00005 + 1e-9)
                fail_msg("%s %s: grating %.6f, trec_eval %.4f", measure, qid, v, e[i].value);
            e[i].used = 1;
            return;
        }
    fail_msg("%s %s: no trec_eval value (trec_eval does not evaluate this query)", measure, qid);
}

static void test_against_trec_eval_fixtures(void **state) {
    (void)state;
    fixture_qrel qrels[64];
    fixture_expect ex[128];
    size_t nq = fixture_read_qrels(testutil_source_path("tests/data/trec-eval-fixtures/qrels.txt"),
                                   qrels, 64);
    size_t ne = fixture_read_expect(
        testutil_source_path("tests/data/trec-eval-fixtures/expected.txt"), ex, 128, "");
    ne +=
        fixture_read_expect(testutil_source_path("tests/data/trec-eval-fixtures/expected-M10.txt"),
                            ex + ne, 128 - ne, "@M10");
    assert_int_equal(nq, 15);
    assert_int_equal(ne, 7 * 5 + 7); // 6 evaluated queries + "all", 5 measures; and -M10 recip_rank
    trec_run run;
    if (trec_run_read(&run, testutil_source_path("tests/data/trec-eval-fixtures/run.txt")) !=
        STATUS_OK)
        fail_msg("%s", status_message());
    static const char *const names[6] = {"P_1",         "P_5",        "P_10",
                                         "ndcg_cut_10", "recip_rank", "recip_rank@M10"};
    double sum[6] = {0}, sum_all[6] = {0};
    size_t evaluated = 0, skipped = 0;
    for (size_t qi = 0; qi < run.n_queries; qi++) {
        const trec_query *q = &run.queries[qi];
        size_t n = q->n;
        const char **ids = malloc(n * sizeof *ids);
        float *scores = malloc(n * sizeof *scores);
        size_t *order = malloc(n * sizeof *order);
        int *rel = calloc(n, sizeof *rel), judged[64];
        size_t nj = 0;
        for (size_t i = 0; i < n; i++) {
            ids[i] = q->cands[i].doc_id;
            scores[i] = (float)q->cands[i].score; // the fixture's scores are exact in float
        }
        metric_trec_order(ids, scores, n, order);
        for (size_t j = 0; j < nq; j++) {
            if (strcmp(qrels[j].qid, q->qid) != 0) continue;
            judged[nj++] = qrels[j].rel;
            for (size_t r = 0; r < n; r++)
                if (strcmp(ids[order[r]], qrels[j].doc) == 0) rel[r] = qrels[j].rel;
        }
        double v[6] = {metric_precision_at(rel, n, 1),     metric_precision_at(rel, n, 5),
                       metric_precision_at(rel, n, 10),    metric_ndcg_at(rel, n, judged, nj, 10),
                       metric_rr_at(rel, n, METRIC_UNCUT), metric_rr_at(rel, n, 10)};
        for (int m = 0; m < 6; m++)
            sum_all[m] += nj ? v[m] : 0.0;
        if (nj == 0) { // trec_eval: no qrels line, not evaluated
            skipped++;
        } else {
            evaluated++;
            for (int m = 0; m < 6; m++) {
                fixture_check(ex, ne, names[m], q->qid, v[m]);
                sum[m] += v[m];
            }
        }
        free(ids), free(scores), free(order), free(rel);
    }
    assert_int_equal(evaluated, 6);
    assert_int_equal(skipped, 1);
    for (int m = 0; m < 6; m++)
        fixture_check(ex, ne, names[m], "all", sum[m] / (double)evaluated);
    for (size_t i = 0; i < ne; i++)
        if (!ex[i].used) fail_msg("trec_eval value %s %s not checked", ex[i].measure, ex[i].qid);
    // The other convention (unjudged = 0) averages over all 7 queries: lower.
    assert_true(sum_all[3] / 7.0 < sum[3] / 6.0);
    trec_run_free(&run);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precision_vs_full),
        cmocka_unit_test(test_trec_order_ties_by_docid_descending),
        cmocka_unit_test(test_ndcg_mrr_precision),
        cmocka_unit_test(test_against_trec_eval_fixtures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
