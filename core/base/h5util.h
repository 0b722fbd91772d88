/*
 * h5util.h - small HDF5 helpers shared by the trace (core/analysis/trace.c) and sweep
 * (core/analysis/sweep.c) files: UTF-8 variable-length strings, scalar attributes,
 * whole chunked + deflate-compressed datasets, with errors naming the file.
 *
 *     h5util_quiet();                       // grating prints its own errors
 *     h5util_write_dataset(group, "scores", H5T_NATIVE_FLOAT, 2, dims, data, path);
 */
#ifndef GRATING_H5UTIL_H
#define GRATING_H5UTIL_H

#include "base/status.h"

#include <hdf5.h>
#include <stddef.h>

// Turns off HDF5's own error-stack printing.
void h5util_quiet(void);

// Closing a file after a failed write (ENOSPC, EFBIG, EIO).
//
// libhdf5 1.10.8 cannot close a file whose metadata it failed to write: the
// H5Fclose fails (the flush fails again), frees the file's structures, but
// leaves the file id in its id table. Any later use of that id, including
// libhdf5's own atexit handler (H5_term_library -> H5F__close_cb), touches the
// freed structure: SIGSEGV at exit after a clean error message.
//
// The fix is in two parts. This file registers (before main, with a
// constructor, because it must precede every other HDF5 call) H5dont_atexit()
// and its own exit handler, which calls H5close() only while no close has
// failed. And every file is closed with h5util_file_close(), which records a
// failed close: from then on the process must not use HDF5 again (the id
// table holds a dangling entry), and at exit the library is left for the
// operating system to reclaim instead of being torn down. The file on disk
// keeps what the last successful H5Fflush wrote.
//
// Closes *file (if >= 0) and sets it to -1. Fails naming `path` when the
// close (its final flush) fails; the caller then reports the write as failed
// and must not present the file as complete (and must not rename it into
// place).
status h5util_file_close(hid_t *file, const char *path);
// 1 once a close has failed in this process: HDF5 must not be used again
// (callers that could retry should report the earlier error instead).
int h5util_file_close_failed(void);
// Registers H5dont_atexit() and grating's exit handler; idempotent. Runs
// automatically before main (constructor); call it first in a program that
// could reach HDF5 before constructors run (never the case in C).
void h5util_init(void);

// A variable-length UTF-8 string type (close with H5Tclose).
hid_t h5util_string_type(void);

status h5util_attr_write_string(hid_t obj, const char *name, const char *value, const char *path);
status h5util_attr_write_num(hid_t obj, const char *name, hid_t type, const void *value,
                             const char *path);
// *out is malloc'd.
status h5util_attr_read_string(hid_t obj, const char *name, char **out, const char *path);
status h5util_attr_read_num(hid_t obj, const char *name, hid_t type, void *out, const char *path);

// A whole 1-D or 2-D dataset, chunked, compressed and (numbers) with a
// Fletcher-32 checksum per chunk, so a damaged file reads as an error, not as
// wrong numbers; contiguous when empty.
status h5util_write_dataset(hid_t parent, const char *name, hid_t type, int rank,
                            const hsize_t *dims, const void *data, const char *path);
// Reads a whole dataset whose element count must be `expect`; `what` names
// the object in messages (e.g. the query id).
status h5util_read_dataset(hid_t parent, const char *name, hid_t type, size_t expect, void *out,
                           const char *path, const char *what);
// Largest number of strings h5util_read_strings reads from one dataset.
#define H5UTIL_MAX_STRINGS ((long long)1 << 24)
// Reads a 1-D string dataset into a malloc'd array of malloc'd strings.
status h5util_read_strings(hid_t parent, const char *name, char ***out, size_t *n,
                           const char *path);

#endif
