/*
 * none - the full forward: every candidate runs every layer and the top-K is
 * taken from the final scores. No parameters.
 */
#include "policy.h"

static status none_create(const cJSON *params, void **state) {
    static const char *const allowed[] = {NULL};
    *state = NULL;
    return policy_params_check_keys("none", params, allowed);
}

static status none_reset(void *state, size_t n, size_t k) {
    (void)state, (void)n, (void)k;
    return STATUS_OK;
}

static status none_decide(void *state, const policy_input *in, policy_verdict *verdicts, int *stop) {
    (void)state, (void)in, (void)verdicts, (void)stop;
    return STATUS_OK;
}

static void none_describe(const void *state, cJSON *out) {
    (void)state, (void)out;
}

static void none_destroy(void *state) {
    (void)state;
}

const policy_ops policy_none_ops = {
    .name = "none",
    .summary = "full forward: no candidate leaves before the last layer",
    .create = none_create,
    .reset = none_reset,
    .decide = none_decide,
    .describe = none_describe,
    .destroy = none_destroy,
};
