#include "json_file.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

status file_read_all(const char *path, char **data, size_t *len) {
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return status_fail(STATUS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return status_fail(STATUS_ERR_IO, "%s: cannot seek: %s", path, strerror(errno));
    }
    long size = ftell(f);
    if (size < 0) {
        fclose(f);
        return status_fail(STATUS_ERR_IO, "%s: cannot determine size (not a regular file?)", path);
    }
    rewind(f);
    char *buf = malloc((size_t)size + 1);
    if (!buf) {
        fclose(f);
        return status_fail(STATUS_ERR_NOMEM, "%s: %ld bytes: out of memory", path, size);
    }
    size_t got = fread(buf, 1, (size_t)size, f);
    int err = ferror(f);
    fclose(f);
    if (got != (size_t)size || err) {
        free(buf);
        return status_fail(STATUS_ERR_IO, "%s: short read (%zu of %ld bytes)", path, got, size);
    }
    buf[size] = '\0';
    *data = buf;
    *len = (size_t)size;
    return STATUS_OK;
}

status json_parse_text(const char *what, const char *text, size_t len, cJSON **out) {
    const char *end = NULL;
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
