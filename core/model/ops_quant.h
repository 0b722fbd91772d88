/*
 * ops_quant.h - the parts of the packed INT8 and Q4 weight layouts (ops.h
 * describes them), for the kernels inside core/model (ops.c, ops_dnnl.c,
 * ops_ref.c) and the tests. Internal: callers outside core/model use
 * ops_matrix_bytes / ops_matrix_pack_* / ops_linear_m.
 */
#ifndef GRATING_OPS_QUANT_H
#define GRATING_OPS_QUANT_H

#include "model/ops.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const int8_t *q;     // (out, in)
    const float *scale;  // (out,)
    const int32_t *wsum; // (out,)
} ops_int8_parts;

typedef struct {
    const uint32_t *qweight; // (in / 8, out)
    const float *scale;      // (n_groups, out)
    const uint8_t *zero;     // (n_groups, out)
    const int32_t *g_idx;    // (in,)
    size_t n_groups;
} ops_q4_parts;

ops_int8_parts ops_int8_view(const void *data, size_t out, size_t in);
ops_q4_parts ops_q4_view(const void *data, size_t out, size_t in, int group);

#endif
