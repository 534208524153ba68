/* SPDX-License-Identifier: Apache-2.0
 *
 * Consumer state logs of the embedded store. Each consumer of a stream has one file,
 * `<stream dir>/consumers/<name>.clog`: a segment header (first sequence 0) followed by
 * records of type HR_REC_CONSUMER whose data is an opaque state record of the engine's
 * (deliveries, acks, settlements, snapshots). The store only frames, checks, syncs and
 * compacts them; the engine gives them meaning.
 *
 * Invariants:
 *   K1. Replay returns the records in append order; the first incomplete or corrupt record
 *       ends the log and the file is cut there (as segments, F1).
 *   K2. rewrite() replaces the whole log with one record atomically: a temporary file is
 *       written and synced, then renamed over the log, then the directory is synced. A
 *       crash leaves the old log or the new one, never a mix.
 *   K3. Appends are durable after the next flush() callback (group commit), like messages.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "herald/errors.h"
#include "store/log_internal.h"

static char *clog_path(const struct hr_stream_store *s, const char *name, const char *suffix)
{
    size_t n = strlen(s->dir) + strlen(name) + 32;
    char *p = malloc(n);
    if (p)
        snprintf(p, n, "%s/consumers/%s.clog%s", s->dir, name, suffix);
    return p;
}

static int write_header(struct hr_io *io, int fd)
{
    char hdr[HR_SEG_HEADER_SIZE];
    hr_seg_header_encode(hdr, &(struct hr_seg_header){0, 0});
    return hr_io_write_all(io, fd, hdr, sizeof hdr, 0);
}

int hr_clog_open(struct hr_stream_store *s, const char *name, struct hr_consumer_log **out)
{
    struct hr_consumer_log *c = calloc(1, sizeof *c);
    if (!c)
        return HERALD_ENOMEM;
    c->stream = s;
    c->fd = -1;
    hr_buf_init(&c->wbuf, HR_RECORD_MAX + 4096);
    c->name = strdup(name);
    c->path = clog_path(s, name, "");
    char *dir = malloc(strlen(s->dir) + 16);
    int rc = HERALD_ENOMEM;
    if (!c->name || !c->path || !dir)
        goto out_free;
    snprintf(dir, strlen(s->dir) + 16, "%s/consumers", s->dir);
    rc = s->io->mkdir(s->io, dir);
    free(dir);
    dir = NULL;
    if (rc)
        goto out_free;
    rc = s->io->open(s->io, c->path, O_RDWR | O_CREAT, 0644);
    if (rc < 0)
        goto out_free;
    c->fd = rc;
    int64_t size = s->io->size(s->io, c->fd);
    if (size < 0) {
        rc = (int)size;
        goto out_free;
    }
    if (size < HR_SEG_HEADER_SIZE) { /* new, or cut before its header was whole */
        if ((rc = s->io->ftruncate(s->io, c->fd, 0)) != 0 || (rc = write_header(s->io, c->fd)) != 0)
            goto out_free;
        size = HR_SEG_HEADER_SIZE;
        c->dirty = true;
    }
    c->size = (uint64_t)size;
    c->next = s->clogs;
    s->clogs = c;
    *out = c;
    return 0;
out_free:
    free(dir);
    if (c->fd >= 0)
        s->io->close(s->io, c->fd);
    hr_buf_cleanup(&c->wbuf);
    free(c->name);
    free(c->path);
    free(c);
    return rc;
}

int hr_clog_replay(struct hr_consumer_log *c, int (*cb)(void *arg, const char *rec, size_t len),
                   void *arg)
{
    struct hr_stream_store *s = c->stream;
    char hdr[HR_SEG_HEADER_SIZE];
    struct hr_seg_header h;
    int rc = hr_io_read_all(s->io, c->fd, hdr, sizeof hdr, 0);
    if (rc == 0)
        rc = hr_seg_header_decode(hdr, sizeof hdr, &h);
    if (rc)
        return HERALD_ECORRUPT;
    struct hr_buf buf;
    hr_buf_init(&buf, HR_RECORD_MAX + 4096);
    uint64_t off = HR_SEG_HEADER_SIZE;
    while (off < c->size) {
        size_t want = c->size - off < 4096 ? (size_t)(c->size - off) : 4096;
        struct hr_record rec;
        size_t size = 0;
        buf.len = 0;
        if ((rc = hr_buf_reserve(&buf, want)) != 0 ||
            (rc = hr_io_read_all(s->io, c->fd, buf.data, want, off)) != 0)
            break;
        buf.len = want;
        enum hr_decode_status st = hr_record_decode(buf.data, buf.len, &rec, &size);
        if (st == HR_DECODE_MORE && size && off + size <= c->size) {
            if ((rc = hr_buf_reserve(&buf, size - buf.len)) != 0 ||
                (rc = hr_io_read_all(s->io, c->fd, buf.data + buf.len, size - buf.len, off + buf.len)) != 0)
                break;
            buf.len = size;
            st = hr_record_decode(buf.data, buf.len, &rec, &size);
        }
        if (st != HR_DECODE_OK || rec.type != HR_REC_CONSUMER)
            break; /* K1: the log ends here */
        if ((rc = cb(arg, rec.data, rec.data_len)) != 0)
            break;
        off += size;
    }
    hr_buf_cleanup(&buf);
    if (rc == 0 && off < c->size) {
        hr_warn("consumer %s of stream %s: cutting %llu bytes of torn tail from its state log",
                c->name, s->name, (unsigned long long)(c->size - off));
        rc = s->io->ftruncate(s->io, c->fd, off);
        c->size = off;
        c->dirty = true;
    }
    return rc == -ENODATA ? 0 : rc;
}

int hr_clog_append(struct hr_consumer_log *c, const void *data, size_t len)
{
    struct hr_stream_store *s = c->stream;
    if (c->failed || s->store->fsync_failed)
        return HERALD_ESTORE;
    size_t size = hr_record_size(0, 0, len);
    c->wbuf.len = 0;
    int rc = hr_buf_reserve(&c->wbuf, size);
    if (rc)
        return rc;
    struct hr_record r = {.type = HR_REC_CONSUMER, .data = data, .data_len = len};
    c->wbuf.len = hr_record_encode(c->wbuf.data, &r);
    rc = hr_io_write_all(s->io, c->fd, c->wbuf.data, c->wbuf.len, c->size);
    if (rc) {
        if (s->io->ftruncate(s->io, c->fd, c->size) != 0)
            c->failed = true;
        return rc;
    }
    c->size += c->wbuf.len;
    c->dirty = true;
    return 0;
}

int hr_clog_rewrite(struct hr_consumer_log *c, const void *data, size_t len)
{
    struct hr_stream_store *s = c->stream;
    char *tmp = clog_path(s, c->name, ".tmp");
    if (!tmp)
        return HERALD_ENOMEM;
    int fd = s->io->open(s->io, tmp, O_RDWR | O_CREAT | O_TRUNC, 0644);
    int rc = fd < 0 ? fd : write_header(s->io, fd);
    size_t size = hr_record_size(0, 0, len);
    c->wbuf.len = 0;
    if (rc == 0)
        rc = hr_buf_reserve(&c->wbuf, size);
    if (rc == 0) {
        struct hr_record r = {.type = HR_REC_CONSUMER, .data = data, .data_len = len};
        c->wbuf.len = hr_record_encode(c->wbuf.data, &r);
        rc = hr_io_write_all(s->io, fd, c->wbuf.data, c->wbuf.len, HR_SEG_HEADER_SIZE);
    }
    if (rc == 0 && !s->memory)
        rc = s->io->fdatasync(s->io, fd);
    if (rc == 0)
        rc = s->io->rename(s->io, tmp, c->path); /* K2 */
    if (rc) {
        if (fd >= 0)
            s->io->close(s->io, fd);
        s->io->unlink(s->io, tmp);
        free(tmp);
        return rc;
    }
    free(tmp);
    if (!s->memory) {
        char dir[4096];
        snprintf(dir, sizeof dir, "%s/consumers", s->dir);
        s->io->sync_dir(s->io, dir);
    }
    hr_log_retire_fd(s->store, s->io, c->fd);
    c->fd = fd;
    c->size = HR_SEG_HEADER_SIZE + c->wbuf.len;
    c->dirty = false;
    return 0;
}

uint64_t hr_clog_size(const struct hr_consumer_log *c)
{
    return c->size;
}

static void clog_unlist(struct hr_consumer_log *c)
{
    struct hr_consumer_log **pp = &c->stream->clogs;
    while (*pp && *pp != c)
        pp = &(*pp)->next;
    if (*pp)
        *pp = c->next;
}

void hr_clog_close(struct hr_consumer_log *c)
{
    if (!c)
        return;
    clog_unlist(c);
    if (c->fd >= 0) {
        if (c->stream->memory)
            c->stream->io->close(c->stream->io, c->fd);
        else
            hr_log_retire_fd(c->stream->store, c->stream->io, c->fd);
    }
    hr_buf_cleanup(&c->wbuf);
    free(c->name);
    free(c->path);
    free(c);
}

int hr_clog_remove(struct hr_consumer_log *c)
{
    struct hr_stream_store *s = c->stream;
    int rc = s->io->unlink(s->io, c->path);
    hr_clog_close(c);
    return rc == -ENOENT ? 0 : rc;
}

struct clog_list_ctx {
    int (*cb)(void *arg, const char *name);
    void *arg;
};

static int clog_list_one(void *arg, const char *name)
{
    struct clog_list_ctx *ctx = arg;
    size_t n = strlen(name);
    if (n <= 5 || strcmp(name + n - 5, ".clog") != 0)
        return 0;
    char base[HR_CONSUMER_NAME_MAX + 1];
    if (n - 5 > HR_CONSUMER_NAME_MAX)
        return 0;
    memcpy(base, name, n - 5);
    base[n - 5] = '\0';
    return ctx->cb(ctx->arg, base);
}

int hr_clog_list(struct hr_stream_store *s, int (*cb)(void *arg, const char *name), void *arg)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/consumers", s->dir);
    struct clog_list_ctx ctx = {cb, arg};
    int rc = s->io->list(s->io, dir, clog_list_one, &ctx);
    return rc == -ENOENT ? 0 : rc;
}
