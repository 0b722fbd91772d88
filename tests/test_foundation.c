// Tests of the small foundation modules: status messages, the tracking
// allocator (including fault injection) and the string hash map.
#include "testutil.h"

#include "base/mem.h"
#include "base/status.h"
#include "base/strmap.h"
#include "base/json_file.h"

#include <stdio.h>
#include <string.h>

static void test_status_fail_and_wrap(void **state) {
    (void)state;
    status st = status_fail(STATUS_ERR_FORMAT, "%s: bad %d", "file.json", 7);
    assert_int_equal(st, STATUS_ERR_FORMAT);
    assert_string_equal(status_message(), "file.json: bad 7");
    st = status_wrap(st, "loading %s", "model");
    assert_int_equal(st, STATUS_ERR_FORMAT);
    assert_string_equal(status_message(), "loading model: file.json: bad 7");
    assert_string_equal(status_name(STATUS_ERR_SHAPE), "shape mismatch");
}

static void test_mem_tracks_current_and_peak(void **state) {
    (void)state;
    size_t base = mem_current_bytes(MEM_ACTIVATIONS);
    mem_reset_peaks();
    float *a = mem_alloc(MEM_ACTIVATIONS, 1000);
    float *b = mem_calloc(MEM_ACTIVATIONS, 500);
    assert_non_null(a);
    assert_non_null(b);
    assert_int_equal((uintptr_t)a % 64, 0);
    assert_int_equal((uintptr_t)b % 64, 0);
    for (int i = 0; i < 125; i++) assert_true(b[i] == 0.0f);
    assert_int_equal(mem_current_bytes(MEM_ACTIVATIONS), base + 1500);
    mem_free(a);
    assert_int_equal(mem_current_bytes(MEM_ACTIVATIONS), base + 500);
    assert_int_equal(mem_peak_bytes(MEM_ACTIVATIONS), base + 1500);
    mem_free(b);
    assert_int_equal(mem_current_bytes(MEM_ACTIVATIONS), base);
    mem_reset_peaks();
    assert_int_equal(mem_peak_bytes(MEM_ACTIVATIONS), base);
}

static void test_mem_fault_injection(void **state) {
    (void)state;
    mem_fail_after(2);
    void *a = mem_alloc(MEM_OTHER, 16);
    assert_non_null(a);
    assert_false(mem_fail_fired());
    void *b = mem_alloc(MEM_OTHER, 16);
    assert_null(b);
    assert_true(mem_fail_fired());
    assert_non_null(strstr(status_message(), "injected"));
    void *c = mem_alloc(MEM_OTHER, 16);
    assert_non_null(c);
    mem_free(a);
    mem_free(c);
    mem_fail_after(0);
}

static void test_strmap_put_get_grow(void **state) {
    (void)state;
    strmap m;
    assert_int_equal(strmap_init(&m, 4), STATUS_OK);
    char key[32];
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(key, sizeof key, "key-%d", i);
        assert_int_equal(strmap_put(&m, key, (size_t)n, i * 3), STATUS_OK);
    }
    assert_int_equal(m.count, 5000);
    for (int i = 0; i < 5000; i++) {
        int n = snprintf(key, sizeof key, "key-%d", i);
        int64_t v = -1;
        assert_true(strmap_get(&m, key, (size_t)n, &v));
        assert_int_equal(v, i * 3);
    }
    assert_false(strmap_get(&m, "key-5000", 8, NULL));
    // Keys are length-delimited: a prefix is a different key.
    assert_false(strmap_get(&m, "key-1", 4, NULL));
    assert_int_equal(strmap_put(&m, "key-1", 5, 99), STATUS_OK);
    int64_t v;
    assert_true(strmap_get(&m, "key-1", 5, &v));
    assert_int_equal(v, 99);
    assert_int_equal(m.count, 5000);
    strmap_free(&m);
}

static void test_json_errors_name_file_and_position(void **state) {
    (void)state;
    cJSON *root = NULL;
    const char *text = "{\n  \"a\": 1,\n  \"b\": [1, 2,,]\n}";
    status st = json_parse_text("config.json", text, strlen(text), &root);
    assert_int_equal(st, STATUS_ERR_FORMAT);
    assert_null(root);
    assert_non_null(strstr(status_message(), "config.json: malformed JSON at line 3"));

    const char *ok = "{\"n\": 3, \"x\": 2.5, \"s\": \"hi\", \"f\": 1.5}";
    assert_int_equal(json_parse_text("t", ok, strlen(ok), &root), STATUS_OK);
    int64_t n;
    assert_int_equal(json_get_int(root, "n", "t", &n), STATUS_OK);
    assert_int_equal(n, 3);
    assert_int_equal(json_get_int(root, "f", "t", &n), STATUS_ERR_FORMAT);
    assert_non_null(strstr(status_message(), "key 'f': expected an integer"));
    assert_int_equal(json_get_int(root, "zz", "t", &n), STATUS_ERR_MISSING);
    cJSON_Delete(root);

    assert_int_equal(json_file_parse("/nonexistent/config.json", &root), STATUS_ERR_IO);
    assert_non_null(strstr(status_message(), "/nonexistent/config.json"));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_fail_and_wrap),
        cmocka_unit_test(test_mem_tracks_current_and_peak),
        cmocka_unit_test(test_mem_fault_injection),
        cmocka_unit_test(test_strmap_put_get_grow),
        cmocka_unit_test(test_json_errors_name_file_and_position),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
