#include "cli.h"

#include <stdio.h>

// Placeholder until the subcommand lands.
int cmd_synth(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "grating synth: not implemented yet\n");
    return 1;
}
