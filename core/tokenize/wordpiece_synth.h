/*
 * wordpiece_synth.h - a generated WordPiece vocab.txt, for model folders
 * written by `grating synth` from a config whose folder has no tokenizer.
 *
 *     if (wordpiece_write_synthetic_vocab("out/vocab.txt", 30522) != STATUS_OK) ...
 *
 * The vocabulary: [PAD] [UNK] [CLS] [SEP] [MASK] (at bert-base-uncased's ids
 * 0, 100-103 when vocab_size > 103, else 0-4), [unusedN] fillers below the
 * first free id, the single characters a-z 0-9 and ASCII punctuation, their
 * ## continuations, then two-or-more-letter words and their ## forms, so any
 * lowercase ASCII text tokenizes without [UNK].
 */
#ifndef GRATING_WORDPIECE_SYNTH_H
#define GRATING_WORDPIECE_SYNTH_H

#include "base/status.h"

#include <stdint.h>

// Writes vocab_size lines to path; vocab_size >= 5 (the special tokens).
status wordpiece_write_synthetic_vocab(const char *path, int64_t vocab_size);

#endif
