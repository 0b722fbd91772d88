// Regressions for what the fuzz harnesses of tests/fuzz found in code
// without another owner (tests/fuzz/README.md; the loaders' findings are in
// tests/fuzz/crashes/): a sweep grid that expands to millions of
// configurations ran for minutes (fuzz_sweep_grid timeout), and a grid key
// given twice multiplied the grid silently.
#include "testutil.h"

#include "analysis/sweep.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static char *fuzz_test_grid(const char *dir, const char *name, const char *text) {
    char *p = malloc(4300);
    snprintf(p, 4300, "%s/%s", dir, name);
    testutil_write_file(p, text, strlen(text));
    return p;
}

// 20 x 20 x 20 x 2 x 10 = 160,000 configurations: refused at once with a
// message naming the config and the limit, before any is expanded.
static void test_grid_too_large_is_refused_quickly(void **state) {
    (void)state;
    char *tmp = testutil_tmpdir();
    char text[4096];
    size_t o = (size_t)snprintf(text, sizeof text,
                                "{\"name\": \"big\", \"k\": [1,2,3,4,5,6,7,8,9,10], \"configs\": ["
                                "{\"policy\": \"cluster-gap\", \"grid\": {\"threshold\": [");
    for (int i = 0; i < 20; i++)
        o += (size_t)snprintf(text + o, sizeof text - o, "%s%g", i ? "," : "", 0.01 * i);
    o += (size_t)snprintf(text + o, sizeof text - o, "], \"min_layer\": [");
    for (int i = 0; i < 20; i++)
        o += (size_t)snprintf(text + o, sizeof text - o, "%s%d", i ? "," : "", i);
    o += (size_t)snprintf(text + o, sizeof text - o, "], \"iterations\": [");
    for (int i = 0; i < 20; i++)
        o += (size_t)snprintf(text + o, sizeof text - o, "%s%d", i ? "," : "", i + 1);
    snprintf(text + o, sizeof text - o, "], \"score\": [\"probability\", \"logit\"]}}]}");
    char *path = fuzz_test_grid(tmp, "big.json", text);
    sweep_grid g;
    clock_t t0 = clock();
    assert_int_equal(sweep_grid_load(&g, path), STATUS_ERR_FORMAT);
    double seconds = (double)(clock() - t0) / CLOCKS_PER_SEC;
    assert_non_null(strstr(status_message(), "configs[0]"));
    assert_non_null(strstr(status_message(), "more than 100000 configurations"));
    assert_true(seconds < 1.0);
    assert_null(g.configs);
    // The same grid at one k value (16,000 configurations) loads.
    char *k1 = strstr(text, "[1,2,3,4,5,6,7,8,9,10]");
    memmove(k1 + 3, k1 + strlen("[1,2,3,4,5,6,7,8,9,10]"),
            strlen(k1 + strlen("[1,2,3,4,5,6,7,8,9,10]")) + 1);
    memcpy(k1, "[1]", 3);
    char *small = fuzz_test_grid(tmp, "small.json", text);
    if (sweep_grid_load(&g, small) != STATUS_OK) fail_msg("%s", status_message());
    assert_int_equal(g.n_configs, 16000);
    sweep_grid_free(&g);
    // Several configs count together.
    char *two = fuzz_test_grid(
        tmp, "two.json",
        "{\"name\": \"two\", \"k\": [1,2,3,4,5,6,7,8,9,10], \"chunk\": [0,1,2,3,4,5,6,7,8,9],"
        " \"configs\": [{\"policy\": \"none\"}, {\"policy\": \"none\"}]}");
    if (sweep_grid_load(&g, two) != STATUS_OK) fail_msg("%s", status_message());
    assert_int_equal(g.n_configs, 200);
    sweep_grid_free(&g);
    free(two);
    free(small);
    free(path);
    testutil_rmtree(tmp);
    free(tmp);
}

// The input fuzz_sweep_grid reduced: the key "k" twice in one grid.
static void test_grid_duplicate_key_is_refused(void **state) {
    (void)state;
    char *tmp = testutil_tmpdir();
    char *path =
        fuzz_test_grid(tmp, "dup.json",
                       "{\"name\": \"dup\", \"configs\": [{\"policy\": \"cluster-gap\", \"grid\": "
                       "{\"threshold\": [0.1, 0.2], \"k\": [2, 3], \"k\": [4, 5]}}]}");
    sweep_grid g;
    assert_int_equal(sweep_grid_load(&g, path), STATUS_ERR_FORMAT);
    assert_non_null(strstr(status_message(), "grid key 'k' is given twice"));
    assert_non_null(strstr(status_message(), "dup.json: configs[0]"));
    free(path);
    testutil_rmtree(tmp);
    free(tmp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grid_too_large_is_refused_quickly),
        cmocka_unit_test(test_grid_duplicate_key_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
