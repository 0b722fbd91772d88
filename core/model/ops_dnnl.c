// The oneDNN matmul backend (see ops_dnnl.h). Without GRATING_HAVE_DNNL the
// file compiles to stubs, so ops.c needs no #ifdef of its own.
#include "model/ops_dnnl.h"

#ifdef GRATING_HAVE_DNNL

#include "base/half.h"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

// Matmul primitives depend on M (the tokens of a chunk, which varies per
// chunk and per layer once candidates are pruned), K and N. Creating one costs
// far more than a small matmul, so they are kept in a small LRU: a forward
// uses a handful of (K, N) shapes times the few chunk sizes live at a time.
// Fixed size, allocated once (static): no growth over a long run.
#define DNNL_CACHE_SLOTS 32

// bf16 matmuls take bf16 activations: x is rounded into this buffer, a tile
// of rows at a time (8 MiB of bf16: a 3823 x 1024 chunk in one piece). Static,
// so the call cannot fail on allocation (ops_linear_m returns nothing) and
// the pages are only touched when the bf16 path runs.
#define X_BF16_CAP ((size_t)4 << 20)

typedef struct {
    int valid;
    uint64_t last_use;
    dnnl_dim_t m, k, n; // m == DNNL_RUNTIME_DIM_VAL with run-time M
    ops_dtype dtype;
    int bias, accumulate;
    dnnl_primitive_t prim;
} dnnl_entry;

// One lock for the cache, the shared stream and x_bf16: concurrent callers
// take turns (each matmul is itself parallel over the OpenMP threads).
static pthread_mutex_t dnnl_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t dnnl_once = PTHREAD_ONCE_INIT;
static dnnl_engine_t dnnl_eng;
static dnnl_stream_t dnnl_strm;
static int dnnl_ok;
static dnnl_entry dnnl_cache[DNNL_CACHE_SLOTS];
static uint64_t dnnl_tick;
static int dnnl_runtime_m;
static atomic_int dnnl_threads; // 0: never set, OpenMP's default
static char dnnl_impl[96];
static _Alignas(64) uint16_t x_bf16[X_BF16_CAP];

static void dnnl_init(void) {
    if (dnnl_engine_create(&dnnl_eng, dnnl_cpu, 0) != dnnl_success) return;
    if (dnnl_stream_create(&dnnl_strm, dnnl_eng, dnnl_stream_default_flags) != dnnl_success) {
        dnnl_engine_destroy(dnnl_eng);
        return;
    }
    dnnl_ok = 1;
}

int ops_dnnl_available(void) {
    pthread_once(&dnnl_once, dnnl_init);
    return dnnl_ok;
}

const char *ops_dnnl_isa(void) {
    switch (dnnl_get_effective_cpu_isa()) {
    case dnnl_cpu_isa_sse41:
        return "sse41";
    case dnnl_cpu_isa_avx:
        return "avx";
    case dnnl_cpu_isa_avx2:
        return "avx2";
    case dnnl_cpu_isa_avx2_vnni:
        return "avx2_vnni";
    case dnnl_cpu_isa_avx512_mic:
        return "avx512_mic";
    case dnnl_cpu_isa_avx512_mic_4ops:
        return "avx512_mic_4ops";
    case dnnl_cpu_isa_avx512_core:
        return "avx512_core";
    case dnnl_cpu_isa_avx512_core_vnni:
        return "avx512_core_vnni";
    case dnnl_cpu_isa_avx512_core_bf16:
        return "avx512_core_bf16";
    case dnnl_cpu_isa_avx512_core_amx:
        return "avx512_core_amx";
    default:
        return "unknown";
    }
}

// OpenMP's thread count is a per-thread setting (the nthreads ICV of the
// calling thread), so setting it once from main would not reach a forward run
// from another thread: each call re-applies the process-wide value.
void ops_dnnl_set_threads(int n) {
    atomic_store(&dnnl_threads, n);
    omp_set_num_threads(n);
}

static void follow_threads(void) {
    int n = atomic_load(&dnnl_threads);
    if (n > 0 && omp_get_max_threads() != n) omp_set_num_threads(n);
}

int ops_dnnl_set_runtime_m(int on) {
    pthread_mutex_lock(&dnnl_lock);
    int prev = dnnl_runtime_m;
    dnnl_runtime_m = on != 0;
    pthread_mutex_unlock(&dnnl_lock);
    return prev;
}

const char *ops_dnnl_last_impl(void) {
    return dnnl_impl;
}

static dnnl_data_type_t in_type(ops_dtype dtype) {
    return dtype == OPS_DTYPE_BF16 ? dnnl_bf16 : dnnl_f32;
}

// The four memory descriptors of y = x W^T + b with M = m (possibly the
// run-time placeholder). W is (n, k) row-major, i.e. the matmul's (k, n)
// weights with strides (1, k): oneDNN's "ba", read in place.
typedef struct {
    dnnl_memory_desc_t src, wei, bia, dst;
} matmul_mds;

static int matmul_descs(matmul_mds *d, dnnl_dim_t m, dnnl_dim_t k, dnnl_dim_t n, ops_dtype dt) {
    dnnl_dims_t sd = {m, k}, ss = {k, 1};
    dnnl_dims_t wd = {k, n}, ws = {1, k};
    dnnl_dims_t bd = {1, n}, bs = {n, 1};
    dnnl_dims_t dd = {m, n}, ds = {n, 1};
    return dnnl_memory_desc_init_by_strides(&d->src, 2, sd, in_type(dt), ss) != dnnl_success ||
           dnnl_memory_desc_init_by_strides(&d->wei, 2, wd, in_type(dt), ws) != dnnl_success ||
           dnnl_memory_desc_init_by_strides(&d->bia, 2, bd, dnnl_f32, bs) != dnnl_success ||
           dnnl_memory_desc_init_by_strides(&d->dst, 2, dd, dnnl_f32, ds) != dnnl_success;
}

static dnnl_primitive_t create_matmul(dnnl_dim_t m, dnnl_dim_t k, dnnl_dim_t n, ops_dtype dt,
                                      int bias, int accumulate) {
    matmul_mds d;
    if (matmul_descs(&d, m, k, n, dt)) return NULL;
    dnnl_matmul_desc_t desc;
    if (dnnl_matmul_desc_init(&desc, &d.src, &d.wei, bias ? &d.bia : NULL, &d.dst) != dnnl_success)
        return NULL;
    dnnl_primitive_attr_t attr = NULL;
    dnnl_post_ops_t po = NULL;
    dnnl_primitive_desc_t pd = NULL;
    dnnl_primitive_t prim = NULL;
    if (dnnl_primitive_attr_create(&attr) != dnnl_success) return NULL;
    // y += x W^T + b: the sum post-op (dst = 1 * dst + result) reads y in the
    // kernel's own pass instead of a second sweep over y.
    if (accumulate && (dnnl_post_ops_create(&po) != dnnl_success ||
                       dnnl_post_ops_append_sum(po, 1.0f) != dnnl_success ||
                       dnnl_primitive_attr_set_post_ops(attr, po) != dnnl_success))
        goto done;
    if (dnnl_primitive_desc_create(&pd, &desc, attr, dnnl_eng, NULL) != dnnl_success) goto done;
    const char *impl = NULL;
    if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl)
        snprintf(dnnl_impl, sizeof dnnl_impl, "%s", impl);
    if (dnnl_primitive_create(&prim, pd) != dnnl_success) prim = NULL;
done:
    if (pd) dnnl_primitive_desc_destroy(pd);
    if (po) dnnl_post_ops_destroy(po);
    dnnl_primitive_attr_destroy(attr);
    return prim;
}

// The cached primitive for this shape, created (evicting the least recently
// used) on a miss. NULL when oneDNN cannot build it.
static dnnl_primitive_t lookup(dnnl_dim_t m, dnnl_dim_t k, dnnl_dim_t n, ops_dtype dt, int bias,
                               int accumulate) {
    dnnl_dim_t km = dnnl_runtime_m ? DNNL_RUNTIME_DIM_VAL : m;
    dnnl_entry *victim = &dnnl_cache[0];
    for (int i = 0; i < DNNL_CACHE_SLOTS; i++) {
        dnnl_entry *e = &dnnl_cache[i];
        if (e->valid && e->m == km && e->k == k && e->n == n && e->dtype == dt && e->bias == bias &&
            e->accumulate == accumulate) {
            e->last_use = ++dnnl_tick;
            return e->prim;
        }
        if (victim->valid && (!e->valid || e->last_use < victim->last_use)) victim = e;
    }
    dnnl_primitive_t prim = create_matmul(km, k, n, dt, bias, accumulate);
    if (!prim) return NULL;
    if (victim->valid) dnnl_primitive_destroy(victim->prim);
    *victim = (dnnl_entry){1, ++dnnl_tick, km, k, n, dt, bias, accumulate, prim};
    return prim;
}

// Memory objects wrap the caller's buffers (no copies); they are cheap next
// to a matmul and carry the actual M, which a run-time-M primitive needs.
static int run_matmul(dnnl_primitive_t prim, dnnl_dim_t m, dnnl_dim_t k, dnnl_dim_t n, ops_dtype dt,
                      const void *src, const void *wei, const float *bias, float *dst) {
    matmul_mds d;
    if (matmul_descs(&d, m, k, n, dt)) return 1;
    dnnl_memory_t mem[4] = {NULL, NULL, NULL, NULL};
    int rc = 1;
    if (dnnl_memory_create(&mem[0], &d.src, dnnl_eng, (void *)(uintptr_t)src) != dnnl_success ||
        dnnl_memory_create(&mem[1], &d.wei, dnnl_eng, (void *)(uintptr_t)wei) != dnnl_success ||
        dnnl_memory_create(&mem[2], &d.dst, dnnl_eng, dst) != dnnl_success ||
        (bias &&
         dnnl_memory_create(&mem[3], &d.bia, dnnl_eng, (void *)(uintptr_t)bias) != dnnl_success))
        goto done;
    dnnl_exec_arg_t args[4] = {{DNNL_ARG_SRC, mem[0]},
                               {DNNL_ARG_WEIGHTS, mem[1]},
                               {DNNL_ARG_DST, mem[2]},
                               {DNNL_ARG_BIAS, mem[3]}};
    if (dnnl_primitive_execute(prim, dnnl_strm, bias ? 4 : 3, args) != dnnl_success) goto done;
    rc = dnnl_stream_wait(dnnl_strm) != dnnl_success;
done:
    for (int i = 0; i < 4; i++)
        if (mem[i]) dnnl_memory_destroy(mem[i]);
    return rc;
}

// x -> bf16 over oneDNN's OpenMP threads: single-threaded it costs ~10% of a
// 2-thread bf16 matmul at K = 1024 (a pass over x per call, next to the
// matmul's 2 N flops per element).
static void round_to_bf16(const float *x, uint16_t *o, size_t count) {
    const size_t block = 4096; // 16 KiB of x per iteration
    long blocks = (long)((count + block - 1) / block);
#pragma omp parallel for schedule(static) if (count >= 16 * block)
    for (long i = 0; i < blocks; i++) {
        size_t s = (size_t)i * block, e = s + block < count ? s + block : count;
        half_f32_to_bf16_array(x + s, o + s, e - s);
    }
}

int ops_dnnl_linear(const float *x, size_t n, size_t in, const ops_matrix *wm, const float *b,
                    size_t out, float *y, int accumulate) {
    if (!ops_dnnl_available()) return 1;
    ops_dtype dtype = wm->dtype;
    const void *w = wm->data;
    if (dtype != OPS_DTYPE_F32 && dtype != OPS_DTYPE_BF16) return 1; // not yet: OpenBLAS path
    if (n == 0 || out == 0) return 0;
    if (in == 0) return 1; // y = b: oneDNN rejects K = 0; OpenBLAS's path handles it
    size_t tile = dtype == OPS_DTYPE_BF16 ? X_BF16_CAP / in : n;
    if (tile == 0) return 1; // one row of x exceeds the bf16 buffer
    follow_threads();
    pthread_mutex_lock(&dnnl_lock);
    int rc = 0;
    for (size_t r0 = 0; r0 < n && !rc; r0 += tile) {
        size_t rows = n - r0 < tile ? n - r0 : tile;
        dnnl_primitive_t prim = lookup((dnnl_dim_t)rows, (dnnl_dim_t)in, (dnnl_dim_t)out, dtype,
                                       b != NULL, accumulate != 0);
        if (!prim) {
            // A failure after a first tile ran would leave y half updated;
            // the bf16 tile holds every realistic chunk, so this only
            // happens on the first (or only) tile.
            rc = r0 == 0 ? 1 : -1;
            break;
        }
        const void *src = x + r0 * in;
        if (dtype == OPS_DTYPE_BF16) {
            round_to_bf16(x + r0 * in, x_bf16, rows * in);
            src = x_bf16;
        }
        rc = run_matmul(prim, (dnnl_dim_t)rows, (dnnl_dim_t)in, (dnnl_dim_t)out, dtype, src, w, b,
                        y + r0 * out);
        if (rc && r0 > 0) rc = -1;
    }
    pthread_mutex_unlock(&dnnl_lock);
    if (rc < 0) {
        // Cannot fall back (part of y is already updated): say so loudly.
        fprintf(stderr, "grating: oneDNN matmul failed part-way (%zu x %zu x %zu)\n", n, in, out);
        return 0;
    }
    return rc;
}

int ops_dnnl_sgemm(int trans_b, size_t m, size_t n, size_t k, const float *a, size_t lda,
                   const float *b, size_t ldb, float *c, size_t ldc) {
    if (!ops_dnnl_available()) return 1;
    if (m == 0 || n == 0) return 0;
    if (k == 0) return 1;
    follow_threads();
    // The attention products change shape with every sequence (M = N = its
    // length): oneDNN's BLAS-like sgemm (row-major, JIT kernels of the
    // effective ISA) needs no primitive per shape, so no cache to thrash.
    return dnnl_sgemm('N', trans_b ? 'T' : 'N', (dnnl_dim_t)m, (dnnl_dim_t)n, (dnnl_dim_t)k, 1.0f,
                      a, (dnnl_dim_t)lda, b, (dnnl_dim_t)ldb, 0.0f, c,
                      (dnnl_dim_t)ldc) != dnnl_success;
}

#else // !GRATING_HAVE_DNNL

int ops_dnnl_available(void) {
    return 0;
}

const char *ops_dnnl_isa(void) {
    return "none";
}

void ops_dnnl_set_threads(int n) {
    (void)n;
}

int ops_dnnl_set_runtime_m(int on) {
    (void)on;
    return 0;
}

const char *ops_dnnl_last_impl(void) {
    return "";
}

int ops_dnnl_linear(const float *x, size_t n, size_t in, const ops_matrix *w, const float *b,
                    size_t out, float *y, int accumulate) {
    (void)x, (void)n, (void)in, (void)w, (void)b, (void)out, (void)y, (void)accumulate;
    return 1;
}

int ops_dnnl_sgemm(int trans_b, size_t m, size_t n, size_t k, const float *a, size_t lda,
                   const float *b, size_t ldb, float *c, size_t ldc) {
    (void)trans_b, (void)m, (void)n, (void)k, (void)a, (void)lda, (void)b, (void)ldb, (void)c,
        (void)ldc;
    return 1;
}

#endif
