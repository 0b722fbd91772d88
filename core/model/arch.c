// What every family shares, derived from its tensor table (core/model/arch.h).
#include "model/arch.h"

#include "base/mem.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

int64_t arch_dim_value(const model_config *c, arch_dim d) {
    switch (d) {
    case ARCH_DIM_NONE:
        return 1;
    case ARCH_DIM_V:
        return c->vocab_size;
    case ARCH_DIM_H:
        return c->hidden_size;
    case ARCH_DIM_F:
        return c->intermediate_size;
    case ARCH_DIM_P:
        return c->max_position_embeddings;
    case ARCH_DIM_T:
        return c->type_vocab_size;
    case ARCH_DIM_C:
        return c->num_labels;
    case ARCH_DIM_D:
        return c->head_dim;
    case ARCH_DIM_Q:
        return c->n_heads * c->head_dim;
    case ARCH_DIM_KV:
        return c->n_kv_heads * c->head_dim;
    }
    return 0;
}

static int arch_tensor_present(const model_config *c, const arch_tensor *t) {
    return !t->present || t->present(c);
}

static size_t arch_tensor_numel(const model_config *c, const arch_tensor *t) {
    return (size_t)arch_dim_value(c, t->dim0) * (size_t)arch_dim_value(c, t->dim1);
}

int arch_tensor_is_matrix(const arch_tensor *t) {
    return (t->flags & ARCH_T_LAYER) && t->dim1 != ARCH_DIM_NONE;
}

// Bytes of one element of table entry t as kept in a slot.
static size_t arch_tensor_elem_bytes(const model_config *c, const arch_tensor *t) {
    return arch_tensor_is_matrix(t) && c->matrix_dtype == OPS_DTYPE_BF16 ? 2 : 4;
}

// Byte offset in the slot of layer tensor i (slot order, each tensor aligned
// to its element size; tensors of one dtype stay adjacent, so q/k/v or
// gate/up remain one matrix), and the slot's total bytes when i == n_tensors.
static size_t arch_slot_offset(const model_config *c, size_t i) {
    const arch_ops *a = c->arch;
    int until = i < a->n_tensors ? a->tensors[i].slot : 1 << 30;
    size_t off = 0;
    for (int s = 0; s < until; s++) {
        size_t j = 0;
        while (j < a->n_tensors &&
               !((a->tensors[j].flags & ARCH_T_LAYER) && a->tensors[j].slot == s))
            j++;
        if (j == a->n_tensors) break; // past the last slot position
        const arch_tensor *t = &a->tensors[j];
        if (!arch_tensor_present(c, t)) continue;
        size_t e = arch_tensor_elem_bytes(c, t);
        off = (off + e - 1) / e * e + arch_tensor_numel(c, t) * e;
    }
    if (i < a->n_tensors) {
        size_t e = arch_tensor_elem_bytes(c, &a->tensors[i]);
        off = (off + e - 1) / e * e;
    }
    return off;
}

size_t arch_layer_bytes(const model_config *c) {
    return arch_slot_offset(c, c->arch->n_tensors);
}

size_t arch_layer_floats(const model_config *c) {
    return (arch_layer_bytes(c) + sizeof(float) - 1) / sizeof(float);
}

void arch_layer_views(const model_config *c, const void *slot, const void **views) {
    const arch_ops *a = c->arch;
    for (size_t i = 0; i < a->n_tensors; i++) {
        const arch_tensor *t = &a->tensors[i];
        views[i] = (t->flags & ARCH_T_LAYER) && arch_tensor_present(c, t)
                       ? (const unsigned char *)slot + arch_slot_offset(c, i)
                       : NULL;
    }
}

status arch_layer_read(const checkpoint *ck, int layer, float *slot, direct_io *io) {
    const model_config *c = &ck->cfg;
    const arch_ops *a = c->arch;
    for (size_t i = 0; i < a->n_tensors; i++) {
        const arch_tensor *t = &a->tensors[i];
        if (!(t->flags & ARCH_T_LAYER) || !arch_tensor_present(c, t)) continue;
        char name[TENSOR_NAME_CAP];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(name, sizeof name, t->name, layer);
#pragma GCC diagnostic pop
        void *dst = (unsigned char *)slot + arch_slot_offset(c, i);
        size_t numel = arch_tensor_numel(c, t);
        status st;
        if (arch_tensor_elem_bytes(c, t) == 2)
            st = io ? direct_io_read_bf16(io, ck, name, dst, numel)
                    : checkpoint_read_bf16(ck, name, dst, numel);
        else
            st = io ? direct_io_read_f32(io, ck, name, dst, numel)
                    : checkpoint_read_f32(ck, name, dst, numel);
        if (st != STATUS_OK) return st;
    }
    return STATUS_OK;
}

double arch_forward_flops(const model_config *c, const reranker_batch *b) {
    double layers = 0.0;
    for (size_t s = 0; s < b->n_seq; s++)
        layers += c->arch->layer_flops(c, b->seq_len[s]);
    double head = (double)b->n_seq * c->arch->score_flops(c);
    return (double)c->n_layers * layers + (double)(c->n_layers + 1) * head;
}

status arch_batch_fits(const char *family, const reranker_batch *b, size_t max_tok,
                       size_t max_seq_len) {
    if (b->n_tok > max_tok)
        return status_fail(STATUS_ERR_ARG, "%s: %zu tokens exceed the workspace (%zu)", family,
                           b->n_tok, max_tok);
    for (size_t s = 0; s < b->n_seq; s++)
        if (b->seq_len[s] > max_seq_len)
            return status_fail(STATUS_ERR_ARG,
                               "%s: sequence %zu has %zu tokens, the workspace holds %zu", family,
                               s, b->seq_len[s], max_seq_len);
    return STATUS_OK;
}

int arch_tensor_index(const arch_ops *a, const char *name) {
    for (size_t i = 0; i < a->n_tensors; i++)
        if (strcmp(a->tensors[i].name, name) == 0) return (int)i;
    return -1;
}

status arch_ops_check(const arch_ops *a) {
    if (!a->name || !a->hf_architectures || !a->hf_architectures[0] || !a->tokenizer ||
        !a->score_kind || !a->config_parse || !a->tensors || !a->n_tensors || !a->workspace_bytes ||
        !a->workspace_bind || !a->embed || !a->layer_forward || !a->score || !a->layer_flops ||
        !a->score_flops)
        return status_fail(STATUS_ERR_ARG, "architecture %s: a required operation is missing",
                           a->name ? a->name : "(unnamed)");
    size_t first = a->n_tensors, last = 0, n_layer = 0;
    for (size_t i = 0; i < a->n_tensors; i++) {
        const arch_tensor *t = &a->tensors[i];
        if (!t->name || t->dim0 == ARCH_DIM_NONE)
            return status_fail(STATUS_ERR_ARG, "architecture %s: tensor %zu has no name or shape",
                               a->name, i);
        int layer = (t->flags & ARCH_T_LAYER) != 0;
        if (layer != (strstr(t->name, "%d") != NULL))
            return status_fail(STATUS_ERR_ARG,
                               "architecture %s: tensor '%s': layer tensors (and only they) have "
                               "one %%d in the name",
                               a->name, t->name);
        if (!layer && t->slot != -1)
            return status_fail(STATUS_ERR_ARG, "architecture %s: global tensor '%s' has slot %d",
                               a->name, t->name, t->slot);
        if (layer) {
            first = i < first ? i : first;
            last = i;
            n_layer++;
        }
    }
    if (n_layer == 0 || last - first + 1 != n_layer)
        return status_fail(STATUS_ERR_ARG,
                           "architecture %s: the layer tensors must be one contiguous run",
                           a->name);
    for (size_t s = 0; s < n_layer; s++) { // slots are a permutation of 0 .. n_layer-1
        size_t found = 0;
        for (size_t i = first; i <= last; i++)
            found += a->tensors[i].slot == (int)s;
        if (found != 1)
            return status_fail(STATUS_ERR_ARG,
                               "architecture %s: layer slot positions are not 0..%zu, each once",
                               a->name, n_layer - 1);
    }
    return STATUS_OK;
}

// Allocates and reads the global tensors that are read at open.
static status arch_model_read_globals(arch_model *m, const arch_model_options *opt) {
    const model_config *c = &m->cfg;
    const arch_ops *a = m->ops;
    size_t emb_floats = 0, head_floats = 0;
    for (size_t i = 0; i < a->n_tensors; i++) {
        const arch_tensor *t = &a->tensors[i];
        if ((t->flags & (ARCH_T_LAYER | ARCH_T_LAZY)) || !arch_tensor_present(c, t)) continue;
        if ((t->flags & ARCH_T_WORD_EMBED) && opt->embed_cache_rows) continue;
        if (t->flags & ARCH_T_EMBEDDINGS)
            emb_floats += arch_tensor_numel(c, t);
        else
            head_floats += arch_tensor_numel(c, t);
    }
    if ((emb_floats &&
         !(m->embed_storage = mem_alloc(MEM_EMBEDDINGS, emb_floats * sizeof(float)))) ||
        (head_floats && !(m->head_storage = mem_alloc(MEM_WEIGHTS, head_floats * sizeof(float)))))
        return status_wrap(STATUS_ERR_NOMEM, "%s", m->ck.dir);
    float *emb = m->embed_storage, *head = m->head_storage;
    for (size_t i = 0; i < a->n_tensors; i++) {
        const arch_tensor *t = &a->tensors[i];
        if ((t->flags & (ARCH_T_LAYER | ARCH_T_LAZY)) || !arch_tensor_present(c, t)) continue;
        if (t->flags & ARCH_T_WORD_EMBED) {
            if (opt->embed_cache_rows) {
                if (!(m->word_cache = mem_calloc(MEM_OTHER, sizeof *m->word_cache)))
                    return status_wrap(STATUS_ERR_NOMEM, "%s", m->ck.dir);
                status st = embed_cache_init(m->word_cache, &m->ck, t->name, opt->embed_cache_rows);
                if (st != STATUS_OK) {
                    mem_free(m->word_cache);
                    m->word_cache = NULL;
                    return st;
                }
                continue;
            }
        }
        size_t numel = arch_tensor_numel(c, t);
        float **next = (t->flags & ARCH_T_EMBEDDINGS) ? &emb : &head;
        status st = checkpoint_read_f32(&m->ck, t->name, *next, numel);
        if (st != STATUS_OK) return st;
        m->global[i] = *next;
        if (t->flags & ARCH_T_WORD_EMBED) m->word = *next;
        *next += numel;
    }
    return STATUS_OK;
}

status arch_model_open(arch_model *m, const char *dir, const arch_model_options *opt,
                       const tokenizer *tok) {
    memset(m, 0, sizeof *m);
    checkpoint_options ck_opt = {.allow_unused_tensors = opt->allow_unused_tensors};
    status st = checkpoint_open_ex(&m->ck, dir, &ck_opt);
    if (st != STATUS_OK) return st;
    m->ck.cfg.matrix_dtype = opt->matrix_dtype; // the slot layout of this model
    m->cfg = m->ck.cfg;
    m->ops = m->cfg.arch;
    m->layer_floats = arch_layer_floats(&m->cfg);
    if (!(m->global = mem_calloc(MEM_OTHER, m->ops->n_tensors * sizeof *m->global)) ||
        !(m->slot_offsets = mem_alloc(MEM_OTHER, m->ops->n_tensors * sizeof *m->slot_offsets))) {
        st = status_wrap(STATUS_ERR_NOMEM, "%s", dir);
        goto fail;
    }
    for (size_t i = 0; i < m->ops->n_tensors; i++) {
        const arch_tensor *t = &m->ops->tensors[i];
        m->slot_offsets[i] = (t->flags & ARCH_T_LAYER) && arch_tensor_present(&m->cfg, t)
                                 ? arch_slot_offset(&m->cfg, i)
                                 : SIZE_MAX;
    }
    if ((st = arch_model_read_globals(m, opt)) != STATUS_OK) goto fail;
    if (opt->resident_layers) {
        size_t L = (size_t)m->cfg.n_layers, per = m->layer_floats;
        if (!(m->layer_storage = mem_alloc(MEM_WEIGHTS, L * per * sizeof(float)))) {
            st = status_wrap(STATUS_ERR_NOMEM, "%s", dir);
            goto fail;
        }
        for (size_t l = 0; l < L; l++)
            if ((st = arch_layer_read(&m->ck, (int)l, m->layer_storage + l * per, NULL))) goto fail;
    }
    if (m->ops->open && (st = m->ops->open(m, tok)) != STATUS_OK) goto fail;
    return STATUS_OK;
fail:
    m->family = NULL; // ops->open leaves nothing on failure
    arch_model_close(m);
    return st;
}

void arch_model_close(arch_model *m) {
    if (m->family && m->ops->close) m->ops->close(m);
    if (m->word_cache) embed_cache_free(m->word_cache);
    mem_free(m->word_cache);
    mem_free(m->embed_storage);
    mem_free(m->head_storage);
    mem_free(m->layer_storage);
    mem_free((void *)m->global);
    mem_free(m->slot_offsets);
    checkpoint_close(&m->ck);
    memset(m, 0, sizeof *m);
}

void arch_model_layer_views(const arch_model *m, const float *slot, const void **views) {
    for (size_t i = 0; i < m->ops->n_tensors; i++)
        views[i] = m->slot_offsets[i] == SIZE_MAX
                       ? NULL
                       : (const unsigned char *)slot + m->slot_offsets[i];
}

const float *arch_model_layer(const arch_model *m, size_t l) {
    return m->layer_storage ? m->layer_storage + l * m->layer_floats : NULL;
}

status arch_gather_word_rows(const arch_model *m, const int32_t *ids, size_t n, float *h) {
    if (!m->word) return embed_cache_gather(m->word_cache, ids, n, h);
    size_t H = (size_t)m->cfg.hidden_size;
    for (size_t t = 0; t < n; t++)
        memcpy(h + t * H, m->word + (size_t)ids[t] * H, H * sizeof *h);
    return STATUS_OK;
}
