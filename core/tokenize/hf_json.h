/*
 * hf_json.h - the Hugging Face tokenizer.json machinery every tokenizer
 * reads the same way, in one place so that each new tokenizer
 * (SentencePiece Unigram, BPE with byte fallback, ...) reuses it instead of
 * growing its own copy:
 *   - AddedToken entries (tokenizer.json `added_tokens`, tokenizer_config.json
 *     `added_tokens_decoder`): content and flags with HF's defaults;
 *   - the split of input text on added tokens before the model runs (HF's
 *     AddedVocabulary: leftmost-longest, single_word, lstrip, rstrip), over
 *     UTF-8 bytes (byte-level BPE) or code points (WordPiece's normalizer);
 *   - components (normalizer, pre_tokenizer, post_processor, decoder): the
 *     "type" of one, and the "absent, null or this value" checks of options;
 *   - the files of a model folder.
 *
 *     hf_added_token a;
 *     if (hf_json_added_token_read(item, "tokenizer.json: added_tokens[0]", &a) != STATUS_OK) ...
 *     // a.content, a.special, a.single_word, a.lstrip, a.rstrip, a.normalized
 *
 *     hf_added_matcher m = {.unit = 1};           // text as UTF-8 bytes
 *     hf_added_matcher_add(&m, "<|im_end|>", 10, 151645, 0, 0, 0, 0);
 *     size_t pos = 0, done = 0, ms, me;
 *     int32_t id;
 *     while (hf_added_next(&m, 0, text, len, &pos, done, &ms, &me, &id)) {
 *         ... text[done..ms) is ordinary text, then the token `id` ...
 *         done = me;
 *     }
 *     hf_added_matcher_free(&m);
 *
 * Strings returned point into the parsed JSON, which the caller keeps alive.
 */
#ifndef GRATING_HF_JSON_H
#define GRATING_HF_JSON_H

#include "base/status.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

// One AddedToken as tokenizer.json states it.
typedef struct {
    const char *content; // UTF-8, into the parsed JSON
    int64_t id;          // set by the caller (stated in the entry, or the key)
    int special;         // skipped when decoding with skip_special_tokens
    int single_word;     // only match when not inside a word
    int lstrip;          // swallow the whitespace on the left
    int rstrip;          // swallow the whitespace on the right
    int normalized;      // match against the normalized text (default: !special)
} hf_added_token;

// Reads content and flags of an AddedToken object `item` (not its id, which
// callers read with their own bounds). `what` names the entry in messages.
status hf_json_added_token_read(const cJSON *item, const char *what, hf_added_token *out);

// `\w` of Rust's regex crate (Alphabetic, marks, decimal digits, connector
// punctuation, join controls): HF's word test around single_word added tokens.
int hf_is_word_char(int32_t c);

// Added tokens as matched in a text. Contents are in the text's unit.
typedef struct {
    void *content; // (n,) units, owned by the matcher
    size_t n;
    int32_t id;
    int single_word, lstrip, rstrip, normalized;
} hf_added_match;

typedef struct {
    size_t unit; // 1: UTF-8 bytes, 4: int32_t code points; set before the first add
    hf_added_match *tokens;
    size_t n_tokens, cap;
    size_t n_kind[2];      // [normalized]: tokens of each kind
    uint8_t first[2][256]; // [normalized][first unit, code points >= 255 share 255]
} hf_added_matcher;

// Adds a token (content: n units; ignored when n == 0, as HF ignores empty
// added tokens). Earlier tokens win ties between equally long matches.
status hf_added_matcher_add(hf_added_matcher *m, const void *content, size_t n, int32_t id,
                            int single_word, int lstrip, int rstrip, int normalized);
void hf_added_matcher_free(hf_added_matcher *m);

// The next added token of kind `normalized` in text[*pos..n) (n units of
// valid UTF-8 or code points), as HF's AddedVocabulary::find_matches:
// leftmost-longest, non-overlapping, a single_word match only between
// non-word characters, lstrip / rstrip widening the split over whitespace
// (never before `floor`, where the current split starts). Returns 1 with the
// split [*mstart, *mstop) and the token id, *pos after it; else 0, *pos = n.
int hf_added_next(const hf_added_matcher *m, int normalized, const void *text, size_t n,
                  size_t *pos, size_t floor, size_t *mstart, size_t *mstop, int32_t *id);

// The "type" of a component object (fails naming `what` when c is not an object).
status hf_json_component_type(const cJSON *c, const char *what, const char **type);

// Fails (STATUS_ERR_UNSUPPORTED) unless obj[key] is absent, null or the bool `want`.
status hf_json_expect_bool(const cJSON *obj, const char *key, int want, const char *what);

// dir + "/" + name into dst (cap bytes).
void hf_path_join(char *dst, size_t cap, const char *dir, const char *name);
// 1 when path is a regular file (following links).
int hf_file_exists(const char *path);

// Decodes the character at s[*i] of VALID UTF-8 (checked beforehand) and
// advances *i: the decoder byte-level BPE and the added-token matcher share.
static inline int32_t hf_utf8_next(const unsigned char *s, size_t *i) {
    unsigned c = s[*i];
    if (c < 0x80) {
        (*i)++;
        return (int32_t)c;
    }
    if (c < 0xE0) {
        int32_t v = (int32_t)((c & 0x1F) << 6 | (s[*i + 1] & 0x3F));
        *i += 2;
        return v;
    }
    if (c < 0xF0) {
        int32_t v = (int32_t)((c & 0x0F) << 12 | (s[*i + 1] & 0x3F) << 6 | (s[*i + 2] & 0x3F));
        *i += 3;
        return v;
    }
    int32_t v = (int32_t)((c & 0x07) << 18 | (s[*i + 1] & 0x3F) << 12 | (s[*i + 2] & 0x3F) << 6 |
                          (s[*i + 3] & 0x3F));
    *i += 4;
    return v;
}

#endif
