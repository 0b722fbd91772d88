#include "model/synth.h"

#include "base/fs_staged.h"
#include "base/clock.h"
#include "base/mem.h"
#include "model/arch.h"
#include "io/safetensors_writer.h"
#include "model/quantize.h"

#include <errno.h>
#include <fcntl.h>
#include <gsl/gsl_rng.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

// sqrt(3): uniform(-a, a) has std a / sqrt(3). A constant, so generation
// needs no libm call.
#define SYNTH_SQRT3 1.7320508075688772

// Files copied from the config's folder when present.
static const char *const synth_tokenizer_files[] = {
    "tokenizer.json",          "vocab.txt",  "tokenizer_config.json",
    "special_tokens_map.json", "vocab.json", "merges.txt",
};

void synth_options_default(synth_options *o) {
    memset(o, 0, sizeof *o);
    o->dtype = SAFETENSORS_F32;
    o->max_shard_bytes = SYNTH_DEFAULT_MAX_SHARD_BYTES;
    o->scale = 1.0;
}

// splitmix64: spreads (seed, index) over the 32 seed bits MT19937 takes.
static uint64_t synth_mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static unsigned long synth_stream_seed(uint64_t seed, size_t index) {
    return (unsigned long)(synth_mix(seed ^ synth_mix((uint64_t)index)) & 0xffffffffull);
}

// How one tensor is initialised: value = offset + uniform(-a, a), computed
// as offset + v * factor with v a 24-bit signed integer.
typedef struct {
    float factor; // a / 2^23
    float offset;
} synth_init;

// The family's init kind of the tensor (its table, core/model/arch.h).
static synth_init synth_init_for(const tensor_spec *spec, double scale) {
    double std = 0.02, offset = 0.0;
    switch ((arch_init)spec->init) {
    case ARCH_INIT_NORM:
        offset = 1.0;
        std = 0.1 / SYNTH_SQRT3; // a = 0.1
        break;
    case ARCH_INIT_BIAS:
        std = 0.02;
        break;
    case ARCH_INIT_HEAD:
        std = 0.5;
        break;
    case ARCH_INIT_WEIGHT:
        std = 0.02 * scale;
        break;
    }
    synth_init in;
    in.factor = (float)(std * SYNTH_SQRT3 / 8388608.0);
    in.offset = (float)offset;
    return in;
}

static void synth_fill(gsl_rng *rng, synth_init in, float *dst, size_t n) {
    for (size_t i = 0; i < n; i++) {
        // MT19937 gives 32 random bits; keep the top 24 as a signed integer
        // in [-2^23, 2^23), exactly representable as a float.
        int32_t v = (int32_t)((uint32_t)gsl_rng_get(rng) >> 8) - (1 << 23);
        // Two statements: one exactly rounded multiply, one add, never
        // contracted into an FMA (which would change the bits on some CPUs).
        float t = (float)v * in.factor;
        dst[i] = t + in.offset;
    }
}

status synth_tensor_values(const tensor_spec *spec, size_t index, uint64_t seed, double scale,
                           float *dst, size_t count) {
    if ((int64_t)count > tensor_spec_numel(spec))
        return status_fail(STATUS_ERR_ARG, "synth: tensor '%s': %zu values requested, it has %lld",
                           spec->name, count, (long long)tensor_spec_numel(spec));
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!rng) return status_fail(STATUS_ERR_NOMEM, "synth: cannot allocate the RNG");
    gsl_rng_set(rng, synth_stream_seed(seed, index));
    synth_fill(rng, synth_init_for(spec, scale), dst, count);
    gsl_rng_free(rng);
    return STATUS_OK;
}

status synth_copy_tokenizer_files(const char *src_dir, const char *dst_dir, int *copied) {
    status st = STATUS_OK;
    *copied = 0;
    for (size_t i = 0; st == STATUS_OK && i < sizeof synth_tokenizer_files / sizeof(char *); i++) {
        char *src = fs_join(src_dir, synth_tokenizer_files[i]);
        char *dst = fs_join(dst_dir, synth_tokenizer_files[i]);
        struct stat sb;
        if (!src || !dst)
            st = status_wrap(STATUS_ERR_NOMEM, "copying the tokenizer of %s", src_dir);
        else if (stat(src, &sb) == 0 && S_ISREG(sb.st_mode) &&
                 (st = fs_copy_file(src, dst)) == STATUS_OK)
            (*copied)++;
        mem_free(src);
        mem_free(dst);
    }
    return st;
}

// Copies the tokenizer files next to the config, or generates vocab.txt.
static status synth_tokenizer(const synth_options *o, const model_config *cfg, const char *tmp,
                              synth_report *r) {
    size_t n = strlen(o->config_path);
    char *src_dir = mem_alloc(MEM_OTHER, n + 2);
    if (!src_dir) return status_wrap(STATUS_ERR_NOMEM, "synth");
    memcpy(src_dir, o->config_path, n + 1);
    char *slash = strrchr(src_dir, '/');
    if (slash)
        *slash = '\0';
    else
        strcpy(src_dir, ".");
    status st = synth_copy_tokenizer_files(src_dir, tmp, &r->tokenizer_copied);
    mem_free(src_dir);
    if (st != STATUS_OK || r->tokenizer_copied > 0) return st;
    if (!cfg->arch->synth_tokenizer) return STATUS_OK; // the family needs real tokenizer files
    return cfg->arch->synth_tokenizer(cfg, tmp, &r->vocab_generated);
}

// Generates and streams every tensor into tmp/.
static status synth_weights(const synth_options *o, const tensor_spec *specs, size_t n,
                            const char *tmp, synth_report *r) {
    safetensors_decl *decls = mem_calloc(MEM_OTHER, (n ? n : 1) * sizeof *decls);
    float *block = mem_alloc(MEM_OTHER, SYNTH_BLOCK * sizeof *block); // (SYNTH_BLOCK,)
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    safetensors_model_writer w;
    int writer_open = 0;
    status st = STATUS_OK;
    if (!decls || !block || !rng) {
        st = status_wrap(STATUS_ERR_NOMEM, "synth: %s", tmp);
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        decls[i].name = specs[i].name;
        decls[i].dtype = o->dtype;
        decls[i].n_dims = specs[i].n_dims;
        for (int d = 0; d < specs[i].n_dims; d++)
            decls[i].shape[d] = specs[i].shape[d];
    }
    if ((st = safetensors_model_writer_init(&w, tmp, decls, n, o->max_shard_bytes))) goto done;
    writer_open = 1;
    for (size_t i = 0; i < n && st == STATUS_OK; i++) {
        gsl_rng_set(rng, synth_stream_seed(o->seed, i));
        synth_init in = synth_init_for(&specs[i], o->scale);
        uint64_t numel = (uint64_t)tensor_spec_numel(&specs[i]);
        for (uint64_t at = 0; at < numel && st == STATUS_OK; at += SYNTH_BLOCK) {
            size_t count = numel - at < SYNTH_BLOCK ? (size_t)(numel - at) : SYNTH_BLOCK;
            synth_fill(rng, in, block, count);
            st = safetensors_model_writer_write_f32(&w, specs[i].name, block, count);
        }
        if (numel == 0 && st == STATUS_OK)
            st = safetensors_model_writer_write_f32(&w, specs[i].name, block, 0);
        r->n_params += numel;
    }
    if (st == STATUS_OK) st = safetensors_model_writer_finish(&w);
    if (st == STATUS_OK) {
        r->n_tensors = n;
        r->n_shards = w.n_shards;
        r->weight_bytes = w.total_size;
    }
done:
    if (writer_open) safetensors_model_writer_free(&w);
    if (rng) gsl_rng_free(rng);
    mem_free(block);
    mem_free(decls);
    return st;
}

status synth_write(const synth_options *o, synth_report *report) {
    double t0 = clock_now_seconds();
    synth_report r;
    memset(&r, 0, sizeof r);
    if (report) memset(report, 0, sizeof *report);
    if (!o->config_path || !o->out_dir || !*o->out_dir)
        return status_fail(STATUS_ERR_ARG, "synth: a config file and an output folder are needed");
    if (!safetensors_dtype_is_float(o->dtype))
        return status_fail(STATUS_ERR_ARG, "synth: dtype %s cannot be written (F32, F16 or BF16)",
                           safetensors_dtype_name(o->dtype));
    if (!(o->scale > 0 && o->scale < 1e6))
        return status_fail(STATUS_ERR_ARG, "synth: scale %g must be positive", o->scale);

    model_config cfg;
    status st = model_config_load(&cfg, o->config_path);
    if (st != STATUS_OK) return st;
    tensor_spec *specs = NULL;
    size_t n_specs = 0;
    if ((st = model_config_tensor_specs(&cfg, &specs, &n_specs))) return st;

    if (o->gptq.bits && (st = gptq_config_check(&o->gptq))) {
        free(specs);
        return status_wrap(st, "synth");
    }
    fs_staged_dir d;
    char *config_dst = NULL, *plain = NULL;
    if ((st = fs_staged_dir_begin(&d, o->out_dir, o->force))) {
        free(specs);
        return st;
    }
    // Quantized: the plain model goes into a subfolder of the staging folder,
    // which quantize_write_into then reads.
    const char *dir = d.tmp;
    if (o->gptq.bits) {
        if (!(plain = fs_join(d.tmp, "plain")))
            st = status_wrap(STATUS_ERR_NOMEM, "synth");
        else if (mkdir(plain, 0755) != 0)
            st = status_fail(STATUS_ERR_IO, "%s: cannot create: %s", plain, strerror(errno));
        dir = plain;
    }
    if (st == STATUS_OK && !(config_dst = fs_join(dir, "config.json")))
        st = status_wrap(STATUS_ERR_NOMEM, "synth");
    if (st == STATUS_OK) st = fs_copy_file(o->config_path, config_dst);
    if (st == STATUS_OK) st = synth_tokenizer(o, &cfg, dir, &r);
    if (st == STATUS_OK) st = synth_weights(o, specs, n_specs, dir, &r);
    if (st == STATUS_OK && plain) {
        quantize_report qr;
        if ((st = quantize_write_into(plain, d.tmp, &o->gptq, &qr)) == STATUS_OK) {
            r.weight_bytes = qr.bytes_out;
            r.n_tensors = qr.n_copied + 4 * qr.n_quantized;
        }
        fs_remove_tree(plain);
    }
    if (st == STATUS_OK) st = fs_staged_dir_commit(&d);
    if (st == STATUS_OK) {
        r.seconds = clock_now_seconds() - t0;
        if (report) *report = r;
    }
    fs_staged_dir_free(&d);
    mem_free(plain);
    mem_free(config_dst);
    free(specs);
    return st;
}

status synth_parse_size(const char *text, uint64_t *out) {
    static const struct {
        const char *unit;
        double mult;
    } units[] = {{"", 1},
                 {"B", 1},
                 {"KB", 1e3},
                 {"MB", 1e6},
                 {"GB", 1e9},
                 {"TB", 1e12},
                 {"KIB", 1024.0},
                 {"MIB", 1048576.0},
                 {"GIB", 1073741824.0},
                 {"TIB", 1099511627776.0}};
    char *end = NULL;
    errno = 0;
    if (!text || !*text || !((text[0] >= '0' && text[0] <= '9') || text[0] == '.'))
        return status_fail(STATUS_ERR_ARG,
                           "size '%s': expected a number of bytes, e.g. 500MB, 2GB or 1073741824",
                           text ? text : "");
    double v = strtod(text, &end);
    while (*end == ' ')
        end++;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(end, units[i].unit) != 0) continue;
        double bytes = v * units[i].mult;
        if (errno || !(bytes >= 1) || bytes > 1.8e19) break;
        *out = (uint64_t)bytes;
        return STATUS_OK;
    }
    return status_fail(STATUS_ERR_ARG,
                       "size '%s': expected a positive number of bytes with an optional unit "
                       "(KB, MB, GB, TB, KiB, MiB, GiB, TiB), e.g. 500MB or 2GB",
                       text);
}
