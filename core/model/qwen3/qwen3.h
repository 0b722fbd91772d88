/*
 * qwen3.h - the Qwen3-Reranker family's own state, for tests that look
 * inside an opened model (arch_model.family of a "qwen3" model). Everything
 * else goes through the registry (core/model/arch.h); the model and its
 * numerics are described in qwen3.c.
 */
#ifndef GRATING_QWEN3_H
#define GRATING_QWEN3_H

#include <stdint.h>

// The score head: the LM-head rows of "yes" and "no".
typedef struct {
    int32_t yes_id, no_id;
    float *yes_no; // (2, H) "yes" row then "no" row, MEM_WEIGHTS
} qwen3_state;

#endif
