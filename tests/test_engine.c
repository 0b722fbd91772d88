// Invariants of the monolithic engine (core/engine/engine.c):
// - with `none` it equals the plain forward (embed, every layer over all
//   candidates at once, score after each: engine_plain_forward below, from
//   the reranker's forward pieces, independent of engine_run);
// - a candidate still active at layer l has the same layer-l score in a pruned
//   run as in the full run, whatever left before it;
// - the chunk size does not change any score;
// - the top-K / report order rule and the statistics are consistent.
// On the demo model with golden SciFact inputs (20 BM25 candidates per query)
// when ../shared is present, and always on a generated tiny BERT.
#include "testutil.h"

#include "engine/engine.h"
#include "base/json_file.h"
#include "model/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// A test policy with a fixed, score-driven rule that exercises every verdict:
// from layer 1 on, drop the lowest-scoring active candidate while more than
// K + 2 remain; at layer 3 select the best one (if K' > 1); at layer
// `stop_layer` stop. Ties broken by index.
typedef struct {
    size_t k;
    int stop_layer;
} test_policy_state;

static status test_policy_create(const cJSON *params, void **state) {
    (void)params;
    *state = calloc(1, sizeof(test_policy_state));
    return STATUS_OK;
}

static status test_policy_reset(void *state, size_t n, size_t k) {
    (void)n;
    ((test_policy_state *)state)->k = k;
    return STATUS_OK;
}

static status test_policy_decide(void *state, const policy_input *in, policy_verdict *v, int *stop) {
    test_policy_state *s = state;
    if (in->layer < 1) return STATUS_OK;
    size_t kprime = in->k - in->n_selected;
    size_t lo = 0, hi = 0;
    for (size_t i = 1; i < in->n_active; i++) {
        if (in->scores[i] < in->scores[lo]) lo = i;
        if (in->scores[i] > in->scores[hi]) hi = i;
    }
    if (in->n_active > kprime + 2) v[lo] = POLICY_DROP;
    if (in->layer == 3 && kprime > 1 && hi != lo) v[hi] = POLICY_SELECT;
    if (in->layer == s->stop_layer) *stop = 1;
    return STATUS_OK;
}

static void test_policy_destroy(void *state) {
    free(state);
}

static const policy_ops test_policy_ops = {
    .name = "test-drop-lowest",
    .summary = "test only",
    .create = test_policy_create,
    .reset = test_policy_reset,
    .decide = test_policy_decide,
    .destroy = test_policy_destroy,
};

typedef struct {
    size_t n_seq, n_tok;
    size_t seq_start[32], seq_len[32];
    int32_t *ids, *type_ids;
} engine_query;

static reranker_batch engine_view(const engine_query *q) {
    reranker_batch b = {.n_seq = q->n_seq, .n_tok = q->n_tok, .seq_start = q->seq_start,
                        .seq_len = q->seq_len, .ids = q->ids, .type_ids = q->type_ids};
    return b;
}

// The plain full forward, without the engine: embeddings, then every layer
// over all candidates at once, the provisional score after each:
// full (L + 1, n). (engine_forward_all_layers is engine_run with `none`, so
// it cannot be the reference engine_run is compared with.)
static void engine_plain_forward(const reranker *m, const reranker_batch *b, float *full) {
    size_t n = b->n_seq, L = (size_t)m->cfg.n_layers, H = (size_t)m->cfg.hidden_size;
    if (reranker_batch_validate(m, b) != STATUS_OK) fail_msg("%s", status_message());
    size_t max_len = 0;
    for (size_t s = 0; s < n; s++) max_len = b->seq_len[s] > max_len ? b->seq_len[s] : max_len;
    reranker_workspace ws;
    if (reranker_workspace_init(m, &ws, b->n_tok, max_len, n) != STATUS_OK)
        fail_msg("%s", status_message());
    float *h = malloc(b->n_tok * H * sizeof *h);
    assert_non_null(h);
    if (reranker_embed(m, b, h, &ws) != STATUS_OK || reranker_score(m, 0, b, h, &ws, full) != STATUS_OK)
        fail_msg("%s", status_message());
    for (size_t l = 0; l < L; l++)
        if (reranker_layer_forward(m, l, b, h, &ws) != STATUS_OK ||
            reranker_score(m, l + 1, b, h, &ws, full + (l + 1) * n) != STATUS_OK)
            fail_msg("%s", status_message());
    free(h);
    reranker_workspace_free(&ws);
}

// Checks every invariant for one query; returns the largest deviation seen.
static double engine_check_query(const reranker *m, const engine_query *q, size_t k, int stop_layer) {
    reranker_batch b = engine_view(q);
    size_t n = b.n_seq, L = (size_t)m->cfg.n_layers;
    float *full = malloc((L + 1) * n * sizeof *full);
    engine_plain_forward(m, &b, full);
    double worst = 0.0;

    // `none` equals the plain forward and computes everything.
    policy *none;
    assert_int_equal(policy_create("none", NULL, &none), STATUS_OK);
    engine_result r;
    assert_int_equal(engine_result_init(&r, n, L), STATUS_OK);
    engine_options opt = {.k = k, .chunk = 0};
    if (engine_run(m, &b, none, &opt, &r) != STATUS_OK) fail_msg("%s", status_message());
    for (size_t i = 0; i < (L + 1) * n; i++) worst = fmax(worst, fabs(r.layer_scores[i] - full[i]));
    assert_int_equal(r.candidate_layers, n * L);
    assert_int_equal(r.layers_run, (int)L);
    for (size_t pos = 0; pos + 1 < n; pos++) // ranked by final score
        assert_true(full[L * n + r.order[pos]] >= full[L * n + r.order[pos + 1]]);
    policy_free(none);

    // A pruning policy, at several chunk sizes.
    policy tp = {.ops = &test_policy_ops};
    test_policy_create(NULL, &tp.state);
    ((test_policy_state *)tp.state)->stop_layer = stop_layer;
    float *first = malloc((L + 1) * n * sizeof *first);
    size_t chunks[] = {0, 1, 3};
    for (size_t ci = 0; ci < 3; ci++) {
        opt.chunk = chunks[ci];
        if (engine_run(m, &b, &tp, &opt, &r) != STATUS_OK) fail_msg("%s", status_message());
        size_t computed = 0, n_selected = 0;
        for (size_t i = 0; i < n; i++) {
            int exit_layer = r.exit_layer[i];
            for (size_t l = 0; l <= L; l++) {
                float s = r.layer_scores[l * n + i];
                if ((int)l <= exit_layer) {
                    assert_false(isnan(s)); // computed up to where it left
                    worst = fmax(worst, fabs(s - full[l * n + i]));
                    if (l > 0) computed++;
                } else {
                    assert_true(isnan(s)); // never computed after it left
                }
            }
            assert_true(r.exit_score[i] == r.layer_scores[(size_t)exit_layer * n + i]);
            n_selected += r.exit_reason[i] == ENGINE_EXIT_SELECT;
        }
        assert_int_equal(computed, r.candidate_layers);
        assert_true(r.candidate_layers < n * L); // the policy did prune
        // The top-K never holds a dropped candidate; selected ones come first.
        for (size_t pos = 0; pos < n; pos++) {
            engine_exit e = r.exit_reason[r.order[pos]];
            if (pos < k) assert_true(e != ENGINE_EXIT_DROP);
            if (pos < n_selected) assert_int_equal(e, ENGINE_EXIT_SELECT);
        }
        if (ci == 0) {
            memcpy(first, r.layer_scores, (L + 1) * n * sizeof *first);
        } else {
            for (size_t i = 0; i < (L + 1) * n; i++) {
                if (isnan(first[i])) {
                    assert_true(isnan(r.layer_scores[i]));
                } else {
                    worst = fmax(worst, fabs(first[i] - r.layer_scores[i]));
                }
            }
        }
    }
    test_policy_destroy(tp.state);
    engine_result_free(&r);
    free(full);
    free(first);
    return worst;
}

// Runs policy `p` at chunk size `chunk` and checks every computed score
// against the full run `full` ((L + 1, n)); returns the largest deviation.
static double engine_check_policy(const reranker *m, const reranker_batch *b, policy *p, size_t k,
                                  size_t chunk, const float *full) {
    size_t n = b->n_seq, L = (size_t)m->cfg.n_layers;
    engine_result r;
    assert_int_equal(engine_result_init(&r, n, L), STATUS_OK);
    engine_options opt = {.k = k, .chunk = chunk};
    if (engine_run(m, b, p, &opt, &r) != STATUS_OK) fail_msg("%s", status_message());
    double worst = 0.0;
    size_t computed = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t l = 0; l <= L; l++) {
            float s = r.layer_scores[l * n + i];
            if ((int)l <= r.exit_layer[i]) {
                assert_false(isnan(s));
                worst = fmax(worst, fabs(s - full[l * n + i]));
                computed += l > 0;
            } else {
                assert_true(isnan(s));
            }
        }
    assert_int_equal(computed, r.candidate_layers);
    for (size_t pos = 0; pos < k; pos++) assert_true(r.exit_reason[r.order[pos]] != ENGINE_EXIT_DROP);
    engine_result_free(&r);
    return worst;
}

static void test_engine_invariants_demo(void **state) {
    (void)state;
    const char *model_dir = testutil_shared_path("models/scifact-minibert-demo");
    if (!model_dir) skip();
    reranker m;
    if (reranker_open(&m, model_dir, NULL) != STATUS_OK) fail_msg("%s", status_message());
    cJSON *root;
    if (json_file_parse(testutil_source_path("tests/golden/bert/inputs_len192.json"), &root))
        fail_msg("%s", status_message());
    const cJSON *qs = cJSON_GetObjectItemCaseSensitive(root, "queries");
    size_t nq = 6;
    double worst = 0.0;
    for (size_t qi = 0; qi < nq; qi++) {
        const cJSON *item = cJSON_GetArrayItem(qs, (int)qi);
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(item, "input_ids");
        const cJSON *types = cJSON_GetObjectItemCaseSensitive(item, "token_type_ids");
        engine_query q = {.n_seq = (size_t)cJSON_GetArraySize(ids)};
        size_t total = 0;
        for (size_t s = 0; s < q.n_seq; s++) total += (size_t)cJSON_GetArraySize(cJSON_GetArrayItem(ids, (int)s));
        q.ids = malloc(total * sizeof *q.ids);
        q.type_ids = malloc(total * sizeof *q.type_ids);
        for (size_t s = 0; s < q.n_seq; s++) {
            const cJSON *row = cJSON_GetArrayItem(ids, (int)s), *trow = cJSON_GetArrayItem(types, (int)s);
            q.seq_start[s] = q.n_tok;
            q.seq_len[s] = (size_t)cJSON_GetArraySize(row);
            for (size_t t = 0; t < q.seq_len[s]; t++, q.n_tok++) {
                q.ids[q.n_tok] = cJSON_GetArrayItem(row, (int)t)->valueint;
                q.type_ids[q.n_tok] = cJSON_GetArrayItem(trow, (int)t)->valueint;
            }
        }
        // K in {1, 5, 10}; stop early on some queries.
        size_t k = qi % 3 == 0 ? 1 : qi % 3 == 1 ? 5 : 10;
        worst = fmax(worst, engine_check_query(&m, &q, k, qi % 2 ? 6 : -1));
        free(q.ids);
        free(q.type_ids);
    }
    printf("demo model, %zu queries: max |pruned/chunked - full| = %.3g\n", nq, worst);
    assert_true(worst <= 1e-5);
    cJSON_Delete(root);
    reranker_close(&m);
}

// The same invariants on a generated model with made-up token ids, so they
// are checked even without ../shared.
static void test_engine_invariants_generated(void **state) {
    (void)state;
    char *tmp = testutil_tmpdir();
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/model", tmp);
    synth_options o;
    synth_options_default(&o);
    o.config_path = testutil_source_path("tests/data/bert-tiny/config.json");
    o.out_dir = dir;
    o.seed = 11;
    o.scale = 20.0; // spread the scores so that orderings are well defined
    if (synth_write(&o, NULL) != STATUS_OK) fail_msg("%s", status_message());
    reranker m;
    if (reranker_open(&m, dir, NULL) != STATUS_OK) fail_msg("%s", status_message());
    engine_query q = {.n_seq = 12};
    q.ids = malloc(12 * 64 * sizeof *q.ids);
    q.type_ids = malloc(12 * 64 * sizeof *q.type_ids);
    unsigned x = 12345;
    for (size_t s = 0; s < q.n_seq; s++) {
        q.seq_start[s] = q.n_tok;
        q.seq_len[s] = 5 + (s * 7) % 40;
        for (size_t t = 0; t < q.seq_len[s]; t++, q.n_tok++) {
            x = x * 1103515245u + 12345u;
            q.ids[q.n_tok] = t == 0 ? 101 : (int32_t)((x >> 8) % 200);
            q.type_ids[q.n_tok] = t > 3;
        }
    }
    double worst = engine_check_query(&m, &q, 3, -1);
    printf("generated model: max |pruned/chunked - full| = %.3g\n", worst);
    assert_true(worst <= 1e-5);
    free(q.ids);
    free(q.type_ids);
    reranker_close(&m);
    testutil_rmtree(tmp);
    free(tmp);
}

static void test_engine_rejects_bad_k_and_empty(void **state) {
    (void)state;
    char *tmp = testutil_tmpdir();
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/model", tmp);
    synth_options o;
    synth_options_default(&o);
    o.config_path = testutil_source_path("tests/data/bert-tiny/config.json");
    o.out_dir = dir;
    if (synth_write(&o, NULL) != STATUS_OK) fail_msg("%s", status_message());
    reranker m;
    assert_int_equal(reranker_open(&m, dir, NULL), STATUS_OK);
    int32_t ids[4] = {101, 5, 6, 102}, types[4] = {0};
    size_t start[1] = {0}, len[1] = {4};
    reranker_batch b = {.n_seq = 1, .n_tok = 4, .seq_start = start, .seq_len = len, .ids = ids, .type_ids = types};
    policy *p;
    assert_int_equal(policy_create("none", NULL, &p), STATUS_OK);
    engine_result r;
    assert_int_equal(engine_result_init(&r, 1, (size_t)m.cfg.n_layers), STATUS_OK);
    engine_options opt = {.k = 2};
    assert_int_equal(engine_run(&m, &b, p, &opt, &r), STATUS_ERR_ARG);
    assert_non_null(strstr(status_message(), "K = 2"));
    opt.k = 0;
    assert_int_equal(engine_run(&m, &b, p, &opt, &r), STATUS_ERR_ARG);
    opt.k = 1; // N = 1, K = 1 works
    assert_int_equal(engine_run(&m, &b, p, &opt, &r), STATUS_OK);
    assert_int_equal(r.order[0], 0);
    reranker_batch empty = {.n_seq = 0, .seq_start = start, .seq_len = len, .ids = ids, .type_ids = types};
    assert_int_equal(engine_run(&m, &empty, p, &opt, &r), STATUS_ERR_ARG);
    assert_non_null(strstr(status_message(), "no candidates"));
    ids[1] = 5000; // outside the vocabulary
    assert_int_equal(engine_run(&m, &b, p, &opt, &r), STATUS_ERR_ARG);
    assert_non_null(strstr(status_message(), "outside the vocabulary"));
    engine_result_free(&r);
    policy_free(p);
    reranker_close(&m);
    testutil_rmtree(tmp);
    free(tmp);
}


// The registered policies keep every computed score equal to the full run's.
static void test_engine_registered_policies_demo(void **state) {
    (void)state;
    const char *model_dir = testutil_shared_path("models/scifact-minibert-demo");
    if (!model_dir) skip();
    static const char *const configs[][2] = {
        {"cluster-gap", "{}"},
        {"cluster-gap", "{\"mode\": \"drop-only\", \"threshold\": 0.02}"},
        {"kendall-stability", "{\"threshold\": 0.8, \"patience\": 1}"},
        {"fixed-schedule", "{\"schedule\": [{\"layer\": 2, \"keep\": 0.5}, {\"layer\": 5, \"keep\": 6}]}"},
        {"score-gap", "{\"gap\": 0.02}"},
        {"asymmetric-threshold", "{\"score\": \"logit\", \"negative\": -5.0, \"positive\": -1.0}"},
    };
    reranker m;
    if (reranker_open(&m, model_dir, NULL) != STATUS_OK) fail_msg("%s", status_message());
    cJSON *root;
    if (json_file_parse(testutil_source_path("tests/golden/bert/inputs_len192.json"), &root))
        fail_msg("%s", status_message());
    const cJSON *qs = cJSON_GetObjectItemCaseSensitive(root, "queries");
    double worst = 0.0;
    size_t runs = 0;
    for (int qi = 6; qi < 8; qi++) {
        const cJSON *item = cJSON_GetArrayItem(qs, qi);
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(item, "input_ids");
        const cJSON *types = cJSON_GetObjectItemCaseSensitive(item, "token_type_ids");
        engine_query q = {.n_seq = (size_t)cJSON_GetArraySize(ids)};
        q.ids = malloc(q.n_seq * 192 * sizeof *q.ids);
        q.type_ids = malloc(q.n_seq * 192 * sizeof *q.type_ids);
        for (size_t s = 0; s < q.n_seq; s++) {
            const cJSON *row = cJSON_GetArrayItem(ids, (int)s), *trow = cJSON_GetArrayItem(types, (int)s);
            q.seq_start[s] = q.n_tok;
            q.seq_len[s] = (size_t)cJSON_GetArraySize(row);
            for (size_t t = 0; t < q.seq_len[s]; t++, q.n_tok++) {
                q.ids[q.n_tok] = cJSON_GetArrayItem(row, (int)t)->valueint;
                q.type_ids[q.n_tok] = cJSON_GetArrayItem(trow, (int)t)->valueint;
            }
        }
        reranker_batch b = engine_view(&q);
        size_t L = (size_t)m.cfg.n_layers;
        float *full = malloc((L + 1) * q.n_seq * sizeof *full);
        engine_plain_forward(&m, &b, full);
        for (size_t c = 0; c < sizeof configs / sizeof configs[0]; c++) {
            cJSON *params = cJSON_Parse(configs[c][1]);
            policy *p;
            if (policy_create(configs[c][0], params, &p) != STATUS_OK) fail_msg("%s", status_message());
            worst = fmax(worst, engine_check_policy(&m, &b, p, qi == 6 ? 5 : 10, qi == 6 ? 2 : 0, full));
            runs++;
            policy_free(p);
            cJSON_Delete(params);
        }
        free(full);
        free(q.ids);
        free(q.type_ids);
    }
    printf("registered policies, %zu runs: max |pruned - full| over computed scores = %.3g\n", runs, worst);
    assert_true(worst <= 1e-5);
    cJSON_Delete(root);
    reranker_close(&m);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_engine_invariants_demo),
        cmocka_unit_test(test_engine_registered_policies_demo),
        cmocka_unit_test(test_engine_invariants_generated),
        cmocka_unit_test(test_engine_rejects_bad_k_and_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
