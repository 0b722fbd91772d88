// fuzz_beir.c - datasets/beir.c (and trec_run_resolve): a BEIR folder.
// Input: corpus.jsonl SEP queries.jsonl [SEP qrels/test.tsv [SEP run.trec]]
// (SEP = FUZZ_SEPARATOR). The folder is opened (with the split when there is
// a qrels part; unknown ids are retried with BEIR_QRELS_SKIP_UNKNOWN), every
// document is fetched, the judgements are looked up, and a run part is read
// and resolved against the dataset.
#include "beir.h"
#include "fuzz_util.h"
#include "trec.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_beir_use(beir_dataset *ds) {
    for (size_t d = 0; d < ds->n_docs; d++) {
        const char *id = beir_doc_id(ds, d);
        size_t back;
        if (!id || !beir_doc_find(ds, id, &back) || back != d) abort();
        char *text;
        if (beir_doc_text(ds, d, &text) == STATUS_OK) free(text);
    }
    char *text;
    if (beir_doc_fetch(ds, "no such document", &text) == STATUS_OK) abort();
    for (size_t q = 0; q < ds->n_queries; q++) {
        size_t back;
        if (!beir_query_find(ds, ds->query_ids[q], &back) || back != q || !ds->query_texts[q])
            abort();
        size_t n;
        const beir_qrel *judged = beir_query_qrels(ds, q, &n);
        for (size_t i = 0; i < n; i++) {
            int rel;
            if (judged[i].doc >= ds->n_docs || !beir_qrel_find(ds, q, judged[i].doc, &rel) ||
                rel != judged[i].relevance)
                abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_part parts[4];
    size_t n = fuzz_split(data, size, parts, 4);
    fuzz_remove("corpus.jsonl");
    fuzz_remove("queries.jsonl");
    fuzz_remove("qrels/test.tsv");
    fuzz_write("corpus.jsonl", parts[0].data, parts[0].size);
    if (n > 1) fuzz_write("queries.jsonl", parts[1].data, parts[1].size);
    if (n > 2) fuzz_write("qrels/test.tsv", parts[2].data, parts[2].size);
    const char *split = n > 2 ? "test" : NULL;
    beir_dataset ds;
    status st = beir_open(&ds, fuzz_dir(), split, 0);
    if (st != STATUS_OK && split) st = beir_open(&ds, fuzz_dir(), split, BEIR_QRELS_SKIP_UNKNOWN);
    if (fuzz_note(st, "beir_open") != STATUS_OK) return 0;
    if (split && !beir_split_exists(&ds, split)) abort();
    fuzz_beir_use(&ds);
    if (n > 3) {
        trec_run run;
        const char *path = fuzz_write("run.trec", parts[3].data, parts[3].size);
        if (trec_run_read(&run, path) == STATUS_OK) {
            if (fuzz_note(trec_run_resolve(&run, &ds), "trec_run_resolve") == STATUS_OK)
                for (size_t c = 0; c < run.n_cands; c++)
                    if (run.cands[c].doc >= ds.n_docs) abort();
            trec_run_free(&run);
        }
    }
    beir_close(&ds);
    return 0;
}
