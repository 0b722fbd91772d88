/*
 * cli.h - subcommands of the grating binary and the option parser they share.
 *
 * A subcommand is `int cmd_x(int argc, char **argv)` where argv[0] is the
 * command name; it returns the process exit status (0 ok, 1 runtime error,
 * 2 usage error). Options are GNU long options (`--name value`,
 * `--name=value`, `--flag`).
 */
#ifndef GRATING_CLI_H
#define GRATING_CLI_H

#include <stddef.h>

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} cli_command;

int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_synth(int argc, char **argv);

#endif
