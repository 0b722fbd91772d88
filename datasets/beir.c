#include "beir.h"
#include "docs_jsonl.h"
#include "base/json_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define BEIR_QRELS_HEADER "query-id\tcorpus-id\tscore"

// "PATH: line N", the prefix of every message about one line.
typedef struct {
    char text[4200];
} beir_where;

static void beir_where_set(beir_where *w, const char *path, size_t line_no) {
    snprintf(w->text, sizeof w->text, "%s: line %zu", path, line_no);
}

static char *beir_path_join(const char *dir, const char *name) {
    char *out = NULL;
    if (asprintf(&out, "%s/%s", dir, name) < 0) return NULL;
    return out;
}

// Strips the line ending (LF or CRLF) from a line of `got` bytes.
static size_t beir_line_length(const char *line, size_t got) {
    while (got > 0 && (line[got - 1] == '\n' || line[got - 1] == '\r'))
        got--;
    return got;
}

static int beir_is_blank(const char *s, size_t len) {
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t') return 0;
    return 1;
}

// Bytes of a UTF-8 byte order mark at the start of `s` (editors on Windows
// write one; cJSON would reject it).
static size_t beir_bom_length(const char *s, size_t len) {
    return len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
}

// Parses one JSONL line into an object (*out is NULL on failure). cJSON stops
// after the first value, so trailing text ("{...} {...}", a missing newline between two records) is
// checked here rather than silently dropped.
static status beir_parse_object(const beir_where *w, const char *line, size_t len, cJSON **out) {
    *out = NULL;
    status st = json_check_text(w->text, line, len);
    if (st != STATUS_OK) return st;
    const char *end = NULL;
    cJSON *obj = cJSON_ParseWithLengthOpts(line, len, &end, 0);
    if (!obj) {
        // A JSONL line has no newline inside, so the column alone locates the
        // error (cJSON reports where it stopped in `end`).
        size_t col = end && end >= line && end <= line + len ? (size_t)(end - line) + 1 : 1;
        return status_fail(STATUS_ERR_FORMAT, "%s: malformed JSON at column %zu", w->text, col);
    }
    for (const char *p = end; p && p < line + len; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\r') {
            cJSON_Delete(obj);
            return status_fail(STATUS_ERR_FORMAT,
                               "%s: unexpected text after the JSON object at column %zu "
                               "(expected one object per line)",
                               w->text, (size_t)(p - line) + 1);
        }
    }
    if (!cJSON_IsObject(obj)) {
        cJSON_Delete(obj);
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: expected a JSON object with \"_id\" and \"text\"", w->text);
    }
    *out = obj;
    return STATUS_OK;
}

// The required, non-empty `_id` of a record.
static status beir_get_id(const cJSON *obj, const beir_where *w, const char **id) {
    status st = json_get_string(obj, "_id", w->text, id);
    if (st != STATUS_OK) return st;
    if (!**id)
        return status_fail(STATUS_ERR_FORMAT, "%s: key '_id': expected a non-empty string",
                           w->text);
    return STATUS_OK;
}

/* ---------------------------------------------------------------- corpus */

typedef struct {
    size_t span_cap, id_cap, id_len;
} beir_corpus_growth;

static status beir_corpus_append(beir_dataset *ds, beir_corpus_growth *g, const char *id,
                                 const beir_doc_span *span) {
    if (ds->n_docs == g->span_cap) {
        size_t cap = g->span_cap ? g->span_cap * 2 : 1024;
        beir_doc_span *spans = realloc(ds->doc_spans, cap * sizeof *spans);
        if (spans) ds->doc_spans = spans;
        size_t *offs = spans ? realloc(ds->doc_id_offsets, cap * sizeof *offs) : NULL;
        if (offs) ds->doc_id_offsets = offs;
        if (!spans || !offs)
            return status_fail(STATUS_ERR_NOMEM, "%s: document index: out of memory",
                               ds->corpus_path);
        g->span_cap = cap;
    }
    size_t n = strlen(id) + 1;
    if (g->id_len + n > g->id_cap) {
        size_t cap = g->id_cap ? g->id_cap : 16384;
        while (g->id_len + n > cap)
            cap *= 2;
        char *chars = realloc(ds->doc_id_chars, cap);
        if (!chars)
            return status_fail(STATUS_ERR_NOMEM, "%s: document ids: out of memory",
                               ds->corpus_path);
        ds->doc_id_chars = chars;
        g->id_cap = cap;
    }
    memcpy(ds->doc_id_chars + g->id_len, id, n);
    ds->doc_id_offsets[ds->n_docs] = g->id_len;
    g->id_len += n;
    ds->doc_spans[ds->n_docs] = *span;
    status st = strmap_put(&ds->doc_map, id, n - 1, (int64_t)ds->n_docs);
    if (st != STATUS_OK) return status_wrap(st, "%s", ds->corpus_path);
    ds->n_docs++;
    return STATUS_OK;
}

// Checks one corpus line and returns its id (valid until *obj is deleted).
static status beir_corpus_check_line(const beir_where *w, const char *line, size_t len, cJSON **obj,
                                     const char **id) {
    status st = beir_parse_object(w, line, len, obj);
    if (st != STATUS_OK) return st;
    const char *text = NULL, *title = NULL;
    if ((st = beir_get_id(*obj, w, id)) || (st = json_get_string(*obj, "text", w->text, &text)) ||
        (st = json_opt_string(*obj, "title", w->text, &title))) {
        cJSON_Delete(*obj);
        *obj = NULL;
    }
    return st;
}

// The one pass over corpus.jsonl: validates every line and records each
// document's id and line span; the text is dropped right away.
static status beir_corpus_index(beir_dataset *ds) {
    const char *path = ds->corpus_path;
    ds->corpus_fd = open(path, O_RDONLY | O_CLOEXEC);
    if (ds->corpus_fd < 0)
        return status_fail(STATUS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    // Documents are fetched later with pread: only a regular file will do.
    struct stat sb;
    if (fstat(ds->corpus_fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        return status_fail(STATUS_ERR_IO, "%s: %s (expected a regular file)", path,
                           S_ISDIR(sb.st_mode) ? "is a directory" : "not a regular file");
    // A stdio stream on a duplicate descriptor for the sequential pass; the
    // fetches use pread, which does not care about the stream's position.
    int fd2 = dup(ds->corpus_fd);
    FILE *f = fd2 >= 0 ? fdopen(fd2, "rb") : NULL;
    if (!f) {
        if (fd2 >= 0) close(fd2);
        return status_fail(STATUS_ERR_IO, "%s: cannot read: %s", path, strerror(errno));
    }
    status st = strmap_init(&ds->doc_map, 1024);
    beir_corpus_growth g = {0};
    char *line = NULL;
    size_t line_cap = 0, line_no = 0;
    uint64_t pos = 0;
    ssize_t got;
    beir_where w;
    while (st == STATUS_OK && (got = getline(&line, &line_cap, f)) >= 0) {
        line_no++;
        uint64_t offset = pos;
        pos += (uint64_t)got;
        size_t len = beir_line_length(line, (size_t)got);
        const char *start = line;
        if (line_no == 1) {
            size_t bom = beir_bom_length(line, len);
            start += bom;
            len -= bom;
            offset += bom;
        }
        if (beir_is_blank(start, len)) continue;
        beir_where_set(&w, path, line_no);
        if (len > UINT32_MAX || line_no > UINT32_MAX) {
            st = status_fail(STATUS_ERR_FORMAT, "%s: line longer than 4 GiB or beyond line 2^32",
                             w.text);
            break;
        }
        cJSON *obj;
        const char *id;
        st = beir_corpus_check_line(&w, start, len, &obj, &id);
        if (st != STATUS_OK) break;
        int64_t first;
        if (strmap_get(&ds->doc_map, id, strlen(id), &first)) {
            st =
                status_fail(STATUS_ERR_FORMAT, "%s: duplicate document _id '%s' (first at line %u)",
                            w.text, id, ds->doc_spans[first].line);
        } else {
            beir_doc_span span = {offset, (uint32_t)len, (uint32_t)line_no};
            st = beir_corpus_append(ds, &g, id, &span);
        }
        cJSON_Delete(obj);
    }
    if (st == STATUS_OK && ferror(f))
        st = status_fail(STATUS_ERR_IO, "%s: read error: %s", path, strerror(errno));
    free(line);
    fclose(f);
    if (st == STATUS_OK && ds->n_docs == 0)
        st = status_fail(STATUS_ERR_FORMAT, "%s: no documents (empty file)", path);
    return st;
}

const char *beir_doc_id(const beir_dataset *ds, size_t index) {
    return ds->doc_id_chars + ds->doc_id_offsets[index];
}

int beir_doc_find(const beir_dataset *ds, const char *doc_id, size_t *index) {
    int64_t v;
    if (!strmap_get(&ds->doc_map, doc_id, strlen(doc_id), &v)) return 0;
    if (index) *index = (size_t)v;
    return 1;
}

status beir_doc_text(const beir_dataset *ds, size_t index, char **text) {
    *text = NULL;
    if (index >= ds->n_docs)
        return status_fail(STATUS_ERR_ARG, "%s: document index %zu out of range (%zu documents)",
                           ds->corpus_path, index, ds->n_docs);
    const beir_doc_span *span = &ds->doc_spans[index];
    beir_where w;
    beir_where_set(&w, ds->corpus_path, span->line);
    char *buf = malloc((size_t)span->length + 1);
    if (!buf) return status_fail(STATUS_ERR_NOMEM, "%s: out of memory", w.text);
    size_t done = 0;
    while (done < span->length) {
        ssize_t n =
            pread(ds->corpus_fd, buf + done, span->length - done, (off_t)(span->offset + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            free(buf);
            return status_fail(STATUS_ERR_IO, "%s: short read at byte %llu (%s)", w.text,
                               (unsigned long long)(span->offset + done),
                               n < 0 ? strerror(errno) : "file truncated since it was opened?");
        }
        done += (size_t)n;
    }
    buf[span->length] = '\0';
    cJSON *obj = NULL;
    const char *id = NULL;
    status st = beir_parse_object(&w, buf, span->length, &obj);
    if (st == STATUS_OK) st = beir_get_id(obj, &w, &id);
    // The id check catches a corpus rewritten after beir_open: the offsets
    // would then point at another document, which must not pass silently.
    if (st == STATUS_OK && strcmp(id, beir_doc_id(ds, index)) != 0)
        st = status_fail(STATUS_ERR_FORMAT,
                         "%s: expected document '%s', found '%s' (file changed since it was "
                         "opened?)",
                         w.text, beir_doc_id(ds, index), id);
    if (st == STATUS_OK) st = doc_join_text(obj, w.text, text);
    cJSON_Delete(obj);
    free(buf);
    return st;
}

status beir_doc_fetch(const beir_dataset *ds, const char *doc_id, char **text) {
    *text = NULL;
    size_t index;
    if (!beir_doc_find(ds, doc_id, &index))
        return status_fail(STATUS_ERR_MISSING, "%s: no document with _id '%s'", ds->corpus_path,
                           doc_id);
    return beir_doc_text(ds, index, text);
}

/* --------------------------------------------------------------- queries */

static status beir_queries_append(beir_dataset *ds, size_t *cap, const char *path, const char *id,
                                  const char *text) {
    if (ds->n_queries == *cap) {
        size_t c = *cap ? *cap * 2 : 256;
        char **ids = realloc(ds->query_ids, c * sizeof *ids);
        if (ids) ds->query_ids = ids;
        char **texts = ids ? realloc(ds->query_texts, c * sizeof *texts) : NULL;
        if (texts) ds->query_texts = texts;
        if (!ids || !texts) return status_fail(STATUS_ERR_NOMEM, "%s: out of memory", path);
        *cap = c;
    }
    char *id_copy = strdup(id), *text_copy = strdup(text);
    if (!id_copy || !text_copy) {
        free(id_copy);
        free(text_copy);
        return status_fail(STATUS_ERR_NOMEM, "%s: out of memory", path);
    }
    status st = strmap_put(&ds->query_map, id, strlen(id), (int64_t)ds->n_queries);
    if (st != STATUS_OK) {
        free(id_copy);
        free(text_copy);
        return status_wrap(st, "%s", path);
    }
    ds->query_ids[ds->n_queries] = id_copy;
    ds->query_texts[ds->n_queries] = text_copy;
    ds->n_queries++;
    return STATUS_OK;
}

static status beir_queries_load(beir_dataset *ds) {
    char *path = beir_path_join(ds->dir, "queries.jsonl");
    if (!path) return status_fail(STATUS_ERR_NOMEM, "%s: out of memory", ds->dir);
    FILE *f;
    status st = file_open_read(path, 1, &f);
    if (st != STATUS_OK) {
        free(path);
        return st;
    }
    st = strmap_init(&ds->query_map, 256);
    // First line of each query, for the message about a duplicate.
    size_t *lines = NULL, cap = 0, line_cap = 0, line_no = 0;
    char *line = NULL;
    ssize_t got;
    beir_where w;
    while (st == STATUS_OK && (got = getline(&line, &line_cap, f)) >= 0) {
        line_no++;
        size_t len = beir_line_length(line, (size_t)got);
        const char *start = line;
        if (line_no == 1) {
            size_t bom = beir_bom_length(line, len);
            start += bom;
            len -= bom;
        }
        if (beir_is_blank(start, len)) continue;
        beir_where_set(&w, path, line_no);
        cJSON *obj;
        const char *id = NULL, *text = NULL;
        st = beir_parse_object(&w, start, len, &obj);
        if (st != STATUS_OK) break;
        int64_t first;
        if ((st = beir_get_id(obj, &w, &id)) == STATUS_OK &&
            (st = json_get_string(obj, "text", w.text, &text)) == STATUS_OK) {
            if (strmap_get(&ds->query_map, id, strlen(id), &first)) {
                st = status_fail(STATUS_ERR_FORMAT,
                                 "%s: duplicate query _id '%s' (first at line %zu)", w.text, id,
                                 lines[first]);
            } else {
                size_t old_cap = cap;
                st = beir_queries_append(ds, &cap, path, id, text);
                if (st == STATUS_OK && cap != old_cap) {
                    size_t *l = realloc(lines, cap * sizeof *l);
                    if (!l)
                        st = status_fail(STATUS_ERR_NOMEM, "%s: out of memory", path);
                    else
                        lines = l;
                }
                if (st == STATUS_OK) lines[ds->n_queries - 1] = line_no;
            }
        }
        cJSON_Delete(obj);
    }
    if (st == STATUS_OK && ferror(f))
        st = status_fail(STATUS_ERR_IO, "%s: read error: %s", path, strerror(errno));
    if (st == STATUS_OK && ds->n_queries == 0)
        st = status_fail(STATUS_ERR_FORMAT, "%s: no queries (empty file)", path);
    free(line);
    free(lines);
    fclose(f);
    free(path);
    return st;
}

int beir_query_find(const beir_dataset *ds, const char *query_id, size_t *index) {
    int64_t v;
    if (!strmap_get(&ds->query_map, query_id, strlen(query_id), &v)) return 0;
    if (index) *index = (size_t)v;
    return 1;
}

/* ----------------------------------------------------------------- qrels */

// The (query, document) pair as a 16-byte binary key of the qrels map.
static void beir_qrel_key(size_t query, size_t doc, char key[16]) {
    uint64_t q = query, d = doc;
    memcpy(key, &q, 8);
    memcpy(key + 8, &d, 8);
}

static void beir_qrels_clear(beir_dataset *ds) {
    free(ds->split);
    free(ds->qrels_path);
    free(ds->qrels);
    free(ds->qrel_starts);
    strmap_free(&ds->qrel_map);
    ds->split = NULL;
    ds->qrels_path = NULL;
    ds->qrels = NULL;
    ds->qrel_starts = NULL;
    ds->n_qrels = 0;
    ds->n_qrels_skipped = 0;
    ds->n_judged_queries = 0;
}

typedef struct {
    size_t query, doc, line;
    int relevance;
} beir_qrel_row;

// Splits a qrels row at tabs into exactly three fields (NUL-terminating them
// in place); returns the number of fields found.
static size_t beir_split_tabs(char *s, size_t len, char *fields[3]) {
    size_t n = 0;
    char *start = s;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '\t') {
            if (n < 3) fields[n] = start;
            n++;
            s[i] = '\0'; // at i == len: overwrites the line ending (getline's buffer)
            start = s + i + 1;
        }
    }
    return n;
}

static status beir_parse_score(const beir_where *w, const char *s, int *out) {
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    // strtol accepts leading spaces; a score of " 1" would be a sloppy file.
    if (!*s || *s == ' ' || *end || errno == ERANGE || v < INT_MIN || v > INT_MAX)
        return status_fail(STATUS_ERR_FORMAT, "%s: score '%s': expected an integer", w->text, s);
    *out = (int)v;
    return STATUS_OK;
}

static status beir_qrels_check_header(const char *path, const char *line, size_t len) {
    if (len == strlen(BEIR_QRELS_HEADER) && memcmp(line, BEIR_QRELS_HEADER, len) == 0)
        return STATUS_OK;
    return status_fail(STATUS_ERR_FORMAT,
                       "%s: line 1: expected the header \"query-id<TAB>corpus-id<TAB>score\", "
                       "found \"%.*s\"%s",
                       path, (int)(len > 80 ? 80 : len), line,
                       memchr(line, '\t', len) ? "" : " (columns must be separated by tabs)");
}

// Reads the rows of an open qrels file into *rows (file order).
static status beir_qrels_read_rows(beir_dataset *ds, const char *path, FILE *f, unsigned flags,
                                   beir_qrel_row **rows, size_t *n_rows) {
    size_t cap = 0, line_cap = 0, line_no = 0;
    char *line = NULL;
    ssize_t got;
    status st = STATUS_OK;
    beir_where w;
    while (st == STATUS_OK && (got = getline(&line, &line_cap, f)) >= 0) {
        line_no++;
        size_t len = beir_line_length(line, (size_t)got);
        char *start = line;
        if (line_no == 1) {
            size_t bom = beir_bom_length(line, len);
            st = beir_qrels_check_header(path, start + bom, len - bom);
            continue;
        }
        if (beir_is_blank(start, len)) continue;
        beir_where_set(&w, path, line_no);
        // The columns become C strings: a NUL would cut an id or a score.
        if (memchr(start, '\0', len)) {
            st = status_fail(STATUS_ERR_FORMAT, "%s: a NUL byte in the line", w.text);
            break;
        }
        char *col[3];
        size_t n_cols = beir_split_tabs(start, len, col);
        if (n_cols != 3) {
            st = status_fail(STATUS_ERR_FORMAT,
                             "%s: expected 3 tab-separated columns (query-id, corpus-id, score), "
                             "found %zu",
                             w.text, n_cols);
            break;
        }
        if (!*col[0] || !*col[1]) {
            st = status_fail(STATUS_ERR_FORMAT, "%s: empty %s", w.text,
                             !*col[0] ? "query-id" : "corpus-id");
            break;
        }
        beir_qrel_row row = {.line = line_no};
        if ((st = beir_parse_score(&w, col[2], &row.relevance)) != STATUS_OK) break;
        int known_query = beir_query_find(ds, col[0], &row.query);
        int known_doc = beir_doc_find(ds, col[1], &row.doc);
        if (!known_query || !known_doc) {
            if (flags & BEIR_QRELS_SKIP_UNKNOWN) {
                ds->n_qrels_skipped++;
                continue;
            }
            if (!known_query)
                st = status_fail(STATUS_ERR_MISSING, "%s: query '%s' is not in %s/queries.jsonl",
                                 w.text, col[0], ds->dir);
            else
                st = status_fail(STATUS_ERR_MISSING, "%s: document '%s' is not in %s", w.text,
                                 col[1], ds->corpus_path);
            break;
        }
        char key[16];
        beir_qrel_key(row.query, row.doc, key);
        int64_t first;
        if (strmap_get(&ds->qrel_map, key, sizeof key, &first)) {
            st = status_fail(STATUS_ERR_FORMAT,
                             "%s: duplicate judgement of query '%s', document '%s' (first at "
                             "line %zu)",
                             w.text, col[0], col[1], (*rows)[first].line);
            break;
        }
        if (*n_rows == cap) {
            cap = cap ? cap * 2 : 256;
            beir_qrel_row *r = realloc(*rows, cap * sizeof *r);
            if (!r) {
                st = status_fail(STATUS_ERR_NOMEM, "%s: out of memory", path);
                break;
            }
            *rows = r;
        }
        if ((st = strmap_put(&ds->qrel_map, key, sizeof key, (int64_t)*n_rows)) != STATUS_OK) {
            st = status_wrap(st, "%s", path);
            break;
        }
        (*rows)[(*n_rows)++] = row;
    }
    if (st == STATUS_OK && ferror(f))
        st = status_fail(STATUS_ERR_IO, "%s: read error: %s", path, strerror(errno));
    if (st == STATUS_OK && line_no == 0)
        st = status_fail(STATUS_ERR_FORMAT,
                         "%s: empty file (expected the header "
                         "\"query-id<TAB>corpus-id<TAB>score\")",
                         path);
    free(line);
    return st;
}

// Groups the rows by query (a counting sort, stable: file order within a
// query) and turns the map's values from row indices into relevances.
static status beir_qrels_group(beir_dataset *ds, const beir_qrel_row *rows, size_t n_rows) {
    ds->qrel_starts = calloc(ds->n_queries + 1, sizeof *ds->qrel_starts);
    ds->qrels = malloc((n_rows ? n_rows : 1) * sizeof *ds->qrels);
    if (!ds->qrel_starts || !ds->qrels)
        return status_fail(STATUS_ERR_NOMEM, "%s: out of memory", ds->qrels_path);
    for (size_t i = 0; i < n_rows; i++)
        ds->qrel_starts[rows[i].query + 1]++;
    for (size_t q = 0; q < ds->n_queries; q++) {
        if (ds->qrel_starts[q + 1] > 0) ds->n_judged_queries++;
        ds->qrel_starts[q + 1] += ds->qrel_starts[q];
    }
    size_t *fill = malloc((ds->n_queries + 1) * sizeof *fill);
    if (!fill) return status_fail(STATUS_ERR_NOMEM, "%s: out of memory", ds->qrels_path);
    memcpy(fill, ds->qrel_starts, (ds->n_queries + 1) * sizeof *fill);
    for (size_t i = 0; i < n_rows; i++) {
        ds->qrels[fill[rows[i].query]++] = (beir_qrel){rows[i].doc, rows[i].relevance};
        char key[16];
        beir_qrel_key(rows[i].query, rows[i].doc, key);
        strmap_put(&ds->qrel_map, key, sizeof key, rows[i].relevance); // replaces: cannot fail
    }
    free(fill);
    ds->n_qrels = n_rows;
    return STATUS_OK;
}

status beir_qrels_load(beir_dataset *ds, const char *split, unsigned flags) {
    beir_qrels_clear(ds);
    if (!split || !*split)
        return status_fail(STATUS_ERR_ARG, "%s: empty qrels split name", ds->dir);
    ds->split = strdup(split);
    if (asprintf(&ds->qrels_path, "%s/qrels/%s.tsv", ds->dir, split) < 0) ds->qrels_path = NULL;
    if (!ds->split || !ds->qrels_path) {
        beir_qrels_clear(ds);
        return status_fail(STATUS_ERR_NOMEM, "%s: out of memory", ds->dir);
    }
    FILE *f;
    status st = file_open_read(ds->qrels_path, 1, &f);
    if (st != STATUS_OK) {
        beir_qrels_clear(ds);
        return st;
    }
    beir_qrel_row *rows = NULL;
    size_t n_rows = 0;
    st = strmap_init(&ds->qrel_map, 256);
    if (st == STATUS_OK) st = beir_qrels_read_rows(ds, ds->qrels_path, f, flags, &rows, &n_rows);
    fclose(f);
    if (st == STATUS_OK) st = beir_qrels_group(ds, rows, n_rows);
    free(rows);
    if (st != STATUS_OK) {
        size_t skipped = ds->n_qrels_skipped;
        beir_qrels_clear(ds);
        ds->n_qrels_skipped = skipped;
    }
    return st;
}

int beir_split_exists(const beir_dataset *ds, const char *split) {
    char *path = NULL;
    if (asprintf(&path, "%s/qrels/%s.tsv", ds->dir, split) < 0) return 0;
    struct stat sb;
    int ok = stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
    free(path);
    return ok;
}

const beir_qrel *beir_query_qrels(const beir_dataset *ds, size_t query, size_t *n) {
    if (!ds->qrel_starts || query >= ds->n_queries) {
        *n = 0;
        return NULL;
    }
    *n = ds->qrel_starts[query + 1] - ds->qrel_starts[query];
    return ds->qrels + ds->qrel_starts[query];
}

int beir_qrel_find(const beir_dataset *ds, size_t query, size_t doc, int *relevance) {
    char key[16];
    beir_qrel_key(query, doc, key);
    int64_t v;
    if (!strmap_get(&ds->qrel_map, key, sizeof key, &v)) return 0;
    if (relevance) *relevance = (int)v;
    return 1;
}

/* ------------------------------------------------------------ open/close */

status beir_open(beir_dataset *ds, const char *dir, const char *split, unsigned flags) {
    memset(ds, 0, sizeof *ds);
    ds->corpus_fd = -1;
    ds->dir = strdup(dir);
    ds->corpus_path = ds->dir ? beir_path_join(dir, "corpus.jsonl") : NULL;
    if (!ds->dir || !ds->corpus_path) {
        beir_close(ds);
        return status_fail(STATUS_ERR_NOMEM, "%s: out of memory", dir);
    }
    status st = beir_corpus_index(ds);
    if (st == STATUS_OK) st = beir_queries_load(ds);
    if (st == STATUS_OK && split) st = beir_qrels_load(ds, split, flags);
    if (st != STATUS_OK) beir_close(ds);
    return st;
}

void beir_close(beir_dataset *ds) {
    beir_qrels_clear(ds);
    if (ds->corpus_path && ds->corpus_fd >= 0) close(ds->corpus_fd);
    free(ds->dir);
    free(ds->corpus_path);
    free(ds->doc_spans);
    free(ds->doc_id_offsets);
    free(ds->doc_id_chars);
    strmap_free(&ds->doc_map);
    for (size_t i = 0; i < ds->n_queries; i++) {
        free(ds->query_ids[i]);
        free(ds->query_texts[i]);
    }
    free(ds->query_ids);
    free(ds->query_texts);
    strmap_free(&ds->query_map);
    memset(ds, 0, sizeof *ds);
    ds->corpus_fd = -1;
}
