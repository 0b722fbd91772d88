/*
 * score-gap - stop as soon as a fixed absolute gap separates the top K' from
 * the rest. This is the rule the paper (GRATING / PRISM, arXiv 2510.15620)
 * argues against: the same gap (its example: 0.2) can mean a settled ranking
 * in one score distribution and an unsettled one in another. It is kept as a
 * baseline to show that.
 *
 * Rule, before every layer >= min_layer, with K' = K - selected:
 *   - if n_active <= K': SELECT all active candidates and STOP (the top-K is
 *     determined);
 *   - else sort the active scores descending, s[0] >= s[1] >= ...; if
 *     s[K'-1] - s[K'] >= gap: SELECT the top K' (ties: lower candidate id
 *     first; a tie across the cut has gap 0, so it never fires there unless
 *     gap were 0, which is rejected), DROP the rest, STOP;
 *   - else do nothing.
 *
 * Parameters (all optional):
 *   gap       (0.2)  the absolute gap, > 0 (and < 1 with probability scores,
 *                    where a gap of 1 or more can never be reached). 0.2 is the
 *                    paper's own example of such a gap.
 *   score     ("probability") the sigmoid of the logit, as in the paper's
 *                    example; or "logit".
 *   min_layer (1)    do nothing before this layer, >= 0 (layer 0 is the
 *                    embedding output, before any context).
 */
#include "policy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SG_NAME "score-gap"

typedef struct {
    double gap;
    int logit;
    int min_layer;
    size_t n, cap;
    double *s;     // (cap) transformed scores of the active candidates
    size_t *order; // (cap) ranking scratch
} score_gap_state;

static status sg_param_score(const cJSON *params, int *logit) {
    const char *value = NULL;
    status st = policy_param_string(SG_NAME, params, "score", &value);
    if (st != STATUS_OK || !value) return st;
    if (strcmp(value, "probability") != 0 && strcmp(value, "logit") != 0)
        return status_fail(STATUS_ERR_ARG,
                           "policy %s: parameter 'score' must be one of probability, logit "
                           "(got '%s')",
                           SG_NAME, value);
    *logit = strcmp(value, "logit") == 0;
    return STATUS_OK;
}

static status sg_create(const cJSON *params, void **state) {
    static const char *const allowed[] = {"gap", "score", "min_layer", NULL};
    *state = NULL;
    status st = policy_params_check_keys(SG_NAME, params, allowed);
    if (st != STATUS_OK) return st;
    double gap = 0.2;
    long min_layer = 1;
    int logit = 0;
    if ((st = policy_param_double(SG_NAME, params, "gap", &gap)) != STATUS_OK ||
        (st = sg_param_score(params, &logit)) != STATUS_OK ||
        (st = policy_param_int(SG_NAME, params, "min_layer", &min_layer)) != STATUS_OK)
        return st;
    if (!(gap > 0))
        return status_fail(STATUS_ERR_ARG, "policy %s: parameter 'gap' must be > 0 (got %g)",
                           SG_NAME, gap);
    if (!logit && gap >= 1)
        return status_fail(STATUS_ERR_ARG,
                           "policy %s: parameter 'gap' must be < 1 with score = probability "
                           "(got %g; probabilities never differ by 1)",
                           SG_NAME, gap);
    if (min_layer < 0 || min_layer > 1000000)
        return status_fail(STATUS_ERR_ARG,
                           "policy %s: parameter 'min_layer' must be between 0 and 1000000 "
                           "(got %ld)",
                           SG_NAME, min_layer);
    score_gap_state *sg = calloc(1, sizeof *sg);
    if (!sg) return status_fail(STATUS_ERR_NOMEM, "policy %s: out of memory", SG_NAME);
    sg->gap = gap;
    sg->logit = logit;
    sg->min_layer = (int)min_layer;
    *state = sg;
    return STATUS_OK;
}

static void sg_release(score_gap_state *sg) {
    free(sg->s);
    free(sg->order);
    sg->s = NULL;
    sg->order = NULL;
    sg->cap = 0;
}

static status sg_reset(void *state, size_t n, size_t k) {
    score_gap_state *sg = state;
    (void)k;
    if (n > sg->cap) {
        sg_release(sg);
        sg->s = malloc(n * sizeof *sg->s);
        sg->order = malloc(n * sizeof *sg->order);
        if (!sg->s || !sg->order) {
            sg_release(sg);
            sg->n = 0;
            return status_fail(STATUS_ERR_NOMEM, "policy %s: out of memory for %zu candidates",
                               SG_NAME, n);
        }
        sg->cap = n;
    }
    sg->n = n;
    return STATUS_OK;
}

// Descending score, ties by position (= ascending candidate id).
static int sg_cmp_desc(const void *a, const void *b, void *ctx) {
    const double *s = ctx;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    if (s[i] > s[j]) return -1;
    if (s[i] < s[j]) return 1;
    return (i > j) - (i < j);
}

static status sg_decide(void *state, const policy_input *in, policy_verdict *verdicts, int *stop) {
    score_gap_state *sg = state;
    if (sg->n == 0)
        return status_fail(STATUS_ERR_ARG, "policy %s: decide called before reset", SG_NAME);
    if (in->n_active > sg->cap)
        return status_fail(STATUS_ERR_ARG,
                           "policy %s: %zu active candidates at layer %d but reset for %zu",
                           SG_NAME, in->n_active, in->layer, sg->n);
    if (in->layer < sg->min_layer) return STATUS_OK;
    size_t kp = in->k > in->n_selected ? in->k - in->n_selected : 0, n = in->n_active;
    if (n <= kp) {
        for (size_t i = 0; i < n; i++)
            verdicts[i] = POLICY_SELECT;
        *stop = 1;
        return STATUS_OK;
    }
    for (size_t i = 0; i < n; i++) {
        double x = in->scores[i];
        sg->s[i] = sg->logit ? x : 1.0 / (1.0 + exp(-x));
        sg->order[i] = i;
    }
    qsort_r(sg->order, n, sizeof *sg->order, sg_cmp_desc, sg->s);
    // kp == 0 (top-K already full) has no upper score: everything goes.
    if (kp > 0 && sg->s[sg->order[kp - 1]] - sg->s[sg->order[kp]] < sg->gap) return STATUS_OK;
    for (size_t r = 0; r < n; r++)
        verdicts[sg->order[r]] = r < kp ? POLICY_SELECT : POLICY_DROP;
    *stop = 1;
    return STATUS_OK;
}

static void sg_describe(const void *state, cJSON *out) {
    const score_gap_state *sg = state;
    cJSON_AddNumberToObject(out, "gap", sg->gap);
    cJSON_AddStringToObject(out, "score", sg->logit ? "logit" : "probability");
    cJSON_AddNumberToObject(out, "min_layer", sg->min_layer);
}

static void sg_destroy(void *state) {
    score_gap_state *sg = state;
    if (!sg) return;
    sg_release(sg);
    free(sg);
}

const policy_ops policy_score_gap_ops = {
    .name = SG_NAME,
    .summary = "stop when a fixed absolute score gap separates the top K' (the rule the paper "
               "argues against)",
    .create = sg_create,
    .reset = sg_reset,
    .decide = sg_decide,
    .describe = sg_describe,
    .destroy = sg_destroy,
};
