// Qwen3ForCausalLM configs (core/model/model_config.c): the real Qwen3-Reranker-0.6B
// and -8B configs give the published parameter counts, recomputed here from
// the architecture's shapes; options the forward does not implement are
// rejected with messages that name the key; defaults follow transformers'
// Qwen3Config; `grating info` describes a generated Qwen3 folder.
#include "testutil.h"

#include "model/arch.h"
#include "model/model_config.h"
#include "model/synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Parameters of a Qwen3ForCausalLM from its sizes, written out independently
// of model_config_tensor_specs().
static uint64_t qwen3_params(uint64_t V, uint64_t H, uint64_t L, uint64_t nh, uint64_t nkv,
                             uint64_t hd, uint64_t F, int tied) {
    uint64_t attn = H * nh * hd + 2 * H * nkv * hd + nh * hd * H + 2 * hd;
    uint64_t mlp = 3 * H * F;
    uint64_t norms = 2 * H;
    return V * H * (tied ? 1 : 2) + L * (attn + mlp + norms) + H;
}

static uint64_t spec_params(const model_config *c, size_t *n_specs) {
    tensor_spec *specs;
    size_t n;
    if (model_config_tensor_specs(c, &specs, &n) != STATUS_OK) fail_msg("%s", status_message());
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += (uint64_t)tensor_spec_numel(&specs[i]);
    free(specs);
    if (n_specs) *n_specs = n;
    return total;
}

static void test_real_0_6b_config(void **state) {
    (void)state;
    const char *path = testutil_shared_path("models/qwen3-reranker-tokenizer/config.json");
    if (!path) skip();
    model_config c;
    if (model_config_load(&c, path) != STATUS_OK) fail_msg("%s", status_message());
    assert_true(c.arch == arch_find("Qwen3ForCausalLM"));
    assert_string_equal(c.arch->name, "qwen3");
    assert_string_equal(c.arch_name, "Qwen3ForCausalLM");
    assert_int_equal(c.vocab_size, 151669);
    assert_int_equal(c.hidden_size, 1024);
    assert_int_equal(c.n_layers, 28);
    assert_int_equal(c.n_heads, 16);
    assert_int_equal(c.n_kv_heads, 8);
    assert_int_equal(c.head_dim, 128);
    assert_int_equal(c.intermediate_size, 3072);
    assert_int_equal(c.max_position_embeddings, 40960);
    assert_true(c.layer_norm_eps == 1e-6);
    assert_true(c.rope_theta == 1e6);
    assert_true(c.tie_word_embeddings);
    size_t n;
    uint64_t p = spec_params(&c, &n);
    printf("Qwen3-Reranker-0.6B: %zu tensors, %llu parameters\n", n, (unsigned long long)p);
    assert_int_equal(n, 1 + 28 * 11 + 1); // tied: no lm_head.weight
    assert_int_equal(p, qwen3_params(151669, 1024, 28, 16, 8, 128, 3072, 1));
    assert_int_equal(p, 595776512ull);
}

static void test_real_8b_config(void **state) {
    (void)state;
    const char *path = testutil_shared_path(
        "models/qwen3-reranker-tokenizer/Qwen3-Reranker-8B.config.transcribed.json");
    if (!path) skip();
    model_config c;
    if (model_config_load(&c, path) != STATUS_OK) fail_msg("%s", status_message());
    assert_false(c.tie_word_embeddings);
    tensor_spec *specs;
    size_t n;
    assert_int_equal(model_config_tensor_specs(&c, &specs, &n), STATUS_OK);
    assert_int_equal(n, 1 + 36 * 11 + 2);
    assert_string_equal(specs[n - 1].name, "lm_head.weight");
    assert_int_equal(specs[n - 1].shape[0], 151669);
    assert_int_equal(specs[n - 1].shape[1], 4096);
    free(specs);
    uint64_t p = spec_params(&c, NULL);
    printf("Qwen3-Reranker-8B: %llu parameters\n", (unsigned long long)p);
    assert_int_equal(p, qwen3_params(151669, 4096, 36, 32, 8, 128, 12288, 0));
    assert_int_equal(p, 8188548096ull); // the count of the model info report (PROVENANCE.md)
}

// Tensor names, shapes and order of the reduced test config.
static void test_tiny_specs(void **state) {
    (void)state;
    model_config c;
    if (model_config_load(&c, testutil_source_path("tests/data/qwen3-tiny-untied/config.json")))
        fail_msg("%s", status_message());
    assert_int_equal(c.head_dim, 48); // heads * head_dim = 192 != hidden 128
    tensor_spec *s;
    size_t n;
    assert_int_equal(model_config_tensor_specs(&c, &s, &n), STATUS_OK);
    assert_int_equal(n, 1 + 2 * 11 + 2);
    assert_string_equal(s[0].name, "model.embed_tokens.weight");
    assert_int_equal(s[0].layer, -1);
    const char *layer0[] = {
        "input_layernorm",  "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj",
        "self_attn.o_proj", "self_attn.q_norm", "self_attn.k_norm", "post_attention_layernorm",
        "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj"};
    const int64_t shapes[][2] = {{128, 0}, {192, 128}, {48, 128},  {48, 128},  {128, 192}, {48, 0},
                                 {48, 0},  {128, 0},   {384, 128}, {384, 128}, {128, 384}};
    for (size_t k = 0; k < 11; k++) {
        char want[128];
        snprintf(want, sizeof want, "model.layers.0.%s.weight", layer0[k]);
        assert_string_equal(s[1 + k].name, want);
        assert_int_equal(s[1 + k].layer, 0);
        assert_int_equal(s[1 + k].shape[0], shapes[k][0]);
        if (shapes[k][1])
            assert_int_equal(s[1 + k].shape[1], shapes[k][1]);
        else
            assert_int_equal(s[1 + k].n_dims, 1);
    }
    assert_string_equal(s[n - 2].name, "model.norm.weight");
    assert_string_equal(s[n - 1].name, "lm_head.weight");
    free(s);
    assert_int_equal(spec_params(&c, NULL), qwen3_params(151669, 128, 2, 4, 1, 48, 384, 0));
}

// Writes the tiny config with `edit` applied (replace `from` by `to`; from ==
// NULL appends `to` as the first key) and loads it.
static status load_edited(const char *from, const char *to, model_config *c) {
    FILE *f = fopen(testutil_source_path("tests/data/qwen3-tiny/config.json"), "rb");
    assert_non_null(f);
    char text[8192];
    size_t len = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[len] = '\0';
    char out[8192 + 512];
    if (from) {
        char *at = strstr(text, from);
        assert_non_null(at);
        snprintf(out, sizeof out, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    } else {
        snprintf(out, sizeof out, "{%s,%s", to, text + 1);
    }
    char *tmp = testutil_tmpdir();
    char path[4200];
    snprintf(path, sizeof path, "%s/config.json", tmp);
    testutil_write_file(path, out, strlen(out));
    status st = model_config_load(c, path);
    printf("%s%-40.40s -> %s%s%s\n", *to ? "" : "without ", *to ? to : from, status_name(st),
           st ? ": " : "", st ? status_message() : "");
    testutil_rmtree(tmp);
    free(tmp);
    return st;
}

static void expect_error(const char *from, const char *to, status code, const char *needle) {
    model_config c;
    assert_int_equal(load_edited(from, to, &c), code);
    assert_non_null(strstr(status_message(), needle));
    assert_non_null(strstr(status_message(), "config.json"));
}

static void test_unsupported_options_are_rejected(void **state) {
    (void)state;
    expect_error("\"rope_scaling\": null",
                 "\"rope_scaling\": {\"rope_type\": \"yarn\", \"factor\": 4.0}",
                 STATUS_ERR_UNSUPPORTED, "rope_scaling of type 'yarn' is not supported");
    expect_error("\"rope_scaling\": null", "\"rope_scaling\": {\"factor\": 2.0}",
                 STATUS_ERR_UNSUPPORTED, "rope_scaling is not supported");
    expect_error("\"attention_bias\": false", "\"attention_bias\": true", STATUS_ERR_UNSUPPORTED,
                 "attention_bias true is not supported");
    expect_error("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3", STATUS_ERR_FORMAT,
                 "num_attention_heads 4 is not divisible by num_key_value_heads 3");
    expect_error("\"hidden_act\": \"silu\"", "\"hidden_act\": \"gelu\"", STATUS_ERR_UNSUPPORTED,
                 "hidden_act 'gelu' is not supported");
    expect_error("\"use_sliding_window\": false", "\"use_sliding_window\": true",
                 STATUS_ERR_UNSUPPORTED, "use_sliding_window true");
    expect_error("\"head_dim\": 64", "\"head_dim\": 63", STATUS_ERR_FORMAT,
                 "head_dim 63 must be even");
    expect_error("\"hidden_size\": 256", "\"hidden_size\": 0", STATUS_ERR_FORMAT,
                 "'hidden_size' must be positive");
    expect_error("\"hidden_size\": 256", "\"hidden_size\": \"256\"", STATUS_ERR_FORMAT,
                 "hidden_size");
    expect_error("\"rms_norm_eps\": 1e-06", "\"rms_norm_eps\": 0", STATUS_ERR_FORMAT,
                 "rms_norm_eps must be positive");
    expect_error("\"vocab_size\": 151669", "\"vocab_sizes\": 151669", STATUS_ERR_MISSING,
                 "vocab_size");
    // Issue 10: sizes beyond a sane bound are errors, never truncated by a cast
    // (2^32 + 1 layers used to pass as 1 through (int)).
    expect_error("\"num_hidden_layers\": 4", "\"num_hidden_layers\": 4294967297", STATUS_ERR_FORMAT,
                 "'num_hidden_layers' is 4294967297, above the largest");
    expect_error("\"num_hidden_layers\": 4", "\"num_hidden_layers\": 9007199254740993",
                 STATUS_ERR_FORMAT, "num_hidden_layers");
    expect_error("\"vocab_size\": 151669", "\"vocab_size\": 1e300", STATUS_ERR_FORMAT,
                 "vocab_size");
    expect_error("\"intermediate_size\": 768", "\"intermediate_size\": 2097152", STATUS_ERR_FORMAT,
                 "'intermediate_size' is 2097152, above");
    expect_error("\"rms_norm_eps\": 1e-06", "\"rms_norm_eps\": 5", STATUS_ERR_FORMAT, "below 1");
    // Each size within its bound, the product beyond: vocab 2^24 x hidden 2^16.
    expect_error(NULL, "\"vocab_size\": 16777216, \"hidden_size\": 65536", STATUS_ERR_FORMAT,
                 "more than 1099511627776 parameters");
    expect_error("\"hidden_act\": \"silu\"", "\"hidden_act\": \"si\\u0000lu\"", STATUS_ERR_FORMAT,
                 "field \"hidden_act\" contains the escape \\u0000");
    expect_error("\"Qwen3ForCausalLM\"", "\"Qwen3ForSequenceClassification\"",
                 STATUS_ERR_UNSUPPORTED, "Qwen3ForSequenceClassification is not supported");
    expect_error("\"rope_scaling\": null",
                 "\"rope_parameters\": {\"rope_type\": \"linear\", \"factor\": 2.0}",
                 STATUS_ERR_UNSUPPORTED, "rope_type 'linear'");
}

static void test_defaults_follow_transformers(void **state) {
    (void)state;
    model_config c;
    // head_dim absent: transformers' Qwen3Config default 128 (not hidden / heads).
    assert_int_equal(load_edited("\"head_dim\": 64,", "", &c), STATUS_OK);
    assert_int_equal(c.head_dim, 128);
    // num_key_value_heads null: as many as query heads.
    assert_int_equal(load_edited("\"num_key_value_heads\": 2", "\"num_key_value_heads\": null", &c),
                     STATUS_OK);
    assert_int_equal(c.n_kv_heads, 4);
    // num_key_value_heads absent: Qwen3Config's default 32, not divisible here.
    assert_int_equal(load_edited("\"num_key_value_heads\": 2,", "", &c), STATUS_ERR_FORMAT);
    assert_non_null(strstr(status_message(), "num_key_value_heads 32"));
    // rope_theta from the newer "rope_parameters" form.
    assert_int_equal(load_edited("\"rope_scaling\": null",
                                 "\"rope_parameters\": {\"rope_type\": \"default\", "
                                 "\"rope_theta\": 500000.0}",
                                 &c),
                     STATUS_OK);
    assert_true(c.rope_theta == 5e5);
    // tie_word_embeddings absent: false (Qwen3Config), so lm_head.weight is expected.
    assert_int_equal(load_edited("\"tie_word_embeddings\": true,", "", &c), STATUS_OK);
    assert_false(c.tie_word_embeddings);
    assert_int_equal(load_edited(NULL, "\"rope_theta_unused\": 1", &c), STATUS_OK);
    assert_true(c.tie_word_embeddings && c.rope_theta == 1e6 && c.layer_norm_eps == 1e-6);
}

static void test_grating_info_on_a_qwen3_folder(void **state) {
    (void)state;
    char *tmp = testutil_tmpdir();
    char out[4200];
    snprintf(out, sizeof out, "%s/m", tmp);
    synth_options o;
    synth_options_default(&o);
    o.config_path = testutil_source_path("tests/data/qwen3-tiny/config.json");
    o.out_dir = out;
    o.dtype = SAFETENSORS_BF16;
    o.max_shard_bytes = 30000000; // several shards + index
    synth_report r;
    if (synth_write(&o, &r) != STATUS_OK) fail_msg("%s", status_message());
    assert_true(r.n_shards > 1);
    const char *args[] = {"info", "--model", out, NULL};
    char *stdout_text = NULL, *stderr_text = NULL;
    int rc = testutil_run_grating(args, &stdout_text, &stderr_text);
    printf("%s%s", stdout_text, stderr_text);
    assert_int_equal(rc, 0);
    assert_non_null(strstr(stdout_text, "Qwen3ForCausalLM"));
    char want[64];
    uint64_t p = qwen3_params(151669, 256, 4, 4, 2, 64, 768, 1);
    assert_int_equal(r.n_params, p);
    assert_int_equal(p, 41975808);
    snprintf(want, sizeof want, "41,975,808");
    assert_non_null(strstr(stdout_text, want));
    assert_non_null(strstr(stdout_text, "BF16"));
    free(stdout_text);
    free(stderr_text);
    testutil_rmtree(tmp);
    free(tmp);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_0_6b_config),
        cmocka_unit_test(test_real_8b_config),
        cmocka_unit_test(test_tiny_specs),
        cmocka_unit_test(test_unsupported_options_are_rejected),
        cmocka_unit_test(test_defaults_follow_transformers),
        cmocka_unit_test(test_grating_info_on_a_qwen3_folder),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
