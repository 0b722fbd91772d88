#include "model/model_config.h"
#include "base/json_file.h"
#include "model/arch.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Upper bounds of the sizes read from config.json. They are far above any
// released checkpoint (a 235B decoder: hidden 4096, 94 layers, vocab 151,936) and
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
status model_config_check_positive(const char *path, const char *key, int64_t v) {
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

status model_config_get_sizes(model_config *cfg, const cJSON *root, const char *path) {
    status st;
    if ((st = json_get_int(root, "vocab_size", path, &cfg->vocab_size)) ||
        (st = json_get_int(root, "hidden_size", path, &cfg->hidden_size)) ||
        (st = json_get_int(root, "num_hidden_layers", path, &cfg->n_layers)) ||
        (st = json_get_int(root, "num_attention_heads", path, &cfg->n_heads)) ||
        (st = json_get_int(root, "intermediate_size", path, &cfg->intermediate_size)))
        return st;
    return STATUS_OK;
}

// The registered family of "architectures"[0], or a message naming what
// is supported.
static status model_config_find_arch(model_config *cfg, const char *path) {
    cfg->arch = arch_find(cfg->arch_name);
    if (cfg->arch) return STATUS_OK;
    const char *why = arch_refused_reason(cfg->arch_name);
    if (why)
        return status_fail(STATUS_ERR_UNSUPPORTED, "%s: %s is not supported: %s", path,
                           cfg->arch_name, why);
    char list[512] = "";
    size_t used = 0;
    for (const arch_ops *const *a = arch_list(); *a; a++)
        for (const char *const *n = (*a)->hf_architectures; *n && used < sizeof list; n++)
            used += (size_t)snprintf(list + used, sizeof list - used, "%s%s", used ? ", " : "", *n);
    return status_fail(STATUS_ERR_UNSUPPORTED, "%s: unknown architecture '%s' (supported: %s)",
                       path, cfg->arch_name, list);
}

static status model_config_from_json(model_config *cfg, const cJSON *root, const char *path) {
    if (!cJSON_IsObject(root))
        return status_fail(STATUS_ERR_FORMAT, "%s: expected a JSON object", path);
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    const cJSON *first = cJSON_IsArray(archs) ? cJSON_GetArrayItem(archs, 0) : NULL;
    if (!cJSON_IsString(first))
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: expected \"architectures\": [\"NAME\"] (a non-empty array of "
                           "strings; `grating info --architectures` lists the names)",
                           path);
    snprintf(cfg->arch_name, sizeof cfg->arch_name, "%s", first->valuestring);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(root, "torch_dtype");
    if (!cJSON_IsString(dt)) dt = cJSON_GetObjectItemCaseSensitive(root, "dtype");
    if (cJSON_IsString(dt))
        snprintf(cfg->torch_dtype, sizeof cfg->torch_dtype, "%s", dt->valuestring);
    status st = model_config_find_arch(cfg, path);
    if (st == STATUS_OK) st = cfg->arch->config_parse(cfg, root, path);
    if (st == STATUS_OK) st = model_config_check_sizes(cfg, path);
    return st;
}

status model_config_load(model_config *cfg, const char *path) {
    memset(cfg, 0, sizeof *cfg);
    cJSON *root;
    status st = json_file_parse(path, &root);
    if (st != STATUS_OK) return st;
    st = model_config_from_json(cfg, root, path);
    cJSON_Delete(root);
    return st;
}

status model_config_parse_text(model_config *cfg, const char *text, size_t len, const char *path) {
    memset(cfg, 0, sizeof *cfg);
    cJSON *root;
    status st = json_parse_text(path, text, len, &root);
    if (st != STATUS_OK) return st;
    st = model_config_from_json(cfg, root, path);
    cJSON_Delete(root);
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

// One spec from table entry t (layer >= 0 for layer tensors).
static void model_config_spec(const model_config *c, const arch_tensor *t, int layer,
                              tensor_spec *s) {
    memset(s, 0, sizeof *s);
    if (layer >= 0) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(s->name, sizeof s->name, t->name, layer);
#pragma GCC diagnostic pop
    } else {
        snprintf(s->name, sizeof s->name, "%s", t->name);
    }
    s->n_dims = t->dim1 == ARCH_DIM_NONE ? 1 : 2;
    s->shape[0] = arch_dim_value(c, t->dim0);
    s->shape[1] = t->dim1 == ARCH_DIM_NONE ? 0 : arch_dim_value(c, t->dim1);
    s->layer = layer;
    s->init = (int)t->init;
}

status model_config_tensor_specs(const model_config *cfg, tensor_spec **specs, size_t *n) {
    *specs = NULL;
    *n = 0;
    const arch_ops *a = cfg->arch;
    if (!a)
        return status_fail(STATUS_ERR_UNSUPPORTED, "tensor list: architecture %s not supported",
                           cfg->arch_name);
    size_t n_layer = 0, n_global = 0, L = (size_t)cfg->n_layers; // n_layers <= 1024 (bounds)
    for (size_t i = 0; i < a->n_tensors; i++) {
        const arch_tensor *t = &a->tensors[i];
        if (t->present && !t->present(cfg)) continue;
        if (t->flags & ARCH_T_LAYER)
            n_layer++;
        else
            n_global++;
    }
    size_t total = n_global + n_layer * L;
    tensor_spec *out = malloc((total ? total : 1) * sizeof *out);
    if (!out) return status_fail(STATUS_ERR_NOMEM, "tensor list: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < a->n_tensors; i++) {
        const arch_tensor *t = &a->tensors[i];
        if (t->present && !t->present(cfg)) continue;
        if (!(t->flags & ARCH_T_LAYER)) {
            model_config_spec(cfg, t, -1, &out[k++]);
            continue;
        }
        // The contiguous run of layer entries, repeated per layer.
        size_t end = i;
        while (end < a->n_tensors && (a->tensors[end].flags & ARCH_T_LAYER))
            end++;
        for (size_t l = 0; l < L; l++)
            for (size_t j = i; j < end; j++)
                if (!a->tensors[j].present || a->tensors[j].present(cfg))
                    model_config_spec(cfg, &a->tensors[j], (int)l, &out[k++]);
        i = end - 1;
    }
    *specs = out;
    *n = k;
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
