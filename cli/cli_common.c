/*
 * Options every command shares (--model, --max-len, --threads, --out,
 * --force, ...) and progress lines that stay readable in a log file.
 */
#include "cli.h"

#include "io/gptq.h"
#include "model/ops.h"
#include "base/clock.h"
#include "model/ops.h"

#include <cblas.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_parse_threads(const char *cmd, const char *arg) {
    char *end;
    long n = strtol(arg, &end, 10);
    if (*arg == '\0' || *end || n < 1 || n > 4096) {
        fprintf(stderr, "grating %s: --threads needs an integer between 1 and 4096, got '%s'\n",
                cmd, arg);
        return 0;
    }
    ops_set_threads((int)n); // OpenBLAS and oneDNN (OpenMP) alike
    return 1;
}

int cli_threads(void) {
    return openblas_get_num_threads();
}

int cli_parse_long(const char *cmd, const char *name, const char *arg, long min, long *value) {
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (end == arg || *end || errno || v < min) {
        fprintf(stderr, "grating %s: --%s must be an integer >= %ld, got '%s'\n", cmd, name, min,
                arg);
        return 0;
    }
    *value = v;
    return 1;
}

int cli_gptq_parse(const char *cmd, int c, const char *arg, gptq_config *g) {
    char *end = NULL;
    long v;
    switch (c) {
    case CLI_OPT_BITS:
        v = strtol(arg, &end, 10);
        if (!*arg || *end || (v != 4 && v != 8)) {
            fprintf(stderr, "grating %s: --bits '%s': expected 4 or 8\n", cmd, arg);
            return -1;
        }
        g->bits = (int)v;
        return 1;
    case CLI_OPT_GROUP:
        v = strtol(arg, &end, 10);
        if (!*arg || *end || v == 0 || v < -1 || v > 1000000000) {
            fprintf(stderr,
                    "grating %s: --group '%s': expected a positive number of columns or -1\n", cmd,
                    arg);
            return -1;
        }
        g->group_size = (int)v;
        return 1;
    case CLI_OPT_SYM:
        g->sym = 1;
        return 1;
    case CLI_OPT_ASYM:
        g->sym = 0;
        return 1;
    case CLI_OPT_DESC_ACT:
        g->desc_act = 1;
        return 1;
    }
    return 0;
}

const char *cli_compute_name(int matrix_dtype) {
    return matrix_dtype == OPS_DTYPE_BF16 ? "bf16" : "f32";
}

const char *cli_backend_name(void) {
    return ops_backend_name(ops_backend_get());
}

void cli_backend_default(void) {
    if (ops_backend_available(OPS_BACKEND_ONEDNN)) (void)ops_backend_set(OPS_BACKEND_ONEDNN);
    // OpenMP follows the BLAS default (OPENBLAS_NUM_THREADS, else every core)
    // until --threads says otherwise.
    ops_set_threads(cli_threads());
}

int cli_common_parse(const char *cmd, int c, const char *arg, cli_common_opts *o) {
    switch (c) {
    case CLI_OPT_MODEL:
        o->model = arg;
        return 1;
    case CLI_OPT_INSTRUCTION:
        o->instruction = arg;
        return 1;
    case CLI_OPT_MAX_LEN:
        // 3 = [CLS] + 2 x [SEP]: shorter holds no pair at all; the model's own
        // limit is checked once it is open (reranker_check_max_len).
        if (!cli_parse_long(cmd, "max-len", arg, 3, &o->max_len)) return -1;
        o->max_len_given = 1;
        return 1;
    case CLI_OPT_THREADS:
        if (!cli_parse_threads(cmd, arg)) return -1;
        o->threads = cli_threads();
        return 1;
    case CLI_OPT_ALLOW_UNUSED_TENSORS:
        o->allow_unused_tensors = 1;
        return 1;
    case CLI_OPT_BACKEND: {
        ops_backend b = strcmp(arg, "onednn") == 0 ? OPS_BACKEND_ONEDNN : OPS_BACKEND_OPENBLAS;
        if (strcmp(arg, "onednn") != 0 && strcmp(arg, "openblas") != 0) {
            fprintf(stderr, "grating %s: --backend must be openblas or onednn, got '%s'\n", cmd,
                    arg);
            return -1;
        }
        if (!ops_backend_available(b)) {
            fprintf(stderr,
                    "grating %s: --backend %s: this build has no oneDNN (install libdnnl-dev and "
                    "rebuild)\n",
                    cmd, arg);
            return -1;
        }
        (void)ops_backend_set(b);
        return 1;
    }
    case CLI_OPT_COMPUTE:
        if (strcmp(arg, "f32") == 0)
            o->matrix_dtype = OPS_DTYPE_F32;
        else if (strcmp(arg, "bf16") == 0)
            o->matrix_dtype = OPS_DTYPE_BF16;
        else {
            fprintf(stderr, "grating %s: --compute must be f32 or bf16, got '%s'\n", cmd, arg);
            return -1;
        }
        return 1;
    case CLI_OPT_QUERY:
        o->query = arg;
        return 1;
    case CLI_OPT_QUERIES:
        o->queries = arg;
        return 1;
    case CLI_OPT_QID:
        o->qid = arg;
        return 1;
    case CLI_OPT_DOCS:
        o->docs = arg;
        return 1;
    case CLI_OPT_DOC_IDS:
        o->doc_ids = arg;
        return 1;
    case CLI_OPT_DATASET:
        o->dataset = arg;
        return 1;
    case CLI_OPT_SPLIT:
        o->split = arg;
        return 1;
    case CLI_OPT_RUN:
        o->run = arg;
        return 1;
    case CLI_OPT_OUT:
        o->out = arg;
        return 1;
    case CLI_OPT_FORCE:
        o->force = 1;
        return 1;
    case CLI_OPT_JSON:
        o->json = 1;
        return 1;
    default:
        return 0;
    }
}

void cli_progress_init(cli_progress *p, FILE *out, double min_interval_s) {
    p->out = out;
    p->tty = isatty(fileno(out));
    p->min_interval = min_interval_s;
    p->last = -1e300;
    p->open_line = 0;
}

void cli_progress_update(cli_progress *p, int final, const char *fmt, ...) {
    double now = clock_now_seconds();
    if (!final && !p->tty && now - p->last < p->min_interval) return;
    if (!final && p->tty && now - p->last < 0.1) return;
    p->last = now;
    va_list ap;
    va_start(ap, fmt);
    if (p->tty) {
        fputc('\r', p->out);
        vfprintf(p->out, fmt, ap);
        fputs("\033[K", p->out);
        p->open_line = 1;
        if (final) {
            fputc('\n', p->out);
            p->open_line = 0;
        }
    } else {
        vfprintf(p->out, fmt, ap);
        fputc('\n', p->out);
    }
    va_end(ap);
    fflush(p->out);
}

void cli_progress_end(cli_progress *p) {
    if (p->open_line) fputc('\n', p->out);
    p->open_line = 0;
}

char *cli_abs_path(const char *path) {
    char *abs = realpath(path, NULL);
    return abs ? abs : strdup(path);
}

int cli_add_provenance(cJSON *root, const char *model_dir, const reranker *m, long max_len,
                       int argc, char **argv) {
    char *abs = cli_abs_path(model_dir), *command = cli_join_argv(argc, argv);
    int ok = abs && command && cJSON_AddStringToObject(root, "grating_version", GRATING_VERSION) &&
             cJSON_AddStringToObject(root, "command", command) &&
             cJSON_AddNumberToObject(root, "threads", cli_threads()) &&
             cJSON_AddStringToObject(root, "model", abs) &&
             cJSON_AddStringToObject(root, "architecture", m->cfg.arch_name) &&
             cJSON_AddNumberToObject(root, "n_layers", m->cfg.n_layers) &&
             cJSON_AddStringToObject(root, "compute", cli_compute_name(m->cfg.matrix_dtype)) &&
             cJSON_AddStringToObject(root, "backend", cli_backend_name()) &&
             cJSON_AddNumberToObject(root, "max_len", (double)max_len);
    free(abs);
    free(command);
    return ok;
}

status cli_explain_numeric(status st, const char *model_dir, const doc_list *docs) {
    if (st != STATUS_ERR_NUMERIC) return st;
    // The forward names the candidate by its position in the batch, which is
    // the position in the documents given; say which document that is.
    const char *msg = status_message(), *at = strstr(msg, "candidate ");
    size_t i;
    if (docs && at && sscanf(at, "candidate %zu", &i) == 1 && i < docs->n && docs->items[i].id)
        return status_wrap(st,
                           "%s: the model's weights give a NaN or infinite score for document '%s'",
                           model_dir, docs->items[i].id);
    return status_wrap(st, "%s: the model's weights give a NaN or infinite score", model_dir);
}
