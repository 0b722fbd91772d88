/*
 * fsutil.h - small file-system helpers shared by every command that writes.
 *
 * Outputs are written to a temporary name and renamed into place; before that
 * a command makes sure the folder exists (creating missing parents, like
 * `mkdir -p`) and that it does not silently replace an existing output.
 *
 *     if ((st = fs_output_prepare(out, force))) return st; // exists? parents?
 *     ... write out.tmp ..., then rename(out.tmp, out)
 */
#ifndef GRATING_FSUTIL_H
#define GRATING_FSUTIL_H

#include "base/status.h"

// Creates every missing folder above `path` (the last component is not
// created). Fails naming the folder that could not be made and why.
status fs_make_parent_dirs(const char *path);

// 1 when something (file or folder) exists at `path`.
int fs_exists(const char *path);

// Prepares `path` as an output: refuses an existing file or folder unless
// `force` ("PATH exists; pass --force to replace it"), then creates missing
// parent folders.
status fs_output_prepare(const char *path, int force);

#endif
