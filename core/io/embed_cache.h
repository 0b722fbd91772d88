/*
 * embed_cache.h - an LRU cache of embedding-table rows read from the
 * checkpoint on a miss (the paper's "embedding table cache"): instead of the
 * whole (V, H) table (a 0.6B decoder reranker: 151,669 x 1,024, 593 MiB in f32),
 * only `capacity` rows are resident (the paper's default: 10% of the
 * vocabulary).
 *
 *     embed_cache c;
 *     size_t rows = embed_cache_rows_for_fraction(vocab, 0.10);
 *     if (embed_cache_init(&c, &ck, "model.embed_tokens.weight", rows) != STATUS_OK) ...
 *     float *h = mem_alloc(MEM_HIDDEN, n_tok * H * sizeof *h); // (n_tok, H)
 *     if (embed_cache_gather(&c, ids, n_tok, h) != STATUS_OK) ...  // I/O error on a miss
 *     printf("hit rate %.3f, read %.1f ms\n", embed_cache_hit_rate(&c), c.read_seconds * 1e3);
 *     embed_cache_free(&c);
 *
 * Rows come from checkpoint_find + safetensors_read_f32_range of the table
 * (F16/BF16 widened to f32 exactly as a full-table load does), so a cached
 * row is bit-identical to the same row of the resident table and a model
 * using the cache computes exactly the same scores.
 *
 * Layout (all preallocated at init, MEM_EMBEDDINGS, nothing allocated later):
 *   rows     (capacity, H)  the cached rows, one slot each
 *   slot_of  (V,) int32     slot holding row id, or -1: O(1) lookup without
 *                           hashing (151,669 entries = 0.6 MB)
 *   id_of, prev, next (capacity,) int32: the slot's row id (-1 = empty) and a
 *                           doubly linked list of all slots, most recently
 *                           used first; empty slots form the tail, so the
 *                           tail is always the slot to (re)fill. Lookup,
 *                           hit update and eviction are O(1).
 *
 * A failed read (truncated or replaced file, I/O error) leaves the slot
 * empty at the tail and the cache consistent; the error names the file and
 * the tensor. Not thread-safe: one thread (the compute thread) uses a cache.
 * The tensor location is resolved once at init; it points into the
 * checkpoint's shard table, so the checkpoint must stay open (it may move).
 */
#ifndef GRATING_EMBED_CACHE_H
#define GRATING_EMBED_CACHE_H

#include "io/checkpoint.h"
#include "base/status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    checkpoint_tensor table; // the (V, H) embedding tensor in the checkpoint
    size_t vocab, hidden, capacity;
    float *rows;      // (capacity, hidden)
    int32_t *slot_of; // (vocab,) slot of a row id, -1 = not cached
    int32_t *id_of;   // (capacity,) row id in a slot, -1 = empty
    int32_t *prev;    // (capacity,) towards the most recently used, -1 at the head
    int32_t *next;    // (capacity,) towards the least recently used, -1 at the tail
    int32_t head, tail;
    // Statistics since init or the last embed_cache_reset_stats.
    uint64_t hits, misses;
    double read_seconds; // wall time of the miss reads
} embed_cache;

// Rows for a fraction of the vocabulary (rounded up, at least 1, at most vocab).
size_t embed_cache_rows_for_fraction(size_t vocab, double fraction);

// Finds `tensor` (shape (V, H), float dtype) in ck and preallocates a cache
// of `capacity` rows (capped at V). capacity 0 is an error (a full table is
// not a cache). On failure nothing needs freeing.
status embed_cache_init(embed_cache *c, const checkpoint *ck, const char *tensor, size_t capacity);
// Frees the buffers. Safe on a zeroed struct.
void embed_cache_free(embed_cache *c);

// The row of `id` ((hidden,) floats, valid until the next lookup), read from
// the checkpoint on a miss, evicting the least recently used row when full.
status embed_cache_row(embed_cache *c, int32_t id, const float **row);

// dst (n, hidden) = rows of ids[0 .. n), in order. Any capacity >= 1 works:
// each row is copied out before the next lookup may evict it.
status embed_cache_gather(embed_cache *c, const int32_t *ids, size_t n, float *dst);

// Bytes the cache holds (rows + index tables), as allocated at init.
size_t embed_cache_bytes(const embed_cache *c);

// hits / (hits + misses); 0 before the first lookup.
double embed_cache_hit_rate(const embed_cache *c);

// Zeroes the counters (not the content): per-query statistics.
void embed_cache_reset_stats(embed_cache *c);

#endif
