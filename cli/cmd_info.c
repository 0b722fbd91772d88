// grating info: what a Hugging Face model folder holds (architecture, sizes,
// parameters, dtypes, bytes per layer). With weights, after full validation
// by checkpoint_open_ex(); without them (a folder of config.json alone), from
// the architecture's tensor list, saying that the weights are absent.
#include "cli.h"

#include "io/gptq.h"

#include "model/arch.h"

#include "io/checkpoint.h"

#include <cjson/cJSON.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void cmd_info_usage(FILE *out) {
    fprintf(out,
            "usage: grating info --model DIR [--json] [--allow-unused-tensors]\n"
            "       grating info --architectures [--json]\n\n"
            "Describes a Hugging Face model folder: config.json, plus model.safetensors or\n"
            "sharded safetensors with model.safetensors.index.json when present (then fully\n"
            "validated). Without weights, sizes come from config.json alone (bytes on disk\n"
            "from its torch_dtype) and the output says that the weights are absent.\n\n"
            "  --model DIR              the model folder\n"
            "  --json                   print one JSON object instead of text\n"
            "  --allow-unused-tensors   describe a checkpoint holding tensors the architecture\n"
            "                           does not read (listed) instead of refusing it\n"
            "  --architectures          list the registered model families: the config.json\n"
            "                           \"architectures\" names each accepts, its tokenizer and\n"
            "                           what its score is (core/model/arch_registry.c)\n"
            "  --help                   this text\n");
}

// The architecture registry, as text or JSON.
static int cmd_info_architectures(int json) {
    cJSON *arr = json ? cJSON_CreateArray() : NULL;
    if (json && !arr) return 1;
    if (!json) printf("%-8s %-40s %-20s %s\n", "family", "architectures", "tokenizer", "score");
    for (const arch_ops *const *a = arch_list(); *a; a++) {
        char names[512] = "";
        size_t used = 0;
        for (const char *const *n = (*a)->hf_architectures; *n && used < sizeof names; n++)
            used +=
                (size_t)snprintf(names + used, sizeof names - used, "%s%s", used ? "," : "", *n);
        if (!json) {
            printf("%-8s %-40s %-20s %s\n", (*a)->name, names, (*a)->tokenizer, (*a)->score_kind);
            continue;
        }
        cJSON *o = cJSON_CreateObject(), *hf = cJSON_CreateArray();
        if (!o || !hf) {
            cJSON_Delete(o);
            cJSON_Delete(hf);
            cJSON_Delete(arr);
            return 1;
        }
        cJSON_AddStringToObject(o, "family", (*a)->name);
        for (const char *const *n = (*a)->hf_architectures; *n; n++)
            cJSON_AddItemToArray(hf, cJSON_CreateString(*n));
        cJSON_AddItemToObject(o, "architectures", hf);
        cJSON_AddStringToObject(o, "tokenizer", (*a)->tokenizer);
        cJSON_AddStringToObject(o, "score_kind", (*a)->score_kind);
        cJSON_AddItemToArray(arr, o);
    }
    if (json) {
        char *text = cJSON_Print(arr);
        cJSON_Delete(arr);
        if (!text) return 1;
        printf("%s\n", text);
        cJSON_free(text);
    }
    return 0;
}

// The folder being described: a validated checkpoint, or config.json alone.
typedef struct {
    const char *dir;
    model_config cfg;
    checkpoint ck;
    int has_weights;
    tensor_spec *specs; // (n_specs,) the architecture's tensors
    size_t n_specs;
    char dtypes[128]; // "F32", "BF16, F32", or from torch_dtype
} info_model;

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

// Bytes of spec i: as stored, or from torch_dtype without weights (disk 0
// when torch_dtype is absent or not a float type).
static checkpoint_bytes cmd_info_spec_bytes(const info_model *im, size_t i) {
    uint64_t numel = (uint64_t)tensor_spec_numel(&im->specs[i]);
    checkpoint_bytes b = {numel * model_config_dtype_bytes(&im->cfg), numel * sizeof(float)};
    checkpoint_tensor t;
    if (im->has_weights && checkpoint_is_quantized(&im->ck, im->specs[i].name))
        b.disk = gptq_stored_bytes(&im->ck, im->specs[i].name); // packed weight + its groups
    else if (im->has_weights && checkpoint_find(&im->ck, im->specs[i].name, &t) == STATUS_OK)
        b.disk = t.info->n_bytes;
    return b;
}

// Bytes of the specs of layer `layer`, or (layer < 0) of those before the
// layer stack (after == 0: embeddings) or after it (after == 1: head).
static checkpoint_bytes cmd_info_group_bytes(const info_model *im, int64_t layer, int after) {
    checkpoint_bytes sum = {0, 0};
    int seen_layer = 0;
    for (size_t i = 0; i < im->n_specs; i++) {
        const tensor_spec *s = &im->specs[i];
        if (s->layer >= 0) seen_layer = 1;
        int take = layer >= 0 ? s->layer == layer : s->layer < 0 && seen_layer == after;
        if (!take) continue;
        checkpoint_bytes b = cmd_info_spec_bytes(im, i);
        sum.disk += b.disk;
        sum.f32 += b.f32;
    }
    return sum;
}

static uint64_t cmd_info_params(const info_model *im) {
    uint64_t n = 0;
    for (size_t i = 0; i < im->n_specs; i++)
        n += (uint64_t)tensor_spec_numel(&im->specs[i]);
    return n;
}

// The distinct dtypes of the architecture's tensors, e.g. "F32" or "BF16, F32".
static void cmd_info_dtypes(info_model *im) {
    char *buf = im->dtypes;
    size_t cap = sizeof im->dtypes, at = 0;
    buf[0] = '\0';
    if (!im->has_weights) { // torch_dtype, under the safetensors name when it has one
        static const char *names[][2] = {
            {"float32", "F32"}, {"float16", "F16"}, {"bfloat16", "BF16"}};
        const char *dt = im->cfg.torch_dtype[0] ? im->cfg.torch_dtype : "unknown";
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strcmp(dt, names[i][0]) == 0) dt = names[i][1];
        snprintf(buf, cap, "%s", dt);
        return;
    }
    int seen[SAFETENSORS_N_DTYPES] = {0};
    for (size_t i = 0; i < im->n_specs; i++) {
        checkpoint_tensor t;
        if (checkpoint_find(&im->ck, im->specs[i].name, &t) == STATUS_OK) seen[t.info->dtype] = 1;
    }
    for (int d = 0; d < SAFETENSORS_N_DTYPES; d++)
        if (seen[d] && at < cap)
            at += (size_t)snprintf(buf + at, cap - at, "%s%s", at ? ", " : "",
                                   safetensors_dtype_name((safetensors_dtype)d));
    const gptq_config *q = checkpoint_gptq(&im->ck);
    if (q && at < cap)
        snprintf(buf + at, cap - at, "; layer weights GPTQ %d-bit, group %d, %s%s", q->bits,
                 q->group_size, q->sym ? "sym" : "asym", q->desc_act ? ", act-order" : "");
}

static int cmd_info_disk_known(const info_model *im) {
    return im->has_weights || model_config_dtype_bytes(&im->cfg) > 0;
}

static void cmd_info_add_bytes(cJSON *o, const char *disk_key, const char *f32_key,
                               const info_model *im, checkpoint_bytes b) {
    if (cmd_info_disk_known(im))
        cJSON_AddNumberToObject(o, disk_key, (double)b.disk);
    else
        cJSON_AddNullToObject(o, disk_key);
    cJSON_AddNumberToObject(o, f32_key, (double)b.f32);
}

static int cmd_info_json(const info_model *im) {
    const model_config *c = &im->cfg;
    cJSON *o = cJSON_CreateObject();
    if (!o) return 1;
    cJSON_AddStringToObject(o, "model", im->dir);
    cJSON_AddStringToObject(o, "architecture", c->arch_name);
    cJSON_AddBoolToObject(o, "weights_present", im->has_weights);
    cJSON_AddStringToObject(o, "sizes_from", im->has_weights ? "checkpoint" : "config.json");
    cJSON_AddNumberToObject(o, "layers", (double)c->n_layers);
    cJSON_AddNumberToObject(o, "hidden_size", (double)c->hidden_size);
    cJSON_AddNumberToObject(o, "heads", (double)c->n_heads);
    cJSON_AddNumberToObject(o, "kv_heads", (double)c->n_kv_heads);
    cJSON_AddNumberToObject(o, "head_dim", (double)c->head_dim);
    cJSON_AddNumberToObject(o, "intermediate_size", (double)c->intermediate_size);
    cJSON_AddNumberToObject(o, "vocab_size", (double)c->vocab_size);
    cJSON_AddNumberToObject(o, "max_position_embeddings", (double)c->max_position_embeddings);
    cJSON_AddNumberToObject(o, "parameters", (double)cmd_info_params(im));
    // dtypes is "F32" or "BF16, F32": one array entry per name.
    cJSON *dts = cJSON_AddArrayToObject(o, "dtypes");
    char copy[128];
    snprintf(copy, sizeof copy, "%s", im->dtypes);
    for (char *save = NULL, *tok = strtok_r(copy, ", ", &save); dts && tok;
         tok = strtok_r(NULL, ", ", &save))
        cJSON_AddItemToArray(dts, cJSON_CreateString(tok));
    cJSON_AddNumberToObject(o, "shards", (double)im->ck.n_shards);
    cJSON_AddBoolToObject(o, "sharded", im->ck.sharded);
    cmd_info_add_bytes(o, "embedding_bytes_disk", "embedding_bytes_f32", im,
                       cmd_info_group_bytes(im, -1, 0));
    cmd_info_add_bytes(o, "head_bytes_disk", "head_bytes_f32", im, cmd_info_group_bytes(im, -1, 1));
    cJSON *layers = cJSON_AddArrayToObject(o, "layer_bytes");
    for (int64_t l = 0; layers && l < c->n_layers; l++) {
        cJSON *e = cJSON_CreateObject();
        if (!e) break;
        cmd_info_add_bytes(e, "disk", "f32", im, cmd_info_group_bytes(im, l, 0));
        cJSON_AddItemToArray(layers, e);
    }
    cJSON *unused = cJSON_AddArrayToObject(o, "unused_tensors");
    for (size_t i = 0; unused && i < im->ck.n_unused; i++)
        cJSON_AddItemToArray(unused, cJSON_CreateString(im->ck.unused[i]));
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

// "1,234 on disk" or "? on disk" (no weights and no torch_dtype).
static const char *cmd_info_disk(const info_model *im, uint64_t v, char *buf, size_t cap) {
    if (!cmd_info_disk_known(im)) return snprintf(buf, cap, "?"), buf;
    return cmd_info_grouped(v, buf, cap);
}

static int cmd_info_text(const info_model *im) {
    const model_config *c = &im->cfg;
    char g[40];
    checkpoint_bytes emb = cmd_info_group_bytes(im, -1, 0), head = cmd_info_group_bytes(im, -1, 1);
    printf("model:              %s\n", im->dir);
    printf("architecture:       %s\n", c->arch_name);
    printf("layers:             %lld\n", (long long)c->n_layers);
    printf("hidden size:        %lld\n", (long long)c->hidden_size);
    printf("heads:              %lld query, %lld key/value (head dim %lld)\n",
           (long long)c->n_heads, (long long)c->n_kv_heads, (long long)c->head_dim);
    printf("intermediate size:  %lld\n", (long long)c->intermediate_size);
    printf("vocab size:         %lld\n", (long long)c->vocab_size);
    printf("max positions:      %lld\n", (long long)c->max_position_embeddings);
    printf("parameters:         %s\n", cmd_info_grouped(cmd_info_params(im), g, sizeof g));
    if (im->has_weights) {
        printf("dtype on disk:      %s\n", im->dtypes);
        printf("weight files:       %zu%s\n", im->ck.n_shards,
               im->ck.sharded ? " shards (model.safetensors.index.json)" : " (model.safetensors)");
    } else {
        printf("dtype (config):     %s%s%s%s\n", im->dtypes,
               im->cfg.torch_dtype[0] ? " (torch_dtype " : "", im->cfg.torch_dtype,
               im->cfg.torch_dtype[0] ? ")" : "");
        printf("weights:            absent (no model.safetensors or "
               "model.safetensors.index.json): sizes computed from config.json%s\n",
               cmd_info_disk_known(im) ? "" : ", bytes on disk unknown (no torch_dtype)");
    }
    // Layers of one model have identical shapes; print each only if they differ.
    checkpoint_bytes first = cmd_info_group_bytes(im, 0, 0);
    int uniform = 1;
    for (int64_t l = 1; l < c->n_layers && uniform; l++) {
        checkpoint_bytes b = cmd_info_group_bytes(im, l, 0);
        uniform = b.disk == first.disk && b.f32 == first.f32;
    }
    if (uniform) {
        printf("bytes per layer:    %s on disk", cmd_info_disk(im, first.disk, g, sizeof g));
        printf(", %s as f32 (%.2f MiB)\n", cmd_info_grouped(first.f32, g, sizeof g),
               cmd_info_mib(first.f32));
    } else {
        for (int64_t l = 0; l < c->n_layers; l++) {
            checkpoint_bytes b = cmd_info_group_bytes(im, l, 0);
            printf("bytes of layer %-3lld  %s on disk", (long long)l,
                   cmd_info_disk(im, b.disk, g, sizeof g));
            printf(", %s as f32\n", cmd_info_grouped(b.f32, g, sizeof g));
        }
    }
    printf("embedding bytes:    %s on disk", cmd_info_disk(im, emb.disk, g, sizeof g));
    printf(", %s as f32 (%.2f MiB)\n", cmd_info_grouped(emb.f32, g, sizeof g),
           cmd_info_mib(emb.f32));
    printf("head bytes:         %s on disk", cmd_info_disk(im, head.disk, g, sizeof g));
    printf(", %s as f32\n", cmd_info_grouped(head.f32, g, sizeof g));
    if (im->ck.n_unused > 0) {
        printf("unused tensors:     %zu (not read by %s with %lld layers)\n", im->ck.n_unused,
               c->arch_name, (long long)c->n_layers);
        for (size_t i = 0; i < im->ck.n_unused; i++)
            printf("                    %s\n", im->ck.unused[i]);
    }
    return 0;
}

// 1 when DIR/name exists in any form (a broken link or a directory too: the
// checkpoint then says what is wrong with it).
static int cmd_info_exists(const char *dir, const char *name) {
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return lstat(path, &sb) == 0;
}

// Opens the folder: the checkpoint when weights are present, else the config.
static status cmd_info_open(info_model *im, const char *dir, int allow_unused) {
    memset(im, 0, sizeof *im);
    im->dir = dir;
    im->has_weights = cmd_info_exists(dir, "model.safetensors") ||
                      cmd_info_exists(dir, "model.safetensors.index.json");
    status st;
    if (im->has_weights) {
        checkpoint_options opt = {.allow_unused_tensors = allow_unused};
        if ((st = checkpoint_open_ex(&im->ck, dir, &opt))) return st;
        im->cfg = im->ck.cfg;
    } else {
        struct stat sb;
        if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
            return status_fail(STATUS_ERR_IO, "%s: not a model folder (a directory)", dir);
        char path[4200];
        snprintf(path, sizeof path, "%s/config.json", dir);
        if ((st = model_config_load(&im->cfg, path))) return st;
    }
    if ((st = model_config_tensor_specs(&im->cfg, &im->specs, &im->n_specs))) {
        checkpoint_close(&im->ck);
        return st;
    }
    cmd_info_dtypes(im);
    return STATUS_OK;
}

static void cmd_info_close(info_model *im) {
    checkpoint_close(&im->ck);
    free(im->specs);
}

int cmd_info(int argc, char **argv) {
    static const struct option long_opts[] = {
        CLI_OPTION_MODEL,
        CLI_OPTION_JSON,
        CLI_OPTION_ALLOW_UNUSED_TENSORS,
        {"architectures", no_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cli_common_opts co = {0};
    int list_architectures = 0;
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        int shared = cli_common_parse("info", c, optarg, &co);
        if (shared < 0) return 2;
        if (shared) continue;
        switch (c) {
        case 'h':
            cmd_info_usage(stdout);
            return 0;
        case 'a':
            list_architectures = 1;
            break;
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
    const char *dir = co.model;
    int json = co.json, allow_unused = co.allow_unused_tensors;
    if (list_architectures) return cmd_info_architectures(json);
    if (!dir) {
        fprintf(stderr, "grating info: --model DIR is required\n");
        cmd_info_usage(stderr);
        return 2;
    }
    info_model im;
    if (cmd_info_open(&im, dir, allow_unused) != STATUS_OK) {
        fprintf(stderr, "grating info: %s\n", status_message());
        return 1;
    }
    int rc = json ? cmd_info_json(&im) : cmd_info_text(&im);
    cmd_info_close(&im);
    return rc;
}
