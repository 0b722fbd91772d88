// grating tokenize: the model's input ids for a (query, document) pair,
// exactly as Hugging Face builds them: BERT `[CLS] query [SEP] doc [SEP]`
// (core/tokenize/wordpiece.h), Qwen3-Reranker the official prompt (core/tokenize/qwen_prompt.h).
#include "cli.h"

#include "tokenize/bpe.h"
#include "model/arch.h"
#include "tokenize/qwen_prompt.h"
#include "tokenize/wordpiece.h"

#include <sys/stat.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void tokenize_usage(FILE *out) {
    fprintf(out,
            "usage: grating tokenize --model DIR --query TEXT [--doc TEXT] [--max-len N]\n"
            "                        [--instruction TEXT] [--json]\n"
            "\n"
            "Prints the input ids the model of folder DIR receives, by the architecture of\n"
            "its config.json (no config.json: BERT):\n"
            "  BERT    `[CLS] query [SEP] doc [SEP]` (only the document is truncated to fit\n"
            "          --max-len) or, without --doc, `[CLS] query [SEP]` (tokenizer.json,\n"
            "          else vocab.txt);\n"
            "  Qwen3   the official Qwen3-Reranker prompt (system prefix, <Instruct>/<Query>/\n"
            "          <Document> body, assistant suffix; the body truncated to fit\n"
            "          --max-len), with an empty document without --doc.\n"
            "\n"
            "options:\n"
            "  --model DIR         model folder (config.json and the tokenizer; no weights)\n"
            "  --query TEXT        first text (the query)\n"
            "  --doc TEXT          second text (the document)\n"
            "  --max-len N         maximum total length including special tokens (default\n"
            "                      512 for BERT, 8192 for Qwen3 as in the model card)\n"
            "  --instruction TEXT  Qwen3 instruction (default: the model card's)\n"
            "  --json              print {\"input_ids\":[...],\"token_type_ids\":[...]} (BERT)\n"
            "                      or {\"input_ids\":[...]} (Qwen3)\n"
            "  --help              this text\n");
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

// Qwen3: the official prompt through core/tokenize/qwen_prompt.h.
static int tokenize_qwen3(const char *model, const char *instruction, const char *query,
                          const char *doc, size_t max_len, int json) {
    bpe tok;
    qwen_prompt qp;
    qwen_prompt_encoding enc = {0};
    status st = bpe_load(&tok, model);
    if (st != STATUS_OK) {
        fprintf(stderr, "grating tokenize: %s\n", status_message());
        return 1;
    }
    if ((st = qwen_prompt_init(&qp, &tok)) != STATUS_OK) {
        fprintf(stderr, "grating tokenize: %s\n", status_message());
        bpe_free(&tok);
        return 1;
    }
    st = qwen_prompt_encode(&qp, &tok, instruction, query, strlen(query), doc, strlen(doc), max_len,
                            &enc);
    int rc = 0;
    if (st != STATUS_OK) {
        fprintf(stderr, "grating tokenize: %s\n", status_message());
        rc = 1;
    } else if (json) {
        printf("{\"input_ids\":[");
        for (size_t i = 0; i < enc.len; i++)
            printf(i ? ",%d" : "%d", enc.ids[i]);
        printf("]}\n");
    } else {
        printf("%5s  %6s  %s\n", "pos", "id", "token");
        for (size_t i = 0; i < enc.len; i++) {
            const char *name = bpe_id_to_token(&tok, enc.ids[i]);
            printf("%5zu  %6d  %s\n", i, enc.ids[i], name ? name : "?");
        }
        printf("%zu tokens (prefix %zu, body %zu, suffix %zu%s)\n", enc.len, qp.n_prefix,
               enc.n_body, qp.n_suffix, enc.truncated ? ", body truncated" : "");
    }
    qwen_prompt_encoding_free(&enc);
    qwen_prompt_free(&qp);
    bpe_free(&tok);
    return rc;
}

// The architecture of DIR/config.json; a folder without one is BERT (a
// tokenizer folder of vocab.txt). A config.json that is there but unreadable
// or unknown is an error.
static status tokenize_arch(const char *model, const char **arch) {
    char path[4200];
    struct stat sb;
    *arch = "wordpiece-bert";
    snprintf(path, sizeof path, "%s/config.json", model);
    if (lstat(path, &sb) != 0) return STATUS_OK;
    model_config cfg;
    status st = model_config_load(&cfg, path);
    if (st == STATUS_OK) *arch = cfg.arch->tokenizer;
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
    size_t max_len = 0; // 0: the architecture's default
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

    const char *arch;
    if (tokenize_arch(model, &arch) != STATUS_OK) {
        fprintf(stderr, "grating tokenize: %s\n", status_message());
        return 1;
    }
    if (strcmp(arch, "bpe-qwen3-prompt") == 0)
        return tokenize_qwen3(model, instruction, query, doc ? doc : "", max_len ? max_len : 8192,
                              json);
    if (instruction) {
        fprintf(stderr, "grating tokenize: --instruction is for Qwen3 rerankers; %s is BERT\n",
                model);
        return 2;
    }
    if (!max_len) max_len = 512;
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
