#include "tokenize/bpe.h"

#include "tokenize/bert_normalizer.h"
#include "tokenize/hf_json.h"
#include "base/json_file.h"
#include "base/mem.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <utf8proc.h>

// Ids above this are rejected as corrupt rather than sizing a huge table.
#define BPE_MAX_ID (1 << 24)

// The pre-tokenizer of Qwen2 (transformers' Qwen2Converter), the only regex
// this module implements (by hand, in bpe_piece_end).
static const char QWEN2_REGEX[] = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{"
                                  "N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|"
                                  "\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

// ---------------------------------------------------------------------------
// UTF-8

// Decodes the character at s[i]. Returns its length (1..4), or -k when the
// k bytes at s[i] are the maximal invalid subpart (Unicode's "substitution of
// maximal subparts", which Rust's String::from_utf8_lossy follows).
static int utf8_char(const unsigned char *s, size_t len, size_t i, int32_t *cp) {
    unsigned c = s[i];
    if (c < 0x80) {
        *cp = (int32_t)c;
        return 1;
    }
    int n;
    unsigned lo = 0x80, hi = 0xBF;
    int32_t v;
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
        v = (int32_t)(c & 0x1F);
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        v = (int32_t)(c & 0x0F);
        if (c == 0xE0) lo = 0xA0; // no overlong forms
        if (c == 0xED) hi = 0x9F; // no surrogates
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        v = (int32_t)(c & 0x07);
        if (c == 0xF0) lo = 0x90;
        if (c == 0xF4) hi = 0x8F; // nothing beyond U+10FFFF
    } else {
        return -1;
    }
    for (int k = 1; k < n; k++) {
        if (i + (size_t)k >= len) return -k;
        unsigned b = s[i + (size_t)k];
        if (b < lo || b > hi) return -k;
        lo = 0x80;
        hi = 0xBF;
        v = (v << 6) | (int32_t)(b & 0x3F);
    }
    *cp = v;
    return n;
}

static size_t utf8_put(int32_t c, char *dst) {
    return bert_normalizer_encode_utf8(c, dst);
}

// Checks that s[0..len) is valid UTF-8; *high tells whether some code point
// is >= U+0300 (below it NFC changes nothing: no decompositions, and every
// second half of a canonical composition is >= U+0300).
static status utf8_validate(const char *s, size_t len, int *high) {
    const unsigned char *u = (const unsigned char *)s;
    *high = 0;
    size_t i = 0;
    while (i < len) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        int32_t c;
        int n = utf8_char(u, len, i, &c);
        if (n < 0)
            return status_fail(STATUS_ERR_ARG, "text is not valid UTF-8 (byte %zu of %zu)", i + 1,
                               len);
        if (c >= 0x300) *high = 1;
        i += (size_t)n;
    }
    return STATUS_OK;
}

// ---------------------------------------------------------------------------
// Character classes of the pre-tokenizer regex

enum {
    CL_OTHER = 0, // [^\s\p{L}\p{N}]
    CL_LETTER,    // \p{L}
    CL_NUMBER,    // \p{N}
    CL_SPACE,     // \s except \r and \n
    CL_NEWLINE,   // \r, \n
};

// Code points where HF's regex engine (Oniguruma, Unicode 16.0 tables) and
// utf8proc 2.8 (Unicode 15.0) disagree: letters and numbers assigned in
// Unicode 15.1 (CJK extension I) and 16.0, unassigned for utf8proc. Found by
// running every code point through the real HF pre-tokenizer; that sweep is
// tests/golden/bpe/codepoints.tsv. Sorted, for a binary search.
typedef struct {
    int32_t lo, hi;
    uint8_t cls;
} class_range;

static const class_range CLASS_EXCEPTIONS[] = {
    {0x1C89, 0x1C8A, CL_LETTER},   {0xA7CB, 0xA7CD, CL_LETTER},   {0xA7DA, 0xA7DC, CL_LETTER},
    {0x105C0, 0x105F3, CL_LETTER}, {0x10D40, 0x10D49, CL_NUMBER}, {0x10D4A, 0x10D65, CL_LETTER},
    {0x10D6F, 0x10D85, CL_LETTER}, {0x10EC2, 0x10EC4, CL_LETTER}, {0x11380, 0x11389, CL_LETTER},
    {0x1138B, 0x1138B, CL_LETTER}, {0x1138E, 0x1138E, CL_LETTER}, {0x11390, 0x113B5, CL_LETTER},
    {0x113B7, 0x113B7, CL_LETTER}, {0x113D1, 0x113D1, CL_LETTER}, {0x113D3, 0x113D3, CL_LETTER},
    {0x116D0, 0x116E3, CL_NUMBER}, {0x11BC0, 0x11BE0, CL_LETTER}, {0x11BF0, 0x11BF9, CL_NUMBER},
    {0x13460, 0x143FA, CL_LETTER}, {0x16100, 0x1611D, CL_LETTER}, {0x16130, 0x16139, CL_NUMBER},
    {0x16D40, 0x16D6C, CL_LETTER}, {0x16D70, 0x16D79, CL_NUMBER}, {0x18CFF, 0x18CFF, CL_LETTER},
    {0x1CCF0, 0x1CCF9, CL_NUMBER}, {0x1E5D0, 0x1E5ED, CL_LETTER}, {0x1E5F0, 0x1E5F0, CL_LETTER},
    {0x1E5F1, 0x1E5FA, CL_NUMBER}, {0x2EBF0, 0x2EE5D, CL_LETTER},
};

static int char_class_slow(int32_t c) {
    switch (c) {
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000:
        return CL_SPACE;
    default:
        break;
    }
    if (c >= 0x2000 && c <= 0x200A) return CL_SPACE;
    size_t lo = 0, hi = sizeof CLASS_EXCEPTIONS / sizeof CLASS_EXCEPTIONS[0];
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c < CLASS_EXCEPTIONS[mid].lo)
            hi = mid;
        else if (c > CLASS_EXCEPTIONS[mid].hi)
            lo = mid + 1;
        else
            return CLASS_EXCEPTIONS[mid].cls;
    }
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
        return CL_LETTER;
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return CL_NUMBER;
    default:
        return CL_OTHER;
    }
}

static inline int char_class(int32_t c) {
    if (c < 0x80) {
        if ((unsigned)((c | 0x20) - 'a') < 26) return CL_LETTER;
        if ((unsigned)(c - '0') < 10) return CL_NUMBER;
        if (c == '\n' || c == '\r') return CL_NEWLINE;
        if (c == ' ' || (c >= 0x09 && c <= 0x0C)) return CL_SPACE;
        return CL_OTHER;
    }
    return char_class_slow(c);
}

// End of the run of characters of class `cls` starting at s[i].
static size_t class_run_end(const unsigned char *s, size_t len, size_t i, int cls) {
    while (i < len) {
        size_t j = i;
        if (char_class(hf_utf8_next(s, &j)) != cls) break;
        i = j;
    }
    return i;
}

// (?i:'s|'t|'re|'ve|'m|'ll|'d) after the apostrophe at s[i - 1]: the bytes
// matched after it, 0 if none. Case-insensitive matching also lets U+017F
// (LATIN SMALL LETTER LONG S, which case-folds to 's') stand for the s.
static size_t contraction_len(const unsigned char *s, size_t len, size_t i) {
    if (i >= len) return 0;
    unsigned c = s[i] | 0x20; // ASCII lower case (no other byte maps onto a letter)
    if (c == 's' || c == 't' || c == 'm' || c == 'd') return 1;
    if (s[i] == 0xC5 && i + 1 < len && s[i + 1] == 0xBF) return 2; // U+017F
    if (i + 1 >= len || s[i] >= 0x80) return 0;
    unsigned d = s[i + 1] | 0x20;
    if ((c == 'r' || c == 'v') && d == 'e') return 2;
    if (c == 'l' && d == 'l') return 2;
    return 0;
}

size_t bpe_piece_end(const char *str, size_t len, size_t pos) {
    const unsigned char *s = (const unsigned char *)str;
    size_t p1 = pos;
    int32_t c0 = hf_utf8_next(s, &p1);
    int k0 = char_class(c0);

    // (?i:'s|'t|'re|'ve|'m|'ll|'d)
    if (c0 == '\'') {
        size_t n = contraction_len(s, len, p1);
        if (n) return p1 + n;
    }
    // [^\r\n\p{L}\p{N}]?\p{L}+ : letters, possibly after one character that
    // is neither a newline, a letter nor a number.
    if (k0 == CL_LETTER) return class_run_end(s, len, p1, CL_LETTER);
    int32_t c1 = -1;
    size_t p2 = p1;
    if (p1 < len) c1 = hf_utf8_next(s, &p2);
    int k1 = c1 < 0 ? -1 : char_class(c1);
    if ((k0 == CL_OTHER || k0 == CL_SPACE) && k1 == CL_LETTER)
        return class_run_end(s, len, p2, CL_LETTER);
    // \p{N} : one number character at a time.
    if (k0 == CL_NUMBER) return p1;
    // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
    size_t q = 0;
    if (k0 == CL_OTHER)
        q = p1;
    else if (c0 == ' ' && k1 == CL_OTHER)
        q = p2;
    if (q) {
        q = class_run_end(s, len, q, CL_OTHER);
        while (q < len && (s[q] == '\r' || s[q] == '\n'))
            q++;
        return q;
    }
    // c0 is whitespace. \s*[\r\n]+ : the whitespace run up to its last newline.
    size_t end = pos, last_start = pos, last_newline = 0, count = 0;
    while (end < len) {
        size_t j = end;
        int k = char_class(hf_utf8_next(s, &j));
        if (k != CL_SPACE && k != CL_NEWLINE) break;
        if (k == CL_NEWLINE) last_newline = j;
        last_start = end;
        end = j;
        count++;
    }
    if (last_newline) return last_newline;
    // \s+(?!\S) : the run, minus its last character when a non-space follows
    // (that character then starts the next piece, e.g. " word"); \s+ : a
    // single space before a non-space.
    if (end == len || count == 1) return end;
    return last_start;
}

// ---------------------------------------------------------------------------
// Loading

// GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the
// 68 others for U+0100 upwards in byte order.
static int32_t byte_to_cp(unsigned b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255))
        return (int32_t)b;
    int32_t n = 0;
    for (unsigned x = 0; x < b; x++)
        if (!((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255))) n++;
    return 256 + n;
}

// The inverse: the byte a code point of the alphabet stands for, -1 if none.
static int cp_to_byte(int32_t c) {
    if ((c >= 33 && c <= 126) || (c >= 161 && c <= 172) || (c >= 174 && c <= 255)) return (int)c;
    if (c < 256 || c >= 256 + 68) return -1;
    int n = 256;
    for (unsigned x = 0; x < 256; x++) {
        if ((x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255)) continue;
        if (n++ == c) return (int)x;
    }
    return -1;
}

typedef struct {
    const char *text;
    size_t len;
    int64_t id;
} vocab_entry;

typedef struct {
    const char *a, *b;
    size_t alen, blen;
    size_t where; // line (merges.txt) or index (tokenizer.json) for messages
} merge_entry;

typedef hf_added_token added_entry; // id as stated in the file

// Everything read from the files, before the tables are built. Strings point
// into the parsed JSON / file buffers, which live until bpe_load returns.
typedef struct {
    vocab_entry *vocab;
    size_t n_vocab, cap_vocab;
    merge_entry *merges;
    size_t n_merges, cap_merges;
    added_entry *added;
    size_t n_added, cap_added;
    const char *vocab_file;  // for messages
    const char *merges_file; // "FILE: merges" or "merges.txt path"
    const char *added_file;
    int merges_lines; // merge positions are merges.txt lines (else JSON indices)
    char merges_what[4200];
} bpe_source;

static status grow(void **items, size_t *cap, size_t need, size_t size, const char *what) {
    if (need <= *cap) return STATUS_OK;
    size_t c = *cap ? *cap * 2 : 1024;
    while (c < need)
        c *= 2;
    void *p = realloc(*items, c * size);
    if (!p) return status_fail(STATUS_ERR_NOMEM, "%s: out of memory", what);
    *items = p;
    *cap = c;
    return STATUS_OK;
}

static status source_vocab(bpe_source *src, const char *text, size_t len, int64_t id) {
    status st = grow((void **)&src->vocab, &src->cap_vocab, src->n_vocab + 1, sizeof *src->vocab,
                     src->vocab_file);
    if (st == STATUS_OK) src->vocab[src->n_vocab++] = (vocab_entry){text, len, id};
    return st;
}

static status source_merge(bpe_source *src, const char *a, size_t alen, const char *b, size_t blen,
                           size_t where) {
    status st = grow((void **)&src->merges, &src->cap_merges, src->n_merges + 1,
                     sizeof *src->merges, src->merges_file);
    if (st == STATUS_OK) src->merges[src->n_merges++] = (merge_entry){a, b, alen, blen, where};
    return st;
}

static void source_free(bpe_source *src) {
    free(src->vocab);
    free(src->merges);
    free(src->added);
}

static inline uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static inline uint64_t merge_key(int32_t a, int32_t b) {
    return (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
}

static inline const bpe_merge_slot *merge_find(const bpe *t, int32_t a, int32_t b) {
    uint64_t key = merge_key(a, b);
    size_t i = (size_t)mix64(key) & t->merge_mask;
    for (;;) {
        const bpe_merge_slot *m = &t->merges[i];
        if (m->key == key) return m;
        if (m->key == UINT64_MAX) return NULL;
        i = (i + 1) & t->merge_mask;
    }
}

// The id of a model vocabulary entry given as two parts (a merge's result).
static int vocab_get2(const bpe *t, const char *a, size_t alen, const char *b, size_t blen,
                      char **buf, size_t *cap, int64_t *id) {
    if (alen + blen > *cap) {
        size_t c = alen + blen + 64;
        char *p = realloc(*buf, c);
        if (!p) return -1;
        *buf = p;
        *cap = c;
    }
    memcpy(*buf, a, alen);
    memcpy(*buf + alen, b, blen);
    return strmap_get(&t->vocab, *buf, alen + blen, id);
}

static status build_merges(bpe *t, const bpe_source *src) {
    size_t cap = 16;
    while (cap < src->n_merges * 2 + 16)
        cap *= 2;
    t->merges = mem_alloc(MEM_OTHER, cap * sizeof *t->merges);
    if (!t->merges) return status_wrap(STATUS_ERR_NOMEM, "%s", src->merges_file);
    memset(t->merges, 0xFF, cap * sizeof *t->merges);
    t->merge_mask = cap - 1;
    t->n_merges = src->n_merges;
    char *buf = NULL;
    size_t buf_cap = 0;
    status st = STATUS_OK;
    for (size_t r = 0; r < src->n_merges && st == STATUS_OK; r++) {
        const merge_entry *m = &src->merges[r];
        int64_t a, b, ab;
        const char *missing = NULL;
        size_t missing_len = 0;
        if (!strmap_get(&t->vocab, m->a, m->alen, &a) || a >= (int64_t)t->n_model_tokens) {
            missing = m->a;
            missing_len = m->alen;
        } else if (!strmap_get(&t->vocab, m->b, m->blen, &b) || b >= (int64_t)t->n_model_tokens) {
            missing = m->b;
            missing_len = m->blen;
        }
        char where[4400];
        if (src->merges_lines)
            snprintf(where, sizeof where, "%s: line %zu", src->merges_file, m->where);
        else
            snprintf(where, sizeof where, "%s[%zu]", src->merges_file, m->where);
        if (missing) {
            st = status_fail(STATUS_ERR_FORMAT,
                             "%s: merge '%.*s %.*s': '%.*s' is not in the vocabulary", where,
                             (int)m->alen, m->a, (int)m->blen, m->b, (int)missing_len, missing);
            break;
        }
        int found = vocab_get2(t, m->a, m->alen, m->b, m->blen, &buf, &buf_cap, &ab);
        if (found < 0) {
            st = status_fail(STATUS_ERR_NOMEM, "%s: out of memory", src->merges_file);
            break;
        }
        if (!found || ab >= (int64_t)t->n_model_tokens) {
            st = status_fail(STATUS_ERR_FORMAT,
                             "%s: merge '%.*s %.*s': the result '%.*s%.*s' is not in the "
                             "vocabulary",
                             where, (int)m->alen, m->a, (int)m->blen, m->b, (int)m->alen, m->a,
                             (int)m->blen, m->b);
            break;
        }
        // A repeated pair keeps its last rank, as HF's HashMap collect does.
        uint64_t key = merge_key((int32_t)a, (int32_t)b);
        size_t i = (size_t)mix64(key) & t->merge_mask;
        while (t->merges[i].key != UINT64_MAX && t->merges[i].key != key)
            i = (i + 1) & t->merge_mask;
        t->merges[i] = (bpe_merge_slot){key, (uint32_t)r, (int32_t)ab};
    }
    free(buf);
    return st;
}

// Builds the vocabulary tables, numbers the added tokens as HF does and the
// merge table.
static status build_tables(bpe *t, bpe_source *src) {
    size_t n = src->n_vocab;
    if (n == 0) return status_fail(STATUS_ERR_FORMAT, "%s: empty vocabulary", src->vocab_file);
    if (n >= BPE_MAX_ID)
        return status_fail(STATUS_ERR_FORMAT, "%s: %zu tokens (at most %d supported)",
                           src->vocab_file, n, BPE_MAX_ID - 1);
    t->n_model_tokens = n;
    // HF numbers added tokens after the model vocabulary (unless their text
    // is a vocabulary entry), in file order, whatever id the file states.
    int64_t next = (int64_t)n;
    status st = strmap_init(&t->vocab, n + src->n_added);
    if (st != STATUS_OK) return st;
    size_t bytes = 0;
    // Which entry holds each id, to report duplicate ids by name.
    size_t *holder = malloc(n * sizeof *holder);
    if (!holder) return status_fail(STATUS_ERR_NOMEM, "%s: out of memory", src->vocab_file);
    for (size_t i = 0; i < n; i++)
        holder[i] = SIZE_MAX;
    for (size_t i = 0; i < n && st == STATUS_OK; i++) {
        const vocab_entry *e = &src->vocab[i];
        int shown = (int)(e->len > 64 ? 64 : e->len);
        int64_t other;
        if (e->id < 0 || e->id >= (int64_t)n) {
            st = status_fail(STATUS_ERR_FORMAT,
                             "%s: token '%.*s' has id %lld (expected 0..%zu: each id of the "
                             "vocabulary once)",
                             src->vocab_file, shown, e->text, (long long)e->id, n - 1);
        } else if (holder[e->id] != SIZE_MAX) {
            const vocab_entry *o = &src->vocab[holder[e->id]];
            st = status_fail(STATUS_ERR_FORMAT, "%s: tokens '%.*s' and '%.*s' both have id %lld",
                             src->vocab_file, (int)(o->len > 64 ? 64 : o->len), o->text, shown,
                             e->text, (long long)e->id);
        } else if (strmap_get(&t->vocab, e->text, e->len, &other)) {
            st = status_fail(STATUS_ERR_FORMAT, "%s: token '%.*s' appears twice (ids %lld, %lld)",
                             src->vocab_file, shown, e->text, (long long)other, (long long)e->id);
        } else {
            holder[e->id] = i;
            st = strmap_put(&t->vocab, e->text, e->len, e->id);
            bytes += e->len + 1;
        }
    }
    free(holder);
    if (st != STATUS_OK) return st;
    int64_t *added_ids = calloc(src->n_added + 1, sizeof *added_ids);
    if (!added_ids) return status_fail(STATUS_ERR_NOMEM, "%s: out of memory", src->added_file);
    for (size_t i = 0; i < src->n_added; i++) {
        const added_entry *a = &src->added[i];
        size_t len = strlen(a->content);
        int64_t id;
        if (strmap_get(&t->vocab, a->content, len, &id)) {
            if (id >= (int64_t)n) {
                free(added_ids);
                return status_fail(STATUS_ERR_FORMAT, "%s: added token '%s' appears twice",
                                   src->added_file, a->content);
            }
        } else {
            id = next++;
        }
        if (id != a->id) {
            free(added_ids);
            return status_fail(STATUS_ERR_FORMAT,
                               "%s: added token '%s' has id %lld, but Hugging Face gives it id "
                               "%lld (%s)",
                               src->added_file, a->content, (long long)a->id, (long long)id,
                               id < (int64_t)n ? "its vocabulary id"
                                               : "the next id after the vocabulary, in file order");
        }
        added_ids[i] = id;
        if (id >= (int64_t)n) {
            st = strmap_put(&t->vocab, a->content, len, id);
            if (st != STATUS_OK) {
                free(added_ids);
                return st;
            }
            bytes += len + 1;
        }
    }
    t->vocab_size = (size_t)next;
    t->id_to_token = mem_calloc(MEM_OTHER, t->vocab_size * sizeof *t->id_to_token);
    t->token_len = mem_calloc(MEM_OTHER, t->vocab_size * sizeof *t->token_len);
    t->token_blob = mem_alloc(MEM_OTHER, bytes);
    if (!t->id_to_token || !t->token_len || !t->token_blob) {
        free(added_ids);
        return status_wrap(STATUS_ERR_NOMEM, "%s", src->vocab_file);
    }
    char *p = t->token_blob;
    for (size_t i = 0; i < n; i++) {
        const vocab_entry *e = &src->vocab[i];
        memcpy(p, e->text, e->len);
        p[e->len] = '\0';
        t->id_to_token[e->id] = p;
        t->token_len[e->id] = (uint32_t)e->len;
        p += e->len + 1;
    }
    for (size_t i = 0; i < src->n_added; i++) {
        if (added_ids[i] < (int64_t)n) continue;
        size_t len = strlen(src->added[i].content);
        memcpy(p, src->added[i].content, len + 1);
        t->id_to_token[added_ids[i]] = p;
        t->token_len[added_ids[i]] = (uint32_t)len;
        p += len + 1;
    }

    // The added tokens as matched in the text.
    for (size_t i = 0; i < src->n_added; i++) {
        const added_entry *a = &src->added[i];
        size_t len = strlen(a->content);
        char *content = (char *)a->content;
        utf8proc_uint8_t *nfc = NULL;
        if (a->normalized && t->nfc) {
            // HF matches normalized tokens by their normalized form.
            utf8proc_ssize_t m =
                utf8proc_map((const utf8proc_uint8_t *)a->content, (utf8proc_ssize_t)len, &nfc,
                             UTF8PROC_STABLE | UTF8PROC_COMPOSE);
            if (m < 0) {
                free(added_ids);
                return status_fail(STATUS_ERR_FORMAT, "%s: added token '%s': %s", src->added_file,
                                   a->content, utf8proc_errmsg(m));
            }
            content = (char *)nfc;
            len = (size_t)m;
        }
        // Empty tokens are ignored when matching, as in HF.
        status st = hf_added_matcher_add(&t->added, content, len, (int32_t)added_ids[i],
                                         a->single_word, a->lstrip, a->rstrip, a->normalized);
        free(nfc);
        if (st != STATUS_OK) {
            free(added_ids);
            return status_fail(STATUS_ERR_NOMEM, "%s: out of memory", src->added_file);
        }
    }
    t->n_added = t->added.n_tokens;
    free(added_ids);

    // Byte-level BPE needs a symbol for every byte.
    for (unsigned b = 0; b < 256; b++) {
        char sym[4];
        size_t len = utf8_put(byte_to_cp(b), sym);
        int64_t id;
        if (!strmap_get(&t->vocab, sym, len, &id) || id >= (int64_t)n)
            return status_fail(STATUS_ERR_MISSING,
                               "%s: the symbol '%.*s' of byte 0x%02x is not in the vocabulary "
                               "(byte-level BPE needs all 256)",
                               src->vocab_file, (int)len, sym, b);
        t->byte_id[b] = (int32_t)id;
    }
    return build_merges(t, src);
}

// Reads one added token object (tokenizer.json added_tokens[i] or
// tokenizer_config.json added_tokens_decoder[id]).
static status read_added(bpe_source *src, const cJSON *item, const char *what, int64_t id) {
    status st =
        grow((void **)&src->added, &src->cap_added, src->n_added + 1, sizeof *src->added, what);
    if (st != STATUS_OK) return st;
    added_entry a = {.id = id};
    st = hf_json_added_token_read(item, what, &a);
    if (st != STATUS_OK) return st;
    int dummy = 0;
    if (utf8_validate(a.content, strlen(a.content), &dummy) != STATUS_OK)
        return status_fail(STATUS_ERR_FORMAT, "%s: content is not valid UTF-8", what);
    src->added[src->n_added++] = a;
    return STATUS_OK;
}

// A JSON object of token -> integer id (tokenizer.json model.vocab, vocab.json).
static status read_vocab_object(bpe_source *src, const cJSON *vocab, const char *what) {
    if (!cJSON_IsObject(vocab))
        return status_fail(STATUS_ERR_FORMAT, "%s: expected an object of token ids", what);
    const cJSON *item;
    cJSON_ArrayForEach(item, vocab) {
        int64_t v;
        if (!json_number_int(item, 0, BPE_MAX_ID - 1, &v))
            return status_fail(STATUS_ERR_FORMAT, "%s: token '%s': expected an integer id in 0..%d",
                               what, item->string, BPE_MAX_ID - 1);
        status st = source_vocab(src, item->string, strlen(item->string), v);
        if (st != STATUS_OK) return st;
    }
    return STATUS_OK;
}

// Fails unless obj[key] is absent, null or the empty string.
static status expect_empty_string(const cJSON *obj, const char *key, const char *what) {
    const char *v = NULL;
    status st = json_opt_string(obj, key, what, &v);
    if (st != STATUS_OK) return st;
    if (v && *v)
        return status_fail(STATUS_ERR_UNSUPPORTED,
                           "%s: '%s' \"%s\" is not supported (expected \"\" or null)", what, key,
                           v);
    return STATUS_OK;
}

// pre_tokenizer: Sequence[Split(Qwen2 regex, Isolated), ByteLevel(no prefix
// space, no regex)], the only layout implemented.
static status check_pre_tokenizer(const cJSON *root, const char *path) {
    char what[4200];
    snprintf(what, sizeof what, "%s: pre_tokenizer", path);
    const cJSON *pre = cJSON_GetObjectItemCaseSensitive(root, "pre_tokenizer");
    const char *type = "null";
    if (pre && !cJSON_IsNull(pre)) {
        status st = hf_json_component_type(pre, what, &type);
        if (st != STATUS_OK) return st;
    }
    const cJSON *seq = cJSON_GetObjectItemCaseSensitive(pre, "pretokenizers");
    if (strcmp(type, "Sequence") != 0 || !cJSON_IsArray(seq) || cJSON_GetArraySize(seq) != 2)
        return status_fail(STATUS_ERR_UNSUPPORTED,
                           "%s: '%s' is not supported (expected a Sequence of Split with the "
                           "Qwen2 regex and ByteLevel)",
                           what, type);
    const cJSON *split = cJSON_GetArrayItem(seq, 0), *bl = cJSON_GetArrayItem(seq, 1);
    status st = hf_json_component_type(split, what, &type);
    if (st != STATUS_OK) return st;
    if (strcmp(type, "Split") != 0)
        return status_fail(STATUS_ERR_UNSUPPORTED,
                           "%s: first step '%s' is not supported (expected Split)", what, type);
    const cJSON *pattern = cJSON_GetObjectItemCaseSensitive(split, "pattern");
    const cJSON *regex =
        cJSON_IsObject(pattern) ? cJSON_GetObjectItemCaseSensitive(pattern, "Regex") : NULL;
    if (!cJSON_IsString(regex) || strcmp(regex->valuestring, QWEN2_REGEX) != 0)
        return status_fail(STATUS_ERR_UNSUPPORTED,
                           "%s: the Split pattern is not the Qwen2 regex (the only one "
                           "implemented): %s",
                           what, cJSON_IsString(regex) ? regex->valuestring : "(not a Regex)");
    const char *behavior = "";
    st = json_get_string(split, "behavior", what, &behavior);
    if (st != STATUS_OK) return st;
    if (strcmp(behavior, "Isolated") != 0)
        return status_fail(STATUS_ERR_UNSUPPORTED,
                           "%s: Split behavior '%s' is not supported (expected Isolated)", what,
                           behavior);
    st = hf_json_expect_bool(split, "invert", 0, what);
    if (st != STATUS_OK) return st;
    st = hf_json_component_type(bl, what, &type);
    if (st != STATUS_OK) return st;
    if (strcmp(type, "ByteLevel") != 0)
        return status_fail(STATUS_ERR_UNSUPPORTED,
                           "%s: second step '%s' is not supported (expected ByteLevel)", what,
                           type);
    st = hf_json_expect_bool(bl, "add_prefix_space", 0, what);
    if (st == STATUS_OK) st = hf_json_expect_bool(bl, "use_regex", 0, what);
    return st;
}

// post_processor / decoder: ByteLevel (which changes no ids) or null.
static status check_byte_level_or_null(const cJSON *root, const char *key, const char *path) {
    char what[4200];
    snprintf(what, sizeof what, "%s: %s", path, key);
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!c || cJSON_IsNull(c)) return STATUS_OK;
    const char *type;
    status st = hf_json_component_type(c, what, &type);
    if (st != STATUS_OK) return st;
    if (strcmp(type, "ByteLevel") != 0)
        return status_fail(STATUS_ERR_UNSUPPORTED,
                           "%s: type '%s' is not supported (expected ByteLevel or null)", what,
                           type);
    return STATUS_OK;
}

static status load_tokenizer_json(bpe *t, bpe_source *src, const char *path, cJSON **keep) {
    cJSON *root;
    status st = json_file_parse(path, &root);
    if (st != STATUS_OK) return st;
    *keep = root;
    char what[4200];
    src->vocab_file = path;
    src->added_file = path;
    if (!cJSON_IsObject(root))
        return status_fail(STATUS_ERR_FORMAT, "%s: expected a JSON object", path);

    const cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "model");
    snprintf(what, sizeof what, "%s: model", path);
    const char *type;
    st = hf_json_component_type(m, what, &type);
    if (st != STATUS_OK) return st;
    if (strcmp(type, "BPE") != 0)
        return status_fail(STATUS_ERR_UNSUPPORTED,
                           "%s: model type '%s' is not supported (expected BPE)", path, type);
    const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(m, "dropout");
    if (dropout && !cJSON_IsNull(dropout) &&
        !(cJSON_IsNumber(dropout) && dropout->valuedouble == 0))
        return status_fail(STATUS_ERR_UNSUPPORTED, "%s: 'dropout' is not supported (expected null)",
                           what);
    st = expect_empty_string(m, "continuing_subword_prefix", what);
    if (st == STATUS_OK) st = expect_empty_string(m, "end_of_word_suffix", what);
    if (st == STATUS_OK) st = hf_json_expect_bool(m, "byte_fallback", 0, what);
    if (st == STATUS_OK) st = hf_json_expect_bool(m, "ignore_merges", 0, what);
    if (st != STATUS_OK) return st;
    snprintf(what, sizeof what, "%s: model.vocab", path);
    st = read_vocab_object(src, cJSON_GetObjectItemCaseSensitive(m, "vocab"), what);
    if (st != STATUS_OK) return st;

    char *merges_what = src->merges_what;
    snprintf(merges_what, sizeof src->merges_what, "%s: model.merges", path);
    src->merges_file = merges_what;
    const cJSON *merges = cJSON_GetObjectItemCaseSensitive(m, "merges");
    if (!cJSON_IsArray(merges))
        return status_fail(STATUS_ERR_FORMAT, "%s: expected an array", merges_what);
    size_t index = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, merges) {
        if (cJSON_IsString(item)) {
            // Older layout: "a b", exactly one space.
            const char *s = item->valuestring;
            const char *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' '))
                return status_fail(STATUS_ERR_FORMAT,
                                   "%s[%zu]: \"%s\": expected two tokens separated by one space",
                                   merges_what, index, s);
            st = source_merge(src, s, (size_t)(sp - s), sp + 1, strlen(sp + 1), index);
        } else if (cJSON_IsArray(item) && cJSON_GetArraySize(item) == 2 &&
                   cJSON_IsString(cJSON_GetArrayItem(item, 0)) &&
                   cJSON_IsString(cJSON_GetArrayItem(item, 1))) {
            const char *a = cJSON_GetArrayItem(item, 0)->valuestring;
            const char *b = cJSON_GetArrayItem(item, 1)->valuestring;
            st = source_merge(src, a, strlen(a), b, strlen(b), index);
        } else {
            return status_fail(STATUS_ERR_FORMAT, "%s[%zu]: expected \"a b\" or [\"a\", \"b\"]",
                               merges_what, index);
        }
        if (st != STATUS_OK) return st;
        index++;
    }

    const cJSON *norm = cJSON_GetObjectItemCaseSensitive(root, "normalizer");
    t->nfc = 0;
    if (norm && !cJSON_IsNull(norm)) {
        snprintf(what, sizeof what, "%s: normalizer", path);
        st = hf_json_component_type(norm, what, &type);
        if (st != STATUS_OK) return st;
        if (strcmp(type, "NFC") != 0)
            return status_fail(STATUS_ERR_UNSUPPORTED,
                               "%s: type '%s' is not supported (expected NFC or null)", what, type);
        t->nfc = 1;
    }
    st = check_pre_tokenizer(root, path);
    if (st == STATUS_OK) st = check_byte_level_or_null(root, "post_processor", path);
    if (st == STATUS_OK) st = check_byte_level_or_null(root, "decoder", path);
    if (st != STATUS_OK) return st;
    const char *unset[2] = {"truncation", "padding"};
    for (int i = 0; i < 2; i++) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(root, unset[i]);
        if (c && !cJSON_IsNull(c))
            return status_fail(STATUS_ERR_UNSUPPORTED,
                               "%s: '%s' is set; not supported (expected null: callers truncate "
                               "explicitly)",
                               path, unset[i]);
    }

    const cJSON *added = cJSON_GetObjectItemCaseSensitive(root, "added_tokens");
    snprintf(what, sizeof what, "%s: added_tokens", path);
    if (added && !cJSON_IsNull(added)) {
        if (!cJSON_IsArray(added))
            return status_fail(STATUS_ERR_FORMAT, "%s: expected an array", what);
        size_t i = 0;
        cJSON_ArrayForEach(item, added) {
            char iwhat[4300];
            snprintf(iwhat, sizeof iwhat, "%s[%zu]", what, i++);
            int64_t id;
            st = json_get_int(item, "id", iwhat, &id);
            if (st == STATUS_OK) st = read_added(src, item, iwhat, id);
            if (st != STATUS_OK) return st;
        }
    }
    return STATUS_OK;
}

// merges.txt: "#version..." first line skipped, then "a b" per line.
static status read_merges_txt(bpe_source *src, const char *path, char *text, size_t len) {
    size_t line = 0, i = 0;
    while (i < len) {
        char *start = text + i;
        char *nl = memchr(start, '\n', len - i);
        size_t n = nl ? (size_t)(nl - start) : len - i;
        i += n + (nl ? 1 : 0);
        line++;
        if (n > 0 && start[n - 1] == '\r') n--;
        if (line == 1 && n >= 8 && memcmp(start, "#version", 8) == 0) continue;
        char *sp = memchr(start, ' ', n);
        if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - start)) || sp == start ||
            sp + 1 == start + n)
            return status_fail(STATUS_ERR_FORMAT,
                               "%s: line %zu \"%.*s\": expected two tokens separated by one space",
                               path, line, (int)(n > 80 ? 80 : n), start);
        // Terminate both parts in place (the buffer outlives the build).
        *sp = '\0';
        start[n] = '\0';
        int dummy;
        if (utf8_validate(start, n, &dummy) != STATUS_OK) {
            *sp = ' ';
            return status_fail(STATUS_ERR_FORMAT, "%s: line %zu is not valid UTF-8", path, line);
        }
        status st = source_merge(src, start, (size_t)(sp - start), sp + 1,
                                 n - (size_t)(sp + 1 - start), line);
        if (st != STATUS_OK) return st;
    }
    return STATUS_OK;
}

// tokenizer_config.json: the added_tokens_decoder (id -> token), in id order as
// transformers adds them.
static status read_tokenizer_config(bpe_source *src, const char *path, cJSON **keep) {
    if (!hf_file_exists(path)) return STATUS_OK;
    status st = json_file_parse(path, keep);
    if (st != STATUS_OK) return st;
    const cJSON *root = *keep;
    if (!cJSON_IsObject(root))
        return status_fail(STATUS_ERR_FORMAT, "%s: expected a JSON object", path);
    st = hf_json_expect_bool(root, "add_prefix_space", 0, path);
    if (st == STATUS_OK) st = hf_json_expect_bool(root, "split_special_tokens", 0, path);
    if (st != STATUS_OK) return st;
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(root, "added_tokens_decoder");
    if (!dec || cJSON_IsNull(dec)) return STATUS_OK;
    char what[4300];
    snprintf(what, sizeof what, "%s: added_tokens_decoder", path);
    if (!cJSON_IsObject(dec)) return status_fail(STATUS_ERR_FORMAT, "%s: expected an object", what);
    const cJSON *item;
    cJSON_ArrayForEach(item, dec) {
        char *end;
        errno = 0;
        long long id = strtoll(item->string, &end, 10);
        if (end == item->string || *end || errno || id < 0)
            return status_fail(STATUS_ERR_FORMAT, "%s: key '%s': expected a token id", what,
                               item->string);
        char iwhat[4400];
        snprintf(iwhat, sizeof iwhat, "%s['%s']", what, item->string);
        st = read_added(src, item, iwhat, id);
        if (st != STATUS_OK) return st;
    }
    // Stable insertion sort by id (the list is short).
    for (size_t i = 1; i < src->n_added; i++) {
        added_entry a = src->added[i];
        size_t j = i;
        while (j > 0 && src->added[j - 1].id > a.id) {
            src->added[j] = src->added[j - 1];
            j--;
        }
        src->added[j] = a;
    }
    for (size_t i = 1; i < src->n_added; i++)
        if (src->added[i].id == src->added[i - 1].id)
            return status_fail(STATUS_ERR_FORMAT, "%s: id %lld appears twice", what,
                               (long long)src->added[i].id);
    return STATUS_OK;
}

status bpe_load(bpe *t, const char *model_dir) {
    memset(t, 0, sizeof *t);
    t->added.unit = 1; // added tokens are matched in the UTF-8 bytes
    struct stat sb;
    if (stat(model_dir, &sb) != 0)
        return status_fail(STATUS_ERR_IO, "%s: cannot open model folder: %s", model_dir,
                           strerror(errno));
    if (!S_ISDIR(sb.st_mode))
        return status_fail(STATUS_ERR_IO, "%s: not a folder (expected a model folder)", model_dir);
    bpe_source src = {0};
    cJSON *json = NULL, *config = NULL, *vocab_json = NULL;
    char *merges_text = NULL;
    char merges_path[4200], config_path[4200];
    status st;
    hf_path_join(t->source, sizeof t->source, model_dir, "tokenizer.json");
    if (hf_file_exists(t->source)) {
        st = load_tokenizer_json(t, &src, t->source, &json);
    } else {
        hf_path_join(t->source, sizeof t->source, model_dir, "vocab.json");
        hf_path_join(merges_path, sizeof merges_path, model_dir, "merges.txt");
        hf_path_join(config_path, sizeof config_path, model_dir, "tokenizer_config.json");
        src.vocab_file = t->source;
        src.merges_file = merges_path;
        src.added_file = config_path;
        src.merges_lines = 1;
        t->nfc = 1; // transformers' Qwen2Converter: NFC + the Qwen2 regex
        if (!hf_file_exists(t->source) || !hf_file_exists(merges_path)) {
            st = status_fail(STATUS_ERR_IO,
                             "%s: no tokenizer.json, and %s missing (expected tokenizer.json or "
                             "vocab.json + merges.txt)",
                             model_dir, hf_file_exists(t->source) ? "merges.txt" : "vocab.json");
        } else {
            size_t merges_len;
            st = json_file_parse(t->source, &vocab_json);
            if (st == STATUS_OK) st = read_vocab_object(&src, vocab_json, t->source);
            if (st == STATUS_OK) st = file_read_all(merges_path, &merges_text, &merges_len);
            if (st == STATUS_OK) st = read_merges_txt(&src, merges_path, merges_text, merges_len);
            if (st == STATUS_OK) st = read_tokenizer_config(&src, config_path, &config);
        }
    }
    if (st == STATUS_OK) st = build_tables(t, &src);
    source_free(&src);
    cJSON_Delete(json);
    cJSON_Delete(config);
    cJSON_Delete(vocab_json);
    free(merges_text);
    if (st != STATUS_OK) bpe_free(t);
    return st;
}

void bpe_free(bpe *t) {
    strmap_free(&t->vocab);
    mem_free(t->id_to_token);
    mem_free(t->token_len);
    mem_free(t->token_blob);
    mem_free(t->merges);
    hf_added_matcher_free(&t->added);
    memset(t, 0, sizeof *t);
    t->added.unit = 1;
}

const char *bpe_id_to_token(const bpe *t, int32_t id) {
    if (id < 0 || (size_t)id >= t->vocab_size) return NULL;
    return t->id_to_token[id];
}

int bpe_token_to_id(const bpe *t, const char *token, size_t len, int32_t *id) {
    int64_t v;
    if (!strmap_get(&t->vocab, token, len, &v)) return 0;
    if (id) *id = (int32_t)v;
    return 1;
}

// ---------------------------------------------------------------------------
// Encoding

void bpe_encoding_free(bpe_encoding *e) {
    free(e->ids);
    free(e->norm);
    free(e->cps);
    free(e->sym);
    free(e->heap);
    free(e->cache_hash);
    free(e->cache_at);
    free(e->cache_pool);
    memset(e, 0, sizeof *e);
}

// Grows the malloc'd array `ptr` (capacity `capv` items) to hold `need` items,
// doubling; returns STATUS_ERR_NOMEM from the calling function on failure.
#define GROW(ptr, capv, need, what)                                                                \
    do {                                                                                           \
        if ((need) > (capv)) {                                                                     \
            size_t c_ = (capv) ? (capv) : 64;                                                      \
            while (c_ < (need))                                                                    \
                c_ *= 2;                                                                           \
            void *p_ = realloc((ptr), c_ * sizeof *(ptr));                                         \
            if (!p_)                                                                               \
                return status_fail(STATUS_ERR_NOMEM, "%s of %zu items: out of memory", what, c_);  \
            (ptr) = p_;                                                                            \
            (capv) = c_;                                                                           \
        }                                                                                          \
    } while (0)

static status enc_push(bpe_encoding *e, int32_t id) {
    GROW(e->ids, e->cap, e->len + 1, "encoding");
    e->ids[e->len++] = id;
    return STATUS_OK;
}

// Min-heap on (rank, pos): HF's BinaryHeap of merges pops the lowest rank,
// then the leftmost position.
static inline int heap_less(const bpe_heap_item *a, const bpe_heap_item *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->pos < b->pos);
}

static void heap_push(bpe_heap_item *h, size_t *n, bpe_heap_item x) {
    size_t i = (*n)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!heap_less(&x, &h[parent])) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = x;
}

static bpe_heap_item heap_pop(bpe_heap_item *h, size_t *n) {
    bpe_heap_item top = h[0];
    bpe_heap_item x = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && heap_less(&h[c + 1], &h[c])) c++;
        if (!heap_less(&h[c], &x)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0) h[i] = x;
    return top;
}

// BPE of one pre-tokenized piece (its raw bytes), appended to e->ids. This is
// HF's Word::merge_all: every adjacent pair with a merge goes into a heap;
// the lowest rank (then leftmost) is applied unless outdated, and the pairs
// it forms with its neighbours are pushed.
static status bpe_merge_word(const bpe *t, bpe_encoding *e, const unsigned char *w, size_t n) {
    GROW(e->sym, e->sym_cap, n, "word");
    // Each merge pops one entry and pushes at most two: 3n bounds the heap.
    GROW(e->heap, e->heap_cap, 3 * n, "word");
    bpe_symbol *sym = e->sym;
    bpe_heap_item *heap = e->heap;
    size_t nheap = 0;
    for (size_t i = 0; i < n; i++)
        sym[i] = (bpe_symbol){t->byte_id[w[i]], (int32_t)i - 1, i + 1 < n ? (int32_t)i + 1 : -1, 1};
    for (size_t i = 0; i + 1 < n; i++) {
        const bpe_merge_slot *m = merge_find(t, sym[i].id, sym[i + 1].id);
        if (m) heap_push(heap, &nheap, (bpe_heap_item){m->rank, (uint32_t)i, m->id});
    }
    while (nheap > 0) {
        bpe_heap_item top = heap_pop(heap, &nheap);
        bpe_symbol *cur = &sym[top.pos];
        if (cur->len == 0 || cur->next < 0) continue;
        bpe_symbol *right = &sym[cur->next];
        const bpe_merge_slot *m = merge_find(t, cur->id, right->id);
        if (!m || m->id != top.id) continue; // outdated entry
        cur->id = top.id;
        cur->len += right->len;
        cur->next = right->next;
        right->len = 0;
        if (cur->next >= 0) sym[cur->next].prev = (int32_t)top.pos;
        if (cur->prev >= 0) {
            m = merge_find(t, sym[cur->prev].id, cur->id);
            if (m) heap_push(heap, &nheap, (bpe_heap_item){m->rank, (uint32_t)cur->prev, m->id});
        }
        if (cur->next >= 0) {
            m = merge_find(t, cur->id, sym[cur->next].id);
            if (m) heap_push(heap, &nheap, (bpe_heap_item){m->rank, top.pos, m->id});
        }
    }
    for (int32_t i = 0; i >= 0; i = sym[i].next) {
        status st = enc_push(e, sym[i].id);
        if (st != STATUS_OK) return st;
    }
    return STATUS_OK;
}

// Word cache: most pieces of a text repeat (" the", " of", ...), and the
// merge loop is most of the encoding time. Entries live in a pool of uint32
// words: byte length, id count, the bytes (padded to 4), the ids. Only short
// pieces are cached; when full, the cache is emptied and starts over.
#define CACHE_SLOTS       32768 // power of two
#define CACHE_MAX_ENTRIES 16384
#define CACHE_MAX_BYTES   64

static uint64_t hash_bytes(const unsigned char *w, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ w[i]) * 1099511628211ull;
    return h | 1; // 0 marks an empty slot
}

static status bpe_word(const bpe *t, bpe_encoding *e, const unsigned char *w, size_t n) {
    if (n == 1) return enc_push(e, t->byte_id[w[0]]);
    if (n > CACHE_MAX_BYTES) return bpe_merge_word(t, e, w, n);
    if (!e->cache_hash) {
        e->cache_hash = calloc(CACHE_SLOTS, sizeof *e->cache_hash);
        e->cache_at = calloc(CACHE_SLOTS, sizeof *e->cache_at);
        if (!e->cache_hash || !e->cache_at) {
            free(e->cache_hash);
            free(e->cache_at);
            e->cache_hash = NULL;
            e->cache_at = NULL;
            return status_fail(STATUS_ERR_NOMEM, "word cache: out of memory");
        }
        e->cache_cap = CACHE_SLOTS;
    }
    uint64_t h = hash_bytes(w, n);
    size_t mask = CACHE_SLOTS - 1, i = (size_t)h & mask;
    size_t words = (n + 3) / 4;
    for (; e->cache_hash[i]; i = (i + 1) & mask) {
        if (e->cache_hash[i] != h) continue;
        const uint32_t *entry = e->cache_pool + e->cache_at[i];
        if (entry[0] != n || memcmp(entry + 2, w, n) != 0) continue;
        size_t k = entry[1];
        GROW(e->ids, e->cap, e->len + k, "encoding");
        memcpy(e->ids + e->len, entry + 2 + words, k * sizeof *e->ids);
        e->len += k;
        return STATUS_OK;
    }
    size_t first = e->len;
    status st = bpe_merge_word(t, e, w, n);
    if (st != STATUS_OK) return st;
    size_t k = e->len - first;
    if (e->cache_count >= CACHE_MAX_ENTRIES) {
        memset(e->cache_hash, 0, CACHE_SLOTS * sizeof *e->cache_hash);
        e->cache_count = 0;
        e->pool_len = 0;
        i = (size_t)h & mask;
    }
    GROW(e->cache_pool, e->pool_cap, e->pool_len + 2 + words + k, "word cache");
    uint32_t *entry = e->cache_pool + e->pool_len;
    entry[0] = (uint32_t)n;
    entry[1] = (uint32_t)k;
    entry[1 + words] = 0; // padding bytes
    memcpy(entry + 2, w, n);
    memcpy(entry + 2 + words, e->ids + first, k * sizeof *e->ids);
    e->cache_hash[i] = h;
    e->cache_at[i] = (uint32_t)e->pool_len;
    e->pool_len += 2 + words + k;
    e->cache_count++;
    return STATUS_OK;
}

// Pre-tokenizes s[0..n) (normalized) and appends the BPE ids of each piece.
// Stops once more than `limit` ids were appended since `base`.
static status encode_pieces(const bpe *t, bpe_encoding *e, const char *s, size_t n, size_t base,
                            size_t limit) {
    size_t pos = 0;
    while (pos < n) {
        size_t end = bpe_piece_end(s, n, pos);
        status st = bpe_word(t, e, (const unsigned char *)s + pos, end - pos);
        if (st != STATUS_OK) return st;
        if (e->len - base > limit) return STATUS_OK;
        pos = end;
    }
    return STATUS_OK;
}

// Appends the NFC of s[0..n) to e->norm at *at.
static status nfc_append(bpe_encoding *e, const char *s, size_t n, size_t *at) {
    const utf8proc_option_t opt = UTF8PROC_STABLE | UTF8PROC_COMPOSE;
    utf8proc_ssize_t m;
    for (;;) {
        m = utf8proc_decompose((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, e->cps,
                               (utf8proc_ssize_t)e->cps_cap, opt);
        if (m < 0) return status_fail(STATUS_ERR_ARG, "NFC: %s", utf8proc_errmsg(m));
        if ((size_t)m <= e->cps_cap) break;
        GROW(e->cps, e->cps_cap, (size_t)m, "NFC buffer");
    }
    m = utf8proc_normalize_utf32(e->cps, m, opt);
    if (m < 0) return status_fail(STATUS_ERR_ARG, "NFC: %s", utf8proc_errmsg(m));
    GROW(e->norm, e->norm_cap, *at + 4 * (size_t)m + 1, "NFC buffer");
    for (utf8proc_ssize_t i = 0; i < m; i++)
        *at += utf8_put(e->cps[i], e->norm + *at);
    return STATUS_OK;
}

// NFC of s[0..n) into e->norm (or s itself when nothing can change).
//
// One quirk of HF's tables is kept: U+11935 U+11930 (Dives Akuru) is not
// composed to U+11938 (which stays as it is), where utf8proc composes it.
// U+11930 is a starter that composes with nothing else, so normalizing the
// text on either side of such a pair separately gives HF's result.
static status nfc_segment(const bpe *t, bpe_encoding *e, const char *s, size_t n, int high,
                          const char **out, size_t *out_len) {
    *out = s;
    *out_len = n;
    if (!t->nfc || !high || n == 0) return STATUS_OK;
    static const char pair[] = "\xF0\x91\xA4\xB5\xF0\x91\xA4\xB0"; // U+11935 U+11930
    size_t at = 0, done = 0;
    for (;;) {
        const char *hit = memmem(s + done, n - done, pair, 8);
        size_t stop = hit ? (size_t)(hit - s) + 4 : n;
        status st = nfc_append(e, s + done, stop - done, &at);
        if (st != STATUS_OK) return st;
        done = stop;
        if (!hit) break;
    }
    *out = e->norm;
    *out_len = at;
    return STATUS_OK;
}

// One stretch of raw text between unnormalized added tokens: NFC, then the
// normalized added tokens, then pre-tokenizer + BPE in between.
static status encode_segment(const bpe *t, bpe_encoding *e, const char *raw, size_t raw_len,
                             int high, size_t base, size_t limit) {
    const char *s;
    size_t n;
    status st = nfc_segment(t, e, raw, raw_len, high, &s, &n);
    if (st != STATUS_OK) return st;
    size_t pos = 0, done = 0, ms, me;
    int32_t id;
    while (hf_added_next(&t->added, 1, s, n, &pos, done, &ms, &me, &id)) {
        st = encode_pieces(t, e, s + done, ms - done, base, limit);
        if (st != STATUS_OK || e->len - base > limit) return st;
        st = enc_push(e, id);
        if (st != STATUS_OK || e->len - base > limit) return st;
        done = me;
    }
    return encode_pieces(t, e, s + done, n - done, base, limit);
}

// Appends the ids of one text; stops early once more than `limit` were
// appended (the caller truncates).
static status encode_append(const bpe *t, bpe_encoding *e, const char *text, size_t len,
                            size_t limit) {
    int high;
    status st = utf8_validate(text, len, &high);
    if (st != STATUS_OK) return st;
    size_t base = e->len, pos = 0, done = 0, ms, me;
    int32_t id;
    while (hf_added_next(&t->added, 0, text, len, &pos, done, &ms, &me, &id)) {
        st = encode_segment(t, e, text + done, ms - done, high, base, limit);
        if (st != STATUS_OK || e->len - base > limit) return st;
        st = enc_push(e, id);
        if (st != STATUS_OK || e->len - base > limit) return st;
        done = me;
    }
    return encode_segment(t, e, text + done, len - done, high, base, limit);
}

status bpe_encode_limit(const bpe *t, const char *text, size_t len, size_t max_tokens,
                        bpe_encoding *out) {
    out->len = 0;
    out->truncated = 0;
    size_t limit = max_tokens < SIZE_MAX ? max_tokens : SIZE_MAX - 1;
    status st = encode_append(t, out, text, len, limit);
    if (st != STATUS_OK) {
        out->len = 0;
        return st;
    }
    if (out->len > max_tokens) {
        out->len = max_tokens;
        out->truncated = 1;
    }
    return STATUS_OK;
}

status bpe_encode(const bpe *t, const char *text, size_t len, bpe_encoding *out) {
    return bpe_encode_limit(t, text, len, SIZE_MAX - 1, out);
}

// ---------------------------------------------------------------------------
// Decoding

status bpe_decode(const bpe *t, const int32_t *ids, size_t n, char **text, size_t *len) {
    *text = NULL;
    *len = 0;
    size_t cap = 1;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || (size_t)ids[i] >= t->vocab_size || !t->id_to_token[ids[i]])
            return status_fail(STATUS_ERR_ARG, "decode: id %d (position %zu) has no token", ids[i],
                               i);
        cap += t->token_len[ids[i]];
    }
    // ByteLevel decoder: each token's characters back to bytes; a token with a
    // character outside the alphabet (an added token such as "<|im_end|>"
    // only has ASCII ones, which are in it) contributes its own UTF-8 bytes.
    unsigned char *bytes = malloc(cap);
    if (!bytes) return status_fail(STATUS_ERR_NOMEM, "decode of %zu ids: out of memory", n);
    size_t nb = 0;
    for (size_t i = 0; i < n; i++) {
        const unsigned char *tok = (const unsigned char *)t->id_to_token[ids[i]];
        size_t tl = t->token_len[ids[i]], start = nb, j = 0;
        int raw = 0;
        while (j < tl) {
            int32_t c = hf_utf8_next(tok, &j);
            int b = cp_to_byte(c);
            if (b < 0) {
                raw = 1;
                break;
            }
            bytes[nb++] = (unsigned char)b;
        }
        if (raw) {
            memcpy(bytes + start, tok, tl);
            nb = start + tl;
        }
    }
    // String::from_utf8_lossy: each maximal invalid subpart (1..3 bytes)
    // becomes U+FFFD (3 bytes).
    char *out = malloc(3 * nb + 1);
    if (!out) {
        free(bytes);
        return status_fail(STATUS_ERR_NOMEM, "decode of %zu ids: out of memory", n);
    }
    size_t o = 0;
    for (size_t i = 0; i < nb;) {
        int32_t c;
        int k = utf8_char(bytes, nb, i, &c);
        if (k > 0) {
            memcpy(out + o, bytes + i, (size_t)k);
            o += (size_t)k;
            i += (size_t)k;
        } else {
            out[o++] = (char)0xEF;
            out[o++] = (char)0xBF;
            out[o++] = (char)0xBD;
            i += (size_t)(-k);
        }
    }
    free(bytes);
    out[o] = '\0';
    *text = out;
    *len = o;
    return STATUS_OK;
}
