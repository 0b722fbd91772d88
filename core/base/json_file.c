#include "base/json_file.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

status file_open_read(const char *path, int allow_stream, FILE **out) {
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return status_fail(STATUS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        int e = errno;
        fclose(f);
        return status_fail(STATUS_ERR_IO, "%s: cannot stat: %s", path, strerror(e));
    }
    if (S_ISDIR(sb.st_mode)) {
        fclose(f);
        return status_fail(STATUS_ERR_IO, "%s: is a directory (expected a file)", path);
    }
    if (!S_ISREG(sb.st_mode) && !(allow_stream && (S_ISFIFO(sb.st_mode) || S_ISCHR(sb.st_mode)))) {
        fclose(f);
        return status_fail(STATUS_ERR_IO, "%s: not a regular file (expected a file)", path);
    }
    *out = f;
    return STATUS_OK;
}

status file_read_all(const char *path, char **data, size_t *len) {
    *data = NULL;
    *len = 0;
    FILE *f;
    status st = file_open_read(path, 0, &f);
    if (st != STATUS_OK) return st;
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0 || sb.st_size < 0) {
        fclose(f);
        return status_fail(STATUS_ERR_IO, "%s: cannot determine the size", path);
    }
    if ((uint64_t)sb.st_size >= SIZE_MAX) {
        fclose(f);
        return status_fail(STATUS_ERR_NOMEM, "%s: %lld bytes do not fit in memory", path,
                           (long long)sb.st_size);
    }
    size_t size = (size_t)sb.st_size;
    char *buf = malloc(size + 1);
    if (!buf) {
        fclose(f);
        return status_fail(STATUS_ERR_NOMEM, "%s: %zu bytes: out of memory", path, size);
    }
    size_t got = fread(buf, 1, size, f);
    int err = ferror(f);
    fclose(f);
    if (got != size || err) {
        free(buf);
        return status_fail(STATUS_ERR_IO, "%s: short read (%zu of %zu bytes)", path, got, size);
    }
    buf[size] = '\0';
    *data = buf;
    *len = size;
    return STATUS_OK;
}

// A NUL inside a JSON string (raw, or the escape \u0000) would be cut by
// cJSON, whose strings end at the first NUL: the rest of the text would be
// dropped without a word. This scan finds one and names the line, column and
// the key of the member it belongs to, before anything is read.
enum { JSON_CHECK_DEPTH = 64 };

typedef struct {
    const char *key; // start of the last key seen at this depth (inside its quotes)
    size_t key_len;
    int is_object;
} json_check_frame;

// Line and column (1-based) of byte `at`.
static void json_text_position(const char *text, size_t at, size_t *line, size_t *col) {
    *line = 1;
    *col = 1;
    for (size_t i = 0; i < at; i++) {
        if (text[i] == '\n') {
            (*line)++;
            *col = 1;
        } else {
            (*col)++;
        }
    }
}

// 1 when the string holding byte `at` is a key (its closing quote is followed by ':').
static int json_string_is_key(const char *text, size_t len, size_t at) {
    size_t i = at;
    while (i < len && text[i] != '"')
        i += text[i] == '\\' ? 2 : 1;
    for (i++; i < len; i++)
        if (text[i] != ' ' && text[i] != '\t' && text[i] != '\n' && text[i] != '\r')
            return text[i] == ':';
    return 0;
}

static status json_check_fail(const char *what, const char *text, size_t len, size_t at,
                              const char *kind, const json_check_frame *stack, int depth,
                              int in_string) {
    size_t line, col;
    json_text_position(text, at, &line, &col);
    int in_key = in_string && json_string_is_key(text, len, at);
    const json_check_frame *owner = NULL;
    for (int d = depth - 1 - in_key; d >= 0 && !owner; d--)
        if (d < JSON_CHECK_DEPTH && stack[d].is_object && stack[d].key) owner = &stack[d];
    int n = owner ? (int)(owner->key_len < 60 ? owner->key_len : 60) : 0;
    char field[100];
    if (owner)
        snprintf(field, sizeof field, "%sfield \"%.*s\"", in_key ? "a key inside " : "", n,
                 owner->key);
    else
        snprintf(field, sizeof field, "%s", in_key ? "a key" : "the text");
    // One-line texts (a JSONL line: `what` names the line) get the column only.
    char at_text[64] = "";
    if (memchr(text, '\n', len)) snprintf(at_text, sizeof at_text, "line %zu, ", line);
    return status_fail(STATUS_ERR_FORMAT,
                       "%s: %scolumn %zu: %s contains %s; grating keeps text as NUL-terminated "
                       "strings, so the text after it would be lost (remove it)",
                       what, at_text, col, field, kind);
}

status json_check_text(const char *what, const char *text, size_t len) {
    json_check_frame stack[JSON_CHECK_DEPTH];
    int depth = 0, in_string = 0;
    const char *str_start = NULL;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '\0')
            return json_check_fail(what, text, len, i, "a NUL byte", stack, depth, in_string);
        if (in_string) {
            if (c == '\\') {
                if (i + 5 < len && text[i + 1] == 'u' && memcmp(text + i + 2, "0000", 4) == 0)
                    return json_check_fail(what, text, len, i,
                                           "the escape \\u0000 (a NUL character)", stack, depth, 1);
                i++; // the escaped character
            } else if (c == '"') {
                in_string = 0;
                // A key when the next non-space byte is ':'.
                size_t j = i + 1;
                while (j < len &&
                       (text[j] == ' ' || text[j] == '\t' || text[j] == '\n' || text[j] == '\r'))
                    j++;
                if (j < len && text[j] == ':' && depth > 0 && depth <= JSON_CHECK_DEPTH) {
                    stack[depth - 1].key = str_start;
                    stack[depth - 1].key_len = (size_t)(text + i - str_start);
                }
            }
            continue;
        }
        if (c == '"') {
            in_string = 1;
            str_start = text + i + 1;
        } else if (c == '{' || c == '[') {
            if (depth < JSON_CHECK_DEPTH)
                stack[depth] = (json_check_frame){.key = NULL, .key_len = 0, .is_object = c == '{'};
            depth++;
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return STATUS_OK;
}

status json_parse_text(const char *what, const char *text, size_t len, cJSON **out) {
    const char *end = NULL;
    *out = NULL;
    status st = json_check_text(what, text, len);
    if (st != STATUS_OK) return st;
    *out = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (*out) return STATUS_OK;
    size_t line = 1, col = 1;
    const char *stop = end ? end : text + len;
    for (const char *p = text; p < stop && p < text + len; p++) {
        if (*p == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    return status_fail(STATUS_ERR_FORMAT, "%s: malformed JSON at line %zu, column %zu", what, line,
                       col);
}

status json_file_parse(const char *path, cJSON **out) {
    char *text;
    size_t len;
    *out = NULL;
    status st = file_read_all(path, &text, &len);
    if (st != STATUS_OK) return st;
    st = json_parse_text(path, text, len, out);
    free(text);
    return st;
}

static status json_member(const cJSON *obj, const char *key, const char *what, int required,
                          const cJSON **item) {
    *item = cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    if (!*item || cJSON_IsNull(*item)) {
        *item = NULL;
        if (required) return status_fail(STATUS_ERR_MISSING, "%s: missing key '%s'", what, key);
    }
    return STATUS_OK;
}

int json_number_int(const cJSON *item, int64_t lo, int64_t hi, int64_t *out) {
    if (!cJSON_IsNumber(item)) return 0;
    double v = item->valuedouble;
    // Checked as a double first (converting an out-of-range double is
    // undefined); |v| <= 2^53 keeps the conversion exact and defined.
    if (!(v >= -9007199254740992.0 && v <= 9007199254740992.0) || v != floor(v)) return 0;
    int64_t i = (int64_t)v;
    if (i < lo || i > hi) return 0;
    *out = i;
    return 1;
}

static status json_to_int(const cJSON *item, const char *key, const char *what, int64_t *out) {
    double v = cJSON_IsNumber(item) ? item->valuedouble : NAN;
    if (!cJSON_IsNumber(item) || !isfinite(v) || v != floor(v) || fabs(v) > 9007199254740992.0)
        return status_fail(STATUS_ERR_FORMAT, "%s: key '%s': expected an integer", what, key);
    *out = (int64_t)v;
    return STATUS_OK;
}

status json_get_int(const cJSON *obj, const char *key, const char *what, int64_t *out) {
    const cJSON *item;
    status st = json_member(obj, key, what, 1, &item);
    return st != STATUS_OK ? st : json_to_int(item, key, what, out);
}

status json_opt_int(const cJSON *obj, const char *key, const char *what, int64_t *out) {
    const cJSON *item;
    json_member(obj, key, what, 0, &item);
    return item ? json_to_int(item, key, what, out) : STATUS_OK;
}

static status json_to_double(const cJSON *item, const char *key, const char *what, double *out) {
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
        return status_fail(STATUS_ERR_FORMAT, "%s: key '%s': expected a finite number", what, key);
    *out = item->valuedouble;
    return STATUS_OK;
}

status json_get_double(const cJSON *obj, const char *key, const char *what, double *out) {
    const cJSON *item;
    status st = json_member(obj, key, what, 1, &item);
    return st != STATUS_OK ? st : json_to_double(item, key, what, out);
}

status json_opt_double(const cJSON *obj, const char *key, const char *what, double *out) {
    const cJSON *item;
    json_member(obj, key, what, 0, &item);
    return item ? json_to_double(item, key, what, out) : STATUS_OK;
}

static status json_to_string(const cJSON *item, const char *key, const char *what,
                             const char **out) {
    if (!cJSON_IsString(item))
        return status_fail(STATUS_ERR_FORMAT, "%s: key '%s': expected a string", what, key);
    *out = item->valuestring;
    return STATUS_OK;
}

status json_get_string(const cJSON *obj, const char *key, const char *what, const char **out) {
    const cJSON *item;
    status st = json_member(obj, key, what, 1, &item);
    return st != STATUS_OK ? st : json_to_string(item, key, what, out);
}

status json_opt_string(const cJSON *obj, const char *key, const char *what, const char **out) {
    const cJSON *item;
    json_member(obj, key, what, 0, &item);
    return item ? json_to_string(item, key, what, out) : STATUS_OK;
}

status json_opt_bool(const cJSON *obj, const char *key, const char *what, int *out) {
    const cJSON *item;
    json_member(obj, key, what, 0, &item);
    if (!item) return STATUS_OK;
    if (!cJSON_IsBool(item))
        return status_fail(STATUS_ERR_FORMAT, "%s: key '%s': expected true or false", what, key);
    *out = cJSON_IsTrue(item) ? 1 : 0;
    return STATUS_OK;
}
