// Cold-cache runs and O_DIRECT reads: checkpoint_drop_page_cache empties the
// page cache of the weight files (mincore); direct_io_read_f32 gives exactly
// checkpoint_read_f32's values for F32/F16/BF16 with any staging size; a
// cold run streaming layers with O_DIRECT through a weight window (and an
// embedding cache) gives the warm in-memory run's scores bit for bit; a
// checkpoint truncated under an O_DIRECT window is a clean error; and
// `grating rerank --cold --window 2 --direct-io --embed-cache 0.1
// --memory-timeline` prints the same ranking as the plain run.
#include "testutil.h"

#include "io/direct_io.h"
#include "engine/engine.h"
#include "base/json_file.h"
#include "base/mem.h"
#include "model/synth.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/vfs.h>
#include <unistd.h>

#define TMPFS_MAGIC_NUMBER 0x01021994

typedef struct {
    char *tmp;
    char f32[4200], f16[4200], bf16[4200];
    char docs[4200];
    int direct_ok; // the temporary folder's filesystem supports O_DIRECT
} cold_fixture;

static void cold_synth(uint64_t seed, safetensors_dtype dtype, const char *out) {
    synth_options o;
    synth_options_default(&o);
    o.config_path = testutil_source_path("tests/data/bert-tiny/config.json");
    o.out_dir = out;
    o.seed = seed;
    o.scale = 20.0;
    o.dtype = dtype;
    if (synth_write(&o, NULL) != STATUS_OK) fail_msg("%s", status_message());
}

static int cold_setup(void **state) {
    cold_fixture *f = calloc(1, sizeof *f);
    f->tmp = testutil_tmpdir();
    snprintf(f->f32, sizeof f->f32, "%s/f32", f->tmp);
    snprintf(f->f16, sizeof f->f16, "%s/f16", f->tmp);
    snprintf(f->bf16, sizeof f->bf16, "%s/bf16", f->tmp);
    snprintf(f->docs, sizeof f->docs, "%s/docs.jsonl", f->tmp);
    cold_synth(21, SAFETENSORS_F32, f->f32);
    cold_synth(22, SAFETENSORS_F16, f->f16);
    cold_synth(23, SAFETENSORS_BF16, f->bf16);
    const char *docs = "{\"id\": \"a\", \"text\": \"stem cells divide\"}\n"
                       "{\"id\": \"b\", \"text\": \"the weather was cold\"}\n"
                       "{\"id\": \"c\", \"text\": \"tissue renewal by stem cell division\"}\n"
                       "{\"id\": \"d\", \"text\": \"cells in the stem of a plant\"}\n";
    testutil_write_file(f->docs, docs, strlen(docs));
    checkpoint ck;
    if (checkpoint_open(&ck, f->f32) != STATUS_OK) fail_msg("%s", status_message());
    direct_io io;
    status st = direct_io_open(&io, &ck, 0);
    f->direct_ok = st == STATUS_OK;
    if (st == STATUS_OK)
        direct_io_close(&io);
    else
        fprintf(stderr, "SKIP (O_DIRECT parts): %s\n", status_message());
    checkpoint_close(&ck);
    *state = f;
    return 0;
}

static int cold_teardown(void **state) {
    cold_fixture *f = *state;
    testutil_rmtree(f->tmp);
    free(f->tmp);
    free(f);
    return 0;
}

static void test_drop_page_cache(void **state) {
    cold_fixture *f = *state;
    char path[4300];
    snprintf(path, sizeof path, "%s/model.safetensors", f->bf16);
    // Bring the whole file into the page cache.
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    char buf[65536];
    while (read(fd, buf, sizeof buf) > 0) {
    }
    struct statfs sfs;
    assert_int_equal(fstatfs(fd, &sfs), 0);
    close(fd);
    uint64_t cached, size, after;
    assert_int_equal(direct_io_cached_bytes(path, &cached, &size), STATUS_OK);
    checkpoint ck;
    if (checkpoint_open(&ck, f->bf16) != STATUS_OK) fail_msg("%s", status_message());
    assert_int_equal(checkpoint_drop_page_cache(&ck), STATUS_OK);
    assert_int_equal(direct_io_cached_bytes(path, &after, &size), STATUS_OK);
    printf("page cache of %s: %llu of %llu bytes before the drop, %llu after\n", path,
           (unsigned long long)cached, (unsigned long long)size, (unsigned long long)after);
    assert_int_equal(cached, size);
    if (sfs.f_type == TMPFS_MAGIC_NUMBER)
        printf("SKIP: tmpfs keeps files in the page cache; nothing can be dropped\n");
    else
        assert_int_equal(after, 0);
    // The checkpoint still reads after the drop (from the disk).
    float ln[32];
    assert_int_equal(checkpoint_read_f32(&ck, "bert.embeddings.LayerNorm.weight", ln, 32),
                     STATUS_OK);
    checkpoint_close(&ck);
    assert_int_equal(direct_io_cached_bytes("/nonexistent/x", &cached, &size), STATUS_ERR_IO);
    assert_non_null(strstr(status_message(), "/nonexistent/x"));
}

static void test_direct_read_equals_buffered(void **state) {
    cold_fixture *f = *state;
    if (!f->direct_ok) skip();
    const char *dirs[3] = {f->f32, f->f16, f->bf16};
    // One block (many pieces per tensor), an odd request, the default.
    const size_t stagings[3] = {1, 3 * DIRECT_IO_ALIGN + 5, DIRECT_IO_DEFAULT_STAGING};
    size_t other0 = mem_current_bytes(MEM_OTHER);
    for (int d = 0; d < 3; d++) {
        checkpoint ck;
        if (checkpoint_open(&ck, dirs[d]) != STATUS_OK) fail_msg("%s", status_message());
        for (int si = 0; si < 3; si++) {
            direct_io io;
            assert_int_equal(direct_io_open(&io, &ck, stagings[si]), STATUS_OK);
            assert_int_equal(io.staging_bytes % DIRECT_IO_ALIGN, 0);
            assert_int_equal((uintptr_t)io.staging % DIRECT_IO_ALIGN, 0);
            uint64_t want_bytes = 0;
            for (size_t i = 0; i < ck.n_specs; i++) {
                size_t n = (size_t)tensor_spec_numel(&ck.specs[i]);
                float *a = malloc(n * sizeof *a), *b = malloc(n * sizeof *b);
                assert_int_equal(checkpoint_read_f32(&ck, ck.specs[i].name, a, n), STATUS_OK);
                if (direct_io_read_f32(&io, &ck, ck.specs[i].name, b, n) != STATUS_OK)
                    fail_msg("%s", status_message());
                assert_memory_equal(a, b, n * sizeof *a);
                checkpoint_tensor t;
                assert_int_equal(checkpoint_find(&ck, ck.specs[i].name, &t), STATUS_OK);
                want_bytes += t.info->n_bytes;
                free(a);
                free(b);
            }
            assert_true(io.bytes_read >= want_bytes); // plus alignment padding
            // The same checks and messages as checkpoint_read_f32.
            float x[4];
            assert_int_equal(direct_io_read_f32(&io, &ck, "classifier.weight", x, 4),
                             STATUS_ERR_SHAPE);
            assert_non_null(strstr(status_message(), "caller expected 4"));
            assert_int_equal(direct_io_read_f32(&io, &ck, "no.such.tensor", x, 4),
                             STATUS_ERR_MISSING);
            direct_io_close(&io);
        }
        checkpoint_close(&ck);
    }
    assert_int_equal(mem_current_bytes(MEM_OTHER), other0);
}

// A generated batch over the bert-tiny vocabulary.
typedef struct {
    size_t start[10], len[10];
    int32_t ids[400], types[400];
} cold_batch;

static reranker_batch cold_make_batch(cold_batch *q) {
    size_t t = 0;
    unsigned x = 5;
    for (size_t s = 0; s < 10; s++) {
        q->start[s] = t;
        q->len[s] = 6 + (s * 7) % 33;
        for (size_t i = 0; i < q->len[s]; i++, t++) {
            x = x * 1103515245u + 12345u;
            q->ids[t] = i == 0 ? 101 : (int32_t)((x >> 8) % 200);
            q->types[t] = i > 3;
        }
    }
    reranker_batch b = {.n_seq = 10,
                        .n_tok = t,
                        .seq_start = q->start,
                        .seq_len = q->len,
                        .ids = q->ids,
                        .type_ids = q->types};
    return b;
}

static void cold_run(const reranker *m, const reranker_batch *b, size_t slots, size_t chunk,
                     engine_result *r) {
    policy *p;
    assert_int_equal(policy_create("cluster-gap", NULL, &p), STATUS_OK);
    weight_window w = {0};
    engine_options opt = {.k = 3, .chunk = chunk};
    if (slots) {
        assert_int_equal(weight_window_init(&w, slots, reranker_layer_floats(m),
                                            (size_t)m->cfg.n_layers, reranker_layer_read,
                                            (void *)m),
                         STATUS_OK);
        opt.window = &w;
    }
    if (engine_run(m, b, p, &opt, r) != STATUS_OK) fail_msg("%s", status_message());
    if (slots) weight_window_free(&w);
    policy_free(p);
}

static void test_cold_direct_run_equals_warm(void **state) {
    cold_fixture *f = *state;
    if (!f->direct_ok) skip();
    const char *dirs[2] = {f->bf16, f->f32};
    cold_batch q;
    reranker_batch b = cold_make_batch(&q);
    size_t before = mem_total_current_bytes();
    for (int d = 0; d < 2; d++) {
        reranker warm, cold;
        if (reranker_open(&warm, dirs[d], NULL) != STATUS_OK) fail_msg("%s", status_message());
        size_t L = (size_t)warm.cfg.n_layers;
        engine_result a, c;
        assert_int_equal(engine_result_init(&a, 10, L), STATUS_OK);
        assert_int_equal(engine_result_init(&c, 10, L), STATUS_OK);
        // Same chunk size in both runs: chunking changes GEMM shapes, hence
        // rounding (test_engine checks it within 1e-5); here bits must agree.
        cold_run(&warm, &b, 0, 2, &a);
        for (size_t slots = 1; slots <= 2; slots++) {
            reranker_options opt = {.resident_layers = 0, .embed_cache_rows = 20, .direct_io = 1};
            if (reranker_open_ex(&cold, dirs[d], NULL, &opt) != STATUS_OK)
                fail_msg("%s", status_message());
            assert_non_null(cold.dio);
            assert_int_equal(checkpoint_drop_page_cache(&cold.model.ck), STATUS_OK);
            cold_run(&cold, &b, slots, 2, &c);
            assert_true(cold.dio->bytes_read > 0);
            for (size_t i = 0; i < (L + 1) * 10; i++) {
                if (isnan(a.layer_scores[i]))
                    assert_true(isnan(c.layer_scores[i]));
                else
                    assert_memory_equal(&a.layer_scores[i], &c.layer_scores[i], sizeof(float));
            }
            assert_memory_equal(a.order, c.order, 10 * sizeof *a.order);
            reranker_close(&cold);
        }
        engine_result_free(&a);
        engine_result_free(&c);
        reranker_close(&warm);
    }
    assert_int_equal(mem_total_current_bytes(), before);
}

// The file is cut while an O_DIRECT window streams it: a clean error naming
// the file, no hang of the I/O thread, nothing leaked. Runs on a copy.
static void test_direct_truncated_checkpoint(void **state) {
    cold_fixture *f = *state;
    if (!f->direct_ok) skip();
    char dir[4300], path[4400];
    snprintf(dir, sizeof dir, "%s/trunc", f->tmp);
    cold_synth(21, SAFETENSORS_BF16, dir);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    size_t before = mem_total_current_bytes();
    reranker m;
    reranker_options opt = {.resident_layers = 0, .direct_io = 1};
    if (reranker_open_ex(&m, dir, NULL, &opt) != STATUS_OK) fail_msg("%s", status_message());
    cold_batch q;
    reranker_batch b = cold_make_batch(&q);
    size_t L = (size_t)m.cfg.n_layers;
    engine_result r;
    assert_int_equal(engine_result_init(&r, 10, L), STATUS_OK);
    assert_int_equal(truncate(path, 20000), 0); // inside the layers
    policy *p;
    assert_int_equal(policy_create("none", NULL, &p), STATUS_OK);
    for (size_t slots = 1; slots <= 2; slots++) {
        weight_window w;
        assert_int_equal(
            weight_window_init(&w, slots, reranker_layer_floats(&m), L, reranker_layer_read, &m),
            STATUS_OK);
        engine_options eo = {.k = 2, .window = &w};
        status st = engine_run(&m, &b, p, &eo, &r);
        printf("W=%zu, O_DIRECT, truncated: %s: %s\n", slots, status_name(st), status_message());
        assert_int_equal(st, STATUS_ERR_IO);
        assert_non_null(strstr(status_message(), "model.safetensors"));
        assert_non_null(strstr(status_message(), "truncated"));
        weight_window_free(&w);
    }
    policy_free(p);
    engine_result_free(&r);
    reranker_close(&m);
    assert_int_equal(mem_total_current_bytes(), before);
}

// Reads a whole text file (asserts).
static char *cold_slurp(const char *path) {
    FILE *fp = fopen(path, "rb");
    if (!fp) fail_msg("cannot open %s", path);
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    char *text = malloc((size_t)n + 1);
    assert_int_equal(fread(text, 1, (size_t)n, fp), (size_t)n);
    text[n] = '\0';
    fclose(fp);
    return text;
}

static void test_cli_cold_direct_cache_timeline(void **state) {
    cold_fixture *f = *state;
    char tl[4300], tl_cat[4300];
    snprintf(tl, sizeof tl, "%s/timeline.csv", f->tmp);
    snprintf(tl_cat, sizeof tl_cat, "%s/timeline-categories.csv", f->tmp);
    const char *plain[] = {"rerank", "--model", f->bf16,   "--query", "do stem cells divide",
                           "--docs", f->docs,   "--top-k", "2",       "--json",
                           NULL};
    const char *cold[] = {"rerank",
                          "--model",
                          f->bf16,
                          "--query",
                          "do stem cells divide",
                          "--docs",
                          f->docs,
                          "--top-k",
                          "2",
                          "--json",
                          "--cold",
                          "--window",
                          "2",
                          "--embed-cache",
                          "10%",
                          "--memory-timeline",
                          tl,
                          "--timeline-ms",
                          "1",
                          "--label",
                          "W=2, cold",
                          f->direct_ok ? "--direct-io" : NULL,
                          NULL};
    char *out_a, *out_b, *err;
    assert_int_equal(testutil_run_grating(plain, &out_a, NULL), 0);
    int rc = testutil_run_grating(cold, &out_b, &err);
    if (rc != 0) fail_msg("rerank --cold failed: %s", err);
    cJSON *a, *b;
    assert_int_equal(json_parse_text("plain", out_a, strlen(out_a), &a), STATUS_OK);
    assert_int_equal(json_parse_text("cold", out_b, strlen(out_b), &b), STATUS_OK);
    // Same candidates, scores, exits.
    char *ca = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(a, "candidates"));
    char *cb = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(b, "candidates"));
    assert_string_equal(ca, cb);
    const cJSON *stats = cJSON_GetObjectItemCaseSensitive(b, "stats");
    const cJSON *ec = cJSON_GetObjectItemCaseSensitive(stats, "embedding_cache");
    assert_non_null(ec);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(ec, "rows")->valueint, 20); // 10% of 200
    double hits = cJSON_GetObjectItemCaseSensitive(ec, "hits")->valuedouble;
    double misses = cJSON_GetObjectItemCaseSensitive(ec, "misses")->valuedouble;
    assert_true(misses > 0);
    assert_true(fabs(cJSON_GetObjectItemCaseSensitive(ec, "hit_rate")->valuedouble -
                     hits / (hits + misses)) < 1e-6);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(ec, "read_seconds"));
    const cJSON *cd = cJSON_GetObjectItemCaseSensitive(stats, "cold");
    assert_non_null(cd);
    assert_non_null(cJSON_GetObjectItemCaseSensitive(cd, "page_cache_bytes_after"));
    assert_null(cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(a, "stats"),
                                                 "embedding_cache"));
    // The timelines: exact headers, the label quoted, one row per sample.
    char *text = cold_slurp(tl);
    const char *head = "system,t_ms,bytes\n\"W=2, cold\",";
    assert_true(strncmp(text, head, strlen(head)) == 0);
    size_t rows = 0;
    for (char *p = text; *p; p++)
        rows += *p == '\n';
    assert_true(rows >= 3);
    free(text);
    text = cold_slurp(tl_cat);
    head = "system,t_ms,total,weights,embeddings,hidden,activations,other,rss\n\"W=2, cold\",";
    assert_true(strncmp(text, head, strlen(head)) == 0);
    free(text);
    free(ca);
    free(cb);
    cJSON_Delete(a);
    cJSON_Delete(b);
    free(out_a);
    free(out_b);
    free(err);

    // Usage errors: exit 2 with a message.
    const char *bad1[] = {"rerank", "--model", f->bf16, "--query",     "q", "--docs",
                          f->docs,  "--top-k", "1",     "--direct-io", NULL};
    assert_int_equal(testutil_run_grating(bad1, NULL, &err), 2);
    assert_non_null(strstr(err, "--direct-io applies to streamed layers"));
    free(err);
    const char *bad2[] = {"rerank", "--model", f->bf16, "--query",       "q",   "--docs",
                          f->docs,  "--top-k", "1",     "--embed-cache", "1.5", NULL};
    assert_int_equal(testutil_run_grating(bad2, NULL, &err), 2);
    assert_non_null(strstr(err, "--embed-cache must be a fraction"));
    free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_drop_page_cache),
        cmocka_unit_test(test_direct_read_equals_buffered),
        cmocka_unit_test(test_cold_direct_run_equals_warm),
        cmocka_unit_test(test_direct_truncated_checkpoint),
        cmocka_unit_test(test_cli_cold_direct_cache_timeline),
    };
    return cmocka_run_group_tests(tests, cold_setup, cold_teardown);
}
