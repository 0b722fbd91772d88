/*
 * model_config.h - the architecture description read from a Hugging Face
 * config.json, and the list of tensors (name, shape) that architecture
 * expects in the checkpoint. The same list drives loading (validation of
 * every shape), `grating synth` (writing generated weights) and `grating
 * info` (parameter and byte counts).
 *
 *     model_config cfg;
 *     if (model_config_load(&cfg, "models/x/config.json") != STATUS_OK) ...
 *     tensor_spec *specs; size_t n;
 *     model_config_tensor_specs(&cfg, &specs, &n);   // free() the array
 */
#ifndef GRATING_MODEL_CONFIG_H
#define GRATING_MODEL_CONFIG_H

#include "base/status.h"

#include <stdalign.h>

#include <stddef.h>
#include <stdint.h>

struct arch_ops;
struct cJSON;

// Bytes of the family's own config fields (model_config.family).
enum { MODEL_CONFIG_FAMILY_BYTES = 256 };

typedef struct {
    const struct arch_ops *arch; // the family (core/model/arch.h) that accepted arch_name
    char arch_name[64];          // as written in config.json "architectures"[0]
    // Dimensions every transformer family has, read by the family's config_parse.
    int64_t vocab_size;
    int64_t hidden_size;
    int64_t n_layers;
    int64_t n_heads;
    int64_t n_kv_heads; // = n_heads without grouped-query attention
    int64_t head_dim;   // hidden / heads, or the config's "head_dim" (heads * head_dim may != hidden)
    int64_t intermediate_size;
    int64_t max_position_embeddings;
    int64_t type_vocab_size; // token types (0 when the family has none)
    int64_t num_labels;      // classifier outputs (0 when the family has no classifier)
    double layer_norm_eps;   // LayerNorm or RMSNorm epsilon
    double rope_theta;       // RoPE base (0 when the family has no RoPE)
    int tie_word_embeddings; // the LM head is the token table
    // "torch_dtype" (or newer "dtype") as written, e.g. "bfloat16"; "" when
    // absent. Only describes the weights (`grating info` without them).
    char torch_dtype[16];
    // How grating keeps the layer matrices (2-D layer tensors) in memory and
    // in weight-window slots: an ops_dtype (core/model/ops.h), OPS_DTYPE_F32
    // (0) unless the model was opened with another (arch_model_options). Not
    // a config.json key; every slot layout derives from it.
    int matrix_dtype;
    // OPS_DTYPE_Q4's group size (input columns per group, -1: one group), from
    // the GPTQ checkpoint or the quantize-at-load option; 0 for other dtypes.
    int matrix_group;
    // The family's own fields (its config_parse writes a struct here; a copy
    // of the config copies them).
    _Alignas(16) unsigned char family[MODEL_CONFIG_FAMILY_BYTES];
} model_config;

// Largest number of dims of any tensor the project reads.
enum { TENSOR_MAX_DIMS = 4, TENSOR_NAME_CAP = 128 };

// One tensor the architecture expects. layer = -1 for tensors outside the
// layer stack (embeddings, pooler, head), else the layer index.
typedef struct {
    char name[TENSOR_NAME_CAP];
    int n_dims;
    int64_t shape[TENSOR_MAX_DIMS];
    int layer;
    int init; // arch_init of the tensor (core/model/arch.h): how synth generates it
} tensor_spec;

// Reads and validates config.json: the architecture must be registered
// (core/model/arch.h); its family parses and validates the rest (sizes
// positive and consistent; options the forward does not implement are
// rejected with STATUS_ERR_UNSUPPORTED).
status model_config_load(model_config *cfg, const char *path);
// The same from config.json's text (e.g. stored in a trace); `path` names it
// in messages.
status model_config_parse_text(model_config *cfg, const char *text, size_t len, const char *path);

// For families' config_parse: v must be in [1, the bound grating accepts for
// key] (bounds keep every size product exact); an error names path and key.
status model_config_check_positive(const char *path, const char *key, int64_t v);

// For families' config_parse: the sizes every family's config.json must hold
// (vocab_size, hidden_size, num_hidden_layers, num_attention_heads,
// intermediate_size), each an error naming path and key when missing or not
// an integer.
status model_config_get_sizes(model_config *cfg, const struct cJSON *root, const char *path);

// The tensors of the checkpoint in a fixed order (the family's table:
// embeddings, layers 0..L-1, head). *specs is malloc'd; free() it.
status model_config_tensor_specs(const model_config *cfg, tensor_spec **specs, size_t *n);

// Checks a packed batch against the config (shared by every architecture):
// at least one sequence, sequences packed one after the other, none empty or
// longer than max_position_embeddings, n_tok the sum of the lengths, every
// id inside the vocabulary.
status model_config_check_batch(const model_config *cfg, size_t n_seq, const size_t *seq_start,
                                const size_t *seq_len, size_t n_tok, const int32_t *ids);

// Bytes per element of cfg->torch_dtype ("float32" 4, "bfloat16"/"float16"
// 2), or 0 when absent or another type.
size_t model_config_dtype_bytes(const model_config *cfg);

// Number of elements of one spec.
int64_t tensor_spec_numel(const tensor_spec *spec);

#endif
