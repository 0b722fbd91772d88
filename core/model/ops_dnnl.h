/*
 * ops_dnnl.h - the oneDNN side of the matmul kernels; internal to
 * core/model (ops.c dispatches to it when the backend is OPS_BACKEND_ONEDNN).
 * Without GRATING_HAVE_DNNL every function is a stub: available() is 0 and
 * the kernels return nonzero so the caller falls back to OpenBLAS.
 *
 * The kernels return 0 when they ran, nonzero when oneDNN could not (a
 * primitive not creatable, a shape beyond the fixed buffers); the caller then
 * runs the OpenBLAS path, so a result is always produced.
 */
#ifndef GRATING_OPS_DNNL_H
#define GRATING_OPS_DNNL_H

#include "model/ops.h"

#include <stddef.h>

int ops_dnnl_available(void);
const char *ops_dnnl_isa(void);
void ops_dnnl_set_threads(int n);

// y (n, out) = x W^T + b (accumulate: y +=), W (out, in) packed in w->dtype.
int ops_dnnl_linear(const float *x, size_t n, size_t in, const ops_matrix *w, const float *b,
                    size_t out, float *y, int accumulate);

// ops_sgemm's contract (row-major, beta 0).
int ops_dnnl_sgemm(int trans_b, size_t m, size_t n, size_t k, const float *a, size_t lda,
                   const float *b, size_t ldb, float *c, size_t ldc);

// Experiment switch for experiments/bench_gemm.c: 1 = matmul primitives with
// M (the token count) as a run-time dimension (one primitive per (K, N,
// dtype, bias, accumulate)), 0 = M fixed at creation (the default, cached in
// an LRU of primitives). Returns the previous value.
int ops_dnnl_set_runtime_m(int on);

// The implementation oneDNN chose for the last primitive created, e.g.
// "brg:avx512_core_bf16" (bench output); "" before any.
const char *ops_dnnl_last_impl(void);

#endif
