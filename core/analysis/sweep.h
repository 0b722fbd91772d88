/*
 * sweep.h - offline sweeps: replay a trace (core/analysis/trace.h) under a grid of
 * pruning configurations with the same policy code and the same per-query
 * bookkeeping (engine_tracker) as a live `grating rerank`, and measure each
 * configuration against the full model's top-K and against relevance labels.
 *
 *     sweep_grid g;
 *     sweep_grid_load(&g, "experiments/policy-comparison.json");   // see experiments/README.md
 *     sweep_grid_add_first_stage(&g);            // + the first-stage ranking per K
 *     trace t;  trace_read(&t, "results/scifact-demo.h5");
 *     sweep_results r;
 *     sweep_options o = {.unjudged = SWEEP_UNJUDGED_SKIP};
 *     sweep_run(&g, &t, labels_or_NULL, 0, 1, &o, &r);            // shard 0 of 1
 *     sweep_write(&g, &t.meta, &r, "results/policy-comparison", command, force);
 *
 * Per configuration and query it records: Precision@K against the full
 * model's top-K (the paper's metric: "precision_at_k_vs_full"), the qrels
 * measures named as trec_eval / ir_measures name them (nDCG@10 = ndcg_cut_10,
 * RR@10 = recip_rank -M10, RR = recip_rank, P@1, P@5, P@10 = P_1, P_5, P_10,
 * always divided by the cutoff), the fraction of candidate-layers computed,
 * FLOPs, and a latency predicted from the trace's measured per-layer times:
 *   latency = embed + sum_l layer_seconds[l] * flops_active(l) / flops_all(l)
 *             + scoring * (scored candidate-layers / all),
 * i.e. each layer's measured time scaled by the share of its FLOPs that the
 * candidates still active at that layer need. The policy's own time is not
 * in it (it is deterministic this way, so shards merge exactly; live runs
 * report it: a few microseconds per decision for N = 20). The chunk size of a
 * configuration changes no score and no FLOP; it sets the predicted peak
 * bytes of one chunk's intermediates.
 *
 * Costs are the trace's architecture's (core/model/arch.h): FLOPs of one
 * layer over a candidate = arch_ops.layer_flops(config, its tokens), the
 * count the forward executes (grouped-query and causal attention, three FFN
 * matrices for Qwen3; tests/test_sweep_cost.c holds it to the forward's
 * executed FLOPs), and peak bytes = the engine's workspace for the largest
 * chunk (arch_ops.workspace_bytes). The config comes from the trace's
 * "config" attribute; traces made before it existed are costed from their
 * stored sizes with full multi-head attention (exact for BERT), and
 * sweep_results.cost_model says which.
 *
 * Ranking measured (and exported with --export-run): the engine's report
 * order (core/engine/engine.h: selected, then still active by final score, then
 * pruned candidates, later prune first, then by their last provisional
 * score). The first-stage pseudo-configuration ("first-stage") ranks the
 * candidates by the trace's first_stage scores, ties by document id
 * descending (trec_eval's rule), at zero reranker cost.
 *
 * Queries without judgements (no qrels line): left out of the label means
 * (NaN per query), as trec_eval does, unless SWEEP_UNJUDGED_ZERO counts them
 * as 0 (the convention of "average over every query of the run").
 */
#ifndef GRATING_SWEEP_H
#define GRATING_SWEEP_H

#include "beir.h"
#include "engine/engine.h"
#include "policy.h"
#include "base/status.h"
#include "analysis/trace.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *policy;      // registry name
    char *params_text; // compact JSON of the parameters as given (defaults not filled)
    cJSON *params;     // parsed parameters
    size_t k;
    size_t chunk; // candidates per chunk, 0 = all
} sweep_config;

typedef struct {
    char *name;
    sweep_config *configs;
    size_t n_configs;
} sweep_grid;

// Reads and expands a grid file (experiments/README.md): every config's
// "grid" arrays are crossed with each other, with "k" and with "chunk".
// Every expanded configuration is validated by creating its policy.
status sweep_grid_load(sweep_grid *g, const char *path);
void sweep_grid_free(sweep_grid *g);

// The pseudo-policy of the first-stage baseline rows.
#define SWEEP_FIRST_STAGE "first-stage"

// Appends one "first-stage" configuration per distinct K of the grid (after
// the grid's own configurations). Idempotent.
status sweep_grid_add_first_stage(sweep_grid *g);

enum {
    SWEEP_PRECISION = 0, // P@K vs the full model's top-K
    SWEEP_NDCG10,        // vs qrels: trec_eval ndcg_cut_10
    SWEEP_RR10,          // recip_rank -M10
    SWEEP_RR,            // recip_rank (the whole list)
    SWEEP_P1,            // P_1
    SWEEP_P5,            // P_5
    SWEEP_P10,           // P_10
    SWEEP_JUDGED,        // 1 if the query has judgements, else 0 (NaN without labels)
    SWEEP_FRACTION,      // candidate-layers computed / full
    SWEEP_FLOPS,         // FLOPs of the pruned forward
    SWEEP_FLOPS_FULL,
    SWEEP_LATENCY,      // predicted seconds
    SWEEP_LATENCY_FULL, // measured full-forward seconds (from the trace)
    SWEEP_PEAK_BYTES,   // predicted intermediate bytes of the largest chunk
    SWEEP_N_METRICS
};
extern const char *const sweep_metric_names[SWEEP_N_METRICS];

typedef enum {
    SWEEP_UNJUDGED_SKIP = 0, // trec_eval: a query without judgements is not evaluated
    SWEEP_UNJUDGED_ZERO,     // it counts as 0 in every label mean
} sweep_unjudged;

// Where the results came from (strings owned by the results).
typedef struct {
    char *trace;   // absolute path of the trace
    char *qrels;   // absolute path of the qrels file ("" without labels)
    char *model;   // the trace's model folder (absolute when found)
    char *version; // grating version that replayed
    int64_t threads;
} sweep_provenance;

typedef struct {
    size_t n_configs, n_queries;
    char **qids;         // (n_queries,)
    size_t *query_index; // (n_queries,) position of each query in the trace
    double *values;      // (SWEEP_N_METRICS, n_configs, n_queries)
    int has_labels;
    sweep_unjudged unjudged;
    size_t n_unjudged; // queries without judgements (when has_labels)
    sweep_provenance prov;
    double replay_seconds; // wall time of the replay
    // The cost model (FLOPs, peak bytes): which architecture and where its
    // sizes came from (see sweep_run).
    char cost_model[256];
} sweep_results;

typedef struct {
    sweep_unjudged unjudged;
    // Export: TREC runs of the configurations with export[c] != 0 into the
    // folder run_dir (created by the caller), one file per configuration
    // (sweep_run_file_name). NULL = none.
    const unsigned char *export_configs; // (n_configs,)
    const char *run_dir;
} sweep_options;

// File name (in run_dir) and run tag of configuration `c`: "config-007.trec",
// tag "c7:<policy>:<params>:k<K>" with whitespace replaced by '_'. malloc'd.
char *sweep_run_file_name(size_t c);
char *sweep_run_tag(const sweep_config *cf, size_t c);

// The TREC run scores of a ranking: score[r] for the candidate at rank r,
// the candidate's own score (raw[order[r]]) lowered where needed so that the
// scores strictly decrease (by at least 1e-6): any TREC tool that sorts by
// score (trec_eval, ir_measures) then ranks exactly in `order`.
void sweep_monotone_scores(const size_t *order, const float *raw, size_t n, double *score);

static inline double *sweep_value(const sweep_results *r, int metric, size_t config, size_t query) {
    return r->values + ((size_t)metric * r->n_configs + config) * r->n_queries + query;
}

// Replays queries shard, shard + n_shards, ... of the trace. `labels` may be
// NULL (no qrels metrics); its documents are matched by id. `opt` may be NULL
// (defaults: skip unjudged queries, no export). Provenance is left empty
// (the caller fills r->prov).
status sweep_run(const sweep_grid *g, const trace *t, const beir_dataset *labels, size_t shard,
                 size_t n_shards, const sweep_options *opt, sweep_results *r);
void sweep_results_free(sweep_results *r);

// Replays one query of a trace under policy `p` with top-K `k` (clamped to
// the query's candidates) into `res` (engine_result_init'ed for q->n
// candidates and n_layers): the same engine_tracker steps as a live run.
status sweep_replay_query(policy *p, size_t k, const trace_query *q, size_t n_layers,
                          engine_result *res);

// Mean over queries of one metric for one configuration (NaN values skipped).
double sweep_mean(const sweep_results *r, int metric, size_t config);

// Writes OUT_DIR/sweep.csv (one row per configuration) and OUT_DIR/sweep.h5
// (configurations and per-query values; the trace's model, config hash and
// dataset and the provenance as attributes). Both are written to temporary
// names and renamed last, together with OUT_DIR/runs.tmp-PID -> OUT_DIR/runs
// when that folder exists (the --export-run folder); on any error every
// temporary is removed (and OUT_DIR too when this call created it). Refuses
// an OUT_DIR that already holds sweep.csv, sweep.h5 or runs unless `force`.
status sweep_write(const sweep_grid *g, const trace_meta *meta, const sweep_results *r,
                   const char *out_dir, const char *command, int force);

// The checks of sweep_write done before a long replay: refuses results
// already in OUT_DIR unless `force`, creates OUT_DIR and its parents.
// *created = 1 when OUT_DIR did not exist.
status sweep_output_prepare(const char *out_dir, int force, int *created);

// Path of the temporary export folder of OUT_DIR (OUT_DIR/runs.tmp-PID); malloc'd.
char *sweep_run_dir_tmp(const char *out_dir);

// Removes what a failed sweep left in OUT_DIR: temporaries, the temporary
// run folder, and OUT_DIR itself when `created` and empty.
void sweep_output_abort(const char *out_dir, int created);

// Reads a sweep.h5 (for merging shards): the configurations, the per-query
// values and, in *meta, the model, config_hash and dataset of the trace
// (free with trace_meta_free).
status sweep_read(sweep_grid *g, sweep_results *r, trace_meta *meta, const char *path);

// Concatenates shard results (same grid) ordered by trace query index.
status sweep_merge(const sweep_results *parts, size_t n_parts, sweep_results *out);

#endif
