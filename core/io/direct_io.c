#include "io/direct_io.h"
#include "base/half.h"
#include "base/mem.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

status direct_io_open(direct_io *io, const checkpoint *ck, size_t staging_bytes) {
    memset(io, 0, sizeof *io);
    size_t staging = (staging_bytes + DIRECT_IO_ALIGN - 1) / DIRECT_IO_ALIGN * DIRECT_IO_ALIGN;
    if (staging == 0) staging = DIRECT_IO_ALIGN;
    // mem_alloc aligns to 64 bytes: over-allocate one block and align inside.
    io->block = mem_alloc(MEM_OTHER, staging + DIRECT_IO_ALIGN);
    io->fds = mem_alloc(MEM_OTHER, (ck->n_shards ? ck->n_shards : 1) * sizeof *io->fds);
    if (!io->block || !io->fds) {
        direct_io_close(io);
        return status_wrap(STATUS_ERR_NOMEM, "O_DIRECT staging buffer of %zu bytes", staging);
    }
    uintptr_t p = ((uintptr_t)io->block + DIRECT_IO_ALIGN - 1) & ~(uintptr_t)(DIRECT_IO_ALIGN - 1);
    io->staging = (unsigned char *)p;
    io->staging_bytes = staging;
    for (size_t i = 0; i < ck->n_shards; i++) {
        const char *path = ck->shards[i].path;
        int fd = open(path, O_RDONLY | O_DIRECT | O_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            direct_io_close(io);
            if (e == EINVAL)
                return status_fail(STATUS_ERR_UNSUPPORTED,
                                   "%s: the filesystem does not support O_DIRECT reads (open: %s)",
                                   path, strerror(e));
            return status_fail(STATUS_ERR_IO, "%s: cannot open with O_DIRECT: %s", path,
                               strerror(e));
        }
        io->fds[io->n_fds++] = fd;
    }
    return STATUS_OK;
}

void direct_io_close(direct_io *io) {
    for (size_t i = 0; i < io->n_fds; i++)
        close(io->fds[i]);
    mem_free(io->fds);
    mem_free(io->block);
    memset(io, 0, sizeof *io);
}

// Copies the file bytes [offset, offset + n) into dst through the staging
// buffer, reading aligned pieces. A piece that ends before the bytes it must
// cover means the file shrank.
static status direct_io_copy(direct_io *io, int fd, const char *path, const char *what,
                             uint64_t offset, size_t n, unsigned char *dst) {
    const uint64_t mask = DIRECT_IO_ALIGN - 1;
    size_t done = 0;
    while (done < n) {
        uint64_t pos = offset + done, start = pos & ~mask;
        size_t lead = (size_t)(pos - start);
        size_t want = lead + (n - done);
        want = (want + mask) & ~(size_t)mask;
        if (want > io->staging_bytes) want = io->staging_bytes;
        ssize_t got = pread(fd, io->staging, want, (off_t)start);
        if (got < 0) {
            if (errno == EINTR) continue;
            return status_fail(STATUS_ERR_IO, "%s: %s: O_DIRECT read error at byte %llu: %s", path,
                               what, (unsigned long long)start, strerror(errno));
        }
        io->bytes_read += (uint64_t)got;
        if ((size_t)got <= lead)
            return status_fail(STATUS_ERR_IO,
                               "%s: %s: short read (%zu of %zu bytes at offset %llu; file "
                               "truncated?)",
                               path, what, done, n, (unsigned long long)offset);
        size_t take = (size_t)got - lead;
        if (take > n - done) take = n - done;
        memcpy(dst + done, io->staging + lead, take);
        done += take;
    }
    return STATUS_OK;
}

status direct_io_read_f32(direct_io *io, const checkpoint *ck, const char *name, float *dst,
                          size_t numel) {
    // A GPTQ-quantized weight is dequantized from its packed tensors (a few
    // bytes per value) with buffered reads: there is no f32 tensor to stream.
    if (checkpoint_is_quantized(ck, name)) return checkpoint_read_f32(ck, name, dst, numel);
    checkpoint_tensor t;
    status st = checkpoint_find(ck, name, &t);
    if (st != STATUS_OK) return st;
    const safetensors_tensor *info = t.info;
    if (t.shard >= io->n_fds)
        return status_fail(STATUS_ERR_ARG, "%s: O_DIRECT reader was opened for another checkpoint",
                           t.file->path);
    if (!safetensors_dtype_is_float(info->dtype))
        return status_fail(STATUS_ERR_UNSUPPORTED,
                           "%s: tensor '%s' has dtype %s, which cannot be read as f32 (expected "
                           "F32, F16 or BF16)",
                           t.file->path, info->name, safetensors_dtype_name(info->dtype));
    if (numel != (size_t)info->numel) {
        char sh[160];
        safetensors_shape_str(info->shape, info->n_dims, sh, sizeof sh);
        return status_fail(STATUS_ERR_SHAPE,
                           "%s: tensor '%s' has %lld elements (shape %s), caller expected %zu",
                           t.file->path, info->name, (long long)info->numel, sh, numel);
    }
    unsigned char *bytes = (unsigned char *)dst;
    if (info->dtype == SAFETENSORS_F32)
        return direct_io_copy(io, io->fds[t.shard], t.file->path, info->name, info->offset,
                              numel * sizeof *dst, bytes);
    // 16-bit: the stored bytes into the upper half of dst, then widened front
    // to back (element i is read before float i overwrites it; see
    // safetensors_read_f32_range).
    unsigned char *src = bytes + numel * 2;
    st = direct_io_copy(io, io->fds[t.shard], t.file->path, info->name, info->offset, numel * 2,
                        src);
    if (st != STATUS_OK) return st;
    int bf16 = info->dtype == SAFETENSORS_BF16;
    for (size_t i = 0; i < numel; i++) {
        uint16_t h;
        memcpy(&h, src + 2 * i, 2);
        float v = bf16 ? half_bf16_to_f32(h) : half_f16_to_f32(h);
        memcpy(bytes + 4 * i, &v, 4);
    }
    return STATUS_OK;
}

status direct_io_read_bf16(direct_io *io, const checkpoint *ck, const char *name, uint16_t *dst,
                           size_t numel) {
    if (checkpoint_is_quantized(ck, name)) return checkpoint_read_bf16(ck, name, dst, numel);
    checkpoint_tensor t;
    status st = checkpoint_find(ck, name, &t);
    if (st != STATUS_OK) return st;
    const safetensors_tensor *info = t.info;
    if (info->dtype == SAFETENSORS_F32 || (size_t)info->numel != numel || t.shard >= io->n_fds)
        return checkpoint_read_bf16(ck, name, dst, numel); // its checks and messages
    if (info->dtype != SAFETENSORS_BF16 && info->dtype != SAFETENSORS_F16)
        return checkpoint_read_bf16(ck, name, dst, numel);
    st = direct_io_copy(io, io->fds[t.shard], t.file->path, info->name, info->offset, numel * 2,
                        (unsigned char *)dst);
    if (st != STATUS_OK || info->dtype == SAFETENSORS_BF16) return st;
    for (size_t i = 0; i < numel; i++)
        dst[i] = half_f32_to_bf16(half_f16_to_f32(dst[i]));
    return STATUS_OK;
}

status direct_io_cached_bytes(const char *path, uint64_t *cached, uint64_t *size) {
    *cached = *size = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return status_fail(STATUS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return status_fail(STATUS_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    *size = (uint64_t)sb.st_size;
    if (sb.st_size == 0) {
        close(fd);
        return STATUS_OK;
    }
    size_t len = (size_t)sb.st_size;
    void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return status_fail(STATUS_ERR_IO, "%s: cannot map to query the page cache: %s", path,
                           strerror(errno));
    long page = sysconf(_SC_PAGESIZE);
    size_t psz = page > 0 ? (size_t)page : 4096, pages = (len + psz - 1) / psz;
    unsigned char *vec = malloc(pages);
    status st = STATUS_OK;
    if (!vec) {
        st = status_fail(STATUS_ERR_NOMEM, "%s: page-cache query of %zu pages", path, pages);
    } else if (mincore(map, len, vec) != 0) {
        st = status_fail(STATUS_ERR_IO, "%s: mincore: %s", path, strerror(errno));
    } else {
        uint64_t n = 0;
        for (size_t i = 0; i < pages; i++)
            n += vec[i] & 1;
        *cached = n * psz > *size ? *size : n * psz;
    }
    free(vec);
    munmap(map, len);
    return st;
}
