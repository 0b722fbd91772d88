/*
 * metrics.h - ranking metrics of the sweeps.
 *
 * Two kinds of ground truth:
 *  - the full model: Precision@K of a pruned top-K against the top-K of the
 *    full forward (the paper's metric: |returned ∩ full top-K| / K, divided by
 *    the size of the full top-K when it is smaller than K);
 *  - relevance labels (qrels), as trec_eval computes them on a ranked list:
 *    nDCG@k (ndcg_cut: gain = relevance level, discount log2(rank + 1), ideal
 *    DCG from all judged relevant documents of the query; trec_eval
 *    ndcg_cut_k), RR@k (reciprocal rank of the first relevant document within
 *    the top k, else 0; trec_eval `recip_rank -M k`; uncut with
 *    METRIC_UNCUT: trec_eval recip_rank) and P@k (relevant in the top k,
 *    divided by k even when fewer than k documents were retrieved; trec_eval
 *    P_k). "Relevant" is a relevance level >= 1, as trec_eval's default.
 *
 * A query without any judgement is not evaluated by trec_eval (it is left out
 * of the mean); the sweeps follow that by default (core/analysis/sweep.h).
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
#include <stdint.h>

#define METRIC_UNCUT SIZE_MAX

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
// Reciprocal rank of the first relevant document within the top `cutoff`
// (METRIC_UNCUT: the whole list).
double metric_rr_at(const int *rel_ranked, size_t n, size_t cutoff);
// Relevant documents in the top `cutoff`, divided by `cutoff` (not by n).
double metric_precision_at(const int *rel_ranked, size_t n, size_t cutoff);

#endif
