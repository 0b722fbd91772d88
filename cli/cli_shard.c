// Parsing of --shard i/n, shared by the commands that split work by query.
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cli_parse_shard(const char *text, size_t *index, size_t *count) {
    char *end;
    long i = strtol(text, &end, 10);
    if (end == text || *end != '/') return 0;
    const char *p = end + 1;
    long n = strtol(p, &end, 10);
    if (end == p || *end || n < 1 || i < 0 || i >= n) return 0;
    *index = (size_t)i;
    *count = (size_t)n;
    return 1;
}

char *cli_join_argv(int argc, char **argv) {
    size_t n = 8;
    for (int i = 0; i < argc; i++) n += strlen(argv[i]) + 3;
    char *s = malloc(n);
    if (!s) return NULL;
    size_t o = (size_t)snprintf(s, n, "grating");
    for (int i = 0; i < argc; i++) o += (size_t)snprintf(s + o, n - o, " %s", argv[i]);
    return s;
}
