#include "model/ops.h"

#include "base/half.h"
#include "model/ops_dnnl.h"
#include "model/ops_quant.h"

#include <cblas.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

static _Thread_local double ops_flops;

// Process-wide: a run picks its backend once (cli, bench) before any forward.
static _Atomic int ops_backend_cur = OPS_BACKEND_OPENBLAS;

double ops_flops_executed(void) {
    return ops_flops;
}

void ops_flops_reset(void) {
    ops_flops = 0.0;
}

int ops_backend_available(ops_backend b) {
    switch (b) {
    case OPS_BACKEND_OPENBLAS:
        return 1;
    case OPS_BACKEND_ONEDNN:
        return ops_dnnl_available();
    }
    return 0;
}

status ops_backend_set(ops_backend b) {
    if (b != OPS_BACKEND_OPENBLAS && b != OPS_BACKEND_ONEDNN)
        return status_fail(STATUS_ERR_ARG, "matmul backend: unknown value %d", (int)b);
    if (!ops_backend_available(b))
        return status_fail(STATUS_ERR_UNSUPPORTED,
                           "matmul backend %s: not available (grating was built without "
                           "oneDNN: install libdnnl-dev and reconfigure)",
                           ops_backend_name(b));
    ops_backend_cur = (int)b;
    return STATUS_OK;
}

ops_backend ops_backend_get(void) {
    return (ops_backend)ops_backend_cur;
}

const char *ops_backend_name(ops_backend b) {
    switch (b) {
    case OPS_BACKEND_OPENBLAS:
        return "openblas";
    case OPS_BACKEND_ONEDNN:
        return "onednn";
    }
    return "unknown";
}

const char *ops_backend_isa(void) {
    return ops_dnnl_available() ? ops_dnnl_isa() : "none";
}

void ops_set_threads(int n) {
    openblas_set_num_threads(n);
    ops_dnnl_set_threads(n);
}

void ops_sgemm(int trans_b, size_t m, size_t n, size_t k, const float *a, size_t lda,
               const float *b, size_t ldb, float *c, size_t ldc) {
    ops_flops += 2.0 * (double)m * (double)n * (double)k;
    if (ops_backend_cur == OPS_BACKEND_ONEDNN &&
        ops_dnnl_sgemm(trans_b, m, n, k, a, lda, b, ldb, c, ldc) == 0)
        return;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, (int)m, (int)n,
                (int)k, 1.0f, a, (int)lda, b, (int)ldb, 0.0f, c, (int)ldc);
}

// The bias goes into y first so that one sgemm with beta = 1 adds the product
// (no second pass over y). Returns the beta for that sgemm.
static float blas_bias_prologue(size_t n, const float *b, size_t out, float *y, int accumulate) {
    if (b) {
        for (size_t i = 0; i < n; i++) {
            float *row = y + i * out;
            if (accumulate)
                for (size_t j = 0; j < out; j++)
                    row[j] += b[j];
            else
                memcpy(row, b, out * sizeof *row);
        }
    }
    return (accumulate || b) ? 1.0f : 0.0f;
}

static void blas_linear_f32(const float *x, size_t n, size_t in, const float *w, const float *b,
                            size_t out, float *y, int accumulate) {
    float beta = blas_bias_prologue(n, b, out, y, accumulate);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)out, (int)in, 1.0f, x,
                (int)in, w, (int)in, beta, y, (int)out);
}

// OpenBLAS has no bf16 x f32 sgemm: W is widened into a fixed f32 tile of
// rows (1 MiB, L2-sized on current cores) and multiplied tile by tile, so
// a bf16 slot never needs a whole f32 copy. Static (not mem_alloc'd) because
// ops_linear_m cannot report an allocation failure; the lock lets two
// threads share it.
#define W_TILE_CAP ((size_t)256 << 10) // floats
static _Alignas(64) float w_tile[W_TILE_CAP];
static pthread_mutex_t w_tile_lock = PTHREAD_MUTEX_INITIALIZER;

static void blas_linear_tiled(const float *x, size_t n, size_t in, const ops_matrix *w,
                              const float *b, size_t out, float *y, int accumulate) {
    float beta0 = blas_bias_prologue(n, b, out, y, accumulate);
    if (n == 0 || out == 0 || in == 0) {
        if (beta0 == 0.0f)
            for (size_t i = 0; i < n * out; i++)
                y[i] = 0.0f;
        return;
    }
    // Rows wider than the tile are split along K too (beta 1 after the
    // first K block); no real layer comes near 256K inputs.
    size_t kc = in < W_TILE_CAP ? in : W_TILE_CAP;
    size_t rows = W_TILE_CAP / kc;
    pthread_mutex_lock(&w_tile_lock);
    for (size_t k0 = 0; k0 < in; k0 += kc) {
        size_t kk = in - k0 < kc ? in - k0 : kc;
        float beta = k0 == 0 ? beta0 : 1.0f;
        for (size_t j0 = 0; j0 < out; j0 += rows) {
            size_t jj = out - j0 < rows ? out - j0 : rows;
            if (kk == in)
                ops_matrix_dequant_rows(w, out, in, j0, j0 + jj, w_tile);
            else
                for (size_t j = 0; j < jj; j++) {
                    // only BF16 rows are split along K (Q4 needs in <= the tile)
                    half_bf16_to_f32_array((const uint16_t *)w->data + (j0 + j) * in + k0,
                                           w_tile + j * kk, kk);
                }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)jj, (int)kk, 1.0f,
                        x + k0, (int)in, w_tile, (int)kk, beta, y + j0, (int)out);
        }
    }
    pthread_mutex_unlock(&w_tile_lock);
}

// INT8 without oneDNN: the same arithmetic (ops.h) in plain loops, one
// activation row at a time in a fixed buffer. A portable fallback, not a
// fast path.
#define X_ROW_CAP ((size_t)1 << 16)
static uint8_t x_row_q[X_ROW_CAP];
static pthread_mutex_t x_row_lock = PTHREAD_MUTEX_INITIALIZER;

static void plain_linear_int8(const float *x, size_t n, size_t in, const ops_matrix *w,
                              const float *b, size_t out, float *y, int accumulate) {
    ops_int8_parts p = ops_int8_view(w->data, out, in);
    pthread_mutex_lock(&x_row_lock);
    for (size_t i = 0; i < n; i++) {
        float s;
        int32_t z;
        ops_quantize_rows_u8(x + i * in, 1, in, x_row_q, &s, &z);
        for (size_t j = 0; j < out; j++) {
            const int8_t *q = p.q + j * in;
            int32_t acc = 0;
            for (size_t k = 0; k < in; k++)
                acc += (int32_t)x_row_q[k] * (int32_t)q[k];
            float v = (float)(s * p.scale[j]) * (float)(acc - z * p.wsum[j]) + (b ? b[j] : 0.0f);
            y[i * out + j] = accumulate ? y[i * out + j] + v : v;
        }
    }
    pthread_mutex_unlock(&x_row_lock);
}

void ops_linear(const float *x, size_t n, size_t in, const float *w, const float *b, size_t out,
                float *y, int accumulate) {
    ops_flops += 2.0 * (double)n * (double)in * (double)out;
    if (ops_backend_cur == OPS_BACKEND_ONEDNN &&
        ops_dnnl_linear(x, n, in, &(ops_matrix){w, OPS_DTYPE_F32, 0}, b, out, y, accumulate) == 0)
        return;
    blas_linear_f32(x, n, in, w, b, out, y, accumulate);
}

void ops_linear_m(const float *x, size_t n, size_t in, const ops_matrix *w, const float *b,
                  size_t out, float *y, int accumulate) {
    ops_flops += 2.0 * (double)n * (double)in * (double)out;
    if (ops_backend_cur == OPS_BACKEND_ONEDNN &&
        ops_dnnl_linear(x, n, in, w, b, out, y, accumulate) == 0)
        return;
    if (w->dtype == OPS_DTYPE_F32)
        blas_linear_f32(x, n, in, w->data, b, out, y, accumulate);
    else if (w->dtype == OPS_DTYPE_INT8)
        plain_linear_int8(x, n, in, w, b, out, y, accumulate);
    else
        blas_linear_tiled(x, n, in, w, b, out, y, accumulate);
}

void ops_layernorm_rows(float *x, size_t n, size_t dim, const float *gamma, const float *beta,
                        float eps) {
    for (size_t i = 0; i < n; i++) {
        float *row = x + i * dim;
        double sum = 0.0;
        for (size_t j = 0; j < dim; j++)
            sum += row[j];
        double mean = sum / (double)dim;
        double sq = 0.0;
        for (size_t j = 0; j < dim; j++) {
            double d = row[j] - mean;
            sq += d * d;
        }
        float rstd = (float)(1.0 / sqrt(sq / (double)dim + (double)eps));
        float m = (float)mean;
        for (size_t j = 0; j < dim; j++)
            row[j] = (row[j] - m) * rstd * gamma[j] + beta[j];
    }
}

// exp(x) = 2^n * exp(r), r = x - n ln2 in [-ln2/2, ln2/2]; degree-6 Taylor/minimax
// polynomial. Written without calls or branches (selects only) so loops over
// it vectorise. Defined for every input: x is clamped to [-87, 88] (so -Inf
// gives exp(-87) and +Inf exp(88), as any finite x beyond them), and NaN is
// computed as 0 and returned as NaN; n + 127 is then in [1, 254], and the
// exponent bits are built unsigned (a NaN cast to int32_t or a left shift of
// a negative value would be undefined). Finite results are bit-identical to
// the version without these guards (tests/test_ops.c keeps it as reference).
float ops_expf_fast(float x) {
    float xc = x != x ? 0.0f : x; // NaN -> 0 (restored below)
    xc = xc < -87.0f ? -87.0f : xc;
    xc = xc > 88.0f ? 88.0f : xc;
    const float magic = 12582912.0f; // 1.5 * 2^23: adding it rounds to an integer
    float t = xc * 1.44269504088896341f + magic;
    float nf = t - magic;
    float r = xc - nf * 0.693145751953125f; // ln2 high part (exact in float)
    r = r - nf * 1.42860682030941723212e-6f;
    float p = 1.0f / 720.0f;
    p = p * r + 1.0f / 120.0f;
    p = p * r + 1.0f / 24.0f;
    p = p * r + 1.0f / 6.0f;
    p = p * r + 0.5f;
    p = p * r + 1.0f;
    p = p * r + 1.0f;
    int32_t n = (int32_t)nf; // in [-126, 127]
    uint32_t bits = (uint32_t)(n + 127) << 23;
    float scale;
    memcpy(&scale, &bits, sizeof scale);
    float y = p * scale;
    return x != x ? x : y;
}

// erf: for |x| >= 0.5 Abramowitz & Stegun 7.1.26 (|error| <= 1.5e-7, the
// rule of PyTorch's vectorised CPU erf); below 0.9 its "1 - small" form
// loses digits to cancellation, so a Maclaurin series to x^19 (error < 2e-9) is used.
// Both are computed and one selected, which keeps the loop vectorisable.
float ops_erff_fast(float x) {
    float ax = fabsf(x);
    float t = 1.0f / (1.0f + 0.3275911f * ax);
    float poly = 1.061405429f;
    poly = poly * t - 1.453152027f;
    poly = poly * t + 1.421413741f;
    poly = poly * t - 0.284496736f;
    poly = poly * t + 0.254829592f;
    float tail = 1.0f - poly * t * ops_expf_fast(-ax * ax);
    float x2 = ax * ax;
    float series = -1.0f / 6894720.0f;
    series = series * x2 + 1.0f / 685440.0f;
    series = series * x2 - 1.0f / 75600.0f;
    series = series * x2 + 1.0f / 9360.0f;
    series = series * x2 - 1.0f / 1320.0f;
    series = series * x2 + 1.0f / 216.0f;
    series = series * x2 - 1.0f / 42.0f;
    series = series * x2 + 1.0f / 10.0f;
    series = series * x2 - 1.0f / 3.0f;
    series = series * x2 + 1.0f;
    series = series * ax * 1.12837916709551257f; // 2 / sqrt(pi)
    float y = ax < 0.9f ? series : tail;
    return x < 0.0f ? -y : y;
}

void ops_gelu_erf(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float v = x[i];
        x[i] = 0.5f * v * (1.0f + ops_erff_fast(v * 0.70710678118654752f));
    }
}

void ops_softmax_rows(float *x, size_t n, size_t dim, float scale) {
    for (size_t i = 0; i < n; i++) {
        float *row = x + i * dim;
        float mx = -INFINITY;
        for (size_t j = 0; j < dim; j++)
            mx = row[j] > mx ? row[j] : mx;
        float sum = 0.0f;
        for (size_t j = 0; j < dim; j++) {
            float e = ops_expf_fast((row[j] - mx) * scale);
            row[j] = e;
            sum += e;
        }
        float inv = 1.0f / sum;
        for (size_t j = 0; j < dim; j++)
            row[j] *= inv;
    }
}

void ops_rmsnorm_rows(const float *x, size_t n, size_t dim, const float *w, float eps, float *y) {
    for (size_t i = 0; i < n; i++) {
        const float *row = x + i * dim;
        float *out = y + i * dim;
        double sq = 0.0;
        for (size_t j = 0; j < dim; j++)
            sq += (double)row[j] * row[j];
        float rstd = (float)(1.0 / sqrt(sq / (double)dim + (double)eps));
        // Two roundings as in HF: (x * rstd) is the float32 normalised value,
        // which is then multiplied by the weight.
        for (size_t j = 0; j < dim; j++) {
            float v = row[j] * rstd;
            out[j] = w[j] * v;
        }
    }
}

void ops_rope_table(size_t n_pos, size_t dim, double theta, float *cos_t, float *sin_t) {
    size_t half = dim / 2;
    for (size_t i = 0; i < half; i++) {
        // torch: arange(0, dim, 2).float() / dim (float32 division), then
        // theta ** that (float32 pow; the double pow rounded once gives the
        // correctly rounded float, as glibc's powf does), then 1.0 / that.
        float e = (float)(2 * i) / (float)dim;
        float p = (float)pow(theta, (double)e);
        float inv_freq = 1.0f / p;
        for (size_t pos = 0; pos < n_pos; pos++) {
            float angle = inv_freq * (float)pos; // float32 product, as HF's matmul with k = 1
            cos_t[pos * half + i] = (float)cos((double)angle);
            sin_t[pos * half + i] = (float)sin((double)angle);
        }
    }
}

void ops_rope_heads(float *x, size_t n_heads, size_t dim, const float *cos_p, const float *sin_p) {
    size_t half = dim / 2;
    for (size_t h = 0; h < n_heads; h++) {
        float *a = x + h * dim; // first half
        float *b = a + half;    // second half
        for (size_t i = 0; i < half; i++) {
            float x1 = a[i], x2 = b[i];
            float c = cos_p[i], s = sin_p[i];
            a[i] = x1 * c - x2 * s;
            b[i] = x2 * c + x1 * s;
        }
    }
}

void ops_swiglu(const float *gate, const float *up, float *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        out[i] = g / (1.0f + ops_expf_fast(-g)) * up[i];
    }
}

void ops_tanh(float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        x[i] = tanhf(x[i]);
}

int ops_all_finite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}
