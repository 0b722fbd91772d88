// The embedding cache (core/io/embed_cache.c): LRU order and eviction on a tiny
// generated table, hit/miss counters, rows bit-identical to the full table;
// the engine with a small cache (forcing evictions) gives exactly the scores
// of the full table for a generated BERT and a generated Qwen3, also with
// streamed layers; a checkpoint truncated before a miss and injected
// allocation failures are clean errors without leaks.
#include "testutil.h"

#include "io/embed_cache.h"
#include "engine/engine.h"
#include "base/mem.h"
#include "model/qwen3/qwen3.h"
#include "model/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    char *tmp;
    char bert[4200];  // tests/data/bert-tiny, F16 (rows are widened on a miss)
    char qwen[4200];  // tests/data/qwen3-tiny, BF16, tied yes/no rows
    char trunc[4200]; // a bert-tiny copy that a test truncates
} ec_fixture;

static void ec_synth(const char *config_rel, uint64_t seed, safetensors_dtype dtype,
                     const char *out) {
    synth_options o;
    synth_options_default(&o);
    o.config_path = testutil_source_path(config_rel);
    o.out_dir = out;
    o.seed = seed;
    o.scale = 20.0; // spread the scores so that orderings are well defined
    o.dtype = dtype;
    if (synth_write(&o, NULL) != STATUS_OK) fail_msg("%s", status_message());
}

static int ec_setup(void **state) {
    ec_fixture *f = calloc(1, sizeof *f);
    f->tmp = testutil_tmpdir();
    snprintf(f->bert, sizeof f->bert, "%s/bert", f->tmp);
    snprintf(f->qwen, sizeof f->qwen, "%s/qwen", f->tmp);
    snprintf(f->trunc, sizeof f->trunc, "%s/bert-trunc", f->tmp);
    ec_synth("tests/data/bert-tiny/config.json", 4, SAFETENSORS_F16, f->bert);
    ec_synth("tests/data/bert-tiny/config.json", 4, SAFETENSORS_F16, f->trunc);
    ec_synth("tests/data/qwen3-tiny/config.json", 6, SAFETENSORS_BF16, f->qwen);
    *state = f;
    return 0;
}

static int ec_teardown(void **state) {
    ec_fixture *f = *state;
    testutil_rmtree(f->tmp);
    free(f->tmp);
    free(f);
    return 0;
}

static const char BERT_WORD[] = "bert.embeddings.word_embeddings.weight";

// Asserts that row `id` of the cache equals the full table's row.
static void ec_check_row(embed_cache *c, const float *full, int32_t id) {
    const float *row;
    if (embed_cache_row(c, id, &row) != STATUS_OK) fail_msg("%s", status_message());
    assert_memory_equal(row, full + (size_t)id * c->hidden, c->hidden * sizeof *row);
}

static void test_lru_order_and_eviction(void **state) {
    ec_fixture *f = *state;
    checkpoint ck;
    if (checkpoint_open(&ck, f->bert) != STATUS_OK) fail_msg("%s", status_message());
    size_t V = (size_t)ck.cfg.vocab_size, H = (size_t)ck.cfg.hidden_size;
    float *full = malloc(V * H * sizeof *full);
    assert_int_equal(checkpoint_read_f32(&ck, BERT_WORD, full, V * H), STATUS_OK);

    embed_cache c;
    size_t embed0 = mem_current_bytes(MEM_EMBEDDINGS);
    assert_int_equal(embed_cache_init(&c, &ck, BERT_WORD, 3), STATUS_OK);
    assert_int_equal(c.capacity, 3);
    assert_int_equal(mem_current_bytes(MEM_EMBEDDINGS) - embed0, embed_cache_bytes(&c));
    assert_true(embed_cache_hit_rate(&c) == 0.0);
    // Fill: 1, 2, 3 are misses; recency (most recent first) 3 2 1.
    ec_check_row(&c, full, 1);
    ec_check_row(&c, full, 2);
    ec_check_row(&c, full, 3);
    assert_int_equal(c.misses, 3);
    assert_int_equal(c.hits, 0);
    // Touch 1: a hit; recency 1 3 2. Then 4 evicts the least recent, 2.
    ec_check_row(&c, full, 1);
    assert_int_equal(c.hits, 1);
    ec_check_row(&c, full, 4);
    assert_int_equal(c.slot_of[2], -1);
    assert_true(c.slot_of[1] >= 0 && c.slot_of[3] >= 0 && c.slot_of[4] >= 0);
    // Recency 4 1 3: 2 comes back evicting 3; then 1 and 4 are still hits.
    ec_check_row(&c, full, 2);
    assert_int_equal(c.slot_of[3], -1);
    ec_check_row(&c, full, 1);
    ec_check_row(&c, full, 4);
    assert_int_equal(c.misses, 5);
    assert_int_equal(c.hits, 3);
    assert_true(fabs(embed_cache_hit_rate(&c) - 3.0 / 8.0) < 1e-12);
    assert_true(c.read_seconds > 0.0);
    // The list holds every slot once, head to tail, and the index agrees.
    int seen[3] = {0, 0, 0}, n = 0;
    for (int32_t s = c.head; s >= 0; s = c.next[s], n++) {
        assert_true(n < 3);
        seen[s]++;
        assert_int_equal(c.slot_of[c.id_of[s]], s);
    }
    assert_int_equal(n, 3);
    assert_true(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
    assert_int_equal(c.id_of[c.head], 4); // most recent
    assert_int_equal(c.id_of[c.tail], 2); // next to go

    // gather: rows in order, repeated ids, a capacity smaller than the
    // distinct ids of the request (each row is copied out before eviction).
    int32_t ids[8] = {7, 1, 7, 9, 0, 199, 1, 7};
    float *got = malloc(8 * H * sizeof *got);
    embed_cache_reset_stats(&c);
    assert_int_equal(c.hits + c.misses, 0);
    assert_int_equal(embed_cache_gather(&c, ids, 8, got), STATUS_OK);
    for (int t = 0; t < 8; t++)
        assert_memory_equal(got + t * H, full + (size_t)ids[t] * H, H * sizeof *got);
    assert_int_equal(c.hits + c.misses, 8);
    // Cached before: 4 1 2 (most recent first). 7 misses (evicts 2), 1 and 7
    // hit, then 9, 0, 199 evict 4, 1, 7, so the last 1 and 7 miss again.
    assert_int_equal(c.hits, 2);
    // Out of the vocabulary: an argument error, the cache untouched.
    const float *row;
    assert_int_equal(embed_cache_row(&c, (int32_t)V, &row), STATUS_ERR_ARG);
    assert_non_null(strstr(status_message(), "outside the vocabulary"));
    assert_int_equal(embed_cache_row(&c, -1, &row), STATUS_ERR_ARG);
    assert_null(row);
    embed_cache_free(&c);
    assert_int_equal(mem_current_bytes(MEM_EMBEDDINGS), embed0);

    // Capacity: 0 is refused, more than the vocabulary is capped; the
    // fraction helper rounds up and stays within [1, V].
    assert_int_equal(embed_cache_init(&c, &ck, BERT_WORD, 0), STATUS_ERR_ARG);
    assert_non_null(strstr(status_message(), "at least 1 row"));
    assert_int_equal(embed_cache_init(&c, &ck, BERT_WORD, 10 * V), STATUS_OK);
    assert_int_equal(c.capacity, V);
    for (int32_t id = 0; id < (int32_t)V; id++)
        ec_check_row(&c, full, id);
    for (int32_t id = 0; id < (int32_t)V; id++)
        ec_check_row(&c, full, id);
    assert_int_equal(c.misses, V);
    assert_int_equal(c.hits, V);
    embed_cache_free(&c);
    assert_int_equal(embed_cache_init(&c, &ck, "no.such.tensor", 3), STATUS_ERR_MISSING);
    assert_int_equal(embed_cache_rows_for_fraction(151669, 0.10), 15167);
    assert_int_equal(embed_cache_rows_for_fraction(200, 0.001), 1);
    assert_int_equal(embed_cache_rows_for_fraction(200, 2.0), 200);
    free(got);
    free(full);
    checkpoint_close(&ck);
}

// A generated batch: n candidates of varied lengths, ids from a fixed LCG.
typedef struct {
    size_t n, n_tok;
    size_t start[16], len[16];
    int32_t ids[1200], types[1200];
} ec_batch;

static reranker_batch ec_make_batch(ec_batch *q, size_t n, size_t vocab, size_t max_len,
                                    int with_types) {
    memset(q, 0, sizeof *q);
    q->n = n;
    unsigned x = 77;
    for (size_t s = 0; s < n; s++) {
        q->start[s] = q->n_tok;
        q->len[s] = 8 + (s * 13) % (max_len - 8);
        for (size_t i = 0; i < q->len[s]; i++, q->n_tok++) {
            x = x * 1103515245u + 12345u;
            q->ids[q->n_tok] = (int32_t)((x >> 8) % vocab);
            q->types[q->n_tok] = with_types && i > 4;
        }
    }
    reranker_batch b = {.n_seq = n,
                        .n_tok = q->n_tok,
                        .seq_start = q->start,
                        .seq_len = q->len,
                        .ids = q->ids,
                        .type_ids = with_types ? q->types : NULL};
    return b;
}

// Runs the engine (a pruning policy, chunks of 3) on `m`, optionally with a
// window of `slots` slots; fails the test on an error.
static void ec_run(const reranker *m, const reranker_batch *b, size_t slots, engine_result *r) {
    policy *p;
    cJSON *args = cJSON_Parse("{\"schedule\": [{\"layer\": 1, \"keep\": 6}]}");
    assert_int_equal(policy_create("fixed-schedule", args, &p), STATUS_OK);
    size_t L = (size_t)m->cfg.n_layers;
    weight_window w = {0};
    engine_options opt = {.k = 3, .chunk = 3};
    if (slots) {
        assert_int_equal(weight_window_init(&w, slots, reranker_layer_floats(m), L,
                                            reranker_layer_read, (void *)m),
                         STATUS_OK);
        opt.window = &w;
    }
    if (engine_run(m, b, p, &opt, r) != STATUS_OK) fail_msg("%s", status_message());
    if (slots) weight_window_free(&w);
    policy_free(p);
    cJSON_Delete(args);
}

// Bit-identical per-layer scores (NaN where not computed) and the same order.
static void ec_assert_same(const engine_result *a, const engine_result *c) {
    size_t n = a->n, L = a->n_layers;
    for (size_t i = 0; i < (L + 1) * n; i++) {
        if (isnan(a->layer_scores[i]))
            assert_true(isnan(c->layer_scores[i]));
        else
            assert_memory_equal(&a->layer_scores[i], &c->layer_scores[i], sizeof(float));
    }
    assert_memory_equal(a->order, c->order, n * sizeof *a->order);
}

static void test_engine_bert_cache_equals_full_table(void **state) {
    ec_fixture *f = *state;
    reranker full, cached;
    if (reranker_open(&full, f->bert, NULL) != STATUS_OK) fail_msg("%s", status_message());
    assert_null(reranker_embed_cache(&full));
    ec_batch q;
    reranker_batch b = ec_make_batch(&q, 12, (size_t)full.cfg.vocab_size, 60, 1);
    size_t L = (size_t)full.cfg.n_layers;
    engine_result a, c;
    assert_int_equal(engine_result_init(&a, 12, L), STATUS_OK);
    assert_int_equal(engine_result_init(&c, 12, L), STATUS_OK);
    ec_run(&full, &b, 0, &a);
    // 5 rows for ~200 distinct ids: nearly every lookup evicts.
    const size_t caps[] = {1, 5, 20, 200};
    for (size_t ci = 0; ci < 4; ci++) {
        for (int resident = 1; resident >= 0; resident--) {
            reranker_options opt = {.resident_layers = resident, .embed_cache_rows = caps[ci]};
            if (reranker_open_ex(&cached, f->bert, NULL, &opt) != STATUS_OK)
                fail_msg("%s", status_message());
            embed_cache *ec = reranker_embed_cache(&cached);
            assert_non_null(ec);
            assert_null(cached.model.word);
            for (int rep = 0; rep < 2; rep++) { // the second pass starts warm
                embed_cache_reset_stats(ec);
                ec_run(&cached, &b, resident ? 0 : 2, &c);
                ec_assert_same(&a, &c);
                assert_int_equal(ec->hits + ec->misses, q.n_tok);
            }
            if (caps[ci] == 200) assert_int_equal(ec->misses, 0); // everything stayed
            printf("bert-tiny, cache %3zu rows, %s layers: hit rate %.3f, %llu misses\n", caps[ci],
                   resident ? "resident" : "streamed (W=2)", embed_cache_hit_rate(ec),
                   (unsigned long long)ec->misses);
            reranker_close(&cached);
        }
    }
    engine_result_free(&a);
    engine_result_free(&c);
    reranker_close(&full);
}

// A Qwen3 reranker without a tokenizer: the engine needs only the model
// (the Qwen3 tokenizer lives in ../shared; the ids here are generated), and
// the yes/no ids come from the tests' yes/no tokenizer (testutil.h).
static void ec_open_qwen(reranker *r, const char *dir, int resident, size_t cache_rows) {
    if (testutil_open_yes_no(r, dir, 9693, 2152, resident, cache_rows) != STATUS_OK)
        fail_msg("%s", status_message());
    assert_true(r->cfg.arch == arch_find("Qwen3ForCausalLM"));
}

static void test_engine_qwen3_cache_equals_full_table(void **state) {
    ec_fixture *f = *state;
    reranker full, cached;
    ec_open_qwen(&full, f->qwen, 1, 0);
    ec_batch q;
    reranker_batch b = ec_make_batch(&q, 10, 3000, 90, 0); // ids < 3000: some repeat
    size_t L = (size_t)full.cfg.n_layers, H = (size_t)full.cfg.hidden_size;
    engine_result a, c;
    assert_int_equal(engine_result_init(&a, 10, L), STATUS_OK);
    assert_int_equal(engine_result_init(&c, 10, L), STATUS_OK);
    ec_run(&full, &b, 0, &a);
    float lo = INFINITY, hi = -INFINITY;
    for (size_t s = 0; s < 10; s++) {
        float v = a.layer_scores[L * 10 + s];
        if (!isnan(v)) lo = fminf(lo, v), hi = fmaxf(hi, v);
    }
    assert_true(hi - lo > 1e-3); // scores differ: the comparison means something
    const size_t caps[] = {7, 15167};
    for (size_t ci = 0; ci < 2; ci++) {
        for (int resident = 1; resident >= 0; resident--) {
            ec_open_qwen(&cached, f->qwen, resident, caps[ci]);
            assert_null(cached.model.word);
            // The tied yes/no rows still come from embed_tokens in the checkpoint.
            const qwen3_state *qs = cached.model.family;
            assert_memory_equal(qs->yes_no, full.model.word + (size_t)9693 * H,
                                H * sizeof(float));
            assert_memory_equal(qs->yes_no + H, full.model.word + (size_t)2152 * H,
                                H * sizeof(float));
            // Memory: the cache, not the (V, H) table.
            embed_cache *ec = reranker_embed_cache(&cached);
            assert_true(embed_cache_bytes(ec) < (size_t)full.cfg.vocab_size * H * sizeof(float));
            ec_run(&cached, &b, resident ? 0 : 2, &c);
            ec_assert_same(&a, &c);
            printf("qwen3-tiny, cache %5zu rows, %s layers: hit rate %.3f, %llu misses, read "
                   "%.2f ms\n",
                   caps[ci], resident ? "resident" : "streamed (W=2)", embed_cache_hit_rate(ec),
                   (unsigned long long)ec->misses, ec->read_seconds * 1e3);
            reranker_close(&cached);
        }
    }
    // The full forward path (engine_forward_all_layers) agrees as well.
    ec_open_qwen(&cached, f->qwen, 1, 3);
    reranker_batch qb = {.n_seq = b.n_seq,
                         .n_tok = b.n_tok,
                         .seq_start = b.seq_start,
                         .seq_len = b.seq_len,
                         .ids = b.ids};
    float *x = malloc((L + 1) * 10 * sizeof *x), *y = malloc((L + 1) * 10 * sizeof *y);
    assert_int_equal(engine_forward_all_layers(&full, &qb, 4, x), STATUS_OK);
    assert_int_equal(engine_forward_all_layers(&cached, &qb, 4, y), STATUS_OK);
    assert_memory_equal(x, y, (L + 1) * 10 * sizeof *x);
    free(x);
    free(y);
    reranker_close(&cached);
    engine_result_free(&a);
    engine_result_free(&c);
    reranker_close(&full);
}

// The checkpoint is truncated while a model with a cache is open: the next
// miss fails cleanly naming the file; rows already cached still serve; no leak.
static void test_truncated_checkpoint_on_a_miss(void **state) {
    ec_fixture *f = *state;
    size_t before = mem_total_current_bytes();
    reranker m;
    reranker_options opt = {.resident_layers = 1, .embed_cache_rows = 50};
    if (reranker_open_ex(&m, f->trunc, NULL, &opt) != STATUS_OK) fail_msg("%s", status_message());
    ec_batch q;
    reranker_batch b = ec_make_batch(&q, 6, 40, 30, 1); // ids < 40: all fit in the cache
    engine_result r;
    assert_int_equal(engine_result_init(&r, 6, (size_t)m.cfg.n_layers), STATUS_OK);
    ec_run(&m, &b, 0, &r);
    char path[4300];
    snprintf(path, sizeof path, "%s/model.safetensors", f->trunc);
    assert_int_equal(truncate(path, 4096), 0);
    ec_run(&m, &b, 0, &r); // every row is cached: no read, still fine
    embed_cache *ec = reranker_embed_cache(&m);
    uint64_t misses = ec->misses;
    q.ids[5] = 150; // not cached: a miss whose read hits the end of the file
    policy *p;
    assert_int_equal(policy_create("none", NULL, &p), STATUS_OK);
    engine_options eo = {.k = 2};
    status st = engine_run(&m, &b, p, &eo, &r);
    printf("miss on a truncated checkpoint: %s: %s\n", status_name(st), status_message());
    assert_int_equal(st, STATUS_ERR_IO);
    assert_non_null(strstr(status_message(), "model.safetensors"));
    assert_non_null(strstr(status_message(), "embedding cache: row 150"));
    assert_non_null(strstr(status_message(), "truncated"));
    assert_int_equal(ec->misses, misses + 1);
    // The failed slot is empty, the rest still cached and consistent.
    assert_int_equal(ec->slot_of[150], -1);
    assert_int_equal(ec->id_of[ec->tail], -1);
    q.ids[5] = q.ids[4];
    assert_int_equal(engine_run(&m, &b, p, &eo, &r), STATUS_OK);
    policy_free(p);
    engine_result_free(&r);
    reranker_close(&m);
    assert_int_equal(mem_total_current_bytes(), before);
}

// Every allocation of opening a cached model and running it fails in turn:
// a clean STATUS_ERR_NOMEM each time and nothing left allocated.
static void test_allocation_failures_are_clean(void **state) {
    ec_fixture *f = *state;
    ec_batch q;
    reranker_batch b = ec_make_batch(&q, 5, 200, 40, 1);
    policy *p;
    assert_int_equal(policy_create("none", NULL, &p), STATUS_OK);
    size_t before = mem_total_current_bytes(), n = 1, failures = 0;
    for (;; n++) {
        reranker m;
        engine_result r = {0};
        reranker_options opt = {.resident_layers = 1, .embed_cache_rows = 8};
        mem_fail_after(n);
        status st = reranker_open_ex(&m, f->bert, NULL, &opt);
        if (st == STATUS_OK) {
            st = engine_result_init(&r, 5, (size_t)m.cfg.n_layers);
            engine_options eo = {.k = 2};
            if (st == STATUS_OK) st = engine_run(&m, &b, p, &eo, &r);
            engine_result_free(&r);
            reranker_close(&m);
        }
        int fired = mem_fail_fired();
        mem_fail_after(0);
        if (!fired) {
            assert_int_equal(st, STATUS_OK);
            break;
        }
        assert_int_equal(st, STATUS_ERR_NOMEM);
        assert_int_equal(mem_total_current_bytes(), before);
        failures++;
    }
    printf("allocation failures injected: %zu, all clean\n", failures);
    assert_true(failures > 10);
    policy_free(p);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lru_order_and_eviction),
        cmocka_unit_test(test_engine_bert_cache_equals_full_table),
        cmocka_unit_test(test_engine_qwen3_cache_equals_full_table),
        cmocka_unit_test(test_truncated_checkpoint_on_a_miss),
        cmocka_unit_test(test_allocation_failures_are_clean),
    };
    return cmocka_run_group_tests(tests, ec_setup, ec_teardown);
}
