/*
 * gptq.h - GPTQ group-quantized Linear weights (W4A16 / W8A16) in the layout
 * AutoGPTQ and transformers (optimum) write: for a Linear "X" with weight W
 * (out, in), bits b in {4, 8}, pack factor p = 32 / b, group size g (-1: one
 * group of in columns), n_groups = ceil(in / g):
 *
 *   X.qweight  I32 (in / p, out)      q[i][j] of input i, output j, packed
 *                                     along the input: word [r][j] holds
 *                                     q[r*p + k][j] in bits [k*b, (k+1)*b)
 *   X.qzeros   I32 (n_groups, out / p) zero points packed along the output:
 *                                     word [G][c] holds z[G][c*p + k] in bits
 *                                     [k*b, (k+1)*b), stored as zero - 1 (the
 *                                     "gptq" = v1 checkpoint format)
 *   X.scales   F16 (n_groups, out)
 *   X.g_idx    I32 (in,)              group of each input column
 *   X.bias     as stored (a float tensor, optional, not quantized)
 *
 *   W[j][i] = scales[g_idx[i]][j] * (q[i][j] - (qzeros_stored[g_idx[i]][j] + 1))
 *
 * config.json carries "quantization_config": {"quant_method": "gptq", "bits",
 * "group_size", "desc_act", "sym", "checkpoint_format": "gptq"}; only the
 * v1 "gptq" checkpoint format is read (GPTQModel's "gptq_v2" stores the zero
 * itself and is refused, so that it never dequantizes off by one).
 *
 * Reading: gptq_weight_load() checks every shape and dtype against (out, in,
 * bits, group) and every g_idx value, and keeps the packed tensors in memory
 * (about in*out*b/8 bytes); gptq_weight_dequant_f32/_bf16 then dequantize
 * any rows [r0, r1) of W, so a caller can hold one tile of output rows in
 * f32 or bf16 at a time.
 *
 *     gptq_weight w;
 *     if (gptq_weight_load(&w, ck, checkpoint_gptq(ck), "l.0.q.weight", out, in) == STATUS_OK) {
 *         for (r = 0; r < out; r += 64) gptq_weight_dequant_f32(&w, r, min(r + 64, out), tile);
 *         gptq_weight_free(&w);
 *     }
 *
 * Writing (round to nearest, AutoGPTQ's Quantizer.find_params convention,
 * per group G and output row j over the columns with g_idx == G):
 *   xmin = min(0, min w), xmax = max(0, max w), maxq = 2^b - 1;
 *   sym:  xmax = max(|xmin|, xmax); xmin = -xmax (AutoGPTQ does this only
 *         when xmin < 0: a group with no negative value then gets scale
 *         xmax / maxq around zero 2^(b-1) and its upper half clips to
 *         xmax / 2; we always center it, so scale = 2 max|w| / maxq);
 *   both zero: xmin = -1, xmax = 1;
 *   scale = (xmax - xmin) / maxq (f32), then rounded to f16 (what is stored);
 *   zero = sym ? 2^(b-1) : round(-xmin / scale32), clamped to [1, maxq]
 *          (v1 stores zero - 1, so zero 0 is not representable: AutoGPTQ's
 *          v1 packer wraps it to 2^b - 1; we move it to 1 and quantize with
 *          that zero, so the stored checkpoint dequantizes as quantized);
 *   q = clamp(round(w / scale16) + zero, 0, maxq), round half to even.
 * AutoGPTQ computes q from the f32 scale during GPTQ and re-derives it from
 * the f16 scale in pack(); using the stored f16 scale directly is the
 * round-to-nearest result for the scale the checkpoint actually holds.
 * Columns are grouped by g_idx: i / g (desc_act false) or an act-order
 * permutation (gptq_g_idx_act_order).
 */
#ifndef GRATING_GPTQ_H
#define GRATING_GPTQ_H

#include "io/checkpoint.h"
#include "base/status.h"

#include <stddef.h>
#include <stdint.h>

struct cJSON;

typedef struct gptq_config {
    int bits;       // 4 or 8
    int group_size; // > 0, or -1 for one group over all input columns
    int sym;        // 1: symmetric (zero 2^(b-1))
    int desc_act;   // 1: act-order (g_idx is a permuted grouping)
} gptq_config;

// Parses a "quantization_config" object (path for messages). Refuses
// quant_method other than "gptq", bits other than 4 and 8, group_size 0 or
// < -1, and checkpoint_format other than "gptq" (absent = "gptq").
status gptq_config_parse(const struct cJSON *qc, const char *path, gptq_config *out);

// Reads config.json at path: *present = 0 when it has no
// "quantization_config", else 1 and *out parsed.
status gptq_config_load(const char *path, int *present, gptq_config *out);

// The quantization_config JSON object text (no trailing newline), e.g. for
// config.json: {"quant_method": "gptq", "bits": 4, ...}.
void gptq_config_json(const gptq_config *c, char *buf, size_t cap);

// Checks bits and group_size (e.g. from the command line).
status gptq_config_check(const gptq_config *c);

// Groups of a weight with `in` input columns.
int64_t gptq_n_groups(const gptq_config *c, int64_t in);

// Values per 32-bit word (32 / bits).
int gptq_pack_factor(const gptq_config *c);

// "X.qweight" etc. for weight name "X.weight" (fails when the name does not
// end in ".weight"). suffix is "qweight", "qzeros", "scales" or "g_idx".
status gptq_tensor_name(const char *weight_name, const char *suffix, char *buf, size_t cap);

// 1 when the checkpoint stores weight_name as GPTQ tensors (X.qweight exists).
int gptq_is_quantized(const checkpoint *ck, const char *weight_name);

// Checks that X.qweight, X.qzeros, X.scales and X.g_idx exist with the dtype
// and shape of a (out, in) weight under c; the message names the tensor, what
// was found and what was expected.
status gptq_check_tensors(const checkpoint *ck, const gptq_config *c, const char *weight_name,
                          int64_t out, int64_t in);

// Marks, for the checkpoint's unused-tensor check, the stored tensors of a
// quantized weight: calls mark(ctx, name) for X.qweight/qzeros/scales/g_idx.
void gptq_tensor_names_each(const char *weight_name, void (*mark)(void *ctx, const char *name),
                            void *ctx);

// Stored bytes of the four tensors of a quantized weight (0 when absent).
uint64_t gptq_stored_bytes(const checkpoint *ck, const char *weight_name);

// One quantized weight in memory, packed as on disk.
typedef struct {
    gptq_config cfg;
    int64_t out, in, n_groups;
    uint32_t *qweight; // (in / p, out)
    uint32_t *qzeros;  // (n_groups, out / p), stored zero - 1
    float *scales;     // (n_groups, out) the f16 scales widened (exact)
    int32_t *g_idx;    // (in,) each in [0, n_groups)
} gptq_weight;

// Checks (gptq_check_tensors) and reads the packed tensors; validates g_idx.
status gptq_weight_load(gptq_weight *w, const checkpoint *ck, const gptq_config *c,
                        const char *weight_name, int64_t out, int64_t in);
void gptq_weight_free(gptq_weight *w);

// dst ((r1 - r0), in) = rows [r0, r1) of W, exactly scale * (q - zero).
status gptq_weight_dequant_f32(const gptq_weight *w, int64_t r0, int64_t r1, float *dst);
// The same rounded to bf16 (half.h, round to nearest even).
status gptq_weight_dequant_bf16(const gptq_weight *w, int64_t r0, int64_t r1, uint16_t *dst);

// Elements [first, first + count) of the flattened W (out, in) of a
// quantized weight, dequantized to f32 (checkpoint_read_f32 and _range of a
// quantized name land here); the shape comes from X.qweight and X.g_idx.
status gptq_read_f32_range(const checkpoint *ck, const gptq_config *c, const char *weight_name,
                           size_t first, size_t count, float *dst);

// Writer side.

// g_idx (in,) = i / g (desc_act false).
void gptq_g_idx_plain(const gptq_config *c, int64_t in, int32_t *g_idx);

// Act-order without calibration data: input columns sorted by descending L2
// norm over W (out, in) (ties: lower index first) stand in for GPTQ's
// descending Hessian diagonal; the k-th column of that order gets group
// k / g, as GPTQ's g_idx[invperm] does.
status gptq_g_idx_act_order(const gptq_config *c, const float *W, int64_t out, int64_t in,
                            int32_t *g_idx);

// Round-to-nearest quantization of W (out, in) for the groups of g_idx (see
// the convention above): q (out, in) in [0, maxq], zero (n_groups, out) in
// [1, maxq], scale16 (n_groups, out) as f16 bits.
status gptq_quantize_rtn(const gptq_config *c, const float *W, int64_t out, int64_t in,
                         const int32_t *g_idx, uint8_t *q, uint8_t *zero, uint16_t *scale16);

// Packs q (out, in) into qweight (in / p, out) and zero (n_groups, out) into
// qzeros (n_groups, out / p) storing zero - 1, as AutoGPTQ's QuantLinear.pack.
status gptq_pack(const gptq_config *c, const uint8_t *q, const uint8_t *zero, int64_t out,
                 int64_t in, uint32_t *qweight, uint32_t *qzeros);

#endif
