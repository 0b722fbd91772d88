#include "io/gptq.h"

#include "base/half.h"
#include "base/json_file.h"
#include "base/mem.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const gptq_suffixes[] = {"qweight", "qzeros", "scales", "g_idx"};

status gptq_config_check(const gptq_config *c) {
    if (c->bits != 4 && c->bits != 8)
        return status_fail(STATUS_ERR_UNSUPPORTED, "GPTQ bits %d is not supported (4 or 8)",
                           c->bits);
    if (c->group_size == 0 || c->group_size < -1)
        return status_fail(STATUS_ERR_UNSUPPORTED,
                           "GPTQ group_size %d is not supported (a positive number of input "
                           "columns, or -1 for one group)",
                           c->group_size);
    return STATUS_OK;
}

// An integer member of qc (required), or a boolean one.
static status gptq_json_int(const cJSON *qc, const char *path, const char *key, int is_bool,
                            int required, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(qc, key);
    if (!v) {
        if (!required) return STATUS_OK;
        return status_fail(STATUS_ERR_MISSING, "%s: quantization_config has no \"%s\"", path, key);
    }
    if (is_bool) {
        if (!cJSON_IsBool(v))
            return status_fail(STATUS_ERR_FORMAT,
                               "%s: quantization_config \"%s\" must be true or false", path, key);
        *out = cJSON_IsTrue(v);
        return STATUS_OK;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int)v->valuedouble)
        return status_fail(STATUS_ERR_FORMAT, "%s: quantization_config \"%s\" must be an integer",
                           path, key);
    *out = (int)v->valuedouble;
    return STATUS_OK;
}

status gptq_config_parse(const cJSON *qc, const char *path, gptq_config *out) {
    memset(out, 0, sizeof *out);
    if (!cJSON_IsObject(qc))
        return status_fail(STATUS_ERR_FORMAT, "%s: quantization_config must be an object", path);
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(qc, "quant_method");
    if (!cJSON_IsString(m))
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: quantization_config has no \"quant_method\" string", path);
    if (strcmp(m->valuestring, "gptq") != 0)
        return status_fail(STATUS_ERR_UNSUPPORTED,
                           "%s: quantization_config quant_method \"%s\" is not supported (only "
                           "\"gptq\")",
                           path, m->valuestring);
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(qc, "checkpoint_format");
    if (f && !cJSON_IsNull(f)) {
        if (!cJSON_IsString(f))
            return status_fail(STATUS_ERR_FORMAT,
                               "%s: quantization_config \"checkpoint_format\" must be a string",
                               path);
        if (strcmp(f->valuestring, "gptq") != 0)
            return status_fail(STATUS_ERR_UNSUPPORTED,
                               "%s: GPTQ checkpoint_format \"%s\" is not supported (only \"gptq\", "
                               "the v1 format AutoGPTQ and transformers write, which stores "
                               "zero - 1)",
                               path, f->valuestring);
    }
    status st;
    if ((st = gptq_json_int(qc, path, "bits", 0, 1, &out->bits)) ||
        (st = gptq_json_int(qc, path, "group_size", 0, 0, &out->group_size)) ||
        (st = gptq_json_int(qc, path, "sym", 1, 0, &out->sym)) ||
        (st = gptq_json_int(qc, path, "desc_act", 1, 0, &out->desc_act)))
        return st;
    // transformers' GPTQConfig defaults: group_size 128, sym true, desc_act false.
    if (!cJSON_GetObjectItemCaseSensitive(qc, "group_size")) out->group_size = 128;
    if (!cJSON_GetObjectItemCaseSensitive(qc, "sym")) out->sym = 1;
    if ((st = gptq_config_check(out))) return status_wrap(st, "%s: quantization_config", path);
    return STATUS_OK;
}

status gptq_config_load(const char *path, int *present, gptq_config *out) {
    *present = 0;
    memset(out, 0, sizeof *out);
    cJSON *root;
    status st = json_file_parse(path, &root);
    if (st != STATUS_OK) return st;
    const cJSON *qc = cJSON_GetObjectItemCaseSensitive(root, "quantization_config");
    if (qc && !cJSON_IsNull(qc)) {
        st = gptq_config_parse(qc, path, out);
        *present = st == STATUS_OK;
    }
    cJSON_Delete(root);
    return st;
}

void gptq_config_json(const gptq_config *c, char *buf, size_t cap) {
    snprintf(buf, cap,
             "{\"quant_method\": \"gptq\", \"bits\": %d, \"group_size\": %d, \"desc_act\": %s, "
             "\"sym\": %s, \"checkpoint_format\": \"gptq\"}",
             c->bits, c->group_size, c->desc_act ? "true" : "false", c->sym ? "true" : "false");
}

int64_t gptq_n_groups(const gptq_config *c, int64_t in) {
    if (c->group_size <= 0) return 1;
    return (in + c->group_size - 1) / c->group_size;
}

int gptq_pack_factor(const gptq_config *c) {
    return 32 / c->bits;
}

status gptq_tensor_name(const char *weight_name, const char *suffix, char *buf, size_t cap) {
    static const char tail[] = ".weight";
    size_t n = strlen(weight_name), t = sizeof tail - 1;
    if (n <= t || strcmp(weight_name + n - t, tail) != 0)
        return status_fail(STATUS_ERR_ARG, "GPTQ: '%s' is not a weight name (X.weight)",
                           weight_name);
    if (n - t + 1 + strlen(suffix) + 1 > cap)
        return status_fail(STATUS_ERR_ARG, "GPTQ: tensor name '%s' too long", weight_name);
    memcpy(buf, weight_name, n - t + 1); // keeps the '.'
    strcpy(buf + n - t + 1, suffix);
    return STATUS_OK;
}

int gptq_is_quantized(const checkpoint *ck, const char *weight_name) {
    char name[TENSOR_NAME_CAP + 16];
    checkpoint_tensor t;
    if (gptq_tensor_name(weight_name, "qweight", name, sizeof name) != STATUS_OK) return 0;
    int found = checkpoint_find(ck, name, &t) == STATUS_OK;
    return found;
}

void gptq_tensor_names_each(const char *weight_name, void (*mark)(void *ctx, const char *name),
                            void *ctx) {
    char name[TENSOR_NAME_CAP + 16];
    for (size_t i = 0; i < sizeof gptq_suffixes / sizeof gptq_suffixes[0]; i++)
        if (gptq_tensor_name(weight_name, gptq_suffixes[i], name, sizeof name) == STATUS_OK)
            mark(ctx, name);
}

uint64_t gptq_stored_bytes(const checkpoint *ck, const char *weight_name) {
    uint64_t b = 0;
    char name[TENSOR_NAME_CAP + 16];
    for (size_t i = 0; i < sizeof gptq_suffixes / sizeof gptq_suffixes[0]; i++) {
        checkpoint_tensor t;
        if (gptq_tensor_name(weight_name, gptq_suffixes[i], name, sizeof name) == STATUS_OK &&
            checkpoint_find(ck, name, &t) == STATUS_OK)
            b += t.info->n_bytes;
    }
    return b;
}

// One stored tensor against its expected dtype(s) and shape.
static status gptq_check_one(const checkpoint *ck, const gptq_config *c, const char *weight_name,
                             const char *suffix, int float_ok, int n_dims, int64_t d0, int64_t d1,
                             int64_t out, int64_t in, checkpoint_tensor *t) {
    char name[TENSOR_NAME_CAP + 16];
    status st = gptq_tensor_name(weight_name, suffix, name, sizeof name);
    if (st != STATUS_OK) return st;
    char why[200];
    snprintf(why, sizeof why, "a %lld x %lld weight at bits=%d, group_size=%d", (long long)out,
             (long long)in, c->bits, c->group_size);
    if (checkpoint_find(ck, name, t) != STATUS_OK)
        return status_fail(STATUS_ERR_MISSING,
                           "%s: GPTQ weight '%s' has '%s' but no '%s' (expected for %s)",
                           ck->weights_path, weight_name, "qweight", name, why);
    int dtype_ok =
        float_ok ? safetensors_dtype_is_float(t->info->dtype) : t->info->dtype == SAFETENSORS_I32;
    if (!dtype_ok)
        return status_fail(STATUS_ERR_UNSUPPORTED, "%s: GPTQ tensor '%s' has dtype %s, expected %s",
                           t->file->path, name, safetensors_dtype_name(t->info->dtype),
                           float_ok ? "F16 (or F32/BF16)" : "I32");
    int64_t want[2] = {d0, d1};
    int same = t->info->n_dims == n_dims;
    for (int d = 0; same && d < n_dims; d++)
        same = t->info->shape[d] == want[d];
    if (!same) {
        char w[80], g[80];
        safetensors_shape_str(want, n_dims, w, sizeof w);
        safetensors_shape_str(t->info->shape, t->info->n_dims, g, sizeof g);
        return status_fail(STATUS_ERR_SHAPE, "%s: GPTQ tensor '%s' has shape %s, expected %s (%s)",
                           t->file->path, name, g, w, why);
    }
    return STATUS_OK;
}

status gptq_check_tensors(const checkpoint *ck, const gptq_config *c, const char *weight_name,
                          int64_t out, int64_t in) {
    int p = gptq_pack_factor(c);
    if (in % p != 0 || out % p != 0)
        return status_fail(STATUS_ERR_SHAPE,
                           "%s: GPTQ weight '%s' (%lld x %lld) cannot be packed at bits=%d: both "
                           "dimensions must be multiples of %d",
                           ck->weights_path, weight_name, (long long)out, (long long)in, c->bits,
                           p);
    int64_t G = gptq_n_groups(c, in);
    checkpoint_tensor t;
    status st;
    if ((st = gptq_check_one(ck, c, weight_name, "qweight", 0, 2, in / p, out, out, in, &t)) ||
        (st = gptq_check_one(ck, c, weight_name, "qzeros", 0, 2, G, out / p, out, in, &t)) ||
        (st = gptq_check_one(ck, c, weight_name, "scales", 1, 2, G, out, out, in, &t)) ||
        (st = gptq_check_one(ck, c, weight_name, "g_idx", 0, 1, in, 0, out, in, &t)))
        return st;
    return STATUS_OK;
}

void gptq_weight_free(gptq_weight *w) {
    mem_free(w->qweight);
    mem_free(w->qzeros);
    mem_free(w->scales);
    mem_free(w->g_idx);
    memset(w, 0, sizeof *w);
}

status gptq_weight_load(gptq_weight *w, const checkpoint *ck, const gptq_config *c,
                        const char *weight_name, int64_t out, int64_t in) {
    memset(w, 0, sizeof *w);
    status st = gptq_check_tensors(ck, c, weight_name, out, in);
    if (st != STATUS_OK) return st;
    int p = gptq_pack_factor(c);
    w->cfg = *c;
    w->out = out;
    w->in = in;
    w->n_groups = gptq_n_groups(c, in);
    size_t nq = (size_t)(in / p) * (size_t)out, nz = (size_t)w->n_groups * (size_t)(out / p);
    size_t ns = (size_t)w->n_groups * (size_t)out;
    w->qweight = mem_alloc(MEM_WEIGHTS, nq * sizeof *w->qweight);
    w->qzeros = mem_alloc(MEM_WEIGHTS, nz * sizeof *w->qzeros);
    w->scales = mem_alloc(MEM_WEIGHTS, ns * sizeof *w->scales);
    w->g_idx = mem_alloc(MEM_WEIGHTS, (size_t)in * sizeof *w->g_idx);
    if (!w->qweight || !w->qzeros || !w->scales || !w->g_idx) {
        gptq_weight_free(w);
        return status_wrap(STATUS_ERR_NOMEM, "GPTQ weight '%s'", weight_name);
    }
    char name[4][TENSOR_NAME_CAP + 16];
    for (int i = 0; i < 4; i++)
        gptq_tensor_name(weight_name, gptq_suffixes[i], name[i], sizeof name[i]);
    if ((st = checkpoint_read_raw(ck, name[0], w->qweight, nq * 4)) ||
        (st = checkpoint_read_raw(ck, name[1], w->qzeros, nz * 4)) ||
        (st = checkpoint_read_raw(ck, name[3], w->g_idx, (size_t)in * 4))) {
        gptq_weight_free(w);
        return st;
    }
    checkpoint_tensor t;
    if ((st = checkpoint_find(ck, name[2], &t)) ||
        (st = safetensors_read_f32(t.file, t.info, w->scales, ns))) {
        gptq_weight_free(w);
        return st;
    }
    // A g_idx value out of range would index past the scales: refuse it here
    // so that dequantization needs no check per element.
    for (int64_t i = 0; i < in; i++)
        if (w->g_idx[i] < 0 || w->g_idx[i] >= w->n_groups) {
            st = status_fail(STATUS_ERR_FORMAT,
                             "%s: GPTQ tensor '%s': g_idx[%lld] = %d, expected a group in [0, "
                             "%lld) (bits=%d, group_size=%d, %lld input columns)",
                             ck->weights_path, name[3], (long long)i, (int)w->g_idx[i],
                             (long long)w->n_groups, c->bits, c->group_size, (long long)in);
            gptq_weight_free(w);
            return st;
        }
    for (size_t i = 0; i < ns; i++)
        if (!isfinite(w->scales[i])) {
            st = status_fail(STATUS_ERR_NUMERIC, "%s: GPTQ tensor '%s': element %zu is %g",
                             ck->weights_path, name[2], i, (double)w->scales[i]);
            gptq_weight_free(w);
            return st;
        }
    return STATUS_OK;
}

static status gptq_rows_check(const gptq_weight *w, int64_t r0, int64_t r1) {
    if (r0 < 0 || r1 < r0 || r1 > w->out)
        return status_fail(STATUS_ERR_ARG, "GPTQ: rows [%lld, %lld) out of range (%lld rows)",
                           (long long)r0, (long long)r1, (long long)w->out);
    return STATUS_OK;
}

// Writes rows [r0, r1) through put(dst, index, value).
#define GPTQ_DEQUANT_BODY(PUT)                                                                     \
    int b = w->cfg.bits, p = 32 / b;                                                               \
    uint32_t mask = (1u << b) - 1u;                                                                \
    int64_t in = w->in, out = w->out;                                                              \
    for (int64_t j = r0; j < r1; j++) {                                                            \
        size_t row = (size_t)(j - r0) * (size_t)in;                                                \
        int zshift = (int)(j % p) * b;                                                             \
        for (int64_t r = 0; r < in / p; r++) {                                                     \
            uint32_t word = w->qweight[(size_t)r * (size_t)out + (size_t)j];                       \
            for (int k = 0; k < p; k++) {                                                          \
                int64_t i = r * p + k;                                                             \
                size_t g = (size_t)w->g_idx[i];                                                    \
                uint32_t zs =                                                                      \
                    (w->qzeros[g * (size_t)(out / p) + (size_t)(j / p)] >> zshift) & mask;         \
                int32_t qv = (int32_t)((word >> (k * b)) & mask);                                  \
                /* v1: the stored zero is zero - 1; the product is exact in f32 (an f16 scale      \
                   times an integer below 2^9). */                                                 \
                float v = w->scales[g * (size_t)out + (size_t)j] * (float)(qv - (int32_t)zs - 1);  \
                PUT;                                                                               \
            }                                                                                      \
        }                                                                                          \
    }

status gptq_weight_dequant_f32(const gptq_weight *w, int64_t r0, int64_t r1, float *dst) {
    status st = gptq_rows_check(w, r0, r1);
    if (st != STATUS_OK) return st;
    GPTQ_DEQUANT_BODY(dst[row + (size_t)i] = v)
    return STATUS_OK;
}

status gptq_weight_dequant_bf16(const gptq_weight *w, int64_t r0, int64_t r1, uint16_t *dst) {
    status st = gptq_rows_check(w, r0, r1);
    if (st != STATUS_OK) return st;
    GPTQ_DEQUANT_BODY(dst[row + (size_t)i] = half_f32_to_bf16(v))
    return STATUS_OK;
}

void gptq_g_idx_plain(const gptq_config *c, int64_t in, int32_t *g_idx) {
    for (int64_t i = 0; i < in; i++)
        g_idx[i] = c->group_size > 0 ? (int32_t)(i / c->group_size) : 0;
}

// Sort keys of the act-order permutation.
typedef struct {
    double norm2;
    int64_t col;
} gptq_col_key;

static int gptq_col_cmp(const void *a, const void *b) {
    const gptq_col_key *x = a, *y = b;
    if (x->norm2 != y->norm2) return x->norm2 > y->norm2 ? -1 : 1;
    return x->col < y->col ? -1 : (x->col > y->col);
}

status gptq_g_idx_act_order(const gptq_config *c, const float *W, int64_t out, int64_t in,
                            int32_t *g_idx) {
    gptq_col_key *keys = mem_calloc(MEM_OTHER, (size_t)(in ? in : 1) * sizeof *keys);
    if (!keys) return status_wrap(STATUS_ERR_NOMEM, "GPTQ act-order");
    for (int64_t i = 0; i < in; i++)
        keys[i].col = i;
    for (int64_t j = 0; j < out; j++)
        for (int64_t i = 0; i < in; i++) {
            double v = W[(size_t)j * (size_t)in + (size_t)i];
            keys[i].norm2 += v * v;
        }
    qsort(keys, (size_t)in, sizeof *keys, gptq_col_cmp);
    for (int64_t k = 0; k < in; k++)
        g_idx[keys[k].col] = c->group_size > 0 ? (int32_t)(k / c->group_size) : 0;
    mem_free(keys);
    return STATUS_OK;
}

status gptq_quantize_rtn(const gptq_config *c, const float *W, int64_t out, int64_t in,
                         const int32_t *g_idx, uint8_t *q, uint8_t *zero, uint16_t *scale16) {
    status st = gptq_config_check(c);
    if (st != STATUS_OK) return st;
    int64_t G = gptq_n_groups(c, in);
    const float maxq = (float)((1 << c->bits) - 1);
    for (int64_t i = 0; i < in; i++)
        if (g_idx[i] < 0 || g_idx[i] >= G)
            return status_fail(STATUS_ERR_ARG, "GPTQ quantize: g_idx[%lld] = %d not in [0, %lld)",
                               (long long)i, (int)g_idx[i], (long long)G);
    float *mn = mem_alloc(MEM_OTHER, (size_t)G * 2 * sizeof *mn), *mx = mn ? mn + G : NULL;
    float *s32 = mem_alloc(MEM_OTHER, (size_t)G * 2 * sizeof *s32), *s16 = s32 ? s32 + G : NULL;
    if (!mn || !s32) {
        mem_free(mn);
        mem_free(s32);
        return status_wrap(STATUS_ERR_NOMEM, "GPTQ quantize");
    }
    for (int64_t j = 0; j < out && st == STATUS_OK; j++) {
        const float *row = W + (size_t)j * (size_t)in;
        // Quantizer.find_params: the range always includes 0.
        for (int64_t g = 0; g < G; g++)
            mn[g] = mx[g] = 0.0f;
        for (int64_t i = 0; i < in; i++) {
            float v = row[i];
            if (!isfinite(v)) {
                st = status_fail(STATUS_ERR_NUMERIC,
                                 "GPTQ quantize: weight row %lld column %lld is %g", (long long)j,
                                 (long long)i, (double)v);
                break;
            }
            int32_t g = g_idx[i];
            if (v < mn[g]) mn[g] = v;
            if (v > mx[g]) mx[g] = v;
        }
        for (int64_t g = 0; g < G && st == STATUS_OK; g++) {
            float lo = mn[g], hi = mx[g];
            if (c->sym) {
                hi = fabsf(lo) > hi ? fabsf(lo) : hi;
                // AutoGPTQ keeps lo = 0 when no value is negative, which with
                // zero 2^(b-1) leaves half the steps for [0, hi] and clips; we
                // always center the range (see gptq.h).
                lo = -hi;
            }
            if (lo == 0.0f && hi == 0.0f) {
                lo = -1.0f;
                hi = 1.0f;
            }
            float s = (hi - lo) / maxq;
            uint16_t h = half_f32_to_f16(s);
            if ((h & 0x7fffu) == 0) h = 1; // below f16's range: its smallest subnormal
            if ((h & 0x7c00u) == 0x7c00u) {
                st = status_fail(STATUS_ERR_NUMERIC,
                                 "GPTQ quantize: row %lld group %lld: scale %g exceeds float16",
                                 (long long)j, (long long)g, (double)s);
                break;
            }
            float z = c->sym ? (float)(1 << (c->bits - 1)) : rintf(-lo / s);
            if (z < 1.0f) z = 1.0f; // v1 stores zero - 1 (see gptq.h)
            if (z > maxq) z = maxq;
            s32[g] = z;
            s16[g] = half_f16_to_f32(h);
            zero[(size_t)g * (size_t)out + (size_t)j] = (uint8_t)z;
            scale16[(size_t)g * (size_t)out + (size_t)j] = h;
        }
        for (int64_t i = 0; i < in && st == STATUS_OK; i++) {
            int32_t g = g_idx[i];
            float v = rintf(row[i] / s16[g]) + s32[g]; // s32 holds the zero here
            if (v < 0.0f) v = 0.0f;
            if (v > maxq) v = maxq;
            q[(size_t)j * (size_t)in + (size_t)i] = (uint8_t)v;
        }
    }
    mem_free(mn);
    mem_free(s32);
    return st;
}

status gptq_pack(const gptq_config *c, const uint8_t *q, const uint8_t *zero, int64_t out,
                 int64_t in, uint32_t *qweight, uint32_t *qzeros) {
    status st = gptq_config_check(c);
    if (st != STATUS_OK) return st;
    int b = c->bits, p = gptq_pack_factor(c);
    uint32_t mask = (1u << b) - 1u;
    if (in % p != 0 || out % p != 0)
        return status_fail(STATUS_ERR_SHAPE,
                           "GPTQ pack: a %lld x %lld weight at bits=%d needs both dimensions "
                           "multiples of %d",
                           (long long)out, (long long)in, b, p);
    int64_t G = gptq_n_groups(c, in);
    for (int64_t r = 0; r < in / p; r++)
        for (int64_t j = 0; j < out; j++) {
            uint32_t word = 0;
            for (int k = 0; k < p; k++)
                word |= ((uint32_t)q[(size_t)j * (size_t)in + (size_t)(r * p + k)] & mask)
                        << (k * b);
            qweight[(size_t)r * (size_t)out + (size_t)j] = word;
        }
    for (int64_t g = 0; g < G; g++)
        for (int64_t cidx = 0; cidx < out / p; cidx++) {
            uint32_t word = 0;
            for (int k = 0; k < p; k++) {
                uint32_t z = zero[(size_t)g * (size_t)out + (size_t)(cidx * p + k)];
                if (z < 1 || z > mask)
                    return status_fail(STATUS_ERR_ARG,
                                       "GPTQ pack: zero %u of group %lld row %lld outside [1, %u] "
                                       "(the v1 format stores zero - 1)",
                                       z, (long long)g, (long long)(cidx * p + k), mask);
                word |= ((z - 1u) & mask) << (k * b);
            }
            qzeros[(size_t)g * (size_t)(out / p) + (size_t)cidx] = word;
        }
    return STATUS_OK;
}

status gptq_read_f32_range(const checkpoint *ck, const gptq_config *c, const char *weight_name,
                           size_t first, size_t count, float *dst) {
    char qw[TENSOR_NAME_CAP + 16], gi[TENSOR_NAME_CAP + 16];
    checkpoint_tensor tq, tg;
    status st;
    if ((st = gptq_tensor_name(weight_name, "qweight", qw, sizeof qw)) ||
        (st = gptq_tensor_name(weight_name, "g_idx", gi, sizeof gi)) ||
        (st = checkpoint_find(ck, qw, &tq)) || (st = checkpoint_find(ck, gi, &tg)))
        return st;
    if (tq.info->n_dims != 2 || tg.info->n_dims != 1)
        return status_fail(STATUS_ERR_SHAPE, "%s: GPTQ tensors of '%s' are not 2-D / 1-D",
                           ck->weights_path, weight_name);
    int64_t out = tq.info->shape[1], in = tg.info->shape[0];
    size_t numel = (size_t)out * (size_t)in;
    if (first > numel || count > numel - first)
        return status_fail(STATUS_ERR_SHAPE,
                           "%s: GPTQ weight '%s' has %zu elements (%lld x %lld), caller asked for "
                           "[%zu, %zu)",
                           ck->weights_path, weight_name, numel, (long long)out, (long long)in,
                           first, first + count);
    if (count == 0) return STATUS_OK;
    gptq_weight w;
    if ((st = gptq_weight_load(&w, ck, c, weight_name, out, in))) return st;
    int64_t r0 = (int64_t)(first / (size_t)in),
            r1 = (int64_t)((first + count - 1) / (size_t)in) + 1;
    if (first % (size_t)in == 0 && count % (size_t)in == 0) {
        st = gptq_weight_dequant_f32(&w, r0, r1, dst); // whole rows: straight into dst
    } else {
        // Partial rows: one row at a time through a row buffer.
        float *row = mem_alloc(MEM_OTHER, (size_t)in * sizeof *row);
        if (!row) st = status_wrap(STATUS_ERR_NOMEM, "GPTQ weight '%s'", weight_name);
        size_t done = 0;
        for (int64_t r = r0; r < r1 && st == STATUS_OK; r++) {
            st = gptq_weight_dequant_f32(&w, r, r + 1, row);
            size_t lo = (size_t)r * (size_t)in, a = first > lo ? first - lo : 0;
            size_t b = first + count < lo + (size_t)in ? first + count - lo : (size_t)in;
            memcpy(dst + done, row + a, (b - a) * sizeof *row);
            done += b - a;
        }
        mem_free(row);
    }
    gptq_weight_free(&w);
    return st;
}
