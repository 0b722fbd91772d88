#include "io/safetensors.h"
#include "base/half.h"
#include "base/json_file.h"
#include "base/mem.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c reads little-endian data straight into memory: little-endian hosts only"
#endif

static const struct {
    const char *name;
    size_t size;
} safetensors_dtypes[SAFETENSORS_N_DTYPES] = {
    [SAFETENSORS_F32] = {"F32", 4},         [SAFETENSORS_F16] = {"F16", 2},
    [SAFETENSORS_BF16] = {"BF16", 2},       [SAFETENSORS_F64] = {"F64", 8},
    [SAFETENSORS_I64] = {"I64", 8},         [SAFETENSORS_I32] = {"I32", 4},
    [SAFETENSORS_I16] = {"I16", 2},         [SAFETENSORS_I8] = {"I8", 1},
    [SAFETENSORS_U8] = {"U8", 1},           [SAFETENSORS_BOOL] = {"BOOL", 1},
    [SAFETENSORS_F8_E4M3] = {"F8_E4M3", 1}, [SAFETENSORS_F8_E5M2] = {"F8_E5M2", 1},
};

// JSON integers are doubles in cJSON: offsets and dims above 2^53 cannot be
// represented exactly, and no real file comes near that.
#define SAFETENSORS_MAX_JSON_INT 9007199254740992.0

const char *safetensors_dtype_name(safetensors_dtype dt) {
    return (unsigned)dt < SAFETENSORS_N_DTYPES ? safetensors_dtypes[dt].name : "invalid";
}

size_t safetensors_dtype_size(safetensors_dtype dt) {
    return (unsigned)dt < SAFETENSORS_N_DTYPES ? safetensors_dtypes[dt].size : 0;
}

int safetensors_dtype_is_float(safetensors_dtype dt) {
    return dt == SAFETENSORS_F32 || dt == SAFETENSORS_F16 || dt == SAFETENSORS_BF16;
}

status safetensors_dtype_parse(const char *text, safetensors_dtype *out) {
    for (int i = 0; i < SAFETENSORS_N_DTYPES; i++) {
        if (strcmp(text, safetensors_dtypes[i].name) == 0) {
            *out = (safetensors_dtype)i;
            return STATUS_OK;
        }
    }
    return status_fail(STATUS_ERR_UNSUPPORTED,
                       "unknown dtype \"%s\" (known: F32 F16 BF16 F64 I64 I32 I16 I8 U8 BOOL "
                       "F8_E4M3 F8_E5M2)",
                       text);
}

void safetensors_shape_str(const int64_t *shape, int n_dims, char *buf, size_t cap) {
    if (cap == 0) return;
    size_t n = 0;
    buf[0] = '\0';
    n += (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < n_dims && n < cap; d++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%lld", d ? ", " : "", (long long)shape[d]);
    if (n < cap) snprintf(buf + n, cap - n, "]");
}

static char *safetensors_strdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *copy = mem_alloc(MEM_OTHER, n);
    if (copy) memcpy(copy, s, n);
    return copy;
}

// Reads exactly n bytes at offset; `what` names the tensor (or "header") in
// messages. A short read means the file shrank or is damaged.
static status safetensors_pread_full(int fd, const char *path, const char *what, void *dst,
                                     size_t n, uint64_t offset) {
    unsigned char *p = dst;
    size_t done = 0;
    while (done < n) {
        ssize_t got = pread(fd, p + done, n - done, (off_t)(offset + done));
        if (got < 0) {
            if (errno == EINTR) continue;
            return status_fail(STATUS_ERR_IO, "%s: %s: read error at byte %llu: %s", path, what,
                               (unsigned long long)(offset + done), strerror(errno));
        }
        if (got == 0)
            return status_fail(STATUS_ERR_IO,
                               "%s: %s: short read (%zu of %zu bytes at offset %llu; file "
                               "truncated?)",
                               path, what, done, n, (unsigned long long)offset);
        done += (size_t)got;
    }
    return STATUS_OK;
}

void safetensors_close(safetensors_file *f) {
    if (f->path && f->fd >= 0) close(f->fd); // path is set first by open: fd is valid
    mem_free(f->path);
    if (f->tensors && f->n_tensors > 0) mem_free((void *)f->tensors[0].name); // the name arena
    mem_free(f->tensors);
    strmap_free(&f->by_name);
    memset(f, 0, sizeof *f);
    f->fd = -1;
}

size_t safetensors_count(const safetensors_file *f) {
    return f->n_tensors;
}

const safetensors_tensor *safetensors_at(const safetensors_file *f, size_t i) {
    return i < f->n_tensors ? &f->tensors[i] : NULL;
}

const safetensors_tensor *safetensors_find(const safetensors_file *f, const char *name) {
    int64_t i;
    if (!strmap_get(&f->by_name, name, strlen(name), &i)) return NULL;
    return &f->tensors[i];
}

status safetensors_get(const safetensors_file *f, const char *name,
                       const safetensors_tensor **out) {
    *out = safetensors_find(f, name);
    if (!*out)
        return status_fail(STATUS_ERR_MISSING, "%s: no tensor '%s' in this file", f->path, name);
    return STATUS_OK;
}

// A JSON number that is an integer in [0, 2^53].
static int safetensors_json_uint(const cJSON *item, uint64_t *out) {
    if (!cJSON_IsNumber(item)) return 0;
    double v = item->valuedouble;
    if (!(v >= 0 && v <= SAFETENSORS_MAX_JSON_INT) || v != (double)(uint64_t)v) return 0;
    *out = (uint64_t)v;
    return 1;
}

static status safetensors_check_metadata(const char *path, const cJSON *meta) {
    if (!cJSON_IsObject(meta))
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: header key '__metadata__' must be an object of strings", path);
    for (const cJSON *kv = meta->child; kv; kv = kv->next)
        if (!cJSON_IsString(kv))
            return status_fail(STATUS_ERR_FORMAT,
                               "%s: header '__metadata__' entry '%s' must be a string", path,
                               kv->string);
    return STATUS_OK;
}

// Validates one header entry and fills *t (name set by the caller).
static status safetensors_parse_entry(const char *path, const cJSON *e, uint64_t data_size,
                                      safetensors_tensor *t) {
    const char *name = e->string;
    if (!cJSON_IsObject(e))
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: tensor '%s': expected an object {dtype, shape, data_offsets}", path,
                           name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dtype))
        return status_fail(STATUS_ERR_FORMAT, "%s: tensor '%s': 'dtype' must be a string", path,
                           name);
    if (safetensors_dtype_parse(dtype->valuestring, &t->dtype) != STATUS_OK)
        return status_wrap(STATUS_ERR_UNSUPPORTED, "%s: tensor '%s'", path, name);

    if (!cJSON_IsArray(shape))
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: tensor '%s': 'shape' must be an array of non-negative integers",
                           path, name);
    int n_dims = cJSON_GetArraySize(shape);
    if (n_dims > SAFETENSORS_MAX_DIMS)
        return status_fail(STATUS_ERR_UNSUPPORTED, "%s: tensor '%s' has %d dims (at most %d read)",
                           path, name, n_dims, SAFETENSORS_MAX_DIMS);
    t->n_dims = n_dims;
    uint64_t numel = 1;
    int d = 0;
    for (const cJSON *dim = shape->child; dim; dim = dim->next, d++) {
        uint64_t v;
        if (!safetensors_json_uint(dim, &v))
            return status_fail(STATUS_ERR_FORMAT,
                               "%s: tensor '%s': shape entry %d is not a non-negative integer",
                               path, name, d);
        t->shape[d] = (int64_t)v;
        // Saturate instead of overflowing: the size check below then fails.
        numel = (v != 0 && numel > UINT64_MAX / 16 / v) ? UINT64_MAX / 16 : numel * v;
    }
    t->numel = (int64_t)numel;

    uint64_t begin, end;
    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2 ||
        !safetensors_json_uint(offs->child, &begin) ||
        !safetensors_json_uint(offs->child->next, &end))
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: tensor '%s': 'data_offsets' must be [begin, end] with "
                           "non-negative integers",
                           path, name);
    if (begin > end)
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: tensor '%s': data_offsets [%llu, %llu] has begin > end", path, name,
                           (unsigned long long)begin, (unsigned long long)end);
    uint64_t need = numel * safetensors_dtype_size(t->dtype);
    if (end - begin != need) {
        char sh[160];
        safetensors_shape_str(t->shape, t->n_dims, sh, sizeof sh);
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes, but "
                           "shape %s of %s needs %llu bytes",
                           path, name, (unsigned long long)begin, (unsigned long long)end,
                           (unsigned long long)(end - begin), sh, dtype->valuestring,
                           (unsigned long long)need);
    }
    if (end > data_size)
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: tensor '%s': data_offsets [%llu, %llu] end beyond the data "
                           "region of %llu bytes (file truncated?)",
                           path, name, (unsigned long long)begin, (unsigned long long)end,
                           (unsigned long long)data_size);
    t->offset = begin; // made absolute by the caller
    t->n_bytes = need;
    return STATUS_OK;
}

static int safetensors_cmp_offset(const void *a, const void *b) {
    const safetensors_tensor *x = *(const safetensors_tensor *const *)a;
    const safetensors_tensor *y = *(const safetensors_tensor *const *)b;
    if (x->offset != y->offset) return x->offset < y->offset ? -1 : 1;
    return x->n_bytes < y->n_bytes ? -1 : x->n_bytes > y->n_bytes;
}

// Tensors must not share bytes: sort by offset and compare neighbours.
// Empty tensors occupy no bytes and are skipped.
static status safetensors_check_overlap(safetensors_file *f) {
    if (f->n_tensors < 2) return STATUS_OK;
    const safetensors_tensor **order = mem_alloc(MEM_OTHER, f->n_tensors * sizeof *order);
    if (!order) return status_wrap(STATUS_ERR_NOMEM, "%s", f->path);
    size_t n = 0;
    for (size_t i = 0; i < f->n_tensors; i++)
        if (f->tensors[i].n_bytes > 0) order[n++] = &f->tensors[i];
    qsort(order, n, sizeof *order, safetensors_cmp_offset);
    status st = STATUS_OK;
    for (size_t i = 1; i < n; i++) {
        const safetensors_tensor *a = order[i - 1], *b = order[i];
        if (b->offset < a->offset + a->n_bytes) {
            uint64_t base = f->data_start;
            st = status_fail(STATUS_ERR_FORMAT,
                             "%s: tensor '%s' (data_offsets [%llu, %llu]) overlaps tensor '%s' "
                             "(data_offsets [%llu, %llu])",
                             f->path, b->name, (unsigned long long)(b->offset - base),
                             (unsigned long long)(b->offset - base + b->n_bytes), a->name,
                             (unsigned long long)(a->offset - base),
                             (unsigned long long)(a->offset - base + a->n_bytes));
            break;
        }
    }
    mem_free(order);
    return st;
}

// Parses the header JSON (text of header_bytes bytes) into f->tensors.
static status safetensors_parse_header(safetensors_file *f, const char *text) {
    status chk = json_check_text(f->path, text, f->header_bytes);
    if (chk != STATUS_OK) return status_wrap(chk, "safetensors header");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, f->header_bytes, &end, 0);
    if (!root) {
        cJSON *again = NULL;
        status st = json_parse_text(f->path, text, f->header_bytes, &again);
        cJSON_Delete(again);
        if (st == STATUS_OK) st = status_fail(STATUS_ERR_NOMEM, "%s: parsing header", f->path);
        return status_wrap(st, "safetensors header");
    }
    status st = STATUS_OK;
    // The format allows trailing spaces (padding to 8 bytes), nothing else.
    for (const char *p = end; p && p < text + f->header_bytes; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            st = status_fail(STATUS_ERR_FORMAT,
                             "%s: safetensors header: unexpected bytes after the JSON object at "
                             "header byte %zu",
                             f->path, (size_t)(p - text));
            goto done;
        }
    }
    if (!cJSON_IsObject(root)) {
        st = status_fail(STATUS_ERR_FORMAT, "%s: safetensors header is not a JSON object", f->path);
        goto done;
    }
    size_t n = 0, name_bytes = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if ((st = safetensors_check_metadata(f->path, e))) goto done;
            continue;
        }
        n++;
        name_bytes += strlen(e->string) + 1;
    }
    // One allocation for all names (freed through tensors[0].name).
    f->tensors = mem_calloc(MEM_OTHER, (n ? n : 1) * sizeof *f->tensors);
    char *names = mem_alloc(MEM_OTHER, name_bytes);
    if (!f->tensors || !names) {
        mem_free(names);
        st = status_wrap(STATUS_ERR_NOMEM, "%s: header of %zu tensors", f->path, n);
        goto done;
    }
    if ((st = strmap_init(&f->by_name, n))) {
        mem_free(names);
        goto done;
    }
    uint64_t data_size = f->file_size - f->data_start;
    size_t i = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) continue;
        safetensors_tensor *t = &f->tensors[i];
        size_t len = strlen(e->string);
        memcpy(names, e->string, len + 1);
        t->name = names;
        names += len + 1;
        f->n_tensors = ++i; // from now on close() frees the arena
        if ((st = safetensors_parse_entry(f->path, e, data_size, t))) goto done;
        t->offset += f->data_start;
        if (strmap_get(&f->by_name, t->name, len, NULL)) {
            st = status_fail(STATUS_ERR_FORMAT, "%s: tensor '%s' appears twice in the header",
                             f->path, t->name);
            goto done;
        }
        if ((st = strmap_put(&f->by_name, t->name, len, (int64_t)(i - 1)))) goto done;
    }
    if (n == 0) mem_free(names); // nothing points into it
    st = safetensors_check_overlap(f);
done:
    cJSON_Delete(root);
    return st;
}

status safetensors_open(safetensors_file *f, const char *path) {
    memset(f, 0, sizeof *f);
    f->fd = -1;
    f->path = safetensors_strdup(path);
    if (!f->path) return status_wrap(STATUS_ERR_NOMEM, "%s", path);
    status st = STATUS_OK;
    char *text = NULL;
    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0) {
        st = status_fail(STATUS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    struct stat sb;
    if (fstat(f->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        st = status_fail(STATUS_ERR_IO, "%s: not a regular file", path);
        goto fail;
    }
    f->file_size = (uint64_t)sb.st_size;
    if (f->file_size < 8) {
        st = status_fail(STATUS_ERR_FORMAT,
                         "%s: file is %llu bytes, shorter than the 8-byte header length of a "
                         "safetensors file",
                         path, (unsigned long long)f->file_size);
        goto fail;
    }
    unsigned char len8[8];
    if ((st = safetensors_pread_full(f->fd, path, "header length", len8, 8, 0))) goto fail;
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | len8[i];
    if (n > SAFETENSORS_MAX_HEADER_BYTES) {
        st = status_fail(STATUS_ERR_FORMAT,
                         "%s: header length %llu is absurdly large (limit %llu bytes; not a "
                         "safetensors file?)",
                         path, (unsigned long long)n, SAFETENSORS_MAX_HEADER_BYTES);
        goto fail;
    }
    if (n > f->file_size - 8) {
        st = status_fail(STATUS_ERR_FORMAT,
                         "%s: header length %llu is beyond the file size (%llu bytes after the "
                         "8-byte length; truncated file?)",
                         path, (unsigned long long)n, (unsigned long long)(f->file_size - 8));
        goto fail;
    }
    f->header_bytes = n;
    f->data_start = 8 + n;
    text = mem_alloc(MEM_OTHER, (size_t)n + 1);
    if (!text) {
        st = status_wrap(STATUS_ERR_NOMEM, "%s: header of %llu bytes", path, (unsigned long long)n);
        goto fail;
    }
    if ((st = safetensors_pread_full(f->fd, path, "header", text, (size_t)n, 8))) goto fail;
    text[n] = '\0';
    if ((st = safetensors_parse_header(f, text))) goto fail;
    mem_free(text);
    return STATUS_OK;
fail:
    mem_free(text);
    safetensors_close(f);
    return st;
}

static status safetensors_check_float(const safetensors_file *f, const safetensors_tensor *t) {
    if (!safetensors_dtype_is_float(t->dtype))
        return status_fail(STATUS_ERR_UNSUPPORTED,
                           "%s: tensor '%s' has dtype %s, which cannot be read as f32 (expected "
                           "F32, F16 or BF16)",
                           f->path, t->name, safetensors_dtype_name(t->dtype));
    return STATUS_OK;
}

status safetensors_read_f32_range(const safetensors_file *f, const safetensors_tensor *t,
                                  size_t first, size_t count, float *dst) {
    status st = safetensors_check_float(f, t);
    if (st != STATUS_OK) return st;
    size_t numel = (size_t)t->numel;
    if (first > numel || count > numel - first)
        return status_fail(STATUS_ERR_ARG,
                           "%s: tensor '%s': elements [%zu, %zu) requested, tensor has %zu",
                           f->path, t->name, first, first + count, numel);
    size_t esz = safetensors_dtype_size(t->dtype);
    uint64_t offset = t->offset + (uint64_t)first * esz;
    if (t->dtype == SAFETENSORS_F32)
        return safetensors_pread_full(f->fd, f->path, t->name, dst, count * sizeof *dst, offset);
    // 16-bit: read into the upper half of dst, then widen front to back.
    // Element i is read (bytes 2*count + 2i) before float i (bytes 4i..4i+3)
    // is stored, and 4i + 4 <= 2*count + 2(i + 1) for i < count, so no
    // element is overwritten before it has been read.
    unsigned char *bytes = (unsigned char *)dst;
    unsigned char *src = bytes + count * 2;
    if ((st = safetensors_pread_full(f->fd, f->path, t->name, src, count * 2, offset))) return st;
    if (t->dtype == SAFETENSORS_F16) {
        for (size_t i = 0; i < count; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            float v = half_f16_to_f32(h);
            memcpy(bytes + 4 * i, &v, 4);
        }
    } else {
        for (size_t i = 0; i < count; i++) {
            uint16_t h;
            memcpy(&h, src + 2 * i, 2);
            float v = half_bf16_to_f32(h);
            memcpy(bytes + 4 * i, &v, 4);
        }
    }
    return STATUS_OK;
}

status safetensors_read_f32(const safetensors_file *f, const safetensors_tensor *t, float *dst,
                            size_t numel) {
    if (numel != (size_t)t->numel) {
        char sh[160];
        safetensors_shape_str(t->shape, t->n_dims, sh, sizeof sh);
        return status_fail(STATUS_ERR_SHAPE,
                           "%s: tensor '%s' has %lld elements (shape %s), caller expected %zu",
                           f->path, t->name, (long long)t->numel, sh, numel);
    }
    return safetensors_read_f32_range(f, t, 0, numel, dst);
}

status safetensors_read_raw(const safetensors_file *f, const safetensors_tensor *t, void *dst,
                            size_t n_bytes) {
    if (n_bytes != t->n_bytes)
        return status_fail(
            STATUS_ERR_SHAPE, "%s: tensor '%s' has %llu bytes of %s, caller expected %zu", f->path,
            t->name, (unsigned long long)t->n_bytes, safetensors_dtype_name(t->dtype), n_bytes);
    return safetensors_pread_full(f->fd, f->path, t->name, dst, n_bytes, t->offset);
}
