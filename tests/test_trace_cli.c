// `grating trace` end to end with the demo model (issue 10): a failed query
// is a clean error (no double free), a full disk (EFBIG under RLIMIT_FSIZE)
// is a clean error with no crash at exit and no complete-looking file,
// --resume recovers from a kill at any point (truncated, garbage, killed
// early, ENOSPC-damaged partial files) with scores bit-identical to an
// uninterrupted trace, memory stays flat in the number of queries, and the
// provenance (absolute paths, threads), split checks, --force and progress
// lines.
#include "testutil.h"

#include "analysis/trace.h"

#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

typedef struct {
    const char *model, *data, *run;
    char *tmp;
    char ref[4300]; // uninterrupted trace of the first 4 queries
} trace_fixture;

static trace_fixture fx;

static int trace_cli_setup(void **state) {
    (void)state;
    fx.model = testutil_shared_path("models/scifact-minibert-demo");
    fx.data = testutil_shared_path("data/scifact");
    fx.run = testutil_shared_path("data/scifact/bm25/test.bm25.top100.trec");
    fx.tmp = testutil_tmpdir();
    snprintf(fx.ref, sizeof fx.ref, "%.4000s/ref.h5", fx.tmp);
    return 0;
}

static int trace_cli_teardown(void **state) {
    (void)state;
    testutil_rmtree(fx.tmp);
    free(fx.tmp);
    return 0;
}

#define TRACE_SKIP_IF_NO_DATA()                                                                    \
    do {                                                                                           \
        if (!fx.model || !fx.data || !fx.run) skip();                                              \
    } while (0)

// argv of a small trace (4 queries, 5 candidates, 96 tokens) writing `out`;
// `extra` (NULL-terminated) is appended. Static storage, one at a time.
static const char *const *trace_args(const char *out, const char *const *extra) {
    static const char *args[32];
    size_t n = 0;
    const char *base[] = {"trace", "--model",   fx.model, "--dataset", fx.data, "--run",
                          fx.run,  "--top-n",   "5",      "--max-len", "96",    "--limit",
                          "4",     "--threads", "1",      "--out",     out};
    for (size_t i = 0; i < sizeof base / sizeof base[0]; i++)
        args[n++] = base[i];
    for (size_t i = 0; extra && extra[i]; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    return args;
}

static void trace_make_reference(void) {
    if (access(fx.ref, F_OK) == 0) return;
    char *err = NULL;
    int rc = testutil_run_grating(trace_args(fx.ref, NULL), NULL, &err);
    if (rc != 0) fprintf(stderr, "%s", err);
    assert_int_equal(rc, 0);
    assert_null(strchr(err, '\r')); // whole progress lines on a non-terminal
    assert_non_null(strstr(err, "1 threads"));
    free(err);
}

// Same queries, candidates, tokens, first-stage and per-layer scores (bit
// for bit) as the reference trace.
static void trace_assert_same_as_reference(const char *path) {
    trace a, b;
    assert_int_equal(trace_read(&a, fx.ref), STATUS_OK);
    if (trace_read(&b, path) != STATUS_OK) fail_msg("%s", status_message());
    assert_int_equal(a.n_queries, b.n_queries);
    size_t L = (size_t)a.meta.n_layers;
    for (size_t i = 0; i < a.n_queries; i++) {
        const trace_query *x = &a.queries[i], *y = &b.queries[i];
        assert_string_equal(x->qid, y->qid);
        assert_int_equal(x->n, y->n);
        for (size_t j = 0; j < x->n; j++)
            assert_string_equal(x->doc_ids[j], y->doc_ids[j]);
        assert_memory_equal(x->scores, y->scores, (L + 1) * x->n * sizeof(float));
        assert_memory_equal(x->tokens, y->tokens, x->n * sizeof(int32_t));
        assert_memory_equal(x->first_stage, y->first_stage, x->n * sizeof(float));
    }
    trace_free(&a);
    trace_free(&b);
}

// Starts grating with `args` (stdout to /dev/null, stderr to err_fd or
// /dev/null when < 0). With fsize > 0 the file size is limited and SIGXFSZ
// ignored, so writes beyond the limit fail with EFBIG, as on a full disk.
static pid_t trace_spawn(const char *const *args, rlim_t fsize, int err_fd) {
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1);
        dup2(err_fd >= 0 ? err_fd : devnull, 2);
        if (fsize > 0) {
            signal(SIGXFSZ, SIG_IGN);
            struct rlimit rl = {fsize, fsize};
            setrlimit(RLIMIT_FSIZE, &rl);
        }
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
    return pid;
}

// Runs grating under a file size limit; returns the exit status or 128 +
// signal, stderr in *err.
static int trace_run_limited(const char *const *args, rlim_t fsize, char **err) {
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = trace_spawn(args, fsize, fd[1]);
    close(fd[1]);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    ssize_t got;
    while ((got = read(fd[0], buf + len, cap - 1 - len)) > 0)
        len += (size_t)got;
    buf[len] = '\0';
    close(fd[0]);
    int ws = 0;
    waitpid(pid, &ws, 0);
    *err = buf;
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

static off_t trace_file_size(const char *path) {
    struct stat s;
    return stat(path, &s) == 0 ? s.st_size : -1;
}

static void trace_resume_ok(const char *out, const char *expect_note) {
    const char *extra[] = {"--resume", NULL};
    char *err = NULL;
    int rc = testutil_run_grating(trace_args(out, extra), NULL, &err);
    if (rc != 0 || (expect_note && !strstr(err, expect_note)))
        fail_msg("resume rc %d, expected note '%s': %s", rc, expect_note ? expect_note : "", err);
    free(err);
    char partial[4400];
    snprintf(partial, sizeof partial, "%s.partial", out);
    assert_int_equal(access(partial, F_OK), -1);
    trace_assert_same_as_reference(out);
}

// Issue 10: any failed query used to double-free the documents' ids (SIGABRT).
static void test_trace_failed_query_is_clean(void **state) {
    (void)state;
    TRACE_SKIP_IF_NO_DATA();
    char out[4300];
    snprintf(out, sizeof out, "%.4000s/fail.h5", fx.tmp);
    const char *args[] = {"trace", "--model", fx.model, "--dataset", fx.data, "--run",
                          fx.run,  "--top-n", "3",      "--max-len", "8",     "--limit",
                          "1",     "--out",   out,      NULL};
    char *err = NULL;
    assert_int_equal(testutil_run_grating(args, NULL, &err), 1);
    assert_non_null(strstr(err, "query 1: candidate 0"));
    assert_non_null(strstr(err, "no room for the document"));
    assert_int_equal(access(out, F_OK), -1);
    free(err);
    // A run whose query is not in the dataset: clean error naming the run.
    char badrun[4300];
    snprintf(badrun, sizeof badrun, "%.4000s/noq.trec", fx.tmp);
    const char *line = "nosuchquery Q0 34386619 1 1.0 x\n";
    testutil_write_file(badrun, line, strlen(line));
    const char *args2[] = {"trace", "--model", fx.model, "--dataset", fx.data,
                           "--run", badrun,    "--out",  out,         NULL};
    assert_int_equal(testutil_run_grating(args2, NULL, &err), 1);
    assert_non_null(strstr(err, "nosuchquery"));
    assert_int_equal(access(out, F_OK), -1);
    free(err);
}

// A write failure (EFBIG here, ENOSPC on a full disk) used to end in SIGSEGV
// inside libhdf5's exit handler. Now: clean message, exit 1, no FILE.h5, and
// --resume recovers the complete queries of the damaged partial file.
static void test_trace_disk_full_then_resume(void **state) {
    (void)state;
    TRACE_SKIP_IF_NO_DATA();
    trace_make_reference();
    // The limit falls inside the second query or later.
    off_t full = trace_file_size(fx.ref);
    assert_true(full > 20000);
    rlim_t limits[] = {(rlim_t)full / 2, 4096};
    for (size_t k = 0; k < 2; k++) {
        char out[4300], partial[4400];
        snprintf(out, sizeof out, "%.4000s/full%zu/t.h5", fx.tmp, k);
        snprintf(partial, sizeof partial, "%s.partial", out);
        char *err = NULL;
        int rc = trace_run_limited(trace_args(out, NULL), limits[k], &err);
        if (rc != 1) fail_msg("rc %d (expected 1, no signal): %s", rc, err);
        assert_non_null(strstr(err, "t.h5.partial"));
        assert_non_null(strstr(err, "disk full"));
        assert_int_equal(access(out, F_OK), -1); // nothing complete-looking
        free(err);
        trace_resume_ok(out, k == 0 ? "resumed" : NULL);
    }
}

// The in-library part of the same fix: a process whose trace write failed
// exits normally (its exit handlers run) instead of crashing in libhdf5.
static void test_trace_writer_efbig_exit_is_clean(void **state) {
    (void)state;
    char path[4300];
    snprintf(path, sizeof path, "%.4000s/efbig.h5", fx.tmp);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        struct rlimit rl = {12000, 12000};
        setrlimit(RLIMIT_FSIZE, &rl);
        trace_meta meta = {.model = "m",
                           .config_hash = "h",
                           .architecture = "a",
                           .n_layers = 2,
                           .score_kind = "logit",
                           .tokenizer = "t",
                           .dataset = "d",
                           .split = "test",
                           .run = "r",
                           .top_n = 200,
                           .command = "c",
                           .version = "v",
                           .created = "x"};
        trace_writer w;
        if (trace_writer_open(&w, path, &meta, 0) != STATUS_OK) _exit(3);
        enum { N = 200 };
        static float scores[3 * N];
        static int32_t tokens[N];
        static float fs[N];
        static double ls[2];
        static char ids[N][16];
        static char *doc_ids[N];
        for (int i = 0; i < N; i++) {
            snprintf(ids[i], sizeof ids[i], "d%d", i);
            doc_ids[i] = ids[i];
            scores[i] = (float)i * 0.37f;
        }
        status st = STATUS_OK;
        for (int q = 0; q < 100 && st == STATUS_OK; q++) {
            char qid[16];
            snprintf(qid, sizeof qid, "q%d", q);
            for (int i = 0; i < 3 * N; i++)
                scores[i] = (float)(i * 7919 % 1013) * (float)(q + 1);
            trace_query tq = {.qid = qid,
                              .n = N,
                              .doc_ids = doc_ids,
                              .scores = scores,
                              .tokens = tokens,
                              .first_stage = fs,
                              .layer_seconds = ls};
            st = trace_writer_add_query(&w, &tq);
        }
        if (st == STATUS_OK) st = trace_writer_finish(&w);
        int failed = st != STATUS_OK && strstr(status_message(), "disk full") != NULL;
        trace_writer_close(&w);
        exit(failed ? 42 : 4); // exit(): the atexit handlers run
    }
    int ws = 0;
    waitpid(pid, &ws, 0);
    if (!WIFEXITED(ws)) fail_msg("the writer process died with signal %d", WTERMSIG(ws));
    assert_int_equal(WEXITSTATUS(ws), 42);
    assert_int_equal(access(path, F_OK), -1);
}

// Damaged .partial files: each is recovered (complete queries kept) or
// started over with a message; the result equals the uninterrupted trace.
static void test_trace_resume_damaged_partials(void **state) {
    (void)state;
    TRACE_SKIP_IF_NO_DATA();
    trace_make_reference();
    FILE *f = fopen(fx.ref, "rb");
    assert_non_null(f);
    size_t size = (size_t)trace_file_size(fx.ref);
    char *bytes = malloc(size);
    assert_int_equal(fread(bytes, 1, size, f), size);
    fclose(f);
    char out[4300], partial[4400];
    snprintf(out, sizeof out, "%.4000s/damaged.h5", fx.tmp);
    snprintf(partial, sizeof partial, "%s.partial", out);

    // Killed before the first query (issue 10 repro: 96 bytes of superblock).
    testutil_write_file(partial, bytes, 96);
    trace_resume_ok(out, "cannot be read (HDF5 cannot open it");
    remove(out);
    // Garbage.
    testutil_write_file(partial, "garbage, not HDF5\n", 18);
    trace_resume_ok(out, "cannot be read (HDF5 cannot open it");
    remove(out);
    // Empty file.
    testutil_write_file(partial, "", 0);
    trace_resume_ok(out, "cannot be read (HDF5 cannot open it");
    remove(out);
    // Truncated in the middle (as a full disk leaves it): whatever is
    // complete is kept, the rest traced again.
    for (size_t cut = size / 4; cut < size; cut += size / 4) {
        testutil_write_file(partial, bytes, cut);
        trace_resume_ok(out, "grating trace: ");
        remove(out);
    }
    // A whole (finished) trace renamed to .partial: all 4 queries kept.
    testutil_write_file(partial, bytes, size);
    trace_resume_ok(out, "resumed 4 complete queries");
    remove(out);
    free(bytes);
}

// SIGKILL at several points of a run (first before any query is stored).
static void test_trace_kill_anywhere_then_resume(void **state) {
    (void)state;
    TRACE_SKIP_IF_NO_DATA();
    trace_make_reference();
    double delays[] = {0.0, 0.05, 0.3, 0.8};
    for (size_t k = 0; k < sizeof delays / sizeof delays[0]; k++) {
        char out[4300], partial[4400];
        snprintf(out, sizeof out, "%.4000s/kill%zu.h5", fx.tmp, k);
        snprintf(partial, sizeof partial, "%s.partial", out);
        pid_t pid = trace_spawn(trace_args(out, NULL), 0, -1);
        for (int i = 0; i < 3000 && access(partial, F_OK) != 0; i++)
            usleep(2000);
        struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)(delays[k] * 1e9)};
        nanosleep(&ts, NULL);
        kill(pid, SIGKILL);
        int ws;
        waitpid(pid, &ws, 0);
        if (access(out, F_OK) == 0) continue; // finished before the kill
        trace_resume_ok(out, "grating trace: ");
    }
}

// Provenance and output rules: absolute paths from relative arguments, the
// thread count, --force, parent folders, split checks.
static void test_trace_paths_force_split(void **state) {
    (void)state;
    TRACE_SKIP_IF_NO_DATA();
    char cwd[PATH_MAX];
    assert_non_null(getcwd(cwd, sizeof cwd));
    char link[4300];
    snprintf(link, sizeof link, "%.4000s/scifact", fx.tmp);
    assert_int_equal(symlink(fx.data, link), 0);
    assert_int_equal(chdir(fx.tmp), 0);
    const char *args[] = {"trace", "--model",        fx.model,  "--dataset", "scifact",
                          "--run", fx.run,           "--top-n", "3",         "--max-len",
                          "64",    "--limit",        "2",       "--threads", "1",
                          "--out", "new/sub/rel.h5", NULL};
    char *err = NULL;
    int rc = testutil_run_grating(args, NULL, &err);
    if (rc != 0) fail_msg("%s", err);
    free(err);
    trace t;
    assert_int_equal(trace_read(&t, "new/sub/rel.h5"), STATUS_OK);
    char *real = realpath(fx.data, NULL);
    assert_string_equal(t.meta.dataset, real);
    free(real);
    assert_true(t.meta.model[0] == '/' && t.meta.run[0] == '/');
    assert_int_equal(t.meta.threads, 1);
    trace_free(&t);
    // An existing output is refused without --force, replaced with it.
    assert_int_equal(testutil_run_grating(args, NULL, &err), 1);
    assert_non_null(strstr(err, "--force"));
    free(err);
    const char *forced[24];
    size_t n = 0;
    for (; args[n]; n++)
        forced[n] = args[n];
    forced[n++] = "--force";
    forced[n] = NULL;
    assert_int_equal(testutil_run_grating(forced, NULL, &err), 0);
    free(err);
    assert_int_equal(chdir(cwd), 0);

    // A test run traced against the train split: no query judged -> error.
    char out[4300];
    snprintf(out, sizeof out, "%.4000s/split.h5", fx.tmp);
    const char *train[] = {"trace", "--model", fx.model, "--dataset", fx.data, "--run",
                           fx.run,  "--split", "train",  "--top-n",   "3",     "--max-len",
                           "64",    "--limit", "2",      "--out",     out,     NULL};
    assert_int_equal(testutil_run_grating(train, NULL, &err), 1);
    assert_non_null(strstr(err, "none of the 2 queries"));
    assert_non_null(strstr(err, "--allow-unjudged"));
    assert_int_equal(access(out, F_OK), -1);
    free(err);
    const char *train_ok[20];
    for (n = 0; train[n]; n++)
        train_ok[n] = train[n];
    train_ok[n++] = "--allow-unjudged";
    train_ok[n] = NULL;
    assert_int_equal(testutil_run_grating(train_ok, NULL, &err), 0);
    assert_non_null(strstr(err, "WARNING: only 0 of the 2 queries"));
    free(err);
    // A run mixing a judged (test) and an unjudged (train) query: warning.
    char mixed[4300];
    snprintf(mixed, sizeof mixed, "%.4000s/mixed.trec", fx.tmp);
    const char *lines = "1 Q0 34386619 1 9.7 x\n1 Q0 43385013 2 9.6 x\n"
                        "0 Q0 31715818 1 5.0 x\n0 Q0 34386619 2 4.0 x\n";
    testutil_write_file(mixed, lines, strlen(lines));
    snprintf(out, sizeof out, "%.4000s/mixed.h5", fx.tmp);
    const char *mix[] = {"trace",   "--model", fx.model,    "--dataset", fx.data, "--run", mixed,
                         "--top-n", "2",       "--max-len", "64",        "--out", out,     NULL};
    assert_int_equal(testutil_run_grating(mix, NULL, &err), 0);
    assert_non_null(strstr(err, "WARNING: only 1 of the 2 queries"));
    free(err);
    // A split that does not exist.
    const char *nosplit[] = {"trace", "--model", fx.model,  "--dataset", fx.data,
                             "--run", fx.run,    "--split", "nosuch",    "--out",
                             out,     "--force", NULL};
    assert_int_equal(testutil_run_grating(nosplit, NULL, &err), 1);
    assert_non_null(strstr(err, "qrels/nosuch.tsv"));
    free(err);
}

// Peak RSS of a trace does not grow with the number of queries.
static long trace_peak_rss_kb(const char *out, const char *limit) {
    const char *args[] = {"trace", "--model",   fx.model, "--dataset", fx.data, "--run",
                          fx.run,  "--top-n",   "20",     "--max-len", "192",   "--limit",
                          limit,   "--threads", "1",      "--out",     out,     NULL};
    pid_t pid = trace_spawn(args, 0, -1);
    int ws;
    struct rusage ru;
    assert_int_equal(wait4(pid, &ws, 0, &ru), pid);
    assert_true(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    return ru.ru_maxrss;
}

static void test_trace_memory_flat(void **state) {
    (void)state;
    TRACE_SKIP_IF_NO_DATA();
#if defined(__SANITIZE_ADDRESS__)
    // ASan's quarantine keeps freed memory on purpose: RSS says nothing here.
    fprintf(stderr, "SKIP: peak RSS is not meaningful under AddressSanitizer\n");
    skip();
#endif
    char a[4300], b[4300];
    snprintf(a, sizeof a, "%.4000s/rss3.h5", fx.tmp);
    snprintf(b, sizeof b, "%.4000s/rss15.h5", fx.tmp);
    long r3 = trace_peak_rss_kb(a, "3"), r15 = trace_peak_rss_kb(b, "15");
    fprintf(stderr, "peak RSS: 3 queries %ld KiB, 15 queries %ld KiB\n", r3, r15);
    // Before the fix: about +6.5 MiB per query (+78 MiB here).
    assert_true(r15 < r3 + 16 * 1024);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_failed_query_is_clean),
        cmocka_unit_test(test_trace_writer_efbig_exit_is_clean),
        cmocka_unit_test(test_trace_disk_full_then_resume),
        cmocka_unit_test(test_trace_resume_damaged_partials),
        cmocka_unit_test(test_trace_kill_anywhere_then_resume),
        cmocka_unit_test(test_trace_paths_force_split),
        cmocka_unit_test(test_trace_memory_flat),
    };
    return cmocka_run_group_tests(tests, trace_cli_setup, trace_cli_teardown);
}
