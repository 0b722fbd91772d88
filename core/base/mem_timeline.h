/*
 * mem_timeline.h - memory over time, sampled by a background thread (for
 * plots like the paper's memory-over-time figure).
 *
 * Every `period_ms` the thread records the allocator's current bytes (total
 * and per category, core/base/mem.h) and the resident set size of the process
 * (/proc/self/statm). Samples go into an array preallocated at init
 * (MEM_OTHER, nothing allocated while sampling); when it is full, every
 * other sample is dropped and the period doubles, so a run of any length
 * keeps its whole timeline at a coarser resolution instead of losing its
 * start or end.
 *
 *     mem_timeline tl;
 *     if (mem_timeline_init(&tl, 5.0, MEM_TIMELINE_DEFAULT_CAPACITY) != STATUS_OK) ...
 *     mem_timeline_start(&tl);                       // t = 0, first sample now
 *     ... the run ...
 *     mem_timeline_stop(&tl);                        // last sample, thread joined
 *     mem_timeline_write_csv(&tl, "timeline.csv", "W=2", 0);            // system,t_ms,bytes
 *     mem_timeline_write_categories_csv(&tl, "timeline-categories.csv", "W=2", 0);
 *     mem_timeline_free(&tl);
 *
 * CSV formats (header line, then one row per sample, t_ms with 3 decimals):
 *   long:       system,t_ms,bytes          bytes = allocator total (what
 *               plotting/plot.sh memory-timeline draws, one line per system)
 *   categories: system,t_ms,total,weights,embeddings,hidden,activations,other,rss
 * `system` is the caller's label (quoted when it holds a comma or a quote).
 * With append != 0 rows are added to an existing file and the header is
 * written only when the file is empty, so several runs (e.g. one child
 * process per configuration) can share one file; otherwise the file is
 * written to a temporary name and renamed, never left half written.
 *
 * The sampled peak can miss a short spike between samples; the allocator's
 * high-water mark (mem_total_peak_bytes) is exact and is what tables report.
 */
#ifndef GRATING_MEM_TIMELINE_H
#define GRATING_MEM_TIMELINE_H

#include "base/mem.h"
#include "base/status.h"

#include <pthread.h>
#include <stddef.h>

// 16,384 samples (1.2 MiB): 80 s at 5 ms before the first halving.
enum { MEM_TIMELINE_DEFAULT_CAPACITY = 16384 };

typedef struct {
    double t_ms;                  // since mem_timeline_start
    size_t total;                 // allocator current bytes, all categories
    size_t cat[MEM_N_CATEGORIES]; // per category
    size_t rss;                   // resident set size in bytes
} mem_sample;

typedef struct {
    mem_sample *samples; // (capacity,)
    size_t capacity, n;
    double period_ms; // current period (doubles when the array fills)
    double t0;        // CLOCK_MONOTONIC seconds at start
    int running, stop;
    pthread_t thread;
    pthread_mutex_t mu; // guards samples, n, period_ms, stop
    pthread_cond_t cv;  // wakes the sampler early on stop (CLOCK_MONOTONIC)
} mem_timeline;

// Preallocates `capacity` samples (>= 2); period_ms > 0.
status mem_timeline_init(mem_timeline *tl, double period_ms, size_t capacity);
void mem_timeline_free(mem_timeline *tl);

// Clears earlier samples, sets t = 0 and starts the sampling thread.
status mem_timeline_start(mem_timeline *tl);
// Takes a final sample and joins the thread. No-op when not running.
void mem_timeline_stop(mem_timeline *tl);

// Largest sampled total / RSS.
size_t mem_timeline_peak_total(const mem_timeline *tl);
size_t mem_timeline_peak_rss(const mem_timeline *tl);

status mem_timeline_write_csv(const mem_timeline *tl, const char *path, const char *label,
                              int append);
status mem_timeline_write_categories_csv(const mem_timeline *tl, const char *path,
                                         const char *label, int append);

// Current resident set size of the process in bytes (/proc/self/statm; 0 if
// unavailable). getrusage only gives the peak.
size_t mem_current_rss_bytes(void);

#endif
