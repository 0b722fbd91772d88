/*
 * policy.h - the pruning-policy plugin interface and registry.
 *
 * A policy decides, before every layer of a monolithic forward, what happens
 * to each still-active candidate: SELECT it into the top-K (final; it stops
 * computing), DROP it (out; stops computing), or DEFER it (it is computed at
 * the next layer). It may also STOP the query (every active candidate keeps
 * its latest score and the top-K is filled from them).
 *
 * Policies are pure functions of what they are given: the same sequence of
 * policy_reset/policy_decide calls produces the same verdicts, whether the
 * scores come from a live forward (core/engine/engine.c) or from a trace file
 * (offline replay). A policy may keep state between calls of one query (e.g.
 * the previous layer's ranking) but must derive it only from its inputs.
 *
 * Adding a policy: write policies/<name>.c defining a `const policy_ops
 * policy_<name>_ops` and add one line to policies/registry.c. It is then
 * usable from `grating rerank --policy <name> --policy-args JSON`, the sweep
 * and the benchmarks, and tests/test_arch_contract.c tests it (with its
 * defaults, or its example_params when it has none).
 *
 *     policy *p;
 *     cJSON *args = cJSON_Parse("{\"threshold\": 0.1}");
 *     if (policy_create("cluster-gap", args, &p) != STATUS_OK) ...   // validates args
 *     policy_reset(p, n_candidates, k);
 *     for (int layer = 0; layer < n_layers; layer++) {
 *         policy_input in = {...};             // scores of the active candidates
 *         policy_decide(p, &in, verdicts, &stop);
 *         ...
 *     }
 *     policy_free(p);
 */
#ifndef GRATING_POLICY_H
#define GRATING_POLICY_H

#include "base/status.h"

#include <cjson/cJSON.h>
#include <stddef.h>

typedef enum {
    POLICY_DEFER = 0, // keep computing (the default verdict)
    POLICY_SELECT,    // final member of the top-K; stops computing
    POLICY_DROP,      // not in the top-K; stops computing
} policy_verdict;

// What a policy sees before a layer runs.
typedef struct {
    int layer;       // the scores are the provisional scores after layer `layer`
                     // (0 = embedding output); the next layer to run is layer + 1
    int n_layers;    // L: layers of the model; decide() is called for layer 0 .. L-1
    size_t n_total;  // N: candidates of the query
    size_t k;        // K of the query
    size_t n_selected; // candidates already selected (so K' = k - n_selected)
    size_t n_active;   // candidates still computing
    const size_t *ids;   // (n_active,) candidate indices in [0, N), ascending
    const float *scores; // (n_active,) provisional scores (logits) of those candidates
} policy_input;

typedef struct {
    const char *name;    // registry name, e.g. "cluster-gap"
    const char *summary; // one line for `grating rerank --list-policies`
    // Parses and validates the parameters (NULL or {} = all defaults); unknown
    // keys are an error naming the key and the policy. *state is owned by the
    // policy and released by destroy().
    status (*create)(const cJSON *params, void **state);
    // Starts a new query with N candidates and top-K.
    status (*reset)(void *state, size_t n_candidates, size_t k);
    // Writes one verdict per active candidate (verdicts[i] for in->ids[i]),
    // initialised to POLICY_DEFER by the caller, and may set *stop = 1.
    // Must not select more than K' = k - n_selected candidates, and must not
    // drop so many that fewer than K remain selected or active.
    status (*decide)(void *state, const policy_input *in, policy_verdict *verdicts, int *stop);
    // Writes the effective parameters (defaults filled in) into `out`.
    void (*describe)(const void *state, cJSON *out);
    void (*destroy)(void *state);
    // Policies without defaults (create(NULL) is refused because a default
    // would hide a choice the user must make, e.g. fixed-schedule's schedule)
    // say so here, in one place: a JSON object of example parameters that
    // create accepts, which the contract test (tests/test_arch_contract.c)
    // uses instead of the defaults. NULL: create(NULL) works (the test checks
    // both ways). Examples must be valid for any model of >= 2 layers.
    const char *example_params;
} policy_ops;

// An instantiated policy.
typedef struct policy {
    const policy_ops *ops;
    void *state;
} policy;

// The registry (policies/registry.c).
const policy_ops *policy_find(const char *name);
size_t policy_count(void);
const policy_ops *policy_at(size_t i);

// Creates the named policy with its parameters. Unknown name: STATUS_ERR_ARG
// listing the known names.
status policy_create(const char *name, const cJSON *params, policy **out);
status policy_reset(policy *p, size_t n_candidates, size_t k);
// Validates the input (finite scores: a NaN or Inf is STATUS_ERR_NUMERIC
// naming the candidate and layer) and the verdicts (at most K' selections,
// at least K candidates left selected or active).
status policy_decide(policy *p, const policy_input *in, policy_verdict *verdicts, int *stop);
// The effective parameters as a new JSON object (caller deletes).
cJSON *policy_describe(const policy *p);
void policy_free(policy *p);

// Helpers for policy implementations: parameter parsing that rejects unknown
// keys and wrong types with messages naming the policy and the key.
// `allowed` is a NULL-terminated list of accepted keys.
status policy_params_check_keys(const char *policy_name, const cJSON *params,
                                const char *const *allowed);
status policy_param_double(const char *policy_name, const cJSON *params, const char *key,
                           double *value); // leaves *value when absent
status policy_param_int(const char *policy_name, const cJSON *params, const char *key,
                        long *value);
status policy_param_string(const char *policy_name, const cJSON *params, const char *key,
                           const char **value);

#endif
