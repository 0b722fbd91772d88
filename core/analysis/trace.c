#include "analysis/trace.h"
#include "base/h5util.h"
#include "analysis/trace_guard.h"
#include "trec.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// Group name of a query id: '/' and '%' escaped, "." avoided.
static void trace_group_name(const char *qid, char *out, size_t cap) {
    size_t o = 0;
    if (strcmp(qid, ".") == 0) qid = "%2E";
    for (const char *p = qid; *p && o + 4 < cap; p++) {
        if (*p == '/' || *p == '%') o += (size_t)snprintf(out + o, cap - o, "%%%02X", (unsigned char)*p);
        else out[o++] = *p;
    }
    out[o] = '\0';
}

static const char *const trace_string_attrs[] = {"model",   "config_hash", "architecture", "score_kind",
                                                 "tokenizer", "dataset",   "split",        "run",
                                                 "command", "version",     "created"};
enum { TRACE_N_STRING_ATTRS = sizeof trace_string_attrs / sizeof trace_string_attrs[0] };

static char **trace_meta_string(trace_meta *m, size_t i) {
    char **fields[TRACE_N_STRING_ATTRS] = {&m->model,   &m->config_hash, &m->architecture, &m->score_kind,
                                           &m->tokenizer, &m->dataset,   &m->split,        &m->run,
                                           &m->command, &m->version,     &m->created};
    return fields[i];
}

static const char *const trace_int_attrs[] = {"n_layers", "hidden_size", "intermediate_size",
                                              "max_len", "top_n"};
enum { TRACE_N_INT_ATTRS = sizeof trace_int_attrs / sizeof trace_int_attrs[0] };

static int64_t *trace_meta_int(trace_meta *m, size_t i) {
    int64_t *fields[TRACE_N_INT_ATTRS] = {&m->n_layers, &m->hidden_size, &m->intermediate_size,
                                          &m->max_len, &m->top_n};
    return fields[i];
}

char **trace_meta_string_field(trace_meta *m, size_t i, const char **name) {
    if (i >= TRACE_N_STRING_ATTRS) return NULL;
    if (name) *name = trace_string_attrs[i];
    return trace_meta_string(m, i);
}

int64_t *trace_meta_int_field(trace_meta *m, size_t i, const char **name) {
    if (i >= TRACE_N_INT_ATTRS) return NULL;
    if (name) *name = trace_int_attrs[i];
    return trace_meta_int(m, i);
}

void trace_meta_free(trace_meta *m) {
    for (size_t i = 0; i < TRACE_N_STRING_ATTRS; i++) {
        free(*trace_meta_string(m, i));
        *trace_meta_string(m, i) = NULL;
    }
    free(m->config);
    m->config = NULL;
    free(m->kernels);
    m->kernels = NULL;
}

static status trace_meta_copy(trace_meta *dst, const trace_meta *src) {
    *dst = *src;
    for (size_t i = 0; i < TRACE_N_STRING_ATTRS; i++) {
        const char *v = *trace_meta_string((trace_meta *)src, i);
        *trace_meta_string(dst, i) = strdup(v ? v : "");
        if (!*trace_meta_string(dst, i)) return status_fail(STATUS_ERR_NOMEM, "trace: out of memory");
    }
    dst->config = dst->kernels = NULL;
    if ((src->config && !(dst->config = strdup(src->config))) ||
        (src->kernels && !(dst->kernels = strdup(src->kernels))))
        return status_fail(STATUS_ERR_NOMEM, "trace: out of memory");
    return STATUS_OK;
}

static status trace_meta_write(hid_t file, trace_meta *m, const char *path) {
    status st;
    for (size_t i = 0; i < TRACE_N_STRING_ATTRS; i++)
        if ((st = h5util_attr_write_string(file, trace_string_attrs[i], *trace_meta_string(m, i), path)))
            return st;
    for (size_t i = 0; i < TRACE_N_INT_ATTRS; i++)
        if ((st = h5util_attr_write_num(file, trace_int_attrs[i], H5T_NATIVE_INT64, trace_meta_int(m, i), path)))
            return st;
    if (m->threads > 0 &&
        (st = h5util_attr_write_num(file, "threads", H5T_NATIVE_INT64, &m->threads, path)))
        return st;
    if (m->config && m->config[0] &&
        (st = h5util_attr_write_string(file, "config", m->config, path)))
        return st;
    if (m->kernels && m->kernels[0] &&
        (st = h5util_attr_write_string(file, "kernels", m->kernels, path)))
        return st;
    const char *schema = "grating-trace-1";
    return h5util_attr_write_string(file, "schema", schema, path);
}

static status trace_meta_read(hid_t file, trace_meta *m, const char *path) {
    memset(m, 0, sizeof *m);
    char *schema = NULL;
    status st = h5util_attr_read_string(file, "schema", &schema, path);
    if (st == STATUS_OK && strcmp(schema, "grating-trace-1") != 0)
        st = status_fail(STATUS_ERR_FORMAT, "%s: unknown trace schema '%s' (expected grating-trace-1)", path, schema);
    free(schema);
    for (size_t i = 0; i < TRACE_N_STRING_ATTRS && st == STATUS_OK; i++)
        st = h5util_attr_read_string(file, trace_string_attrs[i], trace_meta_string(m, i), path);
    for (size_t i = 0; i < TRACE_N_INT_ATTRS && st == STATUS_OK; i++)
        st = h5util_attr_read_num(file, trace_int_attrs[i], H5T_NATIVE_INT64, trace_meta_int(m, i), path);
    // Optional (traces before issue 10 do not have it).
    if (st == STATUS_OK && H5Aexists(file, "threads") > 0)
        st = h5util_attr_read_num(file, "threads", H5T_NATIVE_INT64, &m->threads, path);
    // Optional (traces before issue 11 do not have it).
    if (st == STATUS_OK && H5Aexists(file, "config") > 0)
        st = h5util_attr_read_string(file, "config", &m->config, path);
    // Optional (traces before issue 12 do not have it).
    if (st == STATUS_OK && H5Aexists(file, "kernels") > 0)
        st = h5util_attr_read_string(file, "kernels", &m->kernels, path);
    if (st == STATUS_OK && (m->n_layers < 1 || m->n_layers > 1000))
        st = status_fail(STATUS_ERR_FORMAT, "%s: n_layers %lld out of range", path, (long long)m->n_layers);
    if (st != STATUS_OK) trace_meta_free(m);
    return st;
}

static void trace_query_free(trace_query *q);

static status trace_writer_note_done(trace_writer *w, const char *qid) {
    if (w->n_done == w->cap_done) {
        size_t cap = w->cap_done ? w->cap_done * 2 : 64;
        char **done = realloc(w->done, cap * sizeof *done);
        if (!done) return status_fail(STATUS_ERR_NOMEM, "trace: out of memory");
        w->done = done;
        w->cap_done = cap;
    }
    if (!(w->done[w->n_done] = strdup(qid)))
        return status_fail(STATUS_ERR_NOMEM, "trace: out of memory");
    w->n_done++;
    return STATUS_OK;
}

static status trace_flush(hid_t file, const char *path) {
    if (H5Fflush(file, H5F_SCOPE_GLOBAL) < 0)
        return status_fail(STATUS_ERR_IO,
                           "%s: cannot write to disk (disk full, file size limit or I/O error)",
                           path);
    return STATUS_OK;
}

// Writes one query's group. The commit protocol: datasets and attributes,
// flush, then the `complete` attribute, flush. A query is stored when (and
// only when) its group has complete = 1, whatever point a kill or a full
// disk interrupted.
static status trace_query_write(hid_t file, size_t L, const trace_query *q, int64_t order,
                                const char *path) {
    char name[1024];
    trace_group_name(q->qid, name, sizeof name);
    hid_t queries = H5Gopen2(file, "queries", H5P_DEFAULT);
    hid_t g = queries < 0 ? -1 : H5Gcreate2(queries, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) {
        if (queries >= 0) H5Gclose(queries);
        return status_fail(STATUS_ERR_IO, "%s: cannot create the group of query %s", path, q->qid);
    }
    hsize_t dn[1] = {q->n}, ds[2] = {L + 1, q->n}, dl[1] = {L};
    hid_t str = h5util_string_type();
    int64_t complete = 1;
    status st;
    if ((st = h5util_attr_write_string(g, "qid", q->qid, path)) ||
        (st = h5util_write_dataset(g, "candidates", str, 1, dn, q->doc_ids, path)) ||
        (st = h5util_write_dataset(g, "scores", H5T_NATIVE_FLOAT, 2, ds, q->scores, path)) ||
        (st = h5util_write_dataset(g, "tokens", H5T_NATIVE_INT32, 1, dn, q->tokens, path)) ||
        (st = h5util_write_dataset(g, "first_stage", H5T_NATIVE_FLOAT, 1, dn, q->first_stage,
                                   path)) ||
        (st = h5util_write_dataset(g, "layer_seconds", H5T_NATIVE_DOUBLE, 1, dl, q->layer_seconds,
                                   path)) ||
        (st = h5util_attr_write_num(g, "embed_seconds", H5T_NATIVE_DOUBLE, &q->embed_seconds,
                                    path)) ||
        (st = h5util_attr_write_num(g, "score_seconds", H5T_NATIVE_DOUBLE, &q->score_seconds,
                                    path)) ||
        (st = h5util_attr_write_num(g, "order", H5T_NATIVE_INT64, &order, path)) ||
        (st = trace_flush(file, path)) ||
        (st = h5util_attr_write_num(g, "complete", H5T_NATIVE_INT64, &complete, path))) {
    }
    H5Tclose(str);
    H5Gclose(g);
    H5Gclose(queries);
    if (st == STATUS_OK) st = trace_flush(file, path);
    if (st != STATUS_OK) status_wrap(st, "query %s", q->qid);
    return st;
}

// Reads one stored query group (trace_read, and the recovery of a partial file).
static status trace_query_read_group(hid_t g, size_t L, trace_query *q, const char *path) {
    memset(q, 0, sizeof *q);
    status st = h5util_attr_read_string(g, "qid", &q->qid, path);
    const char *what = q->qid ? q->qid : "query";
    if (st == STATUS_OK) st = h5util_read_strings(g, "candidates", &q->doc_ids, &q->n, path);
    if (st == STATUS_OK && q->n == 0)
        st = status_fail(STATUS_ERR_FORMAT, "%s: %s has no candidates", path, what);
    // Sizes from the file: (L + 1) * n floats must not overflow.
    if (st == STATUS_OK && q->n > SIZE_MAX / ((L + 1) * sizeof *q->scores))
        st = status_fail(STATUS_ERR_SHAPE, "%s: query %s: %zu candidates is too many", path, what,
                         q->n);
    if (st == STATUS_OK) {
        q->scores = malloc((L + 1) * q->n * sizeof *q->scores);
        q->tokens = malloc(q->n * sizeof *q->tokens);
        q->first_stage = malloc(q->n * sizeof *q->first_stage);
        q->layer_seconds = malloc(L * sizeof *q->layer_seconds);
        if (!q->scores || !q->tokens || !q->first_stage || !q->layer_seconds)
            st = status_fail(STATUS_ERR_NOMEM, "%s: out of memory", path);
    }
    if (st == STATUS_OK)
        st = h5util_read_dataset(g, "scores", H5T_NATIVE_FLOAT, (L + 1) * q->n, q->scores, path,
                                 what);
    if (st == STATUS_OK)
        st = h5util_read_dataset(g, "tokens", H5T_NATIVE_INT32, q->n, q->tokens, path, what);
    if (st == STATUS_OK)
        st = h5util_read_dataset(g, "first_stage", H5T_NATIVE_FLOAT, q->n, q->first_stage, path,
                                 what);
    if (st == STATUS_OK)
        st = h5util_read_dataset(g, "layer_seconds", H5T_NATIVE_DOUBLE, L, q->layer_seconds, path,
                                 what);
    if (st == STATUS_OK)
        st = h5util_attr_read_num(g, "embed_seconds", H5T_NATIVE_DOUBLE, &q->embed_seconds, path);
    if (st == STATUS_OK)
        st = h5util_attr_read_num(g, "score_seconds", H5T_NATIVE_DOUBLE, &q->score_seconds, path);
    if (st != STATUS_OK) {
        trace_query_free(q);
        memset(q, 0, sizeof *q);
    }
    return st;
}

typedef struct {
    char *name;    // group name
    int64_t order; // "order" attribute
} trace_stored;

typedef struct {
    trace_stored *items; // complete groups
    size_t n, n_incomplete;
    status st;
} trace_scan;

// Lists the groups of /queries with complete = 1 (and their order).
static herr_t trace_scan_group(hid_t group, const char *name, const H5L_info_t *info, void *data) {
    (void)info;
    trace_scan *s = data;
    hid_t g = H5Gopen2(group, name, H5P_DEFAULT);
    int64_t complete = 0, order = -1;
    if (g >= 0 && H5Aexists(g, "complete") > 0) {
        hid_t a = H5Aopen(g, "complete", H5P_DEFAULT);
        if (a < 0 || H5Aread(a, H5T_NATIVE_INT64, &complete) < 0) complete = 0;
        if (a >= 0) H5Aclose(a);
    }
    if (complete == 1 && H5Aexists(g, "order") > 0) {
        hid_t a = H5Aopen(g, "order", H5P_DEFAULT);
        if (a < 0 || H5Aread(a, H5T_NATIVE_INT64, &order) < 0) complete = 0;
        if (a >= 0) H5Aclose(a);
    } else {
        complete = 0;
    }
    if (g >= 0) H5Gclose(g);
    if (complete != 1) {
        s->n_incomplete++;
        return 0;
    }
    trace_stored *items = realloc(s->items, (s->n + 1) * sizeof *items);
    if (!items || !(items[s->n].name = strdup(name))) {
        if (items) s->items = items;
        s->st = status_fail(STATUS_ERR_NOMEM, "trace: out of memory");
        return -1;
    }
    s->items = items;
    s->items[s->n++].order = order;
    return 0;
}

static int trace_stored_cmp(const void *a, const void *b) {
    int64_t x = ((const trace_stored *)a)->order, y = ((const trace_stored *)b)->order;
    return (x > y) - (x < y);
}

static void trace_scan_free(trace_scan *s) {
    for (size_t i = 0; i < s->n; i++)
        free(s->items[i].name);
    free(s->items);
    memset(s, 0, sizeof *s);
}

// The complete queries of an open trace file, in the order they were written.
static status trace_scan_file(hid_t f, trace_scan *s, const char *path) {
    memset(s, 0, sizeof *s);
    hid_t q = H5Gopen2(f, "queries", H5P_DEFAULT);
    if (q < 0) return status_fail(STATUS_ERR_FORMAT, "%s: missing /queries", path);
    herr_t e = H5Literate(q, H5_INDEX_NAME, H5_ITER_INC, NULL, trace_scan_group, s);
    H5Gclose(q);
    status st = s->st;
    if (st == STATUS_OK && e < 0)
        st = status_fail(STATUS_ERR_FORMAT, "%s: cannot list /queries", path);
    if (st != STATUS_OK) {
        trace_scan_free(s);
        return st;
    }
    if (s->n > 1) qsort(s->items, s->n, sizeof *s->items, trace_stored_cmp);
    return STATUS_OK;
}

// Creates PATH with the root attributes and an empty /queries, flushed (so
// that a kill before the first query leaves a file HDF5 can open).
static status trace_file_create(hid_t *file, const char *path, trace_meta *meta) {
    *file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (*file < 0)
        return status_fail(STATUS_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
    hid_t q = H5Gcreate2(*file, "queries", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    status st = q < 0 ? status_fail(STATUS_ERR_IO, "%s: cannot create /queries", path) : STATUS_OK;
    if (q >= 0) H5Gclose(q);
    if (st == STATUS_OK) st = trace_meta_write(*file, meta, path);
    if (st == STATUS_OK) st = trace_flush(*file, path);
    return st;
}

// HDF5 refuses a file shorter than the end address in its superblock ("truncated
// file"), which is what a full disk leaves. Extending it with a sparse hole of
// zeros makes the stored part readable again (what is missing then fails its
// checksum). Superblock version 0 or 1 with 8-byte addresses (what the
// writer makes): the end-of-file address is at byte 40 (v0) or 44 (v1).
static void trace_partial_extend(const char *path) {
    FILE *f = fopen(path, "r+b");
    if (!f) return;
    unsigned char sb[56];
    size_t got = fread(sb, 1, sizeof sb, f);
    if (got == sizeof sb && memcmp(sb, "\211HDF\r\n\032\n", 8) == 0 && sb[8] <= 1 && sb[13] == 8) {
        size_t at = sb[8] == 0 ? 40 : 44;
        uint64_t eoa = 0;
        for (int i = 7; i >= 0; i--)
            eoa = eoa << 8 | sb[at + (size_t)i];
        if (fseek(f, 0, SEEK_END) == 0) {
            long size = ftell(f);
            if (size >= 0 && eoa > (uint64_t)size && eoa - (uint64_t)size < ((uint64_t)1 << 32))
                if (ftruncate(fileno(f), (off_t)eoa) != 0) { /* then the open fails as before */
                }
        }
    }
    fclose(f);
}

enum {
    TRACE_RECOVER_OK = 0,
    TRACE_RECOVER_UNREADABLE = 10,
    TRACE_RECOVER_MISMATCH = 11,
    TRACE_RECOVER_EMPTY = 12,
    TRACE_RECOVER_WRITE = 13
};

// Child process of trace_writer_recover: copies the complete queries of
// `old_path` into a fresh `new_path`. Writes "kept dropped\n" or a message to
// `fd` and returns the exit code.
static int trace_recover_child(const char *old_path, const char *new_path, trace_meta *meta,
                               int fd) {
    // A hang inside libhdf5 on a damaged file becomes a failure: the guarded
    // readers' deadline for a file of this size, twice (the copy also writes).
    struct stat sb;
    double limit = 0;
    if (trace_guard_timeout(stat(old_path, &sb) == 0 ? (size_t)sb.st_size : 0, &limit) !=
        STATUS_OK)
        limit = 10.0;
    alarm((unsigned)(2.0 * limit) + 1);
    trace_partial_extend(old_path);
    hid_t f = H5Fopen(old_path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) {
        dprintf(fd, "HDF5 cannot open it");
        return TRACE_RECOVER_UNREADABLE;
    }
    trace_meta old;
    if (trace_meta_read(f, &old, old_path) != STATUS_OK) {
        dprintf(fd, "%s", status_message());
        return TRACE_RECOVER_UNREADABLE;
    }
    const char *why = NULL;
    if (strcmp(old.config_hash, meta->config_hash) != 0)
        why = "model config";
    else if (old.n_layers != meta->n_layers)
        why = "n_layers";
    else if (old.max_len != meta->max_len)
        why = "max_len";
    else if (old.top_n != meta->top_n)
        why = "top_n";
    else if (strcmp(old.run, meta->run ? meta->run : "") != 0)
        why = "run file";
    else if (strcmp(old.split, meta->split ? meta->split : "") != 0)
        why = "split";
    if (why) {
        dprintf(fd, "the %s differs from this run", why);
        return TRACE_RECOVER_MISMATCH;
    }
    trace_meta_free(&old);
    trace_scan scan;
    if (trace_scan_file(f, &scan, old_path) != STATUS_OK) {
        dprintf(fd, "%s", status_message());
        return TRACE_RECOVER_UNREADABLE;
    }
    hid_t out;
    if (trace_file_create(&out, new_path, meta) != STATUS_OK) {
        dprintf(fd, "%s", status_message());
        return TRACE_RECOVER_WRITE;
    }
    hid_t queries = H5Gopen2(f, "queries", H5P_DEFAULT);
    size_t kept = 0, L = (size_t)meta->n_layers;
    for (size_t i = 0; i < scan.n; i++) {
        hid_t g = queries < 0 ? -1 : H5Gopen2(queries, scan.items[i].name, H5P_DEFAULT);
        trace_query q;
        if (g < 0 || trace_query_read_group(g, L, &q, old_path) != STATUS_OK) {
            if (g >= 0) H5Gclose(g);
            continue; // stored but damaged: traced again
        }
        H5Gclose(g);
        status st = trace_query_write(out, L, &q, (int64_t)kept, new_path);
        trace_query_free(&q);
        if (st != STATUS_OK) {
            dprintf(fd, "%s", status_message());
            return TRACE_RECOVER_WRITE;
        }
        kept++;
    }
    if (queries >= 0) H5Gclose(queries);
    H5Fclose(f);
    if (h5util_file_close(&out, new_path) != STATUS_OK) {
        dprintf(fd, "%s", status_message());
        return TRACE_RECOVER_WRITE;
    }
    dprintf(fd, "%zu %zu\n", kept, scan.n_incomplete + (scan.n - kept));
    trace_scan_free(&scan);
    return kept ? TRACE_RECOVER_OK : TRACE_RECOVER_EMPTY;
}

static void trace_writer_set_note(trace_writer *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void trace_writer_set_note(trace_writer *w, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    free(w->note);
    w->note = NULL;
    if (vasprintf(&w->note, fmt, ap) < 0) w->note = NULL;
    va_end(ap);
}

// --resume: copies the complete queries of PATH.partial into a fresh file
// (PATH.partial.recover, renamed over PATH.partial). Reading the old file
// happens in a child process, so a damaged file that crashes or hangs
// libhdf5 only means "cannot be read". Sets *fresh when nothing could be
// kept (the caller starts over).
static status trace_writer_recover(trace_writer *w, int *fresh) {
    *fresh = 0;
    size_t n = strlen(w->partial_path);
    char *tmp = malloc(n + 9);
    if (!tmp) return status_fail(STATUS_ERR_NOMEM, "trace: out of memory");
    snprintf(tmp, n + 9, "%s.recover", w->partial_path);
    int pipefd[2];
    if (pipe(pipefd) != 0) {
        free(tmp);
        return status_fail(STATUS_ERR_IO, "%s: pipe: %s", w->partial_path, strerror(errno));
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        free(tmp);
        return status_fail(STATUS_ERR_IO, "%s: fork: %s", w->partial_path, strerror(errno));
    }
    if (pid == 0) {
        close(pipefd[0]);
        int code = trace_recover_child(w->partial_path, tmp, &w->meta, pipefd[1]);
        _exit(code); // no exit handlers: the parent owns the library state
    }
    close(pipefd[1]);
    char msg[2048];
    size_t len = 0;
    ssize_t got;
    while (len + 1 < sizeof msg && (got = read(pipefd[0], msg + len, sizeof msg - 1 - len)) != 0) {
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) break;
        len += (size_t)got;
    }
    msg[len] = '\0';
    close(pipefd[0]);
    int wst = 0;
    while (waitpid(pid, &wst, 0) < 0 && errno == EINTR) {
    }
    int code = WIFEXITED(wst) ? WEXITSTATUS(wst) : -1;
    status st = STATUS_OK;
    size_t kept = 0, dropped = 0;
    if (code == TRACE_RECOVER_OK && sscanf(msg, "%zu %zu", &kept, &dropped) == 2) {
        if (rename(tmp, w->partial_path) != 0)
            st = status_fail(STATUS_ERR_IO, "%s: cannot rename to %s: %s", tmp, w->partial_path,
                             strerror(errno));
        else if (dropped == 0)
            trace_writer_set_note(w, "%s: resumed %zu complete quer%s", w->partial_path, kept,
                                  kept == 1 ? "y" : "ies");
        else
            trace_writer_set_note(w,
                                  "%s: resumed %zu complete quer%s; %zu incomplete or damaged "
                                  "quer%s will be traced again",
                                  w->partial_path, kept, kept == 1 ? "y" : "ies", dropped,
                                  dropped == 1 ? "y" : "ies");
    } else if (code == TRACE_RECOVER_MISMATCH) {
        st = status_fail(STATUS_ERR_ARG, "%s: cannot resume: %s", w->partial_path, msg);
    } else if (code == TRACE_RECOVER_WRITE) {
        st = status_fail(STATUS_ERR_IO, "%s: cannot resume: %s", w->partial_path, msg);
    } else {
        *fresh = 1;
        if (code == TRACE_RECOVER_EMPTY)
            trace_writer_set_note(w, "%s: no query was completely stored; starting over",
                                  w->partial_path);
        else if (code == TRACE_RECOVER_UNREADABLE)
            trace_writer_set_note(w,
                                  "%s: cannot be read (%s; damaged by the interruption); "
                                  "starting over",
                                  w->partial_path, msg);
        else
            trace_writer_set_note(w,
                                  "%s: reading it %s %d (damaged by the interruption); "
                                  "starting over",
                                  w->partial_path,
                                  WIFSIGNALED(wst) ? "crashed libhdf5 with signal"
                                                   : "failed with code",
                                  WIFSIGNALED(wst) ? WTERMSIG(wst) : code);
    }
    if (st != STATUS_OK || *fresh) unlink(tmp);
    free(tmp);
    return st;
}

status trace_writer_open(trace_writer *w, const char *path, const trace_meta *meta, int resume) {
    h5util_quiet();
    memset(w, 0, sizeof *w);
    w->file = -1;
    size_t n = strlen(path);
    w->path = strdup(path);
    w->partial_path = malloc(n + 9);
    if (!w->path || !w->partial_path) {
        trace_writer_close(w);
        return status_fail(STATUS_ERR_NOMEM, "trace: out of memory");
    }
    snprintf(w->partial_path, n + 9, "%s.partial", path);
    status st = trace_meta_copy(&w->meta, meta);
    int fresh = 1;
    if (st == STATUS_OK && resume && access(w->partial_path, F_OK) == 0)
        st = trace_writer_recover(w, &fresh);
    else if (st == STATUS_OK && resume)
        trace_writer_set_note(w, "%s: no partial trace to resume; starting a new one",
                              w->partial_path);
    if (st == STATUS_OK && fresh) {
        hid_t f;
        st = trace_file_create(&f, w->partial_path, &w->meta);
        w->file = f;
    } else if (st == STATUS_OK) {
        // The recovered file was written and closed by us: open it and list it.
        hid_t f = H5Fopen(w->partial_path, H5F_ACC_RDWR, H5P_DEFAULT);
        w->file = f;
        trace_scan scan = {0};
        if (f < 0)
            st = status_fail(STATUS_ERR_IO, "%s: cannot reopen the recovered trace",
                             w->partial_path);
        else
            st = trace_scan_file(f, &scan, w->partial_path);
        hid_t queries = f < 0 ? -1 : H5Gopen2(f, "queries", H5P_DEFAULT);
        for (size_t i = 0; i < scan.n && st == STATUS_OK; i++) {
            hid_t g = H5Gopen2(queries, scan.items[i].name, H5P_DEFAULT);
            char *qid = NULL;
            st = g < 0 ? status_fail(STATUS_ERR_FORMAT, "%s: cannot open a recovered query",
                                     w->partial_path)
                       : h5util_attr_read_string(g, "qid", &qid, w->partial_path);
            if (g >= 0) H5Gclose(g);
            if (st == STATUS_OK) st = trace_writer_note_done(w, qid);
            free(qid);
        }
        if (queries >= 0) H5Gclose(queries);
        trace_scan_free(&scan);
    }
    if (st != STATUS_OK) {
        char *note = w->note;
        w->note = NULL;
        trace_writer_close(w);
        free(note);
    }
    return st;
}

int trace_writer_has_query(const trace_writer *w, const char *qid) {
    for (size_t i = 0; i < w->n_done; i++)
        if (strcmp(w->done[i], qid) == 0) return 1;
    return 0;
}

status trace_writer_add_query(trace_writer *w, const trace_query *q) {
    const char *path = w->partial_path;
    if (w->file < 0)
        return status_fail(STATUS_ERR_IO, "%s: the trace is not open for writing", path);
    if (trace_writer_has_query(w, q->qid))
        return status_fail(STATUS_ERR_ARG, "%s: query %s is already in the trace", path, q->qid);
    if (q->n == 0)
        return status_fail(STATUS_ERR_ARG, "%s: query %s has no candidates", path, q->qid);
    status st = trace_query_write(w->file, (size_t)w->meta.n_layers, q, (int64_t)w->n_done, path);
    if (st != STATUS_OK) return st;
    // Close and reopen after every query: libhdf5 keeps the metadata of every
    // object created through a file id (chunk B-trees, object headers, about
    // 160 KiB per query) until the file is closed, and those long-lived
    // blocks, interleaved with the forward's large transient buffers, made
    // the process grow by megabytes per query. After the close the file on
    // disk is also complete and consistent up to this query.
    hid_t f = w->file;
    w->file = -1;
    if ((st = h5util_file_close(&f, path)) != STATUS_OK) return st;
    w->file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    if (w->file < 0)
        return status_fail(STATUS_ERR_IO, "%s: cannot reopen after query %s", path, q->qid);
    return trace_writer_note_done(w, q->qid);
}

status trace_writer_finish(trace_writer *w) {
    const char *path = w->partial_path;
    if (w->file < 0)
        return status_fail(STATUS_ERR_IO, "%s: the trace is not open for writing", path);
    hid_t str = h5util_string_type();
    hsize_t dn[1] = {w->n_done};
    status st = h5util_write_dataset(w->file, "query_ids", str, 1, dn, w->done, path);
    H5Tclose(str);
    int64_t nq = (int64_t)w->n_done;
    if (st == STATUS_OK)
        st = h5util_attr_write_num(w->file, "n_queries", H5T_NATIVE_INT64, &nq, path);
    hid_t f = w->file;
    w->file = -1;
    status cst = h5util_file_close(&f, path);
    if (st == STATUS_OK) st = cst;
    if (st == STATUS_OK && rename(w->partial_path, w->path) != 0)
        st = status_fail(STATUS_ERR_IO, "%s: cannot rename to %s: %s", w->partial_path, w->path,
                         strerror(errno));
    if (st == STATUS_OK) {
        trace_writer_close(w);
    } else {
        // Keep the paths for the caller's "partial results kept in" message.
        for (size_t i = 0; i < w->n_done; i++)
            free(w->done[i]);
        free(w->done);
        w->done = NULL;
        w->n_done = w->cap_done = 0;
    }
    return st;
}

void trace_writer_close(trace_writer *w) {
    if (w->file >= 0) {
        hid_t f = w->file;
        (void)h5util_file_close(&f, w->partial_path ? w->partial_path : "trace");
    }
    w->file = -1;
    for (size_t i = 0; i < w->n_done; i++)
        free(w->done[i]);
    free(w->done);
    free(w->path);
    free(w->partial_path);
    free(w->note);
    trace_meta_free(&w->meta);
    memset(w, 0, sizeof *w);
    w->file = -1;
}

static void trace_query_free(trace_query *q) {
    if (q->doc_ids)
        for (size_t i = 0; i < q->n; i++) free(q->doc_ids[i]);
    free(q->doc_ids);
    free(q->qid);
    free(q->scores);
    free(q->tokens);
    free(q->first_stage);
    free(q->layer_seconds);
}

void trace_free(trace *t) {
    for (size_t i = 0; i < t->n_queries; i++) trace_query_free(&t->queries[i]);
    free(t->queries);
    trace_meta_free(&t->meta);
    memset(t, 0, sizeof *t);
}

status trace_read(trace *t, const char *path) {
    h5util_quiet();
    memset(t, 0, sizeof *t);
    if (access(path, R_OK) != 0) return status_fail(STATUS_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0) return status_fail(STATUS_ERR_FORMAT, "%s: not an HDF5 file (or corrupted)", path);
    status st = trace_meta_read(f, &t->meta, path);
    char **qids = NULL;
    size_t nq = 0;
    if (st == STATUS_OK) st = h5util_read_strings(f, "query_ids", &qids, &nq, path);
    if (st == STATUS_OK && nq == 0) st = status_fail(STATUS_ERR_FORMAT, "%s: the trace has no queries", path);
    if (st == STATUS_OK && !(t->queries = calloc(nq, sizeof *t->queries)))
        st = status_fail(STATUS_ERR_NOMEM, "%s: out of memory", path);
    hid_t queries = st == STATUS_OK ? H5Gopen2(f, "queries", H5P_DEFAULT) : -1;
    if (st == STATUS_OK && queries < 0) st = status_fail(STATUS_ERR_FORMAT, "%s: missing /queries", path);
    size_t L = (size_t)t->meta.n_layers;
    for (size_t i = 0; i < nq && st == STATUS_OK; i++) {
        trace_query *q = &t->queries[i];
        t->n_queries = i + 1;
        q->qid = qids[i];
        qids[i] = NULL;
        char name[1024];
        trace_group_name(q->qid, name, sizeof name);
        hid_t g = H5Gopen2(queries, name, H5P_DEFAULT);
        if (g < 0) {
            st = status_fail(STATUS_ERR_FORMAT, "%s: query %s listed in /query_ids has no group", path, q->qid);
            break;
        }
        // The group's own qid attribute must name the listed query.
        char *listed = q->qid;
        st = trace_query_read_group(g, L, q, path);
        if (st == STATUS_OK && strcmp(q->qid, listed) != 0)
            st = status_fail(STATUS_ERR_FORMAT, "%s: query %s listed in /query_ids: its group holds qid '%s'",
                             path, listed, q->qid);
        free(listed);
        H5Gclose(g);
    }
    if (queries >= 0) H5Gclose(queries);
    for (size_t i = 0; i < nq; i++) free(qids ? qids[i] : NULL);
    free(qids);
    H5Fclose(f);
    if (st != STATUS_OK) trace_free(t);
    return st;
}

static int trace_str_eq(const char *a, const char *b) {
    return strcmp(a ? a : "", b ? b : "") == 0;
}

// The "--shard i/n" of a trace's command line: 1 and *index, *count when
// present.
static int trace_command_shard(const char *command, size_t *index, size_t *count) {
    const char *p = command ? strstr(command, "--shard") : NULL;
    if (!p) return 0;
    p += strlen("--shard");
    if (*p != ' ' && *p != '=') return 0;
    unsigned long long i, n;
    int used = 0;
    if (sscanf(p + 1, "%llu/%llu%n", &i, &n, &used) != 2 || n == 0 || i >= n) return 0;
    *index = (size_t)i;
    *count = (size_t)n;
    return 1;
}

typedef struct {
    size_t part, query;
    uint64_t key; // position in run order
} trace_merge_item;

static int trace_merge_cmp(const void *a, const void *b) {
    const trace_merge_item *x = a, *y = b;
    if (x->key != y->key) return x->key < y->key ? -1 : 1;
    if (x->part != y->part) return x->part < y->part ? -1 : 1;
    return (x->query > y->query) - (x->query < y->query);
}

// Keys from the run file of the traces (as stored, else next to the first
// input): 1 when it is readable and holds every query.
static int trace_merge_keys_from_run(const trace *parts, size_t n_parts, const char *first_input,
                                     trace_merge_item *items) {
    const char *run_path = parts[0].meta.run;
    if (!run_path || !*run_path) return 0;
    char buf[4200];
    if (run_path[0] != '/' && access(run_path, R_OK) != 0) {
        const char *slash = strrchr(first_input, '/');
        if (!slash) return 0;
        snprintf(buf, sizeof buf, "%.*s/%.2000s", (int)(slash - first_input), first_input,
                 run_path);
        run_path = buf;
    }
    trec_run run;
    if (trec_run_read(&run, run_path) != STATUS_OK) return 0;
    int ok = 1;
    for (size_t i = 0, o = 0; i < n_parts && ok; i++)
        for (size_t j = 0; j < parts[i].n_queries && ok; j++, o++) {
            const trec_query *q = trec_run_find(&run, parts[i].queries[j].qid);
            if (q)
                items[o].key = (uint64_t)(q - run.queries);
            else
                ok = 0;
        }
    trec_run_free(&run);
    return ok;
}

// Keys from the inputs' `--shard i/n` (one n, distinct i): query j of shard i
// was query i + j n of the run.
static int trace_merge_keys_from_shards(const trace *parts, size_t n_parts,
                                        trace_merge_item *items) {
    size_t count0 = 0;
    unsigned char *used = NULL;
    int ok = 1;
    for (size_t i = 0, o = 0; i < n_parts && ok; i++) {
        size_t index, count;
        ok = trace_command_shard(parts[i].meta.command, &index, &count);
        if (ok && i == 0) {
            count0 = count;
            ok = (used = calloc(count, 1)) != NULL;
        }
        ok = ok && count == count0 && !used[index];
        if (ok) used[index] = 1;
        for (size_t j = 0; j < parts[i].n_queries && ok; j++, o++)
            items[o].key = (uint64_t)(index + j * count);
    }
    free(used);
    return ok;
}

status trace_merge_ordered(const char *const *inputs, size_t n_inputs, const char *out,
                           const char *command, const char **order) {
    if (order) *order = "";
    if (n_inputs == 0) return status_fail(STATUS_ERR_ARG, "merge: no input traces");
    trace *parts = calloc(n_inputs, sizeof *parts);
    if (!parts) return status_fail(STATUS_ERR_NOMEM, "merge: out of memory");
    status st = STATUS_OK;
    size_t total = 0, cmd_len = command ? strlen(command) : strlen("grating merge");
    for (size_t i = 0; i < n_inputs && st == STATUS_OK; i++) {
        st = trace_guard_read(&parts[i], inputs[i]);
        if (st == STATUS_OK && i > 0) {
            const trace_meta *a = &parts[0].meta, *b = &parts[i].meta;
            if (!trace_str_eq(a->config_hash, b->config_hash) || a->n_layers != b->n_layers ||
                !trace_str_eq(a->dataset, b->dataset) || !trace_str_eq(a->run, b->run) ||
                a->top_n != b->top_n || a->max_len != b->max_len ||
                !trace_str_eq(a->split, b->split))
                st = status_fail(STATUS_ERR_ARG,
                                 "merge: %s was made with a different model, dataset, run, split, "
                                 "top_n or max_len than %s",
                                 inputs[i], inputs[0]);
        }
        if (st == STATUS_OK) {
            total += parts[i].n_queries;
            cmd_len +=
                strlen(inputs[i]) + strlen(parts[i].meta.command ? parts[i].meta.command : "") + 16;
        }
    }
    // Run order: the run file's, else the shards' interleaving, else as given.
    trace_merge_item *items = st == STATUS_OK ? calloc(total ? total : 1, sizeof *items) : NULL;
    if (st == STATUS_OK && !items) st = status_fail(STATUS_ERR_NOMEM, "merge: out of memory");
    if (st == STATUS_OK) {
        for (size_t i = 0, o = 0; i < n_inputs; i++)
            for (size_t j = 0; j < parts[i].n_queries; j++, o++)
                items[o] = (trace_merge_item){i, j, o};
        const char *how =
            "the order of the inputs (their run file is not readable here and they were not all "
            "made with --shard i/n of one n)";
        if (trace_merge_keys_from_run(parts, n_inputs, inputs[0], items))
            how = "the query order of the run file";
        else if (trace_merge_keys_from_shards(parts, n_inputs, items))
            how = "the run order of the --shard i/n inputs";
        else
            for (size_t o = 0; o < total; o++)
                items[o].key = o;
        if (order) *order = how;
        qsort(items, total, sizeof *items, trace_merge_cmp);
    }
    // Provenance: the merge command, then each input's command.
    char *merged_command = st == STATUS_OK ? malloc(cmd_len + 1) : NULL;
    if (st == STATUS_OK && !merged_command)
        st = status_fail(STATUS_ERR_NOMEM, "merge: out of memory");
    if (st == STATUS_OK) {
        size_t o = (size_t)snprintf(merged_command, cmd_len + 1, "%s",
                                    command ? command : "grating merge");
        for (size_t i = 0; i < n_inputs; i++)
            o += (size_t)snprintf(merged_command + o, cmd_len + 1 - o, "\ninput %s: %s", inputs[i],
                                  parts[i].meta.command ? parts[i].meta.command : "");
    }
    trace_writer w = {.file = -1};
    if (st == STATUS_OK) {
        trace_meta meta = parts[0].meta;
        meta.command = merged_command;
        st = trace_writer_open(&w, out, &meta, 0);
    }
    for (size_t o = 0; o < total && st == STATUS_OK; o++) {
        const trace_query *q = &parts[items[o].part].queries[items[o].query];
        if (trace_writer_has_query(&w, q->qid))
            st = status_fail(STATUS_ERR_ARG, "merge: query %s appears in more than one input (%s)",
                             q->qid, inputs[items[o].part]);
        else
            st = trace_writer_add_query(&w, q);
    }
    if (st == STATUS_OK) st = trace_writer_finish(&w);
    else if (w.path) {
        unlink(w.partial_path);
        trace_writer_close(&w);
    }
    for (size_t i = 0; i < n_inputs; i++) trace_free(&parts[i]);
    free(parts);
    free(items);
    free(merged_command);
    return st;
}

status trace_merge(const char *const *inputs, size_t n_inputs, const char *out) {
    return trace_merge_ordered(inputs, n_inputs, out, NULL, NULL);
}
