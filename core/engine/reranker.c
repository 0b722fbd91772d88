// One interface over the registered architectures (see reranker.h): generic
// code around the family's operations table, no family named.
#include "engine/reranker.h"

#include "base/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The O_DIRECT reader of the streamed layers when asked for; closes r on failure.
static status reranker_open_direct(reranker *r, const reranker_options *opt) {
    if (!opt->direct_io) return STATUS_OK;
    status st = STATUS_ERR_NOMEM;
    if ((r->dio = mem_calloc(MEM_OTHER, sizeof *r->dio)) &&
        (st = direct_io_open(r->dio, &r->model.ck, DIRECT_IO_DEFAULT_STAGING)) == STATUS_OK)
        return STATUS_OK;
    reranker_close(r);
    return st;
}

status reranker_open_ex(reranker *r, const char *dir, const char *instruction,
                        const reranker_options *opt) {
    memset(r, 0, sizeof *r);
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    status st = model_config_load(&r->cfg, path);
    if (st != STATUS_OK) return st;
    // The tokenizer first: a family's open may need it (e.g. label token ids).
    if ((st = tokenizer_open(&r->tok, r->cfg.arch->tokenizer, dir, instruction)) != STATUS_OK)
        return st;
    arch_model_options mo = {.resident_layers = opt->resident_layers,
                             .embed_cache_rows = opt->embed_cache_rows,
                             .allow_unused_tensors = opt->allow_unused_tensors,
                             .matrix_dtype = opt->matrix_dtype};
    if ((st = arch_model_open(&r->model, dir, &mo, &r->tok)) != STATUS_OK) {
        tokenizer_close(&r->tok);
        memset(r, 0, sizeof *r);
        return st;
    }
    r->cfg = r->model.cfg;
    r->tokenizer_source = r->tok.source;
    return reranker_open_direct(r, opt);
}

status reranker_open(reranker *r, const char *dir, const char *instruction) {
    reranker_options opt = {.resident_layers = 1, .embed_cache_rows = 0};
    return reranker_open_ex(r, dir, instruction, &opt);
}

status reranker_open_streamed(reranker *r, const char *dir, const char *instruction) {
    reranker_options opt = {.resident_layers = 0, .embed_cache_rows = 0};
    return reranker_open_ex(r, dir, instruction, &opt);
}

embed_cache *reranker_embed_cache(const reranker *r) {
    return r->model.word_cache;
}

int reranker_layers_resident(const reranker *r) {
    return r->model.layer_storage != NULL;
}

size_t reranker_layer_floats(const reranker *r) {
    return r->model.layer_floats;
}

status reranker_layer_read(void *ctx, int layer, float *slot) {
    const reranker *r = ctx;
    return arch_layer_read(&r->model.ck, layer, slot, r->dio);
}

void reranker_close(reranker *r) {
    arch_model_close(&r->model);
    tokenizer_close(&r->tok);
    if (r->dio) direct_io_close(r->dio);
    mem_free(r->dio);
    memset(r, 0, sizeof *r);
}

status reranker_encode_pair(const reranker *r, const char *query, const char *doc, size_t max_len,
                            tokenizer_encoding *enc) {
    return tokenizer_encode_pair(&r->tok, query, strlen(query), doc, strlen(doc), max_len, enc);
}

status reranker_check_max_len(const reranker *r, long *max_len, int given) {
    int64_t limit = r->cfg.max_position_embeddings;
    if (!given && *max_len > limit) *max_len = (long)limit;
    if (*max_len > limit)
        return status_fail(STATUS_ERR_ARG,
                           "--max-len %ld exceeds the model's max_position_embeddings %lld",
                           *max_len, (long long)limit);
    if ((int64_t)r->tok.vocab_size > r->cfg.vocab_size)
        return status_fail(STATUS_ERR_SHAPE,
                           "%s: tokenizer has %zu ids but the model's vocab_size is %lld",
                           r->tokenizer_source, r->tok.vocab_size, (long long)r->cfg.vocab_size);
    return STATUS_OK;
}

status reranker_batch_validate(const reranker *r, const reranker_batch *b) {
    status st =
        model_config_check_batch(&r->cfg, b->n_seq, b->seq_start, b->seq_len, b->n_tok, b->ids);
    if (st == STATUS_OK && r->cfg.arch->batch_validate)
        st = r->cfg.arch->batch_validate(&r->model, b);
    return st;
}

status reranker_workspace_init(const reranker *r, reranker_workspace *ws, size_t max_tok,
                               size_t max_seq_len, size_t max_seqs) {
    memset(ws, 0, sizeof *ws);
    const arch_ops *a = r->cfg.arch;
    arch_workspace_size sz = {.max_tok = max_tok, .max_seq_len = max_seq_len, .max_seqs = max_seqs};
    size_t bytes = a->workspace_bytes(&r->cfg, &sz);
    if (!(ws->mem = mem_alloc(MEM_ACTIVATIONS, bytes)))
        return status_wrap(STATUS_ERR_NOMEM, "workspace of %zu bytes for %zu tokens", bytes,
                           max_tok);
    ws->bytes = bytes;
    status st = a->workspace_bind(&r->cfg, &sz, ws->mem);
    if (st != STATUS_OK) reranker_workspace_free(ws);
    return st;
}

void reranker_workspace_free(reranker_workspace *ws) {
    mem_free(ws->mem);
    memset(ws, 0, sizeof *ws);
}

status reranker_embed(const reranker *r, const reranker_batch *b, float *h,
                      reranker_workspace *ws) {
    return r->cfg.arch->embed(&r->model, b, h, ws->mem);
}

status reranker_layer_forward(const reranker *r, size_t layer, const reranker_batch *b, float *h,
                              reranker_workspace *ws) {
    const float *slot = arch_model_layer(&r->model, layer);
    if (!slot || layer >= (size_t)r->cfg.n_layers)
        return status_fail(STATUS_ERR_ARG,
                           "layer %zu: the layers are not resident (use a weight window)", layer);
    return r->cfg.arch->layer_forward(&r->model, slot, b, h, ws->mem);
}

status reranker_layer_forward_slot(const reranker *r, const float *slot, const reranker_batch *b,
                                   float *h, reranker_workspace *ws) {
    return r->cfg.arch->layer_forward(&r->model, slot, b, h, ws->mem);
}

status reranker_score(const reranker *r, size_t layer, const reranker_batch *b, const float *h,
                      reranker_workspace *ws, float *scores) {
    return r->cfg.arch->score(&r->model, layer, b, h, ws->mem, scores);
}

double reranker_forward_flops(const reranker *r, const reranker_batch *b) {
    return arch_forward_flops(&r->cfg, b);
}
