// Qwen3-Reranker through the CLI, end to end: a generated checkpoint of a
// reduced Qwen3 config with the real Qwen3 tokenizer files; `grating score`
// on SciFact text (tokenizer + official prompt + forward) reproduces the
// independent PyTorch golden scores; rerank and trace accept the same folder
// unchanged; --instruction changes the prompt.
#include "testutil.h"

#include "base/json_file.h"
#include "model/synth.h"
#include "analysis/trace.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *tmp;
    char model[4300];
} qwen_fixture;

static int qwen_setup(void **state) {
    qwen_fixture *f = calloc(1, sizeof *f);
    *state = f;
    const char *tok = testutil_shared_path("models/qwen3-reranker-tokenizer/tokenizer.json");
    if (!tok) return 0; // tests skip
    f->tmp = testutil_tmpdir();
    snprintf(f->model, sizeof f->model, "%.4000s/model", f->tmp);
    synth_options o;
    synth_options_default(&o);
    o.config_path = testutil_source_path("tests/data/qwen3-tiny/config.json");
    o.out_dir = f->model;
    o.seed = 5;
    o.dtype = SAFETENSORS_BF16;
    if (synth_write(&o, NULL) != STATUS_OK) {
        fprintf(stderr, "synth: %s\n", status_message());
        return -1;
    }
    char cmd[9000];
    const char *dir = testutil_shared_path("models/qwen3-reranker-tokenizer");
    snprintf(cmd, sizeof cmd,
             "cp '%s/vocab.json' '%s/merges.txt' '%s/tokenizer_config.json' '%s/tokenizer.json' '%s/'",
             dir, dir, dir, dir, f->model);
    return system(cmd) == 0 ? 0 : -1;
}

static int qwen_teardown(void **state) {
    qwen_fixture *f = *state;
    if (f->tmp) testutil_rmtree(f->tmp);
    free(f->tmp);
    free(f);
    return 0;
}

static void test_score_cli_equals_torch_golden(void **state) {
    qwen_fixture *f = *state;
    if (!f->tmp) skip();
    const char *queries = testutil_shared_path("data/scifact/queries.jsonl");
    const char *corpus = testutil_shared_path("data/scifact/corpus.jsonl");
    if (!queries || !corpus) skip();
    cJSON *golden;
    if (json_file_parse(testutil_source_path("tests/golden/qwen3/qwen3-tiny-seed5-bf16.json"), &golden))
        fail_msg("%s", status_message());
    const cJSON *gq = cJSON_GetObjectItemCaseSensitive(golden, "queries");
    double worst = 0.0;
    size_t compared = 0;
    for (int qi = 0; qi < 3; qi++) {
        const cJSON *q = cJSON_GetArrayItem(gq, qi);
        const cJSON *docs = cJSON_GetObjectItemCaseSensitive(q, "doc_ids");
        char ids[4096] = "";
        for (int d = 0; d < cJSON_GetArraySize(docs); d++) {
            if (d) strcat(ids, ",");
            strcat(ids, cJSON_GetArrayItem(docs, d)->valuestring);
        }
        const char *args[] = {"score", "--model", f->model, "--queries", queries, "--qid",
                              cJSON_GetObjectItemCaseSensitive(q, "qid")->valuestring, "--docs", corpus,
                              "--doc-ids", ids, "--max-len", "8192", "--per-layer", "--json", NULL};
        char *out, *err;
        int rc = testutil_run_grating(args, &out, &err);
        if (rc != 0) fail_msg("score exited %d: %s", rc, err);
        cJSON *root;
        assert_int_equal(json_parse_text("stdout", out, strlen(out), &root), STATUS_OK);
        const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layer_scores");
        const cJSON *glayers = cJSON_GetObjectItemCaseSensitive(q, "layer_scores");
        assert_int_equal(cJSON_GetArraySize(layers), cJSON_GetArraySize(glayers));
        for (int l = 0; l < cJSON_GetArraySize(glayers); l++)
            for (int d = 0; d < cJSON_GetArraySize(docs); d++) {
                double a = cJSON_GetArrayItem(cJSON_GetArrayItem(layers, l), d)->valuedouble;
                double b = cJSON_GetArrayItem(cJSON_GetArrayItem(glayers, l), d)->valuedouble;
                worst = fmax(worst, fabs(a - b));
                compared++;
            }
        cJSON_Delete(root);
        free(out);
        free(err);
    }
    printf("grating score (text -> prompt -> Qwen3 forward) vs torch golden: %zu scores, max diff %.3g\n",
           compared, worst);
    assert_true(worst <= 1e-4);
    cJSON_Delete(golden);
}

static void test_rerank_trace_instruction(void **state) {
    qwen_fixture *f = *state;
    if (!f->tmp) skip();
    const char *data = testutil_shared_path("data/scifact");
    if (!data) skip();
    char docs[4300];
    snprintf(docs, sizeof docs, "%.4000s/docs.jsonl", f->tmp);
    const char *text = "{\"id\": \"a\", \"text\": \"Stem cells renew tissue.\"}\n"
                       "{\"id\": \"b\", \"text\": \"The weather was cold.\"}\n"
                       "{\"id\": \"c\", \"title\": \"Cells\", \"text\": \"Tissue renewal needs stem cells.\"}\n";
    testutil_write_file(docs, text, strlen(text));
    char *out, *out2, *err;
    const char *r[] = {"rerank", "--model", f->model, "--query", "do stem cells renew tissue?", "--docs", docs,
                       "--top-k", "2", "--policy", "cluster-gap", "--policy-args", "{\"score\": \"logit\"}",
                       "--json", NULL};
    int rc = testutil_run_grating(r, &out, &err);
    if (rc != 0) fail_msg("rerank exited %d: %s", rc, err);
    cJSON *root;
    assert_int_equal(json_parse_text("stdout", out, strlen(out), &root), STATUS_OK);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(root, "top_k")), 2);
    cJSON_Delete(root);
    free(out);
    free(err);

    const char *s1[] = {"score", "--model", f->model, "--query", "stem cells", "--docs", docs, "--json", NULL};
    const char *s2[] = {"score", "--model", f->model, "--query", "stem cells", "--docs", docs, "--json",
                        "--instruction", "Find passages about weather", NULL};
    assert_int_equal(testutil_run_grating(s1, &out, NULL), 0);
    assert_int_equal(testutil_run_grating(s2, &out2, NULL), 0);
    assert_string_not_equal(out, out2); // a different prompt gives different scores
    free(out);
    free(out2);

    char tr[4300];
    snprintf(tr, sizeof tr, "%.4000s/q.h5", f->tmp);
    char run[4300];
    snprintf(run, sizeof run, "%.4000s/bm25/test.bm25.top100.trec", data);
    const char *t[] = {"trace", "--model", f->model, "--dataset", data, "--run", run, "--top-n", "4",
                       "--limit", "2", "--max-len", "256", "--out", tr, NULL};
    rc = testutil_run_grating(t, NULL, &err);
    if (rc != 0) fail_msg("trace exited %d: %s", rc, err);
    free(err);
    trace tq;
    assert_int_equal(trace_read(&tq, tr), STATUS_OK);
    assert_string_equal(tq.meta.architecture, "Qwen3ForCausalLM");
    assert_int_equal(tq.n_queries, 2);
    assert_int_equal(tq.queries[0].n, 4);
    assert_true(tq.queries[0].tokens[0] <= 256);
    trace_free(&tq);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_score_cli_equals_torch_golden),
        cmocka_unit_test(test_rerank_trace_instruction),
    };
    return cmocka_run_group_tests(tests, qwen_setup, qwen_teardown);
}
