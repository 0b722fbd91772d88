#include "analysis/stability.h"
#include "kendall.h"
#include "kmeans1d.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const size_t stability_overlap_k[STABILITY_N_OVERLAP] = {1, 5, 10};

void stability_free(stability_table *s) {
    free(s->rows);
    memset(s, 0, sizeof *s);
}

// Indices of the top `k` of x (descending, ties by index) into top.
static void stability_top(const double *x, size_t n, size_t k, size_t *top) {
    for (size_t i = 0; i < k; i++) {
        size_t best = (size_t)-1;
        for (size_t j = 0; j < n; j++) {
            int taken = 0;
            for (size_t t = 0; t < i && !taken; t++) taken = top[t] == j;
            if (!taken && (best == (size_t)-1 || x[j] > x[best])) best = j;
        }
        top[i] = best;
    }
}

status stability_compute(const trace *t, size_t clusters, stability_table *out) {
    memset(out, 0, sizeof *out);
    size_t L = (size_t)t->meta.n_layers, n_max = 1;
    for (size_t q = 0; q < t->n_queries; q++) n_max = t->queries[q].n > n_max ? t->queries[q].n : n_max;
    if (clusters < 1) return status_fail(STATUS_ERR_ARG, "stability: clusters must be >= 1");
    out->rows = calloc(L + 1, sizeof *out->rows);
    double *x = malloc(n_max * sizeof *x), *y = malloc(n_max * sizeof *y), *means = malloc(clusters * sizeof *means);
    size_t *work = malloc(2 * n_max * sizeof *work), *labels = malloc(n_max * sizeof *labels);
    size_t *top_a = malloc(10 * sizeof *top_a), *top_b = malloc(10 * sizeof *top_b);
    double *sums = calloc((L + 1) * 6, sizeof *sums); // tau, gamma, cgamma, overlap x3
    size_t *counts = calloc((L + 1) * 6, sizeof *counts);
    kmeans1d *km = NULL;
    status st = STATUS_OK;
    if (!out->rows || !x || !y || !means || !work || !labels || !top_a || !top_b || !sums || !counts)
        st = status_fail(STATUS_ERR_NOMEM, "stability: out of memory");
    if (!st) st = kmeans1d_create(n_max, clusters, &km);
    kmeans1d_options opt = {.method = KMEANS1D_EXACT};
    for (size_t q = 0; q < t->n_queries && !st; q++) {
        const trace_query *tq = &t->queries[q];
        size_t n = tq->n;
        for (size_t i = 0; i < n; i++) y[i] = tq->scores[L * n + i];
        for (size_t l = 0; l <= L && !st; l++) {
            for (size_t i = 0; i < n; i++) x[i] = tq->scores[l * n + i];
            kendall_counts kc;
            kendall_count_pairs(x, y, n, work, &kc);
            double v[6] = {kendall_tau_b_from_counts(&kc), goodman_kruskal_gamma_from_counts(&kc), NAN,
                           NAN, NAN, NAN};
            size_t k_eff = 0;
            if (n >= 2 && (st = kmeans1d_run(km, x, n, clusters, &opt, labels, means, &k_eff, NULL))) break;
            uint64_t nc = 0, nd = 0;
            for (size_t i = 0; i < n; i++)
                for (size_t j = i + 1; j < n; j++) {
                    if (labels[i] == labels[j]) continue;
                    double a = (x[i] - x[j]) * (y[i] - y[j]);
                    nc += a > 0;
                    nd += a < 0;
                }
            if (nc + nd > 0) v[2] = ((double)nc - (double)nd) / (double)(nc + nd);
            // When every score of the layer is equal its top-K is arbitrary:
            // the overlap is undefined, like tau.
            int all_tied = n >= 2 && kc.x_ties == kc.n_pairs;
            for (size_t o = 0; o < STABILITY_N_OVERLAP && !all_tied; o++) {
                size_t k = stability_overlap_k[o];
                if (k > n) continue;
                stability_top(x, n, k, top_a);
                stability_top(y, n, k, top_b);
                size_t hits = 0;
                for (size_t i = 0; i < k; i++)
                    for (size_t j = 0; j < k; j++) hits += top_a[i] == top_b[j];
                v[3 + o] = (double)hits / (double)k;
            }
            for (size_t m = 0; m < 6; m++)
                if (!isnan(v[m])) {
                    sums[l * 6 + m] += v[m];
                    counts[l * 6 + m]++;
                }
        }
    }
    if (!st) {
        out->n_rows = L + 1;
        out->clusters = clusters;
        for (size_t l = 0; l <= L; l++) {
            double m[6];
            for (size_t k = 0; k < 6; k++) m[k] = counts[l * 6 + k] ? sums[l * 6 + k] / (double)counts[l * 6 + k] : NAN;
            stability_row *r = &out->rows[l];
            r->kendall_tau = m[0];
            r->gk_gamma = m[1];
            r->cluster_gamma = m[2];
            for (size_t o = 0; o < STABILITY_N_OVERLAP; o++) r->overlap[o] = m[3 + o];
            r->n_queries = counts[l * 6]; // queries where Kendall tau is defined
        }
    } else {
        stability_free(out);
    }
    kmeans1d_free(km);
    free(x), free(y), free(means), free(work), free(labels), free(top_a), free(top_b), free(sums), free(counts);
    return st;
}
