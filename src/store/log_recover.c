/* SPDX-License-Identifier: Apache-2.0
 *
 * Opening a stream directory of the embedded log and recovering it after any stop,
 * clean or not:
 *
 *   pass 1  every segment, in order: decode each record with its CRC; the first record
 *           that is incomplete, corrupt or out of sequence order (F1, F2) ends the
 *           segment, and the file is cut there (a torn tail). Collect tombstones, the
 *           highest floor, sequence ranges, timestamps and the sparse index.
 *   pass 2  the live messages (>= floor, not tombstoned) rebuild the counters and the
 *           per-subject index; sequence gaps become deletions (L1).
 *
 * When index.ckpt loads and fits the segments (P2, log_checkpoint.c), its state is applied
 * instead and only the tail after it is scanned (pass 1's checks, then apply_tail);
 * otherwise the full passes run. A segment with a bad header is set aside as .bad; one of
 * another format version (HERALD_EVERSION) makes recovery refuse to open the stream.
 *
 * What was done is logged. Start-up cost is a read of the tail after the checkpoint, or
 * without one a read of the stream's data (the page cache makes pass 2 cheap).
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

struct name_list {
    char **v;
    size_t n, cap;
};

static int collect_segments(void *arg, const char *name)
{
    struct name_list *l = arg;
    size_t len = strlen(name);
    if (len != 24 || strcmp(name + 20, ".seg") != 0)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **p = realloc(l->v, cap * sizeof *p);
        if (!p)
            return HERALD_ENOMEM;
        l->v = p;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(name)))
        return HERALD_ENOMEM;
    l->n++;
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Pass 1 over one segment; returns 0 or an I/O error. */
static int scan_segment(struct hr_stream_store *s, struct hr_segment *seg, uint64_t *max_seq,
                        uint64_t *floor, struct hr_seqset *tombs)
{
    int64_t fsize = s->io->size(s->io, seg->fd);
    if (fsize < 0)
        return (int)fsize;
    struct hr_buf buf;
    hr_buf_init(&buf, HR_RECORD_MAX + 4096);
    uint64_t off = seg->size; /* the header's end, or where a checkpoint left off */
    seg->size = (uint64_t)fsize; /* the read limit while scanning; the valid end after */
    int rc = 0;
    const char *why = NULL;
    /* F3: where the open atomic batch started, and the state to roll back to. */
    struct {
        bool open;
        uint64_t off, last_seq, max_seq;
        int64_t first_ts, last_ts;
        size_t nidx;
    } batch = {0};
    while (off < (uint64_t)fsize) {
        struct hr_record rec;
        size_t size;
        rc = hr_seg_read_record(s, seg, off, &buf, &rec, &size);
        if (rc == HERALD_ECORRUPT || rc == HERALD_ENOTFOUND) {
            why = rc == HERALD_ECORRUPT ? "corrupt or incomplete record" : "incomplete record";
            rc = 0;
            break;
        }
        if (rc)
            break;
        if (rec.type == HR_REC_MSG) {
            if (rec.seq <= *max_seq || rec.seq < seg->first_seq) {
                why = "sequence out of order";
                break;
            }
            if ((rec.flags & HR_REC_F_MORE) && !batch.open) {
                batch.open = true;
                batch.off = off;
                batch.last_seq = seg->last_seq;
                batch.max_seq = *max_seq;
                batch.first_ts = seg->first_ts_ns;
                batch.last_ts = seg->last_ts_ns;
                batch.nidx = seg->nidx;
            } else if (!(rec.flags & HR_REC_F_MORE)) {
                batch.open = false;
            }
            if (seg->last_seq < seg->first_seq)
                seg->first_ts_ns = rec.ts_ns;
            hr_seg_index_add(seg, rec.seq, off, rec.ts_ns);
            seg->last_seq = rec.seq;
            seg->last_ts_ns = rec.ts_ns;
            *max_seq = rec.seq;
        } else if (rec.type == HR_REC_TOMBSTONE) {
            rc = hr_seqset_add(tombs, rec.seq);
            if (rc)
                break;
        } else if ((int)rec.type == HR_REC_FLOOR) {
            if (rec.seq > *floor)
                *floor = rec.seq;
        }
        off += size;
    }
    hr_buf_cleanup(&buf);
    if (batch.open && rc == 0) {
        /* The valid part ends inside an atomic batch: none of it was stored (F3). */
        off = batch.off;
        seg->last_seq = batch.last_seq;
        *max_seq = batch.max_seq;
        seg->first_ts_ns = batch.first_ts;
        seg->last_ts_ns = batch.last_ts;
        seg->nidx = batch.nidx;
        why = "incomplete atomic batch";
    }
    seg->size = off < (uint64_t)fsize ? off : (uint64_t)fsize;
    if (rc == 0 && seg->size < (uint64_t)fsize) {
        hr_warn("stream %s: %s at offset %" PRIu64 " of %s: cutting %" PRIu64 " bytes of torn tail",
                s->name, why ? why : "garbage", seg->size, seg->path, (uint64_t)fsize - seg->size);
        hr_read_window_drop(s, seg);
        rc = s->io->ftruncate(s->io, seg->fd, seg->size);
        if (rc == 0)
            rc = s->io->fdatasync(s->io, seg->fd);
    }
    return rc;
}

/* Applies what the tail after a checkpoint says: its messages, then its floor and
 * tombstones (which may name messages of the checkpoint or of the tail). */
static int apply_tail(struct hr_stream_store *s, uint64_t from_seq, uint64_t floor,
                      const struct hr_seqset *tombs)
{
    struct hr_log_iter it;
    hr_log_iter_init(&it, s, from_seq);
    struct hr_record rec;
    size_t size;
    int rc;
    while ((rc = hr_log_iter_next(&it, &rec, &size)) == 1) {
        if (rec.seq < from_seq)
            continue;
        if (s->msgs == 0) {
            s->first_seq = rec.seq;
            s->deleted.head = s->deleted.len = 0;
        }
        for (uint64_t gap = s->last_seq + 1; s->msgs && gap < rec.seq; gap++)
            hr_seqset_add(&s->deleted, gap);
        s->last_seq = rec.seq;
        s->msgs++;
        s->bytes += size;
        if (!hr_log_subject_track(s, rec.subject, rec.subject_len, rec.seq)) {
            rc = HERALD_ENOMEM;
            break;
        }
    }
    hr_log_iter_cleanup(&it);
    if (rc < 0)
        return rc;
    struct hr_buf buf;
    hr_buf_init(&buf, HR_RECORD_MAX + 4096);
    while (s->msgs && s->first_seq < floor && hr_log_locate(s, s->first_seq, &buf, &rec, &size) == 0)
        hr_log_note_removed(s, rec.subject, rec.subject_len, rec.seq, size);
    if (s->first_seq < floor && s->msgs == 0)
        s->first_seq = floor;
    for (size_t i = tombs->head; i < tombs->len; i++)
        if (hr_log_is_live(s, tombs->v[i]) && hr_log_locate(s, tombs->v[i], &buf, &rec, &size) == 0)
            hr_log_note_removed(s, rec.subject, rec.subject_len, rec.seq, size);
    hr_buf_cleanup(&buf);
    return 0;
}

/* P2: the checkpoint names only existing segments, none shorter than recorded, and every
 * segment it does not name comes after the ones it does. */
static bool checkpoint_fits(struct hr_stream_store *s, const struct hr_checkpoint *ck)
{
    if (ck->nsegs == 0 || s->nsegs < ck->nsegs)
        return false;
    for (size_t i = 0; i < s->nsegs; i++) {
        struct hr_segment *seg = s->segs[i];
        const struct hr_ckpt_seg *g = hr_log_checkpoint_seg(ck, seg->first_seq);
        if (i < ck->nsegs) {
            int64_t size = s->io->size(s->io, seg->fd);
            if (!g || g != &ck->segs[i] || size < 0 || (uint64_t)size < g->size)
                return false;
        } else if (g) {
            return false;
        }
    }
    return true;
}

static int recover_from_checkpoint(struct hr_stream_store *s, const struct hr_checkpoint *ck)
{
    int rc = hr_log_checkpoint_apply_state(s, ck);
    if (rc)
        return rc;
    for (size_t i = 0; i < ck->nsegs; i++)
        hr_log_checkpoint_apply_seg(s->segs[i], &ck->segs[i]);
    /* Scan what follows the checkpoint: the rest of its last segment, then any newer. */
    uint64_t max_seq = ck->last_seq, floor = 0;
    struct hr_seqset tombs = {0};
    for (size_t i = ck->nsegs - 1; rc == 0 && i < s->nsegs; i++)
        rc = scan_segment(s, s->segs[i], &max_seq, &floor, &tombs);
    if (rc == 0)
        rc = apply_tail(s, ck->last_seq + 1, floor, &tombs);
    free(tombs.v);
    uint64_t last = s->last_seq;
    if (s->nsegs && s->segs[s->nsegs - 1]->first_seq - 1 > last)
        last = s->segs[s->nsegs - 1]->first_seq - 1;
    if (floor > last + 1)
        last = floor - 1;
    /* L1: sequences the raise skips over are deletions, as recover_full's tail gap. */
    for (uint64_t q = s->last_seq + 1; rc == 0 && s->msgs && q <= last; q++)
        rc = hr_seqset_add(&s->deleted, q);
    if (rc == 0)
        s->last_seq = last;
    if (rc == 0 && s->msgs == 0)
        s->first_seq = s->last_seq + 1;
    return rc;
}

/* The whole log, without a checkpoint: pass 1 and pass 2 (see the top of this file). */
static int recover_full(struct hr_stream_store *s)
{
    uint64_t max_seq = 0, floor = 0;
    struct hr_seqset tombs = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < s->nsegs; i++)
        rc = scan_segment(s, s->segs[i], &max_seq, &floor, &tombs);
    if (rc)
        goto out_tombs;
    /* The next sequence never goes back, even when every message was removed. */
    uint64_t last = max_seq;
    if (s->nsegs && s->segs[s->nsegs - 1]->first_seq - 1 > last)
        last = s->segs[s->nsegs - 1]->first_seq - 1;
    if (floor > last + 1)
        last = floor - 1;
    s->last_seq = last;
    s->first_seq = floor ? floor : 1;

    /* Pass 2: live messages rebuild counters and the subject index. */
    struct hr_log_iter it;
    hr_log_iter_init(&it, s, s->first_seq);
    struct hr_record rec;
    size_t size;
    uint64_t expect = s->first_seq, first_live = 0;
    s->msgs = s->bytes = 0;
    while ((rc = hr_log_iter_next(&it, &rec, &size)) == 1) {
        if (rec.seq < s->first_seq || hr_seqset_has(&tombs, rec.seq))
            continue;
        for (; expect < rec.seq; expect++)
            if (first_live)
                hr_seqset_add(&s->deleted, expect);
        expect = rec.seq + 1;
        if (!first_live)
            first_live = rec.seq;
        s->msgs++;
        s->bytes += size;
        if (!hr_log_subject_track(s, rec.subject, rec.subject_len, rec.seq)) {
            rc = HERALD_ENOMEM;
            break;
        }
    }
    hr_log_iter_cleanup(&it);
    if (rc < 0)
        goto out_tombs;
    rc = 0;
    /* Tombstoned sequences inside the live range are deletions too. */
    for (size_t i = tombs.head; i < tombs.len; i++)
        if (first_live && tombs.v[i] > first_live && tombs.v[i] <= s->last_seq)
            hr_seqset_add(&s->deleted, tombs.v[i]);
    /* ... and so is the tail gap after the last live message. */
    for (; first_live && expect <= s->last_seq; expect++)
        hr_seqset_add(&s->deleted, expect);
    s->first_seq = first_live ? first_live : s->last_seq + 1;
    if (!first_live)
        s->deleted.head = s->deleted.len = 0;
out_tombs:
    free(tombs.v);
    return rc;
}

/* Forgets whatever a failed checkpoint recovery built, so the full one starts clean. */
static void reset_state(struct hr_stream_store *s)
{
    for (size_t i = 0; i < s->subjects.cap; i++) {
        struct hr_subj *sj = s->subjects.slots[i].hash ? s->subjects.slots[i].val : NULL;
        if (sj) {
            free(sj->subject);
            free(sj);
        }
    }
    hr_map_cleanup(&s->subjects);
    s->deleted.head = s->deleted.len = 0;
    s->msgs = s->bytes = 0;
    s->first_seq = 1;
    s->last_seq = 0;
    for (size_t i = 0; i < s->nsegs; i++) {
        struct hr_segment *seg = s->segs[i];
        seg->nidx = 0;
        seg->size = HR_SEG_HEADER_SIZE;
        seg->last_seq = seg->first_seq - 1;
        seg->first_ts_ns = seg->last_ts_ns = 0;
    }
    hr_read_window_drop(s, NULL);
}

int hr_log_recover(struct hr_stream_store *s)
{
    struct name_list names = {0};
    int rc = s->io->list(s->io, s->dir, collect_segments, &names);
    if (rc)
        goto out_names;
    if (names.n) /* names.v is NULL when there are none: qsort's pointer must not be */
        qsort(names.v, names.n, sizeof *names.v, cmp_names);
    for (size_t i = 0; i < names.n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", s->dir, names.v[i]);
        struct hr_segment *seg;
        rc = hr_seg_open(s, path, &seg);
        if (rc == HERALD_ECORRUPT) {
            hr_warn("stream %s: segment %s has a bad header; set aside as %s.bad", s->name, path, path);
            char bad[4200];
            snprintf(bad, sizeof bad, "%s.bad", path);
            s->io->rename(s->io, path, bad);
            rc = 0;
            continue;
        }
        if (rc == HERALD_EVERSION) {
            hr_error("stream %s: segment %s was written by another format version (this heraldd"
                     " reads version %d); refusing to open the stream rather than guess",
                     s->name, path, HR_SEG_VERSION);
            goto out_names;
        }
        if (rc)
            goto out_names;
    }
    struct hr_checkpoint ck;
    bool used_ckpt = false;
    if (s->nsegs && hr_log_checkpoint_load(s, &ck) == 0) {
        if (checkpoint_fits(s, &ck)) {
            rc = recover_from_checkpoint(s, &ck);
            used_ckpt = rc == 0;
            if (rc)
                hr_warn("stream %s: the index checkpoint could not be applied (%s); scanning the"
                        " whole log", s->name, herald_strerror(rc));
        } else {
            hr_warn("stream %s: the index checkpoint does not match the segments; scanning the"
                    " whole log", s->name);
        }
        hr_log_checkpoint_free(&ck);
    }
    if (!used_ckpt) {
        reset_state(s);
        rc = recover_full(s);
        if (rc)
            goto out_names;
    }
    hr_log_unlink_dead_segments(s);
    if (s->nsegs && !s->memory)
        s->records_since_ckpt = 1; /* a fresh checkpoint is due: the next start skips this scan */
    if (names.n)
        hr_info("stream %s: recovered %" PRIu64 " messages (seq %" PRIu64 "..%" PRIu64
                ") from %zu segments%s", s->name, s->msgs, s->first_seq, s->last_seq, s->nsegs,
                used_ckpt ? " (index checkpoint + tail)" : "");
out_names:
    for (size_t i = 0; i < names.n; i++)
        free(names.v[i]);
    free(names.v);
    return rc;
}
