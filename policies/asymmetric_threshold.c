/*
 * asymmetric-threshold - per-candidate early exits with separate thresholds
 * for "relevant" and "irrelevant" (Xin, Nogueira, Yu & Lin 2020, "Early
 * Exiting BERT for Efficient Document Ranking": a candidate leaves as positive
 * when its score reaches PC and as negative when it falls to NC).
 *
 * Rule, before every layer >= min_layer, with K' = K - selected:
 *   - positives: candidates with score >= positive are SELECTed, at most K' of
 *     them: the highest scores first (ties: lower candidate id); the others
 *     stay DEFERred (the top-K is a fixed size, unlike a per-candidate
 *     classifier);
 *   - negatives: candidates with score <= negative are DROPped, but at most
 *     selected + active - K of them, so that K candidates remain selected or
 *     active; the highest-scoring would-be-dropped ones are kept (ties: lower
 *     candidate id kept);
 *   - STOP when the top-K is full (selected before + selected now == K).
 * When the top-K is already full on entry (a caller that ignored STOP), STOP.
 *
 * Parameters:
 *   positive  (null = disabled)  select threshold;
 *   negative  (null = disabled)  drop threshold; at least one of the two must
 *             be set: both null is the `none` policy. When both are set,
 *             negative < positive (otherwise a candidate could be both). With
 *             probability scores both lie in [0, 1]. No defaults: Xin et al.
 *             tune them per model and dataset, and the trace-then-sweep design
 *             does the same.
 *   score     ("probability") the sigmoid of the logit (bounded, so one pair
 *             of thresholds transfers between layers better); or "logit".
 *   min_layer (1)  do nothing before this layer, >= 0 (layer 0 is the
 *             embedding output, before any context).
 */
#include "policy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define AT_NAME "asymmetric-threshold"

typedef struct {
    double positive, negative;
    int has_positive, has_negative;
    int logit;
    int min_layer;
    size_t n, cap;
    double *s;     // (cap) transformed scores of the active candidates
    size_t *order; // (cap) ranking scratch
} asymmetric_threshold_state;

// An optional number that may also be JSON null (= disabled).
static status at_param_optional(const cJSON *params, const char *key, double *value, int *set) {
    const cJSON *item = params ? cJSON_GetObjectItemCaseSensitive(params, key) : NULL;
    if (!item || cJSON_IsNull(item)) return STATUS_OK;
    status st = policy_param_double(AT_NAME, params, key, value);
    if (st != STATUS_OK)
        return status_fail(st, "policy %s: parameter '%s' must be a finite number or null", AT_NAME,
                           key);
    *set = 1;
    return STATUS_OK;
}

static status at_create(const cJSON *params, void **state) {
    static const char *const allowed[] = {"positive", "negative", "score", "min_layer", NULL};
    *state = NULL;
    status st = policy_params_check_keys(AT_NAME, params, allowed);
    if (st != STATUS_OK) return st;
    double positive = 0, negative = 0;
    int has_positive = 0, has_negative = 0, logit = 0;
    long min_layer = 1;
    const char *score = NULL;
    if ((st = at_param_optional(params, "positive", &positive, &has_positive)) != STATUS_OK ||
        (st = at_param_optional(params, "negative", &negative, &has_negative)) != STATUS_OK ||
        (st = policy_param_string(AT_NAME, params, "score", &score)) != STATUS_OK ||
        (st = policy_param_int(AT_NAME, params, "min_layer", &min_layer)) != STATUS_OK)
        return st;
    if (score) {
        if (strcmp(score, "probability") != 0 && strcmp(score, "logit") != 0)
            return status_fail(STATUS_ERR_ARG,
                               "policy %s: parameter 'score' must be one of probability, logit "
                               "(got '%s')",
                               AT_NAME, score);
        logit = strcmp(score, "logit") == 0;
    }
    if (!has_positive && !has_negative)
        return status_fail(STATUS_ERR_ARG,
                           "policy %s: at least one of the parameters 'positive' and 'negative' "
                           "must be set (with neither it is the 'none' policy)",
                           AT_NAME);
    if (has_positive && has_negative && !(negative < positive))
        return status_fail(STATUS_ERR_ARG,
                           "policy %s: parameter 'negative' (%g) must be below 'positive' (%g)",
                           AT_NAME, negative, positive);
    if (!logit && has_positive && (positive < 0 || positive > 1))
        return status_fail(STATUS_ERR_ARG,
                           "policy %s: parameter 'positive' must be in [0, 1] with score = "
                           "probability (got %g)",
                           AT_NAME, positive);
    if (!logit && has_negative && (negative < 0 || negative > 1))
        return status_fail(STATUS_ERR_ARG,
                           "policy %s: parameter 'negative' must be in [0, 1] with score = "
                           "probability (got %g)",
                           AT_NAME, negative);
    if (min_layer < 0 || min_layer > 1000000)
        return status_fail(STATUS_ERR_ARG,
                           "policy %s: parameter 'min_layer' must be between 0 and 1000000 "
                           "(got %ld)",
                           AT_NAME, min_layer);
    asymmetric_threshold_state *at = calloc(1, sizeof *at);
    if (!at) return status_fail(STATUS_ERR_NOMEM, "policy %s: out of memory", AT_NAME);
    at->positive = positive;
    at->negative = negative;
    at->has_positive = has_positive;
    at->has_negative = has_negative;
    at->logit = logit;
    at->min_layer = (int)min_layer;
    *state = at;
    return STATUS_OK;
}

static void at_release(asymmetric_threshold_state *at) {
    free(at->s);
    free(at->order);
    at->s = NULL;
    at->order = NULL;
    at->cap = 0;
}

static status at_reset(void *state, size_t n, size_t k) {
    asymmetric_threshold_state *at = state;
    (void)k;
    if (n > at->cap) {
        at_release(at);
        at->s = malloc(n * sizeof *at->s);
        at->order = malloc(n * sizeof *at->order);
        if (!at->s || !at->order) {
            at_release(at);
            at->n = 0;
            return status_fail(STATUS_ERR_NOMEM, "policy %s: out of memory for %zu candidates",
                               AT_NAME, n);
        }
        at->cap = n;
    }
    at->n = n;
    return STATUS_OK;
}

// Descending score, ties by position (= ascending candidate id).
static int at_cmp_desc(const void *a, const void *b, void *ctx) {
    const double *s = ctx;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    if (s[i] > s[j]) return -1;
    if (s[i] < s[j]) return 1;
    return (i > j) - (i < j);
}

static status at_decide(void *state, const policy_input *in, policy_verdict *verdicts, int *stop) {
    asymmetric_threshold_state *at = state;
    if (at->n == 0)
        return status_fail(STATUS_ERR_ARG, "policy %s: decide called before reset", AT_NAME);
    if (in->n_active > at->cap)
        return status_fail(STATUS_ERR_ARG,
                           "policy %s: %zu active candidates at layer %d but reset for %zu",
                           AT_NAME, in->n_active, in->layer, at->n);
    if (in->layer < at->min_layer) return STATUS_OK;
    if (in->n_selected >= in->k) {
        *stop = 1;
        return STATUS_OK;
    }
    size_t kp = in->k - in->n_selected, n = in->n_active;
    for (size_t i = 0; i < n; i++) {
        double x = in->scores[i];
        at->s[i] = at->logit ? x : 1.0 / (1.0 + exp(-x));
        at->order[i] = i;
    }
    qsort_r(at->order, n, sizeof *at->order, at_cmp_desc, at->s);

    size_t selected = 0;
    for (size_t r = 0; r < n && selected < kp && at->has_positive; r++) {
        size_t i = at->order[r];
        if (at->s[i] < at->positive) break; // descending: no later one qualifies
        verdicts[i] = POLICY_SELECT;
        selected++;
    }
    // Walking the descending order backwards visits ascending scores, equal
    // scores by descending id: the lowest scores and, among ties, the higher
    // ids go first, which keeps the best would-be-dropped ones.
    size_t budget = in->n_selected + n > in->k ? in->n_selected + n - in->k : 0, dropped = 0;
    for (size_t r = n; r-- > 0 && dropped < budget && at->has_negative;) {
        size_t i = at->order[r];
        if (at->s[i] > at->negative) break;
        verdicts[i] = POLICY_DROP;
        dropped++;
    }
    if (in->n_selected + selected == in->k) *stop = 1;
    return STATUS_OK;
}

static void at_describe(const void *state, cJSON *out) {
    const asymmetric_threshold_state *at = state;
    if (at->has_positive)
        cJSON_AddNumberToObject(out, "positive", at->positive);
    else
        cJSON_AddNullToObject(out, "positive");
    if (at->has_negative)
        cJSON_AddNumberToObject(out, "negative", at->negative);
    else
        cJSON_AddNullToObject(out, "negative");
    cJSON_AddStringToObject(out, "score", at->logit ? "logit" : "probability");
    cJSON_AddNumberToObject(out, "min_layer", at->min_layer);
}

static void at_destroy(void *state) {
    asymmetric_threshold_state *at = state;
    if (!at) return;
    at_release(at);
    free(at);
}

const policy_ops policy_asymmetric_threshold_ops = {
    .name = AT_NAME,
    .summary = "per-candidate exits (Xin et al. 2020): select at score >= positive, drop at "
               "score <= negative",
    .create = at_create,
    .reset = at_reset,
    .decide = at_decide,
    .describe = at_describe,
    .destroy = at_destroy,
    // No default thresholds (see above).
    .example_params = "{\"positive\": 0.9, \"negative\": 0.3}",
};
