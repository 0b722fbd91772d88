/*
 * safetensors_writer.h - writing .safetensors files as a stream: the tensors
 * are declared up front (so the header with all offsets can be written
 * first), then their data is written in declaration order, in pieces of any
 * size, from f32 values converted to the file dtype (F32, F16 or BF16,
 * rounding to nearest even). A tensor never has to be in memory as a whole.
 *
 * The file is written as PATH.tmp and renamed to PATH by finish(), so a
 * crashed or aborted writer never leaves a file that looks complete;
 * safetensors_writer_free() without a successful finish() removes PATH.tmp.
 *
 *     safetensors_writer w;
 *     int64_t shape[2] = {2, 3};
 *     status st;
 *     if ((st = safetensors_writer_init(&w, "out.safetensors")) ||
 *         (st = safetensors_writer_add(&w, "w", SAFETENSORS_BF16, 2, shape)) ||
 *         (st = safetensors_writer_write_f32(&w, "w", first3, 3)) ||  // any split
 *         (st = safetensors_writer_write_f32(&w, "w", last3, 3)) ||
 *         (st = safetensors_writer_finish(&w))) { ... }
 *     safetensors_writer_free(&w);
 *
 * The header is what the Hugging Face writer produces: compact JSON with
 * "__metadata__": {"format": "pt"} first, padded with spaces so the data
 * starts at a multiple of 8 bytes. Tensors are laid out in declaration order.
 *
 * Whole models: safetensors_model_writer splits a tensor list into shards of
 * at most S bytes with the algorithm of huggingface_hub
 * (split_torch_state_dict_into_shards) and writes model.safetensors (one
 * shard) or model-00001-of-0000n.safetensors ... plus
 * model.safetensors.index.json (metadata.total_size and the sorted
 * weight_map, indented as json.dumps(indent=2, sort_keys=True) does).
 *
 * Not thread-safe: one writer per thread.
 */
#ifndef GRATING_SAFETENSORS_WRITER_H
#define GRATING_SAFETENSORS_WRITER_H

#include "io/safetensors.h"
#include "base/status.h"

#include <stddef.h>
#include <stdint.h>

// One tensor to write.
typedef struct {
    const char *name;
    safetensors_dtype dtype; // F32, F16, BF16, or I32 (written with the _i32 calls)
    int n_dims;
    int64_t shape[SAFETENSORS_MAX_DIMS];
} safetensors_decl;

// Internal per-tensor state of a writer.
typedef struct {
    char *name;
    safetensors_dtype dtype;
    int n_dims;
    int64_t shape[SAFETENSORS_MAX_DIMS];
    uint64_t numel;
    uint64_t begin, end; // data_offsets
} safetensors_writer_entry;

typedef struct {
    char *path;                        // final path
    char *tmp_path;                    // PATH.tmp while writing
    int fd;                            // -1 until the header is written
    safetensors_writer_entry *entries; // (n_entries,)
    size_t n_entries, cap;
    uint64_t data_bytes; // size of the data region
    size_t current;      // entry being written
    uint64_t done;       // values of the current entry already written
    uint16_t *stage;     // (SAFETENSORS_WRITER_STAGE,) conversion buffer for 16-bit dtypes
    int header_written, finished;
} safetensors_writer;

// Values converted per write() call for 16-bit dtypes.
enum { SAFETENSORS_WRITER_STAGE = 1 << 16 };

// Starts a writer for `path` (nothing is created yet).
status safetensors_writer_init(safetensors_writer *w, const char *path);

// Declares the next tensor. Only before the first write.
status safetensors_writer_add(safetensors_writer *w, const char *name, safetensors_dtype dtype,
                              int n_dims, const int64_t *shape);

// Creates PATH.tmp and writes the header. Optional: the first write or
// finish() does it.
status safetensors_writer_write_header(safetensors_writer *w);

// Appends `count` values of tensor `name`, which must be the first tensor
// not yet complete (declaration order); count may be any part of the rest
// of that tensor (0 completes an empty tensor).
status safetensors_writer_write_f32(safetensors_writer *w, const char *name, const float *src,
                                    size_t count);

// As write_f32 for a tensor declared I32 (e.g. GPTQ's packed weights,
// core/io/gptq.h): the values are written unchanged.
status safetensors_writer_write_i32(safetensors_writer *w, const char *name, const int32_t *src,
                                    size_t count);

// Checks every tensor is complete, closes and renames PATH.tmp to PATH.
status safetensors_writer_finish(safetensors_writer *w);

// Frees the writer; removes PATH.tmp unless finish() succeeded.
void safetensors_writer_free(safetensors_writer *w);

// Bytes of one tensor of `dtype` and `shape` in a file.
uint64_t safetensors_decl_bytes(const safetensors_decl *d);

// Assigns each of the n tensors a shard (shard_of, (n,)) so that no shard
// exceeds max_shard_bytes, except a tensor larger than that alone, exactly as
// huggingface_hub does (including putting such a tensor in a shard of its
// own ahead of the shard being filled). max_shard_bytes == 0: one shard.
status safetensors_shard_plan(const safetensors_decl *decls, size_t n, uint64_t max_shard_bytes,
                              size_t *shard_of, size_t *n_shards);

typedef struct {
    char *dir;
    safetensors_decl *decls; // (n,) names point into name copies owned here
    char **names;            // (n,)
    size_t n;
    size_t *shard_of;      // (n,)
    size_t *left_in_shard; // (n_shards,) tensors of the shard not yet complete
    size_t n_shards;
    safetensors_writer *shards; // (n_shards,)
    size_t current;             // tensor being written (declaration order)
    uint64_t done;              // values of it already written
    uint64_t total_size;        // bytes of tensor data over all shards
    int finished;
} safetensors_model_writer;

// Plans the shards for dir (which must exist); nothing is written yet.
status safetensors_model_writer_init(safetensors_model_writer *w, const char *dir,
                                     const safetensors_decl *decls, size_t n,
                                     uint64_t max_shard_bytes);

// As safetensors_writer_write_f32, over the whole model in declaration
// order; a shard is renamed into place as soon as its last tensor is done.
status safetensors_model_writer_write_f32(safetensors_model_writer *w, const char *name,
                                          const float *src, size_t count);

// As safetensors_writer_write_i32, over the whole model.
status safetensors_model_writer_write_i32(safetensors_model_writer *w, const char *name,
                                          const int32_t *src, size_t count);

// Checks completeness and writes model.safetensors.index.json when sharded.
status safetensors_model_writer_finish(safetensors_model_writer *w);

// Frees; unless finish() succeeded, removes every file written so far.
void safetensors_model_writer_free(safetensors_model_writer *w);

// The file name of shard i (0-based) of n: "model.safetensors" when n == 1,
// else "model-%05zu-of-%05zu.safetensors".
void safetensors_shard_name(size_t i, size_t n, char *buf, size_t cap);

#endif
