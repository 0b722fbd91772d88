#include "engine/reranker.h"
#include "base/mem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static qwen3_batch reranker_qwen_batch(const reranker_batch *b) {
    qwen3_batch q = {.n_seq = b->n_seq,
                     .n_tok = b->n_tok,
                     .seq_start = b->seq_start,
                     .seq_len = b->seq_len,
                     .ids = b->ids};
    return q;
}

// The O_DIRECT reader of the streamed layers when asked for; closes r on failure.
static status reranker_open_direct(reranker *r, const reranker_options *opt) {
    if (!opt->direct_io) return STATUS_OK;
    const checkpoint *ck = r->arch == MODEL_ARCH_BERT_SEQ_CLS ? &r->bert.ck : &r->qwen.ck;
    status st = STATUS_ERR_NOMEM;
    if ((r->dio = mem_calloc(MEM_OTHER, sizeof *r->dio)) &&
        (st = direct_io_open(r->dio, ck, DIRECT_IO_DEFAULT_STAGING)) == STATUS_OK)
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
    r->arch = r->cfg.arch;
    checkpoint_options ck_opt = {.allow_unused_tensors = opt->allow_unused_tensors};
    if (r->arch == MODEL_ARCH_BERT_SEQ_CLS) {
        if ((st = bert_model_open_opts(&r->bert, dir, opt->resident_layers, opt->embed_cache_rows,
                                       &ck_opt)))
            return st;
        if ((st = wordpiece_load(&r->wp, dir)) != STATUS_OK) {
            bert_model_free(&r->bert);
            return st;
        }
        r->tokenizer_source = r->wp.source;
        return reranker_open_direct(r, opt);
    }
    // Qwen3: the tokenizer first (it gives the yes/no ids of the head).
    if ((st = bpe_load(&r->bpe_tok, dir)) != STATUS_OK) return st;
    if ((st = qwen_prompt_init(&r->prompt, &r->bpe_tok)) != STATUS_OK) {
        bpe_free(&r->bpe_tok);
        return st;
    }
    if ((st = qwen3_model_open_opts(&r->qwen, dir, r->prompt.yes_id, r->prompt.no_id,
                                    opt->resident_layers, opt->embed_cache_rows, &ck_opt))) {
        qwen_prompt_free(&r->prompt);
        bpe_free(&r->bpe_tok);
        return st;
    }
    if (instruction && !(r->instruction = strdup(instruction))) {
        reranker_close(r);
        return status_fail(STATUS_ERR_NOMEM, "out of memory");
    }
    r->tokenizer_source = r->bpe_tok.source;
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
    return r->arch == MODEL_ARCH_BERT_SEQ_CLS ? r->bert.word_cache : r->qwen.word_cache;
}

int reranker_layers_resident(const reranker *r) {
    return r->arch == MODEL_ARCH_BERT_SEQ_CLS ? r->bert.layers != NULL : r->qwen.layers != NULL;
}

size_t reranker_layer_floats(const reranker *r) {
    return r->arch == MODEL_ARCH_BERT_SEQ_CLS ? bert_layer_floats(&r->cfg)
                                              : qwen3_layer_floats(&r->cfg);
}

status reranker_layer_read(void *ctx, int layer, float *slot) {
    const reranker *r = ctx;
    return r->arch == MODEL_ARCH_BERT_SEQ_CLS
               ? bert_layer_read_io(&r->bert.ck, layer, slot, r->dio)
               : qwen3_layer_read_io(&r->qwen.ck, layer, slot, r->dio);
}

status reranker_layer_forward_slot(const reranker *r, const float *slot, const reranker_batch *b,
                                   float *h, reranker_workspace *ws) {
    if (r->arch == MODEL_ARCH_BERT_SEQ_CLS) {
        bert_layer_weights w;
        bert_layer_bind(&r->cfg, (float *)slot, &w);
        bert_layer_forward(&r->bert, &w, b, h, &ws->bert);
        return STATUS_OK;
    }
    qwen3_layer_weights w;
    qwen3_layer_bind(&r->cfg, (float *)slot, &w);
    qwen3_batch q = reranker_qwen_batch(b);
    return qwen3_layer_forward(&r->qwen, &w, &q, h, &ws->qwen);
}

void reranker_close(reranker *r) {
    if (r->arch == MODEL_ARCH_BERT_SEQ_CLS) {
        bert_model_free(&r->bert);
        wordpiece_free(&r->wp);
    } else {
        qwen3_model_free(&r->qwen);
        qwen_prompt_free(&r->prompt);
        bpe_free(&r->bpe_tok);
    }
    if (r->dio) direct_io_close(r->dio);
    mem_free(r->dio);
    free(r->instruction);
    memset(r, 0, sizeof *r);
}

status reranker_encode_pair(const reranker *r, const char *query, const char *doc, size_t max_len,
                            reranker_encoding *enc) {
    const int32_t *ids;
    const int32_t *types = NULL;
    size_t len;
    status st;
    if (r->arch == MODEL_ARCH_BERT_SEQ_CLS) {
        st = wordpiece_encode_pair(&r->wp, query, strlen(query), doc, strlen(doc), max_len,
                                   &enc->wp_enc);
        if (st != STATUS_OK) return st;
        ids = enc->wp_enc.ids;
        types = enc->wp_enc.type_ids;
        len = enc->wp_enc.len;
        enc->truncated = enc->wp_enc.truncated;
    } else {
        st = qwen_prompt_encode(&r->prompt, &r->bpe_tok, r->instruction, query, strlen(query), doc,
                                strlen(doc), max_len, &enc->qp_enc);
        if (st != STATUS_OK) return st;
        ids = enc->qp_enc.ids;
        len = enc->qp_enc.len;
        enc->truncated = enc->qp_enc.truncated;
    }
    if (len > enc->cap) {
        int32_t *a = realloc(enc->ids, len * sizeof *a), *b = NULL;
        if (a) enc->ids = a;
        if (a) b = realloc(enc->type_ids, len * sizeof *b);
        if (!a || !b)
            return status_fail(STATUS_ERR_NOMEM, "encoding of %zu tokens: out of memory", len);
        enc->type_ids = b;
        enc->cap = len;
    }
    memcpy(enc->ids, ids, len * sizeof *ids);
    if (types)
        memcpy(enc->type_ids, types, len * sizeof *types);
    else
        memset(enc->type_ids, 0, len * sizeof *enc->type_ids);
    enc->len = len;
    return STATUS_OK;
}

void reranker_encoding_free(reranker_encoding *enc) {
    free(enc->ids);
    free(enc->type_ids);
    wordpiece_encoding_free(&enc->wp_enc);
    qwen_prompt_encoding_free(&enc->qp_enc);
    memset(enc, 0, sizeof *enc);
}

status reranker_check_max_len(const reranker *r, long *max_len, int given) {
    int64_t limit = r->cfg.max_position_embeddings;
    if (!given && *max_len > limit) *max_len = (long)limit;
    if (*max_len > limit)
        return status_fail(STATUS_ERR_ARG,
                           "--max-len %ld exceeds the model's max_position_embeddings %lld",
                           *max_len, (long long)limit);
    size_t tok_vocab =
        r->arch == MODEL_ARCH_BERT_SEQ_CLS ? r->wp.vocab_size : r->bpe_tok.vocab_size;
    if ((int64_t)tok_vocab > r->cfg.vocab_size)
        return status_fail(STATUS_ERR_SHAPE,
                           "%s: tokenizer has %zu ids but the model's vocab_size is %lld",
                           r->tokenizer_source, tok_vocab, (long long)r->cfg.vocab_size);
    return STATUS_OK;
}

status reranker_batch_validate(const reranker *r, const reranker_batch *b) {
    if (r->arch == MODEL_ARCH_BERT_SEQ_CLS) return bert_batch_validate(&r->bert, b);
    if (b->n_seq == 0) return status_fail(STATUS_ERR_ARG, "empty batch: no candidates to score");
    qwen3_batch q = reranker_qwen_batch(b);
    return qwen3_batch_validate(&r->qwen, &q);
}

status reranker_workspace_init(const reranker *r, reranker_workspace *ws, size_t max_tok,
                               size_t max_seq_len, size_t max_seqs) {
    memset(ws, 0, sizeof *ws);
    ws->arch = r->arch;
    if (r->arch == MODEL_ARCH_BERT_SEQ_CLS) {
        // The scoring step gathers 2 rows per sequence into the token buffers.
        size_t tok = max_tok > 2 * max_seqs ? max_tok : 2 * max_seqs;
        return bert_workspace_init(&ws->bert, &r->cfg, tok, max_seq_len);
    }
    return qwen3_workspace_init(&ws->qwen, &r->cfg, max_tok, max_seq_len, max_seqs);
}

void reranker_workspace_free(reranker_workspace *ws) {
    if (ws->arch == MODEL_ARCH_BERT_SEQ_CLS)
        bert_workspace_free(&ws->bert);
    else
        qwen3_workspace_free(&ws->qwen);
}

status reranker_embed(const reranker *r, const reranker_batch *b, float *h) {
    if (r->arch == MODEL_ARCH_BERT_SEQ_CLS) return bert_embed(&r->bert, b, h);
    qwen3_batch q = reranker_qwen_batch(b);
    return qwen3_embed(&r->qwen, &q, h);
}

status reranker_layer_forward(const reranker *r, size_t layer, const reranker_batch *b, float *h,
                              reranker_workspace *ws) {
    if (!reranker_layers_resident(r))
        return status_fail(STATUS_ERR_ARG,
                           "layer %zu: the layers are not resident (use a weight window)", layer);
    if (r->arch == MODEL_ARCH_BERT_SEQ_CLS) {
        bert_layer_forward(&r->bert, &r->bert.layers[layer], b, h, &ws->bert);
        return STATUS_OK;
    }
    qwen3_batch q = reranker_qwen_batch(b);
    return qwen3_layer_forward(&r->qwen, &r->qwen.layers[layer], &q, h, &ws->qwen);
}

status reranker_score(const reranker *r, const reranker_batch *b, const float *h,
                      reranker_workspace *ws, float *scores) {
    if (r->arch == MODEL_ARCH_BERT_SEQ_CLS) {
        bert_score_first_tokens(&r->bert, b, h, &ws->bert, scores);
        return STATUS_OK;
    }
    qwen3_batch q = reranker_qwen_batch(b);
    return qwen3_score_last_tokens(&r->qwen, &q, h, &ws->qwen, scores);
}

status reranker_forward_all_layers(const reranker *r, const reranker_batch *b, size_t chunk,
                                   float *layer_scores) {
    if (r->arch == MODEL_ARCH_BERT_SEQ_CLS)
        return bert_forward_all_layers(&r->bert, b, chunk, layer_scores);
    qwen3_batch q = reranker_qwen_batch(b);
    return qwen3_forward_all_layers(&r->qwen, &q, chunk, layer_scores);
}

double reranker_forward_flops(const reranker *r, const reranker_batch *b) {
    if (r->arch == MODEL_ARCH_BERT_SEQ_CLS) return bert_forward_flops(&r->cfg, b);
    qwen3_batch q = reranker_qwen_batch(b);
    return qwen3_forward_flops(&r->cfg, &q);
}
