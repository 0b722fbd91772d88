/*
 * grating merge: combine the outputs of sharded runs (`--shard i/n`) of
 * `grating trace` (HDF5 traces) or `grating sweep` (folders with sweep.h5).
 */
#include "cli.h"

#include "base/fsutil.h"
#include "analysis/sweep.h"
#include "analysis/trace.h"
#include "analysis/trace_guard.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void merge_usage(FILE *out) {
    fprintf(out,
            "usage: grating merge --out OUT [--force] INPUT...\n\n"
            "Traces: INPUTs are shard traces (.h5) of the same model, dataset and run; OUT is\n"
            "the merged trace, its queries in the order of the run file (else in the run order\n"
            "of the inputs' --shard i/n), its command attribute this command line followed by\n"
            "each input's. Sweeps: INPUTs are shard output folders (with sweep.h5) of the same\n"
            "grid; OUT is a folder with the merged sweep.csv and sweep.h5, equal to an\n"
            "unsharded sweep. Inputs are read in a separate process (a corrupt file gives an\n"
            "error, never a crash or a hang; GRATING_H5_TIMEOUT=SECONDS bounds each read).\n\n"
            "  --force  replace an existing OUT (trace) or OUT/sweep.csv, OUT/sweep.h5 (sweep)\n");
}

static int merge_is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static status merge_sweeps(char **inputs, size_t n, const char *out, const char *command,
                           int force) {
    sweep_grid *grids = calloc(n, sizeof *grids);
    sweep_results *parts = calloc(n, sizeof *parts);
    trace_meta *metas = calloc(n, sizeof *metas);
    sweep_results merged = {0};
    status st =
        grids && parts && metas ? STATUS_OK : status_fail(STATUS_ERR_NOMEM, "merge: out of memory");
    for (size_t i = 0; i < n && !st; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%.4000s/sweep.h5", inputs[i]);
        st = trace_guard_read_sweep(&grids[i], &parts[i], &metas[i], path);
        if (!st && i > 0) {
            int same = grids[i].n_configs == grids[0].n_configs &&
                       strcmp(metas[i].config_hash, metas[0].config_hash) == 0;
            for (size_t c = 0; same && c < grids[0].n_configs; c++)
                same =
                    strcmp(grids[i].configs[c].policy, grids[0].configs[c].policy) == 0 &&
                    strcmp(grids[i].configs[c].params_text, grids[0].configs[c].params_text) == 0 &&
                    grids[i].configs[c].k == grids[0].configs[c].k &&
                    grids[i].configs[c].chunk == grids[0].configs[c].chunk;
            if (!same)
                st = status_fail(STATUS_ERR_ARG, "merge: %s has a different grid or model than %s",
                                 inputs[i], inputs[0]);
        }
    }
    if (!st) st = sweep_merge(parts, n, &merged);
    if (!st) st = sweep_write(&grids[0], &metas[0], &merged, out, command, force);
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
    cli_common_opts co = {0};
    static const struct option opts[] = {
        CLI_OPTS_OUTPUT, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    optind = 1;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        int shared = cli_common_parse("merge", c, optarg, &co);
        if (shared < 0) return 2;
        if (shared) continue;
        switch (c) {
        case 'h':
            merge_usage(stdout);
            return 0;
        default:
            merge_usage(stderr);
            return 2;
        }
    }
    const char *out = co.out;
    int force = co.force;
    size_t n = (size_t)(argc - optind);
    if (!out || n == 0) {
        fprintf(stderr, "grating merge: need --out and at least one input\n");
        merge_usage(stderr);
        return 2;
    }
    char **inputs = argv + optind;
    int dirs = 0;
    for (size_t i = 0; i < n; i++)
        dirs += merge_is_dir(inputs[i]);
    if (dirs != 0 && dirs != (int)n) {
        fprintf(stderr, "grating merge: mix of folders (sweeps) and files (traces)\n");
        return 2;
    }
    // Nothing is replaced silently; missing parent folders are created.
    status st = STATUS_OK;
    if (dirs) {
        // The same checks as sweep_write, before the inputs are read.
        char path[4200];
        const char *names[] = {"sweep.csv", "sweep.h5"};
        for (size_t i = 0; i < 2 && !st; i++) {
            snprintf(path, sizeof path, "%.4000s/%s", out, names[i]);
            if (!force && fs_exists(path))
                st = status_fail(STATUS_ERR_ARG, "%s exists; pass --force to replace it", path);
        }
    } else {
        st = fs_output_prepare(out, force);
    }
    if (st != STATUS_OK) {
        fprintf(stderr, "grating merge: %s\n", status_message());
        return 1;
    }
    char *command = cli_join_argv(argc, argv);
    const char *order = NULL;
    st = dirs ? merge_sweeps(inputs, n, out, command, force)
              : trace_merge_ordered((const char *const *)inputs, n, out, command, &order);
    free(command);
    if (st != STATUS_OK) {
        fprintf(stderr, "grating merge: %s\n", status_message());
        return 1;
    }
    fprintf(stderr, "grating merge: wrote %s from %zu %s%s%s\n", out, n, dirs ? "sweeps" : "traces",
            order ? "; queries in " : "", order ? order : "");
    return 0;
}
