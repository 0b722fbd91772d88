// End-to-end tests of `grating score` (and the top-level help): the JSON
// output agrees with the library forward, and bad input gives a clear error
// with a non-zero exit and no output on stdout.
#include "testutil.h"

#include "base/json_file.h"
#include "model/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *tmp;
    char model[4200];
    char docs[4200];
} score_fixture;

// A generated tiny BERT (tests/data/bert-tiny, generated vocab) and 3 docs.
static int score_setup(void **state) {
    score_fixture *f = calloc(1, sizeof *f);
    f->tmp = testutil_tmpdir();
    snprintf(f->model, sizeof f->model, "%s/model", f->tmp);
    snprintf(f->docs, sizeof f->docs, "%s/docs.jsonl", f->tmp);
    synth_options o;
    synth_options_default(&o);
    o.config_path = testutil_source_path("tests/data/bert-tiny/config.json");
    o.out_dir = f->model;
    o.seed = 3;
    if (synth_write(&o, NULL) != STATUS_OK) {
        fprintf(stderr, "synth: %s\n", status_message());
        return -1;
    }
    const char *docs = "{\"id\": \"a\", \"title\": \"cells\", \"text\": \"stem cells divide\"}\n"
                       "\n"
                       "{\"_id\": \"b\", \"text\": \"the weather was cold\"}\n"
                       "{\"text\": \"tissue renewal, by stem-cell division!\"}\n";
    testutil_write_file(f->docs, docs, strlen(docs));
    *state = f;
    return 0;
}

static int score_teardown(void **state) {
    score_fixture *f = *state;
    testutil_rmtree(f->tmp);
    free(f->tmp);
    free(f);
    return 0;
}

static void test_score_json_per_layer(void **state) {
    score_fixture *f = *state;
    char *out, *err;
    const char *args[] = {"score", "--model", f->model, "--query", "do stem cells divide?", "--docs",
                          f->docs, "--per-layer", "--json", NULL};
    int rc = testutil_run_grating(args, &out, &err);
    assert_int_equal(rc, 0);
    cJSON *root;
    assert_int_equal(json_parse_text("stdout", out, strlen(out), &root), STATUS_OK);
    const cJSON *ids = cJSON_GetObjectItemCaseSensitive(root, "ids");
    const cJSON *scores = cJSON_GetObjectItemCaseSensitive(root, "scores");
    const cJSON *layers = cJSON_GetObjectItemCaseSensitive(root, "layer_scores");
    assert_int_equal(cJSON_GetArraySize(ids), 3);
    assert_string_equal(cJSON_GetArrayItem(ids, 0)->valuestring, "a");
    assert_string_equal(cJSON_GetArrayItem(ids, 1)->valuestring, "b");
    assert_string_equal(cJSON_GetArrayItem(ids, 2)->valuestring, "2"); // line index when no id
    assert_int_equal(cJSON_GetArraySize(scores), 3);
    assert_int_equal(cJSON_GetArraySize(layers), 3); // 2 layers + embeddings
    const cJSON *last = cJSON_GetArrayItem(layers, 2);
    for (int i = 0; i < 3; i++) {
        double s = cJSON_GetArrayItem(scores, i)->valuedouble;
        assert_true(isfinite(s));
        assert_true(s == cJSON_GetArrayItem(last, i)->valuedouble);
    }
    // Different documents get different scores (the model is not degenerate).
    assert_true(cJSON_GetArrayItem(scores, 0)->valuedouble != cJSON_GetArrayItem(scores, 1)->valuedouble);
    cJSON_Delete(root);

    // --chunk 1 prints the same numbers; without --per-layer no layer_scores.
    char *out2;
    const char *args2[] = {"score", "--model", f->model, "--query", "do stem cells divide?",
                           "--docs", f->docs, "--chunk", "1", "--json", NULL};
    assert_int_equal(testutil_run_grating(args2, &out2, NULL), 0);
    assert_int_equal(json_parse_text("stdout", out2, strlen(out2), &root), STATUS_OK);
    assert_null(cJSON_GetObjectItemCaseSensitive(root, "layer_scores"));
    cJSON *root1;
    assert_int_equal(json_parse_text("stdout", out, strlen(out), &root1), STATUS_OK);
    for (int i = 0; i < 3; i++)
        assert_true(fabs(cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root, "scores"), i)->valuedouble -
                         cJSON_GetArrayItem(cJSON_GetObjectItemCaseSensitive(root1, "scores"), i)->valuedouble) <= 1e-5);
    cJSON_Delete(root);
    cJSON_Delete(root1);
    free(out);
    free(out2);
    free(err);
}

static void test_score_table_and_doc_ids(void **state) {
    score_fixture *f = *state;
    char *out;
    const char *args[] = {"score", "--model", f->model, "--query", "cells", "--docs", f->docs,
                          "--doc-ids", "b,a", "--mark", "a", NULL};
    assert_int_equal(testutil_run_grating(args, &out, NULL), 0);
    const char *pb = strstr(out, " b ");
    const char *pa = strstr(out, "*a ");
    assert_non_null(pb);
    assert_non_null(pa);
    assert_true(pb < pa); // --doc-ids order is kept
    free(out);
}

// Runs `grating score` with a broken input and checks exit 1, an error that
// contains `needle`, and nothing on stdout.
static void score_expect_error(const char *const *args, const char *needle) {
    char *out, *err;
    int rc = testutil_run_grating(args, &out, &err);
    if (rc != 1 || !strstr(err, needle) || out[0] != '\0')
        fail_msg("rc=%d stderr=<%s> stdout=<%.200s> (expected '%s')", rc, err, out, needle);
    free(out);
    free(err);
}

static void test_score_bad_inputs(void **state) {
    score_fixture *f = *state;
    char path[4300];

    snprintf(path, sizeof path, "%s/empty.jsonl", f->tmp);
    testutil_write_file(path, "\n\n", 2);
    const char *a1[] = {"score", "--model", f->model, "--query", "q", "--docs", path, NULL};
    score_expect_error(a1, "no candidate documents");

    snprintf(path, sizeof path, "%s/bad.jsonl", f->tmp);
    const char *bad = "{\"text\": \"ok\"}\n{\"text\": \"broken\"\n";
    testutil_write_file(path, bad, strlen(bad));
    const char *a2[] = {"score", "--model", f->model, "--query", "q", "--docs", path, NULL};
    score_expect_error(a2, "bad.jsonl: line 2: malformed JSON");

    snprintf(path, sizeof path, "%s/notext.jsonl", f->tmp);
    const char *notext = "{\"id\": \"x\", \"body\": \"no text field\"}\n";
    testutil_write_file(path, notext, strlen(notext));
    const char *a3[] = {"score", "--model", f->model, "--query", "q", "--docs", path, NULL};
    score_expect_error(a3, "line 1: missing key 'text'");

    const char *a4[] = {"score", "--model", f->model, "--query", "q", "--docs", f->docs, "--doc-ids", "zz", NULL};
    score_expect_error(a4, "no document with id 'zz'");

    const char *a5[] = {"score", "--model", "/nonexistent/model", "--query", "q", "--docs", f->docs, NULL};
    score_expect_error(a5, "/nonexistent/model");

    const char *a6[] = {"score", "--model", f->model, "--query", "q", "--docs", "/nonexistent.jsonl", NULL};
    score_expect_error(a6, "/nonexistent.jsonl: cannot open");

    const char *a7[] = {"score", "--model", f->model, "--query", "q", "--docs", f->docs, "--max-len", "4096", NULL};
    score_expect_error(a7, "exceeds the model's max_position_embeddings 64");

    // A query too long to leave room for any document token.
    char longq[2000] = "";
    for (int i = 0; i < 100; i++) strcat(longq, "cells ");
    const char *a8[] = {"score", "--model", f->model, "--query", longq, "--docs", f->docs, "--max-len", "32", NULL};
    score_expect_error(a8, "candidate 0 (id a)");

    // Unknown architecture in config.json.
    char bad_model[4300];
    snprintf(bad_model, sizeof bad_model, "%s/unknown-arch", f->tmp);
    char cmd[16384];
    snprintf(cmd, sizeof cmd, "cp -r '%s' '%s' && sed -i 's/BertForSequenceClassification/FancyNet/' '%s/config.json'",
             f->model, bad_model, bad_model);
    assert_int_equal(system(cmd), 0);
    const char *a9[] = {"score", "--model", bad_model, "--query", "q", "--docs", f->docs, NULL};
    score_expect_error(a9, "unknown architecture 'FancyNet'");
}

static void test_cli_help_and_usage(void **state) {
    (void)state;
    char *out, *err;
    const char *h[] = {"help", NULL};
    assert_int_equal(testutil_run_grating(h, &out, NULL), 0);
    assert_non_null(strstr(out, "score"));
    assert_non_null(strstr(out, "tokenize"));
    free(out);
    const char *h2[] = {"score", "--help", NULL};
    assert_int_equal(testutil_run_grating(h2, &out, NULL), 0);
    assert_non_null(strstr(out, "--per-layer"));
    free(out);
    const char *h3[] = {"help", "score", NULL};
    assert_int_equal(testutil_run_grating(h3, &out, NULL), 0);
    assert_non_null(strstr(out, "--per-layer"));
    free(out);
    const char *u[] = {"frobnicate", NULL};
    assert_int_equal(testutil_run_grating(u, NULL, &err), 2);
    assert_non_null(strstr(err, "unknown command 'frobnicate'"));
    free(err);
    const char *u2[] = {"score", "--model", "x", NULL};
    assert_int_equal(testutil_run_grating(u2, NULL, &err), 2);
    free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_score_json_per_layer),
        cmocka_unit_test(test_score_table_and_doc_ids),
        cmocka_unit_test(test_score_bad_inputs),
        cmocka_unit_test(test_cli_help_and_usage),
    };
    return cmocka_run_group_tests(tests, score_setup, score_teardown);
}
