#include "io/embed_cache.h"
#include "base/mem.h"
#include "base/clock.h"

#include <math.h>
#include <string.h>

size_t embed_cache_rows_for_fraction(size_t vocab, double fraction) {
    if (!(fraction > 0.0)) return vocab ? 1 : 0;
    double rows = ceil((double)vocab * fraction);
    if (rows < 1.0) rows = 1.0;
    return rows >= (double)vocab ? vocab : (size_t)rows;
}

status embed_cache_init(embed_cache *c, const checkpoint *ck, const char *tensor, size_t capacity) {
    memset(c, 0, sizeof *c);
    status st = checkpoint_find(ck, tensor, &c->table);
    if (st != STATUS_OK) return st;
    const safetensors_tensor *t = c->table.info;
    if (t->n_dims != 2 || t->shape[0] < 1 || t->shape[1] < 1 || t->shape[0] > INT32_MAX)
        return status_fail(STATUS_ERR_SHAPE,
                           "%s: embedding tensor '%s' has %d dims, expected a (vocab, hidden) "
                           "matrix with at most 2^31-1 rows",
                           c->table.file->path, t->name, t->n_dims);
    if (capacity == 0)
        return status_fail(STATUS_ERR_ARG,
                           "%s: embedding cache of '%s': capacity must be at least 1 row",
                           c->table.file->path, t->name);
    c->vocab = (size_t)t->shape[0];
    c->hidden = (size_t)t->shape[1];
    c->capacity = capacity < c->vocab ? capacity : c->vocab;
    c->rows = mem_alloc(MEM_EMBEDDINGS, c->capacity * c->hidden * sizeof *c->rows);
    c->slot_of = mem_alloc(MEM_EMBEDDINGS, c->vocab * sizeof *c->slot_of);
    c->id_of = mem_alloc(MEM_EMBEDDINGS, c->capacity * sizeof *c->id_of);
    c->prev = mem_alloc(MEM_EMBEDDINGS, c->capacity * sizeof *c->prev);
    c->next = mem_alloc(MEM_EMBEDDINGS, c->capacity * sizeof *c->next);
    if (!c->rows || !c->slot_of || !c->id_of || !c->prev || !c->next) {
        st = status_wrap(STATUS_ERR_NOMEM, "embedding cache of %zu rows", c->capacity);
        embed_cache_free(c);
        return st;
    }
    for (size_t v = 0; v < c->vocab; v++)
        c->slot_of[v] = -1;
    // Every slot on the list, all empty: slot 0 at the head, the last at the tail.
    for (size_t s = 0; s < c->capacity; s++) {
        c->id_of[s] = -1;
        c->prev[s] = (int32_t)s - 1;
        c->next[s] = s + 1 < c->capacity ? (int32_t)s + 1 : -1;
    }
    c->head = 0;
    c->tail = (int32_t)c->capacity - 1;
    return STATUS_OK;
}

void embed_cache_free(embed_cache *c) {
    mem_free(c->rows);
    mem_free(c->slot_of);
    mem_free(c->id_of);
    mem_free(c->prev);
    mem_free(c->next);
    memset(c, 0, sizeof *c);
}

// Unlinks slot s and puts it at the head (most recently used).
static void embed_cache_touch(embed_cache *c, int32_t s) {
    if (c->head == s) return;
    int32_t p = c->prev[s], n = c->next[s]; // p >= 0: s is not the head
    c->next[p] = n;
    if (n >= 0)
        c->prev[n] = p;
    else
        c->tail = p;
    c->prev[s] = -1;
    c->next[s] = c->head;
    c->prev[c->head] = s;
    c->head = s;
}

status embed_cache_row(embed_cache *c, int32_t id, const float **row) {
    *row = NULL;
    if (id < 0 || (size_t)id >= c->vocab)
        return status_fail(STATUS_ERR_ARG, "%s: embedding row %d outside the vocabulary [0, %zu)",
                           c->table.file->path, id, c->vocab);
    int32_t s = c->slot_of[id];
    if (s >= 0) {
        c->hits++;
        embed_cache_touch(c, s);
        *row = c->rows + (size_t)s * c->hidden;
        return STATUS_OK;
    }
    // Miss: refill the tail slot (empty, or the least recently used row).
    c->misses++;
    s = c->tail;
    if (c->id_of[s] >= 0) c->slot_of[c->id_of[s]] = -1;
    c->id_of[s] = -1; // stays empty at the tail if the read fails
    float *dst = c->rows + (size_t)s * c->hidden;
    double t0 = clock_now_seconds();
    status st = safetensors_read_f32_range(c->table.file, c->table.info, (size_t)id * c->hidden,
                                           c->hidden, dst);
    c->read_seconds += clock_now_seconds() - t0;
    if (st != STATUS_OK) return status_wrap(st, "embedding cache: row %d", id);
    c->id_of[s] = id;
    c->slot_of[id] = s;
    embed_cache_touch(c, s);
    *row = dst;
    return STATUS_OK;
}

status embed_cache_gather(embed_cache *c, const int32_t *ids, size_t n, float *dst) {
    for (size_t t = 0; t < n; t++) {
        const float *row;
        status st = embed_cache_row(c, ids[t], &row);
        if (st != STATUS_OK) return st;
        memcpy(dst + t * c->hidden, row, c->hidden * sizeof *dst);
    }
    return STATUS_OK;
}

size_t embed_cache_bytes(const embed_cache *c) {
    return c->capacity * c->hidden * sizeof(float) + c->vocab * sizeof(int32_t) +
           3 * c->capacity * sizeof(int32_t);
}

double embed_cache_hit_rate(const embed_cache *c) {
    uint64_t n = c->hits + c->misses;
    return n ? (double)c->hits / (double)n : 0.0;
}

void embed_cache_reset_stats(embed_cache *c) {
    c->hits = c->misses = 0;
    c->read_seconds = 0.0;
}
