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
typedef enum { OPS_DTYPE_F32 = 0, OPS_DTYPE_BF16 } ops_dtype;

// A weight matrix (out, in), row-major, as stored in a layer slot. bf16
// elements are uint16_t bit patterns (core/base/half.h).
typedef struct {
    const void *data;
    ops_dtype dtype;
} ops_matrix;

// y (n, out) = x (n, in) W^T + b like ops_linear, W in f32 or bf16.
// f32 W: OpenBLAS sgemm or oneDNN f32 matmul. bf16 W: oneDNN bf16 matmul (x
// rounded to bf16, nearest even; f32 accumulation and output) or, on
// OpenBLAS, W converted to f32 per tile of rows into a fixed buffer (so a
// bf16 slot never needs an f32 copy). Safe to call from several threads
// (calls that share the fixed buffers or oneDNN's primitive cache take turns).
void ops_linear_m(const float *x, size_t n, size_t in, const ops_matrix *w, const float *b,
                  size_t out, float *y, int accumulate);
// The oracle: W widened to f32 exactly, then ops_linear_ref (double sums).
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
