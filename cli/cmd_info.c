#include "cli.h"

#include <stdio.h>

// Placeholder until the subcommand lands.
int cmd_info(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "grating info: not implemented yet\n");
    return 1;
}
