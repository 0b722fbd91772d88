// fuzz_policy.c - policies/*.c: policy arguments and decisions.
// Input: the JSON parameters [FUZZ_SEPARATOR replay bytes]. Every registered
// policy is created with the parameters (most reject them); each one that
// accepts them is described and replayed on a synthetic query through the
// same engine_tracker steps as a live run (sweep_replay_query). Replay bytes:
// N = 1 + b0 % 40 candidates, K = 1 + b1 % (N + 2) (clamped to N), L =
// 1 + b2 % 12 layers, then one signed byte per score (score = byte / 4; the
// byte 0x80 is a NaN, which must be refused, not crash). Without replay bytes
// a fixed query is used.
#include "engine/engine.h"
#include "fuzz_util.h"
#include "policy.h"
#include "analysis/sweep.h"
#include "analysis/trace.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_replay(policy *p, const fuzz_part *tail) {
    static const uint8_t fixed[] = {19, 4, 5, 12, 250, 7, 90, 3, 3, 200, 17, 64, 1, 128 + 5};
    const uint8_t *b = tail ? tail->data : fixed;
    size_t nb = tail ? tail->size : sizeof fixed;
    size_t n = 1 + (nb > 0 ? b[0] : 7) % 40;
    size_t k = 1 + (nb > 1 ? b[1] : 2) % (n + 2);
    size_t n_layers = 1 + (nb > 2 ? b[2] : 5) % 12;
    const uint8_t *s = nb > 3 ? b + 3 : fixed;
    size_t ns = nb > 3 ? nb - 3 : sizeof fixed;
    float *scores = malloc((n_layers + 1) * n * sizeof *scores); // (L + 1, n)
    if (!scores) abort();
    for (size_t i = 0; i < (n_layers + 1) * n; i++) {
        uint8_t v = s[i % ns];
        scores[i] = v == 0x80 ? NAN : (float)(int8_t)(v + (uint8_t)(i / ns)) / 4.0f;
    }
    trace_query q = {.qid = "q", .n = n, .scores = scores};
    engine_result res;
    if (engine_result_init(&res, n, n_layers) != STATUS_OK) abort();
    if (policy_reset(p, n, k < n ? k : n) == STATUS_OK &&
        fuzz_note(sweep_replay_query(p, k, &q, n_layers, &res), "sweep_replay_query") ==
            STATUS_OK) {
        // The report order is a permutation of the candidates.
        char *seen = calloc(n, 1);
        if (!seen) abort();
        for (size_t i = 0; i < n; i++) {
            if (res.order[i] >= n || seen[res.order[i]]) abort();
            seen[res.order[i]] = 1;
            if (res.exit_layer[i] < 0 || (size_t)res.exit_layer[i] > n_layers) abort();
        }
        free(seen);
        if (res.candidate_layers > n * n_layers) abort();
    }
    engine_result_free(&res);
    free(scores);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_part parts[2];
    size_t n = fuzz_split(data, size, parts, 2);
    cJSON *params = NULL;
    if (parts[0].size > 0) {
        params = cJSON_ParseWithLength((const char *)parts[0].data, parts[0].size);
        if (!params) return 0;
    }
    for (size_t i = 0; i < policy_count(); i++) {
        policy *p = NULL;
        if (fuzz_note(policy_create(policy_at(i)->name, params, &p), policy_at(i)->name) !=
            STATUS_OK)
            continue;
        cJSON *desc = policy_describe(p);
        if (!desc) abort();
        // The effective parameters are accepted again and describe the same policy.
        policy *again = NULL;
        if (policy_create(policy_at(i)->name, desc, &again) != STATUS_OK) abort();
        cJSON *desc2 = policy_describe(again);
        if (!desc2 || !cJSON_Compare(desc, desc2, 1)) abort();
        cJSON_Delete(desc2);
        policy_free(again);
        cJSON_Delete(desc);
        fuzz_replay(p, n > 1 ? &parts[1] : NULL);
        policy_free(p);
    }
    cJSON_Delete(params);
    return 0;
}
