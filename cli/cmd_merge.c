/*
 * grating merge: combine the outputs of sharded runs (`--shard i/n`) of
 * `grating trace` (HDF5 traces) or `grating sweep` (folders with sweep.h5).
 */
#include "cli.h"

#include "h5util.h"
#include "sweep.h"
#include "trace.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void merge_usage(FILE *out) {
    fprintf(out,
            "usage: grating merge --out OUT INPUT...\n\n"
            "Traces: INPUTs are shard traces (.h5) of the same model, dataset and run; OUT is\n"
            "the merged trace. Sweeps: INPUTs are shard output folders (with sweep.h5) of the\n"
            "same grid; OUT is a folder with the merged sweep.csv and sweep.h5, equal to an\n"
            "unsharded sweep.\n");
}

static int merge_is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static status merge_sweeps(char **inputs, size_t n, const char *out, const char *command) {
    sweep_grid *grids = calloc(n, sizeof *grids);
    sweep_results *parts = calloc(n, sizeof *parts);
    trace_meta *metas = calloc(n, sizeof *metas);
    sweep_results merged = {0};
    status st = grids && parts && metas ? STATUS_OK : status_fail(STATUS_ERR_NOMEM, "merge: out of memory");
    for (size_t i = 0; i < n && !st; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%.4000s/sweep.h5", inputs[i]);
        st = sweep_read(&grids[i], &parts[i], &metas[i], path);
        if (!st && i > 0) {
            int same = grids[i].n_configs == grids[0].n_configs &&
                       strcmp(metas[i].config_hash, metas[0].config_hash) == 0;
            for (size_t c = 0; same && c < grids[0].n_configs; c++)
                same = strcmp(grids[i].configs[c].policy, grids[0].configs[c].policy) == 0 &&
                       strcmp(grids[i].configs[c].params_text, grids[0].configs[c].params_text) == 0 &&
                       grids[i].configs[c].k == grids[0].configs[c].k &&
                       grids[i].configs[c].chunk == grids[0].configs[c].chunk;
            if (!same)
                st = status_fail(STATUS_ERR_ARG, "merge: %s has a different grid or model than %s",
                                 inputs[i], inputs[0]);
        }
    }
    if (!st) st = sweep_merge(parts, n, &merged);
    if (!st) st = sweep_write(&grids[0], &metas[0], &merged, out, command, 0);
    for (size_t i = 0; i < n; i++) {
        if (grids) sweep_grid_free(&grids[i]);
        if (parts) sweep_results_free(&parts[i]);
        if (metas) trace_meta_free(&metas[i]);
    }
    sweep_results_free(&merged);
    free(grids), free(parts), free(metas);
    return st;
}

int cmd_merge(int argc, char **argv) {
    const char *out = NULL;
    static const struct option opts[] = {{"out", required_argument, 0, 'o'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'h': merge_usage(stdout); return 0;
        default: merge_usage(stderr); return 2;
        }
    }
    size_t n = (size_t)(argc - optind);
    if (!out || n == 0) {
        fprintf(stderr, "grating merge: need --out and at least one input\n");
        merge_usage(stderr);
        return 2;
    }
    char **inputs = argv + optind;
    int dirs = 0;
    for (size_t i = 0; i < n; i++) dirs += merge_is_dir(inputs[i]);
    if (dirs != 0 && dirs != (int)n) {
        fprintf(stderr, "grating merge: mix of folders (sweeps) and files (traces)\n");
        return 2;
    }
    char *command = cli_join_argv(argc, argv);
    status st = dirs ? merge_sweeps(inputs, n, out, command)
                     : trace_merge((const char *const *)inputs, n, out);
    free(command);
    if (st != STATUS_OK) {
        fprintf(stderr, "grating merge: %s\n", status_message());
        return 1;
    }
    fprintf(stderr, "grating merge: wrote %s from %zu %s\n", out, n, dirs ? "sweeps" : "traces");
    return 0;
}
