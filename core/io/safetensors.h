/*
 * safetensors.h - reading one .safetensors file (the Hugging Face weight
 * format) without mapping or slurping it.
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON
 * {"name": {"dtype": "F32", "shape": [r, c], "data_offsets": [b, e]}, ...,
 *  "__metadata__": {"k": "v"}}, then the data region; offsets are relative to
 * the start of the data region. safetensors_open() validates the whole header
 * (dtypes, shapes, sizes, bounds, overlaps) so that later reads only have to
 * handle I/O errors. Tensor data is read with pread() straight into the
 * caller's buffer; F16/BF16 are widened to f32 in place (no staging buffer).
 *
 *     safetensors_file f;
 *     if (safetensors_open(&f, "model.safetensors") != STATUS_OK) ...
 *     const safetensors_tensor *t;
 *     if (safetensors_get(&f, "classifier.weight", &t) != STATUS_OK) ...
 *     float *w = mem_alloc(MEM_WEIGHTS, (size_t)t->numel * sizeof *w); // (labels, hidden)
 *     status st = safetensors_read_f32(&f, t, w, (size_t)t->numel);
 *     safetensors_close(&f);
 *
 * Thread safety: after open, the file is read-only; reads use pread() on the
 * shared descriptor (no file position), so several threads (e.g. the layer
 * prefetch thread and the compute thread) may read concurrently. Errors go to
 * the calling thread's status message.
 *
 * The host must be little-endian (as the format is); this is checked at
 * compile time.
 */
#ifndef GRATING_SAFETENSORS_H
#define GRATING_SAFETENSORS_H

#include "base/status.h"
#include "base/strmap.h"

#include <stddef.h>
#include <stdint.h>

typedef enum {
    SAFETENSORS_F32 = 0,
    SAFETENSORS_F16,
    SAFETENSORS_BF16,
    // Accepted in a file (e.g. the I64 position_ids buffer HF saves) but not
    // readable as f32.
    SAFETENSORS_F64,
    SAFETENSORS_I64,
    SAFETENSORS_I32,
    SAFETENSORS_I16,
    SAFETENSORS_I8,
    SAFETENSORS_U8,
    SAFETENSORS_BOOL,
    SAFETENSORS_F8_E4M3,
    SAFETENSORS_F8_E5M2,
    SAFETENSORS_N_DTYPES
} safetensors_dtype;

// Most dims a tensor in a file may have (a file with more is rejected).
enum { SAFETENSORS_MAX_DIMS = 8 };

// Largest header accepted (the reference implementation's limit).
#define SAFETENSORS_MAX_HEADER_BYTES 100000000ull

typedef struct {
    const char *name; // owned by the safetensors_file
    safetensors_dtype dtype;
    int n_dims; // 0 for a scalar
    int64_t shape[SAFETENSORS_MAX_DIMS];
    int64_t numel;    // product of shape (1 for a scalar)
    uint64_t offset;  // absolute byte offset of the data in the file
    uint64_t n_bytes; // numel * safetensors_dtype_size(dtype)
} safetensors_tensor;

typedef struct {
    char *path;
    int fd;
    uint64_t file_size;
    uint64_t header_bytes;       // N
    uint64_t data_start;         // 8 + N
    safetensors_tensor *tensors; // (n_tensors,) in header order
    size_t n_tensors;
    strmap by_name; // name -> index in tensors
} safetensors_file;

// "F32", "BF16", ... as written in headers.
const char *safetensors_dtype_name(safetensors_dtype dt);

// Bytes per element.
size_t safetensors_dtype_size(safetensors_dtype dt);

// 1 for F32, F16 and BF16 (what safetensors_read_f32 converts).
int safetensors_dtype_is_float(safetensors_dtype dt);

// Parses a dtype name ("F16", ...). Fails with STATUS_ERR_UNSUPPORTED.
status safetensors_dtype_parse(const char *text, safetensors_dtype *out);

// Writes "[a, b, c]" into buf (truncated to cap bytes), for messages.
void safetensors_shape_str(const int64_t *shape, int n_dims, char *buf, size_t cap);

// Opens and validates path. On failure *f is left closed (no close needed).
status safetensors_open(safetensors_file *f, const char *path);

// Closes the file and frees everything. Safe on a zeroed struct.
void safetensors_close(safetensors_file *f);

// Number of tensors (not counting __metadata__).
size_t safetensors_count(const safetensors_file *f);

// The i-th tensor in header order.
const safetensors_tensor *safetensors_at(const safetensors_file *f, size_t i);

// The tensor called `name`, or NULL (no message recorded).
const safetensors_tensor *safetensors_find(const safetensors_file *f, const char *name);

// As safetensors_find, failing with STATUS_ERR_MISSING "FILE: no tensor 'X'".
status safetensors_get(const safetensors_file *f, const char *name, const safetensors_tensor **out);

// Reads the whole tensor as f32 into dst (numel floats; numel must equal
// t->numel). F16/BF16 are converted exactly.
status safetensors_read_f32(const safetensors_file *f, const safetensors_tensor *t, float *dst,
                            size_t numel);

// Reads elements [first, first + count) of the flattened tensor as f32 (e.g.
// a few rows of an embedding matrix).
status safetensors_read_f32_range(const safetensors_file *f, const safetensors_tensor *t,
                                  size_t first, size_t count, float *dst);

// Reads the stored bytes unchanged (n_bytes must equal t->n_bytes), e.g. to
// keep 16-bit weights 16-bit.
status safetensors_read_raw(const safetensors_file *f, const safetensors_tensor *t, void *dst,
                            size_t n_bytes);

#endif
