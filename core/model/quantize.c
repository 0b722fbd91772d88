#include "model/quantize.h"

#include "base/clock.h"
#include "base/fs_staged.h"
#include "base/half.h"
#include "base/json_file.h"
#include "base/mem.h"
#include "io/checkpoint.h"
#include "io/safetensors_writer.h"
#include "model/synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { QUANTIZE_NAME_CAP = TENSOR_NAME_CAP + 16 };

// The GPTQ tensors of one weight, in AutoGPTQ's QuantLinear order.
static const char *const quantize_parts[] = {"qweight", "qzeros", "scales", "g_idx"};

// 1 when spec is a weight that gets quantized: a 2-D tensor of the layer
// stack (the blocks' Linear weights).
static int quantize_takes(const tensor_spec *s) {
    return s->layer >= 0 && s->n_dims == 2;
}

// Buffers for one (out, in) weight.
typedef struct {
    int32_t *g_idx;    // (in,)
    uint8_t *q;        // (out, in)
    uint8_t *zero;     // (G, out)
    uint16_t *scale16; // (G, out)
    uint32_t *qweight; // (in / p, out)
    uint32_t *qzeros;  // (G, out / p)
    float *scales;     // (G, out) widened
    float *row;        // (in,) one dequantized row
} quantize_bufs;

static void quantize_bufs_free(quantize_bufs *b) {
    mem_free(b->g_idx);
    mem_free(b->q);
    mem_free(b->zero);
    mem_free(b->scale16);
    mem_free(b->qweight);
    mem_free(b->qzeros);
    mem_free(b->scales);
    mem_free(b->row);
    memset(b, 0, sizeof *b);
}

static status quantize_bufs_alloc(quantize_bufs *b, const gptq_config *c, int64_t out, int64_t in) {
    memset(b, 0, sizeof *b);
    size_t G = (size_t)gptq_n_groups(c, in), p = (size_t)gptq_pack_factor(c);
    size_t O = (size_t)out, I = (size_t)in;
    b->g_idx = mem_alloc(MEM_OTHER, I * sizeof *b->g_idx);
    b->q = mem_alloc(MEM_OTHER, O * I);
    b->zero = mem_alloc(MEM_OTHER, G * O);
    b->scale16 = mem_alloc(MEM_OTHER, G * O * sizeof *b->scale16);
    b->qweight = mem_alloc(MEM_OTHER, I / p * O * sizeof *b->qweight);
    b->qzeros = mem_alloc(MEM_OTHER, G * (O / p) * sizeof *b->qzeros + 4);
    b->scales = mem_alloc(MEM_OTHER, G * O * sizeof *b->scales);
    b->row = mem_alloc(MEM_OTHER, I * sizeof *b->row);
    if (!b->g_idx || !b->q || !b->zero || !b->scale16 || !b->qweight || !b->qzeros || !b->scales ||
        !b->row) {
        quantize_bufs_free(b);
        return status_wrap(STATUS_ERR_NOMEM, "quantize: a %lld x %lld weight", (long long)out,
                           (long long)in);
    }
    return STATUS_OK;
}

// Quantizes W (out, in) of spec s and writes its four tensors.
static status quantize_one(const gptq_config *c, const tensor_spec *s, const float *W,
                           safetensors_model_writer *w, quantize_report *r) {
    int64_t out = s->shape[0], in = s->shape[1];
    int64_t G = gptq_n_groups(c, in), p = gptq_pack_factor(c);
    quantize_bufs b;
    status st = quantize_bufs_alloc(&b, c, out, in);
    if (st != STATUS_OK) return st;
    if (c->desc_act)
        st = gptq_g_idx_act_order(c, W, out, in, b.g_idx);
    else
        gptq_g_idx_plain(c, in, b.g_idx);
    if (st == STATUS_OK) st = gptq_quantize_rtn(c, W, out, in, b.g_idx, b.q, b.zero, b.scale16);
    if (st == STATUS_OK) st = gptq_pack(c, b.q, b.zero, out, in, b.qweight, b.qzeros);
    if (st != STATUS_OK) {
        quantize_bufs_free(&b);
        return status_wrap(st, "quantize: tensor '%s'", s->name);
    }
    for (size_t i = 0; i < (size_t)(G * out); i++)
        b.scales[i] = half_f16_to_f32(b.scale16[i]);
    // The error of what was written, read back through the loader's dequant.
    gptq_weight gw = {.cfg = *c,
                      .out = out,
                      .in = in,
                      .n_groups = G,
                      .qweight = b.qweight,
                      .qzeros = b.qzeros,
                      .scales = b.scales,
                      .g_idx = b.g_idx};
    for (int64_t j = 0; j < out && st == STATUS_OK; j++) {
        st = gptq_weight_dequant_f32(&gw, j, j + 1, b.row);
        for (int64_t i = 0; i < in && st == STATUS_OK; i++) {
            double e = fabs((double)b.row[i] - (double)W[(size_t)j * (size_t)in + (size_t)i]);
            if (e > r->max_abs_err) r->max_abs_err = e;
        }
    }
    char name[QUANTIZE_NAME_CAP];
    if (st == STATUS_OK && !(st = gptq_tensor_name(s->name, "qweight", name, sizeof name)))
        st = safetensors_model_writer_write_i32(w, name, (const int32_t *)b.qweight,
                                                (size_t)(in / p * out));
    if (st == STATUS_OK && !(st = gptq_tensor_name(s->name, "qzeros", name, sizeof name)))
        st = safetensors_model_writer_write_i32(w, name, (const int32_t *)b.qzeros,
                                                (size_t)(G * (out / p)));
    if (st == STATUS_OK && !(st = gptq_tensor_name(s->name, "scales", name, sizeof name)))
        st = safetensors_model_writer_write_f32(w, name, b.scales, (size_t)(G * out));
    if (st == STATUS_OK && !(st = gptq_tensor_name(s->name, "g_idx", name, sizeof name)))
        st = safetensors_model_writer_write_i32(w, name, b.g_idx, (size_t)in);
    quantize_bufs_free(&b);
    return st;
}

// Declares every tensor of the output in spec order; names go into `names`
// (QUANTIZE_NAME_CAP bytes each, 4 per quantized weight).
static status quantize_declare(const checkpoint *ck, const gptq_config *c, safetensors_decl *decls,
                               char *names, size_t *n) {
    int64_t p = gptq_pack_factor(c);
    *n = 0;
    for (size_t i = 0; i < ck->n_specs; i++) {
        const tensor_spec *s = &ck->specs[i];
        if (!quantize_takes(s)) {
            checkpoint_tensor t;
            status st = checkpoint_find(ck, s->name, &t);
            if (st != STATUS_OK) return st;
            safetensors_decl *d = &decls[(*n)++];
            d->name = s->name;
            d->dtype = t.info->dtype; // copied as stored
            d->n_dims = s->n_dims;
            for (int k = 0; k < s->n_dims; k++)
                d->shape[k] = s->shape[k];
            continue;
        }
        int64_t out = s->shape[0], in = s->shape[1], G = gptq_n_groups(c, in);
        if (in % p != 0 || out % p != 0)
            return status_fail(STATUS_ERR_SHAPE,
                               "quantize: tensor '%s' (%lld x %lld) cannot be packed at bits=%d: "
                               "both dimensions must be multiples of %lld",
                               s->name, (long long)out, (long long)in, c->bits, (long long)p);
        const int64_t shapes[4][2] = {{in / p, out}, {G, out / p}, {G, out}, {in, 0}};
        const safetensors_dtype dtypes[4] = {SAFETENSORS_I32, SAFETENSORS_I32, SAFETENSORS_F16,
                                             SAFETENSORS_I32};
        for (int k = 0; k < 4; k++) {
            char *name = names + *n * QUANTIZE_NAME_CAP;
            status st = gptq_tensor_name(s->name, quantize_parts[k], name, QUANTIZE_NAME_CAP);
            if (st != STATUS_OK) return st;
            safetensors_decl *d = &decls[(*n)++];
            d->name = name;
            d->dtype = dtypes[k];
            d->n_dims = k == 3 ? 1 : 2;
            d->shape[0] = shapes[k][0];
            d->shape[1] = shapes[k][1];
        }
    }
    return STATUS_OK;
}

static status quantize_weights(const checkpoint *ck, const gptq_config *c, const char *dst,
                               quantize_report *r) {
    size_t cap = ck->n_specs * 4 + 1, n = 0;
    safetensors_decl *decls = mem_calloc(MEM_OTHER, cap * sizeof *decls);
    char *names = mem_calloc(MEM_OTHER, cap * QUANTIZE_NAME_CAP);
    float *buf = NULL;
    safetensors_model_writer w;
    int writer_open = 0;
    status st = STATUS_OK;
    if (!decls || !names) {
        st = status_wrap(STATUS_ERR_NOMEM, "quantize");
        goto done;
    }
    if ((st = quantize_declare(ck, c, decls, names, &n))) goto done;
    if ((st = safetensors_model_writer_init(&w, dst, decls, n, SYNTH_DEFAULT_MAX_SHARD_BYTES)))
        goto done;
    writer_open = 1;
    for (size_t i = 0; i < ck->n_specs && st == STATUS_OK; i++) {
        const tensor_spec *s = &ck->specs[i];
        size_t numel = (size_t)tensor_spec_numel(s);
        mem_free(buf);
        buf = mem_alloc(MEM_OTHER, (numel ? numel : 1) * sizeof *buf);
        if (!buf) {
            st = status_wrap(STATUS_ERR_NOMEM, "quantize: tensor '%s'", s->name);
            break;
        }
        checkpoint_tensor t;
        if ((st = checkpoint_find(ck, s->name, &t))) break;
        r->bytes_in += t.info->n_bytes;
        if ((st = checkpoint_read_f32(ck, s->name, buf, numel))) break;
        if (quantize_takes(s)) {
            st = quantize_one(c, s, buf, &w, r);
            r->n_quantized++;
        } else {
            st = safetensors_model_writer_write_f32(&w, s->name, buf, numel);
            r->n_copied++;
        }
    }
    if (st == STATUS_OK) st = safetensors_model_writer_finish(&w);
    if (st == STATUS_OK) r->bytes_out = w.total_size;
done:
    if (writer_open) safetensors_model_writer_free(&w);
    mem_free(buf);
    mem_free(names);
    mem_free(decls);
    return st;
}

// dst/config.json = in's config.json plus "quantization_config".
static status quantize_config(const char *in_config, const gptq_config *c, const char *dst) {
    cJSON *root;
    status st = json_file_parse(in_config, &root);
    if (st != STATUS_OK) return st;
    char text[256];
    gptq_config_json(c, text, sizeof text);
    cJSON *qc = cJSON_Parse(text);
    char *out = NULL;
    if (!qc || !cJSON_IsObject(root)) {
        cJSON_Delete(qc);
        st = status_fail(STATUS_ERR_FORMAT, "%s: cannot add quantization_config", in_config);
    } else {
        cJSON_DeleteItemFromObjectCaseSensitive(root, "quantization_config");
        cJSON_AddItemToObject(root, "quantization_config", qc);
        out = cJSON_Print(root);
        if (!out) st = status_fail(STATUS_ERR_NOMEM, "%s: printing config.json", in_config);
    }
    char *path = st == STATUS_OK ? fs_join(dst, "config.json") : NULL;
    if (st == STATUS_OK && !path) st = status_wrap(STATUS_ERR_NOMEM, "quantize");
    if (st == STATUS_OK) {
        FILE *f = fopen(path, "w");
        if (!f || fprintf(f, "%s\n", out) < 0 || fclose(f) != 0)
            st = status_fail(STATUS_ERR_IO, "%s: cannot write", path);
    }
    mem_free(path);
    free(out); // cJSON's allocation
    cJSON_Delete(root);
    return st;
}

status quantize_write_into(const char *in_dir, const char *dst, const gptq_config *c,
                           quantize_report *report) {
    double t0 = clock_now_seconds();
    quantize_report r;
    memset(&r, 0, sizeof r);
    status st = gptq_config_check(c);
    if (st != STATUS_OK) return status_wrap(st, "quantize");
    checkpoint ck;
    if ((st = checkpoint_open(&ck, in_dir))) return st;
    char *config = NULL;
    if (checkpoint_gptq(&ck))
        st =
            status_fail(STATUS_ERR_ARG,
                        "%s: already GPTQ-quantized (config.json has quantization_config)", in_dir);
    if (st == STATUS_OK) st = quantize_weights(&ck, c, dst, &r);
    if (st == STATUS_OK && !(config = fs_join(ck.dir, "config.json")))
        st = status_wrap(STATUS_ERR_NOMEM, "quantize");
    if (st == STATUS_OK) st = quantize_config(config, c, dst);
    if (st == STATUS_OK) st = synth_copy_tokenizer_files(ck.dir, dst, &r.tokenizer_copied);
    mem_free(config);
    checkpoint_close(&ck);
    r.seconds = clock_now_seconds() - t0;
    if (st == STATUS_OK && report) *report = r;
    return st;
}

status quantize_write(const quantize_options *o, quantize_report *report) {
    if (!o->in_dir || !o->out_dir)
        return status_fail(STATUS_ERR_ARG, "quantize: an input and an output folder are needed");
    fs_staged_dir d;
    status st = fs_staged_dir_begin(&d, o->out_dir, o->force);
    if (st != STATUS_OK) return st;
    st = quantize_write_into(o->in_dir, d.tmp, &o->gptq, report);
    if (st == STATUS_OK) st = fs_staged_dir_commit(&d);
    fs_staged_dir_free(&d);
    return st;
}
