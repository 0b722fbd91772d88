/*
 * qwen3.c - Qwen3-Reranker forward: Qwen3ForCausalLM used as a yes/no
 * reranker (Qwen3-Reranker-0.6B / 4B / 8B), f32.
 *
 * The model (pre-norm decoder, Hugging Face Qwen3 definition):
 *   h = embed_tokens[ids]                                     (n_tok, H)
 *   per layer:
 *     x = RMSNorm(h; input_layernorm)
 *     q, k, v = x Wq^T, x Wk^T, x Wv^T        (n_heads resp. n_kv_heads heads of head_dim)
 *     q, k = RMSNorm over head_dim, per head (q_norm, k_norm), then RoPE (rotate_half,
 *            theta = rope_theta, positions 0 .. len-1 of each sequence)
 *     ctx = causal grouped-query attention: query head j reads kv head
 *           j / (n_heads / n_kv_heads), softmax(q k^T / sqrt(head_dim))
 *     h += ctx Wo^T
 *     x = RMSNorm(h; post_attention_layernorm)
 *     h += (silu(x Wgate^T) * (x Wup^T)) Wdown^T
 *   score of a sequence: z = RMSNorm(h[last token]; model.norm),
 *     score = z . w_yes - z . w_no
 * with w_yes / w_no the LM-head rows of the "yes" / "no" tokens (the rows of
 * embed_tokens when tie_word_embeddings is true, else of lm_head.weight).
 * Only these two rows are read (checkpoint_read_f32_range); the (V, H) LM head
 * is never materialised.
 *
 * Score = logit_yes - logit_no, the engine's "logit". The official
 * Qwen3-Reranker relevance (model card: log_softmax over [no, yes] logits at
 * the last position, exp of the "yes" entry) is P(yes) = sigmoid(score).
 * The yes/no ids come from the tokenizer ("yes" = 9693, "no" = 2152 for the
 * Qwen3 tokenizer; see ../shared/models/qwen3-reranker-tokenizer/PROVENANCE.md)
 * and are looked up in the tokenizer at open (qwen3_open).
 *
 * Provisional score of layer l: the same head (final norm + yes/no rows) on
 * the last-token state after layer l; l = 0 is the embedding output (equal for
 * all candidates of one prompt template, whose last token is always the same
 * suffix token; there is no position information before attention), l =
 * n_layers the model's final score.
 *
 * Batches are packed like bert.h: the tokens of all candidates one after the
 * other, no padding; attention runs per sequence over its own tokens with a
 * causal mask, and every sequence has RoPE positions 0 .. len-1, so a
 * candidate's scores do not depend on the other candidates in the batch (tests
 * check alone == in batch). The official scoring is defined per sequence.
 * Hugging Face with a left-padded batch and no explicit position_ids numbers
 * positions from the first pad, so shorter sequences get RoPE positions
 * shifted by their padding; as RoPE attention depends only on position
 * differences, that changes scores only at float-rounding level (measured:
 * 1.5e-6 on the untied test model). tests/reference/qwen3_reference.py runs
 * each candidate alone and checks a left-padded batch with explicit
 * position_ids against that.
 *
 * Numerics: f32 weights and activations, sgemm for projections and attention;
 * RMSNorm sums of squares in double; RoPE tables as HF computes them in float32
 * (inv_freq, angle) with cos/sin rounded once from double (torch's float cos/sin
 * may differ by 1 ulp, ~6e-8). Scores match the PyTorch reference within 1e-4
 * (tests/test_qwen3_parity.c prints the measured maximum).
 *
 * One family of the architecture registry (core/model/arch.h): the engine
 * runs these pieces layer by layer over chunks of the active candidates, with
 * the layer weights resident or streamed through a weight window.
 */
#include "base/json_file.h"
#include "base/mem.h"
#include "model/arch.h"
#include "model/ops.h"
#include "model/qwen3/qwen3.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

// Query rows per attention block: a block of queries [r0, r0 + B) only reads
// keys [0, r0 + B) (causal), and the score buffer is (rep * B, max_seq_len).
enum { QWEN3_ATT_BLOCK = 128 };

// The tensor table, in checkpoint order (= slot order: q, k, v adjacent for
// one sgemm of the three projections, gate and up adjacent for one sgemm).
enum {
    QWEN3_T_EMBED,
    QWEN3_T_LN1,
    QWEN3_T_Q,
    QWEN3_T_K,
    QWEN3_T_V,
    QWEN3_T_O,
    QWEN3_T_Q_NORM,
    QWEN3_T_K_NORM,
    QWEN3_T_LN2,
    QWEN3_T_GATE,
    QWEN3_T_UP,
    QWEN3_T_DOWN,
    QWEN3_T_NORM,
    QWEN3_T_LM_HEAD,
    QWEN3_N_TENSORS
};

static int qwen3_untied(const model_config *c) {
    return !c->tie_word_embeddings;
}

#define QWEN3_L "model.layers.%d."
static const arch_tensor qwen3_tensors[QWEN3_N_TENSORS] = {
    [QWEN3_T_EMBED] = {"model.embed_tokens.weight", ARCH_DIM_V, ARCH_DIM_H,
                       ARCH_T_WORD_EMBED | ARCH_T_EMBEDDINGS, -1, ARCH_INIT_WEIGHT, NULL},
    [QWEN3_T_LN1] = {QWEN3_L "input_layernorm.weight", ARCH_DIM_H, ARCH_DIM_NONE, ARCH_T_LAYER, 0,
                     ARCH_INIT_NORM, NULL},
    [QWEN3_T_Q] = {QWEN3_L "self_attn.q_proj.weight", ARCH_DIM_Q, ARCH_DIM_H, ARCH_T_LAYER, 1,
                   ARCH_INIT_WEIGHT, NULL},
    [QWEN3_T_K] = {QWEN3_L "self_attn.k_proj.weight", ARCH_DIM_KV, ARCH_DIM_H, ARCH_T_LAYER, 2,
                   ARCH_INIT_WEIGHT, NULL},
    [QWEN3_T_V] = {QWEN3_L "self_attn.v_proj.weight", ARCH_DIM_KV, ARCH_DIM_H, ARCH_T_LAYER, 3,
                   ARCH_INIT_WEIGHT, NULL},
    [QWEN3_T_O] = {QWEN3_L "self_attn.o_proj.weight", ARCH_DIM_H, ARCH_DIM_Q, ARCH_T_LAYER, 4,
                   ARCH_INIT_WEIGHT, NULL},
    [QWEN3_T_Q_NORM] = {QWEN3_L "self_attn.q_norm.weight", ARCH_DIM_D, ARCH_DIM_NONE, ARCH_T_LAYER,
                        5, ARCH_INIT_NORM, NULL},
    [QWEN3_T_K_NORM] = {QWEN3_L "self_attn.k_norm.weight", ARCH_DIM_D, ARCH_DIM_NONE, ARCH_T_LAYER,
                        6, ARCH_INIT_NORM, NULL},
    [QWEN3_T_LN2] = {QWEN3_L "post_attention_layernorm.weight", ARCH_DIM_H, ARCH_DIM_NONE,
                     ARCH_T_LAYER, 7, ARCH_INIT_NORM, NULL},
    [QWEN3_T_GATE] = {QWEN3_L "mlp.gate_proj.weight", ARCH_DIM_F, ARCH_DIM_H, ARCH_T_LAYER, 8,
                      ARCH_INIT_WEIGHT, NULL},
    [QWEN3_T_UP] = {QWEN3_L "mlp.up_proj.weight", ARCH_DIM_F, ARCH_DIM_H, ARCH_T_LAYER, 9,
                    ARCH_INIT_WEIGHT, NULL},
    [QWEN3_T_DOWN] = {QWEN3_L "mlp.down_proj.weight", ARCH_DIM_H, ARCH_DIM_F, ARCH_T_LAYER, 10,
                      ARCH_INIT_WEIGHT, NULL},
    [QWEN3_T_NORM] = {"model.norm.weight", ARCH_DIM_H, ARCH_DIM_NONE, 0, -1, ARCH_INIT_NORM, NULL},
    // Only the yes/no rows are read (qwen3_open); a tied checkpoint has none.
    [QWEN3_T_LM_HEAD] = {"lm_head.weight", ARCH_DIM_V, ARCH_DIM_H, ARCH_T_LAZY, -1,
                         ARCH_INIT_WEIGHT, qwen3_untied},
};
#undef QWEN3_L

// Weights of one decoder layer, views into its slot. Matrices are kept in
// cfg->matrix_dtype (f32 or bf16), vectors in f32.
// Q = n_heads * head_dim, KV = n_kv_heads * head_dim, D = head_dim.
typedef struct {
    const float *ln1;    // (H,) input_layernorm
    ops_matrix wqkv;     // (Q + 2 KV, H) q_proj rows, then k_proj rows, then v_proj rows
    ops_matrix wo;       // (H, Q) o_proj
    const float *q_norm; // (D,)
    const float *k_norm; // (D,)
    const float *ln2;    // (H,) post_attention_layernorm
    ops_matrix wgu;      // (2F, H) gate_proj rows, then up_proj rows
    ops_matrix wdown;    // (H, F) down_proj
} qwen3_layer_weights;

static void qwen3_layer_bind(const arch_model *m, const float *slot, qwen3_layer_weights *w) {
    const model_config *c = &m->cfg;
    const void *v[QWEN3_N_TENSORS];
    arch_model_layer_views(m, slot, v);
    *w = (qwen3_layer_weights){.ln1 = v[QWEN3_T_LN1],
                               .wqkv = arch_layer_matrix(c, v[QWEN3_T_Q]),
                               .wo = arch_layer_matrix(c, v[QWEN3_T_O]),
                               .q_norm = v[QWEN3_T_Q_NORM],
                               .k_norm = v[QWEN3_T_K_NORM],
                               .ln2 = v[QWEN3_T_LN2],
                               .wgu = arch_layer_matrix(c, v[QWEN3_T_GATE]),
                               .wdown = arch_layer_matrix(c, v[QWEN3_T_DOWN])};
}

static status qwen3_config_parse(model_config *cfg, const cJSON *root, const char *path) {
    status st;
    if ((st = model_config_get_sizes(cfg, root, path))) return st;
    cfg->head_dim = 128;
    cfg->n_kv_heads = 32;
    cfg->max_position_embeddings = 32768;
    cfg->layer_norm_eps = 1e-6;
    cfg->rope_theta = 10000.0;
    cfg->tie_word_embeddings = 0;
    cfg->type_vocab_size = 0;
    cfg->num_labels = 0;
    // "num_key_value_heads": null means "as many as query heads" (no GQA).
    const cJSON *kv = cJSON_GetObjectItemCaseSensitive(root, "num_key_value_heads");
    if (cJSON_IsNull(kv)) cfg->n_kv_heads = cfg->n_heads;
    if ((st = json_opt_int(root, "num_key_value_heads", path, &cfg->n_kv_heads)) ||
        (st = json_opt_int(root, "head_dim", path, &cfg->head_dim)) ||
        (st = json_opt_int(root, "max_position_embeddings", path, &cfg->max_position_embeddings)) ||
        (st = json_opt_double(root, "rms_norm_eps", path, &cfg->layer_norm_eps)) ||
        (st = json_opt_double(root, "rope_theta", path, &cfg->rope_theta)) ||
        (st = json_opt_bool(root, "tie_word_embeddings", path, &cfg->tie_word_embeddings)))
        return st;

    const char *act = "silu";
    if ((st = json_opt_string(root, "hidden_act", path, &act))) return st;
    if (strcmp(act, "silu") != 0)
        return status_fail(STATUS_ERR_UNSUPPORTED,
                           "%s: hidden_act '%s' is not supported for Qwen3 (expected \"silu\")",
                           path, act);
    int flag = 0;
    if ((st = json_opt_bool(root, "attention_bias", path, &flag))) return st;
    if (flag)
        return status_fail(STATUS_ERR_UNSUPPORTED,
                           "%s: attention_bias true is not supported (Qwen3 projections have no "
                           "bias; expected false or absent)",
                           path);
    flag = 0;
    if ((st = json_opt_bool(root, "use_sliding_window", path, &flag))) return st;
    if (flag)
        return status_fail(STATUS_ERR_UNSUPPORTED,
                           "%s: use_sliding_window true is not supported (only full causal "
                           "attention; expected false or absent)",
                           path);
    const cJSON *scaling = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    if (scaling && !cJSON_IsNull(scaling)) {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(scaling, "rope_type");
        if (!cJSON_IsString(type)) type = cJSON_GetObjectItemCaseSensitive(scaling, "type");
        return status_fail(STATUS_ERR_UNSUPPORTED,
                           "%s: rope_scaling %s%s%sis not supported (only plain RoPE; expected "
                           "null or absent)",
                           path, cJSON_IsString(type) ? "of type '" : "",
                           cJSON_IsString(type) ? type->valuestring : "",
                           cJSON_IsString(type) ? "' " : "");
    }
    // Newer transformers write "rope_parameters": {"rope_type", "rope_theta"}.
    const cJSON *rp = cJSON_GetObjectItemCaseSensitive(root, "rope_parameters");
    if (rp && !cJSON_IsNull(rp)) {
        const char *type = "default";
        if (!cJSON_IsObject(rp))
            return status_fail(STATUS_ERR_FORMAT, "%s: key 'rope_parameters': expected an object",
                               path);
        if ((st = json_opt_string(rp, "rope_type", path, &type)) ||
            (st = json_opt_double(rp, "rope_theta", path, &cfg->rope_theta)))
            return st;
        if (strcmp(type, "default") != 0)
            return status_fail(STATUS_ERR_UNSUPPORTED,
                               "%s: rope_parameters.rope_type '%s' is not supported (only "
                               "\"default\", plain RoPE)",
                               path, type);
    }

    const char *keys[] = {
        "vocab_size",          "hidden_size", "num_hidden_layers", "num_attention_heads",
        "num_key_value_heads", "head_dim",    "intermediate_size", "max_position_embeddings"};
    int64_t vals[] = {
        cfg->vocab_size, cfg->hidden_size, cfg->n_layers,          cfg->n_heads,
        cfg->n_kv_heads, cfg->head_dim,    cfg->intermediate_size, cfg->max_position_embeddings};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++)
        if ((st = model_config_check_positive(path, keys[i], vals[i]))) return st;
    if (cfg->n_heads % cfg->n_kv_heads != 0)
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: num_attention_heads %lld is not divisible by num_key_value_heads "
                           "%lld (grouped-query attention shares each key/value head between "
                           "num_attention_heads / num_key_value_heads query heads)",
                           path, (long long)cfg->n_heads, (long long)cfg->n_kv_heads);
    if (cfg->head_dim % 2 != 0)
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: head_dim %lld must be even (RoPE rotates pairs of dimensions)",
                           path, (long long)cfg->head_dim);
    if (!(cfg->layer_norm_eps > 0 && cfg->layer_norm_eps < 1))
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: rms_norm_eps must be positive and below 1, got %g", path,
                           cfg->layer_norm_eps);
    if (!(cfg->rope_theta > 1))
        return status_fail(STATUS_ERR_FORMAT, "%s: rope_theta must be greater than 1, got %g", path,
                           cfg->rope_theta);
    return STATUS_OK;
}

// The yes/no ids from the tokenizer (vocabulary entries "yes" and "no", as the
// model card's convert_tokens_to_ids), checked against the vocabulary, and
// their LM-head rows (of embed_tokens when tied).
static status qwen3_open(arch_model *m, const tokenizer *tok) {
    const model_config *c = &m->cfg;
    const char *dir = m->ck.dir;
    int32_t ids[2];
    const char *what[2] = {"yes", "no"};
    for (int i = 0; i < 2; i++) {
        if (!tok || !tokenizer_token_to_id(tok, what[i], &ids[i]))
            return status_fail(STATUS_ERR_FORMAT, "%s: the tokenizer has no \"%s\" token", dir,
                               what[i]);
        if (ids[i] < 0 || ids[i] >= c->vocab_size)
            return status_fail(STATUS_ERR_ARG,
                               "%s: the \"%s\" token id %d is outside the vocabulary [0, %lld) of "
                               "%s/config.json",
                               dir, what[i], ids[i], (long long)c->vocab_size, dir);
    }
    if (ids[0] == ids[1])
        return status_fail(STATUS_ERR_ARG, "%s: the \"yes\" and \"no\" token ids are both %d", dir,
                           ids[0]);
    size_t H = (size_t)c->hidden_size;
    qwen3_state *s = mem_calloc(MEM_OTHER, sizeof *s);
    float *rows = mem_alloc(MEM_WEIGHTS, 2 * H * sizeof *rows);
    const char *head = c->tie_word_embeddings ? qwen3_tensors[QWEN3_T_EMBED].name
                                              : qwen3_tensors[QWEN3_T_LM_HEAD].name;
    status st = STATUS_OK;
    if (!s || !rows)
        st = status_wrap(STATUS_ERR_NOMEM, "%s", dir);
    else if ((st = checkpoint_read_f32_range(&m->ck, head, (size_t)ids[0] * H, H, rows)) ==
             STATUS_OK)
        st = checkpoint_read_f32_range(&m->ck, head, (size_t)ids[1] * H, H, rows + H);
    if (st != STATUS_OK) {
        mem_free(s);
        mem_free(rows);
        return st;
    }
    s->yes_id = ids[0];
    s->no_id = ids[1];
    s->yes_no = rows;
    m->family = s;
    return STATUS_OK;
}

static void qwen3_close(arch_model *m) {
    qwen3_state *s = m->family;
    mem_free(s->yes_no);
    mem_free(s);
    m->family = NULL;
}

// Scratch of one layer over up to max_tok tokens in sequences of up to
// max_seq_len tokens, and of scoring up to max_seqs sequences (one arena).
typedef struct {
    size_t max_tok, max_seq_len, max_seqs;
    float *x;        // (max_tok, H) RMSNorm output, input of the projections
    float *qkv;      // (max_tok, Q + 2 KV) per token: q heads, k heads, v heads
    float *ctx;      // (max_tok, Q) attention output, heads concatenated
    float *ffn;      // (max_tok, 2F) gate | up per token; then (max_tok, F) silu(gate) * up
    float *qg;       // (rep * QWEN3_ATT_BLOCK, D) one kv group's query block, head-major;
                     // then its attention output
    float *att;      // (rep * QWEN3_ATT_BLOCK, max_seq_len) that block's probabilities
    float *rope_cos; // (max_seq_len, D / 2) cos of position p, frequency i
    float *rope_sin; // (max_seq_len, D / 2)
    float *last;     // (max_seqs, H) normalised last-token states
    float *logits;   // (max_seqs, 2) yes / no logits
} qwen3_workspace;

// Buffer sizes in floats, in arena order (after the struct).
static void qwen3_ws_floats(const model_config *c, const arch_workspace_size *sz, size_t f[10]) {
    size_t H = (size_t)c->hidden_size, F = (size_t)c->intermediate_size;
    size_t D = (size_t)c->head_dim, Q = (size_t)c->n_heads * D;
    size_t KV = (size_t)c->n_kv_heads * D, rep = (size_t)(c->n_heads / c->n_kv_heads);
    size_t L = sz->max_seq_len, T = sz->max_tok;
    size_t blk = L < QWEN3_ATT_BLOCK ? L : QWEN3_ATT_BLOCK;
    size_t sizes[10] = {
        T * H,         T * (Q + 2 * KV), T * Q,       T * 2 * F,        rep * blk * D,
        rep * blk * L, L * (D / 2),      L * (D / 2), sz->max_seqs * H, sz->max_seqs * 2};
    memcpy(f, sizes, sizeof sizes);
}

static size_t qwen3_workspace_bytes(const model_config *c, const arch_workspace_size *sz) {
    size_t f[10], bytes = arch_ws_bytes(sizeof(qwen3_workspace));
    qwen3_ws_floats(c, sz, f);
    for (int i = 0; i < 10; i++)
        bytes += arch_ws_bytes(f[i] * sizeof(float));
    return bytes;
}

static status qwen3_workspace_bind(const model_config *c, const arch_workspace_size *sz,
                                   void *mem) {
    size_t f[10];
    qwen3_ws_floats(c, sz, f);
    unsigned char *p = mem;
    qwen3_workspace *ws = arch_ws_take(&p, sizeof *ws);
    ws->max_tok = sz->max_tok;
    ws->max_seq_len = sz->max_seq_len;
    ws->max_seqs = sz->max_seqs;
    float **bufs[10] = {&ws->x,   &ws->qkv,      &ws->ctx,      &ws->ffn,  &ws->qg,
                        &ws->att, &ws->rope_cos, &ws->rope_sin, &ws->last, &ws->logits};
    for (int i = 0; i < 10; i++)
        *bufs[i] = arch_ws_take(&p, f[i] * sizeof(float));
    ops_rope_table(sz->max_seq_len, (size_t)c->head_dim, c->rope_theta, ws->rope_cos, ws->rope_sin);
    return STATUS_OK;
}

// h (n_tok, H) = embed_tokens[ids].
static status qwen3_embed(const arch_model *m, const reranker_batch *b, float *h, void *ws) {
    (void)ws;
    return arch_gather_word_rows(m, b->ids, b->n_tok, h);
}

// Causal grouped-query attention of each sequence over its own tokens:
// ctx (n_tok, Q) from qkv (n_tok, Q + 2 KV) (q and k already normalised and
// rotated). Per sequence, kv head g and block of query rows [r0, r1): the
// rep query heads sharing kv head g are stacked head-major into one
// (rep * nb, D) matrix, so one sgemm computes their scores against keys
// [0, r1) (later keys are masked for every row of the block).
static void qwen3_attention(const model_config *c, const reranker_batch *b, qwen3_workspace *ws) {
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
                ops_sgemm(1, rep * nb, r1, D, qg, D, k, W, att, r1);
                for (size_t r = 0; r < rep; r++) {
                    for (size_t i = 0; i < nb; i++) {
                        float *row = att + (r * nb + i) * r1;
                        size_t visible = r0 + i + 1; // keys 0 .. r0 + i
                        ops_softmax_rows(row, 1, visible, scale);
                        memset(row + visible, 0, (r1 - visible) * sizeof *row);
                    }
                }
                // Output of the block into qg (its queries are no longer needed).
                ops_sgemm(0, rep * nb, D, r1, att, r1, v, W, qg, D);
                for (size_t r = 0; r < rep; r++)
                    for (size_t i = 0; i < nb; i++)
                        memcpy(ctx + (r0 + i) * Q + (g * rep + r) * D, qg + (r * nb + i) * D,
                               D * sizeof *qg);
            }
        }
    }
}

static status qwen3_layer_forward(const arch_model *m, const float *slot, const reranker_batch *b,
                                  float *h, void *wsp) {
    qwen3_workspace *ws = wsp;
    status st = arch_batch_fits("qwen3", b, ws->max_tok, ws->max_seq_len);
    if (st != STATUS_OK) return st;
    const model_config *c = &m->cfg;
    qwen3_layer_weights w;
    qwen3_layer_bind(m, slot, &w);
    size_t n = b->n_tok, H = (size_t)c->hidden_size, F = (size_t)c->intermediate_size;
    size_t D = (size_t)c->head_dim, nh = (size_t)c->n_heads, nkv = (size_t)c->n_kv_heads;
    size_t Q = nh * D, W = Q + 2 * nkv * D, half = D / 2;
    float eps = (float)c->layer_norm_eps;

    // Attention block: h += attention(rope(norm(x Wq^T)), rope(norm(x Wk^T)), x Wv^T) Wo^T,
    // x = RMSNorm(h).
    ops_rmsnorm_rows(h, n, H, w.ln1, eps, ws->x);
    ops_linear_m(ws->x, n, H, &w.wqkv, NULL, W, ws->qkv, 0);
    for (size_t s = 0; s < b->n_seq; s++) {
        for (size_t p = 0; p < b->seq_len[s]; p++) {
            float *q = ws->qkv + (b->seq_start[s] + p) * W; // (nh, D)
            float *k = q + Q;                               // (nkv, D)
            ops_rmsnorm_rows(q, nh, D, w.q_norm, eps, q);
            ops_rmsnorm_rows(k, nkv, D, w.k_norm, eps, k);
            ops_rope_heads(q, nh, D, ws->rope_cos + p * half, ws->rope_sin + p * half);
            ops_rope_heads(k, nkv, D, ws->rope_cos + p * half, ws->rope_sin + p * half);
        }
    }
    qwen3_attention(c, b, ws);
    ops_linear_m(ws->ctx, n, Q, &w.wo, NULL, H, h, 1);

    // MLP block: h += (silu(x Wg^T) * (x Wu^T)) Wd^T, x = RMSNorm(h).
    ops_rmsnorm_rows(h, n, H, w.ln2, eps, ws->x);
    ops_linear_m(ws->x, n, H, &w.wgu, NULL, 2 * F, ws->ffn, 0);
    // Row t of the product (t * F) is written below the gate/up row it reads
    // (2t * F), so rows are packed in place into (n, F) in increasing order.
    for (size_t t = 0; t < n; t++)
        ops_swiglu(ws->ffn + t * 2 * F, ws->ffn + t * 2 * F + F, ws->ffn + t * F, F);
    ops_linear_m(ws->ffn, n, F, &w.wdown, NULL, H, h, 1);
    return STATUS_OK;
}

// scores (n_seq,) = logit_yes - logit_no of RMSNorm(h[last token]; model.norm),
// the same head after every layer.
static status qwen3_score(const arch_model *m, size_t layer, const reranker_batch *b,
                          const float *h, void *wsp, float *scores) {
    (void)layer;
    qwen3_workspace *ws = wsp;
    const qwen3_state *st = m->family;
    size_t H = (size_t)m->cfg.hidden_size, n = b->n_seq;
    if (n > ws->max_seqs)
        return status_fail(STATUS_ERR_ARG, "qwen3: scoring %zu sequences, the workspace holds %zu",
                           n, ws->max_seqs);
    float *last = ws->last;     // (n, H)
    float *logits = ws->logits; // (n, 2)
    for (size_t s = 0; s < n; s++)
        memcpy(last + s * H, h + (b->seq_start[s] + b->seq_len[s] - 1) * H, H * sizeof *h);
    ops_rmsnorm_rows(last, n, H, m->global[QWEN3_T_NORM], (float)m->cfg.layer_norm_eps, last);
    ops_linear(last, n, H, st->yes_no, NULL, 2, logits, 0);
    for (size_t s = 0; s < n; s++)
        scores[s] = logits[s * 2] - logits[s * 2 + 1];
    return STATUS_OK;
}

// Projections (q, k, v, o, gate, up, down) on every token; causal attention
// as executed: each block of QWEN3_ATT_BLOCK queries multiplies with keys
// [0, block end), QK^T and PV, every query head.
static double qwen3_layer_flops(const model_config *c, size_t T) {
    double H = (double)c->hidden_size, F = (double)c->intermediate_size, D = (double)c->head_dim;
    double Q = (double)c->n_heads * D, KV = (double)c->n_kv_heads * D;
    double linear = 2.0 * (H * (Q + 2 * KV) + Q * H + 2 * F * H + F * H) * (double)T;
    double attn = 0.0;
    for (size_t r0 = 0; r0 < T; r0 += QWEN3_ATT_BLOCK) {
        size_t nb = T - r0 < QWEN3_ATT_BLOCK ? T - r0 : QWEN3_ATT_BLOCK;
        attn += 2.0 * 2.0 * (double)nb * (double)(r0 + nb) * Q;
    }
    return linear + attn;
}

// Final norm's output times the two yes/no rows.
static double qwen3_score_flops(const model_config *c) {
    return 2.0 * (double)c->hidden_size * 2.0;
}

static const char *const qwen3_hf_names[] = {"Qwen3ForCausalLM", NULL};
static const char *const qwen3_hf_refused[] = {
    "Qwen3ForSequenceClassification",
    "its score head is a different model (Qwen3-Reranker checkpoints are Qwen3ForCausalLM, "
    "scored with the LM head's \"yes\"/\"no\" logits)",
    NULL,
};

const arch_ops arch_ops_qwen3 = {
    .name = "qwen3",
    .hf_architectures = qwen3_hf_names,
    .hf_refused = qwen3_hf_refused,
    .tokenizer = "bpe-qwen3-prompt",
    .score_kind = "logit",
    .config_parse = qwen3_config_parse,
    .tensors = qwen3_tensors,
    .n_tensors = QWEN3_N_TENSORS,
    .open = qwen3_open,
    .close = qwen3_close,
    .batch_validate = NULL,
    .workspace_bytes = qwen3_workspace_bytes,
    .workspace_bind = qwen3_workspace_bind,
    .embed = qwen3_embed,
    .layer_forward = qwen3_layer_forward,
    .score = qwen3_score,
    .layer_flops = qwen3_layer_flops,
    .score_flops = qwen3_score_flops,
    .synth_tokenizer = NULL,
    // 2 layers, grouped-query attention (4 query heads on 2 key/value heads),
    // tied embeddings; vocab_size is the real tokenizer's (the prompt template
    // uses ids up to 151668), so the token table is most of the checkpoint.
    .test_config = "{\"architectures\": [\"Qwen3ForCausalLM\"], \"head_dim\": 8, "
                   "\"hidden_size\": 32, \"intermediate_size\": 64, "
                   "\"max_position_embeddings\": 4096, \"num_attention_heads\": 4, "
                   "\"num_hidden_layers\": 2, \"num_key_value_heads\": 2, "
                   "\"rope_theta\": 10000, \"tie_word_embeddings\": true, "
                   "\"vocab_size\": 151669}",
    .test_tokenizer_dir = "models/qwen3-reranker-tokenizer",
};
