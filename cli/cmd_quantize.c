// grating quantize: a GPTQ-quantized (4- or 8-bit, round-to-nearest) copy of
// a model folder in AutoGPTQ's checkpoint format (core/model/quantize.h).
#include "cli.h"

#include "model/quantize.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void cmd_quantize_usage(FILE *out) {
    fprintf(out,
            "usage: grating quantize --in DIR --out DIR --bits 4|8 [--group N] [--sym|--asym]\n"
            "                        [--desc-act] [--force]\n\n"
            "Writes a GPTQ checkpoint of the model in DIR as AutoGPTQ and transformers write\n"
            "them (quantization_config in config.json, checkpoint_format \"gptq\"): every\n"
            "Linear weight of the layers becomes X.qweight/qzeros/scales/g_idx, quantized by\n"
            "round-to-nearest per group (no calibration data); every other tensor is copied\n"
            "in its dtype, and the tokenizer files are copied. Every command reads the\n"
            "result like the original folder (dequantized to f32 at load).\n\n"
            "  --in DIR       the model folder to quantize (any registered architecture)\n"
            "  --out DIR      the folder to write (must not exist or be empty; written to a\n"
            "                 temporary folder and renamed at the end)\n"
            "  --bits B       4 or 8\n"
            "  --group N      input columns per group (default 128; -1: one group per row)\n"
            "  --sym          symmetric: zero point 2^(B-1) (default)\n"
            "  --asym         asymmetric: zero point per group\n"
            "  --desc-act     act-order: groups follow the input columns by descending norm\n"
            "                 (recorded in g_idx; GPTQ orders them by its Hessian instead)\n"
            "  --force        replace DIR if it exists and is not empty\n"
            "  --help         this text\n");
}

int cmd_quantize(int argc, char **argv) {
    static const struct option long_opts[] = {
        {"in", required_argument, NULL, 'i'}, CLI_OPTS_OUTPUT,    CLI_OPTS_GPTQ,
        {"help", no_argument, NULL, 'h'},     {NULL, 0, NULL, 0},
    };
    quantize_options o = {.gptq = {.bits = 0, .group_size = 128, .sym = 1, .desc_act = 0}};
    cli_common_opts co = {0};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        int shared = cli_common_parse("quantize", c, optarg, &co);
        if (!shared) shared = cli_gptq_parse("quantize", c, optarg, &o.gptq);
        if (shared < 0) return 2;
        if (shared) continue;
        switch (c) {
        case 'i':
            o.in_dir = optarg;
            break;
        case 'h':
            cmd_quantize_usage(stdout);
            return 0;
        default:
            fprintf(stderr, "grating quantize: unknown or incomplete option '%s'\n",
                    argv[optind - 1]);
            cmd_quantize_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "grating quantize: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    o.out_dir = co.out;
    o.force = co.force;
    if (!o.in_dir || !o.out_dir || !o.gptq.bits) {
        fprintf(stderr, "grating quantize: --in, --out and --bits are required\n");
        cmd_quantize_usage(stderr);
        return 2;
    }
    quantize_report r;
    if (quantize_write(&o, &r) != STATUS_OK) {
        fprintf(stderr, "grating quantize: %s\n", status_message());
        return 1;
    }
    fprintf(stderr,
            "grating quantize: wrote %s: %zu weights quantized to %d bits (group %d, %s%s), %zu "
            "tensors copied, %llu -> %llu bytes of tensor data, max |W - dequant(W)| %.3g, %.2f "
            "s\n",
            o.out_dir, r.n_quantized, o.gptq.bits, o.gptq.group_size, o.gptq.sym ? "sym" : "asym",
            o.gptq.desc_act ? ", act-order" : "", r.n_copied, (unsigned long long)r.bytes_in,
            (unsigned long long)r.bytes_out, r.max_abs_err, r.seconds);
    return 0;
}
