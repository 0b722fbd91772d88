// End-to-end tests of `grating rerank`: batch mode (--run/--dataset) against
// single-query reranks of the same candidates, the TREC run it writes (reads
// back, every candidate, strictly decreasing scores), K clamped per query,
// --force and missing parent folders, --threads and the self-describing
// --json, the single-query --top-k error, TREC ids validated before writing.
// On a generated 6-layer BERT and a made-up BEIR folder; on the demo model and
// SciFact when ../shared is present.
#include "testutil.h"

#include "beir.h"
#include "base/json_file.h"
#include "model/synth.h"
#include "trec.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define RR_POLICY_ARGS "{\"schedule\": [{\"layer\": 2, \"keep\": 6}, {\"layer\": 4, \"keep\": 5}]}"

typedef struct {
    char *tmp;
    char model[4200], data[4200], run[4200], queries[4200];
} rr_fixture;

static const char *const rr_words[] = {"stem",    "cells", "divide", "vitamin", "bone", "protein",
                                       "weather", "cold",  "tissue", "renewal", "gene", "blood"};

// A 6-layer tiny BERT with generated weights and a BEIR folder: 16 documents,
// 4 queries; the run gives q1 8 candidates, q2 3 (fewer than K = 4), q3 8
// and q4 6.
static int rr_setup(void **state) {
    rr_fixture *f = calloc(1, sizeof *f);
    f->tmp = testutil_tmpdir();
    char path[4400];
    snprintf(f->model, sizeof f->model, "%s/model", f->tmp);
    snprintf(f->data, sizeof f->data, "%s/data", f->tmp);
    snprintf(f->run, sizeof f->run, "%s/data/run.trec", f->tmp);
    snprintf(f->queries, sizeof f->queries, "%s/data/queries.jsonl", f->tmp);
    char *cfg_text;
    size_t cfg_len;
    assert_int_equal(file_read_all(testutil_source_path("tests/data/bert-tiny/config.json"),
                                   &cfg_text, &cfg_len),
                     STATUS_OK);
    char *layers = strstr(cfg_text, "\"num_hidden_layers\": 2");
    assert_non_null(layers);
    layers[strlen("\"num_hidden_layers\": ")] = '6';
    snprintf(path, sizeof path, "%s/config.json", f->tmp);
    testutil_write_file(path, cfg_text, cfg_len);
    free(cfg_text);
    synth_options o;
    synth_options_default(&o);
    o.config_path = path;
    o.out_dir = f->model;
    o.seed = 5;
    if (synth_write(&o, NULL) != STATUS_OK) {
        fprintf(stderr, "synth: %s\n", status_message());
        return -1;
    }
    snprintf(path, sizeof path, "%s/data/qrels", f->tmp);
    mkdir(f->data, 0777);
    mkdir(path, 0777);
    char buf[8192];
    size_t o_len = 0;
    for (int d = 0; d < 16; d++)
        o_len += (size_t)snprintf(buf + o_len, sizeof buf - o_len,
                                  "{\"_id\": \"d%d\", \"title\": \"%s\", \"text\": \"%s %s %s\"}\n",
                                  d, rr_words[d % 12], rr_words[(d * 5) % 12],
                                  rr_words[(d * 7 + 1) % 12], rr_words[(d + 3) % 12]);
    snprintf(path, sizeof path, "%s/corpus.jsonl", f->data);
    testutil_write_file(path, buf, o_len);
    const char *queries = "{\"_id\": \"q1\", \"text\": \"do stem cells divide\"}\n"
                          "{\"_id\": \"q2\", \"text\": \"vitamin and bone\"}\n"
                          "{\"_id\": \"q3\", \"text\": \"cold weather blood\"}\n"
                          "{\"_id\": \"q4\", \"text\": \"gene protein tissue\"}\n";
    testutil_write_file(f->queries, queries, strlen(queries));
    const char *qrels = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq3\td4\t1\n";
    snprintf(path, sizeof path, "%s/qrels/test.tsv", f->data);
    testutil_write_file(path, qrels, strlen(qrels));
    static const int counts[4] = {8, 3, 8, 6};
    o_len = 0;
    for (int q = 0; q < 4; q++)
        for (int i = 0; i < counts[q]; i++)
            o_len += (size_t)snprintf(buf + o_len, sizeof buf - o_len, "q%d Q0 d%d %d %.2f bm25\n",
                                      q + 1, (q * 3 + i * 5) % 16, i + 1, 20.0 - i);
    testutil_write_file(f->run, buf, o_len);
    *state = f;
    return 0;
}

static int rr_teardown(void **state) {
    rr_fixture *f = *state;
    testutil_rmtree(f->tmp);
    free(f->tmp);
    free(f);
    return 0;
}

// The candidates of query `q` of the run (first `top_n`), as a JSONL docs
// file for a single-query rerank.
static void rr_write_query_docs(const char *data, const trec_query *q, size_t top_n,
                                const char *path) {
    beir_dataset ds;
    assert_int_equal(beir_open(&ds, data, NULL, 0), STATUS_OK);
    FILE *out = fopen(path, "w");
    assert_non_null(out);
    for (size_t i = 0; i < q->n && i < top_n; i++) {
        char *text;
        assert_int_equal(beir_doc_fetch(&ds, q->cands[i].doc_id, &text), STATUS_OK);
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "_id", q->cands[i].doc_id);
        cJSON_AddStringToObject(o, "text", text);
        char *line = cJSON_PrintUnformatted(o);
        fprintf(out, "%s\n", line);
        free(line);
        cJSON_Delete(o);
        free(text);
    }
    fclose(out);
    beir_close(&ds);
}

// Every candidate of every query of `in` (first top_n) is in `out` exactly
// once, queries in run order, scores strictly decreasing down each query.
static void rr_check_run(const trec_run *in, const trec_run *out, size_t top_n, size_t limit) {
    size_t nq = limit && limit < in->n_queries ? limit : in->n_queries;
    assert_int_equal(out->n_queries, nq);
    for (size_t q = 0; q < nq; q++) {
        const trec_query *a = &in->queries[q], *b = &out->queries[q];
        assert_string_equal(a->qid, b->qid);
        size_t n = a->n < top_n ? a->n : top_n;
        assert_int_equal(b->n, n);
        for (size_t i = 0; i < n; i++) {
            assert_int_equal(b->cands[i].rank, (int64_t)(i + 1));
            if (i > 0) assert_true(b->cands[i].score < b->cands[i - 1].score);
            size_t found = 0;
            for (size_t j = 0; j < n; j++)
                found += strcmp(a->cands[j].doc_id, b->cands[i].doc_id) == 0;
            assert_int_equal(found, 1);
        }
    }
}

// Runs grating; asserts the exit status; returns stdout parsed as JSON (or
// NULL when `json` is 0). *err_out (optional) keeps stderr.
static cJSON *rr_run(const char *const *args, int want_rc, int json, char **err_out) {
    char *out, *err;
    int rc = testutil_run_grating(args, &out, &err);
    if (rc != want_rc) fprintf(stderr, "rc %d, stderr: %s\n", rc, err);
    assert_int_equal(rc, want_rc);
    cJSON *root = NULL;
    if (json) assert_int_equal(json_parse_text("stdout", out, strlen(out), &root), STATUS_OK);
    free(out);
    if (err_out)
        *err_out = err;
    else
        free(err);
    return root;
}

static void test_batch_matches_single_queries(void **state) {
    rr_fixture *f = *state;
    char trec[4300], stats[4300], path[4300];
    snprintf(trec, sizeof trec, "%s/out/new/batch.trec", f->tmp); // folders do not exist yet
    snprintf(stats, sizeof stats, "%s/out/stats.jsonl", f->tmp);
    char *err;
    const char *args[] = {"rerank",
                          "--model",
                          f->model,
                          "--run",
                          f->run,
                          "--dataset",
                          f->data,
                          "--split",
                          "test",
                          "--top-k",
                          "4",
                          "--policy",
                          "fixed-schedule",
                          "--policy-args",
                          RR_POLICY_ARGS,
                          "--trec",
                          trec,
                          "--stats",
                          stats,
                          "--threads",
                          "1",
                          "--json",
                          NULL};
    cJSON *root = rr_run(args, 0, 1, &err);
    // K clamped for q2 (3 candidates), reported on stderr and in the stats.
    assert_non_null(strstr(err, "1 of 4 queries have fewer than K = 4 candidates"));
    free(err);
    assert_int_equal(cJSON_GetObjectItem(root, "threads")->valueint, 1);
    assert_string_equal(cJSON_GetObjectItem(root, "architecture")->valuestring,
                        "BertForSequenceClassification");
    assert_true(cJSON_GetObjectItem(root, "model")->valuestring[0] == '/');
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(root, "policy"), "name")->valuestring,
        "fixed-schedule");
    const cJSON *summary = cJSON_GetObjectItem(root, "summary");
    assert_int_equal(cJSON_GetObjectItem(summary, "queries")->valueint, 4);
    assert_int_equal(cJSON_GetObjectItem(summary, "k_clamped_queries")->valueint, 1);
    const cJSON *qs = cJSON_GetObjectItem(root, "queries");
    assert_int_equal(cJSON_GetArraySize(qs), 4);
    const cJSON *q2 = cJSON_GetArrayItem(qs, 1);
    assert_string_equal(cJSON_GetObjectItem(q2, "qid")->valuestring, "q2");
    assert_int_equal(cJSON_GetObjectItem(q2, "k")->valueint, 3);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(q2, "k_clamped")));
    assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(qs, 0), "judged")->valueint, 1);
    // The schedule dropped candidates: fewer candidate-layers than a full forward.
    const cJSON *q1 = cJSON_GetArrayItem(qs, 0);
    assert_true(cJSON_GetObjectItem(q1, "candidate_layers")->valueint <
                cJSON_GetObjectItem(q1, "candidate_layers_full")->valueint);
    assert_true(cJSON_GetObjectItem(q1, "dropped")->valueint > 0);

    // The stats file: one line per query, the same numbers.
    char *text;
    size_t len;
    assert_int_equal(file_read_all(stats, &text, &len), STATUS_OK);
    size_t lines = 0;
    for (char *line = text, *nl; (nl = strchr(line, '\n')); line = nl + 1, lines++) {
        cJSON *o;
        assert_int_equal(json_parse_text("stats", line, (size_t)(nl - line), &o), STATUS_OK);
        const cJSON *same = cJSON_GetArrayItem(qs, (int)lines);
        assert_string_equal(cJSON_GetObjectItem(o, "qid")->valuestring,
                            cJSON_GetObjectItem(same, "qid")->valuestring);
        assert_int_equal(cJSON_GetObjectItem(o, "candidate_layers")->valueint,
                         cJSON_GetObjectItem(same, "candidate_layers")->valueint);
        cJSON_Delete(o);
    }
    assert_int_equal(lines, 4);
    free(text);

    trec_run in, out;
    assert_int_equal(trec_run_read(&in, f->run), STATUS_OK);
    assert_int_equal(trec_run_read(&out, trec), STATUS_OK);
    rr_check_run(&in, &out, 20, 0);

    // Each query reranked alone: the same top-K, the same lines and scores.
    for (size_t q = 0; q < in.n_queries; q++) {
        const trec_query *rq = &in.queries[q];
        char docs[4300], one[4300], k[16];
        snprintf(docs, sizeof docs, "%s/docs-%s.jsonl", f->tmp, rq->qid);
        snprintf(one, sizeof one, "%s/single-%s.trec", f->tmp, rq->qid);
        snprintf(k, sizeof k, "%d", rq->n < 4 ? (int)rq->n : 4);
        rr_write_query_docs(f->data, rq, 20, docs);
        const char *single[] = {"rerank",
                                "--model",
                                f->model,
                                "--queries",
                                f->queries,
                                "--qid",
                                rq->qid,
                                "--docs",
                                docs,
                                "--top-k",
                                k,
                                "--policy",
                                "fixed-schedule",
                                "--policy-args",
                                RR_POLICY_ARGS,
                                "--trec",
                                one,
                                "--threads",
                                "1",
                                "--json",
                                NULL};
        cJSON *sj = rr_run(single, 0, 1, NULL);
        const cJSON *top = cJSON_GetObjectItem(sj, "top_k");
        const trec_query *bq = &out.queries[q];
        int kk = atoi(k);
        assert_int_equal(cJSON_GetArraySize(top), kk);
        for (int i = 0; i < kk; i++) { // the first K lines are the top-K (any order)
            int found = 0;
            for (int j = 0; j < kk; j++)
                found += strcmp(cJSON_GetArrayItem(top, j)->valuestring, bq->cands[i].doc_id) == 0;
            assert_int_equal(found, 1);
        }
        assert_string_equal(
            cJSON_GetObjectItem(cJSON_GetObjectItem(sj, "query"), "id")->valuestring, rq->qid);
        cJSON_Delete(sj);
        trec_run sr;
        assert_int_equal(trec_run_read(&sr, one), STATUS_OK);
        assert_int_equal(sr.n_queries, 1);
        assert_int_equal(sr.queries[0].n, bq->n);
        for (size_t i = 0; i < bq->n; i++) {
            assert_string_equal(sr.queries[0].cands[i].doc_id, bq->cands[i].doc_id);
            assert_true(sr.queries[0].cands[i].score == bq->cands[i].score);
        }
        trec_run_free(&sr);
    }
    // Survivors carry the model's scores: the top-K of the `none` policy are
    // the final scores in the JSON, unmodified.
    snprintf(path, sizeof path, "%s/none.trec", f->tmp);
    const char *none[] = {"rerank",  "--model", f->model, "--run", f->run,    "--dataset", f->data,
                          "--top-k", "2",       "--trec", path,    "--limit", "1",         NULL};
    rr_run(none, 0, 0, NULL);
    char docs1[4300];
    snprintf(docs1, sizeof docs1, "%s/docs-q1.jsonl", f->tmp);
    const char *score[] = {"score", "--model", f->model, "--queries", f->queries, "--qid",
                           "q1",    "--docs",  docs1,    "--json",    NULL};
    cJSON *sc = rr_run(score, 0, 1, NULL);
    trec_run nr;
    assert_int_equal(trec_run_read(&nr, path), STATUS_OK);
    assert_int_equal(nr.n_queries, 1);
    const cJSON *ids = cJSON_GetObjectItem(sc, "ids"), *scores = cJSON_GetObjectItem(sc, "scores");
    for (size_t i = 0; i < 2; i++) {
        int hit = 0;
        for (int j = 0; j < cJSON_GetArraySize(ids); j++)
            if (strcmp(cJSON_GetArrayItem(ids, j)->valuestring, nr.queries[0].cands[i].doc_id) ==
                0) {
                assert_true((float)cJSON_GetArrayItem(scores, j)->valuedouble ==
                            (float)nr.queries[0].cands[i].score);
                hit = 1;
            }
        assert_true(hit);
    }
    trec_run_free(&nr);
    cJSON_Delete(sc);
    trec_run_free(&in);
    trec_run_free(&out);
    cJSON_Delete(root);
}

static void test_force_and_limit(void **state) {
    rr_fixture *f = *state;
    char trec[4300], stats[4300];
    snprintf(trec, sizeof trec, "%s/force/run.trec", f->tmp);
    snprintf(stats, sizeof stats, "%s/force/stats.jsonl", f->tmp);
    const char *args[] = {"rerank",    "--model",  f->model,      "--run",  f->run,
                          "--dataset", f->data,    "--top-k",     "2",      "--top-n",
                          "5",         "--policy", "cluster-gap", "--trec", trec,
                          "--stats",   stats,      "--limit",     "2",      NULL};
    rr_run(args, 0, 0, NULL);
    trec_run in, out;
    assert_int_equal(trec_run_read(&in, f->run), STATUS_OK);
    assert_int_equal(trec_run_read(&out, trec), STATUS_OK);
    rr_check_run(&in, &out, 5, 2);
    trec_run_free(&out);
    // Existing outputs are refused without --force, and stay as they were.
    char *before, *after, *err;
    size_t n_before, n_after;
    assert_int_equal(file_read_all(trec, &before, &n_before), STATUS_OK);
    const char *again[] = {"rerank", "--model", f->model, "--run",  f->run, "--dataset",
                           f->data,  "--top-k", "2",      "--trec", trec,   NULL};
    rr_run(again, 1, 0, &err);
    assert_non_null(strstr(err, "exists; pass --force to replace it"));
    free(err);
    assert_int_equal(file_read_all(trec, &after, &n_after), STATUS_OK);
    assert_int_equal(n_before, n_after);
    assert_memory_equal(before, after, n_before);
    free(after);
    // --stats alone existing is refused too (the TREC output is new).
    char trec2[4300];
    snprintf(trec2, sizeof trec2, "%s/force/run2.trec", f->tmp);
    const char *stats_again[] = {"rerank",    "--model", f->model,  "--run", f->run,
                                 "--dataset", f->data,   "--top-k", "2",     "--trec",
                                 trec2,       "--stats", stats,     NULL};
    rr_run(stats_again, 1, 0, &err);
    assert_non_null(strstr(err, "stats.jsonl exists"));
    free(err);
    struct stat sb;
    assert_int_not_equal(stat(trec2, &sb), 0);
    // With --force: replaced (all 4 queries now).
    const char *forced[] = {"rerank",    "--model", f->model,  "--run", f->run,
                            "--dataset", f->data,   "--top-k", "2",     "--trec",
                            trec,        "--force", NULL};
    rr_run(forced, 0, 0, NULL);
    assert_int_equal(trec_run_read(&out, trec), STATUS_OK);
    rr_check_run(&in, &out, 20, 0);
    trec_run_free(&out);
    trec_run_free(&in);
    free(before);
}

static void test_single_query_errors(void **state) {
    rr_fixture *f = *state;
    char docs[4300], trec[4300], *err;
    snprintf(docs, sizeof docs, "%s/few.jsonl", f->tmp);
    const char *few = "{\"_id\": \"a\", \"text\": \"stem cells\"}\n"
                      "{\"_id\": \"b\", \"text\": \"cold weather\"}\n";
    testutil_write_file(docs, few, strlen(few));
    const char *big_k[] = {"rerank", "--model", f->model,  "--query", "cells",
                           "--docs", docs,      "--top-k", "5",       NULL};
    rr_run(big_k, 1, 0, &err);
    assert_non_null(strstr(err, "--top-k 5 is larger than the 2 candidates"));
    assert_non_null(strstr(err, "use --top-k 2 or fewer"));
    free(err);

    // TREC ids that would not read back: refused, no output left.
    snprintf(trec, sizeof trec, "%s/bad.trec", f->tmp);
    const char *bad_tag[] = {"rerank", "--model",   f->model,  "--query", "cells",
                             "--docs", docs,        "--top-k", "1",       "--trec",
                             trec,     "--run-tag", "a b",     NULL};
    rr_run(bad_tag, 1, 0, &err);
    assert_non_null(strstr(err, "--run-tag 'a b'"));
    free(err);
    const char *bad_qid[] = {"rerank", "--model",    f->model,  "--query", "cells",
                             "--docs", docs,         "--top-k", "1",       "--trec",
                             trec,     "--trec-qid", "",        NULL};
    rr_run(bad_qid, 1, 0, &err);
    assert_non_null(strstr(err, "--trec-qid ''"));
    free(err);
    const char *dup = "{\"_id\": \"a\", \"text\": \"stem cells\"}\n"
                      "{\"_id\": \"a\", \"text\": \"cold weather\"}\n"
                      "{\"_id\": \"c d\", \"text\": \"bone\"}\n";
    testutil_write_file(docs, dup, strlen(dup));
    const char *dup_ids[] = {"rerank", "--model", f->model, "--query", "cells", "--docs",
                             docs,     "--top-k", "1",      "--trec",  trec,    NULL};
    rr_run(dup_ids, 1, 0, &err);
    // The documents' loader refuses the duplicate before anything runs.
    assert_non_null(strstr(err, "line 2: document id 'a' already used at line 1"));
    free(err);
    struct stat sb;
    assert_int_not_equal(stat(trec, &sb), 0);

    // Batch-only options without --run; batch mode without --trec.
    const char *stray[] = {"rerank", "--model", f->model, "--query", "cells", "--docs",
                           docs,     "--top-k", "1",      "--top-n", "5",     NULL};
    rr_run(stray, 2, 0, NULL);
    const char *no_trec[] = {"rerank",    "--model", f->model,  "--run", f->run,
                             "--dataset", f->data,   "--top-k", "1",     NULL};
    rr_run(no_trec, 2, 0, NULL);
    const char *threads0[] = {"rerank",    "--model",   f->model,  "--run", f->run,
                              "--dataset", f->data,     "--top-k", "1",     "--trec",
                              trec,        "--threads", "0",       NULL};
    rr_run(threads0, 2, 0, NULL);
}

static void test_single_json_self_describing(void **state) {
    rr_fixture *f = *state;
    char docs[4300], timeline[4300], *err;
    snprintf(docs, sizeof docs, "%s/docs2.jsonl", f->tmp);
    const char *text = "{\"_id\": \"a\", \"text\": \"stem cells\"}\n"
                       "{\"_id\": \"b\", \"text\": \"cold weather\"}\n"
                       "{\"_id\": \"c\", \"text\": \"vitamin bone\"}\n";
    testutil_write_file(docs, text, strlen(text));
    snprintf(timeline, sizeof timeline, "%s/tl/deep/mem.csv", f->tmp);
    const char *args[] = {"rerank",
                          "--model",
                          f->model,
                          "--queries",
                          f->queries,
                          "--qid",
                          "q1",
                          "--docs",
                          docs,
                          "--top-k",
                          "2",
                          "--policy",
                          "cluster-gap",
                          "--policy-args",
                          "{\"threshold\": 0.2}",
                          "--max-len",
                          "40",
                          "--threads",
                          "1",
                          "--json",
                          "--memory-timeline",
                          timeline,
                          NULL};
    cJSON *root = rr_run(args, 0, 1, NULL);
    assert_string_equal(cJSON_GetObjectItem(root, "grating_version")->valuestring, GRATING_VERSION);
    assert_int_equal(cJSON_GetObjectItem(root, "threads")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(root, "max_len")->valueint, 40);
    const char *model = cJSON_GetObjectItem(root, "model")->valuestring;
    assert_true(model[0] == '/');
    assert_non_null(strstr(model, "/model"));
    assert_string_equal(cJSON_GetObjectItem(root, "architecture")->valuestring,
                        "BertForSequenceClassification");
    const cJSON *pol = cJSON_GetObjectItem(root, "policy");
    assert_string_equal(cJSON_GetObjectItem(pol, "name")->valuestring, "cluster-gap");
    assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(pol, "params"), "threshold")->valuedouble ==
                0.2);
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "query"), "id")->valuestring,
                        "q1");
    cJSON_Delete(root);
    // The timeline went into the folders it created; again without --force is refused.
    struct stat sb;
    assert_int_equal(stat(timeline, &sb), 0);
    rr_run(args, 1, 0, &err);
    assert_non_null(strstr(err, "mem.csv exists; pass --force"));
    free(err);

    // score --json: the same description (policy none: a full forward).
    const char *score[] = {"score", "--model",   f->model, "--query", "stem cells", "--docs",
                           docs,    "--threads", "1",      "--json",  NULL};
    root = rr_run(score, 0, 1, NULL);
    assert_int_equal(cJSON_GetObjectItem(root, "threads")->valueint, 1);
    assert_true(cJSON_GetObjectItem(root, "model")->valuestring[0] == '/');
    assert_int_equal(cJSON_GetObjectItem(root, "max_len")->valueint, 64); // the model's limit
    assert_string_equal(
        cJSON_GetObjectItem(cJSON_GetObjectItem(root, "policy"), "name")->valuestring, "none");
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetObjectItem(root, "query"), "id")));
    cJSON_Delete(root);
}

// The demo model on SciFact (skipped without ../shared): 6 queries, N = 20,
// cluster-gap; the run reads back complete, the survivors equal a single
// rerank of the same candidates.
static void test_scifact_batch(void **state) {
    rr_fixture *f = *state;
    const char *model = testutil_shared_path("models/scifact-minibert-demo");
    const char *data = testutil_shared_path("data/scifact");
    const char *run = testutil_shared_path("data/scifact/bm25/test.bm25.top100.trec");
    if (!model || !data || !run) skip();
    char trec[4300], queries[4300];
    snprintf(trec, sizeof trec, "%s/scifact/batch.trec", f->tmp);
    snprintf(queries, sizeof queries, "%s/queries.jsonl", data);
    const char *args[] = {"rerank", "--model",   model,         "--run",     run,   "--dataset",
                          data,     "--top-n",   "20",          "--max-len", "192", "--top-k",
                          "10",     "--policy",  "cluster-gap", "--limit",   "6",   "--trec",
                          trec,     "--threads", "2",           "--json",    NULL};
    cJSON *root = rr_run(args, 0, 1, NULL);
    const cJSON *summary = cJSON_GetObjectItem(root, "summary");
    assert_int_equal(cJSON_GetObjectItem(summary, "queries")->valueint, 6);
    assert_true(cJSON_GetObjectItem(summary, "candidate_layers")->valueint <
                cJSON_GetObjectItem(summary, "candidate_layers_full")->valueint);
    cJSON_Delete(root);
    trec_run in, out;
    assert_int_equal(trec_run_read(&in, run), STATUS_OK);
    assert_int_equal(trec_run_read(&out, trec), STATUS_OK);
    rr_check_run(&in, &out, 20, 6);
    for (size_t q = 0; q < 6; q += 5) { // the first and the last
        char docs[4300], one[4300];
        snprintf(docs, sizeof docs, "%s/scifact/docs-%zu.jsonl", f->tmp, q);
        snprintf(one, sizeof one, "%s/scifact/one-%zu.trec", f->tmp, q);
        rr_write_query_docs(data, &in.queries[q], 20, docs);
        const char *single[] = {"rerank",
                                "--model",
                                model,
                                "--queries",
                                queries,
                                "--qid",
                                in.queries[q].qid,
                                "--docs",
                                docs,
                                "--max-len",
                                "192",
                                "--top-k",
                                "10",
                                "--policy",
                                "cluster-gap",
                                "--trec",
                                one,
                                "--threads",
                                "2",
                                NULL};
        rr_run(single, 0, 0, NULL);
        trec_run sr;
        assert_int_equal(trec_run_read(&sr, one), STATUS_OK);
        const trec_query *b = &out.queries[q];
        assert_int_equal(sr.queries[0].n, b->n);
        for (size_t i = 0; i < 10; i++) { // the survivors: the same set
            int found = 0;
            for (size_t j = 0; j < 10; j++)
                found += strcmp(sr.queries[0].cands[j].doc_id, b->cands[i].doc_id) == 0;
            assert_int_equal(found, 1);
        }
        trec_run_free(&sr);
    }
    trec_run_free(&in);
    trec_run_free(&out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_matches_single_queries),
        cmocka_unit_test(test_force_and_limit),
        cmocka_unit_test(test_single_query_errors),
        cmocka_unit_test(test_single_json_self_describing),
        cmocka_unit_test(test_scifact_batch),
    };
    return cmocka_run_group_tests(tests, rr_setup, rr_teardown);
}
