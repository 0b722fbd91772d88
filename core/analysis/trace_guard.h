/*
 * trace_guard.h - reading untrusted HDF5 files (traces, sweep files) so that
 * no file can crash or hang grating.
 *
 * libhdf5 (1.10.8 here) is not safe on corrupt input: a fuzzer found files
 * that make it dereference wild pointers (SEGV in H5HG_read), overflow a
 * heap buffer (H5O__attr_exists), loop forever (H5C_protect) and leak inside
 * a failed H5Fopen (../shared/repros/trace-*.h5). grating cannot fix the
 * library, and none of these can be detected before calling it (they sit in
 * the object headers, heaps and B-trees libhdf5 parses on the way to the
 * data), so grating never parses an untrusted HDF5 file in its own process:
 *
 *   1. The parent forks. The child runs the plain reader (trace_read or
 *      sweep_read), serialises the result into a pipe (a flat,
 *      length-prefixed byte stream) and leaves with _exit: no atexit
 *      handlers, so neither libhdf5's (which itself crashes on a damaged
 *      library state) nor LeakSanitizer's runs, and whatever libhdf5 leaked
 *      or corrupted dies with the child. Its stderr goes to /dev/null
 *      (GRATING_H5_DEBUG=1 keeps it, e.g. to see a sanitizer report).
 *   2. The parent reads the pipe with a deadline: GRATING_H5_TIMEOUT seconds
 *      if set, else 10 s plus 1 s per 4 MiB of file. On timeout it kills the
 *      child (SIGKILL) and fails with "FILE: not a readable grating trace
 *      (libhdf5 did not finish reading it in T s)"; a child killed by a
 *      signal gives "(libhdf5 crashed with signal N (NAME) while reading
 *      it)"; a reader error (missing attribute, wrong shape) is passed on
 *      with its own message and code.
 *   3. The parent decodes the stream with every length checked against what
 *      is left of it (sizes from the file are never trusted for an
 *      allocation, and every product is checked for overflow), then checks
 *      the schema (trace_guard_check / trace_guard_check_sweep): counts,
 *      shapes, unique ids, finite scores and times, sequence lengths within
 *      max_len. Only then does the caller see the data.
 *
 * Alternatives considered: a checksum of the schema/data written at creation
 * only proves that the bytes are the ones grating wrote, and libhdf5 still
 * has to parse the file to get at it (the crashes are in that parsing), so
 * it cannot replace the child; a watchdog thread cannot stop a thread stuck
 * in libhdf5 or undo a wild write. The cost of the child is one fork and one
 * copy of the data (a 300-query trace is a few MB): milliseconds.
 *
 *     trace t;
 *     if (trace_guard_read(&t, "out.h5") != STATUS_OK) ... // never crashes or hangs
 *     trace_free(&t);
 */
#ifndef GRATING_TRACE_GUARD_H
#define GRATING_TRACE_GUARD_H

#include "base/status.h"
#include "analysis/sweep.h"
#include "analysis/trace.h"

#include <stddef.h>

// trace_read in a child process, then trace_guard_check. Same result and
// ownership as trace_read (free with trace_free).
status trace_guard_read(trace *t, const char *path);

// sweep_read in a child process, then trace_guard_check_sweep. Same result
// and ownership as sweep_read.
status trace_guard_read_sweep(sweep_grid *g, sweep_results *r, trace_meta *meta, const char *path);

// Checks what a trace holds beyond what the reader checks: meta sizes
// positive, at least one query, unique non-empty query ids, 1 <= n <= top_n
// candidates with unique non-empty doc ids, finite scores and first-stage
// scores, token counts in [1, max_len], finite non-negative times.
status trace_guard_check(const trace *t, const char *path);

// Checks a sweep file's contents: at least one configuration, named
// policies, 1 <= k, unique query indexes, no infinite value, and the
// metrics that need no labels (precision vs the full model, fraction, FLOPs,
// latency, peak bytes) finite.
status trace_guard_check_sweep(const sweep_grid *g, const sweep_results *r, const char *path);

// The reader process's time limit in seconds for a file of `bytes` bytes
// (GRATING_H5_TIMEOUT, else 10 + bytes / 4 MiB). Fails on a malformed
// GRATING_H5_TIMEOUT.
status trace_guard_timeout(size_t bytes, double *seconds);

#endif
