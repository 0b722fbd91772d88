/*
 * trec.h - TREC run files: the first-stage candidates of each query (e.g. a
 * BM25 top-100) that the reranker reorders, and the reranked output.
 *
 * One line per (query, document), six whitespace-separated columns:
 *
 *     qid Q0 docid rank score tag
 *     1 Q0 34386619 1 9.745965 bm25
 *
 * Reading groups the lines by query in order of first appearance and sorts
 * each query's candidates by rank. Every line is validated, and a violation
 * is an error whose message names the file and the line: exactly six columns
 * (a missing tag is an error, not a default), rank a positive decimal integer
 * (gaps allowed; the same rank twice in a query is an error), score a finite
 * number, and no (qid, docid) pair twice. The second column is not checked
 * (trec_eval ignores it too; "Q0" and "0" both occur). Blank lines are
 * skipped; CRLF line endings are accepted. Ids are checked against a BEIR
 * dataset only on request (trec_run_resolve), since a run can be read without
 * its dataset.
 *
 *     trec_run run;
 *     if (trec_run_read(&run, "test.bm25.top100.trec") != STATUS_OK) ...
 *     if (trec_run_resolve(&run, &ds) != STATUS_OK) ...  // ids must exist in ds
 *     const trec_candidate *top;
 *     size_t n;
 *     if (trec_run_top(&run, "1", 20, &top, &n) != STATUS_OK) ...  // n <= 20
 *     for (size_t i = 0; i < n; i++) printf("%s %g\n", top[i].doc_id, top[i].score);
 *     trec_run_free(&run);
 *
 * Writing goes to PATH.tmp.<pid> and is renamed to PATH only by a successful
 * trec_writer_close, so a killed or failed run leaves no file that looks
 * complete:
 *
 *     trec_writer w;
 *     if (trec_writer_open(&w, "out.trec", "grating-minibert") != STATUS_OK) ...
 *     st = trec_writer_add(&w, qid, doc_ids, scores, n); // ranks 1..n in this order
 *     if (st != STATUS_OK) { trec_writer_abort(&w); ... }
 *     if (trec_writer_close(&w) != STATUS_OK) ...     // flush, fsync, rename
 *
 * Scores are written with the fewest decimals, at least 6 ("%.6f" or more
 * digits), that read back as the same double: a score read from a %.6f file
 * is written unchanged and a float32 model score keeps every bit. (Values
 * beyond 1e15 in magnitude, or too small for 17 decimals, use the shortest
 * exact "%.Ng" instead.) trec_eval orders a query's lines by score, not by
 * rank, so callers should pass candidates in decreasing score order.
 */
#ifndef GRATING_TREC_H
#define GRATING_TREC_H

#include "beir.h"
#include "base/status.h"
#include "base/strmap.h"

#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *doc_id; // owned by the run
    int64_t rank;       // as in the file
    double score;
    size_t line; // line in the run file, for messages
    size_t doc;  // corpus index after trec_run_resolve, else SIZE_MAX
} trec_candidate;

typedef struct {
    const char *qid;       // owned by the run
    size_t line;           // first line of this query in the run file
    size_t query;          // BEIR query index after trec_run_resolve, else SIZE_MAX
    trec_candidate *cands; // (n,) sorted by rank
    size_t n;
} trec_query;

typedef struct {
    char *path;          // the file as given (messages name it)
    trec_query *queries; // (n_queries,) in order of first appearance
    size_t n_queries;
    trec_candidate *cands; // (n_cands,) the queries' candidates, back to back
    size_t n_cands;        // lines read
    char *ids;             // storage of every qid and docid string
    strmap query_map;      // qid -> index in queries
} trec_run;

// The one rule for qids, docids and run tags, shared by the reader and the
// writer so that whatever is written reads back: non-empty, no whitespace
// (space, tab, CR, LF, VT, FF). trec_id_valid returns 1 when `id` follows it;
// trec_check_id fails with `code` and "WHERE: WHAT 'ID': expected ...".
int trec_id_valid(const char *id);
status trec_check_id(status code, const char *where, const char *what, const char *id);

// Reads and validates a run file (see the rules above; a NUL byte in a line is
// an error too).
status trec_run_read(trec_run *run, const char *path);
void trec_run_free(trec_run *run);

// The query with this id, or NULL.
const trec_query *trec_run_find(const trec_run *run, const char *qid);

// The first min(n, candidates of the query) candidates of query `qid` in rank
// order: *top points into the run, *count may be less than n. An unknown qid
// is STATUS_ERR_MISSING; n == 0 is STATUS_ERR_ARG.
status trec_run_top(const trec_run *run, const char *qid, size_t n, const trec_candidate **top,
                    size_t *count);

// Checks every qid against the dataset's queries and every docid against its
// corpus, and records the indices (trec_query.query, trec_candidate.doc). The
// first unknown id in file order is an error naming the run file, the line and
// the dataset file.
status trec_run_resolve(trec_run *run, const beir_dataset *ds);

typedef struct {
    char *path;     // final name
    char *tmp_path; // PATH.tmp.<pid>, renamed to path by trec_writer_close
    char *tag;
    FILE *f;
    strmap written; // qids already written (a query must come in one piece)
    size_t n_lines;
} trec_writer;

// Creates PATH.tmp.<pid>. The tag (last column) must be non-empty without
// whitespace.
status trec_writer_open(trec_writer *w, const char *path, const char *tag);

// Writes one query: doc_ids[i] with scores[i] at rank i + 1. Ids must be
// non-empty without whitespace (or they would not read back), docids distinct,
// scores finite, and the qid not written before. Input errors write nothing
// and leave the writer usable; I/O errors are reported here or by close.
status trec_writer_add(trec_writer *w, const char *qid, const char *const *doc_ids,
                       const double *scores, size_t n);

// Flushes, fsyncs and renames the temporary file to PATH. On failure the
// temporary file is removed. Frees the writer either way.
status trec_writer_close(trec_writer *w);

// Removes the temporary file and frees the writer (after a failed add, or to
// give up). Safe on a writer whose open failed.
void trec_writer_abort(trec_writer *w);

#endif
