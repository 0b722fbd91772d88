// Tests of the safetensors reader (header validation with file- and
// tensor-named errors, F32/F16/BF16 reads, range reads, short reads), the
// half-precision conversions (exhaustive round trips, rounding, against the
// compiler's _Float16), and the streaming writer and shard planner.
#include "testutil.h"

#include "base/half.h"
#include "base/mem.h"
#include "io/safetensors.h"
#include "io/safetensors_writer.h"
#include "base/json_file.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

// ---------------------------------------------------------------- helpers

static char *tmp_root;

static int setup(void **state) {
    (void)state;
    tmp_root = testutil_tmpdir();
    return 0;
}

static int teardown(void **state) {
    (void)state;
    testutil_rmtree(tmp_root);
    free(tmp_root);
    return 0;
}

static const char *path_in_tmp(const char *name) {
    static char buf[4][4096];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof buf[0], "%s/%s", tmp_root, name);
    return p;
}

// Writes [8-byte length = header_len][header][data] to tmp/name.
static const char *write_raw(const char *name, uint64_t header_len, const char *header,
                             size_t header_bytes, const void *data, size_t n) {
    size_t total = 8 + header_bytes + n;
    unsigned char *buf = malloc(total ? total : 1);
    assert_non_null(buf);
    for (int i = 0; i < 8; i++)
        buf[i] = (unsigned char)(header_len >> (8 * i));
    memcpy(buf + 8, header, header_bytes);
    if (n) memcpy(buf + 8 + header_bytes, data, n);
    const char *path = path_in_tmp(name);
    testutil_write_file(path, buf, total);
    free(buf);
    return path;
}

static const char *write_st(const char *name, const char *header, const void *data, size_t n) {
    return write_raw(name, strlen(header), header, strlen(header), data, n);
}

// Expects open to fail with `code` and a message naming the file and
// containing each of the given fragments (NULL-terminated).
static void expect_open_error(const char *path, status code, const char *frag1, const char *frag2) {
    safetensors_file f;
    status st = safetensors_open(&f, path);
    if (st != code) fprintf(stderr, "got status %d: %s\n", st, status_message());
    assert_int_equal(st, code);
    const char *msg = status_message();
    if (!strstr(msg, path) || (frag1 && !strstr(msg, frag1)) || (frag2 && !strstr(msg, frag2)))
        fprintf(stderr, "message: %s\n", msg);
    assert_non_null(strstr(msg, path));
    if (frag1) assert_non_null(strstr(msg, frag1));
    if (frag2) assert_non_null(strstr(msg, frag2));
}

// ---------------------------------------------------------------- half.h

static void test_half_f16_exhaustive_round_trip(void **state) {
    (void)state;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = half_f16_to_f32((uint16_t)h);
        uint16_t back = half_f32_to_f16(f);
        if (back != h) fprintf(stderr, "f16 0x%04x -> %a -> 0x%04x\n", h, f, back);
        assert_int_equal(back, h);
        int exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
        if (exp == 0x1f && mant) assert_true(isnan(f));
        if (exp == 0x1f && !mant) assert_true(isinf(f));
        // Value check: (-1)^s * 2^(e-15) * (1 + m/1024), or m * 2^-24.
        if (exp != 0x1f) {
            double v = exp ? ldexp(1.0 + mant / 1024.0, exp - 15) : ldexp((double)mant, -24);
            if (h & 0x8000) v = -v;
            assert_true((double)f == v);
        }
    }
}

static void test_half_f16_hand_values(void **state) {
    (void)state;
    assert_true(half_f16_to_f32(0x3c00) == 1.0f);
    assert_true(half_f16_to_f32(0xc000) == -2.0f);
    assert_true(half_f16_to_f32(0x7bff) == 65504.0f);
    assert_true(half_f16_to_f32(0x0001) == ldexpf(1.0f, -24)); // smallest subnormal
    assert_true(half_f16_to_f32(0x03ff) == 1023.0f * ldexpf(1.0f, -24));
    assert_true(half_f16_to_f32(0x0400) == ldexpf(1.0f, -14)); // smallest normal
    assert_true(signbit(half_f16_to_f32(0x8000)) && half_f16_to_f32(0x8000) == 0.0f);
    assert_true(isinf(half_f16_to_f32(0xfc00)) && half_f16_to_f32(0xfc00) < 0);

    assert_int_equal(half_f32_to_f16(1.0f), 0x3c00);
    assert_int_equal(half_f32_to_f16(65519.0f), 0x7bff); // below the midpoint
    assert_int_equal(half_f32_to_f16(65520.0f), 0x7c00); // midpoint to inf: even
    assert_int_equal(half_f32_to_f16(1e9f), 0x7c00);     // overflow
    assert_int_equal(half_f32_to_f16(-1e9f), 0xfc00);
    assert_int_equal(half_f32_to_f16(1.0f + 0x1p-11f), 0x3c00); // tie -> even (down)
    assert_int_equal(half_f32_to_f16(1.0f + 0x3p-11f), 0x3c02); // tie -> even (up)
    assert_int_equal(half_f32_to_f16(1.0f + 0x1.01p-11f), 0x3c01);
    assert_int_equal(half_f32_to_f16(0x1p-25f), 0x0000); // half the smallest: even
    assert_int_equal(half_f32_to_f16(0x1.0001p-25f), 0x0001);
    assert_int_equal(half_f32_to_f16(0x3p-25f), 0x0002);     // 1.5 units -> 2
    assert_int_equal(half_f32_to_f16(0x1.ffcp-15f), 0x0400); // rounds up into normals
    assert_int_equal(half_f32_to_f16(1e-10f), 0x0000);
    assert_int_equal(half_f32_to_f16(-1e-10f), 0x8000);
    assert_int_equal(half_f32_to_f16(0x1p-149f), 0x0000); // f32 subnormal
    uint16_t nan = half_f32_to_f16(NAN);
    assert_true((nan & 0x7c00) == 0x7c00 && (nan & 0x3ff) != 0);
    // A NaN whose payload sits only in the dropped low bits stays a NaN.
    assert_true(isnan(half_f16_to_f32(half_f32_to_f16(half_bits_to_f32(0x7f800001u)))));
}

static void test_half_f16_matches_compiler(void **state) {
    (void)state;
#ifdef __FLT16_MAX__
    // The compiler's float -> _Float16 conversion rounds to nearest even.
    uint64_t x = 0x243f6a8885a308d3ull;
    for (int i = 0; i < 4000000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint32_t bits = (uint32_t)x;
        // Concentrate on the f16 range half of the time.
        if (i & 1) bits = (bits & 0x87ffffffu) | 0x30000000u;
        float f = half_bits_to_f32(bits);
        if (isnan(f)) continue;
        volatile _Float16 h = (_Float16)f;
        uint16_t want;
        memcpy(&want, (const void *)&h, 2);
        if (half_f32_to_f16(f) != want)
            fprintf(stderr, "%a: 0x%04x vs 0x%04x\n", f, half_f32_to_f16(f), want);
        assert_int_equal(half_f32_to_f16(f), want);
    }
#else
    skip();
#endif
}

static void test_half_bf16(void **state) {
    (void)state;
    for (uint32_t b = 0; b < 65536; b++) {
        float f = half_bf16_to_f32((uint16_t)b);
        assert_int_equal(half_f32_to_bits(f), b << 16);
        assert_int_equal(half_f32_to_bf16(f), b);
    }
    assert_int_equal(half_f32_to_bf16(1.0f), 0x3f80);
    assert_int_equal(half_f32_to_bf16(3.14159f), 0x4049);
    assert_int_equal(half_f32_to_bf16(1.0f + 0x1p-8f), 0x3f80); // tie -> even (down)
    assert_int_equal(half_f32_to_bf16(1.0f + 0x3p-8f), 0x3f82); // tie -> even (up)
    assert_int_equal(half_f32_to_bf16(1.0f + 0x1.02p-8f), 0x3f81);
    assert_int_equal(half_f32_to_bf16(3.4028235e38f), 0x7f80); // rounds to inf
    assert_int_equal(half_f32_to_bf16(-INFINITY), 0xff80);
    uint16_t nan = half_f32_to_bf16(half_bits_to_f32(0x7fc12345u));
    assert_int_equal(nan, 0x7fc1); // payload kept
    assert_true(isnan(half_bf16_to_f32(half_f32_to_bf16(half_bits_to_f32(0x7f800001u)))));
}

// ---------------------------------------------------------------- reading

static void test_read_f32_f16_bf16(void **state) {
    (void)state;
    // Three tensors, odd element counts so the in-place widening's last
    // element overlaps its own source bytes.
    const float a[5] = {1.0f, -2.5f, 0.0f, 65504.0f, 0x1p-24f};
    const uint16_t h[5] = {0x3c00, 0xc100, 0x0000, 0x7bff, 0x0001}; // same as F16
    const uint16_t b[3] = {0x3f80, 0xc020, 0x4049};                 // 1, -2.5, 3.140625
    const uint64_t ids[2] = {0, 1};                                 // I64 buffer
    unsigned char data[20 + 10 + 6 + 16];
    memcpy(data, a, 20);
    memcpy(data + 20, h, 10);
    memcpy(data + 30, b, 6);
    memcpy(data + 36, ids, 16);
    const char *hdr = "{\"__metadata__\":{\"format\":\"pt\"},"
                      "\"a\":{\"dtype\":\"F32\",\"shape\":[5],\"data_offsets\":[0,20]},"
                      "\"h\":{\"dtype\":\"F16\",\"shape\":[5,1],\"data_offsets\":[20,30]},"
                      "\"b\":{\"dtype\":\"BF16\",\"shape\":[1,3],\"data_offsets\":[30,36]},"
                      "\"position_ids\":{\"dtype\":\"I64\",\"shape\":[1,2],"
                      "\"data_offsets\":[36,52]}}   ";
    const char *path = write_st("ok.safetensors", hdr, data, sizeof data);
    safetensors_file f;
    assert_int_equal(safetensors_open(&f, path), STATUS_OK);
    assert_int_equal(safetensors_count(&f), 4);
    const safetensors_tensor *t;
    assert_int_equal(safetensors_get(&f, "a", &t), STATUS_OK);
    assert_int_equal(t->dtype, SAFETENSORS_F32);
    float out[8];
    assert_int_equal(safetensors_read_f32(&f, t, out, 5), STATUS_OK);
    assert_memory_equal(out, a, sizeof a);

    t = safetensors_find(&f, "h");
    assert_non_null(t);
    assert_int_equal(t->n_dims, 2);
    assert_int_equal(t->shape[0], 5);
    assert_int_equal(t->n_bytes, 10);
    float sentinel = 12345.0f;
    out[5] = sentinel;
    assert_int_equal(safetensors_read_f32(&f, t, out, 5), STATUS_OK);
    assert_memory_equal(out, a, sizeof a);
    assert_true(out[5] == sentinel); // nothing written past numel
    // Range read: elements 1..3.
    assert_int_equal(safetensors_read_f32_range(&f, t, 1, 3, out), STATUS_OK);
    assert_true(out[0] == -2.5f && out[1] == 0.0f && out[2] == 65504.0f);
    assert_int_equal(safetensors_read_f32_range(&f, t, 4, 2, out), STATUS_ERR_ARG);
    assert_non_null(strstr(status_message(), "'h'"));

    t = safetensors_find(&f, "b");
    assert_int_equal(safetensors_read_f32(&f, t, out, 3), STATUS_OK);
    assert_true(out[0] == 1.0f && out[1] == -2.5f && out[2] == 3.140625f);
    uint16_t raw[3];
    assert_int_equal(safetensors_read_raw(&f, t, raw, sizeof raw), STATUS_OK);
    assert_memory_equal(raw, b, sizeof b);

    // Wrong element count: shape error naming file and tensor.
    assert_int_equal(safetensors_read_f32(&f, t, out, 4), STATUS_ERR_SHAPE);
    assert_non_null(strstr(status_message(), path));
    assert_non_null(strstr(status_message(), "'b'"));

    // I64 is accepted in the file but not readable as f32.
    t = safetensors_find(&f, "position_ids");
    assert_non_null(t);
    assert_int_equal(t->dtype, SAFETENSORS_I64);
    assert_int_equal(safetensors_read_f32(&f, t, out, 2), STATUS_ERR_UNSUPPORTED);
    assert_non_null(strstr(status_message(), path));
    assert_non_null(strstr(status_message(), "'position_ids'"));
    assert_non_null(strstr(status_message(), "I64"));
    uint64_t got_ids[2];
    assert_int_equal(safetensors_read_raw(&f, t, got_ids, 16), STATUS_OK);
    assert_true(got_ids[0] == 0 && got_ids[1] == 1);

    assert_null(safetensors_find(&f, "nope"));
    assert_int_equal(safetensors_get(&f, "nope", &t), STATUS_ERR_MISSING);
    assert_non_null(strstr(status_message(), "'nope'"));
    safetensors_close(&f);
    safetensors_close(&f); // idempotent
}

static void test_scalar_and_empty_tensors(void **state) {
    (void)state;
    const float v = 7.0f;
    const char *hdr = "{\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[0,4]},"
                      "\"e\":{\"dtype\":\"F32\",\"shape\":[0,3],\"data_offsets\":[4,4]},"
                      "\"e2\":{\"dtype\":\"BF16\",\"shape\":[0],\"data_offsets\":[0,0]}}";
    const char *path = write_st("scalar.safetensors", hdr, &v, 4);
    safetensors_file f;
    assert_int_equal(safetensors_open(&f, path), STATUS_OK);
    const safetensors_tensor *t = safetensors_find(&f, "s");
    assert_int_equal(t->n_dims, 0);
    assert_int_equal(t->numel, 1);
    float out = 0;
    assert_int_equal(safetensors_read_f32(&f, t, &out, 1), STATUS_OK);
    assert_true(out == 7.0f);
    assert_int_equal(safetensors_find(&f, "e")->numel, 0);
    safetensors_close(&f);
}

static void test_error_short_file(void **state) {
    (void)state;
    const char *path = path_in_tmp("short.safetensors");
    testutil_write_file(path, "\x10\0\0", 3);
    expect_open_error(path, STATUS_ERR_FORMAT, "shorter than the 8-byte", NULL);
    path = path_in_tmp("empty.safetensors");
    testutil_write_file(path, "", 0);
    expect_open_error(path, STATUS_ERR_FORMAT, "0 bytes", NULL);
    expect_open_error(path_in_tmp("absent.safetensors"), STATUS_ERR_IO, "cannot open", NULL);
}

static void test_error_header_length(void **state) {
    (void)state;
    const char *hdr = "{}";
    const char *path = write_raw("beyond.safetensors", 1000, hdr, 2, NULL, 0);
    expect_open_error(path, STATUS_ERR_FORMAT, "header length 1000", "beyond the file size");
    path = write_raw("huge.safetensors", 0x7fffffffffffffffull, hdr, 2, NULL, 0);
    expect_open_error(path, STATUS_ERR_FORMAT, "absurdly large", NULL);
}

static void test_error_malformed_json(void **state) {
    (void)state;
    const char *path = write_st("bad.safetensors", "{\"a\": {\"dtype\": \"F32\",,}}", NULL, 0);
    expect_open_error(path, STATUS_ERR_FORMAT, "malformed JSON", NULL);
    path = write_st("array.safetensors", "[1, 2]  ", NULL, 0);
    expect_open_error(path, STATUS_ERR_FORMAT, "not a JSON object", NULL);
    path = write_st("trail.safetensors", "{}xy", NULL, 0);
    expect_open_error(path, STATUS_ERR_FORMAT, "unexpected bytes", NULL);
    path = write_st("meta.safetensors", "{\"__metadata__\":{\"format\":1}}", NULL, 0);
    expect_open_error(path, STATUS_ERR_FORMAT, "__metadata__", "format");
    path = write_st("meta2.safetensors", "{\"__metadata__\":[]}", NULL, 0);
    expect_open_error(path, STATUS_ERR_FORMAT, "__metadata__", NULL);
    // Issue 10: a NUL in a tensor name would cut it ("w\u0000x" read as "w").
    float data[1] = {0};
    path = write_st("nul.safetensors",
                    "{\"w\\u0000x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}",
                    data, 4);
    expect_open_error(path, STATUS_ERR_FORMAT, "safetensors header", "a key contains the escape");
    // Shapes whose product overflows 64 bits are a size mismatch, not a wrap.
    path = write_st("big.safetensors",
                    "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],"
                    "\"data_offsets\":[0,4]}}",
                    data, 4);
    expect_open_error(path, STATUS_ERR_FORMAT, "'w'", "needs");
}

static void test_error_entries(void **state) {
    (void)state;
    float data[4] = {0};
    const char *path;
    path = write_st("e1.safetensors", "{\"w\":{\"shape\":[1],\"data_offsets\":[0,4]}}", data, 4);
    expect_open_error(path, STATUS_ERR_FORMAT, "'w'", "dtype");
    path = write_st("e2.safetensors",
                    "{\"w\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", data, 4);
    expect_open_error(path, STATUS_ERR_FORMAT, "'w'", "shape");
    path = write_st("e3.safetensors",
                    "{\"w\":{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}}", data, 4);
    expect_open_error(path, STATUS_ERR_FORMAT, "'w'", "shape");
    path = write_st("e4.safetensors",
                    "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4]}}", data, 4);
    expect_open_error(path, STATUS_ERR_FORMAT, "'w'", "data_offsets");
    path = write_st("e5.safetensors",
                    "{\"w\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,0]}}", data, 4);
    expect_open_error(path, STATUS_ERR_FORMAT, "'w'", "begin > end");
    path = write_st("e6.safetensors", "{\"w\":[1,2]}", data, 4);
    expect_open_error(path, STATUS_ERR_FORMAT, "'w'", "expected an object");
    path = write_st("e7.safetensors",
                    "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],"
                    "\"data_offsets\":[0,4]}}",
                    data, 4);
    expect_open_error(path, STATUS_ERR_UNSUPPORTED, "'w'", "9 dims");
}

static void test_error_unknown_dtype(void **state) {
    (void)state;
    float data[1] = {0};
    const char *path =
        write_st("dt.safetensors",
                 "{\"w\":{\"dtype\":\"F12\",\"shape\":[1],\"data_offsets\":[0,4]}}", data, 4);
    expect_open_error(path, STATUS_ERR_UNSUPPORTED, "'w'", "unknown dtype \"F12\"");
    safetensors_dtype dt;
    assert_int_equal(safetensors_dtype_parse("F8_E4M3", &dt), STATUS_OK);
    assert_int_equal(dt, SAFETENSORS_F8_E4M3);
    assert_int_equal(safetensors_dtype_size(SAFETENSORS_BOOL), 1);
    assert_false(safetensors_dtype_is_float(SAFETENSORS_F64));
}

static void test_error_size_mismatch(void **state) {
    (void)state;
    float data[6] = {0};
    const char *path =
        write_st("size.safetensors",
                 "{\"w\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[0,24]}}", data, 24);
    expect_open_error(path, STATUS_ERR_FORMAT, "'w'", "needs 12 bytes");
    // A dim product that would overflow 64 bits is a size mismatch, not a crash.
    path = write_st("ovf.safetensors",
                    "{\"w\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,16],"
                    "\"data_offsets\":[0,24]}}",
                    data, 24);
    expect_open_error(path, STATUS_ERR_FORMAT, "'w'", "needs");
}

static void test_error_offsets_out_of_range(void **state) {
    (void)state;
    float data[4] = {0};
    const char *path = write_st("range.safetensors",
                                "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                "\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}",
                                data, 16);
    expect_open_error(path, STATUS_ERR_FORMAT, "'w'", "beyond the data region of 16 bytes");
}

static void test_error_overlap(void **state) {
    (void)state;
    float data[4] = {0};
    const char *path = write_st("overlap.safetensors",
                                "{\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]},"
                                "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}",
                                data, 16);
    expect_open_error(path, STATUS_ERR_FORMAT, "'b'", "overlaps tensor 'a'");
    path = write_st("dup.safetensors",
                    "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                    "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                    data, 16);
    expect_open_error(path, STATUS_ERR_FORMAT, "'a'", "twice");
}

static void test_short_read_after_truncation(void **state) {
    (void)state;
    float data[64] = {0};
    const char *path = write_st(
        "trunc.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[64],\"data_offsets\":[0,256]}}",
        data, sizeof data);
    safetensors_file f;
    assert_int_equal(safetensors_open(&f, path), STATUS_OK);
    assert_int_equal(truncate(path, 100), 0); // the file shrinks after validation
    float out[64];
    assert_int_equal(safetensors_read_f32(&f, safetensors_find(&f, "w"), out, 64), STATUS_ERR_IO);
    assert_non_null(strstr(status_message(), path));
    assert_non_null(strstr(status_message(), "w: short read"));
    safetensors_close(&f);
}

static void test_open_fault_injection(void **state) {
    (void)state;
    float data[3] = {1, 2, 3};
    const char *path = write_st("fi.safetensors",
                                "{\"__metadata__\":{\"format\":\"pt\"},"
                                "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                                "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                                data, sizeof data);
    size_t base = mem_total_current_bytes();
    for (size_t n = 1;; n++) {
        mem_fail_after(n);
        safetensors_file f;
        status st = safetensors_open(&f, path);
        int fired = mem_fail_fired();
        mem_fail_after(0);
        if (st == STATUS_OK) {
            safetensors_close(&f);
            assert_false(fired);
            break;
        }
        assert_true(fired);
        assert_int_equal(st, STATUS_ERR_NOMEM);
        assert_int_equal(mem_total_current_bytes(), base);
        assert_true(n < 100);
    }
    assert_int_equal(mem_total_current_bytes(), base);
}

// ---------------------------------------------------------------- writing

static void test_writer_round_trip_and_format(void **state) {
    (void)state;
    const char *path = path_in_tmp("w.safetensors");
    safetensors_writer w;
    int64_t s23[2] = {2, 3}, s5[1] = {5};
    float v6[6] = {1.0f, -2.0f, 0.5f, 3.14159f, 65520.0f, -0.0f};
    float v5[5] = {1.0f + 0x1p-8f, 1.0f + 0x3p-8f, -1e-3f, 2.0f, 1e30f};
    assert_int_equal(safetensors_writer_init(&w, path), STATUS_OK);
    assert_int_equal(safetensors_writer_add(&w, "x.weight", SAFETENSORS_F32, 2, s23), STATUS_OK);
    assert_int_equal(safetensors_writer_add(&w, "y\"q", SAFETENSORS_F16, 2, s23), STATUS_OK);
    assert_int_equal(safetensors_writer_add(&w, "z", SAFETENSORS_BF16, 1, s5), STATUS_OK);
    assert_int_equal(safetensors_writer_add(&w, "z", SAFETENSORS_BF16, 1, s5), STATUS_ERR_ARG);
    assert_int_equal(safetensors_writer_add(&w, "i", SAFETENSORS_I64, 1, s5),
                     STATUS_ERR_UNSUPPORTED);
    // Out of order: y before x.
    assert_int_equal(safetensors_writer_write_f32(&w, "y\"q", v6, 6), STATUS_ERR_ARG);
    assert_non_null(strstr(status_message(), "'x.weight' comes next"));
    // In pieces.
    assert_int_equal(safetensors_writer_write_f32(&w, "x.weight", v6, 4), STATUS_OK);
    assert_int_equal(safetensors_writer_write_f32(&w, "x.weight", v6 + 4, 3), STATUS_ERR_ARG);
    assert_non_null(strstr(status_message(), "past its end"));
    assert_int_equal(safetensors_writer_write_f32(&w, "x.weight", v6 + 4, 2), STATUS_OK);
    // The temp file exists, the final one not yet.
    struct stat sb;
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    assert_int_equal(stat(tmp, &sb), 0);
    assert_int_not_equal(stat(path, &sb), 0);
    assert_int_equal(safetensors_writer_write_f32(&w, "y\"q", v6, 6), STATUS_OK);
    assert_int_equal(safetensors_writer_finish(&w), STATUS_ERR_ARG); // z missing
    assert_non_null(strstr(status_message(), "'z' incomplete"));
    assert_int_equal(safetensors_writer_write_f32(&w, "z", v5, 5), STATUS_OK);
    assert_int_equal(safetensors_writer_finish(&w), STATUS_OK);
    safetensors_writer_free(&w);
    assert_int_not_equal(stat(tmp, &sb), 0);

    // Header: 8-byte aligned data, metadata first, compact JSON.
    char *text;
    size_t len;
    assert_int_equal(file_read_all(path, &text, &len), STATUS_OK);
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--)
        n = (n << 8) | (unsigned char)text[i];
    assert_int_equal(n % 8, 0);
    assert_int_equal(len, 8 + n + 24 + 12 + 10);
    assert_memory_equal(text + 8,
                        "{\"__metadata__\":{\"format\":\"pt\"},\"x.weight\":{\"dtype\":"
                        "\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},\"y\\\"q\"",
                        93);
    free(text);

    safetensors_file f;
    assert_int_equal(safetensors_open(&f, path), STATUS_OK);
    float out[6];
    assert_int_equal(safetensors_read_f32(&f, safetensors_find(&f, "x.weight"), out, 6), STATUS_OK);
    assert_memory_equal(out, v6, sizeof v6);
    assert_int_equal(safetensors_read_f32(&f, safetensors_find(&f, "y\"q"), out, 6), STATUS_OK);
    for (int i = 0; i < 6; i++)
        assert_true(out[i] == half_f16_to_f32(half_f32_to_f16(v6[i])));
    assert_true(isinf(out[4])); // 65520 rounds to inf in F16
    assert_int_equal(safetensors_read_f32(&f, safetensors_find(&f, "z"), out, 5), STATUS_OK);
    assert_true(out[0] == 1.0f && out[1] == 1.0f + 0x4p-8f && out[3] == 2.0f);
    for (int i = 0; i < 5; i++)
        assert_true(out[i] == half_bf16_to_f32(half_f32_to_bf16(v5[i])));
    safetensors_close(&f);
}

static void test_writer_abort_removes_temp(void **state) {
    (void)state;
    const char *path = path_in_tmp("aborted.safetensors");
    safetensors_writer w;
    int64_t s[1] = {4};
    float v[4] = {1, 2, 3, 4};
    assert_int_equal(safetensors_writer_init(&w, path), STATUS_OK);
    assert_int_equal(safetensors_writer_add(&w, "a", SAFETENSORS_F32, 1, s), STATUS_OK);
    assert_int_equal(safetensors_writer_write_f32(&w, "a", v, 2), STATUS_OK);
    safetensors_writer_free(&w); // no finish: abort
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    struct stat sb;
    assert_int_not_equal(stat(tmp, &sb), 0);
    assert_int_not_equal(stat(path, &sb), 0);
}

static safetensors_decl decl(const char *name, int64_t rows, int64_t cols) {
    safetensors_decl d = {name, SAFETENSORS_F32, 2, {rows, cols}};
    return d;
}

static void test_shard_plan_like_hf(void **state) {
    (void)state;
    // Sizes (bytes): 40, 40, 40, 200 (over the limit), 40, 80.
    safetensors_decl d[6] = {decl("a", 10, 1),   decl("b", 10, 1), decl("c", 10, 1),
                             decl("big", 50, 1), decl("e", 10, 1), decl("f", 20, 1)};
    size_t shard[6], n;
    // huggingface_hub with max 100: a,b -> current; c tips over -> shard 0 = {a,b};
    // big -> own shard 1 (appended at once); c,e -> current (80); f tips over ->
    // shard 2 = {c,e}; f -> shard 3.
    assert_int_equal(safetensors_shard_plan(d, 6, 100, shard, &n), STATUS_OK);
    assert_int_equal(n, 4);
    size_t want[6] = {0, 0, 2, 1, 2, 3};
    for (int i = 0; i < 6; i++)
        assert_int_equal(shard[i], want[i]);
    assert_int_equal(safetensors_shard_plan(d, 6, 0, shard, &n), STATUS_OK);
    assert_int_equal(n, 1);
    // Exactly at the limit stays in one shard.
    assert_int_equal(safetensors_shard_plan(d, 3, 120, shard, &n), STATUS_OK);
    assert_int_equal(n, 1);
    char name[64];
    safetensors_shard_name(1, 3, name, sizeof name);
    assert_string_equal(name, "model-00002-of-00003.safetensors");
}

static void test_model_writer_sharded(void **state) {
    (void)state;
    char *dir = testutil_tmpdir();
    safetensors_decl d[4] = {decl("b.w", 10, 1), decl("a.w", 10, 1), decl("big", 50, 1),
                             decl("c", 10, 1)};
    safetensors_model_writer w;
    assert_int_equal(safetensors_model_writer_init(&w, dir, d, 4, 100), STATUS_OK);
    float v[50];
    for (int i = 0; i < 50; i++)
        v[i] = (float)i;
    assert_int_equal(safetensors_model_writer_write_f32(&w, "a.w", v, 10), STATUS_ERR_ARG);
    assert_non_null(strstr(status_message(), "'b.w' comes next"));
    assert_int_equal(safetensors_model_writer_write_f32(&w, "b.w", v, 10), STATUS_OK);
    assert_int_equal(safetensors_model_writer_write_f32(&w, "a.w", v + 1, 10), STATUS_OK);
    assert_int_equal(safetensors_model_writer_write_f32(&w, "big", v, 25), STATUS_OK);
    assert_int_equal(safetensors_model_writer_write_f32(&w, "big", v + 25, 25), STATUS_OK);
    assert_int_equal(safetensors_model_writer_write_f32(&w, "c", v + 2, 10), STATUS_OK);
    assert_int_equal(safetensors_model_writer_finish(&w), STATUS_OK);
    assert_int_equal(w.n_shards, 3);
    assert_int_equal(w.total_size, 320);
    safetensors_model_writer_free(&w);

    // huggingface_hub: b.w + a.w fill 80 bytes; big (200 > 100) becomes a
    // shard of its own at once (shard 1); c would tip the current shard over
    // (120 > 100), so {b.w, a.w} is appended (shard 2) and c ends up in shard 3.
    char path[4200], *text;
    size_t len;
    snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
    assert_int_equal(file_read_all(path, &text, &len), STATUS_OK);
    const char *want = "{\n"
                       "  \"metadata\": {\n"
                       "    \"total_size\": 320\n"
                       "  },\n"
                       "  \"weight_map\": {\n"
                       "    \"a.w\": \"model-00002-of-00003.safetensors\",\n"
                       "    \"b.w\": \"model-00002-of-00003.safetensors\",\n"
                       "    \"big\": \"model-00001-of-00003.safetensors\",\n"
                       "    \"c\": \"model-00003-of-00003.safetensors\"\n"
                       "  }\n"
                       "}\n";
    assert_string_equal(text, want);
    free(text);

    const char *names[4] = {"big", "b.w", "a.w", "c"};
    const char *files[4] = {"model-00001-of-00003.safetensors", "model-00002-of-00003.safetensors",
                            "model-00002-of-00003.safetensors", "model-00003-of-00003.safetensors"};
    const int first[4] = {0, 0, 1, 2};
    for (int k = 0; k < 4; k++) {
        snprintf(path, sizeof path, "%s/%s", dir, files[k]);
        safetensors_file f;
        assert_int_equal(safetensors_open(&f, path), STATUS_OK);
        const safetensors_tensor *t = safetensors_find(&f, names[k]);
        assert_non_null(t);
        float out[50];
        assert_int_equal(safetensors_read_f32(&f, t, out, (size_t)t->numel), STATUS_OK);
        for (int64_t i = 0; i < t->numel; i++)
            assert_true(out[i] == (float)(first[k] + i));
        safetensors_close(&f);
    }
    testutil_rmtree(dir);
    free(dir);
}

static void test_model_writer_abort_removes_shards(void **state) {
    (void)state;
    char *dir = testutil_tmpdir();
    safetensors_decl d[3] = {decl("a", 30, 1), decl("b", 30, 1), decl("c", 30, 1)};
    safetensors_model_writer w;
    assert_int_equal(safetensors_model_writer_init(&w, dir, d, 3, 100), STATUS_OK);
    assert_int_equal(w.n_shards, 3);
    float v[30] = {0};
    assert_int_equal(safetensors_model_writer_write_f32(&w, "a", v, 30), STATUS_OK);
    assert_int_equal(safetensors_model_writer_write_f32(&w, "b", v, 10), STATUS_OK);
    char path[4200];
    struct stat sb;
    snprintf(path, sizeof path, "%s/model-00001-of-00003.safetensors", dir);
    assert_int_equal(stat(path, &sb), 0); // shard 1 complete and in place
    safetensors_model_writer_free(&w);    // abort
    assert_int_not_equal(stat(path, &sb), 0);
    snprintf(path, sizeof path, "%s/model-00002-of-00003.safetensors.tmp", dir);
    assert_int_not_equal(stat(path, &sb), 0);
    // The folder is empty again.
    assert_int_equal(rmdir(dir), 0);
    free(dir);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_half_f16_exhaustive_round_trip),
        cmocka_unit_test(test_half_f16_hand_values),
        cmocka_unit_test(test_half_f16_matches_compiler),
        cmocka_unit_test(test_half_bf16),
        cmocka_unit_test(test_read_f32_f16_bf16),
        cmocka_unit_test(test_scalar_and_empty_tensors),
        cmocka_unit_test(test_error_short_file),
        cmocka_unit_test(test_error_header_length),
        cmocka_unit_test(test_error_malformed_json),
        cmocka_unit_test(test_error_entries),
        cmocka_unit_test(test_error_unknown_dtype),
        cmocka_unit_test(test_error_size_mismatch),
        cmocka_unit_test(test_error_offsets_out_of_range),
        cmocka_unit_test(test_error_overlap),
        cmocka_unit_test(test_short_read_after_truncation),
        cmocka_unit_test(test_open_fault_injection),
        cmocka_unit_test(test_writer_round_trip_and_format),
        cmocka_unit_test(test_writer_abort_removes_temp),
        cmocka_unit_test(test_shard_plan_like_hf),
        cmocka_unit_test(test_model_writer_sharded),
        cmocka_unit_test(test_model_writer_abort_removes_shards),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
