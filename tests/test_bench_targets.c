/*
 * test_bench_targets.c - the reproduction targets of Makefile.bench on a tiny
 * profile: experiments/bench_quick.sh --profile tiny runs every bench script
 * (bench_micro.sh, bench_ablation.sh, bench_latency_n.sh, a trace + sweeps +
 * summary_sweep.sh, summary_stability.sh) on a generated 6-layer BERT of
 * tests/data/bert-tiny's width and 3 made-up queries of 12 made-up documents,
 * in a few seconds, into a temporary folder. Checks that every target writes
 * its raw CSV and a summary.md with a markdown table, honest labels (model,
 * GENERATED weights, machine, N, K, sequence length, date; the paper's
 * numbers only as the paper's) and its plots (PNG signature, SVG with the
 * expected series); that the quick summary links them all; and that the
 * scripts refuse bad arguments with a message. Plot checks skip without
 * gnuplot; everything skips without h5dump (hdf5-tools) or bash.
 */
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char *g_dir;       // the tiny profile's output (group setup)
static int g_status = -1; // its exit status
static char *g_log;       // its stdout + stderr

static int have(const char *cmd) {
    char buf[256];
    snprintf(buf, sizeof buf, "command -v %s >/dev/null 2>&1", cmd);
    return system(buf) == 0;
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)len + 1);
    if (!s) {
        fclose(f);
        return NULL;
    }
    size_t got = fread(s, 1, (size_t)len, f);
    s[got] = '\0';
    fclose(f);
    return s;
}

// Runs `bash SCRIPT args...` with stdout and stderr into one malloc'd string.
static int run_script(const char *script, const char *const *args, char **output) {
    char out_path[] = "/tmp/grating-test-bench-outXXXXXX";
    int fd = mkstemp(out_path);
    assert_true(fd >= 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        size_t n = 0;
        while (args[n]) n++;
        char **argv = calloc(n + 3, sizeof *argv);
        argv[0] = (char *)"bash";
        argv[1] = (char *)testutil_source_path(script);
        for (size_t i = 0; i < n; i++) argv[i + 2] = (char *)args[i];
        if (chdir(testutil_source_path(".")) != 0) _exit(126);
        execvp("bash", argv);
        _exit(127);
    }
    int ws = 0;
    waitpid(pid, &ws, 0);
    close(fd);
    char *s = slurp(out_path);
    unlink(out_path);
    if (output) *output = s ? s : strdup("");
    else free(s);
    return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128;
}

static const char *path_in(const char *rel) {
    static char buf[8][4096];
    static int next;
    char *s = buf[next++ % 8];
    snprintf(s, sizeof buf[0], "%s/%s", g_dir, rel);
    return s;
}

static void assert_contains(const char *text, const char *what, const char *where) {
    if (!strstr(text, what)) fail_msg("%s: expected \"%s\" in:\n%.3000s", where, what, text);
}

static int group_setup(void **state) {
    (void)state;
    if (!have("bash") || !have("h5dump")) {
        fprintf(stderr, "SKIP: bash or h5dump (Debian hdf5-tools) not found\n");
        return 0;
    }
    g_dir = testutil_tmpdir();
    const char *args[] = {"--profile", "tiny", "--grating", GRATING_BINARY, "--out", g_dir, NULL};
    g_status = run_script("experiments/bench_quick.sh", args, &g_log);
    return 0;
}

static int group_teardown(void **state) {
    (void)state;
    if (g_dir) testutil_rmtree(g_dir);
    free(g_dir);
    free(g_log);
    return 0;
}

static int ran(void) {
    if (g_status < 0) {
        skip();
    }
    if (g_status != 0) fail_msg("bench_quick.sh --profile tiny exited %d:\n%s", g_status, g_log);
    return 1;
}

// The summary.md of a target: a heading, the labels, a markdown table.
static char *summary_of(const char *target) {
    char rel[256];
    snprintf(rel, sizeof rel, "%s/summary.md", target);
    char *s = slurp(path_in(rel));
    if (!s) fail_msg("%s not written", path_in(rel));
    assert_contains(s, "\n|---|", rel);
    assert_contains(s, "GENERATED", rel);
    assert_contains(s, "generated-bert-tiny", rel);
    assert_contains(s, "**machine**", rel);
    assert_contains(s, " cores", rel);
    assert_contains(s, "**date**", rel);
    return s;
}

static void test_tiny_profile_runs(void **state) {
    (void)state;
    ran();
    assert_contains(g_log, "GENERATED WEIGHTS AND MADE-UP DOCUMENTS", "output of bench_quick.sh");
    assert_contains(g_log, "quick profile:", "output of bench_quick.sh");
}

static void test_microbench_summary(void **state) {
    (void)state;
    ran();
    char *s = summary_of("microbench");
    const char *rows[] = {"| in-memory (full forward) | 1/3 |", "| W=1 (full forward) |",
                          "| chunk=2 (full forward) |",
                          "| full system: W=2 + chunk 2 + cache 0.1 + cluster-gap threshold 0.02 | 1 |",
                          "| full system: W=2 + chunk 2 + cache 0.1 + cluster-gap threshold 0.3 | 3 |",
                          "N = 8", "K in {1,3}", "max_len 64", "P@K vs full", "peak RSS MiB",
                          "mean alloc MiB", "**not measured here**",
                          "| latency vs W=1 offload (best K) |", "up to -89.2% (Bge-MiniCPM; P@1)",
                          "5.34x-11.45x lower than HF", "paper reports (its models; Apple/NVIDIA devices)"};
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) assert_contains(s, rows[i], "microbench");
    free(s);
    char *runs = slurp(path_in("microbench/runs.csv"));
    assert_non_null(runs);
    assert_contains(runs, "query,system,policy,threshold,k,latency_ms", "microbench/runs.csv");
    // 2 queries x (3 full forwards x 2 K + 2 thresholds x 2 K) rows + header
    size_t lines = 0;
    for (const char *p = runs; *p; p++) lines += *p == '\n';
    assert_int_equal(lines, 1 + 2 * (3 * 2 + 2 * 2));
    free(runs);
}

static void test_ablation_summary(void **state) {
    (void)state;
    ran();
    char *s = summary_of("ablation");
    const char *want[] = {"| baseline |", "| +pruning |", "| +chunking |", "| +streaming |",
                          "| +embedding cache |", "N = 12", "K = 3", "max_len 64",
                          "paper reports (Qwen3-Reranker-0.6B; Apple/NVIDIA device)",
                          "**the paper's** reported result", "**not measured here**",
                          "latency -49.0%; peak memory +44.8%", "latency -48.5%; peak memory -78.4%",
                          "memory -57.8%; latency +81 ms", "latency +4 ms; peak 271 MiB"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) assert_contains(s, want[i], "ablation");
    free(s);
    char *csv = slurp(path_in("ablation/ablation.csv"));
    assert_non_null(csv);
    // the plot's input: the five steps in order
    const char *a = strstr(csv, "\nbaseline,"), *b = strstr(csv, "\n+pruning,"),
               *c = strstr(csv, "\n+chunking,"), *d = strstr(csv, "\n+streaming,"),
               *e = strstr(csv, "\n+embedding cache,");
    assert_true(a && b && c && d && e && a < b && b < c && c < d && d < e);
    assert_true(strncmp(csv, "step,latency_ms,peak_mib\n", 25) == 0);
    free(csv);
}

static void test_latency_n_summary(void **state) {
    (void)state;
    ran();
    char *s = summary_of("latency-n");
    const char *want[] = {"| 4 |", "| 8 |", "| 12 |", "K = 2", "max_len 64", "N in {4,8,12}"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) assert_contains(s, want[i], "latency-n");
    free(s);
    char *csv = slurp(path_in("latency-n/latency-n.csv"));
    assert_non_null(csv);
    assert_contains(csv, "system,n,latency_ms\n", "latency-n.csv");
    assert_contains(csv, "full forward (in memory),12,", "latency-n.csv");
    assert_contains(csv, "full system (W=2+chunk+cache+cluster-gap),4,", "latency-n.csv");
    free(csv);
}

static void test_sweep_and_stability_summaries(void **state) {
    (void)state;
    ran();
    char *s = summary_of("sweep-scifact");
    const char *want[] = {"| 1 | full model | policy-comparison-scifact | none (defaults) |",
                          "| 1 | first stage (no reranking) | policy-comparison-scifact | first-stage (defaults) | ",
                          "as trec_eval ndcg_cut_10 (all 3 queries judged)",
                          "best P@K at <= 40% compute", "least compute with P@K >= 0.95",
                          "N = 8 first-stage candidates", "max_len 64", "3 queries",
                          "a prediction, not a timed run"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) assert_contains(s, want[i], "sweep-scifact");
    free(s);
    s = summary_of("stability");
    assert_contains(s, "| layer | queries | Kendall tau-b | GK gamma | cluster gamma |", "stability");
    assert_contains(s, "| 6 | 3 | 1.000 | 1.000 | 1.000 |", "stability"); // last layer = final
    free(s);
    char *csv = slurp(path_in("stability/stability.csv"));
    assert_non_null(csv);
    assert_contains(csv, "layer,", "stability.csv");
    free(csv);
}

static void test_quick_summary_links_all(void **state) {
    (void)state;
    ran();
    char *s = slurp(path_in("summary.md"));
    assert_non_null(s);
    const char *want[] = {"[microbench/summary.md](microbench/summary.md)",
                          "[ablation/summary.md](ablation/summary.md)",
                          "[latency-n/summary.md](latency-n/summary.md)",
                          "[sweep-scifact/summary.md](sweep-scifact/summary.md)",
                          "[stability/summary.md](stability/summary.md)",
                          "GENERATED WEIGHTS AND MADE-UP DOCUMENTS", "wall time", "profile tiny",
                          "| in-memory (full forward) |", "| +embedding cache |"};
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) assert_contains(s, want[i], "quick summary.md");
    free(s);
}

// PNG signature + non-trivial size; SVG holding every text of `texts`.
static void check_plot(const char *prefix, const char *const *texts) {
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    char png[4200], svg[4200];
    snprintf(png, sizeof png, "%s.png", path_in(prefix));
    snprintf(svg, sizeof svg, "%s.svg", path_in(prefix));
    FILE *f = fopen(png, "rb");
    if (!f) fail_msg("%s not written", png);
    unsigned char head[8] = {0};
    assert_int_equal(fread(head, 1, 8, f), 8);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fclose(f);
    assert_memory_equal(head, sig, 8);
    assert_true(size > 5000);
    char *s = slurp(svg);
    if (!s) fail_msg("%s not written", svg);
    assert_contains(s, "generated-bert-tiny (GENERATED weights)", svg);
    for (size_t i = 0; texts[i]; i++) assert_contains(s, texts[i], svg);
    free(s);
}

static void test_plots_written(void **state) {
    (void)state;
    ran();
    if (!have("gnuplot")) {
        fprintf(stderr, "SKIP: gnuplot not found in PATH (Debian package gnuplot-nox): plots not checked\n");
        skip();
    }
    const char *pareto[] = {"in-memory", "W=1", "chunk=2", "W=2+chunk+cache+cluster-gap 0.02",
                            "W=2+chunk+cache+cluster-gap 0.3", "max_len 64", NULL};
    check_plot("microbench/pareto", pareto);
    const char *timeline[] = {"in-memory", "W=1", "W=2+chunk+cache+cluster-gap 0.3", NULL};
    check_plot("microbench/memory-timeline", timeline);
    check_plot("microbench/memory-timeline-rss", timeline);
    const char *ablation[] = {"baseline", "+pruning", "+chunking", "+streaming", "+embedding cache",
                              "K=3", NULL};
    check_plot("ablation/ablation", ablation);
    check_plot("ablation/ablation-rss", ablation);
    const char *latn[] = {"full forward (in memory)", "full system (W=2+chunk+cache+cluster-gap)", NULL};
    check_plot("latency-n/latency-n", latn);
    const char *sweep[] = {"N=8", NULL};
    check_plot("sweep-scifact/policy-comparison-scifact-pareto", sweep);
    check_plot("sweep-scifact/policy-comparison-scifact-ndcg-compute", sweep);
    check_plot("sweep-scifact/cluster-gap-thresholds-pareto", sweep);
    check_plot("stability/stability", sweep);
}

static void test_bad_arguments(void **state) {
    (void)state;
    if (!have("bash")) skip();
    char *out = NULL;
    const char *unknown[] = {"--frobnicate", "1", NULL};
    assert_int_not_equal(run_script("experiments/bench_micro.sh", unknown, &out), 0);
    assert_contains(out, "unknown option --frobnicate", "bench_micro.sh --frobnicate");
    free(out);
    const char *k_gt_n[] = {"--grating", GRATING_BINARY, "--model", "/nonexistent", "--n", "4", "--k", "5",
                            NULL};
    assert_int_not_equal(run_script("experiments/bench_ablation.sh", k_gt_n, &out), 0);
    assert_contains(out, "K = 5 is larger than N = 4", "bench_ablation.sh --k 5 --n 4");
    free(out);
    const char *no_model[] = {"--grating", GRATING_BINARY, "--model", "/nonexistent", "--data", "/nonexistent",
                              "--run", "/nonexistent", NULL};
    assert_int_not_equal(run_script("experiments/bench_latency_n.sh", no_model, &out), 0);
    assert_contains(out, "/nonexistent/config.json not found", "bench_latency_n.sh --model /nonexistent");
    free(out);
    const char *bad_profile[] = {"--profile", "huge", "--grating", GRATING_BINARY, NULL};
    assert_int_not_equal(run_script("experiments/bench_quick.sh", bad_profile, &out), 0);
    assert_contains(out, "--profile must be quick or tiny", "bench_quick.sh --profile huge");
    free(out);
    const char *no_trace[] = {"--trace", "/nonexistent.h5", "--sweeps", "/nonexistent", NULL};
    assert_int_not_equal(run_script("experiments/summary_sweep.sh", no_trace, &out), 0);
    assert_contains(out, "/nonexistent.h5 not found", "summary_sweep.sh --trace /nonexistent.h5");
    free(out);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_profile_runs),
        cmocka_unit_test(test_microbench_summary),
        cmocka_unit_test(test_ablation_summary),
        cmocka_unit_test(test_latency_n_summary),
        cmocka_unit_test(test_sweep_and_stability_summaries),
        cmocka_unit_test(test_quick_summary_links_all),
        cmocka_unit_test(test_plots_written),
        cmocka_unit_test(test_bad_arguments),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
