// The sweep's cost model is the trace's architecture's (issue 11): the FLOPs
// column of a Qwen3 trace equals the FLOPs the Qwen3 forward executes
// (counted by ops_linear / ops_sgemm), not BERT's formula; a trace without
// the config attribute says its costs are approximate.
#include "testutil.h"

#include "analysis/sweep.h"
#include "analysis/trace.h"
#include "engine/reranker.h"
#include "model/ops.h"
#include "model/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *tmp;
    char model[4300], trace[4300], sweep_dir[4300], grid[4300];
} cost_fixture;

// A generated Qwen3-tiny checkpoint with the real Qwen3 tokenizer, traced on
// 3 SciFact queries x 6 BM25 candidates, swept with the `none` policy.
static int cost_setup(void **state) {
    cost_fixture *f = calloc(1, sizeof *f);
    *state = f;
    const char *tok = testutil_shared_path("models/qwen3-reranker-tokenizer");
    const char *data = testutil_shared_path("data/scifact");
    if (!tok || !data) return 0; // tests skip
    f->tmp = testutil_tmpdir();
    snprintf(f->model, sizeof f->model, "%.4000s/model", f->tmp);
    snprintf(f->trace, sizeof f->trace, "%.4000s/t.h5", f->tmp);
    snprintf(f->sweep_dir, sizeof f->sweep_dir, "%.4000s/sweep", f->tmp);
    snprintf(f->grid, sizeof f->grid, "%.4000s/grid.json", f->tmp);
    synth_options o;
    synth_options_default(&o);
    o.config_path = testutil_source_path("tests/data/qwen3-tiny/config.json");
    o.out_dir = f->model;
    o.seed = 3;
    if (synth_write(&o, NULL) != STATUS_OK) {
        fprintf(stderr, "synth: %s\n", status_message());
        return -1;
    }
    char cmd[9000];
    snprintf(cmd, sizeof cmd,
             "cp '%s/vocab.json' '%s/merges.txt' '%s/tokenizer_config.json' '%s/tokenizer.json' "
             "'%s/'",
             tok, tok, tok, tok, f->model);
    if (system(cmd) != 0) return -1;
    const char *g = "{\"name\": \"cost\", \"k\": [3], \"configs\": [{\"policy\": \"none\"}]}";
    testutil_write_file(f->grid, g, strlen(g));
    char run[4300];
    snprintf(run, sizeof run, "%.4000s/bm25/test.bm25.top100.trec", data);
    const char *trace_args[] = {"trace",  "--model",   f->model, "--dataset", data, "--run",
                                run,      "--top-n",   "6",      "--limit",   "3",  "--out",
                                f->trace, "--max-len", "400",    NULL};
    char *out = NULL, *err = NULL;
    int rc = testutil_run_grating(trace_args, &out, &err);
    if (rc != 0) fprintf(stderr, "trace: %s\n", err ? err : "");
    free(out);
    free(err);
    if (rc != 0) return -1;
    const char *sweep_args[] = {"sweep", "--trace", f->trace,     "--grid",
                                f->grid, "--out",   f->sweep_dir, NULL};
    rc = testutil_run_grating(sweep_args, &out, &err);
    if (rc != 0) fprintf(stderr, "sweep: %s\n", err ? err : "");
    free(out);
    free(err);
    return rc == 0 ? 0 : -1;
}

static int cost_teardown(void **state) {
    cost_fixture *f = *state;
    if (f->tmp) testutil_rmtree(f->tmp);
    free(f->tmp);
    free(f);
    return 0;
}

// The FLOPs the model's layers execute over sequences of these lengths
// (ids do not change a dense forward's cost).
static double cost_executed_layer_flops(const reranker *m, const int32_t *tokens, size_t n) {
    size_t n_tok = 0, max_len = 0;
    size_t *start = calloc(n, sizeof *start), *len = calloc(n, sizeof *len);
    assert_non_null(start);
    assert_non_null(len);
    for (size_t i = 0; i < n; i++) {
        start[i] = n_tok;
        len[i] = (size_t)tokens[i];
        n_tok += len[i];
        max_len = len[i] > max_len ? len[i] : max_len;
    }
    int32_t *ids = calloc(n_tok, sizeof *ids);
    float *h = calloc(n_tok * (size_t)m->cfg.hidden_size, sizeof *h);
    assert_non_null(ids);
    assert_non_null(h);
    reranker_batch b = {.n_seq = n, .n_tok = n_tok, .seq_start = start, .seq_len = len, .ids = ids};
    reranker_workspace ws;
    assert_int_equal(reranker_workspace_init(m, &ws, n_tok, max_len, n), STATUS_OK);
    assert_int_equal(reranker_embed(m, &b, h, &ws), STATUS_OK);
    ops_flops_reset();
    for (size_t l = 0; l < (size_t)m->cfg.n_layers; l++)
        assert_int_equal(reranker_layer_forward(m, l, &b, h, &ws), STATUS_OK);
    double flops = ops_flops_executed();
    reranker_workspace_free(&ws);
    free(ids);
    free(h);
    free(start);
    free(len);
    return flops;
}

static void test_qwen3_sweep_flops_are_the_forwards(void **state) {
    cost_fixture *f = *state;
    if (!f->tmp) skip();
    trace t;
    assert_int_equal(trace_read(&t, f->trace), STATUS_OK);
    assert_non_null(t.meta.config); // the trace carries config.json
    char path[4400];
    snprintf(path, sizeof path, "%.4300s/sweep.h5", f->sweep_dir);
    sweep_grid g;
    sweep_results r;
    trace_meta sm;
    assert_int_equal(sweep_read(&g, &r, &sm, path), STATUS_OK);
    assert_non_null(strstr(r.cost_model, "from the trace's config.json"));
    reranker m;
    assert_int_equal(reranker_open(&m, f->model, NULL), STATUS_OK);
    size_t L = (size_t)m.cfg.n_layers;
    double H = (double)m.cfg.hidden_size, F = (double)m.cfg.intermediate_size;
    size_t ci = 0; // the `none` configuration (first-stage rows come after the grid's)
    assert_string_equal(g.configs[ci].policy, "none");
    assert_int_equal(r.n_queries, t.n_queries);
    for (size_t qi = 0; qi < r.n_queries; qi++) {
        const trace_query *q = &t.queries[r.query_index[qi]];
        double executed = cost_executed_layer_flops(&m, q->tokens, q->n);
        double swept = *sweep_value(&r, SWEEP_FLOPS_FULL, ci, qi);
        double pruned = *sweep_value(&r, SWEEP_FLOPS, ci, qi);
        // BERT's formula (4 H^2 + 2 H F per token, full attention) on the
        // same lengths: what the sweep used for every trace before.
        double bert = 0.0;
        for (size_t i = 0; i < q->n; i++) {
            double T = (double)q->tokens[i];
            bert += 2.0 * T * (4.0 * H * H + 2.0 * H * F) + 4.0 * T * T * H;
        }
        bert *= (double)L;
        printf("query %s: executed %.6g FLOPs, sweep %.6g (pruned %.6g), BERT formula %.6g\n",
               q->qid, executed, swept, pruned, bert);
        assert_true(fabs(swept - executed) <= 1e-12 * executed);
        assert_true(fabs(pruned - executed) <= 1e-12 * executed); // `none` computes everything
        assert_true(fabs(bert - executed) > 0.05 * executed);
    }
    reranker_close(&m);
    sweep_grid_free(&g);
    sweep_results_free(&r);
    trace_meta_free(&sm);
    trace_free(&t);
}

// A trace without the config attribute (made before issue 11) is costed from
// its stored sizes, and the sweep says so.
static void test_trace_without_config_is_labelled(void **state) {
    cost_fixture *f = *state;
    if (!f->tmp) skip();
    trace t;
    assert_int_equal(trace_read(&t, f->trace), STATUS_OK);
    free(t.meta.config);
    t.meta.config = NULL;
    sweep_grid g;
    char path[4400];
    snprintf(path, sizeof path, "%.4300s/sweep.h5", f->sweep_dir);
    sweep_results old, r;
    trace_meta sm;
    assert_int_equal(sweep_read(&g, &old, &sm, path), STATUS_OK);
    assert_int_equal(sweep_run(&g, &t, NULL, 0, 1, NULL, &r), STATUS_OK);
    printf("cost model: %s\n", r.cost_model);
    assert_non_null(strstr(r.cost_model, "from the trace's sizes"));
    sweep_results_free(&r);
    sweep_results_free(&old);
    sweep_grid_free(&g);
    trace_meta_free(&sm);
    trace_free(&t);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_qwen3_sweep_flops_are_the_forwards),
        cmocka_unit_test(test_trace_without_config_is_labelled),
    };
    return cmocka_run_group_tests(tests, cost_setup, cost_teardown);
}
