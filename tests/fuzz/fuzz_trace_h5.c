// fuzz_trace_h5.c - core/analysis/trace.c trace_read on raw file bytes: the input is
// the .h5 file itself. This reaches libhdf5's own parsers, which crash, hang
// or leak on some corrupt files (libhdf5 1.10.8; ../shared/repros/trace-hdf5-*).
// Such crashes are libhdf5's, not grating's: tests/fuzz/run.sh classifies a
// crash whose first frame outside the sanitizer runtime is in libhdf5 as
// "known libhdf5" and does not fail on it (README.md). fuzz_trace covers
// grating's validation on well-formed HDF5.
#include "fuzz_util.h"
#include "analysis/trace.h"

#include <hdf5.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("trace.h5", data, size);
    trace t;
    if (fuzz_note(trace_read(&t, path), "trace_read") == STATUS_OK) trace_free(&t);
    ssize_t open = H5Fget_obj_count(H5F_OBJ_ALL, H5F_OBJ_ALL);
    if (open > 0) {
        fprintf(stderr, "fuzz_trace_h5: %zd HDF5 objects left open by trace_read\n", open);
        abort();
    }
    return 0;
}
