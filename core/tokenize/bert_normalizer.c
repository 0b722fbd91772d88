#include "tokenize/bert_normalizer.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

typedef struct {
    int32_t lo, hi;
} cp_range;

// The exception tables below list where HF's effective Unicode data differs
// from utf8proc 2.8 (Unicode 15.0). They were derived by running every code
// point through the npm `tokenizers` 0.23.2 normalizer and pre-tokenizer; most
// entries are characters assigned or re-categorised after Unicode 8.0, which
// HF's unicode_categories tables predate.

// utf8proc says P*, HF's tables do not know these as punctuation.
static const cp_range hf_not_punct[] = {
    {0x061D, 0x061D},   {0x09FD, 0x09FD},   {0x0A76, 0x0A76},   {0x0C77, 0x0C77},
    {0x0C84, 0x0C84},   {0x1B7D, 0x1B7E},   {0x2E43, 0x2E4F},   {0x2E52, 0x2E5D},
    {0x10EAD, 0x10EAD}, {0x10F55, 0x10F59}, {0x10F86, 0x10F89}, {0x1144B, 0x1144F},
    {0x1145A, 0x1145B}, {0x1145D, 0x1145D}, {0x11660, 0x1166C}, {0x116B9, 0x116B9},
    {0x1183B, 0x1183B}, {0x11944, 0x11946}, {0x119E2, 0x119E2}, {0x11A3F, 0x11A46},
    {0x11A9A, 0x11A9C}, {0x11A9E, 0x11AA2}, {0x11B00, 0x11B09}, {0x11C41, 0x11C45},
    {0x11C70, 0x11C71}, {0x11EF7, 0x11EF8}, {0x11F43, 0x11F4F}, {0x11FFF, 0x11FFF},
    {0x12FF1, 0x12FF2}, {0x16E97, 0x16E9A}, {0x16FE2, 0x16FE2}, {0x1E95E, 0x1E95F},
};

// Punctuation (Po) in Unicode 8.0, re-categorised since.
static const cp_range hf_extra_punct[] = {{0x166D, 0x166D}, {0x111C9, 0x111C9}};

// utf8proc says Mn, HF keeps them when stripping accents.
static const cp_range hf_not_mn[] = {
    {0x07FD, 0x07FD},   {0x0898, 0x089F},   {0x08CA, 0x08E1},   {0x09FE, 0x09FE},
    {0x0AFA, 0x0AFF},   {0x0B55, 0x0B55},   {0x0C04, 0x0C04},   {0x0C3C, 0x0C3C},
    {0x0D00, 0x0D00},   {0x0D3B, 0x0D3C},   {0x0D81, 0x0D81},   {0x0EBA, 0x0EBA},
    {0x0ECE, 0x0ECE},   {0x180F, 0x180F},   {0x1885, 0x1886},   {0x1ABF, 0x1ACE},
    {0x1DF6, 0x1DFB},   {0xA82C, 0xA82C},   {0xA8C5, 0xA8C5},   {0xA8FF, 0xA8FF},
    {0xA9BD, 0xA9BD},   {0x10D24, 0x10D27}, {0x10EAB, 0x10EAC}, {0x10EFD, 0x10EFF},
    {0x10F46, 0x10F50}, {0x10F82, 0x10F85}, {0x11070, 0x11070}, {0x11073, 0x11074},
    {0x110C2, 0x110C2}, {0x111C9, 0x111C9}, {0x111CF, 0x111CF}, {0x1123E, 0x1123E},
    {0x11241, 0x11241}, {0x1133B, 0x1133B}, {0x11438, 0x1143F}, {0x11442, 0x11444},
    {0x11446, 0x11446}, {0x1145E, 0x1145E}, {0x1182F, 0x11837}, {0x11839, 0x1183A},
    {0x1193B, 0x1193C}, {0x1193E, 0x1193E}, {0x11943, 0x11943}, {0x119D4, 0x119D7},
    {0x119DA, 0x119DB}, {0x119E0, 0x119E0}, {0x11A01, 0x11A0A}, {0x11A33, 0x11A38},
    {0x11A3B, 0x11A3E}, {0x11A47, 0x11A47}, {0x11A51, 0x11A56}, {0x11A59, 0x11A5B},
    {0x11A8A, 0x11A96}, {0x11A98, 0x11A99}, {0x11C30, 0x11C36}, {0x11C38, 0x11C3D},
    {0x11C3F, 0x11C3F}, {0x11C92, 0x11CA7}, {0x11CAA, 0x11CB0}, {0x11CB2, 0x11CB3},
    {0x11CB5, 0x11CB6}, {0x11D31, 0x11D36}, {0x11D3A, 0x11D3A}, {0x11D3C, 0x11D3D},
    {0x11D3F, 0x11D45}, {0x11D47, 0x11D47}, {0x11D90, 0x11D91}, {0x11D95, 0x11D95},
    {0x11D97, 0x11D97}, {0x11EF3, 0x11EF4}, {0x11F00, 0x11F01}, {0x11F36, 0x11F3A},
    {0x11F40, 0x11F40}, {0x11F42, 0x11F42}, {0x13440, 0x13440}, {0x13447, 0x13455},
    {0x16F4F, 0x16F4F}, {0x16FE4, 0x16FE4}, {0x1CF00, 0x1CF2D}, {0x1CF30, 0x1CF46},
    {0x1E000, 0x1E006}, {0x1E008, 0x1E018}, {0x1E01B, 0x1E021}, {0x1E023, 0x1E024},
    {0x1E026, 0x1E02A}, {0x1E08F, 0x1E08F}, {0x1E130, 0x1E136}, {0x1E2AE, 0x1E2AE},
    {0x1E2EC, 0x1E2EF}, {0x1E4EC, 0x1E4EF}, {0x1E944, 0x1E94A},
};

// Mn in Unicode 8.0 (Mc today): HF still strips it.
static const cp_range hf_extra_mn[] = {{0x1734, 0x1734}};

// utf8proc says Cf, HF's tables predate them and keep them.
static const cp_range hf_not_control[] = {
    {0x0890, 0x0891}, {0x08E2, 0x08E2}, {0x110CD, 0x110CD}, {0x13430, 0x1343F}};

// Canonical decompositions added after HF's NFD tables.
static const cp_range hf_no_decomposition[] = {{0x11938, 0x11938}};

// Lowercase mappings of Unicode 16.0 (Rust std) that utf8proc 2.8 lacks:
// lo..hi map to c + delta.
static const struct {
    int32_t lo, hi, delta;
} hf_extra_lower[] = {
    {0x1C89, 0x1C89, 1},      {0xA7CB, 0xA7CB, 0x0264 - 0xA7CB},
    {0xA7CC, 0xA7CC, 1},      {0xA7CE, 0xA7CE, 1},
    {0xA7D2, 0xA7D2, 1},      {0xA7D4, 0xA7D4, 1},
    {0xA7DA, 0xA7DA, 1},      {0xA7DC, 0xA7DC, 0x019B - 0xA7DC},
    {0x10D50, 0x10D65, 0x20}, {0x16EA0, 0x16EB8, 0x1B},
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static int cp_in(const cp_range *r, size_t n, int32_t c) {
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (c < r[mid].lo) {
            hi = mid;
        } else if (c > r[mid].hi) {
            lo = mid + 1;
        } else {
            return 1;
        }
    }
    return 0;
}

void bert_codepoints_free(bert_codepoints *cps) {
    free(cps->data);
    memset(cps, 0, sizeof *cps);
}

static status cps_reserve(bert_codepoints *cps, size_t need) {
    if (need <= cps->cap) return STATUS_OK;
    size_t cap = cps->cap ? cps->cap : 64;
    while (cap < need)
        cap *= 2;
    int32_t *p = realloc(cps->data, cap * sizeof *p);
    if (!p) return status_fail(STATUS_ERR_NOMEM, "text of %zu code points: out of memory", need);
    cps->data = p;
    cps->cap = cap;
    return STATUS_OK;
}

status bert_normalizer_decode_utf8(const char *text, size_t len, bert_codepoints *out) {
    out->len = 0;
    // A code point takes at least one byte, so len bounds the count.
    status st = cps_reserve(out, len + 1);
    if (st != STATUS_OK) return st;
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)text;
    size_t i = 0;
    while (i < len) {
        if (p[i] < 0x80) {
            out->data[out->len++] = p[i++];
            continue;
        }
        utf8proc_int32_t c;
        utf8proc_ssize_t n = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &c);
        if (n <= 0)
            return status_fail(STATUS_ERR_ARG, "text is not valid UTF-8 (byte %zu of %zu)", i, len);
        out->data[out->len++] = c;
        i += (size_t)n;
    }
    return STATUS_OK;
}

size_t bert_normalizer_encode_utf8(int32_t c, char *dst) {
    return (size_t)utf8proc_encode_char(c, (utf8proc_uint8_t *)dst);
}

int bert_normalizer_is_whitespace(int32_t c) {
    if (c < 0x80) return (c >= 0x09 && c <= 0x0D) || c == 0x20;
    return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
           c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

int bert_normalizer_is_punctuation(int32_t c) {
    if (c < 0x80)
        return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
               (c >= 123 && c <= 126);
    utf8proc_category_t cat = utf8proc_category(c);
    if (cat >= UTF8PROC_CATEGORY_PC && cat <= UTF8PROC_CATEGORY_PO)
        return !cp_in(hf_not_punct, N_ELEMS(hf_not_punct), c);
    return cp_in(hf_extra_punct, N_ELEMS(hf_extra_punct), c);
}

int bert_normalizer_is_chinese(int32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2A6DF) || (c >= 0x2A700 && c <= 0x2B73F) ||
           (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

// HF's is_control: "other" categories except unassigned (Cn), \t \n \r.
static int hf_is_control(int32_t c) {
    if (c == '\t' || c == '\n' || c == '\r') return 0;
    if (c < 0x20 || c == 0x7F) return 1;
    if (c < 0xA0) return c >= 0x80;
    utf8proc_category_t cat = utf8proc_category(c);
    if (cat != UTF8PROC_CATEGORY_CC && cat != UTF8PROC_CATEGORY_CF && cat != UTF8PROC_CATEGORY_CO &&
        cat != UTF8PROC_CATEGORY_CS)
        return 0;
    return !cp_in(hf_not_control, N_ELEMS(hf_not_control), c);
}

static int hf_is_nonspacing_mark(int32_t c) {
    if (c < 0x300) return 0;
    if (utf8proc_category(c) == UTF8PROC_CATEGORY_MN)
        return !cp_in(hf_not_mn, N_ELEMS(hf_not_mn), c);
    return cp_in(hf_extra_mn, N_ELEMS(hf_extra_mn), c);
}

static int combining_class(int32_t c) {
    return c < 0x300 ? 0 : utf8proc_get_property(c)->combining_class;
}

// Lowercase of c when it is a single code point (everything but U+0130).
static int32_t lower_simple(int32_t c) {
    if (c < 0x80) return (c >= 'A' && c <= 'Z') ? c + 32 : c;
    for (size_t i = 0; i < N_ELEMS(hf_extra_lower); i++)
        if (c >= hf_extra_lower[i].lo && c <= hf_extra_lower[i].hi)
            return c + hf_extra_lower[i].delta;
    return utf8proc_tolower(c);
}

// NFD as HF's strip_accents sees it: full canonical decomposition then the
// canonical ordering of every run of combining marks.
static status nfd_into(const int32_t *in, size_t n, bert_codepoints *out) {
    out->len = 0;
    status st = cps_reserve(out, n + 16);
    if (st != STATUS_OK) return st;
    for (size_t i = 0; i < n; i++) {
        int32_t c = in[i];
        if (c < 0xC0 || cp_in(hf_no_decomposition, N_ELEMS(hf_no_decomposition), c)) {
            st = cps_reserve(out, out->len + 1);
            if (st != STATUS_OK) return st;
            out->data[out->len++] = c;
            continue;
        }
        utf8proc_int32_t d[32];
        int boundclass = 0;
        utf8proc_ssize_t k = utf8proc_decompose_char(c, d, 32, UTF8PROC_DECOMPOSE, &boundclass);
        if (k < 0 || k > 32)
            return status_fail(STATUS_ERR_ARG, "cannot decompose code point U+%04X", (unsigned)c);
        st = cps_reserve(out, out->len + (size_t)k);
        if (st != STATUS_OK) return st;
        for (utf8proc_ssize_t j = 0; j < k; j++)
            out->data[out->len++] = d[j];
    }
    // Stable insertion sort by combining class inside runs of non-starters.
    for (size_t i = 1; i < out->len; i++) {
        int ccc = combining_class(out->data[i]);
        if (ccc == 0) continue;
        int32_t c = out->data[i];
        size_t j = i;
        while (j > 0) {
            int prev = combining_class(out->data[j - 1]);
            if (prev == 0 || prev <= ccc) break;
            out->data[j] = out->data[j - 1];
            j--;
        }
        out->data[j] = c;
    }
    return STATUS_OK;
}

status bert_normalizer_apply(const bert_normalizer *norm, const int32_t *in, size_t n,
                             bert_codepoints *out) {
    // Pass 1: clean_text and handle_chinese_chars (at most 3 code points per input).
    bert_codepoints stage = {0};
    bert_codepoints *dst = norm->strip_accents ? &stage : out;
    dst->len = 0;
    status st = cps_reserve(dst, 3 * n + 1);
    if (st != STATUS_OK) goto done;
    for (size_t i = 0; i < n; i++) {
        int32_t c = in[i];
        if (norm->clean_text) {
            if (c == 0 || c == 0xFFFD || hf_is_control(c)) continue;
            if (bert_normalizer_is_whitespace(c)) c = ' ';
        }
        if (norm->handle_chinese_chars && bert_normalizer_is_chinese(c)) {
            dst->data[dst->len++] = ' ';
            dst->data[dst->len++] = c;
            dst->data[dst->len++] = ' ';
        } else {
            dst->data[dst->len++] = c;
        }
    }
    if (norm->strip_accents) {
        // Pass 2: NFD into `out`, then drop the marks in place.
        st = nfd_into(stage.data, stage.len, out);
        if (st != STATUS_OK) goto done;
        size_t w = 0;
        for (size_t i = 0; i < out->len; i++)
            if (!hf_is_nonspacing_mark(out->data[i])) out->data[w++] = out->data[i];
        out->len = w;
    }
    if (norm->lowercase) {
        // U+0130 is the only unconditional multi-character lowercase ("i" U+0307).
        size_t extra = 0;
        for (size_t i = 0; i < out->len; i++)
            extra += out->data[i] == 0x130;
        st = cps_reserve(out, out->len + extra);
        if (st != STATUS_OK) goto done;
        size_t r = out->len, w = out->len + extra;
        out->len = w;
        while (r > 0) {
            int32_t c = out->data[--r];
            if (c == 0x130) {
                out->data[--w] = 0x307;
                out->data[--w] = 'i';
            } else {
                out->data[--w] = lower_simple(c);
            }
        }
    }
done:
    bert_codepoints_free(&stage);
    return st;
}
