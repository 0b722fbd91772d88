// Contract tests over the registries (issue 11): every registered model
// family and every registered policy is tested here by being registered, so
// this file names none of them.
//
// Per family (arch_list()), on a tiny checkpoint generated from the family's
// own test_config (core/model/arch.h), with its generated or shared tokenizer:
//   - arch_ops_check passes and the tiny config parses to that family;
//   - scores of a few (query, document) pairs are finite and not all equal;
//   - the chunked forward (chunk 1, 2, 3) == unchunked within rounding
//     (AC_ROUNDING; not bit for bit: OpenBLAS computes a row of a product
//     with a kernel chosen by how many rows are multiplied, so a candidate's
//     float rounding depends on the chunk it is in; measured on this machine
//     (OpenBLAS 0.3.21, Haswell kernels): a row's result changes between
//     m <= 3, 4 <= m < 16 and m >= 16 rows);
//   - streamed layers (weight window of 2 slots) == resident at the same
//     chunk size, bit for bit;
//   - the embedding cache (8 rows) == the full token table, bit for bit;
//   - per registered policy: replaying a live pruned run's recorded scores
//     (sweep_replay_query, as the sweep replays a trace) gives the live run's
//     verdicts, exits, order and candidate-layers exactly; the live run's
//     scores are the full forward's within rounding (for the reason above:
//     scoring multiplies the active candidates' rows together);
//   - the forward's executed matmul FLOPs == arch_forward_flops (1e-9 rel.).
// Per policy (policy_at()): created with its defaults, or with its
// example_params when it has none (policies/policy.h), it gives valid
// verdicts on synthetic score streams (N = 20, K = 5).
#include "testutil.h"

#include "analysis/sweep.h"
#include "analysis/trace.h"
#include "engine/engine.h"
#include "io/embed_cache.h"
#include "io/weight_window.h"
#include "model/arch.h"
#include "model/ops.h"
#include "model/synth.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { AC_N = 8, AC_K = 3, AC_MAX_TOK = 8 * 256, AC_PATH = 4400 };

// Scores that differ only by float rounding (see above): relative to the
// score's size, as tests/test_engine.c's 1e-5 on logits of the demo model.
#define AC_ROUNDING 1e-5

// Largest |a - b| / max(1, |a|) over cells computed on both sides (NaN on a
// side: not computed there).
static double ac_max_rel_diff(const float *a, const float *b, size_t n) {
    double worst = 0.0;
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) || isnan(b[i])) continue;
        double d = fabs((double)a[i] - (double)b[i]) / fmax(1.0, fabs((double)a[i]));
        worst = d > worst ? d : worst;
    }
    return worst;
}

// One query's candidates as the engine takes them.
typedef struct {
    size_t start[AC_N], len[AC_N];
    int32_t ids[AC_MAX_TOK], types[AC_MAX_TOK];
    reranker_batch b;
} ac_batch;

// Floats equal bit for bit as the engine writes them (NaN where a candidate
// had left, on both sides); returns the first differing index or -1.
static long ac_first_diff(const float *a, const float *b, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (isnan(a[i]) && isnan(b[i])) continue;
        if (memcmp(&a[i], &b[i], sizeof a[i]) != 0) return (long)i;
    }
    return -1;
}

static void ac_assert_same(const char *family, const char *what, const float *a, const float *b,
                           size_t n) {
    long d = ac_first_diff(a, b, n);
    if (d >= 0)
        fail_msg("family %s: %s differs at %ld: %.9g vs %.9g", family, what, d, (double)a[d],
                 (double)b[d]);
}

// The policy of registry entry `ops` with its defaults, or its example
// parameters when it has none.
static policy *ac_policy_create(const policy_ops *ops) {
    cJSON *params = NULL;
    if (ops->example_params && !(params = cJSON_Parse(ops->example_params)))
        fail_msg("policy %s: example_params is not JSON: %s", ops->name, ops->example_params);
    policy *p = NULL;
    if (policy_create(ops->name, params, &p) != STATUS_OK)
        fail_msg("policy %s: create with %s: %s", ops->name,
                 ops->example_params ? ops->example_params : "defaults", status_message());
    cJSON_Delete(params);
    return p;
}

// Writes the family's tiny checkpoint into tmp/model (path in model). 0 when
// its tokenizer lives in the shared folder and that is absent (said on
// stderr by testutil_shared_path).
static int ac_synth(const arch_ops *a, const char *tmp, char *model) {
    char src[AC_PATH], path[AC_PATH + 300];
    snprintf(src, sizeof src, "%.4000s/src", tmp);
    assert_int_equal(mkdir(src, 0755), 0);
    snprintf(path, sizeof path, "%s/config.json", src);
    testutil_write_file(path, a->test_config, strlen(a->test_config));
    if (a->test_tokenizer_dir) {
        const char *dir = testutil_shared_path(a->test_tokenizer_dir);
        if (!dir) return 0;
        // synth copies the tokenizer files it finds next to the config.
        DIR *d = opendir(dir);
        assert_non_null(d);
        struct dirent *e;
        while ((e = readdir(d))) {
            if (e->d_name[0] == '.' || strcmp(e->d_name, "config.json") == 0) continue;
            char from[AC_PATH], to[AC_PATH + 300];
            snprintf(from, sizeof from, "%.4000s/%.255s", dir, e->d_name);
            snprintf(to, sizeof to, "%s/%.255s", src, e->d_name);
            assert_int_equal(symlink(from, to), 0);
        }
        closedir(d);
    }
    snprintf(model, AC_PATH, "%.4000s/model", tmp);
    synth_options o;
    synth_options_default(&o);
    o.config_path = path;
    o.out_dir = model;
    o.seed = 11;
    o.dtype = SAFETENSORS_BF16; // halves the tiny Qwen3's 151669-row token table
    if (synth_write(&o, NULL) != STATUS_OK)
        fail_msg("family %s: synth: %s", a->name, status_message());
    return 1;
}

// One query and AC_N documents of different lengths, in the family's template.
static void ac_encode(const reranker *r, ac_batch *q) {
    static const char *const docs[AC_N] = {
        "tiny models compute scores",
        "a document about layers",
        "pruning stops candidates early when the ranking is settled and the top is known",
        "x",
        "streamed weights arrive in slots while the previous layer computes",
        "the embedding cache keeps recently used rows of the token table",
        "chunks of candidates share one workspace",
        "replay of recorded scores gives the same verdicts as the live forward does",
    };
    long max_len = 256;
    if (reranker_check_max_len(r, &max_len, 0) != STATUS_OK) fail_msg("%s", status_message());
    tokenizer_encoding enc = {0};
    size_t t = 0;
    for (size_t s = 0; s < AC_N; s++) {
        if (reranker_encode_pair(r, "what do tiny models compute", docs[s], (size_t)max_len,
                                 &enc) != STATUS_OK)
            fail_msg("encode: %s", status_message());
        assert_true(enc.len > 0 && t + enc.len <= AC_MAX_TOK);
        q->start[s] = t;
        q->len[s] = enc.len;
        memcpy(q->ids + t, enc.ids, enc.len * sizeof *enc.ids);
        memcpy(q->types + t, enc.type_ids, enc.len * sizeof *enc.type_ids);
        t += enc.len;
    }
    tokenizer_encoding_free(&enc);
    q->b = (reranker_batch){.n_seq = AC_N,
                            .n_tok = t,
                            .seq_start = q->start,
                            .seq_len = q->len,
                            .ids = q->ids,
                            .type_ids = q->types};
}

// The full forward's scores (L + 1, N) through engine_run with `none`: a
// streamed model through a window, else resident.
static void ac_run_none(const reranker *r, const reranker_batch *b, size_t chunk, weight_window *w,
                        float *scores) {
    size_t L = (size_t)r->cfg.n_layers;
    policy *none;
    assert_int_equal(policy_create("none", NULL, &none), STATUS_OK);
    engine_result res;
    assert_int_equal(engine_result_init(&res, b->n_seq, L), STATUS_OK);
    engine_options opt = {.k = b->n_seq, .chunk = chunk, .window = w};
    if (engine_run(r, b, none, &opt, &res) != STATUS_OK) fail_msg("%s", status_message());
    memcpy(scores, res.layer_scores, (L + 1) * b->n_seq * sizeof *scores);
    engine_result_free(&res);
    policy_free(none);
}

// Replays of live pruned runs == the live runs, every policy. Returns how
// many policies pruned (computed fewer candidate-layers); *worst = the
// largest rounding difference of live scores from the full forward's.
static size_t ac_check_replay(const arch_ops *a, const reranker *r, const reranker_batch *b,
                              const float *full, double *worst) {
    size_t L = (size_t)r->cfg.n_layers, n = b->n_seq, pruned = 0;
    char qid[] = "q";
    float *recorded = calloc((L + 1) * n, sizeof *recorded);
    assert_non_null(recorded);
    trace_query tq = {.qid = qid, .n = n, .scores = recorded};
    for (size_t i = 0; i < policy_count(); i++) {
        const policy_ops *ops = policy_at(i);
        policy *p = ac_policy_create(ops);
        engine_result live, rep;
        assert_int_equal(engine_result_init(&live, n, L), STATUS_OK);
        assert_int_equal(engine_result_init(&rep, n, L), STATUS_OK);
        engine_options opt = {.k = AC_K, .chunk = 3};
        if (engine_run(r, b, p, &opt, &live) != STATUS_OK)
            fail_msg("family %s, policy %s: live: %s", a->name, ops->name, status_message());
        // The trace of this run: what it computed (NaN where a candidate had
        // left; the replay reads only active candidates' scores).
        memcpy(recorded, live.layer_scores, (L + 1) * n * sizeof *recorded);
        if (sweep_replay_query(p, AC_K, &tq, L, &rep) != STATUS_OK)
            fail_msg("family %s, policy %s: replay: %s", a->name, ops->name, status_message());
        char what[200];
        snprintf(what, sizeof what, "policy %s: live vs replayed layer scores", ops->name);
        ac_assert_same(a->name, what, live.layer_scores, rep.layer_scores, (L + 1) * n);
        assert_memory_equal(live.order, rep.order, n * sizeof *live.order);
        assert_memory_equal(live.exit_layer, rep.exit_layer, n * sizeof *live.exit_layer);
        assert_memory_equal(live.exit_reason, rep.exit_reason, n * sizeof *live.exit_reason);
        assert_int_equal(live.candidate_layers, rep.candidate_layers);
        // What the live run computed is the full forward's, up to rounding,
        // and exactly what its exits say.
        size_t computed = 0;
        for (size_t c = 0; c < n; c++)
            for (size_t l = 0; l <= L; l++) {
                int in = (int)l <= live.exit_layer[c];
                assert_int_equal(!isnan(live.layer_scores[l * n + c]), in);
                computed += in && l > 0;
            }
        assert_int_equal(computed, live.candidate_layers);
        for (size_t pos = 0; pos < AC_K; pos++)
            assert_int_not_equal(live.exit_reason[live.order[pos]], ENGINE_EXIT_DROP);
        double d = ac_max_rel_diff(full, live.layer_scores, (L + 1) * n);
        if (!(d <= AC_ROUNDING))
            fail_msg("family %s, policy %s: live scores differ from the full forward by %.3g",
                     a->name, ops->name, d);
        *worst = d > *worst ? d : *worst;
        pruned += live.candidate_layers < live.candidate_layers_full;
        printf("contract: family %s: policy %-22s replay == live, %zu/%zu candidate-layers\n",
               a->name, ops->name, live.candidate_layers, live.candidate_layers_full);
        engine_result_free(&live);
        engine_result_free(&rep);
        policy_free(p);
    }
    free(recorded);
    return pruned;
}

static void ac_check_family(const arch_ops *a, size_t *tested) {
    char *tmp = testutil_tmpdir();
    char model[AC_PATH];
    if (!ac_synth(a, tmp, model)) {
        printf("contract: family %s: SKIP (its tokenizer folder %s is absent from the shared "
               "data)\n",
               a->name, a->test_tokenizer_dir);
        testutil_rmtree(tmp);
        free(tmp);
        return;
    }
    reranker r;
    if (reranker_open(&r, model, NULL) != STATUS_OK)
        fail_msg("family %s: open: %s", a->name, status_message());
    assert_ptr_equal(r.cfg.arch, a);
    ac_batch *q = calloc(1, sizeof *q);
    assert_non_null(q);
    ac_encode(&r, q);
    const reranker_batch *b = &q->b;
    size_t L = (size_t)r.cfg.n_layers, n = b->n_seq, cells = (L + 1) * n;
    float *full = calloc(cells, sizeof *full), *other = calloc(cells, sizeof *other);
    assert_true(full && other);

    // Score, and the FLOPs the forward executes against the cost model.
    ops_flops_reset();
    if (engine_forward_all_layers(&r, b, 0, full) != STATUS_OK)
        fail_msg("family %s: forward: %s", a->name, status_message());
    double executed = ops_flops_executed(), model_flops = arch_forward_flops(&r.cfg, b);
    if (!(fabs(executed - model_flops) <= 1e-9 * model_flops))
        fail_msg("family %s: executed %.17g FLOPs, arch_forward_flops %.17g", a->name, executed,
                 model_flops);
    int spread = 0;
    for (size_t i = 0; i < cells; i++)
        assert_true(isfinite(full[i]));
    for (size_t i = 1; i < n; i++)
        spread |= full[L * n + i] != full[L * n];
    if (!spread) fail_msg("family %s: every candidate has the same final score", a->name);

    // Chunked == unchunked within rounding (and the FLOPs do not depend on
    // the chunk). chunk3 is the chunk-3 forward the bit-exact checks below
    // compare against (same chunk, same products).
    float *chunk3 = calloc(cells, sizeof *chunk3);
    assert_non_null(chunk3);
    double chunk_diff = 0.0;
    for (size_t chunk = 1; chunk <= 3; chunk++) {
        float *dst = chunk == 3 ? chunk3 : other;
        ops_flops_reset();
        if (engine_forward_all_layers(&r, b, chunk, dst) != STATUS_OK)
            fail_msg("family %s: chunk %zu: %s", a->name, chunk, status_message());
        assert_true(fabs(ops_flops_executed() - model_flops) <= 1e-9 * model_flops);
        double d = ac_max_rel_diff(full, dst, cells);
        if (!(d <= AC_ROUNDING))
            fail_msg("family %s: chunk %zu differs from unchunked by %.3g", a->name, chunk, d);
        chunk_diff = d > chunk_diff ? d : chunk_diff;
    }

    // Streamed through a window of 2 slots == resident, twice (the window is reused).
    reranker str;
    if (reranker_open_streamed(&str, model, NULL) != STATUS_OK)
        fail_msg("family %s: open streamed: %s", a->name, status_message());
    assert_false(reranker_layers_resident(&str));
    weight_window w;
    assert_int_equal(
        weight_window_init(&w, 2, reranker_layer_floats(&str), L, reranker_layer_read, &str),
        STATUS_OK);
    for (int pass = 0; pass < 2; pass++) {
        memset(other, 0, cells * sizeof *other);
        ac_run_none(&str, b, 3, &w, other);
        ac_assert_same(a->name, "streamed (chunk 3)", chunk3, other, cells);
    }
    weight_window_free(&w);
    reranker_close(&str);

    // Layer matrices kept in bf16 (every precision goes through the same
    // slots): half the matrix bytes; streamed == resident bit for bit; scores
    // within bf16 rounding of f32 (weights rounded to 8 mantissa bits: the
    // relative error of a dot product is ~2^-9; checked against the score
    // range, loosely, since a tiny random model has no margin to keep).
    {
        reranker_options o16 = {.resident_layers = 1, .matrix_dtype = OPS_DTYPE_BF16};
        reranker r16, s16;
        if (reranker_open_ex(&r16, model, NULL, &o16) != STATUS_OK)
            fail_msg("family %s: open bf16: %s", a->name, status_message());
        size_t f32_bytes = arch_layer_bytes(&r.cfg), bf16_bytes = arch_layer_bytes(&r16.cfg);
        assert_true(bf16_bytes < f32_bytes && bf16_bytes * 2 >= f32_bytes);
        float *s_res = calloc(cells, sizeof *s_res), *s_str = calloc(cells, sizeof *s_str);
        assert_non_null(s_res);
        assert_non_null(s_str);
        ac_run_none(&r16, b, 3, NULL, s_res);
        o16.resident_layers = 0;
        if (reranker_open_ex(&s16, model, NULL, &o16) != STATUS_OK)
            fail_msg("family %s: open bf16 streamed: %s", a->name, status_message());
        weight_window w16;
        assert_int_equal(weight_window_init(&w16, 2, reranker_layer_floats(&s16), L,
                                            reranker_layer_read, &s16),
                         STATUS_OK);
        ac_run_none(&s16, b, 3, &w16, s_str);
        ac_assert_same(a->name, "bf16 streamed vs bf16 resident (chunk 3)", s_res, s_str, cells);
        double lo = chunk3[0], hi = chunk3[0], worst16 = 0.0;
        for (size_t i = 0; i < cells; i++) {
            lo = chunk3[i] < lo ? chunk3[i] : lo;
            hi = chunk3[i] > hi ? chunk3[i] : hi;
            double d = fabs((double)s_res[i] - (double)chunk3[i]);
            worst16 = d > worst16 ? d : worst16;
        }
        printf("contract: family %s: bf16 matrices: slot %zu of %zu bytes, max |bf16 - f32| "
               "%.3g (score range %.3g), streamed == resident\n",
               a->name, bf16_bytes, f32_bytes, worst16, hi - lo);
        assert_true(worst16 <= 0.05 * (hi - lo) + 1e-3);
        weight_window_free(&w16);
        reranker_close(&s16);
        reranker_close(&r16);
        free(s_res);
        free(s_str);
    }

    // Embedding cache of 8 rows (evicting within one query) == full table.
    reranker cached;
    reranker_options copt = {.resident_layers = 1, .embed_cache_rows = 8};
    if (reranker_open_ex(&cached, model, NULL, &copt) != STATUS_OK)
        fail_msg("family %s: open cached: %s", a->name, status_message());
    const embed_cache *ec = reranker_embed_cache(&cached);
    assert_non_null(ec);
    memset(other, 0, cells * sizeof *other);
    if (engine_forward_all_layers(&cached, b, 3, other) != STATUS_OK)
        fail_msg("family %s: cached forward: %s", a->name, status_message());
    ac_assert_same(a->name, "embedding cache (chunk 3)", chunk3, other, cells);
    assert_true(ec->misses > 8); // rows were evicted and read again
    uint64_t hits = ec->hits, misses = ec->misses;
    reranker_close(&cached);

    // Trace replay == live, every registered policy.
    double live_diff = 0.0;
    size_t pruned = ac_check_replay(a, &r, b, full, &live_diff);
    assert_true(pruned > 0); // the comparison covered pruned runs, not only full ones

    printf("contract: family %s: ok (%zu layers, %zu candidates, %zu tokens; chunks 1-3 vs "
           "unchunked max rel. diff %.3g; streamed == resident and embed cache (%llu hits / %llu "
           "misses) == full table bit for bit; %.6g FLOPs == executed; replay == live for %zu "
           "policies, %zu pruned, live vs full max rel. diff %.3g)\n",
           a->name, L, n, b->n_tok, chunk_diff, (unsigned long long)hits,
           (unsigned long long)misses, model_flops, policy_count(), pruned, live_diff);
    fflush(stdout);
    (*tested)++;
    free(full);
    free(other);
    free(chunk3);
    free(q);
    reranker_close(&r);
    testutil_rmtree(tmp);
    free(tmp);
}

// The registry's entries are complete, distinct, and their tiny configs are
// of their own family.
static void test_arch_registry_entries(void **state) {
    (void)state;
    const arch_ops *const *list = arch_list();
    assert_non_null(list[0]);
    for (const arch_ops *const *a = list; *a; a++) {
        if (arch_ops_check(*a) != STATUS_OK) fail_msg("%s", status_message());
        if (!(*a)->test_config)
            fail_msg("family %s: no test_config (core/model/arch.h): the contract test cannot "
                     "generate a tiny model of it",
                     (*a)->name);
        assert_ptr_equal(arch_find_family((*a)->name), *a);
        for (const char *const *h = (*a)->hf_architectures; *h; h++)
            assert_ptr_equal(arch_find(*h), *a);
        for (const arch_ops *const *o = list; o != a; o++)
            assert_string_not_equal((*o)->name, (*a)->name);
        model_config cfg;
        if (model_config_parse_text(&cfg, (*a)->test_config, strlen((*a)->test_config),
                                    "test_config") != STATUS_OK)
            fail_msg("family %s: test_config: %s", (*a)->name, status_message());
        assert_ptr_equal(cfg.arch, *a);
        printf("contract: registered family %s (%s)\n", (*a)->name, (*a)->hf_architectures[0]);
    }
}

static void test_arch_families_contract(void **state) {
    (void)state;
    size_t tested = 0, registered = 0;
    for (const arch_ops *const *a = arch_list(); *a; a++, registered++)
        ac_check_family(*a, &tested);
    printf("contract: %zu of %zu registered families tested\n", tested, registered);
    assert_true(tested > 0);
}

// Synthetic score streams (L + 1, N): a final order plus noise shrinking with
// depth, with ties (kind 1) and with a wide gap at the top (kind 2).
static void ac_stream(unsigned seed, int kind, size_t n, size_t L, float *scores) {
    unsigned x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        float final = (float)((x >> 8) % 2000) / 200.0f - 5.0f;
        if (kind == 1) final = (float)(i % 3);
        if (kind == 2) final = i < 5 ? 8.0f + (float)i : -2.0f - (float)i * 0.1f;
        for (size_t l = 0; l <= L; l++) {
            x = x * 1103515245u + 12345u;
            float noise =
                ((float)((x >> 8) % 2000) / 1000.0f - 1.0f) * 3.0f * (float)(L - l) / (float)L;
            scores[l * n + i] = kind == 1 ? final : final + noise;
        }
    }
}

// Every registered policy, with its defaults (or example_params, in one place:
// its policy_ops), gives valid verdicts on synthetic streams, deterministically.
static void test_policies_contract(void **state) {
    (void)state;
    enum { N = 20, K = 5, L = 6, QUERIES = 60 };
    float scores[(L + 1) * N];
    char qid[] = "q";
    trace_query tq = {.qid = qid, .n = N, .scores = scores};
    for (size_t i = 0; i < policy_count(); i++) {
        const policy_ops *ops = policy_at(i);
        // The field says whether the defaults exist: both ways are checked.
        policy *p = NULL;
        status st = policy_create(ops->name, NULL, &p);
        if (ops->example_params) {
            if (st == STATUS_OK)
                fail_msg("policy %s: has defaults but declares example_params (policies/policy.h)",
                         ops->name);
            printf("contract: policy %-22s no defaults (%s); example %s\n", ops->name,
                   status_message(), ops->example_params);
        } else if (st != STATUS_OK) {
            fail_msg("policy %s: refuses its defaults (%s) but declares no example_params "
                     "(policies/policy.h)",
                     ops->name, status_message());
        }
        policy_free(p);
        p = ac_policy_create(ops);
        cJSON *desc = policy_describe(p);
        assert_non_null(desc);
        cJSON_Delete(desc);
        size_t layers = 0, dropped = 0, selected = 0;
        for (unsigned qn = 0; qn < QUERIES; qn++) {
            ac_stream(qn, (int)(qn % 3), N, L, scores);
            engine_result r, again;
            assert_int_equal(engine_result_init(&r, N, L), STATUS_OK);
            assert_int_equal(engine_result_init(&again, N, L), STATUS_OK);
            if (sweep_replay_query(p, K, &tq, L, &r) != STATUS_OK)
                fail_msg("policy %s, query %u: %s", ops->name, qn, status_message());
            assert_int_equal(sweep_replay_query(p, K, &tq, L, &again), STATUS_OK);
            // A pure function of its inputs: the same verdicts a second time.
            assert_memory_equal(r.order, again.order, sizeof r.order[0] * N);
            assert_memory_equal(r.exit_layer, again.exit_layer, sizeof r.exit_layer[0] * N);
            // The order is a permutation, the top-K holds no dropped candidate.
            int seen[N] = {0};
            for (size_t j = 0; j < N; j++)
                seen[r.order[j]]++;
            for (size_t j = 0; j < N; j++)
                assert_int_equal(seen[j], 1);
            for (size_t j = 0; j < K; j++)
                assert_int_not_equal(r.exit_reason[r.order[j]], ENGINE_EXIT_DROP);
            size_t sum = 0, sel = 0;
            for (size_t j = 0; j < N; j++) {
                assert_true(r.exit_layer[j] >= 0 && r.exit_layer[j] <= L);
                assert_true((r.exit_reason[j] == ENGINE_EXIT_FINAL) == (r.exit_layer[j] == L) ||
                            r.exit_reason[j] == ENGINE_EXIT_STOP);
                sum += (size_t)r.exit_layer[j];
                sel += r.exit_reason[j] == ENGINE_EXIT_SELECT;
                dropped += r.exit_reason[j] == ENGINE_EXIT_DROP;
            }
            assert_true(sel <= K);
            selected += sel;
            // Candidate-layers: what the exits say, never more than the full forward.
            assert_int_equal(r.candidate_layers, sum);
            assert_true(r.candidate_layers <= r.candidate_layers_full);
            assert_int_equal(r.candidate_layers_full, (size_t)N * L);
            layers += r.candidate_layers;
            engine_result_free(&r);
            engine_result_free(&again);
        }
        printf("contract: policy %-22s valid on %d streams: %.3f of candidate-layers, %zu "
               "selected, %zu dropped\n",
               ops->name, QUERIES, (double)layers / ((double)QUERIES * N * L), selected, dropped);
        policy_free(p);
    }
    fflush(stdout);
}

// `grating info --architectures` lists every registered family with its
// names and tokenizer (what users read instead of the registry source).
static void test_info_lists_registry(void **state) {
    (void)state;
    const char *args[] = {"info", "--architectures", NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(testutil_run_grating(args, &out, &err), 0);
    for (const arch_ops *const *a = arch_list(); *a; a++) {
        assert_non_null(strstr(out, (*a)->name));
        assert_non_null(strstr(out, (*a)->hf_architectures[0]));
        assert_non_null(strstr(out, (*a)->tokenizer));
    }
    free(out);
    free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_arch_registry_entries),
        cmocka_unit_test(test_arch_families_contract),
        cmocka_unit_test(test_policies_contract),
        cmocka_unit_test(test_info_lists_registry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
