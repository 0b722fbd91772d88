/*
 * bpe.h - the Qwen2/Qwen3 byte-level BPE tokenizer, id for id equal to
 * Hugging Face tokenizers: added tokens matched first in the raw text, NFC,
 * the Qwen2 pre-tokenizer regex, GPT-2's byte-to-unicode alphabet and BPE
 * merges by rank. Nothing is added around the text (Qwen's ByteLevel
 * post-processor adds no BOS/EOS); qwen_prompt.h builds the reranker input.
 *
 *     bpe tok;
 *     if (bpe_load(&tok, "models/qwen3-reranker-tokenizer") != STATUS_OK) ...
 *     bpe_encoding enc = {0};                       // reusable, grows as needed
 *     if (bpe_encode(&tok, text, strlen(text), &enc) != STATUS_OK)
 *         fprintf(stderr, "%s\n", status_message());
 *     for (size_t i = 0; i < enc.len; i++)
 *         printf("%d %s\n", enc.ids[i], bpe_id_to_token(&tok, enc.ids[i]));
 *     char *back;                                    // NFC of the input
 *     size_t back_len;
 *     if (bpe_decode(&tok, enc.ids, enc.len, &back, &back_len) == STATUS_OK) free(back);
 *     bpe_encoding_free(&enc);
 *     bpe_free(&tok);
 *
 * Loading: tokenizer.json when the folder has one (model BPE with vocab and
 * merges as "a b" strings or ["a", "b"] pairs, no dropout, no subword
 * prefix/suffix, byte_fallback and ignore_merges false; normalizer NFC or
 * null; pre_tokenizer Sequence[Split(Qwen2 regex, Isolated), ByteLevel(
 * add_prefix_space false, use_regex false)]; post_processor and decoder
 * ByteLevel or null; added_tokens), else vocab.json + merges.txt (a first
 * line "#version..." skipped) + the `added_tokens_decoder` of
 * tokenizer_config.json, with the NFC normalizer and the Qwen2 regex that
 * transformers' Qwen2 converter implies. Other components fail with
 * STATUS_ERR_UNSUPPORTED naming them. The vocabulary must hold the 256 byte
 * symbols; every merge's parts and result must be in it; ids are unique.
 * Added tokens get the ids HF gives them (their vocabulary id, else the next
 * id after the vocabulary, in file order); a file whose stated id differs is
 * rejected rather than silently renumbered.
 *
 * The pre-tokenizer regex
 *     (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}|
 *      ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * is a hand-written matcher (bpe_piece_end) over character classes taken from
 * utf8proc plus small exception tables for the code points where HF's regex
 * engine (Oniguruma, Unicode 16 tables) and utf8proc 2.8 (Unicode 15.0)
 * disagree; tests/golden/bpe/codepoints.tsv checks every code point.
 *
 * Texts are UTF-8 with an explicit length (U+0000 allowed); invalid UTF-8
 * fails with STATUS_ERR_ARG. A loaded bpe is read-only, so threads may share
 * it, each with its own bpe_encoding.
 */
#ifndef GRATING_BPE_H
#define GRATING_BPE_H

#include "base/status.h"
#include "base/strmap.h"
#include "tokenize/hf_json.h"

#include <stddef.h>
#include <stdint.h>

// One (left, right) -> merged entry of the merge table (private).
typedef struct {
    uint64_t key; // left id << 32 | right id; UINT64_MAX = empty slot
    uint32_t rank;
    int32_t id;
} bpe_merge_slot;

typedef struct {
    // Read-only after bpe_load.
    size_t vocab_size;     // number of ids with the added tokens (largest id + 1): 151669
    size_t n_model_tokens; // ids of the BPE model itself: 151643
    size_t n_merges;
    size_t n_added;
    char source[4096]; // the file the vocabulary came from (for messages)

    // Private.
    int nfc;                // normalizer NFC (else none)
    strmap vocab;           // token -> id, model entries and added tokens
    char **id_to_token;     // (vocab_size,) NULL for ids without a token
    uint32_t *token_len;    // (vocab_size,)
    char *token_blob;       // NUL-separated token strings id_to_token points into
    int32_t byte_id[256];   // id of each byte's symbol
    bpe_merge_slot *merges; // open addressing, merge_mask + 1 slots
    size_t merge_mask;
    // Tokens matched in the text before BPE runs (e.g. "<|im_end|>"), UTF-8
    // (the NFC form when normalized); n_added of them.
    hf_added_matcher added;
} bpe;

// Per-encoding scratch for the BPE merge loop (private).
typedef struct {
    int32_t id;
    int32_t prev, next;
    uint32_t len; // bytes covered; 0 = merged into its left neighbour
} bpe_symbol;

typedef struct {
    uint32_t rank;
    uint32_t pos;
    int32_t id;
} bpe_heap_item;

// One encoded text. Zero-initialise it; every encode call replaces its
// content and reuses its buffers. After a failed call it is empty (len 0).
typedef struct {
    int32_t *ids; // (len,)
    size_t len;
    int truncated; // 1 when bpe_encode_limit cut tokens off

    // Private: capacity and scratch.
    size_t cap;
    char *norm; // NFC of one segment
    size_t norm_cap;
    int32_t *cps; // code points for utf8proc
    size_t cps_cap;
    bpe_symbol *sym;
    size_t sym_cap;
    bpe_heap_item *heap;
    size_t heap_cap;
    // Word cache: piece bytes -> ids (private to this encoding, so threads
    // sharing a bpe never write to common memory).
    uint64_t *cache_hash; // (cache_cap,) 0 = empty
    uint32_t *cache_at;   // (cache_cap,) offset into cache_pool: bytes len, ids len, bytes, ids
    size_t cache_cap, cache_count;
    uint32_t *cache_pool;
    size_t pool_len, pool_cap;
} bpe_encoding;

// Loads the tokenizer of a Hugging Face model folder (see the top of this file).
status bpe_load(bpe *tok, const char *model_dir);
void bpe_free(bpe *tok);

// The ids of `text` (no special tokens added, no truncation).
status bpe_encode(const bpe *tok, const char *text, size_t len, bpe_encoding *out);

// As bpe_encode, keeping only the first `max_tokens` ids (HF's right
// truncation of a single sequence); sets out->truncated when ids were cut.
// Stops tokenizing once the limit is passed, so long documents are cheap.
status bpe_encode_limit(const bpe *tok, const char *text, size_t len, size_t max_tokens,
                        bpe_encoding *out);

void bpe_encoding_free(bpe_encoding *enc);

// The UTF-8 text of `ids` as HF's ByteLevel decoder gives it (special tokens
// kept; byte sequences that are not valid UTF-8 become U+FFFD as in Rust's
// String::from_utf8_lossy). *text is malloc'd and NUL-terminated; *len
// excludes the NUL. STATUS_ERR_ARG for an id without a token.
status bpe_decode(const bpe *tok, const int32_t *ids, size_t n, char **text, size_t *len);

// The token string of an id (byte-level alphabet, e.g. "Ġthe"), NULL when out
// of range.
const char *bpe_id_to_token(const bpe *tok, int32_t id);

// The id of a vocabulary entry or added token (exact bytes): 1 and *id when
// found, 0 otherwise.
int bpe_token_to_id(const bpe *tok, const char *token, size_t len, int32_t *id);

// The pre-tokenizer on its own: the end (byte offset) of the piece of the
// Qwen2 regex that starts at `pos` in s[0..len), which must be valid UTF-8
// (already NFC-normalized, as in the tokenizer). pos < len; the result is > pos.
size_t bpe_piece_end(const char *s, size_t len, size_t pos);

#endif
