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

#include "engine/reranker.h"
#include "tokenize/tokenizer.h"

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

// A tokenizer whose whole vocabulary is "yes" -> yes_id and "no" -> no_id
// (ids as given, even out of any vocabulary), for models opened without
// tokenizer files (a Qwen3 family reads its yes/no ids from the tokenizer).
// It encodes nothing (encode_pair fails). tokenizer_close(t) frees it.
void testutil_yes_no_tokenizer(tokenizer *t, int32_t yes_id, int32_t no_id);

// Opens the model of folder dir as a reranker without its tokenizer files:
// arch_model_open with testutil_yes_no_tokenizer(yes_id, no_id) (r->tok),
// r->cfg = the model's config. resident_layers / embed_cache_rows as in
// reranker_options. On failure nothing needs closing; reranker_close(r)
// closes it.
status testutil_open_yes_no(reranker *r, const char *dir, int32_t yes_id, int32_t no_id,
                            int resident_layers, size_t embed_cache_rows);

#endif
