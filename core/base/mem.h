/*
 * mem.h - the project's allocator: every large buffer (weights, activations,
 * hidden states, embeddings) comes from here so that current and high-water
 * bytes are known per category. This is what the memory benchmarks report
 * next to getrusage's peak RSS.
 *
 *     float *x = mem_alloc(MEM_ACTIVATIONS, n * sizeof *x); // (n,)
 *     if (!x) return STATUS_ERR_NOMEM;  // message already recorded
 *     ...
 *     mem_free(x);
 *     printf("peak activations: %zu bytes\n", mem_peak_bytes(MEM_ACTIVATIONS));
 *
 * Blocks are 64-byte aligned (cache line, AVX-512). Counters are atomic so an
 * I/O thread may allocate too. Small bookkeeping (strings, lists) may use
 * malloc directly; anything proportional to model or batch size must not.
 *
 * Fault injection (SQLite style): mem_fail_after(n) makes the n-th following
 * allocation fail, so tests can check that every failure path cleans up.
 */
#ifndef GRATING_MEM_H
#define GRATING_MEM_H

#include <stddef.h>

typedef enum {
    MEM_WEIGHTS = 0, // layer weight slots
    MEM_EMBEDDINGS,  // embedding tables / cache
    MEM_HIDDEN,      // hidden states of active candidates (live across layers)
    MEM_ACTIVATIONS, // per-layer / per-chunk intermediates (QKV, attention, FFN)
    MEM_OTHER,       // tokenizer tables, score histories, I/O staging
    MEM_N_CATEGORIES
} mem_category;

// Allocates `bytes` (64-byte aligned). Returns NULL and records a status
// message on failure. bytes == 0 returns a valid unique pointer.
void *mem_alloc(mem_category cat, size_t bytes);

// As mem_alloc, zero-filled.
void *mem_calloc(mem_category cat, size_t bytes);

// Frees a block from mem_alloc/mem_calloc. NULL is a no-op.
void mem_free(void *ptr);

// Bytes currently allocated / high-water mark in one category.
size_t mem_current_bytes(mem_category cat);
size_t mem_peak_bytes(mem_category cat);

// Sum over all categories (the peak is of the sum, not a sum of peaks).
size_t mem_total_current_bytes(void);
size_t mem_total_peak_bytes(void);

// Resets every high-water mark to the current value (e.g. between queries).
void mem_reset_peaks(void);

// Name of a category ("weights", "embeddings", ...).
const char *mem_category_name(mem_category cat);

// Fault injection: the n-th allocation from now (1 = the next) fails;
// n == 0 disables. mem_fail_fired() tells whether the armed failure happened,
// so a test can loop n = 1, 2, ... until an operation succeeds without it.
void mem_fail_after(size_t n);
int mem_fail_fired(void);

// Peak resident set size of the process in bytes (getrusage).
size_t mem_peak_rss_bytes(void);

#endif
