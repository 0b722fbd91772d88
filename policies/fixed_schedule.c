/*
 * fixed-schedule - drop a fixed share of the candidates at fixed layers, the
 * Cascade Transformer rule (Soldaini & Moschitti, ACL 2020): no look at how
 * the scores are spread, only at their order.
 *
 * Rule: at a layer l listed in the schedule, keep the top
 *   max(K', keep)                  when keep is a count (an integer >= 1),
 *   max(K', ceil(keep * N))        when keep is a fraction in (0, 1) of the
 *                                  query's N candidates (not of the active ones,
 *                                  so a schedule reads like Cascade's "keep 50%
 *                                  of the batch"),
 * active candidates by score (ties: lower candidate id kept) and DROP the
 * rest (K' = K - selected; keeping at least K' keeps the top-K fillable).
 * Nothing happens when that many or fewer are active, or at other layers.
 * Never selects and never stops: the survivors run to the last layer and are
 * ranked by their final scores. Raw logits are compared (only the order
 * matters).
 *
 * Parameters:
 *   schedule  (required) a non-empty array of {"layer": l, "keep": x} with
 *             integer layers l >= 0, strictly increasing, and x as above. It
 *             has no default: an empty schedule is the `none` policy, and a
 *             forgotten one should not silently become a full forward. A layer
 *             the model never reaches (l >= n_layers) is an error at decide
 *             time rather than a silently ignored step.
 * ceil(x * N) is taken with a 1e-9 tolerance so that 0.28 * 25 =
 * 7.000000000000001 in doubles keeps 7, not 8.
 */
#include "policy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define FS_NAME "fixed-schedule"

typedef struct {
    int layer;
    double keep;     // the value as given
    int is_fraction; // keep in (0, 1)
} fs_step;

typedef struct {
    fs_step *steps;
    size_t n_steps;
    size_t n, cap;
    double *s;     // (cap) scores of the active candidates
    size_t *order; // (cap) ranking scratch
} fixed_schedule_state;

static status fs_parse_step(const cJSON *item, size_t i, fs_step *step) {
    static const char *const keys[] = {"layer", "keep", NULL};
    if (!cJSON_IsObject(item))
        return status_fail(STATUS_ERR_ARG,
                           "policy %s: schedule[%zu] must be an object {\"layer\": l, \"keep\": x}",
                           FS_NAME, i);
    const cJSON *field;
    cJSON_ArrayForEach(field, item) {
        int ok = 0;
        for (size_t j = 0; keys[j]; j++)
            ok |= strcmp(field->string, keys[j]) == 0;
        if (!ok)
            return status_fail(STATUS_ERR_ARG,
                               "policy %s: schedule[%zu]: unknown key '%s' (accepted: layer, keep)",
                               FS_NAME, i, field->string);
    }
    const cJSON *layer = cJSON_GetObjectItemCaseSensitive(item, "layer");
    const cJSON *keep = cJSON_GetObjectItemCaseSensitive(item, "keep");
    if (!layer)
        return status_fail(STATUS_ERR_ARG, "policy %s: schedule[%zu] has no 'layer'", FS_NAME, i);
    if (!keep)
        return status_fail(STATUS_ERR_ARG, "policy %s: schedule[%zu] has no 'keep'", FS_NAME, i);
    if (!cJSON_IsNumber(layer) || layer->valuedouble != floor(layer->valuedouble) ||
        layer->valuedouble < 0 || layer->valuedouble > 1000000)
        return status_fail(STATUS_ERR_ARG,
                           "policy %s: schedule[%zu].layer must be an integer between 0 and "
                           "1000000",
                           FS_NAME, i);
    if (!cJSON_IsNumber(keep) || !isfinite(keep->valuedouble))
        return status_fail(STATUS_ERR_ARG, "policy %s: schedule[%zu].keep must be a number",
                           FS_NAME, i);
    double x = keep->valuedouble;
    if (!(x > 0) || (x >= 1 && x != floor(x)) || x > 1e9)
        return status_fail(STATUS_ERR_ARG,
                           "policy %s: schedule[%zu].keep must be a count (an integer >= 1) or a "
                           "fraction in (0, 1) of the candidates (got %g)",
                           FS_NAME, i, x);
    step->layer = (int)layer->valuedouble;
    step->keep = x;
    step->is_fraction = x < 1;
    return STATUS_OK;
}

static status fs_create(const cJSON *params, void **state) {
    static const char *const allowed[] = {"schedule", NULL};
    *state = NULL;
    status st = policy_params_check_keys(FS_NAME, params, allowed);
    if (st != STATUS_OK) return st;
    const cJSON *schedule = params ? cJSON_GetObjectItemCaseSensitive(params, "schedule") : NULL;
    if (!schedule)
        return status_fail(STATUS_ERR_MISSING,
                           "policy %s: parameter 'schedule' is required, e.g. "
                           "{\"schedule\": [{\"layer\": 4, \"keep\": 0.5}, {\"layer\": 8, "
                           "\"keep\": 10}]}",
                           FS_NAME);
    if (!cJSON_IsArray(schedule))
        return status_fail(STATUS_ERR_ARG,
                           "policy %s: parameter 'schedule' must be an array of {\"layer\": l, "
                           "\"keep\": x} objects",
                           FS_NAME);
    size_t count = (size_t)cJSON_GetArraySize(schedule);
    if (count == 0)
        return status_fail(STATUS_ERR_ARG,
                           "policy %s: parameter 'schedule' is empty (use the 'none' policy for "
                           "a full forward)",
                           FS_NAME);

    fixed_schedule_state *fs = calloc(1, sizeof *fs);
    if (!fs || !(fs->steps = calloc(count, sizeof *fs->steps))) {
        free(fs);
        return status_fail(STATUS_ERR_NOMEM, "policy %s: out of memory", FS_NAME);
    }
    fs->n_steps = count;
    size_t i = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, schedule) {
        st = fs_parse_step(item, i, &fs->steps[i]);
        if (st == STATUS_OK && i > 0 && fs->steps[i].layer <= fs->steps[i - 1].layer)
            st = status_fail(STATUS_ERR_ARG,
                             "policy %s: schedule[%zu].layer = %d does not come after "
                             "schedule[%zu].layer = %d (layers must be strictly increasing)",
                             FS_NAME, i, fs->steps[i].layer, i - 1, fs->steps[i - 1].layer);
        if (st != STATUS_OK) {
            free(fs->steps);
            free(fs);
            return st;
        }
        i++;
    }
    *state = fs;
    return STATUS_OK;
}

static void fs_release(fixed_schedule_state *fs) {
    free(fs->s);
    free(fs->order);
    fs->s = NULL;
    fs->order = NULL;
    fs->cap = 0;
}

static status fs_reset(void *state, size_t n, size_t k) {
    fixed_schedule_state *fs = state;
    (void)k;
    if (n > fs->cap) {
        fs_release(fs);
        fs->s = malloc(n * sizeof *fs->s);
        fs->order = malloc(n * sizeof *fs->order);
        if (!fs->s || !fs->order) {
            fs_release(fs);
            fs->n = 0;
            return status_fail(STATUS_ERR_NOMEM, "policy %s: out of memory for %zu candidates",
                               FS_NAME, n);
        }
        fs->cap = n;
    }
    fs->n = n;
    return STATUS_OK;
}

// Descending score, ties by position (= ascending candidate id).
static int fs_cmp_desc(const void *a, const void *b, void *ctx) {
    const double *s = ctx;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    if (s[i] > s[j]) return -1;
    if (s[i] < s[j]) return 1;
    return (i > j) - (i < j);
}

static status fs_decide(void *state, const policy_input *in, policy_verdict *verdicts, int *stop) {
    fixed_schedule_state *fs = state;
    (void)stop;
    if (fs->n == 0)
        return status_fail(STATUS_ERR_ARG, "policy %s: decide called before reset", FS_NAME);
    if (in->n_active > fs->cap)
        return status_fail(STATUS_ERR_ARG,
                           "policy %s: %zu active candidates at layer %d but reset for %zu",
                           FS_NAME, in->n_active, in->layer, fs->n);
    const fs_step *last = &fs->steps[fs->n_steps - 1];
    if (last->layer >= in->n_layers)
        return status_fail(STATUS_ERR_ARG,
                           "policy %s: schedule layer %d is never reached: decisions are made "
                           "after layers 0 .. %d of this %d-layer model",
                           FS_NAME, last->layer, in->n_layers - 1, in->n_layers);
    const fs_step *step = NULL;
    for (size_t i = 0; i < fs->n_steps && !step; i++)
        if (fs->steps[i].layer == in->layer) step = &fs->steps[i];
    if (!step) return STATUS_OK;

    size_t kp = in->k > in->n_selected ? in->k - in->n_selected : 0;
    size_t keep =
        step->is_fraction ? (size_t)ceil(step->keep * (double)fs->n - 1e-9) : (size_t)step->keep;
    if (keep < kp) keep = kp;
    size_t n = in->n_active;
    if (keep >= n) return STATUS_OK;
    for (size_t i = 0; i < n; i++) {
        fs->order[i] = i;
        fs->s[i] = in->scores[i];
    }
    qsort_r(fs->order, n, sizeof *fs->order, fs_cmp_desc, fs->s);
    for (size_t r = keep; r < n; r++)
        verdicts[fs->order[r]] = POLICY_DROP;
    return STATUS_OK;
}

static void fs_describe(const void *state, cJSON *out) {
    const fixed_schedule_state *fs = state;
    cJSON *arr = cJSON_AddArrayToObject(out, "schedule");
    if (!arr) return;
    for (size_t i = 0; i < fs->n_steps; i++) {
        cJSON *o = cJSON_CreateObject();
        if (!o) return;
        cJSON_AddNumberToObject(o, "layer", fs->steps[i].layer);
        cJSON_AddNumberToObject(o, "keep", fs->steps[i].keep);
        cJSON_AddItemToArray(arr, o);
    }
}

static void fs_destroy(void *state) {
    fixed_schedule_state *fs = state;
    if (!fs) return;
    fs_release(fs);
    free(fs->steps);
    free(fs);
}

const policy_ops policy_fixed_schedule_ops = {
    .name = FS_NAME,
    .summary = "Cascade-style: keep a fixed count or fraction of the candidates at given layers",
    .create = fs_create,
    .reset = fs_reset,
    .decide = fs_decide,
    .describe = fs_describe,
    .destroy = fs_destroy,
    // No default schedule (see above).
    .example_params = "{\"schedule\": [{\"layer\": 1, \"keep\": 0.5}]}",
};
