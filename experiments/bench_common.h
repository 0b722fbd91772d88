/*
 * bench_common.h - helpers shared by the C benches (experiments/bench_*.c):
 * medians, the "kernels:" line every bench prints, and the
 * sgemm reference shape derived from the model's tensor table.
 *
 * Header-only (static functions): CMakeLists.txt builds every
 * experiments/bench_*.c as its own executable.
 */
#ifndef GRATING_BENCH_COMMON_H
#define GRATING_BENCH_COMMON_H

#include "base/clock.h"
#include "model/arch.h"
#include "model/model_config.h"

#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

static int bench_cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Median of v[0 .. n) (sorts v).
static inline double bench_median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, bench_cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Which kernels run: the OpenBLAS build and the core it picked (a
// dynamic-arch build chooses at load time; OPENBLAS_CORETYPE overrides it),
// and grating's own elementwise kernels (core/model/ops.h).
static inline void bench_print_kernels(FILE *f) {
    const char *forced = getenv("OPENBLAS_CORETYPE");
    fprintf(f,
            "kernels: OpenBLAS sgemm, core %s (OPENBLAS_CORETYPE=%s; %s), %d OpenBLAS thread(s) "
            "at start; elementwise: grating core/model/ops.c (vectorised polynomial exp/erf)\n",
            openblas_get_corename(), forced && *forced ? forced : "unset", openblas_get_config(),
            openblas_get_num_threads());
}

// The widest GEMM of one layer, from the family's tensor table: weight
// matrices that are contiguous in the layer slot and share their input width
// are run as one GEMM by the families (e.g. query|key|value, gate|up), so
// the widest such run is the forward's largest GEMM: (n_tok x *out x *in).
static inline void bench_widest_gemm(const model_config *cfg, size_t *out, size_t *in) {
    const arch_ops *a = cfg->arch;
    *out = 0, *in = 0;
    size_t run_out = 0, run_in = 0;
    for (int slot = 0;; slot++) {
        const arch_tensor *t = NULL;
        int any_later = 0;
        for (size_t i = 0; i < a->n_tensors; i++) {
            const arch_tensor *x = &a->tensors[i];
            if (!(x->flags & ARCH_T_LAYER)) continue;
            if (x->slot == slot && (!x->present || x->present(cfg))) t = x;
            if (x->slot > slot) any_later = 1;
        }
        if (!t && !any_later) break;
        if (!t) continue;
        size_t o = t->dim1 == ARCH_DIM_NONE ? 0 : (size_t)arch_dim_value(cfg, t->dim0);
        size_t k = t->dim1 == ARCH_DIM_NONE ? 0 : (size_t)arch_dim_value(cfg, t->dim1);
        if (o && k == run_in) {
            run_out += o;
        } else {
            run_out = o, run_in = k;
        }
        if (run_in && run_out * run_in > *out * *in) *out = run_out, *in = run_in;
    }
}

#endif
