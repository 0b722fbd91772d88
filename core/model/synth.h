/*
 * synth.h - writing a complete Hugging Face model folder with generated
 * weights for a config.json, so that real architectures (whose weights are
 * not available offline) can be run, benchmarked and tested end to end.
 *
 *     synth_options o;
 *     synth_options_default(&o);
 *     o.config_path = "../shared/models/ms-marco-MiniLM-L-6-v2/config.json";
 *     o.out_dir = "/tmp/minilm";
 *     o.dtype = SAFETENSORS_BF16;
 *     synth_report r;
 *     if (synth_write(&o, &r) != STATUS_OK) fprintf(stderr, "%s\n", status_message());
 *
 * The folder holds config.json (copied byte for byte), the tokenizer files
 * found next to the config (or, when there are none, a vocabulary the
 * family generates: arch_ops.synth_tokenizer) and model.safetensors (or shards + index) with every
 * tensor of model_config_tensor_specs() in its exact shape.
 *
 * Determinism: the values depend only on (seed, tensor index, scale, dtype).
 * Each tensor has its own MT19937 stream (GSL) seeded from (seed, index);
 * uniform values are built from the integer output with one exactly rounded
 * float multiply (no libm, no fused multiply-add), so two machines write
 * byte-identical files. Tensors are generated and written in blocks of
 * SYNTH_BLOCK values: memory stays small whatever the model size.
 *
 * Initialisation: every tensor of the family's table (core/model/arch.h)
 * names its kind, uniform(-a, a) with a = std * sqrt(3):
 *   ARCH_INIT_WEIGHT  matrices and embeddings   std 0.02 * scale
 *   ARCH_INIT_BIAS    biases, LayerNorm biases  std 0.02
 *   ARCH_INIT_NORM    LayerNorm/RMSNorm weights 1 + uniform(-0.1, 0.1)
 *   ARCH_INIT_HEAD    classifier weights        std 0.5 (so scores spread)
 * Post-LN stacks stay finite with these; pre-norm keeps every block's input
 * at unit RMS at any depth, and norm weights near 1 (e.g. per-head q/k
 * norms) give attention logits of RMS ~1, not uniform attention, so scores
 * differ between inputs.
 *
 * The folder is written as OUT.tmp-XXXXXX (missing parent folders of OUT are
 * created first) and renamed to OUT at the end; on failure the temporary
 * folder is removed. OUT must not exist or be empty, unless force is set
 * (then it is replaced).
 */
#ifndef GRATING_SYNTH_H
#define GRATING_SYNTH_H

#include "model/model_config.h"
#include "io/gptq.h"
#include "io/safetensors.h"
#include "base/status.h"

#include <stddef.h>
#include <stdint.h>

// Values generated (and converted, and written) per step.
enum { SYNTH_BLOCK = 1 << 16 };

// The default shard limit of transformers' save_pretrained ("5GB").
#define SYNTH_DEFAULT_MAX_SHARD_BYTES 5000000000ull

typedef struct {
    const char *config_path;  // a config.json (any file name)
    const char *out_dir;      // the folder to create
    uint64_t seed;            // default 0
    safetensors_dtype dtype;  // F32 (default), F16 or BF16
    uint64_t max_shard_bytes; // default SYNTH_DEFAULT_MAX_SHARD_BYTES
    double scale;             // multiplies the std of matrices and embeddings; default 1
    int force;                // replace a non-empty out_dir
    // bits 0 (default): plain weights. 4 or 8: the generated model is then
    // GPTQ-quantized (core/model/quantize.h) before the folder is put in
    // place, as `grating synth` followed by `grating quantize` would.
    gptq_config gptq;
} synth_options;

typedef struct {
    size_t n_tensors;
    size_t n_shards;
    uint64_t n_params;
    uint64_t weight_bytes; // tensor data over all shards
    int tokenizer_copied;  // number of tokenizer files copied from the config's folder
    int vocab_generated;   // 1 when vocab.txt was generated
    double seconds;
} synth_report;

void synth_options_default(synth_options *o);

// Writes the folder (see above). *report may be NULL.
status synth_write(const synth_options *o, synth_report *report);

// Copies the tokenizer files of a model folder that exist in src_dir
// (tokenizer.json, vocab.txt, ... as synth copies them) into dst_dir;
// *copied = how many.
status synth_copy_tokenizer_files(const char *src_dir, const char *dst_dir, int *copied);

// The first `count` values (count <= numel) of tensor `index` (spec =
// specs[index]) for `seed`: what synth_write() streams into the file before
// conversion to the file dtype. Exposed for tests.
status synth_tensor_values(const tensor_spec *spec, size_t index, uint64_t seed, double scale,
                           float *dst, size_t count);

// Parses a byte size: "123", "500MB", "2GB", "1.5GB", "64KiB", "5GiB"
// (KB/MB/GB/TB powers of 1000, KiB/MiB/GiB/TiB powers of 1024, case
// insensitive, as transformers' max_shard_size).
status synth_parse_size(const char *text, uint64_t *out);

#endif
