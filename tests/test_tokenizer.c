// test_tokenizer.c - the tokenizer interface (core/tokenize/tokenizer.h):
// every registered tokenizer gives, through the interface, exactly the ids of
// its underlying implementation (wordpiece.h, bpe.h + qwen_prompt.h), with
// id <-> token round trips, truncation under max_len and the single-text form;
// the Qwen3 prompt through the interface and through `grating tokenize
// --json` reproduces Hugging Face's ids (tests/golden/bpe/prompts_1.tsv).
// Real tokenizer folders come from ../shared (skipped with a message when
// absent; WordPiece falls back to tests/golden/wordpiece/tiny).
#include "testutil.h"

#include "base/json_file.h"
#include "base/strmap.h"
#include "tokenize/bpe.h"
#include "tokenize/qwen_prompt.h"
#include "tokenize/tokenizer.h"
#include "tokenize/wordpiece.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char QUERY[] = "What does the p53 protein do in [SEP] tumour cells? Ünïcödé 東京";
static const char DOC[] = "The p53 protein <|im_end|> regulates the cell cycle and apoptosis; "
                          "mutations are found in about half of human cancers.";

// ---------------------------------------------------------------------------
// The underlying implementations, called directly.

typedef struct {
    int32_t *ids, *type_ids;
    size_t len;
    int truncated;
} direct_ids;

static void direct_free(direct_ids *d) {
    free(d->ids);
    free(d->type_ids);
    memset(d, 0, sizeof *d);
}

static void direct_copy(direct_ids *d, const int32_t *ids, const int32_t *type_ids, size_t len,
                        int truncated) {
    d->ids = malloc((len + 1) * sizeof *d->ids);
    d->type_ids = calloc(len + 1, sizeof *d->type_ids);
    assert_non_null(d->ids);
    assert_non_null(d->type_ids);
    memcpy(d->ids, ids, len * sizeof *ids);
    if (type_ids) memcpy(d->type_ids, type_ids, len * sizeof *type_ids);
    d->len = len;
    d->truncated = truncated;
}

static void direct_wordpiece(const char *dir, const char *q, const char *d, size_t max_len,
                             direct_ids *out) {
    wordpiece wp;
    assert_int_equal(wordpiece_load(&wp, dir), STATUS_OK);
    wordpiece_encoding e = {0};
    status st = d ? wordpiece_encode_pair(&wp, q, strlen(q), d, strlen(d), max_len, &e)
                  : wordpiece_encode_single(&wp, q, strlen(q), max_len, &e);
    if (st != STATUS_OK) fail_msg("%s", status_message());
    direct_copy(out, e.ids, e.type_ids, e.len, e.truncated);
    wordpiece_encoding_free(&e);
    wordpiece_free(&wp);
}

static void direct_qwen3(const char *dir, const char *q, const char *d, size_t max_len,
                         direct_ids *out) {
    bpe tok;
    qwen_prompt qp;
    assert_int_equal(bpe_load(&tok, dir), STATUS_OK);
    assert_int_equal(qwen_prompt_init(&qp, &tok), STATUS_OK);
    qwen_prompt_encoding e = {0};
    if (qwen_prompt_encode(&qp, &tok, NULL, q, strlen(q), d ? d : "", d ? strlen(d) : 0, max_len,
                           &e) != STATUS_OK)
        fail_msg("%s", status_message());
    direct_copy(out, e.ids, NULL, e.len, e.truncated);
    qwen_prompt_encoding_free(&e);
    qwen_prompt_free(&qp);
    bpe_free(&tok);
}

// Where each registered tokenizer is tested. A tokenizer registered without
// an entry here fails the test, so a new one comes with its test folder.
typedef struct {
    const char *name;
    const char *shared_dir; // under ../shared
    const char *source_dir; // under the source tree when ../shared is absent, or NULL
    void (*direct)(const char *dir, const char *q, const char *d, size_t max_len, direct_ids *out);
} tok_case;

static const tok_case CASES[] = {
    {"wordpiece-bert", "models/scifact-minibert-demo", "tests/golden/wordpiece/tiny",
     direct_wordpiece},
    {"bpe-qwen3-prompt", "models/qwen3-reranker-tokenizer", NULL, direct_qwen3},
};

static const tok_case *case_find(const char *name) {
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
        if (strcmp(CASES[i].name, name) == 0) return &CASES[i];
    return NULL;
}

// The folder to test `c` on, or NULL (message printed) when absent.
static const char *case_dir(const tok_case *c) {
    const char *dir = testutil_shared_path(c->shared_dir);
    if (!dir && c->source_dir) {
        dir = testutil_source_path(c->source_dir);
        fprintf(stderr, "%s: using %s\n", c->name, c->source_dir);
    }
    if (!dir) fprintf(stderr, "SKIP: %s: no tokenizer folder (../shared absent)\n", c->name);
    return dir;
}

static void expect_same(const char *what, const tokenizer_encoding *enc, const direct_ids *d,
                        int types) {
    if (enc->len != d->len)
        fail_msg("%s: %zu tokens through the interface, %zu direct", what, enc->len, d->len);
    for (size_t i = 0; i < d->len; i++) {
        if (enc->ids[i] != d->ids[i])
            fail_msg("%s: token %zu: id %d through the interface, %d direct", what, i, enc->ids[i],
                     d->ids[i]);
        assert_int_equal(enc->type_ids[i], types ? d->type_ids[i] : 0);
    }
    assert_int_equal(enc->truncated, d->truncated);
}

// ---------------------------------------------------------------------------
// Every registered tokenizer

static void test_registry_lists_and_finds(void **state) {
    (void)state;
    size_t n = 0;
    for (const tokenizer_ops *const *p = tokenizer_list(); *p; p++, n++) {
        const tokenizer_ops *ops = *p;
        assert_ptr_equal(tokenizer_find(ops->name), ops);
        assert_non_null(ops->open);
        assert_non_null(ops->close);
        assert_non_null(ops->encode_pair);
        assert_non_null(ops->token_to_id);
        assert_non_null(ops->id_to_token);
        assert_non_null(ops->describe);
        assert_true(ops->default_max_len > 0);
        if (!case_find(ops->name)) fail_msg("tokenizer '%s' has no test folder here", ops->name);
    }
    assert_true(n >= 2);
    assert_null(tokenizer_find("no-such-tokenizer"));
    assert_null(tokenizer_find(NULL));
    tokenizer t;
    assert_int_equal(tokenizer_open(&t, "no-such-tokenizer", ".", NULL), STATUS_ERR_UNSUPPORTED);
    assert_non_null(strstr(status_message(), "wordpiece-bert"));
    assert_int_equal(
        tokenizer_open(&t, "wordpiece-bert", "/nonexistent-grating-dir", NULL) == STATUS_OK, 0);
}

static void test_every_tokenizer_matches_its_implementation(void **state) {
    (void)state;
    size_t tested = 0;
    char *long_doc = malloc(40000);
    assert_non_null(long_doc);
    for (int i = 0; i < 4000; i++)
        memcpy(long_doc + 6 * i, "cells ", 6);
    long_doc[6 * 4000] = '\0';
    for (const tokenizer_ops *const *p = tokenizer_list(); *p; p++) {
        const tokenizer_ops *ops = *p;
        const tok_case *c = case_find(ops->name);
        assert_non_null(c);
        const char *dir = case_dir(c);
        if (!dir) continue;
        tokenizer t;
        if (tokenizer_open(&t, ops->name, dir, NULL) != STATUS_OK)
            fail_msg("%s: %s", ops->name, status_message());
        assert_ptr_equal(t.ops, ops);
        assert_non_null(t.source);
        assert_true(t.vocab_size > 0);
        tokenizer_encoding enc = {0};
        direct_ids d = {0};

        // A pair at the default length.
        size_t max_len = ops->default_max_len;
        assert_int_equal(
            tokenizer_encode_pair(&t, QUERY, strlen(QUERY), DOC, strlen(DOC), max_len, &enc),
            STATUS_OK);
        c->direct(dir, QUERY, DOC, max_len, &d);
        expect_same(ops->name, &enc, &d, ops->has_token_types);
        assert_false(enc.truncated);
        assert_true(enc.n_first > 0);
        char parts[256];
        ops->describe(&t, &enc, parts, sizeof parts);
        assert_true(strlen(parts) > 0);
        direct_free(&d);

        // id <-> token, on the pair's ids and on a sweep of the vocabulary.
        for (size_t i = 0; i < enc.len; i++) {
            const char *tok = tokenizer_id_to_token(&t, enc.ids[i]);
            int32_t id = -1;
            assert_non_null(tok);
            assert_true(tokenizer_token_to_id(&t, tok, &id));
            assert_int_equal(id, enc.ids[i]);
        }
        size_t swept = 0;
        for (size_t v = 0; v < t.vocab_size; v += 1 + t.vocab_size / 3000) {
            const char *tok = tokenizer_id_to_token(&t, (int32_t)v);
            if (!tok) continue;
            // wordpiece-bert finds model vocabulary entries only (an added
            // token outside it, e.g. the tiny file's "<ent>", is not found).
            int32_t id = -1;
            if (!tokenizer_token_to_id(&t, tok, &id)) continue;
            assert_int_equal(id, (int32_t)v);
            swept++;
        }
        assert_true(swept > 0);
        assert_null(tokenizer_id_to_token(&t, (int32_t)t.vocab_size));
        assert_null(tokenizer_id_to_token(&t, -1));
        int32_t unused = 7;
        assert_false(tokenizer_token_to_id(&t, "no such token \x01", &unused));

        // Truncation under max_len: a long document, several lengths.
        size_t lens[] = {64, 100, 257};
        for (size_t k = 0; k < 3; k++) {
            assert_int_equal(tokenizer_encode_pair(&t, QUERY, strlen(QUERY), long_doc,
                                                   strlen(long_doc), lens[k], &enc),
                             STATUS_OK);
            assert_true(enc.truncated);
            assert_true(enc.len <= lens[k]);
            c->direct(dir, QUERY, long_doc, lens[k], &d);
            expect_same(ops->name, &enc, &d, ops->has_token_types);
            direct_free(&d);
        }
        // max_len too small for the template: an error, the encoding empty.
        assert_int_not_equal(
            tokenizer_encode_pair(&t, QUERY, strlen(QUERY), DOC, strlen(DOC), 1, &enc), STATUS_OK);
        assert_int_equal(enc.len, 0);

        // The single-text form (second == NULL).
        assert_int_equal(tokenizer_encode_pair(&t, QUERY, strlen(QUERY), NULL, 0, max_len, &enc),
                         STATUS_OK);
        c->direct(dir, QUERY, NULL, max_len, &d);
        expect_same(ops->name, &enc, &d, ops->has_token_types);
        assert_int_equal(enc.n_second, 0);
        direct_free(&d);

        printf("%s: %s, vocabulary %zu, interface ids equal the implementation's\n", ops->name, dir,
               t.vocab_size);
        tokenizer_encoding_free(&enc);
        tokenizer_close(&t);
        tested++;
    }
    free(long_doc);
    if (!tested) skip();
}

// One encoding reused across two tokenizers switches its scratch buffers.
static void test_encoding_shared_across_tokenizers(void **state) {
    (void)state;
    const tok_case *a = case_find("wordpiece-bert"), *b = case_find("bpe-qwen3-prompt");
    const char *da = case_dir(a), *db = case_dir(b);
    if (!da || !db) skip();
    tokenizer ta, tb;
    assert_int_equal(tokenizer_open(&ta, a->name, da, NULL), STATUS_OK);
    assert_int_equal(tokenizer_open(&tb, b->name, db, NULL), STATUS_OK);
    tokenizer_encoding enc = {0};
    direct_ids d = {0};
    for (int round = 0; round < 2; round++) {
        assert_int_equal(
            tokenizer_encode_pair(&ta, QUERY, strlen(QUERY), DOC, strlen(DOC), 512, &enc),
            STATUS_OK);
        a->direct(da, QUERY, DOC, 512, &d);
        expect_same(a->name, &enc, &d, 1);
        direct_free(&d);
        assert_int_equal(
            tokenizer_encode_pair(&tb, QUERY, strlen(QUERY), DOC, strlen(DOC), 512, &enc),
            STATUS_OK);
        b->direct(db, QUERY, DOC, 512, &d);
        expect_same(b->name, &enc, &d, 0);
        direct_free(&d);
    }
    tokenizer_encoding_free(&enc);
    tokenizer_close(&ta);
    tokenizer_close(&tb);
}

// An instruction given at open is the prompt's; NULL is the default one.
static void test_qwen3_instruction_at_open(void **state) {
    (void)state;
    const char *dir = testutil_shared_path("models/qwen3-reranker-tokenizer");
    if (!dir) skip();
    tokenizer t;
    char inst[] = "Judge scientific claims";
    assert_int_equal(tokenizer_open(&t, "bpe-qwen3-prompt", dir, inst), STATUS_OK);
    inst[0] = 'X'; // the tokenizer keeps its own copy
    tokenizer_encoding enc = {0};
    assert_int_equal(tokenizer_encode_pair(&t, QUERY, strlen(QUERY), DOC, strlen(DOC), 8192, &enc),
                     STATUS_OK);
    bpe tok;
    qwen_prompt qp;
    assert_int_equal(bpe_load(&tok, dir), STATUS_OK);
    assert_int_equal(qwen_prompt_init(&qp, &tok), STATUS_OK);
    qwen_prompt_encoding e = {0};
    assert_int_equal(qwen_prompt_encode(&qp, &tok, "Judge scientific claims", QUERY, strlen(QUERY),
                                        DOC, strlen(DOC), 8192, &e),
                     STATUS_OK);
    assert_int_equal(enc.len, e.len);
    assert_memory_equal(enc.ids, e.ids, e.len * sizeof *e.ids);
    qwen_prompt_encoding_free(&e);
    qwen_prompt_free(&qp);
    bpe_free(&tok);
    tokenizer_encoding_free(&enc);
    tokenizer_close(&t);
}

// ---------------------------------------------------------------------------
// Hugging Face golden prompts (tests/golden/bpe/prompts_1.tsv, see its README)

typedef struct {
    strmap index; // id -> slot
    char **texts;
    size_t n, cap;
} text_table;

// id -> text of a SciFact jsonl file; documents are "title text" as in the
// golden files.
static void text_table_load(text_table *t, const char *path, int with_title) {
    memset(t, 0, sizeof *t);
    assert_int_equal(strmap_init(&t->index, 8192), STATUS_OK);
    char *data;
    size_t len;
    assert_int_equal(file_read_all(path, &data, &len), STATUS_OK);
    char *save = NULL;
    for (char *line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *obj;
        assert_int_equal(json_parse_text(path, line, strlen(line), &obj), STATUS_OK);
        const char *id, *text, *title = "";
        assert_int_equal(json_get_string(obj, "_id", path, &id), STATUS_OK);
        assert_int_equal(json_get_string(obj, "text", path, &text), STATUS_OK);
        if (with_title) assert_int_equal(json_opt_string(obj, "title", path, &title), STATUS_OK);
        size_t need = strlen(title) + strlen(text) + 2;
        char *joined = malloc(need);
        assert_non_null(joined);
        if (with_title)
            snprintf(joined, need, "%s %s", title, text);
        else
            snprintf(joined, need, "%s", text);
        if (t->n == t->cap) {
            t->cap = t->cap ? 2 * t->cap : 1024;
            t->texts = realloc(t->texts, t->cap * sizeof *t->texts);
            assert_non_null(t->texts);
        }
        assert_int_equal(strmap_put(&t->index, id, strlen(id), (int64_t)t->n), STATUS_OK);
        t->texts[t->n++] = joined;
        cJSON_Delete(obj);
    }
    free(data);
}

static const char *text_table_get(const text_table *t, const char *id, size_t len) {
    int64_t slot;
    if (!strmap_get(&t->index, id, len, &slot)) fail_msg("id '%.*s' not in SciFact", (int)len, id);
    return t->texts[slot];
}

static void text_table_free(text_table *t) {
    for (size_t i = 0; i < t->n; i++)
        free(t->texts[i]);
    free(t->texts);
    strmap_free(&t->index);
}

typedef struct {
    const char *query, *doc; // into the text tables
    size_t max_len;
    int32_t *ids;
    size_t n_ids;
} golden_prompt;

// The first `cap` prompts of prompts_1.tsv; returns how many were read.
static size_t golden_prompts_read(const text_table *qs, const text_table *ds, golden_prompt *out,
                                  size_t cap, char **data) {
    size_t len, n = 0;
    assert_int_equal(
        file_read_all(testutil_source_path("tests/golden/bpe/prompts_1.tsv"), data, &len),
        STATUS_OK);
    char *save = NULL;
    for (char *line = strtok_r(*data, "\n", &save); line && n < cap;
         line = strtok_r(NULL, "\n", &save)) {
        if (line[0] == '#') continue;
        char *f[6], *p = line;
        for (int i = 0; i < 6; i++) {
            f[i] = p;
            if (i < 5) {
                p = strchr(p, '\t');
                assert_non_null(p);
                *p++ = '\0';
            }
        }
        assert_string_equal(f[0], "prompt");
        const char *colon = strchr(f[1], ':');
        assert_non_null(colon);
        golden_prompt *g = &out[n++];
        g->query = text_table_get(qs, f[1], (size_t)(colon - f[1]));
        g->doc = text_table_get(ds, colon + 1, strlen(colon + 1));
        g->max_len = (size_t)strtoul(f[2], NULL, 10);
        size_t cap_ids = 16;
        g->ids = malloc(cap_ids * sizeof *g->ids);
        g->n_ids = 0;
        for (char *s = f[5], *end; *s; s = end) {
            long v = strtol(s, &end, 10);
            if (end == s) break;
            if (g->n_ids == cap_ids) {
                cap_ids *= 2;
                g->ids = realloc(g->ids, cap_ids * sizeof *g->ids);
                assert_non_null(g->ids);
            }
            g->ids[g->n_ids++] = (int32_t)v;
        }
    }
    return n;
}

#define GOLDEN_N 12

typedef struct {
    text_table queries, docs;
    golden_prompt prompts[GOLDEN_N];
    size_t n;
    char *data;
} golden_set;

static int golden_set_load(golden_set *g) {
    const char *q = testutil_shared_path("data/scifact/queries.jsonl");
    const char *d = testutil_shared_path("data/scifact/corpus.jsonl");
    if (!q || !d) return 0;
    text_table_load(&g->queries, q, 0);
    text_table_load(&g->docs, d, 1);
    g->n = golden_prompts_read(&g->queries, &g->docs, g->prompts, GOLDEN_N, &g->data);
    assert_int_equal(g->n, GOLDEN_N);
    return 1;
}

static void golden_set_free(golden_set *g) {
    for (size_t i = 0; i < g->n; i++)
        free(g->prompts[i].ids);
    free(g->data);
    text_table_free(&g->queries);
    text_table_free(&g->docs);
}

static void test_qwen3_interface_reproduces_hf_prompts(void **state) {
    (void)state;
    const char *dir = testutil_shared_path("models/qwen3-reranker-tokenizer");
    golden_set g = {0};
    if (!dir || !golden_set_load(&g)) skip();
    tokenizer t;
    assert_int_equal(tokenizer_open(&t, "bpe-qwen3-prompt", dir, NULL), STATUS_OK);
    tokenizer_encoding enc = {0};
    size_t truncated = 0;
    for (size_t i = 0; i < g.n; i++) {
        const golden_prompt *p = &g.prompts[i];
        if (tokenizer_encode_pair(&t, p->query, strlen(p->query), p->doc, strlen(p->doc),
                                  p->max_len, &enc) != STATUS_OK)
            fail_msg("prompt %zu: %s", i, status_message());
        assert_true(enc.len <= p->max_len);
        assert_int_equal(enc.len, p->n_ids);
        assert_memory_equal(enc.ids, p->ids, p->n_ids * sizeof *p->ids);
        truncated += (size_t)enc.truncated;
    }
    assert_true(truncated > 0); // the set covers HF's truncation too
    printf("bpe-qwen3-prompt: %zu Hugging Face prompts equal (%zu truncated)\n", g.n, truncated);
    tokenizer_encoding_free(&enc);
    tokenizer_close(&t);
    golden_set_free(&g);
}

// `grating tokenize --json` prints the golden ids (only input_ids: the model
// has no token types).
static void test_cli_tokenize_prints_hf_prompt_ids(void **state) {
    (void)state;
    const char *dir = testutil_shared_path("models/qwen3-reranker-tokenizer");
    golden_set g = {0};
    if (!dir || !golden_set_load(&g)) skip();
    for (size_t i = 0; i < 4; i++) {
        const golden_prompt *p = &g.prompts[i];
        char max_len[32];
        snprintf(max_len, sizeof max_len, "%zu", p->max_len);
        const char *args[] = {"tokenize", "--model",   dir,     "--query", p->query, "--doc",
                              p->doc,     "--max-len", max_len, "--json",  NULL};
        char *out, *err;
        int rc = testutil_run_grating(args, &out, &err);
        if (rc != 0) fail_msg("grating tokenize: exit %d: %s", rc, err);
        size_t cap = 32 + 12 * p->n_ids, at = 0;
        char *want = malloc(cap);
        assert_non_null(want);
        at += (size_t)snprintf(want + at, cap - at, "{\"input_ids\":[");
        for (size_t k = 0; k < p->n_ids; k++)
            at += (size_t)snprintf(want + at, cap - at, k ? ",%d" : "%d", p->ids[k]);
        snprintf(want + at, cap - at, "]}\n");
        assert_string_equal(out, want);
        free(want);
        free(out);
        free(err);
    }
    golden_set_free(&g);
}

// The table form names the parts the tokenizer describes, and BERT's
// --json keeps its token types.
static void test_cli_tokenize_table_and_types(void **state) {
    (void)state;
    const char *dir = testutil_shared_path("models/scifact-minibert-demo");
    if (!dir) skip();
    const char *json[] = {"tokenize", "--model", dir,      "--query", "a b",
                          "--doc",    "c",       "--json", NULL};
    char *out, *err;
    assert_int_equal(testutil_run_grating(json, &out, &err), 0);
    assert_string_equal(out, "{\"input_ids\":[101,1037,1038,102,1039,102],"
                             "\"token_type_ids\":[0,0,0,0,1,1]}\n");
    free(out);
    free(err);
    const char *table[] = {"tokenize", "--model", dir, "--query", "a b", "--doc", "c", NULL};
    assert_int_equal(testutil_run_grating(table, &out, &err), 0);
    assert_non_null(strstr(out, "  pos      id  token                    type\n"));
    assert_non_null(strstr(out, "6 tokens (query 2, document 1)\n"));
    free(out);
    free(err);
    const char *inst[] = {"tokenize", "--model", dir, "--query", "a", "--instruction", "x", NULL};
    assert_int_equal(testutil_run_grating(inst, &out, &err), 2);
    free(out);
    free(err);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_lists_and_finds),
        cmocka_unit_test(test_every_tokenizer_matches_its_implementation),
        cmocka_unit_test(test_encoding_shared_across_tokenizers),
        cmocka_unit_test(test_qwen3_instruction_at_open),
        cmocka_unit_test(test_qwen3_interface_reproduces_hf_prompts),
        cmocka_unit_test(test_cli_tokenize_prints_hf_prompt_ids),
        cmocka_unit_test(test_cli_tokenize_table_and_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
