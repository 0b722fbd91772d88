// tok_wordpiece_bert.c - "wordpiece-bert": the BERT WordPiece tokenizer
// (wordpiece.h) behind the tokenizer interface, with its own template
// `[CLS] q [SEP] d [SEP]` (type ids 0/1, the document truncated first) and,
// without a second text, `[CLS] q [SEP]`.
#include "tokenize/tokenizer.h"

#include "base/mem.h"
#include "tokenize/tokenizer_impl.h"
#include "tokenize/wordpiece.h"

#include <stdio.h>
#include <string.h>

static status wpb_open(tokenizer *t, const char *dir, const char *instruction) {
    (void)instruction; // BERT cross-encoders have no instruction
    wordpiece *wp = mem_calloc(MEM_OTHER, sizeof *wp);
    if (!wp) return STATUS_ERR_NOMEM;
    status st = wordpiece_load(wp, dir);
    if (st != STATUS_OK) {
        mem_free(wp);
        return st;
    }
    t->impl = wp;
    t->source = wp->source;
    t->vocab_size = wp->vocab_size;
    return STATUS_OK;
}

static void wpb_close(tokenizer *t) {
    if (!t->impl) return;
    wordpiece_free(t->impl);
    mem_free(t->impl);
    t->impl = NULL;
}

static void *wpb_scratch_make(void) {
    return mem_calloc(MEM_OTHER, sizeof(wordpiece_encoding));
}

static void wpb_scratch_free(void *p) {
    wordpiece_encoding_free(p);
    mem_free(p);
}

static status wpb_encode_pair(const tokenizer *t, const char *first, size_t first_len,
                              const char *second, size_t second_len, size_t max_len,
                              tokenizer_encoding *enc) {
    const wordpiece *wp = t->impl;
    wordpiece_encoding *w = tokenizer_encoding_scratch(enc, &tokenizer_ops_wordpiece_bert,
                                                       wpb_scratch_make, wpb_scratch_free);
    if (!w) return STATUS_ERR_NOMEM;
    status st = second ? wordpiece_encode_pair(wp, first, first_len, second, second_len, max_len, w)
                       : wordpiece_encode_single(wp, first, first_len, max_len, w);
    if (st == STATUS_OK) st = tokenizer_encoding_reserve(enc, w->len);
    if (st != STATUS_OK) return st;
    if (w->len) {
        memcpy(enc->ids, w->ids, w->len * sizeof *enc->ids);
        memcpy(enc->type_ids, w->type_ids, w->len * sizeof *enc->type_ids);
    }
    enc->len = w->len;
    enc->n_first = w->n_first;
    enc->n_second = w->n_second;
    enc->truncated = w->truncated;
    return STATUS_OK;
}

static int wpb_token_to_id(const tokenizer *t, const char *token, int32_t *id) {
    return wordpiece_token_to_id(t->impl, token, strlen(token), id);
}

static const char *wpb_id_to_token(const tokenizer *t, int32_t id) {
    return wordpiece_id_to_token(t->impl, id);
}

static void wpb_describe(const tokenizer *t, const tokenizer_encoding *enc, char *buf, size_t cap) {
    (void)t;
    snprintf(buf, cap, "query %zu, document %zu%s", enc->n_first, enc->n_second,
             enc->truncated ? ", truncated" : "");
}

const tokenizer_ops tokenizer_ops_wordpiece_bert = {
    .name = "wordpiece-bert",
    .open = wpb_open,
    .close = wpb_close,
    .encode_pair = wpb_encode_pair,
    .token_to_id = wpb_token_to_id,
    .id_to_token = wpb_id_to_token,
    .describe = wpb_describe,
    .default_max_len = 512,
    .has_token_types = 1,
    .takes_instruction = 0,
};
