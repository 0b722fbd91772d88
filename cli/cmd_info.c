// grating info: what a Hugging Face model folder holds (architecture, sizes,
// parameters, dtypes, bytes per layer), after full validation by
// checkpoint_open().
#include "cli.h"

#include "checkpoint.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void cmd_info_usage(FILE *out) {
    fprintf(out,
            "usage: grating info --model DIR [--json]\n\n"
            "Opens and validates a Hugging Face model folder (config.json + model.safetensors\n"
            "or sharded safetensors with model.safetensors.index.json) and describes it.\n\n"
            "  --model DIR   the model folder\n"
            "  --json        print one JSON object instead of text\n"
            "  --help        this text\n");
}

// "1,234,567"
static const char *cmd_info_grouped(uint64_t v, char *buf, size_t cap) {
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)v);
    size_t at = 0;
    for (int i = 0; i < n && at + 2 < cap; i++) {
        if (i > 0 && (n - i) % 3 == 0) buf[at++] = ',';
        buf[at++] = digits[i];
    }
    buf[at] = '\0';
    return buf;
}

static double cmd_info_mib(uint64_t bytes) {
    return (double)bytes / (1024.0 * 1024.0);
}

// The distinct dtypes of the architecture's tensors, e.g. "F32" or "BF16, F32".
static void cmd_info_dtypes(const checkpoint *ck, char *buf, size_t cap) {
    int seen[SAFETENSORS_N_DTYPES] = {0};
    for (size_t i = 0; i < ck->n_specs; i++) {
        checkpoint_tensor t;
        if (checkpoint_find(ck, ck->specs[i].name, &t) == STATUS_OK) seen[t.info->dtype] = 1;
    }
    size_t at = 0;
    buf[0] = '\0';
    for (int d = 0; d < SAFETENSORS_N_DTYPES; d++)
        if (seen[d] && at < cap)
            at += (size_t)snprintf(buf + at, cap - at, "%s%s", at ? ", " : "",
                                   safetensors_dtype_name((safetensors_dtype)d));
}

static int cmd_info_json(const checkpoint *ck, const char *dtypes) {
    const model_config *c = checkpoint_config(ck);
    cJSON *o = cJSON_CreateObject();
    cJSON *layers = NULL;
    if (!o) return 1;
    checkpoint_bytes emb = checkpoint_embedding_bytes(ck), head = checkpoint_head_bytes(ck);
    cJSON_AddStringToObject(o, "model", ck->dir);
    cJSON_AddStringToObject(o, "architecture", c->arch_name);
    cJSON_AddNumberToObject(o, "layers", (double)c->n_layers);
    cJSON_AddNumberToObject(o, "hidden_size", (double)c->hidden_size);
    cJSON_AddNumberToObject(o, "heads", (double)c->n_heads);
    cJSON_AddNumberToObject(o, "kv_heads", (double)c->n_kv_heads);
    cJSON_AddNumberToObject(o, "head_dim", (double)c->head_dim);
    cJSON_AddNumberToObject(o, "intermediate_size", (double)c->intermediate_size);
    cJSON_AddNumberToObject(o, "vocab_size", (double)c->vocab_size);
    cJSON_AddNumberToObject(o, "max_position_embeddings", (double)c->max_position_embeddings);
    cJSON_AddNumberToObject(o, "parameters", (double)checkpoint_param_count(ck));
    // dtypes is "F32" or "BF16, F32": one array entry per name.
    cJSON *dts = cJSON_AddArrayToObject(o, "dtypes");
    char copy[128];
    snprintf(copy, sizeof copy, "%s", dtypes);
    for (char *save = NULL, *tok = strtok_r(copy, ", ", &save); dts && tok;
         tok = strtok_r(NULL, ", ", &save))
        cJSON_AddItemToArray(dts, cJSON_CreateString(tok));
    cJSON_AddNumberToObject(o, "shards", (double)ck->n_shards);
    cJSON_AddBoolToObject(o, "sharded", ck->sharded);
    cJSON_AddNumberToObject(o, "embedding_bytes_disk", (double)emb.disk);
    cJSON_AddNumberToObject(o, "embedding_bytes_f32", (double)emb.f32);
    cJSON_AddNumberToObject(o, "head_bytes_disk", (double)head.disk);
    cJSON_AddNumberToObject(o, "head_bytes_f32", (double)head.f32);
    layers = cJSON_AddArrayToObject(o, "layer_bytes");
    for (int l = 0; layers && l < c->n_layers; l++) {
        checkpoint_bytes b;
        checkpoint_layer_bytes(ck, l, &b);
        cJSON *e = cJSON_CreateObject();
        if (!e) break;
        cJSON_AddNumberToObject(e, "disk", (double)b.disk);
        cJSON_AddNumberToObject(e, "f32", (double)b.f32);
        cJSON_AddItemToArray(layers, e);
    }
    char *text = cJSON_Print(o);
    cJSON_Delete(o);
    if (!text) {
        fprintf(stderr, "grating info: out of memory\n");
        return 1;
    }
    printf("%s\n", text);
    free(text);
    return 0;
}

static int cmd_info_text(const checkpoint *ck, const char *dtypes) {
    const model_config *c = checkpoint_config(ck);
    char g[40];
    checkpoint_bytes emb = checkpoint_embedding_bytes(ck), head = checkpoint_head_bytes(ck);
    printf("model:              %s\n", ck->dir);
    printf("architecture:       %s\n", c->arch_name);
    printf("layers:             %lld\n", (long long)c->n_layers);
    printf("hidden size:        %lld\n", (long long)c->hidden_size);
    printf("heads:              %lld query, %lld key/value (head dim %lld)\n", (long long)c->n_heads,
           (long long)c->n_kv_heads, (long long)c->head_dim);
    printf("intermediate size:  %lld\n", (long long)c->intermediate_size);
    printf("vocab size:         %lld\n", (long long)c->vocab_size);
    printf("max positions:      %lld\n", (long long)c->max_position_embeddings);
    printf("parameters:         %s\n", cmd_info_grouped(checkpoint_param_count(ck), g, sizeof g));
    printf("dtype on disk:      %s\n", dtypes);
    printf("weight files:       %zu%s\n", ck->n_shards,
           ck->sharded ? " shards (model.safetensors.index.json)" : " (model.safetensors)");
    // Layers of one model have identical shapes; print each only if they differ.
    checkpoint_bytes first;
    int uniform = 1;
    checkpoint_layer_bytes(ck, 0, &first);
    for (int l = 1; l < c->n_layers; l++) {
        checkpoint_bytes b;
        checkpoint_layer_bytes(ck, l, &b);
        uniform = uniform && b.disk == first.disk && b.f32 == first.f32;
    }
    if (uniform) {
        printf("bytes per layer:    %s on disk", cmd_info_grouped(first.disk, g, sizeof g));
        printf(", %s as f32 (%.2f MiB)\n", cmd_info_grouped(first.f32, g, sizeof g),
               cmd_info_mib(first.f32));
    } else {
        for (int l = 0; l < c->n_layers; l++) {
            checkpoint_bytes b;
            checkpoint_layer_bytes(ck, l, &b);
            printf("bytes of layer %-3d  %s on disk", l, cmd_info_grouped(b.disk, g, sizeof g));
            printf(", %s as f32\n", cmd_info_grouped(b.f32, g, sizeof g));
        }
    }
    printf("embedding bytes:    %s on disk", cmd_info_grouped(emb.disk, g, sizeof g));
    printf(", %s as f32 (%.2f MiB)\n", cmd_info_grouped(emb.f32, g, sizeof g),
           cmd_info_mib(emb.f32));
    printf("head bytes:         %s on disk", cmd_info_grouped(head.disk, g, sizeof g));
    printf(", %s as f32\n", cmd_info_grouped(head.f32, g, sizeof g));
    return 0;
}

int cmd_info(int argc, char **argv) {
    static const struct option long_opts[] = {
        {"model", required_argument, NULL, 'm'},
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *dir = NULL;
    int json = 0;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        switch (c) {
        case 'm':
            dir = optarg;
            break;
        case 'j':
            json = 1;
            break;
        case 'h':
            cmd_info_usage(stdout);
            return 0;
        default:
            fprintf(stderr, "grating info: unknown or incomplete option '%s'\n", argv[optind - 1]);
            cmd_info_usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "grating info: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (!dir) {
        fprintf(stderr, "grating info: --model DIR is required\n");
        cmd_info_usage(stderr);
        return 2;
    }
    checkpoint ck;
    if (checkpoint_open(&ck, dir) != STATUS_OK) {
        fprintf(stderr, "grating info: %s\n", status_message());
        return 1;
    }
    char dtypes[128];
    cmd_info_dtypes(&ck, dtypes, sizeof dtypes);
    int rc = json ? cmd_info_json(&ck, dtypes) : cmd_info_text(&ck, dtypes);
    checkpoint_close(&ck);
    return rc;
}
