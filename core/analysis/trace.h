/*
 * trace.h - HDF5 trace files: the provisional score of every candidate at
 * every layer of a full forward, per query. The contract between the (slow)
 * forwards and the (fast) offline sweeps; the schema is documented in
 * docs/trace-schema.md and checked by tests/test_trace.c.
 *
 * Writing (crash-safe: the file is built as PATH.partial and renamed to PATH
 * only by trace_writer_finish, so a killed run never leaves a file that
 * looks complete). Each query is committed (flushed, then marked complete,
 * flushed again) before trace_writer_add_query returns. With resume = 1 the
 * complete queries of an existing PATH.partial are copied into a fresh
 * PATH.partial (read in a child process, so a damaged file cannot crash the
 * caller); when it cannot be read at all or holds no complete query the
 * trace starts over; w.note says which happened:
 *
 *     trace_writer w;
 *     trace_meta meta = {.model = dir, .n_layers = 8, ...};
 *     if (trace_writer_open(&w, "out.h5", &meta, resume) != STATUS_OK) ...
 *     for each query:
 *         if (trace_writer_has_query(&w, qid)) continue;   // done before a resume
 *         trace_query q = {.qid = qid, .n = 20, .doc_ids = ..., .scores = ...};
 *         trace_writer_add_query(&w, &q);                   // flushed to disk
 *     trace_writer_finish(&w);                              // rename to out.h5
 *
 * Reading loads everything (a trace is small: 300 queries x 20 candidates x
 * 9 layers is 200 KiB of scores):
 *
 *     trace t;
 *     if (trace_read(&t, "out.h5") != STATUS_OK) ...
 *     float s = t.queries[0].scores[layer * t.queries[0].n + cand];
 *     trace_free(&t);
 */
#ifndef GRATING_TRACE_H
#define GRATING_TRACE_H

#include "base/status.h"

#include <stddef.h>
#include <stdint.h>

// Root attributes. Strings are copied by the writer and owned by the reader.
typedef struct {
    char *model;        // model folder as given
    char *config_hash;  // FNV-1a 64 of config.json, hex
    char *architecture; // config.json "architectures"[0]
    int64_t n_layers;
    int64_t hidden_size;
    int64_t intermediate_size;
    char *score_kind; // what a score is (the family's arch_ops.score_kind, e.g. "logit")
    char *tokenizer;  // tokenizer file
    int64_t max_len;
    char *dataset;   // dataset folder
    char *split;     // qrels split, e.g. "test"
    char *run;       // first-stage run file
    int64_t top_n;   // candidates per query taken from the run
    char *command;   // the command line that made the trace
    char *version;   // grating version
    char *created;   // ISO 8601 UTC
    int64_t threads; // compute threads of the forwards (0 = not recorded; optional attribute)
    // config.json of the model, verbatim (optional attribute "config", traces
    // since issue 11; NULL when absent): the sweep's cost model reads the
    // architecture's sizes (heads, key/value heads, head_dim, ...) from it.
    char *config;
    // How the forwards ran (optional attribute "kernels", traces since issue
    // 12; NULL when absent): e.g. "matrices bf16; backend openblas".
    char *kernels;
} trace_meta;

typedef struct {
    char *qid;
    size_t n;              // candidates
    char **doc_ids;        // (n,)
    float *scores;         // (n_layers + 1, n): row l = after layer l (0 = embeddings)
    int32_t *tokens;       // (n,) sequence lengths in tokens
    float *first_stage;    // (n,) first-stage (e.g. BM25) scores
    double *layer_seconds; // (n_layers,) wall time of each layer in the full forward
    double embed_seconds;
    double score_seconds; // provisional scoring over all layers
} trace_query;

typedef struct {
    trace_meta meta;
    trace_query *queries; // (n_queries,) in the order they were written
    size_t n_queries;
} trace;

typedef struct {
    int64_t file; // hid_t
    char *path, *partial_path;
    trace_meta meta;
    char **done; // qids already in the file
    size_t n_done, cap_done;
    char *note; // after a --resume open: what was recovered or why it starts over (print it)
} trace_writer;

status trace_writer_open(trace_writer *w, const char *path, const trace_meta *meta, int resume);
int trace_writer_has_query(const trace_writer *w, const char *qid);
status trace_writer_add_query(trace_writer *w, const trace_query *q);
// Writes the query order and timing summary, closes, renames PATH.partial to PATH.
status trace_writer_finish(trace_writer *w);
// Closes without finishing (the partial file stays for --resume). On a
// write failure (disk full) closes through h5util_file_close (see h5util.h).
void trace_writer_close(trace_writer *w);

status trace_read(trace *t, const char *path);
void trace_free(trace *t);

// Frees the strings of a meta (reader side).
void trace_meta_free(trace_meta *m);

// Field i of a meta, for code that handles every field alike (core/analysis/trace_guard.c
// serialises a meta with them): the string fields, then the integer fields,
// in the file's attribute order; *name (may be NULL) gets the attribute name.
// NULL past the last field.
char **trace_meta_string_field(trace_meta *m, size_t i, const char **name);
int64_t *trace_meta_int_field(trace_meta *m, size_t i, const char **name);

// Concatenates traces with the same model/config/dataset/run/split (shard
// outputs) into `out` in run order: the query order of the traces' run file
// (as stored, else relative to the first input's folder); when that is not
// readable, the interleaving of the inputs' `--shard i/n` (from their command
// attributes: query j of shard i is query i + j n); else the order given.
// *order (may be NULL) gets which of these was used, for a message. The
// merged "command" attribute is `command` (NULL: "grating merge") followed by
// one line "input PATH: COMMAND" per input. Inputs are read with
// trace_guard_read (core/analysis/trace_guard.h). Duplicate query ids are an error.
status trace_merge_ordered(const char *const *inputs, size_t n_inputs, const char *out,
                           const char *command, const char **order);
// trace_merge_ordered without a command line.
status trace_merge(const char *const *inputs, size_t n_inputs, const char *out);

#endif
