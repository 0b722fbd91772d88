#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *testutil_rotate(const char *a, const char *b) {
    static char slots[8][4096];
    static int next;
    char *s = slots[next++ % 8];
    snprintf(s, sizeof slots[0], "%s/%s", a, b);
    return s;
}

const char *testutil_shared_path(const char *rel) {
    const char *root = getenv("GRATING_SHARED");
    if (!root || !*root) root = GRATING_SHARED_DIR;
    const char *p = testutil_rotate(root, rel);
    struct stat sb;
    if (stat(p, &sb) != 0) {
        fprintf(stderr, "SKIP: %s is absent (shared data not available)\n", p);
        return NULL;
    }
    return p;
}

const char *testutil_source_path(const char *rel) {
    return testutil_rotate(GRATING_SOURCE_DIR, rel);
}

char *testutil_tmpdir(void) {
    const char *base = getenv("TMPDIR");
    char tmpl[4096];
    snprintf(tmpl, sizeof tmpl, "%s/grating-test-XXXXXX", base && *base ? base : "/tmp");
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

void testutil_rmtree(const char *path) {
    if (!path || !*path || strstr(path, "grating-test-") == NULL) return;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
    int rc = system(cmd);
    (void)rc;
}

void testutil_write_file(const char *path, const void *data, size_t len) {
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static char *testutil_slurp_fd(int fd) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (;;) {
        if (n + 1 >= cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
        ssize_t got = read(fd, buf + n, cap - n - 1);
        if (got <= 0) break;
        n += (size_t)got;
    }
    buf[n] = '\0';
    return buf;
}

int testutil_run_grating(const char *const *args, char **out, char **err) {
    char out_path[] = "/tmp/grating-test-outXXXXXX";
    char err_path[] = "/tmp/grating-test-errXXXXXX";
    int out_fd = mkstemp(out_path);
    int err_fd = mkstemp(err_path);
    assert_true(out_fd >= 0 && err_fd >= 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(out_fd, 1);
        dup2(err_fd, 2);
        size_t n = 0;
        while (args[n]) n++;
        char **argv = calloc(n + 2, sizeof *argv);
        argv[0] = (char *)GRATING_BINARY;
        for (size_t i = 0; i < n; i++) argv[i + 1] = (char *)args[i];
        execv(GRATING_BINARY, argv);
        _exit(127);
    }
    int wstatus = 0;
    waitpid(pid, &wstatus, 0);
    lseek(out_fd, 0, SEEK_SET);
    lseek(err_fd, 0, SEEK_SET);
    char *o = testutil_slurp_fd(out_fd);
    char *e = testutil_slurp_fd(err_fd);
    close(out_fd);
    close(err_fd);
    unlink(out_path);
    unlink(err_path);
    if (out) *out = o; else free(o);
    if (err) *err = e; else free(e);
    if (WIFEXITED(wstatus)) return WEXITSTATUS(wstatus);
    return 128 + (WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0);
}

// The yes/no tokenizer: impl = int32_t[2] {yes, no}.
static void testutil_yn_close(tokenizer *t) {
    free(t->impl);
    t->impl = NULL;
}

static status testutil_yn_encode(const tokenizer *t, const char *first, size_t first_len,
                                 const char *second, size_t second_len, size_t max_len,
                                 tokenizer_encoding *enc) {
    (void)t, (void)first, (void)first_len, (void)second, (void)second_len, (void)max_len;
    (void)enc;
    return status_fail(STATUS_ERR_UNSUPPORTED, "the tests' yes/no tokenizer encodes nothing");
}

static int testutil_yn_token_to_id(const tokenizer *t, const char *token, int32_t *id) {
    const int32_t *ids = t->impl;
    if (strcmp(token, "yes") == 0) return *id = ids[0], 1;
    if (strcmp(token, "no") == 0) return *id = ids[1], 1;
    return 0;
}

static const char *testutil_yn_id_to_token(const tokenizer *t, int32_t id) {
    const int32_t *ids = t->impl;
    return id == ids[0] ? "yes" : id == ids[1] ? "no" : NULL;
}

static const tokenizer_ops testutil_yn_ops = {
    .name = "tests-yes-no",
    .open = NULL,
    .close = testutil_yn_close,
    .encode_pair = testutil_yn_encode,
    .token_to_id = testutil_yn_token_to_id,
    .id_to_token = testutil_yn_id_to_token,
    .default_max_len = 512,
    .has_token_types = 0,
};

void testutil_yes_no_tokenizer(tokenizer *t, int32_t yes_id, int32_t no_id) {
    memset(t, 0, sizeof *t);
    int32_t *ids = malloc(2 * sizeof *ids);
    assert_non_null(ids);
    ids[0] = yes_id;
    ids[1] = no_id;
    t->ops = &testutil_yn_ops;
    t->source = "tests-yes-no";
    t->vocab_size = 0;
    t->impl = ids;
}

status testutil_open_yes_no(reranker *r, const char *dir, int32_t yes_id, int32_t no_id,
                            int resident_layers, size_t embed_cache_rows) {
    memset(r, 0, sizeof *r);
    testutil_yes_no_tokenizer(&r->tok, yes_id, no_id);
    arch_model_options o = {.resident_layers = resident_layers,
                            .embed_cache_rows = embed_cache_rows};
    status st = arch_model_open(&r->model, dir, &o, &r->tok);
    if (st != STATUS_OK) {
        tokenizer_close(&r->tok);
        memset(r, 0, sizeof *r);
        return st;
    }
    r->cfg = r->model.cfg;
    r->tokenizer_source = r->tok.source;
    return STATUS_OK;
}
