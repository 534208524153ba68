/* SPDX-License-Identifier: Apache-2.0
 *
 * Group commit (DESIGN §4, §5). Appends land in the page cache on the loop thread; the
 * engine then calls flush() once per loop iteration with a callback. One fdatasync per
 * dirty segment, on the store thread, covers every append made before the request; the
 * thread wakes the loop (uv_async) and the callbacks run there.
 *
 *   flush(cb) ── no sync in flight ──► snapshot dirty fds, wake the thread ── INFLIGHT
 *        │                                                                     │
 *        └── a sync in flight: cb waits for the next one                 done (async)
 *                                                                              ▼
 *                        run the in-flight callbacks; if others wait, start the next sync
 *
 * Modes: sync=always (above); sync=<ms> (callbacks at once, a timer syncs every <ms>);
 * sync=never (callbacks at once; the OS writes back when it likes). An fdatasync error
 * is sticky (fsyncgate): the store refuses further appends until restart, when
 * recovery re-verifies the log.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "herald/errors.h"
#include "store/log_internal.h"

static void *sync_thread(void *arg)
{
    struct hr_log_store *ls = arg;
    pthread_mutex_lock(&ls->mu);
    for (;;) {
        while (!ls->sync_requested && !ls->sync_stop)
            pthread_cond_wait(&ls->cv, &ls->mu);
        if (ls->sync_stop)
            break;
        ls->sync_requested = false;
        size_t n = ls->sync_nfds;
        int *fds = ls->sync_fds;
        pthread_mutex_unlock(&ls->mu);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int result = 0;
        for (size_t i = 0; i < n; i++) {
            int rc = ls->io->fdatasync(ls->io, fds[i]);
            if (rc && !result)
                result = rc;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        pthread_mutex_lock(&ls->mu);
        ls->fsyncs += n;
        ls->sync_batches++;
        uint64_t ns = (uint64_t)((t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec));
        ls->fsync_ns_total += ns;
        size_t b = 0;
        while (b < HERALD_FSYNC_BUCKETS && ns > (uint64_t)herald_fsync_bucket_us(b) * 1000)
            b++;
        ls->fsync_buckets[b]++;
        ls->sync_result = result;
        ls->sync_done = true;
        uv_async_send(&ls->async);
    }
    pthread_mutex_unlock(&ls->mu);
    return NULL;
}

/* Waiters are pushed at the head; run them oldest first. */
static void run_waiters(struct hr_flush_waiter *w, int status)
{
    struct hr_flush_waiter *rev = NULL;
    while (w) {
        struct hr_flush_waiter *next = w->next;
        w->next = rev;
        rev = w;
        w = next;
    }
    w = rev;
    while (w) {
        struct hr_flush_waiter *next = w->next;
        w->cb(w->arg, status);
        free(w);
        w = next;
    }
}

static void bury_fds(struct hr_log_store *ls)
{
    while (ls->grave) {
        struct hr_fd_grave *g = ls->grave;
        ls->grave = g->next;
        g->io->close(g->io, g->fd);
        free(g);
    }
}

void hr_log_retire_fd(struct hr_log_store *ls, struct hr_io *io, int fd)
{
    struct hr_fd_grave *g = ls->sync_inflight ? malloc(sizeof *g) : NULL;
    if (!ls->sync_inflight) {
        io->close(io, fd);
    } else if (!g) {
        /* Closing under the thread's fdatasync could sync a reused descriptor: keep it. */
        hr_warn("store: out of memory; leaking descriptor %d rather than closing it mid-sync", fd);
    } else {
        *g = (struct hr_fd_grave){fd, io, ls->grave};
        ls->grave = g;
    }
}

/* Adds fd to sync_fds; false when out of memory (the file stays dirty for next time). */
static bool push_fd(struct hr_log_store *ls, size_t *n, int fd)
{
    if (*n == ls->sync_cap) {
        size_t cap = ls->sync_cap ? ls->sync_cap * 2 : 16;
        int *p = realloc(ls->sync_fds, cap * sizeof *p);
        if (!p)
            return false;
        ls->sync_fds = p;
        ls->sync_cap = cap;
    }
    ls->sync_fds[(*n)++] = fd;
    return true;
}

/* Snapshots the dirty segments and consumer logs into sync_fds; returns how many.
 * Loop thread. */
static size_t collect_dirty(struct hr_log_store *ls)
{
    size_t n = 0;
    for (struct hr_stream_store *s = ls->streams; s; s = s->next) {
        if (s->memory)
            continue;
        for (size_t i = 0; i < s->nsegs; i++) {
            struct hr_segment *seg = s->segs[i];
            if (seg->dirty && push_fd(ls, &n, seg->fd))
                seg->dirty = false;
        }
        for (struct hr_consumer_log *c = s->clogs; c; c = c->next)
            if (c->dirty && push_fd(ls, &n, c->fd))
                c->dirty = false;
    }
    return n;
}

/* Starts a sync of what is dirty now; false when nothing is. Loop thread. */
static bool start_sync(struct hr_log_store *ls)
{
    pthread_mutex_lock(&ls->mu);
    size_t n = collect_dirty(ls);
    if (n) {
        ls->sync_nfds = n;
        ls->sync_requested = true;
        ls->sync_done = false;
        ls->sync_inflight = true;
        pthread_cond_signal(&ls->cv);
    }
    pthread_mutex_unlock(&ls->mu);
    return n > 0;
}

static void on_sync_done(uv_async_t *h)
{
    struct hr_log_store *ls = h->data;
    pthread_mutex_lock(&ls->mu);
    bool done = ls->sync_done;
    int result = ls->sync_result;
    if (done) {
        ls->sync_done = false;
        ls->sync_inflight = false;
    }
    pthread_mutex_unlock(&ls->mu);
    if (!done)
        return;
    bury_fds(ls);
    if (result && !ls->fsync_failed) {
        ls->fsync_failed = true;
        hr_error("store: fdatasync failed: %s; refusing writes until restart", herald_strerror(result));
    }
    struct hr_flush_waiter *w = ls->inflight_waiters;
    ls->inflight_waiters = NULL;
    run_waiters(w, result ? HERALD_ESTORE : 0);
    if (ls->next_waiters) {
        ls->inflight_waiters = ls->next_waiters;
        ls->next_waiters = NULL;
        if (!start_sync(ls)) {
            w = ls->inflight_waiters;
            ls->inflight_waiters = NULL;
            run_waiters(w, ls->fsync_failed ? HERALD_ESTORE : 0);
        }
    }
}

void hr_log_flush(struct hr_store *st, hr_store_flush_cb cb, void *arg)
{
    struct hr_log_store *ls = (struct hr_log_store *)st;
    if (ls->sync != HR_SYNC_ALWAYS || !ls->thread_started) {
        cb(arg, ls->fsync_failed ? HERALD_ESTORE : 0);
        return;
    }
    struct hr_flush_waiter *w = malloc(sizeof *w);
    if (!w) {
        cb(arg, HERALD_ENOMEM);
        return;
    }
    *w = (struct hr_flush_waiter){cb, arg, NULL};
    if (ls->sync_inflight) {
        w->next = ls->next_waiters;
        ls->next_waiters = w;
        return;
    }
    w->next = ls->inflight_waiters;
    ls->inflight_waiters = w;
    if (!start_sync(ls)) {
        ls->inflight_waiters = NULL;
        run_waiters(w, ls->fsync_failed ? HERALD_ESTORE : 0);
    }
}

static void on_interval(uv_timer_t *t)
{
    struct hr_log_store *ls = t->data;
    if (!ls->sync_inflight)
        start_sync(ls);
}

/* libuv owns a handle's memory until its close callback: `ls` is freed by the last one
 * (destroy leaves it to them when handles are open). */
static void on_handle_closed(uv_handle_t *h)
{
    struct hr_log_store *ls = h->data;
    if (--ls->handles_open == 0)
        free(ls);
}

int hr_log_sync_start(struct hr_log_store *ls)
{
    if (!ls->loop || ls->sync == HR_SYNC_NEVER)
        return 0;
    pthread_mutex_init(&ls->mu, NULL);
    pthread_cond_init(&ls->cv, NULL);
    uv_async_init(ls->loop, &ls->async, on_sync_done);
    ls->async.data = ls;
    ls->handles_open++;
    uv_unref((uv_handle_t *)&ls->async); /* the store never keeps the loop alive alone */
    if (pthread_create(&ls->thread, NULL, sync_thread, ls) != 0) {
        uv_close((uv_handle_t *)&ls->async, on_handle_closed);
        pthread_mutex_destroy(&ls->mu);
        pthread_cond_destroy(&ls->cv);
        return HERALD_ENOMEM;
    }
    ls->thread_started = true;
    if (ls->sync == HR_SYNC_INTERVAL) {
        uv_timer_init(ls->loop, &ls->interval_timer);
        ls->interval_timer.data = ls;
        ls->handles_open++;
        uv_timer_start(&ls->interval_timer, on_interval, (uint64_t)ls->sync_interval_ms,
                       (uint64_t)ls->sync_interval_ms);
        uv_unref((uv_handle_t *)&ls->interval_timer);
    }
    return 0;
}

void hr_log_sync_stop(struct hr_log_store *ls)
{
    if (!ls->thread_started)
        return;
    pthread_mutex_lock(&ls->mu);
    ls->sync_stop = true;
    pthread_cond_signal(&ls->cv);
    pthread_mutex_unlock(&ls->mu);
    pthread_join(ls->thread, NULL);
    ls->thread_started = false;
    int result = 0;
    if (ls->sync_requested) {
        /* The thread stopped before starting the sync it was asked for: those
         * descriptors are off the dirty list, so sync them here, before any closes. */
        for (size_t i = 0; i < ls->sync_nfds; i++) {
            int rc = ls->io->fdatasync(ls->io, ls->sync_fds[i]);
            if (rc && !result)
                result = rc;
        }
    } else if (ls->sync_done) {
        result = ls->sync_result; /* finished, but on_sync_done will not run now */
    }
    ls->sync_requested = ls->sync_done = ls->sync_inflight = false; /* closes are direct now */
    bury_fds(ls);
    /* Whatever was written is made durable before we go (streams are still open). */
    size_t n = collect_dirty(ls);
    for (size_t i = 0; i < n; i++) {
        int rc = ls->io->fdatasync(ls->io, ls->sync_fds[i]);
        if (rc && !result)
            result = rc;
    }
    if (result && !ls->fsync_failed) {
        ls->fsync_failed = true;
        hr_error("store: fdatasync failed: %s", herald_strerror(result));
    }
    int status = ls->fsync_failed ? HERALD_ESTORE : 0;
    run_waiters(ls->inflight_waiters, status);
    run_waiters(ls->next_waiters, status);
    ls->inflight_waiters = ls->next_waiters = NULL;
    uv_close((uv_handle_t *)&ls->async, on_handle_closed);
    if (ls->sync == HR_SYNC_INTERVAL)
        uv_close((uv_handle_t *)&ls->interval_timer, on_handle_closed);
    free(ls->sync_fds);
    pthread_mutex_destroy(&ls->mu);
    pthread_cond_destroy(&ls->cv);
}

void hr_log_sync_stats(struct hr_store *st, struct herald_store_stats *out)
{
    struct hr_log_store *ls = (struct hr_log_store *)st;
    if (ls->thread_started)
        pthread_mutex_lock(&ls->mu);
    out->fsyncs = ls->fsyncs;
    out->fsync_batches = ls->sync_batches;
    out->fsync_ns_total = ls->fsync_ns_total;
    memcpy(out->fsync_buckets, ls->fsync_buckets, sizeof out->fsync_buckets);
    if (ls->thread_started)
        pthread_mutex_unlock(&ls->mu);
}
