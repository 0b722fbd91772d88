// The CLI end to end on bad inputs (issue 10): every case must end with a
// clean message naming the file (and the line/field where there is one), a
// non-zero exit, no signal, and no output that looks complete. The models are
// generated from tests/data (grating synth: weights and a BERT vocab.txt), so
// only the Qwen3 tokenizer cases need the shared folder.
#include "testutil.h"

#include "base/json_file.h"
#include "io/safetensors.h"
#include "model/synth.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct {
    char *tmp;
    char model[4200]; // bert-tiny, 2 layers, F32, generated vocab.txt
    char docs[4200];  // two valid documents
} bad_fixture;

static void bad_path(char *dst, const char *dir, const char *name) {
    int n = snprintf(dst, 4200, "%s/%s", dir, name);
    assert_true(n > 0 && n < 4200);
}

static void bad_write(const char *dir, const char *name, const char *text, size_t len) {
    char path[4200];
    bad_path(path, dir, name);
    testutil_write_file(path, text, len);
}

static void bad_symlink_model(const bad_fixture *f, const char *dir, const char *name) {
    char from[4200], to[4200];
    bad_path(from, f->model, name);
    bad_path(to, dir, name);
    assert_int_equal(symlink(from, to), 0);
}

static int bad_setup(void **state) {
    bad_fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->tmp = testutil_tmpdir();
    bad_path(f->model, f->tmp, "bert-tiny");
    synth_options o;
    synth_options_default(&o);
    o.config_path = testutil_source_path("tests/data/bert-tiny/config.json");
    o.out_dir = f->model;
    o.seed = 3;
    if (synth_write(&o, NULL) != STATUS_OK) fail_msg("%s", status_message());
    const char docs[] =
        "{\"id\":\"a\",\"text\":\"alpha beta\"}\n{\"id\":\"b\",\"text\":\"gamma\"}\n";
    bad_write(f->tmp, "docs.jsonl", docs, sizeof docs - 1);
    bad_path(f->docs, f->tmp, "docs.jsonl");
    *state = f;
    return 0;
}

static int bad_teardown(void **state) {
    bad_fixture *f = *state;
    testutil_rmtree(f->tmp);
    free(f->tmp);
    free(f);
    return 0;
}

// Runs the CLI and checks a clean failure: exit 1 (not a signal: 128 + n),
// nothing on stdout, and every needle in stderr.
static void bad_expect_fail(const char *const *args, const char *needle1, const char *needle2) {
    char *out = NULL, *err = NULL;
    int rc = testutil_run_grating(args, &out, &err);
    fprintf(stderr, "  %s %s -> rc %d: %s", args[0], args[1], rc, err);
    if (rc != 1) fail_msg("exit %d (expected 1, a clean error), stderr: %s", rc, err);
    assert_string_equal(out, "");
    if (needle1 && !strstr(err, needle1)) fail_msg("'%s' not in: %s", needle1, err);
    if (needle2 && !strstr(err, needle2)) fail_msg("'%s' not in: %s", needle2, err);
    free(out);
    free(err);
}

// \u0000 or a raw NUL inside a JSONL text used to cut the document silently;
// now the file, line, column and field are named.
static void test_docs_nul_rejected(void **state) {
    bad_fixture *f = *state;
    const char esc[] = "{\"id\":\"esc\",\"text\":\"alpha\\u0000 beta\"}\n";
    const char raw[] = "{\"id\":\"raw\",\"text\":\"alpha\0 beta\"}\n";
    bad_write(f->tmp, "esc.jsonl", esc, sizeof esc - 1);
    bad_write(f->tmp, "raw.jsonl", raw, sizeof raw - 1);
    char esc_path[4200], raw_path[4200];
    bad_path(esc_path, f->tmp, "esc.jsonl");
    bad_path(raw_path, f->tmp, "raw.jsonl");
    const char *a[] = {"score", "--model", f->model, "--query", "q", "--docs", esc_path, NULL};
    bad_expect_fail(a, "esc.jsonl: line 1: column 26: field \"text\"", "\\u0000");
    const char *b[] = {"score", "--model", f->model, "--query", "q", "--docs", raw_path, NULL};
    bad_expect_fail(b, "raw.jsonl: line 1: column 26: field \"text\"", "NUL byte");
}

// Ids that a TREC run could not hold, and duplicates, are refused at load.
static void test_docs_bad_ids_rejected(void **state) {
    bad_fixture *f = *state;
    const char ws[] = "{\"id\":\"a b\",\"text\":\"x\"}\n";
    const char empty[] = "{\"id\":\"\",\"text\":\"x\"}\n";
    const char dup[] = "{\"id\":\"a\",\"text\":\"x\"}\n\n{\"id\":\"a\",\"text\":\"y\"}\n";
    // A document without an id gets its position: "1" collides here.
    const char dup_pos[] = "{\"id\":\"1\",\"text\":\"x\"}\n{\"text\":\"y\"}\n";
    const struct {
        const char *name, *text;
        size_t len;
        const char *needle;
    } cases[] = {
        {"ws.jsonl", ws, sizeof ws - 1, "ws.jsonl: line 1: id 'a b': expected a non-empty id"},
        {"empty.jsonl", empty, sizeof empty - 1, "empty.jsonl: line 1: id '': expected"},
        {"dup.jsonl", dup, sizeof dup - 1,
         "dup.jsonl: line 3: document id 'a' already used at line 1"},
        {"dup_pos.jsonl", dup_pos, sizeof dup_pos - 1, "dup_pos.jsonl: line 2: document id '1'"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bad_write(f->tmp, cases[i].name, cases[i].text, cases[i].len);
        char path[4200];
        bad_path(path, f->tmp, cases[i].name);
        const char *args[] = {"score", "--model", f->model, "--query", "q", "--docs", path, NULL};
        bad_expect_fail(args, cases[i].needle, NULL);
    }
}

// rerank --trec used to write lines its own reader rejects; now nothing is
// written and the run tag / qid is named.
static void test_rerank_trec_refuses_bad_ids(void **state) {
    bad_fixture *f = *state;
    char trec[4200];
    bad_path(trec, f->tmp, "out.trec");
    const char *tag[] = {"rerank", "--model", f->model,    "--query", "q",       "--docs", f->docs,
                         "--trec", trec,      "--run-tag", "a b",     "--top-k", "1",      NULL};
    bad_expect_fail(tag, "--run-tag 'a b'", "non-empty without whitespace");
    const char *qid[] = {"rerank", "--model", f->model,     "--query", "q",       "--docs", f->docs,
                         "--trec", trec,      "--trec-qid", "",        "--top-k", "1",      NULL};
    bad_expect_fail(qid, "--trec-qid ''", "non-empty without whitespace");
    struct stat sb;
    assert_int_not_equal(stat(trec, &sb), 0);
}

// A config.json that is a directory was "9223372036854775807 bytes: out of
// memory"; a --docs that is a directory was a bare "read error".
static void test_directories_named(void **state) {
    bad_fixture *f = *state;
    char dir[4200], cfg[4200];
    bad_path(dir, f->tmp, "cfgdir");
    assert_int_equal(mkdir(dir, 0755), 0);
    bad_path(cfg, dir, "config.json");
    assert_int_equal(mkdir(cfg, 0755), 0);
    bad_symlink_model(f, dir, "model.safetensors");
    bad_symlink_model(f, dir, "vocab.txt");
    const char *score[] = {"score", "--model", dir, "--query", "q", "--docs", f->docs, NULL};
    bad_expect_fail(score, "config.json: is a directory", NULL);
    const char *info[] = {"info", "--model", dir, NULL};
    bad_expect_fail(info, "config.json: is a directory", NULL);
    const char *tok[] = {"tokenize", "--model", dir, "--query", "q", NULL};
    bad_expect_fail(tok, "config.json: is a directory", NULL);
    const char *docs[] = {"score", "--model", f->model, "--query", "q", "--docs", dir, NULL};
    bad_expect_fail(docs, "cfgdir: is a directory", NULL);
}

// A config.json with `key` set to `value` (the bert-tiny one edited).
static void bad_config_folder(const bad_fixture *f, const char *name, const char *key,
                              const char *value, char *dir) {
    char *text;
    size_t len;
    assert_int_equal(
        file_read_all(testutil_source_path("tests/data/bert-tiny/config.json"), &text, &len),
        STATUS_OK);
    char pattern[128];
    snprintf(pattern, sizeof pattern, "\"%s\": ", key);
    char *at = strstr(text, pattern);
    assert_non_null(at);
    char *end = at + strlen(pattern);
    while (*end && *end != ',' && *end != '\n')
        end++;
    char out[8192];
    snprintf(out, sizeof out, "%.*s%s%s%s", (int)(at - text), text, pattern, value, end);
    free(text);
    bad_path(dir, f->tmp, name);
    assert_int_equal(mkdir(dir, 0755), 0);
    bad_write(dir, "config.json", out, strlen(out));
    bad_symlink_model(f, dir, "vocab.txt");
}

// num_hidden_layers = 2^32 + 1 passed an (int) cast as 1 and `info` ran for
// minutes; every size is now bounded and named.
static void test_config_sizes_bounded(void **state) {
    bad_fixture *f = *state;
    char dir[4200];
    bad_config_folder(f, "layers", "num_hidden_layers", "4294967297", dir);
    const char *info[] = {"info", "--model", dir, NULL};
    bad_expect_fail(info, "config.json: 'num_hidden_layers' is 4294967297, above the largest",
                    NULL);
    bad_config_folder(f, "vocab", "vocab_size", "1e300", dir);
    const char *info2[] = {"info", "--model", dir, NULL};
    bad_expect_fail(info2, "config.json: key 'vocab_size': expected an integer", NULL);
    bad_config_folder(f, "arch_nul", "model_type", "\"be\\u0000rt\"", dir);
    const char *info3[] = {"info", "--model", dir, NULL};
    bad_expect_fail(info3, "config.json: line 19, column 20: field \"model_type\"", "\\u0000");
}

// A checkpoint with more layers than config.json ran silently as a truncated
// model; now the unused tensors are listed and refused unless asked.
static void test_unused_tensors_refused(void **state) {
    bad_fixture *f = *state;
    char dir[4200];
    bad_config_folder(f, "fewer", "num_hidden_layers", "1", dir);
    bad_symlink_model(f, dir, "model.safetensors");
    const char *score[] = {"score", "--model", dir, "--query", "q", "--docs", f->docs, NULL};
    bad_expect_fail(score, "model.safetensors: 16 tensors are not used",
                    "'bert.encoder.layer.1.attention.self.query.weight'");
    const char *info[] = {"info", "--model", dir, NULL};
    bad_expect_fail(info, "--allow-unused-tensors", NULL);
    const char *allow[] = {"info", "--model", dir, "--allow-unused-tensors", "--json", NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(testutil_run_grating(allow, &out, &err), 0);
    cJSON *root = NULL;
    assert_int_equal(json_parse_text("info --json", out, strlen(out), &root), STATUS_OK);
    const cJSON *unused = cJSON_GetObjectItemCaseSensitive(root, "unused_tensors");
    assert_int_equal(cJSON_GetArraySize(unused), 16);
    assert_string_equal(cJSON_GetArrayItem(unused, 0)->valuestring,
                        "bert.encoder.layer.1.attention.self.query.weight");
    cJSON_Delete(root);
    free(out);
    free(err);
    // Every command that opens the model takes the flag and then runs the
    // config's layers only.
    const char *score_ok[] = {"score",  "--model", dir,     "--query",
                              "q",      "--docs",  f->docs, "--allow-unused-tensors",
                              "--json", NULL};
    out = err = NULL;
    assert_int_equal(testutil_run_grating(score_ok, &out, &err), 0);
    assert_non_null(strstr(out, "\"scores\""));
    free(out);
    free(err);
    const char *rerank[] = {"rerank", "--model", dir,       "--query", "q",
                            "--docs", f->docs,   "--top-k", "1",       NULL};
    bad_expect_fail(rerank, "16 tensors are not used", "--allow-unused-tensors");
    const char *rerank_ok[] = {"rerank", "--model", dir,       "--query", "q",
                               "--docs", f->docs,   "--top-k", "1",       "--allow-unused-tensors",
                               "--json", NULL};
    out = err = NULL;
    assert_int_equal(testutil_run_grating(rerank_ok, &out, &err), 0);
    free(out);
    free(err);
}

// `info` on a folder of config.json alone: the weights are said to be absent
// and every count equals the one of the same config with weights.
static void test_info_without_weights(void **state) {
    bad_fixture *f = *state;
    char dir[4200];
    bad_path(dir, f->tmp, "config-only");
    assert_int_equal(mkdir(dir, 0755), 0);
    char *text;
    size_t len;
    assert_int_equal(
        file_read_all(testutil_source_path("tests/data/bert-tiny/config.json"), &text, &len),
        STATUS_OK);
    bad_write(dir, "config.json", text, len);
    free(text);
    const char *plain[] = {"info", "--model", dir, NULL};
    char *out = NULL, *err = NULL;
    assert_int_equal(testutil_run_grating(plain, &out, &err), 0);
    assert_non_null(strstr(out, "weights:            absent"));
    assert_non_null(strstr(out, "layers:             2"));
    free(out);
    free(err);
    cJSON *a = NULL, *b = NULL;
    const char *ja[] = {"info", "--model", dir, "--json", NULL};
    const char *jb[] = {"info", "--model", f->model, "--json", NULL};
    assert_int_equal(testutil_run_grating(ja, &out, &err), 0);
    assert_int_equal(json_parse_text("info", out, strlen(out), &a), STATUS_OK);
    free(out);
    free(err);
    assert_int_equal(testutil_run_grating(jb, &out, &err), 0);
    assert_int_equal(json_parse_text("info", out, strlen(out), &b), STATUS_OK);
    free(out);
    free(err);
    assert_true(cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(a, "weights_present")));
    assert_true(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(b, "weights_present")));
    const char *same[] = {"parameters", "layers", "embedding_bytes_f32", "head_bytes_f32"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        assert_true(cJSON_GetObjectItemCaseSensitive(a, same[i])->valuedouble ==
                    cJSON_GetObjectItemCaseSensitive(b, same[i])->valuedouble);
    // No torch_dtype in this config: bytes on disk are unknown (null), f32 known.
    assert_true(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(a, "embedding_bytes_disk")));
    const cJSON *la = cJSON_GetObjectItemCaseSensitive(a, "layer_bytes");
    const cJSON *lb = cJSON_GetObjectItemCaseSensitive(b, "layer_bytes");
    assert_int_equal(cJSON_GetArraySize(la), 2);
    assert_true(cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(la, 1), "f32")->valuedouble ==
                cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(lb, 1), "f32")->valuedouble);
    cJSON_Delete(a);
    cJSON_Delete(b);
}

// Vocabulary ids out of range (1e300) were cast from double (UB); the fuzz
// inputs that found it must fail cleanly too.
static void test_tokenizer_ids_out_of_range(void **state) {
    bad_fixture *f = *state;
    char dir[4200];
    bad_path(dir, f->tmp, "wp1e300");
    assert_int_equal(mkdir(dir, 0755), 0);
    const char wp[] = "{\"model\":{\"type\":\"WordPiece\",\"vocab\":{\"[UNK]\":1e300}}}";
    bad_write(dir, "tokenizer.json", wp, sizeof wp - 1);
    const char *tok[] = {"tokenize", "--model", dir, "--query", "q", NULL};
    bad_expect_fail(tok, "tokenizer.json: model: vocab['[UNK]']: expected an integer id in 0..",
                    NULL);
    const char *names[] = {"repros/fuzz-wordpiece-crash-16399821",
                           "repros/wordpiece_vocab_id_1e300.tokenizer.json"};
    for (size_t i = 0; i < 2; i++) {
        const char *src = testutil_shared_path(names[i]);
        if (!src) continue;
        char *text;
        size_t len;
        assert_int_equal(file_read_all(src, &text, &len), STATUS_OK);
        bad_write(dir, "tokenizer.json", text, len);
        free(text);
        const char *again[] = {"tokenize", "--model", dir, "--query", "q", NULL};
        bad_expect_fail(again, "tokenizer.json", NULL);
    }
    // BPE (Qwen3 folder): the real config with the bad tokenizer.
    const char *qcfg = testutil_shared_path("models/qwen3-reranker-tokenizer/config.json");
    if (!qcfg) return;
    bad_path(dir, f->tmp, "bpe1e300");
    assert_int_equal(mkdir(dir, 0755), 0);
    char *text;
    size_t len;
    assert_int_equal(file_read_all(qcfg, &text, &len), STATUS_OK);
    bad_write(dir, "config.json", text, len);
    free(text);
    const char bpe[] = "{\"model\":{\"type\":\"BPE\",\"vocab\":{\"a\":1e300},\"merges\":[]}}";
    bad_write(dir, "tokenizer.json", bpe, sizeof bpe - 1);
    const char *qtok[] = {"tokenize", "--model", dir, "--query", "q", NULL};
    bad_expect_fail(qtok, "tokenizer.json", "token 'a': expected an integer id in 0..");
    const char *qscore[] = {"score", "--model", dir, "--query", "q", "--docs", f->docs, NULL};
    bad_expect_fail(qscore, "tokenizer.json", "expected an integer id");
    const char *fuzz = testutil_shared_path("repros/fuzz-bpe-crash-b4a5727d");
    if (!fuzz) return;
    assert_int_equal(file_read_all(fuzz, &text, &len), STATUS_OK);
    bad_write(dir, "tokenizer.json", text, len);
    free(text);
    bad_expect_fail(qtok, "tokenizer.json", NULL);
}

// NaN weights: the fast exp is defined for NaN (no UB), and the score is a
// clean numeric error naming the candidate and the layer.
static void test_nan_weights_numeric_error(void **state) {
    bad_fixture *f = *state;
    char dir[4200], src[4200], dst[4200];
    bad_path(dir, f->tmp, "nan");
    assert_int_equal(mkdir(dir, 0755), 0);
    bad_symlink_model(f, dir, "config.json");
    bad_symlink_model(f, dir, "vocab.txt");
    bad_path(src, f->model, "model.safetensors");
    bad_path(dst, dir, "model.safetensors");
    char *data;
    size_t len;
    assert_int_equal(file_read_all(src, &data, &len), STATUS_OK);
    testutil_write_file(dst, data, len);
    free(data);
    safetensors_file st;
    assert_int_equal(safetensors_open(&st, dst), STATUS_OK);
    const safetensors_tensor *t =
        safetensors_find(&st, "bert.encoder.layer.0.attention.self.query.weight");
    assert_non_null(t);
    assert_int_equal(t->dtype, SAFETENSORS_F32);
    uint64_t offset = t->offset, n = (uint64_t)t->numel;
    safetensors_close(&st);
    int fd = open(dst, O_WRONLY);
    assert_true(fd >= 0);
    float nan = NAN;
    for (uint64_t i = 0; i < n; i++)
        assert_int_equal(pwrite(fd, &nan, sizeof nan, (off_t)(offset + i * sizeof nan)), 4);
    close(fd);
    const char *score[] = {"score", "--model", dir, "--query", "a", "--docs", f->docs, NULL};
    bad_expect_fail(score, "NaN or infinite score for document 'a'",
                    "candidate 0 has a non-finite score at layer 1");
    const char *rerank[] = {"rerank", "--model", dir, "--query",  "a",           "--docs",
                            f->docs,  "--top-k", "1", "--policy", "cluster-gap", NULL};
    bad_expect_fail(rerank, "NaN or infinite score for document 'a'", "layer 1");
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_docs_nul_rejected),
        cmocka_unit_test(test_docs_bad_ids_rejected),
        cmocka_unit_test(test_rerank_trec_refuses_bad_ids),
        cmocka_unit_test(test_directories_named),
        cmocka_unit_test(test_config_sizes_bounded),
        cmocka_unit_test(test_unused_tensors_refused),
        cmocka_unit_test(test_info_without_weights),
        cmocka_unit_test(test_tokenizer_ids_out_of_range),
        cmocka_unit_test(test_nan_weights_numeric_error),
    };
    return cmocka_run_group_tests(tests, bad_setup, bad_teardown);
}
