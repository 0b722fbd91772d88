/*
 * hf_json.h - the Hugging Face tokenizer.json machinery every tokenizer
 * reads the same way, in one place so that each new tokenizer
 * (SentencePiece Unigram, BPE with byte fallback, ...) reuses it instead of
 * growing its own copy:
 *   - AddedToken entries (tokenizer.json `added_tokens`, tokenizer_config.json
 *     `added_tokens_decoder`): content and flags with HF's defaults;
 *   - HF's word test for single_word added tokens (Rust regex `\w`), used
 *     when the text is split on added tokens before the model runs;
 *   - components (normalizer, pre_tokenizer, post_processor, decoder): the
 *     "type" of one, and the "absent, null or this value" checks of options;
 *   - the files of a model folder.
 *
 *     hf_added_token a;
 *     if (hf_json_added_token_read(item, "tokenizer.json: added_tokens[0]", &a) != STATUS_OK) ...
 *     // a.content, a.special, a.single_word, a.lstrip, a.rstrip, a.normalized
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

// The "type" of a component object (fails naming `what` when c is not an object).
status hf_json_component_type(const cJSON *c, const char *what, const char **type);

// Fails (STATUS_ERR_UNSUPPORTED) unless obj[key] is absent, null or the bool `want`.
status hf_json_expect_bool(const cJSON *obj, const char *key, int want, const char *what);

// dir + "/" + name into dst (cap bytes).
void hf_path_join(char *dst, size_t cap, const char *dir, const char *name);
// 1 when path is a regular file (following links).
int hf_file_exists(const char *path);

#endif
