/*
 * bert.h - BertForSequenceClassification cross-encoder forward (f32).
 *
 * Embeddings + post-LN encoder layers (GELU erf) + pooler (tanh on the first
 * token) + classifier; the relevance score is logit 0. The provisional score
 * of layer l is pooler + classifier applied to the first-token state after
 * layer l (l = 0: embedding output; l = n_layers: the model's final score).
 *
 * Batches are *packed*: the tokens of all candidates are stored one after
 * the other (no padding), and attention runs per candidate over its own
 * tokens. This is the same computation as a padded batch with an additive
 * attention mask (padded keys get probability exactly 0 there), without
 * spending FLOPs on pad rows; tests check a candidate alone equals the same
 * candidate inside a batch.
 *
 *     bert_model m;
 *     if (bert_model_load(&m, "models/demo") != STATUS_OK) ...     // all layers resident
 *     bert_batch b;       // filled by the caller from the tokenizer
 *     float *scores = malloc((m.cfg.n_layers + 1) * b.n_seq * sizeof *scores);
 *     bert_forward_all_layers(&m, &b, 0, scores);  // (n_layers + 1, n_seq)
 *     bert_model_free(&m);
 *
 * Lower-level pieces (embed, one layer over a range of sequences, score) are
 * public so that the monolithic engine can run layers over chunks of the
 * active candidates and stream layer weights through a window.
 */
#ifndef GRATING_BERT_H
#define GRATING_BERT_H

#include "io/checkpoint.h"
#include "io/direct_io.h"
#include "io/embed_cache.h"
#include "model/model_config.h"
#include "base/status.h"

#include <stddef.h>
#include <stdint.h>

// Weights of one encoder layer, pointing into one contiguous slot of
// bert_layer_floats() floats (so a layer is one unit of I/O and memory).
typedef struct {
    float *wqkv;  // (3H, H) query rows, then key rows, then value rows
    float *bqkv;  // (3H,)
    float *wo;    // (H, H) attention output dense
    float *bo;    // (H,)
    float *ln1_g; // (H,) attention output LayerNorm
    float *ln1_b; // (H,)
    float *w1;    // (I, H) intermediate dense
    float *b1;    // (I,)
    float *w2;    // (H, I) output dense
    float *b2;    // (H,)
    float *ln2_g; // (H,) output LayerNorm
    float *ln2_b; // (H,)
} bert_layer_weights;

typedef struct {
    float *word;  // (V, H); NULL when rows come from bert_model.word_cache
    float *pos;   // (P, H)
    float *type;  // (T, H)
    float *ln_g;  // (H,)
    float *ln_b;  // (H,)
} bert_embeddings;

typedef struct {
    float *pool_w; // (H, H)
    float *pool_b; // (H,)
    float *cls_w;  // (C, H)
    float *cls_b;  // (C,)
} bert_head;

typedef struct {
    model_config cfg;
    checkpoint ck;
    float *embed_storage;       // word (unless cached) + pos + type + LN, MEM_EMBEDDINGS
    embed_cache *word_cache;    // word rows on demand when emb.word is NULL, else NULL
    float *head_storage;        // pooler + classifier, MEM_WEIGHTS
    float *layer_storage;       // (n_layers, bert_layer_floats), MEM_WEIGHTS; NULL if not resident
    bert_embeddings emb;
    bert_head head;
    bert_layer_weights *layers; // (n_layers,) views into layer_storage
} bert_model;

// A packed batch of (query, document) sequences.
typedef struct {
    size_t n_seq;
    size_t n_tok;            // sum of seq_len
    const size_t *seq_start; // (n_seq,) offset of each sequence's first token
    const size_t *seq_len;   // (n_seq,)
    const int32_t *ids;      // (n_tok,)
    const int32_t *type_ids; // (n_tok,)
} bert_batch;

// Scratch buffers for one layer over up to max_tok tokens with sequences of
// up to max_seq_len tokens (allocated once, MEM_ACTIVATIONS).
typedef struct {
    size_t max_tok, max_seq_len;
    float *qkv;  // (max_tok, 3H)
    float *ctx;  // (max_tok, H)
    float *tmp;  // (max_tok, H)
    float *ffn;  // (max_tok, I)
    float *att;  // (max_seq_len, max_seq_len) one head's attention probabilities
    float *pool; // (max_tok, H) first-token states / pooler outputs for scoring
} bert_workspace;

// Number of floats of one layer's weights (the slot size).
size_t bert_layer_floats(const model_config *cfg);

// Points `w` into `slot` (bert_layer_floats floats).
void bert_layer_bind(const model_config *cfg, float *slot, bert_layer_weights *w);

// Reads layer `layer` from the checkpoint into `slot`: buffered pread, or
// with O_DIRECT through `io` (core/io/direct_io.h) when io != NULL.
status bert_layer_read_io(const checkpoint *ck, int layer, float *slot, direct_io *io);
static inline status bert_layer_read(const checkpoint *ck, int layer, float *slot) {
    return bert_layer_read_io(ck, layer, slot, NULL);
}

// Opens the checkpoint and reads embeddings, head and (when resident != 0)
// all layers. With resident == 0 the caller loads layers into its own slots.
// embed_cache_rows == 0 reads the whole word-embedding table; > 0 keeps an
// LRU of that many rows instead (core/io/embed_cache.h), read on a miss.
status bert_model_open_ex(bert_model *m, const char *dir, int resident, size_t embed_cache_rows);
// The same with checkpoint options (NULL = defaults: unused tensors refused).
status bert_model_open_opts(bert_model *m, const char *dir, int resident, size_t embed_cache_rows,
                            const checkpoint_options *ck_opt);
static inline status bert_model_open(bert_model *m, const char *dir, int resident) {
    return bert_model_open_ex(m, dir, resident, 0);
}
static inline status bert_model_load(bert_model *m, const char *dir) {
    return bert_model_open(m, dir, 1);
}
void bert_model_free(bert_model *m);

// Checks ids and lengths against the config (vocab, positions, types).
status bert_batch_validate(const bert_model *m, const bert_batch *b);

status bert_workspace_init(bert_workspace *ws, const model_config *cfg, size_t max_tok,
                           size_t max_seq_len);
void bert_workspace_free(bert_workspace *ws);

// h (n_tok, H) = LayerNorm(word[id] + pos[position in sequence] + type[type id]).
// Fails only with the embedding cache (a miss whose read fails).
status bert_embed(const bert_model *m, const bert_batch *b, float *h);

// One encoder layer, in place, over the sequences of `b` whose tokens are
// h[0 .. b->n_tok) (seq_start relative to h). n_tok <= ws->max_tok.
void bert_layer_forward(const bert_model *m, const bert_layer_weights *w, const bert_batch *b,
                        float *h, bert_workspace *ws);

// scores (n_seq,) = classifier(tanh(pooler(h[first token of each sequence])))[0].
void bert_score_first_tokens(const bert_model *m, const bert_batch *b, const float *h,
                             bert_workspace *ws, float *scores);

// Full forward with the provisional score of every layer:
// layer_scores (n_layers + 1, n_seq). Runs the layers over chunks of at most
// `chunk` sequences (0 = all at once); the chunk size does not change results.
// Requires resident layers. Fails with STATUS_ERR_NUMERIC on a non-finite score.
status bert_forward_all_layers(const bert_model *m, const bert_batch *b, size_t chunk,
                               float *layer_scores);

// Matmul FLOPs of a full forward over the batch (2*m*n*k, real tokens only).
double bert_forward_flops(const model_config *cfg, const bert_batch *b);

#endif
