// Naive reference kernels: the test oracles of ops.c. Straightforward loops
// in double precision with libm functions; never used on hot paths.
#include "model/ops.h"
#include "model/ops_quant.h"

#include "base/half.h"

#include <math.h>
#include <stdint.h>

void ops_linear_ref(const float *x, size_t n, size_t in, const float *w, const float *b, size_t out,
                    float *y, int accumulate) {
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < out; j++) {
            double acc = b ? b[j] : 0.0;
            for (size_t k = 0; k < in; k++)
                acc += (double)x[i * in + k] * w[j * in + k];
            y[i * out + j] = (float)(accumulate ? y[i * out + j] + acc : acc);
        }
    }
}

// bf16 widens to f32 exactly, so this is ops_linear_ref on the f32 image of W
// (double sums of exactly representable products).
void ops_linear_m_ref(const float *x, size_t n, size_t in, const ops_matrix *w, const float *b,
                      size_t out, float *y, int accumulate) {
    if (w->dtype == OPS_DTYPE_F32) {
        ops_linear_ref(x, n, in, w->data, b, out, y, accumulate);
        return;
    }
    if (w->dtype == OPS_DTYPE_INT8) {
        ops_int8_parts p = ops_int8_view(w->data, out, in);
        uint8_t xq[in ? in : 1]; // one row at a time
        for (size_t i = 0; i < n; i++) {
            float s;
            int32_t z;
            ops_quantize_rows_u8(x + i * in, 1, in, xq, &s, &z);
            for (size_t j = 0; j < out; j++) {
                int64_t acc = 0;
                for (size_t k = 0; k < in; k++)
                    acc += (int64_t)xq[k] * p.q[j * in + k];
                float v = (float)(s * p.scale[j]) * (float)(acc - (int64_t)z * p.wsum[j]) +
                          (b ? b[j] : 0.0f);
                y[i * out + j] = accumulate ? y[i * out + j] + v : v;
            }
        }
        return;
    }
    if (w->dtype == OPS_DTYPE_Q4) {
        float wrow[in ? in : 1];
        for (size_t j = 0; j < out; j++) {
            ops_matrix_dequant_rows(w, out, in, j, j + 1, wrow);
            for (size_t k = 0; k < in; k++)
                wrow[k] = half_bf16_to_f32(half_f32_to_bf16(wrow[k]));
            for (size_t i = 0; i < n; i++) {
                double acc = b ? b[j] : 0.0;
                for (size_t k = 0; k < in; k++)
                    acc += (double)half_bf16_to_f32(half_f32_to_bf16(x[i * in + k])) * wrow[k];
                y[i * out + j] = (float)(accumulate ? y[i * out + j] + acc : acc);
            }
        }
        return;
    }
    const uint16_t *wb = w->data;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < out; j++) {
            double acc = b ? b[j] : 0.0;
            for (size_t k = 0; k < in; k++)
                acc += (double)x[i * in + k] * half_bf16_to_f32(wb[j * in + k]);
            y[i * out + j] = (float)(accumulate ? y[i * out + j] + acc : acc);
        }
    }
}

void ops_layernorm_rows_ref(float *x, size_t n, size_t dim, const float *gamma, const float *beta,
                            float eps) {
    for (size_t i = 0; i < n; i++) {
        float *row = x + i * dim;
        double mean = 0.0, var = 0.0;
        for (size_t j = 0; j < dim; j++)
            mean += row[j];
        mean /= (double)dim;
        for (size_t j = 0; j < dim; j++)
            var += (row[j] - mean) * (row[j] - mean);
        var /= (double)dim;
        for (size_t j = 0; j < dim; j++)
            row[j] = (float)((row[j] - mean) / sqrt(var + eps) * gamma[j] + beta[j]);
    }
}

void ops_gelu_erf_ref(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        x[i] = (float)(0.5 * v * (1.0 + erf(v / sqrt(2.0))));
    }
}

void ops_softmax_rows_ref(float *x, size_t n, size_t dim, float scale) {
    for (size_t i = 0; i < n; i++) {
        float *row = x + i * dim;
        double mx = -INFINITY, sum = 0.0;
        for (size_t j = 0; j < dim; j++)
            mx = fmax(mx, (double)row[j] * scale);
        for (size_t j = 0; j < dim; j++)
            sum += exp((double)row[j] * scale - mx);
        for (size_t j = 0; j < dim; j++)
            row[j] = (float)(exp((double)row[j] * scale - mx) / sum);
    }
}

void ops_rmsnorm_rows_ref(const float *x, size_t n, size_t dim, const float *w, float eps,
                          float *y) {
    for (size_t i = 0; i < n; i++) {
        double ms = 0.0;
        for (size_t j = 0; j < dim; j++)
            ms += (double)x[i * dim + j] * x[i * dim + j];
        ms /= (double)dim;
        double r = 1.0 / sqrt(ms + eps);
        for (size_t j = 0; j < dim; j++)
            y[i * dim + j] = (float)(x[i * dim + j] * r * w[j]);
    }
}

void ops_rope_heads_ref(float *x, size_t n_heads, size_t dim, const float *cos_p,
                        const float *sin_p) {
    // HF: q * cos + rotate_half(q) * sin, rotate_half(q) = cat(-q[half:], q[:half]),
    // cos/sin repeated over both halves; in double.
    size_t half = dim / 2;
    for (size_t h = 0; h < n_heads; h++) {
        float *v = x + h * dim;
        for (size_t i = 0; i < half; i++) {
            double x1 = v[i], x2 = v[i + half], c = cos_p[i], s = sin_p[i];
            v[i] = (float)(x1 * c + (-x2) * s);
            v[i + half] = (float)(x2 * c + x1 * s);
        }
    }
}

void ops_swiglu_ref(const float *gate, const float *up, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        double g = gate[i];
        out[i] = (float)(g / (1.0 + exp(-g)) * up[i]);
    }
}
