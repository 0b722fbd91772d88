#include "base/mem_timeline.h"
#include "base/clock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

size_t mem_current_rss_bytes(void) {
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char buf[128];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) return 0;
    buf[n] = '\0';
    unsigned long size_pages, resident_pages;
    if (sscanf(buf, "%lu %lu", &size_pages, &resident_pages) != 2) return 0;
    long page = sysconf(_SC_PAGESIZE);
    return (size_t)resident_pages * (size_t)(page > 0 ? page : 4096);
}

status mem_timeline_init(mem_timeline *tl, double period_ms, size_t capacity) {
    memset(tl, 0, sizeof *tl);
    if (!(period_ms > 0.0) || capacity < 2)
        return status_fail(STATUS_ERR_ARG,
                           "memory timeline: period %g ms must be > 0 and capacity %zu >= 2",
                           period_ms, capacity);
    tl->samples = mem_alloc(MEM_OTHER, capacity * sizeof *tl->samples);
    if (!tl->samples)
        return status_wrap(STATUS_ERR_NOMEM, "memory timeline of %zu samples", capacity);
    tl->capacity = capacity;
    tl->period_ms = period_ms;
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&tl->cv, &attr);
    pthread_condattr_destroy(&attr);
    pthread_mutex_init(&tl->mu, NULL);
    return STATUS_OK;
}

void mem_timeline_free(mem_timeline *tl) {
    if (!tl->samples) return;
    mem_timeline_stop(tl);
    pthread_mutex_destroy(&tl->mu);
    pthread_cond_destroy(&tl->cv);
    mem_free(tl->samples);
    memset(tl, 0, sizeof *tl);
}

// Appends a sample (mu held); halves the timeline first when it is full.
static void mem_timeline_record(mem_timeline *tl) {
    if (tl->n == tl->capacity) {
        size_t kept = 0;
        for (size_t i = 0; i < tl->n; i += 2)
            tl->samples[kept++] = tl->samples[i];
        tl->n = kept;
        tl->period_ms *= 2.0;
    }
    mem_sample *s = &tl->samples[tl->n++];
    s->t_ms = (clock_now_seconds() - tl->t0) * 1e3;
    for (int c = 0; c < MEM_N_CATEGORIES; c++)
        s->cat[c] = mem_current_bytes((mem_category)c);
    s->total = mem_total_current_bytes();
    s->rss = mem_current_rss_bytes();
}

static void *mem_timeline_main(void *arg) {
    mem_timeline *tl = arg;
    pthread_mutex_lock(&tl->mu);
    double next = tl->t0;
    for (;;) {
        // Fixed schedule (t0 + i * period), so sampling cost does not drift it.
        next += tl->period_ms * 1e-3;
        double now = clock_now_seconds();
        if (next < now) next = now;
        struct timespec until = {.tv_sec = (time_t)next,
                                 .tv_nsec = (long)((next - (double)(time_t)next) * 1e9)};
        while (!tl->stop && pthread_cond_timedwait(&tl->cv, &tl->mu, &until) != ETIMEDOUT) {
        }
        if (tl->stop) break;
        mem_timeline_record(tl);
    }
    pthread_mutex_unlock(&tl->mu);
    return NULL;
}

status mem_timeline_start(mem_timeline *tl) {
    if (tl->running) return status_fail(STATUS_ERR_ARG, "memory timeline: already running");
    tl->n = 0;
    tl->stop = 0;
    tl->t0 = clock_now_seconds();
    mem_timeline_record(tl); // t = 0: every timeline has its start and its end
    if (pthread_create(&tl->thread, NULL, mem_timeline_main, tl) != 0)
        return status_fail(STATUS_ERR_NOMEM, "memory timeline: cannot start the sampling thread");
    tl->running = 1;
    return STATUS_OK;
}

void mem_timeline_stop(mem_timeline *tl) {
    if (!tl->running) return;
    pthread_mutex_lock(&tl->mu);
    tl->stop = 1;
    pthread_cond_signal(&tl->cv);
    pthread_mutex_unlock(&tl->mu);
    pthread_join(tl->thread, NULL);
    tl->running = 0;
    mem_timeline_record(tl); // the state at the end of the run
}

size_t mem_timeline_peak_total(const mem_timeline *tl) {
    size_t peak = 0;
    for (size_t i = 0; i < tl->n; i++)
        peak = tl->samples[i].total > peak ? tl->samples[i].total : peak;
    return peak;
}

size_t mem_timeline_peak_rss(const mem_timeline *tl) {
    size_t peak = 0;
    for (size_t i = 0; i < tl->n; i++)
        peak = tl->samples[i].rss > peak ? tl->samples[i].rss : peak;
    return peak;
}

// The label as a CSV field (RFC 4180 quoting when needed).
static void mem_timeline_put_label(FILE *f, const char *label) {
    if (!strpbrk(label, ",\"\r\n")) {
        fputs(label, f);
        return;
    }
    fputc('"', f);
    for (const char *p = label; *p; p++) {
        if (*p == '"') fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

static status mem_timeline_write(const mem_timeline *tl, const char *path, const char *label,
                                 int append, int categories) {
    if (tl->running)
        return status_fail(STATUS_ERR_ARG, "%s: memory timeline still running (stop it first)",
                           path);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp-%ld", path, (long)getpid());
    FILE *f = fopen(append ? path : tmp, append ? "a" : "w");
    if (!f)
        return status_fail(STATUS_ERR_IO, "%s: cannot open for writing: %s", append ? path : tmp,
                           strerror(errno));
    if (append) fseek(f, 0, SEEK_END); // where "a" streams start is unspecified
    if (!append || ftell(f) == 0) {
        if (categories) {
            fputs("system,t_ms,total", f);
            for (int c = 0; c < MEM_N_CATEGORIES; c++)
                fprintf(f, ",%s", mem_category_name((mem_category)c));
            fputs(",rss\n", f);
        } else {
            fputs("system,t_ms,bytes\n", f);
        }
    }
    for (size_t i = 0; i < tl->n; i++) {
        const mem_sample *s = &tl->samples[i];
        mem_timeline_put_label(f, label);
        fprintf(f, ",%.3f,%zu", s->t_ms, s->total);
        if (categories) {
            for (int c = 0; c < MEM_N_CATEGORIES; c++)
                fprintf(f, ",%zu", s->cat[c]);
            fprintf(f, ",%zu", s->rss);
        }
        fputc('\n', f);
    }
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || (!append && rename(tmp, path) != 0)) {
        int e = errno;
        if (!append) unlink(tmp);
        return status_fail(STATUS_ERR_IO, "%s: cannot write the memory timeline: %s", path,
                           strerror(e));
    }
    return STATUS_OK;
}

status mem_timeline_write_csv(const mem_timeline *tl, const char *path, const char *label,
                              int append) {
    return mem_timeline_write(tl, path, label, append, 0);
}

status mem_timeline_write_categories_csv(const mem_timeline *tl, const char *path,
                                         const char *label, int append) {
    return mem_timeline_write(tl, path, label, append, 1);
}
