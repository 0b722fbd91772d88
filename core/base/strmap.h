/*
 * strmap.h - string -> int64 hash map (open addressing, FNV-1a), used for
 * vocabularies, tensor names and document ids. Keys are copied. No deletion:
 * every use in grating builds a table once and then only looks up.
 *
 *     strmap m;
 *     if (strmap_init(&m, 1024) != STATUS_OK) ...
 *     strmap_put(&m, "hello", 5, 42);
 *     int64_t v;
 *     if (strmap_get(&m, "hello", 5, &v)) ...   // v == 42
 *     strmap_free(&m);
 */
#ifndef GRATING_STRMAP_H
#define GRATING_STRMAP_H

#include "base/status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char **keys;      // (cap,) owned copies, NULL = empty slot
    size_t *key_lens; // (cap,)
    int64_t *values;  // (cap,)
    size_t cap;       // power of two
    size_t count;
} strmap;

// Initialises an empty map sized for about `expected` keys.
status strmap_init(strmap *m, size_t expected);
void strmap_free(strmap *m);

// Inserts or replaces. Keys may contain any bytes (length-delimited).
status strmap_put(strmap *m, const char *key, size_t len, int64_t value);

// Returns 1 and sets *value when found, 0 otherwise.
int strmap_get(const strmap *m, const char *key, size_t len, int64_t *value);

#endif
