/*
 * fuzz_util.h - shared helpers of the libFuzzer harnesses (tests/fuzz/).
 *
 * Most loaders take a path, so each run writes the fuzz input to a file in a
 * private folder of this process on tmpfs (/dev/shm when it exists, else
 * $TMPDIR or /tmp), created on first use and removed at exit:
 *
 *     const char *path = fuzz_write("config.json", data, size);
 *     model_config cfg;
 *     (void)model_config_load(&cfg, path);
 *
 * Inputs that stand for several files (a model folder, a BEIR folder) are cut
 * at FUZZ_SEPARATOR lines with fuzz_split(); see README.md for each format.
 */
#ifndef GRATING_FUZZ_UTIL_H
#define GRATING_FUZZ_UTIL_H
#include <stddef.h>
#include <stdint.h>

// The line that separates the files of a multi-file input.
#define FUZZ_SEPARATOR "\n====\n"

// One piece of an input (points into the input, not NUL-terminated).
typedef struct {
    const uint8_t *data;
    size_t size;
} fuzz_part;

// The private folder of this process (created on first call; aborts when it
// cannot be created, since no run would mean anything then).
const char *fuzz_dir(void);

// Writes data to fuzz_dir()/name (replacing it; name may contain one level
// of sub-folder, created as needed) and returns the full path, valid until
// the next call.
const char *fuzz_write(const char *name, const uint8_t *data, size_t size);

// Removes fuzz_dir()/name if it exists (a file left from the previous run).
void fuzz_remove(const char *name);

// Cuts data at the first max_parts - 1 FUZZ_SEPARATORs; the last part holds
// the rest (separators included). Returns the number of parts (>= 1).
size_t fuzz_split(const uint8_t *data, size_t size, fuzz_part *parts, size_t max_parts);

// Returns st. With GRATING_FUZZ_VERBOSE set in the environment, prints
// "fuzz: WHAT: <status message>" when st is not STATUS_OK (to see why an input
// is rejected, e.g. a seed that should load).
int fuzz_note(int st, const char *what);

// A NUL-terminated copy of data (malloc'd; aborts when out of memory).
char *fuzz_strndup(const uint8_t *data, size_t size);
#endif
