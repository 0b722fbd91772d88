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

#include <getopt.h>
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
int cmd_quantize(int argc, char **argv);
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

// The options several commands take, parsed in one place so their spelling,
// validation and error messages agree. A command lists the groups it accepts
// in its getopt_long table (CLI_OPTS_* below; ids >= 256 never clash with a
// command's own one-character ids) and hands every option to
// cli_common_parse() before its own switch:
//
//     cli_common_opts co = {.max_len = 512};
//     static const struct option opts[] = {CLI_OPTS_MODEL, CLI_OPTS_OUTPUT,
//                                          {"chunk", required_argument, 0, 'c'}, {0, 0, 0, 0}};
//     while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
//         int shared = cli_common_parse("score", c, optarg, &co);
//         if (shared < 0) return 2;
//         if (shared) continue;
//         switch (c) { ...the command's own options... }
//     }
//
// Defaults are whatever the command puts in the struct before parsing.
typedef struct {
    const char *model;                     // --model DIR
    const char *instruction;               // --instruction T (instruction-following templates)
    const char *query, *queries, *qid;     // --query Q | --queries FILE --qid ID
    const char *docs, *doc_ids;            // --docs FILE [--doc-ids LIST]
    const char *dataset, *split, *run;     // --dataset DIR [--split S] --run FILE
    const char *out;                       // --out PATH
    long max_len;                          // --max-len N (>= 3)
    int max_len_given;                     // --max-len was on the command line
    int threads;                           // --threads N (already applied); 0: not given
    int force, json, allow_unused_tensors; // --force, --json, --allow-unused-tensors
    int matrix_dtype; // --compute f32|bf16: how the layer matrices are kept (ops_dtype)
} cli_common_opts;

enum {
    CLI_OPT_MODEL = 256,
    CLI_OPT_INSTRUCTION,
    CLI_OPT_MAX_LEN,
    CLI_OPT_THREADS,
    CLI_OPT_ALLOW_UNUSED_TENSORS,
    CLI_OPT_QUERY,
    CLI_OPT_QUERIES,
    CLI_OPT_QID,
    CLI_OPT_DOCS,
    CLI_OPT_DOC_IDS,
    CLI_OPT_DATASET,
    CLI_OPT_SPLIT,
    CLI_OPT_RUN,
    CLI_OPT_OUT,
    CLI_OPT_FORCE,
    CLI_OPT_JSON,
    CLI_OPT_COMPUTE,
    CLI_OPT_BACKEND,
    CLI_OPT_BITS,
    CLI_OPT_GROUP,
    CLI_OPT_SYM,
    CLI_OPT_ASYM,
    CLI_OPT_DESC_ACT,
};

// clang-format off
// One `struct option` entry per shared option.
#define CLI_OPTION_MODEL {"model", required_argument, 0, CLI_OPT_MODEL}
#define CLI_OPTION_INSTRUCTION {"instruction", required_argument, 0, CLI_OPT_INSTRUCTION}
#define CLI_OPTION_MAX_LEN {"max-len", required_argument, 0, CLI_OPT_MAX_LEN}
#define CLI_OPTION_THREADS {"threads", required_argument, 0, CLI_OPT_THREADS}
#define CLI_OPTION_ALLOW_UNUSED_TENSORS \
    {"allow-unused-tensors", no_argument, 0, CLI_OPT_ALLOW_UNUSED_TENSORS}
#define CLI_OPTION_QUERY {"query", required_argument, 0, CLI_OPT_QUERY}
#define CLI_OPTION_QUERIES {"queries", required_argument, 0, CLI_OPT_QUERIES}
#define CLI_OPTION_QID {"qid", required_argument, 0, CLI_OPT_QID}
#define CLI_OPTION_DOCS {"docs", required_argument, 0, CLI_OPT_DOCS}
#define CLI_OPTION_DOC_IDS {"doc-ids", required_argument, 0, CLI_OPT_DOC_IDS}
#define CLI_OPTION_DATASET {"dataset", required_argument, 0, CLI_OPT_DATASET}
#define CLI_OPTION_SPLIT {"split", required_argument, 0, CLI_OPT_SPLIT}
#define CLI_OPTION_RUN {"run", required_argument, 0, CLI_OPT_RUN}
#define CLI_OPTION_OUT {"out", required_argument, 0, CLI_OPT_OUT}
#define CLI_OPTION_FORCE {"force", no_argument, 0, CLI_OPT_FORCE}
#define CLI_OPTION_JSON {"json", no_argument, 0, CLI_OPT_JSON}
#define CLI_OPTION_COMPUTE {"compute", required_argument, 0, CLI_OPT_COMPUTE}
#define CLI_OPTION_BACKEND {"backend", required_argument, 0, CLI_OPT_BACKEND}
// GPTQ settings of `quantize` and `synth --bits` (cli_gptq_parse).
#define CLI_OPTS_GPTQ                                                                              \
    {"bits", required_argument, 0, CLI_OPT_BITS}, {"group", required_argument, 0, CLI_OPT_GROUP},  \
        {"sym", no_argument, 0, CLI_OPT_SYM}, {"asym", no_argument, 0, CLI_OPT_ASYM},              \
        {"desc-act", no_argument, 0, CLI_OPT_DESC_ACT}

// Groups, so that commands taking the same inputs take them the same way.
// A command lists only the groups it accepts: an option it does not list
// stays an unknown option there.
// Running a model: score, rerank, trace.
#define CLI_OPTS_MODEL                                                                             \
    CLI_OPTION_MODEL, CLI_OPTION_INSTRUCTION, CLI_OPTION_MAX_LEN, CLI_OPTION_THREADS,              \
        CLI_OPTION_ALLOW_UNUSED_TENSORS, CLI_OPTION_COMPUTE, CLI_OPTION_BACKEND
// One query and its candidates: score, rerank.
#define CLI_OPTS_PAIRS                                                                             \
    CLI_OPTION_QUERY, CLI_OPTION_QUERIES, CLI_OPTION_QID, CLI_OPTION_DOCS, CLI_OPTION_DOC_IDS
// Every query of a run over a BEIR dataset: rerank, trace.
#define CLI_OPTS_RUN CLI_OPTION_DATASET, CLI_OPTION_SPLIT, CLI_OPTION_RUN
// An output that is never replaced silently: trace, sweep, synth, merge, stability.
#define CLI_OPTS_OUTPUT CLI_OPTION_OUT, CLI_OPTION_FORCE

// clang-format on

// Handles option `c` (a getopt_long return) when it is one of CLI_OPT_*.
// Returns 1 when handled, 0 when `c` is not a shared option (the command's
// own switch takes it), -1 after printing "grating CMD: --option ..." for a
// malformed value (exit with 2).
int cli_common_parse(const char *cmd, int c, const char *arg, cli_common_opts *o);
// Parses an integer option value >= `min` into *value. Prints
// "grating CMD: --NAME must be an integer >= MIN, got 'ARG'" and returns 0
// when malformed or out of range.
int cli_parse_long(const char *cmd, const char *name, const char *arg, long min, long *value);

// Parses --threads N (1..4096) and sets the compute (BLAS) threads. Prints
// the error and returns 0 when malformed. Without --threads a command uses
// the BLAS default: OPENBLAS_NUM_THREADS if set, else every core.
int cli_parse_threads(const char *cmd, const char *arg);
// Handles a CLI_OPTS_GPTQ option into *g: 1 handled, 0 not one of them,
// -1 error printed (--bits 4|8, --group N > 0 or -1, --sym, --asym, --desc-act).
struct gptq_config;
int cli_gptq_parse(const char *cmd, int c, const char *arg, struct gptq_config *g);
// "f32" / "bf16" for an ops_dtype (outputs, traces).
const char *cli_compute_name(int matrix_dtype);
// The matmul backend in force ("openblas", "onednn"). Every command starts on
// the fastest available one (cli_backend_default: oneDNN when built in);
// --backend openblas|onednn chooses.
const char *cli_backend_name(void);
void cli_backend_default(void);
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
