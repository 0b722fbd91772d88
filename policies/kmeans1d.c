// 1-D K-Means: exact dynamic programming (Ckmeans.1d.dp style) and Lloyd
// iterations from quantile or k-means++ seeds. See kmeans1d.h.
#include "kmeans1d.h"

#include <gsl/gsl_rng.h>
#include <gsl/gsl_sort.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct kmeans1d {
    size_t n_max, k_max;
    size_t *order;   // (n_max) sort permutation of x
    size_t *didx;    // (n_max) distinct-value index of each x[i]
    double *v;       // (n_max) distinct values, ascending
    double *w;       // (n_max) their multiplicities
    size_t *vlabel;  // (n_max) cluster of each distinct value
    double *cost;    // (k_max * n_max) DP: best SSE of v[0..i] in q + 1 clusters
    size_t *split;   // (k_max * n_max) DP: first value of the last cluster
    double *centers; // (k_max)
    double *csum;    // (k_max) weighted sums per cluster
    double *cweight; // (k_max) weights per cluster
    size_t *rank;    // (k_max) new label of each old (nonempty) cluster
    gsl_rng *rng;
};

status kmeans1d_create(size_t n_max, size_t k_max, kmeans1d **out) {
    *out = NULL;
    if (n_max == 0 || k_max == 0)
        return status_fail(STATUS_ERR_ARG,
                           "kmeans1d: workspace needs n_max >= 1 and k_max >= 1 "
                           "(got %zu, %zu)",
                           n_max, k_max);
    if (k_max > SIZE_MAX / n_max / sizeof(double))
        return status_fail(STATUS_ERR_ARG, "kmeans1d: workspace %zu x %zu is too large", n_max,
                           k_max);
    kmeans1d *km = calloc(1, sizeof *km);
    if (!km) return status_fail(STATUS_ERR_NOMEM, "kmeans1d: out of memory");
    km->n_max = n_max;
    km->k_max = k_max;
    km->order = malloc(n_max * sizeof *km->order);
    km->didx = malloc(n_max * sizeof *km->didx);
    km->v = malloc(n_max * sizeof *km->v);
    km->w = malloc(n_max * sizeof *km->w);
    km->vlabel = malloc(n_max * sizeof *km->vlabel);
    km->cost = malloc(k_max * n_max * sizeof *km->cost);
    km->split = malloc(k_max * n_max * sizeof *km->split);
    km->centers = malloc(k_max * sizeof *km->centers);
    km->csum = malloc(k_max * sizeof *km->csum);
    km->cweight = malloc(k_max * sizeof *km->cweight);
    km->rank = malloc(k_max * sizeof *km->rank);
    km->rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!km->order || !km->didx || !km->v || !km->w || !km->vlabel || !km->cost || !km->split ||
        !km->centers || !km->csum || !km->cweight || !km->rank || !km->rng) {
        kmeans1d_free(km);
        return status_fail(STATUS_ERR_NOMEM, "kmeans1d: out of memory for n_max = %zu, k_max = %zu",
                           n_max, k_max);
    }
    *out = km;
    return STATUS_OK;
}

void kmeans1d_free(kmeans1d *km) {
    if (!km) return;
    free(km->order);
    free(km->didx);
    free(km->v);
    free(km->w);
    free(km->vlabel);
    free(km->cost);
    free(km->split);
    free(km->centers);
    free(km->csum);
    free(km->cweight);
    free(km->rank);
    if (km->rng) gsl_rng_free(km->rng);
    free(km);
}

// Sorts x and collapses it into distinct values with multiplicities; returns m.
static size_t kmeans1d_distinct(kmeans1d *km, const double *x, size_t n) {
    gsl_sort_index(km->order, x, 1, n);
    size_t m = 0;
    for (size_t p = 0; p < n; p++) {
        double value = x[km->order[p]];
        if (m == 0 || value != km->v[m - 1]) {
            km->v[m] = value;
            km->w[m] = 0.0;
            m++;
        }
        km->w[m - 1] += 1.0;
        km->didx[km->order[p]] = m - 1;
    }
    return m;
}

// Optimal partition of v[0..m) into k contiguous clusters (k <= m). The
// segment cost is updated incrementally (weighted Welford) while the first
// index j of the last cluster walks down, which avoids the cancellation of
// prefix sums of squares.
static void kmeans1d_exact(kmeans1d *km, size_t m, size_t k) {
    const double *v = km->v, *w = km->w;
    double *cost = km->cost;
    size_t *split = km->split;
    double wsum = 0.0, mean = 0.0, ss = 0.0;
    for (size_t i = 0; i < m; i++) {
        wsum += w[i];
        double delta = v[i] - mean;
        mean += delta * w[i] / wsum;
        ss += w[i] * delta * (v[i] - mean);
        cost[i] = ss;
        split[i] = 0;
    }
    for (size_t q = 1; q < k; q++) {
        double *row = cost + q * m;
        const double *prev = cost + (q - 1) * m;
        // The last row only needs its last entry.
        size_t i0 = q == k - 1 ? m - 1 : q;
        for (size_t i = i0; i < m; i++) {
            double best = INFINITY, ws = 0.0, mu = 0.0, s = 0.0;
            size_t arg = i;
            for (size_t j = i + 1; j-- > q;) {
                ws += w[j];
                double delta = v[j] - mu;
                mu += delta * w[j] / ws;
                s += w[j] * delta * (v[j] - mu);
                double c = prev[j - 1] + s;
                if (c < best) {
                    best = c;
                    arg = j;
                }
            }
            row[i] = best;
            split[q * m + i] = arg;
        }
    }
    size_t hi = m; // exclusive end of the cluster being labelled
    for (size_t q = k; q-- > 0;) {
        size_t lo = q == 0 ? 0 : split[q * m + hi - 1];
        for (size_t i = lo; i < hi; i++)
            km->vlabel[i] = q;
        hi = lo;
    }
}

// Seeds: centre j at the (j + 1/2)/k quantile of the n points (with multiplicity).
static void kmeans1d_seed_quantile(kmeans1d *km, const double *x, size_t n, size_t k) {
    for (size_t j = 0; j < k; j++) {
        size_t p = (size_t)(((double)j + 0.5) * (double)n / (double)k);
        if (p >= n) p = n - 1;
        km->centers[j] = x[km->order[p]];
    }
}

// k-means++: the first centre is a uniformly random point, every next one a
// point drawn with probability proportional to its squared distance to the
// nearest chosen centre (times its multiplicity).
static void kmeans1d_seed_plusplus(kmeans1d *km, size_t m, size_t n, size_t k, unsigned long seed) {
    gsl_rng_set(km->rng, seed);
    double u = gsl_rng_uniform(km->rng) * (double)n, acc = 0.0;
    size_t first = m - 1;
    for (size_t i = 0; i < m; i++) {
        acc += km->w[i];
        if (u < acc) {
            first = i;
            break;
        }
    }
    km->centers[0] = km->v[first];
    for (size_t c = 1; c < k; c++) {
        double total = 0.0;
        for (size_t i = 0; i < m; i++) {
            double d = INFINITY;
            for (size_t j = 0; j < c; j++)
                d = fmin(d, fabs(km->v[i] - km->centers[j]));
            km->cost[i] = km->w[i] * d * d; // scratch: the DP table is unused here
            total += km->cost[i];
        }
        // k <= m guarantees an unchosen value with positive distance, so total > 0;
        // the fallback to the last positive weight only guards rounding.
        u = gsl_rng_uniform(km->rng) * total;
        acc = 0.0;
        size_t pick = m;
        for (size_t i = 0; i < m; i++) {
            if (km->cost[i] <= 0.0) continue;
            acc += km->cost[i];
            pick = i;
            if (u < acc) break;
        }
        km->centers[c] = km->v[pick < m ? pick : m - 1];
    }
}

// Assigns every distinct value to its nearest centre (ties: lower centre);
// returns whether any assignment changed.
static int kmeans1d_assign(kmeans1d *km, size_t m, size_t k, int first) {
    int changed = 0;
    for (size_t i = 0; i < m; i++) {
        size_t best = 0;
        double bd = fabs(km->v[i] - km->centers[0]);
        for (size_t j = 1; j < k; j++) {
            double d = fabs(km->v[i] - km->centers[j]);
            if (d < bd) {
                bd = d;
                best = j;
            }
        }
        if (first || km->vlabel[i] != best) changed = 1;
        km->vlabel[i] = best;
    }
    return changed;
}

static void kmeans1d_lloyd(kmeans1d *km, size_t m, size_t k, size_t iterations) {
    kmeans1d_assign(km, m, k, 1);
    for (size_t t = 0; t < iterations; t++) {
        for (size_t j = 0; j < k; j++)
            km->csum[j] = km->cweight[j] = 0.0;
        for (size_t i = 0; i < m; i++) {
            km->csum[km->vlabel[i]] += km->w[i] * km->v[i];
            km->cweight[km->vlabel[i]] += km->w[i];
        }
        // An empty cluster keeps its centre: it may win points back later.
        for (size_t j = 0; j < k; j++)
            if (km->cweight[j] > 0.0) km->centers[j] = km->csum[j] / km->cweight[j];
        if (!kmeans1d_assign(km, m, k, 0)) break;
    }
}

status kmeans1d_run(kmeans1d *km, const double *x, size_t n, size_t k, const kmeans1d_options *opt,
                    size_t *labels, double *means, size_t *k_out, double *sse) {
    if (n == 0) return status_fail(STATUS_ERR_ARG, "kmeans1d: no values to cluster");
    if (k == 0) return status_fail(STATUS_ERR_ARG, "kmeans1d: k must be at least 1");
    if (n > km->n_max || k > km->k_max)
        return status_fail(STATUS_ERR_ARG,
                           "kmeans1d: %zu values in %zu clusters exceed the workspace (%zu, %zu)",
                           n, k, km->n_max, km->k_max);
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return status_fail(STATUS_ERR_NUMERIC, "kmeans1d: value %zu is not finite (%g)", i,
                               x[i]);

    size_t m = kmeans1d_distinct(km, x, n);
    if (k > m) k = m;
    switch (opt->method) {
    case KMEANS1D_EXACT:
        kmeans1d_exact(km, m, k);
        break;
    case KMEANS1D_QUANTILE:
        kmeans1d_seed_quantile(km, x, n, k);
        kmeans1d_lloyd(km, m, k, opt->iterations);
        break;
    case KMEANS1D_PLUSPLUS:
        kmeans1d_seed_plusplus(km, m, n, k, opt->seed);
        kmeans1d_lloyd(km, m, k, opt->iterations);
        break;
    default:
        return status_fail(STATUS_ERR_ARG, "kmeans1d: unknown method %d", (int)opt->method);
    }

    // Means of the final clusters, empty ones removed, relabelled by ascending mean.
    for (size_t j = 0; j < k; j++)
        km->csum[j] = km->cweight[j] = 0.0;
    for (size_t i = 0; i < m; i++) {
        km->csum[km->vlabel[i]] += km->w[i] * km->v[i];
        km->cweight[km->vlabel[i]] += km->w[i];
    }
    // Nonempty clusters sorted by mean (insertion sort, k is small); centers[]
    // is reused for the means. Sorting ids rather than matching values keeps
    // the relabelling a bijection even if two means round to the same double.
    size_t kept = 0;
    size_t *sorted = km->split; // k slots of scratch: the DP table is no longer needed
    for (size_t j = 0; j < k; j++) {
        if (km->cweight[j] <= 0.0) continue;
        km->centers[j] = km->csum[j] / km->cweight[j];
        size_t pos = kept++;
        while (pos > 0 && km->centers[sorted[pos - 1]] > km->centers[j]) {
            sorted[pos] = sorted[pos - 1];
            pos--;
        }
        sorted[pos] = j;
    }
    for (size_t r = 0; r < kept; r++) {
        km->rank[sorted[r]] = r;
        means[r] = km->centers[sorted[r]];
    }
    for (size_t i = 0; i < m; i++)
        km->vlabel[i] = km->rank[km->vlabel[i]];
    for (size_t i = 0; i < n; i++)
        labels[i] = km->vlabel[km->didx[i]];
    if (sse) {
        double s = 0.0;
        for (size_t i = 0; i < m; i++) {
            double d = km->v[i] - means[km->vlabel[i]];
            s += km->w[i] * d * d;
        }
        *sse = s;
    }
    *k_out = kept;
    return STATUS_OK;
}

status kmeans1d_method_parse(const char *name, kmeans1d_method *out) {
    static const char *const names[] = {"exact", "quantile", "kmeans++"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcmp(name, names[i]) == 0) {
            *out = (kmeans1d_method)i;
            return STATUS_OK;
        }
    }
    return status_fail(STATUS_ERR_ARG,
                       "kmeans1d: unknown method '%s' (known: exact, quantile, kmeans++)", name);
}

const char *kmeans1d_method_name(kmeans1d_method m) {
    switch (m) {
    case KMEANS1D_EXACT:
        return "exact";
    case KMEANS1D_QUANTILE:
        return "quantile";
    case KMEANS1D_PLUSPLUS:
        return "kmeans++";
    }
    return "?";
}
