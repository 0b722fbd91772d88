#include "io/checkpoint.h"
#include "base/half.h"
#include "io/gptq.h"
#include "model/arch.h"
#include "base/json_file.h"
#include "base/mem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

static const char CHECKPOINT_SINGLE[] = "model.safetensors";
static const char CHECKPOINT_INDEX[] = "model.safetensors.index.json";

// "dir/name" in a mem_alloc'd string (NULL with a message on failure).
static char *checkpoint_join(const char *dir, const char *name) {
    size_t d = strlen(dir), n = strlen(name);
    while (d > 1 && dir[d - 1] == '/')
        d--;
    char *p = mem_alloc(MEM_OTHER, d + 1 + n + 1);
    if (!p) return NULL;
    memcpy(p, dir, d);
    p[d] = '/';
    memcpy(p + d + 1, name, n + 1);
    return p;
}

static int checkpoint_is_file(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

void checkpoint_close(checkpoint *ck) {
    for (size_t i = 0; ck->shards && i < ck->n_shards; i++)
        safetensors_close(&ck->shards[i]);
    mem_free(ck->shards);
    free(ck->specs);
    strmap_free(&ck->names);
    mem_free(ck->dir);
    mem_free(ck->weights_path);
    mem_free(ck->unused);
    mem_free(ck->gptq);
    memset(ck, 0, sizeof *ck);
}

const model_config *checkpoint_config(const checkpoint *ck) {
    return &ck->cfg;
}

const struct gptq_config *checkpoint_gptq(const checkpoint *ck) {
    return ck->gptq;
}

// Looks a name up as stored; 1 and *out set when found.
static int checkpoint_lookup_exact(const checkpoint *ck, const char *name, checkpoint_tensor *out) {
    int64_t v;
    if (!strmap_get(&ck->names, name, strlen(name), &v)) return 0;
    out->shard = (size_t)(v >> 32);
    out->file = &ck->shards[out->shard];
    out->info = safetensors_at(out->file, (size_t)(v & 0xffffffff));
    return 1;
}

// The legacy name of `name` (TF-converted checkpoints: LayerNorm.gamma / .beta), or
// 0 when there is none.
static int checkpoint_alias(const char *name, char *alias, size_t cap) {
    static const struct {
        const char *modern, *legacy;
    } aliases[] = {{"LayerNorm.weight", "LayerNorm.gamma"}, {"LayerNorm.bias", "LayerNorm.beta"}};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof aliases / sizeof aliases[0]; i++) {
        size_t m = strlen(aliases[i].modern);
        if (n >= m && strcmp(name + n - m, aliases[i].modern) == 0 &&
            n - m + strlen(aliases[i].legacy) < cap) {
            memcpy(alias, name, n - m);
            strcpy(alias + n - m, aliases[i].legacy);
            return 1;
        }
    }
    return 0;
}

// The single place that maps an architecture name to a stored tensor.
static int checkpoint_resolve(const checkpoint *ck, const char *name, checkpoint_tensor *out) {
    if (checkpoint_lookup_exact(ck, name, out)) return 1;
    char alias[TENSOR_NAME_CAP + 16];
    return checkpoint_alias(name, alias, sizeof alias) && checkpoint_lookup_exact(ck, alias, out);
}

status checkpoint_find(const checkpoint *ck, const char *name, checkpoint_tensor *out) {
    if (checkpoint_resolve(ck, name, out)) return STATUS_OK;
    memset(out, 0, sizeof *out);
    return status_fail(STATUS_ERR_MISSING, "%s: no tensor '%s'", ck->weights_path, name);
}

static status checkpoint_open_single(checkpoint *ck) {
    ck->shards = mem_calloc(MEM_OTHER, sizeof *ck->shards);
    if (!ck->shards) return status_wrap(STATUS_ERR_NOMEM, "%s", ck->weights_path);
    status st = safetensors_open(&ck->shards[0], ck->weights_path);
    if (st != STATUS_OK) return st;
    ck->n_shards = 1;
    const safetensors_file *f = &ck->shards[0];
    if ((st = strmap_init(&ck->names, f->n_tensors))) return st;
    for (size_t i = 0; i < f->n_tensors; i++) {
        const char *name = f->tensors[i].name;
        if ((st = strmap_put(&ck->names, name, strlen(name), (int64_t)i))) return st;
    }
    return STATUS_OK;
}

// A shard file name from the index: a plain file name next to the index.
static status checkpoint_check_shard_name(const char *index, const char *tensor, const char *file) {
    if (!*file || strchr(file, '/') || strcmp(file, ".") == 0 || strcmp(file, "..") == 0)
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: weight_map: tensor '%s' maps to \"%s\", expected a file name in "
                           "the model folder",
                           index, tensor, file);
    return STATUS_OK;
}

// Opens the shards listed by the index and fills ck->names from weight_map.
static status checkpoint_open_sharded(checkpoint *ck, const cJSON *root) {
    const char *index = ck->weights_path;
    if (!cJSON_IsObject(root))
        return status_fail(STATUS_ERR_FORMAT, "%s: expected a JSON object", index);
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "metadata");
    if (meta && !cJSON_IsObject(meta) && !cJSON_IsNull(meta))
        return status_fail(STATUS_ERR_FORMAT, "%s: 'metadata' must be an object", index);
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(map))
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: expected \"weight_map\": {tensor name: shard file name}", index);
    size_t n_entries = 0;
    for (const cJSON *e = map->child; e; e = e->next) {
        if (!cJSON_IsString(e))
            return status_fail(STATUS_ERR_FORMAT,
                               "%s: weight_map: tensor '%s' must map to a shard file name "
                               "(a string)",
                               index, e->string);
        status st = checkpoint_check_shard_name(index, e->string, e->valuestring);
        if (st != STATUS_OK) return st;
        n_entries++;
    }
    if (n_entries == 0) return status_fail(STATUS_ERR_FORMAT, "%s: weight_map is empty", index);

    // Distinct shard names, in order of first appearance.
    strmap files;
    status st = strmap_init(&files, 16);
    if (st != STATUS_OK) return st;
    ck->shards = mem_calloc(MEM_OTHER, n_entries * sizeof *ck->shards);
    if (!ck->shards) {
        strmap_free(&files);
        return status_wrap(STATUS_ERR_NOMEM, "%s", index);
    }
    for (const cJSON *e = map->child; e; e = e->next) {
        const char *file = e->valuestring;
        if (strmap_get(&files, file, strlen(file), NULL)) continue;
        char *path = checkpoint_join(ck->dir, file);
        if (!path) {
            st = status_wrap(STATUS_ERR_NOMEM, "%s", index);
            break;
        }
        if (!checkpoint_is_file(path)) {
            st = status_fail(STATUS_ERR_IO,
                             "%s: shard file %s (holding tensor '%s') does not exist or is not "
                             "a regular file",
                             index, path, e->string);
            mem_free(path);
            break;
        }
        st = safetensors_open(&ck->shards[ck->n_shards], path);
        mem_free(path);
        if (st != STATUS_OK) {
            st = status_wrap(st, "%s: shard of tensor '%s'", index, e->string);
            break;
        }
        if ((st = strmap_put(&files, file, strlen(file), (int64_t)ck->n_shards))) break;
        ck->n_shards++;
    }
    if (st == STATUS_OK) st = strmap_init(&ck->names, n_entries);
    for (const cJSON *e = map->child; e && st == STATUS_OK; e = e->next) {
        const char *name = e->string, *file = e->valuestring;
        int64_t shard = 0, prev;
        strmap_get(&files, file, strlen(file), &shard);
        if (strmap_get(&ck->names, name, strlen(name), &prev)) {
            st = status_fail(STATUS_ERR_FORMAT,
                             "%s: weight_map lists tensor '%s' twice (in %s and in %s)", index,
                             name, ck->shards[prev >> 32].path, ck->shards[shard].path);
            break;
        }
        const safetensors_file *f = &ck->shards[shard];
        const safetensors_tensor *t = safetensors_find(f, name);
        if (!t) {
            st = status_fail(STATUS_ERR_MISSING,
                             "%s: weight_map puts tensor '%s' in %s, but that file has no such "
                             "tensor",
                             index, name, f->path);
            break;
        }
        int64_t v = (shard << 32) | (int64_t)(t - f->tensors);
        st = strmap_put(&ck->names, name, strlen(name), v);
    }
    strmap_free(&files);
    return st;
}

// Buffers that transformers stores next to the parameters and recomputes or
// ignores on load; they are never "unused weights".
static int checkpoint_is_buffer(const checkpoint *ck, const char *name) {
    static const char *suffixes[] = {".position_ids", ".rotary_emb.inv_freq"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t m = strlen(suffixes[i]);
        if (n >= m && strcmp(name + n - m, suffixes[i]) == 0) return 1;
    }
    // A tensor of the family's table that this config does without (e.g. a
    // tied LM head: transformers ties it to the token table, whatever the
    // file holds).
    const arch_ops *a = ck->cfg.arch;
    for (size_t i = 0; i < a->n_tensors; i++)
        if (!(a->tensors[i].flags & ARCH_T_LAYER) && a->tensors[i].present &&
            !a->tensors[i].present(&ck->cfg) && strcmp(name, a->tensors[i].name) == 0)
            return 1;
    return 0;
}

// The stored tensors no spec reads (e.g. layers beyond num_hidden_layers):
// fills ck->unused; with allow == 0 and any unused, fails listing them.
static status checkpoint_find_unused(checkpoint *ck, int allow) {
    size_t total = 0;
    for (size_t s = 0; s < ck->n_shards; s++)
        total += ck->shards[s].n_tensors;
    unsigned char *used = mem_calloc(MEM_OTHER, total ? total : 1);
    size_t *base = mem_calloc(MEM_OTHER, (ck->n_shards + 1) * sizeof *base);
    if (!used || !base) {
        mem_free(used);
        mem_free(base);
        return status_wrap(STATUS_ERR_NOMEM, "%s", ck->weights_path);
    }
    for (size_t s = 0; s < ck->n_shards; s++)
        base[s + 1] = base[s] + ck->shards[s].n_tensors;
    for (size_t i = 0; i < ck->n_specs; i++) {
        checkpoint_tensor t;
        if (checkpoint_resolve(ck, ck->specs[i].name, &t))
            used[base[t.shard] + (size_t)(t.info - t.file->tensors)] = 1;
        else if (checkpoint_is_quantized(ck, ck->specs[i].name)) // its GPTQ tensors are used
            for (size_t k = 0; k < 4; k++) {
                static const char *const parts[] = {"qweight", "qzeros", "scales", "g_idx"};
                char name[TENSOR_NAME_CAP + 16];
                if (gptq_tensor_name(ck->specs[i].name, parts[k], name, sizeof name) == STATUS_OK &&
                    checkpoint_resolve(ck, name, &t))
                    used[base[t.shard] + (size_t)(t.info - t.file->tensors)] = 1;
            }
    }
    status st = STATUS_OK;
    ck->unused = mem_calloc(MEM_OTHER, (total ? total : 1) * sizeof *ck->unused);
    if (!ck->unused) st = status_wrap(STATUS_ERR_NOMEM, "%s", ck->weights_path);
    for (size_t s = 0; s < ck->n_shards && st == STATUS_OK; s++)
        for (size_t k = 0; k < ck->shards[s].n_tensors; k++) {
            const char *name = ck->shards[s].tensors[k].name;
            if (!used[base[s] + k] && !checkpoint_is_buffer(ck, name))
                ck->unused[ck->n_unused++] = name;
        }
    mem_free(used);
    mem_free(base);
    if (st != STATUS_OK || ck->n_unused == 0 || allow) return st;
    char list[600];
    size_t at = 0;
    list[0] = '\0';
    for (size_t i = 0; i < ck->n_unused && i < 5 && at < sizeof list; i++)
        at += (size_t)snprintf(list + at, sizeof list - at, "%s'%s'", i ? ", " : "", ck->unused[i]);
    return status_fail(STATUS_ERR_FORMAT,
                       "%s: %zu tensor%s not used by %s with num_hidden_layers=%lld: %s%s "
                       "(config.json describes less than the checkpoint holds; pass "
                       "--allow-unused-tensors to run anyway)",
                       ck->weights_path, ck->n_unused, ck->n_unused == 1 ? " is" : "s are",
                       ck->cfg.arch_name, (long long)ck->cfg.n_layers, list,
                       ck->n_unused > 5 ? ", ..." : "");
}

static void checkpoint_arch_desc(const checkpoint *ck, char *buf, size_t cap) {
    snprintf(buf, cap, "%s with num_hidden_layers=%lld", ck->cfg.arch_name,
             (long long)ck->cfg.n_layers);
}

// Every tensor the architecture needs: present, right shape, float dtype.
static status checkpoint_validate(const checkpoint *ck) {
    char arch[160];
    checkpoint_arch_desc(ck, arch, sizeof arch);
    for (size_t i = 0; i < ck->n_specs; i++) {
        const tensor_spec *s = &ck->specs[i];
        checkpoint_tensor t;
        if (!checkpoint_resolve(ck, s->name, &t) && checkpoint_is_quantized(ck, s->name)) {
            status st = gptq_check_tensors(ck, ck->gptq, s->name, s->shape[0], s->shape[1]);
            if (st != STATUS_OK) return st;
            continue;
        }
        if (!checkpoint_resolve(ck, s->name, &t))
            return status_fail(STATUS_ERR_MISSING, "missing tensor '%s' (expected by %s) in %s",
                               s->name, arch, ck->weights_path);
        int same = t.info->n_dims == s->n_dims;
        for (int d = 0; same && d < s->n_dims; d++)
            same = t.info->shape[d] == s->shape[d];
        if (!same) {
            char want[160], got[160];
            safetensors_shape_str(s->shape, s->n_dims, want, sizeof want);
            safetensors_shape_str(t.info->shape, t.info->n_dims, got, sizeof got);
            return status_fail(STATUS_ERR_SHAPE,
                               "%s: tensor '%s' has shape %s, expected %s (from %s/config.json: "
                               "%s, hidden_size=%lld, intermediate_size=%lld, vocab_size=%lld)",
                               t.file->path, t.info->name, got, want, ck->dir, arch,
                               (long long)ck->cfg.hidden_size, (long long)ck->cfg.intermediate_size,
                               (long long)ck->cfg.vocab_size);
        }
        if (!safetensors_dtype_is_float(t.info->dtype))
            return status_fail(STATUS_ERR_UNSUPPORTED,
                               "%s: tensor '%s' has dtype %s, expected F32, F16 or BF16",
                               t.file->path, t.info->name, safetensors_dtype_name(t.info->dtype));
    }
    return STATUS_OK;
}

static status checkpoint_open_weights(checkpoint *ck) {
    char *single = checkpoint_join(ck->dir, CHECKPOINT_SINGLE);
    char *index = checkpoint_join(ck->dir, CHECKPOINT_INDEX);
    status st = STATUS_OK;
    if (!single || !index) {
        st = status_wrap(STATUS_ERR_NOMEM, "%s", ck->dir);
    } else if (checkpoint_is_file(single)) {
        ck->weights_path = single;
        single = NULL;
        st = checkpoint_open_single(ck);
    } else if (checkpoint_is_file(index)) {
        ck->weights_path = index;
        index = NULL;
        ck->sharded = 1;
        cJSON *root;
        if ((st = json_file_parse(ck->weights_path, &root)) == STATUS_OK) {
            st = checkpoint_open_sharded(ck, root);
            cJSON_Delete(root);
        }
    } else {
        char *bin = checkpoint_join(ck->dir, "pytorch_model.bin");
        int has_bin = bin && checkpoint_is_file(bin);
        mem_free(bin);
        st = status_fail(STATUS_ERR_IO, "%s: no weights: neither %s nor %s exists%s", ck->dir,
                         CHECKPOINT_SINGLE, CHECKPOINT_INDEX,
                         has_bin ? " (pytorch_model.bin is not read: convert it to safetensors)"
                                 : "");
    }
    mem_free(single);
    mem_free(index);
    return st;
}

// config.json's quantization_config, when there is one, into ck->gptq.
static status checkpoint_load_gptq(checkpoint *ck, const char *config) {
    gptq_config g;
    int present = 0;
    status st = gptq_config_load(config, &present, &g);
    if (st != STATUS_OK || !present) return st;
    ck->gptq = mem_alloc(MEM_OTHER, sizeof *ck->gptq);
    if (!ck->gptq) return status_wrap(STATUS_ERR_NOMEM, "%s", config);
    *ck->gptq = g;
    return STATUS_OK;
}

// The spec called `name`, or NULL.
static const tensor_spec *checkpoint_spec(const checkpoint *ck, const char *name) {
    for (size_t i = 0; i < ck->n_specs; i++)
        if (strcmp(ck->specs[i].name, name) == 0) return &ck->specs[i];
    return NULL;
}

int checkpoint_is_quantized(const checkpoint *ck, const char *name) {
    if (!ck->gptq) return 0;
    // Only 2-D layer weights are quantized (the family's table).
    const tensor_spec *s = checkpoint_spec(ck, name);
    return s && s->layer >= 0 && s->n_dims == 2 && gptq_is_quantized(ck, name);
}

status checkpoint_open(checkpoint *ck, const char *dir) {
    return checkpoint_open_ex(ck, dir, NULL);
}

status checkpoint_open_ex(checkpoint *ck, const char *dir, const checkpoint_options *opt) {
    memset(ck, 0, sizeof *ck);
    struct stat sb;
    if (stat(dir, &sb) != 0)
        return status_fail(STATUS_ERR_IO, "%s: cannot open model folder: %s", dir, strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return status_fail(STATUS_ERR_IO, "%s: not a directory (expected a model folder)", dir);
    status st = STATUS_OK;
    char *config = NULL;
    ck->dir = checkpoint_join(dir, "");
    if (!ck->dir) {
        st = status_wrap(STATUS_ERR_NOMEM, "%s", dir);
        goto fail;
    }
    ck->dir[strlen(ck->dir) - 1] = '\0'; // drop the '/' added by join
    config = checkpoint_join(dir, "config.json");
    if (!config) {
        st = status_wrap(STATUS_ERR_NOMEM, "%s", dir);
        goto fail;
    }
    struct stat csb;
    if (lstat(config, &csb) != 0) { // present but not a file: model_config_load says what
        st = status_fail(STATUS_ERR_IO, "%s: missing (a Hugging Face model folder needs it)",
                         config);
        goto fail;
    }
    if ((st = model_config_load(&ck->cfg, config))) goto fail;
    if ((st = checkpoint_load_gptq(ck, config))) goto fail;
    if ((st = model_config_tensor_specs(&ck->cfg, &ck->specs, &ck->n_specs))) goto fail;
    if ((st = checkpoint_open_weights(ck))) goto fail;
    if ((st = checkpoint_validate(ck))) goto fail;
    if ((st = checkpoint_find_unused(ck, opt && opt->allow_unused_tensors))) goto fail;
    mem_free(config);
    return STATUS_OK;
fail:
    mem_free(config);
    checkpoint_close(ck);
    return st;
}

status checkpoint_read_f32(const checkpoint *ck, const char *name, float *dst, size_t numel) {
    checkpoint_tensor t;
    if (!checkpoint_resolve(ck, name, &t) && checkpoint_is_quantized(ck, name)) {
        // The whole tensor: numel must match, as for a stored one.
        int64_t want = tensor_spec_numel(checkpoint_spec(ck, name));
        if ((int64_t)numel != want)
            return status_fail(STATUS_ERR_SHAPE,
                               "%s: GPTQ weight '%s' has %lld elements, caller expected %zu",
                               ck->weights_path, name, (long long)want, numel);
        return gptq_read_f32_range(ck, ck->gptq, name, 0, numel, dst);
    }
    status st = checkpoint_find(ck, name, &t);
    if (st != STATUS_OK) return st;
    return safetensors_read_f32(t.file, t.info, dst, numel);
}

status checkpoint_read_bf16(const checkpoint *ck, const char *name, uint16_t *dst, size_t numel) {
    checkpoint_tensor t;
    if (!checkpoint_resolve(ck, name, &t) && checkpoint_is_quantized(ck, name)) {
        // GPTQ: the packed weight, dequantized straight to bf16 (no f32 copy).
        const tensor_spec *spec = checkpoint_spec(ck, name);
        if (!spec || spec->n_dims != 2 || (int64_t)numel != tensor_spec_numel(spec))
            return status_fail(STATUS_ERR_SHAPE,
                               "%s: GPTQ weight '%s': caller expected %zu elements",
                               ck->weights_path, name, numel);
        gptq_weight w;
        status st = gptq_weight_load(&w, ck, ck->gptq, name, spec->shape[0], spec->shape[1]);
        if (st != STATUS_OK) return st;
        st = gptq_weight_dequant_bf16(&w, 0, spec->shape[0], dst);
        gptq_weight_free(&w);
        return st;
    }
    status st = checkpoint_find(ck, name, &t);
    if (st != STATUS_OK) return st;
    if (t.info->dtype == SAFETENSORS_BF16 && (size_t)t.info->numel == numel)
        return safetensors_read_raw(t.file, t.info, dst, numel * sizeof *dst);
    if ((size_t)t.info->numel != numel) // the shape error of the f32 reader; writes nothing
        return safetensors_read_f32(t.file, t.info, NULL, numel);
    enum { BLOCK = 4096 };
    float buf[BLOCK]; // (BLOCK,)
    for (size_t i = 0; i < numel; i += BLOCK) {
        size_t n = numel - i < BLOCK ? numel - i : BLOCK;
        if ((st = safetensors_read_f32_range(t.file, t.info, i, n, buf)) != STATUS_OK) return st;
        for (size_t j = 0; j < n; j++)
            dst[i + j] = half_f32_to_bf16(buf[j]);
    }
    return STATUS_OK;
}

status checkpoint_read_f32_range(const checkpoint *ck, const char *name, size_t first, size_t count,
                                 float *dst) {
    checkpoint_tensor t;
    if (!checkpoint_resolve(ck, name, &t) && checkpoint_is_quantized(ck, name))
        return gptq_read_f32_range(ck, ck->gptq, name, first, count, dst);
    status st = checkpoint_find(ck, name, &t);
    if (st != STATUS_OK) return st;
    return safetensors_read_f32_range(t.file, t.info, first, count, dst);
}

status checkpoint_read_raw(const checkpoint *ck, const char *name, void *dst, size_t n_bytes) {
    checkpoint_tensor t;
    status st = checkpoint_find(ck, name, &t);
    if (st != STATUS_OK) return st;
    return safetensors_read_raw(t.file, t.info, dst, n_bytes);
}

// Adds spec i to *b (the tensor is known to exist after open).
static void checkpoint_add_bytes(const checkpoint *ck, size_t i, checkpoint_bytes *b) {
    checkpoint_tensor t;
    if (!checkpoint_resolve(ck, ck->specs[i].name, &t)) {
        if (checkpoint_is_quantized(ck, ck->specs[i].name)) { // packed on disk, f32 once read
            b->disk += gptq_stored_bytes(ck, ck->specs[i].name);
            b->f32 += (uint64_t)tensor_spec_numel(&ck->specs[i]) * sizeof(float);
        }
        return;
    }
    b->disk += t.info->n_bytes;
    b->f32 += (uint64_t)t.info->numel * sizeof(float);
}

status checkpoint_layer_bytes(const checkpoint *ck, int layer, checkpoint_bytes *out) {
    out->disk = out->f32 = 0;
    if (layer < 0 || layer >= ck->cfg.n_layers)
        return status_fail(STATUS_ERR_ARG, "%s: layer %d out of range (model has %lld layers)",
                           ck->dir, layer, (long long)ck->cfg.n_layers);
    for (size_t i = 0; i < ck->n_specs; i++)
        if (ck->specs[i].layer == layer) checkpoint_add_bytes(ck, i, out);
    return STATUS_OK;
}

// Specs outside the layer stack: before it (embeddings) or after it (head).
static checkpoint_bytes checkpoint_outside_bytes(const checkpoint *ck, int after) {
    checkpoint_bytes b = {0, 0};
    int seen_layer = 0;
    for (size_t i = 0; i < ck->n_specs; i++) {
        if (ck->specs[i].layer >= 0) {
            seen_layer = 1;
            continue;
        }
        if (seen_layer == after) checkpoint_add_bytes(ck, i, &b);
    }
    return b;
}

checkpoint_bytes checkpoint_embedding_bytes(const checkpoint *ck) {
    return checkpoint_outside_bytes(ck, 0);
}

checkpoint_bytes checkpoint_head_bytes(const checkpoint *ck) {
    return checkpoint_outside_bytes(ck, 1);
}

uint64_t checkpoint_param_count(const checkpoint *ck) {
    uint64_t n = 0;
    for (size_t i = 0; i < ck->n_specs; i++)
        n += (uint64_t)tensor_spec_numel(&ck->specs[i]);
    return n;
}

status checkpoint_drop_page_cache(const checkpoint *ck) {
    for (size_t i = 0; i < ck->n_shards; i++) {
        const safetensors_file *f = &ck->shards[i];
        if (fdatasync(f->fd) != 0 && errno != EINVAL) // EINVAL: nothing to sync on this fs
            return status_fail(STATUS_ERR_IO, "%s: fdatasync before dropping the page cache: %s",
                               f->path, strerror(errno));
        int e = posix_fadvise(f->fd, 0, 0, POSIX_FADV_DONTNEED); // returns the error number
        if (e != 0)
            return status_fail(STATUS_ERR_IO,
                               "%s: posix_fadvise(POSIX_FADV_DONTNEED) to drop the page cache: %s",
                               f->path, strerror(e));
    }
    return STATUS_OK;
}
