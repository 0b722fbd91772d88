/*
 * reranker.h - one interface over every registered reranker architecture
 * (core/model/arch.h, core/model/arch_registry.c lists them): the
 * model, its tokenizer and input template, and the forward pieces the engine
 * drives layer by layer. Every command (score, rerank, trace) goes through it,
 * so a Hugging Face folder of any registered family works with every command
 * unchanged. Nothing here names a family.
 *
 *     reranker r;
 *     if (reranker_open(&r, "models/my-reranker", NULL) != STATUS_OK) ...
 *     tokenizer_encoding enc = {0};
 *     reranker_encode_pair(&r, query, doc, 512, &enc);   // ids (+ token types)
 *     ...pack into a reranker_batch, then engine_run(&r, &batch, policy, ...)...
 *     tokenizer_encoding_free(&enc);
 *     reranker_close(&r);
 *
 * Inputs are the family's template (its tokenizer, core/tokenize/tokenizer.h),
 * the document truncated to fit max_len. Scores are what the family's head
 * gives (r->cfg.arch->score_kind says what it is, e.g. a logit).
 */
#ifndef GRATING_RERANKER_H
#define GRATING_RERANKER_H

#include "base/status.h"
#include "model/arch.h"
#include "model/batch.h"
#include "model/model_config.h"
#include "tokenize/tokenizer.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    model_config cfg;             // = model.cfg; cfg.arch is the family
    arch_model model;             // weights and the family's state
    tokenizer tok;                // the family's tokenizer and input template
    const char *tokenizer_source; // the file the vocabulary came from
    direct_io *dio; // O_DIRECT reader of streamed layers (reranker_options.direct_io), or NULL
} reranker;

// One forward arena (MEM_ACTIVATIONS), carved by the family.
typedef struct {
    void *mem;
    size_t bytes;
} reranker_workspace;

// How much of the model is kept in memory.
typedef struct {
    // 1: every layer is read at open (the in-memory baseline); 0: layers are
    // streamed through a weight_window (reranker_layer_read fills its slots).
    int resident_layers;
    // 0: the whole word-embedding table is read at open; > 0: an LRU of this
    // many rows read from the checkpoint on a miss (core/io/embed_cache.h).
    size_t embed_cache_rows;
    // 1: reranker_layer_read (the weight window's reads) uses O_DIRECT
    // (core/io/direct_io.h) instead of buffered pread; layers read at open and
    // embedding rows stay buffered. Fails at open on filesystems without
    // O_DIRECT. reranker_layer_read must then not run on two threads at once
    // (one staging buffer): one weight window per reranker.
    int direct_io;
    // 1: a checkpoint holding tensors the architecture does not read (e.g.
    // more layers than config.json says) is accepted; 0 (default): refused
    // with the list (checkpoint_options, `--allow-unused-tensors`).
    int allow_unused_tensors;
    // How the layer matrices are kept in memory and in weight-window slots
    // (an ops_dtype): OPS_DTYPE_F32 (0, default) or OPS_DTYPE_BF16 (half the
    // slot bytes; bf16 matmuls on the oneDNN backend, f32 math on bf16-valued
    // weights converted per tile on OpenBLAS). `--compute f32|bf16`.
    int matrix_dtype;
} reranker_options;

// Opens model + tokenizer of a Hugging Face folder as `opt` says.
// `instruction` is used by instruction-following rerankers' templates, NULL =
// the default; others ignore it. On failure nothing needs closing.
//
//     reranker_options opt = {.resident_layers = 0,
//                             .embed_cache_rows = embed_cache_rows_for_fraction(V, 0.10)};
//     if (reranker_open_ex(&r, dir, NULL, &opt) != STATUS_OK) ...
status reranker_open_ex(reranker *r, const char *dir, const char *instruction,
                        const reranker_options *opt);
// All layers resident, full embedding table.
status reranker_open(reranker *r, const char *dir, const char *instruction);
// Layers streamed, full embedding table.
status reranker_open_streamed(reranker *r, const char *dir, const char *instruction);
// The embedding cache, or NULL when the full table is resident (for its
// statistics: hits, misses, read_seconds; embed_cache_reset_stats per query).
embed_cache *reranker_embed_cache(const reranker *r);
// 1 when the layers are in memory (reranker_open).
int reranker_layers_resident(const reranker *r);
// Floats of one layer slot, and the reader a weight_window calls
// (ctx = const reranker *).
size_t reranker_layer_floats(const reranker *r);
status reranker_layer_read(void *ctx, int layer, float *slot);
void reranker_close(reranker *r);

// The model's input for one pair, the document truncated to fit max_len.
status reranker_encode_pair(const reranker *r, const char *query, const char *doc, size_t max_len,
                            tokenizer_encoding *enc);

// Checks --max-len against the model (default `given == 0`: capped to the
// model's limit) and the tokenizer against the embedding table.
status reranker_check_max_len(const reranker *r, long *max_len, int given);

// Forward pieces (core/model/arch.h); each returns a status.
// Ids, lengths and packing against the config, then the family's own checks.
status reranker_batch_validate(const reranker *r, const reranker_batch *b);
// A workspace for layers over up to max_tok tokens in sequences of up to
// max_seq_len, scoring up to max_seqs sequences at once.
status reranker_workspace_init(const reranker *r, reranker_workspace *ws, size_t max_tok,
                               size_t max_seq_len, size_t max_seqs);
void reranker_workspace_free(reranker_workspace *ws);
// h (n_tok, H) = the embedding output. Fails with the embedding cache (a
// miss whose read fails).
status reranker_embed(const reranker *r, const reranker_batch *b, float *h, reranker_workspace *ws);
// Resident layer `layer` in place over b's tokens h[0 .. b->n_tok).
status reranker_layer_forward(const reranker *r, size_t layer, const reranker_batch *b, float *h,
                              reranker_workspace *ws);
// One layer with its weights in `slot` (reranker_layer_floats floats, as
// reranker_layer_read wrote them).
status reranker_layer_forward_slot(const reranker *r, const float *slot, const reranker_batch *b,
                                   float *h, reranker_workspace *ws);
// scores (b->n_seq,) = the provisional score after `layer` (0 = embeddings).
status reranker_score(const reranker *r, size_t layer, const reranker_batch *b, const float *h,
                      reranker_workspace *ws, float *scores);
// Matmul FLOPs of the full forward over the batch (arch_forward_flops).
double reranker_forward_flops(const reranker *r, const reranker_batch *b);

#endif
