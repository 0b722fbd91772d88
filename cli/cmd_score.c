/*
 * grating score: score candidate documents for one query with a
 * cross-encoder, optionally with the provisional score of every layer.
 */
#include "cli.h"

#include "bert.h"
#include "docs_jsonl.h"
#include "mem.h"
#include "wordpiece.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void score_usage(FILE *out) {
    fprintf(out,
            "usage: grating score --model DIR (--query Q | --queries FILE --qid ID) --docs FILE\n"
            "                     [--doc-ids ID,ID,...] [--max-len N] [--chunk C] [--per-layer]\n"
            "                     [--json] [--mark ID,ID,...]\n\n"
            "Scores every (query, document) pair with the cross-encoder in DIR, all candidates\n"
            "as one batch, and prints the scores in file order.\n\n"
            "  --model DIR      Hugging Face folder (config.json, safetensors, tokenizer)\n"
            "  --query Q        the query text\n"
            "  --queries FILE   JSONL of queries (BEIR queries.jsonl); with --qid ID picks one\n"
            "  --docs FILE      JSONL, one candidate per line: {\"text\": ..., \"id\": ..., \"title\": ...}\n"
            "                   (`_id` is accepted for `id`; text = title + \" \" + text)\n"
            "  --doc-ids LIST   score only these documents of FILE, in this order\n"
            "  --max-len N      maximum tokens per pair, the document side is truncated\n"
            "                   (default 512, or max_position_embeddings when smaller)\n"
            "  --chunk C        run each layer over chunks of C candidates (default: all)\n"
            "  --per-layer      also report the provisional score after every layer\n"
            "                   (layer 0 = embeddings, layer L = final)\n"
            "  --json           {\"ids\": [...], \"scores\": [...], \"layer_scores\": [[...], ...]}\n"
            "  --mark LIST      mark these document ids with '*' in the table (e.g. qrels)\n");
}

// Finds `id` in a comma- or space-separated list.
static int score_list_has(const char *list, const char *id) {
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
static status score_select_docs(doc_list *docs, const char *list, const char *path) {
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

static status score_query_from_file(const char *path, const char *qid, char **query) {
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

typedef struct {
    size_t n_seq, n_tok;
    size_t *seq_start, *seq_len; // (n_seq,)
    int32_t *ids, *type_ids;     // (n_tok,)
} score_batch_storage;

static void score_batch_free(score_batch_storage *s) {
    free(s->seq_start);
    free(s->seq_len);
    mem_free(s->ids);
    mem_free(s->type_ids);
}

// Tokenizes every pair and packs them into one batch.
static status score_encode(const wordpiece *wp, const char *query, const doc_list *docs,
                           size_t max_len, score_batch_storage *s) {
    memset(s, 0, sizeof *s);
    s->n_seq = docs->n;
    s->seq_start = calloc(docs->n, sizeof *s->seq_start);
    s->seq_len = calloc(docs->n, sizeof *s->seq_len);
    s->ids = mem_alloc(MEM_OTHER, docs->n * max_len * sizeof *s->ids);
    s->type_ids = mem_alloc(MEM_OTHER, docs->n * max_len * sizeof *s->type_ids);
    if (!s->seq_start || !s->seq_len || !s->ids || !s->type_ids)
        return status_fail(STATUS_ERR_NOMEM, "batch of %zu candidates: out of memory", docs->n);
    wordpiece_encoding enc = {0};
    status st = STATUS_OK;
    for (size_t i = 0; i < docs->n && st == STATUS_OK; i++) {
        const char *d = docs->items[i].text;
        st = wordpiece_encode_pair(wp, query, strlen(query), d, strlen(d), max_len, &enc);
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
    wordpiece_encoding_free(&enc);
    return st;
}

static void score_print_json(const doc_list *docs, const float *ls, size_t L, int per_layer) {
    size_t n = docs->n;
    cJSON *root = cJSON_CreateObject();
    cJSON *ids = cJSON_AddArrayToObject(root, "ids");
    for (size_t i = 0; i < n; i++) cJSON_AddItemToArray(ids, cJSON_CreateString(docs->items[i].id));
    // Scores are printed with 9 significant digits (exact float32 round trip).
    char buf[64];
    cJSON *scores = cJSON_AddArrayToObject(root, "scores");
    for (size_t i = 0; i < n; i++) {
        snprintf(buf, sizeof buf, "%.9g", ls[L * n + i]);
        cJSON_AddItemToArray(scores, cJSON_CreateRaw(buf));
    }
    if (per_layer) {
        cJSON *layers = cJSON_AddArrayToObject(root, "layer_scores");
        for (size_t l = 0; l <= L; l++) {
            cJSON *row = cJSON_CreateArray();
            for (size_t i = 0; i < n; i++) {
                snprintf(buf, sizeof buf, "%.9g", ls[l * n + i]);
                cJSON_AddItemToArray(row, cJSON_CreateRaw(buf));
            }
            cJSON_AddItemToArray(layers, row);
        }
    }
    char *text = cJSON_PrintUnformatted(root);
    if (text) puts(text);
    free(text);
    cJSON_Delete(root);
}

static void score_print_table(const doc_list *docs, const score_batch_storage *s, const float *ls,
                              size_t L, int per_layer, const char *mark) {
    size_t n = docs->n;
    printf("%-4s %-5s %-12s %6s", "#", "rank", " id", "tokens");
    if (per_layer)
        for (size_t l = 0; l <= L; l++) printf("  %7s%-2zu", "layer", l);
    else
        printf("  %9s", "score");
    printf("\n");
    for (size_t i = 0; i < n; i++) {
        size_t rank = 1;
        for (size_t j = 0; j < n; j++)
            if (ls[L * n + j] > ls[L * n + i] || (ls[L * n + j] == ls[L * n + i] && j < i)) rank++;
        int marked = mark && score_list_has(mark, docs->items[i].id);
        printf("%-4zu %-5zu%c%-12.12s %6zu", i, rank, marked ? '*' : ' ', docs->items[i].id,
               s->seq_len[i]);
        if (per_layer)
            for (size_t l = 0; l <= L; l++) printf("  %9.4f", ls[l * n + i]);
        else
            printf("  %9.4f", ls[L * n + i]);
        printf("\n");
    }
}

int cmd_score(int argc, char **argv) {
    const char *model_dir = NULL, *query_text = NULL, *queries = NULL, *qid = NULL;
    const char *docs_path = NULL, *doc_ids = NULL, *mark = NULL;
    long max_len = 512, chunk = 0;
    int per_layer = 0, json = 0, max_len_given = 0;
    static const struct option opts[] = {
        {"model", required_argument, 0, 'm'},   {"query", required_argument, 0, 'q'},
        {"queries", required_argument, 0, 'Q'}, {"qid", required_argument, 0, 'i'},
        {"docs", required_argument, 0, 'd'},    {"doc-ids", required_argument, 0, 'D'},
        {"max-len", required_argument, 0, 'l'}, {"chunk", required_argument, 0, 'c'},
        {"per-layer", no_argument, 0, 'p'},     {"json", no_argument, 0, 'j'},
        {"mark", required_argument, 0, 'k'},    {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    optind = 1;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_dir = optarg; break;
        case 'q': query_text = optarg; break;
        case 'Q': queries = optarg; break;
        case 'i': qid = optarg; break;
        case 'd': docs_path = optarg; break;
        case 'D': doc_ids = optarg; break;
        case 'k': mark = optarg; break;
        case 'p': per_layer = 1; break;
        case 'j': json = 1; break;
        case 'l':
            max_len = strtol(optarg, &end, 10);
            max_len_given = 1;
            if (*end || max_len < 3) {
                fprintf(stderr, "grating score: --max-len must be an integer >= 3, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'c':
            chunk = strtol(optarg, &end, 10);
            if (*end || chunk < 1) {
                fprintf(stderr, "grating score: --chunk must be a positive integer, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': score_usage(stdout); return 0;
        default: score_usage(stderr); return 2;
        }
    }
    if (optind < argc || !model_dir || !docs_path || (!query_text == !queries) ||
        (queries && !qid)) {
        fprintf(stderr, "grating score: need --model, --docs and either --query or --queries with --qid\n");
        score_usage(stderr);
        return 2;
    }

    int rc = 1;
    char *query = NULL;
    doc_list docs = {0};
    bert_model model = {0};
    wordpiece wp = {0};
    int wp_loaded = 0;
    score_batch_storage s = {0};
    float *ls = NULL;
    status st;
    if (queries) {
        if ((st = score_query_from_file(queries, qid, &query)) != STATUS_OK) goto done;
    } else {
        query = strdup(query_text);
    }
    if ((st = doc_list_read_jsonl(&docs, docs_path)) != STATUS_OK) goto done;
    if (doc_ids && (st = score_select_docs(&docs, doc_ids, docs_path)) != STATUS_OK) goto done;
    if ((st = bert_model_load(&model, model_dir)) != STATUS_OK) goto done;
    if (!max_len_given && max_len > model.cfg.max_position_embeddings)
        max_len = (long)model.cfg.max_position_embeddings;
    if (max_len > model.cfg.max_position_embeddings) {
        st = status_fail(STATUS_ERR_ARG, "--max-len %ld exceeds the model's max_position_embeddings %lld",
                         max_len, (long long)model.cfg.max_position_embeddings);
        goto done;
    }
    if ((st = wordpiece_load(&wp, model_dir)) != STATUS_OK) goto done;
    wp_loaded = 1;
    if ((int64_t)wp.vocab_size > model.cfg.vocab_size) {
        st = status_fail(STATUS_ERR_SHAPE, "%s: tokenizer has %zu ids but the model's vocab_size is %lld",
                         wp.source, wp.vocab_size, (long long)model.cfg.vocab_size);
        goto done;
    }
    if ((st = score_encode(&wp, query, &docs, (size_t)max_len, &s)) != STATUS_OK) goto done;
    size_t L = (size_t)model.cfg.n_layers;
    ls = malloc((L + 1) * docs.n * sizeof *ls);
    if (!ls) {
        st = status_fail(STATUS_ERR_NOMEM, "out of memory");
        goto done;
    }
    bert_batch b = {.n_seq = s.n_seq, .n_tok = s.n_tok, .seq_start = s.seq_start,
                    .seq_len = s.seq_len, .ids = s.ids, .type_ids = s.type_ids};
    if ((st = bert_forward_all_layers(&model, &b, (size_t)chunk, ls)) != STATUS_OK) goto done;
    if (json)
        score_print_json(&docs, ls, L, per_layer);
    else
        score_print_table(&docs, &s, ls, L, per_layer, mark);
    rc = 0;
done:
    if (rc != 0) fprintf(stderr, "grating score: %s\n", status_message());
    free(ls);
    score_batch_free(&s);
    if (wp_loaded) wordpiece_free(&wp);
    bert_model_free(&model);
    doc_list_free(&docs);
    free(query);
    return rc;
}
