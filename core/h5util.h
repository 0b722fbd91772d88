/*
 * h5util.h - small HDF5 helpers shared by the trace (core/trace.c) and sweep
 * (core/sweep.c) files: UTF-8 variable-length strings, scalar attributes,
 * whole chunked + deflate-compressed datasets, with errors naming the file.
 *
 *     h5util_quiet();                       // grating prints its own errors
 *     h5util_write_dataset(group, "scores", H5T_NATIVE_FLOAT, 2, dims, data, path);
 */
#ifndef GRATING_H5UTIL_H
#define GRATING_H5UTIL_H

#include "status.h"

#include <hdf5.h>
#include <stddef.h>

// Turns off HDF5's own error-stack printing.
void h5util_quiet(void);

// A variable-length UTF-8 string type (close with H5Tclose).
hid_t h5util_string_type(void);

status h5util_attr_write_string(hid_t obj, const char *name, const char *value, const char *path);
status h5util_attr_write_num(hid_t obj, const char *name, hid_t type, const void *value,
                             const char *path);
// *out is malloc'd.
status h5util_attr_read_string(hid_t obj, const char *name, char **out, const char *path);
status h5util_attr_read_num(hid_t obj, const char *name, hid_t type, void *out, const char *path);

// A whole 1-D or 2-D dataset, chunked and compressed (contiguous when empty).
status h5util_write_dataset(hid_t parent, const char *name, hid_t type, int rank,
                            const hsize_t *dims, const void *data, const char *path);
// Reads a whole dataset whose element count must be `expect`; `what` names
// the object in messages (e.g. the query id).
status h5util_read_dataset(hid_t parent, const char *name, hid_t type, size_t expect, void *out,
                           const char *path, const char *what);
// Reads a 1-D string dataset into a malloc'd array of malloc'd strings.
status h5util_read_strings(hid_t parent, const char *name, char ***out, size_t *n, const char *path);

#endif
