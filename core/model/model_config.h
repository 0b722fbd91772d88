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

#include <stddef.h>
#include <stdint.h>

typedef enum {
    MODEL_ARCH_BERT_SEQ_CLS = 0, // BertForSequenceClassification
    MODEL_ARCH_QWEN3_RERANKER,   // Qwen3ForCausalLM used as a yes/no reranker (core/model/qwen3/qwen3.h)
} model_arch;

typedef struct {
    model_arch arch;
    char arch_name[64]; // as written in config.json "architectures"[0]
    int64_t vocab_size;
    int64_t hidden_size;
    int64_t n_layers;
    int64_t n_heads;
    int64_t n_kv_heads; // = n_heads for BERT
    int64_t head_dim;   // BERT hidden / heads; Qwen3 "head_dim" (heads * head_dim may != hidden)
    int64_t intermediate_size;
    int64_t max_position_embeddings;
    int64_t type_vocab_size; // BERT token types
    int64_t num_labels;      // BERT classifier outputs (score = logit 0)
    double layer_norm_eps;   // BERT layer_norm_eps; Qwen3 rms_norm_eps
    double rope_theta;       // Qwen3
    int tie_word_embeddings; // Qwen3
    // "torch_dtype" (or newer "dtype") as written, e.g. "bfloat16"; "" when
    // absent. Only describes the weights (`grating info` without them).
    char torch_dtype[16];
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
} tensor_spec;

// Reads and validates config.json (architecture known, sizes positive and
// consistent, e.g. hidden_size divisible by num_attention_heads for BERT,
// num_attention_heads divisible by num_key_value_heads for Qwen3).
// Architectures: BertForSequenceClassification, Qwen3ForCausalLM (options the
// forward does not implement, such as rope_scaling, attention_bias or a
// sliding window, are rejected with STATUS_ERR_UNSUPPORTED).
status model_config_load(model_config *cfg, const char *path);

// The tensors of the checkpoint in a fixed order (embeddings, layers 0..L-1,
// head). *specs is malloc'd; free() it.
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
