// The BERT cross-encoder forward against the independent PyTorch reference
// (tests/reference/bert_reference.py, golden files in tests/golden/bert/):
// final and per-layer scores within 1e-4 on the demo model and on generated
// weights with the exact configs of ms-marco-MiniLM-L-6-v2 (F32) and
// ms-marco-TinyBERT-L-2-v2 (BF16); a candidate alone equals the same
// candidate in the batch; the chunk size does not change any score.
#include "testutil.h"

#include "beir.h"
#include "engine/engine.h"
#include "docs_jsonl.h"
#include "base/json_file.h"
#include "base/mem.h"
#include "model/synth.h"
#include "tokenize/wordpiece.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PARITY_CANDS = 20, PARITY_COMPOSITION_QUERIES = 4 };

// One query of the golden inputs as a packed batch.
typedef struct {
    const char *qid;
    size_t n_seq, n_tok;
    size_t seq_start[PARITY_CANDS], seq_len[PARITY_CANDS];
    int32_t *ids, *type_ids;
    const cJSON *doc_ids;
} parity_query;

static uint64_t parity_fnv1a(uint64_t h, const int32_t *v, size_t n) {
    for (size_t i = 0; i < n; i++)
        for (int b = 0; b < 4; b++)
            h = (h ^ (((uint32_t)v[i] >> (8 * b)) & 0xffu)) * 1099511628211ull;
    return h;
}

// A golden inputs file without token ids (inputs_len512.json: the ids would
// spell out ../shared's SciFact text) names the pairs and a digest of the
// Hugging Face ids (tests/reference/compact_bert_inputs.py). The ids are
// rebuilt here from ../shared with grating's WordPiece and must match the
// digest, so the forward runs on exactly the reference's inputs.
static void parity_rebuild_query(const cJSON *inputs, const cJSON *item, const beir_dataset *ds,
                                 const wordpiece *wp, parity_query *q) {
    size_t max_len = (size_t)cJSON_GetObjectItemCaseSensitive(inputs, "max_len")->valueint;
    size_t qi;
    assert_true(beir_query_find(ds, q->qid, &qi));
    const char *qtext = ds->query_texts[qi];
    q->n_seq = (size_t)cJSON_GetArraySize(q->doc_ids);
    assert_true(q->n_seq > 0 && q->n_seq <= PARITY_CANDS);
    size_t cap = q->n_seq * max_len;
    q->ids = malloc(cap * sizeof(int32_t));
    q->type_ids = malloc(cap * sizeof(int32_t));
    assert_true(q->ids && q->type_ids);
    wordpiece_encoding enc = {0};
    uint64_t h = 14695981039346656037ull; // FNV-1a 64 offset basis
    size_t t = 0;
    for (size_t s = 0; s < q->n_seq; s++) {
        char *text = NULL;
        if (beir_doc_fetch(ds, cJSON_GetArrayItem(q->doc_ids, (int)s)->valuestring, &text) ||
            wordpiece_encode_pair(wp, qtext, strlen(qtext), text, strlen(text), max_len, &enc))
            fail_msg("%s", status_message());
        free(text);
        q->seq_start[s] = t;
        q->seq_len[s] = enc.len;
        memcpy(q->ids + t, enc.ids, enc.len * sizeof(int32_t));
        memcpy(q->type_ids + t, enc.type_ids, enc.len * sizeof(int32_t));
        h = parity_fnv1a(parity_fnv1a(h, enc.ids, enc.len), enc.type_ids, enc.len);
        t += enc.len;
    }
    wordpiece_encoding_free(&enc);
    q->n_tok = t;
    char hex[17];
    snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
    const char *want = cJSON_GetObjectItemCaseSensitive(item, "ids_fnv1a64")->valuestring;
    if (strcmp(hex, want) != 0)
        fail_msg("query %s: rebuilt ids digest %s, Hugging Face ids %s", q->qid, hex, want);
}

static size_t parity_load_queries(const cJSON *inputs, parity_query **out) {
    const cJSON *qs = cJSON_GetObjectItemCaseSensitive(inputs, "queries");
    assert_true(cJSON_IsArray(qs));
    size_t nq = (size_t)cJSON_GetArraySize(qs);
    parity_query *q = calloc(nq, sizeof *q);
    assert_non_null(q);
    // Inputs named by a digest are rebuilt from ../shared (see above).
    int rebuild = nq > 0 && !cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(qs, 0), "input_ids");
    beir_dataset ds;
    wordpiece wp;
    if (rebuild) {
        const char *data = testutil_shared_path("data/scifact");
        char tok_dir[4200];
        snprintf(tok_dir, sizeof tok_dir, "models/%s",
                 cJSON_GetObjectItemCaseSensitive(inputs, "tokenizer")->valuestring);
        *strrchr(tok_dir, '/') = '\0'; // the folder of tokenizer.json
        const char *tok = testutil_shared_path(tok_dir);
        if (!data || !tok) skip();
        if (beir_open(&ds, data, NULL, 0) || wordpiece_load(&wp, tok)) fail_msg("%s", status_message());
    }
    for (size_t i = 0; i < nq; i++) {
        const cJSON *item = cJSON_GetArrayItem(qs, (int)i);
        q[i].qid = cJSON_GetObjectItemCaseSensitive(item, "qid")->valuestring;
        q[i].doc_ids = cJSON_GetObjectItemCaseSensitive(item, "doc_ids");
        if (rebuild) {
            parity_rebuild_query(inputs, item, &ds, &wp, &q[i]);
            continue;
        }
        const cJSON *ids = cJSON_GetObjectItemCaseSensitive(item, "input_ids");
        const cJSON *types = cJSON_GetObjectItemCaseSensitive(item, "token_type_ids");
        q[i].n_seq = (size_t)cJSON_GetArraySize(ids);
        assert_true(q[i].n_seq > 0 && q[i].n_seq <= PARITY_CANDS);
        size_t total = 0;
        for (size_t s = 0; s < q[i].n_seq; s++) total += (size_t)cJSON_GetArraySize(cJSON_GetArrayItem(ids, (int)s));
        q[i].ids = malloc(total * sizeof(int32_t));
        q[i].type_ids = malloc(total * sizeof(int32_t));
        size_t t = 0;
        for (size_t s = 0; s < q[i].n_seq; s++) {
            const cJSON *row = cJSON_GetArrayItem(ids, (int)s);
            const cJSON *trow = cJSON_GetArrayItem(types, (int)s);
            q[i].seq_start[s] = t;
            q[i].seq_len[s] = (size_t)cJSON_GetArraySize(row);
            for (size_t k = 0; k < q[i].seq_len[s]; k++, t++) {
                q[i].ids[t] = cJSON_GetArrayItem(row, (int)k)->valueint;
                q[i].type_ids[t] = cJSON_GetArrayItem(trow, (int)k)->valueint;
            }
        }
        q[i].n_tok = t;
    }
    if (rebuild) {
        beir_close(&ds);
        wordpiece_free(&wp);
    }
    *out = q;
    return nq;
}

static reranker_batch parity_batch(const parity_query *q) {
    reranker_batch b = {.n_seq = q->n_seq, .n_tok = q->n_tok, .seq_start = q->seq_start,
                    .seq_len = q->seq_len, .ids = q->ids, .type_ids = q->type_ids};
    return b;
}

static cJSON *parity_read_json(const char *rel) {
    cJSON *root = NULL;
    status st = json_file_parse(testutil_source_path(rel), &root);
    if (st != STATUS_OK) fail_msg("%s", status_message());
    return root;
}

// Runs every golden query through the model and returns the largest
// |ours - reference| over all layers and candidates.
static double parity_compare(const char *model_dir, const char *inputs_rel, const char *golden_rel,
                             int check_alone_and_chunks) {
    reranker m;
    if (reranker_open(&m, model_dir, NULL) != STATUS_OK) fail_msg("%s", status_message());
    cJSON *inputs = parity_read_json(inputs_rel);
    cJSON *golden = parity_read_json(golden_rel);
    parity_query *qs;
    size_t nq = parity_load_queries(inputs, &qs);
    const cJSON *gq = cJSON_GetObjectItemCaseSensitive(golden, "queries");
    assert_int_equal((size_t)cJSON_GetArraySize(gq), nq);
    size_t L = (size_t)m.cfg.n_layers;
    assert_int_equal(cJSON_GetObjectItemCaseSensitive(golden, "n_layers")->valueint, (int)L);
    double worst = 0.0, worst_alone = 0.0, worst_chunk = 0.0;
    float *ls = malloc((L + 1) * PARITY_CANDS * sizeof *ls);
    float *ls2 = malloc((L + 1) * PARITY_CANDS * sizeof *ls2);
    float one[64];
    assert_true(L + 1 <= 64);
    for (size_t i = 0; i < nq; i++) {
        const cJSON *g = cJSON_GetArrayItem(gq, (int)i);
        assert_string_equal(cJSON_GetObjectItemCaseSensitive(g, "qid")->valuestring, qs[i].qid);
        const cJSON *gl = cJSON_GetObjectItemCaseSensitive(g, "layer_scores");
        const cJSON *gs = cJSON_GetObjectItemCaseSensitive(g, "scores");
        assert_int_equal((size_t)cJSON_GetArraySize(gl), L + 1);
        reranker_batch b = parity_batch(&qs[i]);
        size_t n = b.n_seq;
        if (engine_forward_all_layers(&m, &b, 0, ls) != STATUS_OK) fail_msg("%s", status_message());
        for (size_t l = 0; l <= L; l++) {
            const cJSON *row = cJSON_GetArrayItem(gl, (int)l);
            for (size_t s = 0; s < n; s++) {
                double d = fabs(ls[l * n + s] - cJSON_GetArrayItem(row, (int)s)->valuedouble);
                if (d > worst) worst = d;
            }
        }
        for (size_t s = 0; s < n; s++) {
            double d = fabs(ls[L * n + s] - cJSON_GetArrayItem(gs, (int)s)->valuedouble);
            if (d > worst) worst = d;
        }
        // Batch-composition checks on the first queries only (they cost a full
        // forward each).
        if (!check_alone_and_chunks || i >= PARITY_COMPOSITION_QUERIES) continue;
        // Each candidate alone (a batch of one) equals its row in the batch.
        for (size_t s = 0; s < n; s++) {
            reranker_batch alone = {.n_seq = 1, .n_tok = qs[i].seq_len[s], .seq_start = (size_t[]){0},
                                .seq_len = &qs[i].seq_len[s], .ids = qs[i].ids + qs[i].seq_start[s],
                                .type_ids = qs[i].type_ids + qs[i].seq_start[s]};
            if (engine_forward_all_layers(&m, &alone, 0, one) != STATUS_OK) fail_msg("%s", status_message());
            for (size_t l = 0; l <= L; l++) worst_alone = fmax(worst_alone, fabs(one[l] - ls[l * n + s]));
        }
        // Chunked execution gives the same scores.
        size_t chunks[] = {1, 3, 7};
        for (size_t c = 0; c < 3; c++) {
            if (engine_forward_all_layers(&m, &b, chunks[c], ls2) != STATUS_OK) fail_msg("%s", status_message());
            for (size_t k = 0; k < (L + 1) * n; k++) worst_chunk = fmax(worst_chunk, fabs(ls2[k] - ls[k]));
        }
    }
    printf("%s: %zu queries x %d candidates, %zu layers: max |ours - torch| = %.3g\n", golden_rel,
           nq, PARITY_CANDS, L, worst);
    if (check_alone_and_chunks)
        printf("  first %d queries: alone vs batch max diff %.3g, chunk 1/3/7 vs full max diff %.3g\n",
               PARITY_COMPOSITION_QUERIES, worst_alone, worst_chunk);
    assert_true(worst <= 1e-4);
    assert_true(worst_alone <= 1e-5);
    assert_true(worst_chunk <= 1e-5);
    for (size_t i = 0; i < nq; i++) {
        free(qs[i].ids);
        free(qs[i].type_ids);
    }
    free(qs);
    free(ls);
    free(ls2);
    cJSON_Delete(inputs);
    cJSON_Delete(golden);
    reranker_close(&m);
    return worst;
}

static void test_demo_model_matches_torch(void **state) {
    (void)state;
    const char *dir = testutil_shared_path("models/scifact-minibert-demo/model.safetensors");
    if (!dir) skip();
    parity_compare(testutil_shared_path("models/scifact-minibert-demo"),
                   "tests/golden/bert/inputs_len192.json",
                   "tests/golden/bert/scifact-minibert-demo.len192.json", 1);
}

// The C tokenizer gives the ids the golden inputs were made with (by HF
// tokenizers), so `grating score` on text feeds the same ids to the model.
static void test_demo_inputs_match_our_tokenizer(void **state) {
    (void)state;
    const char *tok = testutil_shared_path("models/scifact-minibert-demo");
    const char *corpus_path = testutil_shared_path("data/scifact/corpus.jsonl");
    const char *queries_path = testutil_shared_path("data/scifact/queries.jsonl");
    if (!tok || !corpus_path || !queries_path) skip();
    wordpiece wp;
    if (wordpiece_load(&wp, tok) != STATUS_OK) fail_msg("%s", status_message());
    doc_list corpus, queries;
    assert_int_equal(doc_list_read_jsonl(&corpus, corpus_path), STATUS_OK);
    assert_int_equal(doc_list_read_jsonl(&queries, queries_path), STATUS_OK);
    strmap by_id, qby_id;
    assert_int_equal(strmap_init(&by_id, corpus.n), STATUS_OK);
    assert_int_equal(strmap_init(&qby_id, queries.n), STATUS_OK);
    for (size_t i = 0; i < corpus.n; i++) strmap_put(&by_id, corpus.items[i].id, strlen(corpus.items[i].id), (int64_t)i);
    for (size_t i = 0; i < queries.n; i++) strmap_put(&qby_id, queries.items[i].id, strlen(queries.items[i].id), (int64_t)i);
    cJSON *inputs = parity_read_json("tests/golden/bert/inputs_len192.json");
    parity_query *qs;
    size_t nq = parity_load_queries(inputs, &qs), compared = 0;
    wordpiece_encoding enc = {0};
    for (size_t i = 0; i < nq; i++) {
        int64_t qi;
        assert_true(strmap_get(&qby_id, qs[i].qid, strlen(qs[i].qid), &qi));
        const char *q = queries.items[qi].text;
        for (size_t s = 0; s < qs[i].n_seq; s++) {
            const char *did = cJSON_GetArrayItem(qs[i].doc_ids, (int)s)->valuestring;
            int64_t di;
            assert_true(strmap_get(&by_id, did, strlen(did), &di));
            const char *d = corpus.items[di].text;
            assert_int_equal(wordpiece_encode_pair(&wp, q, strlen(q), d, strlen(d), 192, &enc), STATUS_OK);
            assert_int_equal(enc.len, qs[i].seq_len[s]);
            assert_memory_equal(enc.ids, qs[i].ids + qs[i].seq_start[s], enc.len * sizeof(int32_t));
            assert_memory_equal(enc.type_ids, qs[i].type_ids + qs[i].seq_start[s], enc.len * sizeof(int32_t));
            compared++;
        }
    }
    printf("tokenizer: %zu golden pairs equal\n", compared);
    wordpiece_encoding_free(&enc);
    for (size_t i = 0; i < nq; i++) {
        free(qs[i].ids);
        free(qs[i].type_ids);
    }
    free(qs);
    cJSON_Delete(inputs);
    strmap_free(&by_id);
    strmap_free(&qby_id);
    doc_list_free(&corpus);
    doc_list_free(&queries);
    wordpiece_free(&wp);
}

static void parity_generated(const char *config_rel, uint64_t seed, safetensors_dtype dtype,
                             const char *golden_rel) {
    const char *config = testutil_shared_path(config_rel);
    if (!config) skip();
    char *tmp = testutil_tmpdir();
    char out[4200];
    snprintf(out, sizeof out, "%s/model", tmp);
    synth_options o;
    synth_options_default(&o);
    o.config_path = config;
    o.out_dir = out;
    o.seed = seed;
    o.dtype = dtype;
    if (synth_write(&o, NULL) != STATUS_OK) fail_msg("%s", status_message());
    parity_compare(out, "tests/golden/bert/inputs_len512.json", golden_rel, 0);
    testutil_rmtree(tmp);
    free(tmp);
}

static void test_generated_minilm_l6_f32_matches_torch(void **state) {
    (void)state;
    parity_generated("models/ms-marco-MiniLM-L-6-v2/config.json", 1, SAFETENSORS_F32,
                     "tests/golden/bert/minilm-l6-seed1-f32.len512.json");
}

static void test_generated_tinybert_l2_bf16_matches_torch(void **state) {
    (void)state;
    parity_generated("models/ms-marco-TinyBERT-L-2-v2/config.json", 2, SAFETENSORS_BF16,
                     "tests/golden/bert/tinybert-l2-seed2-bf16.len512.json");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demo_model_matches_torch),
        cmocka_unit_test(test_demo_inputs_match_our_tokenizer),
        cmocka_unit_test(test_generated_minilm_l6_f32_matches_torch),
        cmocka_unit_test(test_generated_tinybert_l2_bf16_matches_torch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
