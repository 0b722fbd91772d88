// Tests of the policy helpers: Kendall tau-b / Goodman-Kruskal gamma (the
// O(n log n) counts against the O(n^2) twin, known values) and 1-D K-Means
// (the exact DP against brute force over all contiguous partitions, Lloyd
// seeds, clamping, errors).
#include "testutil.h"

#include "kendall.h"
#include "kmeans1d.h"
#include "base/status.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TOL 1e-12

static void assert_counts_equal(const kendall_counts *a, const kendall_counts *b) {
    assert_int_equal(a->n_pairs, b->n_pairs);
    assert_int_equal(a->x_ties, b->x_ties);
    assert_int_equal(a->y_ties, b->y_ties);
    assert_int_equal(a->joint_ties, b->joint_ties);
    assert_int_equal(a->concordant, b->concordant);
    assert_int_equal(a->discordant, b->discordant);
}

// Both implementations on one input; returns the fast tau after checking
// that the counts agree exactly.
static double tau_both(const double *x, const double *y, size_t n) {
    size_t work[64];
    assert_true(n <= 32);
    kendall_counts fast, ref;
    kendall_count_pairs(x, y, n, work, &fast);
    kendall_count_pairs_ref(x, y, n, &ref);
    assert_counts_equal(&fast, &ref);
    double t = kendall_tau_b(x, y, n), tr = kendall_tau_b_ref(x, y, n);
    if (isnan(t))
        assert_true(isnan(tr));
    else
        assert_true(fabs(t - tr) < TOL);
    return t;
}

static void test_kendall_known_values(void **state) {
    (void)state;
    double a[5] = {1, 2, 3, 4, 5}, rev[5] = {5, 4, 3, 2, 1};
    assert_true(fabs(tau_both(a, a, 5) - 1.0) < TOL);
    assert_true(fabs(tau_both(a, rev, 5) + 1.0) < TOL);
    assert_true(fabs(goodman_kruskal_gamma(a, rev, 5) + 1.0) < TOL);

    // y = 3 1 2 5 4: discordant pairs (0,1) (0,2) (3,4), the other 7 of the 10
    // pairs concordant: tau = gamma = (7 - 3) / 10 = 0.4.
    double y[5] = {3, 1, 2, 5, 4};
    assert_true(fabs(tau_both(a, y, 5) - 0.4) < TOL);
    assert_true(fabs(goodman_kruskal_gamma(a, y, 5) - 0.4) < TOL);
    assert_true(fabs(goodman_kruskal_gamma_ref(a, y, 5) - 0.4) < TOL);

    // x = 1 2 2 3, y = 1 3 2 4: the pair (1,2) is tied in x, the other 5
    // concordant: tau-b = 5 / sqrt((6 - 1) (6 - 0)) = 5 / sqrt(30) (scipy agrees).
    double x2[4] = {1, 2, 2, 3}, y2[4] = {1, 3, 2, 4};
    assert_true(fabs(tau_both(x2, y2, 4) - 5.0 / sqrt(30.0)) < TOL);

    // x = 1 2 2 3, y = 1 3 2 2: (0,1) (0,2) (0,3) concordant, (1,2) tied in x,
    // (1,3) discordant (2 < 3 but 3 > 2), (2,3) tied in y. C = 3, D = 1:
    // tau-b = 2 / sqrt(5 * 5) = 0.4, gamma = 2 / 4 = 0.5.
    double y3[4] = {1, 3, 2, 2};
    size_t work[8];
    kendall_counts c;
    kendall_count_pairs(x2, y3, 4, work, &c);
    assert_int_equal(c.n_pairs, 6);
    assert_int_equal(c.x_ties, 1);
    assert_int_equal(c.y_ties, 1);
    assert_int_equal(c.joint_ties, 0);
    assert_int_equal(c.concordant, 3);
    assert_int_equal(c.discordant, 1);
    assert_true(fabs(tau_both(x2, y3, 4) - 0.4) < TOL);
    assert_true(fabs(goodman_kruskal_gamma(x2, y3, 4) - 0.5) < TOL);
    assert_true(fabs(goodman_kruskal_gamma_ref(x2, y3, 4) - 0.5) < TOL);

    // Joint ties: x = 1 1 2, y = 5 5 6: pair (0,1) tied in both, 2 concordant:
    // tau-b = 2 / sqrt(2 * 2) = 1.
    double x4[3] = {1, 1, 2}, y4[3] = {5, 5, 6};
    kendall_count_pairs(x4, y4, 3, work, &c);
    assert_int_equal(c.joint_ties, 1);
    assert_true(fabs(tau_both(x4, y4, 3) - 1.0) < TOL);

    // Infinities are ordered, and 0.0 ties with -0.0.
    double x5[4] = {-INFINITY, 0.0, 1.0, INFINITY}, y5[4] = {-1.0, -0.0, 0.0, 2.0};
    kendall_count_pairs(x5, y5, 4, work, &c);
    assert_int_equal(c.y_ties, 1);
    assert_true(fabs(tau_both(x5, y5, 4) - 5.0 / sqrt(30.0)) < TOL);
}

static void test_kendall_undefined_is_nan(void **state) {
    (void)state;
    double x[3] = {1, 2, 3}, c[3] = {4, 4, 4};
    assert_true(isnan(kendall_tau_b(x, x, 0)));
    assert_true(isnan(kendall_tau_b(x, x, 1)));
    assert_true(isnan(kendall_tau_b_ref(x, x, 1)));
    assert_true(isnan(tau_both(x, c, 3))); // y constant
    assert_true(isnan(tau_both(c, x, 3))); // x constant
    assert_true(isnan(goodman_kruskal_gamma(x, c, 3)));
    assert_true(isnan(goodman_kruskal_gamma_ref(c, x, 3)));
    assert_true(isnan(goodman_kruskal_gamma(x, x, 1)));
}

// Values from a small range so that ties (single and joint) are frequent;
// sometimes -0.0 and +-Inf.
static void random_values(gsl_rng *r, double *v, size_t n, unsigned range) {
    for (size_t i = 0; i < n; i++) {
        unsigned u = (unsigned)gsl_rng_uniform_int(r, range);
        v[i] = (double)u - (double)range / 2;
        double p = gsl_rng_uniform(r);
        if (p < 0.02)
            v[i] = INFINITY;
        else if (p < 0.04)
            v[i] = -INFINITY;
        else if (p < 0.06 && v[i] == 0.0)
            v[i] = -0.0;
    }
}

static void test_kendall_fast_equals_naive_random(void **state) {
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 12345);
    enum { NMAX = 90 };
    double x[NMAX], y[NMAX];
    size_t work[2 * NMAX];
    static const unsigned ranges[] = {1, 2, 3, 5, 10, 1000000};
    size_t defined = 0, with_ties = 0;
    for (int trial = 0; trial < 4000; trial++) {
        size_t n = (size_t)gsl_rng_uniform_int(r, NMAX + 1);
        random_values(r, x, n, ranges[gsl_rng_uniform_int(r, 6)]);
        random_values(r, y, n, ranges[gsl_rng_uniform_int(r, 6)]);
        kendall_counts fast, ref;
        kendall_count_pairs(x, y, n, work, &fast);
        kendall_count_pairs_ref(x, y, n, &ref);
        assert_counts_equal(&fast, &ref);
        double t = kendall_tau_b_ws(x, y, n, work), tr = kendall_tau_b_ref(x, y, n);
        double g = goodman_kruskal_gamma(x, y, n), gr = goodman_kruskal_gamma_ref(x, y, n);
        assert_int_equal(isnan(t), isnan(tr));
        assert_int_equal(isnan(g), isnan(gr));
        if (!isnan(t)) {
            assert_true(fabs(t - tr) < TOL);
            assert_true(t >= -1.0 && t <= 1.0);
            assert_true(fabs(kendall_tau_b(x, y, n) - t) < TOL);
            // Symmetric in its arguments; negating y negates it.
            assert_true(fabs(kendall_tau_b(y, x, n) - t) < TOL);
            for (size_t i = 0; i < n; i++)
                y[i] = -y[i];
            assert_true(fabs(kendall_tau_b(x, y, n) + t) < TOL);
            defined++;
            with_ties += fast.x_ties > 0 && fast.y_ties > 0;
        }
        if (!isnan(g)) assert_true(fabs(g - gr) < TOL);
    }
    // The generator really produced defined values and ties (else the test is vacuous).
    assert_true(defined > 2000);
    assert_true(with_ties > 500);
    gsl_rng_free(r);
}

static void test_kendall_large_n(void **state) {
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 7);
    size_t n = 3001;
    double *x = malloc(n * sizeof *x), *y = malloc(n * sizeof *y);
    assert_non_null(x);
    assert_non_null(y);
    for (size_t i = 0; i < n; i++) {
        x[i] = (double)gsl_rng_uniform_int(r, 200);
        y[i] = x[i] + (double)gsl_rng_uniform_int(r, 60); // correlated, tied
    }
    double t = kendall_tau_b(x, y, n), tr = kendall_tau_b_ref(x, y, n);
    assert_true(fabs(t - tr) < 1e-12);
    assert_true(t > 0.5 && t < 1.0);
    assert_true(fabs(goodman_kruskal_gamma(x, y, n) - goodman_kruskal_gamma_ref(x, y, n)) < 1e-12);
    free(x);
    free(y);
    gsl_rng_free(r);
}

// ---- 1-D K-Means ----

static double sse_of(const double *v, size_t lo, size_t hi) {
    double m = 0;
    for (size_t i = lo; i < hi; i++)
        m += v[i];
    m /= (double)(hi - lo);
    double s = 0;
    for (size_t i = lo; i < hi; i++)
        s += (v[i] - m) * (v[i] - m);
    return s;
}

// Minimum SSE over every partition of sorted v[lo..n) into `parts` nonempty
// contiguous groups (plain recursion over the first cut).
static double brute_force(const double *v, size_t lo, size_t n, size_t parts) {
    if (parts == 1) return sse_of(v, lo, n);
    double best = INFINITY;
    for (size_t cut = lo + 1; cut + parts - 1 <= n; cut++) {
        double c = sse_of(v, lo, cut) + brute_force(v, cut, n, parts - 1);
        if (c < best) best = c;
    }
    return best;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Structural checks every result must pass: labels in range and all used,
// ordered by value (clusters are intervals, label ascending with value),
// equal values share a label, means are the label means and ascending, and
// sse is their within-cluster sum of squares. Returns the recomputed SSE.
static double check_clustering(const double *x, size_t n, const size_t *labels, const double *means,
                               size_t k_out, double sse) {
    assert_true(k_out >= 1);
    double total = 0;
    for (size_t c = 0; c < k_out; c++) {
        double s = 0;
        size_t cnt = 0;
        for (size_t i = 0; i < n; i++)
            if (labels[i] == c) s += x[i], cnt++;
        assert_true(cnt > 0);
        assert_true(fabs(s / (double)cnt - means[c]) < 1e-9 * (1 + fabs(means[c])));
        if (c > 0) assert_true(means[c - 1] < means[c]);
    }
    for (size_t i = 0; i < n; i++) {
        assert_true(labels[i] < k_out);
        total += (x[i] - means[labels[i]]) * (x[i] - means[labels[i]]);
        for (size_t j = 0; j < n; j++) {
            if (x[i] == x[j]) assert_int_equal(labels[i], labels[j]);
            if (x[i] < x[j]) assert_true(labels[i] <= labels[j]);
        }
    }
    assert_true(fabs(total - sse) < 1e-9 * (1 + total));
    return total;
}

static size_t count_distinct(const double *x, size_t n) {
    double s[16];
    memcpy(s, x, n * sizeof *x);
    qsort(s, n, sizeof *s, cmp_double);
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += i == 0 || s[i] != s[i - 1];
    return m;
}

static void test_kmeans_exact_matches_brute_force(void **state) {
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 2024);
    kmeans1d *km;
    assert_int_equal(kmeans1d_create(12, 5, &km), STATUS_OK);
    kmeans1d_options o = {.method = KMEANS1D_EXACT};
    double x[12], sorted[12], means[5];
    size_t labels[12];
    int with_ties = 0;
    for (int trial = 0; trial < 3000; trial++) {
        size_t n = 1 + (size_t)gsl_rng_uniform_int(r, 11);
        size_t k = 1 + (size_t)gsl_rng_uniform_int(r, 5);
        int tied = trial % 2;
        for (size_t i = 0; i < n; i++)
            x[i] =
                tied ? (double)gsl_rng_uniform_int(r, 6) * 0.25 : gsl_rng_uniform(r) * 10.0 - 5.0;
        size_t m = count_distinct(x, n), k_eff = k < m ? k : m;
        with_ties += m < n;
        size_t k_out;
        double sse;
        assert_int_equal(kmeans1d_run(km, x, n, k, &o, labels, means, &k_out, &sse), STATUS_OK);
        assert_int_equal(k_out, k_eff);
        check_clustering(x, n, labels, means, k_out, sse);
        memcpy(sorted, x, n * sizeof *x);
        qsort(sorted, n, sizeof *sorted, cmp_double);
        double best = brute_force(sorted, 0, n, k_eff);
        assert_true(fabs(sse - best) <= 1e-9 * (1 + best));
    }
    assert_true(with_ties > 1000);
    kmeans1d_free(km);
    gsl_rng_free(r);
}

static void test_kmeans_known_partition(void **state) {
    (void)state;
    kmeans1d *km;
    assert_int_equal(kmeans1d_create(8, 4, &km), STATUS_OK);
    // Three well-separated pairs: any other 3-split puts a gap >= 4.5 inside
    // one cluster (SSE >= 10), this one has SSE 0.02 + 0.02 + 0.125.
    double x[6] = {10, 9.5, 5, 4.8, 0.2, 0};
    size_t labels[6], k_out;
    double means[4], sse;
    static const kmeans1d_method methods[] = {KMEANS1D_EXACT, KMEANS1D_QUANTILE};
    for (size_t m = 0; m < 2; m++) {
        kmeans1d_options o = {.method = methods[m], .iterations = 20};
        assert_int_equal(kmeans1d_run(km, x, 6, 3, &o, labels, means, &k_out, &sse), STATUS_OK);
        assert_int_equal(k_out, 3);
        size_t want[6] = {2, 2, 1, 1, 0, 0};
        for (size_t i = 0; i < 6; i++)
            assert_int_equal(labels[i], want[i]);
        assert_true(fabs(means[0] - 0.1) < 1e-12);
        assert_true(fabs(means[1] - 4.9) < 1e-12);
        assert_true(fabs(means[2] - 9.75) < 1e-12);
        assert_true(fabs(sse - 0.165) < 1e-12);
    }
    kmeans1d_free(km);
}

static void test_kmeans_k_clamped_to_distinct(void **state) {
    (void)state;
    kmeans1d *km;
    assert_int_equal(kmeans1d_create(8, 6, &km), STATUS_OK);
    kmeans1d_options o = {.method = KMEANS1D_EXACT};
    double x[5] = {1, 2, 1, 2, 2}, means[6], sse;
    size_t labels[5], k_out;
    assert_int_equal(kmeans1d_run(km, x, 5, 6, &o, labels, means, &k_out, &sse), STATUS_OK);
    assert_int_equal(k_out, 2);
    assert_int_equal(labels[0], 0);
    assert_int_equal(labels[1], 1);
    assert_true(sse == 0.0);
    double c[4] = {3, 3, 3, 3};
    for (int m = 0; m < 3; m++) {
        o.method = (kmeans1d_method)m;
        o.iterations = 5;
        assert_int_equal(kmeans1d_run(km, c, 4, 3, &o, labels, means, &k_out, &sse), STATUS_OK);
        assert_int_equal(k_out, 1);
        assert_true(means[0] == 3.0);
        for (size_t i = 0; i < 4; i++)
            assert_int_equal(labels[i], 0);
    }
    double one = -7.5;
    assert_int_equal(kmeans1d_run(km, &one, 1, 3, &o, labels, means, &k_out, &sse), STATUS_OK);
    assert_int_equal(k_out, 1);
    assert_true(means[0] == -7.5);
    kmeans1d_free(km);
}

static void test_kmeans_lloyd_methods(void **state) {
    (void)state;
    kmeans1d *km;
    assert_int_equal(kmeans1d_create(12, 5, &km), STATUS_OK);
    double means[5], means2[5], sse, sse2, best;
    size_t labels[12], labels2[12], k_out, k_out2;

    // Quantile seeds on 7 zeros, 10 and 11 with k = 3: positions 1, 4, 7 of
    // the sorted data are 0, 0, 10, two equal centres. The second never wins
    // a point (ties go to the lower centre) and the first never moves (its
    // points are all 0), so it stays empty and is removed: {0 x7}, {10, 11}.
    double d[9] = {0, 0, 10, 0, 0, 11, 0, 0, 0};
    kmeans1d_options q = {.method = KMEANS1D_QUANTILE, .iterations = 20};
    assert_int_equal(kmeans1d_run(km, d, 9, 3, &q, labels, means, &k_out, &sse), STATUS_OK);
    assert_int_equal(k_out, 2);
    check_clustering(d, 9, labels, means, k_out, sse);
    assert_int_equal(labels[2], 1);
    assert_int_equal(labels[5], 1);
    assert_int_equal(labels[0], 0);
    kmeans1d_options e = {.method = KMEANS1D_EXACT};
    assert_int_equal(kmeans1d_run(km, d, 9, 3, &e, labels, means, &k_out, &sse), STATUS_OK);
    assert_int_equal(k_out, 3);

    // Random data: Lloyd results are valid clusterings, never better than the
    // optimum, and k-means++ is deterministic for a seed.
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 99);
    double x[12];
    int differs = 0;
    for (int trial = 0; trial < 500; trial++) {
        size_t n = 1 + (size_t)gsl_rng_uniform_int(r, 12);
        size_t k = 1 + (size_t)gsl_rng_uniform_int(r, 5);
        for (size_t i = 0; i < n; i++)
            x[i] = (double)gsl_rng_uniform_int(r, 20) * 0.5;
        assert_int_equal(kmeans1d_run(km, x, n, k, &e, labels, means, &k_out, &best), STATUS_OK);
        for (int m = 1; m < 3; m++) {
            kmeans1d_options o = {
                .method = (kmeans1d_method)m, .iterations = 20, .seed = (unsigned long)trial};
            assert_int_equal(kmeans1d_run(km, x, n, k, &o, labels, means, &k_out, &sse), STATUS_OK);
            assert_true(k_out <= k);
            check_clustering(x, n, labels, means, k_out, sse);
            assert_true(sse >= best - 1e-9);
            differs |= sse > best + 1e-9;
            assert_int_equal(kmeans1d_run(km, x, n, k, &o, labels2, means2, &k_out2, &sse2),
                             STATUS_OK);
            assert_int_equal(k_out, k_out2);
            assert_memory_equal(labels, labels2, n * sizeof *labels);
        }
    }
    // Lloyd does get stuck in local optima sometimes: the exact method matters.
    assert_true(differs);
    gsl_rng_free(r);
    kmeans1d_free(km);
}

static void test_kmeans_errors(void **state) {
    (void)state;
    kmeans1d *km;
    assert_int_equal(kmeans1d_create(0, 3, &km), STATUS_ERR_ARG);
    assert_null(km);
    assert_int_equal(kmeans1d_create(4, 2, &km), STATUS_OK);
    kmeans1d_options o = {.method = KMEANS1D_EXACT};
    double x[5] = {1, 2, 3, 4, 5}, means[3];
    size_t labels[5], k_out;
    assert_int_equal(kmeans1d_run(km, x, 0, 2, &o, labels, means, &k_out, NULL), STATUS_ERR_ARG);
    assert_int_equal(kmeans1d_run(km, x, 3, 0, &o, labels, means, &k_out, NULL), STATUS_ERR_ARG);
    assert_int_equal(kmeans1d_run(km, x, 5, 2, &o, labels, means, &k_out, NULL), STATUS_ERR_ARG);
    assert_non_null(strstr(status_message(), "exceed the workspace"));
    assert_int_equal(kmeans1d_run(km, x, 3, 3, &o, labels, means, &k_out, NULL), STATUS_ERR_ARG);
    x[1] = NAN;
    assert_int_equal(kmeans1d_run(km, x, 3, 2, &o, labels, means, &k_out, NULL),
                     STATUS_ERR_NUMERIC);
    assert_non_null(strstr(status_message(), "value 1"));
    kmeans1d_method m;
    assert_int_equal(kmeans1d_method_parse("kmeans++", &m), STATUS_OK);
    assert_int_equal(m, KMEANS1D_PLUSPLUS);
    assert_string_equal(kmeans1d_method_name(KMEANS1D_QUANTILE), "quantile");
    assert_int_equal(kmeans1d_method_parse("random", &m), STATUS_ERR_ARG);
    assert_non_null(strstr(status_message(), "'random'"));
    kmeans1d_free(km);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kendall_known_values),
        cmocka_unit_test(test_kendall_undefined_is_nan),
        cmocka_unit_test(test_kendall_fast_equals_naive_random),
        cmocka_unit_test(test_kendall_large_n),
        cmocka_unit_test(test_kmeans_exact_matches_brute_force),
        cmocka_unit_test(test_kmeans_known_partition),
        cmocka_unit_test(test_kmeans_k_clamped_to_distinct),
        cmocka_unit_test(test_kmeans_lloyd_methods),
        cmocka_unit_test(test_kmeans_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
