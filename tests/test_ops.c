// The optimised kernels of core/model/ops.c against their naive references.
#include "testutil.h"

#include "model/ops.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static void fill_uniform(gsl_rng *r, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * (float)gsl_rng_uniform(r);
}

static float max_abs_diff(const float *a, const float *b, size_t n) {
    float m = 0.0f;
    for (size_t i = 0; i < n; i++)
        m = fmaxf(m, fabsf(a[i] - b[i]));
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

// ops_expf_fast as it was before the NaN guard (issue 10): the reference the
// guarded version must match bit for bit on every finite input.
static float expf_fast_unguarded(float x) {
    x = x < -87.0f ? -87.0f : x;
    x = x > 88.0f ? 88.0f : x;
    const float magic = 12582912.0f;
    float t = x * 1.44269504088896341f + magic;
    float nf = t - magic;
    float r = x - nf * 0.693145751953125f;
    r = r - nf * 1.42860682030941723212e-6f;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t n = (int32_t)nf;
    int32_t bits = (n + 127) * (1 << 23);
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    return p * scale;
}

// NaN in, NaN out; +-Inf clamp like large finite inputs; every finite float
// (all 2^32 bit patterns stepped by 97, plus the clamp edges) gives the same
// bits as the unguarded reference. Under UBSan the old code aborted on NaN
// (NaN -> int32_t cast, left shift of a negative value).
static void test_expf_fast_nan_inf_and_bits(void **state) {
    (void)state;
    assert_true(isnan(ops_expf_fast(NAN)));
    assert_true(isnan(ops_expf_fast(-NAN)));
    assert_true(ops_expf_fast(INFINITY) == ops_expf_fast(88.0f));
    assert_true(ops_expf_fast(-INFINITY) == ops_expf_fast(-87.0f));
    assert_true(isfinite(ops_expf_fast(INFINITY)));
    size_t checked = 0;
    for (uint64_t u = 0; u <= UINT32_MAX; u += 97) {
        uint32_t bits = (uint32_t)u;
        float x;
        memcpy(&x, &bits, sizeof x);
        if (!isfinite(x)) continue;
        float a = ops_expf_fast(x), b = expf_fast_unguarded(x);
        if (memcmp(&a, &b, sizeof a) != 0) fail_msg("x = %a: %a vs reference %a", x, a, b);
        checked++;
    }
    const float edges[] = {-87.0f, 88.0f, -87.00001f, 88.00001f, 0.0f, -0.0f, 1e-45f, -1e-45f};
    for (size_t i = 0; i < sizeof edges / sizeof edges[0]; i++) {
        float a = ops_expf_fast(edges[i]), b = expf_fast_unguarded(edges[i]);
        assert_memory_equal(&a, &b, sizeof a);
    }
    assert_true(checked > 40000000);
}

static void test_erff_fast_abs_error(void **state) {
    (void)state;
    double worst = 0.0;
    for (float x = -6.0f; x <= 6.0f; x += 0.001f)
        worst = fmax(worst, fabs(ops_erff_fast(x) - erf((double)x)));
    assert_true(worst < 3e-7);
}

static void test_linear_matches_reference(void **state) {
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    size_t n = 37, in = 53, out = 29; // odd sizes exercise sgemm edge kernels
    float *x = malloc(n * in * sizeof *x), *w = malloc(out * in * sizeof *w);
    float *b = malloc(out * sizeof *b), *y = malloc(n * out * sizeof *y),
          *yr = malloc(n * out * sizeof *yr);
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
        for (size_t j = 0; j < dim; j++)
            s += x[i * dim + j];
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

// Qwen3 kernels: RMSNorm, RoPE, SwiGLU.

static void test_rmsnorm_matches_reference(void **state) {
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    const size_t dims[] = {64, 128, 1024};
    for (size_t d = 0; d < 3; d++) {
        size_t n = 11, dim = dims[d];
        float *x = malloc(n * dim * sizeof *x), *y = malloc(n * dim * sizeof *y);
        float *yr = malloc(n * dim * sizeof *yr), *w = malloc(dim * sizeof *w);
        fill_uniform(r, x, n * dim, -5, 7);
        fill_uniform(r, w, dim, 0.5f, 1.5f);
        ops_rmsnorm_rows(x, n, dim, w, 1e-6f, y);
        ops_rmsnorm_rows_ref(x, n, dim, w, 1e-6f, yr);
        assert_true(max_abs_diff(y, yr, n * dim) < 2e-6f);
        // In place gives the same values.
        ops_rmsnorm_rows(x, n, dim, w, 1e-6f, x);
        assert_true(max_abs_diff(x, y, n * dim) == 0.0f);
        // eps matters for tiny rows: a zero row stays zero (no NaN).
        memset(x, 0, dim * sizeof *x);
        ops_rmsnorm_rows(x, 1, dim, w, 1e-6f, y);
        assert_true(ops_all_finite(y, dim) && y[0] == 0.0f);
        free(x), free(y), free(yr), free(w);
    }
    gsl_rng_free(r);
}

static void test_rope_table_follows_hf(void **state) {
    (void)state;
    size_t n_pos = 2000, dim = 128, half = dim / 2;
    double theta = 1e6;
    float *c = malloc(n_pos * half * sizeof *c), *s = malloc(n_pos * half * sizeof *s);
    ops_rope_table(n_pos, dim, theta, c, s);
    double worst_unit = 0.0, worst_angle = 0.0;
    for (size_t p = 0; p < n_pos; p++) {
        for (size_t i = 0; i < half; i++) {
            double cv = c[p * half + i], sv = s[p * half + i];
            worst_unit = fmax(worst_unit, fabs(cv * cv + sv * sv - 1.0));
            // Against the exact angle p * theta^(-2i/dim): the float32 steps
            // of HF's formula (exponent, pow, reciprocal, product) move the
            // angle by at most ~17 float32 ulps relative, ~1e-6 * angle.
            double angle = (double)p * pow(theta, -(double)(2 * i) / (double)dim);
            double err = fmax(fabs(cv - cos(angle)), fabs(sv - sin(angle)));
            worst_angle = fmax(worst_angle, err / (angle * 1.2e-6 + 1.2e-7));
        }
    }
    assert_true(worst_unit < 2.5e-7);
    assert_true(worst_angle <= 1.0);
    for (size_t i = 0; i < half; i++)
        assert_true(c[i] == 1.0f && s[i] == 0.0f); // position 0
    // Frequency 0 is 1 radian per position: cos/sin of the integer p, rounded.
    assert_true(c[7 * half] == (float)cos(7.0) && s[7 * half] == (float)sin(7.0));
    free(c), free(s);
}

static void test_rope_heads_matches_reference(void **state) {
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    size_t n_pos = 600, dim = 64, half = dim / 2, heads = 16;
    float *c = malloc(n_pos * half * sizeof *c), *s = malloc(n_pos * half * sizeof *s);
    float *x = malloc(heads * dim * sizeof *x), *xr = malloc(heads * dim * sizeof *xr);
    ops_rope_table(n_pos, dim, 1e4, c, s);
    const size_t positions[] = {0, 1, 17, 599};
    for (size_t k = 0; k < 4; k++) {
        size_t p = positions[k];
        fill_uniform(r, x, heads * dim, -3, 3);
        memcpy(xr, x, heads * dim * sizeof *x);
        double norm0 = 0.0, norm1 = 0.0;
        for (size_t i = 0; i < heads * dim; i++)
            norm0 += (double)x[i] * x[i];
        ops_rope_heads(x, heads, dim, c + p * half, s + p * half);
        ops_rope_heads_ref(xr, heads, dim, c + p * half, s + p * half);
        assert_true(max_abs_diff(x, xr, heads * dim) < 1e-6f);
        for (size_t i = 0; i < heads * dim; i++)
            norm1 += (double)x[i] * x[i];
        assert_true(fabs(norm1 - norm0) < 1e-5 * norm0); // a rotation
        if (p == 0) assert_true(max_abs_diff(x, xr, heads * dim) == 0.0f);
    }
    free(c), free(s), free(x), free(xr);
    gsl_rng_free(r);
}

static void test_swiglu_matches_reference(void **state) {
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    size_t n = 5000;
    float *g = malloc(n * sizeof *g), *u = malloc(n * sizeof *u);
    float *y = malloc(n * sizeof *y), *yr = malloc(n * sizeof *yr);
    fill_uniform(r, g, n, -30, 30);
    fill_uniform(r, u, n, -3, 3);
    g[0] = -200.0f; // exp(-g) saturates: silu -> -0
    g[1] = 200.0f;  // silu -> g
    ops_swiglu(g, u, y, n);
    ops_swiglu_ref(g, u, yr, n);
    float worst = 0.0f;
    for (size_t i = 0; i < n; i++)
        worst = fmaxf(worst, fabsf(y[i] - yr[i]) / fmaxf(1.0f, fabsf(yr[i])));
    assert_true(worst < 1e-6f);
    assert_true(ops_all_finite(y, n));
    // In place over the gate equals out of place.
    ops_swiglu(g, u, g, n);
    assert_true(max_abs_diff(g, y, n) == 0.0f);
    free(g), free(u), free(y), free(yr);
    gsl_rng_free(r);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_expf_fast_relative_error),
        cmocka_unit_test(test_expf_fast_nan_inf_and_bits),
        cmocka_unit_test(test_erff_fast_abs_error),
        cmocka_unit_test(test_linear_matches_reference),
        cmocka_unit_test(test_layernorm_gelu_softmax_match_reference),
        cmocka_unit_test(test_all_finite),
        cmocka_unit_test(test_rmsnorm_matches_reference),
        cmocka_unit_test(test_rope_table_follows_hf),
        cmocka_unit_test(test_rope_heads_matches_reference),
        cmocka_unit_test(test_swiglu_matches_reference),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
