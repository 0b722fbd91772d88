// Reading untrusted HDF5 traces and sweep files in a child process (design
// in trace_guard.h).
#include "analysis/trace_guard.h"

#include "base/strmap.h"
#include "base/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { GUARD_MAGIC = 0x47524731 }; // "GRG1": start of the child's answer

// ---- the byte stream from the child to the parent ----

typedef struct {
    unsigned char *data;
    size_t len, cap;
    int failed; // out of memory: the stream is incomplete
} guard_buf;

static void guard_put(guard_buf *b, const void *p, size_t n) {
    if (b->failed || n == 0) return;
    if (n > SIZE_MAX / 2 - b->len) {
        b->failed = 1;
        return;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n)
            cap *= 2;
        unsigned char *d = realloc(b->data, cap);
        if (!d) {
            b->failed = 1;
            return;
        }
        b->data = d;
        b->cap = cap;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void guard_put_u64(guard_buf *b, uint64_t v) {
    guard_put(b, &v, sizeof v);
}

static void guard_put_f64(guard_buf *b, double v) {
    guard_put(b, &v, sizeof v);
}

// A string: its length (UINT64_MAX for NULL), then its bytes.
static void guard_put_str(guard_buf *b, const char *s) {
    if (!s) {
        guard_put_u64(b, UINT64_MAX);
        return;
    }
    size_t n = strlen(s);
    guard_put_u64(b, n);
    guard_put(b, s, n);
}

typedef struct {
    const unsigned char *p;
    size_t left;
    int bad; // ran past the end, or a count is impossible for what is left
} guard_stream;

static void guard_get(guard_stream *r, void *out, size_t n) {
    if (r->bad || n > r->left) {
        r->bad = 1;
        memset(out, 0, n);
        return;
    }
    memcpy(out, r->p, n);
    r->p += n;
    r->left -= n;
}

static uint64_t guard_get_u64(guard_stream *r) {
    uint64_t v;
    guard_get(r, &v, sizeof v);
    return v;
}

static double guard_get_f64(guard_stream *r) {
    double v;
    guard_get(r, &v, sizeof v);
    return v;
}

// A count of items that take at least `min_bytes` each of what is left.
static size_t guard_get_count(guard_stream *r, size_t min_bytes) {
    uint64_t n = guard_get_u64(r);
    if (r->bad || n > r->left / min_bytes) {
        r->bad = 1;
        return 0;
    }
    return (size_t)n;
}

// A string written by guard_put_str into *out (malloc'd; NULL for NULL).
// `required`: NULL is a malformed stream.
static void guard_get_str(guard_stream *r, char **out, int required) {
    *out = NULL;
    uint64_t n = guard_get_u64(r);
    if (r->bad) return;
    if (n == UINT64_MAX && !required) return;
    if (n > r->left || !(*out = malloc((size_t)n + 1))) {
        r->bad = 1;
        return;
    }
    memcpy(*out, r->p, (size_t)n);
    (*out)[n] = '\0';
    r->p += n;
    r->left -= (size_t)n;
    if (memchr(*out, '\0', (size_t)n)) r->bad = 1; // strlen wrote it: no NUL inside
}

// n items of `elem` bytes into a malloc'd array (NULL and bad when short).
static void *guard_get_array(guard_stream *r, size_t n, size_t elem) {
    if (r->bad || (elem && n > r->left / elem)) {
        r->bad = 1;
        return NULL;
    }
    void *a = malloc(n * elem > 0 ? n * elem : 1);
    if (!a) {
        r->bad = 1;
        return NULL;
    }
    guard_get(r, a, n * elem);
    return a;
}

// ---- what the child sends ----

static void guard_put_meta(guard_buf *b, trace_meta *m) {
    size_t ns = 0, ni = 0;
    while (trace_meta_string_field(m, ns, NULL))
        ns++;
    while (trace_meta_int_field(m, ni, NULL))
        ni++;
    guard_put_u64(b, ns);
    for (size_t i = 0; i < ns; i++)
        guard_put_str(b, *trace_meta_string_field(m, i, NULL));
    guard_put_u64(b, ni);
    for (size_t i = 0; i < ni; i++)
        guard_put_u64(b, (uint64_t)*trace_meta_int_field(m, i, NULL));
    guard_put_u64(b, (uint64_t)m->threads); // optional attribute, not in the int list
    guard_put_str(b, m->config);             // optional attribute, NULL when absent
    guard_put_str(b, m->kernels);            // optional attribute, NULL when absent
}

// Decodes guard_put_meta: the same number of fields as this build has.
// `strings_required`: a NULL string field makes the stream malformed.
static void guard_get_meta(guard_stream *r, trace_meta *m, int strings_required) {
    memset(m, 0, sizeof *m);
    size_t ns = 0, ni = 0;
    while (trace_meta_string_field(m, ns, NULL))
        ns++;
    while (trace_meta_int_field(m, ni, NULL))
        ni++;
    if (guard_get_u64(r) != ns) r->bad = 1;
    for (size_t i = 0; i < ns && !r->bad; i++)
        guard_get_str(r, trace_meta_string_field(m, i, NULL), strings_required);
    if (guard_get_u64(r) != ni) r->bad = 1;
    for (size_t i = 0; i < ni && !r->bad; i++)
        *trace_meta_int_field(m, i, NULL) = (int64_t)guard_get_u64(r);
    m->threads = (int64_t)guard_get_u64(r);
    if (m->threads < 0 || m->threads > 4096) r->bad = 1;
    if (!r->bad) guard_get_str(r, &m->config, 0);
    if (!r->bad) guard_get_str(r, &m->kernels, 0);
}

static void guard_put_trace(guard_buf *b, trace *t) {
    guard_put_meta(b, &t->meta);
    size_t L = (size_t)t->meta.n_layers; // 1..1000, checked by trace_read
    guard_put_u64(b, t->n_queries);
    for (size_t i = 0; i < t->n_queries; i++) {
        const trace_query *q = &t->queries[i];
        guard_put_str(b, q->qid);
        guard_put_u64(b, q->n);
        for (size_t j = 0; j < q->n; j++)
            guard_put_str(b, q->doc_ids[j]);
        guard_put(b, q->scores, (L + 1) * q->n * sizeof *q->scores);
        guard_put(b, q->tokens, q->n * sizeof *q->tokens);
        guard_put(b, q->first_stage, q->n * sizeof *q->first_stage);
        guard_put(b, q->layer_seconds, L * sizeof *q->layer_seconds);
        guard_put_f64(b, q->embed_seconds);
        guard_put_f64(b, q->score_seconds);
    }
}

// Decodes guard_put_trace; 0 when the stream is malformed (t is then freed).
static int guard_get_trace(guard_stream *r, trace *t) {
    memset(t, 0, sizeof *t);
    guard_get_meta(r, &t->meta, 1);
    if (!r->bad && (t->meta.n_layers < 1 || t->meta.n_layers > 1000)) r->bad = 1;
    size_t L = r->bad ? 0 : (size_t)t->meta.n_layers;
    size_t nq = guard_get_count(r, 2 * sizeof(uint64_t)); // a query is at least qid + n
    if (!r->bad && !(t->queries = calloc(nq ? nq : 1, sizeof *t->queries))) r->bad = 1;
    for (size_t i = 0; i < nq && !r->bad; i++) {
        trace_query *q = &t->queries[i];
        t->n_queries = i + 1;
        guard_get_str(r, &q->qid, 1);
        size_t n = guard_get_count(r, sizeof(uint64_t)); // each doc id has a length
        if (r->bad || !(q->doc_ids = calloc(n ? n : 1, sizeof *q->doc_ids))) {
            r->bad = 1;
            break;
        }
        q->n = n;
        for (size_t j = 0; j < n && !r->bad; j++)
            guard_get_str(r, &q->doc_ids[j], 1);
        q->scores = guard_get_array(r, n, (L + 1) * sizeof *q->scores); // (L + 1, n)
        q->tokens = guard_get_array(r, n, sizeof *q->tokens);
        q->first_stage = guard_get_array(r, n, sizeof *q->first_stage);
        q->layer_seconds = guard_get_array(r, L, sizeof *q->layer_seconds);
        q->embed_seconds = guard_get_f64(r);
        q->score_seconds = guard_get_f64(r);
    }
    if (r->left != 0) r->bad = 1;
    if (r->bad) trace_free(t);
    return !r->bad;
}

static void guard_put_sweep(guard_buf *b, const sweep_grid *g, const sweep_results *r,
                            trace_meta *meta) {
    guard_put_str(b, g->name);
    guard_put_u64(b, g->n_configs);
    for (size_t c = 0; c < g->n_configs; c++) {
        guard_put_str(b, g->configs[c].policy);
        guard_put_str(b, g->configs[c].params_text);
        guard_put_u64(b, g->configs[c].k);
        guard_put_u64(b, g->configs[c].chunk);
    }
    guard_put_u64(b, r->n_configs);
    guard_put_u64(b, r->n_queries);
    guard_put_u64(b, (uint64_t)r->has_labels);
    guard_put_f64(b, r->replay_seconds);
    guard_put_u64(b, (uint64_t)r->unjudged);
    guard_put_u64(b, r->n_unjudged);
    guard_put_str(b, r->prov.trace);
    guard_put_str(b, r->prov.qrels);
    guard_put_str(b, r->prov.model);
    guard_put_str(b, r->prov.version);
    guard_put_u64(b, (uint64_t)r->prov.threads);
    for (size_t q = 0; q < r->n_queries; q++) {
        guard_put_str(b, r->qids[q]);
        guard_put_u64(b, r->query_index[q]);
    }
    guard_put_u64(b, SWEEP_N_METRICS);
    guard_put(b, r->values,
              (size_t)SWEEP_N_METRICS * r->n_configs * r->n_queries * sizeof *r->values);
    guard_put_meta(b, meta);
}

static int guard_get_sweep(guard_stream *s, sweep_grid *g, sweep_results *r, trace_meta *meta) {
    memset(g, 0, sizeof *g);
    memset(r, 0, sizeof *r);
    memset(meta, 0, sizeof *meta);
    guard_get_str(s, &g->name, 0);
    size_t nc = guard_get_count(s, 4 * sizeof(uint64_t)); // policy, params, k, chunk
    if (!s->bad && !(g->configs = calloc(nc ? nc : 1, sizeof *g->configs))) s->bad = 1;
    for (size_t c = 0; c < nc && !s->bad; c++) {
        sweep_config *cf = &g->configs[c];
        g->n_configs = c + 1;
        guard_get_str(s, &cf->policy, 1);
        guard_get_str(s, &cf->params_text, 1);
        cf->k = (size_t)guard_get_u64(s);
        cf->chunk = (size_t)guard_get_u64(s);
        if (!s->bad && !(cf->params = cJSON_Parse(cf->params_text))) s->bad = 1;
    }
    if (guard_get_u64(s) != nc) s->bad = 1;
    size_t nq = guard_get_count(s, 2 * sizeof(uint64_t)); // qid, index
    r->has_labels = (int)guard_get_u64(s);
    r->replay_seconds = guard_get_f64(s);
    uint64_t unjudged = guard_get_u64(s);
    if (unjudged > SWEEP_UNJUDGED_ZERO) s->bad = 1;
    r->unjudged = (sweep_unjudged)unjudged;
    r->n_unjudged = (size_t)guard_get_u64(s);
    if (r->n_unjudged > nq) s->bad = 1;
    guard_get_str(s, &r->prov.trace, 0);
    guard_get_str(s, &r->prov.qrels, 0);
    guard_get_str(s, &r->prov.model, 0);
    guard_get_str(s, &r->prov.version, 0);
    r->prov.threads = (int64_t)guard_get_u64(s);
    if (!s->bad && (!(r->qids = calloc(nq ? nq : 1, sizeof *r->qids)) ||
                    !(r->query_index = calloc(nq ? nq : 1, sizeof *r->query_index))))
        s->bad = 1;
    if (!s->bad) r->n_queries = nq, r->n_configs = nc;
    for (size_t q = 0; q < nq && !s->bad; q++) {
        guard_get_str(s, &r->qids[q], 1);
        r->query_index[q] = (size_t)guard_get_u64(s);
    }
    if (guard_get_u64(s) != SWEEP_N_METRICS || (nq && nc > SIZE_MAX / nq)) s->bad = 1;
    if (!s->bad) r->values = guard_get_array(s, nc * nq, SWEEP_N_METRICS * sizeof *r->values);
    guard_get_meta(s, meta, 0);
    if (s->left != 0) s->bad = 1;
    if (s->bad) {
        sweep_grid_free(g);
        sweep_results_free(r);
        trace_meta_free(meta);
    }
    return !s->bad;
}

// ---- the child process ----

typedef struct {
    int is_sweep;
    const char *path;
} guard_job;

// Runs in the child: read with the plain reader, serialise the answer.
static void guard_child_answer(const guard_job *job, guard_buf *out) {
    guard_buf payload = {0};
    status st;
    if (job->is_sweep) {
        sweep_grid g;
        sweep_results r;
        trace_meta meta;
        st = sweep_read(&g, &r, &meta, job->path);
        if (st == STATUS_OK) guard_put_sweep(&payload, &g, &r, &meta);
    } else {
        trace t;
        st = trace_read(&t, job->path);
        if (st == STATUS_OK) guard_put_trace(&payload, &t);
    }
    // Nothing is freed: the process ends right after sending.
    if (st == STATUS_OK && payload.failed)
        st = status_fail(STATUS_ERR_NOMEM, "%s: out of memory while passing it to grating",
                         job->path);
    guard_put_u64(out, GUARD_MAGIC);
    guard_put_u64(out, (uint64_t)st);
    if (st != STATUS_OK) {
        guard_put_str(out, status_message());
    } else {
        guard_put_u64(out, payload.len);
        guard_put(out, payload.data, payload.len);
    }
}

static void guard_child_main(const guard_job *job, int fd, double timeout) {
    // Default actions: a crash must end this process (not run a test
    // framework's or sanitizer's handler that would carry on), and a child
    // left behind by a dead parent ends on its own.
    const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGPIPE, SIGALRM, SIGTERM};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        signal(sigs[i], SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    alarm((unsigned)timeout + 5);
    const char *debug = getenv("GRATING_H5_DEBUG");
    if (!debug || strcmp(debug, "1") != 0) {
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0) dup2(devnull, 2);
    }
    guard_buf out = {0};
    guard_child_answer(job, &out);
    const unsigned char *p = out.data;
    size_t left = out.failed ? 0 : out.len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) _exit(3);
        p += w;
        left -= (size_t)w;
    }
    // _exit: no atexit handlers (libhdf5's, LeakSanitizer's) in this process.
    _exit(out.failed ? 4 : 0);
}

// ---- the parent ----

status trace_guard_timeout(size_t bytes, double *seconds) {
    const char *env = getenv("GRATING_H5_TIMEOUT");
    if (env && *env) {
        char *end;
        double v = strtod(env, &end);
        if (*end || !(v > 0 && v <= 1e6))
            return status_fail(STATUS_ERR_ARG,
                               "GRATING_H5_TIMEOUT: expected seconds in (0, 1e6], got '%s'", env);
        *seconds = v;
        return STATUS_OK;
    }
    *seconds = 10.0 + (double)bytes / (4.0 * 1024 * 1024);
    return STATUS_OK;
}

// Waits for the child until `deadline`; kills it past that. Returns its
// wait status; *timed_out tells whether it was killed for time.
static int guard_reap(pid_t pid, double deadline, int *timed_out) {
    int ws = 0;
    for (;;) {
        pid_t got = waitpid(pid, &ws, WNOHANG);
        if (got == pid) return ws;
        if (got < 0 && errno != EINTR) return 0;
        if (clock_now_seconds() >= deadline) break;
        struct timespec nap = {0, 2000000};
        nanosleep(&nap, NULL);
    }
    *timed_out = 1;
    kill(pid, SIGKILL);
    while (waitpid(pid, &ws, 0) < 0 && errno == EINTR) {
    }
    return ws;
}

// Reads everything the child writes until EOF or the deadline (then
// *timed_out). 0 when the answer exceeds `cap` bytes or memory runs out.
static int guard_collect(int fd, double deadline, size_t cap, guard_buf *in, int *timed_out) {
    for (;;) {
        double left = deadline - clock_now_seconds();
        if (left <= 0) {
            *timed_out = 1;
            return 1;
        }
        struct pollfd pf = {.fd = fd, .events = POLLIN};
        int rc = poll(&pf, 1, left < 1e6 ? (int)(left * 1000) + 1 : 1000000000);
        if (rc < 0 && errno == EINTR) continue;
        if (rc < 0) return 0;
        if (rc == 0) continue; // the loop checks the deadline
        unsigned char chunk[65536];
        ssize_t got = read(fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) return 1; // EOF (or error): the child is done or gone
        if (in->len + (size_t)got > cap) return 0;
        guard_put(in, chunk, (size_t)got);
        if (in->failed) return 0;
    }
}

// Runs the job in a child; on success *answer holds the payload (a view
// into *in, which the caller frees).
static status guard_run(const guard_job *job, const char *what, guard_buf *in,
                        guard_stream *answer) {
    memset(in, 0, sizeof *in);
    struct stat sb;
    if (stat(job->path, &sb) != 0)
        return status_fail(STATUS_ERR_IO, "%s: cannot open: %s", job->path, strerror(errno));
    if (S_ISDIR(sb.st_mode))
        return status_fail(STATUS_ERR_IO, "%s: is a folder, expected a %s (HDF5 file)", job->path,
                           what);
    if (!S_ISREG(sb.st_mode))
        return status_fail(STATUS_ERR_IO, "%s: not a regular file, expected a %s (HDF5 file)",
                           job->path, what);
    size_t bytes = (size_t)sb.st_size;
    double timeout = 0;
    status st = trace_guard_timeout(bytes, &timeout);
    if (st != STATUS_OK) return st;
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0)
        return status_fail(STATUS_ERR_IO, "%s: cannot create a pipe to read it: %s", job->path,
                           strerror(errno));
    double deadline = clock_now_seconds() + timeout;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return status_fail(STATUS_ERR_IO, "%s: cannot start the reader process: %s", job->path,
                           strerror(errno));
    }
    if (pid == 0) {
        close(fds[0]);
        guard_child_main(job, fds[1], timeout);
    }
    close(fds[1]);
    int timed_out = 0;
    // The answer cannot be much larger than the decompressed file.
    size_t cap = ((size_t)1 << 30) + (bytes < ((size_t)1 << 40) ? bytes : ((size_t)1 << 40)) * 1024;
    int collected = guard_collect(fds[0], deadline, cap, in, &timed_out);
    close(fds[0]);
    if (!collected) {
        kill(pid, SIGKILL);
        while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
        }
        return status_fail(STATUS_ERR_NOMEM,
                           "%s: not a readable %s (its contents exceed %zu bytes or memory)",
                           job->path, what, cap);
    }
    int ws = guard_reap(pid, deadline, &timed_out);
    if (timed_out)
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: not a readable %s (libhdf5 did not finish reading it in %.0f s; "
                           "GRATING_H5_TIMEOUT=SECONDS sets the limit)",
                           job->path, what, timeout);
    if (WIFSIGNALED(ws))
        return status_fail(
            STATUS_ERR_FORMAT,
            "%s: not a readable %s (libhdf5 crashed with signal %d (%s) while reading it)",
            job->path, what, WTERMSIG(ws), strsignal(WTERMSIG(ws)));
    if (!WIFEXITED(ws) || WEXITSTATUS(ws) != 0)
        return status_fail(
            STATUS_ERR_FORMAT,
            "%s: not a readable %s (the reader process failed with exit status %d, e.g. a "
            "sanitizer report; GRATING_H5_DEBUG=1 shows its messages)",
            job->path, what, WIFEXITED(ws) ? WEXITSTATUS(ws) : -1);
    guard_stream s = {.p = in->data, .left = in->len};
    uint64_t magic = guard_get_u64(&s), code = guard_get_u64(&s);
    if (s.bad || magic != GUARD_MAGIC || code > STATUS_ERR_NUMERIC)
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: not a readable %s (the reader process gave no valid answer)",
                           job->path, what);
    if (code != STATUS_OK) {
        char *msg = NULL;
        guard_get_str(&s, &msg, 1);
        st = status_fail((status)code, "%s",
                         !s.bad && msg ? msg : "unreadable (no message from the reader)");
        free(msg);
        return st;
    }
    uint64_t len = guard_get_u64(&s);
    if (s.bad || len != s.left)
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: not a readable %s (the reader's answer is truncated)", job->path,
                           what);
    *answer = s;
    return STATUS_OK;
}

status trace_guard_read(trace *t, const char *path) {
    memset(t, 0, sizeof *t);
    guard_job job = {.is_sweep = 0, .path = path};
    guard_buf in;
    guard_stream s;
    status st = guard_run(&job, "grating trace", &in, &s);
    if (st == STATUS_OK && !guard_get_trace(&s, t))
        st = status_fail(STATUS_ERR_FORMAT,
                         "%s: not a readable grating trace (malformed answer of the reader)", path);
    free(in.data);
    if (st == STATUS_OK && (st = trace_guard_check(t, path)) != STATUS_OK) trace_free(t);
    return st;
}

status trace_guard_read_sweep(sweep_grid *g, sweep_results *r, trace_meta *meta, const char *path) {
    memset(g, 0, sizeof *g);
    memset(r, 0, sizeof *r);
    memset(meta, 0, sizeof *meta);
    guard_job job = {.is_sweep = 1, .path = path};
    guard_buf in;
    guard_stream s;
    status st = guard_run(&job, "grating sweep file", &in, &s);
    if (st == STATUS_OK && !guard_get_sweep(&s, g, r, meta))
        st = status_fail(STATUS_ERR_FORMAT,
                         "%s: not a readable grating sweep file (malformed answer of the reader)",
                         path);
    free(in.data);
    if (st == STATUS_OK && (st = trace_guard_check_sweep(g, r, path)) != STATUS_OK) {
        sweep_grid_free(g);
        sweep_results_free(r);
        trace_meta_free(meta);
    }
    return st;
}

// ---- schema checks ----

// Adds `key` to `seen`: 1 when it was already there, -1 out of memory.
static int guard_seen(strmap *seen, const char *key) {
    size_t len = strlen(key);
    int64_t v;
    if (strmap_get(seen, key, len, &v)) return 1;
    return strmap_put(seen, key, len, 0) == STATUS_OK ? 0 : -1;
}

static status guard_check_query(const trace *t, const trace_query *q, const char *path) {
    const trace_meta *m = &t->meta;
    size_t L = (size_t)m->n_layers;
    if (q->n < 1 || q->n > (size_t)m->top_n)
        return status_fail(STATUS_ERR_SHAPE,
                           "%s: query %s has %zu candidates, expected 1 to top_n = %lld", path,
                           q->qid, q->n, (long long)m->top_n);
    strmap docs;
    if (strmap_init(&docs, q->n) != STATUS_OK)
        return status_fail(STATUS_ERR_NOMEM, "%s: out of memory", path);
    status st = STATUS_OK;
    for (size_t i = 0; i < q->n && !st; i++) {
        int dup = q->doc_ids[i][0] ? guard_seen(&docs, q->doc_ids[i]) : 2;
        if (dup == 2)
            st = status_fail(STATUS_ERR_FORMAT, "%s: query %s: candidate %zu has an empty doc id",
                             path, q->qid, i);
        else if (dup == 1)
            st = status_fail(STATUS_ERR_FORMAT, "%s: query %s: doc id '%s' appears twice", path,
                             q->qid, q->doc_ids[i]);
        else if (dup < 0)
            st = status_fail(STATUS_ERR_NOMEM, "%s: out of memory", path);
    }
    strmap_free(&docs);
    if (st) return st;
    for (size_t l = 0; l <= L; l++)
        for (size_t i = 0; i < q->n; i++)
            if (!isfinite(q->scores[l * q->n + i])) // scores: (L + 1, n)
                return status_fail(STATUS_ERR_NUMERIC,
                                   "%s: query %s: score of candidate %zu (%s) after layer %zu is "
                                   "%g, expected a finite number",
                                   path, q->qid, i, q->doc_ids[i], l,
                                   (double)q->scores[l * q->n + i]);
    for (size_t i = 0; i < q->n; i++) {
        if (q->tokens[i] < 1 || (int64_t)q->tokens[i] > m->max_len)
            return status_fail(
                STATUS_ERR_FORMAT,
                "%s: query %s: candidate %zu (%s) has %d tokens, expected 1 to max_len = %lld",
                path, q->qid, i, q->doc_ids[i], (int)q->tokens[i], (long long)m->max_len);
        if (!isfinite(q->first_stage[i]))
            return status_fail(STATUS_ERR_NUMERIC,
                               "%s: query %s: first-stage score of candidate %zu (%s) is %g, "
                               "expected a finite number",
                               path, q->qid, i, q->doc_ids[i], (double)q->first_stage[i]);
    }
    for (size_t l = 0; l < L; l++)
        if (!(isfinite(q->layer_seconds[l]) && q->layer_seconds[l] >= 0))
            return status_fail(
                STATUS_ERR_NUMERIC,
                "%s: query %s: layer_seconds[%zu] is %g, expected a finite time >= 0", path, q->qid,
                l, q->layer_seconds[l]);
    if (!(isfinite(q->embed_seconds) && q->embed_seconds >= 0 && isfinite(q->score_seconds) &&
          q->score_seconds >= 0))
        return status_fail(
            STATUS_ERR_NUMERIC,
            "%s: query %s: embed_seconds %g / score_seconds %g, expected finite times >= 0", path,
            q->qid, q->embed_seconds, q->score_seconds);
    return STATUS_OK;
}

status trace_guard_check(const trace *t, const char *path) {
    const trace_meta *m = &t->meta;
    const struct {
        const char *name;
        int64_t value, max;
    } sizes[] = {{"n_layers", m->n_layers, 1000},
                 {"hidden_size", m->hidden_size, (int64_t)1 << 20},
                 {"intermediate_size", m->intermediate_size, (int64_t)1 << 22},
                 {"max_len", m->max_len, (int64_t)1 << 24},
                 {"top_n", m->top_n, (int64_t)1 << 24}};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        if (sizes[i].value < 1 || sizes[i].value > sizes[i].max)
            return status_fail(STATUS_ERR_FORMAT, "%s: attribute '%s' is %lld, expected 1 to %lld",
                               path, sizes[i].name, (long long)sizes[i].value,
                               (long long)sizes[i].max);
    if (t->n_queries == 0)
        return status_fail(STATUS_ERR_FORMAT, "%s: the trace has no queries", path);
    strmap qids;
    if (strmap_init(&qids, t->n_queries) != STATUS_OK)
        return status_fail(STATUS_ERR_NOMEM, "%s: out of memory", path);
    status st = STATUS_OK;
    for (size_t i = 0; i < t->n_queries && !st; i++) {
        const trace_query *q = &t->queries[i];
        int dup = q->qid[0] ? guard_seen(&qids, q->qid) : 2;
        if (dup == 2)
            st = status_fail(STATUS_ERR_FORMAT, "%s: query %zu has an empty id", path, i);
        else if (dup == 1)
            st = status_fail(STATUS_ERR_FORMAT, "%s: query id '%s' appears twice", path, q->qid);
        else if (dup < 0)
            st = status_fail(STATUS_ERR_NOMEM, "%s: out of memory", path);
        else
            st = guard_check_query(t, q, path);
    }
    strmap_free(&qids);
    return st;
}

status trace_guard_check_sweep(const sweep_grid *g, const sweep_results *r, const char *path) {
    if (g->n_configs == 0 || r->n_configs != g->n_configs)
        return status_fail(STATUS_ERR_FORMAT,
                           "%s: %zu configurations (%zu result rows), expected at least one", path,
                           g->n_configs, r->n_configs);
    for (size_t c = 0; c < g->n_configs; c++) {
        const sweep_config *cf = &g->configs[c];
        if (!cf->policy[0] || cf->k < 1 || cf->k > ((size_t)1 << 24) ||
            cf->chunk > ((size_t)1 << 24))
            return status_fail(STATUS_ERR_FORMAT,
                               "%s: configuration %zu: policy '%s', k %zu, chunk %zu; expected a "
                               "policy name, 1 <= k and chunk <= 2^24",
                               path, c, cf->policy, cf->k, cf->chunk);
    }
    strmap seen;
    if (strmap_init(&seen, r->n_queries) != STATUS_OK)
        return status_fail(STATUS_ERR_NOMEM, "%s: out of memory", path);
    status st = STATUS_OK;
    for (size_t q = 0; q < r->n_queries && !st; q++) {
        char key[32];
        snprintf(key, sizeof key, "%zu", r->query_index[q]);
        int dup = r->query_index[q] > ((size_t)1 << 40) ? 2 : guard_seen(&seen, key);
        if (dup == 2)
            st = status_fail(STATUS_ERR_FORMAT, "%s: query %s: query_index %zu out of range", path,
                             r->qids[q], r->query_index[q]);
        else if (dup == 1)
            st = status_fail(STATUS_ERR_FORMAT, "%s: query %s: query_index %zu appears twice", path,
                             r->qids[q], r->query_index[q]);
        else if (dup < 0)
            st = status_fail(STATUS_ERR_NOMEM, "%s: out of memory", path);
    }
    strmap_free(&seen);
    if (st) return st;
    static const int need_finite[] = {SWEEP_PRECISION,  SWEEP_FRACTION, SWEEP_FLOPS,
                                      SWEEP_FLOPS_FULL, SWEEP_LATENCY,  SWEEP_LATENCY_FULL,
                                      SWEEP_PEAK_BYTES};
    for (int m = 0; m < SWEEP_N_METRICS; m++) {
        int finite = 0;
        for (size_t i = 0; i < sizeof need_finite / sizeof need_finite[0]; i++)
            finite |= need_finite[i] == m;
        for (size_t c = 0; c < r->n_configs; c++)
            for (size_t q = 0; q < r->n_queries; q++) {
                double v = *sweep_value(r, m, c, q);
                if (isinf(v) || (finite && isnan(v)))
                    return status_fail(
                        STATUS_ERR_NUMERIC,
                        "%s: per_query/%s of configuration %zu, query %s is %g, expected %s", path,
                        sweep_metric_names[m], c, r->qids[q], v,
                        finite ? "a finite number" : "a finite number or NaN (no label)");
            }
    }
    return STATUS_OK;
}
