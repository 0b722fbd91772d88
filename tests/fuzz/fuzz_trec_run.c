// fuzz_trec_run.c - datasets/trec.c: the input is one TREC run file.
// A run that reads is queried (trec_run_find, trec_run_top) and its
// documented invariants are checked.
#include "fuzz_util.h"
#include "trec.h"

#include <math.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("run.trec", data, size);
    trec_run run;
    if (fuzz_note(trec_run_read(&run, path), "trec_run_read") != STATUS_OK) return 0;
    size_t total = 0;
    for (size_t q = 0; q < run.n_queries; q++) {
        const trec_query *tq = &run.queries[q];
        if (tq->n == 0 || trec_run_find(&run, tq->qid) != tq) abort();
        total += tq->n;
        for (size_t i = 0; i < tq->n; i++) {
            if (tq->cands[i].rank < 1 || !isfinite(tq->cands[i].score)) abort();
            if (i > 0 && tq->cands[i].rank <= tq->cands[i - 1].rank) abort(); // sorted, unique
        }
        const trec_candidate *top;
        size_t count;
        if (trec_run_top(&run, tq->qid, 2, &top, &count) != STATUS_OK || count > 2 ||
            count > tq->n || top != tq->cands)
            abort();
        if (trec_run_top(&run, tq->qid, 0, &top, &count) == STATUS_OK)
            abort(); // n == 0 is an error
    }
    if (total != run.n_cands) abort();
    (void)trec_run_find(&run, "no such query id");
    trec_run_free(&run);
    return 0;
}
