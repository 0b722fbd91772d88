// tok_bpe_qwen3.c - "bpe-qwen3-prompt": the byte-level BPE tokenizer (bpe.h)
// inside the official Qwen3-Reranker prompt (qwen_prompt.h) behind the
// tokenizer interface. The instruction is fixed at open (a copy is kept);
// without a second text the document is empty. No token types (zeros).
// n_first counts the body tokens (instruction, query and document form one
// text for the tokenizer, truncated as one); n_second is 0.
#include "tokenize/tokenizer.h"

#include "base/mem.h"
#include "tokenize/tokenizer_impl.h"
#include "tokenize/bpe.h"
#include "tokenize/qwen_prompt.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    bpe tok;
    qwen_prompt qp;
    char *instruction; // NULL: the model card's default
} bpe_qwen3;

static status bq_open(tokenizer *t, const char *dir, const char *instruction) {
    bpe_qwen3 *b = mem_calloc(MEM_OTHER, sizeof *b);
    if (!b) return STATUS_ERR_NOMEM;
    status st = bpe_load(&b->tok, dir);
    if (st != STATUS_OK) {
        mem_free(b);
        return st;
    }
    st = qwen_prompt_init(&b->qp, &b->tok);
    if (st == STATUS_OK && instruction) {
        size_t n = strlen(instruction) + 1;
        b->instruction = mem_alloc(MEM_OTHER, n);
        if (b->instruction)
            memcpy(b->instruction, instruction, n);
        else
            st = STATUS_ERR_NOMEM;
        if (st != STATUS_OK) qwen_prompt_free(&b->qp);
    }
    if (st != STATUS_OK) {
        bpe_free(&b->tok);
        mem_free(b);
        return st;
    }
    t->impl = b;
    t->source = b->tok.source;
    t->vocab_size = b->tok.vocab_size;
    return STATUS_OK;
}

static void bq_close(tokenizer *t) {
    bpe_qwen3 *b = t->impl;
    if (!b) return;
    mem_free(b->instruction);
    qwen_prompt_free(&b->qp);
    bpe_free(&b->tok);
    mem_free(b);
    t->impl = NULL;
}

static void *bq_scratch_make(void) {
    return mem_calloc(MEM_OTHER, sizeof(qwen_prompt_encoding));
}

static void bq_scratch_free(void *p) {
    qwen_prompt_encoding_free(p);
    mem_free(p);
}

static status bq_encode_pair(const tokenizer *t, const char *first, size_t first_len,
                             const char *second, size_t second_len, size_t max_len,
                             tokenizer_encoding *enc) {
    const bpe_qwen3 *b = t->impl;
    qwen_prompt_encoding *q =
        tokenizer_encoding_scratch(enc, &tokenizer_ops_bpe_qwen3, bq_scratch_make, bq_scratch_free);
    if (!q) return STATUS_ERR_NOMEM;
    if (!second) {
        second = "";
        second_len = 0;
    }
    status st = qwen_prompt_encode(&b->qp, &b->tok, b->instruction, first, first_len, second,
                                   second_len, max_len, q);
    if (st == STATUS_OK) st = tokenizer_encoding_reserve(enc, q->len);
    if (st != STATUS_OK) return st;
    memcpy(enc->ids, q->ids, q->len * sizeof *enc->ids);
    memset(enc->type_ids, 0, q->len * sizeof *enc->type_ids);
    enc->len = q->len;
    enc->n_first = q->n_body;
    enc->n_second = 0;
    enc->truncated = q->truncated;
    return STATUS_OK;
}

static int bq_token_to_id(const tokenizer *t, const char *token, int32_t *id) {
    const bpe_qwen3 *b = t->impl;
    return bpe_token_to_id(&b->tok, token, strlen(token), id);
}

static const char *bq_id_to_token(const tokenizer *t, int32_t id) {
    const bpe_qwen3 *b = t->impl;
    return bpe_id_to_token(&b->tok, id);
}

static void bq_describe(const tokenizer *t, const tokenizer_encoding *enc, char *buf, size_t cap) {
    const bpe_qwen3 *b = t->impl;
    snprintf(buf, cap, "prefix %zu, body %zu, suffix %zu%s", b->qp.n_prefix, enc->n_first,
             b->qp.n_suffix, enc->truncated ? ", body truncated" : "");
}

const tokenizer_ops tokenizer_ops_bpe_qwen3 = {
    .name = "bpe-qwen3-prompt",
    .open = bq_open,
    .close = bq_close,
    .encode_pair = bq_encode_pair,
    .token_to_id = bq_token_to_id,
    .id_to_token = bq_id_to_token,
    .describe = bq_describe,
    .default_max_len = 8192,
    .has_token_types = 0,
    .takes_instruction = 1,
};
