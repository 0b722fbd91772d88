/*
 * arch.h - model families as plugins: one operations table per architecture
 * and a registry of one line per family (core/model/arch_registry.c).
 *
 * A family (core/model/<family>/<family>.c) gives:
 *   - the Hugging Face `architectures` names it accepts and the config.json
 *     parsing and validation of its options (config_parse);
 *   - ONE tensor table (arch_tensor): every tensor of the checkpoint with its
 *     Hugging Face name, shape, place in the layer slot and initialisation.
 *     The checkpoint's expected tensors (model_config_tensor_specs), the slot
 *     layout of one layer (arch_layer_floats, arch_layer_views), the reads of
 *     a layer (arch_layer_read), what is read at open, `grating synth`'s
 *     initialisation and `grating info`'s counts all derive from it;
 *   - its tokenizer and input template (a tokenizer registry name,
 *     core/tokenize/tokenizer.h);
 *   - open/close of its own state (e.g. Qwen3's yes/no rows), after the
 *     generic loading of the table's tensors (arch_model_open);
 *   - workspace sizing (one MEM_ACTIVATIONS arena per forward);
 *   - the forward pieces, each returning a status: embed, one layer over a
 *     packed chunk of sequences with the layer's weights in a slot, and the
 *     provisional-score head after any layer;
 *   - per-layer FLOPs (one sequence of T tokens) and score-head FLOPs, from
 *     which the forward's and the sweep's costs derive; bytes derive from the
 *     table;
 *   - synthetic weights: the table's init kinds, plus (optionally) a
 *     generated vocabulary when the config's folder has no tokenizer.
 * The engine (core/engine/engine.h) runs the full chunked forward, once, for
 * every family: embed -> per layer: score, policy, layer over chunks -> score.
 *
 * Adding a family: write core/model/<family>/<family>.c with its table and
 * ops (and its tiny test config, test_config below), add one line to
 * arch_registry.c; tests/test_arch_contract.c then tests it.
 * docs/ARCHITECTURE.md has the recipe.
 *
 *     const arch_ops *a = arch_find("BertForSequenceClassification");
 *     arch_model m;
 *     arch_model_options o = {.resident_layers = 1};
 *     if (arch_model_open(&m, "models/demo", &o, &tok) != STATUS_OK) ...
 *     ... m.ops->embed(&m, &batch, h, ws) ...
 *     arch_model_close(&m);
 */
#ifndef GRATING_ARCH_H
#define GRATING_ARCH_H

#include "base/status.h"
#include "io/checkpoint.h"
#include "io/direct_io.h"
#include "io/embed_cache.h"
#include "model/batch.h"
#include "model/model_config.h"
#include "model/ops.h"
#include "tokenize/tokenizer.h"

#include <stddef.h>
#include <stdint.h>

struct cJSON;
typedef struct arch_model arch_model;

// A dimension of a tensor shape, read from the config.
typedef enum {
    ARCH_DIM_NONE = 0, // no dimension (1-D tensors end here)
    ARCH_DIM_V,        // vocab_size
    ARCH_DIM_H,        // hidden_size
    ARCH_DIM_F,        // intermediate_size
    ARCH_DIM_P,        // max_position_embeddings
    ARCH_DIM_T,        // type_vocab_size
    ARCH_DIM_C,        // num_labels
    ARCH_DIM_D,        // head_dim
    ARCH_DIM_Q,        // n_heads * head_dim
    ARCH_DIM_KV,       // n_kv_heads * head_dim
} arch_dim;

// Initialisation of generated weights (core/model/synth.h): value = offset +
// uniform(-a, a), a = std * sqrt(3).
typedef enum {
    ARCH_INIT_WEIGHT = 0, // matrices and embeddings: std 0.02 * scale
    ARCH_INIT_BIAS,       // biases, LayerNorm biases: std 0.02
    ARCH_INIT_NORM,       // LayerNorm / RMSNorm weights: 1 + uniform(-0.1, 0.1)
    ARCH_INIT_HEAD,       // classifier weights: std 0.5 (scores spread)
} arch_init;

// Tensor flags.
enum {
    ARCH_T_LAYER = 1u << 0,      // one per layer ("%d" in the name), part of the layer slot
    ARCH_T_WORD_EMBED = 1u << 1, // the token table: read at open, or rows on demand (cache)
    ARCH_T_EMBEDDINGS = 1u << 2, // accounted as MEM_EMBEDDINGS (else MEM_WEIGHTS)
    ARCH_T_LAZY = 1u << 3,       // not read at open; the family reads what it needs
};

// One tensor of the checkpoint. Table order is the checkpoint's order (the
// order of model_config_tensor_specs, synth's streams and files): global
// tensors, then the layer tensors (contiguous entries, repeated per layer),
// then global tensors.
typedef struct {
    const char *name;    // Hugging Face name; layer tensors have one "%d"
    arch_dim dim0, dim1; // shape (dim0,) or (dim0, dim1)
    unsigned flags;      // ARCH_T_*
    int slot;            // layer tensors: position in the layer slot (0 = first); else -1
    arch_init init;
    // NULL: always present; else present when it returns 1 (e.g. lm_head
    // only when the embeddings are not tied). An absent tensor found in a
    // checkpoint is tolerated (transformers ignores it too), never "unused".
    int (*present)(const model_config *cfg);
} arch_tensor;

// Sizes a forward workspace must hold.
typedef struct {
    size_t max_tok;     // tokens of the largest chunk one layer runs over
    size_t max_seq_len; // longest sequence
    size_t max_seqs;    // sequences scored at once
} arch_workspace_size;

typedef struct arch_ops {
    const char *name;                    // short family name ("bert", "qwen3")
    const char *const *hf_architectures; // accepted config.json names, NULL-terminated
    // Names refused with a reason (e.g. a look-alike head), NULL-terminated
    // pairs {name, reason}; may be NULL.
    const char *const *hf_refused;
    const char *tokenizer;  // tokenizer registry name (core/tokenize/tokenizer.h)
    const char *score_kind; // what a score is, for traces and --json
    // Reads the family's keys of config.json into cfg (generic fields and
    // cfg->family), validates them (model_config_check_positive for sizes).
    status (*config_parse)(model_config *cfg, const struct cJSON *root, const char *path);
    const arch_tensor *tensors;
    size_t n_tensors;
    // Family state after the generic loading (m->global filled); may read lazy
    // tensors and use the tokenizer (e.g. label token ids). NULL: nothing.
    // On failure it leaves nothing to close (arch_model_open closes the rest).
    status (*open)(arch_model *m, const tokenizer *tok);
    void (*close)(arch_model *m); // NULL: nothing
    // Extra checks of a batch beyond model_config_check_batch (e.g. token
    // types); NULL: none.
    status (*batch_validate)(const arch_model *m, const reranker_batch *b);
    // Bytes of a workspace for `sz`, and carving of that arena (mem, 64-byte
    // aligned) into the family's buffers (plus tables, e.g. RoPE).
    size_t (*workspace_bytes)(const model_config *cfg, const arch_workspace_size *sz);
    status (*workspace_bind)(const model_config *cfg, const arch_workspace_size *sz, void *mem);
    // h (n_tok, H) = the embedding output of b.
    status (*embed)(const arch_model *m, const reranker_batch *b, float *h, void *ws);
    // One layer in place over the sequences of b, whose tokens are
    // h[0 .. b->n_tok) (seq_start relative to h); weights in `slot`
    // (arch_layer_floats floats, as arch_layer_read wrote them).
    status (*layer_forward)(const arch_model *m, const float *slot, const reranker_batch *b,
                            float *h, void *ws);
    // scores (b->n_seq,) = the provisional score after `layer` (0 = embedding
    // output, n_layers = the model's score) of each sequence of b.
    status (*score)(const arch_model *m, size_t layer, const reranker_batch *b, const float *h,
                    void *ws, float *scores);
    // Matmul FLOPs (2*m*n*k) of one layer over one sequence of seq_len tokens,
    // as the forward executes it, and of the score head for one sequence.
    double (*layer_flops)(const model_config *cfg, size_t seq_len);
    double (*score_flops)(const model_config *cfg);
    // Writes a generated vocabulary into dir when the config's folder has no
    // tokenizer (*generated = 1); NULL: the family needs real tokenizer files.
    status (*synth_tokenizer)(const model_config *cfg, const char *dir, int *generated);
    // The contract test (tests/test_arch_contract.c) runs every registered
    // family through score, chunking, streaming, the embedding cache, trace
    // replay and FLOPs on a tiny generated checkpoint, so a family is tested
    // by registering it. It needs, from the family itself (it names none):
    //   test_config: the text of a config.json of a tiny model of the family
    //     (a few layers, small sizes; vocab_size covering every id its
    //     tokenizer emits). Required: the contract test fails a family
    //     without it (a family nobody tests would otherwise pass silently).
    //   test_tokenizer_dir: NULL when synth_tokenizer generates the tokenizer;
    //     else a folder under the shared data folder (GRATING_SHARED, e.g.
    //     "models/qwen3-reranker-tokenizer") holding real tokenizer files,
    //     which synth copies next to the tiny config. The test skips the
    //     family, saying so, when that folder is absent.
    const char *test_config;
    const char *test_tokenizer_dir;
} arch_ops;

// Workspace arenas (ops->workspace_bytes / workspace_bind): every buffer
// starts on a 64-byte boundary. A family sums arch_ws_bytes of its buffers
// and takes them in the same order with arch_ws_take.
static inline size_t arch_ws_bytes(size_t bytes) {
    return (bytes + 63) & ~(size_t)63;
}
static inline void *arch_ws_take(unsigned char **cursor, size_t bytes) {
    void *p = *cursor;
    *cursor += arch_ws_bytes(bytes);
    return p;
}

// The registry (core/model/arch_registry.c).
// The family accepting Hugging Face architecture name `hf_name`, or NULL.
const arch_ops *arch_find(const char *hf_name);
// The family with short name `name` ("bert"), or NULL.
const arch_ops *arch_find_family(const char *name);
// Registered families, NULL-terminated.
const arch_ops *const *arch_list(void);
// The reason `hf_name` is refused by a family, or NULL.
const char *arch_refused_reason(const char *hf_name);
// Checks a family's table and ops are complete and consistent (layer entries
// contiguous, slots a permutation, required ops present). For tests.
status arch_ops_check(const arch_ops *a);

// Value of a dimension for a config.
int64_t arch_dim_value(const model_config *cfg, arch_dim d);
// 1 when table entry t is a layer matrix: a 2-D layer tensor, kept in
// cfg->matrix_dtype (the 1-D ones, norms and biases, stay f32).
int arch_tensor_is_matrix(const arch_tensor *t);
// Bytes of one layer slot: its tensors in slot order, matrices in
// cfg->matrix_dtype, each tensor aligned to its element size.
size_t arch_layer_bytes(const model_config *cfg);
// The slot size in floats (arch_layer_bytes rounded up to 4 bytes): what
// weight windows and resident storage allocate.
size_t arch_layer_floats(const model_config *cfg);
// Pointers into `slot` of every layer tensor: views[i] for table index i
// (NULL for global tensors). views has cfg->arch->n_tensors entries. A
// matrix view holds cfg->matrix_dtype elements (arch_layer_matrix wraps it
// for ops_linear_m); other views hold floats.
void arch_layer_views(const model_config *cfg, const void *slot, const void **views);
// The matrix of view i as an ops_matrix (data + dtype).
static inline ops_matrix arch_layer_matrix(const model_config *cfg, const void *view) {
    ops_matrix m = {
        .data = view, .dtype = (ops_dtype)cfg->matrix_dtype, .group = cfg->matrix_group};
    return m;
}
// FLOPs of the full forward over a batch: every layer over every sequence
// plus the score head after the embeddings and every layer.
double arch_forward_flops(const model_config *cfg, const reranker_batch *b);

// How much of the model is kept in memory (see core/engine/reranker.h).
typedef struct {
    // How the layer matrices are kept (cfg.matrix_dtype): OPS_DTYPE_F32
    // (default, as before) or OPS_DTYPE_BF16 (half the slot bytes; f32 and
    // f16 checkpoints are rounded to nearest even at load, bf16 ones copied).
    int matrix_dtype;
    int resident_layers;      // 1: all layers read at open; 0: streamed into slots
    size_t embed_cache_rows;  // 0: whole token table; > 0: LRU rows (core/io/embed_cache.h)
    int allow_unused_tensors; // checkpoint_options
} arch_model_options;

// An opened model of any family.
struct arch_model {
    const arch_ops *ops;
    model_config cfg;
    checkpoint ck;
    const float **global;    // (n_tensors,) global tensors read at open; NULL otherwise
    float *embed_storage;    // MEM_EMBEDDINGS tensors (token table unless cached)
    float *head_storage;     // other global tensors, MEM_WEIGHTS
    const float *word;       // (V, H) token table, NULL when cached
    embed_cache *word_cache; // rows on demand when word is NULL, else NULL
    size_t layer_floats;
    size_t *slot_offsets; // (n_tensors,) byte offset of each layer tensor in a slot, else SIZE_MAX
    float *layer_storage; // (n_layers, layer_floats) when resident, else NULL
    void *family;         // the family's state (ops->open / ops->close)
};

// Opens the checkpoint of folder dir, reads the global tensors (not lazy
// ones; the token table unless cached) and, with resident_layers, every
// layer, then calls ops->open with the tokenizer. On failure nothing needs
// closing.
status arch_model_open(arch_model *m, const char *dir, const arch_model_options *opt,
                       const tokenizer *tok);
void arch_model_close(arch_model *m);
// Reads layer `layer` into slot (arch_layer_bytes): buffered pread,
// or O_DIRECT through io when io != NULL.
status arch_layer_read(const checkpoint *ck, int layer, float *slot, direct_io *io);
// arch_layer_views for an opened model, from the offsets computed once at
// open (families' layer_forward binds a slot per layer and chunk).
void arch_model_layer_views(const arch_model *m, const float *slot, const void **views);
// The slot of layer l when resident, else NULL.
const float *arch_model_layer(const arch_model *m, size_t l);
// h (n, H) = rows ids of the token table (resident or cached).
status arch_gather_word_rows(const arch_model *m, const int32_t *ids, size_t n, float *h);
// For families' layer_forward: fails (STATUS_ERR_ARG, naming the family) when
// b holds more than max_tok tokens or a sequence longer than max_seq_len,
// the sizes its workspace was made for.
status arch_batch_fits(const char *family, const reranker_batch *b, size_t max_tok,
                       size_t max_seq_len);
// Index of the tensor named `name` in the family's table, or -1 (for
// families' open and tests).
int arch_tensor_index(const arch_ops *a, const char *name);

#endif
