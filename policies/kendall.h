/*
 * kendall.h - rank agreement between two score vectors: Kendall tau-b (with
 * ties) and Goodman-Kruskal gamma.
 *
 * Both are built from the pair counts of x and y over the n(n-1)/2 pairs:
 *   C = concordant pairs (x and y order the pair the same way, no tie),
 *   D = discordant pairs (opposite order, no tie),
 *   Tx = pairs tied in x, Ty = pairs tied in y, Txy = pairs tied in both.
 * Then
 *   tau-b = (C - D) / sqrt((n0 - Tx) (n0 - Ty)),   n0 = n(n-1)/2,
 *   gamma = (C - D) / (C + D)                      (ties ignored; the paper's metric).
 *
 * The fast versions use Knight's (1966) O(n log n) algorithm: sort the pairs
 * by (x, y), count x ties and joint ties by scanning, then merge-sort by y
 * counting the swaps (= D) and count y ties by scanning. The *_ref twins are
 * the plain O(n^2) double loop over pairs and serve as the test oracle.
 *
 *     double tau = kendall_tau_b(prev, cur, n);        // NaN when undefined
 *     size_t *work = malloc(2 * n * sizeof *work);     // hot path: no allocation
 *     double tau2 = kendall_tau_b_ws(prev, cur, n, work);
 *
 * Inputs must not contain NaN (a NaN has no rank); +-Inf is ordered normally.
 * 0.0 and -0.0 are tied. Undefined values are returned as NaN: fewer than two
 * elements, or (tau-b) all of x or all of y tied, or (gamma) C + D = 0.
 */
#ifndef GRATING_KENDALL_H
#define GRATING_KENDALL_H

#include <stddef.h>
#include <stdint.h>

// Pair counts of (x, y); concordant = n_pairs - x_ties - y_ties + joint_ties - discordant.
typedef struct {
    uint64_t n_pairs;    // n(n-1)/2
    uint64_t x_ties;     // pairs with x_i == x_j (including joint ties)
    uint64_t y_ties;     // pairs with y_i == y_j (including joint ties)
    uint64_t joint_ties; // pairs tied in both x and y
    uint64_t concordant; // untied in both, same order
    uint64_t discordant; // untied in both, opposite order
} kendall_counts;

// O(n log n). `work` holds 2n size_t values (contents on entry ignored).
void kendall_count_pairs(const double *x, const double *y, size_t n, size_t *work,
                         kendall_counts *out);
// O(n^2) reference (no workspace).
void kendall_count_pairs_ref(const double *x, const double *y, size_t n, kendall_counts *out);

// Tau-b and gamma from the counts (NaN when undefined, see above).
double kendall_tau_b_from_counts(const kendall_counts *c);
double goodman_kruskal_gamma_from_counts(const kendall_counts *c);

// O(n log n) with caller workspace (2n size_t): never allocates, never fails.
double kendall_tau_b_ws(const double *x, const double *y, size_t n, size_t *work);
// O(n log n); allocates its workspace. If that allocation fails it falls back
// to the O(n^2) count (same result, no failure mode), so it cannot fail.
double kendall_tau_b(const double *x, const double *y, size_t n);
double kendall_tau_b_ref(const double *x, const double *y, size_t n);

// Goodman-Kruskal gamma, same conventions (fast with the same fallback; ref O(n^2)).
double goodman_kruskal_gamma(const double *x, const double *y, size_t n);
double goodman_kruskal_gamma_ref(const double *x, const double *y, size_t n);

#endif
