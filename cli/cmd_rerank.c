/*
 * grating rerank: the top-K of a query's candidates from one monolithic
 * forward in which a pruning policy selects and drops candidates before every
 * layer (core/engine.h), with the statistics of what was computed.
 */
#include "cli.h"

#include "direct_io.h"
#include "engine.h"
#include "mem.h"
#include "mem_timeline.h"
#include "json_file.h"
#include "policy.h"
#include "trec.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double rerank_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static void rerank_usage(FILE *out) {
    fprintf(out,
            "usage: grating rerank --model DIR (--query Q | --queries FILE --qid ID) --docs FILE\n"
            "                      --top-k K [--policy NAME] [--policy-args JSON] [--chunk C]\n"
            "                      [--doc-ids LIST] [--max-len N] [--json] [--trec FILE]\n"
            "                      [--trec-qid QID] [--run-tag TAG] [--window W|all] [--direct-io]\n"
            "                      [--embed-cache FRACTION|ROWS] [--cold]\n"
            "                      [--memory-timeline FILE.csv [--timeline-ms MS] [--label TEXT]]\n"
            "       grating rerank --list-policies\n\n"
            "Runs all candidates layer by layer; before every layer the policy selects, drops\n"
            "or defers each active candidate. Prints the top-K and what was computed.\n\n"
            "  --top-k K          number of candidates to select (1 <= K <= N)\n"
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
            "  --memory-timeline FILE.csv  sample memory during the run; writes FILE.csv\n"
            "                     (system,t_ms,bytes: allocator total) and FILE-categories.csv\n"
            "                     (per category and RSS)\n"
            "  --timeline-ms MS   sampling period (default 5)\n"
            "  --label TEXT       the `system` column of the timeline (default: grating)\n"
            "  --json             machine-readable output\n"
            "  --trec FILE        also write every candidate as a TREC run line; scores encode the\n"
            "                     final order (N - position), so candidates that left early score\n"
            "                     below every survivor when trec_eval re-sorts by score\n"
            "  --trec-qid QID     query id in the run (default: --qid, else \"q\")\n"
            "  --run-tag TAG      run tag (default: grating-<policy>)\n"
            "  (query, document, --max-len, --doc-ids, --instruction: as in `grating score`)\n\n"
            "Top-K rule: selected candidates (earlier selection first), then candidates still\n"
            "active at the end by latest score, then dropped ones (later drop first).\n");
}

static void rerank_list_policies(void) {
    for (size_t i = 0; i < policy_count(); i++)
        printf("%-22s %s\n", policy_at(i)->name, policy_at(i)->summary);
}

// Through datasets/trec.h's writer: it refuses (writing nothing) what its
// reader would reject (whitespace or empty qid/tag/docid, duplicate docids).
static status rerank_write_trec(const char *path, const char *qid, const char *tag,
                                const doc_list *docs, const engine_result *r) {
    const char **ids = malloc((r->n ? r->n : 1) * sizeof *ids);
    double *scores = malloc((r->n ? r->n : 1) * sizeof *scores);
    status st =
        ids && scores ? STATUS_OK : status_fail(STATUS_ERR_NOMEM, "%s: out of memory", path);
    for (size_t pos = 0; st == STATUS_OK && pos < r->n; pos++) {
        ids[pos] = docs->items[r->order[pos]].id;
        scores[pos] = (double)(r->n - pos);
    }
    trec_writer w;
    if (st == STATUS_OK && (st = trec_writer_open(&w, path, tag)) == STATUS_OK) {
        if ((st = trec_writer_add(&w, qid, ids, scores, r->n)) != STATUS_OK)
            trec_writer_abort(&w);
        else
            st = trec_writer_close(&w);
    }
    free(ids);
    free(scores);
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
    *rows = fraction > 0.0 ? embed_cache_rows_for_fraction(vocab, fraction)
                           : *rows < vocab ? *rows : vocab;
    return STATUS_OK;
}

// Drops the checkpoint's weight files from the page cache (--cold); reports
// how many of their bytes were cached before and after.
static status rerank_drop_cache(const char *model_dir, uint64_t *before, uint64_t *after) {
    checkpoint ck;
    status st = checkpoint_open(&ck, model_dir);
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

static void rerank_print_json(const doc_list *docs, const engine_result *r, size_t k,
                              const char *policy_name, cJSON *params, const rerank_extra *x) {
    const embed_cache *ec = x->ec;
    cJSON *root = cJSON_CreateObject();
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
    cJSON_AddItemToObject(stats, "fraction_computed",
                          rerank_number((double)r->candidate_layers / (double)r->candidate_layers_full));
    cJSON_AddNumberToObject(stats, "layers_run", r->layers_run);
    cJSON *ls = cJSON_AddArrayToObject(stats, "layer_seconds");
    for (size_t l = 0; l < r->n_layers; l++) cJSON_AddItemToArray(ls, rerank_number(r->layer_seconds[l]));
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
        cJSON_AddNumberToObject(mem, mem_category_name((mem_category)c), (double)mem_peak_bytes((mem_category)c));
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
    for (size_t l = 0; l < r->n_layers; l++) layers += r->layer_seconds[l];
    double read = 0.0, wait = 0.0;
    for (size_t l = 0; l < r->n_layers; l++) read += r->read_seconds[l], wait += r->wait_seconds[l];
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

int cmd_rerank(int argc, char **argv) {
    const char *model_dir = NULL, *query_text = NULL, *queries = NULL, *qid = NULL;
    const char *docs_path = NULL, *doc_ids = NULL, *policy_name = "none", *policy_args = NULL;
    const char *trec = NULL, *trec_qid = NULL, *run_tag = NULL, *window = "all";
    const char *instruction = NULL, *embed_cache_arg = NULL, *timeline_path = NULL;
    const char *label = "grating";
    long max_len = 512, chunk = 0, k = 0, timeline_ms = 5;
    int json = 0, max_len_given = 0, cold = 0, direct = 0;
    static const struct option opts[] = {
        {"instruction", required_argument, 0, 'I'}, {"model", required_argument, 0, 'm'},       {"query", required_argument, 0, 'q'},
        {"queries", required_argument, 0, 'Q'},     {"qid", required_argument, 0, 'i'},
        {"docs", required_argument, 0, 'd'},        {"doc-ids", required_argument, 0, 'D'},
        {"max-len", required_argument, 0, 'l'},     {"chunk", required_argument, 0, 'c'},
        {"top-k", required_argument, 0, 'k'},       {"policy", required_argument, 0, 'p'},
        {"policy-args", required_argument, 0, 'a'}, {"json", no_argument, 0, 'j'},
        {"trec", required_argument, 0, 't'},        {"trec-qid", required_argument, 0, 'T'},
        {"run-tag", required_argument, 0, 'g'},     {"window", required_argument, 0, 'W'},
        {"list-policies", no_argument, 0, 'L'},     {"embed-cache", required_argument, 0, 'E'},
        {"cold", no_argument, 0, 'C'},              {"direct-io", no_argument, 0, 'O'},
        {"memory-timeline", required_argument, 0, 'M'},
        {"timeline-ms", required_argument, 0, 'P'}, {"label", required_argument, 0, 'B'},
        {"help", no_argument, 0, 'h'},              {0, 0, 0, 0}};
    optind = 1;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        long *target = NULL;
        long min = 1;
        switch (c) {
        case 'm': model_dir = optarg; break;
        case 'I': instruction = optarg; break;
        case 'q': query_text = optarg; break;
        case 'Q': queries = optarg; break;
        case 'i': qid = optarg; break;
        case 'd': docs_path = optarg; break;
        case 'D': doc_ids = optarg; break;
        case 'p': policy_name = optarg; break;
        case 'a': policy_args = optarg; break;
        case 'j': json = 1; break;
        case 't': trec = optarg; break;
        case 'T': trec_qid = optarg; break;
        case 'g': run_tag = optarg; break;
        case 'W': window = optarg; break;
        case 'E': embed_cache_arg = optarg; break;
        case 'C': cold = 1; break;
        case 'O': direct = 1; break;
        case 'M': timeline_path = optarg; break;
        case 'P': target = &timeline_ms; break;
        case 'B': label = optarg; break;
        case 'L': rerank_list_policies(); return 0;
        case 'l': target = &max_len, min = 3, max_len_given = 1; break;
        case 'c': target = &chunk; break;
        case 'k': target = &k; break;
        case 'h': rerank_usage(stdout); return 0;
        default: rerank_usage(stderr); return 2;
        }
        if (target) {
            errno = 0;
            *target = strtol(optarg, &end, 10);
            if (*end || errno || *target < min) {
                fprintf(stderr, "grating rerank: --%s must be an integer >= %ld, got '%s'\n",
                        c == 'l'   ? "max-len"
                        : c == 'c' ? "chunk"
                        : c == 'P' ? "timeline-ms"
                                   : "top-k",
                        min, optarg);
                return 2;
            }
        }
    }
    long n_slots = 0;
    if (strcmp(window, "all") != 0) {
        n_slots = strtol(window, &end, 10);
        if (*end || n_slots < 1 || n_slots > 1024) {
            fprintf(stderr, "grating rerank: --window must be `all` or a number of slots >= 1, got '%s'\n",
                    window);
            return 2;
        }
    }
    double cache_fraction = 0.0;
    size_t cache_rows = 0;
    if (embed_cache_arg && !rerank_parse_embed_cache(embed_cache_arg, &cache_fraction, &cache_rows)) {
        fprintf(stderr, "grating rerank: --embed-cache must be a fraction of the vocabulary in "
                        "(0, 1] (0.1 or 10%%) or a number of rows >= 1, got '%s'\n",
                embed_cache_arg);
        return 2;
    }
    if (direct && !n_slots) {
        fprintf(stderr, "grating rerank: --direct-io applies to streamed layers: give --window W\n");
        return 2;
    }
    if (optind < argc || !model_dir || !docs_path || (!query_text == !queries) ||
        (queries && !qid) || k == 0) {
        fprintf(stderr, "grating rerank: need --model, --docs, --top-k and either --query or "
                        "--queries with --qid\n");
        rerank_usage(stderr);
        return 2;
    }

    int rc = 1;
    char *query = NULL;
    doc_list docs = {0};
    reranker model = {0};
    int model_open = 0;
    cli_batch s = {0};
    policy *pol = NULL;
    cJSON *params = NULL;
    engine_result r = {0};
    weight_window win = {0};
    int win_open = 0;
    mem_timeline tl = {0};
    rerank_extra extra = {.cold = cold};
    reranker_options ropt = {.resident_layers = n_slots == 0, .direct_io = direct};
    status st;
    if (policy_args && (st = json_parse_text("--policy-args", policy_args, strlen(policy_args), &params)))
        goto done;
    if ((st = policy_create(policy_name, params, &pol)) ||
        (st = cli_load_inputs(query_text, queries, qid, docs_path, doc_ids, &query, &docs)))
        goto done;
    if ((size_t)k > docs.n) {
        st = status_fail(STATUS_ERR_ARG, "--top-k %ld is larger than the %zu candidates in %s", k,
                         docs.n, docs_path);
        goto done;
    }
    ropt.embed_cache_rows = cache_rows;
    if (embed_cache_arg &&
        (st = rerank_embed_cache_rows(model_dir, cache_fraction, &ropt.embed_cache_rows)))
        goto done;
    if (cold && (st = rerank_drop_cache(model_dir, &extra.cached_before, &extra.cached_after)))
        goto done;
    // The timeline covers loading too (the in-memory baseline's peak is there).
    if (timeline_path && ((st = mem_timeline_init(&tl, (double)timeline_ms,
                                                  MEM_TIMELINE_DEFAULT_CAPACITY)) ||
                          (st = mem_timeline_start(&tl))))
        goto done;
    double t_load = rerank_now();
    if ((st = reranker_open_ex(&model, model_dir, instruction, &ropt))) goto done;
    extra.load_seconds = rerank_now() - t_load;
    extra.ec = reranker_embed_cache(&model);
    model_open = 1;
    if (n_slots) {
        if ((st = weight_window_init(&win, (size_t)n_slots, reranker_layer_floats(&model),
                                     (size_t)model.cfg.n_layers, reranker_layer_read, &model)))
            goto done;
        win_open = 1;
    }
    if ((st = reranker_check_max_len(&model, &max_len, max_len_given)) ||
        (st = cli_encode_pairs(&model, query, &docs, (size_t)max_len, &s)) ||
        (st = engine_result_init(&r, docs.n, (size_t)model.cfg.n_layers)))
        goto done;
    reranker_batch b = cli_batch_view(&s);
    engine_options opt = {.k = (size_t)k, .chunk = (size_t)chunk, .window = win_open ? &win : NULL};
    if ((st = engine_run(&model, &b, pol, &opt, &r)) != STATUS_OK) goto done;
    if (timeline_path) {
        char cat_path[4300];
        rerank_categories_path(timeline_path, cat_path, sizeof cat_path);
        mem_timeline_stop(&tl);
        if ((st = mem_timeline_write_csv(&tl, timeline_path, label, 0)) ||
            (st = mem_timeline_write_categories_csv(&tl, cat_path, label, 0)))
            goto done;
    }
    if (trec) {
        char tag[256];
        snprintf(tag, sizeof tag, "grating-%s", policy_name);
        st = rerank_write_trec(trec, trec_qid ? trec_qid : qid ? qid : "q", run_tag ? run_tag : tag,
                               &docs, &r);
        if (st != STATUS_OK) goto done;
    }
    if (json)
        rerank_print_json(&docs, &r, (size_t)k, policy_name, policy_describe(pol), &extra);
    else {
        cJSON *eff = policy_describe(pol);
        rerank_print_table(&docs, &r, (size_t)k, policy_name, eff, &extra);
        cJSON_Delete(eff);
    }
    rc = 0;
done:
    if (rc != 0) fprintf(stderr, "grating rerank: %s\n", status_message());
    mem_timeline_free(&tl);
    engine_result_free(&r);
    if (win_open) weight_window_free(&win);
    policy_free(pol);
    cJSON_Delete(params);
    cli_batch_free(&s);
    if (model_open) reranker_close(&model);
    doc_list_free(&docs);
    free(query);
    return rc;
}
