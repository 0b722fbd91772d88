/*
 * weight_window.h - layer weights streamed through W preallocated slots
 * (the paper's memory mechanism and its baselines):
 *   W = 1  each layer is read synchronously right before it runs
 *          (the paper's "HF Offload" baseline);
 *   W = 2  the dual-layer sliding window: an I/O thread reads layer l + 1
 *          into the free slot while layer l computes;
 *   W > 2  deeper prefetch.
 * Keeping every layer resident (the "HF" baseline) is not a window: the model
 * is then opened with its layers in memory (reranker_open).
 *
 * Slots are allocated once, at the size of the largest layer (MEM_WEIGHTS).
 * Reads go through a caller-supplied function (pread into the slot). Per
 * layer the window measures the read time and the exposed wait (time the
 * compute thread blocked in acquire), so "is the I/O hidden?" is measured,
 * not assumed.
 *
 *     weight_window w;
 *     weight_window_init(&w, 2, layer_floats, n_layers, read_layer, ctx);
 *     weight_window_begin(&w);                  // per query: prefetch starts at layer 0
 *     for (int l = 0; l < n_layers; l++) {
 *         const float *slot;
 *         if (weight_window_acquire(&w, l, &slot) != STATUS_OK) ...  // I/O error
 *         ... run layer l with the weights in slot ...
 *         weight_window_release(&w, l);
 *     }
 *     weight_window_end(&w);                    // also after an early stop
 *     weight_window_free(&w);
 *
 * Layers are acquired in increasing order within a pass (layers may be
 * skipped only at the end, when the query stops early). An I/O error fails
 * the acquire of that layer with the reader's message; the I/O thread never
 * hangs: end() and free() wait for the read in flight and stop it.
 */
#ifndef GRATING_WEIGHT_WINDOW_H
#define GRATING_WEIGHT_WINDOW_H

#include "base/status.h"

#include <pthread.h>
#include <stddef.h>

// Reads layer `layer` into `slot` (slot_floats floats). Called from the I/O
// thread (W >= 2) or the caller's thread (W = 1). Returns a status with the
// message set on failure.
typedef status (*weight_window_read_fn)(void *ctx, int layer, float *slot);

typedef struct {
    size_t n_slots, slot_floats, n_layers;
    float **slots;     // (n_slots,) each (slot_floats,), MEM_WEIGHTS
    int *slot_layer;   // (n_slots,) layer held or being read, -1 = free
    int *slot_ready;   // (n_slots,) 1 when the read finished
    int next_to_read;  // next layer the I/O thread will read in this pass
    int pass_open;     // between begin and end
    int quit;          // the I/O thread must exit
    int reading;       // a read is in flight
    status io_status;  // first I/O error of the pass
    int failed_layer;  // the layer whose read failed
    char io_message[1024];
    weight_window_read_fn read;
    void *ctx;
    pthread_t thread;
    int thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    double *read_seconds; // (n_layers,) of the last pass
    double *wait_seconds; // (n_layers,) exposed wait of the last pass
} weight_window;

status weight_window_init(weight_window *w, size_t n_slots, size_t slot_floats, size_t n_layers,
                          weight_window_read_fn read, void *ctx);
void weight_window_free(weight_window *w);

status weight_window_begin(weight_window *w);
status weight_window_acquire(weight_window *w, int layer, const float **slot);
void weight_window_release(weight_window *w, int layer);
void weight_window_end(weight_window *w);

#endif
