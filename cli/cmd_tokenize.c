// grating tokenize: the model's input ids for a (query, document) pair,
// exactly as Hugging Face builds them, through the tokenizer interface
// (core/tokenize/tokenizer.h): the tokenizer is the one the architecture
// registry (core/model/arch.h) names for config.json's architecture.
#include "cli.h"

#include "model/arch.h"
#include "model/model_config.h"
#include "tokenize/tokenizer.h"

#include <sys/stat.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// A folder without config.json (a bare tokenizer folder, e.g. vocab.txt)
// gets the tokenizer of the registry's first family (core/model/arch_registry.c).
#define TOKENIZE_DEFAULT_TOKENIZER (arch_list()[0]->tokenizer)

static void tokenize_usage(FILE *out) {
    fprintf(out,
            "usage: grating tokenize --model DIR --query TEXT [--doc TEXT] [--max-len N]\n"
            "                        [--instruction TEXT] [--json]\n"
            "\n"
            "Prints the input ids the model of folder DIR receives, built by the tokenizer\n"
            "and input template of the architecture in its config.json (no config.json:\n"
            "%s). Tokenizers:\n",
            TOKENIZE_DEFAULT_TOKENIZER);
    for (const tokenizer_ops *const *p = tokenizer_list(); *p; p++)
        fprintf(out, "  %-18s --max-len default %zu%s%s\n", (*p)->name, (*p)->default_max_len,
                (*p)->has_token_types ? ", token types" : "",
                (*p)->takes_instruction ? ", --instruction" : "");
    fprintf(out, "Without --doc the template's single-text form is printed. Only the document\n"
                 "(or the prompt body) is truncated to fit --max-len.\n"
                 "\n"
                 "options:\n"
                 "  --model DIR         model folder (config.json and the tokenizer; no weights)\n"
                 "  --query TEXT        first text (the query)\n"
                 "  --doc TEXT          second text (the document)\n"
                 "  --max-len N         maximum total length including special tokens (default:\n"
                 "                      the tokenizer's, as in the model card)\n"
                 "  --instruction TEXT  instruction of instruction-following templates (default:\n"
                 "                      the model card's)\n"
                 "  --json              print {\"input_ids\":[...]} plus \"token_type_ids\" when\n"
                 "                      the model has token types\n"
                 "  --help              this text\n");
}

static void tokenize_print_json(const tokenizer *t, const tokenizer_encoding *enc) {
    printf("{\"input_ids\":[");
    for (size_t i = 0; i < enc->len; i++)
        printf(i ? ",%d" : "%d", enc->ids[i]);
    if (t->ops->has_token_types) {
        printf("],\"token_type_ids\":[");
        for (size_t i = 0; i < enc->len; i++)
            printf(i ? ",%d" : "%d", enc->type_ids[i]);
    }
    printf("]}\n");
}

static void tokenize_print_table(const tokenizer *t, const tokenizer_encoding *enc) {
    int types = t->ops->has_token_types;
    if (types)
        printf("%5s  %6s  %-24s %s\n", "pos", "id", "token", "type");
    else
        printf("%5s  %6s  %s\n", "pos", "id", "token");
    for (size_t i = 0; i < enc->len; i++) {
        const char *tok = tokenizer_id_to_token(t, enc->ids[i]);
        if (types)
            printf("%5zu  %6d  %-24s %d\n", i, enc->ids[i], tok ? tok : "?", enc->type_ids[i]);
        else
            printf("%5zu  %6d  %s\n", i, enc->ids[i], tok ? tok : "?");
    }
    char parts[256];
    t->ops->describe(t, enc, parts, sizeof parts);
    printf("%zu tokens (%s)\n", enc->len, parts);
}

// The tokenizer registry name for folder `model`: the one the architecture
// registry gives config.json's architecture (the config fully checked, as
// every command does). A folder without config.json gets
// TOKENIZE_DEFAULT_TOKENIZER; a config.json that is there but unreadable or
// names an unknown architecture is an error.
static status tokenize_tokenizer_name(const char *model, const char **name) {
    char path[4200];
    struct stat sb;
    *name = TOKENIZE_DEFAULT_TOKENIZER;
    snprintf(path, sizeof path, "%s/config.json", model);
    if (lstat(path, &sb) != 0) return STATUS_OK;
    model_config cfg;
    status st = model_config_load(&cfg, path);
    if (st == STATUS_OK) *name = cfg.arch->tokenizer;
    return st;
}

int cmd_tokenize(int argc, char **argv) {
    static const struct option options[] = {
        {"model", required_argument, NULL, 'm'},
        {"query", required_argument, NULL, 'q'},
        {"doc", required_argument, NULL, 'd'},
        {"max-len", required_argument, NULL, 'n'},
        {"instruction", required_argument, NULL, 'i'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *model = NULL, *query = NULL, *doc = NULL, *instruction = NULL;
    size_t max_len = 0; // 0: the tokenizer's default
    int json = 0;
    optind = 1; // argv[0] is the command name, not the program
    opterr = 0; // report bad options with the "grating tokenize:" prefix below
    int c;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (c) {
        case 'm':
            model = optarg;
            break;
        case 'q':
            query = optarg;
            break;
        case 'd':
            doc = optarg;
            break;
        case 'n': {
            char *end;
            unsigned long long v = strtoull(optarg, &end, 10);
            if (*optarg == '\0' || *end != '\0' || optarg[0] == '-' || v == 0 || v > 1000000) {
                fprintf(stderr, "grating tokenize: --max-len '%s': expected a positive integer\n",
                        optarg);
                return 2;
            }
            max_len = (size_t)v;
            break;
        }
        case 'i':
            instruction = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            tokenize_usage(stdout);
            return 0;
        default:
            if (optopt && optopt != '?')
                fprintf(stderr, "grating tokenize: option needs a value: %s\n", argv[optind - 1]);
            else
                fprintf(stderr, "grating tokenize: unknown option '%s'\n", argv[optind - 1]);
            tokenize_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "grating tokenize: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!model || !query) {
        fprintf(stderr, "grating tokenize: --model and --query are required\n");
        tokenize_usage(stderr);
        return 2;
    }

    const char *name;
    if (tokenize_tokenizer_name(model, &name) != STATUS_OK) {
        fprintf(stderr, "grating tokenize: %s\n", status_message());
        return 1;
    }
    const tokenizer_ops *ops = tokenizer_find(name);
    if (ops && instruction && !ops->takes_instruction) {
        fprintf(stderr, "grating tokenize: --instruction: the tokenizer of %s (%s) takes none\n",
                model, name);
        return 2;
    }
    tokenizer t;
    if (tokenizer_open(&t, name, model, instruction) != STATUS_OK) {
        fprintf(stderr, "grating tokenize: %s\n", status_message());
        return 1;
    }
    if (!max_len) max_len = t.ops->default_max_len;
    tokenizer_encoding enc = {0};
    status st =
        tokenizer_encode_pair(&t, query, strlen(query), doc, doc ? strlen(doc) : 0, max_len, &enc);
    int rc = 0;
    if (st != STATUS_OK) {
        fprintf(stderr, "grating tokenize: %s\n", status_message());
        rc = 1;
    } else if (json) {
        tokenize_print_json(&t, &enc);
    } else {
        tokenize_print_table(&t, &enc);
    }
    tokenizer_encoding_free(&enc);
    tokenizer_close(&t);
    return rc;
}
