// tokenizer.c - the generic half of tokenizer.h: opening by registry name,
// dispatch to the implementation's ops, and the encoding buffers every
// implementation fills (so callers never see an implementation's types).
#include "tokenize/tokenizer.h"

#include "base/mem.h"

#include <stdio.h>
#include <string.h>

status tokenizer_open(tokenizer *t, const char *name, const char *dir, const char *instruction) {
    memset(t, 0, sizeof *t);
    const tokenizer_ops *ops = tokenizer_find(name);
    if (!ops) {
        char names[512] = "";
        size_t at = 0;
        for (const tokenizer_ops *const *p = tokenizer_list(); *p && at < sizeof names; p++)
            at +=
                (size_t)snprintf(names + at, sizeof names - at, "%s%s", at ? ", " : "", (*p)->name);
        return status_fail(STATUS_ERR_UNSUPPORTED, "unknown tokenizer '%s' (registered: %s)", name,
                           names);
    }
    t->ops = ops;
    status st = ops->open(t, dir, instruction);
    if (st != STATUS_OK) memset(t, 0, sizeof *t);
    return st;
}

void tokenizer_close(tokenizer *t) {
    if (t->ops) t->ops->close(t);
    memset(t, 0, sizeof *t);
}

status tokenizer_encode_pair(const tokenizer *t, const char *first, size_t first_len,
                             const char *second, size_t second_len, size_t max_len,
                             tokenizer_encoding *enc) {
    enc->len = 0;
    enc->n_first = 0;
    enc->n_second = 0;
    enc->truncated = 0;
    status st = t->ops->encode_pair(t, first, first_len, second, second_len, max_len, enc);
    if (st != STATUS_OK) {
        enc->len = 0;
        enc->n_first = 0;
        enc->n_second = 0;
        enc->truncated = 0;
    }
    return st;
}

int tokenizer_token_to_id(const tokenizer *t, const char *token, int32_t *id) {
    return t->ops->token_to_id(t, token, id);
}

const char *tokenizer_id_to_token(const tokenizer *t, int32_t id) {
    return t->ops->id_to_token(t, id);
}

void tokenizer_encoding_free(tokenizer_encoding *enc) {
    mem_free(enc->ids);
    mem_free(enc->type_ids);
    if (enc->scratch && enc->scratch_free) enc->scratch_free(enc->scratch);
    memset(enc, 0, sizeof *enc);
}

status tokenizer_encoding_reserve(tokenizer_encoding *enc, size_t len) {
    if (len <= enc->cap) return STATUS_OK;
    size_t cap = enc->cap ? enc->cap : 64;
    while (cap < len)
        cap *= 2;
    int32_t *ids = mem_alloc(MEM_OTHER, cap * sizeof *ids);
    int32_t *type_ids = mem_alloc(MEM_OTHER, cap * sizeof *type_ids);
    if (!ids || !type_ids) {
        mem_free(ids);
        mem_free(type_ids);
        return status_fail(STATUS_ERR_NOMEM, "tokenizer encoding of %zu tokens: out of memory",
                           cap);
    }
    if (enc->len) {
        memcpy(ids, enc->ids, enc->len * sizeof *ids);
        memcpy(type_ids, enc->type_ids, enc->len * sizeof *type_ids);
    }
    mem_free(enc->ids);
    mem_free(enc->type_ids);
    enc->ids = ids;
    enc->type_ids = type_ids;
    enc->cap = cap;
    return STATUS_OK;
}

void *tokenizer_encoding_scratch(tokenizer_encoding *enc, const void *owner, void *(*make)(void),
                                 void (*free_fn)(void *scratch)) {
    if (enc->scratch && enc->scratch_owner == owner) return enc->scratch;
    if (enc->scratch && enc->scratch_free) enc->scratch_free(enc->scratch);
    enc->scratch = make();
    enc->scratch_owner = enc->scratch ? owner : NULL;
    enc->scratch_free = enc->scratch ? free_fn : NULL;
    return enc->scratch;
}
