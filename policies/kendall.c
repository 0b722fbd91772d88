// Kendall tau-b and Goodman-Kruskal gamma: Knight's O(n log n) pair counting
// and the O(n^2) reference twin. See kendall.h.
#include "kendall.h"

#include <math.h>
#include <stdlib.h>

// Lexicographic (x, y) order of two indices: <0, 0, >0. Written with
// comparisons only, so +-Inf works (a subtraction would give Inf - Inf = NaN).
static int kendall_cmp_xy(const double *x, const double *y, size_t a, size_t b) {
    if (x[a] < x[b]) return -1;
    if (x[a] > x[b]) return 1;
    if (y[a] < y[b]) return -1;
    if (y[a] > y[b]) return 1;
    return 0;
}

// Stable bottom-up merge sort of idx[0..n) by (x, y); tmp has n slots.
static void kendall_sort_xy(size_t *idx, size_t *tmp, size_t n, const double *x, const double *y) {
    size_t *src = idx, *dst = tmp;
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi)
                dst[o++] = kendall_cmp_xy(x, y, src[j], src[i]) < 0 ? src[j++] : src[i++];
            while (i < mid)
                dst[o++] = src[i++];
            while (j < hi)
                dst[o++] = src[j++];
        }
        size_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != idx)
        for (size_t i = 0; i < n; i++)
            idx[i] = src[i];
}

// Stable merge sort of idx by y alone, returning the number of swaps, i.e.
// the pairs (earlier, later) with y[earlier] > y[later] strictly. After the
// (x, y) sort these are exactly the discordant pairs: pairs tied in x are
// already in y order, and pairs tied in y are never swapped (stability).
static uint64_t kendall_sort_y_count(size_t *idx, size_t *tmp, size_t n, const double *y) {
    uint64_t swaps = 0;
    size_t *src = idx, *dst = tmp;
    for (size_t width = 1; width < n; width *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * width) {
            size_t mid = lo + width < n ? lo + width : n;
            size_t hi = lo + 2 * width < n ? lo + 2 * width : n;
            size_t i = lo, j = mid, o = lo;
            while (i < mid && j < hi) {
                if (y[src[j]] < y[src[i]]) {
                    swaps += mid - i; // src[j] jumps over every element left in the left run
                    dst[o++] = src[j++];
                } else {
                    dst[o++] = src[i++];
                }
            }
            while (i < mid)
                dst[o++] = src[i++];
            while (j < hi)
                dst[o++] = src[j++];
        }
        size_t *t = src;
        src = dst;
        dst = t;
    }
    if (src != idx)
        for (size_t i = 0; i < n; i++)
            idx[i] = src[i];
    return swaps;
}

static uint64_t kendall_pairs_of(uint64_t t) {
    return t * (t - 1) / 2;
}

void kendall_count_pairs(const double *x, const double *y, size_t n, size_t *work,
                         kendall_counts *out) {
    *out = (kendall_counts){0};
    if (n < 2) return;
    size_t *idx = work, *tmp = work + n;
    for (size_t i = 0; i < n; i++)
        idx[i] = i;
    kendall_sort_xy(idx, tmp, n, x, y);

    uint64_t x_ties = 0, joint = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && x[idx[j]] == x[idx[i]])
            j++;
        x_ties += kendall_pairs_of(j - i);
        // Inside an x run the y values are sorted: count the joint runs.
        for (size_t a = i; a < j;) {
            size_t b = a + 1;
            while (b < j && y[idx[b]] == y[idx[a]])
                b++;
            joint += kendall_pairs_of(b - a);
            a = b;
        }
        i = j;
    }

    uint64_t dis = kendall_sort_y_count(idx, tmp, n, y);
    uint64_t y_ties = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        while (j < n && y[idx[j]] == y[idx[i]])
            j++;
        y_ties += kendall_pairs_of(j - i);
        i = j;
    }

    out->n_pairs = kendall_pairs_of(n);
    out->x_ties = x_ties;
    out->y_ties = y_ties;
    out->joint_ties = joint;
    out->discordant = dis;
    // Pairs untied in both x and y (inclusion-exclusion), minus the discordant ones.
    out->concordant = out->n_pairs - x_ties - y_ties + joint - dis;
}

void kendall_count_pairs_ref(const double *x, const double *y, size_t n, kendall_counts *out) {
    *out = (kendall_counts){0};
    for (size_t i = 0; i < n; i++) {
        for (size_t j = i + 1; j < n; j++) {
            int dx = (x[i] > x[j]) - (x[i] < x[j]);
            int dy = (y[i] > y[j]) - (y[i] < y[j]);
            out->n_pairs++;
            out->x_ties += dx == 0;
            out->y_ties += dy == 0;
            out->joint_ties += dx == 0 && dy == 0;
            if (dx != 0 && dy != 0) {
                if (dx == dy)
                    out->concordant++;
                else
                    out->discordant++;
            }
        }
    }
}

double kendall_tau_b_from_counts(const kendall_counts *c) {
    double nx = (double)(c->n_pairs - c->x_ties), ny = (double)(c->n_pairs - c->y_ties);
    if (c->n_pairs == 0 || nx == 0.0 || ny == 0.0) return NAN;
    double s = (double)c->concordant - (double)c->discordant;
    double tau = s / sqrt(nx * ny);
    // Rounding of the square root may push |tau| a hair above 1.
    return tau > 1.0 ? 1.0 : tau < -1.0 ? -1.0 : tau;
}

double goodman_kruskal_gamma_from_counts(const kendall_counts *c) {
    uint64_t m = c->concordant + c->discordant;
    if (m == 0) return NAN;
    return ((double)c->concordant - (double)c->discordant) / (double)m;
}

double kendall_tau_b_ws(const double *x, const double *y, size_t n, size_t *work) {
    kendall_counts c;
    kendall_count_pairs(x, y, n, work, &c);
    return kendall_tau_b_from_counts(&c);
}

// Counts with an allocated workspace, or the O(n^2) reference when the
// allocation fails: the result is identical, only slower.
static void kendall_count_alloc(const double *x, const double *y, size_t n, kendall_counts *c) {
    size_t *work = n >= 2 ? malloc(2 * n * sizeof *work) : NULL;
    if (work) {
        kendall_count_pairs(x, y, n, work, c);
        free(work);
    } else {
        kendall_count_pairs_ref(x, y, n, c);
    }
}

double kendall_tau_b(const double *x, const double *y, size_t n) {
    kendall_counts c;
    kendall_count_alloc(x, y, n, &c);
    return kendall_tau_b_from_counts(&c);
}

double kendall_tau_b_ref(const double *x, const double *y, size_t n) {
    kendall_counts c;
    kendall_count_pairs_ref(x, y, n, &c);
    return kendall_tau_b_from_counts(&c);
}

double goodman_kruskal_gamma(const double *x, const double *y, size_t n) {
    kendall_counts c;
    kendall_count_alloc(x, y, n, &c);
    return goodman_kruskal_gamma_from_counts(&c);
}

double goodman_kruskal_gamma_ref(const double *x, const double *y, size_t n) {
    kendall_counts c;
    kendall_count_pairs_ref(x, y, n, &c);
    return goodman_kruskal_gamma_from_counts(&c);
}
