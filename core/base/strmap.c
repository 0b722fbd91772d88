#include "base/strmap.h"

#include <stdlib.h>
#include <string.h>

static uint64_t strmap_hash(const char *key, size_t len) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211ull;
    }
    return h;
}

static status strmap_alloc(strmap *m, size_t cap) {
    m->keys = calloc(cap, sizeof *m->keys);
    m->key_lens = calloc(cap, sizeof *m->key_lens);
    m->values = calloc(cap, sizeof *m->values);
    m->cap = cap;
    m->count = 0;
    if (!m->keys || !m->key_lens || !m->values) {
        free(m->keys);
        free(m->key_lens);
        free(m->values);
        m->keys = NULL;
        m->key_lens = NULL;
        m->values = NULL;
        return status_fail(STATUS_ERR_NOMEM, "hash map of %zu slots: out of memory", cap);
    }
    return STATUS_OK;
}

status strmap_init(strmap *m, size_t expected) {
    size_t cap = 16;
    while (cap < expected * 2) cap *= 2;
    return strmap_alloc(m, cap);
}

void strmap_free(strmap *m) {
    if (!m->keys) return;
    for (size_t i = 0; i < m->cap; i++) free(m->keys[i]);
    free(m->keys);
    free(m->key_lens);
    free(m->values);
    memset(m, 0, sizeof *m);
}

static size_t strmap_slot(const strmap *m, const char *key, size_t len) {
    size_t mask = m->cap - 1;
    size_t i = (size_t)strmap_hash(key, len) & mask;
    while (m->keys[i] && !(m->key_lens[i] == len && memcmp(m->keys[i], key, len) == 0))
        i = (i + 1) & mask;
    return i;
}

static status strmap_grow(strmap *m) {
    strmap bigger;
    status st = strmap_alloc(&bigger, m->cap * 2);
    if (st != STATUS_OK) return st;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->keys[i]) continue;
        size_t j = strmap_slot(&bigger, m->keys[i], m->key_lens[i]);
        bigger.keys[j] = m->keys[i];
        bigger.key_lens[j] = m->key_lens[i];
        bigger.values[j] = m->values[i];
        bigger.count++;
    }
    free(m->keys);
    free(m->key_lens);
    free(m->values);
    *m = bigger;
    return STATUS_OK;
}

status strmap_put(strmap *m, const char *key, size_t len, int64_t value) {
    if ((m->count + 1) * 2 > m->cap) {
        status st = strmap_grow(m);
        if (st != STATUS_OK) return st;
    }
    size_t i = strmap_slot(m, key, len);
    if (!m->keys[i]) {
        char *copy = malloc(len + 1);
        if (!copy) return status_fail(STATUS_ERR_NOMEM, "hash map key of %zu bytes: out of memory", len);
        memcpy(copy, key, len);
        copy[len] = '\0';
        m->keys[i] = copy;
        m->key_lens[i] = len;
        m->count++;
    }
    m->values[i] = value;
    return STATUS_OK;
}

int strmap_get(const strmap *m, const char *key, size_t len, int64_t *value) {
    if (!m->keys) return 0;
    size_t i = strmap_slot(m, key, len);
    if (!m->keys[i]) return 0;
    if (value) *value = m->values[i];
    return 1;
}
