/*
 * cli_inputs.c - what the scoring subcommands (score, rerank) share: the
 * query (text or BEIR queries.jsonl + id), the candidate documents (JSONL,
 * optionally a subset by id), tokenization into one packed batch.
 */
#include "cli.h"

#include "base/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Finds `id` in a comma- or space-separated list.
int cli_list_has(const char *list, const char *id) {
    size_t n = strlen(id);
    for (const char *p = list; p && *p;) {
        while (*p == ',' || *p == ' ') p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ') e++;
        if ((size_t)(e - p) == n && memcmp(p, id, n) == 0) return 1;
        p = e;
    }
    return 0;
}

// Keeps the documents named in `list`, in list order. Fails on unknown ids.
status cli_select_docs(doc_list *docs, const char *list, const char *path) {
    doc_list picked = {0};
    size_t cap = 0;
    status st = STATUS_OK;
    for (const char *p = list; *p && st == STATUS_OK;) {
        while (*p == ',' || *p == ' ') p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ') e++;
        if (e == p) break;
        size_t n = (size_t)(e - p), i;
        for (i = 0; i < docs->n; i++)
            if (strlen(docs->items[i].id) == n && memcmp(docs->items[i].id, p, n) == 0) break;
        if (i == docs->n) {
            st = status_fail(STATUS_ERR_MISSING, "%s: no document with id '%.*s'", path, (int)n, p);
            break;
        }
        if (picked.n == cap) {
            cap = cap ? cap * 2 : 16;
            doc_item *items = realloc(picked.items, cap * sizeof *items);
            if (!items) {
                st = status_fail(STATUS_ERR_NOMEM, "out of memory");
                break;
            }
            picked.items = items;
        }
        picked.items[picked.n].id = strdup(docs->items[i].id);
        picked.items[picked.n].text = strdup(docs->items[i].text);
        picked.n++;
        p = e;
    }
    if (st == STATUS_OK && picked.n == 0)
        st = status_fail(STATUS_ERR_ARG, "--doc-ids: empty list");
    if (st != STATUS_OK) {
        doc_list_free(&picked);
        return st;
    }
    doc_list_free(docs);
    *docs = picked;
    return STATUS_OK;
}

status cli_query_from_file(const char *path, const char *qid, char **query) {
    doc_list queries;
    status st = doc_list_read_jsonl(&queries, path);
    if (st != STATUS_OK) return st;
    *query = NULL;
    for (size_t i = 0; i < queries.n && !*query; i++)
        if (strcmp(queries.items[i].id, qid) == 0) *query = strdup(queries.items[i].text);
    doc_list_free(&queries);
    if (!*query) return status_fail(STATUS_ERR_MISSING, "%s: no query with id '%s'", path, qid);
    return STATUS_OK;
}

void cli_batch_free(cli_batch *s) {
    free(s->seq_start);
    free(s->seq_len);
    mem_free(s->ids);
    mem_free(s->type_ids);
}

// Tokenizes every pair and packs them into one batch.
status cli_encode_pairs(const reranker *r, const char *query, const doc_list *docs,
                           size_t max_len, cli_batch *s) {
    memset(s, 0, sizeof *s);
    s->n_seq = docs->n;
    s->seq_start = calloc(docs->n, sizeof *s->seq_start);
    s->seq_len = calloc(docs->n, sizeof *s->seq_len);
    s->ids = mem_alloc(MEM_OTHER, docs->n * max_len * sizeof *s->ids);
    s->type_ids = mem_alloc(MEM_OTHER, docs->n * max_len * sizeof *s->type_ids);
    if (!s->seq_start || !s->seq_len || !s->ids || !s->type_ids)
        return status_fail(STATUS_ERR_NOMEM, "batch of %zu candidates: out of memory", docs->n);
    tokenizer_encoding enc = {0};
    status st = STATUS_OK;
    for (size_t i = 0; i < docs->n && st == STATUS_OK; i++) {
        const char *d = docs->items[i].text;
        st = reranker_encode_pair(r, query, d, max_len, &enc);
        if (st != STATUS_OK) {
            status_wrap(st, "candidate %zu (id %s)", i, docs->items[i].id);
            break;
        }
        s->seq_start[i] = s->n_tok;
        s->seq_len[i] = enc.len;
        memcpy(s->ids + s->n_tok, enc.ids, enc.len * sizeof *enc.ids);
        memcpy(s->type_ids + s->n_tok, enc.type_ids, enc.len * sizeof *enc.type_ids);
        s->n_tok += enc.len;
    }
    tokenizer_encoding_free(&enc);
    return st;
}

status cli_load_inputs(const char *query_text, const char *queries, const char *qid,
                       const char *docs_path, const char *doc_ids, char **query, doc_list *docs) {
    *query = NULL;
    memset(docs, 0, sizeof *docs);
    status st;
    if (queries) {
        if ((st = cli_query_from_file(queries, qid, query)) != STATUS_OK) return st;
    } else if (!(*query = strdup(query_text))) {
        return status_fail(STATUS_ERR_NOMEM, "out of memory");
    }
    if ((st = doc_list_read_jsonl(docs, docs_path)) != STATUS_OK ||
        (doc_ids && (st = cli_select_docs(docs, doc_ids, docs_path)) != STATUS_OK)) {
        free(*query);
        *query = NULL;
        return st;
    }
    return STATUS_OK;
}

reranker_batch cli_batch_view(const cli_batch *s) {
    reranker_batch b = {.n_seq = s->n_seq, .n_tok = s->n_tok, .seq_start = s->seq_start,
                    .seq_len = s->seq_len, .ids = s->ids, .type_ids = s->type_ids};
    return b;
}
