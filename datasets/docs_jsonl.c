#include "docs_jsonl.h"
#include "base/json_file.h"
#include "base/strmap.h"
#include "trec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void doc_list_free(doc_list *docs) {
    for (size_t i = 0; i < docs->n; i++) {
        free(docs->items[i].id);
        free(docs->items[i].text);
    }
    free(docs->items);
    docs->items = NULL;
    docs->n = 0;
}

status doc_join_text(const cJSON *obj, const char *what, char **text) {
    *text = NULL;
    const char *body = NULL, *title = NULL;
    status st;
    if ((st = json_get_string(obj, "text", what, &body)) ||
        (st = json_opt_string(obj, "title", what, &title)))
        return st;
    size_t n_title = title ? strlen(title) : 0, n_body = strlen(body);
    char *out = malloc(n_title + 1 + n_body + 1);
    if (!out) return status_fail(STATUS_ERR_NOMEM, "%s: out of memory", what);
    if (n_title > 0) {
        memcpy(out, title, n_title);
        out[n_title] = ' ';
        memcpy(out + n_title + 1, body, n_body + 1);
    } else {
        memcpy(out, body, n_body + 1);
    }
    *text = out;
    return STATUS_OK;
}

static status docs_jsonl_item(const char *path, size_t line_no, const char *line, size_t len,
                              size_t index, doc_item *out) {
    char what[4200];
    snprintf(what, sizeof what, "%s: line %zu", path, line_no);
    cJSON *obj;
    status st = json_parse_text(what, line, len, &obj);
    if (st != STATUS_OK) return st;
    if (!cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        return status_fail(STATUS_ERR_FORMAT, "%s: expected a JSON object with a \"text\" field",
                           what);
    }
    const char *id = NULL;
    if ((st = doc_join_text(obj, what, &out->text)) ||
        (st = json_opt_string(obj, "id", what, &id)) ||
        (!id && (st = json_opt_string(obj, "_id", what, &id)))) {
        free(out->text);
        out->text = NULL;
        cJSON_Delete(obj);
        return st;
    }
    char index_id[32];
    snprintf(index_id, sizeof index_id, "%zu", index);
    if (id && (st = trec_check_id(STATUS_ERR_FORMAT, what, "id", id))) {
        free(out->text);
        out->text = NULL;
        cJSON_Delete(obj);
        return st;
    }
    out->id = strdup(id ? id : index_id);
    cJSON_Delete(obj);
    if (!out->id) {
        free(out->text);
        out->text = NULL;
        return status_fail(STATUS_ERR_NOMEM, "%s: out of memory", what);
    }
    return STATUS_OK;
}

status doc_list_read_jsonl(doc_list *docs, const char *path) {
    docs->items = NULL;
    docs->n = 0;
    FILE *f;
    status st = file_open_read(path, 1, &f);
    if (st != STATUS_OK) return st;
    strmap ids; // id -> line, for duplicates
    if ((st = strmap_init(&ids, 64)) != STATUS_OK) {
        fclose(f);
        return st;
    }
    size_t cap = 0, line_no = 0;
    char *line = NULL;
    size_t line_cap = 0;
    ssize_t got;
    while ((got = getline(&line, &line_cap, f)) >= 0) {
        line_no++;
        size_t len = (size_t)got;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
            len--;
        size_t k = 0;
        while (k < len && (line[k] == ' ' || line[k] == '\t'))
            k++;
        if (k == len) continue;
        if (docs->n == cap) {
            cap = cap ? cap * 2 : 64;
            doc_item *items = realloc(docs->items, cap * sizeof *items);
            if (!items) {
                st = status_fail(STATUS_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            docs->items = items;
        }
        st = docs_jsonl_item(path, line_no, line, len, docs->n, &docs->items[docs->n]);
        if (st != STATUS_OK) break;
        docs->n++;
        const char *id = docs->items[docs->n - 1].id;
        int64_t first;
        if (strmap_get(&ids, id, strlen(id), &first)) {
            st = status_fail(STATUS_ERR_FORMAT,
                             "%s: line %zu: document id '%s' already used at line %lld (ids "
                             "must be distinct; a document without \"id\" gets its 0-based "
                             "position)",
                             path, line_no, id, (long long)first);
            break;
        }
        if ((st = strmap_put(&ids, id, strlen(id), (int64_t)line_no)) != STATUS_OK) break;
    }
    if (st == STATUS_OK && ferror(f)) st = status_fail(STATUS_ERR_IO, "%s: read error", path);
    free(line);
    fclose(f);
    strmap_free(&ids);
    if (st == STATUS_OK && docs->n == 0)
        st = status_fail(STATUS_ERR_ARG, "%s: no candidate documents (empty file)", path);
    if (st != STATUS_OK) doc_list_free(docs);
    return st;
}
