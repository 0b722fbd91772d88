/*
 * quantize.h - writing a GPTQ-quantized copy of a model folder (`grating
 * quantize`, `grating synth --bits`): every 2-D layer weight of the family's
 * table (ARCH_T_LAYER with two dimensions: the Linear weights of the blocks)
 * becomes X.qweight/qzeros/scales/g_idx in AutoGPTQ's v1 layout by
 * round-to-nearest (core/io/gptq.h has the layout and the rounding
 * convention); every other tensor (embeddings, norms, biases, heads) is
 * copied in its stored dtype, value for value. config.json gets
 * "quantization_config" (quant_method gptq, checkpoint_format gptq) and the
 * tokenizer files are copied, so that the folder loads as AutoGPTQ's and
 * transformers' GPTQ checkpoints do (and as they do in grating).
 *
 * desc_act: without calibration data there is no Hessian, so the act-order
 * permutation is the input columns by descending L2 norm of W's columns
 * (gptq_g_idx_act_order), recorded in g_idx as GPTQ does.
 *
 * Memory: one tensor at a time in f32 plus its quantized form.
 *
 *     quantize_options o = {.in_dir = "m", .out_dir = "m-w4", .gptq = {4, 128, 1, 0}};
 *     if (quantize_write(&o, NULL) != STATUS_OK) fprintf(stderr, "%s\n", status_message());
 */
#ifndef GRATING_QUANTIZE_H
#define GRATING_QUANTIZE_H

#include "io/gptq.h"
#include "io/safetensors.h"
#include "base/status.h"

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *in_dir;  // a model folder of any registered family (not quantized)
    const char *out_dir; // the folder to write (staged, then renamed into place)
    gptq_config gptq;
    int force; // replace a non-empty out_dir
} quantize_options;

typedef struct {
    size_t n_quantized;   // weights quantized
    size_t n_copied;      // tensors copied as stored
    uint64_t bytes_in;    // tensor data read
    uint64_t bytes_out;   // tensor data written
    double max_abs_err;   // largest |W - dequant(W)| over the quantized weights
    int tokenizer_copied; // tokenizer files copied
    double seconds;
} quantize_report;

// Writes the quantized folder (see above). *report may be NULL.
status quantize_write(const quantize_options *o, quantize_report *report);

// The same into an existing empty folder dst (no staging): for callers that
// stage themselves (synth --bits).
status quantize_write_into(const char *in_dir, const char *dst, const gptq_config *c,
                           quantize_report *report);

#endif
