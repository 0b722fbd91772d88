/*
 * fs_staged.h - writing a whole output folder atomically: everything goes
 * into OUT.tmp-XXXXXX next to OUT (missing parents of OUT created first),
 * which is renamed to OUT only when complete, so a crashed or failed run
 * never leaves a folder that looks like a finished model. An existing OUT
 * is refused unless it is empty or `force` is set (then it is replaced; the
 * old folder is removed only after the new one is in place).
 *
 *     fs_staged_dir d;
 *     if ((st = fs_staged_dir_begin(&d, "out/model", force))) return st;
 *     ... write files into d.tmp ...
 *     if (st == STATUS_OK) st = fs_staged_dir_commit(&d);
 *     fs_staged_dir_free(&d); // removes d.tmp unless committed
 */
#ifndef GRATING_FS_STAGED_H
#define GRATING_FS_STAGED_H

#include "base/status.h"

typedef struct {
    char *out;  // the final folder (trailing '/' removed)
    char *tmp;  // the temporary folder being written
    int exists; // OUT existed at begin
    int committed;
} fs_staged_dir;

status fs_staged_dir_begin(fs_staged_dir *d, const char *out_dir, int force);
status fs_staged_dir_commit(fs_staged_dir *d);
void fs_staged_dir_free(fs_staged_dir *d);

// "DIR/NAME", mem_alloc'd (NULL when out of memory).
char *fs_join(const char *dir, const char *name);

// Copies a file byte for byte (dst created or truncated, mode 0644).
status fs_copy_file(const char *src, const char *dst);

// Removes a folder and everything in it (best effort).
void fs_remove_tree(const char *path);

// 1 when dir has entries besides . and .. (or cannot be read).
int fs_dir_nonempty(const char *dir);

#endif
