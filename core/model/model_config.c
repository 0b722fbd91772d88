#include "model/model_config.h"
#include "base/json_file.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Upper bounds of the sizes read from config.json. They are far above any
// released checkpoint (Qwen3-235B: hidden 4096, 94 layers, vocab 151,936) and
// low enough that every product of two or three of them fits in int64_t and
// size_t, and that a loop over layers ends at once. A value above them is an
// error naming the file and the key, never a truncation.
typedef struct {
    const char *key;
    int64_t max;
} model_config_bound;

static const model_config_bound model_config_bounds[] = {
    {"vocab_size", (int64_t)1 << 24},
    {"hidden_size", (int64_t)1 << 16},
    {"num_hidden_layers", 1024},
    {"num_attention_heads", 4096},
    {"num_key_value_heads", 4096},
    {"head_dim", 4096},
    {"intermediate_size", (int64_t)1 << 20},
    {"max_position_embeddings", (int64_t)1 << 24},
    {"type_vocab_size", (int64_t)1 << 16},
    {"num_labels", (int64_t)1 << 16},
};

// v must be in [1, bound of key].
static status model_config_check_positive(const char *path, const char *key, int64_t v) {
    if (v <= 0)
        return status_fail(STATUS_ERR_FORMAT, "%s: '%s' must be positive, got %lld", path, key,
                           (long long)v);
    for (size_t i = 0; i < sizeof model_config_bounds / sizeof model_config_bounds[0]; i++)
        if (strcmp(model_config_bounds[i].key, key) == 0 && v > model_config_bounds[i].max)
            return status_fail(STATUS_ERR_FORMAT,
                               "%s: '%s' is %lld, above the largest value grating accepts (%lld)",
                               path, key, (long long)v, (long long)model_config_bounds[i].max);
    return STATUS_OK;
}

// Largest element count of one tensor (also bounds the parameter total).
#define MODEL_CONFIG_MAX_NUMEL ((int64_t)1 << 40)

// Every tensor of the architecture has at most MODEL_CONFIG_MAX_NUMEL
// elements and all of them together too (the bounds above keep each product
// exact in int64_t; this keeps bytes = numel * 4 within size_t and in reach).
static status model_config_check_sizes(const model_config *cfg, const char *path) {
    tensor_spec *specs;
    size_t n;
    status st = model_config_tensor_specs(cfg, &specs, &n);
    if (st != STATUS_OK) return st;
    int64_t total = 0;
    for (size_t i = 0; i < n && st == STATUS_OK; i++) {
        int64_t numel = tensor_spec_numel(&specs[i]);
        if (numel > MODEL_CONFIG_MAX_NUMEL)
            st = status_fail(STATUS_ERR_FORMAT,
                             "%s: the sizes give tensor '%s' %lld elements, more than the %lld "
                             "grating accepts",
                             path, specs[i].name, (long long)numel,
                             (long long)MODEL_CONFIG_MAX_NUMEL);
        else if (total > MODEL_CONFIG_MAX_NUMEL - numel)
            st = status_fail(STATUS_ERR_FORMAT,
                             "%s: the sizes give the model more than %lld parameters (reached "
                             "at tensor '%s'), more than grating accepts",
                             path, (long long)MODEL_CONFIG_MAX_NUMEL, specs[i].name);
        total += numel;
    }
    free(specs);
    return st;
}

static status model_config_load_bert(model_config *cfg, const cJSON *root, const char *path) {
    status st;
    if ((st = json_get_int(root, "vocab_size", path, &cfg->vocab_size)) ||
        (st = json_get_int(root, "hidden_size", path, &cfg->hidden_size)) ||
        (st = json_get_int(root, "num_hidden_layers", path, &cfg->n_layers)) ||
        (st = json_get_int(root, "num_attention_heads", path, &cfg->n_heads)) ||
        (st = json_get_int(root, "intermediate_size", path, &cfg->intermediate_size)) ||
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

// Qwen3ForCausalLM (the Qwen3-Reranker checkpoints). Absent optional keys take
// the defaults of transformers' Qwen3Config (head_dim 128, num_key_value_heads
// 32, rms_norm_eps 1e-6, rope_theta 10000, max_position_embeddings 32768,
// tie_word_embeddings false), so a folder means here what it means to
// transformers; the five core sizes are required (a config without them is
// not a real checkpoint's).
static status model_config_load_qwen3(model_config *cfg, const cJSON *root, const char *path) {
    status st;
    if ((st = json_get_int(root, "vocab_size", path, &cfg->vocab_size)) ||
        (st = json_get_int(root, "hidden_size", path, &cfg->hidden_size)) ||
        (st = json_get_int(root, "num_hidden_layers", path, &cfg->n_layers)) ||
        (st = json_get_int(root, "num_attention_heads", path, &cfg->n_heads)) ||
        (st = json_get_int(root, "intermediate_size", path, &cfg->intermediate_size)))
        return st;
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

status model_config_load(model_config *cfg, const char *path) {
    memset(cfg, 0, sizeof *cfg);
    cJSON *root;
    status st = json_file_parse(path, &root);
    if (st != STATUS_OK) return st;
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return status_fail(STATUS_ERR_FORMAT, "%s: expected a JSON object", path);
    }
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    const cJSON *first = cJSON_IsArray(archs) ? cJSON_GetArrayItem(archs, 0) : NULL;
    if (!cJSON_IsString(first)) {
        cJSON_Delete(root);
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: expected \"architectures\": [\"BertForSequenceClassification\"] "
                           "(a non-empty array of strings)",
                           path);
    }
    snprintf(cfg->arch_name, sizeof cfg->arch_name, "%s", first->valuestring);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(root, "torch_dtype");
    if (!cJSON_IsString(dt)) dt = cJSON_GetObjectItemCaseSensitive(root, "dtype");
    if (cJSON_IsString(dt))
        snprintf(cfg->torch_dtype, sizeof cfg->torch_dtype, "%s", dt->valuestring);
    if (strcmp(first->valuestring, "BertForSequenceClassification") == 0) {
        cfg->arch = MODEL_ARCH_BERT_SEQ_CLS;
        st = model_config_load_bert(cfg, root, path);
    } else if (strcmp(first->valuestring, "Qwen3ForCausalLM") == 0) {
        cfg->arch = MODEL_ARCH_QWEN3_RERANKER;
        st = model_config_load_qwen3(cfg, root, path);
    } else if (strcmp(first->valuestring, "Qwen3ForSequenceClassification") == 0) {
        st = status_fail(STATUS_ERR_UNSUPPORTED,
                         "%s: Qwen3ForSequenceClassification is not supported: its score head is "
                         "a different model (Qwen3-Reranker checkpoints are Qwen3ForCausalLM, "
                         "scored with the LM head's \"yes\"/\"no\" logits)",
                         path);
    } else {
        st = status_fail(STATUS_ERR_UNSUPPORTED,
                         "%s: unknown architecture '%s' (supported: BertForSequenceClassification, "
                         "Qwen3ForCausalLM)",
                         path, first->valuestring);
    }
    cJSON_Delete(root);
    if (st == STATUS_OK) st = model_config_check_sizes(cfg, path);
    return st;
}

size_t model_config_dtype_bytes(const model_config *cfg) {
    if (strcmp(cfg->torch_dtype, "float32") == 0) return 4;
    if (strcmp(cfg->torch_dtype, "bfloat16") == 0 || strcmp(cfg->torch_dtype, "float16") == 0)
        return 2;
    return 0;
}

int64_t tensor_spec_numel(const tensor_spec *spec) {
    int64_t n = 1;
    for (int d = 0; d < spec->n_dims; d++)
        n *= spec->shape[d];
    return n;
}

typedef struct {
    tensor_spec *items;
    size_t n, cap;
} spec_list;

static status spec_list_add(spec_list *l, int layer, int n_dims, int64_t d0, int64_t d1,
                            const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static status spec_list_add(spec_list *l, int layer, int n_dims, int64_t d0, int64_t d1,
                            const char *fmt, ...) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        tensor_spec *items = realloc(l->items, cap * sizeof *items);
        if (!items) return status_fail(STATUS_ERR_NOMEM, "tensor list: out of memory");
        l->items = items;
        l->cap = cap;
    }
    tensor_spec *s = &l->items[l->n++];
    memset(s, 0, sizeof *s);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->name, sizeof s->name, fmt, ap);
    va_end(ap);
    s->n_dims = n_dims;
    s->shape[0] = d0;
    s->shape[1] = d1;
    s->layer = layer;
    return STATUS_OK;
}

static status model_config_bert_specs(const model_config *c, spec_list *l) {
    int64_t H = c->hidden_size, I = c->intermediate_size;
    status st;
    if ((st =
             spec_list_add(l, -1, 2, c->vocab_size, H, "bert.embeddings.word_embeddings.weight")) ||
        (st = spec_list_add(l, -1, 2, c->max_position_embeddings, H,
                            "bert.embeddings.position_embeddings.weight")) ||
        (st = spec_list_add(l, -1, 2, c->type_vocab_size, H,
                            "bert.embeddings.token_type_embeddings.weight")) ||
        (st = spec_list_add(l, -1, 1, H, 0, "bert.embeddings.LayerNorm.weight")) ||
        (st = spec_list_add(l, -1, 1, H, 0, "bert.embeddings.LayerNorm.bias")))
        return st;
    for (int i = 0; i < c->n_layers; i++) { // n_layers <= 1024 (model_config_bounds)
        const char *p = "bert.encoder.layer";
        if ((st = spec_list_add(l, i, 2, H, H, "%s.%d.attention.self.query.weight", p, i)) ||
            (st = spec_list_add(l, i, 1, H, 0, "%s.%d.attention.self.query.bias", p, i)) ||
            (st = spec_list_add(l, i, 2, H, H, "%s.%d.attention.self.key.weight", p, i)) ||
            (st = spec_list_add(l, i, 1, H, 0, "%s.%d.attention.self.key.bias", p, i)) ||
            (st = spec_list_add(l, i, 2, H, H, "%s.%d.attention.self.value.weight", p, i)) ||
            (st = spec_list_add(l, i, 1, H, 0, "%s.%d.attention.self.value.bias", p, i)) ||
            (st = spec_list_add(l, i, 2, H, H, "%s.%d.attention.output.dense.weight", p, i)) ||
            (st = spec_list_add(l, i, 1, H, 0, "%s.%d.attention.output.dense.bias", p, i)) ||
            (st = spec_list_add(l, i, 1, H, 0, "%s.%d.attention.output.LayerNorm.weight", p, i)) ||
            (st = spec_list_add(l, i, 1, H, 0, "%s.%d.attention.output.LayerNorm.bias", p, i)) ||
            (st = spec_list_add(l, i, 2, I, H, "%s.%d.intermediate.dense.weight", p, i)) ||
            (st = spec_list_add(l, i, 1, I, 0, "%s.%d.intermediate.dense.bias", p, i)) ||
            (st = spec_list_add(l, i, 2, H, I, "%s.%d.output.dense.weight", p, i)) ||
            (st = spec_list_add(l, i, 1, H, 0, "%s.%d.output.dense.bias", p, i)) ||
            (st = spec_list_add(l, i, 1, H, 0, "%s.%d.output.LayerNorm.weight", p, i)) ||
            (st = spec_list_add(l, i, 1, H, 0, "%s.%d.output.LayerNorm.bias", p, i)))
            return st;
    }
    if ((st = spec_list_add(l, -1, 2, H, H, "bert.pooler.dense.weight")) ||
        (st = spec_list_add(l, -1, 1, H, 0, "bert.pooler.dense.bias")) ||
        (st = spec_list_add(l, -1, 2, c->num_labels, H, "classifier.weight")) ||
        (st = spec_list_add(l, -1, 1, c->num_labels, 0, "classifier.bias")))
        return st;
    return STATUS_OK;
}

// Hugging Face Qwen3ForCausalLM names. The LM head is lm_head.weight only when
// the embeddings are not tied (a tied checkpoint does not store it).
static status model_config_qwen3_specs(const model_config *c, spec_list *l) {
    int64_t H = c->hidden_size, F = c->intermediate_size, D = c->head_dim;
    int64_t Q = c->n_heads * D, KV = c->n_kv_heads * D;
    status st;
    if ((st = spec_list_add(l, -1, 2, c->vocab_size, H, "model.embed_tokens.weight"))) return st;
    for (int i = 0; i < c->n_layers; i++) { // n_layers <= 1024 (model_config_bounds)
        const char *p = "model.layers";
        if ((st = spec_list_add(l, i, 1, H, 0, "%s.%d.input_layernorm.weight", p, i)) ||
            (st = spec_list_add(l, i, 2, Q, H, "%s.%d.self_attn.q_proj.weight", p, i)) ||
            (st = spec_list_add(l, i, 2, KV, H, "%s.%d.self_attn.k_proj.weight", p, i)) ||
            (st = spec_list_add(l, i, 2, KV, H, "%s.%d.self_attn.v_proj.weight", p, i)) ||
            (st = spec_list_add(l, i, 2, H, Q, "%s.%d.self_attn.o_proj.weight", p, i)) ||
            (st = spec_list_add(l, i, 1, D, 0, "%s.%d.self_attn.q_norm.weight", p, i)) ||
            (st = spec_list_add(l, i, 1, D, 0, "%s.%d.self_attn.k_norm.weight", p, i)) ||
            (st = spec_list_add(l, i, 1, H, 0, "%s.%d.post_attention_layernorm.weight", p, i)) ||
            (st = spec_list_add(l, i, 2, F, H, "%s.%d.mlp.gate_proj.weight", p, i)) ||
            (st = spec_list_add(l, i, 2, F, H, "%s.%d.mlp.up_proj.weight", p, i)) ||
            (st = spec_list_add(l, i, 2, H, F, "%s.%d.mlp.down_proj.weight", p, i)))
            return st;
    }
    if ((st = spec_list_add(l, -1, 1, H, 0, "model.norm.weight"))) return st;
    if (!c->tie_word_embeddings &&
        (st = spec_list_add(l, -1, 2, c->vocab_size, H, "lm_head.weight")))
        return st;
    return STATUS_OK;
}

status model_config_tensor_specs(const model_config *cfg, tensor_spec **specs, size_t *n) {
    spec_list l = {0};
    status st;
    switch (cfg->arch) {
    case MODEL_ARCH_BERT_SEQ_CLS:
        st = model_config_bert_specs(cfg, &l);
        break;
    case MODEL_ARCH_QWEN3_RERANKER:
        st = model_config_qwen3_specs(cfg, &l);
        break;
    default:
        st = status_fail(STATUS_ERR_UNSUPPORTED, "tensor list: architecture %s not supported",
                         cfg->arch_name);
    }
    if (st != STATUS_OK) {
        free(l.items);
        *specs = NULL;
        *n = 0;
        return st;
    }
    *specs = l.items;
    *n = l.n;
    return STATUS_OK;
}

status model_config_check_batch(const model_config *c, size_t n_seq, const size_t *seq_start,
                                const size_t *seq_len, size_t n_tok, const int32_t *ids) {
    if (n_seq == 0) return status_fail(STATUS_ERR_ARG, "empty batch: no candidates to score");
    size_t expect = 0;
    for (size_t s = 0; s < n_seq; s++) {
        if (seq_start[s] != expect)
            return status_fail(STATUS_ERR_ARG,
                               "batch: sequence %zu starts at token %zu, expected %zu (packed)", s,
                               seq_start[s], expect);
        if (seq_len[s] == 0) return status_fail(STATUS_ERR_ARG, "batch: sequence %zu is empty", s);
        if (seq_len[s] > (size_t)c->max_position_embeddings)
            return status_fail(STATUS_ERR_ARG,
                               "batch: sequence %zu has %zu tokens, more than "
                               "max_position_embeddings %lld",
                               s, seq_len[s], (long long)c->max_position_embeddings);
        expect += seq_len[s];
    }
    if (expect != n_tok)
        return status_fail(STATUS_ERR_ARG, "batch: n_tok %zu differs from the sum of lengths %zu",
                           n_tok, expect);
    for (size_t t = 0; t < n_tok; t++)
        if (ids[t] < 0 || ids[t] >= c->vocab_size)
            return status_fail(STATUS_ERR_ARG,
                               "batch: token %zu has id %d outside the vocabulary [0, %lld)", t,
                               ids[t], (long long)c->vocab_size);
    return STATUS_OK;
}
