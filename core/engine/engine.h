/*
 * engine.h - the monolithic forward: all candidates of a query advance layer
 * by layer (layer-major) while a pruning policy decides, before every layer,
 * which candidates are selected into the top-K, dropped, or carried on.
 *
 *     engine_options opt = {.k = 10, .chunk = 4};
 *     engine_result r;
 *     if (engine_result_init(&r, n_candidates, cfg.n_layers) != STATUS_OK) ...
 *     status st = engine_run(&model, &batch, policy, &opt, &r);
 *     for (size_t i = 0; i < opt.k; i++) printf("%zu\n", r.order[i]);   // the top-K
 *     engine_result_free(&r);
 *
 * Per layer l = 0 .. L-1 (l = 0 is the embedding output):
 *   1. the provisional score of every active candidate (the model's own head
 *      on its current state) is computed and recorded;
 *   2. the policy returns SELECT / DROP / DEFER per active candidate, or STOP;
 *   3. layer l + 1 runs over the remaining active candidates in chunks of
 *      `chunk` candidates, so only one chunk's intermediates (QKV, attention,
 *      FFN) are alive at a time; hidden states of all active candidates stay
 *      resident and are compacted when candidates leave.
 * Candidates still active after layer L get their final score.
 *
 * Top-K and report order (the rule):
 *   1. selected candidates, earlier selection first, then by the score they
 *      were selected with (descending; ties: lower index first);
 *   2. candidates that were still active when the forward ended (after the
 *      last layer or at STOP), by their latest score (descending);
 *   3. dropped candidates, later drop first, then by score at the drop.
 * The top-K is the first K of this order. A policy may not select more than K
 * nor leave fewer than K selected-or-active candidates (policy_decide checks),
 * so the top-K never contains a dropped candidate.
 *
 * With the `none` policy this is the plain full forward; a candidate's score
 * at layer l does not depend on which other candidates are active or on the
 * chunk size beyond float rounding: OpenBLAS's sgemm kernels round a row
 * differently depending on how many rows one call multiplies (measured: up
 * to 4.5e-8 relative on the tiny models; tests/test_engine.c and
 * tests/test_arch_contract.c check 1e-5). The weight window and the
 * embedding cache change nothing: bit-identical at the same chunk size.
 */
#ifndef GRATING_ENGINE_H
#define GRATING_ENGINE_H

#include "engine/reranker.h"
#include "io/weight_window.h"
#include "policy.h"
#include "base/status.h"

#include <stddef.h>

typedef enum {
    ENGINE_EXIT_FINAL = 0, // ran every layer
    ENGINE_EXIT_SELECT,    // selected by the policy
    ENGINE_EXIT_DROP,      // dropped by the policy
    ENGINE_EXIT_STOP,      // still active when the policy stopped the query
} engine_exit;

typedef struct {
    size_t k;     // top-K (1 <= k <= N)
    size_t chunk; // candidates per chunk; 0 = all active candidates at once
    // Layer weights streamed through this window (core/io/weight_window.h);
    // NULL = the model's resident layers.
    weight_window *window;
} engine_options;

typedef struct {
    size_t n, n_layers; // N candidates, L layers
    // Per candidate (n,):
    int *exit_layer; // the layer whose scores it left at (L for FINAL)
    engine_exit *exit_reason;
    float *exit_score; // its latest provisional score
    // (L + 1, n): provisional score of candidate i after layer l; NaN where it
    // was not computed (the candidate had left).
    float *layer_scores;
    size_t *order; // (n,) report order; order[0 .. k) is the top-K
    // Statistics.
    size_t candidate_layers;      // encoder layers computed, summed over candidates
    size_t candidate_layers_full; // n * L
    int layers_run;               // encoder layers run (for at least one candidate)
    double *layer_seconds;        // (L,) wall time of layer l + 1 over all chunks (compute)
    double *read_seconds;         // (L,) weight-window read time of each layer (0 if resident)
    double *wait_seconds;         // (L,) exposed wait for the layer's weights (0 if resident)
    double embed_seconds;         // embeddings
    double score_seconds;         // provisional scoring (pooler + classifier)
    double policy_seconds;        // policy decisions
    double total_seconds;
    size_t peak_chunk_tokens; // the largest chunk run, in tokens
} engine_result;

status engine_result_init(engine_result *r, size_t n, size_t n_layers);
void engine_result_free(engine_result *r);

const char *engine_exit_name(engine_exit e);

// Runs the query. `p` is reset here with (N, K). Any architecture of
// reranker.h (every registered family).
status engine_run(const reranker *m, const reranker_batch *b, policy *p, const engine_options *opt,
                  engine_result *r);

// The full forward with the provisional score of every layer, for every
// candidate: layer_scores (n_layers + 1, n_seq), row l = after layer l. It is
// engine_run with the `none` policy (one chunked forward for every family
// and every caller); chunk as in engine_options (0 = all at once; other
// chunk sizes agree within float rounding, see above). Requires resident layers. Fails with
// STATUS_ERR_NUMERIC on a non-finite score.
status engine_forward_all_layers(const reranker *m, const reranker_batch *b, size_t chunk,
                                 float *layer_scores);

// The bookkeeping of a query, separate from where the scores come from: the
// live engine feeds it scores it computes, an offline replay feeds it scores
// read from a trace. Both therefore apply verdicts, count candidate-layers
// and order the result with the same code.
//
//     engine_tracker t;
//     engine_tracker_init(&t, &r, p, k);           // resets p and r
//     for (size_t l = 0; ; l++) {
//         ... scores (t.n_active,) of candidates t.active after layer l ...
//         int done;
//         engine_tracker_step(&t, l, scores, &done);
//         if (done) break;                          // else layer l + 1 runs on t.active
//     }
//     engine_tracker_finish(&t);                    // r->order
//     engine_tracker_free(&t);
typedef struct {
    engine_result *r;
    policy *p;
    size_t k;
    size_t n_active, n_selected;
    size_t *active;           // (n,) ascending candidate indices still computing
    policy_verdict *verdicts; // (n,)
} engine_tracker;

status engine_tracker_init(engine_tracker *t, engine_result *r, policy *p, size_t k);
// Records the provisional scores after `layer` of the active candidates, then
// (layer < L) applies the policy's verdicts and counts the next layer's
// candidate-layers. *done = 1 when no candidate runs layer + 1.
status engine_tracker_step(engine_tracker *t, size_t layer, const float *scores, int *done);
// Orders the candidates (the rule above) into r->order.
void engine_tracker_finish(engine_tracker *t);
void engine_tracker_free(engine_tracker *t);

#endif
