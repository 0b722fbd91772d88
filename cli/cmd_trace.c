/*
 * grating trace: full forward of every query's top-N candidates over a BEIR
 * dataset and a first-stage run, recording the provisional score of every
 * candidate at every layer (and per-layer times) to an HDF5 trace
 * (docs/trace-schema.md).
 */
#include "cli.h"

#include "beir.h"
#include "engine.h"
#include "json_file.h"
#include "trace.h"
#include "trec.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void trace_usage(FILE *out) {
    fprintf(out,
            "usage: grating trace --model DIR --dataset DIR --run FILE --out FILE.h5\n"
            "                     [--split test] [--top-n 20] [--max-len N] [--chunk C]\n"
            "                     [--resume] [--shard i/n] [--limit M]\n\n"
            "Runs the full forward over the top-N candidates of every query of the run and\n"
            "writes every candidate's score after every layer to FILE.h5 (schema:\n"
            "docs/trace-schema.md). The file appears only when complete (FILE.h5.partial\n"
            "until then); --resume continues an interrupted FILE.h5.partial.\n\n"
            "  --dataset DIR   BEIR folder (corpus.jsonl, queries.jsonl, qrels/SPLIT.tsv)\n"
            "  --split S       qrels split recorded with the trace (default test)\n"
            "  --run FILE      first-stage run, TREC format (qid Q0 docid rank score tag)\n"
            "  --top-n N       candidates per query (default 20; fewer if the run has fewer)\n"
            "  --max-len N     tokens per pair (default 512, or the model's limit)\n"
            "  --shard i/n     only queries i, i+n, i+2n, ... of the run (0-based); merge the\n"
            "                  shard files with `grating merge`\n"
            "  --limit M       only the first M queries (after sharding)\n"
            "  --instruction T Qwen3-Reranker instruction (default: the model card's)\n");
}

static uint64_t trace_fnv1a(const char *data, size_t len) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++) h = (h ^ (unsigned char)data[i]) * 1099511628211ull;
    return h;
}

static void trace_format_eta(double seconds, char *out, size_t cap) {
    long s = (long)(seconds + 0.5);
    if (s >= 3600) snprintf(out, cap, "%ldh%02ldm", s / 3600, (s / 60) % 60);
    else snprintf(out, cap, "%ldm%02lds", s / 60, s % 60);
}

static double trace_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

// One query: tokenize, full forward, fill the trace record.
static status trace_one_query(const reranker *m, const beir_dataset *ds,
                              const trec_query *rq, size_t top_n, size_t max_len, size_t chunk,
                              policy *none, trace_query *out) {
    size_t n = rq->n < top_n ? rq->n : top_n;
    size_t query_index;
    if (!beir_query_find(ds, rq->qid, &query_index))
        return status_fail(STATUS_ERR_MISSING, "query %s of the run is not in %s", rq->qid, ds->dir);
    const char *qtext = ds->query_texts[query_index];
    doc_list docs = {.items = calloc(n, sizeof(doc_item)), .n = 0};
    if (!docs.items) return status_fail(STATUS_ERR_NOMEM, "out of memory");
    status st = STATUS_OK;
    for (size_t i = 0; i < n && st == STATUS_OK; i++) {
        docs.items[i].id = strdup(rq->cands[i].doc_id);
        st = beir_doc_fetch(ds, rq->cands[i].doc_id, &docs.items[i].text);
        docs.n = i + 1;
    }
    cli_batch b = {0};
    engine_result r = {0};
    if (st == STATUS_OK) st = cli_encode_pairs(m, qtext, &docs, max_len, &b);
    if (st == STATUS_OK) st = engine_result_init(&r, n, (size_t)m->cfg.n_layers);
    reranker_batch view = cli_batch_view(&b);
    engine_options opt = {.k = 1, .chunk = chunk};
    if (st == STATUS_OK) st = engine_run(m, &view, none, &opt, &r);
    if (st == STATUS_OK) {
        size_t L = (size_t)m->cfg.n_layers;
        out->qid = strdup(rq->qid);
        out->n = n;
        out->doc_ids = calloc(n, sizeof *out->doc_ids);
        out->scores = malloc((L + 1) * n * sizeof *out->scores);
        out->tokens = malloc(n * sizeof *out->tokens);
        out->first_stage = malloc(n * sizeof *out->first_stage);
        out->layer_seconds = malloc(L * sizeof *out->layer_seconds);
        if (!out->qid || !out->doc_ids || !out->scores || !out->tokens || !out->first_stage ||
            !out->layer_seconds) {
            st = status_fail(STATUS_ERR_NOMEM, "out of memory");
        } else {
            memcpy(out->scores, r.layer_scores, (L + 1) * n * sizeof *out->scores);
            memcpy(out->layer_seconds, r.layer_seconds, L * sizeof *out->layer_seconds);
            for (size_t i = 0; i < n; i++) {
                out->doc_ids[i] = docs.items[i].id;
                docs.items[i].id = NULL;
                out->tokens[i] = (int32_t)b.seq_len[i];
                out->first_stage[i] = (float)rq->cands[i].score;
            }
            out->embed_seconds = r.embed_seconds;
            out->score_seconds = r.score_seconds;
        }
    }
    if (st != STATUS_OK) status_wrap(st, "query %s", rq->qid);
    engine_result_free(&r);
    cli_batch_free(&b);
    for (size_t i = 0; i < docs.n; i++) free(docs.items[i].id);
    doc_list_free(&docs);
    return st;
}

static void trace_query_release(trace_query *q) {
    for (size_t i = 0; q->doc_ids && i < q->n; i++) free(q->doc_ids[i]);
    free(q->doc_ids);
    free(q->qid);
    free(q->scores);
    free(q->tokens);
    free(q->first_stage);
    free(q->layer_seconds);
    memset(q, 0, sizeof *q);
}

int cmd_trace(int argc, char **argv) {
    const char *model_dir = NULL, *dataset = NULL, *split = "test", *run_path = NULL, *out = NULL;
    long top_n = 20, max_len = 512, chunk = 0, limit = 0;
    const char *instruction = NULL;
    int resume = 0, max_len_given = 0;
    size_t shard_i = 0, shard_n = 1;
    static const struct option opts[] = {
        {"instruction", required_argument, 0, 'I'}, {"model", required_argument, 0, 'm'},   {"dataset", required_argument, 0, 'd'},
        {"split", required_argument, 0, 's'},   {"run", required_argument, 0, 'r'},
        {"out", required_argument, 0, 'o'},     {"top-n", required_argument, 0, 'n'},
        {"max-len", required_argument, 0, 'l'}, {"chunk", required_argument, 0, 'c'},
        {"limit", required_argument, 0, 'L'},   {"resume", no_argument, 0, 'R'},
        {"shard", required_argument, 0, 'S'},   {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    optind = 1;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        long *target = NULL, min = 1;
        switch (c) {
        case 'm': model_dir = optarg; break;
        case 'I': instruction = optarg; break;
        case 'd': dataset = optarg; break;
        case 's': split = optarg; break;
        case 'r': run_path = optarg; break;
        case 'o': out = optarg; break;
        case 'R': resume = 1; break;
        case 'n': target = &top_n; break;
        case 'l': target = &max_len, min = 3, max_len_given = 1; break;
        case 'c': target = &chunk; break;
        case 'L': target = &limit; break;
        case 'S':
            if (!cli_parse_shard(optarg, &shard_i, &shard_n)) {
                fprintf(stderr, "grating trace: --shard must be i/n with 0 <= i < n, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': trace_usage(stdout); return 0;
        default: trace_usage(stderr); return 2;
        }
        if (target) {
            *target = strtol(optarg, &end, 10);
            if (*end || *target < min) {
                fprintf(stderr, "grating trace: invalid value '%s' for an option that needs an integer >= %ld\n",
                        optarg, min);
                return 2;
            }
        }
    }
    if (optind < argc || !model_dir || !dataset || !run_path || !out) {
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
    status st;
    if ((st = reranker_open(&m, model_dir, instruction))) goto done;
    model_open = 1;
    if ((st = reranker_check_max_len(&m, &max_len, max_len_given))) goto done;
    if ((st = beir_open(&ds, dataset, split, 0))) goto done;
    ds_open = 1;
    if ((st = trec_run_read(&run, run_path))) goto done;
    run_open = 1;
    if ((st = trec_run_resolve(&run, &ds)) || (st = policy_create("none", NULL, &none))) goto done;

    char config_path[4200];
    size_t config_len;
    snprintf(config_path, sizeof config_path, "%s/config.json", model_dir);
    if ((st = file_read_all(config_path, &config_text, &config_len))) goto done;
    snprintf(hash, sizeof hash, "%016llx", (unsigned long long)trace_fnv1a(config_text, config_len));
    time_t now = time(NULL);
    strftime(created, sizeof created, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    trace_meta meta = {.model = (char *)model_dir, .config_hash = hash, .architecture = m.cfg.arch_name,
                       .n_layers = m.cfg.n_layers, .hidden_size = m.cfg.hidden_size,
                       .intermediate_size = m.cfg.intermediate_size, .score_kind = "logit",
                       .tokenizer = (char *)m.tokenizer_source, .max_len = max_len, .dataset = (char *)dataset,
                       .split = (char *)split, .run = (char *)run_path, .top_n = top_n,
                       .command = command, .version = GRATING_VERSION, .created = created};
    if ((st = trace_writer_open(&w, out, &meta, resume))) goto done;

    size_t total = 0;
    for (size_t i = shard_i; i < run.n_queries; i += shard_n) total++;
    if (limit > 0 && (size_t)limit < total) total = (size_t)limit;
    size_t done_now = 0, seen = 0, resumed = 0;
    double t_start = trace_now();
    for (size_t i = shard_i; i < run.n_queries && seen < total; i += shard_n, seen++) {
        const trec_query *rq = &run.queries[i];
        if (trace_writer_has_query(&w, rq->qid)) {
            resumed++;
            continue;
        }
        trace_query q = {0};
        if ((st = trace_one_query(&m, &ds, rq, (size_t)top_n, (size_t)max_len, (size_t)chunk,
                                  none, &q)) ||
            (st = trace_writer_add_query(&w, &q))) {
            trace_query_release(&q);
            goto done;
        }
        trace_query_release(&q);
        done_now++;
        double elapsed = trace_now() - t_start, rate = (double)done_now / elapsed;
        char eta[32];
        trace_format_eta((double)(total - seen - 1) / rate, eta, sizeof eta);
        fprintf(stderr, "\rgrating trace: %zu/%zu queries, %.2f queries/s, %s left   ", seen + 1,
                total, rate, eta);
    }
    fprintf(stderr, "\n");
    if ((st = trace_writer_finish(&w))) goto done;
    fprintf(stderr, "grating trace: wrote %s (%zu queries%s)\n", out, done_now + resumed,
            resumed ? ", some resumed" : "");
    rc = 0;
done:
    if (rc != 0) {
        fprintf(stderr, "\ngrating trace: %s\n", status_message());
        if (w.path) fprintf(stderr, "grating trace: partial results kept in %s.partial (use --resume)\n", out);
    }
    trace_writer_close(&w);
    policy_free(none);
    if (run_open) trec_run_free(&run);
    if (ds_open) beir_close(&ds);
    if (model_open) reranker_close(&m);
    free(command);
    free(config_text);
    return rc;
}
