#include "model/bert/bert.h"
#include "base/mem.h"
#include "model/ops.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

// The tensors of one layer in slot order. numel = a*H*H + b*H*F + c*H + d*F.
typedef struct {
    const char *suffix;
    int hh, hi, h, i;
} bert_layer_part;

static const bert_layer_part bert_layer_parts[] = {
    {"attention.self.query.weight", 1, 0, 0, 0},
    {"attention.self.key.weight", 1, 0, 0, 0},
    {"attention.self.value.weight", 1, 0, 0, 0},
    {"attention.self.query.bias", 0, 0, 1, 0},
    {"attention.self.key.bias", 0, 0, 1, 0},
    {"attention.self.value.bias", 0, 0, 1, 0},
    {"attention.output.dense.weight", 1, 0, 0, 0},
    {"attention.output.dense.bias", 0, 0, 1, 0},
    {"attention.output.LayerNorm.weight", 0, 0, 1, 0},
    {"attention.output.LayerNorm.bias", 0, 0, 1, 0},
    {"intermediate.dense.weight", 0, 1, 0, 0},
    {"intermediate.dense.bias", 0, 0, 0, 1},
    {"output.dense.weight", 0, 1, 0, 0},
    {"output.dense.bias", 0, 0, 1, 0},
    {"output.LayerNorm.weight", 0, 0, 1, 0},
    {"output.LayerNorm.bias", 0, 0, 1, 0},
};
enum { BERT_N_LAYER_PARTS = sizeof bert_layer_parts / sizeof bert_layer_parts[0] };

static size_t bert_part_numel(const model_config *cfg, const bert_layer_part *p) {
    size_t H = (size_t)cfg->hidden_size, F = (size_t)cfg->intermediate_size;
    return p->hh * H * H + p->hi * H * F + p->h * H + p->i * F;
}

size_t bert_layer_floats(const model_config *cfg) {
    size_t n = 0;
    for (int k = 0; k < BERT_N_LAYER_PARTS; k++)
        n += bert_part_numel(cfg, &bert_layer_parts[k]);
    return n;
}

void bert_layer_bind(const model_config *cfg, float *slot, bert_layer_weights *w) {
    float *parts[BERT_N_LAYER_PARTS];
    float *p = slot;
    for (int k = 0; k < BERT_N_LAYER_PARTS; k++) {
        parts[k] = p;
        p += bert_part_numel(cfg, &bert_layer_parts[k]);
    }
    w->wqkv = parts[0];
    w->bqkv = parts[3];
    w->wo = parts[6];
    w->bo = parts[7];
    w->ln1_g = parts[8];
    w->ln1_b = parts[9];
    w->w1 = parts[10];
    w->b1 = parts[11];
    w->w2 = parts[12];
    w->b2 = parts[13];
    w->ln2_g = parts[14];
    w->ln2_b = parts[15];
}

status bert_layer_read_io(const checkpoint *ck, int layer, float *slot, direct_io *io) {
    const model_config *cfg = &ck->cfg;
    float *p = slot;
    for (int k = 0; k < BERT_N_LAYER_PARTS; k++) {
        char name[TENSOR_NAME_CAP];
        snprintf(name, sizeof name, "bert.encoder.layer.%d.%s", layer, bert_layer_parts[k].suffix);
        size_t numel = bert_part_numel(cfg, &bert_layer_parts[k]);
        status st = io ? direct_io_read_f32(io, ck, name, p, numel)
                       : checkpoint_read_f32(ck, name, p, numel);
        if (st != STATUS_OK) return st;
        p += numel;
    }
    return STATUS_OK;
}

typedef struct {
    const char *name;
    float **dst;
    size_t numel;
} bert_named_buffer;

static status bert_read_all(const checkpoint *ck, const bert_named_buffer *bufs, size_t n) {
    for (size_t i = 0; i < n; i++) {
        status st = checkpoint_read_f32(ck, bufs[i].name, *bufs[i].dst, bufs[i].numel);
        if (st != STATUS_OK) return st;
    }
    return STATUS_OK;
}

status bert_model_open_ex(bert_model *m, const char *dir, int resident, size_t embed_cache_rows) {
    return bert_model_open_opts(m, dir, resident, embed_cache_rows, NULL);
}

status bert_model_open_opts(bert_model *m, const char *dir, int resident, size_t embed_cache_rows,
                            const checkpoint_options *ck_opt) {
    memset(m, 0, sizeof *m);
    status st = checkpoint_open_ex(&m->ck, dir, ck_opt);
    if (st != STATUS_OK) return st;
    m->cfg = m->ck.cfg;
    const model_config *c = &m->cfg;
    if (c->arch != MODEL_ARCH_BERT_SEQ_CLS) {
        st = status_fail(STATUS_ERR_UNSUPPORTED, "%s: architecture %s is not a BERT cross-encoder",
                         dir, c->arch_name);
        goto fail;
    }
    size_t H = (size_t)c->hidden_size, V = (size_t)c->vocab_size;
    size_t P = (size_t)c->max_position_embeddings, T = (size_t)c->type_vocab_size;
    size_t C = (size_t)c->num_labels;

    size_t word_floats = embed_cache_rows ? 0 : V * H;
    size_t embed_floats = word_floats + P * H + T * H + 2 * H;
    m->embed_storage = mem_alloc(MEM_EMBEDDINGS, embed_floats * sizeof(float));
    size_t head_floats = H * H + H + C * H + C;
    m->head_storage = mem_alloc(MEM_WEIGHTS, head_floats * sizeof(float));
    if (!m->embed_storage || !m->head_storage) {
        st = STATUS_ERR_NOMEM;
        goto fail;
    }
    m->emb.word = embed_cache_rows ? NULL : m->embed_storage;
    m->emb.pos = m->embed_storage + word_floats;
    m->emb.type = m->emb.pos + P * H;
    m->emb.ln_g = m->emb.type + T * H;
    m->emb.ln_b = m->emb.ln_g + H;
    m->head.pool_w = m->head_storage;
    m->head.pool_b = m->head.pool_w + H * H;
    m->head.cls_w = m->head.pool_b + H;
    m->head.cls_b = m->head.cls_w + C * H;
    const bert_named_buffer bufs[] = {
        {"bert.embeddings.word_embeddings.weight", &m->emb.word, V * H},
        {"bert.embeddings.position_embeddings.weight", &m->emb.pos, P * H},
        {"bert.embeddings.token_type_embeddings.weight", &m->emb.type, T * H},
        {"bert.embeddings.LayerNorm.weight", &m->emb.ln_g, H},
        {"bert.embeddings.LayerNorm.bias", &m->emb.ln_b, H},
        {"bert.pooler.dense.weight", &m->head.pool_w, H * H},
        {"bert.pooler.dense.bias", &m->head.pool_b, H},
        {"classifier.weight", &m->head.cls_w, C * H},
        {"classifier.bias", &m->head.cls_b, C},
    };
    // With the cache, the word table (first entry) is not read here.
    size_t skip = embed_cache_rows ? 1 : 0;
    st = bert_read_all(&m->ck, bufs + skip, sizeof bufs / sizeof bufs[0] - skip);
    if (st != STATUS_OK) goto fail;
    if (embed_cache_rows) {
        if (!(m->word_cache = mem_calloc(MEM_OTHER, sizeof *m->word_cache))) {
            st = STATUS_ERR_NOMEM;
            goto fail;
        }
        st = embed_cache_init(m->word_cache, &m->ck, "bert.embeddings.word_embeddings.weight",
                              embed_cache_rows);
        if (st != STATUS_OK) goto fail;
    }

    if (resident) {
        size_t L = (size_t)c->n_layers, per = bert_layer_floats(c);
        m->layer_storage = mem_alloc(MEM_WEIGHTS, L * per * sizeof(float));
        m->layers = mem_alloc(MEM_OTHER, L * sizeof *m->layers);
        if (!m->layer_storage || !m->layers) {
            st = STATUS_ERR_NOMEM;
            goto fail;
        }
        for (size_t l = 0; l < L; l++) {
            st = bert_layer_read(&m->ck, (int)l, m->layer_storage + l * per);
            if (st != STATUS_OK) goto fail;
            bert_layer_bind(c, m->layer_storage + l * per, &m->layers[l]);
        }
    }
    return STATUS_OK;
fail:
    bert_model_free(m);
    return st;
}

void bert_model_free(bert_model *m) {
    if (m->word_cache) embed_cache_free(m->word_cache);
    mem_free(m->word_cache);
    mem_free(m->embed_storage);
    mem_free(m->head_storage);
    mem_free(m->layer_storage);
    mem_free(m->layers);
    checkpoint_close(&m->ck);
    memset(m, 0, sizeof *m);
}

status bert_batch_validate(const bert_model *m, const bert_batch *b) {
    const model_config *c = &m->cfg;
    status st = model_config_check_batch(c, b->n_seq, b->seq_start, b->seq_len, b->n_tok, b->ids);
    if (st != STATUS_OK) return st;
    for (size_t t = 0; t < b->n_tok; t++)
        if (b->type_ids[t] < 0 || b->type_ids[t] >= c->type_vocab_size)
            return status_fail(STATUS_ERR_ARG, "batch: token %zu has type id %d outside [0, %lld)",
                               t, b->type_ids[t], (long long)c->type_vocab_size);
    return STATUS_OK;
}

status bert_workspace_init(bert_workspace *ws, const model_config *cfg, size_t max_tok,
                           size_t max_seq_len) {
    memset(ws, 0, sizeof *ws);
    size_t H = (size_t)cfg->hidden_size, F = (size_t)cfg->intermediate_size;
    ws->max_tok = max_tok;
    ws->max_seq_len = max_seq_len;
    ws->qkv = mem_alloc(MEM_ACTIVATIONS, max_tok * 3 * H * sizeof(float));
    ws->ctx = mem_alloc(MEM_ACTIVATIONS, max_tok * H * sizeof(float));
    ws->tmp = mem_alloc(MEM_ACTIVATIONS, max_tok * H * sizeof(float));
    ws->ffn = mem_alloc(MEM_ACTIVATIONS, max_tok * F * sizeof(float));
    ws->att = mem_alloc(MEM_ACTIVATIONS, max_seq_len * max_seq_len * sizeof(float));
    ws->pool = mem_alloc(MEM_ACTIVATIONS, max_tok * H * sizeof(float));
    if (!ws->qkv || !ws->ctx || !ws->tmp || !ws->ffn || !ws->att || !ws->pool) {
        bert_workspace_free(ws);
        return STATUS_ERR_NOMEM;
    }
    return STATUS_OK;
}

void bert_workspace_free(bert_workspace *ws) {
    mem_free(ws->qkv);
    mem_free(ws->ctx);
    mem_free(ws->tmp);
    mem_free(ws->ffn);
    mem_free(ws->att);
    mem_free(ws->pool);
    memset(ws, 0, sizeof *ws);
}

status bert_embed(const bert_model *m, const bert_batch *b, float *h) {
    size_t H = (size_t)m->cfg.hidden_size;
    // Cached: the word rows are gathered into h first, then summed in place
    // in the same order (word + type + pos), so the result is bit-identical.
    if (!m->emb.word) {
        status st = embed_cache_gather(m->word_cache, b->ids, b->n_tok, h);
        if (st != STATUS_OK) return st;
    }
    for (size_t s = 0; s < b->n_seq; s++) {
        for (size_t p = 0; p < b->seq_len[s]; p++) {
            size_t t = b->seq_start[s] + p;
            float *row = h + t * H;
            const float *we = m->emb.word ? m->emb.word + (size_t)b->ids[t] * H : row;
            const float *pe = m->emb.pos + p * H;
            const float *te = m->emb.type + (size_t)b->type_ids[t] * H;
            for (size_t j = 0; j < H; j++)
                row[j] = we[j] + te[j] + pe[j];
        }
    }
    ops_layernorm_rows(h, b->n_tok, H, m->emb.ln_g, m->emb.ln_b, (float)m->cfg.layer_norm_eps);
    return STATUS_OK;
}

// Multi-head self-attention of each sequence over its own tokens:
// ctx (n_tok, H) from qkv (n_tok, 3H).
static void bert_attention(const model_config *c, const bert_batch *b, bert_workspace *ws) {
    size_t H = (size_t)c->hidden_size, nh = (size_t)c->n_heads, d = (size_t)c->head_dim;
    float scale = 1.0f / sqrtf((float)d);
    for (size_t s = 0; s < b->n_seq; s++) {
        size_t T = b->seq_len[s], t0 = b->seq_start[s];
        for (size_t hd = 0; hd < nh; hd++) {
            const float *q = ws->qkv + t0 * 3 * H + hd * d;         // (T, d), row stride 3H
            const float *k = ws->qkv + t0 * 3 * H + H + hd * d;     // (T, d)
            const float *v = ws->qkv + t0 * 3 * H + 2 * H + hd * d; // (T, d)
            float *att = ws->att;                                   // (T, T)
            float *out = ws->ctx + t0 * H + hd * d;                 // (T, d), row stride H
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)T, (int)T, (int)d, 1.0f, q,
                        (int)(3 * H), k, (int)(3 * H), 0.0f, att, (int)T);
            ops_softmax_rows(att, T, T, scale);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)T, (int)d, (int)T, 1.0f,
                        att, (int)T, v, (int)(3 * H), 0.0f, out, (int)H);
        }
    }
}

void bert_layer_forward(const bert_model *m, const bert_layer_weights *w, const bert_batch *b,
                        float *h, bert_workspace *ws) {
    const model_config *c = &m->cfg;
    size_t n = b->n_tok, H = (size_t)c->hidden_size, F = (size_t)c->intermediate_size;
    float eps = (float)c->layer_norm_eps;
    // Self-attention block: h = LN(h + ctx Wo^T + bo).
    ops_linear(h, n, H, w->wqkv, w->bqkv, 3 * H, ws->qkv, 0);
    bert_attention(c, b, ws);
    memcpy(ws->tmp, h, n * H * sizeof *h);
    ops_linear(ws->ctx, n, H, w->wo, w->bo, H, ws->tmp, 1);
    ops_layernorm_rows(ws->tmp, n, H, w->ln1_g, w->ln1_b, eps);
    // Feed-forward block: h = LN(a + gelu(a W1^T + b1) W2^T + b2), a = attention output.
    ops_linear(ws->tmp, n, H, w->w1, w->b1, F, ws->ffn, 0);
    ops_gelu_erf(ws->ffn, n * F);
    memcpy(h, ws->tmp, n * H * sizeof *h);
    ops_linear(ws->ffn, n, F, w->w2, w->b2, H, h, 1);
    ops_layernorm_rows(h, n, H, w->ln2_g, w->ln2_b, eps);
}

void bert_score_first_tokens(const bert_model *m, const bert_batch *b, const float *h,
                             bert_workspace *ws, float *scores) {
    size_t H = (size_t)m->cfg.hidden_size, C = (size_t)m->cfg.num_labels, n = b->n_seq;
    float *first = ws->pool;          // (n, H)
    float *pooled = ws->pool + n * H; // (n, H)
    float *logits = ws->qkv;          // (n, C)
    for (size_t s = 0; s < n; s++)
        memcpy(first + s * H, h + b->seq_start[s] * H, H * sizeof *h);
    ops_linear(first, n, H, m->head.pool_w, m->head.pool_b, H, pooled, 0);
    ops_tanh(pooled, n * H);
    ops_linear(pooled, n, H, m->head.cls_w, m->head.cls_b, C, logits, 0);
    for (size_t s = 0; s < n; s++)
        scores[s] = logits[s * C];
}

// A view of sequences [s0, s0 + count) of `b`, with token offsets relative to
// the chunk's first token (*tok0); `starts` (count,) backs view->seq_start.
static void bert_chunk_view(const bert_batch *b, size_t s0, size_t count, size_t *starts,
                            bert_batch *view, size_t *tok0) {
    *tok0 = b->seq_start[s0];
    size_t n_tok = 0;
    for (size_t i = 0; i < count; i++) {
        starts[i] = b->seq_start[s0 + i] - *tok0;
        n_tok += b->seq_len[s0 + i];
    }
    view->n_seq = count;
    view->n_tok = n_tok;
    view->seq_start = starts;
    view->seq_len = b->seq_len + s0;
    view->ids = b->ids + *tok0;
    view->type_ids = b->type_ids + *tok0;
}

status bert_forward_all_layers(const bert_model *m, const bert_batch *b, size_t chunk,
                               float *layer_scores) {
    status st = bert_batch_validate(m, b);
    if (st != STATUS_OK) return st;
    if (!m->layers)
        return status_fail(STATUS_ERR_ARG, "bert_forward_all_layers: layers are not resident");
    size_t n = b->n_seq, H = (size_t)m->cfg.hidden_size, L = (size_t)m->cfg.n_layers;
    if (chunk == 0 || chunk > n) chunk = n;
    size_t max_len = 0, max_chunk_tok = 0;
    for (size_t s = 0; s < n; s++)
        max_len = b->seq_len[s] > max_len ? b->seq_len[s] : max_len;
    for (size_t s0 = 0; s0 < n; s0 += chunk) {
        size_t tok = 0;
        for (size_t s = s0; s < s0 + chunk && s < n; s++)
            tok += b->seq_len[s];
        max_chunk_tok = tok > max_chunk_tok ? tok : max_chunk_tok;
    }
    // The scoring step gathers n first-token rows twice into ws->pool.
    size_t ws_tok = max_chunk_tok > 2 * n ? max_chunk_tok : 2 * n;
    bert_workspace ws;
    st = bert_workspace_init(&ws, &m->cfg, ws_tok, max_len);
    if (st != STATUS_OK) return st;
    float *h = mem_alloc(MEM_HIDDEN, b->n_tok * H * sizeof *h); // (n_tok, H)
    size_t *starts = mem_alloc(MEM_OTHER, chunk * sizeof *starts);
    if (!h || !starts) {
        mem_free(h);
        mem_free(starts);
        bert_workspace_free(&ws);
        return STATUS_ERR_NOMEM;
    }
    if ((st = bert_embed(m, b, h)) != STATUS_OK) {
        mem_free(h);
        mem_free(starts);
        bert_workspace_free(&ws);
        return st;
    }
    bert_score_first_tokens(m, b, h, &ws, layer_scores);
    for (size_t l = 0; l < L; l++) {
        for (size_t s0 = 0; s0 < n; s0 += chunk) {
            size_t count = s0 + chunk <= n ? chunk : n - s0, tok0;
            bert_batch view;
            bert_chunk_view(b, s0, count, starts, &view, &tok0);
            bert_layer_forward(m, &m->layers[l], &view, h + tok0 * H, &ws);
        }
        bert_score_first_tokens(m, b, h, &ws, layer_scores + (l + 1) * n);
    }
    mem_free(h);
    mem_free(starts);
    bert_workspace_free(&ws);
    for (size_t l = 0; l <= L; l++) {
        for (size_t s = 0; s < n; s++) {
            if (!isfinite(layer_scores[l * n + s]))
                return status_fail(STATUS_ERR_NUMERIC,
                                   "forward: candidate %zu has a non-finite score at layer %zu", s,
                                   l);
        }
    }
    return STATUS_OK;
}

double bert_forward_flops(const model_config *c, const bert_batch *b) {
    double H = (double)c->hidden_size, F = (double)c->intermediate_size;
    double per_tok_linear = 2.0 * (3 * H * H + H * H + 2 * H * F);
    double attn = 0.0;
    for (size_t s = 0; s < b->n_seq; s++) {
        double T = (double)b->seq_len[s];
        attn += 2.0 * 2.0 * T * T * H; // QK^T and PV over all heads
    }
    double layer = per_tok_linear * (double)b->n_tok + attn;
    double head = 2.0 * (double)b->n_seq * (H * H + H * (double)c->num_labels);
    return (double)c->n_layers * layer + (double)(c->n_layers + 1) * head;
}
