/*
 * grating rerank: the top-K of a query's candidates from one monolithic
 * forward in which a pruning policy selects and drops candidates before every
 * layer (core/engine/engine.h), with the statistics of what was computed.
 */
#include "cli.h"

#include "io/direct_io.h"
#include "engine/engine.h"
#include "base/mem.h"
#include "base/mem_timeline.h"
#include "base/json_file.h"
#include "policy.h"
#include "beir.h"
#include "base/fsutil.h"
#include "trec.h"
#include "base/clock.h"

#include <errno.h>
#include <math.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void rerank_usage(FILE *out) {
    fprintf(
        out,
        "usage: grating rerank --model DIR (--query Q | --queries FILE --qid ID) --docs FILE\n"
        "                      --top-k K [--policy NAME] [--policy-args JSON] [--chunk C]\n"
        "                      [--doc-ids LIST] [--max-len N] [--json] [--trec FILE]\n"
        "                      [--trec-qid QID] [--run-tag TAG] [--window W|all] [--direct-io]\n"
        "                      [--embed-cache FRACTION|ROWS] [--cold] [--threads N] [--force]\n"
        "                      [--memory-timeline FILE.csv [--timeline-ms MS] [--label TEXT]]\n"
        "       grating rerank --model DIR --run RUN.trec --dataset DIR --top-k K --trec OUT.trec\n"
        "                      [--split S] [--top-n N] [--limit M] [--stats OUT.jsonl] [--json]\n"
        "                      [every option above except the query and document ones]\n"
        "       grating rerank --list-policies\n\n"
        "Runs all candidates layer by layer; before every layer the policy selects, drops\n"
        "or defers each active candidate. Prints the top-K and what was computed.\n"
        "With --run and --dataset (batch mode) every query of the run is reranked in this\n"
        "one process (the model is loaded once) and written to one TREC run.\n\n"
        "  --top-k K          number of candidates to select (1 <= K <= N; batch mode: a query\n"
        "                     with fewer than K candidates uses K = N, counted and reported)\n"
        "  --policy NAME      pruning policy (default: none = full forward)\n"
        "  --policy-args JSON policy parameters, e.g. '{\"threshold\": 0.1, \"k\": 3}'\n"
        "  --chunk C          run each layer over chunks of C active candidates (default all)\n"
        "  --window W|all     layer weights: `all` resident (default); W slots streamed from the\n"
        "                     checkpoint (1 = read each layer right before it runs; 2 = an I/O\n"
        "                     thread reads layer l+1 while layer l computes; >2 deeper prefetch)\n"
        "  --direct-io        streamed layers are read with O_DIRECT (no page cache); needs\n"
        "                     --window W and a filesystem that supports it\n"
        "  --embed-cache F|R  keep only an LRU of embedding rows, read from the checkpoint on a\n"
        "                     miss: a fraction of the vocabulary (0.1 or 10%%) or a number of\n"
        "                     rows (15000); default: the whole table in memory\n"
        "  --cold             drop the checkpoint files from the page cache before loading\n"
        "                     (fdatasync + posix_fadvise DONTNEED), so weights come from disk\n"
        "  --threads N        compute (BLAS) threads (default: OPENBLAS_NUM_THREADS, else all\n"
        "                     cores); printed in the output\n"
        "  --memory-timeline FILE.csv  sample memory during the run; writes FILE.csv\n"
        "                     (system,t_ms,bytes: allocator total) and FILE-categories.csv\n"
        "                     (per category and RSS)\n"
        "  --timeline-ms MS   sampling period (default 5)\n"
        "  --label TEXT       the `system` column of the timeline (default: grating)\n"
        "  --json             machine-readable output, with the model (absolute path),\n"
        "                     architecture, max_len, policy and parameters, query id, threads\n"
        "                     and grating version\n"
        "  --trec FILE        write every candidate as a TREC run line (see TREC scores below)\n"
        "  --trec-qid QID     query id in the run (default: --qid, else \"q\")\n"
        "  --run-tag TAG      run tag (default: grating-<policy>)\n"
        "  --allow-unused-tensors  run a checkpoint holding tensors the architecture does not\n"
        "                     read (e.g. more layers than config.json says); refused otherwise\n"
        "  --force            replace existing output files (--trec, --stats,\n"
        "                     --memory-timeline); without it they are refused. Missing parent\n"
        "                     folders are created.\n"
        "  (query, document, --max-len, --doc-ids, --instruction: as in `grating score`)\n\n"
        "Batch mode:\n"
        "  --run FILE         first-stage run, TREC format (qid Q0 docid rank score tag)\n"
        "  --dataset DIR      BEIR folder (corpus.jsonl, queries.jsonl) with the run's ids\n"
        "  --split S          also load DIR/qrels/S.tsv (each query's stats then count its\n"
        "                     judged documents); default: no qrels\n"
        "  --top-n N          candidates per query: the first N of the run (default 20)\n"
        "  --limit M          only the first M queries of the run\n"
        "  --stats FILE.jsonl one line per query: qid, candidates, K used, whether K was\n"
        "                     clamped, candidate-layers computed, layers run, milliseconds\n\n"
        "Top-K rule: selected candidates (earlier selection first), then candidates still\n"
        "active at the end by latest score, then dropped ones (later drop first).\n\n"
        "TREC scores: the model's own scores (logits). The top-K come first, by the last\n"
        "score each received (descending; that is the order trec_eval sorts them into).\n"
        "Every other candidate follows in the report order (later exit layer first, then\n"
        "by its last provisional score). Scores strictly decrease down a query: a\n"
        "candidate whose score is not below the previous line's is written 0.001 below\n"
        "it (rounded down to 6 decimals), so trec_eval, which sorts by score, keeps this\n"
        "order. The JSON output keeps every candidate's unmodified score and exit layer.\n");
}

static void rerank_list_policies(void) {
    for (size_t i = 0; i < policy_count(); i++)
        printf("%-22s %s\n", policy_at(i)->name, policy_at(i)->summary);
}

// Below the previous line by this much when a score would not decrease.
#define RERANK_TREC_STEP 1e-3

typedef struct {
    const float *score;
} rerank_by_score_ctx;

static int rerank_cmp_score(const void *pa, const void *pb, void *ctx) {
    const float *score = ((const rerank_by_score_ctx *)ctx)->score;
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    if (score[a] != score[b]) return score[a] > score[b] ? -1 : 1;
    return a < b ? -1 : a > b;
}

// The TREC lines of one query (the rule in the usage text): idx (n,) the
// candidates in line order, score (n,) strictly decreasing.
static void rerank_trec_lines(const engine_result *r, size_t k, size_t *idx, double *score) {
    memcpy(idx, r->order, r->n * sizeof *idx);
    rerank_by_score_ctx ctx = {r->exit_score};
    qsort_r(idx, k, sizeof *idx, rerank_cmp_score, &ctx);
    for (size_t pos = 0; pos < r->n; pos++) {
        double v = r->exit_score[idx[pos]];
        // Nudged scores sit on a 1e-6 grid so they print with 6 decimals.
        if (pos > 0 && !(v < score[pos - 1]))
            v = floor((score[pos - 1] - RERANK_TREC_STEP) * 1e6) / 1e6;
        score[pos] = v;
    }
}

// Adds one query's lines to the run.
static status rerank_trec_add(trec_writer *w, const char *qid, const doc_list *docs,
                              const engine_result *r, size_t k) {
    size_t *idx = malloc(r->n * sizeof *idx);
    double *score = malloc(r->n * sizeof *score);
    const char **ids = malloc(r->n * sizeof *ids);
    status st = STATUS_OK;
    if (!idx || !score || !ids) {
        st = status_fail(STATUS_ERR_NOMEM, "%s: out of memory", w->path);
    } else {
        rerank_trec_lines(r, k, idx, score);
        for (size_t i = 0; i < r->n; i++)
            ids[i] = docs->items[idx[i]].id;
        st = trec_writer_add(w, qid, ids, score, r->n);
    }
    free(idx);
    free(score);
    free(ids);
    return st;
}

// --embed-cache: a fraction of the vocabulary ("0.1", "10%") into *fraction,
// or a number of rows ("15000") into *rows. 0 on malformed input.
static int rerank_parse_embed_cache(const char *text, double *fraction, size_t *rows) {
    char *end;
    errno = 0;
    *fraction = 0.0;
    *rows = 0;
    if (strchr(text, '.') || strchr(text, '%')) {
        double f = strtod(text, &end);
        if (*end == '%') f /= 100.0, end++;
        if (*end || errno || !(f > 0.0 && f <= 1.0)) return 0;
        *fraction = f;
        return 1;
    }
    long long n = strtoll(text, &end, 10);
    if (end == text || *end || errno || n < 1) return 0;
    *rows = (size_t)n;
    return 1;
}

// Rows of the cache for the model's vocabulary (a fraction, or rows capped
// at the vocabulary).
static status rerank_embed_cache_rows(const char *model_dir, double fraction, size_t *rows) {
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", model_dir);
    model_config cfg;
    status st = model_config_load(&cfg, path);
    if (st != STATUS_OK) return st;
    size_t vocab = (size_t)cfg.vocab_size;
    *rows = fraction > 0.0  ? embed_cache_rows_for_fraction(vocab, fraction)
            : *rows < vocab ? *rows
                            : vocab;
    return STATUS_OK;
}

// Drops the checkpoint's weight files from the page cache (--cold); reports
// how many of their bytes were cached before and after.
static status rerank_drop_cache(const char *model_dir, int allow_unused, uint64_t *before,
                                uint64_t *after) {
    checkpoint ck;
    checkpoint_options ck_opt = {.allow_unused_tensors = allow_unused};
    status st = checkpoint_open_ex(&ck, model_dir, &ck_opt);
    if (st != STATUS_OK) return st;
    *before = *after = 0;
    for (int pass = 0; pass < 2 && st == STATUS_OK; pass++) {
        if (pass == 1) st = checkpoint_drop_page_cache(&ck);
        for (size_t i = 0; i < ck.n_shards && st == STATUS_OK; i++) {
            uint64_t cached, size;
            st = direct_io_cached_bytes(ck.shards[i].path, &cached, &size);
            *(pass ? after : before) += cached;
        }
    }
    checkpoint_close(&ck);
    return st;
}

// FILE.csv -> FILE-categories.csv; a name without .csv gets -categories.csv appended.
static void rerank_categories_path(const char *path, char *out, size_t cap) {
    size_t n = strlen(path);
    if (n > 4 && strcmp(path + n - 4, ".csv") == 0) n -= 4;
    snprintf(out, cap, "%.*s-categories.csv", (int)n, path);
}

static cJSON *rerank_number(double v) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.9g", v);
    return cJSON_CreateRaw(buf);
}

// What the run did besides the forward, for the statistics.
typedef struct {
    const embed_cache *ec; // NULL: full embedding table
    int cold;              // page cache dropped before loading
    uint64_t cached_before, cached_after;
    double load_seconds;
} rerank_extra;

// Prints `root` (provenance and query already added) with the result.
static void rerank_print_json(cJSON *root, const doc_list *docs, const engine_result *r, size_t k,
                              const char *policy_name, cJSON *params, const rerank_extra *x) {
    const embed_cache *ec = x->ec;
    cJSON *pol = cJSON_AddObjectToObject(root, "policy");
    cJSON_AddStringToObject(pol, "name", policy_name);
    cJSON_AddItemToObject(pol, "params", params);
    cJSON_AddNumberToObject(root, "k", (double)k);
    cJSON *top = cJSON_AddArrayToObject(root, "top_k");
    cJSON *all = cJSON_AddArrayToObject(root, "candidates");
    for (size_t pos = 0; pos < r->n; pos++) {
        size_t c = r->order[pos];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "id", docs->items[c].id);
        cJSON_AddNumberToObject(o, "index", (double)c);
        cJSON_AddNumberToObject(o, "rank", (double)(pos + 1));
        cJSON_AddItemToObject(o, "score", rerank_number(r->exit_score[c]));
        cJSON_AddNumberToObject(o, "exit_layer", r->exit_layer[c]);
        cJSON_AddStringToObject(o, "reason", engine_exit_name(r->exit_reason[c]));
        cJSON_AddItemToArray(all, o);
        if (pos < k) cJSON_AddItemToArray(top, cJSON_CreateString(docs->items[c].id));
    }
    cJSON *stats = cJSON_AddObjectToObject(root, "stats");
    cJSON_AddNumberToObject(stats, "candidate_layers", (double)r->candidate_layers);
    cJSON_AddNumberToObject(stats, "candidate_layers_full", (double)r->candidate_layers_full);
    cJSON_AddItemToObject(
        stats, "fraction_computed",
        rerank_number((double)r->candidate_layers / (double)r->candidate_layers_full));
    cJSON_AddNumberToObject(stats, "layers_run", r->layers_run);
    cJSON *ls = cJSON_AddArrayToObject(stats, "layer_seconds");
    for (size_t l = 0; l < r->n_layers; l++)
        cJSON_AddItemToArray(ls, rerank_number(r->layer_seconds[l]));
    cJSON_AddItemToObject(stats, "embed_seconds", rerank_number(r->embed_seconds));
    cJSON_AddItemToObject(stats, "score_seconds", rerank_number(r->score_seconds));
    cJSON_AddItemToObject(stats, "policy_seconds", rerank_number(r->policy_seconds));
    cJSON_AddItemToObject(stats, "total_seconds", rerank_number(r->total_seconds));
    cJSON_AddNumberToObject(stats, "peak_chunk_tokens", (double)r->peak_chunk_tokens);
    cJSON *rs = cJSON_AddArrayToObject(stats, "read_seconds");
    cJSON *ws = cJSON_AddArrayToObject(stats, "wait_seconds");
    for (size_t l = 0; l < r->n_layers; l++) {
        cJSON_AddItemToArray(rs, rerank_number(r->read_seconds[l]));
        cJSON_AddItemToArray(ws, rerank_number(r->wait_seconds[l]));
    }
    if (ec) {
        cJSON *o = cJSON_AddObjectToObject(stats, "embedding_cache");
        cJSON_AddNumberToObject(o, "rows", (double)ec->capacity);
        cJSON_AddNumberToObject(o, "bytes", (double)embed_cache_bytes(ec));
        cJSON_AddNumberToObject(o, "hits", (double)ec->hits);
        cJSON_AddNumberToObject(o, "misses", (double)ec->misses);
        cJSON_AddItemToObject(o, "hit_rate", rerank_number(embed_cache_hit_rate(ec)));
        cJSON_AddItemToObject(o, "read_seconds", rerank_number(ec->read_seconds));
    }
    cJSON_AddItemToObject(stats, "load_seconds", rerank_number(x->load_seconds));
    if (x->cold) {
        cJSON *o = cJSON_AddObjectToObject(stats, "cold");
        cJSON_AddNumberToObject(o, "page_cache_bytes_before", (double)x->cached_before);
        cJSON_AddNumberToObject(o, "page_cache_bytes_after", (double)x->cached_after);
    }
    cJSON *mem = cJSON_AddObjectToObject(root, "memory_peak_bytes");
    for (int c = 0; c < MEM_N_CATEGORIES; c++)
        cJSON_AddNumberToObject(mem, mem_category_name((mem_category)c),
                                (double)mem_peak_bytes((mem_category)c));
    cJSON_AddNumberToObject(mem, "allocator_total", (double)mem_total_peak_bytes());
    cJSON_AddNumberToObject(mem, "rss", (double)mem_peak_rss_bytes());
    char *text = cJSON_PrintUnformatted(root);
    if (text) puts(text);
    free(text);
    cJSON_Delete(root);
}

static void rerank_print_table(const doc_list *docs, const engine_result *r, size_t k,
                               const char *policy_name, const cJSON *params,
                               const rerank_extra *x) {
    const embed_cache *ec = x->ec;
    char *p = cJSON_PrintUnformatted(params);
    printf("policy %s %s, K = %zu of N = %zu\n\n", policy_name, p ? p : "{}", k, r->n);
    free(p);
    printf("%-5s %-14s %10s %6s  %s\n", "rank", "id", "score", "layer", "exit");
    for (size_t pos = 0; pos < r->n; pos++) {
        size_t c = r->order[pos];
        if (pos == k) printf("----- below the top-K -----\n");
        printf("%-5zu %-14.14s %10.4f %6d  %s\n", pos + 1, docs->items[c].id, r->exit_score[c],
               r->exit_layer[c], engine_exit_name(r->exit_reason[c]));
    }
    printf("\ncandidate-layers computed: %zu of %zu (%.1f%%), layers run: %d of %zu\n",
           r->candidate_layers, r->candidate_layers_full,
           100.0 * (double)r->candidate_layers / (double)r->candidate_layers_full, r->layers_run,
           r->n_layers);
    double layers = 0.0;
    for (size_t l = 0; l < r->n_layers; l++)
        layers += r->layer_seconds[l];
    double read = 0.0, wait = 0.0;
    for (size_t l = 0; l < r->n_layers; l++)
        read += r->read_seconds[l], wait += r->wait_seconds[l];
    printf("time: total %.1f ms (embeddings %.1f, layers %.1f, scoring %.1f, policy %.3f, "
           "weight reads %.1f, exposed wait %.1f)\n",
           r->total_seconds * 1e3, r->embed_seconds * 1e3, layers * 1e3, r->score_seconds * 1e3,
           r->policy_seconds * 1e3, read * 1e3, wait * 1e3);
    if (x->cold)
        printf("cold: page cache of the checkpoint dropped before loading (%.1f MiB cached "
               "before, %.1f MiB after); model loaded in %.1f ms\n",
               x->cached_before / 1048576.0, x->cached_after / 1048576.0, x->load_seconds * 1e3);
    if (ec)
        printf("embedding cache: %zu rows (%.1f MiB), hit rate %.1f%% (%llu hits, %llu misses), "
               "embedding read time %.1f ms\n",
               ec->capacity, embed_cache_bytes(ec) / 1048576.0, 100.0 * embed_cache_hit_rate(ec),
               (unsigned long long)ec->hits, (unsigned long long)ec->misses,
               ec->read_seconds * 1e3);
    printf("memory peaks (MiB): weights %.1f, embeddings %.1f, hidden %.1f, activations %.1f, "
           "other %.1f, allocator total %.1f, RSS %.1f\n",
           mem_peak_bytes(MEM_WEIGHTS) / 1048576.0, mem_peak_bytes(MEM_EMBEDDINGS) / 1048576.0,
           mem_peak_bytes(MEM_HIDDEN) / 1048576.0, mem_peak_bytes(MEM_ACTIVATIONS) / 1048576.0,
           mem_peak_bytes(MEM_OTHER) / 1048576.0, mem_total_peak_bytes() / 1048576.0,
           mem_peak_rss_bytes() / 1048576.0);
}

// The parsed command line.
typedef struct {
    cli_common_opts in; // --model, --query..., --run/--dataset/--split, --max-len, --force...
    const char *policy_name, *policy_args, *trec, *trec_qid, *run_tag;
    const char *timeline_path, *label, *stats_path;
    long chunk, k, timeline_ms, top_n, limit, n_slots;
    int cold, direct;
    const char *embed_cache_arg;
    double cache_fraction;
    size_t cache_rows;
    int argc;
    char **argv;
} rerank_args;

// What both modes hold open: the policy, the model and its weight window,
// the memory timeline.
typedef struct {
    policy *pol;
    cJSON *params;
    reranker model;
    int model_open;
    weight_window win;
    int win_open;
    mem_timeline tl;
    rerank_extra extra;
    long max_len; // in force (after the model's limit)
} rerank_session;

static void rerank_session_close(rerank_session *s) {
    mem_timeline_free(&s->tl);
    if (s->win_open) weight_window_free(&s->win);
    if (s->model_open) reranker_close(&s->model);
    policy_free(s->pol);
    cJSON_Delete(s->params);
    memset(s, 0, sizeof *s);
}

// Refuses existing outputs (unless --force) and creates missing folders,
// before any work is done.
static status rerank_prepare_outputs(const rerank_args *a) {
    status st = STATUS_OK;
    if (a->trec && (st = fs_output_prepare(a->trec, a->in.force))) return st;
    if (a->stats_path && (st = fs_output_prepare(a->stats_path, a->in.force))) return st;
    if (a->timeline_path) {
        char cat_path[4300];
        rerank_categories_path(a->timeline_path, cat_path, sizeof cat_path);
        if ((st = fs_output_prepare(a->timeline_path, a->in.force)) ||
            (st = fs_output_prepare(cat_path, a->in.force)))
            return st;
    }
    return STATUS_OK;
}

// The policy, the embedding cache size, --cold, the timeline, the model and
// its weight window.
static status rerank_session_open(rerank_session *s, const rerank_args *a) {
    status st;
    memset(s, 0, sizeof *s);
    s->extra.cold = a->cold;
    s->max_len = a->in.max_len;
    if (a->policy_args &&
        (st = json_parse_text("--policy-args", a->policy_args, strlen(a->policy_args), &s->params)))
        return st;
    if ((st = policy_create(a->policy_name, s->params, &s->pol))) return st;
    reranker_options ropt = {.resident_layers = a->n_slots == 0,
                             .direct_io = a->direct,
                             .embed_cache_rows = a->cache_rows,
                             .allow_unused_tensors = a->in.allow_unused_tensors,
                             .matrix_dtype = a->in.matrix_dtype};
    if (a->embed_cache_arg &&
        (st = rerank_embed_cache_rows(a->in.model, a->cache_fraction, &ropt.embed_cache_rows)))
        return st;
    if (a->cold && (st = rerank_drop_cache(a->in.model, a->in.allow_unused_tensors,
                                           &s->extra.cached_before, &s->extra.cached_after)))
        return st;
    // The timeline covers loading too (the in-memory baseline's peak is there).
    if (a->timeline_path &&
        ((st = mem_timeline_init(&s->tl, (double)a->timeline_ms, MEM_TIMELINE_DEFAULT_CAPACITY)) ||
         (st = mem_timeline_start(&s->tl))))
        return st;
    double t_load = clock_now_seconds();
    if ((st = reranker_open_ex(&s->model, a->in.model, a->in.instruction, &ropt))) return st;
    s->extra.load_seconds = clock_now_seconds() - t_load;
    s->extra.ec = reranker_embed_cache(&s->model);
    s->model_open = 1;
    if (a->n_slots) {
        if ((st =
                 weight_window_init(&s->win, (size_t)a->n_slots, reranker_layer_floats(&s->model),
                                    (size_t)s->model.cfg.n_layers, reranker_layer_read, &s->model)))
            return st;
        s->win_open = 1;
    }
    return reranker_check_max_len(&s->model, &s->max_len, a->in.max_len_given);
}

static status rerank_write_timeline(rerank_session *s, const rerank_args *a) {
    if (!a->timeline_path) return STATUS_OK;
    char cat_path[4300];
    rerank_categories_path(a->timeline_path, cat_path, sizeof cat_path);
    mem_timeline_stop(&s->tl);
    status st = mem_timeline_write_csv(&s->tl, a->timeline_path, a->label, 0);
    if (st == STATUS_OK) st = mem_timeline_write_categories_csv(&s->tl, cat_path, a->label, 0);
    return st;
}

static void rerank_default_tag(const rerank_args *a, char *tag, size_t cap) {
    snprintf(tag, cap, "grating-%s", a->policy_name);
}

// One query given on the command line (--query/--queries and --docs).
static status rerank_single(const rerank_args *a) {
    char *query = NULL;
    doc_list docs = {0};
    cli_batch s = {0};
    engine_result r = {0};
    rerank_session ses;
    trec_writer w = {0};
    int w_open = 0;
    char tag[256];
    rerank_default_tag(a, tag, sizeof tag);
    const char *trec_qid = a->trec_qid ? a->trec_qid : a->in.qid ? a->in.qid : "q";
    const char *run_tag = a->run_tag ? a->run_tag : tag;
    status st;
    memset(&ses, 0, sizeof ses);
    if (a->trec && !trec_id_valid(trec_qid)) {
        st = status_fail(STATUS_ERR_ARG,
                         "--trec-qid '%s': a TREC query id must be non-empty "
                         "without whitespace",
                         trec_qid);
        goto done;
    }
    if (a->trec && !trec_id_valid(run_tag)) {
        st = status_fail(STATUS_ERR_ARG,
                         "--run-tag '%s': a TREC run tag must be non-empty "
                         "without whitespace",
                         run_tag);
        goto done;
    }
    if ((st = cli_load_inputs(a->in.query, a->in.queries, a->in.qid, a->in.docs, a->in.doc_ids,
                              &query, &docs)))
        goto done;
    if ((size_t)a->k > docs.n) {
        st = status_fail(STATUS_ERR_ARG,
                         "--top-k %ld is larger than the %zu candidates in %s: use --top-k %zu or "
                         "fewer (batch mode, --run, clamps K per query)",
                         a->k, docs.n, a->in.docs, docs.n);
        goto done;
    }
    if ((st = rerank_prepare_outputs(a)) || (st = rerank_session_open(&ses, a))) goto done;
    if ((st = cli_encode_pairs(&ses.model, query, &docs, (size_t)ses.max_len, &s)) ||
        (st = engine_result_init(&r, docs.n, (size_t)ses.model.cfg.n_layers)))
        goto done;
    reranker_batch b = cli_batch_view(&s);
    engine_options opt = {
        .k = (size_t)a->k, .chunk = (size_t)a->chunk, .window = ses.win_open ? &ses.win : NULL};
    if ((st = engine_run(&ses.model, &b, ses.pol, &opt, &r))) {
        st = cli_explain_numeric(st, a->in.model, &docs);
        goto done;
    }
    if ((st = rerank_write_timeline(&ses, a))) goto done;
    if (a->trec) {
        if ((st = trec_writer_open(&w, a->trec, run_tag))) goto done;
        w_open = 1;
        if ((st = rerank_trec_add(&w, trec_qid, &docs, &r, (size_t)a->k))) goto done;
        w_open = 0;
        if ((st = trec_writer_close(&w))) goto done;
    }
    cJSON *eff = policy_describe(ses.pol);
    if (a->in.json) {
        cJSON *root = cJSON_CreateObject();
        cli_add_provenance(root, a->in.model, &ses.model, ses.max_len, a->argc, a->argv);
        cJSON *q = cJSON_AddObjectToObject(root, "query");
        if (a->in.qid)
            cJSON_AddStringToObject(q, "id", a->in.qid);
        else
            cJSON_AddNullToObject(q, "id");
        cJSON_AddStringToObject(q, "text", query);
        cJSON_AddNumberToObject(root, "n_candidates", (double)docs.n);
        if (a->trec) cJSON_AddStringToObject(root, "trec", a->trec);
        rerank_print_json(root, &docs, &r, (size_t)a->k, a->policy_name, eff, &ses.extra);
    } else {
        rerank_print_table(&docs, &r, (size_t)a->k, a->policy_name, eff, &ses.extra);
        printf("threads: %d\n", cli_threads());
        cJSON_Delete(eff);
    }
done:
    if (w_open) trec_writer_abort(&w);
    engine_result_free(&r);
    cli_batch_free(&s);
    rerank_session_close(&ses);
    doc_list_free(&docs);
    free(query);
    return st;
}

// Totals over the queries of a batch.
typedef struct {
    size_t queries, clamped, candidates, candidate_layers, candidate_layers_full;
    double seconds;
} rerank_totals;

// One query's statistics (a --stats line and an element of the --json queries).
static cJSON *rerank_query_stats(const char *qid, const engine_result *r, size_t k, size_t k_asked,
                                 size_t judged, int with_judged, const rerank_extra *x) {
    cJSON *o = cJSON_CreateObject();
    size_t n_sel = 0, n_drop = 0;
    for (size_t i = 0; i < r->n; i++) {
        n_sel += r->exit_reason[i] == ENGINE_EXIT_SELECT;
        n_drop += r->exit_reason[i] == ENGINE_EXIT_DROP;
    }
    cJSON_AddStringToObject(o, "qid", qid);
    cJSON_AddNumberToObject(o, "n", (double)r->n);
    cJSON_AddNumberToObject(o, "k", (double)k);
    cJSON_AddBoolToObject(o, "k_clamped", k < k_asked);
    cJSON_AddNumberToObject(o, "candidate_layers", (double)r->candidate_layers);
    cJSON_AddNumberToObject(o, "candidate_layers_full", (double)r->candidate_layers_full);
    cJSON_AddItemToObject(
        o, "fraction_computed",
        rerank_number((double)r->candidate_layers /
                      (double)(r->candidate_layers_full ? r->candidate_layers_full : 1)));
    cJSON_AddNumberToObject(o, "layers_run", r->layers_run);
    cJSON_AddNumberToObject(o, "selected", (double)n_sel);
    cJSON_AddNumberToObject(o, "dropped", (double)n_drop);
    cJSON_AddItemToObject(o, "ms", rerank_number(r->total_seconds * 1e3));
    if (with_judged) cJSON_AddNumberToObject(o, "judged", (double)judged);
    if (x->ec) {
        cJSON_AddNumberToObject(o, "embed_cache_hits", (double)x->ec->hits);
        cJSON_AddNumberToObject(o, "embed_cache_misses", (double)x->ec->misses);
    }
    return o;
}

// Every query of --run: one TREC run and per-query statistics.
static status rerank_batch(const rerank_args *a) {
    beir_dataset ds;
    trec_run run;
    int ds_open = 0, run_open = 0, w_open = 0;
    rerank_session ses;
    trec_writer w = {0};
    doc_list docs = {0};
    cli_batch b = {0};
    engine_result r = {0};
    FILE *stats = NULL;
    char *stats_tmp = NULL;
    cJSON *queries_json = NULL;
    rerank_totals tot = {0};
    char tag[256];
    rerank_default_tag(a, tag, sizeof tag);
    status st;
    memset(&ses, 0, sizeof ses);
    if (a->run_tag && !trec_id_valid(a->run_tag)) {
        st = status_fail(STATUS_ERR_ARG,
                         "--run-tag '%s': a TREC run tag must be non-empty "
                         "without whitespace",
                         a->run_tag);
        goto done;
    }
    if ((st = beir_open(&ds, a->in.dataset, a->in.split, 0))) goto done;
    ds_open = 1;
    if ((st = trec_run_read(&run, a->in.run))) goto done;
    run_open = 1;
    if ((st = trec_run_resolve(&run, &ds))) goto done;
    size_t n_queries = run.n_queries;
    if (a->limit > 0 && (size_t)a->limit < n_queries) n_queries = (size_t)a->limit;
    size_t cap = 0;
    for (size_t q = 0; q < n_queries; q++) {
        size_t n = run.queries[q].n < (size_t)a->top_n ? run.queries[q].n : (size_t)a->top_n;
        cap = n > cap ? n : cap;
    }
    if ((st = rerank_prepare_outputs(a)) || (st = rerank_session_open(&ses, a))) goto done;
    docs.items = calloc(cap ? cap : 1, sizeof *docs.items);
    if (!docs.items) {
        st = status_fail(STATUS_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = trec_writer_open(&w, a->trec, a->run_tag ? a->run_tag : tag))) goto done;
    w_open = 1;
    if (a->stats_path) {
        if (asprintf(&stats_tmp, "%s.tmp.%ld", a->stats_path, (long)getpid()) < 0) stats_tmp = NULL;
        if (!stats_tmp || !(stats = fopen(stats_tmp, "w"))) {
            st = status_fail(STATUS_ERR_IO, "%s: cannot create: %s",
                             stats_tmp ? stats_tmp : a->stats_path, strerror(errno));
            goto done;
        }
    }
    if (a->in.json && !(queries_json = cJSON_CreateArray())) {
        st = status_fail(STATUS_ERR_NOMEM, "out of memory");
        goto done;
    }
    const embed_cache *ec = ses.extra.ec;
    cli_progress prog;
    cli_progress_init(&prog, stderr, 10.0);
    double t_start = clock_now_seconds();
    for (size_t q = 0; q < n_queries; q++) {
        const trec_query *rq = &run.queries[q];
        size_t n = rq->n < (size_t)a->top_n ? rq->n : (size_t)a->top_n;
        size_t k = (size_t)a->k <= n ? (size_t)a->k : n;
        tot.clamped += k < (size_t)a->k;
        // The documents: ids point into the run, texts are read now.
        for (size_t i = 0; i < n && st == STATUS_OK; i++) {
            docs.items[i].id = (char *)rq->cands[i].doc_id;
            docs.items[i].text = NULL;
            docs.n = i + 1;
            st = beir_doc_text(&ds, rq->cands[i].doc, &docs.items[i].text);
        }
        if (st == STATUS_OK && r.n != n) {
            engine_result_free(&r);
            st = engine_result_init(&r, n, (size_t)ses.model.cfg.n_layers);
        }
        if (st == STATUS_OK)
            st = cli_encode_pairs(&ses.model, ds.query_texts[rq->query], &docs, (size_t)ses.max_len,
                                  &b);
        if (st == STATUS_OK) {
            if (ec) embed_cache_reset_stats((embed_cache *)ec);
            reranker_batch view = cli_batch_view(&b);
            engine_options opt = {
                .k = k, .chunk = (size_t)a->chunk, .window = ses.win_open ? &ses.win : NULL};
            st = cli_explain_numeric(engine_run(&ses.model, &view, ses.pol, &opt, &r), a->in.model,
                                     &docs);
        }
        if (st == STATUS_OK) st = rerank_trec_add(&w, rq->qid, &docs, &r, k);
        cli_batch_free(&b);
        memset(&b, 0, sizeof b);
        for (size_t i = 0; i < docs.n; i++)
            free(docs.items[i].text);
        docs.n = 0;
        if (st != STATUS_OK) {
            cli_progress_end(&prog);
            status_wrap(st, "query %s (line %zu of %s)", rq->qid, rq->line, a->in.run);
            goto done;
        }
        size_t judged = 0;
        if (a->in.split) beir_query_qrels(&ds, rq->query, &judged);
        cJSON *o = rerank_query_stats(rq->qid, &r, k, (size_t)a->k, judged, a->in.split != NULL,
                                      &ses.extra);
        if (!o) {
            st = status_fail(STATUS_ERR_NOMEM, "out of memory");
            goto done;
        }
        if (stats) {
            char *line = cJSON_PrintUnformatted(o);
            if (!line || fprintf(stats, "%s\n", line) < 0) {
                free(line);
                cJSON_Delete(o);
                st = status_fail(STATUS_ERR_IO, "%s: cannot write: %s", stats_tmp, strerror(errno));
                goto done;
            }
            free(line);
        }
        if (queries_json)
            cJSON_AddItemToArray(queries_json, o);
        else
            cJSON_Delete(o);
        tot.queries++;
        tot.candidates += n;
        tot.candidate_layers += r.candidate_layers;
        tot.candidate_layers_full += r.candidate_layers_full;
        double elapsed = clock_now_seconds() - t_start;
        cli_progress_update(
            &prog, q + 1 == n_queries,
            "grating rerank: %zu/%zu queries, %.2f queries/s, %.1f%% of the "
            "candidate-layers computed",
            q + 1, n_queries, (double)(q + 1) / elapsed,
            100.0 * (double)tot.candidate_layers /
                (double)(tot.candidate_layers_full ? tot.candidate_layers_full : 1));
    }
    tot.seconds = clock_now_seconds() - t_start;
    if ((st = rerank_write_timeline(&ses, a))) goto done;
    if (stats) {
        int bad = fflush(stats) != 0 || fsync(fileno(stats)) != 0;
        bad |= fclose(stats) != 0;
        stats = NULL;
        if (bad || rename(stats_tmp, a->stats_path) != 0) {
            st = status_fail(STATUS_ERR_IO, "%s: cannot write: %s", a->stats_path, strerror(errno));
            goto done;
        }
        free(stats_tmp);
        stats_tmp = NULL;
    }
    w_open = 0;
    if ((st = trec_writer_close(&w))) goto done;
    if (tot.clamped)
        fprintf(stderr,
                "grating rerank: %zu of %zu queries have fewer than K = %ld candidates: K clamped "
                "to their candidate count (k_clamped in the per-query stats)\n",
                tot.clamped, tot.queries, a->k);
    double frac = (double)tot.candidate_layers /
                  (double)(tot.candidate_layers_full ? tot.candidate_layers_full : 1);
    if (a->in.json) {
        cJSON *root = cJSON_CreateObject();
        cli_add_provenance(root, a->in.model, &ses.model, ses.max_len, a->argc, a->argv);
        cJSON *pol = cJSON_AddObjectToObject(root, "policy");
        cJSON_AddStringToObject(pol, "name", a->policy_name);
        cJSON_AddItemToObject(pol, "params", policy_describe(ses.pol));
        char *abs = cli_abs_path(a->in.run);
        if (abs) cJSON_AddStringToObject(root, "run", abs);
        free(abs);
        abs = cli_abs_path(a->in.dataset);
        if (abs) cJSON_AddStringToObject(root, "dataset", abs);
        free(abs);
        if (a->in.split)
            cJSON_AddStringToObject(root, "split", a->in.split);
        else
            cJSON_AddNullToObject(root, "split");
        cJSON_AddNumberToObject(root, "top_n", (double)a->top_n);
        cJSON_AddNumberToObject(root, "k", (double)a->k);
        cJSON_AddStringToObject(root, "trec", a->trec);
        cJSON *sum = cJSON_AddObjectToObject(root, "summary");
        cJSON_AddNumberToObject(sum, "queries", (double)tot.queries);
        cJSON_AddNumberToObject(sum, "k_clamped_queries", (double)tot.clamped);
        cJSON_AddNumberToObject(sum, "candidates", (double)tot.candidates);
        cJSON_AddNumberToObject(sum, "candidate_layers", (double)tot.candidate_layers);
        cJSON_AddNumberToObject(sum, "candidate_layers_full", (double)tot.candidate_layers_full);
        cJSON_AddItemToObject(sum, "fraction_computed", rerank_number(frac));
        cJSON_AddItemToObject(sum, "seconds", rerank_number(tot.seconds));
        cJSON_AddItemToObject(sum, "load_seconds", rerank_number(ses.extra.load_seconds));
        cJSON_AddNumberToObject(sum, "peak_rss_bytes", (double)mem_peak_rss_bytes());
        cJSON_AddItemToObject(root, "queries", queries_json);
        queries_json = NULL;
        char *text = cJSON_PrintUnformatted(root);
        if (text) puts(text);
        free(text);
        cJSON_Delete(root);
    } else {
        cJSON *eff = policy_describe(ses.pol);
        char *p = eff ? cJSON_PrintUnformatted(eff) : NULL;
        cJSON_Delete(eff);
        printf("policy %s %s, K = %ld, top-%ld of %s, threads %d\n", a->policy_name, p ? p : "{}",
               a->k, a->top_n, a->in.run, cli_threads());
        free(p);
        printf("queries: %zu (K clamped for %zu), candidates: %zu\n", tot.queries, tot.clamped,
               tot.candidates);
        printf("candidate-layers computed: %zu of %zu (%.1f%%)\n", tot.candidate_layers,
               tot.candidate_layers_full, 100.0 * frac);
        printf("time: %.2f s for the queries (%.1f ms per query), model loaded in %.2f s\n",
               tot.seconds, tot.queries ? tot.seconds * 1e3 / (double)tot.queries : 0.0,
               ses.extra.load_seconds);
        printf("wrote %s%s%s\n", a->trec, a->stats_path ? " and " : "",
               a->stats_path ? a->stats_path : "");
    }
done:
    if (stats) fclose(stats);
    if (stats_tmp) unlink(stats_tmp);
    free(stats_tmp);
    if (w_open) trec_writer_abort(&w);
    cJSON_Delete(queries_json);
    engine_result_free(&r);
    cli_batch_free(&b);
    for (size_t i = 0; i < docs.n; i++)
        free(docs.items[i].text);
    free(docs.items);
    rerank_session_close(&ses);
    if (run_open) trec_run_free(&run);
    if (ds_open) beir_close(&ds);
    return st;
}

int cmd_rerank(int argc, char **argv) {
    rerank_args a = {.in = {.max_len = 512},
                     .policy_name = "none",
                     .label = "grating",
                     .timeline_ms = 5,
                     .top_n = 20,
                     .argc = argc,
                     .argv = argv};
    const char *window = "all";
    int top_n_given = 0;
    static const struct option opts[] = {CLI_OPTS_MODEL,
                                         CLI_OPTS_PAIRS,
                                         CLI_OPTS_RUN,
                                         CLI_OPTION_JSON,
                                         CLI_OPTION_FORCE,
                                         {"chunk", required_argument, 0, 'c'},
                                         {"top-k", required_argument, 0, 'k'},
                                         {"policy", required_argument, 0, 'p'},
                                         {"policy-args", required_argument, 0, 'a'},
                                         {"trec", required_argument, 0, 't'},
                                         {"trec-qid", required_argument, 0, 'T'},
                                         {"run-tag", required_argument, 0, 'g'},
                                         {"window", required_argument, 0, 'W'},
                                         {"list-policies", no_argument, 0, 'L'},
                                         {"embed-cache", required_argument, 0, 'E'},
                                         {"cold", no_argument, 0, 'C'},
                                         {"direct-io", no_argument, 0, 'O'},
                                         {"memory-timeline", required_argument, 0, 'M'},
                                         {"timeline-ms", required_argument, 0, 'P'},
                                         {"label", required_argument, 0, 'B'},
                                         {"top-n", required_argument, 0, 'n'},
                                         {"limit", required_argument, 0, 'x'},
                                         {"stats", required_argument, 0, 'J'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int shared = cli_common_parse("rerank", c, optarg, &a.in);
        if (shared < 0) return 2;
        if (shared) continue;
        long *target = NULL;
        const char *name = NULL;
        switch (c) {
        case 'p':
            a.policy_name = optarg;
            break;
        case 'a':
            a.policy_args = optarg;
            break;
        case 't':
            a.trec = optarg;
            break;
        case 'T':
            a.trec_qid = optarg;
            break;
        case 'g':
            a.run_tag = optarg;
            break;
        case 'W':
            window = optarg;
            break;
        case 'E':
            a.embed_cache_arg = optarg;
            break;
        case 'C':
            a.cold = 1;
            break;
        case 'O':
            a.direct = 1;
            break;
        case 'M':
            a.timeline_path = optarg;
            break;
        case 'B':
            a.label = optarg;
            break;
        case 'J':
            a.stats_path = optarg;
            break;
        case 'L':
            rerank_list_policies();
            return 0;
        case 'P':
            target = &a.timeline_ms, name = "timeline-ms";
            break;
        case 'c':
            target = &a.chunk, name = "chunk";
            break;
        case 'k':
            target = &a.k, name = "top-k";
            break;
        case 'n':
            target = &a.top_n, top_n_given = 1, name = "top-n";
            break;
        case 'x':
            target = &a.limit, name = "limit";
            break;
        case 'h':
            rerank_usage(stdout);
            return 0;
        default:
            rerank_usage(stderr);
            return 2;
        }
        if (target && !cli_parse_long("rerank", name, optarg, 1, target)) return 2;
    }
    if (strcmp(window, "all") != 0) {
        a.n_slots = strtol(window, &end, 10);
        if (*end || a.n_slots < 1 || a.n_slots > 1024) {
            fprintf(stderr,
                    "grating rerank: --window must be `all` or a number of slots >= 1, got '%s'\n",
                    window);
            return 2;
        }
    }
    if (a.embed_cache_arg &&
        !rerank_parse_embed_cache(a.embed_cache_arg, &a.cache_fraction, &a.cache_rows)) {
        fprintf(stderr,
                "grating rerank: --embed-cache must be a fraction of the vocabulary in "
                "(0, 1] (0.1 or 10%%) or a number of rows >= 1, got '%s'\n",
                a.embed_cache_arg);
        return 2;
    }
    if (a.direct && !a.n_slots) {
        fprintf(stderr,
                "grating rerank: --direct-io applies to streamed layers: give --window W\n");
        return 2;
    }
    int batch = a.in.run || a.in.dataset;
    if (batch) {
        if (optind < argc || !a.in.model || !a.in.run || !a.in.dataset || !a.trec || a.k == 0) {
            fprintf(stderr, "grating rerank: batch mode needs --model, --run, --dataset, --top-k "
                            "and --trec\n");
            rerank_usage(stderr);
            return 2;
        }
        if (a.in.query || a.in.queries || a.in.qid || a.in.docs || a.in.doc_ids || a.trec_qid) {
            fprintf(stderr, "grating rerank: --run/--dataset take the queries and candidates from "
                            "the run: --query, --queries, --qid, --docs, --doc-ids and --trec-qid "
                            "do not apply\n");
            return 2;
        }
    } else {
        if (optind < argc || !a.in.model || !a.in.docs || (!a.in.query == !a.in.queries) ||
            (a.in.queries && !a.in.qid) || a.k == 0) {
            fprintf(stderr,
                    "grating rerank: need --model, --docs, --top-k and either --query or "
                    "--queries with --qid (or --run and --dataset for every query of a run)\n");
            rerank_usage(stderr);
            return 2;
        }
        if (a.in.split || top_n_given || a.limit || a.stats_path) {
            fprintf(stderr, "grating rerank: --split, --top-n, --limit and --stats need batch "
                            "mode (--run and --dataset)\n");
            return 2;
        }
    }
    status st = batch ? rerank_batch(&a) : rerank_single(&a);
    if (st != STATUS_OK) {
        fprintf(stderr, "grating rerank: %s\n", status_message());
        return 1;
    }
    return 0;
}
