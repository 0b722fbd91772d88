/*
 * kendall-stability - stop when the ranking of the active candidates has
 * stopped changing (rank stability, in the spirit of PABEE's "patience",
 * Zhou et al. 2020, applied to the ranking instead of one prediction).
 *
 * Rule, before every layer l (scores after layer l of the active candidates):
 *   1. if decide() was called for layer l - 1 of this query, tau = Kendall
 *      tau-b (with ties, kendall.h) between the scores of the currently
 *      active candidates after layer l - 1 and after layer l (the active set
 *      only shrinks, so every active candidate has both). With fewer than two
 *      active candidates tau is undefined; it counts as stable (1.0): a single
 *      candidate's rank cannot change. If either layer has all scores tied,
 *      tau-b is undefined too; that counts as unstable: an all-tied ranking
 *      carries no information, and trusting it would rank by candidate id;
 *   2. streak = number of consecutive layers with tau >= threshold (reset to
 *      0 by an unstable layer, and by a gap in the layers seen, e.g. the first
 *      call of a query or a skipped layer: there is nothing to compare with);
 *   3. if l >= min_layer and streak >= patience: SELECT the top K' = K -
 *      selected by current score (ties: lower candidate id), DROP the rest,
 *      STOP. The streak keeps counting before min_layer, so a ranking stable
 *      since early on fires at min_layer itself.
 * Raw logits are compared (the rule is rank-based; sigmoid is monotone, but
 * it would turn large logits into artificial ties at 1.0).
 *
 * Parameters (all optional):
 *   threshold (0.9)  tau needed for a layer to count as stable, in [-1, 1].
 *                    0.9 with 20 candidates allows about one swapped pair in
 *                    twenty (tau = 1 - 2 D / 190 >= 0.9 means D <= 9 of 190
 *                    pairs): near-identical rankings, but not demanding that
 *                    the noisy bottom stops moving entirely.
 *   patience  (2)    stable layers in a row needed, >= 1. One stable layer
 *                    can be chance; two is the smallest patience that asks
 *                    for a confirmation. A starting point for the sweep.
 *   min_layer (1)    never stop before this layer, >= 0 (a tau needs layer
 *                    l - 1 anyway, so the earliest possible stop is layer
 *                    `patience`).
 */
#include "kendall.h"
#include "policy.h"

#include <math.h>
#include <stdlib.h>

#define KS_NAME "kendall-stability"

typedef struct {
    // Parameters.
    double threshold;
    long patience;
    int min_layer;
    // Per-query state.
    size_t n, cap;
    double *prev;  // (cap) score of candidate id after the previous layer seen
    double *x, *y; // (cap) previous and current scores of the active candidates
    size_t *work;  // (2 cap) kendall workspace, then the ranking
    int prev_layer;
    long streak;
} kendall_stability_state;

static status ks_create(const cJSON *params, void **state) {
    static const char *const allowed[] = {"threshold", "patience", "min_layer", NULL};
    *state = NULL;
    status st = policy_params_check_keys(KS_NAME, params, allowed);
    if (st != STATUS_OK) return st;
    double threshold = 0.9;
    long patience = 2, min_layer = 1;
    if ((st = policy_param_double(KS_NAME, params, "threshold", &threshold)) != STATUS_OK ||
        (st = policy_param_int(KS_NAME, params, "patience", &patience)) != STATUS_OK ||
        (st = policy_param_int(KS_NAME, params, "min_layer", &min_layer)) != STATUS_OK)
        return st;
    if (threshold < -1.0 || threshold > 1.0)
        return status_fail(STATUS_ERR_ARG,
                           "policy %s: parameter 'threshold' must be a tau in [-1, 1] (got %g)",
                           KS_NAME, threshold);
    if (patience < 1 || patience > 1000000)
        return status_fail(STATUS_ERR_ARG,
                           "policy %s: parameter 'patience' must be between 1 and 1000000 "
                           "(got %ld)",
                           KS_NAME, patience);
    if (min_layer < 0 || min_layer > 1000000)
        return status_fail(STATUS_ERR_ARG,
                           "policy %s: parameter 'min_layer' must be between 0 and 1000000 "
                           "(got %ld)",
                           KS_NAME, min_layer);
    kendall_stability_state *ks = calloc(1, sizeof *ks);
    if (!ks) return status_fail(STATUS_ERR_NOMEM, "policy %s: out of memory", KS_NAME);
    ks->threshold = threshold;
    ks->patience = patience;
    ks->min_layer = (int)min_layer;
    ks->prev_layer = -1;
    *state = ks;
    return STATUS_OK;
}

static void ks_release(kendall_stability_state *ks) {
    free(ks->prev);
    free(ks->x);
    free(ks->y);
    free(ks->work);
    ks->prev = ks->x = ks->y = NULL;
    ks->work = NULL;
    ks->cap = 0;
}

static status ks_reset(void *state, size_t n, size_t k) {
    kendall_stability_state *ks = state;
    (void)k;
    if (n > ks->cap) {
        ks_release(ks);
        ks->prev = malloc(n * sizeof *ks->prev);
        ks->x = malloc(n * sizeof *ks->x);
        ks->y = malloc(n * sizeof *ks->y);
        ks->work = malloc(2 * n * sizeof *ks->work);
        if (!ks->prev || !ks->x || !ks->y || !ks->work) {
            ks_release(ks);
            ks->n = 0;
            return status_fail(STATUS_ERR_NOMEM, "policy %s: out of memory for %zu candidates",
                               KS_NAME, n);
        }
        ks->cap = n;
    }
    ks->n = n;
    ks->prev_layer = -1;
    ks->streak = 0;
    return STATUS_OK;
}

// Descending score, ties by position (= ascending candidate id).
static int ks_cmp_desc(const void *a, const void *b, void *ctx) {
    const double *s = ctx;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    if (s[i] > s[j]) return -1;
    if (s[i] < s[j]) return 1;
    return (i > j) - (i < j);
}

static status ks_decide(void *state, const policy_input *in, policy_verdict *verdicts, int *stop) {
    kendall_stability_state *ks = state;
    if (ks->n == 0)
        return status_fail(STATUS_ERR_ARG, "policy %s: decide called before reset", KS_NAME);
    size_t n = in->n_active;
    for (size_t i = 0; i < n; i++)
        if (in->ids[i] >= ks->n)
            return status_fail(STATUS_ERR_ARG,
                               "policy %s: candidate id %zu at layer %d is not below N = %zu",
                               KS_NAME, in->ids[i], in->layer, ks->n);

    if (ks->prev_layer >= 0 && in->layer == ks->prev_layer + 1) {
        double tau = 1.0;
        if (n >= 2) {
            for (size_t i = 0; i < n; i++) {
                ks->x[i] = ks->prev[in->ids[i]];
                ks->y[i] = in->scores[i];
            }
            tau = kendall_tau_b_ws(ks->x, ks->y, n, ks->work);
        }
        // A NaN tau (an all-tied layer) fails the comparison: unstable.
        ks->streak = tau >= ks->threshold ? ks->streak + 1 : 0;
    } else {
        ks->streak = 0;
    }
    for (size_t i = 0; i < n; i++)
        ks->prev[in->ids[i]] = in->scores[i];
    ks->prev_layer = in->layer;

    if (in->layer < ks->min_layer || ks->streak < ks->patience) return STATUS_OK;
    size_t kp = in->k > in->n_selected ? in->k - in->n_selected : 0;
    size_t *order = ks->work;
    for (size_t i = 0; i < n; i++) {
        order[i] = i;
        ks->y[i] = in->scores[i];
    }
    qsort_r(order, n, sizeof *order, ks_cmp_desc, ks->y);
    for (size_t r = 0; r < n; r++)
        verdicts[order[r]] = r < kp ? POLICY_SELECT : POLICY_DROP;
    *stop = 1;
    return STATUS_OK;
}

static void ks_describe(const void *state, cJSON *out) {
    const kendall_stability_state *ks = state;
    cJSON_AddNumberToObject(out, "threshold", ks->threshold);
    cJSON_AddNumberToObject(out, "patience", (double)ks->patience);
    cJSON_AddNumberToObject(out, "min_layer", ks->min_layer);
}

static void ks_destroy(void *state) {
    kendall_stability_state *ks = state;
    if (!ks) return;
    ks_release(ks);
    free(ks);
}

const policy_ops policy_kendall_stability_ops = {
    .name = KS_NAME,
    .summary = "stop when Kendall tau-b between consecutive layers' rankings stays >= threshold "
               "for `patience` layers",
    .create = ks_create,
    .reset = ks_reset,
    .decide = ks_decide,
    .describe = ks_describe,
    .destroy = ks_destroy,
};
