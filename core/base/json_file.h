/*
 * json_file.h - reading whole files and parsing JSON with errors that name
 * the file, the line and the column (cJSON itself only returns a pointer).
 *
 *     cJSON *root;
 *     if (json_file_parse(path, &root) != STATUS_OK) return ...; // message set
 *     ...
 *     cJSON_Delete(root);
 *
 * Also small typed getters that fail with "FILE: key 'x': expected integer".
 */
#ifndef GRATING_JSON_FILE_H
#define GRATING_JSON_FILE_H

#include "base/status.h"

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

// Opens `path` for reading; fails naming the file when it is a directory or,
// unless allow_stream (FIFOs and character devices, e.g. a shell's <(...), are
// then read as streams), not a regular file.
status file_open_read(const char *path, int allow_stream, FILE **out);

// Reads a whole regular file into a NUL-terminated malloc'd buffer (*len excludes NUL).
status file_read_all(const char *path, char **data, size_t *len);

// Fails when a JSON string holds a NUL (raw, or the escape \u0000), which
// cJSON would cut silently; the message names line, column and field.
// json_parse_text runs it; call it before any other cJSON parse.
status json_check_text(const char *what, const char *text, size_t len);

// Parses `len` bytes of JSON text (json_check_text first); `what` names the source in messages.
status json_parse_text(const char *what, const char *text, size_t len, cJSON **out);

// Reads and parses a JSON file.
status json_file_parse(const char *path, cJSON **out);

// 1 and *out set when `item` is a JSON number holding an integer in
// [lo, hi] and in [-2^53, 2^53] (checked before any conversion: casting an
// out-of-range double to an integer is undefined behaviour); 0 otherwise,
// *out unchanged.
int json_number_int(const cJSON *item, int64_t lo, int64_t hi, int64_t *out);

// Required members. `what` names the file (or file + object) in messages.
status json_get_int(const cJSON *obj, const char *key, const char *what, int64_t *out);
status json_get_double(const cJSON *obj, const char *key, const char *what, double *out);
status json_get_string(const cJSON *obj, const char *key, const char *what, const char **out);

// Optional members: leave *out unchanged when the key is absent or null;
// fail when present with the wrong type.
status json_opt_int(const cJSON *obj, const char *key, const char *what, int64_t *out);
status json_opt_double(const cJSON *obj, const char *key, const char *what, double *out);
status json_opt_string(const cJSON *obj, const char *key, const char *what, const char **out);
status json_opt_bool(const cJSON *obj, const char *key, const char *what, int *out);

#endif
