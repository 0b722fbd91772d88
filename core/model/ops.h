/*
 * ops.h - the tensor kernels of the forward passes, each with a naive
 * reference twin (suffix _ref, in ops_ref.c) that the tests use as an oracle.
 *
 * Layout: row-major, a "row" is one token. Linear layers follow PyTorch:
 * weight (out, in), y = x W^T + b, computed with OpenBLAS sgemm
 * or oneDNN (ops_backend_set), weights in f32 or bf16 (ops_linear_m).
 *
 *     ops_linear(x, n_tok, in, w, b, out, y);          // y (n_tok, out)
 *     ops_layernorm_rows(y, n_tok, out, gamma, beta, 1e-12f);
 *     ops_gelu_erf(y, n_tok * out);
 *
 * The fast elementwise kernels use polynomial exp/erf approximations that
 * the compiler vectorises (glibc's expf/erff are scalar calls and cost as
 * much as a matmul at these sizes); their error is below 3e-7 relative,
 * measured against the libm references in tests/test_ops.c.
 */
#ifndef GRATING_OPS_H
#define GRATING_OPS_H

#include "base/status.h"

#include <stddef.h>
#include <stdint.h>

// y (n, out) = x (n, in) W^T (in, out) + b (out,) [b may be NULL].
// With accumulate != 0: y += x W^T + b (y already holds e.g. the residual).
void ops_linear(const float *x, size_t n, size_t in, const float *w, const float *b, size_t out,
                float *y, int accumulate);
void ops_linear_ref(const float *x, size_t n, size_t in, const float *w, const float *b, size_t out,
                    float *y, int accumulate);

// c (m, n) = a (m, k) b^T (b stored (n, k)) with trans_b != 0, or a (m, k)
// b (k, n) with trans_b == 0; row-major with leading dimensions (the
// attention products). sgemm of the current backend, alpha 1, beta 0.
void ops_sgemm(int trans_b, size_t m, size_t n, size_t k, const float *a, size_t lda,
               const float *b, size_t ldb, float *c, size_t ldc);

// Matmul FLOPs (2*m*n*k) executed by ops_linear(_m) and ops_sgemm on this thread
// since the last reset: the forward's own count, which tests hold the cost
// models (arch_ops.layer_flops, the sweep's FLOPs) against.
double ops_flops_executed(void);
void ops_flops_reset(void);

// ---- Matmul backends and weight dtypes (issue 12) ----
//
// The matmuls (ops_linear, ops_linear_m, ops_sgemm) run on one of two
// libraries, chosen process-wide: OpenBLAS (the default) or oneDNN, the CPU
// kernel library of PyTorch and ONNX Runtime, which picks AVX-512 /
// AVX512-BF16 / VNNI / AMX code at run time and multiplies bf16 weights
// natively. oneDNN is optional at build time (GRATING_HAVE_DNNL).
//
//     ops_set_threads(2);
//     if (ops_backend_available(OPS_BACKEND_ONEDNN)) ops_backend_set(OPS_BACKEND_ONEDNN);
//     ops_matrix w = {slot_bf16_ptr, OPS_DTYPE_BF16};
//     ops_linear_m(x, n_tok, in, &w, bias, out, y, 0);

typedef enum { OPS_BACKEND_OPENBLAS = 0, OPS_BACKEND_ONEDNN } ops_backend;
typedef enum {
    OPS_DTYPE_F32 = 0,
    OPS_DTYPE_BF16, // bf16 bit patterns (core/base/half.h), (out, in) row-major
    OPS_DTYPE_INT8, // per-output-channel symmetric int8 + dynamic u8 activations (below)
    OPS_DTYPE_Q4,   // GPTQ 4-bit groups, dequantized per tile (W4A16, below)
} ops_dtype;
#define OPS_DTYPE_COUNT 4

// A weight matrix (out, in) as stored in a layer slot, packed in `dtype`'s
// layout (ops_matrix_bytes). For F32/BF16: plain row-major elements.
typedef struct {
    const void *data;
    ops_dtype dtype;
    int group; // OPS_DTYPE_Q4: input columns per group (GPTQ group_size, -1 = all); else 0
} ops_matrix;

// ---- Packed layouts of the quantized dtypes (core/model/ops_quant.c) ----
//
// OPS_DTYPE_INT8, a (out, in) matrix (each part starts 64-byte aligned from data):
//   int8_t  q[out][in]     in [-127, 127]
//   float   scale[out]     max_i |W[j][i]| / 127 (0 for an all-zero row)
//   int32_t wsum[out]      sum_i q[j][i] (the zero-point compensation)
//   W[j][i] = scale[j] * q[j][i].
// Activations are quantized per row at every call (dynamic, asymmetric u8):
//   lo = min(0, min_k x[k]), hi = max(0, max_k x[k]), s = (hi - lo) / 255
//   (s = 1 when hi == lo), z = round_half_even(-lo / s) clamped to [0, 255],
//   xq[k] = clamp(round_half_even(x[k] / s) + z, 0, 255)  (float arithmetic)
//   y[m][j] = (float)(s_m * scale[j]) * (float)(acc[m][j] - z_m * wsum[j]) + b[j],
//   acc = sum_k xq[m][k] * q[j][k] exactly in int32 (u8 x s8: VNNI vpdpbusd).
//
// OPS_DTYPE_Q4 (GPTQ's packing kept, zero points unpacked), n_groups G =
// ceil(in / group) (group -1: G = 1), in % 8 == 0:
//   uint32_t qweight[in / 8][out]   word [r][j] holds q[r*8 + k][j] in bits [4k, 4k+4)
//   float    scale[G][out]          the checkpoint's f16 scales, widened
//   uint8_t  zero[G][out]           the zero points themselves (not GPTQ v1's zero - 1)
//   int32_t  g_idx[in]              group of each input column (act-order permutes it)
//   W[j][i] = scale[g][j] * (q[i][j] - zero[g][j]), g = g_idx[i]   (exact in f32)
// Arithmetic (W4A16): on oneDNN, W is dequantized per tile of output
// columns into bf16 (rounded to nearest even) and x rounded to bf16, f32
// accumulation; on OpenBLAS the tile is f32 and x stays f32.

// Bytes of a packed (out, in) matrix of dtype dt (group: OPS_DTYPE_Q4's group
// size; ignored otherwise). 0 when the shape cannot be kept in dt
// (ops_matrix_check_shape says why).
size_t ops_matrix_bytes(ops_dtype dt, size_t out, size_t in, int group);
// STATUS_ERR_SHAPE naming `what` when (out, in) cannot be kept in dt
// (Q4: in not a multiple of 8, group 0 or < -1).
status ops_matrix_check_shape(ops_dtype dt, size_t out, size_t in, int group, const char *what);
// "f32", "bf16", "int8", "int4".
const char *ops_dtype_name(ops_dtype dt);
// Q4 groups of `in` input columns.
size_t ops_q4_groups(size_t in, int group);

// INT8: quantizes rows [r0, r1) of W, given as f32 rows w_rows (r1 - r0, in),
// into the packed matrix dst (out, in), so a loader can convert a matrix a
// few rows at a time.
void ops_matrix_pack_int8_rows(void *dst, size_t out, size_t in, size_t r0, size_t r1,
                               const float *w_rows);
// Q4: fills the packed matrix dst from GPTQ's tensors: qweight (in/8, out),
// zero (G, out) the zero points themselves, scale (G, out), g_idx (in,).
void ops_matrix_pack_q4(void *dst, size_t out, size_t in, int group, const uint32_t *qweight,
                        const uint8_t *zero, const float *scale, const int32_t *g_idx);
// INT8's activation quantization (above) of x (n, in): xq (n, in), per row
// scale s (n,) and zero point z (n,). Shared by every INT8 path.
void ops_quantize_rows_u8(const float *x, size_t n, size_t in, uint8_t *xq, float *s, int32_t *z);
// Rows [r0, r1) of W as f32: dst (r1 - r0, in), exactly scale * (q - zero)
// (F32 copied, BF16 widened).
void ops_matrix_dequant_rows(const ops_matrix *w, size_t out, size_t in, size_t r0, size_t r1,
                             float *dst);

// y (n, out) = x (n, in) W^T + b like ops_linear, W in f32 or bf16.
// f32 W: OpenBLAS sgemm or oneDNN f32 matmul. bf16 W: oneDNN bf16 matmul (x
// rounded to bf16, nearest even; f32 accumulation and output) or, on
// OpenBLAS, W converted to f32 per tile of rows into a fixed buffer (so a
// bf16 slot never needs an f32 copy). Safe to call from several threads
// (calls that share the fixed buffers or oneDNN's primitive cache take turns).
void ops_linear_m(const float *x, size_t n, size_t in, const ops_matrix *w, const float *b,
                  size_t out, float *y, int accumulate);
// The oracle, in double sums: F32/BF16: W widened exactly; INT8: the same
// activation quantization and integer products as above, then the same
// formula; Q4: W and x rounded to bf16 as the oneDNN path does.
void ops_linear_m_ref(const float *x, size_t n, size_t in, const ops_matrix *w, const float *b,
                      size_t out, float *y, int accumulate);

// The backend of ops_linear_m / ops_linear / ops_sgemm (process-wide; default
// OpenBLAS until set). ops_backend_available: 1 when it can run here.
int ops_backend_available(ops_backend b);
// STATUS_ERR_UNSUPPORTED (with a message) when b is not available.
status ops_backend_set(ops_backend b);
ops_backend ops_backend_get(void);
const char *ops_backend_name(ops_backend b); // "openblas", "onednn"
// Which ISA oneDNN dispatches to (dnnl_get_effective_cpu_isa), e.g.
// "avx512_core_bf16"; "none" when oneDNN is not built in.
const char *ops_backend_isa(void);

// Threads of both libraries' matmuls (OpenBLAS's pool and oneDNN's OpenMP
// runtime): what --threads sets.
void ops_set_threads(int n);

// In place, per row of `dim`: (x - mean) / sqrt(var + eps) * gamma + beta.
// Statistics accumulate in double (PyTorch uses a float Welford variant;
// the difference is ~1e-7 relative).
void ops_layernorm_rows(float *x, size_t n, size_t dim, const float *gamma, const float *beta,
                        float eps);
void ops_layernorm_rows_ref(float *x, size_t n, size_t dim, const float *gamma, const float *beta,
                            float eps);

// In place: x * 0.5 * (1 + erf(x / sqrt(2))) (Hugging Face "gelu", the erf form).
void ops_gelu_erf(float *x, size_t n);
void ops_gelu_erf_ref(float *x, size_t n);

// In place, per row of `dim`: softmax(x * scale).
void ops_softmax_rows(float *x, size_t n, size_t dim, float scale);
void ops_softmax_rows_ref(float *x, size_t n, size_t dim, float scale);

// RMSNorm (LLaMA and its descendants), per row of `dim`: y = (x / sqrt(mean(x^2) + eps)) * w,
// in the order of Hugging Face's LlamaRMSNorm and its copies (normalise, round to float,
// then multiply by the weight). y may equal x (in place). The sum of squares
// accumulates in double (torch uses float; ~1e-7 relative difference).
void ops_rmsnorm_rows(const float *x, size_t n, size_t dim, const float *w, float eps, float *y);
void ops_rmsnorm_rows_ref(const float *x, size_t n, size_t dim, const float *w, float eps,
                          float *y);

// Rotary position embedding tables as Hugging Face computes them for the
// default rope type: inv_freq[i] = 1 / theta^((2i) / dim) in float32 (i < dim/2),
// angle = float32(inv_freq[i] * p), then cos_t/sin_t (n_pos, dim/2) =
// cos/sin(angle). The float32 steps are rounded exactly like torch's; cos and
// sin are evaluated in double and rounded once (correctly rounded, where torch's
// vectorised float cos/sin may differ by 1 ulp, ~6e-8 absolute).
void ops_rope_table(size_t n_pos, size_t dim, double theta, float *cos_t, float *sin_t);

// Applies RoPE in place to n_heads contiguous vectors of `dim` that share one
// position (one token's heads), with that position's rows cos_p/sin_p (dim/2,)
// of ops_rope_table: HF's rotate_half convention,
//   x[i]         <- x[i] * cos_p[i] - x[i + dim/2] * sin_p[i]
//   x[i + dim/2] <- x[i + dim/2] * cos_p[i] + x[i] * sin_p[i]      (i < dim/2).
void ops_rope_heads(float *x, size_t n_heads, size_t dim, const float *cos_p, const float *sin_p);
void ops_rope_heads_ref(float *x, size_t n_heads, size_t dim, const float *cos_p,
                        const float *sin_p);

// SwiGLU gate: out[i] = silu(gate[i]) * up[i], silu(g) = g / (1 + exp(-g)).
// out may equal gate or up (same index in place) or be disjoint from both.
void ops_swiglu(const float *gate, const float *up, float *out, size_t n);
void ops_swiglu_ref(const float *gate, const float *up, float *out, size_t n);

// In place tanh.
void ops_tanh(float *x, size_t n);

// Vectorisable approximations used by the kernels above (exposed for tests).
float ops_expf_fast(float x);
float ops_erff_fast(float x);

// Returns 1 when all n values are finite.
int ops_all_finite(const float *x, size_t n);

#endif
