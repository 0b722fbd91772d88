// fuzz_checkpoint.c - core/io/checkpoint.c: a model folder.
// Input: config.json FUZZ_SEPARATOR model.safetensors, or, with three or more
// parts, config.json / model.safetensors.index.json / the shards
// model-00001-of-0000n.safetensors ... (n = parts - 2).
// A folder that opens has every expected tensor read.
#include "io/checkpoint.h"
#include "fuzz_util.h"
#include "io/safetensors_writer.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SHARDS 4
#define READ_CAP   (1u << 22) // bytes of f32 read per tensor at most

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_part parts[2 + MAX_SHARDS];
    size_t n = fuzz_split(data, size, parts, 2 + MAX_SHARDS);
    fuzz_remove("model.safetensors");
    fuzz_remove("model.safetensors.index.json");
    for (size_t i = 0; i < MAX_SHARDS; i++)
        for (size_t of = 1; of <= MAX_SHARDS; of++) {
            char name[64];
            safetensors_shard_name(i, of, name, sizeof name);
            fuzz_remove(name);
        }
    fuzz_write("config.json", parts[0].data, parts[0].size);
    if (n == 2) {
        fuzz_write("model.safetensors", parts[1].data, parts[1].size);
    } else if (n > 2) {
        fuzz_write("model.safetensors.index.json", parts[1].data, parts[1].size);
        for (size_t i = 2; i < n; i++) {
            char name[64];
            safetensors_shard_name(i - 2, n - 2, name, sizeof name);
            fuzz_write(name, parts[i].data, parts[i].size);
        }
    }
    checkpoint ck;
    if (fuzz_note(checkpoint_open(&ck, fuzz_dir()), "checkpoint_open") != STATUS_OK) return 0;
    for (size_t i = 0; i < ck.n_specs; i++) {
        int64_t numel = tensor_spec_numel(&ck.specs[i]);
        if (numel <= 0 || (uint64_t)numel * 4 > READ_CAP) continue;
        float *dst = malloc((size_t)numel * sizeof *dst); // (numel,)
        if (!dst) abort();
        (void)checkpoint_read_f32(&ck, ck.specs[i].name, dst, (size_t)numel);
        free(dst);
    }
    for (int64_t l = 0; l < ck.cfg.n_layers && l < 64; l++) {
        checkpoint_bytes b;
        (void)checkpoint_layer_bytes(&ck, (int)l, &b);
    }
    (void)checkpoint_embedding_bytes(&ck);
    (void)checkpoint_head_bytes(&ck);
    (void)checkpoint_param_count(&ck);
    checkpoint_close(&ck);
    return 0;
}
