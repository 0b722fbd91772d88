/*
 * sweep.h - offline sweeps: replay a trace (core/trace.h) under a grid of
 * pruning configurations with the same policy code and the same per-query
 * bookkeeping (engine_tracker) as a live `grating rerank`, and measure each
 * configuration against the full model's top-K and against relevance labels.
 *
 *     sweep_grid g;
 *     sweep_grid_load(&g, "experiments/policy-comparison.json");   // see experiments/README.md
 *     trace t;  trace_read(&t, "results/scifact-demo.h5");
 *     sweep_results r;
 *     sweep_run(&g, &t, labels_or_NULL, 0, 1, &r);                 // shard 0 of 1
 *     sweep_write(&g, &t.meta, &r, "results/policy-comparison", command);
 *
 * Per configuration and query it records: Precision@K against the full
 * model's top-K (the paper's metric), nDCG@10, MRR@10 and P@K against qrels
 * (NaN without labels), the fraction of candidate-layers computed, FLOPs, and
 * a latency predicted from the trace's measured per-layer times:
 *   latency = embed + sum_l layer_seconds[l] * flops_active(l) / flops_all(l)
 *             + scoring * (scored candidate-layers / all),
 * i.e. each layer's measured time scaled by the share of its FLOPs that the
 * candidates still active at that layer need. The policy's own time is not
 * in it (it is deterministic this way, so shards merge exactly; live runs
 * report it: a few microseconds per decision for N = 20). The chunk size of a
 * configuration changes no score and no FLOP; it sets the predicted peak
 * bytes of one chunk's intermediates.
 */
#ifndef GRATING_SWEEP_H
#define GRATING_SWEEP_H

#include "beir.h"
#include "engine.h"
#include "policy.h"
#include "status.h"
#include "trace.h"

#include <cjson/cJSON.h>
#include <stddef.h>

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

enum {
    SWEEP_PRECISION = 0, // P@K vs the full model's top-K
    SWEEP_NDCG10,        // vs qrels
    SWEEP_MRR10,
    SWEEP_P_AT_K,        // vs qrels, trec_eval P_K
    SWEEP_FRACTION,      // candidate-layers computed / full
    SWEEP_FLOPS,         // FLOPs of the pruned forward
    SWEEP_FLOPS_FULL,
    SWEEP_LATENCY,       // predicted seconds
    SWEEP_LATENCY_FULL,  // measured full-forward seconds (from the trace)
    SWEEP_PEAK_BYTES,    // predicted intermediate bytes of the largest chunk
    SWEEP_N_METRICS
};
extern const char *const sweep_metric_names[SWEEP_N_METRICS];

typedef struct {
    size_t n_configs, n_queries;
    char **qids;           // (n_queries,)
    size_t *query_index;   // (n_queries,) position of each query in the trace
    double *values;        // (SWEEP_N_METRICS, n_configs, n_queries)
    int has_labels;
    double replay_seconds; // wall time of the replay
} sweep_results;

static inline double *sweep_value(const sweep_results *r, int metric, size_t config, size_t query) {
    return r->values + ((size_t)metric * r->n_configs + config) * r->n_queries + query;
}

// Replays queries shard, shard + n_shards, ... of the trace. `labels` may be
// NULL (no qrels metrics); its documents are matched by id.
status sweep_run(const sweep_grid *g, const trace *t, const beir_dataset *labels, size_t shard,
                 size_t n_shards, sweep_results *r);
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
// dataset as attributes), each via a temporary name.
status sweep_write(const sweep_grid *g, const trace_meta *meta, const sweep_results *r,
                   const char *out_dir, const char *command);

// Reads a sweep.h5 (for merging shards): the configurations, the per-query
// values and, in *meta, the model, config_hash and dataset of the trace
// (free with trace_meta_free).
status sweep_read(sweep_grid *g, sweep_results *r, trace_meta *meta, const char *path);

// Concatenates shard results (same grid) ordered by trace query index.
status sweep_merge(const sweep_results *parts, size_t n_parts, sweep_results *out);

#endif
