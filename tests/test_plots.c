/*
 * test_plots.c - plotting/plot.sh on the hand-written fixtures in
 * tests/data/plot-fixtures: every KIND writes a PNG (signature, 1200x800) and
 * an SVG holding the expected titles, axis labels and legend entries; the
 * Pareto front equals the one worked out by hand, also when the columns come
 * in another order (selection by name) with CRLF line ends; bad input (missing
 * file, unknown KIND, missing column) fails with a clear message and writes
 * nothing. Tests that draw skip when gnuplot is not installed.
 */
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define NOTE "fixture data (invented numbers), test_plots"

static int have_gnuplot(void) {
    if (system("command -v gnuplot >/dev/null 2>&1") == 0) return 1;
    fprintf(stderr, "SKIP: gnuplot not found in PATH (Debian package gnuplot-nox)\n");
    return 0;
}

static const char *fixture(const char *name) {
    static char buf[4][4096];
    static int next;
    char *s = buf[next++ % 4];
    snprintf(s, sizeof buf[0], "%s", testutil_source_path("tests/data/plot-fixtures"));
    strncat(s, "/", sizeof buf[0] - strlen(s) - 1);
    strncat(s, name, sizeof buf[0] - strlen(s) - 1);
    return s;
}

// Runs plotting/plot.sh with args (NULL-terminated); stderr into *err
// (malloc'd, may be NULL). Returns the exit status.
static int run_plot(const char *const *args, char **err) {
    char err_path[] = "/tmp/grating-test-plot-errXXXXXX";
    int err_fd = mkstemp(err_path);
    assert_true(err_fd >= 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, 1);
        dup2(err_fd, 2);
        size_t n = 0;
        while (args[n])
            n++;
        char **argv = calloc(n + 3, sizeof *argv);
        argv[0] = (char *)"bash";
        argv[1] = (char *)testutil_source_path("plotting/plot.sh");
        for (size_t i = 0; i < n; i++)
            argv[i + 2] = (char *)args[i];
        execvp("bash", argv);
        _exit(127);
    }
    int wstatus = 0;
    waitpid(pid, &wstatus, 0);
    FILE *f = fdopen(err_fd, "r");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *e = malloc((size_t)len + 1);
    assert_non_null(e);
    size_t got = fread(e, 1, (size_t)len, f);
    e[got] = '\0';
    fclose(f);
    unlink(err_path);
    if (err)
        *err = e;
    else
        free(e);
    if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
    return 128;
}

static char *slurp(const char *path, size_t *len_out) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)len + 1);
    assert_non_null(buf);
    size_t got = fread(buf, 1, (size_t)len, f);
    buf[got] = '\0';
    fclose(f);
    if (len_out) *len_out = got;
    return buf;
}

static int file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

// Checks OUT.png (PNG signature, 1200x800) and that OUT.svg contains every
// string of `texts` (NULL-terminated) as text.
static void check_outputs(const char *prefix, const char *const *texts) {
    char path[4200];
    size_t len = 0;
    snprintf(path, sizeof path, "%s.png", prefix);
    unsigned char *png = (unsigned char *)slurp(path, &len);
    assert_non_null(png);
    assert_true(len > 1000);
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    assert_memory_equal(png, sig, 8);
    assert_memory_equal(png + 12, "IHDR", 4);
    unsigned w =
        (unsigned)png[16] << 24 | (unsigned)png[17] << 16 | (unsigned)png[18] << 8 | png[19];
    unsigned h =
        (unsigned)png[20] << 24 | (unsigned)png[21] << 16 | (unsigned)png[22] << 8 | png[23];
    assert_int_equal(w, 1200);
    assert_int_equal(h, 800);
    free(png);

    snprintf(path, sizeof path, "%s.svg", prefix);
    char *svg = slurp(path, &len);
    assert_non_null(svg);
    assert_non_null(strstr(svg, "<svg"));
    assert_non_null(strstr(svg, "</svg>"));
    for (size_t i = 0; texts[i]; i++) {
        if (!strstr(svg, texts[i]))
            fprintf(stderr, "%s.svg lacks the text \"%s\"\n", prefix, texts[i]);
        assert_non_null(strstr(svg, texts[i]));
    }
    free(svg);
}

static void plot_ok(const char *kind, const char *csv, const char *prefix, const char *const *extra,
                    const char *const *texts) {
    const char *args[16] = {kind, fixture(csv), prefix, "--title-note", NOTE};
    size_t n = 5;
    for (size_t i = 0; extra && extra[i]; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    char *err = NULL;
    int rc = run_plot(args, &err);
    if (rc != 0) fprintf(stderr, "plot.sh %s %s failed (%d): %s\n", kind, csv, rc, err);
    assert_int_equal(rc, 0);
    free(err);
    check_outputs(prefix, texts);
}

static void test_pareto(void **state) {
    (void)state;
    if (!have_gnuplot()) skip();
    char *tmp = testutil_tmpdir();
    char prefix[4200];
    snprintf(prefix, sizeof prefix, "%s/pareto", tmp);
    const char *texts[] = {"Precision@K vs the full model's top-K",
                           "Candidate-layers computed (fraction of N × L; full model = 1)",
                           ">K = 1  (1st stage 0.950)<",
                           ">K = 10  (1st stage 0.990)<",
                           ">none<",
                           ">cluster-gap<",
                           ">score-gap<",
                           ">fixed-schedule<",
                           ">Pareto front (circled points)<",
                           NOTE,
                           "mean over 12 queries per point",
                           ">first stage (no reranking)<",
                           NULL};
    plot_ok("pareto", "sweep.csv", prefix, NULL, texts);

    snprintf(prefix, sizeof prefix, "%s/pareto-latency", tmp);
    const char *extra[] = {"--x", "latency", "--k", "10", NULL};
    const char *texts_lat[] = {"Predicted latency per query (ms)", ">K = 10  (1st stage 0.990)<",
                               "Precision@K vs predicted latency", NULL};
    plot_ok("pareto", "sweep.csv", prefix, extra, texts_lat);
    char path[4300];
    snprintf(path, sizeof path, "%s.svg", prefix);
    char *svg = slurp(path, NULL);
    assert_non_null(svg);
    assert_null(strstr(svg, ">K = 1  (")); // --k 10 leaves K = 1 out
    free(svg);

    snprintf(prefix, sizeof prefix, "%s/pareto-series", tmp);
    const char *extra_s[] = {"--series", "policy,params.k", NULL};
    const char *texts_s[] = {">cluster-gap, k=3<", ">cluster-gap, k=default<", ">none, k=default<",
                             NULL};
    plot_ok("pareto", "sweep.csv", prefix, extra_s, texts_s);
    testutil_rmtree(tmp);
    free(tmp);
}

// Parses front.dat ("# K=..." comment before each block; x, y first columns)
// into "K\tx\ty\n" lines.
static char *front_as_tsv(const char *path) {
    char *text = slurp(path, NULL);
    assert_non_null(text);
    size_t cap = strlen(text) + 64, n = 0;
    char *out = calloc(cap, 1);
    assert_non_null(out);
    char k[32] = "";
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
        if (strncmp(line, "# K=", 4) == 0) {
            snprintf(k, sizeof k, "%s", line + 4);
            continue;
        }
        if (line[0] == '#' || line[0] == '\0') continue;
        double x, y;
        assert_int_equal(sscanf(line, "%lf\t%lf", &x, &y), 2);
        n += (size_t)snprintf(out + n, cap - n, "%s\t%g\t%g\n", k, x, y);
        assert_true(n < cap);
    }
    free(text);
    return out;
}

static void test_pareto_front(void **state) {
    (void)state;
    if (!have_gnuplot()) skip();
    char *tmp = testutil_tmpdir();
    char *expected = slurp(fixture("expected-front.tsv"), NULL);
    assert_non_null(expected);
    const char *inputs[] = {"sweep.csv", "sweep-reordered.csv"};
    for (int i = 0; i < 2; i++) {
        char prefix[4200], path[4300];
        snprintf(prefix, sizeof prefix, "%s/front-%d", tmp, i);
        const char *extra[] = {"--keep-data", NULL};
        const char *texts[] = {">Pareto front (circled points)<", NULL};
        plot_ok("pareto", inputs[i], prefix, extra, texts);
        snprintf(path, sizeof path, "%s.data/front.dat", prefix);
        char *got = front_as_tsv(path);
        if (strcmp(got, expected) != 0)
            fprintf(stderr, "%s: front\n%s\nexpected\n%s\n", inputs[i], got, expected);
        assert_string_equal(got, expected);
        free(got);
    }
    free(expected);
    testutil_rmtree(tmp);
    free(tmp);
}

static void test_ndcg_compute(void **state) {
    (void)state;
    if (!have_gnuplot()) skip();
    char *tmp = testutil_tmpdir();
    char prefix[4200];
    snprintf(prefix, sizeof prefix, "%s/ndcg", tmp);
    const char *texts[] = {"nDCG@10 vs qrels (final order of all N candidates)",
                           "Candidate-layers computed (fraction of N × L; full model = 1)",
                           "K = 1  (full 0.680, 1st stage 0.610)",
                           "K = 10  (full 0.680, 1st stage 0.610)",
                           ">full model (policy none)<",
                           ">first stage (no reranking)<",
                           ">cluster-gap<",
                           ">score-gap<",
                           NOTE,
                           NULL};
    plot_ok("ndcg-compute", "sweep-reordered.csv", prefix, NULL, texts);
    testutil_rmtree(tmp);
    free(tmp);
}

static void test_stability(void **state) {
    (void)state;
    if (!have_gnuplot()) skip();
    char *tmp = testutil_tmpdir();
    char prefix[4200];
    snprintf(prefix, sizeof prefix, "%s/stability", tmp);
    const char *texts[] = {"Layer (0 = embedding output; last = the model's final score)",
                           "Agreement with the final ranking (1 = identical; unitless)",
                           ">Kendall τ-b<",
                           ">Goodman-Kruskal γ<",
                           ">cluster γ (pairs across 1-D K-Means clusters)<",
                           "top-10 overlap",
                           "mean over 12 queries",
                           NOTE,
                           NULL};
    plot_ok("stability", "stability.csv", prefix, NULL, texts);
    testutil_rmtree(tmp);
    free(tmp);
}

static void test_memory_timeline(void **state) {
    (void)state;
    if (!have_gnuplot()) skip();
    char *tmp = testutil_tmpdir();
    char prefix[4200];
    snprintf(prefix, sizeof prefix, "%s/memory", tmp);
    const char *texts[] = {"Time since the start (ms)",
                           "Memory in use (MiB",
                           ">HF (peak 107.0 MiB)<",
                           ">W=1 (peak 24.0 MiB)<",
                           ">W=2+chunk (peak 16.0 MiB)<",
                           "Memory over time",
                           NOTE,
                           NULL};
    plot_ok("memory-timeline", "memory-timeline.csv", prefix, NULL, texts);
    testutil_rmtree(tmp);
    free(tmp);
}

static void test_ablation(void **state) {
    (void)state;
    if (!have_gnuplot()) skip();
    char *tmp = testutil_tmpdir();
    char prefix[4200];
    snprintf(prefix, sizeof prefix, "%s/ablation", tmp);
    const char *texts[] = {"Latency (ms)",       "Peak memory (MiB)", ">baseline<", ">+pruning<",
                           ">+embedding cache<", ">4400 ms<",         ">2244 ms<",  ">-49.0%<",
                           ">1184 MiB<",         ">+44.8%<",          NOTE,         NULL};
    plot_ok("ablation", "ablation.csv", prefix, NULL, texts);
    testutil_rmtree(tmp);
    free(tmp);
}

static void test_latency_n(void **state) {
    (void)state;
    if (!have_gnuplot()) skip();
    char *tmp = testutil_tmpdir();
    char prefix[4200];
    snprintf(prefix, sizeof prefix, "%s/latency", tmp);
    const char *texts[] = {
        "Number of candidates N", "Latency per query (ms)", ">HF<", ">W=2+chunk<", NOTE, NULL};
    plot_ok("latency-n", "latency-n.csv", prefix, NULL, texts);
    snprintf(prefix, sizeof prefix, "%s/latency-log", tmp);
    const char *extra[] = {"--log", "xy", NULL};
    const char *texts_log[] = {"Number of candidates N (log scale)",
                               "Latency per query (ms) (log scale)", NULL};
    plot_ok("latency-n", "latency-n.csv", prefix, extra, texts_log);
    testutil_rmtree(tmp);
    free(tmp);
}

// A failing run: non-zero exit, `message` on stderr, no output files.
static void expect_failure(const char *const *args, const char *prefix, const char *message) {
    char *err = NULL;
    int rc = run_plot(args, &err);
    assert_int_not_equal(rc, 0);
    if (!strstr(err, message)) fprintf(stderr, "stderr lacks \"%s\":\n%s\n", message, err);
    assert_non_null(strstr(err, message));
    free(err);
    char path[4300];
    snprintf(path, sizeof path, "%s.png", prefix);
    assert_false(file_exists(path));
    snprintf(path, sizeof path, "%s.svg", prefix);
    assert_false(file_exists(path));
}

static void test_errors(void **state) {
    (void)state;
    char *tmp = testutil_tmpdir();
    char prefix[4200], missing[4200];
    snprintf(prefix, sizeof prefix, "%s/out", tmp);
    snprintf(missing, sizeof missing, "%s/no-such.csv", tmp);

    const char *a1[] = {"pareto", missing, prefix, NULL};
    expect_failure(a1, prefix, "no-such.csv: no such file");

    const char *a2[] = {"scatter", fixture("sweep.csv"), prefix, NULL};
    expect_failure(a2, prefix, "unknown KIND 'scatter'");

    const char *a3[] = {"pareto", fixture("sweep-missing-column.csv"), prefix, NULL};
    expect_failure(a3, prefix, "missing required column(s) precision_at_k_vs_full");

    const char *a4[] = {"stability", fixture("sweep.csv"), prefix, NULL};
    expect_failure(a4, prefix, "missing required column(s) layer, kendall_tau");

    const char *a5[] = {"pareto", fixture("sweep.csv"), prefix, "--x", "tokens", NULL};
    expect_failure(a5, prefix, "--x must be fraction, flops or latency");

    const char *a6[] = {"pareto", fixture("sweep.csv"), NULL};
    expect_failure(a6, prefix, "expected KIND INPUT.csv OUT_PREFIX");

    char bad[4200];
    snprintf(bad, sizeof bad, "%s/bad.csv", tmp);
    const char text[] = "step,latency_ms,peak_mib\nbaseline,4400,1184\n+pruning,fast,1714\n";
    testutil_write_file(bad, text, sizeof text - 1);
    const char *a7[] = {"ablation", bad, prefix, NULL};
    expect_failure(a7, prefix, "line 3: column latency_ms: \"fast\" is not a number");

    const char quote[] = "step,latency_ms,peak_mib\n\"baseline,4400,1184\n";
    testutil_write_file(bad, quote, sizeof quote - 1);
    expect_failure(a7, prefix, "unterminated quoted field");

    const char header[] = "step,latency_ms,peak_mib\n";
    testutil_write_file(bad, header, sizeof header - 1);
    expect_failure(a7, prefix, "no data rows");
    testutil_rmtree(tmp);
    free(tmp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pareto),          cmocka_unit_test(test_pareto_front),
        cmocka_unit_test(test_ndcg_compute),    cmocka_unit_test(test_stability),
        cmocka_unit_test(test_memory_timeline), cmocka_unit_test(test_ablation),
        cmocka_unit_test(test_latency_n),       cmocka_unit_test(test_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
