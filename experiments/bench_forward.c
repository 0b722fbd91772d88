/*
 * bench_forward - throughput and memory of the full forward of any registered
 * reranker (all layers resident, provisional score of every layer:
 * engine_forward_all_layers) next to OpenBLAS sgemm measured in the same run,
 * for each OpenBLAS thread count.
 *
 *     build/bench_forward --model DIR [--inputs FILE [--qid Q] | --cands 20 --len 500]
 *         [--runs 7] [--threads 1,2] [--chunk 0]
 *
 * Workloads:
 *   --inputs FILE  pre-tokenized ids, the golden format
 *                  ({"queries": [{"qid", "input_ids", "token_type_ids"?}]}):
 *                  query --qid's candidates. Ids must come from the model's
 *                  own tokenizer. Makefile.bench's `forward` target passes
 *                  the demo model's golden file (SciFact test query 1, its
 *                  first 20 BM25 candidates tokenized by HF tokenizers at max
 *                  length 256), the inputs experiments/torch_forward_bench.py
 *                  times, so the two are comparable.
 *   default        --cands candidates of about --len tokens (lengths
 *                  len - d .. len + d - 1, d = min(50, len / 2), spread evenly,
 *                  capped at the model's max_position_embeddings), generated
 *                  ids from a fixed LCG: they do not change the cost of a dense
 *                  forward. (The paper's microbenchmark shape: --cands 20
 *                  --len 500 on a generated checkpoint of its 0.6B model, e.g.
 *                  grating synth --config ../shared/models/qwen3-reranker-tokenizer/config.json
 *                  --dtype bf16 --out /tmp/big.)
 * FLOPs = reranker_forward_flops (2*m*n*k of every matmul as the family
 * executes it on real tokens). The sgemm reference is the forward's largest
 * GEMM shape, n_tok x out x in, where out x in is the widest run of weight
 * matrices the layer slot keeps contiguous with one input width (the
 * families run such a run as one GEMM: a plain FFN's up projection, a gated
 * FFN's gate|up); timed interleaved with the forward so machine noise hits
 * both alike. Reports medians, seconds per query (one forward of the
 * batch), peak RSS and the allocator's per-category peaks.
 */
#include "base/json_file.h"
#include "base/mem.h"
#include "bench_common.h"
#include "engine/engine.h"

#include <cblas.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    size_t n_seq, n_tok;
    size_t *seq_start, *seq_len;
    int32_t *ids, *type_ids; // type_ids NULL: none in the input
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
    if (!cJSON_IsArray(ids) || cJSON_GetArraySize(ids) < 1) {
        fprintf(stderr, "bench_forward: %s: query '%s' has no input_ids\n", path, qid);
        cJSON_Delete(root);
        return 1;
    }
    in->n_seq = (size_t)cJSON_GetArraySize(ids);
    in->seq_start = calloc(in->n_seq, sizeof *in->seq_start);
    in->seq_len = calloc(in->n_seq, sizeof *in->seq_len);
    in->n_tok = 0;
    for (size_t s = 0; s < in->n_seq; s++)
        in->n_tok += (size_t)cJSON_GetArraySize(cJSON_GetArrayItem(ids, (int)s));
    in->ids = malloc(in->n_tok * sizeof *in->ids);
    in->type_ids = cJSON_IsArray(types) ? malloc(in->n_tok * sizeof *in->type_ids) : NULL;
    size_t t = 0;
    for (size_t s = 0; s < in->n_seq; s++) {
        const cJSON *row = cJSON_GetArrayItem(ids, (int)s);
        const cJSON *trow = in->type_ids ? cJSON_GetArrayItem(types, (int)s) : NULL;
        in->seq_start[s] = t;
        in->seq_len[s] = (size_t)cJSON_GetArraySize(row);
        for (size_t k = 0; k < in->seq_len[s]; k++, t++) {
            in->ids[t] = cJSON_GetArrayItem(row, (int)k)->valueint;
            if (in->type_ids) {
                const cJSON *v = trow ? cJSON_GetArrayItem(trow, (int)k) : NULL;
                in->type_ids[t] = v ? v->valueint : 0;
            }
        }
    }
    cJSON_Delete(root);
    return 0;
}

// n candidates of about len tokens (see the top comment), ids uniform over
// the vocabulary from a fixed LCG.
static int bench_generate_inputs(const model_config *cfg, size_t n, size_t len, bench_inputs *in) {
    size_t d = len / 2 < 50 ? len / 2 : 50;
    size_t cap = (size_t)cfg->max_position_embeddings;
    in->n_seq = n;
    in->seq_start = malloc(n * sizeof *in->seq_start);
    in->seq_len = malloc(n * sizeof *in->seq_len);
    in->type_ids = NULL;
    if (!in->seq_start || !in->seq_len) return 1;
    in->n_tok = 0;
    for (size_t s = 0; s < n; s++) {
        size_t l = len - d + (n > 1 && d > 0 ? s * (2 * d - 1) / (n - 1) : d);
        if (l > cap) l = cap;
        if (l < 1) l = 1;
        in->seq_start[s] = in->n_tok;
        in->seq_len[s] = l;
        in->n_tok += l;
    }
    in->ids = malloc(in->n_tok * sizeof *in->ids);
    if (!in->ids) return 1;
    uint64_t state = 12345, vocab = (uint64_t)cfg->vocab_size;
    for (size_t t = 0; t < in->n_tok; t++) {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        in->ids[t] = (int32_t)((state >> 33) % vocab);
    }
    return 0;
}

static void bench_usage(FILE *out) {
    fprintf(out, "usage: bench_forward --model DIR [--inputs FILE [--qid Q] | --cands N --len T]\n"
                 "                     [--runs R] [--threads 1,2] [--chunk C]\n");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0); // progress lines appear while a long run goes on
    const char *model_dir = NULL, *inputs = NULL, *qid = "1", *threads = "1,2";
    int runs = 7, cands = 20, len = 500, chunk = 0;
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},   {"inputs", required_argument, 0, 'i'},
        {"qid", required_argument, 0, 'q'},     {"cands", required_argument, 0, 'n'},
        {"len", required_argument, 0, 'l'},     {"runs", required_argument, 0, 'r'},
        {"threads", required_argument, 0, 't'}, {"chunk", required_argument, 0, 'c'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_dir = optarg; break;
        case 'i': inputs = optarg; break;
        case 'q': qid = optarg; break;
        case 'n': cands = atoi(optarg); break;
        case 'l': len = atoi(optarg); break;
        case 'r': runs = atoi(optarg); break;
        case 't': threads = optarg; break;
        case 'c': chunk = atoi(optarg); break;
        case 'h': bench_usage(stdout); return 0;
        default: bench_usage(stderr); return 2;
        }
    }
    if (!model_dir || runs < 1 || runs > 100 || cands < 1 || len < 2 || chunk < 0) {
        bench_usage(stderr);
        return 2;
    }
    bench_print_kernels(stdout);
    double t_load = clock_now_seconds();
    reranker m;
    if (reranker_open(&m, model_dir, NULL) != STATUS_OK) {
        fprintf(stderr, "bench_forward: %s\n", status_message());
        return 1;
    }
    t_load = clock_now_seconds() - t_load;
    bench_inputs in = {0};
    if (inputs ? bench_load_inputs(inputs, qid, &in)
               : bench_generate_inputs(&m.cfg, (size_t)cands, (size_t)len, &in)) {
        if (!inputs) fprintf(stderr, "bench_forward: out of memory\n");
        return 1;
    }
    reranker_batch b = {.n_seq = in.n_seq, .n_tok = in.n_tok, .seq_start = in.seq_start,
                        .seq_len = in.seq_len, .ids = in.ids, .type_ids = in.type_ids};
    if (reranker_batch_validate(&m, &b) != STATUS_OK) {
        fprintf(stderr, "bench_forward: %s: %s\n", inputs ? inputs : "workload", status_message());
        return 1;
    }
    size_t L = (size_t)m.cfg.n_layers, H = (size_t)m.cfg.hidden_size, n = b.n_seq;
    size_t min_len = (size_t)-1, max_len = 0;
    for (size_t s = 0; s < n; s++) {
        min_len = b.seq_len[s] < min_len ? b.seq_len[s] : min_len;
        max_len = b.seq_len[s] > max_len ? b.seq_len[s] : max_len;
    }
    float *ls = malloc((L + 1) * n * sizeof *ls);
    double flops = reranker_forward_flops(&m, &b);
    // sgemm reference: the widest GEMM over the whole batch.
    size_t M = b.n_tok, N, K;
    bench_widest_gemm(&m.cfg, &N, &K);
    float *A = malloc(M * K * sizeof *A), *W = malloc(N * K * sizeof *W);
    float *C = malloc(M * N * sizeof *C);
    if (!ls || !A || !W || !C) {
        fprintf(stderr, "bench_forward: out of memory\n");
        return 1;
    }
    for (size_t i = 0; i < M * K; i++)
        A[i] = (float)((i * 7919) % 1000) * 1e-3f - 0.5f;
    for (size_t i = 0; i < N * K; i++)
        W[i] = (float)((i * 104729) % 1000) * 1e-3f - 0.5f;
    double sgemm_flops = 2.0 * (double)M * (double)N * (double)K;
    printf("model %s: %s (%s), %zu layers, hidden %zu, heads %lld/%lld x %lld, FFN %lld; loaded "
           "(f32, all layers resident) in %.1f s\n",
           model_dir, m.cfg.arch_name, m.cfg.arch->name, L, H, (long long)m.cfg.n_heads,
           (long long)m.cfg.n_kv_heads, (long long)m.cfg.head_dim,
           (long long)m.cfg.intermediate_size, t_load);
    printf("workload %zu candidates, %zu tokens (%zu..%zu, mean %.0f), %s, chunk %d, %.2f GFLOP "
           "per forward\n",
           n, b.n_tok, min_len, max_len, (double)b.n_tok / (double)n,
           inputs ? inputs : "generated ids", chunk, flops * 1e-9);
    double *times = malloc((size_t)runs * sizeof *times);
    double *sg = malloc((size_t)runs * sizeof *sg);
    for (const char *p = threads; *p;) {
        int t = atoi(p);
        openblas_set_num_threads(t);
        // Interleave: warm-up, then alternate sgemm and forward runs so that
        // machine noise hits both alike.
        if (engine_forward_all_layers(&m, &b, (size_t)chunk, ls) != STATUS_OK) {
            fprintf(stderr, "bench_forward: %s\n", status_message());
            return 1;
        }
        for (int r = 0; r < runs; r++) {
            double t0 = clock_now_seconds();
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)M, (int)N, (int)K, 1.0f, A,
                        (int)K, W, (int)K, 0.0f, C, (int)N);
            double t1 = clock_now_seconds();
            if (engine_forward_all_layers(&m, &b, (size_t)chunk, ls) != STATUS_OK) {
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
               t, fwd * 1e3, fwd_gflops, gemm_gflops, M, N, K, fwd_gflops / gemm_gflops);
        while (*p && *p != ',')
            p++;
        if (*p == ',') p++;
    }
    printf("final scores (%s) of the first candidates:", m.cfg.arch->score_kind);
    for (size_t s = 0; s < n && s < 5; s++)
        printf(" %.4f", (double)ls[L * n + s]);
    printf("\npeak RSS %.1f MiB; allocator peaks (MiB):", (double)mem_peak_rss_bytes() / 1048576.0);
    for (int k = 0; k < MEM_N_CATEGORIES; k++)
        printf(" %s %.1f", mem_category_name((mem_category)k),
               (double)mem_peak_bytes((mem_category)k) / 1048576.0);
    printf(", total %.1f\n", (double)mem_total_peak_bytes() / 1048576.0);
    free(times), free(sg);
    free(A), free(W), free(C), free(ls);
    free(in.seq_start), free(in.seq_len), free(in.ids), free(in.type_ids);
    reranker_close(&m);
    return 0;
}
