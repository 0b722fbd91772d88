// Offline sweeps (core/analysis/sweep.c): grid expansion and validation; a replay of
// a trace makes exactly the decisions of a live `rerank` (same top-K, same
// candidate-layers, same exit layers); the CLI pipeline trace -> sweep on a
// generated model and a small BEIR dataset, with 3 shards merged equal to
// the unsharded result.
#include "testutil.h"

#include "engine/engine.h"
#include "base/json_file.h"
#include "analysis/metrics.h"
#include "analysis/sweep.h"
#include "model/synth.h"
#include "trec.h"

#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

static char *sweep_test_write(const char *dir, const char *name, const char *text) {
    char *p = malloc(4300);
    snprintf(p, 4300, "%s/%s", dir, name);
    testutil_write_file(p, text, strlen(text));
    return p;
}

static void test_grid_expansion_and_errors(void **state) {
    (void)state;
    char *tmp = testutil_tmpdir();
    char *g1 = sweep_test_write(tmp, "g1.json",
                                "{\"name\": \"t\", \"k\": [1, 5], \"chunk\": [0, 4], \"configs\": ["
                                "{\"policy\": \"none\"},"
                                "{\"policy\": \"cluster-gap\", \"params\": {\"score\": \"logit\"},"
                                " \"grid\": {\"threshold\": [0.1, 0.2, 0.3], \"k\": [2, 3]}}]}");
    sweep_grid g;
    if (sweep_grid_load(&g, g1) != STATUS_OK) fail_msg("%s", status_message());
    assert_int_equal(g.n_configs, (1 + 3 * 2) * 2 * 2);
    assert_string_equal(g.name, "t");
    assert_string_equal(g.configs[0].policy, "none");
    assert_int_equal(g.configs[0].k, 1);
    assert_int_equal(g.configs[1].chunk, 4);
    assert_int_equal(g.configs[2].k, 5);
    assert_string_equal(g.configs[4].params_text,
                        "{\"score\":\"logit\",\"threshold\":0.1,\"k\":2}");
    assert_string_equal(g.configs[g.n_configs - 1].params_text,
                        "{\"score\":\"logit\",\"threshold\":0.3,\"k\":3}");
    sweep_grid_free(&g);

    struct {
        const char *text, *needle;
    } bad[] = {
        {"{\"name\": \"t\", \"configs\": []}", "'configs' must be a non-empty array"},
        {"{\"name\": \"t\", \"kk\": 1, \"configs\": [{\"policy\": \"none\"}]}", "unknown key 'kk'"},
        {"{\"name\": \"t\", \"k\": [0], \"configs\": [{\"policy\": \"none\"}]}",
         "'k' values must be integers >= 1"},
        {"{\"configs\": [{\"policy\": \"none\"}]}", "missing key 'name'"},
        {"{\"name\": \"t\", \"configs\": [{\"policy\": \"none\"}, {\"policy\": \"cluster-gap\", "
         "\"grid\": {\"k\": 3}}]}",
         "configs[1].grid.k must be a non-empty array"},
        {"{\"name\": \"t\", \"configs\": [{\"policy\": \"none\"}, {\"policy\": \"cluster-gap\", "
         "\"params\": {\"k\": 0}}]}",
         "configs[1]"},
        {"{\"name\": \"t\", \"configs\": [{\"policy\": \"nope\"}]}", "unknown policy 'nope'"},
        {"{\"name\": \"t\", \"configs\": [{\"policy\": \"none\"}", "malformed JSON"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char *p = sweep_test_write(tmp, "bad.json", bad[i].text);
        status st = sweep_grid_load(&g, p);
        if (st == STATUS_OK || !strstr(status_message(), bad[i].needle) ||
            !strstr(status_message(), "bad.json"))
            fail_msg("case %zu: status %d, message <%s>, expected <%s>", i, st, status_message(),
                     bad[i].needle);
        free(p);
    }
    free(g1);
    testutil_rmtree(tmp);
    free(tmp);
}

// Live engine vs replay of the full run's scores, for several policies and K.
static size_t sweep_check_replay_equals_live(const reranker *m, const reranker_batch *b) {
    static const char *const configs[][2] = {
        {"cluster-gap", "{}"},
        {"cluster-gap", "{\"threshold\": 0.01, \"k\": 2}"},
        {"cluster-gap", "{\"mode\": \"drop-only\", \"threshold\": 0.02}"},
        {"cluster-gap", "{\"score\": \"logit\", \"threshold\": 0.05, \"k\": 4}"},
        {"kendall-stability", "{\"threshold\": 0.8, \"patience\": 1}"},
        {"fixed-schedule", "{\"schedule\": [{\"layer\": 1, \"keep\": 0.5}]}"},
        {"score-gap", "{\"gap\": 0.01}"},
        {"asymmetric-threshold", "{\"score\": \"logit\", \"negative\": -1.0}"},
    };
    size_t n = b->n_seq, L = (size_t)m->cfg.n_layers, checked = 0;
    engine_result full, live, rep;
    assert_int_equal(engine_result_init(&full, n, L), STATUS_OK);
    assert_int_equal(engine_result_init(&live, n, L), STATUS_OK);
    assert_int_equal(engine_result_init(&rep, n, L), STATUS_OK);
    policy *none;
    assert_int_equal(policy_create("none", NULL, &none), STATUS_OK);
    engine_options opt = {.k = 1};
    assert_int_equal(engine_run(m, b, none, &opt, &full), STATUS_OK);
    trace_query q = {.qid = "q", .n = n, .scores = full.layer_scores};
    size_t ks[3] = {1, 5, 10};
    for (size_t c = 0; c < sizeof configs / sizeof configs[0]; c++) {
        cJSON *params = cJSON_Parse(configs[c][1]);
        policy *p;
        if (policy_create(configs[c][0], params, &p) != STATUS_OK) fail_msg("%s", status_message());
        for (size_t ki = 0; ki < 3; ki++) {
            size_t k = ks[ki] < n ? ks[ki] : n;
            opt.k = k;
            opt.chunk = 3;
            if (engine_run(m, b, p, &opt, &live) != STATUS_OK) fail_msg("%s", status_message());
            if (sweep_replay_query(p, k, &q, L, &rep) != STATUS_OK)
                fail_msg("%s", status_message());
            if (memcmp(live.order, rep.order, k * sizeof *live.order) != 0 ||
                live.candidate_layers != rep.candidate_layers ||
                memcmp(live.exit_layer, rep.exit_layer, n * sizeof *live.exit_layer) != 0)
                fail_msg("%s %s K=%zu: live and replay differ (candidate-layers %zu vs %zu)",
                         configs[c][0], configs[c][1], k, live.candidate_layers,
                         rep.candidate_layers);
            checked++;
        }
        policy_free(p);
        cJSON_Delete(params);
    }
    policy_free(none);
    engine_result_free(&full);
    engine_result_free(&live);
    engine_result_free(&rep);
    return checked;
}

static void test_replay_equals_live_demo(void **state) {
    (void)state;
    const char *model_dir = testutil_shared_path("models/scifact-minibert-demo");
    if (!model_dir) skip();
    reranker m;
    if (reranker_open(&m, model_dir, NULL) != STATUS_OK) fail_msg("%s", status_message());
    cJSON *root;
    if (json_file_parse(testutil_source_path("tests/golden/bert/inputs_len192.json"), &root))
        fail_msg("%s", status_message());
    const cJSON *qs = cJSON_GetObjectItemCaseSensitive(root, "queries");
    size_t checked = 0;
    for (int qi = 0; qi < 3; qi++) {
        const cJSON *item = cJSON_GetArrayItem(qs, qi);
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(item, "input_ids");
        const cJSON *types = cJSON_GetObjectItemCaseSensitive(item, "token_type_ids");
        size_t n = (size_t)cJSON_GetArraySize(ids), total = 0, starts[32], lens[32];
        int32_t *tok = malloc(n * 192 * sizeof *tok), *typ = malloc(n * 192 * sizeof *typ);
        for (size_t s = 0; s < n; s++) {
            const cJSON *row = cJSON_GetArrayItem(ids, (int)s),
                        *trow = cJSON_GetArrayItem(types, (int)s);
            starts[s] = total;
            lens[s] = (size_t)cJSON_GetArraySize(row);
            for (size_t t = 0; t < lens[s]; t++, total++) {
                tok[total] = cJSON_GetArrayItem(row, (int)t)->valueint;
                typ[total] = cJSON_GetArrayItem(trow, (int)t)->valueint;
            }
        }
        reranker_batch b = {.n_seq = n,
                            .n_tok = total,
                            .seq_start = starts,
                            .seq_len = lens,
                            .ids = tok,
                            .type_ids = typ};
        checked += sweep_check_replay_equals_live(&m, &b);
        free(tok);
        free(typ);
    }
    printf("demo model: %zu (query, configuration, K) replays equal their live runs\n", checked);
    cJSON_Delete(root);
    reranker_close(&m);
}

// ---- the CLI pipeline on a generated model and a made-up BEIR dataset ----

static const char *const sweep_words[] = {"stem",  "cell",  "gene",    "brain", "virus",
                                          "heart", "blood", "tumor",   "drug",  "dose",
                                          "risk",  "mouse", "protein", "cancer"};
enum {
    SW_WORDS = sizeof sweep_words / sizeof sweep_words[0],
    SW_DOCS = 40,
    SW_QUERIES = 6,
    SW_CANDS = 9
};

static void sweep_make_dataset(const char *dir) {
    char path[4300];
    snprintf(path, sizeof path, "%.4000s/qrels", dir);
    assert_int_equal(mkdir(path, 0777), 0);
    unsigned x = 7;
    snprintf(path, sizeof path, "%.4000s/corpus.jsonl", dir);
    FILE *f = fopen(path, "w");
    for (int d = 0; d < SW_DOCS; d++) {
        fprintf(f, "{\"_id\": \"d%d\", \"title\": \"%s\", \"text\": \"", d,
                sweep_words[d % SW_WORDS]);
        for (int w = 0; w < 6 + d % 5; w++) {
            x = x * 1103515245u + 12345u;
            fprintf(f, "%s%s", w ? " " : "", sweep_words[(x >> 16) % SW_WORDS]);
        }
        fprintf(f, "\"}\n");
    }
    fclose(f);
    snprintf(path, sizeof path, "%.4000s/queries.jsonl", dir);
    f = fopen(path, "w");
    for (int q = 0; q < SW_QUERIES; q++)
        fprintf(f, "{\"_id\": \"q%d\", \"text\": \"%s %s\"}\n", q, sweep_words[q % SW_WORDS],
                sweep_words[(q * 3 + 1) % SW_WORDS]);
    fclose(f);
    snprintf(path, sizeof path, "%.4000s/qrels/test.tsv", dir);
    f = fopen(path, "w");
    fprintf(f, "query-id\tcorpus-id\tscore\n");
    for (int q = 0; q < SW_QUERIES; q++)
        fprintf(f, "q%d\td%d\t1\nq%d\td%d\t2\n", q, (q * 5) % SW_DOCS, q, (q * 5 + 3) % SW_DOCS);
    fclose(f);
    snprintf(path, sizeof path, "%.4000s/run.trec", dir);
    f = fopen(path, "w");
    for (int q = 0; q < SW_QUERIES; q++)
        for (int r = 0; r < SW_CANDS; r++)
            fprintf(f, "q%d Q0 d%d %d %.3f bm25\n", q, (q * 5 + r) % SW_DOCS, r + 1, 10.0 - r);
    fclose(f);
}

// (not inlined: GCC 12 then mistakes the result for a pointer to `text`)
__attribute__((noinline)) static char *sweep_slurp(const char *path) {
    char *text = NULL;
    size_t len;
    if (file_read_all(path, &text, &len) != STATUS_OK) fail_msg("%s", status_message());
    return text;
}

static void sweep_run_ok(const char *const *args) {
    char *err;
    int rc = testutil_run_grating(args, NULL, &err);
    if (rc != 0) fail_msg("grating %s exited %d: %s", args[0], rc, err);
    free(err);
}

// ---- outputs of `grating sweep`: exports, refusals, unjudged queries,
// relative dataset paths, failures that leave nothing behind ----

// Column `name` of the CSV row whose first field is `config` (no quoted
// commas before the measures in the rows checked here).
static double sweep_csv_value(const char *csv, size_t config, const char *name) {
    const char *nl = strchr(csv, '\n');
    size_t col = 0;
    for (const char *p = csv; p < nl;) {
        const char *e = memchr(p, ',', (size_t)(nl - p));
        if (!e) e = nl;
        if ((size_t)(e - p) == strlen(name) && strncmp(p, name, (size_t)(e - p)) == 0) break;
        col++;
        p = e + 1;
        if (e == nl) fail_msg("no column %s", name);
    }
    char head[32];
    snprintf(head, sizeof head, "\n%zu,", config);
    const char *row = strstr(csv, head);
    if (!row) fail_msg("no row %zu", config);
    row++;
    int q = 0;
    for (size_t c = 0; c < col; row++) { // skip `col` fields (quotes respected)
        if (*row == '"')
            q = !q;
        else if (*row == ',' && !q)
            c++;
        else if (*row == '\n' || !*row)
            fail_msg("row %zu is short", config);
    }
    return strtod(row, NULL);
}

// Reads DATA/qrels/SPLIT.tsv of the made-up dataset: relevance of (qid, doc).
static int sweep_qrel(const char *qrels_text, const char *qid, const char *doc, int *any) {
    char needle[128];
    snprintf(needle, sizeof needle, "\n%s\t", qid);
    *any = strstr(qrels_text, needle) != NULL;
    snprintf(needle, sizeof needle, "\n%s\t%s\t", qid, doc);
    const char *p = strstr(qrels_text, needle);
    return p ? atoi(p + strlen(needle)) : 0;
}

// Every exported run reads back with the TREC reader, ranks the way its
// scores sort, and gives the CSV's label means when evaluated as trec_eval
// does (tests/test_metrics.c checks the measures against trec_eval itself).
static void sweep_check_exports(const char *out_dir, const char *csv, const char *qrels_path,
                                size_t n_configs) {
    char *qrels = sweep_slurp(qrels_path);
    char *qr = malloc(strlen(qrels) + 2);
    qr[0] = '\n';
    strcpy(qr + 1, qrels);
    static const char *const cols[6] = {"nDCG@10", "RR@10", "RR", "P@1", "P@5", "P@10"};
    for (size_t c = 0; c < n_configs; c++) {
        char path[4300];
        snprintf(path, sizeof path, "%.4000s/runs/config-%03zu.trec", out_dir, c);
        trec_run run;
        if (trec_run_read(&run, path) != STATUS_OK) fail_msg("%s", status_message());
        assert_int_equal(run.n_queries, SW_QUERIES);
        double sum[6] = {0};
        size_t judged_q = 0;
        for (size_t qi = 0; qi < run.n_queries; qi++) {
            const trec_query *q = &run.queries[qi];
            int rel[64] = {0}, judged[64], any = 0;
            size_t nj = 0;
            assert_true(q->n <= 64);
            for (size_t i = 0; i < q->n; i++) {
                if (i > 0 && !(q->cands[i].score < q->cands[i - 1].score))
                    fail_msg("%s: query %s: scores do not strictly decrease at rank %zu", path,
                             q->qid, i + 1);
                rel[i] = sweep_qrel(qr, q->qid, q->cands[i].doc_id, &any);
            }
            // judged levels of the query (every qrels line)
            char needle[64];
            snprintf(needle, sizeof needle, "\n%s\t", q->qid);
            for (const char *p = strstr(qr, needle); p; p = strstr(p + 1, needle)) {
                const char *tab = strchr(p + strlen(needle), '\t');
                judged[nj++] = atoi(tab + 1);
            }
            if (!any) continue;
            judged_q++;
            size_t n = q->n;
            double v[6] = {metric_ndcg_at(rel, n, judged, nj, 10), metric_rr_at(rel, n, 10),
                           metric_rr_at(rel, n, METRIC_UNCUT),     metric_precision_at(rel, n, 1),
                           metric_precision_at(rel, n, 5),         metric_precision_at(rel, n, 10)};
            for (int m = 0; m < 6; m++)
                sum[m] += v[m];
        }
        for (int m = 0; m < 6; m++) {
            double want = sweep_csv_value(csv, c, cols[m]), got = sum[m] / (double)judged_q;
            if (fabs(want - got) > 6e-7)
                fail_msg("config %zu %s: CSV %.6f, its exported run %.6f", c, cols[m], want, got);
        }
        trec_run_free(&run);
    }
    free(qr);
    free(qrels);
}

static int sweep_run_rc(const char *const *args, const char *needle) {
    char *err;
    int rc = testutil_run_grating(args, NULL, &err);
    if (needle && !strstr(err, needle))
        fail_msg("grating %s: expected <%s> in stderr, got <%s>", args[0], needle, err);
    free(err);
    return rc;
}

// Runs a sweep with the output file size limited to `limit` bytes (EFBIG, as
// a full disk would fail): it must exit 1 (no crash) and leave nothing.
static void sweep_run_limited(const char *const *args, rlim_t limit) {
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = limit;
    void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    char *err;
    int rc = testutil_run_grating(args, NULL, &err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, prev);
    if (rc != 1)
        fail_msg("limited to %llu bytes: exit %d (want 1): %s", (unsigned long long)limit, rc, err);
    assert_non_null(strstr(err, "grating sweep: "));
    free(err);
}

static void sweep_check_outputs(const char *tmp, const char *model, const char *data,
                                const char *trace_path, const char *grid, const char *out_full,
                                const char *csv_full) {
    (void)model;
    char out[4300], path[4400], qrels[4300];
    snprintf(qrels, sizeof qrels, "%.4000s/qrels/test.tsv", data);
    // Provenance: absolute trace and qrels paths, version, threads.
    char abs_trace[PATH_MAX];
    assert_non_null(realpath(trace_path, abs_trace));
    assert_non_null(strstr(csv_full, abs_trace));
    assert_non_null(strstr(csv_full, "/qrels/test.tsv\","));

    // Export every configuration; the runs agree with the CSV.
    snprintf(out, sizeof out, "%.4000s/exp/nested/deeper", tmp); // missing parents are created
    const char *ex[] = {"sweep", "--trace",      trace_path, "--grid",    grid, "--out",
                        out,     "--export-run", "all",      "--threads", "3",  NULL};
    sweep_run_ok(ex);
    snprintf(path, sizeof path, "%.4000s/sweep.csv", out);
    char *csv = sweep_slurp(path);
    assert_non_null(strstr(csv, ",3\n")); // threads recorded
    sweep_check_exports(out, csv, qrels, 10);
    snprintf(path, sizeof path, "%.4000s/runs/config-000.trec", out);
    char *run0 = sweep_slurp(path);
    assert_non_null(strstr(run0, " c0:none:{}:k1\n"));
    free(run0);
    // The first-stage run is the first-stage order (the input run's top 8).
    snprintf(path, sizeof path, "%.4000s/runs/config-008.trec", out);
    char *fs = sweep_slurp(path);
    assert_true(strncmp(fs, "q0 Q0 d0 1 10", 13) == 0);
    assert_non_null(strstr(fs, "q0 Q0 d7 8 3"));
    assert_non_null(strstr(fs, " c8:first-stage:{}:k1\n"));
    free(fs);
    free(csv);

    // An existing result is not replaced without --force; with it, it is.
    const char *again[] = {"sweep", "--trace", trace_path, "--grid", grid, "--out", out, NULL};
    assert_int_equal(sweep_run_rc(again, "pass --force to replace them"), 1);
    const char *forced[] = {"sweep", "--trace", trace_path, "--grid", grid,
                            "--out", out,       "--force",  NULL};
    sweep_run_ok(forced);
    snprintf(path, sizeof path, "%.4000s/runs", out);
    assert_false(access(path, F_OK) == 0); // the old runs went with the results they belonged to
    const char *bad_export[] = {"sweep", "--trace", trace_path,     "--grid", grid, "--out",
                                out,     "--force", "--export-run", "10",     NULL};
    assert_int_equal(sweep_run_rc(bad_export, "not a configuration index in [0, 10)"), 1);

    // Queries without judgements: skipped by default (trec_eval), or zero.
    snprintf(path, sizeof path, "%.4000s/qrels/half.tsv", data);
    char *full_qrels = sweep_slurp(qrels);
    FILE *f = fopen(path, "w");
    for (const char *p = full_qrels; *p;) { // header + the lines of q0, q1, q2
        const char *e = strchr(p, '\n');
        if (p == full_qrels || (p[0] == 'q' && p[1] <= '2')) fwrite(p, 1, (size_t)(e - p + 1), f);
        p = e + 1;
    }
    fclose(f);
    free(full_qrels);
    char out_skip[4300], out_zero[4300];
    snprintf(out_skip, sizeof out_skip, "%.4000s/half-skip", tmp);
    snprintf(out_zero, sizeof out_zero, "%.4000s/half-zero", tmp);
    const char *skip[] = {"sweep", "--trace", trace_path, "--grid", grid,
                          "--out", out_skip,  "--split",  "half",   NULL};
    assert_int_equal(sweep_run_rc(skip, "3 of 6 queries have no judgement"), 0);
    const char *zero[] = {"sweep",  "--trace", trace_path, "--grid",     grid,   "--out",
                          out_zero, "--split", "half",     "--unjudged", "zero", NULL};
    assert_int_equal(sweep_run_rc(zero, "counted as 0"), 0);
    snprintf(path, sizeof path, "%.4000s/sweep.csv", out_skip);
    char *cs = sweep_slurp(path);
    snprintf(path, sizeof path, "%.4000s/sweep.csv", out_zero);
    char *cz = sweep_slurp(path);
    assert_non_null(strstr(cs, "\n0,none,\"{}\",1,0,6,3,3,skip,"));
    assert_non_null(strstr(cz, "\n0,none,\"{}\",1,0,6,3,3,zero,"));
    for (size_t c = 0; c < 10; c++) {
        double s1 = sweep_csv_value(cs, c, "nDCG@10"), z1 = sweep_csv_value(cz, c, "nDCG@10");
        assert_true(fabs(z1 - s1 * 3.0 / 6.0) < 2e-6); // zero: the same sum over all 6
        assert_true(s1 > 0.0);
    }
    free(cs);
    free(cz);

    // No query judged: an error, nothing written.
    snprintf(path, sizeof path, "%.4000s/qrels/empty.tsv", data);
    testutil_write_file(path, "query-id\tcorpus-id\tscore\n", 25);
    snprintf(out, sizeof out, "%.4000s/never/made", tmp);
    const char *none[] = {"sweep", "--trace", trace_path, "--grid", grid,
                          "--out", out,       "--split",  "empty",  NULL};
    assert_int_equal(sweep_run_rc(none, "no query of the trace"), 1);
    assert_false(access(out, F_OK) == 0);

    // A trace made with a relative dataset path, swept from another folder:
    // the dataset is found next to the trace.
    char cwd[PATH_MAX], rel_out[4300];
    assert_non_null(getcwd(cwd, sizeof cwd));
    assert_int_equal(chdir(tmp), 0);
    const char *rel_trace[] = {"trace",         "--model", model, "--dataset", "data",   "--run",
                               "data/run.trec", "--top-n", "8",   "--out",     "rel.h5", NULL};
    sweep_run_ok(rel_trace);
    assert_int_equal(chdir(cwd), 0);
    snprintf(path, sizeof path, "%.4000s/rel.h5", tmp);
    snprintf(rel_out, sizeof rel_out, "%.4000s/rel-sweep", tmp);
    const char *rel_sweep[] = {"sweep", "--trace", path, "--grid", grid, "--out", rel_out, NULL};
    sweep_run_ok(rel_sweep);
    snprintf(path, sizeof path, "%.4000s/sweep.csv", rel_out);
    char *cr = sweep_slurp(path);
    assert_true(fabs(sweep_csv_value(cr, 0, "nDCG@10") - sweep_csv_value(csv_full, 0, "nDCG@10")) <
                1e-9);
    free(cr);

    // Write failures (file size limit: EFBIG, like a full disk) in the CSV
    // and in the HDF5 file: exit 1, no crash, nothing left; with --force the
    // previous results stay whole.
    snprintf(out, sizeof out, "%.4000s/limited", tmp);
    const char *lim[] = {"sweep", "--trace", trace_path,     "--grid", grid,
                         "--out", out,       "--export-run", "all",    NULL};
    rlim_t limits[] = {1000, 8000};
    for (size_t i = 0; i < 2; i++) {
        sweep_run_limited(lim, limits[i]);
        assert_false(access(out, F_OK) == 0);
    }
    const char *lim_force[] = {"sweep", "--trace", trace_path, "--grid", grid,
                               "--out", out_full,  "--force",  NULL};
    for (size_t i = 0; i < 2; i++)
        sweep_run_limited(lim_force, limits[i]);
    snprintf(path, sizeof path, "%.4000s/sweep.csv", out_full);
    char *kept = sweep_slurp(path);
    assert_string_equal(kept, csv_full);
    free(kept);
    char listing[4400];
    snprintf(listing, sizeof listing, "%.4000s", out_full);
    DIR *d = opendir(listing);
    assert_non_null(d);
    size_t entries = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (e->d_name[0] != '.') {
            entries++;
            if (strstr(e->d_name, ".tmp-")) fail_msg("%s/%s left behind", out_full, e->d_name);
        }
    closedir(d);
    assert_int_equal(entries, 2); // sweep.csv, sweep.h5
}

static void test_cli_trace_sweep_shards_merge(void **state) {
    (void)state;
    char *tmp = testutil_tmpdir();
    char model[4300], data[4300], run[4300], grid[4300], full_trace[4300], merged_trace[4300];
    snprintf(model, sizeof model, "%.4000s/model", tmp);
    snprintf(data, sizeof data, "%.4000s/data", tmp);
    snprintf(run, sizeof run, "%.4000s/data/run.trec", tmp);
    snprintf(grid, sizeof grid, "%.4000s/grid.json", tmp);
    snprintf(full_trace, sizeof full_trace, "%.4000s/full.h5", tmp);
    snprintf(merged_trace, sizeof merged_trace, "%.4000s/merged.h5", tmp);
    synth_options o;
    synth_options_default(&o);
    o.config_path = testutil_source_path("tests/data/bert-tiny/config.json");
    o.out_dir = model;
    o.seed = 4;
    o.scale = 20.0;
    if (synth_write(&o, NULL) != STATUS_OK) fail_msg("%s", status_message());
    assert_int_equal(mkdir(data, 0777), 0);
    sweep_make_dataset(data);
    const char *g = "{\"name\": \"t\", \"k\": [1, 3], \"configs\": [{\"policy\": \"none\"},"
                    "{\"policy\": \"cluster-gap\", \"params\": {\"score\": \"logit\"}, \"grid\": "
                    "{\"threshold\": [0.01, 0.1]}},"
                    "{\"policy\": \"fixed-schedule\", \"params\": {\"schedule\": [{\"layer\": 1, "
                    "\"keep\": 4}]}}]}";
    testutil_write_file(grid, g, strlen(g));

    const char *trace_args[] = {"trace", "--model", model, "--dataset", data,       "--run",
                                run,     "--top-n", "8",   "--out",     full_trace, NULL};
    sweep_run_ok(trace_args);
    char shard_out[3][4300], shard_arg[3][16];
    for (int i = 0; i < 3; i++) {
        snprintf(shard_out[i], sizeof shard_out[i], "%.4000s/shard%d.h5", tmp, i);
        snprintf(shard_arg[i], sizeof shard_arg[i], "%d/3", i);
        const char *a[] = {"trace",      "--model", model,        "--dataset", data,
                           "--run",      run,       "--top-n",    "8",         "--out",
                           shard_out[i], "--shard", shard_arg[i], NULL};
        sweep_run_ok(a);
    }
    const char *merge_args[] = {"merge",      "--out",      merged_trace, shard_out[0],
                                shard_out[1], shard_out[2], NULL};
    sweep_run_ok(merge_args);
    trace a, b;
    assert_int_equal(trace_read(&a, full_trace), STATUS_OK);
    assert_int_equal(trace_read(&b, merged_trace), STATUS_OK);
    assert_int_equal(a.n_queries, SW_QUERIES);
    assert_int_equal(b.n_queries, SW_QUERIES);
    for (size_t qa = 0; qa < a.n_queries; qa++) { // same queries, same scores (order may differ)
        size_t qb = 0;
        while (qb < b.n_queries && strcmp(a.queries[qa].qid, b.queries[qb].qid) != 0)
            qb++;
        assert_true(qb < b.n_queries);
        assert_int_equal(a.queries[qa].n, 8);
        assert_memory_equal(a.queries[qa].scores, b.queries[qb].scores,
                            (a.meta.n_layers + 1) * 8 * sizeof(float));
        assert_memory_equal(a.queries[qa].tokens, b.queries[qb].tokens, 8 * sizeof(int32_t));
    }
    trace_free(&a);
    trace_free(&b);

    char out_full[4300], out_sh[3][4300], out_merged[4300], csv[4400];
    snprintf(out_full, sizeof out_full, "%.4000s/sweep-full", tmp);
    snprintf(out_merged, sizeof out_merged, "%.4000s/sweep-merged", tmp);
    const char *sw[] = {"sweep", "--trace", full_trace, "--grid", grid, "--out", out_full, NULL};
    sweep_run_ok(sw);
    for (int i = 0; i < 3; i++) {
        snprintf(out_sh[i], sizeof out_sh[i], "%.4000s/sweep-%d", tmp, i);
        const char *a2[] = {"sweep", "--trace", full_trace, "--grid",     grid,
                            "--out", out_sh[i], "--shard",  shard_arg[i], NULL};
        sweep_run_ok(a2);
    }
    const char *m2[] = {"merge", "--out", out_merged, out_sh[0], out_sh[1], out_sh[2], NULL};
    sweep_run_ok(m2);
    snprintf(csv, sizeof csv, "%.4000s/sweep.csv", out_full);
    char *c1 = sweep_slurp(csv);
    snprintf(csv, sizeof csv, "%.4000s/sweep.csv", out_merged);
    char *c2 = sweep_slurp(csv);
    assert_string_equal(c1, c2); // merged shards == unsharded, byte for byte
    // 1 header + (4 configs + the first-stage row) x 2 K; `none` is exact;
    // labels were found for all 6 queries; the only nan is the speedup of the
    // first-stage rows (zero reranker latency).
    size_t lines = 0, nans = 0;
    for (const char *p = c1; *p; p++)
        lines += *p == '\n';
    for (const char *p = c1; (p = strstr(p, "nan")); p++)
        nans++;
    assert_int_equal(lines, 1 + 5 * 2);
    assert_non_null(strstr(c1, "0,none,\"{}\",1,0,6,6,0,skip,1.000000,"));
    assert_non_null(strstr(c1, "\n8,first-stage,\"{}\",1,0,6,6,0,skip,"));
    assert_non_null(
        strstr(c1, "config,policy,params,k,chunk,n_queries,n_judged,n_unjudged,unjudged,"
                   "precision_at_k_vs_full,nDCG@10,RR@10,RR,P@1,P@5,P@10,fraction_computed,"));
    assert_non_null(strstr(c1, ",trace,qrels,model,grating_version,threads\n"));
    assert_int_equal(nans, 2);
    free(c2);
    sweep_check_outputs(tmp, model, data, full_trace, grid, out_full, c1);
    free(c1);

    char stab[4300];
    snprintf(stab, sizeof stab, "%.4000s/stability.csv", tmp);
    const char *st_args[] = {"stability", "--trace", full_trace, "--out", stab, NULL};
    sweep_run_ok(st_args);
    char *s = sweep_slurp(stab);
    assert_non_null(strstr(s, "layer,n_queries,kendall_tau"));
    assert_non_null(
        strstr(s, "\n2,6,1.000000,1.000000,")); // the last layer equals the final ranking
    free(s);

    // Bad input: a run naming a document the corpus lacks.
    char badrun[4300];
    snprintf(badrun, sizeof badrun, "%.4000s/bad.trec", tmp);
    testutil_write_file(badrun, "q0 Q0 nosuchdoc 1 1.0 x\n", 24);
    char *err;
    const char *bad_args[] = {"trace", "--model", model,   "--dataset", data,
                              "--run", badrun,    "--out", full_trace,  NULL};
    assert_int_equal(testutil_run_grating(bad_args, NULL, &err), 1);
    assert_non_null(strstr(err, "nosuchdoc"));
    assert_non_null(strstr(err, "bad.trec"));
    free(err);
    testutil_rmtree(tmp);
    free(tmp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_expansion_and_errors),
        cmocka_unit_test(test_replay_equals_live_demo),
        cmocka_unit_test(test_cli_trace_sweep_shards_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
