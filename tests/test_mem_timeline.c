// The sampled memory timeline (core/base/mem_timeline.c): samples follow the
// allocator (a buffer allocated mid-run shows up in its category and in the
// total, and is gone at the end), times increase, a full array halves its
// samples and doubles the period instead of losing the start or the end,
// and the CSVs have the exact formats plotting/plot.sh memory-timeline reads.
#include "testutil.h"

#include "base/mem.h"
#include "base/mem_timeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// Waits (at most 5 s, so a loaded machine cannot make the test flaky and a
// broken sampler cannot hang it) until the sampler has recorded a sample
// whose activations reach `bytes`, or, with bytes == 0, until its period
// reached `period_ms`. Returns 1 when it happened.
static int tl_wait_for(mem_timeline *tl, size_t bytes, double period_ms) {
    for (int tries = 0; tries < 1000; tries++) {
        int done = 0;
        pthread_mutex_lock(&tl->mu);
        if (bytes) {
            for (size_t i = 0; i < tl->n && !done; i++)
                done = tl->samples[i].cat[MEM_ACTIVATIONS] >= bytes;
        } else {
            done = tl->period_ms >= period_ms;
        }
        pthread_mutex_unlock(&tl->mu);
        if (done) return 1;
        usleep(5000);
    }
    return 0;
}

static void test_samples_follow_the_allocator(void **state) {
    (void)state;
    mem_timeline tl;
    assert_int_equal(mem_timeline_init(&tl, 1.0, 4096), STATUS_OK);
    size_t act0 = mem_current_bytes(MEM_ACTIVATIONS);
    assert_int_equal(mem_timeline_start(&tl), STATUS_OK);
    assert_int_equal(mem_timeline_start(&tl), STATUS_ERR_ARG); // already running
    usleep(10000);
    size_t big = 8u << 20;
    char *x = mem_alloc(MEM_ACTIVATIONS, big);
    assert_non_null(x);
    memset(x, 1, big); // resident, so RSS sees it too
    usleep(30000);
    assert_true(tl_wait_for(&tl, act0 + big, 0.0));
    mem_free(x);
    usleep(10000);
    assert_int_equal(mem_timeline_write_csv(&tl, "/dev/null", "x", 0), STATUS_ERR_ARG);
    mem_timeline_stop(&tl);
    mem_timeline_stop(&tl); // no-op
    printf("%zu samples over %.1f ms\n", tl.n, tl.samples[tl.n - 1].t_ms);
    assert_true(tl.n >= 3);
    assert_true(tl.samples[0].t_ms < 5.0); // taken by start itself
    size_t peak_act = 0;
    for (size_t i = 0; i < tl.n; i++) {
        const mem_sample *s = &tl.samples[i];
        if (i) assert_true(s->t_ms >= tl.samples[i - 1].t_ms);
        assert_true(s->rss > 0);
        if (s->cat[MEM_ACTIVATIONS] > peak_act) peak_act = s->cat[MEM_ACTIVATIONS];
    }
    assert_int_equal(peak_act, act0 + big);
    assert_true(mem_timeline_peak_total(&tl) >= big);
    assert_true(mem_timeline_peak_rss(&tl) >= big);
    assert_int_equal(tl.samples[tl.n - 1].cat[MEM_ACTIVATIONS], act0);
    assert_true(tl.samples[tl.n - 1].t_ms >= 50.0);
    mem_timeline_free(&tl);
    mem_timeline_free(&tl); // safe twice
    assert_true(mem_current_rss_bytes() > 0);
}

static void test_full_array_halves_and_keeps_the_span(void **state) {
    (void)state;
    mem_timeline tl;
    assert_int_equal(mem_timeline_init(&tl, 1.0, 8), STATUS_OK);
    assert_int_equal(mem_timeline_start(&tl), STATUS_OK);
    usleep(60000);
    assert_true(tl_wait_for(&tl, 0, 8.0)); // doubled at least three times
    mem_timeline_stop(&tl);
    printf("capacity 8: %zu samples, period %.0f ms, last at %.1f ms\n", tl.n, tl.period_ms,
           tl.samples[tl.n - 1].t_ms);
    assert_true(tl.n <= 8 && tl.n >= 4);
    assert_true(tl.samples[0].t_ms < 5.0);          // the start is kept
    assert_true(tl.samples[tl.n - 1].t_ms >= 60.0); // and the end
    for (size_t i = 1; i < tl.n; i++)
        assert_true(tl.samples[i].t_ms > tl.samples[i - 1].t_ms);
    // A restart clears the samples; the period stays where it got to.
    assert_int_equal(mem_timeline_start(&tl), STATUS_OK);
    mem_timeline_stop(&tl);
    assert_true(tl.n >= 2 && tl.n <= 3); // the start and the end (and one if descheduled)
    mem_timeline_free(&tl);
    assert_int_equal(mem_timeline_init(&tl, 0.0, 8), STATUS_ERR_ARG);
    assert_int_equal(mem_timeline_init(&tl, 1.0, 1), STATUS_ERR_ARG);
    assert_non_null(strstr(status_message(), "capacity 1"));
    mem_fail_after(1);
    assert_int_equal(mem_timeline_init(&tl, 1.0, 8), STATUS_ERR_NOMEM);
    mem_fail_after(0);
    mem_timeline_free(&tl); // zeroed by the failed init
}

static char *tl_slurp(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) fail_msg("cannot open %s", path);
    char *text = calloc(1, 1 << 20);
    size_t n = fread(text, 1, (1 << 20) - 1, fp);
    text[n] = '\0';
    fclose(fp);
    return text;
}

static size_t tl_count(const char *text, const char *what) {
    size_t n = 0;
    for (const char *p = text; (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

static void test_csv_formats(void **state) {
    (void)state;
    char *tmp = testutil_tmpdir();
    char path[4200], cat[4200];
    snprintf(path, sizeof path, "%s/t.csv", tmp);
    snprintf(cat, sizeof cat, "%s/t-categories.csv", tmp);
    mem_timeline tl;
    assert_int_equal(mem_timeline_init(&tl, 2.0, 64), STATUS_OK);
    assert_int_equal(mem_timeline_start(&tl), STATUS_OK);
    usleep(10000);
    mem_timeline_stop(&tl);
    size_t n = tl.n;
    assert_int_equal(mem_timeline_write_csv(&tl, path, "W=2", 0), STATUS_OK);
    assert_int_equal(mem_timeline_write_categories_csv(&tl, cat, "a \"b\", c", 0), STATUS_OK);
    char *text = tl_slurp(path);
    assert_true(strncmp(text, "system,t_ms,bytes\nW=2,", strlen("system,t_ms,bytes\nW=2,")) == 0);
    assert_int_equal(tl_count(text, "\n"), n + 1);
    assert_int_equal(tl_count(text, "W=2,"), n);
    // Every row: label, t_ms with 3 decimals, integer bytes.
    const char *row = strchr(text, '\n') + 1;
    double t;
    unsigned long long bytes;
    char tail;
    assert_int_equal(sscanf(row, "W=2,%lf,%llu%c", &t, &bytes, &tail), 3);
    assert_int_equal(tail, '\n');
    free(text);
    text = tl_slurp(cat);
    const char *head = "system,t_ms,total,weights,embeddings,hidden,activations,other,rss\n"
                       "\"a \"\"b\"\", c\",";
    assert_true(strncmp(text, head, strlen(head)) == 0);
    assert_int_equal(tl_count(text, "\n"), n + 1);
    free(text);
    // Append: one header, the rows of both runs.
    assert_int_equal(mem_timeline_write_csv(&tl, path, "W=1", 1), STATUS_OK);
    text = tl_slurp(path);
    assert_int_equal(tl_count(text, "system,t_ms,bytes"), 1);
    assert_int_equal(tl_count(text, "\n"), 2 * n + 1);
    assert_int_equal(tl_count(text, "W=1,"), n);
    free(text);
    char fresh[4300];
    snprintf(fresh, sizeof fresh, "%s/new.csv", tmp); // append to a new file: header first
    assert_int_equal(mem_timeline_write_csv(&tl, fresh, "HF", 1), STATUS_OK);
    text = tl_slurp(fresh);
    assert_true(strncmp(text, "system,t_ms,bytes\nHF,", strlen("system,t_ms,bytes\nHF,")) == 0);
    free(text);
    assert_int_equal(mem_timeline_write_csv(&tl, "/nonexistent/dir/t.csv", "x", 0), STATUS_ERR_IO);
    assert_non_null(strstr(status_message(), "/nonexistent/dir/t.csv"));
    mem_timeline_free(&tl);
    testutil_rmtree(tmp);
    free(tmp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_samples_follow_the_allocator),
        cmocka_unit_test(test_full_array_halves_and_keeps_the_span),
        cmocka_unit_test(test_csv_formats),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
