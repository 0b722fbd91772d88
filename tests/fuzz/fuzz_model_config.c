// fuzz_model_config.c - core/model/model_config.c: the input is one config.json.
// A config that loads is expanded into its tensor list and a small batch is
// checked against it.
#include "fuzz_util.h"
#include "model/model_config.h"

#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("config.json", data, size);
    model_config cfg;
    if (fuzz_note(model_config_load(&cfg, path), "model_config_load") != STATUS_OK) return 0;
    // What load() promises.
    if (cfg.vocab_size <= 0 || cfg.hidden_size <= 0 || cfg.n_layers <= 0 || cfg.n_heads <= 0 ||
        cfg.n_kv_heads <= 0 || cfg.head_dim <= 0 || cfg.intermediate_size <= 0 ||
        cfg.max_position_embeddings <= 0)
        abort();
    tensor_spec *specs = NULL;
    size_t n = 0;
    if (model_config_tensor_specs(&cfg, &specs, &n) == STATUS_OK) {
        // Every layer of the config has its tensors (a count truncated on the
        // way, e.g. 2^32 + 1 layers read as 1, breaks this).
        int64_t last_layer = -1;
        for (size_t i = 0; i < n; i++) {
            if (specs[i].n_dims < 1 || specs[i].n_dims > TENSOR_MAX_DIMS) abort();
            if (specs[i].layer > last_layer) last_layer = specs[i].layer;
            (void)tensor_spec_numel(&specs[i]);
        }
        if (last_layer + 1 != cfg.n_layers) {
            fprintf(stderr,
                    "fuzz_model_config: num_hidden_layers %lld but tensors for %lld layers\n",
                    (long long)cfg.n_layers, (long long)(last_layer + 1));
            abort();
        }
        free(specs);
    }
    size_t start[2] = {0, 3}, len[2] = {3, 2};
    int32_t ids[5] = {0, 1, 2, 3, 4};
    (void)model_config_check_batch(&cfg, 2, start, len, 5, ids);
    return 0;
}
