// Reading untrusted HDF5 files (core/analysis/trace_guard.c): the corrupt traces of
// ../shared/repros through stability, sweep and merge, generated corruptions
// of a small valid trace (truncations, byte flips) and of a sweep file, the
// schema checks, and `grating merge` (run order, provenance, --force).
#include "testutil.h"

#include "analysis/trace.h"
#include "analysis/trace_guard.h"
#include "base/clock.h"

#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { TL = 3, TN = 4 }; // layers and candidates of the fake traces

// Seconds a guarded read may take in these tests (GRATING_H5_TIMEOUT), and
// the wall-time bound of one CLI run on a bad file.
enum { GUARD_TIMEOUT = 3, RUN_BOUND = GUARD_TIMEOUT + 30 };

static trace_meta guard_meta(const char *run, const char *command) {
    trace_meta m = {.model = "models/x",
                    .config_hash = "h",
                    .architecture = "BertForSequenceClassification",
                    .n_layers = TL,
                    .hidden_size = 8,
                    .intermediate_size = 16,
                    .score_kind = "logit",
                    .tokenizer = "models/x/tokenizer.json",
                    .max_len = 64,
                    .dataset = "data/x",
                    .split = "test",
                    .run = (char *)run,
                    .top_n = TN,
                    .command = (char *)command,
                    .version = "test",
                    .created = "2026-12-02T00:00:00Z"};
    return m;
}

// Query `qid` with TN candidates and deterministic values.
static trace_query guard_query(const char *qid, int seed) {
    trace_query q = {.qid = (char *)qid, .n = TN};
    q.doc_ids = calloc(TN, sizeof *q.doc_ids);
    q.scores = malloc((TL + 1) * TN * sizeof *q.scores); // (TL + 1, TN)
    q.tokens = malloc(TN * sizeof *q.tokens);
    q.first_stage = malloc(TN * sizeof *q.first_stage);
    q.layer_seconds = malloc(TL * sizeof *q.layer_seconds);
    for (size_t i = 0; i < TN; i++) {
        char id[32];
        snprintf(id, sizeof id, "d%d-%zu", seed, i);
        q.doc_ids[i] = strdup(id);
        q.tokens[i] = (int32_t)(10 + i);
        q.first_stage[i] = (float)(10.0 - (double)i);
    }
    for (size_t i = 0; i < (TL + 1) * TN; i++)
        q.scores[i] = (float)sin((double)(i + 1) * (seed + 1));
    for (size_t l = 0; l < TL; l++)
        q.layer_seconds[l] = 0.001 * (double)(l + 1);
    q.embed_seconds = 0.0001;
    q.score_seconds = 0.0002;
    return q;
}

static void guard_query_free(trace_query *q) {
    for (size_t i = 0; i < q->n; i++)
        free(q->doc_ids[i]);
    free(q->doc_ids);
    free(q->scores);
    free(q->tokens);
    free(q->first_stage);
    free(q->layer_seconds);
}

// Writes a trace of the queries `qids` (seeds = their positions in `qids`).
static void guard_write_trace(const char *path, const trace_meta *meta, const char *const *qids,
                              size_t n) {
    trace_writer w;
    if (trace_writer_open(&w, path, meta, 0) != STATUS_OK) fail_msg("%s", status_message());
    for (size_t i = 0; i < n; i++) {
        trace_query q = guard_query(qids[i], atoi(qids[i] + 1));
        if (trace_writer_add_query(&w, &q) != STATUS_OK) fail_msg("%s", status_message());
        guard_query_free(&q);
    }
    if (trace_writer_finish(&w) != STATUS_OK) fail_msg("%s", status_message());
}

static unsigned char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = '\0';
    *len = (size_t)n;
    return buf;
}

// Runs the CLI with a hard wall-clock limit; returns the exit status, 128 +
// signal, or -1 when it had to be killed after `limit` seconds. *err gets
// stderr (malloc'd).
static int run_cli(const char *const *args, double limit, char **err, double *seconds) {
    char err_path[] = "/tmp/grating-test-guard-errXXXXXX";
    int err_fd = mkstemp(err_path);
    assert_true(err_fd >= 0);
    double t0 = clock_now_seconds();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(err_fd, 2);
        size_t n = 0;
        while (args[n])
            n++;
        char **argv = calloc(n + 2, sizeof *argv);
        argv[0] = (char *)GRATING_BINARY;
        for (size_t i = 0; i < n; i++)
            argv[i + 1] = (char *)args[i];
        execv(GRATING_BINARY, argv);
        _exit(127);
    }
    int ws = 0, killed = 0;
    while (waitpid(pid, &ws, WNOHANG) == 0) {
        if (clock_now_seconds() - t0 > limit) {
            kill(pid, SIGKILL);
            waitpid(pid, &ws, 0);
            killed = 1;
            break;
        }
        struct timespec nap = {0, 5000000};
        nanosleep(&nap, NULL);
    }
    *seconds = clock_now_seconds() - t0;
    size_t len;
    *err = (char *)read_file(err_path, &len);
    close(err_fd);
    unlink(err_path);
    if (killed) return -1;
    if (WIFSIGNALED(ws)) return 128 + WTERMSIG(ws);
    return WEXITSTATUS(ws);
}

// One bad file through stability, sweep and merge: no signal, exit 1, a
// message naming the file and no sanitizer report of grating's own process,
// within the bound. Prints a before/after line for the report.
static void expect_clean_failure(const char *bad, const char *tmp, const char *grid) {
    char out_sweep[4300], out_merge[4300], out_csv[4300];
    snprintf(out_sweep, sizeof out_sweep, "%.4000s/sweep-out", tmp);
    snprintf(out_merge, sizeof out_merge, "%.4000s/merged.h5", tmp);
    snprintf(out_csv, sizeof out_csv, "%.4000s/stability.csv", tmp);
    const char *stab[] = {"stability", "--trace", bad, "--out", out_csv, NULL};
    const char *sweep[] = {"sweep", "--trace", bad,           "--grid", grid,
                           "--out", out_sweep, "--no-labels", NULL};
    const char *merge[] = {"merge", "--out", out_merge, bad, NULL};
    const char *const *cmds[] = {stab, sweep, merge};
    for (size_t c = 0; c < 3; c++) {
        char *err = NULL;
        double secs = 0;
        int rc = run_cli(cmds[c], RUN_BOUND, &err, &secs);
        const char *base = strrchr(bad, '/') ? strrchr(bad, '/') + 1 : bad;
        char *nl = strrchr(err, '\n');
        if (nl && nl == err + strlen(err) - 1) *nl = '\0';
        printf("  %-40s %-9s rc=%d %.1fs %s\n", base, cmds[c][0], rc, secs,
               strrchr(err, '\n') ? strrchr(err, '\n') + 1 : err);
        if (rc != 1 || !strstr(err, bad) || strstr(err, "Sanitizer") ||
            strstr(err, "runtime error"))
            fail_msg("%s %s: rc %d after %.1f s, stderr:\n%s", cmds[c][0], bad, rc, secs, err);
        assert_true(secs < RUN_BOUND);
        free(err);
    }
    // Nothing that looks complete is left behind.
    assert_int_not_equal(access(out_merge, F_OK), 0);
    assert_int_not_equal(access(out_csv, F_OK), 0);
    char p[4400];
    snprintf(p, sizeof p, "%s/sweep.csv", out_sweep);
    assert_int_not_equal(access(p, F_OK), 0);
}

static void write_grid(const char *path) {
    const char *g = "{\"name\": \"g\", \"k\": [2], \"configs\": [{\"policy\": \"none\"}]}";
    testutil_write_file(path, g, strlen(g));
}

static void test_repros(void **state) {
    (void)state;
    const char *names[] = {
        "repros/trace-hdf5-segv-H5HG_read.h5", "repros/trace-hdf5-heap-overflow-H5Aexists.h5",
        "repros/trace-hdf5-hang-H5C_protect.h5", "repros/trace-leak-054d1295.h5"};
    char *tmp = testutil_tmpdir();
    char grid[4300];
    snprintf(grid, sizeof grid, "%s/grid.json", tmp);
    write_grid(grid);
    size_t found = 0;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *p = testutil_shared_path(names[i]); // prints SKIP when absent
        if (!p) continue;
        char path[4300];
        snprintf(path, sizeof path, "%s", p);
        expect_clean_failure(path, tmp, grid);
        found++;
    }
    testutil_rmtree(tmp);
    free(tmp);
    if (found == 0) skip();
}

static void assert_trace_equal(const trace *a, const trace *b) {
    trace_meta *ma = (trace_meta *)&a->meta, *mb = (trace_meta *)&b->meta;
    char **sa;
    int64_t *ia;
    for (size_t i = 0; (sa = trace_meta_string_field(ma, i, NULL)); i++)
        assert_string_equal(*sa, *trace_meta_string_field(mb, i, NULL));
    for (size_t i = 0; (ia = trace_meta_int_field(ma, i, NULL)); i++)
        assert_int_equal(*ia, *trace_meta_int_field(mb, i, NULL));
    assert_int_equal(a->n_queries, b->n_queries);
    size_t L = (size_t)a->meta.n_layers;
    for (size_t i = 0; i < a->n_queries; i++) {
        const trace_query *x = &a->queries[i], *y = &b->queries[i];
        assert_string_equal(x->qid, y->qid);
        assert_int_equal(x->n, y->n);
        for (size_t j = 0; j < x->n; j++)
            assert_string_equal(x->doc_ids[j], y->doc_ids[j]);
        assert_memory_equal(x->scores, y->scores, (L + 1) * x->n * sizeof *x->scores);
        assert_memory_equal(x->tokens, y->tokens, x->n * sizeof *x->tokens);
        assert_memory_equal(x->first_stage, y->first_stage, x->n * sizeof *x->first_stage);
        assert_memory_equal(x->layer_seconds, y->layer_seconds, L * sizeof *x->layer_seconds);
        assert_true(x->embed_seconds == y->embed_seconds && x->score_seconds == y->score_seconds);
    }
}

// 1 when the traces hold the same data.
static int trace_same(const trace *a, const trace *b) {
    if (a->n_queries != b->n_queries || a->meta.n_layers != b->meta.n_layers) return 0;
    size_t L = (size_t)a->meta.n_layers;
    for (size_t i = 0; i < a->n_queries; i++) {
        const trace_query *x = &a->queries[i], *y = &b->queries[i];
        if (strcmp(x->qid, y->qid) || x->n != y->n) return 0;
        for (size_t j = 0; j < x->n; j++)
            if (strcmp(x->doc_ids[j], y->doc_ids[j])) return 0;
        if (memcmp(x->scores, y->scores, (L + 1) * x->n * sizeof *x->scores) ||
            memcmp(x->tokens, y->tokens, x->n * sizeof *x->tokens) ||
            memcmp(x->first_stage, y->first_stage, x->n * sizeof *x->first_stage))
            return 0;
    }
    return 1;
}

// A guarded read of a file that may be anything: returns within the bound,
// and whatever it returns is either an error naming the file or a trace
// that passes the checks. 0: error, 1: same data as `ref`, 2: other data.
static int guarded_read_ok(const char *path, const trace *ref) {
    trace t;
    double t0 = clock_now_seconds();
    status st = trace_guard_read(&t, path);
    assert_true(clock_now_seconds() - t0 < GUARD_TIMEOUT + 10);
    if (st == STATUS_OK) {
        assert_int_equal(trace_guard_check(&t, path), STATUS_OK);
        int same = trace_same(&t, ref);
        trace_free(&t);
        return same ? 1 : 2;
    }
    if (!strstr(status_message(), path))
        fail_msg("message does not name %s: %s", path, status_message());
    return 0;
}

static void test_valid_and_corrupted_traces(void **state) {
    (void)state;
    char *tmp = testutil_tmpdir();
    char path[4300], bad[4300], grid[4300];
    snprintf(path, sizeof path, "%s/valid.h5", tmp);
    snprintf(bad, sizeof bad, "%s/bad.h5", tmp);
    snprintf(grid, sizeof grid, "%s/grid.json", tmp);
    write_grid(grid);
    trace_meta meta = guard_meta("run.trec", "grating trace ...");
    const char *qids[] = {"q1", "q2", "q3"};
    guard_write_trace(path, &meta, qids, 3);

    // The guarded path reads exactly what trace_read reads.
    trace a, b;
    if (trace_read(&a, path) != STATUS_OK) fail_msg("%s", status_message());
    if (trace_guard_read(&b, path) != STATUS_OK) fail_msg("%s", status_message());
    assert_trace_equal(&a, &b);
    trace_free(&b);

    size_t len;
    unsigned char *orig = read_file(path, &len);
    // Truncations: header, superblock, object headers, heaps, data, last byte.
    size_t cuts[] = {0,       1,       8,       48,          96,          200,       512,    1024,
                     len / 4, len / 3, len / 2, 2 * len / 3, 3 * len / 4, len - 100, len - 1};
    size_t n_result[3] = {0};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        testutil_write_file(bad, orig, cuts[i] < len ? cuts[i] : len - 1);
        n_result[guarded_read_ok(bad, &a)]++;
    }
    assert_int_equal(n_result[0],
                     sizeof cuts / sizeof cuts[0]); // a truncated trace is never accepted
    // Byte flips at pseudo-random offsets (1 to 4 bytes each).
    unsigned char *buf = malloc(len);
    uint64_t rng = 0x9e3779b97f4a7c15ull;
    for (int trial = 0; trial < 150; trial++) {
        memcpy(buf, orig, len);
        int flips = 1 + trial % 4;
        for (int f = 0; f < flips; f++) {
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)(rng >> 33) % len;
            buf[at] ^= (unsigned char)(1u << ((rng >> 20) % 8));
        }
        testutil_write_file(bad, buf, len);
        n_result[guarded_read_ok(bad, &a)]++;
    }
    printf("  generated corruptions: %zu clean errors, %zu read as the same data (flips in unused "
           "bytes), %zu read as other valid data\n",
           n_result[0], n_result[1], n_result[2]);
    assert_true(n_result[0] > 20);
    // 64 bytes inverted every 256 bytes: every structure of the file is hit
    // (some windows make libhdf5 1.10.8 loop forever); the first window that
    // fails, and the first that times out, also go through the CLI.
    size_t first_fail = SIZE_MAX, first_hang = SIZE_MAX, n_win[3] = {0};
    for (size_t off = 0; off + 64 <= len; off += 256) {
        memcpy(buf, orig, len);
        for (size_t i = 0; i < 64; i++)
            buf[off + i] ^= 0xff;
        testutil_write_file(bad, buf, len);
        double t0 = clock_now_seconds();
        int r = guarded_read_ok(bad, &a);
        n_win[r]++;
        if (r == 0 && first_fail == SIZE_MAX) first_fail = off;
        if (r == 0 && clock_now_seconds() - t0 >= GUARD_TIMEOUT && first_hang == SIZE_MAX) first_hang = off;
    }
    printf("  inverted windows: %zu clean errors, %zu same data, %zu other valid data; first "
           "timeout at "
           "offset %zd\n",
           n_win[0], n_win[1], n_win[2],
           first_hang == SIZE_MAX ? (ssize_t)-1 : (ssize_t)first_hang);
    assert_true(n_win[0] > 10);
    // Through the CLI: a truncation, the first failing window, the first hang.
    testutil_write_file(bad, orig, len / 2);
    expect_clean_failure(bad, tmp, grid);
    size_t offs[2] = {first_fail, first_hang};
    for (size_t k = 0; k < 2; k++) {
        if (offs[k] == SIZE_MAX) continue;
        memcpy(buf, orig, len);
        for (size_t i = 0; i < 64; i++)
            buf[offs[k] + i] ^= 0xff;
        testutil_write_file(bad, buf, len);
        expect_clean_failure(bad, tmp, grid);
    }
    trace_free(&a);
    // Not a regular file; missing.
    trace t;
    assert_int_equal(trace_guard_read(&t, tmp), STATUS_ERR_IO);
    assert_non_null(strstr(status_message(), "is a folder"));
    snprintf(bad, sizeof bad, "%s/missing.h5", tmp);
    assert_int_equal(trace_guard_read(&t, bad), STATUS_ERR_IO);
    assert_non_null(strstr(status_message(), "missing.h5"));
    free(buf);
    free(orig);
    testutil_rmtree(tmp);
    free(tmp);
}

// Well-formed HDF5 with values no trace can hold: the checks after decoding.
static void test_schema_checks(void **state) {
    (void)state;
    char *tmp = testutil_tmpdir();
    char path[4300];
    snprintf(path, sizeof path, "%s/t.h5", tmp);
    trace_meta meta = guard_meta("run.trec", "grating trace ...");
    struct {
        int what;
        status code;
        const char *message;
    } cases[] = {{0, STATUS_ERR_NUMERIC, "score of candidate 2 (d1-2) after layer 1 is nan"},
                 {1, STATUS_ERR_FORMAT, "has 65 tokens, expected 1 to max_len = 64"},
                 {2, STATUS_ERR_FORMAT, "doc id 'd1-0' appears twice"},
                 {3, STATUS_ERR_NUMERIC, "layer_seconds[0] is -1"},
                 {4, STATUS_ERR_NUMERIC, "first-stage score of candidate 0 (d1-0) is inf"}};
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        trace_writer w;
        assert_int_equal(trace_writer_open(&w, path, &meta, 0), STATUS_OK);
        trace_query q = guard_query("q1", 1);
        switch (cases[c].what) {
        case 0:
            q.scores[1 * TN + 2] = NAN;
            break;
        case 1:
            q.tokens[3] = 65;
            break;
        case 2:
            free(q.doc_ids[1]);
            q.doc_ids[1] = strdup("d1-0");
            break;
        case 3:
            q.layer_seconds[0] = -1;
            break;
        case 4:
            q.first_stage[0] = INFINITY;
            break;
        }
        assert_int_equal(trace_writer_add_query(&w, &q), STATUS_OK);
        assert_int_equal(trace_writer_finish(&w), STATUS_OK);
        guard_query_free(&q);
        trace t;
        assert_int_equal(trace_read(&t, path), STATUS_OK); // the plain reader takes it
        trace_free(&t);
        assert_int_equal(trace_guard_read(&t, path), cases[c].code);
        if (!strstr(status_message(), cases[c].message) || !strstr(status_message(), path))
            fail_msg("case %zu: %s", c, status_message());
    }
    // n_layers out of range is the reader's own check, passed through.
    trace_meta big = meta;
    big.top_n = 2; // fewer than the TN candidates
    trace_writer w;
    assert_int_equal(trace_writer_open(&w, path, &big, 0), STATUS_OK);
    trace_query q = guard_query("q1", 1);
    assert_int_equal(trace_writer_add_query(&w, &q), STATUS_OK);
    assert_int_equal(trace_writer_finish(&w), STATUS_OK);
    guard_query_free(&q);
    trace t;
    assert_int_equal(trace_guard_read(&t, path), STATUS_ERR_SHAPE);
    assert_non_null(strstr(status_message(), "query q1 has 4 candidates, expected 1 to top_n = 2"));
    // The time limit: GRATING_H5_TIMEOUT, else 10 s + 1 s per 4 MiB.
    double s = 0;
    assert_int_equal(trace_guard_timeout(0, &s), STATUS_OK);
    assert_true(s == GUARD_TIMEOUT);
    unsetenv("GRATING_H5_TIMEOUT");
    assert_int_equal(trace_guard_timeout(8u << 20, &s), STATUS_OK);
    assert_true(s == 12.0);
    setenv("GRATING_H5_TIMEOUT", "abc", 1);
    assert_int_equal(trace_guard_timeout(0, &s), STATUS_ERR_ARG);
    assert_int_equal(trace_guard_read(&t, path), STATUS_ERR_ARG);
    assert_non_null(strstr(status_message(), "GRATING_H5_TIMEOUT"));
    setenv("GRATING_H5_TIMEOUT", "3", 1);
    testutil_rmtree(tmp);
    free(tmp);
}

static void test_sweep_files(void **state) {
    (void)state;
    char *tmp = testutil_tmpdir();
    char tpath[4300], grid[4300], out[4300], h5[4400], bad_dir[4300], bad[4400];
    snprintf(tpath, sizeof tpath, "%s/t.h5", tmp);
    snprintf(grid, sizeof grid, "%s/grid.json", tmp);
    snprintf(out, sizeof out, "%s/sw", tmp);
    snprintf(h5, sizeof h5, "%s/sweep.h5", out);
    snprintf(bad_dir, sizeof bad_dir, "%s/badsw", tmp);
    snprintf(bad, sizeof bad, "%s/sweep.h5", bad_dir);
    write_grid(grid);
    trace_meta meta = guard_meta("run.trec", "grating trace ...");
    const char *qids[] = {"q1", "q2", "q3"};
    guard_write_trace(tpath, &meta, qids, 3);
    const char *sw[] = {"sweep", "--trace", tpath,         "--grid", grid,
                        "--out", out,       "--no-labels", NULL};
    char *err = NULL;
    double secs;
    if (run_cli(sw, 120, &err, &secs) != 0) fail_msg("%s", err);
    free(err);

    sweep_grid g1, g2;
    sweep_results r1, r2;
    trace_meta m1, m2;
    if (sweep_read(&g1, &r1, &m1, h5) != STATUS_OK) fail_msg("%s", status_message());
    if (trace_guard_read_sweep(&g2, &r2, &m2, h5) != STATUS_OK) fail_msg("%s", status_message());
    assert_string_equal(g1.name, g2.name);
    assert_int_equal(g1.n_configs, g2.n_configs);
    for (size_t c = 0; c < g1.n_configs; c++) {
        assert_string_equal(g1.configs[c].policy, g2.configs[c].policy);
        assert_string_equal(g1.configs[c].params_text, g2.configs[c].params_text);
        assert_int_equal(g1.configs[c].k, g2.configs[c].k);
        assert_int_equal(g1.configs[c].chunk, g2.configs[c].chunk);
        assert_non_null(g2.configs[c].params);
    }
    assert_int_equal(r1.n_queries, 3);
    assert_int_equal(r1.n_queries, r2.n_queries);
    assert_int_equal(r1.has_labels, r2.has_labels);
    for (size_t q = 0; q < r1.n_queries; q++) {
        assert_string_equal(r1.qids[q], r2.qids[q]);
        assert_int_equal(r1.query_index[q], r2.query_index[q]);
    }
    assert_memory_equal(r1.values, r2.values,
                        (size_t)SWEEP_N_METRICS * r1.n_configs * r1.n_queries * sizeof(double));
    assert_string_equal(m1.config_hash, m2.config_hash);
    assert_string_equal(m1.model, m2.model);
    sweep_grid_free(&g1), sweep_grid_free(&g2);
    sweep_results_free(&r1), sweep_results_free(&r2);
    trace_meta_free(&m1), trace_meta_free(&m2);

    // Corrupted sweep files through `grating merge`: clean errors only.
    mkdir(bad_dir, 0777);
    size_t len;
    unsigned char *orig = read_file(h5, &len), *buf = malloc(len);
    char merged[4300];
    snprintf(merged, sizeof merged, "%s/merged", tmp);
    uint64_t rng = 12345;
    for (int trial = 0; trial < 12; trial++) {
        memcpy(buf, orig, len);
        size_t n = len;
        if (trial < 4) {
            n = len * (size_t)(trial + 1) / 5;
        } else {
            for (int f = 0; f < 3; f++) {
                rng = rng * 6364136223846793005ull + 1442695040888963407ull;
                buf[(size_t)(rng >> 33) % len] ^= 0x55;
            }
        }
        testutil_write_file(bad, buf, n);
        const char *m[] = {"merge", "--out", merged, "--force", bad_dir, NULL};
        int rc = run_cli(m, RUN_BOUND, &err, &secs);
        if (!(rc == 0 || (rc == 1 && strstr(err, bad_dir))) || strstr(err, "Sanitizer"))
            fail_msg("trial %d: rc %d: %s", trial, rc, err);
        if (trial < 4) assert_int_equal(rc, 1);
        free(err);
    }
    free(buf);
    free(orig);
    testutil_rmtree(tmp);
    free(tmp);
}

static void write_text(const char *path, const char *text) {
    testutil_write_file(path, text, strlen(text));
}

static void read_merged_order(const char *path, const char *expect) {
    trace t;
    if (trace_guard_read(&t, path) != STATUS_OK) fail_msg("%s", status_message());
    char got[256] = "";
    for (size_t i = 0; i < t.n_queries; i++) {
        strcat(got, t.queries[i].qid);
        strcat(got, " ");
    }
    assert_string_equal(got, expect);
    trace_free(&t);
}

static void test_merge_order_provenance_force(void **state) {
    (void)state;
    char *tmp = testutil_tmpdir();
    char run[4300], s0[4300], s1[4300], out[4300], cmd0[4400], cmd1[4400];
    snprintf(run, sizeof run, "%s/run.trec", tmp);
    snprintf(s0, sizeof s0, "%s/shard0.h5", tmp);
    snprintf(s1, sizeof s1, "%s/shard1.h5", tmp);
    snprintf(out, sizeof out, "%s/new/folder/merged.h5", tmp);
    // Run order q5 q2 q9 q1 q7: shard 0/2 has q5 q9 q7, shard 1/2 has q2 q1.
    const char *order[] = {"q5", "q2", "q9", "q1", "q7"};
    char text[1024] = "";
    for (size_t i = 0; i < 5; i++)
        for (size_t d = 0; d < TN; d++) {
            char line[128];
            snprintf(line, sizeof line, "%s Q0 d%s-%zu %zu %g bm25\n", order[i], order[i] + 1, d,
                     d + 1, 10.0 - (double)d);
            strcat(text, line);
        }
    write_text(run, text);
    snprintf(cmd0, sizeof cmd0, "grating trace --run %s --shard 0/2", run);
    snprintf(cmd1, sizeof cmd1, "grating trace --run %s --shard=1/2", run);
    trace_meta m0 = guard_meta(run, cmd0), m1 = guard_meta(run, cmd1);
    const char *q0[] = {"q5", "q9", "q7"}, *q1[] = {"q2", "q1"};
    guard_write_trace(s0, &m0, q0, 3);
    guard_write_trace(s1, &m1, q1, 2);

    // Inputs in shard order reversed: the merged trace is in run order, in
    // folders that did not exist.
    const char *merge[] = {"merge", "--out", out, s1, s0, NULL};
    char *err = NULL;
    double secs;
    if (run_cli(merge, 60, &err, &secs) != 0) fail_msg("%s", err);
    assert_non_null(strstr(err, "the query order of the run file"));
    free(err);
    read_merged_order(out, "q5 q2 q9 q1 q7 ");
    trace t;
    assert_int_equal(trace_guard_read(&t, out), STATUS_OK);
    char expect[40000];
    snprintf(expect, sizeof expect, "grating merge --out %s %s %s\ninput %s: %s\ninput %s: %s", out,
             s1, s0, s1, cmd1, s0, cmd0);
    assert_string_equal(t.meta.command, expect);
    trace_free(&t);

    // Existing output: refused without --force, replaced with it.
    assert_int_equal(run_cli(merge, 60, &err, &secs), 1);
    assert_non_null(strstr(err, "exists; pass --force to replace it"));
    free(err);
    const char *merge_force[] = {"merge", "--out", out, "--force", s0, s1, NULL};
    if (run_cli(merge_force, 60, &err, &secs) != 0) fail_msg("%s", err);
    free(err);
    read_merged_order(out, "q5 q2 q9 q1 q7 ");

    // Without the run file: the shards' interleaving gives the same order.
    unlink(run);
    if (run_cli(merge_force, 60, &err, &secs) != 0) fail_msg("%s", err);
    assert_non_null(strstr(err, "the run order of the --shard i/n inputs"));
    free(err);
    read_merged_order(out, "q5 q2 q9 q1 q7 ");

    // stability --out: refused when it exists unless --force.
    char csv[4300];
    snprintf(csv, sizeof csv, "%s/other/stab.csv", tmp);
    const char *stab[] = {"stability", "--trace", out, "--out", csv, NULL};
    if (run_cli(stab, 60, &err, &secs) != 0) fail_msg("%s", err);
    free(err);
    assert_int_equal(run_cli(stab, 60, &err, &secs), 1);
    assert_non_null(strstr(err, "exists; pass --force to replace it"));
    free(err);
    const char *stab_force[] = {"stability", "--trace", out, "--out", csv, "--force", NULL};
    if (run_cli(stab_force, 60, &err, &secs) != 0) fail_msg("%s", err);
    free(err);
    testutil_rmtree(tmp);
    free(tmp);
}

int main(void) {
    char timeout[16];
    snprintf(timeout, sizeof timeout, "%d", GUARD_TIMEOUT);
    setenv("GRATING_H5_TIMEOUT", timeout, 1); // inherited by the CLI runs
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema_checks), cmocka_unit_test(test_valid_and_corrupted_traces),
        cmocka_unit_test(test_sweep_files),   cmocka_unit_test(test_merge_order_provenance_force),
        cmocka_unit_test(test_repros),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
