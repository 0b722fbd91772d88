/*
 * cluster-gap - the paper's progressive cluster pruning (GRATING / PRISM,
 * arXiv 2510.15620, "Progressive cluster pruning").
 *
 * Rule, before every layer >= min_layer, on the scores s of the active
 * candidates (K' = K - already selected):
 *   0. if n_active <= K' there is nothing to prune: select-drop mode stops the
 *      query (the deferred candidates are exactly the rest of the top-K),
 *      drop-only mode defers (the survivors must reach the last layer);
 *   1. dispersion trigger: CV = |std / mean| of s (population std). If every
 *      score is equal, CV = 0 (nothing to separate); otherwise a mean of
 *      exactly 0 gives CV = +inf (only possible with score = "logit": the
 *      spread is real but has no scale to compare with, so cluster). If
 *      CV <= threshold, do nothing at this layer;
 *   2. 1-D K-Means of s into k clusters (k clamped to the number of distinct
 *      scores; equal scores always share a cluster);
 *   3. the boundary is the cluster holding the K'-th best active score.
 *      Clusters with a higher mean are SELECTed (select-drop) or DEFERred
 *      (drop-only), clusters with a lower mean are DROPped, the boundary
 *      cluster is DEFERred to the next layer;
 *   4. select-drop mode: when selected-before + selected-now + deferred-now
 *      == K (the boundary cluster ends exactly at the K'-th candidate), STOP:
 *      the deferred candidates fill the top-K. Drop-only never stops.
 *
 * Parameters (all optional):
 *   threshold  (0.05)  CV trigger, >= 0. The paper's speed/precision knob and
 *                      does not give a value. With P(yes) scores, the early
 *                      layers put all candidates within a few percent of each
 *                      other (CV ~0.01) and the clustering there is noise; 0.05
 *                      waits until the spread is 5% of the mean. A starting
 *                      point for the sweep, not a tuned value.
 *   k          (3)     clusters, >= 1. The paper does not give k. Three is the
 *                      smallest k that can separate "clearly in", "undecided"
 *                      and "clearly out"; with k = 2 the boundary cluster
 *                      swallows either the winners or the losers.
 *   init       ("exact") "exact": globally optimal 1-D K-Means by dynamic
 *                      programming (deterministic, no local optima, O(k n^2),
 *                      well under a millisecond for n in the hundreds);
 *                      "quantile" or "kmeans++": Lloyd iterations from those
 *                      seeds, for comparison with a textbook K-Means.
 *   iterations (20)    maximum Lloyd iterations for the non-exact inits, >= 1;
 *                      1-D Lloyd on tens of points converges in a few.
 *   seed       (0)     k-means++ seed, >= 0 (gsl_rng_mt19937, re-seeded for
 *                      every clustering so verdicts depend only on the scores).
 *   mode       ("select-drop") or "drop-only", the paper's exact-ranking mode:
 *                      never selects and never stops, so the survivors are
 *                      ranked by their final scores.
 *   score      ("probability") sigmoid(logit) = the paper's P(yes), bounded
 *                      and positive so the CV is meaningful; or "logit" (the
 *                      raw head output; the CV blows up when the mean nears 0).
 *   min_layer  (1)     do nothing before this layer, >= 0. Layer 0 is the
 *                      embedding output, where the head has seen no context.
 */
#include "kmeans1d.h"
#include "policy.h"

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CG_NAME "cluster-gap"

typedef struct {
    // Parameters.
    double threshold;
    size_t k;
    kmeans1d_method init;
    size_t iterations;
    unsigned long seed;
    int drop_only;
    int logit;
    int min_layer;
    // Per-query state (allocated in reset, grown only when N grows).
    size_t n, top_k, cap;
    double *x;      // (cap) scores of the active candidates, transformed
    double *sorted; // (cap) ascending copy of x
    size_t *labels; // (cap) cluster of each active candidate
    double *means;  // (k) cluster means, ascending
    kmeans1d *km;
} cluster_gap_state;

// Reads an optional string parameter that must be one of `choices`
// (NULL-terminated); *index is left unchanged when the key is absent.
static status cg_param_choice(const cJSON *params, const char *key, const char *const *choices,
                              int *index) {
    const char *value = NULL;
    status st = policy_param_string(CG_NAME, params, key, &value);
    if (st != STATUS_OK || !value) return st;
    for (int i = 0; choices[i]; i++) {
        if (strcmp(value, choices[i]) == 0) {
            *index = i;
            return STATUS_OK;
        }
    }
    char known[256] = "";
    for (int i = 0; choices[i]; i++) {
        if (i) strncat(known, ", ", sizeof known - strlen(known) - 1);
        strncat(known, choices[i], sizeof known - strlen(known) - 1);
    }
    return status_fail(STATUS_ERR_ARG, "policy %s: parameter '%s' must be one of %s (got '%s')",
                       CG_NAME, key, known, value);
}

static status cg_create(const cJSON *params, void **state) {
    static const char *const allowed[] = {"threshold", "k",     "init",      "iterations", "seed",
                                          "mode",      "score", "min_layer", NULL};
    static const char *const inits[] = {"exact", "quantile", "kmeans++", NULL};
    static const char *const modes[] = {"select-drop", "drop-only", NULL};
    static const char *const scores[] = {"probability", "logit", NULL};
    *state = NULL;
    status st = policy_params_check_keys(CG_NAME, params, allowed);
    if (st != STATUS_OK) return st;

    double threshold = 0.05;
    long k = 3, iterations = 20, seed = 0, min_layer = 1;
    int init = 0, mode = 0, score = 0;
    if ((st = policy_param_double(CG_NAME, params, "threshold", &threshold)) != STATUS_OK ||
        (st = policy_param_int(CG_NAME, params, "k", &k)) != STATUS_OK ||
        (st = cg_param_choice(params, "init", inits, &init)) != STATUS_OK ||
        (st = policy_param_int(CG_NAME, params, "iterations", &iterations)) != STATUS_OK ||
        (st = policy_param_int(CG_NAME, params, "seed", &seed)) != STATUS_OK ||
        (st = cg_param_choice(params, "mode", modes, &mode)) != STATUS_OK ||
        (st = cg_param_choice(params, "score", scores, &score)) != STATUS_OK ||
        (st = policy_param_int(CG_NAME, params, "min_layer", &min_layer)) != STATUS_OK)
        return st;
    if (threshold < 0)
        return status_fail(STATUS_ERR_ARG, "policy %s: parameter 'threshold' must be >= 0 (got %g)",
                           CG_NAME, threshold);
    // The upper bounds only keep the DP table and the int layer numbers sane.
    if (k < 1 || k > 1000)
        return status_fail(STATUS_ERR_ARG,
                           "policy %s: parameter 'k' must be between 1 and 1000 (got %ld)", CG_NAME,
                           k);
    if (iterations < 1 || iterations > 1000000)
        return status_fail(STATUS_ERR_ARG,
                           "policy %s: parameter 'iterations' must be between 1 and 1000000 "
                           "(got %ld)",
                           CG_NAME, iterations);
    if (seed < 0)
        return status_fail(STATUS_ERR_ARG, "policy %s: parameter 'seed' must be >= 0 (got %ld)",
                           CG_NAME, seed);
    if (min_layer < 0 || min_layer > 1000000)
        return status_fail(STATUS_ERR_ARG,
                           "policy %s: parameter 'min_layer' must be between 0 and 1000000 "
                           "(got %ld)",
                           CG_NAME, min_layer);

    cluster_gap_state *cg = calloc(1, sizeof *cg);
    if (!cg) return status_fail(STATUS_ERR_NOMEM, "policy %s: out of memory", CG_NAME);
    cg->threshold = threshold;
    cg->k = (size_t)k;
    cg->init = (kmeans1d_method)init; // the choices list is in kmeans1d_method order
    cg->iterations = (size_t)iterations;
    cg->seed = (unsigned long)seed;
    cg->drop_only = mode == 1;
    cg->logit = score == 1;
    cg->min_layer = (int)min_layer;
    *state = cg;
    return STATUS_OK;
}

static void cg_release(cluster_gap_state *cg) {
    free(cg->x);
    free(cg->sorted);
    free(cg->labels);
    free(cg->means);
    kmeans1d_free(cg->km);
    cg->x = cg->sorted = cg->means = NULL;
    cg->labels = NULL;
    cg->km = NULL;
    cg->cap = 0;
}

static status cg_reset(void *state, size_t n, size_t k) {
    cluster_gap_state *cg = state;
    if (n > cg->cap) {
        cg_release(cg);
        cg->x = malloc(n * sizeof *cg->x);
        cg->sorted = malloc(n * sizeof *cg->sorted);
        cg->labels = malloc(n * sizeof *cg->labels);
        cg->means = malloc(cg->k * sizeof *cg->means);
        status st = STATUS_OK;
        if (cg->x && cg->sorted && cg->labels && cg->means) st = kmeans1d_create(n, cg->k, &cg->km);
        if (!cg->x || !cg->sorted || !cg->labels || !cg->means || st != STATUS_OK) {
            cg_release(cg);
            cg->n = 0;
            return status_fail(STATUS_ERR_NOMEM, "policy %s: out of memory for %zu candidates",
                               CG_NAME, n);
        }
        cg->cap = n;
    }
    cg->n = n;
    cg->top_k = k;
    return STATUS_OK;
}

static status cg_decide(void *state, const policy_input *in, policy_verdict *verdicts, int *stop) {
    cluster_gap_state *cg = state;
    if (cg->n == 0)
        return status_fail(STATUS_ERR_ARG, "policy %s: decide called before reset", CG_NAME);
    if (in->n_active > cg->cap)
        return status_fail(STATUS_ERR_ARG,
                           "policy %s: %zu active candidates at layer %d but reset for %zu",
                           CG_NAME, in->n_active, in->layer, cg->n);
    if (in->layer < cg->min_layer) return STATUS_OK;
    if (in->n_selected >= in->k) {
        // The top-K is already full (only a caller that ignored an earlier
        // STOP gets here): nothing left to decide.
        if (!cg->drop_only) *stop = 1;
        return STATUS_OK;
    }
    size_t kp = in->k - in->n_selected, n = in->n_active;
    if (n <= kp) {
        if (!cg->drop_only) *stop = 1;
        return STATUS_OK;
    }

    for (size_t i = 0; i < n; i++) {
        double s = in->scores[i];
        cg->x[i] = cg->logit ? s : 1.0 / (1.0 + exp(-s));
    }
    memcpy(cg->sorted, cg->x, n * sizeof *cg->x);
    gsl_sort(cg->sorted, 1, n);

    double cv;
    if (cg->sorted[0] == cg->sorted[n - 1]) {
        cv = 0.0;
    } else {
        double mean = gsl_stats_mean(cg->x, 1, n);
        double sd = sqrt(gsl_stats_variance_with_fixed_mean(cg->x, 1, n, mean));
        cv = mean == 0.0 ? INFINITY : fabs(sd / mean);
    }
    if (cv <= cg->threshold) return STATUS_OK;

    kmeans1d_options opt = {.method = cg->init, .iterations = cg->iterations, .seed = cg->seed};
    size_t n_clusters = 0;
    status st =
        kmeans1d_run(cg->km, cg->x, n, cg->k, &opt, cg->labels, cg->means, &n_clusters, NULL);
    if (st != STATUS_OK)
        return status_wrap(st, "policy %s: clustering %zu scores at layer %d", CG_NAME, n,
                           in->layer);

    // The K'-th best score (descending) is the (n - K')-th in ascending order.
    // Equal scores share a cluster, so any candidate with that score gives the
    // boundary, however the ties between them are ordered.
    double kth = cg->sorted[n - kp];
    size_t boundary = 0;
    for (size_t i = 0; i < n; i++) {
        if (cg->x[i] == kth) {
            boundary = cg->labels[i];
            break;
        }
    }
    size_t above = 0, in_boundary = 0;
    for (size_t i = 0; i < n; i++) {
        if (cg->labels[i] > boundary) {
            verdicts[i] = cg->drop_only ? POLICY_DEFER : POLICY_SELECT;
            above++;
        } else if (cg->labels[i] < boundary) {
            verdicts[i] = POLICY_DROP;
        } else {
            in_boundary++;
        }
    }
    // The boundary holds the K'-th best, so above < K' <= above + in_boundary:
    // never too many selections, never too many drops.
    if (!cg->drop_only && above + in_boundary == kp) *stop = 1;
    return STATUS_OK;
}

static void cg_describe(const void *state, cJSON *out) {
    const cluster_gap_state *cg = state;
    cJSON_AddNumberToObject(out, "threshold", cg->threshold);
    cJSON_AddNumberToObject(out, "k", (double)cg->k);
    cJSON_AddStringToObject(out, "init", kmeans1d_method_name(cg->init));
    cJSON_AddNumberToObject(out, "iterations", (double)cg->iterations);
    cJSON_AddNumberToObject(out, "seed", (double)cg->seed);
    cJSON_AddStringToObject(out, "mode", cg->drop_only ? "drop-only" : "select-drop");
    cJSON_AddStringToObject(out, "score", cg->logit ? "logit" : "probability");
    cJSON_AddNumberToObject(out, "min_layer", cg->min_layer);
}

static void cg_destroy(void *state) {
    cluster_gap_state *cg = state;
    if (!cg) return;
    cg_release(cg);
    free(cg);
}

const policy_ops policy_cluster_gap_ops = {
    .name = CG_NAME,
    .summary = "progressive cluster pruning (paper): CV trigger, 1-D K-Means, boundary cluster",
    .create = cg_create,
    .reset = cg_reset,
    .decide = cg_decide,
    .describe = cg_describe,
    .destroy = cg_destroy,
};
