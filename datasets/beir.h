/*
 * beir.h - a BEIR dataset folder: the corpus, the queries and (optionally)
 * the relevance judgements of one split.
 *
 *     DIR/corpus.jsonl       {"_id": "...", "title": "...", "text": "...", ...} per line
 *     DIR/queries.jsonl      {"_id": "...", "text": "...", ...} per line
 *     DIR/qrels/SPLIT.tsv    header "query-id<TAB>corpus-id<TAB>score", then one
 *                            judgement per line (integer, graded; 0 = judged non-relevant)
 *
 * The corpus is opened WITHOUT loading its text: one pass parses every line
 * (so a malformed corpus fails at open, with its line number, not in the
 * middle of an experiment) and keeps only each document's id and the byte
 * offset and length of its line. Fetching a document re-reads that one line
 * with pread and parses it again; the text is title + " " + text when the
 * title is non-empty, else text (doc_join_text of docs_jsonl.h, the rule
 * cross-encoder rerankers are used with on BEIR). Memory is therefore about
 * the size of the ids, not of the corpus. Queries are small and are loaded.
 *
 *     beir_dataset ds;
 *     if (beir_open(&ds, "../shared/data/scifact", "test", 0) != STATUS_OK) {
 *         fprintf(stderr, "grating: %s\n", status_message());
 *         return 1;
 *     }
 *     size_t q;
 *     if (beir_query_find(&ds, "1", &q)) {
 *         printf("query: %s\n", ds.query_texts[q]);
 *         size_t n;
 *         const beir_qrel *judged = beir_query_qrels(&ds, q, &n);
 *         for (size_t i = 0; i < n; i++) {
 *             char *text;
 *             if (beir_doc_text(&ds, judged[i].doc, &text) != STATUS_OK) ...
 *             printf("%s (%d): %s\n", beir_doc_id(&ds, judged[i].doc), judged[i].relevance,
 *                    text);
 *             free(text);
 *         }
 *     }
 *     beir_close(&ds);
 *
 * Rules (every violation is an error whose message names the file and the
 * line): each JSONL line is one JSON object (blank lines are skipped; CRLF
 * line endings and a UTF-8 byte order mark at the start are accepted);
 * `_id` and `text` are required strings, `title` an optional string; ids are
 * non-empty and unique within the corpus and within the queries. The qrels
 * file starts with exactly the header above; rows have exactly three
 * tab-separated columns; the score is a decimal integer (fits an int); a
 * (query, document) pair is judged once. A qrels row naming a query or a
 * document the dataset does not have is an error by default, because it
 * usually means the wrong corpus or split; BEIR_QRELS_SKIP_UNKNOWN turns it
 * into a skipped row, counted in n_qrels_skipped.
 *
 * Missing corpus.jsonl or queries.jsonl is an error naming the path. The
 * qrels are only read when a split is asked for (then a missing file is an
 * error naming the path); without one the dataset simply has no labels
 * (split == NULL).
 *
 * Reading (beir_doc_text, lookups) does not modify the dataset, so several
 * threads may fetch documents at once.
 */
#ifndef GRATING_BEIR_H
#define GRATING_BEIR_H

#include "base/status.h"
#include "base/strmap.h"

#include <stddef.h>
#include <stdint.h>

// Flags of beir_open / beir_qrels_load.
enum {
    // Skip qrels rows whose query or document is unknown (counted in
    // n_qrels_skipped) instead of failing.
    BEIR_QRELS_SKIP_UNKNOWN = 1u << 0,
};

// One judgement of a query.
typedef struct {
    size_t doc;    // corpus index (beir_doc_id gives the id)
    int relevance; // graded label as written in the qrels file
} beir_qrel;

// Where one document's line is in corpus.jsonl. Packed (16 bytes a document)
// because this is the only per-document memory besides the ids.
typedef struct {
    uint64_t offset; // byte offset of the line
    uint32_t length; // bytes of the line, without its line ending
    uint32_t line;   // 1-based line number, for messages
} beir_doc_span;

typedef struct {
    char *dir;         // the folder as given
    char *corpus_path; // DIR/corpus.jsonl (messages of fetches name it)
    int corpus_fd;     // kept open for pread

    size_t n_docs;
    beir_doc_span *doc_spans; // (n_docs,) in file order
    size_t *doc_id_offsets;   // (n_docs,) into doc_id_chars
    char *doc_id_chars;       // the ids, NUL-terminated, back to back
    strmap doc_map;           // id -> corpus index

    size_t n_queries;
    char **query_ids;   // (n_queries,) in file order
    char **query_texts; // (n_queries,)
    strmap query_map;   // id -> query index

    char *split;             // split of the loaded qrels, NULL = no labels
    char *qrels_path;        // DIR/qrels/SPLIT.tsv, NULL = no labels
    beir_qrel *qrels;        // (n_qrels,) grouped by query, file order within a query
    size_t *qrel_starts;     // (n_queries + 1,) query q's judgements are
                             // qrels[qrel_starts[q] .. qrel_starts[q + 1])
    size_t n_qrels;          // judgements kept
    size_t n_qrels_skipped;  // rows skipped under BEIR_QRELS_SKIP_UNKNOWN
    size_t n_judged_queries; // queries with at least one judgement
    strmap qrel_map;         // (query index, corpus index) -> relevance
} beir_dataset;

// Opens the folder `dir`: indexes the corpus, loads the queries and, when
// `split` is not NULL, the qrels of that split (flags: BEIR_QRELS_*). On
// failure nothing stays allocated or open.
status beir_open(beir_dataset *ds, const char *dir, const char *split, unsigned flags);
void beir_close(beir_dataset *ds);

// Loads (or replaces) the qrels with DIR/qrels/SPLIT.tsv. On failure the
// dataset is left without labels.
status beir_qrels_load(beir_dataset *ds, const char *split, unsigned flags);

// 1 when DIR/qrels/SPLIT.tsv exists (to load labels only when present).
int beir_split_exists(const beir_dataset *ds, const char *split);

// Corpus index of a document id: 1 and *index when found, 0 otherwise.
int beir_doc_find(const beir_dataset *ds, const char *doc_id, size_t *index);

// Id of the document at `index` (< n_docs).
const char *beir_doc_id(const beir_dataset *ds, size_t index);

// Text of the document at `index` (title + " " + text, or text), read from
// the file now; *text is malloc'd, the caller frees it. Fails naming the file
// and the line when the line no longer parses or no longer holds the same
// document (the file changed since beir_open).
status beir_doc_text(const beir_dataset *ds, size_t index, char **text);

// As beir_doc_text, by id; an unknown id is STATUS_ERR_MISSING.
status beir_doc_fetch(const beir_dataset *ds, const char *doc_id, char **text);

// Query index of a query id: 1 and *index when found, 0 otherwise. The text is
// ds->query_texts[*index].
int beir_query_find(const beir_dataset *ds, const char *query_id, size_t *index);

// Judgements of query `query` (< n_queries) in qrels file order; *n = 0 (and
// the result may be NULL) when the query has none or no qrels are loaded.
const beir_qrel *beir_query_qrels(const beir_dataset *ds, size_t query, size_t *n);

// Relevance of (query, doc): 1 and *relevance when judged, 0 when not.
int beir_qrel_find(const beir_dataset *ds, size_t query, size_t doc, int *relevance);

#endif
