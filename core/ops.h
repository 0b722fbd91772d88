/*
 * ops.h - the tensor kernels of the forward passes, each with a naive
 * reference twin (suffix _ref, in ops_ref.c) that the tests use as an oracle.
 *
 * Layout: row-major, a "row" is one token. Linear layers follow PyTorch:
 * weight (out, in), y = x W^T + b, computed with OpenBLAS sgemm.
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

#include <stddef.h>

// y (n, out) = x (n, in) W^T (in, out) + b (out,) [b may be NULL].
// With accumulate != 0: y += x W^T + b (y already holds e.g. the residual).
void ops_linear(const float *x, size_t n, size_t in, const float *w, const float *b, size_t out,
                float *y, int accumulate);
void ops_linear_ref(const float *x, size_t n, size_t in, const float *w, const float *b,
                    size_t out, float *y, int accumulate);

// In place, per row of `dim`: (x - mean) / sqrt(var + eps) * gamma + beta.
// Statistics accumulate in double (PyTorch uses a float Welford variant;
// the difference is ~1e-7 relative).
void ops_layernorm_rows(float *x, size_t n, size_t dim, const float *gamma, const float *beta,
                        float eps);
void ops_layernorm_rows_ref(float *x, size_t n, size_t dim, const float *gamma, const float *beta,
                            float eps);

// In place: x * 0.5 * (1 + erf(x / sqrt(2))) (BERT "gelu").
void ops_gelu_erf(float *x, size_t n);
void ops_gelu_erf_ref(float *x, size_t n);

// In place, per row of `dim`: softmax(x * scale).
void ops_softmax_rows(float *x, size_t n, size_t dim, float scale);
void ops_softmax_rows_ref(float *x, size_t n, size_t dim, float scale);

// In place tanh.
void ops_tanh(float *x, size_t n);

// Vectorisable approximations used by the kernels above (exposed for tests).
float ops_expf_fast(float x);
float ops_erff_fast(float x);

// Returns 1 when all n values are finite.
int ops_all_finite(const float *x, size_t n);

#endif
