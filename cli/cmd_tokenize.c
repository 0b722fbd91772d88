// grating tokenize: encode a (query, document) pair, or one text, exactly as
// the model's Hugging Face tokenizer does (see core/wordpiece.h).
#include "cli.h"

#include "wordpiece.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void tokenize_usage(FILE *out) {
    fprintf(out,
            "usage: grating tokenize --model DIR --query TEXT [--doc TEXT] [--max-len N] [--json]\n"
            "\n"
            "Encodes `[CLS] query [SEP] doc [SEP]` (only the document is truncated to fit\n"
            "--max-len) or, without --doc, `[CLS] query [SEP]`, with the tokenizer of the\n"
            "Hugging Face model folder DIR (tokenizer.json, else vocab.txt).\n"
            "\n"
            "options:\n"
            "  --model DIR    model folder\n"
            "  --query TEXT   first text (the query)\n"
            "  --doc TEXT     second text (the document)\n"
            "  --max-len N    maximum total length including special tokens (default 512)\n"
            "  --json         print {\"input_ids\":[...],\"token_type_ids\":[...]}\n"
            "  --help         this text\n");
}

static void tokenize_print_json(const wordpiece_encoding *enc) {
    printf("{\"input_ids\":[");
    for (size_t i = 0; i < enc->len; i++)
        printf(i ? ",%d" : "%d", enc->ids[i]);
    printf("],\"token_type_ids\":[");
    for (size_t i = 0; i < enc->len; i++)
        printf(i ? ",%d" : "%d", enc->type_ids[i]);
    printf("]}\n");
}

static void tokenize_print_table(const wordpiece *wp, const wordpiece_encoding *enc) {
    printf("%5s  %6s  %-24s %s\n", "pos", "id", "token", "type");
    for (size_t i = 0; i < enc->len; i++) {
        const char *tok = wordpiece_id_to_token(wp, enc->ids[i]);
        printf("%5zu  %6d  %-24s %d\n", i, enc->ids[i], tok ? tok : "?", enc->type_ids[i]);
    }
    printf("%zu tokens (query %zu, document %zu%s)\n", enc->len, enc->n_first, enc->n_second,
           enc->truncated ? ", truncated" : "");
}

int cmd_tokenize(int argc, char **argv) {
    static const struct option options[] = {
        {"model", required_argument, NULL, 'm'},
        {"query", required_argument, NULL, 'q'},
        {"doc", required_argument, NULL, 'd'},
        {"max-len", required_argument, NULL, 'n'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *model = NULL, *query = NULL, *doc = NULL;
    size_t max_len = 512;
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

    wordpiece wp;
    if (wordpiece_load(&wp, model) != STATUS_OK) {
        fprintf(stderr, "grating tokenize: %s\n", status_message());
        return 1;
    }
    wordpiece_encoding enc = {0};
    status st =
        doc ? wordpiece_encode_pair(&wp, query, strlen(query), doc, strlen(doc), max_len, &enc)
            : wordpiece_encode_single(&wp, query, strlen(query), max_len, &enc);
    int rc = 0;
    if (st != STATUS_OK) {
        fprintf(stderr, "grating tokenize: %s\n", status_message());
        rc = 1;
    } else if (json) {
        tokenize_print_json(&enc);
    } else {
        tokenize_print_table(&wp, &enc);
    }
    wordpiece_encoding_free(&enc);
    wordpiece_free(&wp);
    return rc;
}
