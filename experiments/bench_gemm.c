/*
 * bench_gemm.c - GFLOPS of the matmul backends (issue 12) on the forward's
 * linear-layer shapes: ops_linear_m with OpenBLAS f32, OpenBLAS bf16 (W
 * widened per tile), oneDNN f32 and oneDNN bf16, at 1 and 2 threads. Also
 * three oneDNN experiments behind the design of core/model/ops_dnnl.c:
 *   - rt-M: one primitive with M as a run-time dimension instead of one
 *     primitive per M (cached);
 *   - raw plain / raw blocked: the bare matmul primitive (no bf16 rounding
 *     of x, no lookup) on the plain (out, in) weights vs on weights reordered
 *     once into the layout oneDNN prefers ("any"): how far plain weights are
 *     from the blocked-format limit;
 *   - create: the cost of a cache miss (primitive creation), ms: a shape
 *     new to oneDNN, and the same shape again (oneDNN's own cache hits).
 *
 *     build/bench_gemm [--reps R] [--threads 1,2] [--best]
 *
 * Shapes are M x K x N = tokens x in x out: BERT-mini's FFN over a
 * 3823-token chunk (up 256 -> 1024, down 1024 -> 256) and Qwen3-0.6B's MLP
 * over 500 tokens (gate|up 1024 -> 2 x 3072, down 3072 -> 1024).
 */
#include "bench_common.h"

#include "base/clock.h"
#include "base/half.h"
#include "base/mem.h"
#include "model/ops.h"
#include "model/ops_dnnl.h"

#include <gsl/gsl_rng.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef GRATING_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

// --best: the fastest of the runs instead of the median. On a machine shared
// with other jobs the median mixes in their load; the best run is the closer
// estimate of what the kernel does on its own cores.
static int use_best;

static double summarise(double *t, int n) {
    double m = bench_median(t, n); // sorts t
    return use_best ? t[0] : m;
}

typedef struct {
    const char *name;
    size_t m, k, n;
} shape;

static const shape SHAPES[] = {
    {"bert-mini FFN up", 3823, 256, 1024},
    {"bert-mini FFN down", 3823, 1024, 256},
    {"qwen3-0.6B gate|up", 500, 1024, 6144},
    {"qwen3-0.6B down", 500, 3072, 1024},
};

typedef struct {
    const float *x;
    const uint16_t *xb; // x rounded to bf16 (raw experiments)
    ops_matrix w32, w16;
    const float *b;
    float *y;
    size_t m, k, n;
} problem;

// Median seconds of `reps` runs of ops_linear_m after one warm-up call.
static double time_linear(const problem *p, const ops_matrix *w, int reps) {
    double t[64];
    ops_linear_m(p->x, p->m, p->k, w, p->b, p->n, p->y, 0);
    for (int r = 0; r < reps; r++) {
        double t0 = clock_now_seconds();
        ops_linear_m(p->x, p->m, p->k, w, p->b, p->n, p->y, 0);
        t[r] = clock_now_seconds() - t0;
    }
    return summarise(t, reps);
}

#ifdef GRATING_HAVE_DNNL
#define DNNL_CHECK(call)                                                                           \
    do {                                                                                           \
        if ((call) != dnnl_success) {                                                              \
            fprintf(stderr, "bench_gemm: %s failed\n", #call);                                     \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

// Milliseconds to create the plain-weights matmul primitive for M x K x N:
// [0] a shape oneDNN has not seen (descriptor + JIT of the kernels), [1] the
// same again (oneDNN's own primitive cache hits: what a miss of ops_dnnl.c's
// LRU costs while oneDNN still holds the kernel).
static void time_create(dnnl_dim_t M, dnnl_dim_t K, dnnl_dim_t N, int bf16, double ms[2]) {
    dnnl_engine_t eng;
    DNNL_CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    dnnl_data_type_t dt = bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_memory_desc_t src, wei, bia, dst;
    dnnl_dims_t sd = {M, K}, ss = {K, 1}, wd = {K, N}, ws = {1, K}, bd = {1, N}, bs = {N, 1},
                dd = {M, N}, ds = {N, 1};
    DNNL_CHECK(dnnl_memory_desc_init_by_strides(&src, 2, sd, dt, ss));
    DNNL_CHECK(dnnl_memory_desc_init_by_strides(&wei, 2, wd, dt, ws));
    DNNL_CHECK(dnnl_memory_desc_init_by_strides(&bia, 2, bd, dnnl_f32, bs));
    DNNL_CHECK(dnnl_memory_desc_init_by_strides(&dst, 2, dd, dnnl_f32, ds));
    dnnl_matmul_desc_t desc;
    DNNL_CHECK(dnnl_matmul_desc_init(&desc, &src, &wei, &bia, &dst));
    for (int i = 0; i < 2; i++) {
        double t0 = clock_now_seconds();
        dnnl_primitive_desc_t pd;
        dnnl_primitive_t prim;
        DNNL_CHECK(dnnl_primitive_desc_create(&pd, &desc, NULL, eng, NULL));
        DNNL_CHECK(dnnl_primitive_create(&prim, pd));
        ms[i] = 1e3 * (clock_now_seconds() - t0);
        dnnl_primitive_destroy(prim);
        dnnl_primitive_desc_destroy(pd);
    }
    dnnl_engine_destroy(eng);
}

// The bare matmul primitive, weights plain ("ba" strides) or blocked (format
// "any", reordered once before timing). Returns the median seconds and sets
// *impl to oneDNN's implementation name.
static double time_raw(const problem *p, int bf16, int blocked, int reps, char *impl,
                       size_t impl_len) {
    dnnl_engine_t eng;
    dnnl_stream_t strm;
    DNNL_CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
    DNNL_CHECK(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags));
    dnnl_data_type_t dt = bf16 ? dnnl_bf16 : dnnl_f32;
    dnnl_dim_t M = (dnnl_dim_t)p->m, K = (dnnl_dim_t)p->k, N = (dnnl_dim_t)p->n;
    dnnl_memory_desc_t src, wplain, wany, bia, dst;
    dnnl_dims_t sd = {M, K}, ss = {K, 1}, wd = {K, N}, ws = {1, K}, bd = {1, N}, bs = {N, 1},
                dd = {M, N}, ds = {N, 1};
    DNNL_CHECK(dnnl_memory_desc_init_by_strides(&src, 2, sd, dt, ss));
    DNNL_CHECK(dnnl_memory_desc_init_by_strides(&wplain, 2, wd, dt, ws));
    DNNL_CHECK(dnnl_memory_desc_init_by_tag(&wany, 2, wd, dt, dnnl_format_tag_any));
    DNNL_CHECK(dnnl_memory_desc_init_by_strides(&bia, 2, bd, dnnl_f32, bs));
    DNNL_CHECK(dnnl_memory_desc_init_by_strides(&dst, 2, dd, dnnl_f32, ds));
    dnnl_matmul_desc_t desc;
    DNNL_CHECK(dnnl_matmul_desc_init(&desc, &src, blocked ? &wany : &wplain, &bia, &dst));
    dnnl_primitive_desc_t pd;
    DNNL_CHECK(dnnl_primitive_desc_create(&pd, &desc, NULL, eng, NULL));
    const char *s = "";
    dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &s);
    snprintf(impl, impl_len, "%s", s);
    const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
    dnnl_primitive_t prim;
    DNNL_CHECK(dnnl_primitive_create(&prim, pd));

    const void *wdata = bf16 ? p->w16.data : p->w32.data;
    dnnl_memory_t msrc, mw, mwplain, mbia, mdst;
    DNNL_CHECK(dnnl_memory_create(&msrc, &src, eng, bf16 ? (void *)p->xb : (void *)p->x));
    DNNL_CHECK(dnnl_memory_create(&mwplain, &wplain, eng, (void *)wdata));
    DNNL_CHECK(dnnl_memory_create(&mbia, &bia, eng, (void *)p->b));
    DNNL_CHECK(dnnl_memory_create(&mdst, &dst, eng, p->y));
    void *packed = NULL;
    if (blocked) {
        packed = mem_alloc(MEM_WEIGHTS, dnnl_memory_desc_get_size(wmd));
        if (!packed) exit(1);
        DNNL_CHECK(dnnl_memory_create(&mw, wmd, eng, packed));
        dnnl_primitive_desc_t rpd;
        dnnl_primitive_t reorder;
        DNNL_CHECK(dnnl_reorder_primitive_desc_create(&rpd, &wplain, eng, wmd, eng, NULL));
        DNNL_CHECK(dnnl_primitive_create(&reorder, rpd));
        dnnl_exec_arg_t rargs[2] = {{DNNL_ARG_FROM, mwplain}, {DNNL_ARG_TO, mw}};
        DNNL_CHECK(dnnl_primitive_execute(reorder, strm, 2, rargs));
        DNNL_CHECK(dnnl_stream_wait(strm));
        dnnl_primitive_destroy(reorder);
        dnnl_primitive_desc_destroy(rpd);
    } else {
        mw = mwplain;
    }
    dnnl_exec_arg_t args[4] = {
        {DNNL_ARG_SRC, msrc}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_BIAS, mbia}, {DNNL_ARG_DST, mdst}};
    double t[64];
    DNNL_CHECK(dnnl_primitive_execute(prim, strm, 4, args));
    DNNL_CHECK(dnnl_stream_wait(strm));
    for (int r = 0; r < reps; r++) {
        double t0 = clock_now_seconds();
        DNNL_CHECK(dnnl_primitive_execute(prim, strm, 4, args));
        DNNL_CHECK(dnnl_stream_wait(strm));
        t[r] = clock_now_seconds() - t0;
    }
    if (blocked) dnnl_memory_destroy(mw);
    dnnl_memory_destroy(msrc), dnnl_memory_destroy(mwplain), dnnl_memory_destroy(mbia);
    dnnl_memory_destroy(mdst);
    mem_free(packed);
    dnnl_primitive_destroy(prim);
    dnnl_primitive_desc_destroy(pd);
    dnnl_stream_destroy(strm);
    dnnl_engine_destroy(eng);
    return summarise(t, reps);
}
#endif

// OpenBLAS's idle workers keep spinning for a while after a call (its
// THREAD_TIMEOUT, 2^28 cycles by default: ~0.1 s) and would take a core from
// oneDNN's OpenMP threads measured right after; a run with one backend never
// sees that, so the bench lets them park before switching.
static void switch_backend(ops_backend b) {
    if (b != ops_backend_get()) {
        struct timespec ts = {0, 300 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    ops_backend_set(b);
}

static int parse_threads(const char *s, int *out, int max) {
    int n = 0;
    while (*s && n < max) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 1 || v > 4096) return 0;
        out[n++] = (int)v;
        s = *end == ',' ? end + 1 : end;
        if (*end && *end != ',') return 0;
    }
    return n;
}

int main(int argc, char **argv) {
    int reps = 9, threads[8] = {1, 2}, n_threads = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--reps") && i + 1 < argc) {
            reps = atoi(argv[++i]);
            if (reps < 1 || reps > 64) {
                fprintf(stderr, "bench_gemm: --reps must be 1..64\n");
                return 2;
            }
        } else if (!strcmp(argv[i], "--best")) {
            use_best = 1;
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            n_threads = parse_threads(argv[++i], threads, 8);
            if (!n_threads) {
                fprintf(stderr, "bench_gemm: --threads needs a list like 1,2\n");
                return 2;
            }
        } else {
            fprintf(stderr, "usage: bench_gemm [--reps R (1..64)] [--threads 1,2] [--best]\n");
            return 2;
        }
    }
    int have = ops_backend_available(OPS_BACKEND_ONEDNN);
    bench_print_kernels(stdout);
    printf("oneDNN: %s, ISA %s\n", have ? "built in" : "not built in", ops_backend_isa());
    printf("GFLOPS of y = x W^T + b (2 M K N / %s of %d runs); raw = the bare oneDNN matmul "
           "primitive (bf16: x already bf16)\n\n",
           use_best ? "fastest" : "median", reps);
    printf("| shape (M x K x N) | thr | openblas f32 | openblas bf16 | onednn f32 | onednn bf16 | "
           "onednn f32 rt-M | onednn bf16 rt-M | raw f32 plain | raw f32 blocked | raw bf16 "
           "plain | raw bf16 blocked | create ms: f32 new, again / bf16 new, again |\n");
    printf("|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(r, 1);
    char impl_log[32][256];
    int n_impl = 0;
    for (size_t s = 0; s < sizeof SHAPES / sizeof *SHAPES; s++) {
        const shape *sh = &SHAPES[s];
        size_t m = sh->m, k = sh->k, n = sh->n;
        float *x = mem_alloc(MEM_ACTIVATIONS, m * k * sizeof *x);
        uint16_t *xb = mem_alloc(MEM_ACTIVATIONS, m * k * sizeof *xb);
        float *w32 = mem_alloc(MEM_WEIGHTS, n * k * sizeof *w32);
        uint16_t *w16 = mem_alloc(MEM_WEIGHTS, n * k * sizeof *w16);
        float *b = mem_alloc(MEM_WEIGHTS, n * sizeof *b);
        float *y = mem_alloc(MEM_ACTIVATIONS, m * n * sizeof *y);
        if (!x || !xb || !w32 || !w16 || !b || !y) {
            fprintf(stderr, "bench_gemm: out of memory\n");
            return 1;
        }
        for (size_t i = 0; i < m * k; i++)
            x[i] = (float)gsl_rng_uniform(r) - 0.5f;
        for (size_t i = 0; i < n * k; i++)
            w32[i] = 0.1f * ((float)gsl_rng_uniform(r) - 0.5f);
        for (size_t i = 0; i < n; i++)
            b[i] = 0.01f * (float)i;
        half_f32_to_bf16_array(x, xb, m * k);
        half_f32_to_bf16_array(w32, w16, n * k);
        problem p = {x, xb, {w32, OPS_DTYPE_F32, 0}, {w16, OPS_DTYPE_BF16, 0}, b, y, m, k, n};
        double gflop = 2.0 * (double)m * (double)k * (double)n * 1e-9;
        for (int ti = 0; ti < n_threads; ti++) {
            ops_set_threads(threads[ti]);
            double g[12];
            for (int c = 0; c < 12; c++)
                g[c] = -1.0;
            double create_ms[2][2] = {{-1.0, -1.0}, {-1.0, -1.0}};
            ops_backend_set(OPS_BACKEND_OPENBLAS);
            g[0] = gflop / time_linear(&p, &p.w32, reps);
            g[1] = gflop / time_linear(&p, &p.w16, reps);
            if (have) {
                switch_backend(OPS_BACKEND_ONEDNN);
                for (int dt = 0; dt < 2; dt++) {
                    g[2 + dt] = gflop / time_linear(&p, dt ? &p.w16 : &p.w32, reps);
                    if (ti == 0 && n_impl < 32)
                        snprintf(impl_log[n_impl++], sizeof impl_log[0], "%s %s: %s", sh->name,
                                 dt ? "bf16" : "f32", ops_dnnl_last_impl());
                }
                int prev = ops_dnnl_set_runtime_m(1);
                g[4] = gflop / time_linear(&p, &p.w32, reps);
                g[5] = gflop / time_linear(&p, &p.w16, reps);
                if (ti == 0 && n_impl < 32)
                    snprintf(impl_log[n_impl++], sizeof impl_log[0], "%s bf16 rt-M: %s", sh->name,
                             ops_dnnl_last_impl());
                ops_dnnl_set_runtime_m(prev);
#ifdef GRATING_HAVE_DNNL
                char impl[96];
                // A fresh M per thread count: oneDNN has not built it yet.
                for (int dt = 0; dt < 2; dt++)
                    time_create((dnnl_dim_t)(m - 7 - (size_t)ti), (dnnl_dim_t)k, (dnnl_dim_t)n, dt,
                                create_ms[dt]);
                static const char *raw_name[4] = {"raw f32 plain", "raw f32 blocked",
                                                  "raw bf16 plain", "raw bf16 blocked"};
                for (int c = 0; c < 4; c++) {
                    g[6 + c] = gflop / time_raw(&p, c >= 2, c % 2, reps, impl, sizeof impl);
                    if (ti == 0 && n_impl < 32)
                        snprintf(impl_log[n_impl++], sizeof impl_log[0], "%s %s: %s", sh->name,
                                 raw_name[c], impl);
                }
#endif
                ops_backend_set(OPS_BACKEND_OPENBLAS);
            }
            printf("| %s %zux%zux%zu | %d |", sh->name, m, k, n, threads[ti]);
            for (int c = 0; c < 10; c++) {
                if (g[c] < 0)
                    printf(" - |");
                else
                    printf(" %.0f |", g[c]);
            }
            if (create_ms[0][0] < 0)
                printf(" - |\n");
            else
                printf(" %.1f, %.2f / %.1f, %.2f |\n", create_ms[0][0], create_ms[0][1],
                       create_ms[1][0], create_ms[1][1]);
            fflush(stdout);
        }
        mem_free(x), mem_free(xb), mem_free(w32), mem_free(w16), mem_free(b), mem_free(y);
    }
    // The attention products (ops_sgemm; per sequence and head): scores
    // q k^T (T x T x d, trans_b) and context p v (T x d x T).
    printf("\nops_sgemm (attention products, one sequence and head), GFLOPS:\n\n");
    printf("| product (M x N x K) | thr | openblas | onednn |\n|---|---|---|---|\n");
    const size_t att[][4] = {
        {200, 200, 64, 1}, {200, 64, 200, 0}, {500, 500, 128, 1}, {500, 128, 500, 0}};
    for (size_t s = 0; s < sizeof att / sizeof *att; s++) {
        size_t m = att[s][0], n = att[s][1], k = att[s][2];
        int tb = (int)att[s][3];
        float *a = mem_alloc(MEM_ACTIVATIONS, m * k * sizeof *a);
        float *bm = mem_alloc(MEM_ACTIVATIONS, n * k * sizeof *bm);
        float *c = mem_alloc(MEM_ACTIVATIONS, m * n * sizeof *c);
        if (!a || !bm || !c) return 1;
        for (size_t i = 0; i < m * k; i++)
            a[i] = (float)gsl_rng_uniform(r);
        for (size_t i = 0; i < n * k; i++)
            bm[i] = (float)gsl_rng_uniform(r);
        double gflop = 2.0 * (double)m * (double)n * (double)k * 1e-9;
        for (int ti = 0; ti < n_threads; ti++) {
            ops_set_threads(threads[ti]);
            printf("| %s %zux%zux%zu | %d |", tb ? "q k^T" : "p v", m, n, k, threads[ti]);
            for (int be = 0; be < 2; be++) {
                if (be && !have) {
                    printf(" - |");
                    continue;
                }
                switch_backend(be ? OPS_BACKEND_ONEDNN : OPS_BACKEND_OPENBLAS);
                // Many calls per sample: one product takes a few microseconds.
                const int inner = 50;
                double t[64];
                ops_sgemm(tb, m, n, k, a, k, bm, tb ? k : n, c, n);
                for (int rr = 0; rr < reps; rr++) {
                    double t0 = clock_now_seconds();
                    for (int q = 0; q < inner; q++)
                        ops_sgemm(tb, m, n, k, a, k, bm, tb ? k : n, c, n);
                    t[rr] = (clock_now_seconds() - t0) / inner;
                }
                printf(" %.0f |", gflop / summarise(t, reps));
            }
            printf("\n");
        }
        ops_backend_set(OPS_BACKEND_OPENBLAS);
        mem_free(a), mem_free(bm), mem_free(c);
    }

    printf("\noneDNN implementations (first thread count):\n");
    for (int i = 0; i < n_impl; i++)
        printf("  %s\n", impl_log[i]);
    gsl_rng_free(r);
    return 0;
}
