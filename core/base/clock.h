/*
 * clock.h - the one monotonic clock of grating.
 *
 * Durations (progress lines, timeouts, benchmark timings, cache and window
 * statistics) are differences of clock_now_seconds(). It reads
 * CLOCK_MONOTONIC, so wall-clock adjustments (NTP, a changed date) never make
 * a duration negative or a timeout fire early; its zero is arbitrary, so a
 * single value means nothing on its own.
 *
 *     double t0 = clock_now_seconds();
 *     ... work ...
 *     fprintf(stderr, "took %.1f ms\n", 1e3 * (clock_now_seconds() - t0));
 */
#ifndef GRATING_CLOCK_H
#define GRATING_CLOCK_H

// Seconds since an arbitrary fixed point, monotonic, nanosecond resolution.
double clock_now_seconds(void);

#endif
