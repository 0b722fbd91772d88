// The Qwen3-Reranker forward against the independent PyTorch reference
// (tests/reference/qwen3_reference.py, golden files in tests/golden/qwen3/):
// final and per-layer scores within 1e-4 on generated weights of two reduced
// configs (tests/data/qwen3-tiny: tied LM head, BF16; tests/data/qwen3-tiny-untied:
// separate lm_head, F32, 4 query heads sharing one kv head, heads * head_dim !=
// hidden); a candidate alone equals the same candidate in the batch; the chunk
// size does not change any score; the layer-by-layer API with a caller's
// weight slot equals the full forward; bad yes/no ids, a truncated checkpoint
// and a batch larger than the workspace are clear errors.
//
// The inputs are the official prompt ids of 20 SciFact queries x 10 BM25
// candidates (tokenized by HF tokenizers, committed), so this test needs
// nothing from ../shared: the generated models have no tokenizer files and
// are opened with the tests' yes/no tokenizer (testutil_open_yes_no), which
// gives the yes/no ids of inputs.json (or bad ones, to check the errors).
#include "testutil.h"

#include "docs_jsonl.h"
#include "base/json_file.h"
#include "base/mem.h"
#include "engine/engine.h"
#include "model/arch.h"
#include "tokenize/qwen_prompt.h"
#include "base/strmap.h"
#include "model/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { PARITY_CANDS = 10, PARITY_COMPOSITION_QUERIES = 2, PARITY_MAX_LAYERS = 64 };

// One query of the golden inputs as a packed batch.
typedef struct {
    const char *qid;
    size_t n_seq, n_tok;
    size_t seq_start[PARITY_CANDS], seq_len[PARITY_CANDS];
    int32_t *ids; // (n_tok,)
} parity_query;

typedef struct {
    cJSON *inputs;
    parity_query *queries;
    size_t n_queries;
    int32_t yes_id, no_id;
    char *tmp;         // temporary folder of the generated models
    char tied[4200];   // qwen3-tiny, seed 5, BF16
    char untied[4200]; // qwen3-tiny-untied, seed 7, F32
} parity_fixture;

static cJSON *parity_read_json(const char *rel) {
    cJSON *root = NULL;
    if (json_file_parse(testutil_source_path(rel), &root) != STATUS_OK)
        fail_msg("%s", status_message());
    return root;
}

static void parity_load_queries(parity_fixture *f) {
    f->inputs = parity_read_json("tests/golden/qwen3/inputs.json");
    f->yes_id = cJSON_GetObjectItemCaseSensitive(f->inputs, "yes_id")->valueint;
    f->no_id = cJSON_GetObjectItemCaseSensitive(f->inputs, "no_id")->valueint;
    const cJSON *qs = cJSON_GetObjectItemCaseSensitive(f->inputs, "queries");
    assert_true(cJSON_IsArray(qs));
    size_t nq = (size_t)cJSON_GetArraySize(qs);
    parity_query *q = calloc(nq, sizeof *q);
    assert_non_null(q);
    for (size_t i = 0; i < nq; i++) {
        const cJSON *item = cJSON_GetArrayItem(qs, (int)i);
        q[i].qid = cJSON_GetObjectItemCaseSensitive(item, "qid")->valuestring;
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(item, "input_ids");
        q[i].n_seq = (size_t)cJSON_GetArraySize(ids);
        assert_true(q[i].n_seq > 0 && q[i].n_seq <= PARITY_CANDS);
        size_t total = 0;
        for (size_t s = 0; s < q[i].n_seq; s++)
            total += (size_t)cJSON_GetArraySize(cJSON_GetArrayItem(ids, (int)s));
        q[i].ids = malloc(total * sizeof(int32_t));
        assert_non_null(q[i].ids);
        size_t t = 0;
        for (size_t s = 0; s < q[i].n_seq; s++) {
            const cJSON *row = cJSON_GetArrayItem(ids, (int)s);
            q[i].seq_start[s] = t;
            q[i].seq_len[s] = (size_t)cJSON_GetArraySize(row);
            for (size_t k = 0; k < q[i].seq_len[s]; k++, t++)
                q[i].ids[t] = cJSON_GetArrayItem(row, (int)k)->valueint;
        }
        q[i].n_tok = t;
    }
    f->queries = q;
    f->n_queries = nq;
}

static reranker_batch parity_batch(const parity_query *q) {
    reranker_batch b = {.n_seq = q->n_seq,
                        .n_tok = q->n_tok,
                        .seq_start = q->seq_start,
                        .seq_len = q->seq_len,
                        .ids = q->ids};
    return b;
}

static void parity_synth(const char *config_rel, uint64_t seed, safetensors_dtype dtype,
                         const char *out) {
    synth_options o;
    synth_options_default(&o);
    o.config_path = testutil_source_path(config_rel);
    o.out_dir = out;
    o.seed = seed;
    o.dtype = dtype;
    if (synth_write(&o, NULL) != STATUS_OK) fail_msg("%s", status_message());
}

static int parity_setup(void **state) {
    parity_fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    parity_load_queries(f);
    f->tmp = testutil_tmpdir();
    snprintf(f->tied, sizeof f->tied, "%s/qwen3-tiny-seed5-bf16", f->tmp);
    snprintf(f->untied, sizeof f->untied, "%s/qwen3-tiny-untied-seed7-f32", f->tmp);
    parity_synth("tests/data/qwen3-tiny/config.json", 5, SAFETENSORS_BF16, f->tied);
    parity_synth("tests/data/qwen3-tiny-untied/config.json", 7, SAFETENSORS_F32, f->untied);
    *state = f;
    return 0;
}

static int parity_teardown(void **state) {
    parity_fixture *f = *state;
    for (size_t i = 0; i < f->n_queries; i++)
        free(f->queries[i].ids);
    free(f->queries);
    cJSON_Delete(f->inputs);
    testutil_rmtree(f->tmp);
    free(f->tmp);
    free(f);
    return 0;
}

// Runs every golden query through the model; returns the largest
// |ours - reference| over all layers and candidates. With composition != 0,
// the first queries also check alone == in batch and chunk 1 / 3 == all.
static void parity_compare(const parity_fixture *f, const char *model_dir, const char *golden_rel,
                           int composition) {
    reranker m;
    if (testutil_open_yes_no(&m, model_dir, f->yes_id, f->no_id, 1, 0) != STATUS_OK)
        fail_msg("%s", status_message());
    cJSON *golden = parity_read_json(golden_rel);
    const cJSON *gq = cJSON_GetObjectItemCaseSensitive(golden, "queries");
    assert_int_equal((size_t)cJSON_GetArraySize(gq), f->n_queries);
    size_t L = (size_t)m.cfg.n_layers;
    assert_true(L + 1 <= PARITY_MAX_LAYERS);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(golden, "n_layers")->valueint, (int)L);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(golden, "yes_id")->valueint, f->yes_id);
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(golden, "no_id")->valueint, f->no_id);
    double worst = 0.0, worst_final = 0.0, worst_alone = 0.0, worst_chunk = 0.0;
    double spread_min = INFINITY;
    float *ls = malloc((L + 1) * PARITY_CANDS * sizeof *ls);
    float *ls2 = malloc((L + 1) * PARITY_CANDS * sizeof *ls2);
    float one[PARITY_MAX_LAYERS];
    assert_non_null(ls);
    assert_non_null(ls2);
    for (size_t i = 0; i < f->n_queries; i++) {
        const parity_query *q = &f->queries[i];
        const cJSON *g = cJSON_GetArrayItem(gq, (int)i);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(g, "qid")->valuestring, q->qid);
        const cJSON *gl = cJSON_GetObjectItemCaseSensitive(g, "layer_scores");
        const cJSON *gs = cJSON_GetObjectItemCaseSensitive(g, "scores");
        assert_int_equal((size_t)cJSON_GetArraySize(gl), L + 1);
        reranker_batch b = parity_batch(q);
        size_t n = b.n_seq;
        if (engine_forward_all_layers(&m, &b, 0, ls) != STATUS_OK) fail_msg("%s", status_message());
        for (size_t l = 0; l <= L; l++) {
            const cJSON *row = cJSON_GetArrayItem(gl, (int)l);
            for (size_t s = 0; s < n; s++)
                worst =
                    fmax(worst, fabs(ls[l * n + s] - cJSON_GetArrayItem(row, (int)s)->valuedouble));
        }
        float lo = INFINITY, hi = -INFINITY;
        for (size_t s = 0; s < n; s++) {
            worst_final = fmax(worst_final,
                               fabs(ls[L * n + s] - cJSON_GetArrayItem(gs, (int)s)->valuedouble));
            lo = fminf(lo, ls[L * n + s]);
            hi = fmaxf(hi, ls[L * n + s]);
        }
        spread_min = fmin(spread_min, (double)(hi - lo));
        if (!composition || i >= PARITY_COMPOSITION_QUERIES) continue;
        // Each candidate alone (a batch of one) equals its row in the batch.
        for (size_t s = 0; s < n; s++) {
            size_t zero = 0;
            reranker_batch alone = {.n_seq = 1,
                                    .n_tok = q->seq_len[s],
                                    .seq_start = &zero,
                                    .seq_len = &q->seq_len[s],
                                    .ids = q->ids + q->seq_start[s]};
            if (engine_forward_all_layers(&m, &alone, 0, one) != STATUS_OK)
                fail_msg("%s", status_message());
            for (size_t l = 0; l <= L; l++)
                worst_alone = fmax(worst_alone, fabs(one[l] - ls[l * n + s]));
        }
        // Chunked execution gives the same scores.
        const size_t chunks[] = {1, 3};
        for (size_t c = 0; c < 2; c++) {
            if (engine_forward_all_layers(&m, &b, chunks[c], ls2) != STATUS_OK)
                fail_msg("%s", status_message());
            for (size_t k = 0; k < (L + 1) * n; k++)
                worst_chunk = fmax(worst_chunk, fabs(ls2[k] - ls[k]));
        }
    }
    printf("%s: %zu queries x %d candidates, %zu layers: max |ours - torch| = %.3g over all "
           "layers (final scores %.3g); smallest final-score range of a query %.3g\n",
           golden_rel, f->n_queries, PARITY_CANDS, L, worst, worst_final, spread_min);
    if (composition)
        printf("  first %d queries: alone vs batch max diff %.3g, chunk 1/3 vs all max diff %.3g\n",
               PARITY_COMPOSITION_QUERIES, worst_alone, worst_chunk);
    assert_true(worst <= 1e-4);
    assert_true(worst_final <= 1e-4);
    assert_true(spread_min > 1e-2); // the golden is not degenerate
    assert_true(worst_alone <= 1e-5);
    assert_true(worst_chunk <= 1e-5);
    free(ls);
    free(ls2);
    cJSON_Delete(golden);
    reranker_close(&m);
}

static void test_tiny_tied_bf16_matches_torch(void **state) {
    parity_fixture *f = *state;
    parity_compare(f, f->tied, "tests/golden/qwen3/qwen3-tiny-seed5-bf16.json", 1);
}

static void test_tiny_untied_f32_matches_torch(void **state) {
    parity_fixture *f = *state;
    parity_compare(f, f->untied, "tests/golden/qwen3/qwen3-tiny-untied-seed7-f32.json", 1);
}

// The engine's path: layers streamed into one caller-owned slot, chunks of
// 4 candidates, scores after every layer: equal to the resident forward.
static void test_layer_by_layer_api_matches_forward(void **state) {
    parity_fixture *f = *state;
    reranker m;
    if (testutil_open_yes_no(&m, f->untied, f->yes_id, f->no_id, 0, 0) != STATUS_OK)
        fail_msg("%s", status_message());
    assert_null(m.model.layer_storage);
    assert_false(reranker_layers_resident(&m));
    const parity_query *q = &f->queries[1];
    reranker_batch b = parity_batch(q);
    size_t n = b.n_seq, L = (size_t)m.cfg.n_layers, H = (size_t)m.cfg.hidden_size;
    float ls[PARITY_MAX_LAYERS * PARITY_CANDS], want[PARITY_MAX_LAYERS * PARITY_CANDS];
    // Not resident: the full forward refuses.
    assert_int_equal(engine_forward_all_layers(&m, &b, 0, want), STATUS_ERR_ARG);
    assert_non_null(strstr(status_message(), "resident"));

    size_t max_len = 0;
    for (size_t s = 0; s < n; s++)
        max_len = q->seq_len[s] > max_len ? q->seq_len[s] : max_len;
    reranker_workspace ws;
    const size_t ws_max_tok = 4 * max_len;
    assert_int_equal(reranker_workspace_init(&m, &ws, ws_max_tok, max_len, n), STATUS_OK);
    float *slot = mem_alloc(MEM_WEIGHTS, arch_layer_floats(&m.cfg) * sizeof *slot);
    float *h = mem_alloc(MEM_HIDDEN, b.n_tok * H * sizeof *h);
    assert_non_null(slot);
    assert_non_null(h);
    assert_int_equal(reranker_embed(&m, &b, h, &ws), STATUS_OK);
    assert_int_equal(reranker_score(&m, 0, &b, h, &ws, ls), STATUS_OK);
    for (size_t l = 0; l < L; l++) {
        assert_int_equal(arch_layer_read(&m.model.ck, (int)l, slot, NULL), STATUS_OK);
        for (size_t s0 = 0; s0 < n; s0 += 4) {
            size_t count = s0 + 4 <= n ? 4 : n - s0, starts[4], tok = 0;
            for (size_t i = 0; i < count; i++) {
                starts[i] = q->seq_start[s0 + i] - q->seq_start[s0];
                tok += q->seq_len[s0 + i];
            }
            reranker_batch cv = {
                .n_seq = count, .n_tok = tok, .seq_start = starts, .seq_len = q->seq_len + s0};
            assert_int_equal(
                reranker_layer_forward_slot(&m, slot, &cv, h + q->seq_start[s0] * H, &ws),
                STATUS_OK);
        }
        assert_int_equal(reranker_score(&m, l + 1, &b, h, &ws, ls + (l + 1) * n), STATUS_OK);
    }
    // A batch larger than the workspace is refused, not overrun.
    reranker_batch big = b;
    big.n_tok = ws_max_tok + 1;
    assert_int_equal(reranker_layer_forward_slot(&m, NULL, &big, h, &ws), STATUS_ERR_ARG);
    assert_non_null(strstr(status_message(), "workspace"));
    reranker_close(&m);

    if (testutil_open_yes_no(&m, f->untied, f->yes_id, f->no_id, 1, 0) != STATUS_OK)
        fail_msg("%s", status_message());
    assert_int_equal(engine_forward_all_layers(&m, &b, 0, want), STATUS_OK);
    double worst = 0.0;
    for (size_t k = 0; k < (L + 1) * n; k++)
        worst = fmax(worst, fabs(ls[k] - want[k]));
    printf("layer-by-layer with a streamed slot vs resident forward: max diff %.3g\n", worst);
    assert_true(worst <= 1e-6);
    reranker_close(&m);
    mem_free(slot);
    mem_free(h);
    reranker_workspace_free(&ws);
}

static void test_bad_yes_no_ids_are_errors(void **state) {
    parity_fixture *f = *state;
    // Baselines, so that a model leaked by an earlier failed test does not
    // fail this one too.
    size_t weights0 = mem_current_bytes(MEM_WEIGHTS), embed0 = mem_current_bytes(MEM_EMBEDDINGS);
    // The ids come from the tokenizer ("yes" / "no" entries): the tests'
    // yes/no tokenizer gives the bad ones.
    reranker m;
    assert_int_equal(testutil_open_yes_no(&m, f->tied, 151669, f->no_id, 1, 0), STATUS_ERR_ARG);
    printf("yes id = vocab_size: %s\n", status_message());
    assert_non_null(strstr(status_message(), "\"yes\" token id 151669 is outside the vocabulary"));
    assert_int_equal(testutil_open_yes_no(&m, f->tied, f->yes_id, -1, 1, 0), STATUS_ERR_ARG);
    assert_non_null(strstr(status_message(), "\"no\" token id -1"));
    assert_int_equal(testutil_open_yes_no(&m, f->tied, f->yes_id, f->yes_id, 1, 0), STATUS_ERR_ARG);
    assert_non_null(strstr(status_message(), "both"));
    // A token id outside the vocabulary in the batch.
    assert_int_equal(testutil_open_yes_no(&m, f->untied, f->yes_id, f->no_id, 1, 0), STATUS_OK);
    int32_t ids[3] = {1, 151669, 2};
    size_t start = 0, len = 3;
    reranker_batch b = {.n_seq = 1, .n_tok = 3, .seq_start = &start, .seq_len = &len, .ids = ids};
    float scores[PARITY_MAX_LAYERS];
    assert_int_equal(engine_forward_all_layers(&m, &b, 0, scores), STATUS_ERR_ARG);
    assert_non_null(strstr(status_message(), "token 1 has id 151669"));
    reranker_close(&m);
    assert_int_equal(mem_current_bytes(MEM_WEIGHTS), weights0);
    assert_int_equal(mem_current_bytes(MEM_EMBEDDINGS), embed0);
}

static void test_truncated_checkpoint_is_an_error(void **state) {
    parity_fixture *f = *state;
    char path[4300];
    snprintf(path, sizeof path, "%s/model.safetensors", f->tied);
    // Last test: cutting the file in place is fine (teardown removes it).
    assert_int_equal(truncate(path, 40000000), 0);
    size_t weights0 = mem_current_bytes(MEM_WEIGHTS), embed0 = mem_current_bytes(MEM_EMBEDDINGS);
    reranker m;
    status st = testutil_open_yes_no(&m, f->tied, f->yes_id, f->no_id, 1, 0);
    printf("truncated: %s: %s\n", status_name(st), status_message());
    assert_int_not_equal(st, STATUS_OK);
    assert_non_null(strstr(status_message(), "model.safetensors"));
    assert_non_null(strstr(status_message(), "truncated"));
    assert_int_equal(mem_current_bytes(MEM_WEIGHTS), weights0);
    assert_int_equal(mem_current_bytes(MEM_EMBEDDINGS), embed0);
}

// The C tokenizer and prompt builder (core/tokenize/bpe.h, core/tokenize/qwen_prompt.h) give
// the ids the golden inputs were made with (by HF tokenizers), so the engine
// feeds the model what the reference scored. Needs ../shared (skips without).
static void test_golden_inputs_match_our_prompt_builder(void **state) {
    parity_fixture *f = *state;
    const char *tok_dir = testutil_shared_path("models/qwen3-reranker-tokenizer");
    const char *corpus_path = testutil_shared_path("data/scifact/corpus.jsonl");
    const char *queries_path = testutil_shared_path("data/scifact/queries.jsonl");
    if (!tok_dir || !corpus_path || !queries_path) skip();
    bpe tok;
    qwen_prompt qp;
    if (bpe_load(&tok, tok_dir) != STATUS_OK || qwen_prompt_init(&qp, &tok) != STATUS_OK)
        fail_msg("%s", status_message());
    assert_int_equal(qp.yes_id, f->yes_id);
    assert_int_equal(qp.no_id, f->no_id);
    doc_list corpus, queries;
    assert_int_equal(doc_list_read_jsonl(&corpus, corpus_path), STATUS_OK);
    assert_int_equal(doc_list_read_jsonl(&queries, queries_path), STATUS_OK);
    strmap by_id, qby_id;
    assert_int_equal(strmap_init(&by_id, corpus.n), STATUS_OK);
    assert_int_equal(strmap_init(&qby_id, queries.n), STATUS_OK);
    for (size_t i = 0; i < corpus.n; i++)
        strmap_put(&by_id, corpus.items[i].id, strlen(corpus.items[i].id), (int64_t)i);
    for (size_t i = 0; i < queries.n; i++)
        strmap_put(&qby_id, queries.items[i].id, strlen(queries.items[i].id), (int64_t)i);
    const cJSON *qs = cJSON_GetObjectItemCaseSensitive(f->inputs, "queries");
    size_t max_length = (size_t)cJSON_GetObjectItemCaseSensitive(f->inputs, "max_length")->valueint;
    qwen_prompt_encoding enc = {0};
    size_t compared = 0;
    for (size_t i = 0; i < f->n_queries; i++) {
        const parity_query *q = &f->queries[i];
        const cJSON *doc_ids =
            cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(qs, (int)i), "doc_ids");
        int64_t qi;
        assert_true(strmap_get(&qby_id, q->qid, strlen(q->qid), &qi));
        const char *qt = queries.items[qi].text;
        for (size_t s = 0; s < q->n_seq; s++) {
            const char *did = cJSON_GetArrayItem(doc_ids, (int)s)->valuestring;
            int64_t di;
            assert_true(strmap_get(&by_id, did, strlen(did), &di));
            const char *dt = corpus.items[di].text;
            if (qwen_prompt_encode(&qp, &tok, NULL, qt, strlen(qt), dt, strlen(dt), max_length,
                                   &enc) != STATUS_OK)
                fail_msg("%s", status_message());
            assert_false(enc.truncated);
            assert_int_equal(enc.len, q->seq_len[s]);
            assert_memory_equal(enc.ids, q->ids + q->seq_start[s], enc.len * sizeof(int32_t));
            compared++;
        }
    }
    printf("prompt builder: %zu golden prompts equal, token for token\n", compared);
    qwen_prompt_encoding_free(&enc);
    strmap_free(&by_id);
    strmap_free(&qby_id);
    doc_list_free(&corpus);
    doc_list_free(&queries);
    qwen_prompt_free(&qp);
    bpe_free(&tok);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tiny_tied_bf16_matches_torch),
        cmocka_unit_test(test_tiny_untied_f32_matches_torch),
        cmocka_unit_test(test_layer_by_layer_api_matches_forward),
        cmocka_unit_test(test_golden_inputs_match_our_prompt_builder),
        cmocka_unit_test(test_bad_yes_no_ids_are_errors),
        cmocka_unit_test(test_truncated_checkpoint_is_an_error),
    };
    return cmocka_run_group_tests(tests, parity_setup, parity_teardown);
}
