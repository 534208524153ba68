/* SPDX-License-Identifier: Apache-2.0
 *
 * Segment files of the embedded log: create, open, close, the in-memory sparse index
 * (one entry every HR_SPARSE_EVERY messages, with its timestamp, for lookups by sequence
 * and by time), reading one record, and the sequential iterator. Layout in record.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "herald/errors.h"
#include "store/log_internal.h"

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int segs_push(struct hr_stream_store *s, struct hr_segment *seg)
{
    if (s->nsegs == s->segs_cap) {
        size_t cap = s->segs_cap ? s->segs_cap * 2 : 8;
        struct hr_segment **p = realloc(s->segs, cap * sizeof *p);
        if (!p)
            return HERALD_ENOMEM;
        s->segs = p;
        s->segs_cap = cap;
    }
    s->segs[s->nsegs++] = seg;
    return 0;
}

static struct hr_segment *seg_alloc(const char *dir, uint64_t first_seq)
{
    struct hr_segment *seg = calloc(1, sizeof *seg);
    if (!seg)
        return NULL;
    size_t n = strlen(dir) + 32;
    seg->path = malloc(n);
    if (!seg->path) {
        free(seg);
        return NULL;
    }
    snprintf(seg->path, n, "%s/%020" PRIu64 ".seg", dir, first_seq);
    seg->first_seq = first_seq;
    seg->last_seq = first_seq - 1;
    seg->fd = -1;
    return seg;
}

static void seg_free(struct hr_segment *seg)
{
    free(seg->idx);
    free(seg->path);
    free(seg);
}

int hr_seg_create(struct hr_stream_store *s, uint64_t first_seq, struct hr_segment **out)
{
    struct hr_segment *seg = seg_alloc(s->dir, first_seq);
    if (!seg)
        return HERALD_ENOMEM;
    int rc = s->io->open(s->io, seg->path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (rc < 0)
        goto out_free;
    seg->fd = rc;
    char hdr[HR_SEG_HEADER_SIZE];
    hr_seg_header_encode(hdr, &(struct hr_seg_header){first_seq, now_ns()});
    rc = hr_io_write_all(s->io, seg->fd, hdr, sizeof hdr, 0);
    if (rc)
        goto out_unlink;
    seg->size = HR_SEG_HEADER_SIZE;
    seg->dirty = true;
    rc = segs_push(s, seg);
    if (rc)
        goto out_unlink;
    /* The new file's directory entry must be durable with its first records. */
    s->io->sync_dir(s->io, s->dir);
    *out = seg;
    return 0;
out_unlink:
    s->io->close(s->io, seg->fd);
    s->io->unlink(s->io, seg->path);
out_free:
    seg_free(seg);
    return rc;
}

int hr_seg_open(struct hr_stream_store *s, const char *path, struct hr_segment **out)
{
    int fd = s->io->open(s->io, path, O_RDWR, 0);
    if (fd < 0)
        return fd;
    char hdr[HR_SEG_HEADER_SIZE];
    struct hr_seg_header h;
    int rc = hr_io_read_all(s->io, fd, hdr, sizeof hdr, 0);
    if (rc == 0)
        rc = hr_seg_header_decode(hdr, sizeof hdr, &h);
    else
        rc = HERALD_ECORRUPT;
    /* Sequences start at 1, and segments are opened in name order, which must also be the
     * order of their headers: a stray copy (a header claiming a first sequence at or below
     * the previous segment's) would otherwise hide or cut the real one. Recovery sets such
     * a file aside as .bad. */
    if (rc == 0 && (h.first_seq == 0 || (s->nsegs && h.first_seq <= s->segs[s->nsegs - 1]->first_seq)))
        rc = HERALD_ECORRUPT;
    if (rc) {
        s->io->close(s->io, fd);
        return rc;
    }
    struct hr_segment *seg = seg_alloc(s->dir, h.first_seq);
    if (!seg) {
        s->io->close(s->io, fd);
        return HERALD_ENOMEM;
    }
    seg->fd = fd;
    seg->size = HR_SEG_HEADER_SIZE;
    rc = segs_push(s, seg);
    if (rc) {
        s->io->close(s->io, fd);
        seg_free(seg);
        return rc;
    }
    *out = seg;
    return 0;
}

void hr_seg_close(struct hr_stream_store *s, struct hr_segment *seg, bool unlink_file)
{
    for (size_t i = 0; i < s->nsegs; i++)
        if (s->segs[i] == seg) {
            memmove(&s->segs[i], &s->segs[i + 1], (s->nsegs - i - 1) * sizeof *s->segs);
            s->nsegs--;
            break;
        }
    hr_read_window_drop(s, seg);
    if (unlink_file)
        s->io->unlink(s->io, seg->path);
    if (seg->fd >= 0) {
        if (s->memory) /* never in a sync; its file system may go right after this */
            s->io->close(s->io, seg->fd);
        else
            hr_log_retire_fd(s->store, s->io, seg->fd); /* L5 */
    }
    seg_free(seg);
}

void hr_seg_index_add(struct hr_segment *seg, uint64_t seq, uint64_t off, int64_t ts_ns)
{
    if (seg->nidx && (seq - seg->idx[seg->nidx - 1].seq) < HR_SPARSE_EVERY)
        return;
    if (seg->nidx == seg->idx_cap) {
        size_t cap = seg->idx_cap ? seg->idx_cap * 2 : 16;
        struct hr_sparse *p = realloc(seg->idx, cap * sizeof *p);
        if (!p)
            return; /* the index is an accelerator: lookups scan further without it */
        seg->idx = p;
        seg->idx_cap = cap;
    }
    seg->idx[seg->nidx++] = (struct hr_sparse){seq, off, ts_ns};
}

struct hr_segment *hr_seg_for_seq(struct hr_stream_store *s, uint64_t seq)
{
    size_t lo = 0, hi = s->nsegs;
    while (lo < hi) { /* last segment with first_seq <= seq */
        size_t mid = (lo + hi) / 2;
        if (s->segs[mid]->first_seq <= seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? s->segs[lo - 1] : NULL;
}

/* The read window (L6): one pread of up to HR_READ_WINDOW bytes serves every record that
 * lies inside it, so sequential reads cost one system call per window, not per record.
 * A random read (a jump) fills only HR_READ_WINDOW_MIN: copying 64 KiB to serve one small
 * record would cost more than the system call it saves. */
void hr_read_window_drop(struct hr_stream_store *s, const struct hr_segment *seg)
{
    if (!seg || s->window.seg == seg)
        s->window.seg = NULL;
    if (!seg || s->window.hint_seg == seg)
        s->window.hint_seg = NULL;
}

void hr_seg_note_read(struct hr_stream_store *s, struct hr_segment *seg, uint64_t seq, uint64_t next)
{
    s->window.hint_seg = seg;
    s->window.hint_seq = seq;
    s->window.hint_next = next;
}

static int window_fill(struct hr_stream_store *s, struct hr_segment *seg, uint64_t off, size_t need)
{
    struct hr_read_window *w = &s->window;
    bool sequential = w->seg == seg && off >= w->off && off <= w->off + w->buf.len;
    if (!sequential || w->fill < HR_READ_WINDOW_MIN)
        w->fill = HR_READ_WINDOW_MIN;
    else if (w->fill < HR_READ_WINDOW)
        w->fill *= 2;
    while (w->fill < need && w->fill < HR_READ_WINDOW)
        w->fill *= 2;
    size_t want = seg->size - off < w->fill ? (size_t)(seg->size - off) : w->fill;
    w->seg = NULL;
    w->buf.len = 0;
    int rc = hr_buf_reserve(&w->buf, want);
    if (rc == 0)
        rc = hr_io_read_all(s->io, seg->fd, w->buf.data, want, off);
    if (rc)
        return rc == -ENODATA ? HERALD_ECORRUPT : rc;
    w->buf.len = want;
    w->seg = seg;
    w->off = off;
    return 0;
}

int hr_seg_peek_record(struct hr_stream_store *s, struct hr_segment *seg, uint64_t off,
                       struct hr_record *rec, size_t *size)
{
    if (off + HR_RECORD_FIXED > seg->size)
        return HERALD_ENOTFOUND;
    struct hr_read_window *w = &s->window;
    if (!(w->seg == seg && off >= w->off && off + HR_RECORD_FIXED <= w->off + w->buf.len)) {
        int rc = window_fill(s, seg, off, HR_RECORD_FIXED);
        if (rc)
            return rc;
    }
    enum hr_decode_status st = hr_record_peek(w->buf.data + (off - w->off), HR_RECORD_FIXED, rec, size);
    if (st != HR_DECODE_OK || off + *size > seg->size)
        return HERALD_ECORRUPT;
    return 0;
}

int hr_seg_read_record(struct hr_stream_store *s, struct hr_segment *seg, uint64_t off,
                       struct hr_buf *buf, struct hr_record *rec, size_t *size)
{
    if (off + HR_RECORD_FIXED > seg->size)
        return HERALD_ENOTFOUND;
    struct hr_read_window *w = &s->window;
    size_t need = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        if (w->seg == seg && off >= w->off && off < w->off + w->buf.len) {
            size_t avail = (size_t)(w->off + w->buf.len - off);
            if (avail > seg->size - off)
                avail = (size_t)(seg->size - off);
            enum hr_decode_status st = hr_record_decode(w->buf.data + (off - w->off), avail, rec, size);
            if (st == HR_DECODE_OK)
                return 0;
            if (st == HR_DECODE_CORRUPT || (*size && off + *size > seg->size))
                return HERALD_ECORRUPT;
            if (*size > HR_READ_WINDOW)
                break; /* a record larger than the window: read it on its own below */
            need = *size;
        }
        int rc = window_fill(s, seg, off, need);
        if (rc)
            return rc;
    }
    buf->len = 0;
    int rc = hr_buf_reserve(buf, 4096);
    if (rc)
        return rc;
    size_t want = seg->size - off < 4096 ? (size_t)(seg->size - off) : 4096;
    rc = hr_io_read_all(s->io, seg->fd, buf->data, want, off);
    if (rc)
        return rc == -ENODATA ? HERALD_ECORRUPT : rc;
    buf->len = want;
    enum hr_decode_status st = hr_record_decode(buf->data, buf->len, rec, size);
    if (st == HR_DECODE_MORE && *size && off + *size <= seg->size) {
        rc = hr_buf_reserve(buf, *size - buf->len);
        if (rc)
            return rc;
        rc = hr_io_read_all(s->io, seg->fd, buf->data + buf->len, *size - buf->len, off + buf->len);
        if (rc)
            return rc == -ENODATA ? HERALD_ECORRUPT : rc;
        buf->len = *size;
        st = hr_record_decode(buf->data, buf->len, rec, size);
    }
    return st == HR_DECODE_OK ? 0 : HERALD_ECORRUPT;
}

/* ---- iterator ------------------------------------------------------------------- */

static uint64_t index_offset(const struct hr_segment *seg, uint64_t seq);

uint64_t hr_seg_start_offset(struct hr_stream_store *s, const struct hr_segment *seg, uint64_t seq)
{
    uint64_t off = index_offset(seg, seq);
    const struct hr_read_window *w = &s->window;
    if (w->hint_seg == seg && w->hint_seq < seq && w->hint_next > off && w->hint_next <= seg->size)
        off = w->hint_next;
    return off;
}

static uint64_t index_offset(const struct hr_segment *seg, uint64_t seq)
{
    size_t lo = 0, hi = seg->nidx;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (seg->idx[mid].seq <= seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo ? seg->idx[lo - 1].off : HR_SEG_HEADER_SIZE;
}

void hr_log_iter_init(struct hr_log_iter *it, struct hr_stream_store *s, uint64_t seq)
{
    it->s = s;
    hr_buf_init(&it->buf, HR_RECORD_MAX + 4096);
    it->seg_index = 0;
    it->off = HR_SEG_HEADER_SIZE;
    struct hr_segment *seg = hr_seg_for_seq(s, seq);
    if (!seg)
        return;
    for (size_t i = 0; i < s->nsegs; i++)
        if (s->segs[i] == seg)
            it->seg_index = i;
    it->off = hr_seg_start_offset(s, seg, seq);
}

int hr_log_iter_next(struct hr_log_iter *it, struct hr_record *rec, size_t *size)
{
    struct hr_stream_store *s = it->s;
    while (it->seg_index < s->nsegs) {
        struct hr_segment *seg = s->segs[it->seg_index];
        if (it->off >= seg->size) {
            it->seg_index++;
            it->off = HR_SEG_HEADER_SIZE;
            continue;
        }
        int rc = hr_seg_read_record(s, seg, it->off, &it->buf, rec, size);
        if (rc)
            return rc;
        it->off += *size;
        if (rec->type == HR_REC_MSG) {
            hr_seg_note_read(s, seg, rec->seq, it->off);
            return 1;
        }
    }
    return 0;
}

void hr_log_iter_cleanup(struct hr_log_iter *it)
{
    hr_buf_cleanup(&it->buf);
}
