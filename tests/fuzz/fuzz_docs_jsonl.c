// fuzz_docs_jsonl.c - datasets/docs_jsonl.c: the input is one candidates
// JSONL file (`grating score --docs`).
#include "docs_jsonl.h"
#include "fuzz_util.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fuzz_write("docs.jsonl", data, size);
    doc_list docs;
    if (fuzz_note(doc_list_read_jsonl(&docs, path), "doc_list_read_jsonl") != STATUS_OK) return 0;
    // What a successful read promises: at least one document, every field set.
    if (docs.n == 0) abort();
    for (size_t i = 0; i < docs.n; i++)
        if (!docs.items[i].id || !docs.items[i].text) abort();
    doc_list_free(&docs);
    return 0;
}
