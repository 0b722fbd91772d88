// The policy registry: one line per policy. See policy.h.
#include "policy.h"

#include <string.h>

extern const policy_ops policy_none_ops;
extern const policy_ops policy_cluster_gap_ops;
extern const policy_ops policy_kendall_stability_ops;
extern const policy_ops policy_fixed_schedule_ops;
extern const policy_ops policy_score_gap_ops;
extern const policy_ops policy_asymmetric_threshold_ops;

static const policy_ops *const policy_registry[] = {
    &policy_none_ops,
    &policy_cluster_gap_ops,
    &policy_kendall_stability_ops,
    &policy_fixed_schedule_ops,
    &policy_score_gap_ops,
    &policy_asymmetric_threshold_ops,
};

size_t policy_count(void) {
    return sizeof policy_registry / sizeof policy_registry[0];
}

const policy_ops *policy_at(size_t i) {
    return i < policy_count() ? policy_registry[i] : NULL;
}

const policy_ops *policy_find(const char *name) {
    for (size_t i = 0; i < policy_count(); i++)
        if (strcmp(policy_registry[i]->name, name) == 0) return policy_registry[i];
    return NULL;
}
