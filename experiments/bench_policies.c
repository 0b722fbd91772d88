/*
 * bench_policies - live pruned forwards vs the full forward on real data, in
 * one process: for every query, the full forward (`none`) and each policy
 * configuration run on the same pre-tokenized batch, interleaved so machine
 * noise hits all alike. Reports per configuration: Precision@K against the
 * full run's top-K, fraction of candidate-layers computed, and total wall
 * time of the pruned runs vs the full runs (tokenization excluded).
 *
 *     build/bench_policies --model ../shared/models/scifact-minibert-demo \
 *         --dataset ../shared/data/scifact --run ../shared/data/scifact/bm25/test.bm25.top100.trec \
 *         [--configs experiments/bench-policies.json] [--top-n 20] [--k 10] [--max-len 192] [--limit M]
 *
 * The configurations file is a JSON array of {"policy": NAME, "params": {...}}.
 */
#include "beir.h"
#include "engine/engine.h"
#include "base/json_file.h"
#include "analysis/metrics.h"
#include "trec.h"
#include "base/clock.h"

#include <cblas.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    size_t n, n_tok;
    size_t *start, *len;
    int32_t *ids, *types;
} bp_query;

static int bp_fail(const char *what) {
    fprintf(stderr, "bench_policies: %s: %s\n", what, status_message());
    return 1;
}

// The summary after `done` queries (printed every 50 queries too, so a long
// run that is stopped still leaves figures).
static void bp_print_table(const char *model_dir, const char *run_path, size_t done, long top_n, long k,
                           long max_len, char **labels, size_t n_pol, const double *precision,
                           const double *fraction, const double *seconds) {
    printf("model %s, %zu queries (%s), N = %ld BM25 candidates, K = %ld, max_len %ld, 1 OpenBLAS thread\n\n",
           model_dir, done, run_path, top_n, k, max_len);
    printf("| policy and parameters | P@%ld vs full | candidate-layers | wall s | full wall s (same run) | speedup |\n",
           k);
    printf("|---|---|---|---|---|---|\n");
    for (size_t p = 0; p < n_pol; p++)
        printf("| %s | %.4f | %.3f | %.2f | %.2f | %.2fx |\n", labels[p], precision[p] / (double)done,
               fraction[p] / (double)done, seconds[p], seconds[0], seconds[0] / seconds[p]);
    printf("\n");
    fflush(stdout);
}

int main(int argc, char **argv) {
    const char *model_dir = "../shared/models/scifact-minibert-demo", *dataset = "../shared/data/scifact";
    const char *run_path = "../shared/data/scifact/bm25/test.bm25.top100.trec";
    const char *configs_path = "experiments/bench-policies.json";
    long top_n = 20, k = 10, max_len = 192, limit = 0;
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'}, {"dataset", required_argument, 0, 'd'},
        {"run", required_argument, 0, 'r'},   {"configs", required_argument, 0, 'c'},
        {"top-n", required_argument, 0, 'n'}, {"k", required_argument, 0, 'k'},
        {"max-len", required_argument, 0, 'l'}, {"limit", required_argument, 0, 'L'},
        {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_dir = optarg; break;
        case 'd': dataset = optarg; break;
        case 'r': run_path = optarg; break;
        case 'c': configs_path = optarg; break;
        case 'n': top_n = atol(optarg); break;
        case 'k': k = atol(optarg); break;
        case 'l': max_len = atol(optarg); break;
        case 'L': limit = atol(optarg); break;
        default: fprintf(stderr, "bench_policies: see the comment at the top of experiments/bench_policies.c\n"); return 2;
        }
    }
    openblas_set_num_threads(1);
    reranker m;
    beir_dataset ds;
    trec_run run;
    cJSON *cfg_root;
    if (reranker_open(&m, model_dir, NULL)) return bp_fail(model_dir);
    if (beir_open(&ds, dataset, NULL, 0)) return bp_fail(dataset);
    if (trec_run_read(&run, run_path) || trec_run_resolve(&run, &ds)) return bp_fail(run_path);
    if (json_file_parse(configs_path, &cfg_root)) return bp_fail(configs_path);
    size_t n_cfg = (size_t)cJSON_GetArraySize(cfg_root);
    policy **pols = calloc(n_cfg + 1, sizeof *pols);
    char **labels = calloc(n_cfg + 1, sizeof *labels);
    if (policy_create("none", NULL, &pols[0])) return bp_fail("none");
    labels[0] = strdup("none {}");
    for (size_t i = 0; i < n_cfg; i++) {
        const cJSON *item = cJSON_GetArrayItem(cfg_root, (int)i);
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(item, "policy");
        const cJSON *params = cJSON_GetObjectItemCaseSensitive(item, "params");
        if (!cJSON_IsString(name)) {
            fprintf(stderr, "bench_policies: %s: entry %zu has no \"policy\"\n", configs_path, i);
            return 1;
        }
        if (policy_create(name->valuestring, params, &pols[i + 1])) return bp_fail(configs_path);
        char *pt = params ? cJSON_PrintUnformatted(params) : strdup("{}");
        labels[i + 1] = malloc(strlen(name->valuestring) + strlen(pt) + 2);
        sprintf(labels[i + 1], "%s %s", name->valuestring, pt);
        free(pt);
    }
    size_t nq = run.n_queries;
    if (limit > 0 && (size_t)limit < nq) nq = (size_t)limit;
    size_t L = (size_t)m.cfg.n_layers, n_pol = n_cfg + 1;
    double *seconds = calloc(n_pol, sizeof *seconds), *precision = calloc(n_pol, sizeof *precision);
    double *fraction = calloc(n_pol, sizeof *fraction);
    size_t *full_top = malloc((size_t)k * sizeof *full_top);
    tokenizer_encoding enc = {0};
    fprintf(stderr, "bench_policies: %zu queries x %zu configurations (+ full), N = %ld, K = %ld, max_len %ld\n",
            nq, n_cfg, top_n, k, max_len);
    for (size_t qi = 0; qi < nq; qi++) {
        const trec_query *rq = &run.queries[qi];
        size_t n = rq->n < (size_t)top_n ? rq->n : (size_t)top_n, qidx;
        beir_query_find(&ds, rq->qid, &qidx);
        const char *qt = ds.query_texts[qidx];
        bp_query q = {.n = n};
        q.start = malloc(n * sizeof *q.start);
        q.len = malloc(n * sizeof *q.len);
        q.ids = malloc(n * (size_t)max_len * sizeof *q.ids);
        q.types = malloc(n * (size_t)max_len * sizeof *q.types);
        for (size_t i = 0; i < n; i++) {
            char *text;
            if (beir_doc_fetch(&ds, rq->cands[i].doc_id, &text)) return bp_fail(rq->cands[i].doc_id);
            if (reranker_encode_pair(&m, qt, text, (size_t)max_len, &enc))
                return bp_fail(rq->qid);
            free(text);
            q.start[i] = q.n_tok;
            q.len[i] = enc.len;
            memcpy(q.ids + q.n_tok, enc.ids, enc.len * sizeof *q.ids);
            memcpy(q.types + q.n_tok, enc.type_ids, enc.len * sizeof *q.types);
            q.n_tok += enc.len;
        }
        bert_batch b = {.n_seq = n, .n_tok = q.n_tok, .seq_start = q.start, .seq_len = q.len, .ids = q.ids,
                        .type_ids = q.types};
        engine_result r;
        if (engine_result_init(&r, n, L)) return bp_fail("result");
        engine_options opt = {.k = (size_t)k < n ? (size_t)k : n};
        for (size_t p = 0; p < n_pol; p++) {
            double t0 = clock_now_seconds();
            if (engine_run(&m, &b, pols[p], &opt, &r)) return bp_fail(labels[p]);
            seconds[p] += clock_now_seconds() - t0;
            if (p == 0) memcpy(full_top, r.order, opt.k * sizeof *full_top);
            precision[p] += metric_precision_vs_full(r.order, opt.k, full_top, opt.k);
            fraction[p] += (double)r.candidate_layers / (double)r.candidate_layers_full;
        }
        engine_result_free(&r);
        free(q.start), free(q.len), free(q.ids), free(q.types);
        fprintf(stderr, "\rbench_policies: %zu/%zu queries", qi + 1, nq);
        if ((qi + 1) % 50 == 0 && qi + 1 < nq)
            bp_print_table(model_dir, run_path, qi + 1, top_n, k, max_len, labels, n_pol, precision, fraction,
                           seconds);
    }
    fprintf(stderr, "\n");
    bp_print_table(model_dir, run_path, nq, top_n, k, max_len, labels, n_pol, precision, fraction, seconds);
    for (size_t p = 0; p < n_pol; p++) {
        policy_free(pols[p]);
        free(labels[p]);
    }
    free(pols), free(labels), free(seconds), free(precision), free(fraction), free(full_top);
    tokenizer_encoding_free(&enc);
    cJSON_Delete(cfg_root);
    trec_run_free(&run);
    beir_close(&ds);
    reranker_close(&m);
    return 0;
}
