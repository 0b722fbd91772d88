#include "trace.h"
#include "h5util.h"
#include "trace_guard.h"
#include "trec.h"

#include <errno.h>
#include <stdint.h>
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
}

static status trace_meta_copy(trace_meta *dst, const trace_meta *src) {
    *dst = *src;
    for (size_t i = 0; i < TRACE_N_STRING_ATTRS; i++) {
        const char *v = *trace_meta_string((trace_meta *)src, i);
        *trace_meta_string(dst, i) = strdup(v ? v : "");
        if (!*trace_meta_string(dst, i)) return status_fail(STATUS_ERR_NOMEM, "trace: out of memory");
    }
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
    if (st == STATUS_OK && (m->n_layers < 1 || m->n_layers > 1000))
        st = status_fail(STATUS_ERR_FORMAT, "%s: n_layers %lld out of range", path, (long long)m->n_layers);
    if (st != STATUS_OK) trace_meta_free(m);
    return st;
}

static status trace_writer_note_done(trace_writer *w, const char *qid) {
    if (w->n_done == w->cap_done) {
        size_t cap = w->cap_done ? w->cap_done * 2 : 64;
        char **done = realloc(w->done, cap * sizeof *done);
        if (!done) return status_fail(STATUS_ERR_NOMEM, "trace: out of memory");
        w->done = done;
        w->cap_done = cap;
    }
    if (!(w->done[w->n_done] = strdup(qid))) return status_fail(STATUS_ERR_NOMEM, "trace: out of memory");
    w->n_done++;
    return STATUS_OK;
}

typedef struct {
    trace_writer *w;
    char **incomplete; // group names to delete
    size_t n_incomplete;
    int64_t *order;    // "order" attribute of each complete query, aligned with w->done
    status st;
} trace_scan;

static herr_t trace_scan_group(hid_t group, const char *name, const H5L_info_t *info, void *data) {
    (void)info;
    trace_scan *s = data;
    hid_t g = H5Gopen2(group, name, H5P_DEFAULT);
    int64_t complete = 0, order = -1;
    char *qid = NULL;
    if (g >= 0 && H5Aexists(g, "complete") > 0) {
        hid_t a = H5Aopen(g, "complete", H5P_DEFAULT);
        H5Aread(a, H5T_NATIVE_INT64, &complete);
        H5Aclose(a);
    }
    if (complete == 1 && h5util_attr_read_string(g, "qid", &qid, s->w->partial_path) == STATUS_OK &&
        h5util_attr_read_num(g, "order", H5T_NATIVE_INT64, &order, s->w->partial_path) == STATUS_OK) {
        s->st = trace_writer_note_done(s->w, qid);
        int64_t *ord = realloc(s->order, s->w->n_done * sizeof *ord);
        if (ord) {
            s->order = ord;
            s->order[s->w->n_done - 1] = order;
        } else {
            s->st = status_fail(STATUS_ERR_NOMEM, "trace: out of memory");
        }
    } else {
        char **inc = realloc(s->incomplete, (s->n_incomplete + 1) * sizeof *inc);
        if (inc) {
            s->incomplete = inc;
            s->incomplete[s->n_incomplete++] = strdup(name);
        }
    }
    free(qid);
    if (g >= 0) H5Gclose(g);
    return s->st == STATUS_OK ? 0 : -1;
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
    if (st != STATUS_OK) {
        trace_writer_close(w);
        return st;
    }
    if (resume && access(w->partial_path, F_OK) == 0) {
        hid_t f = H5Fopen(w->partial_path, H5F_ACC_RDWR, H5P_DEFAULT);
        if (f < 0) {
            st = status_fail(STATUS_ERR_FORMAT,
                             "%s: cannot reopen the partial trace to resume (corrupted by the "
                             "interruption?); delete it to start over",
                             w->partial_path);
            trace_writer_close(w);
            return st;
        }
        w->file = f;
        trace_meta old;
        if ((st = trace_meta_read(f, &old, w->partial_path)) != STATUS_OK) {
            trace_writer_close(w);
            return st;
        }
        const char *why = NULL;
        if (strcmp(old.config_hash, meta->config_hash) != 0) why = "model config";
        else if (old.n_layers != meta->n_layers) why = "n_layers";
        else if (old.max_len != meta->max_len) why = "max_len";
        else if (old.top_n != meta->top_n) why = "top_n";
        else if (strcmp(old.run, meta->run ? meta->run : "") != 0) why = "run file";
        else if (strcmp(old.split, meta->split ? meta->split : "") != 0) why = "split";
        trace_meta_free(&old);
        if (why) {
            st = status_fail(STATUS_ERR_ARG, "%s: cannot resume: the %s differs from this run",
                             w->partial_path, why);
            trace_writer_close(w);
            return st;
        }
        hid_t q = H5Gopen2(f, "queries", H5P_DEFAULT);
        trace_scan scan = {.w = w, .st = STATUS_OK};
        if (q < 0 || H5Literate(q, H5_INDEX_NAME, H5_ITER_INC, NULL, trace_scan_group, &scan) < 0) {
            st = scan.st != STATUS_OK ? scan.st
                                      : status_fail(STATUS_ERR_FORMAT, "%s: cannot list /queries", w->partial_path);
        }
        for (size_t i = 0; i < scan.n_incomplete; i++) {
            if (q >= 0) H5Ldelete(q, scan.incomplete[i], H5P_DEFAULT);
            free(scan.incomplete[i]);
        }
        free(scan.incomplete);
        // Keep the done list in the order the queries were first written.
        for (size_t i = 1; i < w->n_done; i++)
            for (size_t j = i; j > 0 && scan.order[j - 1] > scan.order[j]; j--) {
                int64_t to = scan.order[j];
                scan.order[j] = scan.order[j - 1];
                scan.order[j - 1] = to;
                char *tq = w->done[j];
                w->done[j] = w->done[j - 1];
                w->done[j - 1] = tq;
            }
        free(scan.order);
        if (q >= 0) H5Gclose(q);
        if (st != STATUS_OK) {
            trace_writer_close(w);
            return st;
        }
        return STATUS_OK;
    }
    hid_t f = H5Fcreate(w->partial_path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (f < 0) {
        st = status_fail(STATUS_ERR_IO, "%s: cannot create", w->partial_path);
        trace_writer_close(w);
        return st;
    }
    w->file = f;
    hid_t q = H5Gcreate2(f, "queries", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (q < 0 || (st = trace_meta_write(f, &w->meta, w->partial_path)) != STATUS_OK) {
        if (q >= 0) H5Gclose(q);
        if (q < 0) st = status_fail(STATUS_ERR_IO, "%s: cannot create /queries", w->partial_path);
        trace_writer_close(w);
        return st;
    }
    H5Gclose(q);
    return STATUS_OK;
}

int trace_writer_has_query(const trace_writer *w, const char *qid) {
    for (size_t i = 0; i < w->n_done; i++)
        if (strcmp(w->done[i], qid) == 0) return 1;
    return 0;
}

status trace_writer_add_query(trace_writer *w, const trace_query *q) {
    const char *path = w->partial_path;
    if (trace_writer_has_query(w, q->qid))
        return status_fail(STATUS_ERR_ARG, "%s: query %s is already in the trace", path, q->qid);
    if (q->n == 0) return status_fail(STATUS_ERR_ARG, "%s: query %s has no candidates", path, q->qid);
    char name[1024];
    trace_group_name(q->qid, name, sizeof name);
    hid_t queries = H5Gopen2(w->file, "queries", H5P_DEFAULT);
    hid_t g = queries < 0 ? -1 : H5Gcreate2(queries, name, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (g < 0) {
        if (queries >= 0) H5Gclose(queries);
        return status_fail(STATUS_ERR_IO, "%s: cannot create group for query %s", path, q->qid);
    }
    size_t L = (size_t)w->meta.n_layers;
    hsize_t dn[1] = {q->n}, ds[2] = {L + 1, q->n}, dl[1] = {L};
    hid_t str = h5util_string_type();
    int64_t order = (int64_t)w->n_done, complete = 1;
    status st;
    if ((st = h5util_attr_write_string(g, "qid", q->qid, path)) ||
        (st = h5util_write_dataset(g, "candidates", str, 1, dn, q->doc_ids, path)) ||
        (st = h5util_write_dataset(g, "scores", H5T_NATIVE_FLOAT, 2, ds, q->scores, path)) ||
        (st = h5util_write_dataset(g, "tokens", H5T_NATIVE_INT32, 1, dn, q->tokens, path)) ||
        (st = h5util_write_dataset(g, "first_stage", H5T_NATIVE_FLOAT, 1, dn, q->first_stage, path)) ||
        (st = h5util_write_dataset(g, "layer_seconds", H5T_NATIVE_DOUBLE, 1, dl, q->layer_seconds, path)) ||
        (st = h5util_attr_write_num(g, "embed_seconds", H5T_NATIVE_DOUBLE, &q->embed_seconds, path)) ||
        (st = h5util_attr_write_num(g, "score_seconds", H5T_NATIVE_DOUBLE, &q->score_seconds, path)) ||
        (st = h5util_attr_write_num(g, "order", H5T_NATIVE_INT64, &order, path)) ||
        // Written last: a query without it is incomplete and dropped on --resume.
        (st = h5util_attr_write_num(g, "complete", H5T_NATIVE_INT64, &complete, path))) {
    }
    H5Tclose(str);
    H5Gclose(g);
    H5Gclose(queries);
    if (st != STATUS_OK) return st;
    if (H5Fflush(w->file, H5F_SCOPE_GLOBAL) < 0) return status_fail(STATUS_ERR_IO, "%s: flush failed", path);
    return trace_writer_note_done(w, q->qid);
}

status trace_writer_finish(trace_writer *w) {
    const char *path = w->partial_path;
    hid_t str = h5util_string_type();
    hsize_t dn[1] = {w->n_done};
    status st = h5util_write_dataset(w->file, "query_ids", str, 1, dn, w->done, path);
    H5Tclose(str);
    int64_t nq = (int64_t)w->n_done;
    if (st == STATUS_OK) st = h5util_attr_write_num(w->file, "n_queries", H5T_NATIVE_INT64, &nq, path);
    if (st == STATUS_OK && H5Fclose((hid_t)w->file) < 0)
        st = status_fail(STATUS_ERR_IO, "%s: close failed", path);
    else if (st != STATUS_OK)
        H5Fclose((hid_t)w->file);
    w->file = -1;
    if (st == STATUS_OK && rename(w->partial_path, w->path) != 0)
        st = status_fail(STATUS_ERR_IO, "%s: cannot rename to %s: %s", w->partial_path, w->path,
                         strerror(errno));
    trace_writer_close(w);
    return st;
}

void trace_writer_close(trace_writer *w) {
    if (w->file >= 0) H5Fclose((hid_t)w->file);
    w->file = -1;
    for (size_t i = 0; i < w->n_done; i++) free(w->done[i]);
    free(w->done);
    free(w->path);
    free(w->partial_path);
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
        st = h5util_read_strings(g, "candidates", &q->doc_ids, &q->n, path);
        if (st == STATUS_OK && q->n == 0) st = status_fail(STATUS_ERR_FORMAT, "%s: query %s has no candidates", path, q->qid);
        // Sizes from the file: (L + 1) * n floats must not overflow.
        if (st == STATUS_OK && q->n > SIZE_MAX / ((L + 1) * sizeof *q->scores))
            st = status_fail(STATUS_ERR_SHAPE, "%s: query %s: %zu candidates is too many", path,
                             q->qid, q->n);
        if (st == STATUS_OK) {
            q->scores = malloc((L + 1) * q->n * sizeof *q->scores);
            q->tokens = malloc(q->n * sizeof *q->tokens);
            q->first_stage = malloc(q->n * sizeof *q->first_stage);
            q->layer_seconds = malloc(L * sizeof *q->layer_seconds);
            if (!q->scores || !q->tokens || !q->first_stage || !q->layer_seconds)
                st = status_fail(STATUS_ERR_NOMEM, "%s: out of memory", path);
        }
        if (st == STATUS_OK) st = h5util_read_dataset(g, "scores", H5T_NATIVE_FLOAT, (L + 1) * q->n, q->scores, path, q->qid);
        if (st == STATUS_OK) st = h5util_read_dataset(g, "tokens", H5T_NATIVE_INT32, q->n, q->tokens, path, q->qid);
        if (st == STATUS_OK) st = h5util_read_dataset(g, "first_stage", H5T_NATIVE_FLOAT, q->n, q->first_stage, path, q->qid);
        if (st == STATUS_OK) st = h5util_read_dataset(g, "layer_seconds", H5T_NATIVE_DOUBLE, L, q->layer_seconds, path, q->qid);
        if (st == STATUS_OK) st = h5util_attr_read_num(g, "embed_seconds", H5T_NATIVE_DOUBLE, &q->embed_seconds, path);
        if (st == STATUS_OK) st = h5util_attr_read_num(g, "score_seconds", H5T_NATIVE_DOUBLE, &q->score_seconds, path);
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
