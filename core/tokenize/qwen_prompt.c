#include "tokenize/qwen_prompt.h"

#include <stdlib.h>
#include <string.h>

static status copy_ids(const bpe_encoding *e, int32_t **ids, size_t *n) {
    *ids = malloc((e->len ? e->len : 1) * sizeof **ids);
    if (!*ids) return status_fail(STATUS_ERR_NOMEM, "prompt template: out of memory");
    if (e->len) memcpy(*ids, e->ids, e->len * sizeof **ids);
    *n = e->len;
    return STATUS_OK;
}

static status vocab_id(const bpe *tok, const char *token, int32_t *id) {
    if (bpe_token_to_id(tok, token, strlen(token), id)) return STATUS_OK;
    return status_fail(STATUS_ERR_MISSING,
                       "%s: token '%s' is not in the vocabulary (the Qwen3-Reranker score needs "
                       "the 'yes' and 'no' logits)",
                       tok->source, token);
}

status qwen_prompt_init(qwen_prompt *qp, const bpe *tok) {
    memset(qp, 0, sizeof *qp);
    bpe_encoding e = {0};
    status st = bpe_encode(tok, QWEN_PROMPT_PREFIX, strlen(QWEN_PROMPT_PREFIX), &e);
    if (st == STATUS_OK) st = copy_ids(&e, &qp->prefix_ids, &qp->n_prefix);
    if (st == STATUS_OK) st = bpe_encode(tok, QWEN_PROMPT_SUFFIX, strlen(QWEN_PROMPT_SUFFIX), &e);
    if (st == STATUS_OK) st = copy_ids(&e, &qp->suffix_ids, &qp->n_suffix);
    if (st == STATUS_OK) st = vocab_id(tok, "yes", &qp->yes_id);
    if (st == STATUS_OK) st = vocab_id(tok, "no", &qp->no_id);
    bpe_encoding_free(&e);
    if (st != STATUS_OK) qwen_prompt_free(qp);
    return st;
}

void qwen_prompt_free(qwen_prompt *qp) {
    free(qp->prefix_ids);
    free(qp->suffix_ids);
    memset(qp, 0, sizeof *qp);
}

void qwen_prompt_encoding_free(qwen_prompt_encoding *enc) {
    free(enc->ids);
    free(enc->text);
    bpe_encoding_free(&enc->body);
    memset(enc, 0, sizeof *enc);
}

static void enc_clear(qwen_prompt_encoding *out) {
    out->len = 0;
    out->n_body = 0;
    out->truncated = 0;
}

// Appends n bytes to the body text.
static void text_put(qwen_prompt_encoding *out, size_t *at, const char *s, size_t n) {
    if (n) memcpy(out->text + *at, s, n); // s may be NULL when n == 0
    *at += n;
}

status qwen_prompt_encode(const qwen_prompt *qp, const bpe *tok, const char *instruction,
                          const char *query, size_t query_len, const char *doc, size_t doc_len,
                          size_t max_len, qwen_prompt_encoding *out) {
    enc_clear(out);
    size_t fixed = qp->n_prefix + qp->n_suffix;
    if (max_len < fixed)
        return status_fail(STATUS_ERR_ARG,
                           "max_len %zu is too small: the Qwen3-Reranker prompt template alone "
                           "takes %zu tokens",
                           max_len, fixed);
    if (!instruction) instruction = QWEN_PROMPT_DEFAULT_INSTRUCTION;
    static const char k_inst[] = "<Instruct>: ", k_query[] = "\n<Query>: ",
                      k_doc[] = "\n<Document>: ";
    size_t inst_len = strlen(instruction);
    size_t need = sizeof k_inst + sizeof k_query + sizeof k_doc + inst_len + query_len + doc_len;
    if (need > out->text_cap) {
        char *p = realloc(out->text, need);
        if (!p) return status_fail(STATUS_ERR_NOMEM, "prompt of %zu bytes: out of memory", need);
        out->text = p;
        out->text_cap = need;
    }
    size_t n = 0;
    text_put(out, &n, k_inst, sizeof k_inst - 1);
    text_put(out, &n, instruction, inst_len);
    text_put(out, &n, k_query, sizeof k_query - 1);
    text_put(out, &n, query, query_len);
    text_put(out, &n, k_doc, sizeof k_doc - 1);
    text_put(out, &n, doc, doc_len);

    size_t budget = max_len - fixed;
    status st = bpe_encode_limit(tok, out->text, n, budget, &out->body);
    if (st != STATUS_OK) return status_wrap(st, "reranker prompt");
    size_t total = fixed + out->body.len;
    if (total > out->cap) {
        int32_t *p = realloc(out->ids, total * sizeof *p);
        if (!p) return status_fail(STATUS_ERR_NOMEM, "prompt of %zu tokens: out of memory", total);
        out->ids = p;
        out->cap = total;
    }
    memcpy(out->ids, qp->prefix_ids, qp->n_prefix * sizeof *out->ids);
    if (out->body.len)
        memcpy(out->ids + qp->n_prefix, out->body.ids, out->body.len * sizeof *out->ids);
    memcpy(out->ids + qp->n_prefix + out->body.len, qp->suffix_ids,
           qp->n_suffix * sizeof *out->ids);
    out->len = total;
    out->n_body = out->body.len;
    out->truncated = out->body.truncated;
    return STATUS_OK;
}
