/*
 * wordpiece.h - the BERT (uncased) WordPiece tokenizer, id for id equal to
 * Hugging Face tokenizers: added-token splitting, BertNormalizer,
 * BertPreTokenizer, greedy longest-match-first WordPiece, the
 * `[CLS] q [SEP] d [SEP]` template and TruncationStrategy::OnlySecond.
 *
 *     wordpiece wp;
 *     if (wordpiece_load(&wp, "models/ms-marco-MiniLM-L-6-v2") != STATUS_OK) ...
 *     wordpiece_encoding enc = {0};                  // reusable, grows as needed
 *     status st = wordpiece_encode_pair(&wp, q, strlen(q), d, strlen(d), 512, &enc);
 *     if (st != STATUS_OK) fprintf(stderr, "%s\n", status_message());
 *     for (size_t i = 0; i < enc.len; i++)
 *         printf("%d %s %d\n", enc.ids[i], wordpiece_id_to_token(&wp, enc.ids[i]),
 *                enc.type_ids[i]);
 *     wordpiece_encoding_free(&enc);
 *     wordpiece_free(&wp);
 *
 * Loading: tokenizer.json when the folder has one (model WordPiece,
 * normalizer BertNormalizer or null, pre_tokenizer BertPreTokenizer,
 * post_processor TemplateProcessing/BertProcessing with the BERT layout,
 * added_tokens), else vocab.txt (one token per line, id = line index) with the
 * flags of tokenizer_config.json when present (do_lower_case, strip_accents,
 * tokenize_chinese_chars; BERT uncased defaults). Special tokens [CLS] [SEP]
 * [PAD] [UNK] (names from tokenizer_config.json when it renames them) must be
 * in the vocabulary. Other tokenizer.json components fail with
 * STATUS_ERR_UNSUPPORTED naming the type.
 *
 * Truncation follows HF exactly. A pair keeps the query whole and cuts the
 * document so that the total is <= max_len; when no document token would
 * remain (HF's "Sequence to truncate too short") it fails with STATUS_ERR_ARG.
 * HF boundary quirks kept on purpose: max_len == 3 yields `[CLS] [SEP] [SEP]`
 * (both texts dropped, no error), and a single text at max_len == 2 yields
 * `[CLS] [SEP]`. Smaller max_len are rejected (HF's unsigned subtraction wraps
 * around and silently disables truncation there).
 *
 * Texts are UTF-8 with an explicit length (they may contain U+0000, which the
 * normalizer drops); invalid UTF-8 fails with STATUS_ERR_ARG.
 *
 * A loaded wordpiece is read-only, so threads may share it, each with its own
 * wordpiece_encoding.
 */
#ifndef GRATING_WORDPIECE_H
#define GRATING_WORDPIECE_H

#include "tokenize/bert_normalizer.h"
#include "tokenize/hf_json.h"
#include "base/status.h"
#include "base/strmap.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    // Read-only after wordpiece_load.
    size_t vocab_size; // number of ids (largest id + 1): the embedding rows needed
    int32_t cls_id, sep_id, pad_id, unk_id;
    int32_t mask_id;   // -1 when the vocabulary has no mask token
    char source[4096]; // the file the vocabulary came from (for messages)

    // Private.
    bert_normalizer normalizer;
    char *prefix; // continuing_subword_prefix, "##"
    size_t prefix_len;
    size_t max_input_chars_per_word;
    strmap vocab;       // token -> id
    char **id_to_token; // (vocab_size,) NULL for ids without a token
    char *token_blob;   // NUL-separated token strings id_to_token points into
    // Tokens matched in the raw (or normalized) text before WordPiece runs,
    // e.g. "[SEP]" typed inside a query becomes id 102, as in HF; code points.
    hf_added_matcher added;
    size_t max_token_bytes; // longest vocabulary entry, bounds the greedy search
} wordpiece;

// One encoded input. Zero-initialise it; every encode call replaces its content
// and reuses its buffers (so a loop allocates only while texts grow). After a
// failed call it is empty (len 0).
typedef struct {
    int32_t *ids;      // (len,) token ids
    int32_t *type_ids; // (len,) 0 through the first [SEP], 1 after it
    size_t len;
    size_t n_first;  // tokens of the first text kept (specials excluded)
    size_t n_second; // tokens of the second text kept (0 for a single text)
    int truncated;   // 1 when a text lost tokens to max_len

    // Private: capacity and scratch buffers.
    size_t cap;
    bert_codepoints raw, norm;
    char *word;
    size_t word_cap;
    size_t *word_bounds;
    size_t bounds_cap;
} wordpiece_encoding;

// Loads the tokenizer of a Hugging Face model folder (see the top of this file).
status wordpiece_load(wordpiece *wp, const char *model_dir);
void wordpiece_free(wordpiece *wp);

// The ids of `text` without special tokens and without truncation (type ids 0).
status wordpiece_encode_text(const wordpiece *wp, const char *text, size_t len,
                             wordpiece_encoding *out);

// `[CLS] text [SEP]`, the text truncated (right) so that len <= max_len.
// max_len >= 2.
status wordpiece_encode_single(const wordpiece *wp, const char *text, size_t len, size_t max_len,
                               wordpiece_encoding *out);

// `[CLS] query [SEP] doc [SEP]` with only the document truncated (right) so
// that len <= max_len; STATUS_ERR_ARG when the query leaves no room for the
// document. max_len >= 3.
status wordpiece_encode_pair(const wordpiece *wp, const char *query, size_t query_len,
                             const char *doc, size_t doc_len, size_t max_len,
                             wordpiece_encoding *out);

void wordpiece_encoding_free(wordpiece_encoding *enc);

// The token string of an id (for debugging output), NULL when out of range.
const char *wordpiece_id_to_token(const wordpiece *wp, int32_t id);

// The id of a vocabulary entry (exact bytes, no normalization): 1 and *id when
// found, 0 otherwise.
int wordpiece_token_to_id(const wordpiece *wp, const char *token, size_t len, int32_t *id);

#endif
