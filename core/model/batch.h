/*
 * batch.h - a packed batch of model inputs, the unit every forward piece of
 * every architecture takes (core/model/arch.h).
 *
 * Packed: the tokens of all sequences (one per candidate) are stored one after
 * the other, no padding; attention runs per sequence over its own tokens.
 * This is the computation of a padded batch with an attention mask (padded
 * keys get probability exactly 0 there) without FLOPs on pad rows, and a
 * candidate's scores do not depend on the other candidates of the batch.
 *
 *     reranker_batch b = {.n_seq = 2, .n_tok = 7, .seq_start = (size_t[]){0, 4},
 *                         .seq_len = (size_t[]){4, 3}, .ids = ids, .type_ids = NULL};
 */
#ifndef GRATING_BATCH_H
#define GRATING_BATCH_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    size_t n_seq;
    size_t n_tok;            // sum of seq_len
    const size_t *seq_start; // (n_seq,) offset of each sequence's first token
    const size_t *seq_len;   // (n_seq,)
    const int32_t *ids;      // (n_tok,) read by embed only
    const int32_t *type_ids; // (n_tok,) token types, NULL = all 0 (read by embed only)
} reranker_batch;

// A view of sequences [s0, s0 + count) of `b` with token offsets relative to
// the first one (*tok0, the view's first token in b); `starts` (count,)
// backs view->seq_start.
static inline void reranker_batch_chunk(const reranker_batch *b, size_t s0, size_t count,
                                        size_t *starts, reranker_batch *view, size_t *tok0) {
    *tok0 = b->seq_start[s0];
    size_t n_tok = 0;
    for (size_t i = 0; i < count; i++) {
        starts[i] = b->seq_start[s0 + i] - *tok0;
        n_tok += b->seq_len[s0 + i];
    }
    view->n_seq = count;
    view->n_tok = n_tok;
    view->seq_start = starts;
    view->seq_len = b->seq_len + s0;
    view->ids = b->ids ? b->ids + *tok0 : NULL;
    view->type_ids = b->type_ids ? b->type_ids + *tok0 : NULL;
}

#endif
