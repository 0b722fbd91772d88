/*
 * grating - command line entry point: git-style subcommands.
 * Each subcommand lives in its own cli/cmd_*.c and is listed in cli_commands.
 */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const cli_command cli_commands[] = {
    {"info", "describe a Hugging Face model folder (architecture, sizes, bytes per layer)",
     cmd_info},
    {"tokenize", "encode a (query, document) pair as the model's tokenizer does", cmd_tokenize},
    {"score", "score candidate documents for a query, optionally at every layer", cmd_score},
    {"rerank", "select the top-K candidates with a pruning policy inside one forward", cmd_rerank},
    {"trace", "record every candidate's per-layer scores over a dataset to HDF5", cmd_trace},
    {"sweep", "replay a trace under a grid of pruning configurations", cmd_sweep},
    {"stability", "per-layer ranking stability of a trace (Kendall tau, gamma, overlap)",
     cmd_stability},
    {"merge", "merge the outputs of sharded trace or sweep runs", cmd_merge},
    {"synth", "write a Hugging Face folder with generated weights for a config", cmd_synth},
    {"quantize", "write a GPTQ 4- or 8-bit copy of a model folder (round to nearest)",
     cmd_quantize},
};

static void cli_print_help(FILE *out) {
    fprintf(out, "usage: grating <command> [options]\n\n"
                 "grating runs full and pruned forwards of cross-encoder rerankers and\n"
                 "records per-layer scores (see README.md).\n\ncommands:\n");
    for (size_t i = 0; i < sizeof cli_commands / sizeof cli_commands[0]; i++)
        fprintf(out, "  %-10s %s\n", cli_commands[i].name, cli_commands[i].summary);
    fprintf(out, "  %-10s %s\n", "help", "this text, or `grating help <command>`");
    fprintf(out, "\nRun `grating <command> --help` for the options of a command.\n");
}

// OpenMP (oneDNN's and the kernels' threads) waits passively unless the user
// says otherwise: libgomp reads OMP_WAIT_POLICY once, before main, so the
// process re-executes itself with it set. Measured on this 2-core machine
// under load (load average 4): a 2-thread oneDNN score of 30 documents took
// 13.1 s with libgomp's default spinning and 1.56 s with passive waiting
// (1 thread: 1.37 s). GRATING_OMP_WAIT_KEEP=1 keeps the default.
static void cli_omp_wait_passive(char **argv) {
    if (getenv("OMP_WAIT_POLICY") || getenv("GRATING_OMP_WAIT_KEEP")) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return;
    execv("/proc/self/exe", argv); // returns only on failure: run on as we are
}

int main(int argc, char **argv) {
    cli_omp_wait_passive(argv);
    cli_backend_default(); // the fastest matmul backend built in; --backend overrides
    if (argc < 2) {
        cli_print_help(stderr);
        return 2;
    }
    const char *name = argv[1];
    if (strcmp(name, "help") == 0 || strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) {
        if (argc >= 3 && strcmp(name, "help") == 0) {
            for (size_t i = 0; i < sizeof cli_commands / sizeof cli_commands[0]; i++) {
                if (strcmp(cli_commands[i].name, argv[2]) == 0) {
                    char *help_argv[] = {argv[2], "--help", NULL};
                    return cli_commands[i].run(2, help_argv);
                }
            }
            fprintf(stderr, "grating: unknown command '%s'\n", argv[2]);
            return 2;
        }
        cli_print_help(stdout);
        return 0;
    }
    if (strcmp(name, "--version") == 0 || strcmp(name, "version") == 0) {
        printf("grating %s\n", GRATING_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof cli_commands / sizeof cli_commands[0]; i++)
        if (strcmp(cli_commands[i].name, name) == 0) return cli_commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "grating: unknown command '%s' (see `grating help`)\n", name);
    return 2;
}
