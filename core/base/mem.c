#include "base/mem.h"
#include "base/status.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

enum { MEM_ALIGN = 64 };

// Header placed in the 64 bytes before each block: size and category.
typedef struct {
    size_t bytes;
    mem_category cat;
} mem_header;

static atomic_size_t mem_current[MEM_N_CATEGORIES];
static atomic_size_t mem_peak[MEM_N_CATEGORIES];
static atomic_size_t mem_total_current;
static atomic_size_t mem_total_peak;
static atomic_size_t mem_fail_countdown;
static atomic_int mem_fail_flag;

static void mem_raise_peak(atomic_size_t *peak, size_t value) {
    size_t old = atomic_load(peak);
    while (value > old && !atomic_compare_exchange_weak(peak, &old, value)) {
    }
}

void *mem_alloc(mem_category cat, size_t bytes) {
    if ((unsigned)cat >= MEM_N_CATEGORIES) cat = MEM_OTHER;
    size_t countdown = atomic_load(&mem_fail_countdown);
    if (countdown > 0) {
        if (atomic_fetch_sub(&mem_fail_countdown, 1) == 1) {
            atomic_store(&mem_fail_flag, 1);
            status_fail(STATUS_ERR_NOMEM, "allocation of %zu bytes (%s) failed (injected)", bytes,
                        mem_category_name(cat));
            return NULL;
        }
    }
    if (bytes > SIZE_MAX - 2 * MEM_ALIGN) {
        status_fail(STATUS_ERR_NOMEM, "allocation of %zu bytes (%s) is too large", bytes,
                    mem_category_name(cat));
        return NULL;
    }
    size_t total = MEM_ALIGN + ((bytes + MEM_ALIGN - 1) / MEM_ALIGN) * MEM_ALIGN;
    unsigned char *base = aligned_alloc(MEM_ALIGN, total);
    if (!base) {
        status_fail(STATUS_ERR_NOMEM, "allocation of %zu bytes (%s) failed", bytes,
                    mem_category_name(cat));
        return NULL;
    }
    mem_header *h = (mem_header *)base;
    h->bytes = bytes;
    h->cat = cat;
    size_t cur = atomic_fetch_add(&mem_current[cat], bytes) + bytes;
    mem_raise_peak(&mem_peak[cat], cur);
    size_t tot = atomic_fetch_add(&mem_total_current, bytes) + bytes;
    mem_raise_peak(&mem_total_peak, tot);
    return base + MEM_ALIGN;
}

void *mem_calloc(mem_category cat, size_t bytes) {
    void *p = mem_alloc(cat, bytes);
    if (p) memset(p, 0, bytes);
    return p;
}

void mem_free(void *ptr) {
    if (!ptr) return;
    unsigned char *base = (unsigned char *)ptr - MEM_ALIGN;
    mem_header *h = (mem_header *)base;
    atomic_fetch_sub(&mem_current[h->cat], h->bytes);
    atomic_fetch_sub(&mem_total_current, h->bytes);
    free(base);
}

size_t mem_current_bytes(mem_category cat) {
    return (unsigned)cat < MEM_N_CATEGORIES ? atomic_load(&mem_current[cat]) : 0;
}

size_t mem_peak_bytes(mem_category cat) {
    return (unsigned)cat < MEM_N_CATEGORIES ? atomic_load(&mem_peak[cat]) : 0;
}

size_t mem_total_current_bytes(void) {
    return atomic_load(&mem_total_current);
}

size_t mem_total_peak_bytes(void) {
    return atomic_load(&mem_total_peak);
}

void mem_reset_peaks(void) {
    for (int c = 0; c < MEM_N_CATEGORIES; c++) atomic_store(&mem_peak[c], atomic_load(&mem_current[c]));
    atomic_store(&mem_total_peak, atomic_load(&mem_total_current));
}

const char *mem_category_name(mem_category cat) {
    static const char *names[MEM_N_CATEGORIES] = {"weights", "embeddings", "hidden", "activations",
                                                  "other"};
    return (unsigned)cat < MEM_N_CATEGORIES ? names[cat] : "invalid";
}

void mem_fail_after(size_t n) {
    atomic_store(&mem_fail_flag, 0);
    atomic_store(&mem_fail_countdown, n);
}

int mem_fail_fired(void) {
    return atomic_load(&mem_fail_flag);
}

size_t mem_peak_rss_bytes(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return 0;
    return (size_t)ru.ru_maxrss * 1024; // Linux reports KiB
}
