#include "base/fsutil.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

status fs_make_parent_dirs(const char *path) {
    size_t len = strlen(path);
    char *buf = malloc(len + 1);
    if (!buf) return status_fail(STATUS_ERR_NOMEM, "%s: out of memory", path);
    memcpy(buf, path, len + 1);
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf) {
        free(buf);
        return STATUS_OK;
    }
    *slash = '\0';
    // Create each prefix in turn; an existing folder is fine, a file is not.
    for (char *p = buf + 1;; p++) {
        if (*p != '/' && *p != '\0') continue;
        char saved = *p;
        *p = '\0';
        struct stat sb;
        if (stat(buf, &sb) == 0) {
            if (!S_ISDIR(sb.st_mode)) {
                status st = status_fail(STATUS_ERR_IO,
                                        "%s: cannot create the folder for %s: %s is not a folder",
                                        path, path, buf);
                free(buf);
                return st;
            }
        } else if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
            status st = status_fail(STATUS_ERR_IO, "%s: cannot create the missing folder %s: %s",
                                    path, buf, strerror(errno));
            free(buf);
            return st;
        }
        *p = saved;
        if (saved == '\0') break;
    }
    free(buf);
    return STATUS_OK;
}

int fs_exists(const char *path) {
    struct stat sb;
    return lstat(path, &sb) == 0;
}

status fs_output_prepare(const char *path, int force) {
    if (!path || !*path) return status_fail(STATUS_ERR_ARG, "empty output path");
    if (!force && fs_exists(path))
        return status_fail(STATUS_ERR_ARG, "%s exists; pass --force to replace it", path);
    return fs_make_parent_dirs(path);
}
