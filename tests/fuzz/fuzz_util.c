// fuzz_util.c - temporary files and input splitting for the harnesses.
#include "fuzz_util.h"
#include "base/status.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char fuzz_root[4096];
static char fuzz_path[8192];

// Removes the private folder and one level of sub-folders.
static void fuzz_cleanup(void) {
    DIR *d = opendir(fuzz_root);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char sub[8192];
        snprintf(sub, sizeof sub, "%s/%s", fuzz_root, e->d_name);
        DIR *s = opendir(sub);
        if (s) {
            struct dirent *f;
            while ((f = readdir(s)) != NULL) {
                if (strcmp(f->d_name, ".") == 0 || strcmp(f->d_name, "..") == 0) continue;
                char leaf[12288];
                snprintf(leaf, sizeof leaf, "%s/%s", sub, f->d_name);
                unlink(leaf);
            }
            closedir(s);
            rmdir(sub);
        } else {
            unlink(sub);
        }
    }
    closedir(d);
    rmdir(fuzz_root);
}

const char *fuzz_dir(void) {
    if (fuzz_root[0]) return fuzz_root;
    struct stat st;
    const char *base = getenv("GRATING_FUZZ_TMPDIR");
    if (!base && stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0)
        base = "/dev/shm";
    if (!base) base = getenv("TMPDIR");
    if (!base) base = "/tmp";
    snprintf(fuzz_root, sizeof fuzz_root, "%s/grating-fuzz-XXXXXX", base);
    if (!mkdtemp(fuzz_root)) {
        fprintf(stderr, "fuzz: cannot create a folder in %s: %s\n", base, strerror(errno));
        abort();
    }
    atexit(fuzz_cleanup);
    return fuzz_root;
}

const char *fuzz_write(const char *name, const uint8_t *data, size_t size) {
    const char *slash = strchr(name, '/');
    if (slash) {
        snprintf(fuzz_path, sizeof fuzz_path, "%s/%.*s", fuzz_dir(), (int)(slash - name), name);
        if (mkdir(fuzz_path, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "fuzz: cannot create %s: %s\n", fuzz_path, strerror(errno));
            abort();
        }
    }
    snprintf(fuzz_path, sizeof fuzz_path, "%s/%s", fuzz_dir(), name);
    int fd = open(fuzz_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        fprintf(stderr, "fuzz: cannot create %s: %s\n", fuzz_path, strerror(errno));
        abort();
    }
    size_t done = 0;
    while (done < size) {
        ssize_t w = write(fd, data + done, size - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            fprintf(stderr, "fuzz: cannot write %s: %s\n", fuzz_path, strerror(errno));
            abort();
        }
        done += (size_t)w;
    }
    close(fd);
    return fuzz_path;
}

void fuzz_remove(const char *name) {
    char path[8192];
    snprintf(path, sizeof path, "%s/%s", fuzz_dir(), name);
    unlink(path);
}

size_t fuzz_split(const uint8_t *data, size_t size, fuzz_part *parts, size_t max_parts) {
    const size_t sep_len = strlen(FUZZ_SEPARATOR);
    size_t n = 0, start = 0;
    while (n + 1 < max_parts) {
        const uint8_t *hit = NULL;
        if (size - start >= sep_len)
            hit = memmem(data + start, size - start, FUZZ_SEPARATOR, sep_len);
        if (!hit) break;
        size_t at = (size_t)(hit - data);
        parts[n].data = data + start;
        parts[n].size = at - start;
        n++;
        start = at + sep_len;
    }
    parts[n].data = data + start;
    parts[n].size = size - start;
    return n + 1;
}

char *fuzz_strndup(const uint8_t *data, size_t size) {
    char *s = malloc(size + 1);
    if (!s) abort();
    if (size) memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

int fuzz_note(int st, const char *what) {
    static int verbose = -1;
    if (verbose < 0) verbose = getenv("GRATING_FUZZ_VERBOSE") != NULL;
    if (verbose && st != STATUS_OK) fprintf(stderr, "fuzz: %s: %s\n", what, status_message());
    return st;
}
