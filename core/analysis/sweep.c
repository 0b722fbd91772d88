#include "analysis/sweep.h"
#include "model/arch.h"
#include "base/fsutil.h"
#include "base/h5util.h"
#include "base/json_file.h"
#include "analysis/metrics.h"
#include "trec.h"
#include "base/clock.h"

#include <dirent.h>
#include <fcntl.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// Also the names of the per-query datasets of sweep.h5 and (for the label
// measures) of the CSV columns: trec_eval / ir_measures names.
const char *const sweep_metric_names[SWEEP_N_METRICS] = {"precision_at_k_vs_full",
                                                         "nDCG@10",
                                                         "RR@10",
                                                         "RR",
                                                         "P@1",
                                                         "P@5",
                                                         "P@10",
                                                         "judged",
                                                         "fraction_computed",
                                                         "flops",
                                                         "flops_full",
                                                         "latency_seconds",
                                                         "latency_full_seconds",
                                                         "peak_intermediate_bytes"};

#define SWEEP_SCHEMA "grating-sweep-2"

// ---- grid files ----

typedef struct {
    sweep_config *items;
    size_t n, cap;
} sweep_config_list;

static status sweep_list_add(sweep_config_list *l, const char *policy, const cJSON *params,
                             size_t k, size_t chunk) {
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        sweep_config *items = realloc(l->items, cap * sizeof *items);
        if (!items) return status_fail(STATUS_ERR_NOMEM, "grid: out of memory");
        l->items = items;
        l->cap = cap;
    }
    sweep_config *c = &l->items[l->n];
    memset(c, 0, sizeof *c);
    c->policy = strdup(policy);
    c->params = cJSON_Duplicate(params, 1);
    c->params_text = c->params ? cJSON_PrintUnformatted(c->params) : NULL;
    c->k = k;
    c->chunk = chunk;
    if (!c->policy || !c->params || !c->params_text) {
        free(c->policy);
        cJSON_Delete(c->params);
        free(c->params_text);
        return status_fail(STATUS_ERR_NOMEM, "grid: out of memory");
    }
    l->n++;
    return STATUS_OK;
}

// Reads a non-empty array of positive integers (or a single integer).
static status sweep_size_list(const cJSON *root, const char *key, const char *path, size_t def,
                              size_t **out, size_t *n, size_t min) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, key);
    *n = 0;
    *out = malloc(sizeof **out * (size_t)(cJSON_IsArray(item) ? cJSON_GetArraySize(item) + 1 : 1));
    if (!*out) return status_fail(STATUS_ERR_NOMEM, "grid: out of memory");
    if (!item) {
        (*out)[(*n)++] = def;
        return STATUS_OK;
    }
    const cJSON *v;
    if (cJSON_IsNumber(item)) {
        v = item;
        goto one;
    }
    if (!cJSON_IsArray(item) || cJSON_GetArraySize(item) == 0)
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: '%s' must be an integer or a non-empty array of integers", path,
                           key);
    cJSON_ArrayForEach(v, item) {
    one:
        if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
            v->valuedouble < (double)min || v->valuedouble > 1e9)
            return status_fail(STATUS_ERR_FORMAT, "%s: '%s' values must be integers >= %zu", path,
                               key, min);
        (*out)[(*n)++] = (size_t)v->valuedouble;
        if (item == v) break;
    }
    return STATUS_OK;
}

// Expands params x grid (cartesian product, keys in file order) into `l`
// for every k and chunk.
static status sweep_expand(sweep_config_list *l, const char *path, size_t index,
                           const char *policy_name, cJSON *params, const cJSON *grid,
                           const cJSON *key_item, const size_t *ks, size_t nk, const size_t *chunks,
                           size_t nc) {
    if (!key_item) {
        policy *p;
        status st = policy_create(policy_name, params, &p);
        if (st != STATUS_OK) return status_wrap(st, "%s: configs[%zu]", path, index);
        policy_free(p);
        for (size_t a = 0; a < nk; a++)
            for (size_t b = 0; b < nc; b++)
                if ((st = sweep_list_add(l, policy_name, params, ks[a], chunks[b])) != STATUS_OK)
                    return st;
        return STATUS_OK;
    }
    if (!cJSON_IsArray(key_item) || cJSON_GetArraySize(key_item) == 0)
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: configs[%zu].grid.%s must be a non-empty array of values", path,
                           index, key_item->string);
    const cJSON *v;
    cJSON_ArrayForEach(v, key_item) {
        cJSON *copy = cJSON_Duplicate(v, 1);
        if (!copy) return status_fail(STATUS_ERR_NOMEM, "grid: out of memory");
        cJSON_DeleteItemFromObjectCaseSensitive(params, key_item->string);
        cJSON_AddItemToObject(params, key_item->string, copy);
        status st = sweep_expand(l, path, index, policy_name, params, grid, key_item->next, ks, nk,
                                 chunks, nc);
        if (st != STATUS_OK) return st;
    }
    cJSON_DeleteItemFromObjectCaseSensitive(params, key_item->string);
    return STATUS_OK;
}

// Most configurations a grid file may expand to (the shipped grids have up to
// 1,000; a sweep stores SWEEP_N_METRICS doubles per configuration and query).
enum { SWEEP_MAX_CONFIGS = 100000 };

// Adds the number of configurations `grid` expands to (times k x chunk
// values) to *total, before anything is expanded: a grid key given twice, or
// a grid larger than SWEEP_MAX_CONFIGS in all, is an error naming the config.
static status sweep_grid_count(const cJSON *grid, const char *what, size_t per_point,
                               size_t *total) {
    size_t count = per_point;
    for (const cJSON *a = grid ? grid->child : NULL; a; a = a->next) {
        for (const cJSON *b = grid->child; b != a; b = b->next)
            if (strcmp(a->string, b->string) == 0)
                return status_fail(STATUS_ERR_FORMAT, "%s: grid key '%s' is given twice", what,
                                   a->string);
        size_t m = cJSON_IsArray(a) ? (size_t)cJSON_GetArraySize(a) : 1;
        if (m > 0 && count > SWEEP_MAX_CONFIGS / m)
            count = SWEEP_MAX_CONFIGS + 1;
        else
            count *= m > 0 ? m : 1;
    }
    if (count > SWEEP_MAX_CONFIGS - *total)
        return status_fail(
            STATUS_ERR_FORMAT,
            "%s: the grid expands to more than %d configurations in all (k x chunk x "
            "every grid array); split it into several grid files",
            what, (int)SWEEP_MAX_CONFIGS);
    *total += count;
    return STATUS_OK;
}

void sweep_grid_free(sweep_grid *g) {
    for (size_t i = 0; i < g->n_configs; i++) {
        free(g->configs[i].policy);
        free(g->configs[i].params_text);
        cJSON_Delete(g->configs[i].params);
    }
    free(g->configs);
    free(g->name);
    memset(g, 0, sizeof *g);
}

status sweep_grid_load(sweep_grid *g, const char *path) {
    memset(g, 0, sizeof *g);
    cJSON *root;
    status st = json_file_parse(path, &root);
    if (st != STATUS_OK) return st;
    sweep_config_list l = {0};
    size_t *ks = NULL, *chunks = NULL, nk = 0, nc = 0;
    const char *name = NULL;
    const cJSON *configs = cJSON_GetObjectItemCaseSensitive(root, "configs");
    if (!cJSON_IsObject(root))
        st = status_fail(STATUS_ERR_FORMAT, "%s: expected a JSON object", path);
    if (!st) st = json_get_string(root, "name", path, &name);
    if (!st) st = sweep_size_list(root, "k", path, 10, &ks, &nk, 1);
    if (!st) st = sweep_size_list(root, "chunk", path, 0, &chunks, &nc, 0);
    if (!st && (!cJSON_IsArray(configs) || cJSON_GetArraySize(configs) == 0))
        st = status_fail(STATUS_ERR_FORMAT, "%s: 'configs' must be a non-empty array", path);
    static const char *const root_keys[] = {"name", "description", "k", "chunk", "configs", NULL};
    if (!st) {
        const cJSON *item;
        cJSON_ArrayForEach(item, root) {
            int ok = 0;
            for (size_t i = 0; root_keys[i]; i++)
                ok |= strcmp(item->string, root_keys[i]) == 0;
            if (!ok) {
                st = status_fail(
                    STATUS_ERR_FORMAT,
                    "%s: unknown key '%s' (accepted: name, description, k, chunk, configs)", path,
                    item->string);
                break;
            }
        }
    }
    size_t index = 0, total = 0;
    const cJSON *c;
    if (!st) {
        cJSON_ArrayForEach(c, configs) {
            const char *policy_name = NULL;
            const cJSON *params = cJSON_GetObjectItemCaseSensitive(c, "params");
            const cJSON *grid = cJSON_GetObjectItemCaseSensitive(c, "grid");
            char what[4200];
            snprintf(what, sizeof what, "%s: configs[%zu]", path, index);
            if ((st = json_get_string(c, "policy", what, &policy_name))) break;
            if ((params && !cJSON_IsObject(params)) || (grid && !cJSON_IsObject(grid))) {
                st =
                    status_fail(STATUS_ERR_FORMAT, "%s: 'params' and 'grid' must be objects", what);
                break;
            }
            if ((st = sweep_grid_count(grid, what, nk * nc, &total))) break;
            cJSON *work = params ? cJSON_Duplicate(params, 1) : cJSON_CreateObject();
            st = sweep_expand(&l, path, index, policy_name, work, grid, grid ? grid->child : NULL,
                              ks, nk, chunks, nc);
            cJSON_Delete(work);
            if (st) break;
            index++;
        }
    }
    if (!st) {
        g->name = strdup(name);
        g->configs = l.items;
        g->n_configs = l.n;
    } else {
        sweep_grid tmp = {.configs = l.items, .n_configs = l.n};
        sweep_grid_free(&tmp);
    }
    free(ks);
    free(chunks);
    cJSON_Delete(root);
    return st;
}

status sweep_grid_add_first_stage(sweep_grid *g) {
    sweep_config_list l = {.items = g->configs, .n = g->n_configs, .cap = g->n_configs};
    cJSON *empty = cJSON_CreateObject();
    status st = empty ? STATUS_OK : status_fail(STATUS_ERR_NOMEM, "grid: out of memory");
    size_t n_grid = l.n;
    for (size_t c = 0; c < n_grid && !st; c++) {
        size_t k = l.items[c].k;
        int seen = 0;
        for (size_t d = 0; d < l.n && !seen; d++)
            seen = strcmp(l.items[d].policy, SWEEP_FIRST_STAGE) == 0 && l.items[d].k == k;
        if (!seen) st = sweep_list_add(&l, SWEEP_FIRST_STAGE, empty, k, 0);
    }
    cJSON_Delete(empty);
    g->configs = l.items;
    g->n_configs = l.n;
    return st;
}

// ---- replay ----

// The architecture the costs come from: the trace's config.json (traces
// since issue 11), else the family named by the trace with the sizes it
// stores (older traces: attention heads unknown, counted as one full
// multi-head attention, exact for families whose FLOPs do not depend on the
// head split). *how says which.
static status sweep_cost_config(const trace_meta *meta, model_config *cfg, char *how,
                                size_t how_cap) {
    if (meta->config && meta->config[0]) {
        char what[4200];
        snprintf(what, sizeof what, "trace of %s: attribute 'config'",
                 meta->model ? meta->model : "?");
        status st = model_config_parse_text(cfg, meta->config, strlen(meta->config), what);
        if (st != STATUS_OK) return st;
        snprintf(how, how_cap, "%s (%s) from the trace's config.json", cfg->arch->name,
                 cfg->arch_name);
        return STATUS_OK;
    }
    memset(cfg, 0, sizeof *cfg);
    const char *name = meta->architecture ? meta->architecture : "";
    if (!(cfg->arch = arch_find(name)))
        return status_fail(STATUS_ERR_UNSUPPORTED,
                           "trace: architecture '%s' is not registered: no cost model", name);
    snprintf(cfg->arch_name, sizeof cfg->arch_name, "%s", name);
    cfg->hidden_size = meta->hidden_size;
    cfg->intermediate_size = meta->intermediate_size;
    cfg->n_layers = meta->n_layers;
    cfg->n_heads = cfg->n_kv_heads = 1;
    cfg->head_dim = meta->hidden_size;
    cfg->num_labels = 1;
    snprintf(how, how_cap,
             "%s (%s) from the trace's sizes (no config.json in the trace: heads counted as "
             "full multi-head attention)",
             cfg->arch->name, name);
    return STATUS_OK;
}

static int sweep_cmp_size_desc(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (y > x) - (y < x);
}

static void sweep_provenance_free(sweep_provenance *p) {
    free(p->trace);
    free(p->qrels);
    free(p->model);
    free(p->version);
    memset(p, 0, sizeof *p);
}

void sweep_results_free(sweep_results *r) {
    for (size_t i = 0; r->qids && i < r->n_queries; i++)
        free(r->qids[i]);
    free(r->qids);
    free(r->query_index);
    free(r->values);
    sweep_provenance_free(&r->prov);
    memset(r, 0, sizeof *r);
}

static status sweep_results_alloc(sweep_results *r, size_t n_configs, size_t n_queries) {
    memset(r, 0, sizeof *r);
    r->n_configs = n_configs;
    r->n_queries = n_queries;
    r->qids = calloc(n_queries ? n_queries : 1, sizeof *r->qids);
    r->query_index = calloc(n_queries ? n_queries : 1, sizeof *r->query_index);
    r->values = malloc((size_t)SWEEP_N_METRICS * n_configs * (n_queries ? n_queries : 1) *
                       sizeof *r->values);
    if (!r->qids || !r->query_index || !r->values) {
        sweep_results_free(r);
        return status_fail(STATUS_ERR_NOMEM, "sweep: out of memory");
    }
    return STATUS_OK;
}

// What every configuration needs of one query, computed once.
typedef struct {
    const trace_query *q;
    size_t *full_order; // (n,) the full model's ranking
    size_t *fs_order;   // (n,) the first-stage ranking (trec_eval order of first_stage)
    int *rel;           // (n,) relevance of each candidate, NULL without labels
    int *rel_ranked;    // (n,) scratch: relevance in a ranked order
    double *run_scores; // (n,) scratch: exported scores
    int *judged;        // (n_judged,)
    size_t n_judged;
    int has_judgements;       // the qrels have at least one line for this query
    double *flops;            // (n,) one layer over candidate i
    double flops_all;         // one layer over all candidates
    size_t *lens_desc;        // (n,) token lengths, longest first
    const model_config *cost; // the architecture the costs come from
} sweep_query;

static status sweep_query_prepare(sweep_query *sq, const trace_query *q, const model_config *cost,
                                  const beir_dataset *labels, size_t L, const char *trace_path) {
    memset(sq, 0, sizeof *sq);
    sq->q = q;
    sq->cost = cost;
    size_t n = q->n, n1 = n ? n : 1;
    sq->full_order = malloc(n1 * sizeof *sq->full_order);
    sq->fs_order = malloc(n1 * sizeof *sq->fs_order);
    sq->rel_ranked = calloc(n1, sizeof *sq->rel_ranked);
    sq->run_scores = malloc(n1 * sizeof *sq->run_scores);
    sq->flops = malloc(n1 * sizeof *sq->flops);
    sq->lens_desc = malloc(n1 * sizeof *sq->lens_desc);
    if (!sq->full_order || !sq->fs_order || !sq->rel_ranked || !sq->run_scores || !sq->flops ||
        !sq->lens_desc)
        return status_fail(STATUS_ERR_NOMEM, "sweep: out of memory");
    if (n == 0)
        return status_fail(STATUS_ERR_FORMAT, "%s: query %s has no candidates", trace_path, q->qid);
    // Full ranking: final score descending, ties by index (the engine's rule).
    const float *final = q->scores + L * n;
    for (size_t i = 0; i < n; i++) {
        if (!isfinite(final[i]))
            return status_fail(STATUS_ERR_NUMERIC,
                               "%s: query %s: candidate %zu has a non-finite final score",
                               trace_path, q->qid, i);
        if (!isfinite(q->first_stage[i]))
            return status_fail(STATUS_ERR_NUMERIC,
                               "%s: query %s: candidate %zu has a non-finite first_stage score",
                               trace_path, q->qid, i);
        sq->full_order[i] = i;
    }
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0; j--) {
            size_t a = sq->full_order[j - 1], b = sq->full_order[j];
            if (final[b] > final[a] || (final[b] == final[a] && b < a)) {
                sq->full_order[j - 1] = b;
                sq->full_order[j] = a;
            } else {
                break;
            }
        }
    metric_trec_order((const char *const *)q->doc_ids, q->first_stage, n, sq->fs_order);
    for (size_t i = 0; i < n; i++) {
        sq->flops[i] = cost->arch->layer_flops(cost, (size_t)q->tokens[i]);
        sq->flops_all += sq->flops[i];
        sq->lens_desc[i] = (size_t)q->tokens[i];
    }
    qsort(sq->lens_desc, n, sizeof *sq->lens_desc, sweep_cmp_size_desc);
    if (labels) {
        size_t qi;
        sq->rel = calloc(n, sizeof *sq->rel);
        if (!sq->rel) return status_fail(STATUS_ERR_NOMEM, "sweep: out of memory");
        if (beir_query_find(labels, q->qid, &qi)) {
            size_t nj;
            const beir_qrel *qr = beir_query_qrels(labels, qi, &nj);
            sq->judged = malloc((nj ? nj : 1) * sizeof *sq->judged);
            if (!sq->judged) return status_fail(STATUS_ERR_NOMEM, "sweep: out of memory");
            for (size_t j = 0; j < nj; j++)
                sq->judged[j] = qr[j].relevance;
            sq->n_judged = nj;
            sq->has_judgements = nj > 0;
            for (size_t i = 0; i < n; i++) {
                size_t di;
                int rel;
                if (beir_doc_find(labels, q->doc_ids[i], &di) &&
                    beir_qrel_find(labels, qi, di, &rel))
                    sq->rel[i] = rel;
            }
        }
    }
    return STATUS_OK;
}

static void sweep_query_free(sweep_query *sq) {
    free(sq->full_order);
    free(sq->fs_order);
    free(sq->rel);
    free(sq->rel_ranked);
    free(sq->run_scores);
    free(sq->judged);
    free(sq->flops);
    free(sq->lens_desc);
}

status sweep_replay_query(policy *p, size_t k, const trace_query *q, size_t n_layers,
                          engine_result *res) {
    size_t n = q->n;
    engine_tracker t;
    status st = engine_tracker_init(&t, res, p, k < n ? k : n);
    if (st != STATUS_OK) return st;
    float stack[4096];
    float *buf = n <= 4096 ? stack : malloc(n * sizeof *buf);
    if (!buf) st = status_fail(STATUS_ERR_NOMEM, "sweep: out of memory");
    for (size_t l = 0; l <= n_layers && buf; l++) {
        for (size_t i = 0; i < t.n_active; i++)
            buf[i] = q->scores[l * n + t.active[i]];
        int done;
        if ((st = engine_tracker_step(&t, l, buf, &done)) != STATUS_OK || done) break;
    }
    if (buf != stack) free(buf);
    if (st == STATUS_OK) engine_tracker_finish(&t);
    engine_tracker_free(&t);
    return st;
}

void sweep_monotone_scores(const size_t *order, const float *raw, size_t n, double *score) {
    for (size_t r = 0; r < n; r++) {
        double s = (double)raw[order[r]];
        if (r > 0) {
            double cap = score[r - 1] - 1e-6;
            if (!(cap < score[r - 1])) cap = nextafter(score[r - 1], -INFINITY); // huge magnitudes
            if (!(s <= cap)) s = cap;                                            // also NaN
        } else if (!isfinite(s)) {
            s = 0.0;
        }
        score[r] = s;
    }
}

// The qrels measures of one ranking (order (n,) of candidate indices).
static void sweep_label_measures(const sweep_query *sq, const size_t *order,
                                 sweep_unjudged unjudged, sweep_results *r, size_t ci, size_t qi) {
    static const int ids[] = {SWEEP_NDCG10, SWEEP_RR10, SWEEP_RR, SWEEP_P1, SWEEP_P5, SWEEP_P10};
    size_t n = sq->q->n;
    if (!sq->rel) {
        for (size_t m = 0; m < sizeof ids / sizeof *ids; m++)
            *sweep_value(r, ids[m], ci, qi) = NAN;
        *sweep_value(r, SWEEP_JUDGED, ci, qi) = NAN;
        return;
    }
    *sweep_value(r, SWEEP_JUDGED, ci, qi) = sq->has_judgements ? 1.0 : 0.0;
    if (!sq->has_judgements) {
        double v = unjudged == SWEEP_UNJUDGED_ZERO ? 0.0 : NAN;
        for (size_t m = 0; m < sizeof ids / sizeof *ids; m++)
            *sweep_value(r, ids[m], ci, qi) = v;
        return;
    }
    for (size_t i = 0; i < n; i++)
        sq->rel_ranked[i] = sq->rel[order[i]];
    const int *rr = sq->rel_ranked;
    *sweep_value(r, SWEEP_NDCG10, ci, qi) = metric_ndcg_at(rr, n, sq->judged, sq->n_judged, 10);
    *sweep_value(r, SWEEP_RR10, ci, qi) = metric_rr_at(rr, n, 10);
    *sweep_value(r, SWEEP_RR, ci, qi) = metric_rr_at(rr, n, METRIC_UNCUT);
    *sweep_value(r, SWEEP_P1, ci, qi) = metric_precision_at(rr, n, 1);
    *sweep_value(r, SWEEP_P5, ci, qi) = metric_precision_at(rr, n, 5);
    *sweep_value(r, SWEEP_P10, ci, qi) = metric_precision_at(rr, n, 10);
}

// The first-stage pseudo-configuration: the candidates in first-stage order,
// no reranker cost.
static status sweep_first_stage(const sweep_config *c, const sweep_query *sq,
                                const trace_meta *meta, sweep_unjudged unjudged, sweep_results *r,
                                size_t ci, size_t qi, trec_writer *w) {
    const trace_query *q = sq->q;
    size_t n = q->n, L = (size_t)meta->n_layers, k = c->k < n ? c->k : n;
    *sweep_value(r, SWEEP_PRECISION, ci, qi) =
        metric_precision_vs_full(sq->fs_order, k, sq->full_order, k);
    sweep_label_measures(sq, sq->fs_order, unjudged, r, ci, qi);
    double full_latency = q->embed_seconds + q->score_seconds;
    for (size_t l = 0; l < L; l++)
        full_latency += q->layer_seconds[l];
    *sweep_value(r, SWEEP_FRACTION, ci, qi) = 0.0;
    *sweep_value(r, SWEEP_FLOPS, ci, qi) = 0.0;
    *sweep_value(r, SWEEP_FLOPS_FULL, ci, qi) = sq->flops_all * (double)L;
    *sweep_value(r, SWEEP_LATENCY, ci, qi) = 0.0;
    *sweep_value(r, SWEEP_LATENCY_FULL, ci, qi) = full_latency;
    *sweep_value(r, SWEEP_PEAK_BYTES, ci, qi) = 0.0;
    if (!w) return STATUS_OK;
    sweep_monotone_scores(sq->fs_order, q->first_stage, n, sq->run_scores);
    const char **ids = malloc(n * sizeof *ids);
    if (!ids) return status_fail(STATUS_ERR_NOMEM, "sweep: out of memory");
    for (size_t i = 0; i < n; i++)
        ids[i] = q->doc_ids[sq->fs_order[i]];
    status st = trec_writer_add(w, q->qid, ids, sq->run_scores, n);
    free(ids);
    return st;
}

// Replays one configuration on one query and stores its metrics (and, with
// a writer, its ranking as a TREC run).
static status sweep_replay(const sweep_config *c, policy *p, const sweep_query *sq,
                           const trace_meta *meta, sweep_unjudged unjudged, sweep_results *r,
                           size_t ci, size_t qi, trec_writer *w) {
    const trace_query *q = sq->q;
    size_t n = q->n, L = (size_t)meta->n_layers, k = c->k < n ? c->k : n;
    engine_result res;
    status st = engine_result_init(&res, n, L);
    if (st != STATUS_OK) return st;
    st = sweep_replay_query(p, k, q, L, &res);
    if (st == STATUS_OK) {
        *sweep_value(r, SWEEP_PRECISION, ci, qi) =
            metric_precision_vs_full(res.order, k, sq->full_order, k);
        sweep_label_measures(sq, res.order, unjudged, r, ci, qi);
        *sweep_value(r, SWEEP_FRACTION, ci, qi) = (double)res.candidate_layers / (double)(n * L);
        // Cost: each layer's measured full time scaled by its active FLOP share.
        double flops = 0.0, latency = q->embed_seconds, scored = 0.0;
        for (size_t l = 1; l <= L; l++) {
            double layer = 0.0;
            for (size_t i = 0; i < n; i++)
                if ((size_t)res.exit_layer[i] >= l) layer += sq->flops[i];
            flops += layer;
            latency += q->layer_seconds[l - 1] * layer / sq->flops_all;
        }
        for (size_t i = 0; i < n; i++)
            scored += (double)res.exit_layer[i] + 1.0;
        latency += q->score_seconds * scored / (double)(n * (L + 1));
        double full_latency = q->embed_seconds + q->score_seconds;
        for (size_t l = 0; l < L; l++)
            full_latency += q->layer_seconds[l];
        *sweep_value(r, SWEEP_FLOPS, ci, qi) = flops;
        *sweep_value(r, SWEEP_FLOPS_FULL, ci, qi) = sq->flops_all * (double)L;
        *sweep_value(r, SWEEP_LATENCY, ci, qi) = latency;
        *sweep_value(r, SWEEP_LATENCY_FULL, ci, qi) = full_latency;
        size_t chunk = c->chunk == 0 || c->chunk > n ? n : c->chunk, tok = 0;
        for (size_t i = 0; i < chunk; i++)
            tok += sq->lens_desc[i];
        // The engine's workspace for that chunk (the architecture's own sizing).
        arch_workspace_size sz = {.max_tok = tok, .max_seq_len = sq->lens_desc[0], .max_seqs = n};
        *sweep_value(r, SWEEP_PEAK_BYTES, ci, qi) =
            (double)sq->cost->arch->workspace_bytes(sq->cost, &sz);
        if (w) {
            // Survivors by final score, pruned candidates below them (the
            // engine's report order), scores made strictly decreasing.
            sweep_monotone_scores(res.order, res.exit_score, n, sq->run_scores);
            const char **ids = malloc(n * sizeof *ids);
            if (!ids) st = status_fail(STATUS_ERR_NOMEM, "sweep: out of memory");
            for (size_t i = 0; ids && i < n; i++)
                ids[i] = q->doc_ids[res.order[i]];
            if (ids) st = trec_writer_add(w, q->qid, ids, sq->run_scores, n);
            free(ids);
        }
    }
    engine_result_free(&res);
    return st;
}

char *sweep_run_file_name(size_t c) {
    char *s = NULL;
    if (asprintf(&s, "config-%03zu.trec", c) < 0) return NULL;
    return s;
}

char *sweep_run_tag(const sweep_config *cf, size_t c) {
    char *s = NULL;
    if (asprintf(&s, "c%zu:%s:%s:k%zu%s", c, cf->policy, cf->params_text, cf->k,
                 cf->chunk ? ":chunked" : "") < 0)
        return NULL;
    for (char *p = s; *p; p++)
        if (isspace((unsigned char)*p)) *p = '_';
    return s;
}

status sweep_run(const sweep_grid *g, const trace *t, const beir_dataset *labels, size_t shard,
                 size_t n_shards, const sweep_options *opt, sweep_results *r) {
    size_t nq = 0, L = (size_t)t->meta.n_layers;
    sweep_options defaults = {0};
    if (!opt) opt = &defaults;
    if (n_shards == 0 || shard >= n_shards)
        return status_fail(STATUS_ERR_ARG, "sweep: bad shard %zu/%zu", shard, n_shards);
    for (size_t i = shard; i < t->n_queries; i += n_shards)
        nq++;
    status st = sweep_results_alloc(r, g->n_configs, nq);
    if (st != STATUS_OK) return st;
    r->has_labels = labels != NULL;
    r->unjudged = opt->unjudged;
    sweep_query *sq = calloc(nq ? nq : 1, sizeof *sq);
    if (!sq) {
        sweep_results_free(r);
        return status_fail(STATUS_ERR_NOMEM, "sweep: out of memory");
    }
    model_config cost;
    if ((st = sweep_cost_config(&t->meta, &cost, r->cost_model, sizeof r->cost_model)) !=
        STATUS_OK) {
        free(sq);
        sweep_results_free(r);
        return st;
    }
    double t0 = clock_now_seconds();
    size_t qi = 0;
    for (size_t i = shard; i < t->n_queries && st == STATUS_OK; i += n_shards, qi++) {
        r->qids[qi] = strdup(t->queries[i].qid);
        r->query_index[qi] = i;
        if (!r->qids[qi]) st = status_fail(STATUS_ERR_NOMEM, "sweep: out of memory");
        if (!st) st = sweep_query_prepare(&sq[qi], &t->queries[i], &cost, labels, L, t->meta.run);
        if (!st && labels && !sq[qi].has_judgements) r->n_unjudged++;
    }
    for (size_t ci = 0; ci < g->n_configs && st == STATUS_OK; ci++) {
        const sweep_config *cf = &g->configs[ci];
        int first_stage = strcmp(cf->policy, SWEEP_FIRST_STAGE) == 0;
        policy *p = NULL;
        if (!first_stage && (st = policy_create(cf->policy, cf->params, &p)) != STATUS_OK) break;
        trec_writer w, *wp = NULL;
        if (opt->export_configs && opt->export_configs[ci] && opt->run_dir) {
            char *name = sweep_run_file_name(ci), *tag = sweep_run_tag(cf, ci), *path = NULL;
            if (!name || !tag || asprintf(&path, "%s/%s", opt->run_dir, name) < 0) {
                path = NULL;
                st = status_fail(STATUS_ERR_NOMEM, "sweep: out of memory");
            }
            if (!st && (st = trec_writer_open(&w, path, tag)) == STATUS_OK) wp = &w;
            free(name), free(tag), free(path);
        }
        for (size_t q = 0; q < nq && st == STATUS_OK; q++) {
            st = first_stage ? sweep_first_stage(cf, &sq[q], &t->meta, opt->unjudged, r, ci, q, wp)
                             : sweep_replay(cf, p, &sq[q], &t->meta, opt->unjudged, r, ci, q, wp);
            if (st != STATUS_OK)
                status_wrap(st, "config %zu (%s %s, K=%zu), query %s", ci, cf->policy,
                            cf->params_text, cf->k, sq[q].q->qid);
        }
        if (wp) {
            if (st == STATUS_OK)
                st = trec_writer_close(wp);
            else
                trec_writer_abort(wp);
        }
        policy_free(p);
    }
    r->replay_seconds = clock_now_seconds() - t0;
    for (size_t q = 0; q < nq; q++)
        sweep_query_free(&sq[q]);
    free(sq);
    if (st != STATUS_OK) sweep_results_free(r);
    return st;
}

double sweep_mean(const sweep_results *r, int metric, size_t config) {
    double sum = 0.0;
    size_t n = 0;
    for (size_t q = 0; q < r->n_queries; q++) {
        double v = *sweep_value(r, metric, config, q);
        if (!isnan(v)) {
            sum += v;
            n++;
        }
    }
    return n ? sum / (double)n : NAN;
}

// ---- output ----

static void sweep_csv_quoted(FILE *f, const char *s) {
    fputc('"', f);
    for (; s && *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static const char *sweep_unjudged_name(const sweep_results *r) {
    if (!r->has_labels) return "";
    return r->unjudged == SWEEP_UNJUDGED_ZERO ? "zero" : "skip";
}

// "%.6f", or "nan".
static void sweep_csv_num(FILE *f, const char *fmt, double v) {
    if (isfinite(v))
        fprintf(f, fmt, v);
    else
        fputs("nan", f);
}

static status sweep_write_csv(const sweep_grid *g, const sweep_results *r, const char *tmp) {
    FILE *f = fopen(tmp, "w");
    if (!f) return status_fail(STATUS_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    fprintf(f, "config,policy,params,k,chunk,n_queries,n_judged,n_unjudged,unjudged,precision_at_k_"
               "vs_full");
    for (int m = SWEEP_NDCG10; m <= SWEEP_P10; m++)
        fprintf(f, ",%s", sweep_metric_names[m]);
    fprintf(
        f,
        ",fraction_computed,gflops,gflops_full,flops_fraction,latency_ms,latency_full_ms,speedup,"
        "peak_intermediate_mib,trace,qrels,model,grating_version,threads\n");
    size_t n_judged = r->has_labels ? r->n_queries - r->n_unjudged : 0;
    for (size_t c = 0; c < g->n_configs; c++) {
        const sweep_config *cf = &g->configs[c];
        fprintf(f, "%zu,%s,", c, cf->policy);
        sweep_csv_quoted(f, cf->params_text);
        double fl = sweep_mean(r, SWEEP_FLOPS, c), fl_full = sweep_mean(r, SWEEP_FLOPS_FULL, c);
        double lat = sweep_mean(r, SWEEP_LATENCY, c),
               lat_full = sweep_mean(r, SWEEP_LATENCY_FULL, c);
        double peak = 0.0;
        for (size_t q = 0; q < r->n_queries; q++)
            peak = fmax(peak, *sweep_value(r, SWEEP_PEAK_BYTES, c, q));
        fprintf(f, ",%zu,%zu,%zu,%zu,%zu,%s", cf->k, cf->chunk, r->n_queries, n_judged,
                r->n_unjudged, sweep_unjudged_name(r));
        for (int m = SWEEP_PRECISION; m <= SWEEP_P10; m++) {
            fputc(',', f);
            sweep_csv_num(f, "%.6f", sweep_mean(r, m, c));
        }
        fputc(',', f);
        sweep_csv_num(f, "%.6f", sweep_mean(r, SWEEP_FRACTION, c));
        fprintf(f, ",%.6f,%.6f,%.6f,%.4f,%.4f,", fl * 1e-9, fl_full * 1e-9,
                fl_full > 0 ? fl / fl_full : 0.0, lat * 1e3, lat_full * 1e3);
        sweep_csv_num(f, "%.4f", lat > 0 ? lat_full / lat : NAN);
        fprintf(f, ",%.3f,", peak / (1024.0 * 1024.0));
        sweep_csv_quoted(f, r->prov.trace);
        fputc(',', f);
        sweep_csv_quoted(f, r->prov.qrels);
        fputc(',', f);
        sweep_csv_quoted(f, r->prov.model);
        fprintf(f, ",%s,%lld\n", r->prov.version ? r->prov.version : "",
                (long long)r->prov.threads);
    }
    int bad = ferror(f) || fflush(f) != 0 || fsync(fileno(f)) != 0;
    int err = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        err = errno;
    }
    if (bad) return status_fail(STATUS_ERR_IO, "%s: cannot write: %s", tmp, strerror(err));
    return STATUS_OK;
}

// Builds sweep.h5 in memory (HDF5 core driver, no backing store) and hands
// back its file image: libhdf5 never writes to the disk, so a full disk is an
// ordinary write error of sweep_write_file (a failed flush inside libhdf5
// leaves state that crashes its exit handler).
static status sweep_build_h5(const sweep_grid *g, const trace_meta *meta, const sweep_results *r,
                             const char *tmp, const char *command, void **image,
                             size_t *image_size) {
    h5util_quiet();
    *image = NULL;
    *image_size = 0;
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0 || H5Pset_fapl_core(fapl, (size_t)1 << 20, 0) < 0) {
        if (fapl >= 0) H5Pclose(fapl);
        return status_fail(STATUS_ERR_IO, "%s: cannot set up an in-memory HDF5 file", tmp);
    }
    hid_t f = H5Fcreate(tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    if (f < 0) return status_fail(STATUS_ERR_IO, "%s: cannot create (in memory)", tmp);
    size_t nc = g->n_configs, nq = r->n_queries;
    const char **pol = malloc((nc ? nc : 1) * sizeof *pol),
               **par = malloc((nc ? nc : 1) * sizeof *par);
    int64_t *ks = malloc((nc ? nc : 1) * sizeof *ks),
            *chunks = malloc((nc ? nc : 1) * sizeof *chunks);
    int64_t *qidx = malloc((nq ? nq : 1) * sizeof *qidx);
    status st = STATUS_OK;
    if (!pol || !par || !ks || !chunks || !qidx)
        st = status_fail(STATUS_ERR_NOMEM, "sweep: out of memory");
    for (size_t c = 0; c < nc && !st; c++) {
        pol[c] = g->configs[c].policy;
        par[c] = g->configs[c].params_text;
        ks[c] = (int64_t)g->configs[c].k;
        chunks[c] = (int64_t)g->configs[c].chunk;
    }
    for (size_t q = 0; q < nq && !st; q++)
        qidx[q] = (int64_t)r->query_index[q];
    hid_t str = h5util_string_type();
    if (str < 0 && !st) st = status_fail(STATUS_ERR_IO, "%s: cannot create a string type", tmp);
    hsize_t dc[1] = {nc}, dq[1] = {nq}, dv[2] = {nc, nq};
    int64_t labels = r->has_labels, n_unjudged = (int64_t)r->n_unjudged, threads = r->prov.threads;
    if (!st) st = h5util_attr_write_string(f, "schema", SWEEP_SCHEMA, tmp);
    if (!st) st = h5util_attr_write_string(f, "grid", g->name ? g->name : "", tmp);
    if (!st) st = h5util_attr_write_string(f, "trace_model", meta->model ? meta->model : "", tmp);
    if (!st)
        st = h5util_attr_write_string(f, "trace_config_hash",
                                      meta->config_hash ? meta->config_hash : "", tmp);
    if (!st)
        st = h5util_attr_write_string(f, "trace_dataset", meta->dataset ? meta->dataset : "", tmp);
    if (!st) st = h5util_attr_write_string(f, "command", command ? command : "", tmp);
    if (!st) st = h5util_attr_write_num(f, "has_labels", H5T_NATIVE_INT64, &labels, tmp);
    if (!st) st = h5util_attr_write_string(f, "unjudged", sweep_unjudged_name(r), tmp);
    if (!st) st = h5util_attr_write_num(f, "n_unjudged", H5T_NATIVE_INT64, &n_unjudged, tmp);
    if (!st) st = h5util_attr_write_string(f, "trace", r->prov.trace ? r->prov.trace : "", tmp);
    if (!st) st = h5util_attr_write_string(f, "qrels", r->prov.qrels ? r->prov.qrels : "", tmp);
    if (!st) st = h5util_attr_write_string(f, "model", r->prov.model ? r->prov.model : "", tmp);
    if (!st)
        st = h5util_attr_write_string(f, "version", r->prov.version ? r->prov.version : "", tmp);
    if (!st) st = h5util_attr_write_num(f, "threads", H5T_NATIVE_INT64, &threads, tmp);
    if (!st) st = h5util_attr_write_string(f, "cost_model", r->cost_model, tmp);
    if (!st) st = h5util_write_dataset(f, "policy", str, 1, dc, pol, tmp);
    if (!st) st = h5util_write_dataset(f, "params", str, 1, dc, par, tmp);
    if (!st) st = h5util_write_dataset(f, "k", H5T_NATIVE_INT64, 1, dc, ks, tmp);
    if (!st) st = h5util_write_dataset(f, "chunk", H5T_NATIVE_INT64, 1, dc, chunks, tmp);
    if (!st) st = h5util_write_dataset(f, "query_ids", str, 1, dq, r->qids, tmp);
    if (!st) st = h5util_write_dataset(f, "query_index", H5T_NATIVE_INT64, 1, dq, qidx, tmp);
    hid_t grp = st ? -1 : H5Gcreate2(f, "per_query", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (!st && grp < 0)
        st = status_fail(STATUS_ERR_IO, "%s: cannot create the group per_query", tmp);
    for (int m = 0; m < SWEEP_N_METRICS && !st; m++)
        st = h5util_write_dataset(grp, sweep_metric_names[m], H5T_NATIVE_DOUBLE, 2, dv,
                                  sweep_value(r, m, 0, 0), tmp);
    // Every object opened here is closed on every path before the file.
    if (grp >= 0) H5Gclose(grp);
    if (str >= 0) H5Tclose(str);
    free(pol), free(par), free(ks), free(chunks), free(qidx);
    if (!st && H5Fflush(f, H5F_SCOPE_GLOBAL) < 0)
        st = status_fail(STATUS_ERR_IO, "%s: HDF5 flush failed (in memory)", tmp);
    ssize_t size = st ? -1 : H5Fget_file_image(f, NULL, 0);
    if (!st && size <= 0)
        st = status_fail(STATUS_ERR_IO, "%s: cannot get the HDF5 file image", tmp);
    if (!st && !(*image = malloc((size_t)size)))
        st = status_fail(STATUS_ERR_NOMEM, "sweep: out of memory");
    if (!st && H5Fget_file_image(f, *image, (size_t)size) != size)
        st = status_fail(STATUS_ERR_IO, "%s: cannot get the HDF5 file image", tmp);
    // A core file without backing store touches no disk when it closes.
    if (H5Fclose(f) < 0 && !st)
        st = status_fail(STATUS_ERR_IO, "%s: HDF5 close failed (in memory)", tmp);
    if (st) {
        free(*image);
        *image = NULL;
    } else {
        *image_size = (size_t)size;
    }
    return st;
}

// Writes `size` bytes to a new file `path`, flushed to the disk.
static status sweep_write_file(const char *path, const void *data, size_t size) {
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) return status_fail(STATUS_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    const char *p = data;
    size_t left = size;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            int err = w < 0 ? errno : EIO;
            close(fd);
            return status_fail(STATUS_ERR_IO, "%s: cannot write: %s", path, strerror(err));
        }
        p += w;
        left -= (size_t)w;
    }
    if (fsync(fd) != 0) {
        int err = errno;
        close(fd);
        return status_fail(STATUS_ERR_IO, "%s: cannot write: %s", path, strerror(err));
    }
    if (close(fd) != 0)
        return status_fail(STATUS_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    return STATUS_OK;
}

static status sweep_write_h5(const sweep_grid *g, const trace_meta *meta, const sweep_results *r,
                             const char *tmp, const char *command) {
    void *image;
    size_t size;
    status st = sweep_build_h5(g, meta, r, tmp, command, &image, &size);
    if (!st) st = sweep_write_file(tmp, image, size);
    free(image);
    return st;
}

// Temporary names in OUT_DIR, unique to this process.
static char *sweep_tmp_name(const char *out_dir, const char *name) {
    char *s = NULL;
    if (asprintf(&s, "%s/%s.tmp-%ld", out_dir, name, (long)getpid()) < 0) return NULL;
    return s;
}

static char *sweep_join(const char *dir, const char *name) {
    char *s = NULL;
    if (asprintf(&s, "%s/%s", dir, name) < 0) return NULL;
    return s;
}

char *sweep_run_dir_tmp(const char *out_dir) {
    return sweep_tmp_name(out_dir, "runs");
}

// Removes a folder of plain files (one level).
static void sweep_remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char *p = sweep_join(dir, e->d_name);
            if (p) unlink(p);
            free(p);
        }
        closedir(d);
    }
    rmdir(dir);
}

static const char *const sweep_outputs[] = {"sweep.csv", "sweep.h5", "runs", NULL};

status sweep_output_prepare(const char *out_dir, int force, int *created) {
    *created = 0;
    if (!out_dir || !*out_dir) return status_fail(STATUS_ERR_ARG, "sweep: empty output folder");
    struct stat sb;
    if (stat(out_dir, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode))
            return status_fail(STATUS_ERR_ARG,
                               "%s exists and is not a folder (the sweep output is a folder)",
                               out_dir);
        for (size_t i = 0; sweep_outputs[i] && !force; i++) {
            char *p = sweep_join(out_dir, sweep_outputs[i]);
            int there = p && fs_exists(p);
            free(p);
            if (there)
                return status_fail(
                    STATUS_ERR_ARG,
                    "%s already holds sweep results (%s); pass --force to replace them", out_dir,
                    sweep_outputs[i]);
        }
        return STATUS_OK;
    }
    status st = fs_make_parent_dirs(out_dir);
    if (st) return st;
    if (mkdir(out_dir, 0777) != 0)
        return status_fail(STATUS_ERR_IO, "%s: cannot create: %s", out_dir, strerror(errno));
    *created = 1;
    return STATUS_OK;
}

void sweep_output_abort(const char *out_dir, int created) {
    for (size_t i = 0; sweep_outputs[i]; i++) {
        char *p = sweep_tmp_name(out_dir, sweep_outputs[i]);
        if (p) {
            if (strcmp(sweep_outputs[i], "runs") == 0)
                sweep_remove_tree(p);
            else
                unlink(p);
        }
        free(p);
    }
    if (created) rmdir(out_dir); // only when empty
}

status sweep_write(const sweep_grid *g, const trace_meta *meta, const sweep_results *r,
                   const char *out_dir, const char *command, int force) {
    int created = 0;
    status st = sweep_output_prepare(out_dir, force, &created);
    if (st != STATUS_OK) return st;
    char *csv_tmp = sweep_tmp_name(out_dir, "sweep.csv"),
         *h5_tmp = sweep_tmp_name(out_dir, "sweep.h5");
    char *runs_tmp = sweep_tmp_name(out_dir, "runs"), *csv = sweep_join(out_dir, "sweep.csv");
    char *h5 = sweep_join(out_dir, "sweep.h5"), *runs = sweep_join(out_dir, "runs");
    char *runs_old = sweep_tmp_name(out_dir, "runs.old");
    if (!csv_tmp || !h5_tmp || !runs_tmp || !csv || !h5 || !runs || !runs_old)
        st = status_fail(STATUS_ERR_NOMEM, "sweep: out of memory");
    if (!st) st = sweep_write_csv(g, r, csv_tmp);
    if (!st) st = sweep_write_h5(g, meta, r, h5_tmp, command);
    // Everything is complete: rename last (an old runs folder goes when the
    // results it belonged to are replaced).
    int have_runs = !st && fs_exists(runs_tmp), moved_old = 0;
    if (!st && fs_exists(runs)) {
        if (rename(runs, runs_old) != 0)
            st = status_fail(STATUS_ERR_IO, "%s: cannot replace: %s", runs, strerror(errno));
        else
            moved_old = 1;
    }
    if (!st && have_runs && rename(runs_tmp, runs) != 0)
        st = status_fail(STATUS_ERR_IO, "%s: cannot rename into place: %s", runs, strerror(errno));
    if (!st && rename(h5_tmp, h5) != 0)
        st = status_fail(STATUS_ERR_IO, "%s: cannot rename into place: %s", h5, strerror(errno));
    if (!st && rename(csv_tmp, csv) != 0) {
        st = status_fail(STATUS_ERR_IO, "%s: cannot rename into place: %s", csv, strerror(errno));
        unlink(h5); // not one without the other
    }
    if (moved_old) sweep_remove_tree(runs_old);
    if (st && have_runs && fs_exists(runs) && !fs_exists(runs_tmp)) sweep_remove_tree(runs);
    if (st) sweep_output_abort(out_dir, created);
    free(csv_tmp), free(h5_tmp), free(runs_tmp), free(csv), free(h5), free(runs), free(runs_old);
    return st;
}

// The unjudged convention and the provenance attributes of a sweep.h5.
static status sweep_read_provenance(hid_t f, sweep_results *r, const char *path) {
    char *unjudged = NULL;
    int64_t n_unjudged = 0, threads = 0;
    status st = h5util_attr_read_string(f, "unjudged", &unjudged, path);
    if (!st) st = h5util_attr_read_num(f, "n_unjudged", H5T_NATIVE_INT64, &n_unjudged, path);
    if (!st) st = h5util_attr_read_string(f, "trace", &r->prov.trace, path);
    if (!st) st = h5util_attr_read_string(f, "qrels", &r->prov.qrels, path);
    if (!st) st = h5util_attr_read_string(f, "model", &r->prov.model, path);
    if (!st) st = h5util_attr_read_string(f, "version", &r->prov.version, path);
    if (!st) st = h5util_attr_read_num(f, "threads", H5T_NATIVE_INT64, &threads, path);
    // Optional (sweeps before issue 11 do not have it).
    if (!st && H5Aexists(f, "cost_model") > 0) {
        char *how = NULL;
        st = h5util_attr_read_string(f, "cost_model", &how, path);
        if (!st) snprintf(r->cost_model, sizeof r->cost_model, "%s", how);
        free(how);
    }
    if (!st && (n_unjudged < 0 || (uint64_t)n_unjudged > r->n_queries))
        st = status_fail(STATUS_ERR_FORMAT, "%s: n_unjudged %lld out of range [0, %zu]", path,
                         (long long)n_unjudged, r->n_queries);
    if (!st) {
        r->unjudged = strcmp(unjudged, "zero") == 0 ? SWEEP_UNJUDGED_ZERO : SWEEP_UNJUDGED_SKIP;
        r->n_unjudged = (size_t)n_unjudged;
        r->prov.threads = threads;
    }
    free(unjudged);
    return st;
}

status sweep_read(sweep_grid *g, sweep_results *r, trace_meta *meta, const char *path) {
    h5util_quiet();
    memset(g, 0, sizeof *g);
    memset(r, 0, sizeof *r);
    memset(meta, 0, sizeof *meta);
    if (access(path, R_OK) != 0)
        return status_fail(STATUS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return status_fail(STATUS_ERR_FORMAT, "%s: not an HDF5 file", path);
    char *schema = NULL, **pol = NULL, **par = NULL, **qids = NULL;
    size_t nc = 0, nc2 = 0, nq = 0;
    int64_t labels = 0;
    status st = h5util_attr_read_string(f, "schema", &schema, path);
    if (!st && strcmp(schema, SWEEP_SCHEMA) != 0)
        st = status_fail(STATUS_ERR_FORMAT, "%s: not a sweep file (schema '%s')", path, schema);
    if (!st) st = h5util_attr_read_string(f, "grid", &g->name, path);
    if (!st) st = h5util_attr_read_num(f, "has_labels", H5T_NATIVE_INT64, &labels, path);
    if (!st) st = h5util_attr_read_string(f, "trace_model", &meta->model, path);
    if (!st) st = h5util_attr_read_string(f, "trace_config_hash", &meta->config_hash, path);
    if (!st) st = h5util_attr_read_string(f, "trace_dataset", &meta->dataset, path);
    if (!st) st = h5util_read_strings(f, "policy", &pol, &nc, path);
    if (!st) st = h5util_read_strings(f, "params", &par, &nc2, path);
    if (!st && nc2 != nc)
        st = status_fail(STATUS_ERR_FORMAT, "%s: policy and params differ in length", path);
    if (!st) st = h5util_read_strings(f, "query_ids", &qids, &nq, path);
    if (!st) st = sweep_results_alloc(r, nc, nq);
    int64_t *ks = malloc((nc ? nc : 1) * sizeof *ks),
            *chunks = malloc((nc ? nc : 1) * sizeof *chunks);
    int64_t *qidx = malloc((nq ? nq : 1) * sizeof *qidx);
    if (!st) st = h5util_read_dataset(f, "k", H5T_NATIVE_INT64, nc, ks, path, "configs");
    if (!st) st = h5util_read_dataset(f, "chunk", H5T_NATIVE_INT64, nc, chunks, path, "configs");
    if (!st)
        st = h5util_read_dataset(f, "query_index", H5T_NATIVE_INT64, nq, qidx, path, "queries");
    hid_t grp = st ? -1 : H5Gopen2(f, "per_query", H5P_DEFAULT);
    for (int m = 0; m < SWEEP_N_METRICS && !st; m++)
        st = h5util_read_dataset(grp, sweep_metric_names[m], H5T_NATIVE_DOUBLE, nc * nq,
                                 sweep_value(r, m, 0, 0), path, "per_query");
    if (grp >= 0) H5Gclose(grp);
    if (!st) st = sweep_read_provenance(f, r, path);
    if (!st) {
        r->has_labels = (int)labels;
        g->configs = calloc(nc ? nc : 1, sizeof *g->configs);
        g->n_configs = nc;
        for (size_t c = 0; c < nc && !st; c++) {
            sweep_config *cf = &g->configs[c];
            cf->policy = pol[c];
            cf->params_text = par[c];
            pol[c] = par[c] = NULL;
            cf->k = (size_t)ks[c];
            cf->chunk = (size_t)chunks[c];
            cf->params = cJSON_Parse(cf->params_text);
            if (!cf->params)
                st = status_fail(STATUS_ERR_FORMAT, "%s: config %zu: params are not JSON", path, c);
        }
        for (size_t q = 0; q < nq; q++) {
            r->qids[q] = qids[q];
            qids[q] = NULL;
            r->query_index[q] = (size_t)qidx[q];
        }
    }
    for (size_t i = 0; i < nc; i++) {
        if (pol) free(pol[i]);
        if (par) free(par[i]);
    }
    for (size_t i = 0; qids && i < nq; i++)
        free(qids[i]);
    free(pol), free(par), free(qids), free(ks), free(chunks), free(qidx), free(schema);
    H5Fclose(f);
    if (st) {
        sweep_grid_free(g);
        sweep_results_free(r);
        trace_meta_free(meta);
    }
    return st;
}

status sweep_merge(const sweep_results *parts, size_t n_parts, sweep_results *out) {
    if (n_parts == 0) return status_fail(STATUS_ERR_ARG, "merge: no sweep results");
    size_t nq = 0, nc = parts[0].n_configs;
    for (size_t i = 0; i < n_parts; i++) {
        if (parts[i].n_configs != nc)
            return status_fail(STATUS_ERR_ARG,
                               "merge: shard %zu has %zu configurations, shard 0 has %zu", i,
                               parts[i].n_configs, nc);
        nq += parts[i].n_queries;
    }
    status st = sweep_results_alloc(out, nc, nq);
    if (st != STATUS_OK) return st;
    out->has_labels = parts[0].has_labels;
    out->unjudged = parts[0].unjudged;
    for (size_t i = 0; i < n_parts; i++)
        out->n_unjudged += parts[i].n_unjudged;
    const sweep_provenance *p0 = &parts[0].prov;
    out->prov.threads = p0->threads;
    out->prov.trace = strdup(p0->trace ? p0->trace : "");
    out->prov.qrels = strdup(p0->qrels ? p0->qrels : "");
    out->prov.model = strdup(p0->model ? p0->model : "");
    out->prov.version = strdup(p0->version ? p0->version : "");
    if (!out->prov.trace || !out->prov.qrels || !out->prov.model || !out->prov.version) {
        sweep_results_free(out);
        return status_fail(STATUS_ERR_NOMEM, "merge: out of memory");
    }
    // Order by trace position so aggregates sum in the unsharded order.
    size_t *pi = malloc(nq * sizeof *pi), *qi = malloc(nq * sizeof *qi), o = 0;
    if (!pi || !qi) {
        free(pi), free(qi);
        sweep_results_free(out);
        return status_fail(STATUS_ERR_NOMEM, "merge: out of memory");
    }
    for (size_t i = 0; i < n_parts; i++)
        for (size_t q = 0; q < parts[i].n_queries; q++, o++)
            pi[o] = i, qi[o] = q;
    for (size_t a = 1; a < nq; a++)
        for (size_t b = a;
             b > 0 && parts[pi[b - 1]].query_index[qi[b - 1]] > parts[pi[b]].query_index[qi[b]];
             b--) {
            size_t tp = pi[b], tq = qi[b];
            pi[b] = pi[b - 1], qi[b] = qi[b - 1];
            pi[b - 1] = tp, qi[b - 1] = tq;
        }
    for (size_t q = 0; q < nq && !st; q++) {
        const sweep_results *src = &parts[pi[q]];
        if (q > 0 && out->query_index[q - 1] == src->query_index[qi[q]])
            st = status_fail(STATUS_ERR_ARG, "merge: query %s appears in two shards",
                             src->qids[qi[q]]);
        out->qids[q] = strdup(src->qids[qi[q]]);
        out->query_index[q] = src->query_index[qi[q]];
        for (int m = 0; m < SWEEP_N_METRICS; m++)
            for (size_t c = 0; c < nc; c++)
                *sweep_value(out, m, c, q) = *sweep_value(src, m, c, qi[q]);
    }
    free(pi), free(qi);
    if (st) sweep_results_free(out);
    return st;
}
