/*
 * bert.c - BertForSequenceClassification cross-encoders (f32), one family of
 * the architecture registry (core/model/arch.h).
 *
 * Embeddings + post-LN encoder layers (GELU erf) + pooler (tanh on the first
 * token) + classifier; the relevance score is logit 0. The provisional score
 * of layer l is pooler + classifier applied to the first-token state after
 * layer l (l = 0: embedding output; l = n_layers: the model's final score).
 * Input: `[CLS] query [SEP] document [SEP]` with token types 0/1, WordPiece
 * (tokenizer "wordpiece-bert"), the document truncated first.
 */
#include "base/json_file.h"
#include "base/mem.h"
#include "model/arch.h"
#include "model/ops.h"
#include "tokenize/wordpiece_synth.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

// The tensor table, in checkpoint order. Layer slot order differs: q, k, v
// weights adjacent (one sgemm for the three projections), then their biases.
enum {
    BERT_T_WORD,
    BERT_T_POS,
    BERT_T_TYPE,
    BERT_T_EMB_LN_G,
    BERT_T_EMB_LN_B,
    BERT_T_Q_W,
    BERT_T_Q_B,
    BERT_T_K_W,
    BERT_T_K_B,
    BERT_T_V_W,
    BERT_T_V_B,
    BERT_T_O_W,
    BERT_T_O_B,
    BERT_T_LN1_G,
    BERT_T_LN1_B,
    BERT_T_FFN1_W,
    BERT_T_FFN1_B,
    BERT_T_FFN2_W,
    BERT_T_FFN2_B,
    BERT_T_LN2_G,
    BERT_T_LN2_B,
    BERT_T_POOL_W,
    BERT_T_POOL_B,
    BERT_T_CLS_W,
    BERT_T_CLS_B,
    BERT_N_TENSORS
};

#define BERT_L "bert.encoder.layer.%d."
static const arch_tensor bert_tensors[BERT_N_TENSORS] = {
    [BERT_T_WORD] = {"bert.embeddings.word_embeddings.weight", ARCH_DIM_V, ARCH_DIM_H,
                     ARCH_T_WORD_EMBED | ARCH_T_EMBEDDINGS, -1, ARCH_INIT_WEIGHT, NULL},
    [BERT_T_POS] = {"bert.embeddings.position_embeddings.weight", ARCH_DIM_P, ARCH_DIM_H,
                    ARCH_T_EMBEDDINGS, -1, ARCH_INIT_WEIGHT, NULL},
    [BERT_T_TYPE] = {"bert.embeddings.token_type_embeddings.weight", ARCH_DIM_T, ARCH_DIM_H,
                     ARCH_T_EMBEDDINGS, -1, ARCH_INIT_WEIGHT, NULL},
    [BERT_T_EMB_LN_G] = {"bert.embeddings.LayerNorm.weight", ARCH_DIM_H, ARCH_DIM_NONE,
                         ARCH_T_EMBEDDINGS, -1, ARCH_INIT_NORM, NULL},
    [BERT_T_EMB_LN_B] = {"bert.embeddings.LayerNorm.bias", ARCH_DIM_H, ARCH_DIM_NONE,
                         ARCH_T_EMBEDDINGS, -1, ARCH_INIT_BIAS, NULL},
    [BERT_T_Q_W] = {BERT_L "attention.self.query.weight", ARCH_DIM_H, ARCH_DIM_H, ARCH_T_LAYER, 0,
                    ARCH_INIT_WEIGHT, NULL},
    [BERT_T_Q_B] = {BERT_L "attention.self.query.bias", ARCH_DIM_H, ARCH_DIM_NONE, ARCH_T_LAYER, 3,
                    ARCH_INIT_BIAS, NULL},
    [BERT_T_K_W] = {BERT_L "attention.self.key.weight", ARCH_DIM_H, ARCH_DIM_H, ARCH_T_LAYER, 1,
                    ARCH_INIT_WEIGHT, NULL},
    [BERT_T_K_B] = {BERT_L "attention.self.key.bias", ARCH_DIM_H, ARCH_DIM_NONE, ARCH_T_LAYER, 4,
                    ARCH_INIT_BIAS, NULL},
    [BERT_T_V_W] = {BERT_L "attention.self.value.weight", ARCH_DIM_H, ARCH_DIM_H, ARCH_T_LAYER, 2,
                    ARCH_INIT_WEIGHT, NULL},
    [BERT_T_V_B] = {BERT_L "attention.self.value.bias", ARCH_DIM_H, ARCH_DIM_NONE, ARCH_T_LAYER, 5,
                    ARCH_INIT_BIAS, NULL},
    [BERT_T_O_W] = {BERT_L "attention.output.dense.weight", ARCH_DIM_H, ARCH_DIM_H, ARCH_T_LAYER, 6,
                    ARCH_INIT_WEIGHT, NULL},
    [BERT_T_O_B] = {BERT_L "attention.output.dense.bias", ARCH_DIM_H, ARCH_DIM_NONE, ARCH_T_LAYER,
                    7, ARCH_INIT_BIAS, NULL},
    [BERT_T_LN1_G] = {BERT_L "attention.output.LayerNorm.weight", ARCH_DIM_H, ARCH_DIM_NONE,
                      ARCH_T_LAYER, 8, ARCH_INIT_NORM, NULL},
    [BERT_T_LN1_B] = {BERT_L "attention.output.LayerNorm.bias", ARCH_DIM_H, ARCH_DIM_NONE,
                      ARCH_T_LAYER, 9, ARCH_INIT_BIAS, NULL},
    [BERT_T_FFN1_W] = {BERT_L "intermediate.dense.weight", ARCH_DIM_F, ARCH_DIM_H, ARCH_T_LAYER, 10,
                       ARCH_INIT_WEIGHT, NULL},
    [BERT_T_FFN1_B] = {BERT_L "intermediate.dense.bias", ARCH_DIM_F, ARCH_DIM_NONE, ARCH_T_LAYER,
                       11, ARCH_INIT_BIAS, NULL},
    [BERT_T_FFN2_W] = {BERT_L "output.dense.weight", ARCH_DIM_H, ARCH_DIM_F, ARCH_T_LAYER, 12,
                       ARCH_INIT_WEIGHT, NULL},
    [BERT_T_FFN2_B] = {BERT_L "output.dense.bias", ARCH_DIM_H, ARCH_DIM_NONE, ARCH_T_LAYER, 13,
                       ARCH_INIT_BIAS, NULL},
    [BERT_T_LN2_G] = {BERT_L "output.LayerNorm.weight", ARCH_DIM_H, ARCH_DIM_NONE, ARCH_T_LAYER, 14,
                      ARCH_INIT_NORM, NULL},
    [BERT_T_LN2_B] = {BERT_L "output.LayerNorm.bias", ARCH_DIM_H, ARCH_DIM_NONE, ARCH_T_LAYER, 15,
                      ARCH_INIT_BIAS, NULL},
    [BERT_T_POOL_W] = {"bert.pooler.dense.weight", ARCH_DIM_H, ARCH_DIM_H, 0, -1, ARCH_INIT_WEIGHT,
                       NULL},
    [BERT_T_POOL_B] = {"bert.pooler.dense.bias", ARCH_DIM_H, ARCH_DIM_NONE, 0, -1, ARCH_INIT_BIAS,
                       NULL},
    [BERT_T_CLS_W] = {"classifier.weight", ARCH_DIM_C, ARCH_DIM_H, 0, -1, ARCH_INIT_HEAD, NULL},
    [BERT_T_CLS_B] = {"classifier.bias", ARCH_DIM_C, ARCH_DIM_NONE, 0, -1, ARCH_INIT_BIAS, NULL},
};
#undef BERT_L

// Weights of one encoder layer, views into its slot. Matrices are kept in
// cfg->matrix_dtype (f32 or bf16), vectors in f32.
typedef struct {
    ops_matrix wqkv;    // (3H, H) query rows, then key rows, then value rows
    const float *bqkv;  // (3H,)
    ops_matrix wo;      // (H, H) attention output dense
    const float *bo;    // (H,)
    const float *ln1_g; // (H,) attention output LayerNorm
    const float *ln1_b; // (H,)
    ops_matrix w1;      // (F, H) intermediate dense
    const float *b1;    // (F,)
    ops_matrix w2;      // (H, F) output dense
    const float *b2;    // (H,)
    const float *ln2_g; // (H,) output LayerNorm
    const float *ln2_b; // (H,)
} bert_layer_weights;

static void bert_layer_bind(const arch_model *m, const float *slot, bert_layer_weights *w) {
    const model_config *c = &m->cfg;
    const void *v[BERT_N_TENSORS];
    arch_model_layer_views(m, slot, v);
    *w = (bert_layer_weights){.wqkv = arch_layer_matrix(c, v[BERT_T_Q_W]),
                              .bqkv = v[BERT_T_Q_B],
                              .wo = arch_layer_matrix(c, v[BERT_T_O_W]),
                              .bo = v[BERT_T_O_B],
                              .ln1_g = v[BERT_T_LN1_G],
                              .ln1_b = v[BERT_T_LN1_B],
                              .w1 = arch_layer_matrix(c, v[BERT_T_FFN1_W]),
                              .b1 = v[BERT_T_FFN1_B],
                              .w2 = arch_layer_matrix(c, v[BERT_T_FFN2_W]),
                              .b2 = v[BERT_T_FFN2_B],
                              .ln2_g = v[BERT_T_LN2_G],
                              .ln2_b = v[BERT_T_LN2_B]};
}

static status bert_config_parse(model_config *cfg, const cJSON *root, const char *path) {
    status st;
    if ((st = model_config_get_sizes(cfg, root, path)) ||
        (st = json_get_int(root, "max_position_embeddings", path, &cfg->max_position_embeddings)))
        return st;
    cfg->type_vocab_size = 2;
    cfg->num_labels = 1;
    cfg->layer_norm_eps = 1e-12;
    if ((st = json_opt_int(root, "type_vocab_size", path, &cfg->type_vocab_size)) ||
        (st = json_opt_double(root, "layer_norm_eps", path, &cfg->layer_norm_eps)))
        return st;
    // num_labels is not written by save_pretrained; id2label is.
    const cJSON *id2label = cJSON_GetObjectItemCaseSensitive(root, "id2label");
    if (cJSON_IsObject(id2label)) cfg->num_labels = cJSON_GetArraySize(id2label);
    if ((st = json_opt_int(root, "num_labels", path, &cfg->num_labels))) return st;

    const char *act = "gelu";
    if ((st = json_opt_string(root, "hidden_act", path, &act))) return st;
    if (strcmp(act, "gelu") != 0)
        return status_fail(STATUS_ERR_UNSUPPORTED,
                           "%s: hidden_act '%s' is not supported (expected \"gelu\", the erf form)",
                           path, act);
    const char *pos = "absolute";
    if ((st = json_opt_string(root, "position_embedding_type", path, &pos))) return st;
    if (strcmp(pos, "absolute") != 0)
        return status_fail(
            STATUS_ERR_UNSUPPORTED,
            "%s: position_embedding_type '%s' is not supported (expected \"absolute\")", path, pos);

    const char *keys[] = {"vocab_size",          "hidden_size",       "num_hidden_layers",
                          "num_attention_heads", "intermediate_size", "max_position_embeddings",
                          "type_vocab_size",     "num_labels"};
    int64_t vals[] = {cfg->vocab_size,      cfg->hidden_size,       cfg->n_layers,
                      cfg->n_heads,         cfg->intermediate_size, cfg->max_position_embeddings,
                      cfg->type_vocab_size, cfg->num_labels};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        if ((st = model_config_check_positive(path, keys[i], vals[i]))) return st;
    if (cfg->hidden_size % cfg->n_heads != 0)
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: hidden_size %lld is not divisible by num_attention_heads %lld",
                           path, (long long)cfg->hidden_size, (long long)cfg->n_heads);
    if (!(cfg->layer_norm_eps > 0 && cfg->layer_norm_eps < 1))
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: layer_norm_eps must be positive and below 1, got %g", path,
                           cfg->layer_norm_eps);
    cfg->n_kv_heads = cfg->n_heads;
    cfg->head_dim = cfg->hidden_size / cfg->n_heads;
    return STATUS_OK;
}

// Scratch of one layer over up to max_tok tokens (one MEM_ACTIVATIONS arena).
typedef struct {
    size_t max_tok, max_seq_len, max_seqs;
    float *qkv;  // (max_tok, 3H)
    float *ctx;  // (max_tok, H)
    float *tmp;  // (max_tok, H)
    float *ffn;  // (max_tok, F)
    float *att;  // (max_seq_len, max_seq_len) one head's attention probabilities
    float *pool; // (max_tok, H) first-token states / pooler outputs for scoring
} bert_workspace;

// The scoring step gathers 2 rows per sequence into the token buffers.
static size_t bert_ws_tokens(const arch_workspace_size *sz) {
    return sz->max_tok > 2 * sz->max_seqs ? sz->max_tok : 2 * sz->max_seqs;
}

static size_t bert_workspace_bytes(const model_config *c, const arch_workspace_size *sz) {
    size_t H = (size_t)c->hidden_size, F = (size_t)c->intermediate_size, T = bert_ws_tokens(sz);
    size_t f = sizeof(float);
    return arch_ws_bytes(sizeof(bert_workspace)) + arch_ws_bytes(T * 3 * H * f) +
           3 * arch_ws_bytes(T * H * f) + arch_ws_bytes(T * F * f) +
           arch_ws_bytes(sz->max_seq_len * sz->max_seq_len * f);
}

static status bert_workspace_bind(const model_config *c, const arch_workspace_size *sz, void *mem) {
    size_t H = (size_t)c->hidden_size, F = (size_t)c->intermediate_size, T = bert_ws_tokens(sz);
    size_t f = sizeof(float);
    unsigned char *p = mem;
    bert_workspace *ws = arch_ws_take(&p, sizeof *ws);
    ws->max_tok = T;
    ws->max_seq_len = sz->max_seq_len;
    ws->max_seqs = sz->max_seqs;
    ws->qkv = arch_ws_take(&p, T * 3 * H * f);
    ws->ctx = arch_ws_take(&p, T * H * f);
    ws->tmp = arch_ws_take(&p, T * H * f);
    ws->ffn = arch_ws_take(&p, T * F * f);
    ws->att = arch_ws_take(&p, sz->max_seq_len * sz->max_seq_len * f);
    ws->pool = arch_ws_take(&p, T * H * f);
    return STATUS_OK;
}

static status bert_batch_validate(const arch_model *m, const reranker_batch *b) {
    const model_config *c = &m->cfg;
    for (size_t t = 0; b->type_ids && t < b->n_tok; t++)
        if (b->type_ids[t] < 0 || b->type_ids[t] >= c->type_vocab_size)
            return status_fail(STATUS_ERR_ARG, "batch: token %zu has type id %d outside [0, %lld)",
                               t, b->type_ids[t], (long long)c->type_vocab_size);
    return STATUS_OK;
}

// h (n_tok, H) = LayerNorm(word[id] + type[type id] + pos[position in sequence]).
// The word rows are gathered into h first (resident table or cache), then
// summed in place in that order.
static status bert_embed(const arch_model *m, const reranker_batch *b, float *h, void *ws) {
    (void)ws;
    size_t H = (size_t)m->cfg.hidden_size;
    const float *pos = m->global[BERT_T_POS];   // (P, H)
    const float *type = m->global[BERT_T_TYPE]; // (T, H)
    status st = arch_gather_word_rows(m, b->ids, b->n_tok, h);
    if (st != STATUS_OK) return st;
    for (size_t s = 0; s < b->n_seq; s++) {
        for (size_t p = 0; p < b->seq_len[s]; p++) {
            size_t t = b->seq_start[s] + p;
            float *row = h + t * H;
            const float *pe = pos + p * H;
            const float *te = type + (size_t)(b->type_ids ? b->type_ids[t] : 0) * H;
            for (size_t j = 0; j < H; j++)
                row[j] = row[j] + te[j] + pe[j];
        }
    }
    ops_layernorm_rows(h, b->n_tok, H, m->global[BERT_T_EMB_LN_G], m->global[BERT_T_EMB_LN_B],
                       (float)m->cfg.layer_norm_eps);
    return STATUS_OK;
}

// Multi-head self-attention of each sequence over its own tokens:
// ctx (n_tok, H) from qkv (n_tok, 3H).
static void bert_attention(const model_config *c, const reranker_batch *b, bert_workspace *ws) {
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
            ops_sgemm(1, T, T, d, q, 3 * H, k, 3 * H, att, T);
            ops_softmax_rows(att, T, T, scale);
            ops_sgemm(0, T, d, T, att, T, v, 3 * H, out, H);
        }
    }
}

static status bert_layer_forward(const arch_model *m, const float *slot, const reranker_batch *b,
                                 float *h, void *wsp) {
    bert_workspace *ws = wsp;
    status st = arch_batch_fits("bert", b, ws->max_tok, ws->max_seq_len);
    if (st != STATUS_OK) return st;
    const model_config *c = &m->cfg;
    bert_layer_weights w;
    bert_layer_bind(m, slot, &w);
    size_t n = b->n_tok, H = (size_t)c->hidden_size, F = (size_t)c->intermediate_size;
    float eps = (float)c->layer_norm_eps;
    // Self-attention block: h = LN(h + ctx Wo^T + bo).
    ops_linear_m(h, n, H, &w.wqkv, w.bqkv, 3 * H, ws->qkv, 0);
    bert_attention(c, b, ws);
    memcpy(ws->tmp, h, n * H * sizeof *h);
    ops_linear_m(ws->ctx, n, H, &w.wo, w.bo, H, ws->tmp, 1);
    ops_layernorm_rows(ws->tmp, n, H, w.ln1_g, w.ln1_b, eps);
    // Feed-forward block: h = LN(a + gelu(a W1^T + b1) W2^T + b2), a = attention output.
    ops_linear_m(ws->tmp, n, H, &w.w1, w.b1, F, ws->ffn, 0);
    ops_gelu_erf(ws->ffn, n * F);
    memcpy(h, ws->tmp, n * H * sizeof *h);
    ops_linear_m(ws->ffn, n, F, &w.w2, w.b2, H, h, 1);
    ops_layernorm_rows(h, n, H, w.ln2_g, w.ln2_b, eps);
    return STATUS_OK;
}

// scores (n_seq,) = classifier(tanh(pooler(h[first token of each sequence])))[0],
// the same head after every layer.
static status bert_score(const arch_model *m, size_t layer, const reranker_batch *b, const float *h,
                         void *wsp, float *scores) {
    (void)layer;
    bert_workspace *ws = wsp;
    size_t H = (size_t)m->cfg.hidden_size, C = (size_t)m->cfg.num_labels, n = b->n_seq;
    if (2 * n > ws->max_tok)
        return status_fail(STATUS_ERR_ARG, "bert: scoring %zu sequences, the workspace holds %zu",
                           n, ws->max_tok / 2);
    float *first = ws->pool;          // (n, H)
    float *pooled = ws->pool + n * H; // (n, H)
    float *logits = ws->qkv;          // (n, C)
    for (size_t s = 0; s < n; s++)
        memcpy(first + s * H, h + b->seq_start[s] * H, H * sizeof *h);
    ops_linear(first, n, H, m->global[BERT_T_POOL_W], m->global[BERT_T_POOL_B], H, pooled, 0);
    ops_tanh(pooled, n * H);
    ops_linear(pooled, n, H, m->global[BERT_T_CLS_W], m->global[BERT_T_CLS_B], C, logits, 0);
    for (size_t s = 0; s < n; s++)
        scores[s] = logits[s * C];
    return STATUS_OK;
}

// QKV + output projections, two FFN matrices, QK^T and PV over all heads.
static double bert_layer_flops(const model_config *c, size_t seq_len) {
    double H = (double)c->hidden_size, F = (double)c->intermediate_size, T = (double)seq_len;
    return 2.0 * (3 * H * H + H * H + 2 * H * F) * T + 2.0 * 2.0 * T * T * H;
}

static double bert_score_flops(const model_config *c) {
    double H = (double)c->hidden_size;
    return 2.0 * (H * H + H * (double)c->num_labels);
}

// A generated WordPiece vocab.txt of vocab_size entries.
static status bert_synth_tokenizer(const model_config *c, const char *dir, int *generated) {
    char path[4200];
    snprintf(path, sizeof path, "%s/vocab.txt", dir);
    status st = wordpiece_write_synthetic_vocab(path, c->vocab_size);
    *generated = st == STATUS_OK;
    return st;
}

static const char *const bert_hf_names[] = {"BertForSequenceClassification", NULL};

const arch_ops arch_ops_bert = {
    .name = "bert",
    .hf_architectures = bert_hf_names,
    .hf_refused = NULL,
    .tokenizer = "wordpiece-bert",
    .score_kind = "logit",
    .config_parse = bert_config_parse,
    .tensors = bert_tensors,
    .n_tensors = BERT_N_TENSORS,
    .open = NULL,
    .close = NULL,
    .batch_validate = bert_batch_validate,
    .workspace_bytes = bert_workspace_bytes,
    .workspace_bind = bert_workspace_bind,
    .embed = bert_embed,
    .layer_forward = bert_layer_forward,
    .score = bert_score,
    .layer_flops = bert_layer_flops,
    .score_flops = bert_score_flops,
    .synth_tokenizer = bert_synth_tokenizer,
    // 2 post-LN layers of 2 heads; the generated vocab.txt covers the ids.
    .test_config = "{\"architectures\": [\"BertForSequenceClassification\"], "
                   "\"hidden_size\": 32, \"intermediate_size\": 64, "
                   "\"max_position_embeddings\": 64, \"num_attention_heads\": 2, "
                   "\"num_hidden_layers\": 2, \"type_vocab_size\": 2, \"vocab_size\": 200}",
    .test_tokenizer_dir = NULL,
};
