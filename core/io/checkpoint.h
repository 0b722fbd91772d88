/*
 * checkpoint.h - a Hugging Face model folder as users download it:
 * config.json plus model.safetensors, or plus model.safetensors.index.json
 * and its shards (model-00001-of-0000n.safetensors ...).
 *
 * checkpoint_open() reads the config, opens every weight file (headers only)
 * and checks that every tensor the architecture needs (model_config_tensor_specs)
 * is present with the expected shape and a float dtype (F32/F16/BF16). After
 * that, weights are read on demand into the caller's buffers; nothing of the
 * weights is kept in memory here, so a model larger than RAM can be streamed
 * layer by layer.
 *
 *     checkpoint ck;
 *     if (checkpoint_open(&ck, "models/ms-marco-MiniLM-L-6-v2") != STATUS_OK) {
 *         fprintf(stderr, "grating: %s\n", status_message());
 *         return 1;
 *     }
 *     size_t n = (size_t)(ck.cfg.hidden_size * ck.cfg.hidden_size);
 *     float *wq = mem_alloc(MEM_WEIGHTS, n * sizeof *wq); // (hidden, hidden)
 *     st = checkpoint_read_f32(&ck, "encoder.layer.0.attention.self.query.weight", wq, n);
 *     ...
 *     checkpoint_close(&ck);
 *
 * Names are the Hugging Face names of model_config_tensor_specs(); the legacy
 * aliases of old TF-converted checkpoints (LayerNorm.gamma / .beta for
 * LayerNorm.weight / .bias) are resolved by checkpoint_find(), which every
 * other lookup goes through.
 *
 * Thread safety: after checkpoint_open() the struct is read-only and all reads
 * use pread(), so any number of threads may call checkpoint_find() and
 * checkpoint_read_*() concurrently (e.g. an I/O thread prefetching layer l+1).
 */
#ifndef GRATING_CHECKPOINT_H
#define GRATING_CHECKPOINT_H

#include "model/model_config.h"
#include "io/safetensors.h"
#include "base/status.h"
#include "base/strmap.h"

#include <stddef.h>
#include <stdint.h>

struct gptq_config;

typedef struct {
    char *dir;          // the folder as given
    char *weights_path; // DIR/model.safetensors or DIR/model.safetensors.index.json
    model_config cfg;   // from DIR/config.json
    tensor_spec *specs; // (n_specs,) what the architecture expects, in model order
    size_t n_specs;
    safetensors_file *shards; // (n_shards,) 1 when not sharded
    size_t n_shards;
    int sharded;  // 1 when read through the index JSON
    strmap names; // tensor name -> shard index << 32 | tensor index in shard
    // Stored tensors that no spec reads (names owned by the shards), e.g.
    // layers beyond num_hidden_layers; only non-empty when opened with
    // allow_unused_tensors. Buffers transformers recomputes (position_ids,
    // rotary inv_freq, a tied lm_head) are not listed.
    const char **unused; // (n_unused,)
    size_t n_unused;
    // config.json's GPTQ quantization_config (core/io/gptq.h), NULL when the
    // checkpoint is not quantized. Then a 2-D layer weight "X.weight" may be
    // stored as X.qweight/qzeros/scales/g_idx instead; the reads below
    // dequantize it to f32.
    struct gptq_config *gptq;
} checkpoint;

typedef struct {
    // 0 (default): a stored tensor that the architecture does not read is an
    // error listing them (a checkpoint with more layers than config.json
    // would otherwise run as a different, truncated model); 1: accepted and
    // listed in ck->unused.
    int allow_unused_tensors;
} checkpoint_options;

// Where a tensor lives.
typedef struct {
    const safetensors_tensor *info; // name as stored (may be an alias), dtype, shape, bytes
    const safetensors_file *file;   // the shard holding it
    size_t shard;                   // index in ck->shards
} checkpoint_tensor;

// Bytes of a group of tensors as stored in the files and once widened to f32.
typedef struct {
    uint64_t disk;
    uint64_t f32;
} checkpoint_bytes;

// Opens and validates the folder. On failure nothing needs closing.
// checkpoint_open: default options (unused tensors refused).
status checkpoint_open(checkpoint *ck, const char *dir);
status checkpoint_open_ex(checkpoint *ck, const char *dir, const checkpoint_options *opt);

// Closes every shard and frees everything. Safe on a zeroed struct.
void checkpoint_close(checkpoint *ck);

// The architecture (same as &ck->cfg).
const model_config *checkpoint_config(const checkpoint *ck);

// Looks a tensor up by its Hugging Face name (aliases resolved). Fails with
// STATUS_ERR_MISSING naming the weights file and the tensor.
status checkpoint_find(const checkpoint *ck, const char *name, checkpoint_tensor *out);

// The GPTQ quantization of the checkpoint, or NULL when not quantized.
const struct gptq_config *checkpoint_gptq(const checkpoint *ck);

// 1 when `name` (a weight of the architecture) is stored GPTQ-quantized.
int checkpoint_is_quantized(const checkpoint *ck, const char *name);

// Reads a whole tensor as f32 (a GPTQ-quantized weight is dequantized). numel must equal the
// tensor's element count (a mismatch is STATUS_ERR_SHAPE naming file, tensor, expected and found).
status checkpoint_read_f32(const checkpoint *ck, const char *name, float *dst, size_t numel);

// Reads elements [first, first + count) of the flattened tensor as f32
// (dequantized when GPTQ-quantized), e.g.
// rows r..r+k of the word embeddings: first = r * hidden, count = k * hidden.
// Reads a floating tensor as bf16 (uint16 bits) into dst (numel elements):
// a BF16 tensor is copied, F32 and F16 ones are rounded to nearest even
// (blocks of a fixed size on the stack: no allocation). Same checks as
// checkpoint_read_f32.
status checkpoint_read_bf16(const checkpoint *ck, const char *name, uint16_t *dst, size_t numel);
status checkpoint_read_f32_range(const checkpoint *ck, const char *name, size_t first, size_t count,
                                 float *dst);

// Reads the stored bytes unchanged (n_bytes must equal the stored size); see
// checkpoint_find() for the dtype.
status checkpoint_read_raw(const checkpoint *ck, const char *name, void *dst, size_t n_bytes);

// Bytes of layer `layer` (all specs with spec.layer == layer).
status checkpoint_layer_bytes(const checkpoint *ck, int layer, checkpoint_bytes *out);

// Bytes of the tensors before the layer stack (embeddings) and after it
// (e.g. a pooler and classifier).
checkpoint_bytes checkpoint_embedding_bytes(const checkpoint *ck);
checkpoint_bytes checkpoint_head_bytes(const checkpoint *ck);

// Cold-cache runs: drops the page-cache pages of every weight file (shard)
// so that the next reads come from the disk, as on a first run after boot.
// Per shard: fdatasync (dirty pages, e.g. of a just-written checkpoint, are
// not dropped) then posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED). Needs no
// privileges (unlike /proc/sys/vm/drop_caches) and touches only these files.
// Pages mapped by another process stay; on tmpfs the pages are the file, so
// nothing is dropped (core/io/direct_io.h: direct_io_cached_bytes checks).
status checkpoint_drop_page_cache(const checkpoint *ck);

// Number of parameters of the architecture (sum of spec sizes; extra stored
// buffers such as position_ids are not parameters).
uint64_t checkpoint_param_count(const checkpoint *ck);

#endif
