// hf_json.c - shared Hugging Face tokenizer.json reading (see hf_json.h).
#include "tokenize/hf_json.h"

#include "base/json_file.h"
#include "base/mem.h"
#include "tokenize/bert_normalizer.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

status hf_json_added_token_read(const cJSON *item, const char *what, hf_added_token *out) {
    hf_added_token a = {0};
    a.id = out->id;
    if (!cJSON_IsObject(item))
        return status_fail(STATUS_ERR_FORMAT, "%s: expected an object", what);
    status st = json_get_string(item, "content", what, &a.content);
    if (st == STATUS_OK) st = json_opt_bool(item, "special", what, &a.special);
    a.normalized = !a.special; // HF's default when the key is absent
    if (st == STATUS_OK) st = json_opt_bool(item, "single_word", what, &a.single_word);
    if (st == STATUS_OK) st = json_opt_bool(item, "lstrip", what, &a.lstrip);
    if (st == STATUS_OK) st = json_opt_bool(item, "rstrip", what, &a.rstrip);
    if (st == STATUS_OK) st = json_opt_bool(item, "normalized", what, &a.normalized);
    if (st == STATUS_OK) *out = a;
    return st;
}

int hf_is_word_char(int32_t c) {
    if (c < 0x80)
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               c == '_';
    if (c == 0x200C || c == 0x200D) return 1;
    if ((c >= 0x24B6 && c <= 0x24E9) || (c >= 0x1F130 && c <= 0x1F149) ||
        (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189))
        return 1; // Other_Alphabetic symbols
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_PC:
        return 1;
    default:
        return 0;
    }
}

status hf_json_component_type(const cJSON *c, const char *what, const char **type) {
    if (!cJSON_IsObject(c)) return status_fail(STATUS_ERR_FORMAT, "%s: expected an object", what);
    return json_get_string(c, "type", what, type);
}

status hf_json_expect_bool(const cJSON *obj, const char *key, int want, const char *what) {
    int v = want;
    status st = json_opt_bool(obj, key, what, &v);
    if (st != STATUS_OK) return st;
    if (v != want)
        return status_fail(STATUS_ERR_UNSUPPORTED, "%s: '%s': %s is not supported (expected %s)",
                           what, key, v ? "true" : "false", want ? "true" : "false");
    return STATUS_OK;
}

void hf_path_join(char *dst, size_t cap, const char *dir, const char *name) {
    snprintf(dst, cap, "%s/%s", dir, name);
}

int hf_file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

status hf_added_matcher_add(hf_added_matcher *m, const void *content, size_t n, int32_t id,
                            int single_word, int lstrip, int rstrip, int normalized) {
    if (n == 0) return STATUS_OK;
    if (m->n_tokens == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 16;
        hf_added_match *p = mem_alloc(MEM_OTHER, cap * sizeof *p);
        if (!p) return STATUS_ERR_NOMEM;
        if (m->n_tokens) memcpy(p, m->tokens, m->n_tokens * sizeof *p);
        mem_free(m->tokens);
        m->tokens = p;
        m->cap = cap;
    }
    void *copy = mem_alloc(MEM_OTHER, n * m->unit);
    if (!copy) return STATUS_ERR_NOMEM;
    memcpy(copy, content, n * m->unit);
    int kind = normalized ? 1 : 0;
    m->tokens[m->n_tokens++] = (hf_added_match){copy, n, id, single_word, lstrip, rstrip, kind};
    m->n_kind[kind]++;
    int32_t c0 = m->unit == 1 ? ((const uint8_t *)content)[0] : ((const int32_t *)content)[0];
    m->first[kind][c0 < 255 ? c0 : 255] = 1;
    return STATUS_OK;
}

void hf_added_matcher_free(hf_added_matcher *m) {
    for (size_t i = 0; i < m->n_tokens; i++)
        mem_free(m->tokens[i].content);
    mem_free(m->tokens);
    size_t unit = m->unit;
    memset(m, 0, sizeof *m);
    m->unit = unit;
}

// The unit at text[i] (a byte or a code point).
static inline int32_t unit_at(const hf_added_matcher *m, const void *text, size_t i) {
    return m->unit == 1 ? ((const uint8_t *)text)[i] : ((const int32_t *)text)[i];
}

// The character starting at text[*i] (valid UTF-8 or code points); advances *i.
static int32_t char_next(const hf_added_matcher *m, const void *text, size_t *i) {
    if (m->unit != 1) return ((const int32_t *)text)[(*i)++];
    return hf_utf8_next(text, i);
}

// The start of the character that ends at text[end] (end > 0).
static size_t char_start_before(const hf_added_matcher *m, const void *text, size_t end) {
    size_t k = end - 1;
    if (m->unit == 1) {
        const uint8_t *s = text;
        while (k > 0 && (s[k] & 0xC0) == 0x80)
            k--;
    }
    return k;
}

int hf_added_next(const hf_added_matcher *m, int normalized, const void *text, size_t n,
                  size_t *pos, size_t floor, size_t *mstart, size_t *mstop, int32_t *id) {
    int kind = normalized ? 1 : 0;
    if (m->n_kind[kind] == 0) {
        *pos = n;
        return 0;
    }
    const uint8_t *first = m->first[kind];
    const char *bytes = text;
    size_t i = *pos;
    while (i < n) {
        int32_t c = unit_at(m, text, i);
        if (!first[c < 255 ? c : 255]) {
            i++;
            continue;
        }
        const hf_added_match *best = NULL;
        for (size_t k = 0; k < m->n_tokens; k++) {
            const hf_added_match *a = &m->tokens[k];
            if (a->normalized != kind || a->n > n - i || unit_at(m, a->content, 0) != c) continue;
            if (best && a->n <= best->n) continue;
            if (memcmp(a->content, bytes + i * m->unit, a->n * m->unit) == 0) best = a;
        }
        if (!best) {
            i++;
            continue;
        }
        size_t start = i, stop = i + best->n;
        if (best->single_word) {
            size_t before = start ? char_start_before(m, text, start) : 0, after = stop;
            int left_ok = start == 0 || !hf_is_word_char(char_next(m, text, &before));
            int right_ok = stop == n || !hf_is_word_char(char_next(m, text, &after));
            if (!left_ok || !right_ok) {
                i = stop; // the automaton resumes after the discarded match
                continue;
            }
        }
        if (best->lstrip) {
            while (start > floor) {
                size_t k = char_start_before(m, text, start), kk = k;
                if (!bert_normalizer_is_whitespace(char_next(m, text, &kk))) break;
                start = k;
            }
        }
        if (best->rstrip) {
            while (stop < n) {
                size_t j = stop;
                if (!bert_normalizer_is_whitespace(char_next(m, text, &j))) break;
                stop = j;
            }
        }
        *mstart = start;
        *mstop = stop;
        *id = best->id;
        *pos = stop;
        return 1;
    }
    *pos = n;
    return 0;
}
