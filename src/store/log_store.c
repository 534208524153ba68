/* SPDX-License-Identifier: Apache-2.0
 *
 * The embedded log store as a whole: creating it over a data directory, opening,
 * closing, listing and removing streams (<dir>/streams/<name>/), and the ops table the
 * engine calls (store.h). Memory streams run the same code over an in-memory file
 * system of their own.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "herald/errors.h"
#include "store/log_internal.h"

static char *path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/%s", a, b);
    return p;
}

static void stream_free(struct hr_stream_store *s)
{
    while (s->nsegs)
        hr_seg_close(s, s->segs[s->nsegs - 1], false);
    free(s->segs);
    for (size_t i = 0; i < s->subjects.cap; i++) {
        struct hr_subj *sj = s->subjects.slots[i].hash ? s->subjects.slots[i].val : NULL;
        if (sj) {
            free(sj->subject);
            free(sj);
        }
    }
    hr_map_cleanup(&s->subjects);
    free(s->deleted.v);
    hr_buf_cleanup(&s->wbuf);
    hr_buf_cleanup(&s->window.buf);
    if (s->memory)
        hr_io_mem_destroy(s->io);
    free(s->name);
    free(s->dir);
    free(s);
}

static void unlist(struct hr_stream_store *s)
{
    struct hr_stream_store **pp = &s->store->streams;
    while (*pp && *pp != s)
        pp = &(*pp)->next;
    if (*pp)
        *pp = s->next;
}

static int log_stream_open(struct hr_store *st, const char *name, bool memory,
                           const struct hr_stream_limits *lim, struct hr_stream_store **out)
{
    struct hr_log_store *ls = (struct hr_log_store *)st;
    struct hr_stream_store *s = calloc(1, sizeof *s);
    if (!s)
        return HERALD_ENOMEM;
    s->store = ls;
    s->memory = memory;
    s->lim = *lim;
    s->first_seq = 1;
    hr_map_init(&s->subjects);
    hr_buf_init(&s->wbuf, HR_RECORD_MAX + 4096);
    hr_buf_init(&s->window.buf, HR_READ_WINDOW);
    int rc = HERALD_ENOMEM;
    char *streams = path_join(ls->dir, "streams");
    s->name = strdup(name);
    s->dir = streams ? path_join(streams, name) : NULL;
    free(streams);
    if (!s->name || !s->dir)
        goto out_free;
    if (memory) {
        s->io = hr_io_mem_create();
        if (!s->io)
            goto out_free;
    } else {
        s->io = ls->io;
        rc = s->io->mkdir(s->io, s->dir);
        if (rc) {
            hr_error("stream %s: cannot create %s: %s", name, s->dir, herald_strerror(rc));
            goto out_free;
        }
    }
    rc = hr_log_recover(s);
    if (rc) {
        hr_error("stream %s: recovery failed: %s", name, herald_strerror(rc));
        goto out_free;
    }
    s->next = ls->streams;
    ls->streams = s;
    *out = s;
    return 0;
out_free:
    stream_free(s);
    return rc;
}

static void log_stream_close(struct hr_stream_store *s)
{
    /* P1: the next start reads this instead of the whole log. */
    if (s->store->checkpoints && s->records_since_ckpt && !s->memory && s->nsegs)
        hr_log_checkpoint_write(s);
    /* S5: flushes queued for the next sync may cover appends to this stream, and that
     * sync will not see its segments once they are closed: sync them now. */
    struct hr_log_store *ls = s->store;
    for (size_t i = 0; i < s->nsegs && !s->memory && ls->thread_started; i++) {
        struct hr_segment *seg = s->segs[i];
        if (seg->dirty && s->io->fdatasync(s->io, seg->fd) != 0 && !ls->fsync_failed) {
            ls->fsync_failed = true;
            hr_error("stream %s: fdatasync failed at close; refusing writes until restart",
                     s->name);
        }
        seg->dirty = false;
    }
    unlist(s);
    stream_free(s);
}

static int remove_file(void *arg, const char *name)
{
    struct hr_stream_store *s = arg;
    char *p = path_join(s->dir, name);
    if (p) {
        s->io->unlink(s->io, p);
        free(p);
    }
    return 0;
}

struct remove_ctx {
    struct hr_stream_store *s;
    const char *dir;
};

static int remove_in(void *arg, const char *name)
{
    struct remove_ctx *ctx = arg;
    char *p = path_join(ctx->dir, name);
    if (p) {
        ctx->s->io->unlink(ctx->s->io, p);
        free(p);
    }
    return 0;
}

static int log_stream_remove(struct hr_stream_store *s)
{
    unlist(s);
    while (s->nsegs)
        hr_seg_close(s, s->segs[s->nsegs - 1], false);
    while (s->clogs)
        hr_clog_remove(s->clogs);
    int rc = 0;
    if (!s->memory) {
        char *consumers = path_join(s->dir, "consumers");
        if (consumers) {
            struct remove_ctx ctx = {s, consumers};
            s->io->list(s->io, consumers, remove_in, &ctx);
            s->io->rmdir(s->io, consumers);
            free(consumers);
        }
        s->io->list(s->io, s->dir, remove_file, s);
        rc = s->io->rmdir(s->io, s->dir);
    }
    stream_free(s);
    return rc;
}

struct list_ctx {
    struct hr_log_store *ls;
    int (*cb)(void *arg, const char *name);
    void *arg;
};

static int list_one(void *arg, const char *name)
{
    struct list_ctx *ctx = arg;
    if (name[0] == '.')
        return 0;
    return ctx->cb(ctx->arg, name);
}

static int log_stream_list(struct hr_store *st, int (*cb)(void *arg, const char *name), void *arg)
{
    struct hr_log_store *ls = (struct hr_log_store *)st;
    char *streams = path_join(ls->dir, "streams");
    if (!streams)
        return HERALD_ENOMEM;
    struct list_ctx ctx = {ls, cb, arg};
    int rc = ls->io->list(ls->io, streams, list_one, &ctx);
    free(streams);
    return rc == -ENOENT ? 0 : rc;
}

static void log_destroy(struct hr_store *st)
{
    struct hr_log_store *ls = (struct hr_log_store *)st;
    if (!ls)
        return;
    hr_log_sync_stop(ls); /* syncs what is dirty while the streams are open */
    while (ls->streams)
        log_stream_close(ls->streams);
    free(ls->dir);
    ls->dir = NULL;
    if (ls->handles_open == 0) /* else the last handle's close callback frees it */
        free(ls);
}

/* The stream operations live in log_stream.c; this file adds the lifecycle ones. */

static struct hr_store_ops log_ops;

int hr_log_store_create(const struct hr_log_store_options *opts, struct hr_store **out)
{
    struct hr_log_store *ls = calloc(1, sizeof *ls);
    if (!ls)
        return HERALD_ENOMEM;
    if (!log_ops.name) {
        log_ops = hr_log_store_ops;
        log_ops.stream_open = log_stream_open;
        log_ops.stream_close = log_stream_close;
        log_ops.stream_remove = log_stream_remove;
        log_ops.stream_list = log_stream_list;
        log_ops.flush = hr_log_flush;
        log_ops.sync_stats = hr_log_sync_stats;
        log_ops.destroy = log_destroy;
    }
    ls->base.ops = &log_ops;
    ls->dir = strdup(opts->dir);
    ls->sync = opts->sync;
    ls->sync_interval_ms = opts->sync_interval_ms > 0 ? opts->sync_interval_ms : 1000;
    ls->segment_bytes = opts->segment_bytes ? opts->segment_bytes : 64ULL * 1024 * 1024;
    ls->io = opts->io ? opts->io : &hr_io_posix;
    ls->checkpoints = opts->checkpoints;
    ls->loop = opts->loop;
    if (!ls->dir) {
        free(ls);
        return HERALD_ENOMEM;
    }
    char *streams = path_join(ls->dir, "streams");
    int rc = streams ? ls->io->mkdir(ls->io, ls->dir) : HERALD_ENOMEM;
    if (rc == 0)
        rc = ls->io->mkdir(ls->io, streams);
    free(streams);
    if (rc == 0)
        rc = hr_log_sync_start(ls);
    if (rc) {
        free(ls->dir);
        if (ls->handles_open == 0) /* else the close callback frees it */
            free(ls);
        return rc;
    }
    *out = &ls->base;
    return 0;
}
