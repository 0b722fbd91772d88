// Small HDF5 helpers shared by the trace and sweep files.
#include "base/h5util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int h5util_init_done, h5util_close_failed;

// At exit: tear libhdf5 down only when every close succeeded (see h5util.h).
static void h5util_atexit(void) {
    if (!h5util_close_failed) H5close();
}

void h5util_init(void) {
    if (h5util_init_done) return;
    h5util_init_done = 1;
    // Fails (harmlessly) when the library was already initialized; then its
    // own atexit handler stays, as before.
    if (H5dont_atexit() >= 0) atexit(h5util_atexit);
}

__attribute__((constructor)) static void h5util_init_early(void) {
    h5util_init();
}

int h5util_file_close_failed(void) {
    return h5util_close_failed;
}

status h5util_file_close(hid_t *file, const char *path) {
    if (*file < 0) return STATUS_OK;
    hid_t f = *file;
    *file = -1;
    if (h5util_close_failed) {
        // An earlier failed close left the id table inconsistent: touching
        // HDF5 again could crash. Leave this file to the operating system.
        return status_fail(STATUS_ERR_IO, "%s: not closed (an earlier HDF5 write failed)", path);
    }
    if (H5Fclose(f) < 0) {
        h5util_close_failed = 1;
        return status_fail(STATUS_ERR_IO,
                           "%s: cannot finish writing the file (disk full, file size limit or I/O "
                           "error); it is incomplete",
                           path);
    }
    return STATUS_OK;
}

// HDF5 prints its own error stack by default; grating reports its own
// messages (naming the file and the object) instead.
void h5util_quiet(void) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

hid_t h5util_string_type(void) {
    hid_t t = H5Tcopy(H5T_C_S1);
    H5Tset_size(t, H5T_VARIABLE);
    H5Tset_cset(t, H5T_CSET_UTF8);
    return t;
}

status h5util_attr_write_string(hid_t obj, const char *name, const char *value, const char *path) {
    hid_t type = h5util_string_type(), space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    const char *v = value ? value : "";
    herr_t e = a < 0 ? -1 : H5Awrite(a, type, &v);
    if (a >= 0) H5Aclose(a);
    H5Sclose(space);
    H5Tclose(type);
    return e < 0 ? status_fail(STATUS_ERR_IO, "%s: cannot write attribute '%s'", path, name)
                 : STATUS_OK;
}

status h5util_attr_write_num(hid_t obj, const char *name, hid_t type, const void *value,
                             const char *path) {
    hid_t space = H5Screate(H5S_SCALAR);
    hid_t a = H5Acreate2(obj, name, type, space, H5P_DEFAULT, H5P_DEFAULT);
    herr_t e = a < 0 ? -1 : H5Awrite(a, type, value);
    if (a >= 0) H5Aclose(a);
    H5Sclose(space);
    return e < 0 ? status_fail(STATUS_ERR_IO, "%s: cannot write attribute '%s'", path, name)
                 : STATUS_OK;
}

status h5util_attr_read_string(hid_t obj, const char *name, char **out, const char *path) {
    *out = NULL;
    if (H5Aexists(obj, name) <= 0)
        return status_fail(STATUS_ERR_FORMAT, "%s: missing attribute '%s'", path, name);
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t type = h5util_string_type();
    char *v = NULL;
    herr_t e = a < 0 ? -1 : H5Aread(a, type, &v);
    if (e >= 0 && v) {
        *out = strdup(v);
        H5free_memory(v);
    }
    if (a >= 0) H5Aclose(a);
    H5Tclose(type);
    if (e < 0 || !*out)
        return status_fail(STATUS_ERR_FORMAT, "%s: attribute '%s' is not a string", path, name);
    return STATUS_OK;
}

status h5util_attr_read_num(hid_t obj, const char *name, hid_t type, void *out, const char *path) {
    if (H5Aexists(obj, name) <= 0)
        return status_fail(STATUS_ERR_FORMAT, "%s: missing attribute '%s'", path, name);
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    herr_t e = a < 0 ? -1 : H5Aread(a, type, out);
    if (a >= 0) H5Aclose(a);
    return e < 0 ? status_fail(STATUS_ERR_FORMAT, "%s: attribute '%s' is not a number", path, name)
                 : STATUS_OK;
}

// A 1-D or 2-D dataset, chunked and deflate-compressed.
status h5util_write_dataset(hid_t parent, const char *name, hid_t type, int rank,
                            const hsize_t *dims, const void *data, const char *path) {
    hid_t space = H5Screate_simple(rank, dims, NULL);
    hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
    int empty = 0;
    for (int i = 0; i < rank; i++)
        empty |= dims[i] == 0;
    if (!empty) {
        H5Pset_chunk(dcpl, rank, dims);
        H5Pset_deflate(dcpl, 4);
        // (not for variable-length strings: their chunks hold heap references)
        if (H5Tis_variable_str(type) <= 0) H5Pset_fletcher32(dcpl);
    }
    hid_t d = H5Dcreate2(parent, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    herr_t e = d < 0 ? -1 : H5Dwrite(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
    if (d >= 0) H5Dclose(d);
    H5Pclose(dcpl);
    H5Sclose(space);
    return e < 0 ? status_fail(STATUS_ERR_IO, "%s: cannot write dataset '%s'", path, name)
                 : STATUS_OK;
}

// Reads a whole dataset whose element count must be `expect`.
status h5util_read_dataset(hid_t parent, const char *name, hid_t type, size_t expect, void *out,
                           const char *path, const char *what) {
    hid_t d = H5Dopen2(parent, name, H5P_DEFAULT);
    if (d < 0)
        return status_fail(STATUS_ERR_FORMAT, "%s: %s: missing dataset '%s'", path, what, name);
    hid_t space = H5Dget_space(d);
    hssize_t count = H5Sget_simple_extent_npoints(space);
    H5Sclose(space);
    if (count < 0 || (size_t)count != expect) {
        H5Dclose(d);
        return status_fail(STATUS_ERR_SHAPE, "%s: %s: dataset '%s' has %lld values, expected %zu",
                           path, what, name, (long long)count, expect);
    }
    herr_t e = expect ? H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) : 0;
    H5Dclose(d);
    return e < 0 ? status_fail(STATUS_ERR_FORMAT, "%s: %s: cannot read '%s'", path, what, name)
                 : STATUS_OK;
}

status h5util_read_strings(hid_t parent, const char *name, char ***out, size_t *n,
                           const char *path) {
    *out = NULL;
    *n = 0;
    hid_t d = H5Dopen2(parent, name, H5P_DEFAULT);
    if (d < 0) return status_fail(STATUS_ERR_FORMAT, "%s: missing dataset '%s'", path, name);
    hid_t space = H5Dget_space(d);
    hssize_t count = H5Sget_simple_extent_npoints(space);
    H5Sclose(space);
    // A damaged dataspace can claim any count (a fuzzed trace claimed 7.6e18
    // strings); grating never writes more than H5UTIL_MAX_STRINGS per dataset.
    if (count > (hssize_t)H5UTIL_MAX_STRINGS) {
        H5Dclose(d);
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: dataset '%s' claims %lld strings, more than the %lld grating reads "
                           "(damaged file?)",
                           path, name, (long long)count, (long long)H5UTIL_MAX_STRINGS);
    }
    hid_t str = h5util_string_type();
    char **tmp = count > 0 ? calloc((size_t)count, sizeof *tmp) : NULL;
    herr_t e = count > 0 && tmp ? H5Dread(d, str, H5S_ALL, H5S_ALL, H5P_DEFAULT, tmp)
                                : (count == 0 ? 0 : -1);
    status st = STATUS_OK;
    if (e < 0) st = status_fail(STATUS_ERR_FORMAT, "%s: cannot read strings '%s'", path, name);
    char **copy = st == STATUS_OK && count > 0 ? calloc((size_t)count, sizeof *copy) : NULL;
    if (st == STATUS_OK && count > 0 && !copy)
        st = status_fail(STATUS_ERR_NOMEM, "%s: strings '%s': out of memory", path, name);
    for (hssize_t i = 0; i < count && tmp && e >= 0; i++) {
        if (st == STATUS_OK && !(copy[i] = strdup(tmp[i] ? tmp[i] : "")))
            st = status_fail(STATUS_ERR_NOMEM, "%s: strings '%s': out of memory", path, name);
        if (tmp[i]) H5free_memory(tmp[i]);
    }
    if (st != STATUS_OK && copy) {
        for (hssize_t i = 0; i < count; i++)
            free(copy[i]);
        free(copy);
        copy = NULL;
    }
    free(tmp);
    H5Tclose(str);
    H5Dclose(d);
    if (st == STATUS_OK) {
        *out = copy;
        *n = count > 0 ? (size_t)count : 0;
    }
    return st;
}
