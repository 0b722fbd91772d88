/*
 * status.h - error reporting for every public function of grating.
 *
 * Every fallible function returns a `status`. On failure it has already
 * recorded a human-readable message (naming the file, the field or tensor and
 * what was expected) that callers print with status_message(). The message
 * lives in thread-local storage, so the I/O thread and the compute thread do
 * not overwrite each other's errors.
 *
 *     status st = checkpoint_open(&ck, dir);
 *     if (st != STATUS_OK) {
 *         fprintf(stderr, "grating: %s\n", status_message());
 *         return 1;
 *     }
 *
 * Inside a function, fail with:
 *     return status_fail(STATUS_ERR_FORMAT, "%s: header length %zu beyond file size %zu",
 *                        path, n, size);
 */
#ifndef GRATING_STATUS_H
#define GRATING_STATUS_H

#include <stdarg.h>

typedef enum {
    STATUS_OK = 0,
    STATUS_ERR_IO,          // file missing, unreadable, short read
    STATUS_ERR_FORMAT,      // malformed content: JSON, JSONL, safetensors header, vocab
    STATUS_ERR_SHAPE,       // tensor shape does not match the config
    STATUS_ERR_MISSING,     // a required tensor, key or token is absent
    STATUS_ERR_UNSUPPORTED, // unknown architecture, dtype or option value
    STATUS_ERR_ARG,         // invalid argument from the caller or command line
    STATUS_ERR_NOMEM,       // allocation failed (or was injected to fail)
    STATUS_ERR_NUMERIC,     // NaN or Inf where a finite number is required
} status;

// Records the message (printf-style) for this thread and returns `code`.
status status_fail(status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// Prepends "context: " to the current message, keeping the code. Use it when
// a lower layer failed and the caller knows something the callee did not
// (e.g. which candidate or which layer).
status status_wrap(status code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// The last message recorded on this thread ("" if none).
const char *status_message(void);

// A stable short name for the code, e.g. "format error".
const char *status_name(status code);

// Clears the message of this thread.
void status_clear(void);

#endif
