/*
 * grating trace: full forward of every query's top-N candidates over a BEIR
 * dataset and a first-stage run, recording the provisional score of every
 * candidate at every layer (and per-layer times) to an HDF5 trace
 * (docs/trace-schema.md).
 */
#include "cli.h"

#include "beir.h"
#include "engine/engine.h"
#include "base/fsutil.h"
#include "base/json_file.h"
#include "analysis/trace.h"
#include "trec.h"
#include "base/clock.h"

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void trace_usage(FILE *out) {
    fprintf(out,
            "usage: grating trace --model DIR --dataset DIR --run FILE --out FILE.h5\n"
            "                     [--split test] [--top-n 20] [--max-len N] [--chunk C]\n"
            "                     [--resume] [--force] [--shard i/n] [--limit M]\n"
            "                     [--threads N] [--allow-unjudged] [--allow-unused-tensors]\n\n"
            "Runs the full forward over the top-N candidates of every query of the run and\n"
            "writes every candidate's score after every layer to FILE.h5 (schema:\n"
            "docs/trace-schema.md). The file appears only when complete (FILE.h5.partial\n"
            "until then); --resume continues an interrupted FILE.h5.partial, keeping every\n"
            "query that was completely stored (a partial file that cannot be read, e.g.\n"
            "killed before its first query, is started over, with a message).\n\n"
            "  --dataset DIR   BEIR folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv)\n"
            "  --split S       qrels split recorded with the trace (default test); the traced\n"
            "                  queries must have judgments in it (a warning when only some do)\n"
            "  --allow-unjudged  trace even when no traced query has judgments in the split\n"
            "  --allow-unused-tensors  run a checkpoint holding tensors the architecture does not\n"
            "                  read (e.g. more layers than config.json says); refused otherwise\n"
            "  --run FILE      first-stage run, TREC format (qid Q0 docid rank score tag)\n"
            "  --top-n N       candidates per query (default 20; fewer if the run has fewer)\n"
            "  --max-len N     tokens per pair (default 512, or the model's limit)\n"
            "  --shard i/n     only queries i, i+n, i+2n, ... of the run (0-based); merge the\n"
            "                  shard files with `grating merge`\n"
            "  --limit M       only the first M queries (after sharding)\n"
            "  --threads N     compute threads (default: OPENBLAS_NUM_THREADS or every core);\n"
            "                  recorded in the trace\n"
            "  --force         replace an existing FILE.h5 (missing parent folders are created)\n"
            "  --instruction T instruction of instruction-following templates (default: the\n"
            "                  model card's)\n\n"
            "The model, dataset and run paths are stored as absolute paths, so the trace\n"
            "can be swept from any folder.\n");
}

static uint64_t trace_fnv1a(const char *data, size_t len) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)data[i]) * 1099511628211ull;
    return h;
}

static void trace_format_eta(double seconds, char *out, size_t cap) {
    long s = (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(out, cap, "%ldh%02ldm", s / 3600, (s / 60) % 60);
    else
        snprintf(out, cap, "%ldm%02lds", s / 60, s % 60);
}

static void trace_query_release(trace_query *q);

// One query: tokenize, full forward, fill the trace record. Ownership: the
// document list owns every id and text until the end; on success the ids move
// into out->doc_ids (their slot in the list is cleared) and *out owns all its
// buffers (free with trace_query_release); on failure *out stays empty and
// everything allocated here is freed exactly once.
static status trace_one_query(const reranker *m, const char *model_dir, const beir_dataset *ds,
                              const trec_query *rq, size_t top_n, size_t max_len, size_t chunk,
                              policy *none, trace_query *out) {
    memset(out, 0, sizeof *out);
    size_t n = rq->n < top_n ? rq->n : top_n;
    size_t query_index;
    if (!beir_query_find(ds, rq->qid, &query_index))
        return status_fail(STATUS_ERR_MISSING, "query %s of the run is not in %s", rq->qid,
                           ds->dir);
    if (n == 0)
        return status_fail(STATUS_ERR_ARG, "query %s has no candidates in the run", rq->qid);
    const char *qtext = ds->query_texts[query_index];
    doc_list docs = {.items = calloc(n, sizeof(doc_item)), .n = 0};
    if (!docs.items) return status_fail(STATUS_ERR_NOMEM, "out of memory");
    status st = STATUS_OK;
    for (size_t i = 0; i < n && st == STATUS_OK; i++) {
        docs.n = i + 1;
        if (!(docs.items[i].id = strdup(rq->cands[i].doc_id)))
            st = status_fail(STATUS_ERR_NOMEM, "out of memory");
        else
            st = beir_doc_fetch(ds, rq->cands[i].doc_id, &docs.items[i].text);
    }
    cli_batch b = {0};
    engine_result r = {0};
    if (st == STATUS_OK) st = cli_encode_pairs(m, qtext, &docs, max_len, &b);
    if (st == STATUS_OK) st = engine_result_init(&r, n, (size_t)m->cfg.n_layers);
    reranker_batch view = cli_batch_view(&b);
    engine_options opt = {.k = 1, .chunk = chunk};
    if (st == STATUS_OK)
        st = cli_explain_numeric(engine_run(m, &view, none, &opt, &r), model_dir, &docs);
    trace_query q = {0};
    if (st == STATUS_OK) {
        size_t L = (size_t)m->cfg.n_layers;
        q.qid = strdup(rq->qid);
        q.n = n;
        q.doc_ids = calloc(n, sizeof *q.doc_ids);
        q.scores = malloc((L + 1) * n * sizeof *q.scores);     // (L + 1, n)
        q.tokens = malloc(n * sizeof *q.tokens);               // (n,)
        q.first_stage = malloc(n * sizeof *q.first_stage);     // (n,)
        q.layer_seconds = malloc(L * sizeof *q.layer_seconds); // (L,)
        if (!q.qid || !q.doc_ids || !q.scores || !q.tokens || !q.first_stage || !q.layer_seconds) {
            st = status_fail(STATUS_ERR_NOMEM, "out of memory");
        } else {
            memcpy(q.scores, r.layer_scores, (L + 1) * n * sizeof *q.scores);
            memcpy(q.layer_seconds, r.layer_seconds, L * sizeof *q.layer_seconds);
            for (size_t i = 0; i < n; i++) {
                q.doc_ids[i] = docs.items[i].id; // moved: the list no longer owns it
                docs.items[i].id = NULL;
                q.tokens[i] = (int32_t)b.seq_len[i];
                q.first_stage[i] = (float)rq->cands[i].score;
            }
            q.embed_seconds = r.embed_seconds;
            q.score_seconds = r.score_seconds;
        }
    }
    if (st != STATUS_OK) {
        status_wrap(st, "query %s", rq->qid);
        trace_query_release(&q);
    } else {
        *out = q;
    }
    engine_result_free(&r);
    cli_batch_free(&b);
    doc_list_free(&docs); // the ids and texts it still owns
    return st;
}

// Frees what trace_one_query filled in (any subset of it) and empties *q.
static void trace_query_release(trace_query *q) {
    for (size_t i = 0; q->doc_ids && i < q->n; i++)
        free(q->doc_ids[i]);
    free(q->doc_ids);
    free(q->qid);
    free(q->scores);
    free(q->tokens);
    free(q->first_stage);
    free(q->layer_seconds);
    memset(q, 0, sizeof *q);
}

// Absolute form of an existing path (stored in the trace so that it can be
// evaluated from any folder); malloc'd.
static status trace_absolute_path(const char *path, const char *what, char **out) {
    *out = realpath(path, NULL);
    if (!*out) return status_fail(STATUS_ERR_IO, "%s %s: %s", what, path, strerror(errno));
    return STATUS_OK;
}

// The split must exist as DIR/qrels/SPLIT.tsv; the error lists the splits
// that do.
static status trace_check_split(const char *dataset, const char *split) {
    char path[4200];
    snprintf(path, sizeof path, "%s/qrels/%s.tsv", dataset, split);
    if (access(path, R_OK) == 0) return STATUS_OK;
    char have[1024] = "";
    snprintf(path, sizeof path, "%s/qrels", dataset);
    DIR *d = opendir(path);
    for (struct dirent *e; d && (e = readdir(d));) {
        size_t n = strlen(e->d_name);
        if (n > 4 && strcmp(e->d_name + n - 4, ".tsv") == 0 && strlen(have) + n < sizeof have - 8)
            snprintf(have + strlen(have), sizeof have - strlen(have), "%s%.*s", have[0] ? ", " : "",
                     (int)(n - 4), e->d_name);
    }
    if (d) closedir(d);
    return status_fail(STATUS_ERR_ARG, "--split %s: no %s/%s.tsv (splits in this dataset: %s)",
                       split, path, split, have[0] ? have : "none");
}

// Counts the queries to be traced (shard, limit) and those among them with
// judgments in the loaded split.
static void trace_count_judged(const trec_run *run, const beir_dataset *ds, size_t shard_i,
                               size_t shard_n, size_t total, size_t *judged) {
    *judged = 0;
    size_t seen = 0;
    for (size_t i = shard_i; i < run->n_queries && seen < total; i += shard_n, seen++) {
        size_t nq = 0, qi;
        if (beir_query_find(ds, run->queries[i].qid, &qi)) (void)beir_query_qrels(ds, qi, &nq);
        if (nq > 0) (*judged)++;
    }
}

int cmd_trace(int argc, char **argv) {
    cli_common_opts co = {.split = "test", .max_len = 512};
    long top_n = 20, chunk = 0, limit = 0;
    int resume = 0, allow_unjudged = 0;
    size_t shard_i = 0, shard_n = 1;
    static const struct option opts[] = {CLI_OPTS_MODEL,
                                         CLI_OPTS_RUN,
                                         CLI_OPTS_OUTPUT,
                                         {"top-n", required_argument, 0, 'n'},
                                         {"chunk", required_argument, 0, 'c'},
                                         {"limit", required_argument, 0, 'L'},
                                         {"resume", no_argument, 0, 'R'},
                                         {"shard", required_argument, 0, 'S'},
                                         {"allow-unjudged", no_argument, 0, 'U'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int shared = cli_common_parse("trace", c, optarg, &co);
        if (shared < 0) return 2;
        if (shared) continue;
        switch (c) {
        case 'R':
            resume = 1;
            break;
        case 'U':
            allow_unjudged = 1;
            break;
        case 'n':
            if (!cli_parse_long("trace", "top-n", optarg, 1, &top_n)) return 2;
            break;
        case 'c':
            if (!cli_parse_long("trace", "chunk", optarg, 1, &chunk)) return 2;
            break;
        case 'L':
            if (!cli_parse_long("trace", "limit", optarg, 1, &limit)) return 2;
            break;
        case 'S':
            if (!cli_parse_shard(optarg, &shard_i, &shard_n)) {
                fprintf(stderr, "grating trace: --shard must be i/n with 0 <= i < n, got '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case 'h':
            trace_usage(stdout);
            return 0;
        default:
            trace_usage(stderr);
            return 2;
        }
    }
    const char *model_arg = co.model, *dataset_arg = co.dataset, *split = co.split,
               *run_arg = co.run, *out = co.out, *instruction = co.instruction;
    long max_len = co.max_len;
    int force = co.force, allow_unused = co.allow_unused_tensors, max_len_given = co.max_len_given;
    if (optind < argc || !model_arg || !dataset_arg || !run_arg || !out) {
        fprintf(stderr, "grating trace: need --model, --dataset, --run and --out\n");
        trace_usage(stderr);
        return 2;
    }

    int rc = 1;
    reranker m = {0};
    int model_open = 0, ds_open = 0, run_open = 0;
    beir_dataset ds;
    trec_run run;
    trace_writer w = {.file = -1};
    policy *none = NULL;
    char *command = cli_join_argv(argc, argv), *config_text = NULL, hash[32], created[32];
    char *model_dir = NULL, *dataset = NULL, *run_path = NULL;
    cli_progress progress;
    cli_progress_init(&progress, stderr, 10.0);
    status st;
    if ((st = trace_absolute_path(model_arg, "--model", &model_dir)) ||
        (st = trace_absolute_path(dataset_arg, "--dataset", &dataset)) ||
        (st = trace_absolute_path(run_arg, "--run", &run_path)))
        goto done;
    reranker_options ropt = {.resident_layers = 1,
                             .allow_unused_tensors = allow_unused,
                             .matrix_dtype = co.matrix_dtype};
    if ((st = reranker_open_ex(&m, model_dir, instruction, &ropt))) goto done;
    model_open = 1;
    if ((st = reranker_check_max_len(&m, &max_len, max_len_given))) goto done;
    if ((st = trace_check_split(dataset, split))) goto done;
    if ((st = beir_open(&ds, dataset, split, 0))) goto done;
    ds_open = 1;
    if ((st = trec_run_read(&run, run_path))) goto done;
    run_open = 1;
    if ((st = trec_run_resolve(&run, &ds)) || (st = policy_create("none", NULL, &none))) goto done;

    size_t total = 0, judged = 0;
    for (size_t i = shard_i; i < run.n_queries; i += shard_n)
        total++;
    if (limit > 0 && (size_t)limit < total) total = (size_t)limit;
    trace_count_judged(&run, &ds, shard_i, shard_n, total, &judged);
    if (judged == 0 && total > 0 && !allow_unjudged) {
        st =
            status_fail(STATUS_ERR_ARG,
                        "none of the %zu queries to trace from %s has judgments in %s (%zu queries "
                        "judged there): is --split %s the split of this run? Pass --allow-unjudged "
                        "to trace anyway",
                        total, run_path, ds.qrels_path, ds.n_judged_queries, split);
        goto done;
    }
    if (judged < total)
        fprintf(
            stderr,
            "grating trace: WARNING: only %zu of the %zu queries to trace have judgments in %s; "
            "evaluations of this trace skip the other %zu\n",
            judged, total, ds.qrels_path, total - judged);

    // Refuses to replace a finished FILE.h5 without --force (a --resume
    // continues FILE.h5.partial, which is not an overwrite); creates parents.
    if ((st = fs_output_prepare(out, force))) goto done;

    char config_path[4200];
    size_t config_len;
    snprintf(config_path, sizeof config_path, "%s/config.json", model_dir);
    if ((st = file_read_all(config_path, &config_text, &config_len))) goto done;
    snprintf(hash, sizeof hash, "%016llx",
             (unsigned long long)trace_fnv1a(config_text, config_len));
    time_t now = time(NULL);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    char kernels[128];
    snprintf(kernels, sizeof kernels, "matrices %s; backend %s", cli_compute_name(m.cfg.matrix_dtype),
             cli_backend_name());
    trace_meta meta = {.model = model_dir,
                       .config_hash = hash,
                       .architecture = m.cfg.arch_name,
                       .n_layers = m.cfg.n_layers,
                       .hidden_size = m.cfg.hidden_size,
                       .intermediate_size = m.cfg.intermediate_size,
                       .score_kind = (char *)m.cfg.arch->score_kind,
                       .tokenizer = (char *)m.tokenizer_source,
                       .max_len = max_len,
                       .dataset = dataset,
                       .split = (char *)split,
                       .run = run_path,
                       .top_n = top_n,
                       .command = command,
                       .version = GRATING_VERSION,
                       .created = created,
                       .threads = cli_threads(),
                       .config = config_text,
                       .kernels = kernels};
    if ((st = trace_writer_open(&w, out, &meta, resume))) goto done;
    if (w.note) fprintf(stderr, "grating trace: %s\n", w.note);

    size_t done_now = 0, seen = 0, resumed = 0;
    double t_start = clock_now_seconds();
    for (size_t i = shard_i; i < run.n_queries && seen < total; i += shard_n, seen++) {
        const trec_query *rq = &run.queries[i];
        if (trace_writer_has_query(&w, rq->qid)) {
            resumed++;
            continue;
        }
        trace_query q;
        if ((st = trace_one_query(&m, model_dir, &ds, rq, (size_t)top_n, (size_t)max_len,
                                  (size_t)chunk, none, &q)))
            goto done;
        st = trace_writer_add_query(&w, &q);
        trace_query_release(&q);
        if (st) goto done;
        // Give the forward's freed buffers back to the system: glibc keeps
        // them in the heap (its mmap threshold rises to the largest freed
        // block), so without this the heap of a long trace only grows.
        malloc_trim(0);
        done_now++;
        double elapsed = clock_now_seconds() - t_start, rate = (double)done_now / elapsed;
        char eta[32];
        trace_format_eta((double)(total - seen - 1) / rate, eta, sizeof eta);
        cli_progress_update(&progress, seen + 1 == total,
                            "grating trace: %zu/%zu queries, %.2f queries/s, %s left", seen + 1,
                            total, rate, eta);
    }
    cli_progress_end(&progress);
    if ((st = trace_writer_finish(&w))) goto done;
    fprintf(stderr, "grating trace: wrote %s (%zu queries", out, done_now + resumed);
    if (resumed) fprintf(stderr, ", %zu resumed", resumed);
    fprintf(stderr, ", %d threads)\n", cli_threads());
    rc = 0;
done:
    if (rc != 0) {
        cli_progress_end(&progress);
        fprintf(stderr, "grating trace: %s\n", status_message());
        if (w.path)
            fprintf(stderr, "grating trace: partial results kept in %s.partial (use --resume)\n",
                    out);
    }
    trace_writer_close(&w);
    policy_free(none);
    if (run_open) trec_run_free(&run);
    if (ds_open) beir_close(&ds);
    if (model_open) reranker_close(&m);
    free(command);
    free(config_text);
    free(model_dir);
    free(dataset);
    free(run_path);
    return rc;
}
