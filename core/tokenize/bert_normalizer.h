/*
 * bert_normalizer.h - the Unicode half of the BERT tokenizer: UTF-8 decoding,
 * Hugging Face's BertNormalizer and the character classes of BertPreTokenizer,
 * reproduced code point for code point (wordpiece.h builds on it).
 *
 *     bert_normalizer n = {.clean_text = 1, .handle_chinese_chars = 1,
 *                          .strip_accents = 1, .lowercase = 1};
 *     bert_codepoints raw = {0}, norm = {0};
 *     if (bert_normalizer_decode_utf8(text, len, &raw) != STATUS_OK) ...   // invalid UTF-8
 *     if (bert_normalizer_apply(&n, raw.data, raw.len, &norm) != STATUS_OK) ...
 *     for (size_t i = 0; i < norm.len; i++)
 *         if (bert_normalizer_is_punctuation(norm.data[i])) ...
 *     bert_codepoints_free(&raw);
 *     bert_codepoints_free(&norm);
 *
 * Steps, in HF's order: clean_text drops U+0000, U+FFFD and control characters
 * (categories Cc Cf Co Cs except \t \n \r; unassigned code points are kept, as
 * HF does) and maps whitespace to ' '; handle_chinese_chars surrounds CJK
 * ideographs with spaces; strip_accents applies NFD then drops category Mn;
 * lowercase applies Rust's char::to_lowercase (full mapping: U+0130 becomes
 * "i" U+0307).
 *
 * HF's tables are not all of one Unicode version: categories come from the
 * unicode_categories crate (Unicode 8.0), NFD from unicode-normalization-
 * alignments, case mapping and whitespace from Rust std (Unicode 16.0). This
 * module uses utf8proc (Unicode 15.0 in 2.8) plus small exception tables for
 * the code points where these disagree; tests/golden/wordpiece/codepoints.tsv
 * checks every code point against the real HF tokenizer.
 */
#ifndef GRATING_BERT_NORMALIZER_H
#define GRATING_BERT_NORMALIZER_H

#include "base/status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int clean_text;           // drop controls, map whitespace to ' '
    int handle_chinese_chars; // put spaces around CJK ideographs
    int strip_accents;        // NFD, then drop non-spacing marks (Mn)
    int lowercase;            // Rust char::to_lowercase per character
} bert_normalizer;

// A growable array of code points (malloc'd; zero-initialise, then reuse).
typedef struct {
    int32_t *data; // (cap,)
    size_t len;
    size_t cap;
} bert_codepoints;

void bert_codepoints_free(bert_codepoints *cps);

// Replaces out's content by the code points of `len` bytes of UTF-8. Fails
// with STATUS_ERR_ARG, naming the byte offset, on invalid UTF-8 (Rust strings,
// and so HF, cannot hold it).
status bert_normalizer_decode_utf8(const char *text, size_t len, bert_codepoints *out);

// Replaces out's content by the normalized form of in[0..n).
status bert_normalizer_apply(const bert_normalizer *norm, const int32_t *in, size_t n,
                             bert_codepoints *out);

// Rust char::is_whitespace (Unicode White_Space): where BertPreTokenizer splits.
int bert_normalizer_is_whitespace(int32_t c);

// BertPreTokenizer punctuation: ASCII punctuation or a P* category (HF's tables).
int bert_normalizer_is_punctuation(int32_t c);

// HF's is_chinese_char: the CJK ideograph blocks that get spaces around them.
int bert_normalizer_is_chinese(int32_t c);

// Appends the UTF-8 encoding of c to dst (room for 4 bytes); returns the byte count.
size_t bert_normalizer_encode_utf8(int32_t c, char *dst);

#endif
