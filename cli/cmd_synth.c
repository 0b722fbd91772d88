// grating synth: a Hugging Face model folder with generated weights for a
// config.json (see core/model/synth.h for the initialisation and determinism).
#include "cli.h"

#include "model/synth.h"

#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void cmd_synth_usage(FILE *out) {
    fprintf(out,
            "usage: grating synth --config FILE --out DIR [--seed S] [--dtype f32|f16|bf16]\n"
            "                     [--max-shard-size BYTES] [--scale X] [--force]\n"
            "                     [--bits 4|8 [--group N] [--sym|--asym] [--desc-act]]\n\n"
            "Writes a complete Hugging Face model folder for the architecture of FILE\n"
            "(config.json): config.json copied byte for byte, the tokenizer files found next\n"
            "to FILE (or a vocabulary the family generates), and generated weights of the exact\n"
            "shapes, deterministic for a seed on every machine.\n\n"
            "  --config FILE          the config.json to build\n"
            "  --out DIR              the folder to write (must not exist or be empty; missing\n"
            "                         parent folders are created)\n"
            "  --seed S               RNG seed (default 0)\n"
            "  --dtype T              f32 (default), f16 or bf16\n"
            "  --max-shard-size N     shard limit like save_pretrained: bytes or 500MB, 2GB,\n"
            "                         1GiB... (default 5GB; larger models get shards + index)\n"
            "  --scale X              multiply the std of matrices and embeddings (default 1)\n"
            "  --force                replace DIR if it exists and is not empty\n"
            "  --bits B               GPTQ-quantize the layers' Linear weights to 4 or 8 bits\n"
            "                         (as `grating quantize` does on the generated folder;\n"
            "                         --group, --sym/--asym, --desc-act as there)\n"
            "  --help                 this text\n");
}

static int cmd_synth_cmp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// Lists what ended up in the folder (names and sizes) on stderr.
static void cmd_synth_list(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    char *names[256];
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256)
        if (e->d_name[0] != '.' && (names[n] = strdup(e->d_name)) != NULL) n++;
    closedir(d);
    qsort(names, n, sizeof *names, cmd_synth_cmp);
    for (size_t i = 0; i < n; i++) {
        char path[4096];
        struct stat sb;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        if (stat(path, &sb) == 0)
            fprintf(stderr, "  %-36s %12lld bytes\n", names[i], (long long)sb.st_size);
        free(names[i]);
    }
}

int cmd_synth(int argc, char **argv) {
    static const struct option long_opts[] = {
        {"config", required_argument, NULL, 'c'},
        CLI_OPTS_OUTPUT,
        {"seed", required_argument, NULL, 's'},
        {"dtype", required_argument, NULL, 'd'},
        {"max-shard-size", required_argument, NULL, 'm'},
        {"scale", required_argument, NULL, 'x'},
        CLI_OPTS_GPTQ,
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    synth_options o;
    synth_options_default(&o);
    o.gptq.group_size = 128; // the GPTQ options, used with --bits
    o.gptq.sym = 1;
    cli_common_opts co = {0};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        int shared = cli_common_parse("synth", c, optarg, &co);
        if (!shared) shared = cli_gptq_parse("synth", c, optarg, &o.gptq);
        if (shared < 0) return 2;
        if (shared) continue;
        char *end = NULL;
        switch (c) {
        case 'c':
            o.config_path = optarg;
            break;
        case 's':
            o.seed = strtoull(optarg, &end, 10);
            if (!*optarg || *end || optarg[0] == '-') {
                fprintf(stderr, "grating synth: --seed '%s': expected a non-negative integer\n",
                        optarg);
                return 2;
            }
            break;
        case 'd':
            if (strcmp(optarg, "f32") == 0 || strcmp(optarg, "F32") == 0)
                o.dtype = SAFETENSORS_F32;
            else if (strcmp(optarg, "f16") == 0 || strcmp(optarg, "F16") == 0)
                o.dtype = SAFETENSORS_F16;
            else if (strcmp(optarg, "bf16") == 0 || strcmp(optarg, "BF16") == 0)
                o.dtype = SAFETENSORS_BF16;
            else {
                fprintf(stderr, "grating synth: --dtype '%s': expected f32, f16 or bf16\n", optarg);
                return 2;
            }
            break;
        case 'm':
            if (synth_parse_size(optarg, &o.max_shard_bytes) != STATUS_OK) {
                fprintf(stderr, "grating synth: --max-shard-size: %s\n", status_message());
                return 2;
            }
            break;
        case 'x':
            o.scale = strtod(optarg, &end);
            if (!*optarg || *end || !(o.scale > 0 && o.scale < 1e6)) {
                fprintf(stderr, "grating synth: --scale '%s': expected a positive number\n",
                        optarg);
                return 2;
            }
            break;
        case 'h':
            cmd_synth_usage(stdout);
            return 0;
        default:
            fprintf(stderr, "grating synth: unknown or incomplete option '%s'\n", argv[optind - 1]);
            cmd_synth_usage(stderr);
            return 2;
        }
    }
    o.out_dir = co.out;
    o.force = co.force;
    if (optind < argc) {
        fprintf(stderr, "grating synth: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!o.config_path || !o.out_dir) {
        fprintf(stderr, "grating synth: --config and --out are required\n");
        cmd_synth_usage(stderr);
        return 2;
    }
    synth_report r;
    if (synth_write(&o, &r) != STATUS_OK) {
        fprintf(stderr, "grating synth: %s\n", status_message());
        return 1;
    }
    fprintf(stderr,
            "grating synth: wrote %s: %zu tensors, %llu parameters, %llu bytes of %s weights in "
            "%zu file%s, %s, seed %llu, %.2f s\n",
            o.out_dir, r.n_tensors, (unsigned long long)r.n_params,
            (unsigned long long)r.weight_bytes, safetensors_dtype_name(o.dtype), r.n_shards,
            r.n_shards == 1 ? "" : "s + index",
            r.vocab_generated ? "generated vocab.txt"
                              : (r.tokenizer_copied ? "tokenizer files copied" : "no tokenizer"),
            (unsigned long long)o.seed, r.seconds);
    if (o.gptq.bits)
        fprintf(stderr,
                "grating synth: layer weights GPTQ %d-bit (group %d, %s%s); the other tensors %s\n",
                o.gptq.bits, o.gptq.group_size, o.gptq.sym ? "sym" : "asym",
                o.gptq.desc_act ? ", act-order" : "", safetensors_dtype_name(o.dtype));
    cmd_synth_list(o.out_dir);
    return 0;
}
