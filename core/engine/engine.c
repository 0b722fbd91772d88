#include "engine/engine.h"
#include "base/clock.h"
#include "base/mem.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

status engine_result_init(engine_result *r, size_t n, size_t n_layers) {
    memset(r, 0, sizeof *r);
    r->n = n;
    r->n_layers = n_layers;
    r->exit_layer = mem_alloc(MEM_OTHER, n * sizeof *r->exit_layer);
    r->exit_reason = mem_alloc(MEM_OTHER, n * sizeof *r->exit_reason);
    r->exit_score = mem_alloc(MEM_OTHER, n * sizeof *r->exit_score);
    r->layer_scores = mem_alloc(MEM_OTHER, (n_layers + 1) * n * sizeof *r->layer_scores);
    r->order = mem_alloc(MEM_OTHER, n * sizeof *r->order);
    r->layer_seconds = mem_alloc(MEM_OTHER, n_layers * sizeof *r->layer_seconds);
    r->read_seconds = mem_calloc(MEM_OTHER, n_layers * sizeof *r->read_seconds);
    r->wait_seconds = mem_calloc(MEM_OTHER, n_layers * sizeof *r->wait_seconds);
    if (!r->exit_layer || !r->exit_reason || !r->exit_score || !r->layer_scores || !r->order ||
        !r->layer_seconds || !r->read_seconds || !r->wait_seconds) {
        engine_result_free(r);
        return STATUS_ERR_NOMEM;
    }
    return STATUS_OK;
}

void engine_result_free(engine_result *r) {
    mem_free(r->exit_layer);
    mem_free(r->exit_reason);
    mem_free(r->exit_score);
    mem_free(r->layer_scores);
    mem_free(r->order);
    mem_free(r->layer_seconds);
    mem_free(r->read_seconds);
    mem_free(r->wait_seconds);
    memset(r, 0, sizeof *r);
}

const char *engine_exit_name(engine_exit e) {
    switch (e) {
    case ENGINE_EXIT_FINAL:
        return "final";
    case ENGINE_EXIT_SELECT:
        return "select";
    case ENGINE_EXIT_DROP:
        return "drop";
    case ENGINE_EXIT_STOP:
        return "stop";
    }
    return "unknown";
}

// Sort key of the report order (see engine.h): group, then layer, then score.
static int engine_group(engine_exit e) {
    return e == ENGINE_EXIT_SELECT ? 0 : e == ENGINE_EXIT_DROP ? 2 : 1;
}

static int engine_cmp_order(const void *pa, const void *pb, void *ctx) {
    const engine_result *r = ctx;
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    int ga = engine_group(r->exit_reason[a]), gb = engine_group(r->exit_reason[b]);
    if (ga != gb) return ga - gb;
    if (r->exit_layer[a] != r->exit_layer[b]) {
        // Selected: earlier first. Dropped: later first. Group 1 shares a layer.
        int earlier_first = ga == 0 ? 1 : -1;
        return (r->exit_layer[a] < r->exit_layer[b] ? -1 : 1) * earlier_first;
    }
    if (r->exit_score[a] != r->exit_score[b]) return r->exit_score[a] > r->exit_score[b] ? -1 : 1;
    return a < b ? -1 : a > b;
}

// Moves the tokens of the active candidates to the front of h, in order, and
// rebuilds the packed view of the active set.
static void engine_compact(const reranker_batch *b, const size_t *active, size_t n_active,
                           size_t *cur_start, size_t H, float *h, size_t *view_start,
                           size_t *view_len) {
    size_t write = 0;
    for (size_t i = 0; i < n_active; i++) {
        size_t c = active[i], len = b->seq_len[c];
        if (cur_start[c] != write)
            memmove(h + write * H, h + cur_start[c] * H, len * H * sizeof *h);
        cur_start[c] = write;
        view_start[i] = write;
        view_len[i] = len;
        write += len;
    }
}

status engine_tracker_init(engine_tracker *t, engine_result *r, policy *p, size_t k) {
    memset(t, 0, sizeof *t);
    size_t n = r->n, L = r->n_layers;
    if (k < 1 || k > n)
        return status_fail(STATUS_ERR_ARG, "engine: K = %zu must be between 1 and N = %zu", k, n);
    status st = policy_reset(p, n, k);
    if (st != STATUS_OK) return st;
    t->active = mem_alloc(MEM_OTHER, n * sizeof *t->active);
    t->verdicts = mem_alloc(MEM_OTHER, n * sizeof *t->verdicts);
    if (!t->active || !t->verdicts) {
        engine_tracker_free(t);
        return STATUS_ERR_NOMEM;
    }
    t->r = r;
    t->p = p;
    t->k = k;
    t->n_active = n;
    for (size_t i = 0; i < n; i++) {
        t->active[i] = i;
        r->exit_layer[i] = (int)L;
        r->exit_reason[i] = ENGINE_EXIT_FINAL;
        r->exit_score[i] = NAN;
        r->order[i] = i;
    }
    for (size_t i = 0; i < (L + 1) * n; i++)
        r->layer_scores[i] = NAN;
    for (size_t l = 0; l < L; l++)
        r->layer_seconds[l] = r->read_seconds[l] = r->wait_seconds[l] = 0.0;
    r->candidate_layers = 0;
    r->candidate_layers_full = n * L;
    r->layers_run = 0;
    r->embed_seconds = r->score_seconds = r->policy_seconds = r->total_seconds = 0.0;
    r->peak_chunk_tokens = 0;
    return STATUS_OK;
}

void engine_tracker_free(engine_tracker *t) {
    mem_free(t->active);
    mem_free(t->verdicts);
    memset(t, 0, sizeof *t);
}

status engine_tracker_step(engine_tracker *t, size_t layer, const float *scores, int *done) {
    engine_result *r = t->r;
    size_t n = r->n, L = r->n_layers;
    *done = 1;
    for (size_t i = 0; i < t->n_active; i++) {
        if (!isfinite(scores[i]))
            return status_fail(STATUS_ERR_NUMERIC,
                               "engine: candidate %zu has a non-finite score at layer %zu (%g)",
                               t->active[i], layer, (double)scores[i]);
        r->layer_scores[layer * n + t->active[i]] = scores[i];
        r->exit_score[t->active[i]] = scores[i];
    }
    if (layer >= L || t->n_active == 0) return STATUS_OK; // final scores recorded

    policy_input in = {.layer = (int)layer,
                       .n_layers = (int)L,
                       .n_total = n,
                       .k = t->k,
                       .n_selected = t->n_selected,
                       .n_active = t->n_active,
                       .ids = t->active,
                       .scores = scores};
    int stopped = 0;
    double t0 = clock_now_seconds();
    status st = policy_decide(t->p, &in, t->verdicts, &stopped);
    r->policy_seconds += clock_now_seconds() - t0;
    if (st != STATUS_OK) return st;
    size_t kept = 0;
    for (size_t i = 0; i < t->n_active; i++) {
        size_t c = t->active[i];
        if (t->verdicts[i] == POLICY_DEFER) {
            t->active[kept++] = c;
            continue;
        }
        r->exit_layer[c] = (int)layer;
        r->exit_reason[c] = t->verdicts[i] == POLICY_SELECT ? ENGINE_EXIT_SELECT : ENGINE_EXIT_DROP;
        t->n_selected += t->verdicts[i] == POLICY_SELECT;
    }
    t->n_active = kept;
    if (stopped) {
        for (size_t i = 0; i < t->n_active; i++) {
            r->exit_layer[t->active[i]] = (int)layer;
            r->exit_reason[t->active[i]] = ENGINE_EXIT_STOP;
        }
        t->n_active = 0;
    }
    if (t->n_active == 0) return STATUS_OK;
    r->candidate_layers += t->n_active;
    r->layers_run = (int)layer + 1;
    *done = 0;
    return STATUS_OK;
}

void engine_tracker_finish(engine_tracker *t) {
    engine_result *r = t->r;
    for (size_t i = 0; i < r->n; i++)
        r->order[i] = i;
    qsort_r(r->order, r->n, sizeof *r->order, engine_cmp_order, r);
}

status engine_run(const reranker *m, const reranker_batch *b, policy *p, const engine_options *opt,
                  engine_result *r) {
    double t_start = clock_now_seconds();
    status st = reranker_batch_validate(m, b);
    if (st != STATUS_OK) return st;
    size_t n = b->n_seq, L = (size_t)m->cfg.n_layers, H = (size_t)m->cfg.hidden_size;
    if (r->n != n || r->n_layers != L)
        return status_fail(STATUS_ERR_ARG, "engine: result sized for %zu x %zu, run has %zu x %zu",
                           r->n, r->n_layers, n, L);
    weight_window *win = opt->window;
    if (!win && !reranker_layers_resident(m))
        return status_fail(STATUS_ERR_ARG,
                           "engine: the layers are not resident and no weight window is given");
    if (win && (win->n_layers != L || win->slot_floats < reranker_layer_floats(m)))
        return status_fail(STATUS_ERR_ARG,
                           "engine: weight window of %zu layers x %zu floats does not fit the "
                           "model (%zu layers x %zu floats)",
                           win->n_layers, win->slot_floats, L, reranker_layer_floats(m));
    engine_tracker t;
    if ((st = engine_tracker_init(&t, r, p, opt->k)) != STATUS_OK) return st;
    size_t chunk = opt->chunk == 0 || opt->chunk > n ? n : opt->chunk;

    // Workspace bound: the `chunk` longest sequences (any chunk is at most
    // that); scoring handles up to n sequences at once.
    size_t max_len = 0, chunk_bound = 0;
    size_t *lens = mem_alloc(MEM_OTHER, n * sizeof *lens);
    if (!lens) {
        engine_tracker_free(&t);
        return STATUS_ERR_NOMEM;
    }
    memcpy(lens, b->seq_len, n * sizeof *lens);
    for (size_t i = 0; i < n; i++)
        max_len = lens[i] > max_len ? lens[i] : max_len;
    for (size_t taken = 0; taken < chunk; taken++) { // partial selection of the longest
        size_t best = taken;
        for (size_t j = taken + 1; j < n; j++)
            best = lens[j] > lens[best] ? j : best;
        size_t tmp = lens[taken];
        lens[taken] = lens[best];
        lens[best] = tmp;
        chunk_bound += lens[taken];
    }
    mem_free(lens);
    reranker_workspace ws;
    if ((st = reranker_workspace_init(m, &ws, chunk_bound, max_len, n)) != STATUS_OK) {
        engine_tracker_free(&t);
        return st;
    }
    float *h = mem_alloc(MEM_HIDDEN, b->n_tok * H * sizeof *h); // (n_tok, H), active compacted
    size_t *cur_start = mem_alloc(MEM_OTHER, n * sizeof *cur_start);
    size_t *view_start = mem_alloc(MEM_OTHER, n * sizeof *view_start);
    size_t *view_len = mem_alloc(MEM_OTHER, n * sizeof *view_len);
    size_t *chunk_start = mem_alloc(MEM_OTHER, chunk * sizeof *chunk_start);
    float *scores = mem_alloc(MEM_OTHER, n * sizeof *scores);
    if (!h || !cur_start || !view_start || !view_len || !chunk_start || !scores) {
        st = STATUS_ERR_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        cur_start[i] = b->seq_start[i];
        view_start[i] = b->seq_start[i];
        view_len[i] = b->seq_len[i];
    }

    if (win) weight_window_begin(win); // the I/O thread reads layer 1 while embeddings run
    double t0 = clock_now_seconds();
    st = reranker_embed(m, b, h, &ws); // may read embedding rows (cache misses)
    r->embed_seconds = clock_now_seconds() - t0;
    if (st != STATUS_OK) goto done;
    for (size_t l = 0;; l++) {
        // Provisional scores of the active candidates after layer l.
        reranker_batch view = {.n_seq = t.n_active, .seq_start = view_start, .seq_len = view_len};
        t0 = clock_now_seconds();
        st = reranker_score(m, l, &view, h, &ws, scores);
        r->score_seconds += clock_now_seconds() - t0;
        if (st != STATUS_OK) goto done;
        int finished;
        if ((st = engine_tracker_step(&t, l, scores, &finished)) != STATUS_OK) goto done;
        if (finished) break;

        // Layer l + 1 over the active candidates, chunk by chunk.
        engine_compact(b, t.active, t.n_active, cur_start, H, h, view_start, view_len);
        const float *slot = NULL;
        if (win && (st = weight_window_acquire(win, (int)l, &slot)) != STATUS_OK) goto done;
        t0 = clock_now_seconds();
        for (size_t s0 = 0; s0 < t.n_active; s0 += chunk) {
            size_t count = s0 + chunk <= t.n_active ? chunk : t.n_active - s0;
            size_t tok0 = view_start[s0], tok = 0;
            for (size_t i = 0; i < count; i++) {
                chunk_start[i] = view_start[s0 + i] - tok0;
                tok += view_len[s0 + i];
            }
            reranker_batch cv = {
                .n_seq = count, .n_tok = tok, .seq_start = chunk_start, .seq_len = view_len + s0};
            if (tok > r->peak_chunk_tokens) r->peak_chunk_tokens = tok;
            st = win ? reranker_layer_forward_slot(m, slot, &cv, h + tok0 * H, &ws)
                     : reranker_layer_forward(m, l, &cv, h + tok0 * H, &ws);
            if (st != STATUS_OK) goto done;
        }
        r->layer_seconds[l] = clock_now_seconds() - t0;
        if (win) weight_window_release(win, (int)l);
    }
    engine_tracker_finish(&t);
    st = STATUS_OK;
done:
    if (win) {
        weight_window_end(win);
        for (size_t l = 0; l < L; l++) {
            r->read_seconds[l] = win->read_seconds[l];
            r->wait_seconds[l] = win->wait_seconds[l];
        }
    }
    mem_free(h);
    mem_free(cur_start);
    mem_free(view_start);
    mem_free(view_len);
    mem_free(chunk_start);
    mem_free(scores);
    reranker_workspace_free(&ws);
    engine_tracker_free(&t);
    r->total_seconds = clock_now_seconds() - t_start;
    return st;
}

status engine_forward_all_layers(const reranker *m, const reranker_batch *b, size_t chunk,
                                 float *layer_scores) {
    if (!reranker_layers_resident(m))
        return status_fail(STATUS_ERR_ARG, "forward: the layers are not resident");
    if (b->n_seq == 0) return status_fail(STATUS_ERR_ARG, "empty batch: no candidates to score");
    policy *none;
    status st = policy_create("none", NULL, &none);
    if (st != STATUS_OK) return st;
    engine_result r;
    if ((st = engine_result_init(&r, b->n_seq, (size_t)m->cfg.n_layers)) != STATUS_OK) {
        policy_free(none);
        return st;
    }
    engine_options opt = {.k = b->n_seq, .chunk = chunk, .window = NULL};
    st = engine_run(m, b, none, &opt, &r);
    if (st == STATUS_OK)
        memcpy(layer_scores, r.layer_scores,
               ((size_t)m->cfg.n_layers + 1) * b->n_seq * sizeof *layer_scores);
    engine_result_free(&r);
    policy_free(none);
    return st;
}
