/*
 * grating stability: per-layer ranking stability of a trace (core/analysis/stability.h),
 * as a table on stdout and a CSV for plotting.
 */
#include "cli.h"

#include "base/fsutil.h"
#include "analysis/stability.h"
#include "analysis/trace_guard.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void stability_usage(FILE *out) {
    fprintf(out,
            "usage: grating stability --trace FILE.h5 [--out FILE.csv [--force]] [--clusters K]\n\n"
            "Per layer, averaged over the trace's queries: Kendall tau-b and Goodman-Kruskal\n"
            "gamma of the layer's ranking vs the final ranking, cluster gamma (only pairs in\n"
            "different clusters of an exact 1-D K-Means of the layer's scores, K = 3 by\n"
            "default) and top-1/5/10 overlap with the final top-K.\n\n"
            "  --out FILE.csv  also write the table as CSV (missing folders are created)\n"
            "  --force         replace an existing --out file\n\n"
            "The trace is read in a separate process: a corrupt file gives an error, never a\n"
            "crash or a hang (GRATING_H5_TIMEOUT=SECONDS bounds the read).\n");
}

int cmd_stability(int argc, char **argv) {
    cli_common_opts co = {0};
    const char *trace_path = NULL;
    long clusters = 3;
    static const struct option opts[] = {{"trace", required_argument, 0, 't'},
                                         CLI_OPTS_OUTPUT,
                                         {"clusters", required_argument, 0, 'k'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    int c;
    char *end;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int shared = cli_common_parse("stability", c, optarg, &co);
        if (shared < 0) return 2;
        if (shared) continue;
        switch (c) {
        case 't': trace_path = optarg; break;
        case 'k':
            clusters = strtol(optarg, &end, 10);
            if (*end || clusters < 1 || clusters > 64) {
                fprintf(stderr, "grating stability: --clusters must be an integer in [1, 64]\n");
                return 2;
            }
            break;
        case 'h': stability_usage(stdout); return 0;
        default: stability_usage(stderr); return 2;
        }
    }
    const char *out = co.out;
    int force = co.force;
    if (optind < argc || !trace_path) {
        stability_usage(stderr);
        return 2;
    }
    trace t = {0};
    stability_table s = {0};
    status st = out ? fs_output_prepare(out, force) : STATUS_OK;
    if (!st) st = trace_guard_read(&t, trace_path);
    if (!st) st = stability_compute(&t, (size_t)clusters, &s);
    FILE *f = NULL;
    char tmp[4300] = "";
    if (!st && out) {
        snprintf(tmp, sizeof tmp, "%s.tmp-%ld", out, (long)getpid());
        if (!(f = fopen(tmp, "w"))) st = status_fail(STATUS_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    }
    if (!st) {
        printf("# %s: %zu queries, model %s (%s), %lld layers, %zu clusters\n", trace_path, t.n_queries,
               t.meta.model, t.meta.architecture, (long long)t.meta.n_layers, s.clusters);
        printf("%-6s %11s %9s %14s %8s %8s %8s\n", "layer", "kendall_tau", "gk_gamma", "cluster_gamma",
               "top1", "top5", "top10");
        if (f) fprintf(f, "layer,n_queries,kendall_tau,gk_gamma,cluster_gamma,overlap_at_1,overlap_at_5,overlap_at_10\n");
        for (size_t l = 0; l < s.n_rows; l++) {
            const stability_row *r = &s.rows[l];
            printf("%-6zu %11.4f %9.4f %14.4f %8.4f %8.4f %8.4f\n", l, r->kendall_tau, r->gk_gamma,
                   r->cluster_gamma, r->overlap[0], r->overlap[1], r->overlap[2]);
            if (f)
                fprintf(f, "%zu,%zu,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f\n", l, r->n_queries, r->kendall_tau,
                        r->gk_gamma, r->cluster_gamma, r->overlap[0], r->overlap[1], r->overlap[2]);
        }
    }
    if (f && (fclose(f) != 0 || rename(tmp, out) != 0) && !st)
        st = status_fail(STATUS_ERR_IO, "%s: cannot write", out);
    if (st && tmp[0]) unlink(tmp);
    stability_free(&s);
    trace_free(&t);
    if (st) {
        fprintf(stderr, "grating stability: %s\n", status_message());
        return 1;
    }
    return 0;
}
