/*
 * grating sweep: replay a trace under a grid of pruning configurations
 * (core/analysis/sweep.h) and write one row per configuration.
 */
#include "cli.h"

#include "base/fsutil.h"
#include "analysis/sweep.h"
#include "analysis/trace_guard.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void sweep_usage(FILE *out) {
    fprintf(
        out,
        "usage: grating sweep --trace FILE.h5 --grid FILE.json --out DIR [--force]\n"
        "                     [--dataset DIR] [--split S] [--no-labels] [--unjudged skip|zero]\n"
        "                     [--export-run LIST] [--shard i/n] [--threads N]\n\n"
        "Replays the trace under every configuration of the grid (experiments/README.md)\n"
        "with the same policy code as `grating rerank`, plus one first-stage row per K (the\n"
        "trace's first-stage ranking, e.g. BM25, at zero reranker cost), and writes\n"
        "DIR/sweep.csv (one row per configuration: precision_at_k_vs_full = Precision@K vs\n"
        "the full model's top-K; nDCG@10, RR@10, RR, P@1, P@5, P@10 vs the qrels, as\n"
        "trec_eval computes ndcg_cut_10, recip_rank -M10, recip_rank, P_1, P_5, P_10;\n"
        "fraction of candidate-layers, FLOPs, predicted latency; the trace, qrels, model,\n"
        "grating version and threads it came from) and DIR/sweep.h5 (per-query values).\n"
        "Both appear together or not at all.\n\n"
        "  --dataset DIR     qrels for the label metrics (default: the trace's dataset; a\n"
        "                    relative path is tried from here, then from the trace's folder)\n"
        "  --split S         qrels split (default: the trace's split)\n"
        "  --no-labels       skip the qrels metrics\n"
        "  --unjudged MODE   queries without any qrels line: skip (default, as trec_eval:\n"
        "                    left out of the means) or zero (count as 0)\n"
        "  --export-run LIST write the TREC run of configurations LIST (comma-separated\n"
        "                    indices of the CSV's config column, 'first-stage', or 'all')\n"
        "                    to DIR/runs/config-NNN.trec (tag cN:policy:params:kK): the\n"
        "                    ranking measured (survivors by final score, then pruned\n"
        "                    candidates, later prune first, then by last provisional score),\n"
        "                    scores made strictly decreasing so trec_eval ranks the same\n"
        "  --force           replace the results already in DIR\n"
        "  --shard i/n       only queries i, i+n, ... of the trace; `grating merge` the shards\n"
        "  --threads N       accepted and recorded (the replay uses no BLAS)\n");
}

// The trace's path `p` (relative to the cwd when it exists there, else to the
// folder of the trace file). malloc'd; NULL when neither exists.
static char *sweep_resolve(const char *p, const char *trace_path) {
    struct stat sb;
    if (!p || !*p) return NULL;
    if (stat(p, &sb) == 0) return strdup(p);
    if (p[0] == '/') return NULL;
    const char *slash = strrchr(trace_path, '/');
    if (!slash) return NULL;
    char *s = NULL;
    if (asprintf(&s, "%.*s/%s", (int)(slash - trace_path), trace_path, p) < 0) return NULL;
    if (stat(s, &sb) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

// Parses --export-run LIST against the grid (first-stage rows included).
static status sweep_export_parse(const char *list, const sweep_grid *g, unsigned char *mask) {
    char *copy = strdup(list), *save = NULL;
    if (!copy) return status_fail(STATUS_ERR_NOMEM, "out of memory");
    status st = STATUS_OK;
    size_t n = 0;
    for (char *tok = strtok_r(copy, ",", &save); tok && !st;
         tok = strtok_r(NULL, ",", &save), n++) {
        if (strcmp(tok, "all") == 0) {
            memset(mask, 1, g->n_configs);
        } else if (strcmp(tok, SWEEP_FIRST_STAGE) == 0) {
            for (size_t c = 0; c < g->n_configs; c++)
                mask[c] |= strcmp(g->configs[c].policy, SWEEP_FIRST_STAGE) == 0;
        } else {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(tok, &end, 10);
            if (errno || end == tok || *end || tok[0] == '-' || v >= g->n_configs)
                st = status_fail(
                    STATUS_ERR_ARG,
                    "--export-run: '%s' is not a configuration index in [0, %zu), 'first-stage' "
                    "or 'all'",
                    tok, g->n_configs);
            else
                mask[v] = 1;
        }
    }
    if (!st && n == 0) st = status_fail(STATUS_ERR_ARG, "--export-run: empty list");
    free(copy);
    return st;
}

int cmd_sweep(int argc, char **argv) {
    cli_common_opts co = {0};
    const char *trace_path = NULL, *grid_path = NULL, *export_list = NULL;
    int no_labels = 0;
    sweep_unjudged unjudged = SWEEP_UNJUDGED_SKIP;
    size_t shard_i = 0, shard_n = 1;
    static const struct option opts[] = {{"trace", required_argument, 0, 't'},
                                         {"grid", required_argument, 0, 'g'},
                                         CLI_OPTS_OUTPUT,
                                         CLI_OPTION_DATASET,
                                         CLI_OPTION_SPLIT,
                                         CLI_OPTION_THREADS,
                                         {"no-labels", no_argument, 0, 'n'},
                                         {"shard", required_argument, 0, 'S'},
                                         {"unjudged", required_argument, 0, 'u'},
                                         {"export-run", required_argument, 0, 'e'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int shared = cli_common_parse("sweep", c, optarg, &co);
        if (shared < 0) return 2;
        if (shared) continue;
        switch (c) {
        case 't':
            trace_path = optarg;
            break;
        case 'g':
            grid_path = optarg;
            break;
        case 'n':
            no_labels = 1;
            break;
        case 'e':
            export_list = optarg;
            break;
        case 'u':
            if (strcmp(optarg, "skip") == 0) {
                unjudged = SWEEP_UNJUDGED_SKIP;
            } else if (strcmp(optarg, "zero") == 0) {
                unjudged = SWEEP_UNJUDGED_ZERO;
            } else {
                fprintf(stderr, "grating sweep: --unjudged must be skip or zero, got '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case 'S':
            if (!cli_parse_shard(optarg, &shard_i, &shard_n)) {
                fprintf(stderr, "grating sweep: --shard must be i/n with 0 <= i < n, got '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case 'h':
            sweep_usage(stdout);
            return 0;
        default:
            sweep_usage(stderr);
            return 2;
        }
    }
    const char *out = co.out, *dataset = co.dataset, *split = co.split;
    int force = co.force;
    if (optind < argc || !trace_path || !grid_path || !out) {
        fprintf(stderr, "grating sweep: need --trace, --grid and --out\n");
        sweep_usage(stderr);
        return 2;
    }
    int rc = 1, ds_open = 0, created = 0, prepared = 0;
    sweep_grid g = {0};
    trace t = {0};
    sweep_results r = {0};
    beir_dataset ds;
    char *command = cli_join_argv(argc, argv), *dir = NULL, *run_dir = NULL;
    unsigned char *export_mask = NULL;
    status st;
    if ((st = sweep_grid_load(&g, grid_path)) || (st = trace_guard_read(&t, trace_path))) goto done;
    if ((st = sweep_grid_add_first_stage(&g))) goto done;
    if (export_list) {
        export_mask = calloc(g.n_configs, 1);
        if (!export_mask) {
            st = status_fail(STATUS_ERR_NOMEM, "out of memory");
            goto done;
        }
        if ((st = sweep_export_parse(export_list, &g, export_mask))) goto done;
    }
    if (!no_labels) {
        const char *sp = split ? split : t.meta.split;
        if (dataset) {
            dir = strdup(dataset);
        } else if (!(dir = sweep_resolve(t.meta.dataset, trace_path))) {
            st = status_fail(
                STATUS_ERR_MISSING,
                "%s: the trace's dataset '%s' is not found (neither from here nor from the trace's "
                "folder); pass --dataset DIR, or --no-labels for no qrels metrics",
                trace_path, t.meta.dataset ? t.meta.dataset : "");
            goto done;
        }
        if (!dir) {
            st = status_fail(STATUS_ERR_NOMEM, "out of memory");
            goto done;
        }
        if (!sp || !*sp) {
            st = status_fail(STATUS_ERR_ARG, "%s: the trace names no qrels split; pass --split S",
                             trace_path);
            goto done;
        }
        if ((st = beir_open(&ds, dir, sp, BEIR_QRELS_SKIP_UNKNOWN))) goto done;
        ds_open = 1;
    }
    // Refuse existing results (and create the folder) before the replay.
    if ((st = sweep_output_prepare(out, force, &created))) goto done;
    prepared = 1;
    if (export_mask) {
        if (!(run_dir = sweep_run_dir_tmp(out))) {
            st = status_fail(STATUS_ERR_NOMEM, "out of memory");
            goto done;
        }
        if (mkdir(run_dir, 0777) != 0) {
            st = status_fail(STATUS_ERR_IO, "%s: cannot create: %s", run_dir, strerror(errno));
            goto done;
        }
    }
    fprintf(stderr,
            "grating sweep: %zu configurations (with the first-stage rows) x %zu queries (shard "
            "%zu/%zu), %d threads\n",
            g.n_configs, (t.n_queries + shard_n - 1 - shard_i) / shard_n, shard_i, shard_n,
            cli_threads());
    sweep_options o = {.unjudged = unjudged, .export_configs = export_mask, .run_dir = run_dir};
    if ((st = sweep_run(&g, &t, ds_open ? &ds : NULL, shard_i, shard_n, &o, &r))) goto done;
    if (ds_open) {
        size_t nj = r.n_queries - r.n_unjudged;
        if (nj == 0 && r.n_queries > 0) {
            st = status_fail(
                STATUS_ERR_ARG,
                "%s: no query of the trace (%zu replayed) has a judgement in %s: wrong dataset or "
                "split? (pass --dataset/--split, or --no-labels)",
                trace_path, r.n_queries, ds.qrels_path);
            goto done;
        }
        if (r.n_unjudged)
            fprintf(
                stderr,
                "grating sweep: %zu of %zu queries have no judgement in %s: %s (--unjudged %s)\n",
                r.n_unjudged, r.n_queries, ds.qrels_path,
                unjudged == SWEEP_UNJUDGED_ZERO ? "counted as 0 in the label means"
                                                : "left out of the label means, as trec_eval does",
                unjudged == SWEEP_UNJUDGED_ZERO ? "zero" : "skip");
        if (nj * 2 < r.n_queries)
            fprintf(stderr,
                    "grating sweep: WARNING: only %zu of %zu queries (%.0f%%) are judged by %s: is "
                    "this the "
                    "split the trace's run was made for?\n",
                    nj, r.n_queries, 100.0 * (double)nj / (double)r.n_queries, ds.qrels_path);
    }
    r.prov.trace = cli_abs_path(trace_path);
    r.prov.qrels = ds_open ? cli_abs_path(ds.qrels_path) : strdup("");
    char *model = sweep_resolve(t.meta.model, trace_path);
    r.prov.model = cli_abs_path(model ? model : t.meta.model ? t.meta.model : "");
    free(model);
    r.prov.version = strdup(GRATING_VERSION);
    r.prov.threads = cli_threads();
    if (!r.prov.trace || !r.prov.qrels || !r.prov.model || !r.prov.version) {
        st = status_fail(STATUS_ERR_NOMEM, "out of memory");
        goto done;
    }
    if ((st = sweep_write(&g, &t.meta, &r, out, command, force))) goto done;
    fprintf(stderr, "grating sweep: replayed in %.2f s; wrote %s/sweep.csv and %s/sweep.h5%s%s\n",
            r.replay_seconds, out, out, export_mask ? " and TREC runs in " : "",
            export_mask ? out : "");
    if (export_mask)
        fprintf(stderr, "grating sweep: runs: %s/runs/config-NNN.trec (NNN = the config column)\n",
                out);
    rc = 0;
done:
    if (rc) {
        fprintf(stderr, "grating sweep: %s\n", status_message());
        if (prepared) sweep_output_abort(out, created);
    }
    sweep_results_free(&r);
    if (ds_open) beir_close(&ds);
    trace_free(&t);
    sweep_grid_free(&g);
    free(command);
    free(dir);
    free(run_dir);
    free(export_mask);
    return rc;
}
