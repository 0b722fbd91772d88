#include "base/fs_staged.h"

#include "base/fsutil.h"
#include "base/mem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *fs_join(const char *dir, const char *name) {
    size_t d = strlen(dir), n = strlen(name);
    char *p = mem_alloc(MEM_OTHER, d + n + 2);
    if (!p) return NULL;
    memcpy(p, dir, d);
    p[d] = '/';
    memcpy(p + d + 1, name, n + 1);
    return p;
}

status fs_copy_file(const char *src, const char *dst) {
    enum { CHUNK = 1 << 16 };
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) return status_fail(STATUS_ERR_IO, "%s: cannot open: %s", src, strerror(errno));
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        close(in);
        return status_fail(STATUS_ERR_IO, "%s: cannot create: %s", dst, strerror(errno));
    }
    status st = STATUS_OK;
    char *buf = mem_alloc(MEM_OTHER, CHUNK);
    if (!buf) st = status_wrap(STATUS_ERR_NOMEM, "copying %s", src);
    while (st == STATUS_OK) {
        ssize_t got = read(in, buf, CHUNK);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            st = status_fail(STATUS_ERR_IO, "%s: read error: %s", src, strerror(errno));
            break;
        }
        if (got == 0) break;
        for (ssize_t done = 0; done < got;) {
            ssize_t put = write(out, buf + done, (size_t)(got - done));
            if (put < 0 && errno == EINTR) continue;
            if (put < 0) {
                st = status_fail(STATUS_ERR_IO, "%s: write failed: %s", dst, strerror(errno));
                break;
            }
            done += put;
        }
    }
    mem_free(buf);
    close(in);
    if (close(out) != 0 && st == STATUS_OK)
        st = status_fail(STATUS_ERR_IO, "%s: close failed: %s", dst, strerror(errno));
    return st;
}

static int fs_remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
    (void)sb;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

void fs_remove_tree(const char *path) {
    nftw(path, fs_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int fs_dir_nonempty(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return 1;
    int found = 0;
    struct dirent *e;
    while (!found && (e = readdir(d)))
        found = strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return found;
}

void fs_staged_dir_free(fs_staged_dir *d) {
    if (d->tmp && !d->committed) fs_remove_tree(d->tmp);
    mem_free(d->tmp);
    mem_free(d->out);
    memset(d, 0, sizeof *d);
}

status fs_staged_dir_begin(fs_staged_dir *d, const char *out_dir, int force) {
    memset(d, 0, sizeof *d);
    if (!out_dir || !*out_dir) return status_fail(STATUS_ERR_ARG, "an output folder is needed");
    struct stat sb;
    d->exists = stat(out_dir, &sb) == 0;
    if (d->exists && !S_ISDIR(sb.st_mode))
        return status_fail(STATUS_ERR_ARG, "%s: exists and is not a directory", out_dir);
    if (d->exists && !force && fs_dir_nonempty(out_dir))
        return status_fail(STATUS_ERR_ARG,
                           "%s: exists and is not empty (use --force to replace it)", out_dir);
    size_t n = strlen(out_dir);
    while (n > 1 && out_dir[n - 1] == '/')
        n--;
    d->out = mem_alloc(MEM_OTHER, n + 1);
    char *tmp = mem_alloc(MEM_OTHER, n + 16);
    if (!d->out || !tmp) {
        mem_free(tmp);
        fs_staged_dir_free(d);
        return status_wrap(STATUS_ERR_NOMEM, "%s", out_dir);
    }
    memcpy(d->out, out_dir, n);
    d->out[n] = '\0';
    snprintf(tmp, n + 16, "%s.tmp-XXXXXX", d->out);
    status st = fs_make_parent_dirs(d->out); // a fresh clone has no results/models/
    if (st == STATUS_OK && !mkdtemp(tmp))
        st = status_fail(STATUS_ERR_IO, "%s: cannot create a temporary folder next to it: %s",
                         d->out, strerror(errno));
    if (st != STATUS_OK) {
        mem_free(tmp);
        fs_staged_dir_free(d);
        return st;
    }
    d->tmp = tmp;
    // mkdtemp makes it 0700; give the folder the mode mkdir would (umask).
    mode_t mask = umask(022);
    umask(mask);
    chmod(d->tmp, 0777 & ~mask);
    return STATUS_OK;
}

status fs_staged_dir_commit(fs_staged_dir *d) {
    if (!d->exists || !fs_dir_nonempty(d->out)) {
        // rename(2) replaces an empty directory.
        if (rename(d->tmp, d->out) != 0)
            return status_fail(STATUS_ERR_IO, "%s: cannot rename to %s: %s", d->tmp, d->out,
                               strerror(errno));
        d->committed = 1;
        return STATUS_OK;
    }
    size_t n = strlen(d->out);
    char *old = mem_alloc(MEM_OTHER, n + 16);
    if (!old) return status_wrap(STATUS_ERR_NOMEM, "%s", d->out);
    snprintf(old, n + 16, "%s.old-XXXXXX", d->out);
    status st = STATUS_OK;
    // Reserve a unique name, then move the old folder onto it.
    if (!mkdtemp(old) || rename(d->out, old) != 0) {
        st = status_fail(STATUS_ERR_IO, "%s: cannot move the old folder aside: %s", d->out,
                         strerror(errno));
    } else if (rename(d->tmp, d->out) != 0) {
        st = status_fail(STATUS_ERR_IO, "%s: cannot rename to %s: %s", d->tmp, d->out,
                         strerror(errno));
        rename(old, d->out); // put the old one back
    } else {
        d->committed = 1;
        fs_remove_tree(old);
    }
    mem_free(old);
    return st;
}
