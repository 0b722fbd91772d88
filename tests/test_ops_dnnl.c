// The matmul backends (OpenBLAS, oneDNN) and weight dtypes (f32, bf16) of
// ops_linear_m / ops_linear / ops_sgemm against the naive references.
//
// Tolerances. Every check bounds |y - ref| by tol * S, where S = sum_k
// |x_k w_k| + |b| + |y0| (y0: the accumulated-into value) is the scale of
// the rounding error of a float sum (the classic bound is K * u * S, u =
// 2^-24 = 6e-8). The kernels sum in f32 in blocked order, whose errors grow
// like sqrt(K) * u * S on data with mixed signs: ~2e-6 at K = 1000, so
// tol = 1e-5 leaves a 5x margin and still catches a wrong element, stride or
// dropped term (which is an error of order S / K or more).
//  - f32 W, both backends, vs ops_linear_ref (double sums): tol 1e-5.
//  - bf16 W on OpenBLAS (W widened exactly per tile, then the same f32 sgemm)
//    vs ops_linear_m_ref: the same math, tol 1e-5.
//  - bf16 W on oneDNN: x is rounded to bf16 (nearest even) too. bf16 x bf16
//    products are exact in f32 (8 + 8 significant bits), and the sum is f32,
//    so against a reference that rounds x to bf16 first and sums in double
//    the error is again only f32 summation: tol 1e-5. Against the unrounded
//    f32 reference, each |x - bf16(x)| <= 2^-9 |x| adds at most 2^-9 * S:
//    tol 2^-9 + 1e-5 (the bf16 rounding bound), checked as well.
#include "testutil.h"

#include "base/half.h"
#include "base/status.h"
#include "model/ops.h"
#include "model/ops_dnnl.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const ops_backend BACKENDS[] = {OPS_BACKEND_OPENBLAS, OPS_BACKEND_ONEDNN};

static int dnnl_or_skip_message(void) {
    if (ops_backend_available(OPS_BACKEND_ONEDNN)) return 1;
    print_message("oneDNN not built in (libdnnl-dev missing): its cases are skipped\n");
    return 0;
}

static void fill_uniform(gsl_rng *r, float *x, size_t n, float lo, float hi) {
    for (size_t i = 0; i < n; i++)
        x[i] = lo + (hi - lo) * (float)gsl_rng_uniform(r);
}

// S of the header per output element, with x (already rounded if needed).
static double scale_of(const float *x, size_t i, size_t in, const ops_matrix *w, const float *b,
                       size_t j, float y0, int accumulate) {
    double s = (b ? fabs(b[j]) : 0.0) + (accumulate ? fabs(y0) : 0.0);
    for (size_t k = 0; k < in; k++) {
        double wk = w->dtype == OPS_DTYPE_BF16
                        ? half_bf16_to_f32(((const uint16_t *)w->data)[j * in + k])
                        : ((const float *)w->data)[j * in + k];
        s += fabs((double)x[i * in + k] * wk);
    }
    return s;
}

// max over elements of |y - ref| / S.
static double worst_ratio(const float *x, size_t n, size_t in, const ops_matrix *w, const float *b,
                          size_t out, const float *y0, int accumulate, const float *y,
                          const float *ref) {
    double worst = 0.0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < out; j++) {
            double s = scale_of(x, i, in, w, b, j, y0[i * out + j], accumulate);
            double d = fabs((double)y[i * out + j] - ref[i * out + j]) / (s > 0 ? s : 1.0);
            worst = d > worst ? d : worst;
        }
    return worst;
}

// Worst error / S seen per [backend][dtype] (+ [1][2]: oneDNN bf16 against
// the unrounded reference), printed so a run shows the margins.
static double seen[2][3];

typedef struct {
    float *x, *xr, *w32, *b, *y0, *y, *ref, *ref_r;
    uint16_t *w16;
} bufs;

// One shape: for both dtypes, accumulate 0/1, bias NULL/non-NULL, the
// references are computed once and both backends checked against them.
static void check_shape(gsl_rng *r, size_t n, size_t in, size_t out, int have_dnnl) {
    bufs B;
    B.x = malloc(n * in * sizeof(float));
    B.xr = malloc(n * in * sizeof(float));
    B.w32 = malloc(out * in * sizeof(float));
    B.w16 = malloc(out * in * sizeof(uint16_t));
    B.b = malloc(out * sizeof(float));
    B.y0 = malloc(n * out * sizeof(float));
    B.y = malloc(n * out * sizeof(float));
    B.ref = malloc(n * out * sizeof(float));
    B.ref_r = malloc(n * out * sizeof(float));
    fill_uniform(r, B.x, n * in, -1.0f, 1.0f);
    fill_uniform(r, B.w32, out * in, -0.2f, 0.2f);
    fill_uniform(r, B.b, out, -0.5f, 0.5f);
    fill_uniform(r, B.y0, n * out, -2.0f, 2.0f);
    half_f32_to_bf16_array(B.w32, B.w16, out * in);
    for (size_t i = 0; i < n * in; i++)
        B.xr[i] = half_bf16_to_f32(half_f32_to_bf16(B.x[i]));
    for (int dt = 0; dt < 2; dt++) {
        ops_matrix w = {dt ? (const void *)B.w16 : (const void *)B.w32,
                        dt ? OPS_DTYPE_BF16 : OPS_DTYPE_F32, 0};
        for (int acc = 0; acc < 2; acc++)
            for (int hb = 0; hb < 2; hb++) {
                const float *b = hb ? B.b : NULL;
                memcpy(B.ref, B.y0, n * out * sizeof(float));
                ops_linear_m_ref(B.x, n, in, &w, b, out, B.ref, acc);
                if (dt) {
                    memcpy(B.ref_r, B.y0, n * out * sizeof(float));
                    ops_linear_m_ref(B.xr, n, in, &w, b, out, B.ref_r, acc);
                }
                for (int be = 0; be < 2; be++) {
                    if (BACKENDS[be] == OPS_BACKEND_ONEDNN && !have_dnnl) continue;
                    assert_int_equal(ops_backend_set(BACKENDS[be]), STATUS_OK);
                    memcpy(B.y, B.y0, n * out * sizeof(float));
                    ops_flops_reset();
                    ops_linear_m(B.x, n, in, &w, b, out, B.y, acc);
                    assert_true(ops_flops_executed() == 2.0 * (double)n * (double)in * (double)out);
                    double err;
                    if (dt && BACKENDS[be] == OPS_BACKEND_ONEDNN) {
                        err = worst_ratio(B.xr, n, in, &w, b, out, B.y0, acc, B.y, B.ref_r);
                        double err_f32 = worst_ratio(B.x, n, in, &w, b, out, B.y0, acc, B.y, B.ref);
                        seen[1][2] = err_f32 > seen[1][2] ? err_f32 : seen[1][2];
                        if (err_f32 > 0x1p-9 + 1e-5)
                            fail_msg("bf16 rounding bound: %zu x %zu x %zu acc %d bias %d: %g", n,
                                     in, out, acc, hb, err_f32);
                    } else {
                        err = worst_ratio(B.x, n, in, &w, b, out, B.y0, acc, B.y, B.ref);
                    }
                    seen[be][dt] = err > seen[be][dt] ? err : seen[be][dt];
                    if (err > 1e-5)
                        fail_msg("%s %s %zu x %zu x %zu acc %d bias %d: error %g x S",
                                 ops_backend_name(BACKENDS[be]), dt ? "bf16" : "f32", n, in, out,
                                 acc, hb, err);
                    // ops_linear is the f32 case of ops_linear_m, bit for bit.
                    if (!dt) {
                        memcpy(B.ref, B.y, n * out * sizeof(float));
                        memcpy(B.y, B.y0, n * out * sizeof(float));
                        ops_linear(B.x, n, in, B.w32, b, out, B.y, acc);
                        assert_memory_equal(B.y, B.ref, n * out * sizeof(float));
                        // restore the reference for the next backend
                        memcpy(B.ref, B.y0, n * out * sizeof(float));
                        ops_linear_m_ref(B.x, n, in, &w, b, out, B.ref, acc);
                    }
                }
            }
    }
    ops_backend_set(OPS_BACKEND_OPENBLAS);
    free(B.x), free(B.xr), free(B.w32), free(B.w16), free(B.b), free(B.y0), free(B.y);
    free(B.ref), free(B.ref_r);
}

static void test_linear_m_shapes(void **state) {
    (void)state;
    int have = dnnl_or_skip_message();
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 12);
    const size_t ns[] = {1, 3, 17, 129};
    const size_t dims[] = {32, 96, 384, 1000};
    // 64 shapes: more than the primitive cache holds, so eviction runs too.
    for (size_t a = 0; a < 4; a++)
        for (size_t c = 0; c < 4; c++)
            for (size_t d = 0; d < 4; d++)
                check_shape(r, ns[a], dims[c], dims[d], have);
    print_message("worst |y - ref| / S: openblas f32 %.2g, bf16 %.2g; onednn f32 %.2g, bf16 %.2g "
                  "(vs unrounded x: %.2g, bound 2^-9 = %.2g)\n",
                  seen[0][0], seen[0][1], seen[1][0], seen[1][1], seen[1][2], 0x1p-9);
    gsl_rng_free(r);
}

// Run-time M (the bench's alternative to one primitive per M) gives the same
// results within the same tolerance; and a bf16 chunk larger than oneDNN's
// activation buffer (4M values) is split into row tiles.
static void test_onednn_runtime_m_and_tiles(void **state) {
    (void)state;
    if (!dnnl_or_skip_message()) skip();
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 7);
    int prev = ops_dnnl_set_runtime_m(1);
    check_shape(r, 17, 384, 96, 1);
    check_shape(r, 129, 1000, 32, 1);
    ops_dnnl_set_runtime_m(prev);
    check_shape(r, 4300, 1000, 8, 1); // 4.3M activations: two bf16 tiles
    gsl_rng_free(r);
}

// Two threads give the same results as one (within tolerance; both backends).
static void test_threads(void **state) {
    (void)state;
    int have = dnnl_or_skip_message();
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 3);
    ops_set_threads(2);
    check_shape(r, 129, 384, 1000, have);
    ops_set_threads(1);
    gsl_rng_free(r);
}

// ops_sgemm: both transposes, leading dimensions wider than the rows.
static void test_sgemm_both_transposes(void **state) {
    (void)state;
    int have = dnnl_or_skip_message();
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 5);
    const size_t shapes[][3] = {{1, 1, 1}, {7, 13, 64}, {33, 33, 64}, {129, 70, 17}};
    for (size_t s = 0; s < 4; s++) {
        size_t m = shapes[s][0], n = shapes[s][1], k = shapes[s][2];
        size_t lda = k + 3, ldbt = k + 5, ldbn = n + 2, ldc = n + 4;
        float *a = malloc(m * lda * sizeof(float)), *bt = malloc(n * ldbt * sizeof(float));
        float *bn = malloc(k * ldbn * sizeof(float)), *c = malloc(m * ldc * sizeof(float));
        fill_uniform(r, a, m * lda, -1, 1);
        fill_uniform(r, bt, n * ldbt, -1, 1);
        fill_uniform(r, bn, k * ldbn, -1, 1);
        for (int be = 0; be < 2; be++) {
            if (BACKENDS[be] == OPS_BACKEND_ONEDNN && !have) continue;
            assert_int_equal(ops_backend_set(BACKENDS[be]), STATUS_OK);
            for (int tb = 0; tb < 2; tb++) {
                for (size_t i = 0; i < m * ldc; i++)
                    c[i] = 1e30f; // beta 0: must be overwritten, padding untouched
                ops_flops_reset();
                ops_sgemm(tb, m, n, k, a, lda, tb ? bt : bn, tb ? ldbt : ldbn, c, ldc);
                assert_true(ops_flops_executed() == 2.0 * (double)m * (double)n * (double)k);
                for (size_t i = 0; i < m; i++) {
                    for (size_t j = 0; j < n; j++) {
                        double acc = 0.0, sc = 0.0;
                        for (size_t q = 0; q < k; q++) {
                            double p =
                                (double)a[i * lda + q] * (tb ? bt[j * ldbt + q] : bn[q * ldbn + j]);
                            acc += p;
                            sc += fabs(p);
                        }
                        if (fabs(c[i * ldc + j] - acc) > 1e-5 * sc)
                            fail_msg("%s trans_b %d %zux%zux%zu (%zu,%zu): %g vs %g",
                                     ops_backend_name(BACKENDS[be]), tb, m, n, k, i, j,
                                     c[i * ldc + j], acc);
                    }
                    for (size_t j = n; j < ldc; j++)
                        assert_true(c[i * ldc + j] == 1e30f);
                }
            }
        }
        free(a), free(bt), free(bn), free(c);
    }
    ops_backend_set(OPS_BACKEND_OPENBLAS);
    gsl_rng_free(r);
}

static void test_backend_switching(void **state) {
    (void)state;
    assert_int_equal(ops_backend_get(), OPS_BACKEND_OPENBLAS); // the default
    assert_string_equal(ops_backend_name(OPS_BACKEND_OPENBLAS), "openblas");
    assert_string_equal(ops_backend_name(OPS_BACKEND_ONEDNN), "onednn");
    assert_int_equal(ops_backend_available(OPS_BACKEND_OPENBLAS), 1);
    assert_int_equal(ops_backend_set((ops_backend)7), STATUS_ERR_ARG);
    assert_int_equal(ops_backend_get(), OPS_BACKEND_OPENBLAS);
    if (ops_backend_available(OPS_BACKEND_ONEDNN)) {
        assert_int_equal(ops_backend_set(OPS_BACKEND_ONEDNN), STATUS_OK);
        assert_int_equal(ops_backend_get(), OPS_BACKEND_ONEDNN);
        const char *isa = ops_backend_isa();
        print_message("oneDNN ISA: %s\n", isa);
        assert_true(strcmp(isa, "none") != 0 && strcmp(isa, "unknown") != 0);
    } else {
        print_message("oneDNN not built in: set(ONEDNN) must fail\n");
        assert_int_equal(ops_backend_set(OPS_BACKEND_ONEDNN), STATUS_ERR_UNSUPPORTED);
        assert_string_equal(ops_backend_isa(), "none");
    }
    assert_int_equal(ops_backend_set(OPS_BACKEND_OPENBLAS), STATUS_OK);
    assert_int_equal(ops_backend_get(), OPS_BACKEND_OPENBLAS);
}

// The vectorisable array conversions equal the scalar ones bit for bit,
// specials included.
static void test_bf16_array_conversions(void **state) {
    (void)state;
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 9);
    enum { N = 1 << 16 };
    float *x = malloc(N * sizeof *x), *back = malloc(N * sizeof *back);
    uint16_t *b = malloc(N * sizeof *b);
    const uint32_t special[] = {0x00000000u, 0x80000000u, 0x7f800000u, 0xff800000u,
                                0x7fc00000u, 0x7f800001u, 0xff810000u, 0x7f7fffffu,
                                0x00000001u, 0x3f808000u, 0x3f818000u, 0x3f80ffffu};
    for (size_t i = 0; i < N; i++) {
        uint32_t u = i < sizeof special / sizeof *special
                         ? special[i]
                         : (uint32_t)gsl_rng_get(r) ^ ((uint32_t)gsl_rng_get(r) << 16);
        memcpy(&x[i], &u, sizeof u);
    }
    half_f32_to_bf16_array(x, b, N);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(b[i], half_f32_to_bf16(x[i]));
    half_bf16_to_f32_array(b, back, N);
    for (size_t i = 0; i < N; i++) {
        uint32_t u1 = half_f32_to_bits(back[i]), u2 = half_f32_to_bits(half_bf16_to_f32(b[i]));
        assert_int_equal(u1, u2);
    }
    free(x), free(back), free(b);
    gsl_rng_free(r);
}

int main(void) {
    ops_set_threads(1); // ctest runs two tests at a time on two cores
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backend_switching), cmocka_unit_test(test_bf16_array_conversions),
        cmocka_unit_test(test_linear_m_shapes),   cmocka_unit_test(test_onednn_runtime_m_and_tiles),
        cmocka_unit_test(test_threads),           cmocka_unit_test(test_sgemm_both_transposes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
