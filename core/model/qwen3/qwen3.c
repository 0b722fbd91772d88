#include "model/qwen3/qwen3.h"
#include "base/mem.h"
#include "model/ops.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

// The tensors of one layer in slot order. Shapes by kind, with
// Q = n_heads * head_dim, KV = n_kv_heads * head_dim.
typedef enum {
    QWEN3_H,  // (H,)
    QWEN3_D,  // (head_dim,)
    QWEN3_QH, // (Q, H)
    QWEN3_KH, // (KV, H)
    QWEN3_HQ, // (H, Q)
    QWEN3_FH, // (F, H)
    QWEN3_HF, // (H, F)
} qwen3_part_kind;

typedef struct {
    const char *suffix;
    qwen3_part_kind kind;
} qwen3_layer_part;

// q, k, v adjacent (one sgemm for all three projections), gate and up
// adjacent (one sgemm for both).
static const qwen3_layer_part qwen3_layer_parts[] = {
    {"input_layernorm.weight", QWEN3_H},   {"self_attn.q_proj.weight", QWEN3_QH},
    {"self_attn.k_proj.weight", QWEN3_KH}, {"self_attn.v_proj.weight", QWEN3_KH},
    {"self_attn.o_proj.weight", QWEN3_HQ}, {"self_attn.q_norm.weight", QWEN3_D},
    {"self_attn.k_norm.weight", QWEN3_D},  {"post_attention_layernorm.weight", QWEN3_H},
    {"mlp.gate_proj.weight", QWEN3_FH},    {"mlp.up_proj.weight", QWEN3_FH},
    {"mlp.down_proj.weight", QWEN3_HF},
};
enum { QWEN3_N_LAYER_PARTS = sizeof qwen3_layer_parts / sizeof qwen3_layer_parts[0] };

static size_t qwen3_part_numel(const model_config *c, qwen3_part_kind kind) {
    size_t H = (size_t)c->hidden_size, F = (size_t)c->intermediate_size;
    size_t D = (size_t)c->head_dim, Q = (size_t)c->n_heads * D, KV = (size_t)c->n_kv_heads * D;
    switch (kind) {
    case QWEN3_H:
        return H;
    case QWEN3_D:
        return D;
    case QWEN3_QH:
        return Q * H;
    case QWEN3_KH:
        return KV * H;
    case QWEN3_HQ:
        return H * Q;
    case QWEN3_FH:
        return F * H;
    case QWEN3_HF:
        return H * F;
    }
    return 0;
}

size_t qwen3_layer_floats(const model_config *cfg) {
    size_t n = 0;
    for (int k = 0; k < QWEN3_N_LAYER_PARTS; k++)
        n += qwen3_part_numel(cfg, qwen3_layer_parts[k].kind);
    return n;
}

void qwen3_layer_bind(const model_config *cfg, float *slot, qwen3_layer_weights *w) {
    float *parts[QWEN3_N_LAYER_PARTS];
    float *p = slot;
    for (int k = 0; k < QWEN3_N_LAYER_PARTS; k++) {
        parts[k] = p;
        p += qwen3_part_numel(cfg, qwen3_layer_parts[k].kind);
    }
    w->ln1 = parts[0];
    w->wqkv = parts[1];
    w->wo = parts[4];
    w->q_norm = parts[5];
    w->k_norm = parts[6];
    w->ln2 = parts[7];
    w->wgu = parts[8];
    w->wdown = parts[10];
}

status qwen3_layer_read_io(const checkpoint *ck, int layer, float *slot, direct_io *io) {
    const model_config *cfg = &ck->cfg;
    float *p = slot;
    for (int k = 0; k < QWEN3_N_LAYER_PARTS; k++) {
        char name[TENSOR_NAME_CAP];
        snprintf(name, sizeof name, "model.layers.%d.%s", layer, qwen3_layer_parts[k].suffix);
        size_t numel = qwen3_part_numel(cfg, qwen3_layer_parts[k].kind);
        status st = io ? direct_io_read_f32(io, ck, name, p, numel)
                       : checkpoint_read_f32(ck, name, p, numel);
        if (st != STATUS_OK) return st;
        p += numel;
    }
    return STATUS_OK;
}

status qwen3_model_open_ex(qwen3_model *m, const char *dir, int32_t yes_id, int32_t no_id,
                           int resident, size_t embed_cache_rows) {
    return qwen3_model_open_opts(m, dir, yes_id, no_id, resident, embed_cache_rows, NULL);
}

status qwen3_model_open_opts(qwen3_model *m, const char *dir, int32_t yes_id, int32_t no_id,
                             int resident, size_t embed_cache_rows,
                             const checkpoint_options *ck_opt) {
    memset(m, 0, sizeof *m);
    status st = checkpoint_open_ex(&m->ck, dir, ck_opt);
    if (st != STATUS_OK) return st;
    m->cfg = m->ck.cfg;
    const model_config *c = &m->cfg;
    if (c->arch != MODEL_ARCH_QWEN3_RERANKER) {
        st = status_fail(STATUS_ERR_UNSUPPORTED,
                         "%s: architecture %s is not a Qwen3 reranker (expected Qwen3ForCausalLM)",
                         dir, c->arch_name);
        goto fail;
    }
    int32_t ids[2] = {yes_id, no_id};
    const char *what[2] = {"yes", "no"};
    for (int i = 0; i < 2; i++) {
        if (ids[i] < 0 || ids[i] >= c->vocab_size) {
            st = status_fail(STATUS_ERR_ARG,
                             "%s: the \"%s\" token id %d is outside the vocabulary [0, %lld) of "
                             "%s/config.json",
                             dir, what[i], ids[i], (long long)c->vocab_size, dir);
            goto fail;
        }
    }
    if (yes_id == no_id) {
        st = status_fail(STATUS_ERR_ARG, "%s: the \"yes\" and \"no\" token ids are both %d", dir,
                         yes_id);
        goto fail;
    }
    m->yes_id = yes_id;
    m->no_id = no_id;
    size_t H = (size_t)c->hidden_size, V = (size_t)c->vocab_size;

    if (embed_cache_rows)
        m->word_cache = mem_calloc(MEM_OTHER, sizeof *m->word_cache);
    else
        m->embed = mem_alloc(MEM_EMBEDDINGS, V * H * sizeof(float));
    m->head_storage = mem_alloc(MEM_WEIGHTS, 3 * H * sizeof(float));
    if ((!m->embed && !m->word_cache) || !m->head_storage) {
        st = status_wrap(STATUS_ERR_NOMEM, "%s", dir);
        goto fail;
    }
    m->final_norm = m->head_storage;
    m->yes_no = m->head_storage + H;
    const char *head = c->tie_word_embeddings ? "model.embed_tokens.weight" : "lm_head.weight";
    if ((st = m->embed ? checkpoint_read_f32(&m->ck, "model.embed_tokens.weight", m->embed, V * H)
                       : embed_cache_init(m->word_cache, &m->ck, "model.embed_tokens.weight",
                                          embed_cache_rows)) ||
        (st = checkpoint_read_f32(&m->ck, "model.norm.weight", m->final_norm, H)) ||
        (st = checkpoint_read_f32_range(&m->ck, head, (size_t)yes_id * H, H, m->yes_no)) ||
        (st = checkpoint_read_f32_range(&m->ck, head, (size_t)no_id * H, H, m->yes_no + H)))
        goto fail;

    if (resident) {
        size_t L = (size_t)c->n_layers, per = qwen3_layer_floats(c);
        m->layer_storage = mem_alloc(MEM_WEIGHTS, L * per * sizeof(float));
        m->layers = mem_alloc(MEM_OTHER, L * sizeof *m->layers);
        if (!m->layer_storage || !m->layers) {
            st = status_wrap(STATUS_ERR_NOMEM, "%s", dir);
            goto fail;
        }
        for (size_t l = 0; l < L; l++) {
            st = qwen3_layer_read(&m->ck, (int)l, m->layer_storage + l * per);
            if (st != STATUS_OK) goto fail;
            qwen3_layer_bind(c, m->layer_storage + l * per, &m->layers[l]);
        }
    }
    return STATUS_OK;
fail:
    qwen3_model_free(m);
    return st;
}

void qwen3_model_free(qwen3_model *m) {
    if (m->word_cache) embed_cache_free(m->word_cache);
    mem_free(m->word_cache);
    mem_free(m->embed);
    mem_free(m->head_storage);
    mem_free(m->layer_storage);
    mem_free(m->layers);
    checkpoint_close(&m->ck);
    memset(m, 0, sizeof *m);
}

status qwen3_batch_validate(const qwen3_model *m, const qwen3_batch *b) {
    return model_config_check_batch(&m->cfg, b->n_seq, b->seq_start, b->seq_len, b->n_tok, b->ids);
}

status qwen3_workspace_init(qwen3_workspace *ws, const model_config *cfg, size_t max_tok,
                            size_t max_seq_len, size_t max_seqs) {
    memset(ws, 0, sizeof *ws);
    size_t H = (size_t)cfg->hidden_size, F = (size_t)cfg->intermediate_size;
    size_t D = (size_t)cfg->head_dim, Q = (size_t)cfg->n_heads * D;
    size_t KV = (size_t)cfg->n_kv_heads * D, rep = (size_t)(cfg->n_heads / cfg->n_kv_heads);
    size_t blk = max_seq_len < QWEN3_ATT_BLOCK ? max_seq_len : QWEN3_ATT_BLOCK;
    ws->max_tok = max_tok;
    ws->max_seq_len = max_seq_len;
    ws->max_seqs = max_seqs;
    ws->x = mem_alloc(MEM_ACTIVATIONS, max_tok * H * sizeof(float));
    ws->qkv = mem_alloc(MEM_ACTIVATIONS, max_tok * (Q + 2 * KV) * sizeof(float));
    ws->ctx = mem_alloc(MEM_ACTIVATIONS, max_tok * Q * sizeof(float));
    ws->ffn = mem_alloc(MEM_ACTIVATIONS, max_tok * 2 * F * sizeof(float));
    ws->qg = mem_alloc(MEM_ACTIVATIONS, rep * blk * D * sizeof(float));
    ws->att = mem_alloc(MEM_ACTIVATIONS, rep * blk * max_seq_len * sizeof(float));
    ws->rope_cos = mem_alloc(MEM_ACTIVATIONS, max_seq_len * (D / 2) * sizeof(float));
    ws->rope_sin = mem_alloc(MEM_ACTIVATIONS, max_seq_len * (D / 2) * sizeof(float));
    ws->last = mem_alloc(MEM_ACTIVATIONS, max_seqs * H * sizeof(float));
    ws->logits = mem_alloc(MEM_ACTIVATIONS, max_seqs * 2 * sizeof(float));
    if (!ws->x || !ws->qkv || !ws->ctx || !ws->ffn || !ws->qg || !ws->att || !ws->rope_cos ||
        !ws->rope_sin || !ws->last || !ws->logits) {
        qwen3_workspace_free(ws);
        return status_wrap(STATUS_ERR_NOMEM, "qwen3 workspace for %zu tokens", max_tok);
    }
    ops_rope_table(max_seq_len, D, cfg->rope_theta, ws->rope_cos, ws->rope_sin);
    return STATUS_OK;
}

void qwen3_workspace_free(qwen3_workspace *ws) {
    mem_free(ws->x);
    mem_free(ws->qkv);
    mem_free(ws->ctx);
    mem_free(ws->ffn);
    mem_free(ws->qg);
    mem_free(ws->att);
    mem_free(ws->rope_cos);
    mem_free(ws->rope_sin);
    mem_free(ws->last);
    mem_free(ws->logits);
    memset(ws, 0, sizeof *ws);
}

status qwen3_embed(const qwen3_model *m, const qwen3_batch *b, float *h) {
    if (!m->embed) return embed_cache_gather(m->word_cache, b->ids, b->n_tok, h);
    size_t H = (size_t)m->cfg.hidden_size;
    for (size_t t = 0; t < b->n_tok; t++)
        memcpy(h + t * H, m->embed + (size_t)b->ids[t] * H, H * sizeof *h);
    return STATUS_OK;
}

// Causal grouped-query attention of each sequence over its own tokens:
// ctx (n_tok, Q) from qkv (n_tok, Q + 2 KV) (q and k already normalised and
// rotated). Per sequence, kv head g and block of query rows [r0, r1): the
// rep query heads sharing kv head g are stacked head-major into one
// (rep * nb, D) matrix, so one sgemm computes their scores against keys
// [0, r1) (later keys are masked for every row of the block).
static void qwen3_attention(const model_config *c, const qwen3_batch *b, qwen3_workspace *ws) {
    size_t nh = (size_t)c->n_heads, nkv = (size_t)c->n_kv_heads, D = (size_t)c->head_dim;
    size_t rep = nh / nkv, Q = nh * D, W = Q + 2 * nkv * D;
    float scale = 1.0f / sqrtf((float)D);
    for (size_t s = 0; s < b->n_seq; s++) {
        size_t T = b->seq_len[s], t0 = b->seq_start[s];
        const float *qkv = ws->qkv + t0 * W; // (T, W)
        float *ctx = ws->ctx + t0 * Q;       // (T, Q)
        for (size_t g = 0; g < nkv; g++) {
            const float *k = qkv + Q + g * D;           // (T, D), row stride W
            const float *v = qkv + Q + nkv * D + g * D; // (T, D), row stride W
            for (size_t r0 = 0; r0 < T; r0 += QWEN3_ATT_BLOCK) {
                size_t nb = T - r0 < QWEN3_ATT_BLOCK ? T - r0 : QWEN3_ATT_BLOCK;
                size_t r1 = r0 + nb;
                float *qg = ws->qg; // (rep * nb, D): row r * nb + i = head g*rep + r, query r0 + i
                float *att = ws->att; // (rep * nb, r1)
                for (size_t r = 0; r < rep; r++)
                    for (size_t i = 0; i < nb; i++)
                        memcpy(qg + (r * nb + i) * D, qkv + (r0 + i) * W + (g * rep + r) * D,
                               D * sizeof *qg);
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(rep * nb), (int)r1,
                            (int)D, 1.0f, qg, (int)D, k, (int)W, 0.0f, att, (int)r1);
                for (size_t r = 0; r < rep; r++) {
                    for (size_t i = 0; i < nb; i++) {
                        float *row = att + (r * nb + i) * r1;
                        size_t visible = r0 + i + 1; // keys 0 .. r0 + i
                        ops_softmax_rows(row, 1, visible, scale);
                        memset(row + visible, 0, (r1 - visible) * sizeof *row);
                    }
                }
                // Output of the block into qg (its queries are no longer needed).
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)(rep * nb), (int)D,
                            (int)r1, 1.0f, att, (int)r1, v, (int)W, 0.0f, qg, (int)D);
                for (size_t r = 0; r < rep; r++)
                    for (size_t i = 0; i < nb; i++)
                        memcpy(ctx + (r0 + i) * Q + (g * rep + r) * D, qg + (r * nb + i) * D,
                               D * sizeof *qg);
            }
        }
    }
}

static status qwen3_check_fits(const qwen3_batch *b, const qwen3_workspace *ws) {
    if (b->n_tok > ws->max_tok)
        return status_fail(STATUS_ERR_ARG, "qwen3: %zu tokens exceed the workspace (%zu)", b->n_tok,
                           ws->max_tok);
    for (size_t s = 0; s < b->n_seq; s++)
        if (b->seq_len[s] > ws->max_seq_len)
            return status_fail(STATUS_ERR_ARG,
                               "qwen3: sequence %zu has %zu tokens, the workspace holds %zu", s,
                               b->seq_len[s], ws->max_seq_len);
    return STATUS_OK;
}

status qwen3_layer_forward(const qwen3_model *m, const qwen3_layer_weights *w, const qwen3_batch *b,
                           float *h, qwen3_workspace *ws) {
    status st = qwen3_check_fits(b, ws);
    if (st != STATUS_OK) return st;
    const model_config *c = &m->cfg;
    size_t n = b->n_tok, H = (size_t)c->hidden_size, F = (size_t)c->intermediate_size;
    size_t D = (size_t)c->head_dim, nh = (size_t)c->n_heads, nkv = (size_t)c->n_kv_heads;
    size_t Q = nh * D, W = Q + 2 * nkv * D, half = D / 2;
    float eps = (float)c->layer_norm_eps;

    // Attention block: h += attention(rope(norm(x Wq^T)), rope(norm(x Wk^T)), x Wv^T) Wo^T,
    // x = RMSNorm(h).
    ops_rmsnorm_rows(h, n, H, w->ln1, eps, ws->x);
    ops_linear(ws->x, n, H, w->wqkv, NULL, W, ws->qkv, 0);
    for (size_t s = 0; s < b->n_seq; s++) {
        for (size_t p = 0; p < b->seq_len[s]; p++) {
            float *q = ws->qkv + (b->seq_start[s] + p) * W; // (nh, D)
            float *k = q + Q;                               // (nkv, D)
            ops_rmsnorm_rows(q, nh, D, w->q_norm, eps, q);
            ops_rmsnorm_rows(k, nkv, D, w->k_norm, eps, k);
            ops_rope_heads(q, nh, D, ws->rope_cos + p * half, ws->rope_sin + p * half);
            ops_rope_heads(k, nkv, D, ws->rope_cos + p * half, ws->rope_sin + p * half);
        }
    }
    qwen3_attention(c, b, ws);
    ops_linear(ws->ctx, n, Q, w->wo, NULL, H, h, 1);

    // MLP block: h += (silu(x Wg^T) * (x Wu^T)) Wd^T, x = RMSNorm(h).
    ops_rmsnorm_rows(h, n, H, w->ln2, eps, ws->x);
    ops_linear(ws->x, n, H, w->wgu, NULL, 2 * F, ws->ffn, 0);
    // Row t of the product (t * F) is written below the gate/up row it reads
    // (2t * F), so rows are packed in place into (n, F) in increasing order.
    for (size_t t = 0; t < n; t++)
        ops_swiglu(ws->ffn + t * 2 * F, ws->ffn + t * 2 * F + F, ws->ffn + t * F, F);
    ops_linear(ws->ffn, n, F, w->wdown, NULL, H, h, 1);
    return STATUS_OK;
}

status qwen3_score_last_tokens(const qwen3_model *m, const qwen3_batch *b, const float *h,
                               qwen3_workspace *ws, float *scores) {
    size_t H = (size_t)m->cfg.hidden_size, n = b->n_seq;
    if (n > ws->max_seqs)
        return status_fail(STATUS_ERR_ARG, "qwen3: scoring %zu sequences, the workspace holds %zu",
                           n, ws->max_seqs);
    float *last = ws->last;     // (n, H)
    float *logits = ws->logits; // (n, 2)
    for (size_t s = 0; s < n; s++)
        memcpy(last + s * H, h + (b->seq_start[s] + b->seq_len[s] - 1) * H, H * sizeof *h);
    ops_rmsnorm_rows(last, n, H, m->final_norm, (float)m->cfg.layer_norm_eps, last);
    ops_linear(last, n, H, m->yes_no, NULL, 2, logits, 0);
    for (size_t s = 0; s < n; s++)
        scores[s] = logits[s * 2] - logits[s * 2 + 1];
    return STATUS_OK;
}

// A view of sequences [s0, s0 + count) of `b`, with token offsets relative to
// the chunk's first token (*tok0); `starts` (count,) backs view->seq_start.
static void qwen3_chunk_view(const qwen3_batch *b, size_t s0, size_t count, size_t *starts,
                             qwen3_batch *view, size_t *tok0) {
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
}

status qwen3_forward_all_layers(const qwen3_model *m, const qwen3_batch *b, size_t chunk,
                                float *layer_scores) {
    status st = qwen3_batch_validate(m, b);
    if (st != STATUS_OK) return st;
    if (!m->layers)
        return status_fail(STATUS_ERR_ARG, "qwen3_forward_all_layers: layers are not resident");
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
    qwen3_workspace ws;
    st = qwen3_workspace_init(&ws, &m->cfg, max_chunk_tok, max_len, n);
    if (st != STATUS_OK) return st;
    float *h = mem_alloc(MEM_HIDDEN, b->n_tok * H * sizeof *h); // (n_tok, H)
    size_t *starts = mem_alloc(MEM_OTHER, chunk * sizeof *starts);
    if (!h || !starts) {
        st = status_wrap(STATUS_ERR_NOMEM, "qwen3 forward of %zu tokens", b->n_tok);
        goto done;
    }
    if ((st = qwen3_embed(m, b, h))) goto done;
    if ((st = qwen3_score_last_tokens(m, b, h, &ws, layer_scores))) goto done;
    for (size_t l = 0; l < L; l++) {
        for (size_t s0 = 0; s0 < n; s0 += chunk) {
            size_t count = s0 + chunk <= n ? chunk : n - s0, tok0;
            qwen3_batch view;
            qwen3_chunk_view(b, s0, count, starts, &view, &tok0);
            if ((st = qwen3_layer_forward(m, &m->layers[l], &view, h + tok0 * H, &ws))) goto done;
        }
        if ((st = qwen3_score_last_tokens(m, b, h, &ws, layer_scores + (l + 1) * n))) goto done;
    }
    for (size_t l = 0; l <= L && st == STATUS_OK; l++) {
        for (size_t s = 0; s < n; s++) {
            if (!isfinite(layer_scores[l * n + s])) {
                st =
                    status_fail(STATUS_ERR_NUMERIC,
                                "forward: candidate %zu has a non-finite score at layer %zu", s, l);
                break;
            }
        }
    }
done:
    mem_free(h);
    mem_free(starts);
    qwen3_workspace_free(&ws);
    return st;
}

double qwen3_forward_flops(const model_config *c, const qwen3_batch *b) {
    double H = (double)c->hidden_size, F = (double)c->intermediate_size, D = (double)c->head_dim;
    double Q = (double)c->n_heads * D, KV = (double)c->n_kv_heads * D;
    double per_tok_linear = 2.0 * (H * (Q + 2 * KV) + Q * H + 2 * F * H + F * H);
    double attn = 0.0;
    for (size_t s = 0; s < b->n_seq; s++) {
        size_t T = b->seq_len[s];
        for (size_t r0 = 0; r0 < T; r0 += QWEN3_ATT_BLOCK) {
            size_t nb = T - r0 < QWEN3_ATT_BLOCK ? T - r0 : QWEN3_ATT_BLOCK;
            // QK^T and PV of nb queries against r0 + nb keys, every head.
            attn += 2.0 * 2.0 * (double)nb * (double)(r0 + nb) * Q;
        }
    }
    double layer = per_tok_linear * (double)b->n_tok + attn;
    double head = 2.0 * (double)b->n_seq * H * 2.0;
    return (double)c->n_layers * layer + (double)(c->n_layers + 1) * head;
}
