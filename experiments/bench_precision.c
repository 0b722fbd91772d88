/*
 * bench_precision - how far a reduced-precision forward moves the scores and
 * rankings of a full-precision one: two traces of the same model, queries and
 * candidates (e.g. `grating trace --compute f32` and `--compute bf16`), compared
 * query by query.
 *
 *     build/bench_precision --ref results/p/f32.h5 --test results/p/bf16.h5 [--k 10]
 *
 * Per layer l (0 = embeddings): the mean over queries of Kendall tau-b between
 * the two traces' layer-l scores of the candidates, and the largest
 * |test - ref| score difference. For the final layer: the share of queries
 * whose top-k is the same list (same order), the same set, and the mean
 * overlap |top-k(test) & top-k(ref)| / k. The traces must hold the same
 * queries and candidates (same run, top-n, max_len): checked.
 */
#include "analysis/trace.h"
#include "kendall.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Indices of the k best scores (descending; ties by lower index) into top.
static void precision_top_k(const float *s, size_t n, size_t k, size_t *top) {
    for (size_t i = 0; i < k; i++) {
        size_t best = n;
        for (size_t j = 0; j < n; j++) {
            int taken = 0;
            for (size_t t = 0; t < i; t++)
                taken |= top[t] == j;
            if (!taken && (best == n || s[j] > s[best])) best = j;
        }
        top[i] = best;
    }
}

static const trace_query *precision_find(const trace *t, const char *qid) {
    for (size_t i = 0; i < t->n_queries; i++)
        if (strcmp(t->queries[i].qid, qid) == 0) return &t->queries[i];
    return NULL;
}

int main(int argc, char **argv) {
    const char *ref_path = NULL, *test_path = NULL;
    size_t k = 10;
    static const struct option opts[] = {{"ref", required_argument, 0, 'r'},
                                         {"test", required_argument, 0, 't'},
                                         {"k", required_argument, 0, 'k'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'r')
            ref_path = optarg;
        else if (c == 't')
            test_path = optarg;
        else if (c == 'k')
            k = (size_t)strtoul(optarg, NULL, 10);
        else {
            fprintf(stderr, "usage: bench_precision --ref A.h5 --test B.h5 [--k 10]\n");
            return c == 'h' ? 0 : 2;
        }
    }
    if (!ref_path || !test_path || k == 0) {
        fprintf(stderr, "usage: bench_precision --ref A.h5 --test B.h5 [--k 10]\n");
        return 2;
    }
    trace a, b;
    if (trace_read(&a, ref_path) != STATUS_OK) {
        fprintf(stderr, "bench_precision: %s\n", status_message());
        return 1;
    }
    if (trace_read(&b, test_path) != STATUS_OK) {
        fprintf(stderr, "bench_precision: %s\n", status_message());
        trace_free(&a);
        return 1;
    }
    int rc = 0;
    size_t L = (size_t)a.meta.n_layers;
    if (b.meta.n_layers != a.meta.n_layers || strcmp(a.meta.config_hash, b.meta.config_hash) != 0) {
        fprintf(stderr, "bench_precision: %s and %s are traces of different models\n", ref_path,
                test_path);
        rc = 1;
        goto done;
    }
    double *tau_sum = calloc(L + 1, sizeof *tau_sum), *max_diff = calloc(L + 1, sizeof *max_diff);
    size_t *tau_n = calloc(L + 1, sizeof *tau_n);
    size_t *top_a = malloc(k * sizeof *top_a), *top_b = malloc(k * sizeof *top_b);
    size_t n_q = 0, same_list = 0, same_set = 0, n_max = 1;
    for (size_t qi = 0; qi < a.n_queries; qi++)
        n_max = a.queries[qi].n > n_max ? a.queries[qi].n : n_max;
    double *da = malloc(n_max * sizeof *da), *db = malloc(n_max * sizeof *db); // (n,) per query
    double overlap_sum = 0.0;
    for (size_t qi = 0; qi < a.n_queries && rc == 0; qi++) {
        const trace_query *qa = &a.queries[qi], *qb = precision_find(&b, qa->qid);
        if (!qb || qb->n != qa->n) {
            fprintf(stderr, "bench_precision: query %s: not in %s with the same candidates\n",
                    qa->qid, test_path);
            rc = 1;
            break;
        }
        size_t n = qa->n;
        for (size_t i = 0; i < n && rc == 0; i++)
            if (strcmp(qa->doc_ids[i], qb->doc_ids[i]) != 0 || qa->tokens[i] != qb->tokens[i]) {
                fprintf(stderr, "bench_precision: query %s: candidate %zu differs\n", qa->qid, i);
                rc = 1;
            }
        for (size_t l = 0; l <= L && rc == 0; l++) {
            const float *sa = qa->scores + l * n, *sb = qb->scores + l * n;
            for (size_t i = 0; i < n; i++) {
                da[i] = sa[i];
                db[i] = sb[i];
            }
            double tau = kendall_tau_b(da, db, n);
            if (!isnan(tau)) {
                tau_sum[l] += tau;
                tau_n[l]++;
            }
            for (size_t i = 0; i < n; i++) {
                double d = fabs((double)sa[i] - (double)sb[i]);
                max_diff[l] = d > max_diff[l] ? d : max_diff[l];
            }
        }
        size_t kk = k < n ? k : n, overlap = 0;
        precision_top_k(qa->scores + L * n, n, kk, top_a);
        precision_top_k(qb->scores + L * n, n, kk, top_b);
        int list = 1;
        for (size_t i = 0; i < kk; i++) {
            list &= top_a[i] == top_b[i];
            for (size_t j = 0; j < kk; j++)
                overlap += top_a[i] == top_b[j];
        }
        same_list += (size_t)list;
        same_set += overlap == kk;
        overlap_sum += (double)overlap / (double)kk;
        n_q++;
    }
    if (rc == 0) {
        printf("reference: %s (%s)\ntest:      %s (%s)\n", ref_path,
               a.meta.kernels ? a.meta.kernels : "kernels not recorded", test_path,
               b.meta.kernels ? b.meta.kernels : "kernels not recorded");
        printf("%zu queries, k = %zu\n\n| layer | mean Kendall tau-b (test vs ref) | max |score "
               "diff| |\n|---|---|---|\n",
               n_q, k);
        for (size_t l = 0; l <= L; l++)
            printf("| %zu | %.4f | %.3g |\n", l, tau_n[l] ? tau_sum[l] / (double)tau_n[l] : NAN,
                   max_diff[l]);
        printf("\nfinal top-%zu: same list %.1f%%, same set %.1f%%, mean overlap %.4f\n", k,
               100.0 * (double)same_list / (double)n_q, 100.0 * (double)same_set / (double)n_q,
               overlap_sum / (double)n_q);
    }
    free(tau_sum);
    free(max_diff);
    free(tau_n);
    free(top_a);
    free(top_b);
    free(da);
    free(db);
done:
    trace_free(&a);
    trace_free(&b);
    return rc;
}
