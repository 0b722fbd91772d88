// Tests of `grating synth` (core/model/synth.c): byte-identical output for a
// seed, golden values (an independent MT19937 + splitmix64 recomputation
// gave the same bits), every dtype and sharding passing checkpoint_open,
// the initialisation statistics, the generated vocabulary, the real MiniLM
// and TinyBERT configs from ../shared, refusal / --force, clean-up on
// failure (fault injection), size parsing, and the CLI.
#include "testutil.h"

#include "io/checkpoint.h"
#include "base/half.h"
#include "base/json_file.h"
#include "base/mem.h"
#include "model/synth.h"
#include "tokenize/wordpiece_synth.h"

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *tiny_config(void) {
    return testutil_source_path("tests/data/bert-tiny/config.json");
}

static const char *join(const char *dir, const char *name) {
    static char buf[8][4200];
    static int next;
    char *p = buf[next++ % 8];
    size_t d = strlen(dir), n = strlen(name);
    assert_true(d + n + 2 <= sizeof buf[0]);
    memmove(p, dir, d); // dir may itself be a slot of buf
    p[d] = '/';
    memcpy(p + d + 1, name, n + 1);
    return p;
}

static int files_equal(const char *a, const char *b) {
    char *x, *y;
    size_t nx, ny;
    if (file_read_all(a, &x, &nx) != STATUS_OK) return 0;
    if (file_read_all(b, &y, &ny) != STATUS_OK) {
        free(x);
        return 0;
    }
    int same = nx == ny && memcmp(x, y, nx) == 0;
    free(x);
    free(y);
    return same;
}

static int exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0;
}

// Number of entries of dir (besides . and ..) whose name contains `part`.
static int count_entries(const char *dir, const char *part) {
    DIR *d = opendir(dir);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strstr(e->d_name, part)) n++;
    closedir(d);
    return n;
}

static status synth_tiny(const char *out, uint64_t seed, safetensors_dtype dt, uint64_t shard,
                         synth_report *r) {
    synth_options o;
    synth_options_default(&o);
    o.config_path = tiny_config();
    o.out_dir = out;
    o.seed = seed;
    o.dtype = dt;
    if (shard) o.max_shard_bytes = shard;
    return synth_write(&o, r);
}

static void test_synth_deterministic(void **state) {
    (void)state;
    char *root = testutil_tmpdir();
    synth_report r;
    assert_int_equal(synth_tiny(join(root, "a"), 7, SAFETENSORS_F32, 0, &r), STATUS_OK);
    assert_int_equal(r.n_tensors, 41);
    assert_int_equal(r.n_params, 26753);
    assert_int_equal(r.weight_bytes, 26753 * 4);
    assert_int_equal(r.n_shards, 1);
    assert_true(r.vocab_generated);
    assert_int_equal(synth_tiny(join(root, "b"), 7, SAFETENSORS_F32, 0, NULL), STATUS_OK);
    assert_int_equal(synth_tiny(join(root, "c"), 8, SAFETENSORS_F32, 0, NULL), STATUS_OK);
    assert_true(files_equal(join(root, "a/model.safetensors"), join(root, "b/model.safetensors")));
    assert_false(files_equal(join(root, "a/model.safetensors"), join(root, "c/model.safetensors")));
    assert_true(files_equal(join(root, "a/config.json"), tiny_config())); // byte for byte
    assert_true(files_equal(join(root, "a/vocab.txt"), join(root, "c/vocab.txt")));
    // Only the three finished folders: no temporary leftovers.
    assert_int_equal(count_entries(root, ""), 3);
    testutil_rmtree(root);
    free(root);
}

// Bits computed once and checked against an independent Python
// reimplementation of MT19937 (init_genrand) + splitmix64 seeding: a change
// here means every synthesized model changes.
static void test_synth_golden_values(void **state) {
    (void)state;
    model_config cfg;
    tensor_spec *s;
    size_t n;
    assert_int_equal(model_config_load(&cfg, tiny_config()), STATUS_OK);
    assert_int_equal(model_config_tensor_specs(&cfg, &s, &n), STATUS_OK);
    const size_t idx[3] = {0, 3, n - 2};
    const uint32_t want[3][4] = {
        {0xb9ed891eu, 0x3c94b9aeu, 0x3ccdbaebu, 0x3ab09a68u}, // word embeddings
        {0x3f7d755au, 0x3f899ce8u, 0x3f8242edu, 0x3f8b4934u}, // embeddings LayerNorm.weight
        {0x3e65b81au, 0xbe88a213u, 0x3f3f9b04u, 0x3d0c3d15u}, // classifier.weight
    };
    for (int k = 0; k < 3; k++) {
        float v[4];
        assert_int_equal(synth_tensor_values(&s[idx[k]], idx[k], 42, 1.0, v, 4), STATUS_OK);
        for (int i = 0; i < 4; i++)
            assert_int_equal(half_f32_to_bits(v[i]), want[k][i]);
    }
    float v[2];
    assert_int_equal(synth_tensor_values(&s[n - 1], n - 1, 42, 1.0, v, 2), STATUS_ERR_ARG);
    free(s);
}

// The files hold exactly synth_tensor_values (rounded to the dtype).
static void check_values(const checkpoint *ck, uint64_t seed, safetensors_dtype dt) {
    for (size_t i = 0; i < ck->n_specs; i++) {
        size_t numel = (size_t)tensor_spec_numel(&ck->specs[i]);
        float *got = mem_alloc(MEM_WEIGHTS, numel * sizeof *got);
        float *want = mem_alloc(MEM_WEIGHTS, numel * sizeof *want);
        assert_int_equal(checkpoint_read_f32(ck, ck->specs[i].name, got, numel), STATUS_OK);
        assert_int_equal(synth_tensor_values(&ck->specs[i], i, seed, 1.0, want, numel), STATUS_OK);
        for (size_t j = 0; j < numel; j++) {
            float w = want[j];
            if (dt == SAFETENSORS_F16) w = half_f16_to_f32(half_f32_to_f16(w));
            if (dt == SAFETENSORS_BF16) w = half_bf16_to_f32(half_f32_to_bf16(w));
            assert_true(got[j] == w);
        }
        mem_free(got);
        mem_free(want);
    }
}

static void test_synth_dtypes_and_shards(void **state) {
    (void)state;
    char *root = testutil_tmpdir();
    const safetensors_dtype dts[3] = {SAFETENSORS_F32, SAFETENSORS_F16, SAFETENSORS_BF16};
    for (int k = 0; k < 3; k++) {
        const uint64_t shards[2] = {0, 30000};
        for (int s = 0; s < 2; s++) {
            char name[32];
            snprintf(name, sizeof name, "m%d%d", k, s);
            const char *out = join(root, name);
            synth_report r;
            assert_int_equal(synth_tiny(out, 5, dts[k], shards[s], &r), STATUS_OK);
            checkpoint ck;
            assert_int_equal(checkpoint_open(&ck, out), STATUS_OK);
            assert_int_equal(ck.n_shards, r.n_shards);
            assert_int_equal(ck.sharded, s == 1);
            if (s == 1) assert_true(r.n_shards >= 2);
            checkpoint_tensor t;
            assert_int_equal(checkpoint_find(&ck, "classifier.weight", &t), STATUS_OK);
            assert_int_equal(t.info->dtype, dts[k]);
            assert_int_equal(r.weight_bytes, 26753 * safetensors_dtype_size(dts[k]));
            check_values(&ck, 5, dts[k]);
            checkpoint_close(&ck);
        }
    }
    testutil_rmtree(root);
    free(root);
}

static void moments(const float *v, size_t n, double *mean, double *std) {
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    *mean = s / (double)n;
    for (size_t i = 0; i < n; i++)
        s2 += (v[i] - *mean) * (v[i] - *mean);
    *std = sqrt(s2 / (double)n);
}

static void test_synth_init_statistics(void **state) {
    (void)state;
    model_config cfg;
    tensor_spec *s;
    size_t n;
    assert_int_equal(model_config_load(&cfg, tiny_config()), STATUS_OK);
    assert_int_equal(model_config_tensor_specs(&cfg, &s, &n), STATUS_OK);
    float *v = malloc(200 * 32 * sizeof *v), *v2 = malloc(200 * 32 * sizeof *v2);
    double mean, std;
    // Word embeddings: std 0.02 * scale, bounded by a = 0.02 * sqrt(3).
    assert_int_equal(synth_tensor_values(&s[0], 0, 1, 1.0, v, 6400), STATUS_OK);
    moments(v, 6400, &mean, &std);
    assert_true(fabs(mean) < 0.002 && fabs(std - 0.02) < 0.001);
    for (size_t i = 0; i < 6400; i++)
        assert_true(fabsf(v[i]) <= 0.0347f);
    // --scale 2 doubles the matrices exactly (same stream).
    assert_int_equal(synth_tensor_values(&s[0], 0, 1, 2.0, v2, 6400), STATUS_OK);
    for (size_t i = 0; i < 6400; i++)
        assert_true(v2[i] == 2.0f * v[i]);
    // LayerNorm weight: 1 +- 0.1, not constant.
    assert_int_equal(synth_tensor_values(&s[3], 3, 1, 1.0, v, 32), STATUS_OK);
    moments(v, 32, &mean, &std);
    for (size_t i = 0; i < 32; i++)
        assert_true(v[i] >= 0.9f && v[i] <= 1.1f);
    assert_true(std > 0.02 && fabs(mean - 1.0) < 0.05);
    // Biases (query bias of layer 0 = spec 6) and LayerNorm bias: std 0.02,
    // not affected by scale.
    assert_int_equal(synth_tensor_values(&s[6], 6, 1, 3.0, v, 32), STATUS_OK);
    for (size_t i = 0; i < 32; i++)
        assert_true(fabsf(v[i]) <= 0.0347f);
    // Classifier weight: std 0.5 (bound 0.866).
    assert_string_equal(s[n - 2].name, "classifier.weight");
    assert_int_equal(synth_tensor_values(&s[n - 2], n - 2, 1, 1.0, v, 32), STATUS_OK);
    moments(v, 32, &mean, &std);
    assert_true(std > 0.3 && std < 0.7);
    for (size_t i = 0; i < 32; i++)
        assert_true(fabsf(v[i]) <= 0.8661f);
    free(v);
    free(v2);
    free(s);
}

// Lines of a text file (malloc'd array of malloc'd strings).
static char **read_lines(const char *path, size_t *n) {
    char *text;
    size_t len;
    assert_int_equal(file_read_all(path, &text, &len), STATUS_OK);
    size_t cap = 16;
    char **lines = malloc(cap * sizeof *lines);
    *n = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (*n == cap) lines = realloc(lines, (cap *= 2) * sizeof *lines);
        lines[(*n)++] = strdup(l);
    }
    free(text);
    return lines;
}

static void free_lines(char **lines, size_t n) {
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void assert_unique(char **lines, size_t n) {
    char **copy = malloc(n * sizeof *copy);
    memcpy(copy, lines, n * sizeof *copy);
    qsort(copy, n, sizeof *copy, cmp_str);
    for (size_t i = 1; i < n; i++)
        assert_string_not_equal(copy[i - 1], copy[i]);
    free(copy);
}

static void test_synth_vocab(void **state) {
    (void)state;
    char *root = testutil_tmpdir();
    assert_int_equal(synth_tiny(join(root, "m"), 1, SAFETENSORS_F32, 0, NULL), STATUS_OK);
    size_t n;
    char **l = read_lines(join(root, "m/vocab.txt"), &n);
    assert_int_equal(n, 200);
    assert_string_equal(l[0], "[PAD]");
    assert_string_equal(l[1], "[unused0]");
    assert_string_equal(l[100], "[UNK]");
    assert_string_equal(l[101], "[CLS]");
    assert_string_equal(l[102], "[SEP]");
    assert_string_equal(l[103], "[MASK]");
    assert_string_equal(l[104], "a");
    assert_string_equal(l[104 + 36], "!");
    assert_string_equal(l[104 + 68], "##a");
    assert_unique(l, n);
    free_lines(l, n);

    // Small vocabulary: specials packed at 0..4.
    const char *small = join(root, "small.txt");
    assert_int_equal(wordpiece_write_synthetic_vocab(small, 50), STATUS_OK);
    l = read_lines(small, &n);
    assert_int_equal(n, 50);
    assert_string_equal(l[1], "[UNK]");
    assert_string_equal(l[4], "[MASK]");
    assert_string_equal(l[5], "a");
    free_lines(l, n);

    // Full BERT size: singles, ## forms, then 2- and 3-letter fillers.
    const char *big = join(root, "big.txt");
    assert_int_equal(wordpiece_write_synthetic_vocab(big, 30522), STATUS_OK);
    l = read_lines(big, &n);
    assert_int_equal(n, 30522);
    assert_string_equal(l[104 + 136], "aa");
    assert_string_equal(l[104 + 137], "##aa");
    assert_string_equal(l[104 + 138], "ab");
    assert_string_equal(l[104 + 136 + 2 * 676], "aaa");
    assert_unique(l, n);
    free_lines(l, n);

    assert_int_equal(wordpiece_write_synthetic_vocab(join(root, "x.txt"), 4), STATUS_ERR_ARG);
    testutil_rmtree(root);
    free(root);
}

static void test_synth_real_configs(void **state) {
    (void)state;
    const char *names[2] = {"models/ms-marco-MiniLM-L-6-v2", "models/ms-marco-TinyBERT-L-2-v2"};
    const uint64_t params[2] = {22713601, 4386049};
    const int layers[2] = {6, 2};
    int ran = 0;
    for (int k = 0; k < 2; k++) {
        const char *src = testutil_shared_path(names[k]);
        if (!src) continue;
        char src_dir[4096];
        snprintf(src_dir, sizeof src_dir, "%s", src);
        char *root = testutil_tmpdir();
        synth_options o;
        synth_options_default(&o);
        char config[4200];
        snprintf(config, sizeof config, "%s/config.json", src_dir);
        o.config_path = config;
        char out[4200];
        strcpy(out, join(root, "m")); // join's slots rotate
        o.out_dir = out;
        o.dtype = SAFETENSORS_BF16;
        o.seed = 11;
        synth_report r;
        assert_int_equal(synth_write(&o, &r), STATUS_OK);
        assert_int_equal(r.n_params, params[k]);
        assert_false(r.vocab_generated);
        assert_true(r.tokenizer_copied >= 3);
        checkpoint ck;
        assert_int_equal(checkpoint_open(&ck, o.out_dir), STATUS_OK);
        assert_int_equal(checkpoint_param_count(&ck), params[k]);
        assert_int_equal(ck.cfg.n_layers, layers[k]);
        checkpoint_close(&ck);
        assert_true(files_equal(join(o.out_dir, "config.json"), config));
        const char *tok[4] = {"vocab.txt", "tokenizer.json", "tokenizer_config.json",
                              "special_tokens_map.json"};
        for (int t = 0; t < 4; t++)
            assert_true(files_equal(join(o.out_dir, tok[t]), join(src_dir, tok[t])));
        assert_false(exists(join(o.out_dir, "PROVENANCE.md")));
        testutil_rmtree(root);
        free(root);
        ran++;
    }
    if (!ran) skip();
}

static void test_synth_refuse_and_force(void **state) {
    (void)state;
    char *root = testutil_tmpdir();
    char out[4200];
    strcpy(out, join(root, "m")); // join's slots rotate
    // An existing empty folder is fine.
    assert_int_equal(mkdir(out, 0755), 0);
    assert_int_equal(synth_tiny(out, 1, SAFETENSORS_F32, 0, NULL), STATUS_OK);
    // Non-empty: refused, untouched.
    testutil_write_file(join(out, "keep.txt"), "x", 1);
    assert_int_equal(synth_tiny(out, 2, SAFETENSORS_F32, 0, NULL), STATUS_ERR_ARG);
    assert_non_null(strstr(status_message(), out));
    assert_non_null(strstr(status_message(), "--force"));
    assert_true(exists(join(out, "keep.txt")));
    // --force: replaced as a whole.
    synth_options o;
    synth_options_default(&o);
    o.config_path = tiny_config();
    o.out_dir = out;
    o.force = 1;
    assert_int_equal(synth_write(&o, NULL), STATUS_OK);
    assert_false(exists(join(out, "keep.txt")));
    assert_true(exists(join(out, "model.safetensors")));
    assert_int_equal(count_entries(root, ""), 1);
    // A file in the way is refused even with force.
    testutil_write_file(join(root, "file"), "x", 1);
    o.out_dir = join(root, "file");
    assert_int_equal(synth_write(&o, NULL), STATUS_ERR_ARG);
    testutil_rmtree(root);
    free(root);
}

static void test_synth_failures_clean_up(void **state) {
    (void)state;
    char *root = testutil_tmpdir();
    char out[4200];
    strcpy(out, join(root, "m")); // join's slots rotate
    // Unsupported architecture: nothing created.
    const char *unknown_arch = join(root, "unknown-arch.json");
    const char *text = "{\"architectures\": [\"FancyNetForRanking\"]}";
    testutil_write_file(unknown_arch, text, strlen(text));
    synth_options o;
    synth_options_default(&o);
    o.config_path = unknown_arch;
    o.out_dir = out;
    assert_int_equal(synth_write(&o, NULL), STATUS_ERR_UNSUPPORTED);
    assert_non_null(strstr(status_message(), "unknown-arch.json"));
    assert_false(exists(out));
    // Every allocation failure in turn: an error, no folder, no temporary
    // folder, no leak.
    size_t base = mem_total_current_bytes();
    for (size_t n = 1;; n++) {
        mem_fail_after(n);
        status st = synth_tiny(out, 1, SAFETENSORS_BF16, 30000, NULL);
        int fired = mem_fail_fired();
        mem_fail_after(0);
        assert_int_equal(mem_total_current_bytes(), base);
        if (!fired) {
            assert_int_equal(st, STATUS_OK);
            break;
        }
        assert_int_equal(st, STATUS_ERR_NOMEM);
        assert_false(exists(out));
        assert_int_equal(count_entries(root, ".tmp-"), 0);
        assert_true(n < 10000);
    }
    assert_int_equal(count_entries(root, ".tmp-"), 0);
    testutil_rmtree(root);
    free(root);
}

static void test_synth_parse_size(void **state) {
    (void)state;
    uint64_t v;
    assert_int_equal(synth_parse_size("2GB", &v), STATUS_OK);
    assert_int_equal(v, 2000000000ull);
    assert_int_equal(synth_parse_size("500mb", &v), STATUS_OK);
    assert_int_equal(v, 500000000ull);
    assert_int_equal(synth_parse_size("1.5GB", &v), STATUS_OK);
    assert_int_equal(v, 1500000000ull);
    assert_int_equal(synth_parse_size("64KiB", &v), STATUS_OK);
    assert_int_equal(v, 65536);
    assert_int_equal(synth_parse_size("5GiB", &v), STATUS_OK);
    assert_int_equal(v, 5368709120ull);
    assert_int_equal(synth_parse_size("123", &v), STATUS_OK);
    assert_int_equal(v, 123);
    assert_int_equal(synth_parse_size("10 MB", &v), STATUS_OK);
    assert_int_equal(v, 10000000);
    const char *bad[] = {"0", "abc", "12XB", "-5", "", "5GB!"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(synth_parse_size(bad[i], &v), STATUS_ERR_ARG);
        assert_non_null(strstr(status_message(), bad[i]));
    }
}

static void test_cli_synth(void **state) {
    (void)state;
    char *root = testutil_tmpdir();
    char out[4200];
    strcpy(out, join(root, "m")); // join's slots rotate
    char *so, *se;
    const char *args[] = {"synth",   "--config", tiny_config(), "--out", out,
                          "--dtype", "bf16",     "--seed",      "3",     "--max-shard-size",
                          "30KB",    "--scale",  "1.5",         NULL};
    int rc = testutil_run_grating(args, &so, &se);
    if (rc) fprintf(stderr, "%s", se);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(se, "41 tensors"));
    assert_non_null(strstr(se, "model.safetensors.index.json"));
    free(so);
    free(se);
    const char *info[] = {"info", "--model", out, NULL};
    assert_int_equal(testutil_run_grating(info, &so, NULL), 0);
    assert_non_null(strstr(so, "BF16"));
    assert_non_null(strstr(so, "26,753"));
    assert_non_null(strstr(so, "shards"));
    free(so);

    // Again into the same folder: refused (exit 1, folder named).
    rc = testutil_run_grating(args, NULL, &se);
    assert_int_equal(rc, 1);
    assert_non_null(strstr(se, out));
    free(se);
    const char *forced[] = {"synth", "--config", tiny_config(), "--out", out, "--force", NULL};
    assert_int_equal(testutil_run_grating(forced, NULL, NULL), 0);

    const char *usage[][8] = {
        {"synth", "--config", tiny_config(), NULL},
        {"synth", "--config", tiny_config(), "--out", out, "--dtype", "f8", NULL},
        {"synth", "--config", tiny_config(), "--out", out, "--max-shard-size", "big", NULL},
        {"synth", "--config", tiny_config(), "--out", out, "--seed", "-1", NULL},
        {"synth", "--config", tiny_config(), "--out", out, "--bogus", NULL},
        {"synth", "--config", tiny_config(), "--out", out, "extra", NULL},
    };
    for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++)
        assert_int_equal(testutil_run_grating(usage[i], NULL, NULL), 2);
    const char *help[] = {"synth", "--help", NULL};
    assert_int_equal(testutil_run_grating(help, &so, NULL), 0);
    assert_non_null(strstr(so, "usage: grating synth"));
    free(so);
    const char *missing[] = {"synth",   "--config", "/nonexistent/config.json", "--out", out,
                             "--force", NULL};
    assert_int_equal(testutil_run_grating(missing, NULL, &se), 1);
    assert_non_null(strstr(se, "/nonexistent/config.json"));
    free(se);

    // Missing parent folders are created (a fresh clone has no results/models/);
    // a parent that is a file is named.
    char deep[4300], under_file[4300];
    snprintf(deep, sizeof deep, "%s/results/models/tiny", root);
    const char *fresh[] = {"synth", "--config", tiny_config(), "--out", deep, NULL};
    assert_int_equal(testutil_run_grating(fresh, NULL, &se), 0);
    free(se);
    const char *info2[] = {"info", "--model", deep, NULL};
    assert_int_equal(testutil_run_grating(info2, NULL, NULL), 0);
    snprintf(under_file, sizeof under_file, "%s/m/config.json/x", root);
    const char *blocked[] = {"synth", "--config", tiny_config(), "--out", under_file, NULL};
    assert_int_equal(testutil_run_grating(blocked, NULL, &se), 1);
    assert_non_null(strstr(se, "is not a folder"));
    free(se);
    testutil_rmtree(root);
    free(root);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_synth_deterministic),
        cmocka_unit_test(test_synth_golden_values),
        cmocka_unit_test(test_synth_dtypes_and_shards),
        cmocka_unit_test(test_synth_init_statistics),
        cmocka_unit_test(test_synth_vocab),
        cmocka_unit_test(test_synth_real_configs),
        cmocka_unit_test(test_synth_refuse_and_force),
        cmocka_unit_test(test_synth_failures_clean_up),
        cmocka_unit_test(test_synth_parse_size),
        cmocka_unit_test(test_cli_synth),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
