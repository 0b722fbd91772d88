/*
 * bench_forward - throughput of the BERT cross-encoder forward (all layers,
 * provisional score of every layer) next to OpenBLAS sgemm measured in the
 * same run, for each OpenBLAS thread count.
 *
 *     build/bench_forward --model ../shared/models/scifact-minibert-demo \
 *         [--inputs tests/golden/bert/inputs_len256.json] [--qid 1] [--runs 7] [--threads 1,2]
 *
 * Workload: one query's candidates from a golden inputs file (default:
 * SciFact test query 1, its first 20 BM25 candidates tokenized by HF
 * tokenizers at max length 256), the same inputs that
 * experiments/torch_forward_bench.py times, so the two are comparable.
 * FLOPs = 2*m*n*k of every matmul on real tokens (bert_forward_flops).
 * The sgemm reference is the forward's largest GEMM shape
 * (n_tok x intermediate x hidden). Reports medians.
 */
#include "model/bert/bert.h"
#include "base/json_file.h"
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

typedef struct {
    size_t n_seq, n_tok;
    size_t *seq_start, *seq_len;
    int32_t *ids, *type_ids;
} bench_inputs;

static int bench_load_inputs(const char *path, const char *qid, bench_inputs *in) {
    cJSON *root;
    if (json_file_parse(path, &root) != STATUS_OK) {
        fprintf(stderr, "bench_forward: %s\n", status_message());
        return 1;
    }
    const cJSON *qs = cJSON_GetObjectItemCaseSensitive(root, "queries"), *q = NULL;
    cJSON_ArrayForEach(q, qs) {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(q, "qid");
        if (cJSON_IsString(id) && strcmp(id->valuestring, qid) == 0) break;
    }
    if (!q) {
        fprintf(stderr, "bench_forward: %s: no query '%s'\n", path, qid);
        cJSON_Delete(root);
        return 1;
    }
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(q, "input_ids");
    const cJSON *types = cJSON_GetObjectItemCaseSensitive(q, "token_type_ids");
    in->n_seq = (size_t)cJSON_GetArraySize(ids);
    in->seq_start = calloc(in->n_seq, sizeof *in->seq_start);
    in->seq_len = calloc(in->n_seq, sizeof *in->seq_len);
    in->n_tok = 0;
    for (size_t s = 0; s < in->n_seq; s++) in->n_tok += (size_t)cJSON_GetArraySize(cJSON_GetArrayItem(ids, (int)s));
    in->ids = malloc(in->n_tok * sizeof *in->ids);
    in->type_ids = malloc(in->n_tok * sizeof *in->type_ids);
    size_t t = 0;
    for (size_t s = 0; s < in->n_seq; s++) {
        const cJSON *row = cJSON_GetArrayItem(ids, (int)s), *trow = cJSON_GetArrayItem(types, (int)s);
        in->seq_start[s] = t;
        in->seq_len[s] = (size_t)cJSON_GetArraySize(row);
        for (size_t k = 0; k < in->seq_len[s]; k++, t++) {
            in->ids[t] = cJSON_GetArrayItem(row, (int)k)->valueint;
            in->type_ids[t] = cJSON_GetArrayItem(trow, (int)k)->valueint;
        }
    }
    cJSON_Delete(root);
    return 0;
}

int main(int argc, char **argv) {
    const char *model_dir = "../shared/models/scifact-minibert-demo";
    const char *inputs = "tests/golden/bert/inputs_len256.json", *qid = "1", *threads = "1,2";
    int runs = 7;
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"inputs", required_argument, 0, 'i'},
                                         {"qid", required_argument, 0, 'q'},
                                         {"runs", required_argument, 0, 'r'},
                                         {"threads", required_argument, 0, 't'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_dir = optarg; break;
        case 'i': inputs = optarg; break;
        case 'q': qid = optarg; break;
        case 'r': runs = atoi(optarg); break;
        case 't': threads = optarg; break;
        default: fprintf(stderr, "usage: bench_forward [--model DIR] [--inputs FILE] [--qid Q] [--runs N] [--threads 1,2]\n"); return 2;
        }
    }
    if (runs < 1 || runs > 100) runs = 7;
    bert_model m;
    if (bert_model_load(&m, model_dir) != STATUS_OK) {
        fprintf(stderr, "bench_forward: %s\n", status_message());
        return 1;
    }
    bench_inputs in;
    if (bench_load_inputs(inputs, qid, &in) != 0) return 1;
    bert_batch b = {.n_seq = in.n_seq, .n_tok = in.n_tok, .seq_start = in.seq_start,
                    .seq_len = in.seq_len, .ids = in.ids, .type_ids = in.type_ids};
    size_t L = (size_t)m.cfg.n_layers, H = (size_t)m.cfg.hidden_size, F = (size_t)m.cfg.intermediate_size;
    float *ls = malloc((L + 1) * b.n_seq * sizeof *ls);
    double flops = bert_forward_flops(&m.cfg, &b);
    size_t M = b.n_tok;
    float *A = malloc(M * H * sizeof *A), *W = malloc(F * H * sizeof *W), *C = malloc(M * F * sizeof *C);
    for (size_t i = 0; i < M * H; i++) A[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
    for (size_t i = 0; i < F * H; i++) W[i] = (float)((i * 104729) % 1000) * 1e-3f - 0.5f;
    double sgemm_flops = 2.0 * (double)M * (double)F * (double)H;
    printf("model %s: %zu layers, hidden %zu; workload %zu candidates, %zu tokens (mean %.0f), %.2f GFLOP per forward\n",
           model_dir, L, H, b.n_seq, b.n_tok, (double)b.n_tok / (double)b.n_seq, flops * 1e-9);
    double *times = malloc((size_t)runs * sizeof *times);
    for (const char *p = threads; *p;) {
        int t = atoi(p);
        openblas_set_num_threads(t);
        // Interleave: warm-up, then alternate sgemm and forward runs so that
        // machine noise hits both alike.
        bert_forward_all_layers(&m, &b, 0, ls);
        double *sg = malloc((size_t)runs * sizeof *sg);
        for (int r = 0; r < runs; r++) {
            double t0 = clock_now_seconds();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)F, (int)H, 1.0f, A,
                        (int)H, W, (int)H, 0.0f, C, (int)F);
            double t1 = clock_now_seconds();
            if (bert_forward_all_layers(&m, &b, 0, ls) != STATUS_OK) {
                fprintf(stderr, "bench_forward: %s\n", status_message());
                return 1;
            }
            double t2 = clock_now_seconds();
            sg[r] = t1 - t0;
            times[r] = t2 - t1;
        }
        double fwd = bench_median(times, runs), gemm = bench_median(sg, runs);
        double fwd_gflops = flops / fwd * 1e-9, gemm_gflops = sgemm_flops / gemm * 1e-9;
        printf("openblas_threads=%d forward_ms=%.1f forward_gflops=%.1f sgemm_gflops=%.1f "
               "(%zux%zux%zu) ratio=%.2f\n",
               t, fwd * 1e3, fwd_gflops, gemm_gflops, M, F, H, fwd_gflops / gemm_gflops);
        free(sg);
        while (*p && *p != ',') p++;
        if (*p == ',') p++;
    }
    free(times);
    free(A), free(W), free(C), free(ls);
    free(in.seq_start), free(in.seq_len), free(in.ids), free(in.type_ids);
    bert_model_free(&m);
    return 0;
}
