// Tests of checkpoint_open/read on Hugging Face folders built in a temp dir
// from tests/data/bert-tiny/config.json: single file and sharded (through
// the streaming writer), F32/F16/BF16, the LayerNorm.gamma/beta aliases,
// every validation error (each message must name the file and the tensor),
// fault injection over open + read, and `grating info` on the demo model
// and on a corrupted folder.
#include "testutil.h"

#include "io/checkpoint.h"
#include "base/half.h"
#include "base/json_file.h"
#include "base/mem.h"
#include "model/model_config.h"
#include "io/safetensors_writer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// ---------------------------------------------------------------- helpers

// A tensor of a hand-built file: dtype by name so tests can use any.
typedef struct {
    char name[TENSOR_NAME_CAP];
    const char *dtype;
    int n_dims;
    int64_t shape[TENSOR_MAX_DIMS];
} raw_tensor;

// Values exactly representable in F16 and BF16, different per tensor.
static float value_at(size_t tensor, size_t j) {
    return (float)((tensor * 7 + j) % 64) / 16.0f - 2.0f;
}

static const char *tiny_config(void) {
    return testutil_source_path("tests/data/bert-tiny/config.json");
}

static void copy_config(const char *dir) {
    char *text;
    size_t len;
    assert_int_equal(file_read_all(tiny_config(), &text, &len), STATUS_OK);
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    testutil_write_file(path, text, len);
    free(text);
}

// The spec list of bert-tiny as raw tensors (F32).
static raw_tensor *tiny_tensors(size_t *n) {
    model_config cfg;
    assert_int_equal(model_config_load(&cfg, tiny_config()), STATUS_OK);
    tensor_spec *specs;
    assert_int_equal(model_config_tensor_specs(&cfg, &specs, n), STATUS_OK);
    raw_tensor *t = calloc(*n + 4, sizeof *t); // room for extra tensors
    assert_non_null(t);
    for (size_t i = 0; i < *n; i++) {
        snprintf(t[i].name, sizeof t[i].name, "%s", specs[i].name);
        t[i].dtype = "F32";
        t[i].n_dims = specs[i].n_dims;
        memcpy(t[i].shape, specs[i].shape, sizeof t[i].shape);
    }
    free(specs);
    return t;
}

static raw_tensor *find_raw(raw_tensor *t, size_t n, const char *name) {
    for (size_t i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0) return &t[i];
    fail_msg("no tensor %s", name);
    return NULL;
}

// Writes a safetensors file by hand (any dtype; float values from
// value_at(i, j), integers zero).
static void write_raw_file(const char *path, const raw_tensor *t, size_t n) {
    size_t cap = 1 << 16, len = 0;
    char *hdr = malloc(cap);
    assert_non_null(hdr);
    len += (size_t)snprintf(hdr, cap, "{\"__metadata__\":{\"format\":\"pt\"}");
    uint64_t off = 0;
    uint64_t *sizes = calloc(n + 1, sizeof *sizes);
    for (size_t i = 0; i < n; i++) {
        safetensors_dtype dt;
        assert_int_equal(safetensors_dtype_parse(t[i].dtype, &dt), STATUS_OK);
        uint64_t numel = 1;
        for (int d = 0; d < t[i].n_dims; d++)
            numel *= (uint64_t)t[i].shape[d];
        sizes[i] = numel * safetensors_dtype_size(dt);
        len += (size_t)snprintf(hdr + len, cap - len, ",\"%s\":{\"dtype\":\"%s\",\"shape\":[",
                                t[i].name, t[i].dtype);
        for (int d = 0; d < t[i].n_dims; d++)
            len += (size_t)snprintf(hdr + len, cap - len, "%s%lld", d ? "," : "",
                                    (long long)t[i].shape[d]);
        len += (size_t)snprintf(hdr + len, cap - len, "],\"data_offsets\":[%llu,%llu]}",
                                (unsigned long long)off, (unsigned long long)(off + sizes[i]));
        off += sizes[i];
        assert_true(len < cap - 512);
    }
    len += (size_t)snprintf(hdr + len, cap - len, "}");
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)len >> (8 * i));
    fwrite(len8, 1, 8, f);
    fwrite(hdr, 1, len, f);
    for (size_t i = 0; i < n; i++) {
        safetensors_dtype dt;
        safetensors_dtype_parse(t[i].dtype, &dt);
        size_t esz = safetensors_dtype_size(dt);
        for (uint64_t j = 0; j < sizes[i] / esz; j++) {
            float v = value_at(i, j);
            if (dt == SAFETENSORS_F32) {
                fwrite(&v, 4, 1, f);
            } else if (dt == SAFETENSORS_F16 || dt == SAFETENSORS_BF16) {
                uint16_t h = dt == SAFETENSORS_F16 ? half_f32_to_f16(v) : half_f32_to_bf16(v);
                fwrite(&h, 2, 1, f);
            } else {
                static const unsigned char zero[8];
                fwrite(zero, esz, 1, f);
            }
        }
    }
    assert_int_equal(fclose(f), 0);
    free(sizes);
    free(hdr);
}

// A folder with config.json and model.safetensors built by hand.
static char *raw_checkpoint(const raw_tensor *t, size_t n) {
    char *dir = testutil_tmpdir();
    copy_config(dir);
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    write_raw_file(path, t, n);
    return dir;
}

// A folder written through the streaming writer (sharded when
// max_shard_bytes is small).
static char *writer_checkpoint(safetensors_dtype dtype, uint64_t max_shard_bytes) {
    char *dir = testutil_tmpdir();
    copy_config(dir);
    size_t n;
    raw_tensor *t = tiny_tensors(&n);
    safetensors_decl *d = calloc(n, sizeof *d);
    for (size_t i = 0; i < n; i++) {
        d[i].name = t[i].name;
        d[i].dtype = dtype;
        d[i].n_dims = t[i].n_dims;
        memcpy(d[i].shape, t[i].shape, sizeof t[i].shape);
    }
    safetensors_model_writer w;
    assert_int_equal(safetensors_model_writer_init(&w, dir, d, n, max_shard_bytes), STATUS_OK);
    float block[100];
    for (size_t i = 0; i < n; i++) {
        uint64_t numel = 1;
        for (int k = 0; k < t[i].n_dims; k++)
            numel *= (uint64_t)t[i].shape[k];
        for (uint64_t at = 0; at < numel; at += 100) {
            size_t cnt = numel - at < 100 ? (size_t)(numel - at) : 100;
            for (size_t j = 0; j < cnt; j++)
                block[j] = value_at(i, at + j);
            assert_int_equal(safetensors_model_writer_write_f32(&w, t[i].name, block, cnt),
                             STATUS_OK);
        }
    }
    assert_int_equal(safetensors_model_writer_finish(&w), STATUS_OK);
    safetensors_model_writer_free(&w);
    free(d);
    free(t);
    return dir;
}

static void expect_msg(const char *a, const char *b, const char *c) {
    const char *msg = status_message();
    if ((a && !strstr(msg, a)) || (b && !strstr(msg, b)) || (c && !strstr(msg, c)))
        fprintf(stderr, "message: %s\n", msg);
    if (a) assert_non_null(strstr(msg, a));
    if (b) assert_non_null(strstr(msg, b));
    if (c) assert_non_null(strstr(msg, c));
}

// Every tensor reads back as value_at(i, j).
static void check_all_values(const checkpoint *ck) {
    for (size_t i = 0; i < ck->n_specs; i++) {
        size_t numel = (size_t)tensor_spec_numel(&ck->specs[i]);
        float *buf = mem_alloc(MEM_WEIGHTS, numel * sizeof *buf);
        assert_non_null(buf);
        assert_int_equal(checkpoint_read_f32(ck, ck->specs[i].name, buf, numel), STATUS_OK);
        for (size_t j = 0; j < numel; j++)
            assert_true(buf[j] == value_at(i, j));
        mem_free(buf);
    }
}

// ---------------------------------------------------------------- tests

static void test_open_single_f32(void **state) {
    (void)state;
    char *dir = writer_checkpoint(SAFETENSORS_F32, 0);
    checkpoint ck;
    assert_int_equal(checkpoint_open(&ck, dir), STATUS_OK);
    const model_config *c = checkpoint_config(&ck);
    assert_int_equal(c->hidden_size, 32);
    assert_int_equal(c->n_layers, 2);
    assert_int_equal(ck.n_shards, 1);
    assert_false(ck.sharded);
    check_all_values(&ck);

    // 200*32 + 64*32 + 2*32 + 2*32 + 2 layers * (4*(32*32+32) + 2*2*32 +
    // 64*32+64 + 32*64+32) + 32*32+32 + 32 + 1
    uint64_t layer = 4 * (32 * 32 + 32) + 4 * 32 + (64 * 32 + 64) + (32 * 64 + 32);
    uint64_t emb = 200 * 32 + 64 * 32 + 2 * 32 + 2 * 32, head = 32 * 32 + 32 + 32 + 1;
    assert_int_equal(checkpoint_param_count(&ck), emb + 2 * layer + head);
    assert_int_equal(checkpoint_param_count(&ck), 26753);
    checkpoint_bytes b;
    assert_int_equal(checkpoint_layer_bytes(&ck, 1, &b), STATUS_OK);
    assert_int_equal(b.disk, layer * 4);
    assert_int_equal(b.f32, layer * 4);
    assert_int_equal(checkpoint_embedding_bytes(&ck).disk, emb * 4);
    assert_int_equal(checkpoint_head_bytes(&ck).f32, head * 4);
    assert_int_equal(checkpoint_layer_bytes(&ck, 2, &b), STATUS_ERR_ARG);

    // Range read: rows 3..4 of the word embeddings (tensor 0).
    float rows[64];
    assert_int_equal(
        checkpoint_read_f32_range(&ck, "bert.embeddings.word_embeddings.weight", 3 * 32, 64, rows),
        STATUS_OK);
    for (size_t j = 0; j < 64; j++)
        assert_true(rows[j] == value_at(0, 3 * 32 + j));

    // Wrong element count and unknown names: file and tensor named.
    float small[8];
    assert_int_equal(checkpoint_read_f32(&ck, "classifier.weight", small, 8), STATUS_ERR_SHAPE);
    expect_msg("model.safetensors", "'classifier.weight'", "caller expected 8");
    checkpoint_tensor t;
    assert_int_equal(checkpoint_find(&ck, "bert.nope", &t), STATUS_ERR_MISSING);
    expect_msg(dir, "model.safetensors", "'bert.nope'");
    assert_int_equal(checkpoint_read_f32(&ck, "bert.nope", small, 8), STATUS_ERR_MISSING);
    checkpoint_close(&ck);
    checkpoint_close(&ck); // idempotent on a closed struct
    testutil_rmtree(dir);
    free(dir);
}

static void test_open_f16_bf16(void **state) {
    (void)state;
    safetensors_dtype dts[2] = {SAFETENSORS_F16, SAFETENSORS_BF16};
    for (int k = 0; k < 2; k++) {
        char *dir = writer_checkpoint(dts[k], 0);
        checkpoint ck;
        assert_int_equal(checkpoint_open(&ck, dir), STATUS_OK);
        check_all_values(&ck);
        checkpoint_bytes b;
        assert_int_equal(checkpoint_layer_bytes(&ck, 0, &b), STATUS_OK);
        assert_int_equal(b.disk * 2, b.f32);
        checkpoint_tensor t;
        assert_int_equal(checkpoint_find(&ck, "classifier.bias", &t), STATUS_OK);
        assert_int_equal(t.info->dtype, dts[k]);
        uint16_t raw;
        assert_int_equal(checkpoint_read_raw(&ck, "classifier.bias", &raw, 2), STATUS_OK);
        float want = value_at(ck.n_specs - 1, 0);
        assert_int_equal(raw, k == 0 ? half_f32_to_f16(want) : half_f32_to_bf16(want));
        checkpoint_close(&ck);
        testutil_rmtree(dir);
        free(dir);
    }
}

static void test_sharded_round_trip(void **state) {
    (void)state;
    char *dir = writer_checkpoint(SAFETENSORS_F32, 20000);
    checkpoint ck;
    assert_int_equal(checkpoint_open(&ck, dir), STATUS_OK);
    assert_true(ck.sharded);
    assert_true(ck.n_shards > 3);
    assert_non_null(strstr(ck.weights_path, "model.safetensors.index.json"));
    check_all_values(&ck);
    checkpoint_tensor t;
    assert_int_equal(checkpoint_find(&ck, "classifier.bias", &t), STATUS_OK);
    assert_int_equal(t.shard, ck.n_shards - 1);
    assert_non_null(strstr(t.file->path, "-of-"));
    assert_int_equal(checkpoint_param_count(&ck), 26753);
    checkpoint_close(&ck);
    testutil_rmtree(dir);
    free(dir);
}

// checkpoint_read_bf16: F32 and F16 tensors rounded to nearest even, BF16
// copied; a wrong element count is a shape error that writes nothing (a
// shorter count once wrote 4-byte floats into the 2-byte buffer).
static void test_read_bf16(void **state) {
    (void)state;
    safetensors_dtype dts[3] = {SAFETENSORS_F32, SAFETENSORS_F16, SAFETENSORS_BF16};
    for (int k = 0; k < 3; k++) {
        char *dir = writer_checkpoint(dts[k], 0);
        checkpoint ck;
        assert_int_equal(checkpoint_open(&ck, dir), STATUS_OK);
        checkpoint_tensor t;
        assert_int_equal(checkpoint_find(&ck, "bert.embeddings.LayerNorm.weight", &t), STATUS_OK);
        size_t n = (size_t)t.info->numel;
        float *f = calloc(n, sizeof *f);
        uint16_t *b = calloc(n + 4, sizeof *b);
        assert_non_null(f);
        assert_non_null(b);
        assert_int_equal(checkpoint_read_f32(&ck, "bert.embeddings.LayerNorm.weight", f, n),
                         STATUS_OK);
        assert_int_equal(checkpoint_read_bf16(&ck, "bert.embeddings.LayerNorm.weight", b, n),
                         STATUS_OK);
        for (size_t i = 0; i < n; i++)
            assert_int_equal(b[i], half_f32_to_bf16(f[i]));
        memset(b, 0xAB, (n + 4) * sizeof *b);
        assert_int_equal(checkpoint_read_bf16(&ck, "bert.embeddings.LayerNorm.weight", b, n / 2),
                         STATUS_ERR_SHAPE);
        for (size_t i = 0; i < n + 4; i++)
            assert_int_equal(b[i], 0xABAB);
        free(f);
        free(b);
        checkpoint_close(&ck);
        testutil_rmtree(dir);
        free(dir);
    }
}

static void test_missing_folder_config_weights(void **state) {
    (void)state;
    checkpoint ck;
    assert_int_equal(checkpoint_open(&ck, "/nonexistent/model-dir"), STATUS_ERR_IO);
    expect_msg("/nonexistent/model-dir", NULL, NULL);

    char *dir = testutil_tmpdir();
    assert_int_equal(checkpoint_open(&ck, dir), STATUS_ERR_IO);
    expect_msg(dir, "config.json", "missing");

    copy_config(dir);
    assert_int_equal(checkpoint_open(&ck, dir), STATUS_ERR_IO);
    expect_msg(dir, "model.safetensors", "model.safetensors.index.json");

    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", dir);
    testutil_write_file(path, "{\"architectures\": [\"GPT2LMHeadModel\"]}", 38);
    assert_int_equal(checkpoint_open(&ck, dir), STATUS_ERR_UNSUPPORTED);
    expect_msg(path, "GPT2LMHeadModel", NULL);
    testutil_rmtree(dir);
    free(dir);
}

static void test_shape_mismatch(void **state) {
    (void)state;
    size_t n;
    raw_tensor *t = tiny_tensors(&n);
    find_raw(t, n, "bert.encoder.layer.1.intermediate.dense.weight")->shape[1] = 31;
    char *dir = raw_checkpoint(t, n);
    checkpoint ck;
    assert_int_equal(checkpoint_open(&ck, dir), STATUS_ERR_SHAPE);
    expect_msg(dir, "model.safetensors", "'bert.encoder.layer.1.intermediate.dense.weight'");
    expect_msg("has shape [64, 31]", "expected [64, 32]", NULL);
    testutil_rmtree(dir);
    free(dir);

    // A 1-D tensor stored as 2-D is a mismatch too.
    find_raw(t, n, "bert.encoder.layer.1.intermediate.dense.weight")->shape[1] = 32;
    t[n - 1].n_dims = 2;
    t[n - 1].shape[1] = 1;
    dir = raw_checkpoint(t, n);
    assert_int_equal(checkpoint_open(&ck, dir), STATUS_ERR_SHAPE);
    expect_msg("'classifier.bias'", "[1, 1]", "expected [1]");
    testutil_rmtree(dir);
    free(dir);
    free(t);
}

static void test_missing_tensor(void **state) {
    (void)state;
    size_t n;
    raw_tensor *t = tiny_tensors(&n);
    raw_tensor *gone = find_raw(t, n, "bert.encoder.layer.1.output.dense.bias");
    memmove(gone, gone + 1, (size_t)(t + n - gone - 1) * sizeof *t);
    n--;
    char *dir = raw_checkpoint(t, n);
    checkpoint ck;
    assert_int_equal(checkpoint_open(&ck, dir), STATUS_ERR_MISSING);
    char want[4400];
    snprintf(want, sizeof want,
             "missing tensor 'bert.encoder.layer.1.output.dense.bias' (expected by "
             "BertForSequenceClassification with num_hidden_layers=2) in %s/model.safetensors",
             dir);
    expect_msg(want, NULL, NULL);
    testutil_rmtree(dir);
    free(dir);
    free(t);
}

// Issue 10: a stored tensor that the architecture does not read (a layer
// beyond num_hidden_layers, a stray head) is refused by default, listing it;
// allow_unused_tensors opens and lists them. Buffers HF recomputes
// (position_ids) and the legacy aliases are not "unused".
static void test_unused_tensors(void **state) {
    (void)state;
    size_t n;
    raw_tensor *t = tiny_tensors(&n);
    snprintf(t[n].name, sizeof t[n].name, "bert.encoder.layer.2.output.dense.bias");
    t[n].dtype = "F32";
    t[n].n_dims = 1;
    t[n].shape[0] = 32;
    snprintf(t[n + 1].name, sizeof t[n + 1].name, "cls.predictions.bias");
    t[n + 1].dtype = "F32";
    t[n + 1].n_dims = 1;
    t[n + 1].shape[0] = 200;
    snprintf(t[n + 2].name, sizeof t[n + 2].name, "bert.embeddings.position_ids");
    t[n + 2].dtype = "I64";
    t[n + 2].n_dims = 2;
    t[n + 2].shape[0] = 1;
    t[n + 2].shape[1] = 64;
    char *dir = raw_checkpoint(t, n + 3);
    checkpoint ck;
    assert_int_equal(checkpoint_open(&ck, dir), STATUS_ERR_FORMAT);
    expect_msg("model.safetensors: 2 tensors are not used by BertForSequenceClassification with "
               "num_hidden_layers=2",
               "'bert.encoder.layer.2.output.dense.bias', 'cls.predictions.bias'",
               "--allow-unused-tensors");
    checkpoint_options opt = {.allow_unused_tensors = 1};
    assert_int_equal(checkpoint_open_ex(&ck, dir, &opt), STATUS_OK);
    assert_int_equal(ck.n_unused, 2);
    assert_string_equal(ck.unused[0], "bert.encoder.layer.2.output.dense.bias");
    assert_string_equal(ck.unused[1], "cls.predictions.bias");
    check_all_values(&ck);
    checkpoint_close(&ck);
    testutil_rmtree(dir);
    free(dir);
    // Without the extras: nothing unused, with or without the option.
    dir = raw_checkpoint(t, n);
    assert_int_equal(checkpoint_open(&ck, dir), STATUS_OK);
    assert_int_equal(ck.n_unused, 0);
    checkpoint_close(&ck);
    testutil_rmtree(dir);
    free(dir);
    free(t);
}

static void test_layernorm_gamma_alias(void **state) {
    (void)state;
    size_t n;
    raw_tensor *t = tiny_tensors(&n);
    size_t renamed = 0;
    for (size_t i = 0; i < n; i++) {
        char *p = strstr(t[i].name, "LayerNorm.weight");
        if (p) {
            strcpy(p, "LayerNorm.gamma");
            renamed++;
        }
        p = strstr(t[i].name, "LayerNorm.bias");
        if (p) strcpy(p, "LayerNorm.beta");
    }
    assert_int_equal(renamed, 5); // embeddings + 2 per layer
    // An extra buffer HF saves (I64) is accepted and ignored.
    snprintf(t[n].name, sizeof t[n].name, "bert.embeddings.position_ids");
    t[n].dtype = "I64";
    t[n].n_dims = 2;
    t[n].shape[0] = 1;
    t[n].shape[1] = 64;
    char *dir = raw_checkpoint(t, n + 1);
    checkpoint ck;
    assert_int_equal(checkpoint_open(&ck, dir), STATUS_OK);
    check_all_values(&ck); // through the modern names
    checkpoint_tensor ct;
    assert_int_equal(checkpoint_find(&ck, "bert.encoder.layer.0.output.LayerNorm.bias", &ct),
                     STATUS_OK);
    assert_string_equal(ct.info->name, "bert.encoder.layer.0.output.LayerNorm.beta");
    assert_int_equal(checkpoint_param_count(&ck), 26753);
    checkpoint_close(&ck);
    testutil_rmtree(dir);
    free(dir);
    free(t);
}

static void test_required_tensor_not_float(void **state) {
    (void)state;
    size_t n;
    raw_tensor *t = tiny_tensors(&n);
    find_raw(t, n, "bert.pooler.dense.bias")->dtype = "I32";
    char *dir = raw_checkpoint(t, n);
    checkpoint ck;
    assert_int_equal(checkpoint_open(&ck, dir), STATUS_ERR_UNSUPPORTED);
    expect_msg(dir, "'bert.pooler.dense.bias'", "dtype I32");
    testutil_rmtree(dir);
    free(dir);
    free(t);
}

static void test_corrupt_single_file(void **state) {
    (void)state;
    char *dir = writer_checkpoint(SAFETENSORS_F32, 0);
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    assert_int_equal(truncate(path, 5000), 0);
    checkpoint ck;
    assert_int_equal(checkpoint_open(&ck, dir), STATUS_ERR_FORMAT);
    expect_msg(path, "beyond the data region", "'");
    testutil_rmtree(dir);
    free(dir);
}

// Writes DIR/model.safetensors.index.json with the given text.
static void write_index(const char *dir, const char *text) {
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    testutil_write_file(path, text, strlen(text));
}

// A sharded folder from the writer, then the index is replaced by one that
// maps every tensor to its real shard except for the edits in `fmt`.
static void test_index_errors(void **state) {
    (void)state;
    char *dir = writer_checkpoint(SAFETENSORS_F32, 60000);
    checkpoint ck;
    assert_int_equal(checkpoint_open(&ck, dir), STATUS_OK);
    size_t n_shards = ck.n_shards;
    checkpoint_close(&ck);
    assert_true(n_shards >= 2);
    char index[4200];
    snprintf(index, sizeof index, "%s/model.safetensors.index.json", dir);
    char *good;
    size_t len;
    assert_int_equal(file_read_all(index, &good, &len), STATUS_OK);
    char shard1[64], shard_last[64];
    safetensors_shard_name(0, n_shards, shard1, sizeof shard1);
    safetensors_shard_name(n_shards - 1, n_shards, shard_last, sizeof shard_last);

    // 1. A shard file that does not exist.
    char *bad = strdup(good);
    char *p = strstr(bad, shard_last);
    assert_non_null(p);
    memcpy(p, "model-00009", 11); // same length, different file
    write_index(dir, bad);
    assert_int_equal(checkpoint_open(&ck, dir), STATUS_ERR_IO);
    expect_msg(index, "model-00009-of-", "does not exist");
    expect_msg("tensor '", NULL, NULL);
    free(bad);

    // 2. A tensor mapped to a shard that does not hold it: move the
    //    classifier (in the last shard) to the first shard.
    bad = strdup(good);
    p = strstr(bad, "\"classifier.bias\": \"");
    assert_non_null(p);
    p += strlen("\"classifier.bias\": \"");
    memcpy(p, shard1, strlen(shard1));
    write_index(dir, bad);
    assert_int_equal(checkpoint_open(&ck, dir), STATUS_ERR_MISSING);
    expect_msg(index, "'classifier.bias'", shard1);
    free(bad);

    // 3. A tensor listed twice (duplicate key in weight_map).
    char twice[8192];
    p = strstr(good, "\"weight_map\": {");
    assert_non_null(p);
    p += strlen("\"weight_map\": {");
    snprintf(twice, sizeof twice, "%.*s\n    \"classifier.bias\": \"%s\",%s", (int)(p - good), good,
             shard_last, p);
    write_index(dir, twice);
    assert_int_equal(checkpoint_open(&ck, dir), STATUS_ERR_FORMAT);
    expect_msg(index, "'classifier.bias'", "twice");

    // 4. Malformed / wrongly shaped JSON.
    write_index(dir, "{\"weight_map\": {\"a\": \"b\",}");
    assert_int_equal(checkpoint_open(&ck, dir), STATUS_ERR_FORMAT);
    expect_msg(index, "malformed JSON", NULL);
    write_index(dir, "{\"weight_map\": [\"a\"]}");
    assert_int_equal(checkpoint_open(&ck, dir), STATUS_ERR_FORMAT);
    expect_msg(index, "weight_map", NULL);
    write_index(dir, "{\"weight_map\": {\"classifier.bias\": 3}}");
    assert_int_equal(checkpoint_open(&ck, dir), STATUS_ERR_FORMAT);
    expect_msg(index, "'classifier.bias'", "string");
    write_index(dir, "{\"weight_map\": {\"classifier.bias\": \"../x.safetensors\"}}");
    assert_int_equal(checkpoint_open(&ck, dir), STATUS_ERR_FORMAT);
    expect_msg(index, "'classifier.bias'", "../x.safetensors");

    // 5. A tensor of the architecture absent from weight_map.
    bad = strdup(good);
    p = strstr(bad, "    \"classifier.weight\"");
    assert_non_null(p);
    memcpy(p, "    \"classifier.weighX\"", 23);
    write_index(dir, bad);
    assert_int_equal(checkpoint_open(&ck, dir), STATUS_ERR_MISSING);
    expect_msg(index, NULL, NULL);
    free(bad);
    // (weighX is not in the shard either: that error comes first.)
    expect_msg("'classifier.weighX'", NULL, NULL);

    // 6. A corrupted shard: its header length is beyond the file.
    write_index(dir, good);
    char shard_path[4300];
    snprintf(shard_path, sizeof shard_path, "%s/%s", dir, shard_last);
    assert_int_equal(truncate(shard_path, 20), 0);
    assert_int_equal(checkpoint_open(&ck, dir), STATUS_ERR_FORMAT);
    expect_msg(index, shard_path, "beyond the file size");
    free(good);
    testutil_rmtree(dir);
    free(dir);
}

static void test_index_tensor_missing_from_map(void **state) {
    (void)state;
    char *dir = writer_checkpoint(SAFETENSORS_F32, 60000);
    char index[4200];
    snprintf(index, sizeof index, "%s/model.safetensors.index.json", dir);
    char *good;
    size_t len;
    assert_int_equal(file_read_all(index, &good, &len), STATUS_OK);
    // Drop the pooler bias line from weight_map.
    char *p = strstr(good, "    \"bert.pooler.dense.bias\"");
    assert_non_null(p);
    char *eol = strchr(p, '\n');
    memmove(p, eol + 1, strlen(eol + 1) + 1);
    write_index(dir, good);
    checkpoint ck;
    assert_int_equal(checkpoint_open(&ck, dir), STATUS_ERR_MISSING);
    expect_msg("missing tensor 'bert.pooler.dense.bias'", index, "num_hidden_layers=2");
    free(good);
    testutil_rmtree(dir);
    free(dir);
}

// Every allocation of open + read fails once in turn: no crash, no leak.
static void test_fault_injection(void **state) {
    (void)state;
    uint64_t shard_sizes[2] = {0, 20000};
    for (int k = 0; k < 2; k++) {
        char *dir = writer_checkpoint(SAFETENSORS_BF16, shard_sizes[k]);
        size_t base = mem_total_current_bytes();
        size_t failures = 0;
        for (size_t n = 1;; n++) {
            mem_fail_after(n);
            checkpoint ck;
            status st = checkpoint_open(&ck, dir);
            float *buf = NULL;
            if (st == STATUS_OK) {
                buf = mem_alloc(MEM_WEIGHTS, 64 * 32 * sizeof *buf);
                st = buf ? checkpoint_read_f32(&ck, "bert.encoder.layer.1.output.dense.weight", buf,
                                               64 * 32)
                         : STATUS_ERR_NOMEM;
                if (st == STATUS_OK) assert_true(buf[5] == value_at(5 + 16 * 1 + 12, 5));
                mem_free(buf);
                checkpoint_close(&ck);
            }
            int fired = mem_fail_fired();
            mem_fail_after(0);
            assert_int_equal(mem_total_current_bytes(), base);
            if (!fired) {
                assert_int_equal(st, STATUS_OK);
                break;
            }
            assert_int_equal(st, STATUS_ERR_NOMEM);
            failures++;
            assert_true(n < 10000);
        }
        assert_true(failures > 3);
        testutil_rmtree(dir);
        free(dir);
    }
}

// ---------------------------------------------------------------- CLI

static void test_cli_info_demo_model(void **state) {
    (void)state;
    const char *dir = testutil_shared_path("models/scifact-minibert-demo");
    if (!dir) skip();
    char *out, *err;
    const char *args[] = {"info", "--model", dir, NULL};
    int rc = testutil_run_grating(args, &out, &err);
    if (rc != 0) fprintf(stderr, "%s", err);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(out, "14,329,857"));
    assert_non_null(strstr(out, "BertForSequenceClassification"));
    assert_non_null(strstr(out, "layers:             8"));
    free(out);
    free(err);

    const char *json_args[] = {"info", "--model", dir, "--json", NULL};
    rc = testutil_run_grating(json_args, &out, &err);
    assert_int_equal(rc, 0);
    cJSON *root;
    assert_int_equal(json_parse_text("info --json", out, strlen(out), &root), STATUS_OK);
    int64_t params, heads, layers_n;
    assert_int_equal(json_get_int(root, "parameters", "info", &params), STATUS_OK);
    assert_int_equal(params, 14329857);
    assert_int_equal(json_get_int(root, "heads", "info", &heads), STATUS_OK);
    assert_int_equal(heads, 4);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(root, "layer_bytes")), 8);
    assert_int_equal(json_get_int(root, "shards", "info", &layers_n), STATUS_OK);
    assert_int_equal(layers_n, 1);
    cJSON_Delete(root);
    free(out);
    free(err);
}

static void test_cli_info_errors(void **state) {
    (void)state;
    char *dir = writer_checkpoint(SAFETENSORS_F32, 0);
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    assert_int_equal(truncate(path, 3), 0);
    char *out, *err;
    const char *args[] = {"info", "--model", dir, NULL};
    assert_int_equal(testutil_run_grating(args, &out, &err), 1);
    assert_non_null(strstr(err, "grating info: "));
    assert_non_null(strstr(err, path));
    assert_string_equal(out, "");
    free(out);
    free(err);

    const char *no_model[] = {"info", NULL};
    assert_int_equal(testutil_run_grating(no_model, NULL, &err), 2);
    assert_non_null(strstr(err, "--model"));
    free(err);
    const char *bad_opt[] = {"info", "--model", dir, "--bogus", NULL};
    assert_int_equal(testutil_run_grating(bad_opt, NULL, NULL), 2);
    const char *help[] = {"info", "--help", NULL};
    assert_int_equal(testutil_run_grating(help, &out, NULL), 0);
    assert_non_null(strstr(out, "usage: grating info"));
    free(out);
    testutil_rmtree(dir);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open_single_f32),
        cmocka_unit_test(test_open_f16_bf16),
        cmocka_unit_test(test_read_bf16),
        cmocka_unit_test(test_sharded_round_trip),
        cmocka_unit_test(test_missing_folder_config_weights),
        cmocka_unit_test(test_shape_mismatch),
        cmocka_unit_test(test_missing_tensor),
        cmocka_unit_test(test_layernorm_gamma_alias),
        cmocka_unit_test(test_unused_tensors),
        cmocka_unit_test(test_required_tensor_not_float),
        cmocka_unit_test(test_corrupt_single_file),
        cmocka_unit_test(test_index_errors),
        cmocka_unit_test(test_index_tensor_missing_from_map),
        cmocka_unit_test(test_fault_injection),
        cmocka_unit_test(test_cli_info_demo_model),
        cmocka_unit_test(test_cli_info_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
