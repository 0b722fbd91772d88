/*
 * cli.h - subcommands of the grating binary and the option parser they share.
 *
 * A subcommand is `int cmd_x(int argc, char **argv)` where argv[0] is the
 * command name; it returns the process exit status (0 ok, 1 runtime error,
 * 2 usage error). Options are GNU long options (`--name value`,
 * `--name=value`, `--flag`).
 */
#ifndef GRATING_CLI_H
#define GRATING_CLI_H

#include "docs_jsonl.h"
#include "engine/reranker.h"
#include "base/status.h"

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>

typedef struct {
    const char *name;
    const char *summary;
    int (*run)(int argc, char **argv);
} cli_command;

int cmd_info(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_score(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_rerank(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_sweep(int argc, char **argv);
int cmd_merge(int argc, char **argv);
int cmd_stability(int argc, char **argv);

// Shared by score and rerank (cli_inputs.c).

// A packed batch of tokenized (query, document) pairs.
typedef struct {
    size_t n_seq, n_tok;
    size_t *seq_start, *seq_len; // (n_seq,)
    int32_t *ids, *type_ids;     // (n_tok,)
} cli_batch;

// The query (--query text, or --queries FILE + --qid ID) and the documents
// (--docs FILE, optionally only --doc-ids, in that order).
status cli_load_inputs(const char *query_text, const char *queries, const char *qid,
                       const char *docs_path, const char *doc_ids, char **query, doc_list *docs);
// Tokenizes every (query, document) pair into one packed batch.
status cli_encode_pairs(const reranker *r, const char *query, const doc_list *docs, size_t max_len,
                        cli_batch *s);
void cli_batch_free(cli_batch *s);
reranker_batch cli_batch_view(const cli_batch *s);
// Parses "i/n" (0 <= i < n) for --shard. Returns 0 when malformed.
int cli_parse_shard(const char *text, size_t *index, size_t *count);
// The command line as one string (for provenance in output files); malloc'd.
char *cli_join_argv(int argc, char **argv);
// 1 when `id` is in a comma- or space-separated list.
int cli_list_has(const char *list, const char *id);

// Shared options (cli_common.c).

// Parses --threads N (1..4096) and sets the compute (BLAS) threads. Prints
// the error and returns 0 when malformed. Without --threads a command uses
// the BLAS default: OPENBLAS_NUM_THREADS if set, else every core.
int cli_parse_threads(const char *cmd, const char *arg);
// The compute threads in force (print it in outputs and summaries).
int cli_threads(void);

// Adds what a score/rerank JSON output needs to be understood on its own:
// grating_version, command, threads, model (absolute path), architecture,
// n_layers, max_len (in force). Returns 0 when out of memory.
struct cJSON;
int cli_add_provenance(struct cJSON *root, const char *model_dir, const reranker *m, long max_len,
                       int argc, char **argv);
// The absolute form of `path` (realpath; `path` itself when that fails); malloc'd.
char *cli_abs_path(const char *path);

// Progress for long loops: on a terminal one line rewritten in place (at most
// every 0.1 s); otherwise whole lines, at most one per `min_interval_s`
// seconds, so logs hold no `\r` runs. `final` always prints.
typedef struct {
    FILE *out;
    int tty, open_line;
    double min_interval, last;
} cli_progress;
void cli_progress_init(cli_progress *p, FILE *out, double min_interval_s);
void cli_progress_update(cli_progress *p, int final, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
// For a STATUS_ERR_NUMERIC from a forward (NaN/Inf scores: broken weights),
// prefixes the model folder and the id of the document the forward named by
// position in `docs`; returns `st` unchanged otherwise.
status cli_explain_numeric(status st, const char *model_dir, const doc_list *docs);
// Ends a pending in-place line (call before printing an error).
void cli_progress_end(cli_progress *p);

#endif
