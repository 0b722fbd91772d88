#include "cli.h"

#include <stdio.h>

// Placeholder until the subcommand lands.
int cmd_score(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "grating score: not implemented yet\n");
    return 1;
}
