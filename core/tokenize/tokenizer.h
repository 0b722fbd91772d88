/*
 * tokenizer.h - one interface over the tokenizers of the model families: a
 * (query, document) pair in, the model's input ids out, built with the
 * model's input template and truncation rule under max_len.
 *
 * Implementations (each one file plus one line in tokenizer_registry.c):
 *   "wordpiece-bert"    WordPiece (core/tokenize/wordpiece.h), `[CLS] q [SEP] d [SEP]`,
 *                       token types 0/1, the document truncated first;
 *   "bpe-qwen3-prompt"  byte-level BPE (core/tokenize/bpe.h) inside the official
 *                       Qwen3-Reranker prompt (core/tokenize/qwen_prompt.h).
 * The Hugging Face tokenizer.json machinery they share (added and special
 * tokens, normalizers, pre-tokenizers, post-processor templates) lives in
 * core/tokenize/hf_json.h, so the next tokenizers (SentencePiece Unigram,
 * BPE with byte fallback) reuse it.
 *
 *     tokenizer t;
 *     if (tokenizer_open(&t, "wordpiece-bert", "models/demo", NULL) != STATUS_OK) ...
 *     tokenizer_encoding enc = {0};                // reusable
 *     tokenizer_encode_pair(&t, q, strlen(q), d, strlen(d), 512, &enc);
 *     // enc.ids[0 .. enc.len), enc.type_ids (zeros where the model has none)
 *     tokenizer_encoding_free(&enc);
 *     tokenizer_close(&t);
 */
#ifndef GRATING_TOKENIZER_H
#define GRATING_TOKENIZER_H

#include "base/status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct tokenizer tokenizer;

// One model input. Zero-initialise; every encode call replaces the content
// and reuses the buffers. Empty (len 0) after a failed call.
typedef struct {
    int32_t *ids;      // (len,)
    int32_t *type_ids; // (len,) zeros for models without token types
    size_t len, cap;
    size_t n_first;  // tokens of the first text (query) kept in the input
    size_t n_second; // tokens of the second text (document) kept
    int truncated;   // 1 when a text lost tokens to max_len

    // Private: the implementation's reusable buffers (so a loop allocates
    // only while texts grow), freed by tokenizer_encoding_free.
    void *scratch;
    const void *scratch_owner; // the tokenizer_ops that made scratch
    void (*scratch_free)(void *scratch);
} tokenizer_encoding;

typedef struct {
    const char *name; // registry name, e.g. "wordpiece-bert"
    // Opens the tokenizer of a Hugging Face folder. `instruction` is used by
    // instruction-following templates (NULL: their default), ignored by others.
    status (*open)(tokenizer *t, const char *dir, const char *instruction);
    void (*close)(tokenizer *t);
    // The model's input for (first, second); second == NULL: the template's
    // single-text form (BERT `[CLS] q [SEP]`, Qwen3 an empty document).
    status (*encode_pair)(const tokenizer *t, const char *first, size_t first_len,
                          const char *second, size_t second_len, size_t max_len,
                          tokenizer_encoding *enc);
    // Vocabulary entry <-> id; token_to_id returns 0 when absent.
    int (*token_to_id)(const tokenizer *t, const char *token, int32_t *id);
    const char *(*id_to_token)(const tokenizer *t, int32_t id);
    // One line on the parts of enc for listings, e.g. "query 5, document 9"
    // (`grating tokenize`); writes at most cap bytes, NUL-terminated.
    void (*describe)(const tokenizer *t, const tokenizer_encoding *enc, char *buf, size_t cap);
    size_t default_max_len; // the model card's input length (512 BERT, 8192 Qwen3)
    int has_token_types;    // 1 when type_ids carry information (BERT)
    int takes_instruction;  // 1 when open uses `instruction` (else it is refused by the CLI)
} tokenizer_ops;

struct tokenizer {
    const tokenizer_ops *ops;
    const char *source; // the file the vocabulary came from (owned by impl)
    size_t vocab_size;  // ids [0, vocab_size)
    void *impl;         // the implementation's state
};

// The implementation registered under `name`, or NULL.
const tokenizer_ops *tokenizer_find(const char *name);
// Registered implementations, NULL-terminated (for listings and tests).
const tokenizer_ops *const *tokenizer_list(void);

// Opens implementation `name` on folder `dir`. On failure nothing needs closing.
status tokenizer_open(tokenizer *t, const char *name, const char *dir, const char *instruction);
void tokenizer_close(tokenizer *t);
status tokenizer_encode_pair(const tokenizer *t, const char *first, size_t first_len,
                             const char *second, size_t second_len, size_t max_len,
                             tokenizer_encoding *enc);
int tokenizer_token_to_id(const tokenizer *t, const char *token, int32_t *id);
const char *tokenizer_id_to_token(const tokenizer *t, int32_t id);
void tokenizer_encoding_free(tokenizer_encoding *enc);
// Grows enc to hold len tokens (for implementations).
status tokenizer_encoding_reserve(tokenizer_encoding *enc, size_t len);
// enc's scratch made by `owner` (created with make / freed with free_fn on
// first use or when another implementation made the current one), or NULL
// with the status message set (for implementations).
void *tokenizer_encoding_scratch(tokenizer_encoding *enc, const void *owner, void *(*make)(void),
                                 void (*free_fn)(void *scratch));

#endif
