#include "io/weight_window.h"
#include "base/mem.h"
#include "base/clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int ww_find(const weight_window *w, int layer) {
    for (size_t s = 0; s < w->n_slots; s++)
        if (w->slot_layer[s] == layer) return (int)s;
    return -1;
}

// The I/O thread: while a pass is open, read the next layer into a free slot.
static void *ww_io_main(void *arg) {
    weight_window *w = arg;
    pthread_mutex_lock(&w->mu);
    for (;;) {
        int slot = -1;
        while (!w->quit) {
            slot = w->pass_open && w->io_status == STATUS_OK && w->next_to_read < (int)w->n_layers
                       ? ww_find(w, -1)
                       : -1;
            if (slot >= 0) break;
            pthread_cond_wait(&w->cv, &w->mu);
        }
        if (w->quit) break;
        int layer = w->next_to_read++;
        w->slot_layer[slot] = layer;
        w->slot_ready[slot] = 0;
        w->reading = 1;
        pthread_mutex_unlock(&w->mu);
        double t0 = clock_now_seconds();
        status st = w->read(w->ctx, layer, w->slots[slot]);
        double dt = clock_now_seconds() - t0;
        pthread_mutex_lock(&w->mu);
        w->reading = 0;
        w->read_seconds[layer] = dt;
        if (st != STATUS_OK && w->io_status == STATUS_OK) {
            w->io_status = st;
            w->failed_layer = layer;
            snprintf(w->io_message, sizeof w->io_message, "%s", status_message());
        }
        w->slot_ready[slot] = 1;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

status weight_window_init(weight_window *w, size_t n_slots, size_t slot_floats, size_t n_layers,
                          weight_window_read_fn read, void *ctx) {
    memset(w, 0, sizeof *w);
    if (n_slots < 1 || n_layers < 1)
        return status_fail(STATUS_ERR_ARG, "weight window: needs at least 1 slot and 1 layer");
    if (n_slots > n_layers) n_slots = n_layers; // more slots than layers would stay empty
    w->n_slots = n_slots;
    w->slot_floats = slot_floats;
    w->n_layers = n_layers;
    w->read = read;
    w->ctx = ctx;
    // Initialised first so that every failure path can go through free().
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    w->slots = calloc(n_slots, sizeof *w->slots);
    w->slot_layer = malloc(n_slots * sizeof *w->slot_layer);
    w->slot_ready = calloc(n_slots, sizeof *w->slot_ready);
    w->read_seconds = calloc(n_layers, sizeof *w->read_seconds);
    w->wait_seconds = calloc(n_layers, sizeof *w->wait_seconds);
    if (!w->slots || !w->slot_layer || !w->slot_ready || !w->read_seconds || !w->wait_seconds) {
        weight_window_free(w);
        return status_fail(STATUS_ERR_NOMEM, "weight window: out of memory");
    }
    for (size_t s = 0; s < n_slots; s++) {
        w->slot_layer[s] = -1;
        if (!(w->slots[s] = mem_alloc(MEM_WEIGHTS, slot_floats * sizeof(float)))) {
            weight_window_free(w);
            return STATUS_ERR_NOMEM;
        }
    }
    if (n_slots >= 2) {
        if (pthread_create(&w->thread, NULL, ww_io_main, w) != 0) {
            weight_window_free(w);
            return status_fail(STATUS_ERR_NOMEM, "weight window: cannot start the I/O thread");
        }
        w->thread_started = 1;
    }
    return STATUS_OK;
}

void weight_window_free(weight_window *w) {
    if (w->n_slots) { // initialised (the mutex exists)
        if (w->thread_started) {
            pthread_mutex_lock(&w->mu);
            w->quit = 1;
            pthread_cond_broadcast(&w->cv);
            pthread_mutex_unlock(&w->mu);
            pthread_join(w->thread, NULL);
        }
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
    }
    for (size_t s = 0; w->slots && s < w->n_slots; s++) mem_free(w->slots[s]);
    free(w->slots);
    free(w->slot_layer);
    free(w->slot_ready);
    free(w->read_seconds);
    free(w->wait_seconds);
    memset(w, 0, sizeof *w);
}

status weight_window_begin(weight_window *w) {
    pthread_mutex_lock(&w->mu);
    for (size_t s = 0; s < w->n_slots; s++) w->slot_layer[s] = -1, w->slot_ready[s] = 0;
    for (size_t l = 0; l < w->n_layers; l++) w->read_seconds[l] = w->wait_seconds[l] = 0.0;
    w->next_to_read = 0;
    w->io_status = STATUS_OK;
    w->io_message[0] = '\0';
    w->failed_layer = -1;
    w->pass_open = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return STATUS_OK;
}

status weight_window_acquire(weight_window *w, int layer, const float **slot) {
    *slot = NULL;
    if (layer < 0 || (size_t)layer >= w->n_layers)
        return status_fail(STATUS_ERR_ARG, "weight window: layer %d out of range", layer);
    double t0 = clock_now_seconds();
    if (!w->thread_started) { // W = 1: synchronous read right before use
        status st = w->read(w->ctx, layer, w->slots[0]);
        double dt = clock_now_seconds() - t0;
        w->read_seconds[layer] = dt;
        w->wait_seconds[layer] = dt;
        if (st != STATUS_OK) return status_wrap(st, "weight window: layer %d", layer);
        w->slot_layer[0] = layer;
        *slot = w->slots[0];
        return STATUS_OK;
    }
    pthread_mutex_lock(&w->mu);
    int s;
    for (;;) {
        s = ww_find(w, layer);
        int ready = s >= 0 && w->slot_ready[s];
        // A failed read ends the pass: its layer and every later one fail.
        if (w->io_status != STATUS_OK && (w->failed_layer == layer || !ready)) {
            status st = w->io_status;
            char msg[1024];
            memcpy(msg, w->io_message, sizeof msg);
            pthread_mutex_unlock(&w->mu);
            return status_fail(st, "weight window: reading layer %d failed: %s", w->failed_layer, msg);
        }
        if (ready) break;
        if (s < 0 && w->next_to_read > layer) { // layers must be acquired in order
            pthread_mutex_unlock(&w->mu);
            return status_fail(STATUS_ERR_ARG, "weight window: layer %d acquired out of order", layer);
        }
        pthread_cond_wait(&w->cv, &w->mu);
    }
    w->wait_seconds[layer] = clock_now_seconds() - t0;
    *slot = w->slots[s];
    pthread_mutex_unlock(&w->mu);
    return STATUS_OK;
}

void weight_window_release(weight_window *w, int layer) {
    if (!w->thread_started) {
        w->slot_layer[0] = -1;
        return;
    }
    pthread_mutex_lock(&w->mu);
    int s = ww_find(w, layer);
    if (s >= 0) w->slot_layer[s] = -1, w->slot_ready[s] = 0;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

void weight_window_end(weight_window *w) {
    if (!w->thread_started) {
        w->slot_layer[0] = -1;
        return;
    }
    pthread_mutex_lock(&w->mu);
    w->pass_open = 0;
    while (w->reading) pthread_cond_wait(&w->cv, &w->mu);
    for (size_t s = 0; s < w->n_slots; s++) w->slot_layer[s] = -1, w->slot_ready[s] = 0;
    pthread_mutex_unlock(&w->mu);
}
