/*
 * grating sweep: replay a trace under a grid of pruning configurations
 * (core/sweep.h) and write one row per configuration.
 */
#include "cli.h"

#include "sweep.h"
#include "trace_guard.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void sweep_usage(FILE *out) {
    fprintf(out,
            "usage: grating sweep --trace FILE.h5 --grid FILE.json --out DIR\n"
            "                     [--dataset DIR] [--split S] [--no-labels] [--shard i/n]\n\n"
            "Replays the trace under every configuration of the grid (experiments/README.md)\n"
            "with the same policy code as `grating rerank`, and writes DIR/sweep.csv (one row\n"
            "per configuration: Precision@K vs the full model's top-K, nDCG@10, MRR@10 and P@K\n"
            "vs qrels, fraction of candidate-layers, FLOPs, predicted latency) and DIR/sweep.h5\n"
            "(the per-query values).\n\n"
            "  --dataset DIR  qrels for the label metrics (default: the trace's dataset)\n"
            "  --split S      qrels split (default: the trace's split)\n"
            "  --no-labels    skip the qrels metrics\n"
            "  --shard i/n    only queries i, i+n, ... of the trace; `grating merge` the shards\n");
}

int cmd_sweep(int argc, char **argv) {
    const char *trace_path = NULL, *grid_path = NULL, *out = NULL, *dataset = NULL, *split = NULL;
    int no_labels = 0;
    size_t shard_i = 0, shard_n = 1;
    static const struct option opts[] = {
        {"trace", required_argument, 0, 't'}, {"grid", required_argument, 0, 'g'},
        {"out", required_argument, 0, 'o'},   {"dataset", required_argument, 0, 'd'},
        {"split", required_argument, 0, 's'}, {"no-labels", no_argument, 0, 'n'},
        {"shard", required_argument, 0, 'S'}, {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 't': trace_path = optarg; break;
        case 'g': grid_path = optarg; break;
        case 'o': out = optarg; break;
        case 'd': dataset = optarg; break;
        case 's': split = optarg; break;
        case 'n': no_labels = 1; break;
        case 'S':
            if (!cli_parse_shard(optarg, &shard_i, &shard_n)) {
                fprintf(stderr, "grating sweep: --shard must be i/n with 0 <= i < n, got '%s'\n", optarg);
                return 2;
            }
            break;
        case 'h': sweep_usage(stdout); return 0;
        default: sweep_usage(stderr); return 2;
        }
    }
    if (optind < argc || !trace_path || !grid_path || !out) {
        fprintf(stderr, "grating sweep: need --trace, --grid and --out\n");
        sweep_usage(stderr);
        return 2;
    }
    int rc = 1, ds_open = 0;
    sweep_grid g = {0};
    trace t = {0};
    sweep_results r = {0};
    beir_dataset ds;
    char *command = cli_join_argv(argc, argv);
    status st;
    if ((st = sweep_grid_load(&g, grid_path)) || (st = trace_guard_read(&t, trace_path))) goto done;
    if (!no_labels) {
        const char *dir = dataset ? dataset : t.meta.dataset, *sp = split ? split : t.meta.split;
        struct stat sb;
        if (!dataset && stat(dir, &sb) != 0) {
            fprintf(stderr, "grating sweep: note: dataset %s of the trace is not here; no qrels metrics "
                            "(pass --dataset)\n", dir);
        } else {
            if ((st = beir_open(&ds, dir, sp, BEIR_QRELS_SKIP_UNKNOWN))) goto done;
            ds_open = 1;
        }
    }
    fprintf(stderr, "grating sweep: %zu configurations x %zu queries (shard %zu/%zu)\n", g.n_configs,
            (t.n_queries + shard_n - 1 - shard_i) / shard_n, shard_i, shard_n);
    if ((st = sweep_run(&g, &t, ds_open ? &ds : NULL, shard_i, shard_n, &r))) goto done;
    if ((st = sweep_write(&g, &t.meta, &r, out, command))) goto done;
    fprintf(stderr, "grating sweep: replayed in %.2f s; wrote %s/sweep.csv and %s/sweep.h5\n",
            r.replay_seconds, out, out);
    rc = 0;
done:
    if (rc) fprintf(stderr, "grating sweep: %s\n", status_message());
    sweep_results_free(&r);
    if (ds_open) beir_close(&ds);
    trace_free(&t);
    sweep_grid_free(&g);
    free(command);
    return rc;
}
