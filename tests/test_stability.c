// Stability analysis (core/analysis/stability.c) on a hand-made trace whose values
// are worked out in the comments.
#include "testutil.h"

#include "analysis/stability.h"

#include <math.h>
#include <string.h>

static void test_stability_hand_computed(void **state) {
    (void)state;
    // One query, 4 candidates, 2 layers. Final (layer 2) scores: 4, 3, 2, 1.
    // Layer 1: 1, 2, 10, 11: every pair is reversed -> tau = gamma = -1.
    //   Exact 2-means of {1, 2, 10, 11} with k = 2: {1, 2} and {10, 11}; the
    //   pairs across clusters (4 of them) are all discordant -> cluster gamma -1.
    // Layer 0: 5, 5, 5, 5: all tied -> tau and gamma undefined (NaN),
    //   no pair across clusters -> cluster gamma undefined.
    float scores[3 * 4] = {5, 5, 5, 5, 1, 2, 10, 11, 4, 3, 2, 1};
    int32_t tokens[4] = {3, 3, 3, 3};
    float fs[4] = {0};
    double ls[2] = {0};
    char *ids[4] = {"a", "b", "c", "d"};
    trace_query q = {.qid = "q", .n = 4, .doc_ids = ids, .scores = scores, .tokens = tokens,
                     .first_stage = fs, .layer_seconds = ls};
    trace t = {.meta = {.n_layers = 2}, .queries = &q, .n_queries = 1};
    stability_table s;
    assert_int_equal(stability_compute(&t, 2, &s), STATUS_OK);
    assert_int_equal(s.n_rows, 3);
    assert_true(isnan(s.rows[0].kendall_tau));
    assert_true(isnan(s.rows[0].cluster_gamma));
    assert_true(isnan(s.rows[0].overlap[0])); // all tied: the top-1 is arbitrary
    assert_true(s.rows[1].kendall_tau == -1.0);
    assert_true(s.rows[1].gk_gamma == -1.0);
    assert_true(s.rows[1].cluster_gamma == -1.0);
    // Top-1 at layer 1 is d (index 3), final top-1 is a: overlap 0.
    assert_true(s.rows[1].overlap[0] == 0.0);
    assert_true(isnan(s.rows[1].overlap[1])); // K = 5 > N = 4: undefined
    assert_true(s.rows[2].kendall_tau == 1.0);
    assert_true(s.rows[2].overlap[0] == 1.0);
    stability_free(&s);

    // Layer 1 = 4, 3, 1, 2: one discordant pair (c, d) of 6 -> tau = (5 - 1) / 6.
    // 2-means of {1, 2, 3, 4}: {1, 2} | {3, 4}; the discordant pair is inside a
    // cluster, so cluster gamma = 1.
    float scores2[3 * 4] = {5, 5, 5, 5, 4, 3, 1, 2, 4, 3, 2, 1};
    q.scores = scores2;
    assert_int_equal(stability_compute(&t, 2, &s), STATUS_OK);
    assert_true(fabs(s.rows[1].kendall_tau - 4.0 / 6.0) < 1e-12);
    assert_true(s.rows[1].cluster_gamma == 1.0);
    assert_true(s.rows[1].overlap[0] == 1.0);
    stability_free(&s);
    assert_int_equal(stability_compute(&t, 0, &s), STATUS_ERR_ARG);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stability_hand_computed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
