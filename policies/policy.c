// Policy lifecycle, input/verdict validation and parameter helpers.
#include "policy.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

status policy_create(const char *name, const cJSON *params, policy **out) {
    *out = NULL;
    const policy_ops *ops = policy_find(name);
    if (!ops) {
        char known[1024] = "";
        for (size_t i = 0; i < policy_count(); i++) {
            if (i) strncat(known, ", ", sizeof known - strlen(known) - 1);
            strncat(known, policy_at(i)->name, sizeof known - strlen(known) - 1);
        }
        return status_fail(STATUS_ERR_ARG, "unknown policy '%s' (known: %s)", name, known);
    }
    if (params && !cJSON_IsObject(params) && !cJSON_IsNull(params))
        return status_fail(STATUS_ERR_ARG, "policy %s: parameters must be a JSON object", name);
    policy *p = calloc(1, sizeof *p);
    if (!p) return status_fail(STATUS_ERR_NOMEM, "policy %s: out of memory", name);
    p->ops = ops;
    status st = ops->create(cJSON_IsObject(params) ? params : NULL, &p->state);
    if (st != STATUS_OK) {
        free(p);
        return st;
    }
    *out = p;
    return STATUS_OK;
}

status policy_reset(policy *p, size_t n_candidates, size_t k) {
    if (n_candidates == 0)
        return status_fail(STATUS_ERR_ARG, "policy %s: no candidates", p->ops->name);
    if (k == 0) return status_fail(STATUS_ERR_ARG, "policy %s: K must be at least 1", p->ops->name);
    if (k > n_candidates)
        return status_fail(STATUS_ERR_ARG, "policy %s: K = %zu is larger than N = %zu candidates",
                           p->ops->name, k, n_candidates);
    return p->ops->reset(p->state, n_candidates, k);
}

status policy_decide(policy *p, const policy_input *in, policy_verdict *verdicts, int *stop) {
    for (size_t i = 0; i < in->n_active; i++) {
        verdicts[i] = POLICY_DEFER;
        if (!isfinite(in->scores[i]))
            return status_fail(STATUS_ERR_NUMERIC,
                               "policy %s: candidate %zu has a non-finite score (%g) at layer %d",
                               p->ops->name, in->ids[i], (double)in->scores[i], in->layer);
    }
    *stop = 0;
    status st = p->ops->decide(p->state, in, verdicts, stop);
    if (st != STATUS_OK) return st;
    size_t selected = 0, dropped = 0;
    for (size_t i = 0; i < in->n_active; i++) {
        if (verdicts[i] != POLICY_DEFER && verdicts[i] != POLICY_SELECT && verdicts[i] != POLICY_DROP)
            return status_fail(STATUS_ERR_ARG, "policy %s: invalid verdict %d", p->ops->name,
                               (int)verdicts[i]);
        selected += verdicts[i] == POLICY_SELECT;
        dropped += verdicts[i] == POLICY_DROP;
    }
    if (in->n_selected + selected > in->k)
        return status_fail(STATUS_ERR_ARG,
                           "policy %s: selected %zu at layer %d with %zu already selected, K = %zu",
                           p->ops->name, selected, in->layer, in->n_selected, in->k);
    if (in->n_selected + in->n_active - dropped < in->k)
        return status_fail(STATUS_ERR_ARG,
                           "policy %s: dropped %zu at layer %d, leaving %zu selected + active "
                           "candidates for K = %zu",
                           p->ops->name, dropped, in->layer, in->n_selected + in->n_active - dropped,
                           in->k);
    return STATUS_OK;
}

cJSON *policy_describe(const policy *p) {
    cJSON *o = cJSON_CreateObject();
    if (o && p->ops->describe) p->ops->describe(p->state, o);
    return o;
}

void policy_free(policy *p) {
    if (!p) return;
    if (p->ops->destroy) p->ops->destroy(p->state);
    free(p);
}

status policy_params_check_keys(const char *policy_name, const cJSON *params,
                                const char *const *allowed) {
    if (!params) return STATUS_OK;
    const cJSON *item;
    cJSON_ArrayForEach(item, params) {
        int ok = 0;
        for (size_t i = 0; allowed[i]; i++) ok |= strcmp(item->string, allowed[i]) == 0;
        if (!ok) {
            char keys[512] = "";
            for (size_t i = 0; allowed[i]; i++) {
                if (i) strncat(keys, ", ", sizeof keys - strlen(keys) - 1);
                strncat(keys, allowed[i], sizeof keys - strlen(keys) - 1);
            }
            return status_fail(STATUS_ERR_ARG, "policy %s: unknown parameter '%s' (accepted: %s)",
                               policy_name, item->string, keys[0] ? keys : "none");
        }
    }
    return STATUS_OK;
}

status policy_param_double(const char *policy_name, const cJSON *params, const char *key,
                           double *value) {
    const cJSON *item = params ? cJSON_GetObjectItemCaseSensitive(params, key) : NULL;
    if (!item) return STATUS_OK;
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
        return status_fail(STATUS_ERR_ARG, "policy %s: parameter '%s' must be a finite number",
                           policy_name, key);
    *value = item->valuedouble;
    return STATUS_OK;
}

status policy_param_int(const char *policy_name, const cJSON *params, const char *key,
                        long *value) {
    const cJSON *item = params ? cJSON_GetObjectItemCaseSensitive(params, key) : NULL;
    if (!item) return STATUS_OK;
    if (!cJSON_IsNumber(item) || item->valuedouble != floor(item->valuedouble) ||
        fabs(item->valuedouble) > 1e15)
        return status_fail(STATUS_ERR_ARG, "policy %s: parameter '%s' must be an integer",
                           policy_name, key);
    *value = (long)item->valuedouble;
    return STATUS_OK;
}

status policy_param_string(const char *policy_name, const cJSON *params, const char *key,
                           const char **value) {
    const cJSON *item = params ? cJSON_GetObjectItemCaseSensitive(params, key) : NULL;
    if (!item) return STATUS_OK;
    if (!cJSON_IsString(item))
        return status_fail(STATUS_ERR_ARG, "policy %s: parameter '%s' must be a string",
                           policy_name, key);
    *value = item->valuestring;
    return STATUS_OK;
}
