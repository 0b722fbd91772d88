/*
 * testutil.h - helpers shared by the cmocka tests.
 *
 *     #include "testutil.h"
 *     static void test_x(void **state) {
 *         const char *dir = testutil_shared_path("models/scifact-minibert-demo");
 *         if (!dir) { skip(); }   // message already printed
 *         char *tmp = testutil_tmpdir();   // removed by testutil_rmtree(tmp)
 *     }
 */
#ifndef GRATING_TESTUTIL_H
#define GRATING_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

// Absolute path of `rel` under the shared data folder, or NULL (with a
// "SKIP: ... absent" line on stderr) when it does not exist. Static buffer
// rotated over 8 slots. GRATING_SHARED (env) overrides the build-time path.
const char *testutil_shared_path(const char *rel);

// Path of `rel` under the source tree (tests/golden/..., tests/data/...).
const char *testutil_source_path(const char *rel);

// A fresh temporary directory (malloc'd path); testutil_rmtree removes it.
char *testutil_tmpdir(void);
void testutil_rmtree(const char *path);

// Writes `len` bytes to path (asserts success).
void testutil_write_file(const char *path, const void *data, size_t len);

// Runs the grating CLI with argv (NULL-terminated, without program name);
// captures stdout and stderr into malloc'd strings (may pass NULL to drop).
// Returns the exit status.
int testutil_run_grating(const char *const *args, char **out, char **err);

#endif
