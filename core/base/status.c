#include "base/status.h"

#include <stdio.h>
#include <string.h>

enum { STATUS_MESSAGE_CAP = 2048 };

static _Thread_local char status_text[STATUS_MESSAGE_CAP];

status status_fail(status code, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(status_text, sizeof status_text, fmt, ap);
    va_end(ap);
    return code;
}

status status_wrap(status code, const char *fmt, ...) {
    char prefix[STATUS_MESSAGE_CAP];
    char previous[STATUS_MESSAGE_CAP];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    memcpy(previous, status_text, sizeof previous);
    // Truncation is acceptable for a message; build it piecewise so the
    // compiler's truncation analysis stays quiet.
    size_t n = strlen(prefix);
    if (n > STATUS_MESSAGE_CAP - 3) n = STATUS_MESSAGE_CAP - 3;
    memcpy(status_text, prefix, n);
    status_text[n++] = ':';
    status_text[n++] = ' ';
    size_t rest = strnlen(previous, STATUS_MESSAGE_CAP - 1);
    if (rest > STATUS_MESSAGE_CAP - 1 - n) rest = STATUS_MESSAGE_CAP - 1 - n;
    memcpy(status_text + n, previous, rest);
    status_text[n + rest] = '\0';
    return code;
}

const char *status_message(void) {
    return status_text;
}

void status_clear(void) {
    status_text[0] = '\0';
}

const char *status_name(status code) {
    switch (code) {
    case STATUS_OK: return "ok";
    case STATUS_ERR_IO: return "I/O error";
    case STATUS_ERR_FORMAT: return "format error";
    case STATUS_ERR_SHAPE: return "shape mismatch";
    case STATUS_ERR_MISSING: return "missing";
    case STATUS_ERR_UNSUPPORTED: return "unsupported";
    case STATUS_ERR_ARG: return "invalid argument";
    case STATUS_ERR_NOMEM: return "out of memory";
    case STATUS_ERR_NUMERIC: return "non-finite number";
    }
    return "unknown status";
}
