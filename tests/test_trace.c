// HDF5 trace files (core/analysis/trace.c): round trip, the schema as other tools see
// it (h5dump), crash safety (.partial until finished), --resume, merge.
#include "testutil.h"

#include "analysis/trace.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { TL = 3 }; // layers of the fake model

static trace_meta trace_test_meta(const char *hash) {
    trace_meta m = {.model = "models/x",
                    .config_hash = (char *)hash,
                    .architecture = "BertForSequenceClassification",
                    .n_layers = TL,
                    .hidden_size = 8,
                    .intermediate_size = 16,
                    .score_kind = "logit",
                    .tokenizer = "models/x/tokenizer.json",
                    .max_len = 192,
                    .dataset = "data/scifact",
                    .split = "test",
                    .run = "bm25.trec",
                    .top_n = 4,
                    .command = "grating trace ...",
                    .version = "test",
                    .created = "2026-11-21T00:00:00Z"};
    return m;
}

// Query i with n candidates and deterministic values.
static trace_query trace_test_query(const char *qid, size_t n, int seed) {
    trace_query q = {.qid = (char *)qid, .n = n};
    q.doc_ids = calloc(n, sizeof *q.doc_ids);
    q.scores = malloc((TL + 1) * n * sizeof *q.scores);
    q.tokens = malloc(n * sizeof *q.tokens);
    q.first_stage = malloc(n * sizeof *q.first_stage);
    q.layer_seconds = malloc(TL * sizeof *q.layer_seconds);
    for (size_t i = 0; i < n; i++) {
        char id[32];
        snprintf(id, sizeof id, "doc-%d-%zu", seed, i);
        q.doc_ids[i] = strdup(id);
        q.tokens[i] = (int32_t)(10 + i + (size_t)seed);
        q.first_stage[i] = (float)(seed * 0.5 + (double)i);
    }
    for (size_t i = 0; i < (TL + 1) * n; i++)
        q.scores[i] = (float)sin((double)(i + 1) * (seed + 1));
    for (size_t l = 0; l < TL; l++)
        q.layer_seconds[l] = 0.001 * (double)(l + 1) * (seed + 1);
    q.embed_seconds = 0.0001 * seed;
    q.score_seconds = 0.0002 * seed;
    return q;
}

static void trace_test_query_free(trace_query *q) {
    for (size_t i = 0; i < q->n; i++)
        free(q->doc_ids[i]);
    free(q->doc_ids);
    free(q->scores);
    free(q->tokens);
    free(q->first_stage);
    free(q->layer_seconds);
}

static void trace_assert_query_equal(const trace_query *a, const trace_query *b) {
    assert_string_equal(a->qid, b->qid);
    assert_int_equal(a->n, b->n);
    for (size_t i = 0; i < a->n; i++)
        assert_string_equal(a->doc_ids[i], b->doc_ids[i]);
    assert_memory_equal(a->scores, b->scores, (TL + 1) * a->n * sizeof(float));
    assert_memory_equal(a->tokens, b->tokens, a->n * sizeof(int32_t));
    assert_memory_equal(a->first_stage, b->first_stage, a->n * sizeof(float));
    assert_memory_equal(a->layer_seconds, b->layer_seconds, TL * sizeof(double));
    assert_true(a->embed_seconds == b->embed_seconds);
    assert_true(a->score_seconds == b->score_seconds);
}

static int file_exists(const char *p) {
    return access(p, F_OK) == 0;
}

static void test_trace_round_trip_and_h5dump(void **state) {
    (void)state;
    char *tmp = testutil_tmpdir();
    char path[4200], partial[4300], cmd[9000];
    snprintf(path, sizeof path, "%s/t.h5", tmp);
    snprintf(partial, sizeof partial, "%s.partial", path);
    trace_meta meta = trace_test_meta("abc123");
    trace_writer w;
    assert_int_equal(trace_writer_open(&w, path, &meta, 0), STATUS_OK);
    const char *qids[3] = {"7", "a/b%c", "1"}; // '/' and '%' must survive the group naming
    trace_query qs[3];
    for (int i = 0; i < 3; i++) {
        qs[i] = trace_test_query(qids[i], 2 + (size_t)i, i);
        assert_int_equal(trace_writer_add_query(&w, &qs[i]), STATUS_OK);
        // Until finished, only the partial file exists.
        assert_true(file_exists(partial));
        assert_false(file_exists(path));
    }
    assert_true(trace_writer_has_query(&w, "a/b%c"));
    assert_int_equal(trace_writer_add_query(&w, &qs[0]), STATUS_ERR_ARG); // duplicate
    assert_int_equal(trace_writer_finish(&w), STATUS_OK);
    assert_true(file_exists(path));
    assert_false(file_exists(partial));

    trace t;
    if (trace_read(&t, path) != STATUS_OK) fail_msg("%s", status_message());
    assert_int_equal(t.n_queries, 3);
    assert_string_equal(t.meta.config_hash, "abc123");
    assert_string_equal(t.meta.architecture, "BertForSequenceClassification");
    assert_int_equal(t.meta.n_layers, TL);
    assert_int_equal(t.meta.top_n, 4);
    for (int i = 0; i < 3; i++)
        trace_assert_query_equal(&t.queries[i], &qs[i]); // order kept
    trace_free(&t);

    // The schema as an independent tool sees it.
    snprintf(cmd, sizeof cmd, "h5dump -H '%s' > '%s/dump.txt' 2>&1", path, tmp);
    if (system("command -v h5dump > /dev/null 2>&1") == 0) {
        assert_int_equal(system(cmd), 0);
        char dump[4300];
        snprintf(dump, sizeof dump, "%s/dump.txt", tmp);
        FILE *f = fopen(dump, "r");
        char buf[65536];
        size_t got = fread(buf, 1, sizeof buf - 1, f);
        buf[got] = '\0';
        fclose(f);
        assert_non_null(strstr(buf, "GROUP \"queries\""));
        assert_non_null(strstr(buf, "GROUP \"a%2Fb%25c\""));
        assert_non_null(strstr(buf, "DATASET \"scores\""));
        assert_non_null(strstr(buf, "H5T_IEEE_F32LE"));
        assert_non_null(strstr(buf, "( 4, 4 )")); // (n_layers + 1, n) of the third query
        assert_non_null(strstr(buf, "DATASET \"query_ids\""));
        assert_non_null(strstr(buf, "ATTRIBUTE \"config_hash\""));
    } else {
        fprintf(stderr, "SKIP (part): h5dump not installed\n");
    }
    for (int i = 0; i < 3; i++)
        trace_test_query_free(&qs[i]);
    testutil_rmtree(tmp);
    free(tmp);
}

static void test_trace_resume_after_interruption(void **state) {
    (void)state;
    char *tmp = testutil_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/t.h5", tmp);
    trace_meta meta = trace_test_meta("h1");
    trace_query qs[4];
    const char *qids[4] = {"q3", "q1", "q9", "q2"};
    for (int i = 0; i < 4; i++)
        qs[i] = trace_test_query(qids[i], 3, i);

    trace_writer w;
    assert_int_equal(trace_writer_open(&w, path, &meta, 0), STATUS_OK);
    assert_int_equal(trace_writer_add_query(&w, &qs[0]), STATUS_OK);
    assert_int_equal(trace_writer_add_query(&w, &qs[1]), STATUS_OK);
    trace_writer_close(&w); // "killed": never finished
    trace t;
    assert_int_not_equal(trace_read(&t, path), STATUS_OK); // no complete file
    assert_non_null(strstr(status_message(), "t.h5"));

    // A different model cannot resume this partial trace.
    trace_meta other = trace_test_meta("h2");
    assert_int_equal(trace_writer_open(&w, path, &other, 1), STATUS_ERR_ARG);
    assert_non_null(strstr(status_message(), "model config differs"));

    assert_int_equal(trace_writer_open(&w, path, &meta, 1), STATUS_OK);
    assert_true(trace_writer_has_query(&w, "q3"));
    assert_true(trace_writer_has_query(&w, "q1"));
    assert_false(trace_writer_has_query(&w, "q9"));
    assert_int_equal(trace_writer_add_query(&w, &qs[2]), STATUS_OK);
    assert_int_equal(trace_writer_add_query(&w, &qs[3]), STATUS_OK);
    assert_int_equal(trace_writer_finish(&w), STATUS_OK);
    assert_int_equal(trace_read(&t, path), STATUS_OK);
    assert_int_equal(t.n_queries, 4);
    for (int i = 0; i < 4; i++)
        trace_assert_query_equal(&t.queries[i], &qs[i]); // run order
    trace_free(&t);

    // Killed before its first query: the (flushed) file opens but holds no
    // complete query; --resume starts over and says so. Garbage: the same.
    assert_int_equal(trace_writer_open(&w, path, &meta, 0), STATUS_OK);
    trace_writer_close(&w);
    assert_int_equal(trace_writer_open(&w, path, &meta, 1), STATUS_OK);
    assert_non_null(w.note);
    assert_non_null(strstr(w.note, "no query was completely stored; starting over"));
    assert_false(trace_writer_has_query(&w, "q3"));
    trace_writer_close(&w);
    char partial[4300];
    snprintf(partial, sizeof partial, "%.4200s.partial", path);
    testutil_write_file(partial, "\211HDF\r\n\032\ngarbage", 15);
    assert_int_equal(trace_writer_open(&w, path, &meta, 1), STATUS_OK);
    assert_non_null(strstr(w.note, "cannot be read"));
    assert_int_equal(trace_writer_add_query(&w, &qs[0]), STATUS_OK);
    assert_int_equal(trace_writer_finish(&w), STATUS_OK);
    assert_int_equal(trace_read(&t, path), STATUS_OK);
    assert_int_equal(t.n_queries, 1);
    trace_assert_query_equal(&t.queries[0], &qs[0]);
    trace_free(&t);

    // Without --resume an existing partial file is started over.
    assert_int_equal(trace_writer_open(&w, path, &meta, 0), STATUS_OK);
    assert_false(trace_writer_has_query(&w, "q3"));
    trace_writer_close(&w);
    for (int i = 0; i < 4; i++)
        trace_test_query_free(&qs[i]);
    testutil_rmtree(tmp);
    free(tmp);
}

static void test_trace_merge_and_bad_files(void **state) {
    (void)state;
    char *tmp = testutil_tmpdir();
    char a[4200], b[4200], out[4200], bad[4200];
    snprintf(a, sizeof a, "%s/a.h5", tmp);
    snprintf(b, sizeof b, "%s/b.h5", tmp);
    snprintf(out, sizeof out, "%s/merged.h5", tmp);
    snprintf(bad, sizeof bad, "%s/bad.h5", tmp);
    trace_meta meta = trace_test_meta("h");
    trace_query qs[3];
    const char *qids[3] = {"1", "2", "3"};
    for (int i = 0; i < 3; i++)
        qs[i] = trace_test_query(qids[i], 2, i);
    trace_writer w;
    assert_int_equal(trace_writer_open(&w, a, &meta, 0), STATUS_OK);
    assert_int_equal(trace_writer_add_query(&w, &qs[0]), STATUS_OK);
    assert_int_equal(trace_writer_add_query(&w, &qs[2]), STATUS_OK);
    assert_int_equal(trace_writer_finish(&w), STATUS_OK);
    assert_int_equal(trace_writer_open(&w, b, &meta, 0), STATUS_OK);
    assert_int_equal(trace_writer_add_query(&w, &qs[1]), STATUS_OK);
    assert_int_equal(trace_writer_finish(&w), STATUS_OK);
    const char *inputs[2] = {a, b};
    assert_int_equal(trace_merge(inputs, 2, out), STATUS_OK);
    trace t;
    assert_int_equal(trace_read(&t, out), STATUS_OK);
    assert_int_equal(t.n_queries, 3);
    trace_assert_query_equal(&t.queries[0], &qs[0]);
    trace_assert_query_equal(&t.queries[1], &qs[2]);
    trace_assert_query_equal(&t.queries[2], &qs[1]);
    trace_free(&t);
    const char *dup[2] = {a, a};
    assert_int_equal(trace_merge(dup, 2, out), STATUS_ERR_ARG);
    assert_non_null(strstr(status_message(), "more than one input"));

    testutil_write_file(bad, "not hdf5 at all", 15);
    assert_int_equal(trace_read(&t, bad), STATUS_ERR_FORMAT);
    assert_non_null(strstr(status_message(), "bad.h5"));
    assert_int_equal(trace_read(&t, "/nonexistent/x.h5"), STATUS_ERR_IO);
    // Truncated HDF5 file.
    FILE *f = fopen(a, "rb");
    char buf[2048];
    size_t got = fread(buf, 1, sizeof buf, f);
    fclose(f);
    testutil_write_file(bad, buf, got / 2);
    assert_int_not_equal(trace_read(&t, bad), STATUS_OK);
    for (int i = 0; i < 3; i++)
        trace_test_query_free(&qs[i]);
    testutil_rmtree(tmp);
    free(tmp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_round_trip_and_h5dump),
        cmocka_unit_test(test_trace_resume_after_interruption),
        cmocka_unit_test(test_trace_merge_and_bad_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
