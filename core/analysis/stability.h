/*
 * stability.h - how the ranking at each layer of a trace relates to the
 * final ranking (the paper's observation that rankings *between* clusters
 * settle early): per layer, averaged over queries,
 *   - Kendall tau-b between the layer-l scores and the final scores;
 *   - Goodman-Kruskal gamma (Nc - Nd) / (Nc + Nd);
 *   - cluster gamma: gamma over the pairs whose layer-l scores fall into
 *     different clusters of an exact 1-D K-Means of the layer-l scores;
 *   - top-K overlap |top-K(layer l) ∩ top-K(final)| / K for K = 1, 5, 10.
 *
 *     stability_table s;
 *     stability_compute(&t, 3, &s);      // k = 3 clusters
 *     printf("%f\n", s.rows[2].kendall_tau);
 *     stability_free(&s);
 */
#ifndef GRATING_STABILITY_H
#define GRATING_STABILITY_H

#include "base/status.h"
#include "analysis/trace.h"

#include <stddef.h>

enum { STABILITY_N_OVERLAP = 3 };
extern const size_t stability_overlap_k[STABILITY_N_OVERLAP]; // 1, 5, 10

typedef struct {
    double kendall_tau, gk_gamma, cluster_gamma;
    double overlap[STABILITY_N_OVERLAP];
    size_t n_queries; // queries where the values are defined
} stability_row;

typedef struct {
    stability_row *rows; // (n_layers + 1,): layer 0 = embeddings, n_layers = final
    size_t n_rows;
    size_t clusters;
} stability_table;

status stability_compute(const trace *t, size_t clusters, stability_table *out);
void stability_free(stability_table *s);

#endif
