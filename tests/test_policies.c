// Tests of the pruning policies: parameter parsing and validation, exact
// verdicts on hand-made scores (worked out in the comments), and multi-layer
// queries through a small engine simulator that applies the verdicts to the
// active set exactly as core/engine/engine.c does.
//
// Verdict strings: one character per active candidate in id order,
// 'S' = SELECT, 'D' = DROP, '.' = DEFER.
// Fate strings (simulator): one character per candidate, 'S' selected,
// 'D' dropped, 'A' still active at the end (last layer or STOP).
#include "testutil.h"

#include "policy.h"
#include "base/status.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAXN 64

static const float LN3 = 1.0986122886681098f; // sigmoid(ln 3) = 0.75
static const float LN9 = 2.1972245773362196f; // sigmoid(ln 9) = 0.9

static policy *make(const char *name, const char *json) {
    cJSON *params = json ? cJSON_Parse(json) : NULL;
    if (json) assert_non_null(params);
    policy *p = NULL;
    status st = policy_create(name, params, &p);
    if (st != STATUS_OK)
        fprintf(stderr, "policy_create(%s, %s): %s\n", name, json ? json : "NULL",
                status_message());
    assert_int_equal(st, STATUS_OK);
    cJSON_Delete(params);
    return p;
}

// Creating must fail with `code` and a message containing every `want` string.
static void expect_create_error(const char *name, const char *json, status code, const char *want1,
                                const char *want2) {
    cJSON *params = json ? cJSON_Parse(json) : NULL;
    if (json) assert_non_null(params);
    policy *p = NULL;
    status st = policy_create(name, params, &p);
    cJSON_Delete(params);
    if (st != code || (want1 && !strstr(status_message(), want1)) ||
        (want2 && !strstr(status_message(), want2)))
        fprintf(stderr, "policy_create(%s, %s) -> %d: '%s'\n", name, json ? json : "NULL", (int)st,
                status_message());
    assert_int_equal(st, code);
    assert_null(p);
    if (want1) assert_non_null(strstr(status_message(), want1));
    if (want2) assert_non_null(strstr(status_message(), want2));
}

// One decision on hand-made input: ids NULL means 0 .. n_active - 1. Writes
// the verdict string (n_active chars) and the stop flag.
static status decide_once(policy *p, int layer, int n_layers, size_t n_total, size_t k,
                          size_t n_selected, size_t n_active, const size_t *ids,
                          const float *scores, char *out, int *stop) {
    size_t own[MAXN];
    if (!ids) {
        for (size_t i = 0; i < n_active; i++)
            own[i] = i;
        ids = own;
    }
    policy_input in = {.layer = layer,
                       .n_layers = n_layers,
                       .n_total = n_total,
                       .k = k,
                       .n_selected = n_selected,
                       .n_active = n_active,
                       .ids = ids,
                       .scores = scores};
    policy_verdict v[MAXN];
    *stop = -1;
    status st = policy_decide(p, &in, v, stop);
    for (size_t i = 0; i < n_active; i++)
        out[i] = v[i] == POLICY_SELECT ? 'S' : v[i] == POLICY_DROP ? 'D' : '.';
    out[n_active] = '\0';
    return st;
}

// Reset + one decision, asserting success, the verdicts and the stop flag.
static void expect_once(policy *p, int layer, size_t k, size_t n, const float *scores,
                        const char *want, int want_stop) {
    assert_int_equal(policy_reset(p, n, k), STATUS_OK);
    char got[MAXN + 1];
    int stop;
    status st = decide_once(p, layer, 12, n, k, 0, n, NULL, scores, got, &stop);
    if (st != STATUS_OK) fprintf(stderr, "decide: %s\n", status_message());
    assert_int_equal(st, STATUS_OK);
    if (strcmp(got, want) != 0 || stop != want_stop)
        fprintf(stderr, "%s K=%zu layer %d: got %s stop %d, want %s stop %d\n", p->ops->name, k,
                layer, got, stop, want, want_stop);
    assert_string_equal(got, want);
    assert_int_equal(stop, want_stop);
}

// ---- engine simulator ----

typedef struct {
    char fate[MAXN + 1];  // per candidate: 'S', 'D' or 'A'
    int exit_layer[MAXN]; // layer of its verdict or of STOP; n_layers if it ran to the end
    int stop_layer;       // -1 when the policy never stopped
    size_t top[MAXN];     // the top-K in the engine's order
    int n_select_verdicts, n_stops;
} sim_result;

static const float *sim_scores;
static size_t sim_n;
static sim_result *sim_r;
static int sim_last[MAXN]; // layer of each candidate's latest score
static int sim_select_order[MAXN];

// core/engine/engine.h order: selected (earlier selection first, then score desc,
// then lower id), then the still-active (latest score desc, lower id), then
// dropped (later drop first, then score desc). Scores are the latest ones.
static int sim_cmp(const void *a, const void *b) {
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    static const int group[128] = {['S'] = 0, ['A'] = 1, ['D'] = 2};
    int gi = group[(int)sim_r->fate[i]], gj = group[(int)sim_r->fate[j]];
    if (gi != gj) return gi - gj;
    if (gi == 0 && sim_select_order[i] != sim_select_order[j])
        return sim_select_order[i] - sim_select_order[j];
    if (gi == 2 && sim_r->exit_layer[i] != sim_r->exit_layer[j])
        return sim_r->exit_layer[j] - sim_r->exit_layer[i];
    float si = sim_scores[(size_t)sim_last[i] * sim_n + i];
    float sj = sim_scores[(size_t)sim_last[j] * sim_n + j];
    if (si != sj) return si > sj ? -1 : 1;
    return (i > j) - (i < j);
}

// Runs one query like core/engine/engine.c: scores is (n_layers + 1) x n, row l =
// the scores after layer l; decide() is called for l = 0 .. n_layers - 1 on
// the active candidates; verdicts are applied; STOP ends the query.
static status sim_run(policy *p, const float *scores, int n_layers, size_t n, size_t k,
                      sim_result *r) {
    memset(r, 0, sizeof *r);
    r->stop_layer = -1;
    size_t active[MAXN], n_active = n, n_selected = 0;
    float cur[MAXN];
    policy_verdict v[MAXN];
    for (size_t i = 0; i < n; i++) {
        active[i] = i;
        r->fate[i] = 'A';
        r->exit_layer[i] = n_layers;
        sim_last[i] = n_layers;
    }
    r->fate[n] = '\0';
    status st = policy_reset(p, n, k);
    if (st != STATUS_OK) return st;
    int select_clock = 0;
    for (int l = 0; l < n_layers && n_active > 0; l++) {
        for (size_t i = 0; i < n_active; i++)
            cur[i] = scores[(size_t)l * n + active[i]];
        policy_input in = {.layer = l,
                           .n_layers = n_layers,
                           .n_total = n,
                           .k = k,
                           .n_selected = n_selected,
                           .n_active = n_active,
                           .ids = active,
                           .scores = cur};
        int stop = 0;
        st = policy_decide(p, &in, v, &stop);
        if (st != STATUS_OK) return st;
        size_t kept = 0;
        for (size_t i = 0; i < n_active; i++) {
            size_t c = active[i];
            if (v[i] == POLICY_DEFER) {
                active[kept++] = c;
                continue;
            }
            r->fate[c] = v[i] == POLICY_SELECT ? 'S' : 'D';
            r->exit_layer[c] = l;
            sim_last[c] = l;
            if (v[i] == POLICY_SELECT) {
                n_selected++;
                r->n_select_verdicts++;
                sim_select_order[c] = select_clock;
            }
        }
        select_clock++;
        n_active = kept;
        if (stop) {
            r->stop_layer = l;
            r->n_stops++;
            for (size_t i = 0; i < n_active; i++) {
                r->exit_layer[active[i]] = l;
                sim_last[active[i]] = l;
            }
            break;
        }
    }
    size_t order[MAXN];
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    sim_scores = scores;
    sim_n = n;
    sim_r = r;
    qsort(order, n, sizeof *order, sim_cmp);
    for (size_t i = 0; i < n; i++)
        r->top[i] = order[i];
    // The top-K never contains a dropped candidate (policy_decide's guarantee).
    for (size_t i = 0; i < k; i++)
        assert_true(r->fate[r->top[i]] != 'D');
    return STATUS_OK;
}

static void expect_sim(policy *p, const float *scores, int n_layers, size_t n, size_t k,
                       const char *want_fate, const int *want_exit, int want_stop,
                       const size_t *want_top, sim_result *out) {
    sim_result r;
    status st = sim_run(p, scores, n_layers, n, k, &r);
    if (st != STATUS_OK) fprintf(stderr, "sim: %s\n", status_message());
    assert_int_equal(st, STATUS_OK);
    if (strcmp(r.fate, want_fate) != 0 || r.stop_layer != want_stop)
        fprintf(stderr, "%s: fate %s stop %d, want %s stop %d\n", p->ops->name, r.fate,
                r.stop_layer, want_fate, want_stop);
    assert_string_equal(r.fate, want_fate);
    assert_int_equal(r.stop_layer, want_stop);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(r.exit_layer[i], want_exit[i]);
    if (want_top)
        for (size_t i = 0; i < k; i++)
            assert_int_equal(r.top[i], want_top[i]);
    if (out) *out = r;
}

// ---- registry, defaults, parameter errors ----

static void test_registry_lists_policies(void **state) {
    (void)state;
    static const char *const names[] = {"none",           "cluster-gap", "kendall-stability",
                                        "fixed-schedule", "score-gap",   "asymmetric-threshold"};
    for (size_t i = 0; i < 6; i++) {
        const policy_ops *ops = policy_find(names[i]);
        assert_non_null(ops);
        assert_string_equal(ops->name, names[i]);
        assert_true(strlen(ops->summary) > 10);
    }
    assert_true(policy_count() >= 6);
    expect_create_error("cluster_gap", NULL, STATUS_ERR_ARG, "unknown policy", "cluster-gap");
}

static void json_expect_number(const cJSON *o, const char *key, double want) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, key);
    assert_non_null(item);
    assert_true(cJSON_IsNumber(item));
    assert_true(item->valuedouble == want);
}

static void json_expect_string(const cJSON *o, const char *key, const char *want) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(o, key);
    assert_non_null(item);
    assert_true(cJSON_IsString(item));
    assert_string_equal(item->valuestring, want);
}

static void test_describe_defaults(void **state) {
    (void)state;
    policy *p = make("cluster-gap", NULL);
    cJSON *d = policy_describe(p);
    json_expect_number(d, "threshold", 0.05);
    json_expect_number(d, "k", 3);
    json_expect_string(d, "init", "exact");
    json_expect_number(d, "iterations", 20);
    json_expect_number(d, "seed", 0);
    json_expect_string(d, "mode", "select-drop");
    json_expect_string(d, "score", "probability");
    json_expect_number(d, "min_layer", 1);
    cJSON_Delete(d);
    policy_free(p);

    p = make("cluster-gap", "{\"init\": \"kmeans++\", \"mode\": \"drop-only\", \"score\": "
                            "\"logit\", \"k\": 4, \"seed\": 9}");
    d = policy_describe(p);
    json_expect_string(d, "init", "kmeans++");
    json_expect_string(d, "mode", "drop-only");
    json_expect_string(d, "score", "logit");
    json_expect_number(d, "k", 4);
    json_expect_number(d, "seed", 9);
    cJSON_Delete(d);
    policy_free(p);

    p = make("kendall-stability", "{}");
    d = policy_describe(p);
    json_expect_number(d, "threshold", 0.9);
    json_expect_number(d, "patience", 2);
    json_expect_number(d, "min_layer", 1);
    cJSON_Delete(d);
    policy_free(p);

    p = make("score-gap", NULL);
    d = policy_describe(p);
    json_expect_number(d, "gap", 0.2);
    json_expect_string(d, "score", "probability");
    json_expect_number(d, "min_layer", 1);
    cJSON_Delete(d);
    policy_free(p);

    p = make("asymmetric-threshold", "{\"positive\": 0.8}");
    d = policy_describe(p);
    json_expect_number(d, "positive", 0.8);
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(d, "negative")));
    json_expect_string(d, "score", "probability");
    json_expect_number(d, "min_layer", 1);
    cJSON_Delete(d);
    policy_free(p);

    p = make("fixed-schedule", "{\"schedule\": [{\"layer\": 2, \"keep\": 0.5}, {\"layer\": 5, "
                               "\"keep\": 3}]}");
    d = policy_describe(p);
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(d, "schedule");
    assert_int_equal(cJSON_GetArraySize(s), 2);
    json_expect_number(cJSON_GetArrayItem(s, 0), "layer", 2);
    json_expect_number(cJSON_GetArrayItem(s, 0), "keep", 0.5);
    json_expect_number(cJSON_GetArrayItem(s, 1), "layer", 5);
    json_expect_number(cJSON_GetArrayItem(s, 1), "keep", 3);
    cJSON_Delete(d);
    policy_free(p);
}

static void test_unknown_parameter_named(void **state) {
    (void)state;
    expect_create_error("cluster-gap", "{\"treshold\": 0.1}", STATUS_ERR_ARG, "'treshold'",
                        "cluster-gap");
    expect_create_error("kendall-stability", "{\"tau\": 0.9}", STATUS_ERR_ARG, "'tau'",
                        "kendall-stability");
    expect_create_error("fixed-schedule",
                        "{\"schedule\": [{\"layer\": 1, \"keep\": 2}], "
                        "\"keep\": 1}",
                        STATUS_ERR_ARG, "'keep'", "fixed-schedule");
    expect_create_error("score-gap", "{\"delta\": 0.1}", STATUS_ERR_ARG, "'delta'", "score-gap");
    expect_create_error("asymmetric-threshold", "{\"positive\": 0.9, \"pc\": 0.9}", STATUS_ERR_ARG,
                        "'pc'", "asymmetric-threshold");
    // Inside a schedule entry too.
    expect_create_error("fixed-schedule",
                        "{\"schedule\": [{\"layer\": 1, \"keep\": 2, "
                        "\"drop\": 1}]}",
                        STATUS_ERR_ARG, "schedule[0]", "'drop'");
}

static void test_wrong_parameter_types(void **state) {
    (void)state;
    expect_create_error("cluster-gap", "{\"k\": \"3\"}", STATUS_ERR_ARG, "'k'", "integer");
    expect_create_error("cluster-gap", "{\"k\": 2.5}", STATUS_ERR_ARG, "'k'", "integer");
    expect_create_error("cluster-gap", "{\"threshold\": \"low\"}", STATUS_ERR_ARG, "'threshold'",
                        "number");
    expect_create_error("cluster-gap", "{\"init\": 1}", STATUS_ERR_ARG, "'init'", "string");
    expect_create_error("cluster-gap", "{\"mode\": null}", STATUS_ERR_ARG, "'mode'", "string");
    expect_create_error("kendall-stability", "{\"patience\": true}", STATUS_ERR_ARG, "'patience'",
                        "integer");
    expect_create_error("kendall-stability", "{\"threshold\": [0.9]}", STATUS_ERR_ARG,
                        "'threshold'", "number");
    expect_create_error("score-gap", "{\"gap\": \"0.2\"}", STATUS_ERR_ARG, "'gap'", "number");
    expect_create_error("score-gap", "{\"min_layer\": 1.5}", STATUS_ERR_ARG, "'min_layer'",
                        "integer");
    expect_create_error("asymmetric-threshold", "{\"positive\": \"high\"}", STATUS_ERR_ARG,
                        "'positive'", "number or null");
    expect_create_error("asymmetric-threshold", "{\"negative\": 0.1, \"score\": 1}", STATUS_ERR_ARG,
                        "'score'", "string");
    expect_create_error("fixed-schedule", "{\"schedule\": {\"layer\": 1, \"keep\": 2}}",
                        STATUS_ERR_ARG, "'schedule'", "array");
    expect_create_error("fixed-schedule", "{\"schedule\": [[1, 2]]}", STATUS_ERR_ARG, "schedule[0]",
                        "object");
    expect_create_error("fixed-schedule", "{\"schedule\": [{\"layer\": \"1\", \"keep\": 2}]}",
                        STATUS_ERR_ARG, "schedule[0].layer", "integer");
    expect_create_error("fixed-schedule", "{\"schedule\": [{\"layer\": 1, \"keep\": \"half\"}]}",
                        STATUS_ERR_ARG, "schedule[0].keep", "number");
    // Parameters must be an object at all.
    expect_create_error("score-gap", "[1]", STATUS_ERR_ARG, "score-gap", "JSON object");
}

static void test_invalid_parameter_values(void **state) {
    (void)state;
    expect_create_error("cluster-gap", "{\"k\": 0}", STATUS_ERR_ARG, "'k'", "got 0");
    expect_create_error("cluster-gap", "{\"threshold\": -0.1}", STATUS_ERR_ARG, "'threshold'",
                        ">= 0");
    expect_create_error("cluster-gap", "{\"iterations\": 0}", STATUS_ERR_ARG, "'iterations'", NULL);
    expect_create_error("cluster-gap", "{\"seed\": -1}", STATUS_ERR_ARG, "'seed'", NULL);
    expect_create_error("cluster-gap", "{\"min_layer\": -1}", STATUS_ERR_ARG, "'min_layer'", NULL);
    expect_create_error("cluster-gap", "{\"init\": \"random\"}", STATUS_ERR_ARG, "'init'",
                        "exact, quantile, kmeans++");
    expect_create_error("cluster-gap", "{\"mode\": \"select\"}", STATUS_ERR_ARG, "'mode'",
                        "select-drop, drop-only");
    expect_create_error("cluster-gap", "{\"score\": \"prob\"}", STATUS_ERR_ARG, "'score'",
                        "'prob'");
    expect_create_error("kendall-stability", "{\"threshold\": 1.5}", STATUS_ERR_ARG, "'threshold'",
                        "[-1, 1]");
    expect_create_error("kendall-stability", "{\"patience\": 0}", STATUS_ERR_ARG, "'patience'",
                        NULL);
    expect_create_error("kendall-stability", "{\"min_layer\": -2}", STATUS_ERR_ARG, "'min_layer'",
                        NULL);
    expect_create_error("score-gap", "{\"gap\": 0}", STATUS_ERR_ARG, "'gap'", "> 0");
    expect_create_error("score-gap", "{\"gap\": -0.5}", STATUS_ERR_ARG, "'gap'", NULL);
    expect_create_error("score-gap", "{\"gap\": 1}", STATUS_ERR_ARG, "'gap'", "probability");
    expect_create_error("score-gap", "{\"score\": \"logits\"}", STATUS_ERR_ARG, "'score'", NULL);
    policy_free(make("score-gap", "{\"gap\": 1.5, \"score\": \"logit\"}"));
    expect_create_error("asymmetric-threshold", NULL, STATUS_ERR_ARG, "'positive'", "'negative'");
    expect_create_error("asymmetric-threshold", "{\"positive\": null, \"negative\": null}",
                        STATUS_ERR_ARG, "at least one", NULL);
    expect_create_error("asymmetric-threshold", "{\"positive\": 0.3, \"negative\": 0.3}",
                        STATUS_ERR_ARG, "'negative'", "below");
    expect_create_error("asymmetric-threshold", "{\"positive\": 1.5}", STATUS_ERR_ARG, "'positive'",
                        "[0, 1]");
    expect_create_error("asymmetric-threshold", "{\"negative\": -0.1}", STATUS_ERR_ARG,
                        "'negative'", "[0, 1]");
    policy_free(make("asymmetric-threshold", "{\"positive\": 1.5, \"score\": \"logit\"}"));
    policy_free(make("asymmetric-threshold", "{\"positive\": null, \"negative\": 0.1}"));

    expect_create_error("fixed-schedule", NULL, STATUS_ERR_MISSING, "'schedule'", "required");
    expect_create_error("fixed-schedule", "{}", STATUS_ERR_MISSING, "'schedule'", "required");
    expect_create_error("fixed-schedule", "{\"schedule\": []}", STATUS_ERR_ARG, "empty", NULL);
    expect_create_error("fixed-schedule", "{\"schedule\": [{\"layer\": 1, \"keep\": 0}]}",
                        STATUS_ERR_ARG, "schedule[0].keep", "got 0");
    expect_create_error("fixed-schedule", "{\"schedule\": [{\"layer\": 1, \"keep\": -1}]}",
                        STATUS_ERR_ARG, "schedule[0].keep", NULL);
    expect_create_error("fixed-schedule", "{\"schedule\": [{\"layer\": 1, \"keep\": 2.5}]}",
                        STATUS_ERR_ARG, "schedule[0].keep", "got 2.5");
    expect_create_error("fixed-schedule", "{\"schedule\": [{\"layer\": -1, \"keep\": 2}]}",
                        STATUS_ERR_ARG, "schedule[0].layer", NULL);
    expect_create_error("fixed-schedule", "{\"schedule\": [{\"layer\": 1.5, \"keep\": 2}]}",
                        STATUS_ERR_ARG, "schedule[0].layer", NULL);
    expect_create_error("fixed-schedule", "{\"schedule\": [{\"keep\": 2}]}", STATUS_ERR_ARG,
                        "schedule[0]", "'layer'");
    expect_create_error("fixed-schedule", "{\"schedule\": [{\"layer\": 2}]}", STATUS_ERR_ARG,
                        "schedule[0]", "'keep'");
    expect_create_error("fixed-schedule",
                        "{\"schedule\": [{\"layer\": 3, \"keep\": 5}, "
                        "{\"layer\": 3, \"keep\": 2}]}",
                        STATUS_ERR_ARG, "schedule[1].layer = 3", "strictly increasing");
    expect_create_error("fixed-schedule",
                        "{\"schedule\": [{\"layer\": 1, \"keep\": 0.5}, "
                        "{\"layer\": 4, \"keep\": 3}, {\"layer\": 2, \"keep\": "
                        "2}]}",
                        STATUS_ERR_ARG, "schedule[2].layer = 2", "schedule[1].layer = 4");
}

// Every policy rejects a NaN or Inf score, naming the candidate and layer.
static void test_nonfinite_scores_rejected(void **state) {
    (void)state;
    static const char *const specs[][2] = {
        {"none", NULL},
        {"cluster-gap", NULL},
        {"cluster-gap", "{\"mode\": \"drop-only\", \"score\": \"logit\"}"},
        {"kendall-stability", NULL},
        {"fixed-schedule", "{\"schedule\": [{\"layer\": 4, \"keep\": 1}]}"},
        {"score-gap", NULL},
        {"asymmetric-threshold", "{\"negative\": 0.1}"},
    };
    size_t ids[3] = {0, 3, 7};
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
        policy *p = make(specs[s][0], specs[s][1]);
        for (int t = 0; t < 3; t++) {
            float scores[3] = {1.0f, 2.0f, t == 0 ? NAN : t == 1 ? INFINITY : -INFINITY};
            assert_int_equal(policy_reset(p, 8, 2), STATUS_OK);
            char got[MAXN + 1];
            int stop;
            assert_int_equal(decide_once(p, 4, 12, 8, 2, 0, 3, ids, scores, got, &stop),
                             STATUS_ERR_NUMERIC);
            assert_non_null(strstr(status_message(), "candidate 7"));
            assert_non_null(strstr(status_message(), "layer 4"));
            assert_non_null(strstr(status_message(), specs[s][0]));
        }
        policy_free(p);
    }
}

// ---- cluster-gap ----

// Six logits in three well-separated pairs (used below). CV = 3.94 / 4.92
// = 0.80 > 0.05. Optimal 3-means: {10, 9.5}, {5, 4.8}, {0.2, 0} (every other
// contiguous split puts a gap >= 4.5 inside a cluster).
static const float CG6[6] = {10, 9.5f, 5, 4.8f, 0.2f, 0};

static void test_cg_three_clusters_select_drop(void **state) {
    (void)state;
    policy *p = make("cluster-gap", "{\"score\": \"logit\"}");
    // K = 2: the 2nd best (9.5) is in the top cluster -> boundary = top:
    // nothing above, both lower clusters dropped; 0 + 0 + 2 deferred == K -> stop.
    expect_once(p, 1, 2, 6, CG6, "..DDDD", 1);
    // K = 3: 3rd best (5) in the middle cluster: top selected, bottom dropped,
    // 2 selected + 2 deferred = 4 != 3 -> no stop.
    expect_once(p, 1, 3, 6, CG6, "SS..DD", 0);
    // K = 4: 4th best (4.8) also in the middle: 2 + 2 == 4 -> stop.
    expect_once(p, 1, 4, 6, CG6, "SS..DD", 1);
    // K = 5: 5th best (0.2) in the bottom cluster: top and middle selected.
    expect_once(p, 1, 5, 6, CG6, "SSSS..", 0);
    policy_free(p);

    // The same with the Lloyd inits (the quantile seeds 0.2, 5, 10 are already
    // the optimum) and kmeans++ for several seeds.
    p = make("cluster-gap", "{\"score\": \"logit\", \"init\": \"quantile\"}");
    expect_once(p, 1, 3, 6, CG6, "SS..DD", 0);
    policy_free(p);
    for (int seed = 0; seed < 5; seed++) {
        char json[128];
        snprintf(json, sizeof json, "{\"score\": \"logit\", \"init\": \"kmeans++\", \"seed\": %d}",
                 seed);
        p = make("cluster-gap", json);
        expect_once(p, 1, 3, 6, CG6, "SS..DD", 0);
        policy_free(p);
    }
}

static void test_cg_drop_only_never_selects(void **state) {
    (void)state;
    policy *p = make("cluster-gap", "{\"score\": \"logit\", \"mode\": \"drop-only\"}");
    // As in select-drop, but clusters above the boundary are deferred and it never stops.
    expect_once(p, 1, 3, 6, CG6, "....DD", 0);
    expect_once(p, 1, 2, 6, CG6, "..DDDD", 0);
    expect_once(p, 1, 5, 6, CG6, "......", 0);
    // K = N: nothing to prune; defer (no stop).
    expect_once(p, 1, 6, 6, CG6, "......", 0);
    policy_free(p);
}

static void test_cg_threshold_probability_vs_logit(void **state) {
    (void)state;
    // Logits ln9, ln9, 0, 0, -ln9 -> P = 0.9, 0.9, 0.5, 0.5, 0.1. Mean 0.58;
    // deviations 0.32, 0.32, -0.08, -0.08, -0.48; population variance
    // 0.448 / 5 = 0.0896, std 0.29933, CV = 0.51609. (The sample std would give
    // CV 0.577, which the 0.52 case below would catch.)
    float s[5] = {LN9, LN9, 0, 0, -LN9};
    policy *p = make("cluster-gap", "{\"threshold\": 0.52}");
    expect_once(p, 1, 2, 5, s, ".....", 0);
    policy_free(p);
    // Threshold 0.51 < CV: clusters {0.9, 0.9}, {0.5, 0.5}, {0.1}; K = 2 ->
    // boundary = top, the rest dropped, 2 deferred == K -> stop.
    p = make("cluster-gap", "{\"threshold\": 0.51}");
    expect_once(p, 1, 2, 5, s, "..DDD", 1);
    policy_free(p);
    // As logits the CV is 1.644 / 0.439 = 3.74, far above 0.52: it prunes.
    p = make("cluster-gap", "{\"threshold\": 0.52, \"score\": \"logit\"}");
    expect_once(p, 1, 2, 5, s, "..DDD", 1);
    policy_free(p);
}

static void test_cg_mean_zero_logit(void **state) {
    (void)state;
    // Logits 1, -1, 0.5, -0.5: mean exactly 0 -> CV = +inf -> cluster (k = 2):
    // {1, 0.5}, {-0.5, -1}. K = 2: boundary = top; 2 deferred == K -> stop.
    float s[4] = {1, -1, 0.5f, -0.5f};
    policy *p = make("cluster-gap", "{\"score\": \"logit\", \"k\": 2, \"threshold\": 1000}");
    expect_once(p, 1, 2, 4, s, ".D.D", 1);
    // 1, -1: the running mean is exactly 0 -> CV = +inf; K = 1 -> {1} | {-1}.
    float pm[2] = {1, -1};
    expect_once(p, 1, 1, 2, pm, ".D", 1);
    // Mean 2.5e-5 (near 0): CV ~ 3e4, still above the threshold.
    float s2[4] = {1, -1, 0.5f, -0.4999f};
    expect_once(p, 1, 2, 4, s2, ".D.D", 1);
    policy_free(p);
    // CV exactly at the threshold does nothing: 1, 3 -> mean 2, population
    // std 1, CV 0.5. Just below it, K = 1 clusters {3} | {1} and stops.
    float two[2] = {1, 3};
    p = make("cluster-gap", "{\"score\": \"logit\", \"threshold\": 0.5}");
    expect_once(p, 1, 1, 2, two, "..", 0);
    policy_free(p);
    p = make("cluster-gap", "{\"score\": \"logit\", \"threshold\": 0.4999}");
    expect_once(p, 1, 1, 2, two, "D.", 1);
    policy_free(p);
    // All zeros: every score equal, CV = 0 (not 0/0), nothing happens even
    // with threshold 0.
    p = make("cluster-gap", "{\"score\": \"logit\", \"threshold\": 0}");
    float z[3] = {0, 0, 0};
    expect_once(p, 1, 1, 3, z, "...", 0);
    policy_free(p);
}

static void test_cg_all_equal_and_ties(void **state) {
    (void)state;
    float eq[4] = {2, 2, 2, 2};
    policy *p = make("cluster-gap", "{\"threshold\": 0}");
    expect_once(p, 1, 1, 4, eq, "....", 0);
    policy_free(p);
    p = make("cluster-gap", "{\"threshold\": 0, \"mode\": \"drop-only\"}");
    expect_once(p, 1, 1, 4, eq, "....", 0);
    policy_free(p);
    // 5 5 5 1 1: two distinct scores, k clamped to 2: {5, 5, 5}, {1, 1}. K = 2:
    // boundary = top (equal scores share it), 3 deferred != 2 -> no stop;
    // K = 3: 3 deferred == 3 -> stop.
    float t[5] = {5, 5, 5, 1, 1};
    p = make("cluster-gap", "{\"score\": \"logit\"}");
    expect_once(p, 1, 2, 5, t, "...DD", 0);
    expect_once(p, 1, 3, 5, t, "...DD", 1);
    // K = 4: the 4th best (1) is in the bottom cluster: top selected, 3 + 2 != 4.
    expect_once(p, 1, 4, 5, t, "SSS..", 0);
    policy_free(p);
}

static void test_cg_small_k_and_n(void **state) {
    (void)state;
    policy *p = make("cluster-gap", "{\"score\": \"logit\"}");
    // K = 1: 3, 1, 0.9, -2 -> {3}, {1, 0.9}, {-2} (SSE 0.005; the other
    // splits cost 2 or 4.2). Boundary = {3}: the rest dropped, 1 deferred -> stop.
    float s[4] = {3, 1, 0.9f, -2};
    expect_once(p, 1, 1, 4, s, ".DDD", 1);
    // K = N = 3: n_active <= K', nothing to prune: stop, all deferred.
    float s3[3] = {3, 1, -2};
    expect_once(p, 1, 3, 3, s3, "...", 1);
    // N = 1, K = 1: stop at the first layer >= min_layer, not before.
    float one[1] = {0.3f};
    expect_once(p, 0, 1, 1, one, ".", 0);
    expect_once(p, 1, 1, 1, one, ".", 1);
    // Already 2 of K = 4 selected and 2 active: the top-K is determined.
    assert_int_equal(policy_reset(p, 6, 4), STATUS_OK);
    size_t ids[2] = {2, 5};
    float s2[2] = {4, -4};
    char got[MAXN + 1];
    int stop;
    assert_int_equal(decide_once(p, 3, 12, 6, 4, 2, 2, ids, s2, got, &stop), STATUS_OK);
    assert_string_equal(got, "..");
    assert_int_equal(stop, 1);
    policy_free(p);
    // k = 1: a single cluster is always the boundary: never prunes.
    p = make("cluster-gap", "{\"score\": \"logit\", \"k\": 1}");
    expect_once(p, 1, 3, 6, CG6, "......", 0);
    policy_free(p);
}

static void test_cg_min_layer(void **state) {
    (void)state;
    policy *p = make("cluster-gap", "{\"score\": \"logit\", \"min_layer\": 3}");
    expect_once(p, 0, 3, 6, CG6, "......", 0);
    expect_once(p, 2, 3, 6, CG6, "......", 0);
    expect_once(p, 3, 3, 6, CG6, "SS..DD", 0);
    policy_free(p);
    p = make("cluster-gap", "{\"score\": \"logit\", \"min_layer\": 0}");
    expect_once(p, 0, 3, 6, CG6, "SS..DD", 0);
    policy_free(p);
}

static void test_cg_multilayer(void **state) {
    (void)state;
    // N = 6, K = 3, 4 layers (rows = scores after layers 0..4).
    // layer 0: all equal (and below min_layer) -> nothing.
    // layer 1: CG6 -> ids 0, 1 selected, 4, 5 dropped, 2 and 3 deferred.
    // layer 2: active {2, 3} with 5 and 3, K' = 1: CV = 1 / 4 = 0.25; k
    //   clamped to 2: {5}, {3}; boundary = {5} (the best) -> id 3 dropped, 2
    //   deferred; 2 selected + 1 deferred == 3 -> stop at layer 2.
    static const float m[5][6] = {
        {1, 1, 1, 1, 1, 1},   {10, 9.5f, 5, 4.8f, 0.2f, 0}, {11, 10, 5, 3, 0, 0},
        {12, 11, 6, 2, 0, 0}, {13, 12, 7, 1, 0, 0},
    };
    policy *p = make("cluster-gap", "{\"score\": \"logit\"}");
    static const int exit1[6] = {1, 1, 2, 2, 1, 1};
    static const size_t top1[3] = {0, 1, 2};
    sim_result r;
    expect_sim(p, &m[0][0], 4, 6, 3, "SSADDD", exit1, 2, top1, &r);
    assert_int_equal(r.n_select_verdicts, 2);
    policy_free(p);

    // Drop-only on the same rows: layer 1 defers the top two clusters and
    // drops {4, 5}; layer 2: active 11, 10, 5, 3 (ids 0..3), K' = 3, CV =
    // 3.345 / 7.25 = 0.46; 3-means of 3, 5, 10, 11 = {3}, {5}, {10, 11}
    // (SSE 0.5 vs 2 or 8 otherwise): the 3rd best (5) is {5} -> {10, 11}
    // deferred, {3} dropped. Layer 3: ids 0..2, n_active = K' -> defer. They
    // run to the end (exit layer 4) and are ranked by the last row.
    p = make("cluster-gap", "{\"score\": \"logit\", \"mode\": \"drop-only\"}");
    static const int exit2[6] = {4, 4, 4, 2, 1, 1};
    expect_sim(p, &m[0][0], 4, 6, 3, "AAADDD", exit2, -1, top1, &r);
    assert_int_equal(r.n_select_verdicts, 0);
    policy_free(p);
}

// ---- kendall-stability ----

static void test_ks_fires_after_patience(void **state) {
    (void)state;
    // N = 4, K = 2, threshold 0.9, patience 2.
    // layer 1 vs 0: x = .1 .4 .3 .2, y = 1 2 3 0: pairs (0,1) C, (0,2) C,
    //   (0,3) D, (1,2) D, (1,3) C, (2,3) C -> tau = (4 - 2) / 6 = 1/3 -> streak 0.
    // layer 2: same order as layer 1 -> tau 1 -> streak 1.
    // layer 3: same order -> streak 2 = patience: select the top 2 by the
    //   layer-3 scores (ids 2: 4, 1: 3), drop 0 and 3, stop.
    static const float m[6][4] = {
        {0.1f, 0.4f, 0.3f, 0.2f},
        {1, 2, 3, 0},
        {1.5f, 2.5f, 3.5f, 0.5f},
        {2, 3, 4, 1},
        {3, 2, 1, 0},
        {3, 2, 1, 0},
    };
    static const int exit3[4] = {3, 3, 3, 3};
    static const size_t top[2] = {2, 1};
    policy *p = make("kendall-stability", NULL);
    expect_sim(p, &m[0][0], 5, 4, 2, "DSSD", exit3, 3, top, NULL);
    policy_free(p);
    // tau = 1/3 counts as stable with threshold 0.33: streak 1 at layer 1, 2
    // at layer 2 -> select by the layer-2 scores (ids 2: 3.5, 1: 2.5).
    static const int exit2[4] = {2, 2, 2, 2};
    p = make("kendall-stability", "{\"threshold\": 0.33}");
    expect_sim(p, &m[0][0], 5, 4, 2, "DSSD", exit2, 2, top, NULL);
    policy_free(p);
    // ... and not with 0.34 (back to layer 3).
    p = make("kendall-stability", "{\"threshold\": 0.34}");
    expect_sim(p, &m[0][0], 5, 4, 2, "DSSD", exit3, 3, top, NULL);
    policy_free(p);
    // patience 1 with 0.9: the first stable layer (2) fires.
    p = make("kendall-stability", "{\"patience\": 1}");
    expect_sim(p, &m[0][0], 5, 4, 2, "DSSD", exit2, 2, top, NULL);
    policy_free(p);
    // patience 4: layers 2, 3 stable, layer 4 (3 2 1 0) reverses the order
    // of ids 0..2 -> never fires; everyone runs to the end.
    static const int exit5[4] = {5, 5, 5, 5};
    static const size_t top5[2] = {0, 1};
    p = make("kendall-stability", "{\"patience\": 4}");
    expect_sim(p, &m[0][0], 5, 4, 2, "AAAA", exit5, -1, top5, NULL);
    policy_free(p);
}

static void test_ks_streak_broken_and_min_layer(void **state) {
    (void)state;
    // N = 3, K = 1, patience 2. layer 1: same order (streak 1); layer 2:
    // reversed (tau -1, streak 0); layers 3, 4 same as 2 (streak 1, 2) ->
    // fires at layer 4: top-1 = id 2.
    static const float m[7][3] = {
        {3, 2, 1},          {3.1f, 2.1f, 1.1f}, {1, 2, 3},          {1.1f, 2.1f, 3.1f},
        {1.2f, 2.2f, 3.2f}, {1.3f, 2.3f, 3.3f}, {1.4f, 2.4f, 3.4f},
    };
    static const int exit4[3] = {4, 4, 4};
    static const size_t top[1] = {2};
    policy *p = make("kendall-stability", NULL);
    expect_sim(p, &m[0][0], 6, 3, 1, "DDS", exit4, 4, top, NULL);
    policy_free(p);
    // Rows 2.. are all in the same order; streak reaches 2 at layer 4 anyway.
    // With min_layer 5 the (still growing) streak fires at layer 5.
    static const int exit5[3] = {5, 5, 5};
    p = make("kendall-stability", "{\"min_layer\": 5}");
    expect_sim(p, &m[0][0], 6, 3, 1, "DDS", exit5, 5, top, NULL);
    policy_free(p);
    // min_layer 6 is never reached (decisions at layers 0..5): full forward.
    static const int exit6[3] = {6, 6, 6};
    p = make("kendall-stability", "{\"min_layer\": 6}");
    expect_sim(p, &m[0][0], 6, 3, 1, "AAA", exit6, -1, top, NULL);
    policy_free(p);
}

static void test_ks_ties_and_degenerate(void **state) {
    (void)state;
    // Ties in the ranking: 1 1 1 0 three times: tau-b = (3 - 0) / sqrt(3 * 3)
    // = 1 -> streak 2 at layer 2; top-2 among three tied: lower ids 0, 1.
    static const float t[4][4] = {{1, 1, 1, 0}, {1, 1, 1, 0}, {1, 1, 1, 0}, {1, 1, 1, 0}};
    static const int exit2[4] = {2, 2, 2, 2};
    static const size_t top01[2] = {0, 1};
    policy *p = make("kendall-stability", NULL);
    expect_sim(p, &t[0][0], 3, 4, 2, "SSDD", exit2, 2, top01, NULL);
    policy_free(p);

    // An all-tied layer makes tau undefined: unstable. patience 1: layer 1
    // (tied vs tied) and layer 2 (tied vs 1 2 3) unstable; layer 3 stable.
    static const float u[5][3] = {{1, 1, 1}, {1, 1, 1}, {1, 2, 3}, {1, 2, 3}, {1, 2, 3}};
    static const int exit3[3] = {3, 3, 3};
    static const size_t top2[1] = {2};
    p = make("kendall-stability", "{\"patience\": 1}");
    expect_sim(p, &u[0][0], 4, 3, 1, "DDS", exit3, 3, top2, NULL);
    policy_free(p);

    // N = 1: tau counts as 1 -> streak 1 at layer 1, 2 at layer 2 -> select it.
    static const float one[4][1] = {{0.5f}, {0.6f}, {-3}, {2}};
    static const int e1[1] = {2};
    static const size_t top0[1] = {0};
    p = make("kendall-stability", NULL);
    expect_sim(p, &one[0][0], 3, 1, 1, "S", e1, 2, top0, NULL);
    policy_free(p);
}

static void test_ks_compares_by_candidate_id(void **state) {
    (void)state;
    // The engine shrank the active set (say, another mechanism dropped id 1).
    // Layer 0: ids 0..3 = 1 4 2 3; layer 1: ids 0, 2, 3 = 1 2 3. By id the
    // previous scores are 1 2 3 -> tau 1 (stable). Compared by position
    // (1 4 2 vs 1 2 3) it would be 1/3.
    policy *p = make("kendall-stability", NULL);
    assert_int_equal(policy_reset(p, 4, 2), STATUS_OK);
    char got[MAXN + 1];
    int stop;
    size_t all[4] = {0, 1, 2, 3}, rest[3] = {0, 2, 3};
    float l0[4] = {1, 4, 2, 3}, l1[3] = {1, 2, 3};
    assert_int_equal(decide_once(p, 0, 12, 4, 2, 0, 4, all, l0, got, &stop), STATUS_OK);
    assert_string_equal(got, "....");
    assert_int_equal(decide_once(p, 1, 12, 4, 2, 0, 3, rest, l1, got, &stop), STATUS_OK);
    assert_string_equal(got, "...");
    assert_int_equal(stop, 0);
    // Layer 2: same order again -> streak 2 -> ids 3 (3), 2 (2) selected, 0 dropped.
    assert_int_equal(decide_once(p, 2, 12, 4, 2, 0, 3, rest, l1, got, &stop), STATUS_OK);
    assert_string_equal(got, "DSS");
    assert_int_equal(stop, 1);

    // A new query (reset, larger N) starts from scratch: its layer 0 has no
    // previous layer, layer 1 gives streak 1: no stop yet.
    float m0[6] = {1, 2, 3, 4, 5, 6};
    assert_int_equal(policy_reset(p, 6, 2), STATUS_OK);
    assert_int_equal(decide_once(p, 0, 12, 6, 2, 0, 6, NULL, m0, got, &stop), STATUS_OK);
    assert_int_equal(decide_once(p, 1, 12, 6, 2, 0, 6, NULL, m0, got, &stop), STATUS_OK);
    assert_string_equal(got, "......");
    assert_int_equal(stop, 0);
    // A skipped layer (3 after 1) breaks the streak: still no stop at 3.
    assert_int_equal(decide_once(p, 3, 12, 6, 2, 0, 6, NULL, m0, got, &stop), STATUS_OK);
    assert_int_equal(stop, 0);
    assert_int_equal(decide_once(p, 4, 12, 6, 2, 0, 6, NULL, m0, got, &stop), STATUS_OK);
    assert_int_equal(stop, 0);
    assert_int_equal(decide_once(p, 5, 12, 6, 2, 0, 6, NULL, m0, got, &stop), STATUS_OK);
    assert_string_equal(got, "DDDDSS");
    assert_int_equal(stop, 1);
    // Ids beyond N are a caller bug.
    size_t bad[2] = {0, 9};
    assert_int_equal(policy_reset(p, 6, 1), STATUS_OK);
    assert_int_equal(decide_once(p, 0, 12, 6, 1, 0, 2, bad, m0, got, &stop), STATUS_ERR_ARG);
    assert_non_null(strstr(status_message(), "id 9"));
    policy_free(p);
}

// ---- fixed-schedule ----

static void test_fs_counts_and_fractions(void **state) {
    (void)state;
    // N = 10, K = 2, 6 layers, schedule: layer 1 keep 0.5 (ceil(5) = 5),
    // layer 3 keep 3. Row 1: score of id i = i -> keep 5..9, drop 0..4.
    // Row 3: score = -i -> keep 5, 6, 7, drop 8, 9. Never selects or stops;
    // survivors run to layer 6 and are ranked by row 6 (id 7 best).
    float m[7][10];
    for (int l = 0; l < 7; l++)
        for (int i = 0; i < 10; i++)
            m[l][i] = l == 3 ? (float)-i : l == 6 ? (float)(i % 3) : (float)i;
    policy *p = make("fixed-schedule", "{\"schedule\": [{\"layer\": 1, \"keep\": 0.5}, "
                                       "{\"layer\": 3, \"keep\": 3}]}");
    static const int exit[10] = {1, 1, 1, 1, 1, 6, 6, 6, 3, 3};
    static const size_t top[2] = {5, 7}; // row 6: id 5 -> 2, 6 -> 0, 7 -> 1
    sim_result r;
    expect_sim(p, &m[0][0], 6, 10, 2, "DDDDDAAADD", exit, -1, top, &r);
    assert_int_equal(r.n_select_verdicts, 0);
    policy_free(p);
}

static void test_fs_rounding_ties_and_floor(void **state) {
    (void)state;
    // 0.28 * 25 = 7.000000000000001 in doubles: must keep 7, not 8.
    float s25[25];
    for (int i = 0; i < 25; i++)
        s25[i] = (float)(25 - i);
    policy *p = make("fixed-schedule", "{\"schedule\": [{\"layer\": 2, \"keep\": 0.28}]}");
    expect_once(p, 2, 1, 25, s25, ".......DDDDDDDDDDDDDDDDDD", 0);
    policy_free(p);
    float s[10] = {9, 8, 7, 6, 5, 4, 3, 2, 1, 0};
    p = make("fixed-schedule", "{\"schedule\": [{\"layer\": 2, \"keep\": 0.3}]}");
    expect_once(p, 2, 1, 10, s, "...DDDDDDD", 0);
    // K = 4 > 3: keep K' = 4.
    expect_once(p, 2, 4, 10, s, "....DDDDDD", 0);
    // Other layers: nothing.
    expect_once(p, 1, 1, 10, s, "..........", 0);
    expect_once(p, 3, 1, 10, s, "..........", 0);
    policy_free(p);
    // 0.25 * 10 = 2.5 -> 3.
    p = make("fixed-schedule", "{\"schedule\": [{\"layer\": 2, \"keep\": 0.25}]}");
    expect_once(p, 2, 1, 10, s, "...DDDDDDD", 0);
    policy_free(p);
    // Ties: all equal, keep 2 -> the lower ids stay.
    float eq[4] = {1, 1, 1, 1};
    p = make("fixed-schedule", "{\"schedule\": [{\"layer\": 1, \"keep\": 2}]}");
    expect_once(p, 1, 1, 4, eq, "..DD", 0);
    // Keep >= active: nothing.
    float two[2] = {1, 0};
    expect_once(p, 1, 1, 2, two, "..", 0);
    expect_once(p, 1, 1, 1, two, ".", 0);
    policy_free(p);
    // A keep of 1 is a count (1 candidate), not the fraction 100%.
    p = make("fixed-schedule", "{\"schedule\": [{\"layer\": 1, \"keep\": 1}]}");
    float three[3] = {0, 2, 1};
    expect_once(p, 1, 1, 3, three, "D.D", 0);
    policy_free(p);
}

static void test_fs_layer_beyond_model(void **state) {
    (void)state;
    policy *p = make("fixed-schedule", "{\"schedule\": [{\"layer\": 2, \"keep\": 1}, "
                                       "{\"layer\": 12, \"keep\": 1}]}");
    assert_int_equal(policy_reset(p, 3, 1), STATUS_OK);
    float s[3] = {1, 2, 3};
    char got[MAXN + 1];
    int stop;
    assert_int_equal(decide_once(p, 0, 12, 3, 1, 0, 3, NULL, s, got, &stop), STATUS_ERR_ARG);
    assert_non_null(strstr(status_message(), "layer 12"));
    assert_non_null(strstr(status_message(), "fixed-schedule"));
    assert_int_equal(decide_once(p, 0, 13, 3, 1, 0, 3, NULL, s, got, &stop), STATUS_OK);
    policy_free(p);
}

// ---- score-gap ----

static void test_sg_probability_and_logit(void **state) {
    (void)state;
    // Logits ln9, 0, ln3, -ln9 -> P = 0.9, 0.5, 0.75, 0.1; sorted 0.9, 0.75,
    // 0.5, 0.1. K = 2: 0.75 - 0.5 = 0.25 >= 0.2 -> select ids 0, 2, drop 1, 3.
    float s[4] = {LN9, 0, LN3, -LN9};
    policy *p = make("score-gap", NULL);
    expect_once(p, 1, 2, 4, s, "SDSD", 1);
    // K = 1: 0.9 - 0.75 = 0.15 < 0.2 -> nothing.
    expect_once(p, 1, 1, 4, s, "....", 0);
    // K = 3: 0.5 - 0.1 = 0.4 -> select 0, 1, 2.
    expect_once(p, 1, 3, 4, s, "SSSD", 1);
    policy_free(p);
    p = make("score-gap", "{\"gap\": 0.3}");
    expect_once(p, 1, 2, 4, s, "....", 0);
    policy_free(p);
    // As logits: 3, 1, 2.5, 0, sorted 3, 2.5, 1, 0. K = 2: 2.5 - 1 = 1.5.
    float l[4] = {3, 1, 2.5f, 0};
    p = make("score-gap", "{\"gap\": 1.5, \"score\": \"logit\"}");
    expect_once(p, 1, 2, 4, l, "SDSD", 1); // >= (exactly 1.5)
    expect_once(p, 1, 1, 4, l, "....", 0); // 3 - 2.5 = 0.5
    policy_free(p);
    p = make("score-gap", "{\"gap\": 1.5001, \"score\": \"logit\"}");
    expect_once(p, 1, 2, 4, l, "....", 0);
    policy_free(p);
}

static void test_sg_edges(void **state) {
    (void)state;
    policy *p = make("score-gap", "{\"score\": \"logit\", \"gap\": 0.1, \"min_layer\": 2}");
    // K = N: select all, stop (at min_layer, not before).
    float two[2] = {1, 5};
    expect_once(p, 1, 2, 2, two, "..", 0);
    expect_once(p, 2, 2, 2, two, "SS", 1);
    // Ties across the cut: gap 0 -> never fires.
    float eq[3] = {2, 2, 2};
    expect_once(p, 2, 1, 3, eq, "...", 0);
    // Ties above the cut are ordered by id: 2 2 0, K = 1 -> gap 0; K = 2 ->
    // 2 - 0 = 2: select both 2s.
    float t[3] = {2, 0, 2};
    expect_once(p, 2, 1, 3, t, "...", 0);
    expect_once(p, 2, 2, 3, t, "SDS", 1);
    policy_free(p);
    // Multi-layer: N = 4, K = 2, gap 1 (logit). Layer 0 below min_layer;
    // layer 1: 3 2.5 2 0 -> 2.5 - 2 = 0.5, nothing; layer 2: 4 1 3 0 -> sorted
    // 4 3 1 0, 3 - 1 = 2 -> ids 0, 2 selected, 1, 3 dropped, stop at 2.
    static const float m[4][4] = {{3, 2.5f, 2, 0}, {3, 2.5f, 2, 0}, {4, 1, 3, 0}, {5, 1, 4, 0}};
    static const int exit[4] = {2, 2, 2, 2};
    static const size_t top[2] = {0, 2};
    p = make("score-gap", "{\"score\": \"logit\", \"gap\": 1}");
    expect_sim(p, &m[0][0], 3, 4, 2, "SDSD", exit, 2, top, NULL);
    policy_free(p);
}

// ---- asymmetric-threshold ----

static void test_at_select_and_drop(void **state) {
    (void)state;
    policy *p =
        make("asymmetric-threshold", "{\"positive\": 2, \"negative\": -2, \"score\": \"logit\"}");
    // K = 2: positives 3, 2.5, 2 (ids 0, 1, 4), at most K' = 2: ids 0, 1;
    // id 4 deferred. Negative: id 3 (-3), budget 0 + 5 - 2 = 3. Full -> stop.
    float s[5] = {3, 2.5f, 0, -3, 2};
    expect_once(p, 1, 2, 5, s, "SS.D.", 1);
    // K = 3: all three positives selected (2 counts: >=), full -> stop.
    expect_once(p, 1, 3, 5, s, "SS.DS", 1);
    // K = 4: three selected, not full -> no stop; budget 5 - 4 = 1 drop.
    expect_once(p, 1, 4, 5, s, "SS.DS", 0);
    // Exactly on the thresholds: 2 selects, -2 drops.
    float e[3] = {2, -2, 0};
    expect_once(p, 1, 1, 3, e, "SD.", 1);
    // Below min_layer: nothing.
    expect_once(p, 0, 1, 3, e, "...", 0);
    policy_free(p);

    // Probability: 0.9 >= 0.8 selects, 0.1 <= 0.2 drops, 0.5 stays; K = 1 full.
    p = make("asymmetric-threshold", "{\"positive\": 0.8, \"negative\": 0.2}");
    float pr[3] = {LN9, -LN9, 0};
    expect_once(p, 1, 1, 3, pr, "SD.", 1);
    expect_once(p, 1, 2, 3, pr, "SD.", 0);
    policy_free(p);
}

static void test_at_caps(void **state) {
    (void)state;
    // Positive only, K = 3 with 1 already selected (K' = 2): positives 2, 3,
    // 2, 2 (ids 0, 1, 2, 3); highest first, ties by id: 1 (3), then 0 (2).
    // 1 + 2 == 3 -> stop.
    policy *p = make("asymmetric-threshold", "{\"positive\": 2, \"score\": \"logit\"}");
    assert_int_equal(policy_reset(p, 6, 3), STATUS_OK);
    float s[5] = {2, 3, 2, 2, 0};
    char got[MAXN + 1];
    int stop;
    assert_int_equal(decide_once(p, 1, 12, 6, 3, 1, 5, NULL, s, got, &stop), STATUS_OK);
    assert_string_equal(got, "SS...");
    assert_int_equal(stop, 1);
    policy_free(p);

    p = make("asymmetric-threshold", "{\"negative\": -2, \"score\": \"logit\"}");
    // K = 3, N = 4: three would drop (-3, -4, -2.5) but the budget is 4 - 3 =
    // 1: the lowest (id 2, -4) goes.
    float d[4] = {0, -3, -4, -2.5f};
    expect_once(p, 1, 3, 4, d, "..D.", 0);
    // Ties: -3 -3 -3 0, K = 2, budget 2: the lower id (0) is kept.
    float t[4] = {-3, -3, -3, 0};
    expect_once(p, 1, 2, 4, t, ".DD.", 0);
    // K = N: nothing may be dropped.
    expect_once(p, 1, 4, 4, t, "....", 0);
    policy_free(p);
}

static void test_at_multilayer(void **state) {
    (void)state;
    // N = 5, K = 2, positive 2, negative -2 (logits), 4 layers.
    // layer 0: below min_layer.
    // layer 1: 2.5 1 0 -3 1 -> id 0 selected, id 3 dropped (budget 3); 1 < 2
    //   selected -> go on. Active 1, 2, 4.
    // layer 2: 1.5 -2.5 -2.1 -> K' = 1, budget 1 + 3 - 2 = 2: ids 2, 4 dropped.
    // layer 3: id 1 alone at 1.8: nothing. It runs to the end (layer 4).
    static const float m[5][5] = {
        {3, 3, 3, -3, -3},  {2.5f, 1, 0, -3, 1}, {9, 1.5f, -2.5f, 9, -2.1f},
        {9, 1.8f, 9, 9, 9}, {9, 1.9f, 9, 9, 9},
    };
    static const int exit[5] = {1, 4, 2, 1, 2};
    static const size_t top[2] = {0, 1};
    policy *p =
        make("asymmetric-threshold", "{\"positive\": 2, \"negative\": -2, \"score\": \"logit\"}");
    expect_sim(p, &m[0][0], 4, 5, 2, "SADDD", exit, -1, top, NULL);
    policy_free(p);
}

// ---- all policies on random queries ----

// Random score matrices (with ties) through the simulator: every decision
// must pass policy_decide's checks (at most K' selections, K kept), the top-K
// is K distinct non-dropped candidates, drop-only and fixed-schedule never
// select or stop, and running the same query twice gives the same result.
static void test_random_queries_respect_contract(void **state) {
    (void)state;
    static const char *const specs[][2] = {
        {"cluster-gap", "{\"threshold\": 0}"},
        {"cluster-gap", "{\"threshold\": 0.02, \"k\": 2, \"score\": \"logit\"}"},
        {"cluster-gap", "{\"threshold\": 0, \"k\": 5, \"init\": \"kmeans++\", \"seed\": 3}"},
        {"cluster-gap", "{\"threshold\": 0, \"init\": \"quantile\", \"min_layer\": 0}"},
        {"cluster-gap", "{\"threshold\": 0, \"mode\": \"drop-only\"}"},
        {"kendall-stability", "{\"threshold\": 0.5, \"patience\": 1}"},
        {"fixed-schedule", "{\"schedule\": [{\"layer\": 1, \"keep\": 0.5}, {\"layer\": 3, "
                           "\"keep\": 2}]}"},
        {"score-gap", "{\"gap\": 0.5, \"score\": \"logit\"}"},
        {"asymmetric-threshold", "{\"positive\": 1, \"negative\": -1, \"score\": \"logit\"}"},
        {"asymmetric-threshold", "{\"negative\": 0.4}"},
    };
    unsigned seed = 1;
    int acted[10] = {0};
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
        policy *p = make(specs[s][0], specs[s][1]);
        int never_selects = strstr(specs[s][1], "drop-only") || strstr(specs[s][0], "fixed");
        for (int q = 0; q < 300; q++) {
            size_t n = 1 + (size_t)(rand_r(&seed) % 30), k = 1 + (size_t)(rand_r(&seed) % n);
            int layers = 4 + rand_r(&seed) % 5;
            float m[10 * 30];
            for (int i = 0; i < (layers + 1) * (int)n; i++)
                m[i] = (float)(rand_r(&seed) % 9) * 0.5f - 2.0f;
            sim_result r1, r2;
            assert_int_equal(sim_run(p, m, layers, n, k, &r1), STATUS_OK);
            assert_int_equal(sim_run(p, m, layers, n, k, &r2), STATUS_OK);
            assert_string_equal(r1.fate, r2.fate);
            assert_memory_equal(r1.exit_layer, r2.exit_layer, n * sizeof(int));
            for (size_t i = 0; i < k; i++)
                for (size_t j = 0; j < i; j++)
                    assert_true(r1.top[i] != r1.top[j]);
            if (never_selects) {
                assert_int_equal(r1.n_select_verdicts, 0);
                assert_int_equal(r1.n_stops, 0);
            }
            acted[s] |= r1.stop_layer >= 0 || strchr(r1.fate, 'D') != NULL;
        }
        assert_true(acted[s]); // the random data exercised the policy
        policy_free(p);
    }
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_lists_policies),
        cmocka_unit_test(test_describe_defaults),
        cmocka_unit_test(test_unknown_parameter_named),
        cmocka_unit_test(test_wrong_parameter_types),
        cmocka_unit_test(test_invalid_parameter_values),
        cmocka_unit_test(test_nonfinite_scores_rejected),
        cmocka_unit_test(test_cg_three_clusters_select_drop),
        cmocka_unit_test(test_cg_drop_only_never_selects),
        cmocka_unit_test(test_cg_threshold_probability_vs_logit),
        cmocka_unit_test(test_cg_mean_zero_logit),
        cmocka_unit_test(test_cg_all_equal_and_ties),
        cmocka_unit_test(test_cg_small_k_and_n),
        cmocka_unit_test(test_cg_min_layer),
        cmocka_unit_test(test_cg_multilayer),
        cmocka_unit_test(test_ks_fires_after_patience),
        cmocka_unit_test(test_ks_streak_broken_and_min_layer),
        cmocka_unit_test(test_ks_ties_and_degenerate),
        cmocka_unit_test(test_ks_compares_by_candidate_id),
        cmocka_unit_test(test_fs_counts_and_fractions),
        cmocka_unit_test(test_fs_rounding_ties_and_floor),
        cmocka_unit_test(test_fs_layer_beyond_model),
        cmocka_unit_test(test_sg_probability_and_logit),
        cmocka_unit_test(test_sg_edges),
        cmocka_unit_test(test_at_select_and_drop),
        cmocka_unit_test(test_at_caps),
        cmocka_unit_test(test_at_multilayer),
        cmocka_unit_test(test_random_queries_respect_contract),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
