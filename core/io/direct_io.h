/*
 * direct_io.h - reading checkpoint tensors with O_DIRECT (bypassing the page
 * cache), the weight window's optional read path, and checking how much of a
 * file the page cache holds.
 *
 * Why: with buffered pread a "cold" layer read is only cold once; the kernel
 * also keeps every streamed layer in the page cache, which then competes
 * with the process for RAM (the pages are not in the process's RSS, but they
 * are memory a device does not have to spare). O_DIRECT reads go from the
 * disk straight into our buffer and leave nothing behind.
 *
 * O_DIRECT needs the file offset, the length and the buffer address aligned
 * to the device's logical block size. Tensors in a safetensors file start at
 * arbitrary byte offsets, so every tensor is read as the aligned range that
 * covers it, in pieces of at most `staging_bytes`, into an aligned staging
 * buffer, and the tensor's bytes are copied out of it (then F16/BF16 are
 * widened to f32 exactly like safetensors_read_f32). No tensor falls back to
 * buffered reads. The alignment used is DIRECT_IO_ALIGN (4096): a multiple
 * of every common logical block size (512, 4096), so it is valid whatever
 * the device reports; the price is at most 2 * 4095 extra bytes per piece.
 *
 *     direct_io io;
 *     if (direct_io_open(&io, &ck, DIRECT_IO_DEFAULT_STAGING) != STATUS_OK) ...
 *     st = direct_io_read_f32(&io, &ck, "model.layers.3.mlp.up_proj.weight", slot, numel);
 *     direct_io_close(&io);
 *
 * Filesystems without O_DIRECT (tmpfs, some overlays) fail direct_io_open
 * with STATUS_ERR_UNSUPPORTED naming the file: the caller decides (the CLI
 * reports it; nothing silently falls back). One direct_io is used by one
 * thread at a time (it owns one staging buffer): the weight window's reader.
 */
#ifndef GRATING_DIRECT_IO_H
#define GRATING_DIRECT_IO_H

#include "io/checkpoint.h"
#include "base/status.h"

#include <stddef.h>
#include <stdint.h>

enum { DIRECT_IO_ALIGN = 4096 };
// 4 MiB staging (MEM_OTHER): large enough that requests stay efficient.
#define DIRECT_IO_DEFAULT_STAGING ((size_t)4 << 20)

typedef struct {
    int *fds; // (n_fds,) O_DIRECT descriptors of the checkpoint's shards, in order
    size_t n_fds;
    void *block;            // mem_alloc block holding the staging buffer
    unsigned char *staging; // (staging_bytes,) DIRECT_IO_ALIGN-aligned, inside block
    size_t staging_bytes;
    uint64_t bytes_read; // from the disk, alignment padding included
} direct_io;

// Opens every shard of ck again with O_DIRECT and allocates the staging
// buffer (staging_bytes rounded up to DIRECT_IO_ALIGN, at least one block).
// On failure nothing needs closing.
status direct_io_open(direct_io *io, const checkpoint *ck, size_t staging_bytes);
// Closes the descriptors and frees the buffer. Safe on a zeroed struct.
void direct_io_close(direct_io *io);

// As checkpoint_read_f32 (same checks, same messages, same values), read
// with O_DIRECT. `ck` must be the checkpoint `io` was opened for.
status direct_io_read_f32(direct_io *io, const checkpoint *ck, const char *name, float *dst,
                          size_t numel);

// Bytes of the file at `path` that are in the page cache now (mincore over
// a read-only mapping), and its size. For tests and cold-run reports.
// The same as bf16 (checkpoint_read_bf16): a BF16 tensor with O_DIRECT; an
// F16 one with O_DIRECT then converted in place; an F32 one (twice the bytes
// of dst) through checkpoint_read_bf16's buffered blocks.
status direct_io_read_bf16(direct_io *io, const checkpoint *ck, const char *name, uint16_t *dst,
                           size_t numel);

status direct_io_cached_bytes(const char *path, uint64_t *cached, uint64_t *size);

#endif
