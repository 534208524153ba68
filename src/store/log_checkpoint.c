/* SPDX-License-Identifier: Apache-2.0
 *
 * Index checkpoints: the state a recovery would rebuild — segment summaries with their
 * sparse indexes, the per-subject index, the deleted set, counters — saved in
 * `<stream dir>/index.ckpt`, so that start-up reads the checkpoint and scans only the log
 * written after it (the unverified tail) instead of the whole stream.
 *
 * Layout (little-endian; docs/log-format.md):
 *
 *   "HRLDCKP1" | u32 version (1) | u32 reserved
 *   u64 first_seq | u64 last_seq | u64 msgs | u64 bytes
 *   u32 nsegs, then per segment:
 *       u64 first_seq | u64 last_seq | i64 first_ts | i64 last_ts | u64 size | u32 nidx
 *       nidx × (u64 seq | u64 off | i64 ts)
 *   u64 nsubjects, then per subject: u16 len | bytes | u64 first | u64 last | u64 count | u8 exact
 *   u64 ndeleted, then ndeleted × u64
 *   u32 CRC32C of everything before it
 *
 * Invariants:
 *   P1. A checkpoint describes the log up to each segment's recorded size; those bytes
 *       were synced before the checkpoint was written, and the checkpoint is replaced
 *       atomically (temporary file, fsync, rename, directory fsync).
 *   P2. A checkpoint is used only if it is intact (CRC) and every segment it names exists
 *       and is at least as long as recorded; otherwise recovery scans everything, as if
 *       there were none. It is an accelerator, never the source of truth.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "herald/errors.h"
#include "store/log_internal.h"

#define CKPT_MAGIC "HRLDCKP1"
#define CKPT_VERSION 1
#define CKPT_MAX (1024ull * 1024 * 1024) /* refuse absurd sizes before allocating */

static int put(struct hr_buf *b, const void *p, size_t n)
{
    return hr_buf_append(b, p, n);
}

#define PUT(b, v) put((b), &(v), sizeof(v)) /* the host is little-endian (x86-64, arm64) */

static int encode(struct hr_stream_store *s, struct hr_buf *b)
{
    uint32_t version = CKPT_VERSION, zero = 0, nsegs = (uint32_t)s->nsegs;
    int rc = put(b, CKPT_MAGIC, 8);
    rc = rc ? rc : PUT(b, version);
    rc = rc ? rc : PUT(b, zero);
    rc = rc ? rc : PUT(b, s->first_seq);
    rc = rc ? rc : PUT(b, s->last_seq);
    rc = rc ? rc : PUT(b, s->msgs);
    rc = rc ? rc : PUT(b, s->bytes);
    rc = rc ? rc : PUT(b, nsegs);
    for (size_t i = 0; rc == 0 && i < s->nsegs; i++) {
        const struct hr_segment *g = s->segs[i];
        uint32_t nidx = (uint32_t)g->nidx;
        rc = PUT(b, g->first_seq);
        rc = rc ? rc : PUT(b, g->last_seq);
        rc = rc ? rc : PUT(b, g->first_ts_ns);
        rc = rc ? rc : PUT(b, g->last_ts_ns);
        rc = rc ? rc : PUT(b, g->size);
        rc = rc ? rc : PUT(b, nidx);
        for (size_t k = 0; rc == 0 && k < g->nidx; k++) {
            rc = PUT(b, g->idx[k].seq);
            rc = rc ? rc : PUT(b, g->idx[k].off);
            rc = rc ? rc : PUT(b, g->idx[k].ts_ns);
        }
    }
    uint64_t nsub = s->subjects.count;
    rc = rc ? rc : PUT(b, nsub);
    for (size_t i = 0; rc == 0 && i < s->subjects.cap; i++) {
        const struct hr_subj *sj = s->subjects.slots[i].hash ? s->subjects.slots[i].val : NULL;
        if (!sj)
            continue;
        uint16_t len = (uint16_t)sj->len;
        uint8_t exact = sj->first_exact;
        rc = PUT(b, len);
        rc = rc ? rc : put(b, sj->subject, sj->len);
        rc = rc ? rc : PUT(b, sj->first);
        rc = rc ? rc : PUT(b, sj->last);
        rc = rc ? rc : PUT(b, sj->count);
        rc = rc ? rc : PUT(b, exact);
    }
    uint64_t ndel = s->deleted.len - s->deleted.head;
    rc = rc ? rc : PUT(b, ndel);
    if (rc == 0 && ndel)
        rc = put(b, s->deleted.v + s->deleted.head, ndel * sizeof(uint64_t));
    uint32_t crc = rc ? 0 : hr_crc32c(0, b->data, b->len);
    return rc ? rc : PUT(b, crc);
}

int hr_log_checkpoint_write(struct hr_stream_store *s)
{
    if (s->memory || s->failed)
        return 0;
    /* P1: the bytes the checkpoint vouches for are on disk first. */
    for (size_t i = 0; i < s->nsegs; i++) {
        int rc = s->io->fdatasync(s->io, s->segs[i]->fd);
        if (rc)
            return rc;
    }
    struct hr_buf b;
    hr_buf_init(&b, CKPT_MAX);
    char tmp[4096], path[4096];
    snprintf(tmp, sizeof tmp, "%s/index.ckpt.tmp", s->dir);
    snprintf(path, sizeof path, "%s/index.ckpt", s->dir);
    int rc = encode(s, &b);
    int fd = rc ? -1 : s->io->open(s->io, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 && rc == 0)
        rc = fd;
    if (rc == 0)
        rc = hr_io_write_all(s->io, fd, b.data, b.len, 0);
    if (rc == 0)
        rc = s->io->fdatasync(s->io, fd);
    if (fd >= 0)
        s->io->close(s->io, fd);
    if (rc == 0)
        rc = s->io->rename(s->io, tmp, path);
    if (rc == 0)
        rc = s->io->sync_dir(s->io, s->dir);
    hr_buf_cleanup(&b);
    if (rc == 0)
        s->records_since_ckpt = 0;
    else
        hr_warn("stream %s: cannot write its index checkpoint: %s", s->name, herald_strerror(rc));
    return rc;
}

/* ---- reading ------------------------------------------------------------------------- */

struct reader {
    const char *p, *end;
    bool bad;
};

static void get(struct reader *r, void *out, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = true;
        memset(out, 0, n);
        return;
    }
    memcpy(out, r->p, n);
    r->p += n;
}

#define GET(r, v) get((r), &(v), sizeof(v))

int hr_log_checkpoint_load(struct hr_stream_store *s, struct hr_checkpoint *ck)
{
    memset(ck, 0, sizeof *ck);
    char path[4096];
    snprintf(path, sizeof path, "%s/index.ckpt", s->dir);
    int fd = s->io->open(s->io, path, O_RDONLY, 0);
    if (fd < 0)
        return fd;
    int64_t size = s->io->size(s->io, fd);
    int rc = size < 0 ? (int)size : (uint64_t)size > CKPT_MAX || size < 52 ? HERALD_ECORRUPT : 0;
    char *data = rc ? NULL : malloc((size_t)size);
    if (rc == 0 && !data)
        rc = HERALD_ENOMEM;
    if (rc == 0)
        rc = hr_io_read_all(s->io, fd, data, (size_t)size, 0);
    s->io->close(s->io, fd);
    uint32_t crc = 0;
    if (rc == 0) {
        memcpy(&crc, data + size - 4, 4);
        if (memcmp(data, CKPT_MAGIC, 8) != 0 || crc != hr_crc32c(0, data, (size_t)size - 4))
            rc = HERALD_ECORRUPT;
    }
    if (rc) {
        free(data);
        return rc;
    }
    struct reader r = {data + 16, data + size - 4, false};
    uint32_t version;
    memcpy(&version, data + 8, 4);
    if (version != CKPT_VERSION) {
        free(data);
        return HERALD_EVERSION;
    }
    ck->data = data;
    GET(&r, ck->first_seq);
    GET(&r, ck->last_seq);
    GET(&r, ck->msgs);
    GET(&r, ck->bytes);
    GET(&r, ck->nsegs);
    if (ck->nsegs > 1000000)
        r.bad = true;
    ck->segs = r.bad ? NULL : calloc(ck->nsegs ? ck->nsegs : 1, sizeof *ck->segs);
    for (uint32_t i = 0; ck->segs && !r.bad && i < ck->nsegs; i++) {
        struct hr_ckpt_seg *g = &ck->segs[i];
        GET(&r, g->first_seq);
        GET(&r, g->last_seq);
        GET(&r, g->first_ts_ns);
        GET(&r, g->last_ts_ns);
        GET(&r, g->size);
        GET(&r, g->nidx);
        g->idx = r.p;
        if ((size_t)(r.end - r.p) / 24 < g->nidx)
            r.bad = true;
        else
            r.p += (size_t)g->nidx * 24;
    }
    ck->subjects = r.p; /* parsed while applying */
    ck->subjects_end = r.end;
    if (r.bad || !ck->segs) {
        hr_log_checkpoint_free(ck);
        return HERALD_ECORRUPT;
    }
    return 0;
}

void hr_log_checkpoint_free(struct hr_checkpoint *ck)
{
    free(ck->segs);
    free(ck->data);
    memset(ck, 0, sizeof *ck);
}

const struct hr_ckpt_seg *hr_log_checkpoint_seg(const struct hr_checkpoint *ck, uint64_t first_seq)
{
    for (uint32_t i = 0; i < ck->nsegs; i++)
        if (ck->segs[i].first_seq == first_seq)
            return &ck->segs[i];
    return NULL;
}

void hr_log_checkpoint_apply_seg(struct hr_segment *seg, const struct hr_ckpt_seg *g)
{
    seg->last_seq = g->last_seq;
    seg->first_ts_ns = g->first_ts_ns;
    seg->last_ts_ns = g->last_ts_ns;
    seg->size = g->size;
    for (uint32_t k = 0; k < g->nidx; k++) {
        struct hr_sparse e;
        memcpy(&e.seq, g->idx + k * 24, 8);
        memcpy(&e.off, g->idx + k * 24 + 8, 8);
        memcpy(&e.ts_ns, g->idx + k * 24 + 16, 8);
        hr_seg_index_add(seg, e.seq, e.off, e.ts_ns);
    }
}

int hr_log_checkpoint_apply_state(struct hr_stream_store *s, const struct hr_checkpoint *ck)
{
    struct reader r = {ck->subjects, ck->subjects_end, false};
    s->first_seq = ck->first_seq;
    s->last_seq = ck->last_seq;
    s->msgs = ck->msgs;
    s->bytes = ck->bytes;
    uint64_t nsub;
    GET(&r, nsub);
    for (uint64_t i = 0; !r.bad && i < nsub; i++) {
        uint16_t len;
        GET(&r, len);
        if ((size_t)(r.end - r.p) < len) {
            r.bad = true;
            break;
        }
        const char *subject = r.p;
        r.p += len;
        uint64_t first, last, count;
        uint8_t exact;
        GET(&r, first);
        GET(&r, last);
        GET(&r, count);
        GET(&r, exact);
        if (r.bad)
            break;
        struct hr_subj *sj = hr_log_subject_track(s, subject, len, last);
        if (!sj)
            return HERALD_ENOMEM;
        sj->first = first;
        sj->count = count;
        sj->first_exact = exact;
    }
    uint64_t ndel;
    GET(&r, ndel);
    if (!r.bad && (size_t)(r.end - r.p) / 8 < ndel)
        r.bad = true;
    for (uint64_t i = 0; !r.bad && i < ndel; i++) {
        uint64_t seq;
        GET(&r, seq);
        if (hr_seqset_add(&s->deleted, seq))
            return HERALD_ENOMEM;
    }
    return r.bad ? HERALD_ECORRUPT : 0;
}
