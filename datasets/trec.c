#include "trec.h"
#include "base/json_file.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TREC_COLUMNS 6

static int trec_is_space(char c) {
    return c == ' ' || c == '\t' || c == '\v' || c == '\f' || c == '\r' || c == '\n';
}

int trec_id_valid(const char *id) {
    if (!id || !*id) return 0;
    for (; *id; id++)
        if (trec_is_space(*id)) return 0;
    return 1;
}

status trec_check_id(status code, const char *where, const char *what, const char *id) {
    if (trec_id_valid(id)) return STATUS_OK;
    return status_fail(code,
                       "%s: %s '%s': expected a non-empty id without whitespace (a TREC run "
                       "separates its columns by whitespace, so it would not read back)",
                       where, what, id ? id : "(null)");
}

/* ------------------------------------------------------------------ read */

// One line while reading; turned into a trec_candidate once the id storage
// stops moving.
typedef struct {
    size_t query, doc_off, line;
    int64_t rank;
    double score;
} trec_row;

typedef struct {
    trec_row *rows;
    size_t n_rows, rows_cap;
    size_t *qid_offs, *qid_lines, queries_cap; // (n_queries,)
    size_t ids_len, ids_cap;
    char *key; // (query index, docid) key of the pair map
    size_t key_cap;
    strmap pairs; // (query index, docid) -> line, for duplicates
} trec_reader;

static status trec_store_id(trec_run *run, trec_reader *r, const char *s, size_t len, size_t *off) {
    if (r->ids_len + len + 1 > r->ids_cap) {
        size_t cap = r->ids_cap ? r->ids_cap : 65536;
        while (r->ids_len + len + 1 > cap)
            cap *= 2;
        char *ids = realloc(run->ids, cap);
        if (!ids) return status_fail(STATUS_ERR_NOMEM, "%s: ids: out of memory", run->path);
        run->ids = ids;
        r->ids_cap = cap;
    }
    memcpy(run->ids + r->ids_len, s, len);
    run->ids[r->ids_len + len] = '\0';
    *off = r->ids_len;
    r->ids_len += len + 1;
    return STATUS_OK;
}

// Index of query `qid`, adding it on first appearance.
static status trec_query_index(trec_run *run, trec_reader *r, const char *qid, size_t line_no,
                               size_t *index) {
    size_t len = strlen(qid);
    int64_t v;
    if (strmap_get(&run->query_map, qid, len, &v)) {
        *index = (size_t)v;
        return STATUS_OK;
    }
    if (run->n_queries == r->queries_cap) {
        size_t cap = r->queries_cap ? r->queries_cap * 2 : 256;
        size_t *offs = realloc(r->qid_offs, cap * sizeof *offs);
        if (offs) r->qid_offs = offs;
        size_t *lines = offs ? realloc(r->qid_lines, cap * sizeof *lines) : NULL;
        if (lines) r->qid_lines = lines;
        if (!offs || !lines) return status_fail(STATUS_ERR_NOMEM, "%s: out of memory", run->path);
        r->queries_cap = cap;
    }
    status st = trec_store_id(run, r, qid, len, &r->qid_offs[run->n_queries]);
    if (st != STATUS_OK) return st;
    r->qid_lines[run->n_queries] = line_no;
    st = strmap_put(&run->query_map, qid, len, (int64_t)run->n_queries);
    if (st != STATUS_OK) return status_wrap(st, "%s", run->path);
    *index = run->n_queries++;
    return STATUS_OK;
}

// Splits at whitespace, NUL-terminating the first TREC_COLUMNS fields in
// place; returns the number of fields.
static size_t trec_split_columns(char *s, size_t len, char *cols[TREC_COLUMNS]) {
    size_t n = 0, i = 0;
    while (i < len) {
        while (i < len && trec_is_space(s[i]))
            i++;
        if (i == len) break;
        size_t start = i;
        while (i < len && !trec_is_space(s[i]))
            i++;
        if (n < TREC_COLUMNS) {
            cols[n] = s + start;
            if (i < len) s[i] = '\0';
        }
        n++;
        i++;
    }
    return n;
}

static status trec_parse_line(trec_run *run, trec_reader *r, char *line, size_t len,
                              size_t line_no) {
    const char *path = run->path;
    // The columns become C strings: a NUL would cut an id without a word.
    const char *nul = memchr(line, '\0', len);
    if (nul)
        return status_fail(STATUS_ERR_FORMAT, "%s: line %zu, column %zu: a NUL byte", path, line_no,
                           (size_t)(nul - line) + 1);
    char *col[TREC_COLUMNS];
    size_t n_cols = trec_split_columns(line, len, col);
    if (n_cols == 0) return STATUS_OK; // blank line
    if (n_cols != TREC_COLUMNS)
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: line %zu: expected 6 whitespace-separated columns (qid Q0 docid "
                           "rank score tag), found %zu",
                           path, line_no, n_cols);
    trec_row row = {.line = line_no};
    char *end;
    errno = 0;
    long long rank = strtoll(col[3], &end, 10);
    if (*end || errno == ERANGE || rank <= 0)
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: line %zu: rank '%s': expected a positive integer", path, line_no,
                           col[3]);
    row.rank = rank;
    row.score = strtod(col[4], &end);
    if (*end)
        return status_fail(STATUS_ERR_FORMAT, "%s: line %zu: score '%s': expected a number", path,
                           line_no, col[4]);
    if (!isfinite(row.score))
        return status_fail(STATUS_ERR_NUMERIC, "%s: line %zu: score '%s': expected a finite number",
                           path, line_no, col[4]);
    status st = trec_query_index(run, r, col[0], line_no, &row.query);
    if (st != STATUS_OK) return st;

    // The pair key is the query index (8 bytes) followed by the docid.
    size_t doc_len = strlen(col[2]), key_len = 8 + doc_len;
    if (key_len > r->key_cap) {
        char *key = realloc(r->key, key_len);
        if (!key) return status_fail(STATUS_ERR_NOMEM, "%s: out of memory", path);
        r->key = key;
        r->key_cap = key_len;
    }
    uint64_t q = row.query;
    memcpy(r->key, &q, 8);
    memcpy(r->key + 8, col[2], doc_len);
    int64_t first;
    if (strmap_get(&r->pairs, r->key, key_len, &first))
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: line %zu: duplicate document '%s' for query '%s' (first at "
                           "line %lld)",
                           path, line_no, col[2], col[0], (long long)first);
    if ((st = strmap_put(&r->pairs, r->key, key_len, (int64_t)line_no)) != STATUS_OK)
        return status_wrap(st, "%s", path);
    if ((st = trec_store_id(run, r, col[2], doc_len, &row.doc_off)) != STATUS_OK) return st;

    if (r->n_rows == r->rows_cap) {
        size_t cap = r->rows_cap ? r->rows_cap * 2 : 4096;
        trec_row *rows = realloc(r->rows, cap * sizeof *rows);
        if (!rows) return status_fail(STATUS_ERR_NOMEM, "%s: out of memory", path);
        r->rows = rows;
        r->rows_cap = cap;
    }
    r->rows[r->n_rows++] = row;
    return STATUS_OK;
}

static int trec_candidate_cmp(const void *a, const void *b) {
    const trec_candidate *x = a, *y = b;
    if (x->rank != y->rank) return x->rank < y->rank ? -1 : 1;
    return x->line < y->line ? -1 : x->line > y->line;
}

// Groups the rows by query (counting sort over first-appearance order), sorts
// each query by rank and rejects a rank used twice in one query.
static status trec_build_queries(trec_run *run, trec_reader *r) {
    run->queries = calloc(run->n_queries, sizeof *run->queries);
    run->cands = malloc(r->n_rows * sizeof *run->cands);
    size_t *fill = calloc(run->n_queries + 1, sizeof *fill);
    status st = STATUS_OK;
    if (!run->queries || !run->cands || !fill) {
        free(fill);
        return status_fail(STATUS_ERR_NOMEM, "%s: out of memory", run->path);
    }
    for (size_t i = 0; i < r->n_rows; i++)
        fill[r->rows[i].query + 1]++;
    for (size_t q = 0; q < run->n_queries; q++) {
        trec_query *tq = &run->queries[q];
        tq->qid = run->ids + r->qid_offs[q];
        tq->line = r->qid_lines[q];
        tq->query = SIZE_MAX;
        tq->cands = run->cands + fill[q];
        tq->n = fill[q + 1];
        fill[q + 1] += fill[q];
    }
    for (size_t i = 0; i < r->n_rows; i++) {
        const trec_row *row = &r->rows[i];
        run->cands[fill[row->query]++] =
            (trec_candidate){run->ids + row->doc_off, row->rank, row->score, row->line, SIZE_MAX};
    }
    run->n_cands = r->n_rows;
    free(fill);
    for (size_t q = 0; q < run->n_queries && st == STATUS_OK; q++) {
        trec_query *tq = &run->queries[q];
        qsort(tq->cands, tq->n, sizeof *tq->cands, trec_candidate_cmp);
        for (size_t i = 1; i < tq->n; i++) {
            if (tq->cands[i].rank == tq->cands[i - 1].rank) {
                st = status_fail(STATUS_ERR_FORMAT,
                                 "%s: line %zu: rank %lld of query '%s' already used at line %zu",
                                 run->path, tq->cands[i].line, (long long)tq->cands[i].rank,
                                 tq->qid, tq->cands[i - 1].line);
                break;
            }
        }
    }
    return st;
}

status trec_run_read(trec_run *run, const char *path) {
    memset(run, 0, sizeof *run);
    run->path = strdup(path);
    if (!run->path) return status_fail(STATUS_ERR_NOMEM, "%s: out of memory", path);
    FILE *f;
    status st = file_open_read(path, 1, &f);
    if (st != STATUS_OK) {
        trec_run_free(run);
        return st;
    }
    trec_reader r = {0};
    st = strmap_init(&run->query_map, 256);
    if (st == STATUS_OK) st = strmap_init(&r.pairs, 4096);
    char *line = NULL;
    size_t line_cap = 0, line_no = 0;
    ssize_t got;
    while (st == STATUS_OK && (got = getline(&line, &line_cap, f)) >= 0) {
        line_no++;
        st = trec_parse_line(run, &r, line, (size_t)got, line_no);
    }
    if (st == STATUS_OK && ferror(f))
        st = status_fail(STATUS_ERR_IO, "%s: read error: %s", path, strerror(errno));
    free(line);
    fclose(f);
    if (st == STATUS_OK && r.n_rows == 0)
        st = status_fail(STATUS_ERR_FORMAT, "%s: no run lines (empty file)", path);
    if (st == STATUS_OK) st = trec_build_queries(run, &r);
    free(r.rows);
    free(r.qid_offs);
    free(r.qid_lines);
    free(r.key);
    strmap_free(&r.pairs);
    if (st != STATUS_OK) trec_run_free(run);
    return st;
}

void trec_run_free(trec_run *run) {
    free(run->path);
    free(run->queries);
    free(run->cands);
    free(run->ids);
    strmap_free(&run->query_map);
    memset(run, 0, sizeof *run);
}

const trec_query *trec_run_find(const trec_run *run, const char *qid) {
    int64_t v;
    if (!strmap_get(&run->query_map, qid, strlen(qid), &v)) return NULL;
    return &run->queries[v];
}

status trec_run_top(const trec_run *run, const char *qid, size_t n, const trec_candidate **top,
                    size_t *count) {
    *top = NULL;
    *count = 0;
    if (n == 0)
        return status_fail(STATUS_ERR_ARG, "%s: top-N of query '%s' with N = 0", run->path, qid);
    const trec_query *q = trec_run_find(run, qid);
    if (!q) return status_fail(STATUS_ERR_MISSING, "%s: no query '%s' in the run", run->path, qid);
    *top = q->cands;
    *count = n < q->n ? n : q->n;
    return STATUS_OK;
}

status trec_run_resolve(trec_run *run, const beir_dataset *ds) {
    // Resolve everything, remembering the unknown id on the earliest line, so
    // the message points at the first problem in the file, not the first in
    // grouped order.
    size_t bad_line = SIZE_MAX;
    const char *bad_id = NULL;
    int bad_is_query = 0;
    for (size_t q = 0; q < run->n_queries; q++) {
        trec_query *tq = &run->queries[q];
        if (!beir_query_find(ds, tq->qid, &tq->query)) {
            tq->query = SIZE_MAX;
            if (tq->line < bad_line) {
                bad_line = tq->line;
                bad_id = tq->qid;
                bad_is_query = 1;
            }
        }
        for (size_t i = 0; i < tq->n; i++) {
            trec_candidate *c = &tq->cands[i];
            if (!beir_doc_find(ds, c->doc_id, &c->doc)) {
                c->doc = SIZE_MAX;
                if (c->line < bad_line) {
                    bad_line = c->line;
                    bad_id = c->doc_id;
                    bad_is_query = 0;
                }
            }
        }
    }
    if (!bad_id) return STATUS_OK;
    if (bad_is_query)
        return status_fail(STATUS_ERR_MISSING,
                           "%s: line %zu: query '%s' is not in %s/queries.jsonl", run->path,
                           bad_line, bad_id, ds->dir);
    return status_fail(STATUS_ERR_MISSING, "%s: line %zu: document '%s' is not in %s", run->path,
                       bad_line, bad_id, ds->corpus_path);
}

/* ----------------------------------------------------------------- write */

// The fewest decimals (>= 6) that read back as exactly `v`; see trec.h.
static void trec_format_score(double v, char *buf, size_t cap) {
    if (fabs(v) < 1e15) {
        for (int d = 6; d <= 17; d++) {
            snprintf(buf, cap, "%.*f", d, v);
            if (strtod(buf, NULL) == v) return;
        }
    }
    for (int p = 6; p <= 17; p++) {
        snprintf(buf, cap, "%.*g", p, v);
        if (strtod(buf, NULL) == v) return;
    }
}

status trec_writer_open(trec_writer *w, const char *path, const char *tag) {
    memset(w, 0, sizeof *w);
    if (!trec_id_valid(tag)) return trec_check_id(STATUS_ERR_ARG, path, "run tag", tag);
    w->path = strdup(path);
    w->tag = strdup(tag);
    if (asprintf(&w->tmp_path, "%s.tmp.%ld", path, (long)getpid()) < 0) w->tmp_path = NULL;
    status st = strmap_init(&w->written, 256);
    if (st == STATUS_OK && (!w->path || !w->tag || !w->tmp_path))
        st = status_fail(STATUS_ERR_NOMEM, "%s: out of memory", path);
    if (st != STATUS_OK) {
        trec_writer_abort(w);
        return st;
    }
    int fd = open(w->tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd >= 0) w->f = fdopen(fd, "w");
    if (!w->f) {
        st = status_fail(STATUS_ERR_IO, "%s: cannot create: %s", w->tmp_path, strerror(errno));
        if (fd >= 0) {
            close(fd);
            unlink(w->tmp_path);
        }
        trec_writer_abort(w);
        return st;
    }
    return STATUS_OK;
}

status trec_writer_add(trec_writer *w, const char *qid, const char *const *doc_ids,
                       const double *scores, size_t n) {
    if (!w->f) return status_fail(STATUS_ERR_ARG, "trec writer: not open");
    if (!trec_id_valid(qid)) return trec_check_id(STATUS_ERR_ARG, w->path, "qid", qid);
    if (strmap_get(&w->written, qid, strlen(qid), NULL))
        return status_fail(STATUS_ERR_ARG,
                           "%s: query '%s' written twice (a query's candidates "
                           "must be written in one call)",
                           w->path, qid);
    if (n == 0) return STATUS_OK;
    // Validate the whole query before writing any of it, so a rejected call
    // leaves the file as it was.
    strmap seen;
    status st = strmap_init(&seen, n);
    for (size_t i = 0; i < n && st == STATUS_OK; i++) {
        if (!trec_id_valid(doc_ids[i])) {
            char where[4200];
            snprintf(where, sizeof where, "%s: query '%s', candidate %zu", w->path, qid, i);
            st = trec_check_id(STATUS_ERR_ARG, where, "docid", doc_ids[i]);
        } else if (!isfinite(scores[i]))
            st = status_fail(STATUS_ERR_NUMERIC,
                             "%s: query '%s', document '%s': score %g is not "
                             "finite",
                             w->path, qid, doc_ids[i], scores[i]);
        else if (strmap_get(&seen, doc_ids[i], strlen(doc_ids[i]), NULL))
            st = status_fail(STATUS_ERR_ARG, "%s: query '%s': document '%s' given twice", w->path,
                             qid, doc_ids[i]);
        else
            st = strmap_put(&seen, doc_ids[i], strlen(doc_ids[i]), 1);
    }
    strmap_free(&seen);
    if (st != STATUS_OK) return st;
    if ((st = strmap_put(&w->written, qid, strlen(qid), 1)) != STATUS_OK) return st;
    char score[64];
    for (size_t i = 0; i < n; i++) {
        trec_format_score(scores[i], score, sizeof score);
        if (fprintf(w->f, "%s Q0 %s %zu %s %s\n", qid, doc_ids[i], i + 1, score, w->tag) < 0)
            return status_fail(STATUS_ERR_IO, "%s: write error: %s", w->tmp_path, strerror(errno));
    }
    w->n_lines += n;
    return STATUS_OK;
}

static void trec_writer_release(trec_writer *w) {
    free(w->path);
    free(w->tmp_path);
    free(w->tag);
    strmap_free(&w->written);
    memset(w, 0, sizeof *w);
}

status trec_writer_close(trec_writer *w) {
    if (!w->f) {
        trec_writer_release(w);
        return status_fail(STATUS_ERR_ARG, "trec writer: not open");
    }
    status st = STATUS_OK;
    // fsync before rename: otherwise a crash soon after could leave PATH
    // present but empty on some file systems.
    if (fflush(w->f) != 0 || ferror(w->f) || fsync(fileno(w->f)) != 0)
        st = status_fail(STATUS_ERR_IO, "%s: write error: %s", w->tmp_path, strerror(errno));
    if (fclose(w->f) != 0 && st == STATUS_OK)
        st = status_fail(STATUS_ERR_IO, "%s: write error: %s", w->tmp_path, strerror(errno));
    w->f = NULL;
    if (st == STATUS_OK && rename(w->tmp_path, w->path) != 0)
        st = status_fail(STATUS_ERR_IO, "%s: cannot rename to %s: %s", w->tmp_path, w->path,
                         strerror(errno));
    if (st != STATUS_OK) unlink(w->tmp_path);
    trec_writer_release(w);
    return st;
}

void trec_writer_abort(trec_writer *w) {
    if (w->f) {
        fclose(w->f);
        unlink(w->tmp_path);
    }
    trec_writer_release(w);
}
