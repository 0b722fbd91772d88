// The optimised kernels of core/ops.c against their naive references.
#include "testutil.h"

#include "ops.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void fill_uniform(gsl_rng *r, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++) x[i] = lo + (hi - lo) * (float)gsl_rng_uniform(r);
}

static float max_abs_diff(const float *a, const float *b, size_t n) {
    float m = 0.0f;
    for (size_t i = 0; i < n; i++) m = fmaxf(m, fabsf(a[i] - b[i]));
    return m;
}

static void test_expf_fast_relative_error(void **state) {
    (void)state;
    double worst = 0.0;
    for (float x = -87.0f; x <= 88.0f; x += 0.0137f) {
        double ref = exp((double)x);
        double rel = fabs(ops_expf_fast(x) - ref) / ref;
        worst = rel > worst ? rel : worst;
    }
    assert_true(worst < 3e-7);
    assert_true(ops_expf_fast(-1000.0f) < 1e-37f);
    assert_true(ops_expf_fast(0.0f) == 1.0f);
}

static void test_erff_fast_abs_error(void **state) {
    (void)state;
    double worst = 0.0;
    for (float x = -6.0f; x <= 6.0f; x += 0.001f) worst = fmax(worst, fabs(ops_erff_fast(x) - erf((double)x)));
    assert_true(worst < 3e-7);
}

static void test_linear_matches_reference(void **state) {
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    size_t n = 37, in = 53, out = 29; // odd sizes exercise sgemm edge kernels
    float *x = malloc(n * in * sizeof *x), *w = malloc(out * in * sizeof *w);
    float *b = malloc(out * sizeof *b), *y = malloc(n * out * sizeof *y), *yr = malloc(n * out * sizeof *yr);
    fill_uniform(r, x, n * in, -1, 1);
    fill_uniform(r, w, out * in, -1, 1);
    fill_uniform(r, b, out, -1, 1);
    for (int acc = 0; acc < 2; acc++) {
        for (int with_bias = 0; with_bias < 2; with_bias++) {
            fill_uniform(r, y, n * out, -1, 1);
            memcpy(yr, y, n * out * sizeof *y);
            ops_linear(x, n, in, w, with_bias ? b : NULL, out, y, acc);
            ops_linear_ref(x, n, in, w, with_bias ? b : NULL, out, yr, acc);
            assert_true(max_abs_diff(y, yr, n * out) < 2e-5f);
        }
    }
    free(x), free(w), free(b), free(y), free(yr);
    gsl_rng_free(r);
}

static void test_layernorm_gelu_softmax_match_reference(void **state) {
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    size_t n = 13, dim = 384;
    float *x = malloc(n * dim * sizeof *x), *xr = malloc(n * dim * sizeof *xr);
    float *g = malloc(dim * sizeof *g), *b = malloc(dim * sizeof *b);
    fill_uniform(r, g, dim, 0.5f, 1.5f);
    fill_uniform(r, b, dim, -0.2f, 0.2f);

    fill_uniform(r, x, n * dim, -4, 6);
    memcpy(xr, x, n * dim * sizeof *x);
    ops_layernorm_rows(x, n, dim, g, b, 1e-12f);
    ops_layernorm_rows_ref(xr, n, dim, g, b, 1e-12f);
    assert_true(max_abs_diff(x, xr, n * dim) < 2e-6f);

    fill_uniform(r, x, n * dim, -8, 8);
    memcpy(xr, x, n * dim * sizeof *x);
    ops_gelu_erf(x, n * dim);
    ops_gelu_erf_ref(xr, n * dim);
    assert_true(max_abs_diff(x, xr, n * dim) < 2e-6f);

    fill_uniform(r, x, n * dim, -30, 30);
    memcpy(xr, x, n * dim * sizeof *x);
    ops_softmax_rows(x, n, dim, 0.125f);
    ops_softmax_rows_ref(xr, n, dim, 0.125f);
    assert_true(max_abs_diff(x, xr, n * dim) < 1e-6f);
    for (size_t i = 0; i < n; i++) {
        double s = 0.0;
        for (size_t j = 0; j < dim; j++) s += x[i * dim + j];
        assert_true(fabs(s - 1.0) < 1e-5);
    }
    free(x), free(xr), free(g), free(b);
    gsl_rng_free(r);
}

static void test_all_finite(void **state) {
    (void)state;
    float v[4] = {1, 2, 3, 4};
    assert_true(ops_all_finite(v, 4));
    v[2] = NAN;
    assert_false(ops_all_finite(v, 4));
    v[2] = INFINITY;
    assert_false(ops_all_finite(v, 4));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expf_fast_relative_error),
        cmocka_unit_test(test_erff_fast_abs_error),
        cmocka_unit_test(test_linear_matches_reference),
        cmocka_unit_test(test_layernorm_gelu_softmax_match_reference),
        cmocka_unit_test(test_all_finite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
