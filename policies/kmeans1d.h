/*
 * kmeans1d.h - K-Means on one-dimensional data (the provisional scores of the
 * active candidates), for the cluster-gap policy and the offline analyses.
 *
 * Methods:
 *   KMEANS1D_EXACT     the globally optimal partition (minimum within-cluster
 *                      sum of squares) by dynamic programming over the sorted
 *                      values, as in Ckmeans.1d.dp (Wang & Song 2011):
 *                      O(k m^2) for m distinct values, fine for m <= a few hundred;
 *   KMEANS1D_QUANTILE  Lloyd iterations from centres at the (j + 1/2)/k quantiles;
 *   KMEANS1D_PLUSPLUS  Lloyd iterations from k-means++ seeding (Arthur &
 *                      Vassilvitskii 2007) with a Mersenne Twister
 *                      (gsl_rng_mt19937) seeded with `seed` at every call, so
 *                      the result depends only on the data and the seed.
 *
 * All methods work on the distinct values weighted by their multiplicity, so
 * equal values always share a cluster, and k is clamped to the number of
 * distinct values. Lloyd may leave a cluster empty (e.g. two quantile centres
 * on the same value); empty clusters are removed, so fewer than k clusters
 * can come back (*k_out says how many).
 *
 * Labels are ordered by cluster mean, ascending: label 0 is the lowest-mean
 * cluster, label *k_out - 1 the highest.
 *
 *     kmeans1d *km;
 *     if (kmeans1d_create(n_max, k_max, &km) != STATUS_OK) ...   // allocates once
 *     kmeans1d_options o = {.method = KMEANS1D_EXACT};
 *     size_t k_eff;
 *     kmeans1d_run(km, x, n, 3, &o, labels, means, &k_eff, NULL);   // no allocation
 *     kmeans1d_free(km);
 */
#ifndef GRATING_KMEANS1D_H
#define GRATING_KMEANS1D_H

#include "base/status.h"

#include <stddef.h>

typedef enum {
    KMEANS1D_EXACT = 0,
    KMEANS1D_QUANTILE,
    KMEANS1D_PLUSPLUS,
} kmeans1d_method;

typedef struct {
    kmeans1d_method method;
    size_t iterations;  // maximum Lloyd iterations (non-exact methods); 0 = seeding only
    unsigned long seed; // k-means++ seed
} kmeans1d_options;

typedef struct kmeans1d kmeans1d; // workspace for up to n_max values and k_max clusters

status kmeans1d_create(size_t n_max, size_t k_max, kmeans1d **out);
void kmeans1d_free(kmeans1d *km);

// Clusters x[0..n) (finite values) into at most k clusters. Writes labels[n]
// (in [0, *k_out), ascending by mean), means[*k_out] (ascending; `means` needs
// k slots) and, if sse != NULL, the within-cluster sum of squares.
// Errors: n == 0, k == 0, n > n_max or k > k_max of the workspace, non-finite x.
status kmeans1d_run(kmeans1d *km, const double *x, size_t n, size_t k, const kmeans1d_options *opt,
                    size_t *labels, double *means, size_t *k_out, double *sse);

// "exact", "quantile", "kmeans++" <-> method. Parse fails (STATUS_ERR_ARG) on other names.
status kmeans1d_method_parse(const char *name, kmeans1d_method *out);
const char *kmeans1d_method_name(kmeans1d_method m);

#endif
