// fuzz_beir_qrels.c - datasets/beir.c qrels reading: the input is
// qrels/test.tsv of a fixed small BEIR folder (documents d1..d4, queries
// q1..q3). Loaded strictly, then with BEIR_QRELS_SKIP_UNKNOWN, then
// reloaded over the first load.
#include "beir.h"
#include "fuzz_util.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char corpus[] = "{\"_id\": \"d1\", \"title\": \"A\", \"text\": \"one\"}\n"
                             "{\"_id\": \"d2\", \"text\": \"two\"}\n"
                             "{\"_id\": \"d3\", \"title\": \"\", \"text\": \"three\"}\n"
                             "{\"_id\": \"d4\", \"text\": \"four\"}\n";
static const char queries[] = "{\"_id\": \"q1\", \"text\": \"first\"}\n"
                              "{\"_id\": \"q2\", \"text\": \"second\"}\n"
                              "{\"_id\": \"q3\", \"text\": \"third\"}\n";

static void fuzz_check_qrels(const beir_dataset *ds) {
    size_t total = 0, judged_queries = 0;
    for (size_t q = 0; q < ds->n_queries; q++) {
        size_t n;
        const beir_qrel *judged = beir_query_qrels(ds, q, &n);
        total += n;
        judged_queries += n > 0;
        for (size_t i = 0; i < n; i++) {
            int rel;
            if (judged[i].doc >= ds->n_docs || !beir_qrel_find(ds, q, judged[i].doc, &rel) ||
                rel != judged[i].relevance)
                abort();
        }
    }
    if (total != ds->n_qrels || judged_queries != ds->n_judged_queries) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    if (!ready) {
        fuzz_write("corpus.jsonl", (const uint8_t *)corpus, sizeof corpus - 1);
        fuzz_write("queries.jsonl", (const uint8_t *)queries, sizeof queries - 1);
        ready = 1;
    }
    fuzz_write("qrels/test.tsv", data, size);
    beir_dataset ds;
    if (beir_open(&ds, fuzz_dir(), NULL, 0) != STATUS_OK) abort(); // the fixed folder is valid
    for (unsigned flags = 0; flags <= BEIR_QRELS_SKIP_UNKNOWN; flags += BEIR_QRELS_SKIP_UNKNOWN) {
        if (fuzz_note(beir_qrels_load(&ds, "test", flags), "beir_qrels_load") == STATUS_OK) {
            fuzz_check_qrels(&ds);
            if (beir_qrels_load(&ds, "test", flags) != STATUS_OK) abort(); // same file: same result
            fuzz_check_qrels(&ds);
        } else if (ds.qrels_path || ds.n_qrels) {
            abort(); // a failed load leaves no labels
        }
    }
    beir_close(&ds);
    return 0;
}
