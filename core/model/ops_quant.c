// Packed layouts of the quantized weight dtypes (INT8, Q4; ops.h describes
// them): sizes, packing, dequantization and the activation quantization that
// every INT8 path shares.
#include "model/ops_quant.h"

#include "base/half.h"

#include <math.h>
#include <string.h>

#define OPS_ALIGN(x) (((x) + (size_t)63) & ~(size_t)63)

const char *ops_dtype_name(ops_dtype dt) {
    switch (dt) {
    case OPS_DTYPE_F32:
        return "f32";
    case OPS_DTYPE_BF16:
        return "bf16";
    case OPS_DTYPE_INT8:
        return "int8";
    case OPS_DTYPE_Q4:
        return "int4";
    }
    return "unknown";
}

size_t ops_q4_groups(size_t in, int group) {
    if (group <= 0) return 1;
    return (in + (size_t)group - 1) / (size_t)group;
}

status ops_matrix_check_shape(ops_dtype dt, size_t out, size_t in, int group, const char *what) {
    if (dt == OPS_DTYPE_Q4) {
        if (in % 8 != 0)
            return status_fail(STATUS_ERR_SHAPE,
                               "%s: (%zu, %zu) cannot be kept in 4 bits: the input dimension must "
                               "be a multiple of 8 (GPTQ packing)",
                               what, out, in);
        if (group == 0 || group < -1)
            return status_fail(STATUS_ERR_SHAPE, "%s: 4-bit group size must be > 0 or -1, got %d",
                               what, group);
    }
    if (dt != OPS_DTYPE_F32 && dt != OPS_DTYPE_BF16 && dt != OPS_DTYPE_INT8 && dt != OPS_DTYPE_Q4)
        return status_fail(STATUS_ERR_ARG, "%s: unknown weight dtype %d", what, (int)dt);
    return STATUS_OK;
}

// Offsets of the parts of a packed matrix.
typedef struct {
    size_t scale, zero, wsum, g_idx, total;
} ops_quant_layout;

static ops_quant_layout ops_layout(ops_dtype dt, size_t out, size_t in, int group) {
    ops_quant_layout l = {0};
    if (dt == OPS_DTYPE_INT8) {
        l.scale = OPS_ALIGN(out * in);
        l.wsum = l.scale + OPS_ALIGN(out * sizeof(float));
        l.total = l.wsum + OPS_ALIGN(out * sizeof(int32_t));
    } else if (dt == OPS_DTYPE_Q4) {
        size_t G = ops_q4_groups(in, group);
        l.scale = OPS_ALIGN(in / 8 * out * sizeof(uint32_t));
        l.zero = l.scale + OPS_ALIGN(G * out * sizeof(float));
        l.g_idx = l.zero + OPS_ALIGN(G * out);
        l.total = l.g_idx + OPS_ALIGN(in * sizeof(int32_t));
    }
    return l;
}

size_t ops_matrix_bytes(ops_dtype dt, size_t out, size_t in, int group) {
    switch (dt) {
    case OPS_DTYPE_F32:
        return out * in * sizeof(float);
    case OPS_DTYPE_BF16:
        return out * in * sizeof(uint16_t);
    case OPS_DTYPE_INT8:
        return ops_layout(dt, out, in, group).total;
    case OPS_DTYPE_Q4:
        if (in % 8 != 0 || group == 0 || group < -1) return 0;
        return ops_layout(dt, out, in, group).total;
    }
    return 0;
}

void ops_matrix_pack_int8_rows(void *dst, size_t out, size_t in, size_t r0, size_t r1,
                               const float *w_rows) {
    ops_quant_layout l = ops_layout(OPS_DTYPE_INT8, out, in, 0);
    unsigned char *base = dst;
    int8_t *q = (int8_t *)base;
    float *scale = (float *)(base + l.scale);
    int32_t *wsum = (int32_t *)(base + l.wsum);
    for (size_t j = r0; j < r1; j++) {
        const float *w = w_rows + (j - r0) * in;
        float amax = 0.0f;
        for (size_t i = 0; i < in; i++)
            amax = fabsf(w[i]) > amax ? fabsf(w[i]) : amax;
        float s = amax / 127.0f;
        int32_t sum = 0;
        for (size_t i = 0; i < in; i++) {
            long v = s > 0.0f ? lrintf(w[i] / s) : 0;
            v = v < -127 ? -127 : v > 127 ? 127 : v;
            q[j * in + i] = (int8_t)v;
            sum += (int32_t)v;
        }
        scale[j] = s;
        wsum[j] = sum;
    }
}

void ops_matrix_pack_q4(void *dst, size_t out, size_t in, int group, const uint32_t *qweight,
                        const uint8_t *zero, const float *scale, const int32_t *g_idx) {
    ops_quant_layout l = ops_layout(OPS_DTYPE_Q4, out, in, group);
    size_t G = ops_q4_groups(in, group);
    unsigned char *base = dst;
    memcpy(base, qweight, in / 8 * out * sizeof *qweight);
    memcpy(base + l.scale, scale, G * out * sizeof *scale);
    memcpy(base + l.zero, zero, G * out);
    memcpy(base + l.g_idx, g_idx, in * sizeof *g_idx);
}

void ops_matrix_dequant_rows(const ops_matrix *w, size_t out, size_t in, size_t r0, size_t r1,
                             float *dst) {
    const unsigned char *base = w->data;
    switch (w->dtype) {
    case OPS_DTYPE_F32:
        memcpy(dst, (const float *)base + r0 * in, (r1 - r0) * in * sizeof *dst);
        return;
    case OPS_DTYPE_BF16:
        half_bf16_to_f32_array((const uint16_t *)base + r0 * in, dst, (r1 - r0) * in);
        return;
    case OPS_DTYPE_INT8: {
        ops_quant_layout l = ops_layout(OPS_DTYPE_INT8, out, in, 0);
        const int8_t *q = (const int8_t *)base;
        const float *scale = (const float *)(base + l.scale);
        for (size_t j = r0; j < r1; j++)
            for (size_t i = 0; i < in; i++)
                dst[(j - r0) * in + i] = scale[j] * (float)q[j * in + i];
        return;
    }
    case OPS_DTYPE_Q4: {
        ops_quant_layout l = ops_layout(OPS_DTYPE_Q4, out, in, w->group);
        const uint32_t *qw = (const uint32_t *)base;
        const float *scale = (const float *)(base + l.scale);
        const uint8_t *zero = base + l.zero;
        const int32_t *g_idx = (const int32_t *)(base + l.g_idx);
        for (size_t j = r0; j < r1; j++)
            for (size_t i = 0; i < in; i++) {
                int q = (int)((qw[(i / 8) * out + j] >> (4 * (i % 8))) & 15u);
                size_t g = (size_t)g_idx[i];
                dst[(j - r0) * in + i] = scale[g * out + j] * (float)(q - (int)zero[g * out + j]);
            }
        return;
    }
    }
}

void ops_quantize_rows_u8(const float *x, size_t n, size_t in, uint8_t *xq, float *s, int32_t *z) {
    for (size_t m = 0; m < n; m++) {
        const float *row = x + m * in;
        float lo = 0.0f, hi = 0.0f;
        for (size_t k = 0; k < in; k++) {
            lo = row[k] < lo ? row[k] : lo;
            hi = row[k] > hi ? row[k] : hi;
        }
        float sc = (hi - lo) / 255.0f;
        if (!(sc > 0.0f) || !isfinite(sc)) sc = 1.0f;
        long zp = lrintf(-lo / sc);
        zp = zp < 0 ? 0 : zp > 255 ? 255 : zp;
        for (size_t k = 0; k < in; k++) {
            float v = row[k] / sc;
            long qv = v != v ? zp : lrintf(v) + zp;
            xq[m * in + k] = (uint8_t)(qv < 0 ? 0 : qv > 255 ? 255 : qv);
        }
        s[m] = sc;
        z[m] = (int32_t)zp;
    }
}

ops_int8_parts ops_int8_view(const void *data, size_t out, size_t in) {
    ops_quant_layout l = ops_layout(OPS_DTYPE_INT8, out, in, 0);
    const unsigned char *b = data;
    ops_int8_parts p = {(const int8_t *)b, (const float *)(b + l.scale),
                        (const int32_t *)(b + l.wsum)};
    return p;
}

ops_q4_parts ops_q4_view(const void *data, size_t out, size_t in, int group) {
    ops_quant_layout l = ops_layout(OPS_DTYPE_Q4, out, in, group);
    const unsigned char *b = data;
    ops_q4_parts p = {(const uint32_t *)b, (const float *)(b + l.scale), b + l.zero,
                      (const int32_t *)(b + l.g_idx), ops_q4_groups(in, group)};
    return p;
}
