// fuzz_safetensors.c - core/io/safetensors.c: the input is one .safetensors file.
// Every tensor that opens is read (f32, a range, raw) and the header
// invariants that readers rely on are checked.
#include "fuzz_util.h"
#include "io/safetensors.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

// Largest tensor read whole (bytes of f32), to keep runs fast.
#define READ_CAP (1u << 22)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("model.safetensors", data, size);
    safetensors_file f;
    if (fuzz_note(safetensors_open(&f, path), "safetensors_open") != STATUS_OK) return 0;
    for (size_t i = 0; i < safetensors_count(&f); i++) {
        const safetensors_tensor *t = safetensors_at(&f, i);
        // What open() promises: sizes consistent and inside the file.
        if (t->numel < 0 || t->n_bytes != (uint64_t)t->numel * safetensors_dtype_size(t->dtype) ||
            t->offset < f.data_start || t->offset > f.file_size ||
            t->n_bytes > f.file_size - t->offset || safetensors_find(&f, t->name) != t)
            abort();
        char shape[256];
        safetensors_shape_str(t->shape, t->n_dims, shape, sizeof shape);
        if (t->n_bytes > READ_CAP || (uint64_t)t->numel * 4 > READ_CAP) continue;
        size_t numel = (size_t)t->numel;
        if (safetensors_dtype_is_float(t->dtype)) {
            float *dst = malloc(numel ? numel * sizeof *dst : 1); // (numel,)
            if (!dst) abort();
            (void)safetensors_read_f32(&f, t, dst, numel);
            if (numel > 1) (void)safetensors_read_f32_range(&f, t, 1, numel - 1, dst);
            (void)safetensors_read_f32_range(&f, t, numel, 1, dst); // out of range: an error
            free(dst);
        }
        void *raw = malloc(t->n_bytes ? t->n_bytes : 1);
        if (!raw) abort();
        (void)safetensors_read_raw(&f, t, raw, (size_t)t->n_bytes);
        free(raw);
    }
    const safetensors_tensor *missing;
    (void)safetensors_get(&f, "no.such.tensor", &missing);
    safetensors_close(&f);
    return 0;
}
