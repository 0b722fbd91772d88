/*
 * half.h - exact conversions between the 16-bit float formats of checkpoints
 * (IEEE binary16 "F16" and bfloat16 "BF16") and f32. Header-only: the
 * conversions sit in the inner loops of weight loading and writing.
 *
 *     float x = half_f16_to_f32(0x3c00);        // 1.0f
 *     uint16_t b = half_f32_to_bf16(3.14159f);  // 0x4049 (round to nearest even)
 *
 * Widening (f16/bf16 -> f32) is exact for every input, including f16
 * subnormals, infinities and NaN payloads. Narrowing rounds to nearest, ties
 * to even (what PyTorch's .to(torch.float16/bfloat16) does), overflows to
 * infinity, and keeps NaN a NaN with as much of its payload as fits (a NaN
 * whose kept payload bits would all be zero gets the quiet bit so it does not
 * turn into an infinity). So every f16 value survives f16 -> f32 -> f16 and
 * every bf16 value survives bf16 -> f32 -> bf16 bit for bit.
 *
 * Only integer operations are used, so results do not depend on the FPU mode.
 */
#ifndef GRATING_HALF_H
#define GRATING_HALF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

static inline float half_bits_to_f32(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

static inline uint32_t half_f32_to_bits(float f) {
    uint32_t bits;
    memcpy(&bits, &f, sizeof bits);
    return bits;
}

static inline float half_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu;
    uint32_t mant = h & 0x3ffu;
    if (exp == 0x1f) return half_bits_to_f32(sign | 0x7f800000u | (mant << 13)); // inf, NaN
    if (exp != 0) return half_bits_to_f32(sign | ((exp + 112) << 23) | (mant << 13));
    if (mant == 0) return half_bits_to_f32(sign); // +-0
    // Subnormal (mant * 2^-24): normalise so the leading 1 becomes implicit.
    uint32_t shift = 0;
    while (!(mant & 0x400u)) {
        mant <<= 1;
        shift++;
    }
    return half_bits_to_f32(sign | ((113 - shift) << 23) | ((mant & 0x3ffu) << 13));
}

static inline uint16_t half_f32_to_f16(float f) {
    uint32_t x = half_f32_to_bits(f);
    uint16_t sign = (uint16_t)((x >> 16) & 0x8000u);
    uint32_t exp = (x >> 23) & 0xffu;
    uint32_t mant = x & 0x7fffffu;
    if (exp == 0xff) {
        if (mant == 0) return sign | 0x7c00u; // inf
        uint32_t m = mant >> 13;
        if (m == 0) m = 0x200; // payload only in dropped bits: keep it a NaN
        return (uint16_t)(sign | 0x7c00u | m);
    }
    int32_t e = (int32_t)exp - 112;       // f16 biased exponent
    if (e >= 0x1f) return sign | 0x7c00u; // overflow
    if (e <= 0) {
        // Result is an f16 subnormal (or zero): units of 2^-24.
        if (e < -10) return sign; // below half the smallest subnormal
        uint32_t m24 = mant | 0x800000u;
        uint32_t shift = (uint32_t)(14 - e); // 14..24
        uint32_t m = m24 >> shift;
        uint32_t rem = m24 & ((1u << shift) - 1);
        uint32_t half = 1u << (shift - 1);
        if (rem > half || (rem == half && (m & 1u))) m++; // may carry into the smallest normal
        return (uint16_t)(sign | m);
    }
    uint32_t h = ((uint32_t)e << 10) | (mant >> 13);
    uint32_t rem = mant & 0x1fffu;
    if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++; // a carry may round up to inf
    return (uint16_t)(sign | h);
}

static inline float half_bf16_to_f32(uint16_t b) {
    return half_bits_to_f32((uint32_t)b << 16);
}

static inline uint16_t half_f32_to_bf16(float f) {
    uint32_t x = half_f32_to_bits(f);
    if ((x & 0x7fffffffu) > 0x7f800000u) { // NaN
        uint16_t b = (uint16_t)(x >> 16);
        if (!(b & 0x7fu)) b |= 0x40u;
        return b;
    }
    x += 0x7fffu + ((x >> 16) & 1u); // round to nearest even; overflow lands on inf
    return (uint16_t)(x >> 16);
}

// Arrays, written without branches (selects only) so the loops vectorise:
// the same results as the scalar conversions above, bit for bit (the matmul
// kernels round a chunk of activations per call, where a scalar branchy loop
// would cost a noticeable share of a bf16 matmul).
static inline void half_f32_to_bf16_array(const float *x, uint16_t *out, size_t n) {
    for (size_t i = 0; i < n; i++) {
        uint32_t u = half_f32_to_bits(x[i]);
        uint16_t hi = (uint16_t)(u >> 16);
        uint16_t rounded = (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
        uint16_t nan = (hi & 0x7fu) ? hi : (uint16_t)(hi | 0x40u);
        out[i] = (u & 0x7fffffffu) > 0x7f800000u ? nan : rounded;
    }
}

static inline void half_bf16_to_f32_array(const uint16_t *b, float *out, size_t n) {
    for (size_t i = 0; i < n; i++)
        out[i] = half_bf16_to_f32(b[i]);
}

#endif
