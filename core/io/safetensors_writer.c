#include "io/safetensors_writer.h"
#include "base/half.h"
#include "base/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors_writer.c writes host floats as little-endian data: little-endian hosts only"
#endif

static char *writer_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *copy = mem_alloc(MEM_OTHER, n);
    if (copy) memcpy(copy, s, n);
    return copy;
}

// A growing text buffer for headers and the index (mem_alloc'd).
typedef struct {
    char *data;
    size_t len, cap;
    int failed;
} writer_text;

static void writer_text_reserve(writer_text *t, size_t more) {
    if (t->failed || t->len + more + 1 <= t->cap) return;
    size_t cap = t->cap ? t->cap : 4096;
    while (cap < t->len + more + 1)
        cap *= 2;
    char *data = mem_alloc(MEM_OTHER, cap);
    if (!data) {
        t->failed = 1;
        return;
    }
    if (t->len) memcpy(data, t->data, t->len);
    mem_free(t->data);
    t->data = data;
    t->cap = cap;
}

static void writer_text_printf(writer_text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void writer_text_printf(writer_text *t, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    writer_text_reserve(t, (size_t)n);
    if (t->failed) return;
    va_start(ap, fmt);
    vsnprintf(t->data + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

// A JSON string literal (quotes included). Non-ASCII bytes are copied as
// UTF-8, which is what the Rust writer does.
static void writer_text_json_string(writer_text *t, const char *s) {
    writer_text_printf(t, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            writer_text_printf(t, "\\%c", *p);
        else if (*p < 0x20)
            writer_text_printf(t, "\\u%04x", *p);
        else
            writer_text_printf(t, "%c", *p);
    }
    writer_text_printf(t, "\"");
}

static status writer_write_full(int fd, const char *path, const void *data, size_t n) {
    const unsigned char *p = data;
    while (n > 0) {
        ssize_t put = write(fd, p, n);
        if (put < 0) {
            if (errno == EINTR) continue;
            return status_fail(STATUS_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        }
        p += put;
        n -= (size_t)put;
    }
    return STATUS_OK;
}

status safetensors_writer_init(safetensors_writer *w, const char *path) {
    memset(w, 0, sizeof *w);
    w->fd = -1;
    size_t n = strlen(path);
    w->path = writer_strdup(path);
    w->tmp_path = mem_alloc(MEM_OTHER, n + 5);
    if (!w->path || !w->tmp_path) {
        safetensors_writer_free(w);
        return status_wrap(STATUS_ERR_NOMEM, "%s", path);
    }
    memcpy(w->tmp_path, path, n);
    memcpy(w->tmp_path + n, ".tmp", 5);
    return STATUS_OK;
}

status safetensors_writer_add(safetensors_writer *w, const char *name, safetensors_dtype dtype,
                              int n_dims, const int64_t *shape) {
    if (w->header_written)
        return status_fail(STATUS_ERR_ARG, "%s: tensor '%s' declared after the header was written",
                           w->path, name);
    if (!safetensors_dtype_is_float(dtype) && dtype != SAFETENSORS_I32)
        return status_fail(STATUS_ERR_UNSUPPORTED,
                           "%s: tensor '%s': dtype %s cannot be written (F32, F16, BF16 or I32)",
                           w->path, name, safetensors_dtype_name(dtype));
    if (n_dims < 0 || n_dims > SAFETENSORS_MAX_DIMS)
        return status_fail(STATUS_ERR_ARG, "%s: tensor '%s': %d dims (0..%d allowed)", w->path,
                           name, n_dims, SAFETENSORS_MAX_DIMS);
    if (strcmp(name, "__metadata__") == 0)
        return status_fail(STATUS_ERR_ARG, "%s: '__metadata__' is not a tensor name", w->path);
    for (size_t i = 0; i < w->n_entries; i++)
        if (strcmp(w->entries[i].name, name) == 0)
            return status_fail(STATUS_ERR_ARG, "%s: tensor '%s' declared twice", w->path, name);
    uint64_t numel = 1;
    for (int d = 0; d < n_dims; d++) {
        if (shape[d] < 0 || (shape[d] > 0 && numel > (UINT64_MAX >> 8) / (uint64_t)shape[d]))
            return status_fail(STATUS_ERR_ARG, "%s: tensor '%s': invalid dim %d = %lld", w->path,
                               name, d, (long long)shape[d]);
        numel *= (uint64_t)shape[d];
    }
    if (w->n_entries == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        safetensors_writer_entry *e = mem_alloc(MEM_OTHER, cap * sizeof *e);
        if (!e) return status_wrap(STATUS_ERR_NOMEM, "%s: tensor list", w->path);
        if (w->n_entries) memcpy(e, w->entries, w->n_entries * sizeof *e);
        mem_free(w->entries);
        w->entries = e;
        w->cap = cap;
    }
    safetensors_writer_entry *e = &w->entries[w->n_entries];
    memset(e, 0, sizeof *e);
    e->name = writer_strdup(name);
    if (!e->name) return status_wrap(STATUS_ERR_NOMEM, "%s: tensor '%s'", w->path, name);
    e->dtype = dtype;
    e->n_dims = n_dims;
    for (int d = 0; d < n_dims; d++)
        e->shape[d] = shape[d];
    e->numel = numel;
    e->begin = w->data_bytes;
    e->end = e->begin + numel * safetensors_dtype_size(dtype);
    w->data_bytes = e->end;
    w->n_entries++;
    return STATUS_OK;
}

status safetensors_writer_write_header(safetensors_writer *w) {
    if (w->header_written) return STATUS_OK;
    writer_text t = {0};
    writer_text_printf(&t, "{\"__metadata__\":{\"format\":\"pt\"}");
    for (size_t i = 0; i < w->n_entries; i++) {
        const safetensors_writer_entry *e = &w->entries[i];
        writer_text_printf(&t, ",");
        writer_text_json_string(&t, e->name);
        writer_text_printf(&t, ":{\"dtype\":\"%s\",\"shape\":[", safetensors_dtype_name(e->dtype));
        for (int d = 0; d < e->n_dims; d++)
            writer_text_printf(&t, "%s%lld", d ? "," : "", (long long)e->shape[d]);
        writer_text_printf(&t, "],\"data_offsets\":[%llu,%llu]}", (unsigned long long)e->begin,
                           (unsigned long long)e->end);
    }
    writer_text_printf(&t, "}");
    // Pad with spaces so the data region starts 8-byte aligned, as HF does.
    while (!t.failed && t.len % 8 != 0)
        writer_text_printf(&t, " ");
    if (t.failed) {
        mem_free(t.data);
        return status_wrap(STATUS_ERR_NOMEM, "%s: header", w->path);
    }
    status st = STATUS_OK;
    w->fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        st = status_fail(STATUS_ERR_IO, "%s: cannot create: %s", w->tmp_path, strerror(errno));
    } else {
        unsigned char len8[8];
        uint64_t n = t.len;
        for (int i = 0; i < 8; i++)
            len8[i] = (unsigned char)(n >> (8 * i));
        if (!(st = writer_write_full(w->fd, w->tmp_path, len8, 8)))
            st = writer_write_full(w->fd, w->tmp_path, t.data, t.len);
    }
    mem_free(t.data);
    if (st == STATUS_OK) w->header_written = 1;
    return st;
}

// Checks that `count` values of `name` may be appended now (order, bounds,
// the writing function suits the dtype) and writes the header if needed.
static status writer_begin_values(safetensors_writer *w, const char *name, size_t count,
                                  int as_i32) {
    if (w->finished) return status_fail(STATUS_ERR_ARG, "%s: write after finish", w->path);
    if (w->current >= w->n_entries)
        return status_fail(STATUS_ERR_ARG,
                           "%s: tensor '%s': every declared tensor is already complete", w->path,
                           name);
    safetensors_writer_entry *e = &w->entries[w->current];
    if (strcmp(e->name, name) != 0)
        return status_fail(STATUS_ERR_ARG,
                           "%s: data for tensor '%s' out of order: tensor '%s' comes next "
                           "(declaration order)",
                           w->path, name, e->name);
    if (count > e->numel - w->done)
        return status_fail(STATUS_ERR_ARG,
                           "%s: tensor '%s': %zu values written past its end (%llu of %llu "
                           "already written)",
                           w->path, name, count, (unsigned long long)w->done,
                           (unsigned long long)e->numel);
    if (as_i32 != (e->dtype == SAFETENSORS_I32))
        return status_fail(STATUS_ERR_ARG, "%s: tensor '%s' has dtype %s: write it with %s",
                           w->path, name, safetensors_dtype_name(e->dtype),
                           as_i32 ? "safetensors_writer_write_f32"
                                  : "safetensors_writer_write_i32");
    return safetensors_writer_write_header(w);
}

// Counts `count` values of the current tensor as written.
static void writer_advance(safetensors_writer *w, size_t count) {
    w->done += count;
    if (w->done == w->entries[w->current].numel) {
        w->current++;
        w->done = 0;
    }
}

status safetensors_writer_write_i32(safetensors_writer *w, const char *name, const int32_t *src,
                                    size_t count) {
    status st = writer_begin_values(w, name, count, 1);
    if (st != STATUS_OK) return st;
    if ((st = writer_write_full(w->fd, w->tmp_path, src, count * sizeof *src)))
        return status_wrap(st, "tensor '%s'", name);
    writer_advance(w, count);
    return STATUS_OK;
}

status safetensors_writer_write_f32(safetensors_writer *w, const char *name, const float *src,
                                    size_t count) {
    status st = writer_begin_values(w, name, count, 0);
    if (st != STATUS_OK) return st;
    safetensors_writer_entry *e = &w->entries[w->current];
    if (e->dtype == SAFETENSORS_F32) {
        st = writer_write_full(w->fd, w->tmp_path, src, count * sizeof *src);
    } else {
        if (!w->stage) {
            w->stage = mem_alloc(MEM_OTHER, SAFETENSORS_WRITER_STAGE * sizeof *w->stage);
            if (!w->stage) return status_wrap(STATUS_ERR_NOMEM, "%s: staging buffer", w->path);
        }
        for (size_t at = 0; at < count && st == STATUS_OK; at += SAFETENSORS_WRITER_STAGE) {
            size_t n =
                count - at < SAFETENSORS_WRITER_STAGE ? count - at : SAFETENSORS_WRITER_STAGE;
            if (e->dtype == SAFETENSORS_F16)
                for (size_t i = 0; i < n; i++)
                    w->stage[i] = half_f32_to_f16(src[at + i]);
            else
                for (size_t i = 0; i < n; i++)
                    w->stage[i] = half_f32_to_bf16(src[at + i]);
            st = writer_write_full(w->fd, w->tmp_path, w->stage, n * sizeof *w->stage);
        }
    }
    if (st != STATUS_OK) return status_wrap(st, "tensor '%s'", name);
    writer_advance(w, count);
    return STATUS_OK;
}

status safetensors_writer_finish(safetensors_writer *w) {
    if (w->finished) return STATUS_OK;
    status st = safetensors_writer_write_header(w);
    if (st != STATUS_OK) return st;
    if (w->current < w->n_entries)
        return status_fail(STATUS_ERR_ARG,
                           "%s: tensor '%s' incomplete at finish (%llu of %llu values written)",
                           w->path, w->entries[w->current].name, (unsigned long long)w->done,
                           (unsigned long long)w->entries[w->current].numel);
    int fd = w->fd;
    w->fd = -1;
    if (close(fd) != 0)
        return status_fail(STATUS_ERR_IO, "%s: close failed: %s", w->tmp_path, strerror(errno));
    if (rename(w->tmp_path, w->path) != 0)
        return status_fail(STATUS_ERR_IO, "%s: cannot rename to %s: %s", w->tmp_path, w->path,
                           strerror(errno));
    w->finished = 1;
    mem_free(w->stage);
    w->stage = NULL;
    return STATUS_OK;
}

void safetensors_writer_free(safetensors_writer *w) {
    if (w->fd >= 0) close(w->fd);
    if (!w->finished && w->header_written && w->tmp_path) unlink(w->tmp_path);
    for (size_t i = 0; i < w->n_entries; i++)
        mem_free(w->entries[i].name);
    mem_free(w->entries);
    mem_free(w->stage);
    mem_free(w->path);
    mem_free(w->tmp_path);
    memset(w, 0, sizeof *w);
    w->fd = -1;
}

uint64_t safetensors_decl_bytes(const safetensors_decl *d) {
    uint64_t n = safetensors_dtype_size(d->dtype);
    for (int i = 0; i < d->n_dims; i++)
        n *= (uint64_t)d->shape[i];
    return n;
}

status safetensors_shard_plan(const safetensors_decl *decls, size_t n, uint64_t max_shard_bytes,
                              size_t *shard_of, size_t *n_shards) {
    // huggingface_hub builds a list of shards; a tensor larger than the limit
    // is appended as its own shard at once, while the shard being filled is
    // appended only when the next tensor would tip it over (or at the end).
    // Shard numbers are therefore assigned when a shard is appended.
    size_t next = 0;       // number of shards appended so far
    uint64_t current = 0;  // bytes in the shard being filled
    size_t first_open = n; // first tensor of the shard being filled (n: empty)
    if (max_shard_bytes == 0) max_shard_bytes = UINT64_MAX;
    for (size_t i = 0; i < n; i++) {
        uint64_t b = safetensors_decl_bytes(&decls[i]);
        if (b > max_shard_bytes) {
            shard_of[i] = next++;
            continue;
        }
        if (first_open < n && current + b > max_shard_bytes) {
            for (size_t j = first_open; j < i; j++)
                if (shard_of[j] == SIZE_MAX) shard_of[j] = next;
            next++;
            first_open = n;
            current = 0;
        }
        if (first_open == n) first_open = i;
        shard_of[i] = SIZE_MAX; // open: numbered when appended
        current += b;
    }
    if (first_open < n) {
        for (size_t j = first_open; j < n; j++)
            if (shard_of[j] == SIZE_MAX) shard_of[j] = next;
        next++;
    }
    *n_shards = next;
    return STATUS_OK;
}

void safetensors_shard_name(size_t i, size_t n, char *buf, size_t cap) {
    if (n == 1)
        snprintf(buf, cap, "model.safetensors");
    else
        snprintf(buf, cap, "model-%05zu-of-%05zu.safetensors", i + 1, n);
}

static char *writer_join(const char *dir, const char *name) {
    size_t d = strlen(dir), n = strlen(name);
    char *p = mem_alloc(MEM_OTHER, d + n + 2);
    if (!p) return NULL;
    memcpy(p, dir, d);
    p[d] = '/';
    memcpy(p + d + 1, name, n + 1);
    return p;
}

status safetensors_model_writer_init(safetensors_model_writer *w, const char *dir,
                                     const safetensors_decl *decls, size_t n,
                                     uint64_t max_shard_bytes) {
    memset(w, 0, sizeof *w);
    status st = STATUS_OK;
    w->dir = writer_strdup(dir);
    w->decls = mem_alloc(MEM_OTHER, (n ? n : 1) * sizeof *w->decls);
    w->names = mem_calloc(MEM_OTHER, (n ? n : 1) * sizeof *w->names);
    w->shard_of = mem_alloc(MEM_OTHER, (n ? n : 1) * sizeof *w->shard_of);
    if (!w->dir || !w->decls || !w->names || !w->shard_of) {
        st = status_wrap(STATUS_ERR_NOMEM, "%s: model writer", dir);
        goto fail;
    }
    w->n = n;
    for (size_t i = 0; i < n; i++) {
        w->decls[i] = decls[i];
        if (!(w->names[i] = writer_strdup(decls[i].name))) {
            st = status_wrap(STATUS_ERR_NOMEM, "%s: model writer", dir);
            goto fail;
        }
        w->decls[i].name = w->names[i];
        w->total_size += safetensors_decl_bytes(&decls[i]);
    }
    safetensors_shard_plan(decls, n, max_shard_bytes, w->shard_of, &w->n_shards);
    if (w->n_shards == 0) w->n_shards = 1; // an empty model still gets its file
    w->shards = mem_calloc(MEM_OTHER, w->n_shards * sizeof *w->shards);
    w->left_in_shard = mem_calloc(MEM_OTHER, w->n_shards * sizeof *w->left_in_shard);
    if (!w->shards || !w->left_in_shard) {
        st = status_wrap(STATUS_ERR_NOMEM, "%s: model writer", dir);
        goto fail;
    }
    for (size_t s = 0; s < w->n_shards; s++)
        w->shards[s].fd = -1;
    for (size_t s = 0; s < w->n_shards; s++) {
        char name[64];
        safetensors_shard_name(s, w->n_shards, name, sizeof name);
        char *path = writer_join(dir, name);
        if (!path) {
            st = status_wrap(STATUS_ERR_NOMEM, "%s: model writer", dir);
            goto fail;
        }
        st = safetensors_writer_init(&w->shards[s], path);
        mem_free(path);
        if (st != STATUS_OK) goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        const safetensors_decl *d = &w->decls[i];
        if ((st = safetensors_writer_add(&w->shards[w->shard_of[i]], d->name, d->dtype, d->n_dims,
                                         d->shape)))
            goto fail;
        w->left_in_shard[w->shard_of[i]]++;
    }
    return STATUS_OK;
fail:
    safetensors_model_writer_free(w);
    return st;
}

// Appends count values (f32 or i32 as the tensor's dtype needs) of `name`.
static status writer_model_values(safetensors_model_writer *w, const char *name, const float *f32,
                                  const int32_t *i32, size_t count) {
    if (w->current >= w->n)
        return status_fail(STATUS_ERR_ARG, "%s: tensor '%s': every tensor is already complete",
                           w->dir, name);
    if (strcmp(name, w->names[w->current]) != 0)
        return status_fail(STATUS_ERR_ARG,
                           "%s: data for tensor '%s' out of order: tensor '%s' comes next "
                           "(declaration order)",
                           w->dir, name, w->names[w->current]);
    size_t s = w->shard_of[w->current];
    // Bounds are checked (with file-named messages) by the shard writer.
    status st = i32 ? safetensors_writer_write_i32(&w->shards[s], name, i32, count)
                    : safetensors_writer_write_f32(&w->shards[s], name, f32, count);
    if (st != STATUS_OK) return st;
    w->done += count;
    const safetensors_decl *d = &w->decls[w->current];
    uint64_t numel = safetensors_decl_bytes(d) / safetensors_dtype_size(d->dtype);
    if (w->done == numel) {
        w->current++;
        w->done = 0;
        // Last tensor of its shard: the shard is complete, put it in place.
        if (--w->left_in_shard[s] == 0) st = safetensors_writer_finish(&w->shards[s]);
    }
    return st;
}

status safetensors_model_writer_write_f32(safetensors_model_writer *w, const char *name,
                                          const float *src, size_t count) {
    return writer_model_values(w, name, src, NULL, count);
}

status safetensors_model_writer_write_i32(safetensors_model_writer *w, const char *name,
                                          const int32_t *src, size_t count) {
    static const int32_t none = 0; // a non-NULL pointer for an empty write
    return writer_model_values(w, name, NULL, src ? src : &none, count);
}

static int writer_cmp_names(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

// model.safetensors.index.json as transformers writes it.
static status writer_write_index(safetensors_model_writer *w) {
    const char **sorted = mem_alloc(MEM_OTHER, (w->n ? w->n : 1) * sizeof *sorted);
    char *path = writer_join(w->dir, "model.safetensors.index.json");
    char *tmp = writer_join(w->dir, "model.safetensors.index.json.tmp");
    writer_text t = {0};
    status st = STATUS_OK;
    if (!sorted || !path || !tmp) {
        st = status_wrap(STATUS_ERR_NOMEM, "%s: index", w->dir);
        goto done;
    }
    for (size_t i = 0; i < w->n; i++)
        sorted[i] = w->names[i];
    qsort(sorted, w->n, sizeof *sorted, writer_cmp_names);
    writer_text_printf(&t, "{\n  \"metadata\": {\n    \"total_size\": %llu\n  },\n",
                       (unsigned long long)w->total_size);
    writer_text_printf(&t, "  \"weight_map\": {\n");
    for (size_t k = 0; k < w->n; k++) {
        // Position of the k-th name: names are unique, a linear scan is
        // fine for the few hundred tensors of a model.
        size_t i = 0;
        while (w->names[i] != sorted[k])
            i++;
        char shard[64];
        safetensors_shard_name(w->shard_of[i], w->n_shards, shard, sizeof shard);
        writer_text_printf(&t, "    ");
        writer_text_json_string(&t, sorted[k]);
        writer_text_printf(&t, ": \"%s\"%s\n", shard, k + 1 < w->n ? "," : "");
    }
    writer_text_printf(&t, "  }\n}\n");
    if (t.failed) {
        st = status_wrap(STATUS_ERR_NOMEM, "%s: index", w->dir);
        goto done;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        st = status_fail(STATUS_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto done;
    }
    st = writer_write_full(fd, tmp, t.data, t.len);
    if (close(fd) != 0 && st == STATUS_OK)
        st = status_fail(STATUS_ERR_IO, "%s: close failed: %s", tmp, strerror(errno));
    if (st == STATUS_OK && rename(tmp, path) != 0)
        st = status_fail(STATUS_ERR_IO, "%s: cannot rename to %s: %s", tmp, path, strerror(errno));
    if (st != STATUS_OK) unlink(tmp);
done:
    mem_free(t.data);
    mem_free(sorted);
    mem_free(path);
    mem_free(tmp);
    return st;
}

status safetensors_model_writer_finish(safetensors_model_writer *w) {
    if (w->finished) return STATUS_OK;
    if (w->current < w->n)
        return status_fail(STATUS_ERR_ARG, "%s: tensor '%s' incomplete at finish", w->dir,
                           w->names[w->current]);
    status st;
    for (size_t s = 0; s < w->n_shards; s++)
        if ((st = safetensors_writer_finish(&w->shards[s]))) return st; // no-op when done
    if (w->n_shards > 1 && (st = writer_write_index(w))) return st;
    w->finished = 1;
    return STATUS_OK;
}

void safetensors_model_writer_free(safetensors_model_writer *w) {
    for (size_t s = 0; w->shards && s < w->n_shards; s++) {
        // A shard already renamed into place is part of an unfinished model.
        if (!w->finished && w->shards[s].finished) unlink(w->shards[s].path);
        safetensors_writer_free(&w->shards[s]);
    }
    for (size_t i = 0; w->names && i < w->n; i++)
        mem_free(w->names[i]);
    mem_free(w->names);
    mem_free(w->decls);
    mem_free(w->shard_of);
    mem_free(w->left_in_shard);
    mem_free(w->shards);
    mem_free(w->dir);
    memset(w, 0, sizeof *w);
}
