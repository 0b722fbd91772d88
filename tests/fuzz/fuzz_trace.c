// fuzz_trace.c - core/analysis/trace.c trace_read: grating's own validation of a
// trace, on files that libhdf5 itself reads without trouble.
//
// The input is not an HDF5 file but a recipe: a byte stream that this harness
// turns into a well-formed HDF5 file through the HDF5 API (so libhdf5's own
// crashes on corrupt files, which fuzz_trace_h5 finds, do not get in the
// way), with the schema of docs/trace-schema.md perturbed: attributes
// missing, of the wrong type or with extreme values, query ids duplicated,
// empty or with '/' and '%', groups and datasets missing, of the wrong shape,
// rank or type, scores NaN or Inf. A zero byte always picks the valid choice,
// so an all-zero input is a valid trace. After trace_read, every HDF5 object
// grating opened must be closed again.
#include "fuzz_util.h"
#include "analysis/trace.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    const uint8_t *p;
    size_t n, at;
} recipe;

static uint8_t recipe_byte(recipe *r) {
    return r->at < r->n ? r->p[r->at++] : 0;
}

// A short string: a length byte (0 = the default) then that many bytes.
static void recipe_string(recipe *r, const char *dflt, char *out, size_t cap) {
    size_t len = recipe_byte(r) % 24;
    if (len == 0) {
        snprintf(out, cap, "%s", dflt);
        return;
    }
    size_t i = 0;
    for (; i < len && i + 1 < cap; i++) {
        uint8_t c = recipe_byte(r);
        out[i] = (char)(c ? c : 'x');
    }
    out[i] = '\0';
}

static void write_string_attr(hid_t obj, const char *name, const char *value) {
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, H5T_VARIABLE);
    H5Tset_cset(type, H5T_CSET_UTF8);
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) {
        H5Awrite(a, type, &value);
        H5Aclose(a);
    }
    H5Sclose(space);
    H5Tclose(type);
}

static void write_num_attr(hid_t obj, const char *name, hid_t type, const void *value) {
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a >= 0) {
        H5Awrite(a, type, value);
        H5Aclose(a);
    }
    H5Sclose(space);
}

// A string attribute: 0 valid, 1 absent, 2 a number instead, 3 a fuzzed string.
static void recipe_string_attr(recipe *r, hid_t obj, const char *name, const char *dflt) {
    char buf[32];
    switch (recipe_byte(r) % 4) {
    case 0:
        write_string_attr(obj, name, dflt);
        break;
    case 1:
        break;
    case 2: {
        int64_t v = 7;
        write_num_attr(obj, name, H5T_NATIVE_INT64, &v);
        break;
    }
    default:
        recipe_string(r, dflt, buf, sizeof buf);
        write_string_attr(obj, name, buf);
    }
}

static const int64_t extreme_ints[] = {0,
                                       -1,
                                       1,
                                       2,
                                       1000,
                                       1001,
                                       INT32_MAX,
                                       (int64_t)INT32_MAX + 1,
                                       (int64_t)1 << 32,
                                       ((int64_t)1 << 32) + 1,
                                       INT64_MAX,
                                       INT64_MIN};

// An int64 attribute: 0 the default, 1 absent, 2 a string instead, 3 a
// double, 4 an extreme value, 5 a fuzzed small value.
static int64_t recipe_int_attr(recipe *r, hid_t obj, const char *name, int64_t dflt) {
    int64_t v = dflt;
    switch (recipe_byte(r) % 6) {
    case 0:
        write_num_attr(obj, name, H5T_NATIVE_INT64, &v);
        break;
    case 1:
        break;
    case 2:
        write_string_attr(obj, name, "12");
        break;
    case 3: {
        double d = (double)recipe_byte(r) * 1e300;
        write_num_attr(obj, name, H5T_NATIVE_DOUBLE, &d);
        break;
    }
    case 4:
        v = extreme_ints[recipe_byte(r) % (sizeof extreme_ints / sizeof extreme_ints[0])];
        write_num_attr(obj, name, H5T_NATIVE_INT64, &v);
        break;
    default:
        v = (int8_t)recipe_byte(r);
        write_num_attr(obj, name, H5T_NATIVE_INT64, &v);
    }
    return v;
}

// A numeric dataset of `count` values with the expected shape (rank, dims):
// 0 as expected, 1 absent, 2 one value fewer, 3 one more, 4 rank changed
// (flattened), 5 empty, 6 stored as vlen strings.
static void recipe_dataset(recipe *r, hid_t parent, const char *name, hid_t type, int rank,
                           const hsize_t *dims_in, int is_float) {
    hsize_t dims[2] = {dims_in[0], rank > 1 ? dims_in[1] : 1};
    uint8_t how = recipe_byte(r) % 7;
    if (how == 1) return;
    if (how == 6) {
        hid_t str = H5Tcopy(H5T_C_S1);
        H5Tset_size(str, H5T_VARIABLE);
        hsize_t one = 1;
        hid_t space = H5Screate_simple(1, &one, NULL);
        hid_t d = H5Dcreate2(parent, name, str, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        const char *v = "1.5";
        if (d >= 0) {
            H5Dwrite(d, str, H5S_ALL, H5S_ALL, H5P_DEFAULT, &v);
            H5Dclose(d);
        }
        H5Sclose(space);
        H5Tclose(str);
        return;
    }
    if (how == 2 && dims[rank - 1] > 0) dims[rank - 1]--;
    if (how == 3) dims[rank - 1]++;
    if (how == 4) {
        dims[0] *= rank > 1 ? dims[1] : 1;
        rank = rank > 1 ? 1 : 2;
        dims[1] = 1;
    }
    if (how == 5) dims[0] = 0;
    size_t count = (size_t)dims[0] * (rank > 1 ? (size_t)dims[1] : 1);
    double *v = calloc(count ? count : 1, sizeof *v);
    if (!v) abort();
    for (size_t i = 0; i < count; i++) {
        uint8_t b = recipe_byte(r);
        v[i] = !is_float   ? (double)(b % 64)
               : b == 0xff ? NAN
               : b == 0xfe ? INFINITY
                           : (double)(int8_t)b / 8.0;
    }
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t d = H5Dcreate2(parent, name, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d >= 0) {
        H5Dwrite(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, v);
        H5Dclose(d);
    }
    H5Sclose(space);
    free(v);
}

static void write_strings(hid_t parent, const char *name, char **values, size_t n) {
    hid_t str = H5Tcopy(H5T_C_S1);
    H5Tset_size(str, H5T_VARIABLE);
    H5Tset_cset(str, H5T_CSET_UTF8);
    hsize_t dims = n;
    hid_t space = H5Screate_simple(1, &dims, NULL);
    hid_t d = H5Dcreate2(parent, name, str, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (d >= 0) {
        if (n) H5Dwrite(d, str, H5S_ALL, H5S_ALL, H5P_DEFAULT, values);
        H5Dclose(d);
    }
    H5Sclose(space);
    H5Tclose(str);
}

// The group name of a query id as trace.c writes it ('/' and '%' escaped).
static void group_name(const char *qid, char *out, size_t cap) {
    size_t o = 0;
    for (const char *c = qid; *c && o + 4 < cap; c++) {
        if (*c == '/' || *c == '%')
            o += (size_t)snprintf(out + o, cap - o, "%%%02X", (unsigned char)*c);
        else
            out[o++] = *c;
    }
    out[o] = '\0';
}

static void recipe_build(recipe *r, const char *path) {
    hid_t f = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) abort();
    recipe_string_attr(r, f, "schema", "grating-trace-1");
    static const char *const strings[] = {"model",     "config_hash", "architecture", "score_kind",
                                          "tokenizer", "dataset",     "split",        "run",
                                          "command",   "version",     "created"};
    for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
        recipe_string_attr(r, f, strings[i], "x");
    int64_t L = recipe_int_attr(r, f, "n_layers", 2);
    recipe_int_attr(r, f, "hidden_size", 8);
    recipe_int_attr(r, f, "intermediate_size", 16);
    recipe_int_attr(r, f, "max_len", 32);
    recipe_int_attr(r, f, "top_n", 3);
    recipe_int_attr(r, f, "n_queries", 2);
    // The datasets' real sizes stay small whatever the attributes say.
    size_t rows = L >= 0 && L < 8 ? (size_t)L + 1 : 3;
    size_t nq = (recipe_byte(r) + 2) % 5; // 2 by default
    char qids[4][32];
    char *qid_ptrs[4];
    for (size_t i = 0; i < nq; i++) {
        char dflt[8];
        snprintf(dflt, sizeof dflt, "q%zu", i);
        recipe_string(r, dflt, qids[i], sizeof qids[i]);
        qid_ptrs[i] = qids[i];
    }
    if (recipe_byte(r) % 8 != 1) write_strings(f, "query_ids", qid_ptrs, nq);
    hid_t queries = recipe_byte(r) % 8 == 1
                        ? -1
                        : H5Gcreate2(f, "queries", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    for (size_t i = 0; i < nq && queries >= 0; i++) {
        char name[128];
        group_name(qids[i], name, sizeof name);
        if (recipe_byte(r) % 8 == 1) continue; // group missing
        hid_t g = H5Gcreate2(queries, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
        if (g < 0) continue;                 // e.g. a duplicate id: the first group stays
        size_t n = (recipe_byte(r) + 3) % 6; // 3 by default
        char ids[6][32];
        char *id_ptrs[6];
        for (size_t j = 0; j < n; j++) {
            char dflt[8];
            snprintf(dflt, sizeof dflt, "d%zu", j);
            recipe_string(r, dflt, ids[j], sizeof ids[j]);
            id_ptrs[j] = ids[j];
        }
        if (recipe_byte(r) % 8 != 1) write_strings(g, "candidates", id_ptrs, n);
        hsize_t score_dims[2] = {rows, n}, cand_dims[1] = {n}, layer_dims[1] = {rows - 1};
        recipe_dataset(r, g, "scores", H5T_NATIVE_FLOAT, 2, score_dims, 1);
        recipe_dataset(r, g, "tokens", H5T_NATIVE_INT32, 1, cand_dims, 0);
        recipe_dataset(r, g, "first_stage", H5T_NATIVE_FLOAT, 1, cand_dims, 1);
        recipe_dataset(r, g, "layer_seconds", H5T_NATIVE_DOUBLE, 1, layer_dims, 1);
        write_string_attr(g, "qid", qids[i]);
        double secs = 0.01;
        uint8_t b = recipe_byte(r);
        if (b % 4 != 1) write_num_attr(g, "embed_seconds", H5T_NATIVE_DOUBLE, &secs);
        if (b % 4 == 2) secs = NAN;
        if (b % 4 == 3) secs = -1.0;
        if (recipe_byte(r) % 8 != 1) write_num_attr(g, "score_seconds", H5T_NATIVE_DOUBLE, &secs);
        int64_t order = (int64_t)i, complete = 1;
        write_num_attr(g, "order", H5T_NATIVE_INT64, &order);
        if (recipe_byte(r) % 8 != 1) write_num_attr(g, "complete", H5T_NATIVE_INT64, &complete);
        H5Gclose(g);
    }
    if (queries >= 0) H5Gclose(queries);
    H5Fclose(f);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    recipe r = {data, size, 0};
    char path[8192];
    snprintf(path, sizeof path, "%s/trace.h5", fuzz_dir());
    recipe_build(&r, path);
    if (H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL) != 0) abort(); // the builder closed everything
    trace t;
    if (fuzz_note(trace_read(&t, path), "trace_read") == STATUS_OK) {
        if (t.n_queries == 0 || t.meta.n_layers < 1) abort();
        for (size_t i = 0; i < t.n_queries; i++) {
            const trace_query *q = &t.queries[i];
            if (!q->qid || q->n == 0 || !q->scores || !q->doc_ids) abort();
            volatile float sink = 0.0f;
            for (size_t j = 0; j < ((size_t)t.meta.n_layers + 1) * q->n; j++)
                sink += q->scores[j];
            for (size_t j = 0; j < q->n; j++)
                if (!q->doc_ids[j]) abort();
            (void)sink;
        }
        trace_free(&t);
    }
    ssize_t open = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (open != 0) {
        fprintf(stderr, "fuzz_trace: %zd HDF5 objects left open by trace_read\n", open);
        abort();
    }
    return 0;
}
