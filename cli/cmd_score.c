/*
 * grating score: score candidate documents for one query with a
 * cross-encoder, optionally with the provisional score of every layer.
 */
#include "cli.h"

#include "docs_jsonl.h"
#include "engine/engine.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void score_usage(FILE *out) {
    fprintf(
        out,
        "usage: grating score --model DIR (--query Q | --queries FILE --qid ID) --docs FILE\n"
        "                     [--doc-ids ID,ID,...] [--max-len N] [--chunk C] [--per-layer]\n"
        "                     [--json] [--mark ID,ID,...] [--threads N]\n"
        "                     [--allow-unused-tensors]\n\n"
        "Scores every (query, document) pair with the cross-encoder in DIR, all candidates\n"
        "as one batch, and prints the scores in file order.\n\n"
        "  --model DIR      Hugging Face folder (config.json, safetensors, tokenizer) of\n"
        "                   a registered architecture (grating info --architectures)\n"
        "  --instruction T  instruction of instruction-following templates (default: the\n"
        "                   model card's)\n"
        "  --query Q        the query text\n"
        "  --queries FILE   JSONL of queries (BEIR queries.jsonl); with --qid ID picks one\n"
        "  --docs FILE      JSONL, one candidate per line: {\"text\": ..., \"id\": ..., \"title\": "
        "...}\n"
        "                   (`_id` is accepted for `id`; text = title + \" \" + text)\n"
        "  --doc-ids LIST   score only these documents of FILE, in this order\n"
        "  --max-len N      maximum tokens per pair, the document side is truncated\n"
        "                   (default 512, or max_position_embeddings when smaller)\n"
        "  --chunk C        run each layer over chunks of C candidates (default: all)\n"
        "  --per-layer      also report the provisional score after every layer\n"
        "                   (layer 0 = embeddings, layer L = final)\n"
        "  --json           {\"ids\": [...], \"scores\": [...], \"layer_scores\": [[...], ...]}\n"
        "                   with the model (absolute path), architecture, max_len, policy\n"
        "                   (none: a full forward), query id and text, threads, version\n"
        "  --threads N      compute (BLAS) threads (default: OPENBLAS_NUM_THREADS, else all\n"
        "                   cores); printed in the output\n"
        "  --mark LIST      mark these document ids with '*' in the table (e.g. qrels)\n"
        "  --allow-unused-tensors  run a checkpoint holding tensors the architecture does not\n"
        "                   read (e.g. more layers than config.json says); refused otherwise\n");
}

// Prints `root` (provenance already added) with the scores.
static void score_print_json(cJSON *root, const doc_list *docs, const float *ls, size_t L,
                             int per_layer) {
    size_t n = docs->n;
    cJSON *ids = cJSON_AddArrayToObject(root, "ids");
    for (size_t i = 0; i < n; i++)
        cJSON_AddItemToArray(ids, cJSON_CreateString(docs->items[i].id));
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

static void score_print_table(const doc_list *docs, const cli_batch *s, const float *ls, size_t L,
                              int per_layer, const char *mark) {
    size_t n = docs->n;
    printf("%-4s %-5s %-12s %6s", "#", "rank", " id", "tokens");
    if (per_layer)
        for (size_t l = 0; l <= L; l++)
            printf("  %7s%-2zu", "layer", l);
    else
        printf("  %9s", "score");
    printf("\n");
    for (size_t i = 0; i < n; i++) {
        size_t rank = 1;
        for (size_t j = 0; j < n; j++)
            if (ls[L * n + j] > ls[L * n + i] || (ls[L * n + j] == ls[L * n + i] && j < i)) rank++;
        int marked = mark && cli_list_has(mark, docs->items[i].id);
        printf("%-4zu %-5zu%c%-12.12s %6zu", i, rank, marked ? '*' : ' ', docs->items[i].id,
               s->seq_len[i]);
        if (per_layer)
            for (size_t l = 0; l <= L; l++)
                printf("  %9.4f", ls[l * n + i]);
        else
            printf("  %9.4f", ls[L * n + i]);
        printf("\n");
    }
}

int cmd_score(int argc, char **argv) {
    cli_common_opts co = {.max_len = 512};
    const char *mark = NULL;
    long chunk = 0;
    int per_layer = 0;
    static const struct option opts[] = {CLI_OPTS_MODEL,
                                         CLI_OPTS_PAIRS,
                                         CLI_OPTION_JSON,
                                         {"chunk", required_argument, 0, 'c'},
                                         {"per-layer", no_argument, 0, 'p'},
                                         {"mark", required_argument, 0, 'k'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int shared = cli_common_parse("score", c, optarg, &co);
        if (shared < 0) return 2;
        if (shared) continue;
        switch (c) {
        case 'k':
            mark = optarg;
            break;
        case 'p':
            per_layer = 1;
            break;
        case 'c':
            if (!cli_parse_long("score", "chunk", optarg, 1, &chunk)) return 2;
            break;
        case 'h':
            score_usage(stdout);
            return 0;
        default:
            score_usage(stderr);
            return 2;
        }
    }
    const char *model_dir = co.model, *qid = co.qid;
    long max_len = co.max_len;
    if (optind < argc || !model_dir || !co.docs || (!co.query == !co.queries) ||
        (co.queries && !qid)) {
        fprintf(stderr,
                "grating score: need --model, --docs and either --query or --queries with --qid\n");
        score_usage(stderr);
        return 2;
    }

    int rc = 1;
    char *query = NULL;
    doc_list docs = {0};
    reranker model = {0};
    int model_open = 0;
    cli_batch s = {0};
    float *ls = NULL;
    status st;
    reranker_options ropt = {.resident_layers = 1,
                             .allow_unused_tensors = co.allow_unused_tensors,
                             .matrix_dtype = co.matrix_dtype};
    if ((st = cli_load_inputs(co.query, co.queries, qid, co.docs, co.doc_ids, &query, &docs)) ||
        (st = reranker_open_ex(&model, model_dir, co.instruction, &ropt)))
        goto done;
    model_open = 1;
    if ((st = reranker_check_max_len(&model, &max_len, co.max_len_given)) ||
        (st = cli_encode_pairs(&model, query, &docs, (size_t)max_len, &s)))
        goto done;
    size_t L = (size_t)model.cfg.n_layers;
    ls = malloc((L + 1) * docs.n * sizeof *ls);
    if (!ls) {
        st = status_fail(STATUS_ERR_NOMEM, "out of memory");
        goto done;
    }
    reranker_batch b = cli_batch_view(&s);
    if ((st = engine_forward_all_layers(&model, &b, (size_t)chunk, ls)) != STATUS_OK) {
        st = cli_explain_numeric(st, model_dir, &docs);
        goto done;
    }
    if (co.json) {
        cJSON *root = cJSON_CreateObject();
        if (!root || !cli_add_provenance(root, model_dir, &model, max_len, argc, argv)) {
            cJSON_Delete(root);
            st = status_fail(STATUS_ERR_NOMEM, "out of memory");
            goto done;
        }
        cJSON *pol = cJSON_AddObjectToObject(root, "policy");
        cJSON_AddStringToObject(pol, "name", "none");
        cJSON_AddObjectToObject(pol, "params");
        cJSON *q = cJSON_AddObjectToObject(root, "query");
        if (qid)
            cJSON_AddStringToObject(q, "id", qid);
        else
            cJSON_AddNullToObject(q, "id");
        cJSON_AddStringToObject(q, "text", query);
        score_print_json(root, &docs, ls, L, per_layer);
    } else {
        score_print_table(&docs, &s, ls, L, per_layer, mark);
        printf("threads: %d\n", cli_threads());
    }
    rc = 0;
done:
    if (rc != 0) fprintf(stderr, "grating score: %s\n", status_message());
    free(ls);
    cli_batch_free(&s);
    if (model_open) reranker_close(&model);
    doc_list_free(&docs);
    free(query);
    return rc;
}
