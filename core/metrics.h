/*
 * metrics.h - ranking metrics of the sweeps.
 *
 * Two kinds of ground truth:
 *  - the full model: Precision@K of a pruned top-K against the top-K of the
 *    full forward (the paper's metric: |returned ∩ full top-K| / K, divided by
 *    the size of the full top-K when it is smaller than K);
 *  - relevance labels (qrels), as trec_eval computes them on a ranked list:
 *    nDCG@k (ndcg_cut: gain = relevance level, discount log2(rank + 1), ideal
 *    DCG from all judged relevant documents of the query), MRR@k (reciprocal
 *    rank of the first relevant document within the top k, else 0) and P@k
 *    (relevant in the top k, divided by k).
 *
 *     double p = metric_precision_vs_full(top, full_top, k, k);
 *     int rel[20];                       // relevance of the ranked documents
 *     double nd = metric_ndcg_at(rel, 20, judged, n_judged, 10);
 *
 * trec_eval does not use the rank column of a run: it sorts by score
 * (descending) and breaks ties by document id in *descending* strcmp order.
 * metric_trec_order reproduces that so metrics computed from scores match
 * trec_eval exactly.
 */
#ifndef GRATING_METRICS_H
#define GRATING_METRICS_H

#include <stddef.h>

// |top ∩ full_top| / min(k, n_full). Entries are candidate indices.
double metric_precision_vs_full(const size_t *top, size_t k, const size_t *full_top, size_t n_full);

// The order trec_eval ranks a run in: by score descending, ties by document
// id descending (strcmp). order (n,) receives candidate indices.
void metric_trec_order(const char *const *ids, const float *scores, size_t n, size_t *order);

// rel_ranked (n,): relevance of the documents in ranked order (0 = not
// relevant or not judged). judged (n_judged,): relevance levels of every
// judged document of the query (for the ideal DCG; levels <= 0 ignored).
double metric_ndcg_at(const int *rel_ranked, size_t n, const int *judged, size_t n_judged,
                      size_t cutoff);
double metric_mrr_at(const int *rel_ranked, size_t n, size_t cutoff);
double metric_precision_at(const int *rel_ranked, size_t n, size_t cutoff);

#endif
