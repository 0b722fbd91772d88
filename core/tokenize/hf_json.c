// hf_json.c - shared Hugging Face tokenizer.json reading (see hf_json.h).
#include "tokenize/hf_json.h"

#include "base/json_file.h"

#include <stdio.h>
#include <sys/stat.h>
#include <utf8proc.h>

status hf_json_added_token_read(const cJSON *item, const char *what, hf_added_token *out) {
    hf_added_token a = {0};
    a.id = out->id;
    if (!cJSON_IsObject(item))
        return status_fail(STATUS_ERR_FORMAT, "%s: expected an object", what);
    status st = json_get_string(item, "content", what, &a.content);
    if (st == STATUS_OK) st = json_opt_bool(item, "special", what, &a.special);
    a.normalized = !a.special; // HF's default when the key is absent
    if (st == STATUS_OK) st = json_opt_bool(item, "single_word", what, &a.single_word);
    if (st == STATUS_OK) st = json_opt_bool(item, "lstrip", what, &a.lstrip);
    if (st == STATUS_OK) st = json_opt_bool(item, "rstrip", what, &a.rstrip);
    if (st == STATUS_OK) st = json_opt_bool(item, "normalized", what, &a.normalized);
    if (st == STATUS_OK) *out = a;
    return st;
}

int hf_is_word_char(int32_t c) {
    if (c < 0x80)
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
               c == '_';
    if (c == 0x200C || c == 0x200D) return 1;
    if ((c >= 0x24B6 && c <= 0x24E9) || (c >= 0x1F130 && c <= 0x1F149) ||
        (c >= 0x1F150 && c <= 0x1F169) || (c >= 0x1F170 && c <= 0x1F189))
        return 1; // Other_Alphabetic symbols
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC:
    case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_PC:
        return 1;
    default:
        return 0;
    }
}

status hf_json_component_type(const cJSON *c, const char *what, const char **type) {
    if (!cJSON_IsObject(c)) return status_fail(STATUS_ERR_FORMAT, "%s: expected an object", what);
    return json_get_string(c, "type", what, type);
}

status hf_json_expect_bool(const cJSON *obj, const char *key, int want, const char *what) {
    int v = want;
    status st = json_opt_bool(obj, key, what, &v);
    if (st != STATUS_OK) return st;
    if (v != want)
        return status_fail(STATUS_ERR_UNSUPPORTED, "%s: '%s': %s is not supported (expected %s)",
                           what, key, v ? "true" : "false", want ? "true" : "false");
    return STATUS_OK;
}

void hf_path_join(char *dst, size_t cap, const char *dir, const char *name) {
    snprintf(dst, cap, "%s/%s", dir, name);
}

int hf_file_exists(const char *path) {
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}
