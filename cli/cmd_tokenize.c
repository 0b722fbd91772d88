#include "cli.h"

#include <stdio.h>

// Placeholder until the subcommand lands.
int cmd_tokenize(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "grating tokenize: not implemented yet\n");
    return 1;
}
