/*
 * bench_qwen3 - throughput and memory of the Qwen3-Reranker forward (all
 * layers resident, provisional score of every layer) next to OpenBLAS sgemm
 * measured in the same run, for each OpenBLAS thread count.
 *
 *     build/grating synth --config ../shared/models/qwen3-reranker-tokenizer/config.json \
 *         --dtype bf16 --out /tmp/qwen3-0.6b
 *     build/bench_qwen3 --model /tmp/qwen3-0.6b [--cands 20] [--len 500] [--runs 3]
 *         [--threads 1,2] [--chunk 0]
 *
 * Workload: the paper's microbenchmark shape, N candidates of about `len`
 * tokens (lengths len - 50 .. len + 49, spread evenly; generated ids, which
 * do not change the cost of a dense forward). FLOPs = qwen3_forward_flops
 * (every sgemm as executed on real tokens, causal attention counted by the
 * key blocks it reads). The sgemm reference is the forward's largest GEMM
 * shape (n_tok x 2*intermediate x hidden, the gate|up projection), timed
 * interleaved with the forward so machine noise hits both alike. Reports
 * medians, seconds per query (one forward of the N candidates), peak RSS and
 * the allocator's per-category peaks.
 */
#include "base/mem.h"
#include "model/qwen3/qwen3.h"
#include "base/clock.h"

#include <cblas.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double bench_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static void bench_usage(FILE *out) {
    fprintf(out, "usage: bench_qwen3 --model DIR [--cands N] [--len T] [--runs R] [--threads 1,2]\n"
                 "                   [--chunk C] [--yes ID] [--no ID]\n");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0); // progress lines appear while a long run goes on
    const char *model_dir = NULL, *threads = "1,2";
    int runs = 3, cands = 20, len = 500, chunk = 0, yes = 9693, no = 2152;
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},   {"cands", required_argument, 0, 'n'},
        {"len", required_argument, 0, 'l'},     {"runs", required_argument, 0, 'r'},
        {"threads", required_argument, 0, 't'}, {"chunk", required_argument, 0, 'c'},
        {"yes", required_argument, 0, 'y'},     {"no", required_argument, 0, 'o'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            model_dir = optarg;
            break;
        case 'n':
            cands = atoi(optarg);
            break;
        case 'l':
            len = atoi(optarg);
            break;
        case 'r':
            runs = atoi(optarg);
            break;
        case 't':
            threads = optarg;
            break;
        case 'c':
            chunk = atoi(optarg);
            break;
        case 'y':
            yes = atoi(optarg);
            break;
        case 'o':
            no = atoi(optarg);
            break;
        case 'h':
            bench_usage(stdout);
            return 0;
        default:
            bench_usage(stderr);
            return 2;
        }
    }
    if (!model_dir || runs < 1 || runs > 100 || cands < 1 || len < 60 || chunk < 0) {
        bench_usage(stderr);
        return 2;
    }
    double t_load = clock_now_seconds();
    qwen3_model m;
    if (qwen3_model_open(&m, model_dir, yes, no, 1) != STATUS_OK) {
        fprintf(stderr, "bench_qwen3: %s\n", status_message());
        return 1;
    }
    t_load = clock_now_seconds() - t_load;

    // Workload: lengths len - 50 .. len + 49, ids from a fixed LCG.
    size_t n = (size_t)cands;
    size_t *seq_start = malloc(n * sizeof *seq_start), *seq_len = malloc(n * sizeof *seq_len);
    size_t n_tok = 0;
    for (size_t s = 0; s < n; s++) {
        seq_start[s] = n_tok;
        seq_len[s] = (size_t)len - 50 + (n > 1 ? s * 99 / (n - 1) : 50);
        n_tok += seq_len[s];
    }
    int32_t *ids = malloc(n_tok * sizeof *ids);
    uint64_t state = 12345;
    uint64_t vocab = (uint64_t)m.cfg.vocab_size;
    for (size_t t = 0; t < n_tok; t++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        ids[t] = (int32_t)((state >> 33) % vocab);
    }
    qwen3_batch b = {
        .n_seq = n, .n_tok = n_tok, .seq_start = seq_start, .seq_len = seq_len, .ids = ids};
    size_t L = (size_t)m.cfg.n_layers, H = (size_t)m.cfg.hidden_size;
    size_t F2 = 2 * (size_t)m.cfg.intermediate_size;
    float *ls = malloc((L + 1) * n * sizeof *ls);
    double flops = qwen3_forward_flops(&m.cfg, &b);
    // sgemm reference: the gate|up projection of the whole batch.
    size_t M = n_tok;
    float *A = malloc(M * H * sizeof *A), *W = malloc(F2 * H * sizeof *W);
    float *C = malloc(M * F2 * sizeof *C);
    if (!seq_start || !seq_len || !ids || !ls || !A || !W || !C) {
        fprintf(stderr, "bench_qwen3: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < M * H; i++)
        A[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
    for (size_t i = 0; i < F2 * H; i++)
        W[i] = (float)((i * 104729) % 1000) * 1e-3f - 0.5f;
    double sgemm_flops = 2.0 * (double)M * (double)F2 * (double)H;
    printf("model %s: Qwen3, %zu layers, hidden %zu, heads %lld/%lld x %lld, FFN %lld; loaded "
           "(f32, all layers resident) in %.1f s\n",
           model_dir, L, H, (long long)m.cfg.n_heads, (long long)m.cfg.n_kv_heads,
           (long long)m.cfg.head_dim, (long long)m.cfg.intermediate_size, t_load);
    printf("workload: %zu candidates, %zu tokens (%zu..%zu, mean %.0f), chunk %d, %.1f GFLOP per "
           "forward\n",
           n, n_tok, seq_len[0], seq_len[n - 1], (double)n_tok / (double)n, chunk, flops * 1e-9);
    double *times = malloc((size_t)runs * sizeof *times);
    double *sg = malloc((size_t)runs * sizeof *sg);
    for (const char *p = threads; *p;) {
        int t = atoi(p);
        openblas_set_num_threads(t);
        if (qwen3_forward_all_layers(&m, &b, (size_t)chunk, ls) != STATUS_OK) { // warm-up
            fprintf(stderr, "bench_qwen3: %s\n", status_message());
            return 1;
        }
        for (int r = 0; r < runs; r++) {
            double t0 = clock_now_seconds();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)F2, (int)H, 1.0f, A,
                        (int)H, W, (int)H, 0.0f, C, (int)F2);
            double t1 = clock_now_seconds();
            if (qwen3_forward_all_layers(&m, &b, (size_t)chunk, ls) != STATUS_OK) {
                fprintf(stderr, "bench_qwen3: %s\n", status_message());
                return 1;
            }
            double t2 = clock_now_seconds();
            sg[r] = t1 - t0;
            times[r] = t2 - t1;
        }
        double fwd = bench_median(times, runs), gemm = bench_median(sg, runs);
        double gf = flops / fwd * 1e-9, gs = sgemm_flops / gemm * 1e-9;
        printf("threads %d: forward %.2f s per query (%.1f GFLOPS), sgemm %zux%zux%zu %.1f GFLOPS; "
               "forward at %.0f%% of sgemm\n",
               t, fwd, gf, M, F2, H, gs, 100.0 * gf / gs);
        while (*p && *p != ',')
            p++;
        if (*p == ',') p++;
    }
    printf("final scores of the first candidates:");
    for (size_t s = 0; s < n && s < 5; s++)
        printf(" %.4f", (double)ls[L * n + s]);
    printf("\npeak RSS %.1f MiB; allocator peaks (MiB):", (double)mem_peak_rss_bytes() / 1048576.0);
    for (int k = 0; k < MEM_N_CATEGORIES; k++)
        printf(" %s %.1f", mem_category_name((mem_category)k),
               (double)mem_peak_bytes((mem_category)k) / 1048576.0);
    printf(", total %.1f\n", (double)mem_total_peak_bytes() / 1048576.0);
    free(times);
    free(sg);
    free(A);
    free(W);
    free(C);
    free(ls);
    free(ids);
    free(seq_start);
    free(seq_len);
    qwen3_model_free(&m);
    return 0;
}
