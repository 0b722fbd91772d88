// A generated WordPiece vocabulary (see tokenize/wordpiece_synth.h).
#include "tokenize/wordpiece_synth.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

// The n-th word of the filler: all lowercase words of length 2, then of
// length 3, ... (aa, ab, ..., zz, aaa, ...), each followed by its ## form.
static void wordpiece_filler_token(uint64_t n, char *buf, size_t cap) {
    uint64_t word = n / 2;
    int len = 2;
    uint64_t count = 26 * 26;
    while (word >= count) {
        word -= count;
        len++;
        count *= 26;
    }
    size_t at = 0;
    if (n % 2 == 1) at += (size_t)snprintf(buf, cap, "##");
    for (int i = len - 1; i >= 0 && at + (size_t)i + 1 < cap; i--) {
        buf[at + (size_t)i] = (char)('a' + word % 26);
        word /= 26;
    }
    at += (size_t)len < cap - at ? (size_t)len : cap - at - 1;
    buf[at] = '\0';
}

status wordpiece_write_synthetic_vocab(const char *path, int64_t vocab_size) {
    if (vocab_size < 5)
        return status_fail(STATUS_ERR_ARG,
                           "%s: vocab_size %lld is too small for a BERT vocabulary (the 5 special "
                           "tokens need 5 ids)",
                           path, (long long)vocab_size);
    FILE *f = fopen(path, "w");
    if (!f) return status_fail(STATUS_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    static const char singles[] = "abcdefghijklmnopqrstuvwxyz0123456789"
                                  "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    const int64_t n_singles = (int64_t)sizeof singles - 1;
    // bert-base-uncased ids for the specials when they fit.
    int bert_ids = vocab_size > 103;
    int64_t unused = 0, filler = 0;
    for (int64_t id = 0; id < vocab_size; id++) {
        char tok[64];
        int64_t first_free = bert_ids ? 104 : 5;
        if (id == 0)
            snprintf(tok, sizeof tok, "[PAD]");
        else if (id == (bert_ids ? 100 : 1))
            snprintf(tok, sizeof tok, "[UNK]");
        else if (id == (bert_ids ? 101 : 2))
            snprintf(tok, sizeof tok, "[CLS]");
        else if (id == (bert_ids ? 102 : 3))
            snprintf(tok, sizeof tok, "[SEP]");
        else if (id == (bert_ids ? 103 : 4))
            snprintf(tok, sizeof tok, "[MASK]");
        else if (id < first_free)
            snprintf(tok, sizeof tok, "[unused%lld]", (long long)unused++);
        else if (id - first_free < n_singles)
            snprintf(tok, sizeof tok, "%c", singles[id - first_free]);
        else if (id - first_free < 2 * n_singles)
            snprintf(tok, sizeof tok, "##%c", singles[id - first_free - n_singles]);
        else
            wordpiece_filler_token((uint64_t)filler++, tok, sizeof tok);
        fprintf(f, "%s\n", tok);
    }
    int err = ferror(f);
    if (fclose(f) != 0 || err)
        return status_fail(STATUS_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    return STATUS_OK;
}

