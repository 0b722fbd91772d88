#include "analysis/metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double metric_precision_vs_full(const size_t *top, size_t k, const size_t *full_top,
                                size_t n_full) {
    size_t denom = k < n_full ? k : n_full, hits = 0;
    if (denom == 0) return 0.0;
    for (size_t i = 0; i < k; i++)
        for (size_t j = 0; j < n_full; j++)
            if (top[i] == full_top[j]) {
                hits++;
                break;
            }
    return (double)hits / (double)denom;
}

typedef struct {
    const char *const *ids;
    const float *scores;
} metric_trec_ctx;

static int metric_trec_cmp(const void *pa, const void *pb, void *vctx) {
    const metric_trec_ctx *c = vctx;
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    if (c->scores[a] != c->scores[b]) return c->scores[a] > c->scores[b] ? -1 : 1;
    return strcmp(c->ids[b], c->ids[a]);
}

void metric_trec_order(const char *const *ids, const float *scores, size_t n, size_t *order) {
    for (size_t i = 0; i < n; i++)
        order[i] = i;
    metric_trec_ctx ctx = {ids, scores};
    qsort_r(order, n, sizeof *order, metric_trec_cmp, &ctx);
}

static int metric_cmp_int_desc(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (y > x) - (y < x);
}

double metric_ndcg_at(const int *rel_ranked, size_t n, const int *judged, size_t n_judged,
                      size_t cutoff) {
    double dcg = 0.0, idcg = 0.0;
    for (size_t i = 0; i < n && i < cutoff; i++)
        if (rel_ranked[i] > 0) dcg += rel_ranked[i] / log2((double)i + 2.0);
    int *ideal = malloc((n_judged ? n_judged : 1) * sizeof *ideal);
    if (!ideal) return NAN;
    memcpy(ideal, judged, n_judged * sizeof *ideal);
    qsort(ideal, n_judged, sizeof *ideal, metric_cmp_int_desc);
    for (size_t i = 0; i < n_judged && i < cutoff; i++)
        if (ideal[i] > 0) idcg += ideal[i] / log2((double)i + 2.0);
    free(ideal);
    return idcg > 0.0 ? dcg / idcg : 0.0;
}

double metric_rr_at(const int *rel_ranked, size_t n, size_t cutoff) {
    for (size_t i = 0; i < n && i < cutoff; i++)
        if (rel_ranked[i] > 0) return 1.0 / (double)(i + 1);
    return 0.0;
}

double metric_precision_at(const int *rel_ranked, size_t n, size_t cutoff) {
    size_t hits = 0;
    for (size_t i = 0; i < n && i < cutoff; i++)
        hits += rel_ranked[i] > 0;
    return cutoff ? (double)hits / (double)cutoff : 0.0;
}
