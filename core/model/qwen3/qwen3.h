/*
 * qwen3.h - Qwen3-Reranker forward: Qwen3ForCausalLM used as a yes/no
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
 * and are parameters of qwen3_model_open().
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
 *     qwen3_model m;
 *     if (qwen3_model_open(&m, "models/Qwen3-Reranker-0.6B", 9693, 2152, 1) != STATUS_OK) {
 *         fprintf(stderr, "grating: %s\n", status_message());
 *         return 1;
 *     }
 *     qwen3_batch b = {...};   // prompt token ids from the tokenizer, packed
 *     float *scores = malloc((m.cfg.n_layers + 1) * b.n_seq * sizeof *scores);
 *     qwen3_forward_all_layers(&m, &b, 0, scores);   // (n_layers + 1, n_seq)
 *     qwen3_model_free(&m);
 *
 * Lower-level pieces (embed, one layer over a range of sequences, score the
 * last tokens) are public so that the monolithic engine can run layers over
 * chunks of the active candidates and stream layer weights through a window,
 * exactly as with bert.h.
 */
#ifndef GRATING_QWEN3_H
#define GRATING_QWEN3_H

#include "io/checkpoint.h"
#include "io/direct_io.h"
#include "io/embed_cache.h"
#include "model/model_config.h"
#include "base/status.h"

#include <stddef.h>
#include <stdint.h>

// Query rows per attention block: a block of queries [r0, r0 + B) only reads
// keys [0, r0 + B) (causal), and the score buffer is (rep * B, max_seq_len).
enum { QWEN3_ATT_BLOCK = 128 };

// Weights of one decoder layer, pointing into one contiguous slot of
// qwen3_layer_floats() floats (a layer is one unit of I/O and memory).
// Q = n_heads * head_dim, KV = n_kv_heads * head_dim, D = head_dim.
typedef struct {
    float *ln1;    // (H,) input_layernorm
    float *wqkv;   // (Q + 2 KV, H) q_proj rows, then k_proj rows, then v_proj rows
    float *wo;     // (H, Q) o_proj
    float *q_norm; // (D,)
    float *k_norm; // (D,)
    float *ln2;    // (H,) post_attention_layernorm
    float *wgu;    // (2F, H) gate_proj rows, then up_proj rows
    float *wdown;  // (H, F) down_proj
} qwen3_layer_weights;

typedef struct {
    model_config cfg;
    checkpoint ck;
    int32_t yes_id, no_id;
    float *embed;         // (V, H) embed_tokens, MEM_EMBEDDINGS; NULL when cached
    embed_cache *word_cache; // embed_tokens rows on demand when embed is NULL, else NULL
    float *head_storage;  // final norm + yes/no rows, MEM_WEIGHTS
    float *final_norm;    // (H,) model.norm
    float *yes_no;        // (2, H) LM-head rows of "yes" then "no"
    float *layer_storage; // (n_layers, qwen3_layer_floats), MEM_WEIGHTS; NULL if not resident
    qwen3_layer_weights *layers; // (n_layers,) views into layer_storage
} qwen3_model;

// A packed batch of prompts (one per candidate). Layers and scoring read only
// n_seq, n_tok, seq_start and seq_len; ids are read by qwen3_embed.
typedef struct {
    size_t n_seq;
    size_t n_tok;            // sum of seq_len
    const size_t *seq_start; // (n_seq,) offset of each sequence's first token
    const size_t *seq_len;   // (n_seq,)
    const int32_t *ids;      // (n_tok,)
} qwen3_batch;

// Scratch buffers for one layer over up to max_tok tokens in sequences of up
// to max_seq_len tokens, and for scoring up to max_seqs sequences at once
// (allocated once, MEM_ACTIVATIONS).
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

// Number of floats of one layer's weights (the slot size).
size_t qwen3_layer_floats(const model_config *cfg);

// Points `w` into `slot` (qwen3_layer_floats floats).
void qwen3_layer_bind(const model_config *cfg, float *slot, qwen3_layer_weights *w);

// Reads layer `layer` from the checkpoint into `slot`: buffered pread, or
// with O_DIRECT through `io` (core/io/direct_io.h) when io != NULL.
status qwen3_layer_read_io(const checkpoint *ck, int layer, float *slot, direct_io *io);
static inline status qwen3_layer_read(const checkpoint *ck, int layer, float *slot) {
    return qwen3_layer_read_io(ck, layer, slot, NULL);
}

// Opens the checkpoint (architecture Qwen3ForCausalLM), checks the yes/no ids
// (inside the vocabulary, distinct), reads the embeddings, the final norm, the
// two LM-head rows and (when resident != 0) all layers. With resident == 0 the
// caller loads layers into its own slots. On failure nothing needs freeing.
// embed_cache_rows == 0 reads the whole embed_tokens table; > 0 keeps an LRU
// of that many rows instead (core/io/embed_cache.h), read on a miss. The yes/no
// LM-head rows are read from the checkpoint either way.
status qwen3_model_open_ex(qwen3_model *m, const char *dir, int32_t yes_id, int32_t no_id,
                           int resident, size_t embed_cache_rows);
// The same with checkpoint options (NULL = defaults: unused tensors refused).
status qwen3_model_open_opts(qwen3_model *m, const char *dir, int32_t yes_id, int32_t no_id,
                             int resident, size_t embed_cache_rows,
                             const checkpoint_options *ck_opt);
static inline status qwen3_model_open(qwen3_model *m, const char *dir, int32_t yes_id,
                                      int32_t no_id, int resident) {
    return qwen3_model_open_ex(m, dir, yes_id, no_id, resident, 0);
}
void qwen3_model_free(qwen3_model *m);

// Checks ids and lengths against the config (vocabulary, max positions, packing).
status qwen3_batch_validate(const qwen3_model *m, const qwen3_batch *b);

status qwen3_workspace_init(qwen3_workspace *ws, const model_config *cfg, size_t max_tok,
                            size_t max_seq_len, size_t max_seqs);
void qwen3_workspace_free(qwen3_workspace *ws);

// h (n_tok, H) = embed_tokens[ids]. Fails only with the embedding cache (a
// miss whose read fails).
status qwen3_embed(const qwen3_model *m, const qwen3_batch *b, float *h);

// One decoder layer, in place, over the sequences of `b` whose tokens are
// h[0 .. b->n_tok) (seq_start relative to h). Fails with STATUS_ERR_ARG when
// the batch exceeds the workspace (n_tok > max_tok or a sequence longer than
// max_seq_len).
status qwen3_layer_forward(const qwen3_model *m, const qwen3_layer_weights *w, const qwen3_batch *b,
                           float *h, qwen3_workspace *ws);

// scores (n_seq,) = logit_yes - logit_no of RMSNorm(h[last token of each
// sequence]; model.norm). Fails with STATUS_ERR_ARG when n_seq > max_seqs.
status qwen3_score_last_tokens(const qwen3_model *m, const qwen3_batch *b, const float *h,
                               qwen3_workspace *ws, float *scores);

// Full forward with the provisional score of every layer:
// layer_scores (n_layers + 1, n_seq). Runs the layers over chunks of at most
// `chunk` sequences (0 = all at once); the chunk size does not change results.
// Requires resident layers. Fails with STATUS_ERR_NUMERIC on a non-finite score.
status qwen3_forward_all_layers(const qwen3_model *m, const qwen3_batch *b, size_t chunk,
                                float *layer_scores);

// Matmul FLOPs of a full forward over the batch as executed (2*m*n*k of every
// sgemm on real tokens; causal attention counts the key blocks it reads:
// each block of QWEN3_ATT_BLOCK queries multiplies with keys [0, block end)),
// plus the per-layer scoring of the last tokens.
double qwen3_forward_flops(const model_config *cfg, const qwen3_batch *b);

#endif
