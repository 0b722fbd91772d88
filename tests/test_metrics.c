// Metric code against hand-computed fixtures (values worked out in the
// comments), including trec_eval's tie rule.
#include "testutil.h"

#include "metrics.h"

#include <math.h>

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

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_precision_vs_full),
        cmocka_unit_test(test_trec_order_ties_by_docid_descending),
        cmocka_unit_test(test_ndcg_mrr_precision),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
