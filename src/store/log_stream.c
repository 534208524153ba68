/* SPDX-License-Identifier: Apache-2.0
 *
 * The embedded log's stream operations: append with limits, reads by sequence, subject
 * and time, removal, purge, expiry, and the bookkeeping behind them (L1–L4 in
 * log_internal.h). Runs on the loop thread only.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/subject.h"
#include "herald/errors.h"
#include "store/log_internal.h"

/* ---- sequence sets ---------------------------------------------------------------- */

static size_t seqset_lower(const struct hr_seqset *set, uint64_t seq)
{
    size_t lo = set->head, hi = set->len;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (set->v[mid] < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

bool hr_seqset_has(const struct hr_seqset *set, uint64_t seq)
{
    size_t i = seqset_lower(set, seq);
    return i < set->len && set->v[i] == seq;
}

int hr_seqset_add(struct hr_seqset *set, uint64_t seq)
{
    size_t i = seqset_lower(set, seq);
    if (i < set->len && set->v[i] == seq)
        return 0;
    if (set->head > 0 && set->head * 2 >= set->len) { /* compact the consumed front */
        memmove(set->v, set->v + set->head, (set->len - set->head) * sizeof *set->v);
        set->len -= set->head;
        i -= set->head;
        set->head = 0;
    }
    if (set->len == set->cap) {
        size_t cap = set->cap ? set->cap * 2 : 64;
        uint64_t *p = realloc(set->v, cap * sizeof *p);
        if (!p)
            return HERALD_ENOMEM;
        set->v = p;
        set->cap = cap;
    }
    memmove(set->v + i + 1, set->v + i, (set->len - i) * sizeof *set->v);
    set->v[i] = seq;
    set->len++;
    return 0;
}

void hr_seqset_drop_below(struct hr_seqset *set, uint64_t seq)
{
    set->head = seqset_lower(set, seq);
    if (set->head == set->len)
        set->head = set->len = 0;
}

static size_t seqset_count(const struct hr_seqset *set)
{
    return set->len - set->head;
}

/* ---- bookkeeping ------------------------------------------------------------------ */

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

bool hr_log_is_live(const struct hr_stream_store *s, uint64_t seq)
{
    return seq >= s->first_seq && seq <= s->last_seq && !hr_seqset_has(&s->deleted, seq);
}

struct hr_subj *hr_log_subject_track(struct hr_stream_store *s, const char *subject, size_t len,
                                     uint64_t seq)
{
    struct hr_subj *sj = hr_map_get(&s->subjects, subject, len);
    if (!sj) {
        sj = calloc(1, sizeof *sj);
        if (!sj || !(sj->subject = malloc(len + 1))) {
            free(sj);
            return NULL;
        }
        memcpy(sj->subject, subject, len);
        sj->subject[len] = '\0';
        sj->len = len;
        sj->first = seq;
        sj->first_exact = true;
        if (hr_map_put(&s->subjects, sj->subject, len, sj)) {
            free(sj->subject);
            free(sj);
            return NULL;
        }
    }
    sj->count++;
    sj->last = seq;
    return sj;
}

/* Advances first_seq past deleted sequences (L1). */
static void advance_first(struct hr_stream_store *s)
{
    while (s->first_seq <= s->last_seq) {
        size_t i = s->deleted.head;
        if (i < s->deleted.len && s->deleted.v[i] == s->first_seq) {
            s->deleted.head++;
            s->first_seq++;
        } else if (i < s->deleted.len && s->deleted.v[i] < s->first_seq) {
            s->deleted.head++;
        } else {
            break;
        }
    }
    hr_seqset_drop_below(&s->deleted, s->first_seq);
    if (s->msgs == 0) {
        s->first_seq = s->last_seq + 1;
        s->deleted.head = s->deleted.len = 0;
    }
}

/* Marks last as unknown: resolved by resolve_subject(). */
#define LAST_UNKNOWN UINT64_MAX

void hr_log_note_removed(struct hr_stream_store *s, const char *subject, size_t subject_len,
                         uint64_t seq, size_t size)
{
    s->msgs--;
    s->bytes -= size <= s->bytes ? size : s->bytes;
    struct hr_subj *sj = hr_map_get(&s->subjects, subject, subject_len);
    if (sj) {
        if (--sj->count == 0) {
            hr_map_del(&s->subjects, sj->subject, sj->len);
            free(sj->subject);
            free(sj);
        } else {
            if (seq == sj->first) {
                sj->first = seq + 1; /* L4: a lower bound */
                sj->first_exact = false;
            }
            if (seq == sj->last)
                sj->last = LAST_UNKNOWN;
            if (sj->count == 1) { /* one left: it is both first and last, no scan needed */
                if (sj->last != LAST_UNKNOWN) {
                    sj->first = sj->last;
                    sj->first_exact = true;
                } else if (sj->first_exact) {
                    sj->last = sj->first;
                }
            }
        }
    }
    if (seq == s->first_seq) {
        s->first_seq++;
        advance_first(s);
    } else if (hr_seqset_add(&s->deleted, seq) != 0) {
        hr_error("stream %s: out of memory recording a deletion", s->name);
    }
    if (s->msgs == 0)
        advance_first(s);
}

/* Finds the record of message `seq`; fills rec (pointing into buf) and its position. */
int hr_log_locate(struct hr_stream_store *s, uint64_t seq, struct hr_buf *buf,
                  struct hr_record *rec, size_t *size)
{
    struct hr_segment *seg = hr_seg_for_seq(s, seq);
    if (!seg || seq > seg->last_seq)
        return HERALD_ENOTFOUND;
    /* Skip to the record by its headers alone; only the one asked for is CRC-checked. */
    uint64_t off = hr_seg_start_offset(s, seg, seq);
    while (off < seg->size) {
        int rc = hr_seg_peek_record(s, seg, off, rec, size);
        if (rc)
            return rc;
        if (rec->type == HR_REC_MSG && rec->seq == seq) {
            rc = hr_seg_read_record(s, seg, off, buf, rec, size);
            if (rc == 0)
                hr_seg_note_read(s, seg, seq, off + *size);
            return rc;
        }
        if (rec->type == HR_REC_MSG && rec->seq > seq)
            break;
        off += *size;
    }
    return HERALD_ENOTFOUND;
}

static int copy_out(const struct hr_record *rec, struct hr_store_msg *out)
{
    size_t n = rec->subject_len + 1 + rec->hdr_len + 1 + rec->data_len + 1;
    char *p = malloc(n);
    if (!p)
        return HERALD_ENOMEM;
    out->seq = rec->seq;
    out->ts_ns = rec->ts_ns;
    out->subject = p;
    out->subject_len = rec->subject_len;
    memcpy(p, rec->subject, rec->subject_len);
    p[rec->subject_len] = '\0';
    out->hdr = p + rec->subject_len + 1;
    out->hdr_len = rec->hdr_len;
    memcpy(out->hdr, rec->hdr, rec->hdr_len);
    out->hdr[rec->hdr_len] = '\0';
    out->data = out->hdr + rec->hdr_len + 1;
    out->data_len = rec->data_len;
    memcpy(out->data, rec->data, rec->data_len);
    out->data[rec->data_len] = '\0';
    return 0;
}

void hr_store_msg_free(struct hr_store_msg *m)
{
    if (m) {
        free(m->subject);
        m->subject = m->hdr = m->data = NULL;
    }
}

/* ---- writing ---------------------------------------------------------------------- */

static struct hr_segment *active_segment(struct hr_stream_store *s)
{
    return s->nsegs ? s->segs[s->nsegs - 1] : NULL;
}

/* Writes wbuf at the end of the active segment, rolling first when it is full. */
static int write_records(struct hr_stream_store *s, uint64_t next_seq)
{
    if (s->failed)
        return HERALD_ESTORE;
    struct hr_segment *seg = active_segment(s);
    /* A segment is named by its first sequence: one that holds no message yet (only
     * tombstones or floors written since it was created at next_seq) is not rolled, or
     * the new file would get the same name and O_TRUNC would wipe it. */
    if (!seg || (seg->size + s->wbuf.len > s->store->segment_bytes &&
                 seg->size > HR_SEG_HEADER_SIZE && seg->first_seq < next_seq)) {
        int rc = hr_seg_create(s, next_seq, &seg);
        if (rc) {
            hr_error("stream %s: cannot create a segment: %s", s->name, herald_strerror(rc));
            return rc;
        }
    }
    int rc = hr_io_write_all(s->io, seg->fd, s->wbuf.data, s->wbuf.len, seg->size);
    s->records_since_ckpt++;
    if (rc) {
        /* S3: cut off whatever part of the write landed. */
        hr_read_window_drop(s, seg); /* L6: the cut bytes may be in it */
        if (s->io->ftruncate(s->io, seg->fd, seg->size) != 0) {
            s->failed = true;
            hr_error("stream %s: write failed (%s) and the partial record could not be cut off;"
                     " the stream is read-only until restart", s->name, herald_strerror(rc));
        } else {
            hr_warn("stream %s: write failed: %s", s->name, herald_strerror(rc));
        }
        return rc;
    }
    seg->dirty = true;
    return 0;
}

/* Appends a tombstone or floor record for `seq`. */
static int write_marker(struct hr_stream_store *s, int type, uint64_t seq)
{
    s->wbuf.len = 0;
    int rc = hr_buf_reserve(&s->wbuf, HR_RECORD_FIXED);
    if (rc)
        return rc;
    struct hr_record r = {.type = (enum hr_record_type)type, .seq = seq, .ts_ns = now_ns()};
    s->wbuf.len = hr_record_encode(s->wbuf.data, &r);
    rc = write_records(s, s->last_seq + 1);
    if (rc)
        return rc;
    active_segment(s)->size += s->wbuf.len;
    return 0;
}

void hr_log_unlink_dead_segments(struct hr_stream_store *s)
{
    /* L3: leading segments whose messages are all below first_seq; never the last one. */
    while (s->nsegs > 1 && s->segs[0]->last_seq < s->first_seq &&
           s->segs[1]->first_seq <= s->first_seq)
        hr_seg_close(s, s->segs[0], true);
}

/* Removes one live message (interior or not) with a tombstone (L2). */
static int remove_seq(struct hr_stream_store *s, uint64_t seq)
{
    if (!hr_log_is_live(s, seq))
        return HERALD_ENOTFOUND;
    struct hr_buf buf;
    hr_buf_init(&buf, HR_RECORD_MAX + 4096);
    struct hr_record rec;
    size_t size;
    int rc = hr_log_locate(s, seq, &buf, &rec, &size);
    if (rc == 0)
        rc = write_marker(s, HR_REC_TOMBSTONE, seq);
    if (rc == 0)
        hr_log_note_removed(s, rec.subject, rec.subject_len, seq, size);
    hr_buf_cleanup(&buf);
    return rc;
}

/* Removes messages from the front while `keep_going` says so; one floor record (L2). */
static uint64_t trim_front(struct hr_stream_store *s, bool (*keep_going)(struct hr_stream_store *, const struct hr_record *, void *), void *arg)
{
    uint64_t removed = 0;
    struct hr_buf buf;
    hr_buf_init(&buf, HR_RECORD_MAX + 4096);
    while (s->msgs > 0) {
        struct hr_record rec;
        size_t size;
        if (hr_log_locate(s, s->first_seq, &buf, &rec, &size) != 0)
            break;
        if (!keep_going(s, &rec, arg))
            break;
        hr_log_note_removed(s, rec.subject, rec.subject_len, rec.seq, size);
        removed++;
    }
    hr_buf_cleanup(&buf);
    if (removed) {
        if (write_marker(s, HR_REC_FLOOR, s->first_seq) != 0)
            hr_warn("stream %s: could not record the removal of %llu old messages; they may"
                    " reappear after a restart until limits apply again", s->name,
                    (unsigned long long)removed);
        hr_log_unlink_dead_segments(s);
    }
    return removed;
}

static bool over_count_or_bytes(struct hr_stream_store *s, const struct hr_record *r, void *arg)
{
    (void)r;
    (void)arg;
    return (s->lim.max_msgs > 0 && s->msgs > (uint64_t)s->lim.max_msgs) ||
           (s->lim.max_bytes > 0 && s->bytes > (uint64_t)s->lim.max_bytes);
}

static bool older_than(struct hr_stream_store *s, const struct hr_record *r, void *arg)
{
    (void)s;
    return r->ts_ns < *(const int64_t *)arg;
}

static bool below_seq(struct hr_stream_store *s, const struct hr_record *r, void *arg)
{
    (void)s;
    return r->seq < *(const uint64_t *)arg;
}

/* L4: finds the exact first and last live sequence of a subject. */
static void resolve_subject(struct hr_stream_store *s, struct hr_subj *sj)
{
    /* A live `first` is not enough: as a lower bound it may be another subject's. */
    if (sj->first_exact && sj->last != LAST_UNKNOWN)
        return;
    struct hr_log_iter it;
    hr_log_iter_init(&it, s, sj->first > s->first_seq ? sj->first : s->first_seq);
    struct hr_record rec;
    size_t size;
    uint64_t first = 0, last = 0, seen = 0;
    bool need_last = sj->last == LAST_UNKNOWN;
    while (hr_log_iter_next(&it, &rec, &size) == 1) {
        if (rec.seq < sj->first || !hr_log_is_live(s, rec.seq))
            continue;
        if (rec.subject_len != sj->len || memcmp(rec.subject, sj->subject, sj->len) != 0)
            continue;
        if (!first)
            first = rec.seq;
        last = rec.seq;
        if (++seen == sj->count || !need_last)
            break;
    }
    hr_log_iter_cleanup(&it);
    if (first) {
        sj->first = first;
        sj->first_exact = true;
    }
    if (need_last && last)
        sj->last = last;
}

/* Checks one message against the size limits. */
static int check_size(const struct hr_stream_store *s, size_t subject_len, size_t hdr_len,
                      size_t data_len)
{
    if (subject_len > UINT16_MAX)
        return HERALD_ESUBJECT;
    if (hr_record_size(subject_len, hdr_len, data_len) > HR_RECORD_MAX ||
        (s->lim.max_msg_size > 0 && hdr_len + data_len > (uint64_t)s->lim.max_msg_size))
        return HERALD_ETOOBIG;
    return 0;
}

/* Discard-new checks for `n` more messages of `bytes` in total. */
static int check_room(struct hr_stream_store *s, const struct hr_append_msg *msgs, size_t n,
                      size_t bytes)
{
    if (!s->lim.discard_new)
        return 0;
    if (s->lim.max_msgs > 0 && s->msgs + n > (uint64_t)s->lim.max_msgs)
        return HERALD_ELIMIT;
    if (s->lim.max_bytes > 0 && s->bytes + bytes > (uint64_t)s->lim.max_bytes)
        return HERALD_ELIMIT;
    if (s->lim.discard_new_per_subject && s->lim.max_msgs_per_subject > 0)
        for (size_t i = 0; i < n; i++) {
            struct hr_subj *sj = hr_map_get(&s->subjects, msgs[i].subject, msgs[i].subject_len);
            uint64_t same = 0; /* earlier messages of this batch on the same subject */
            for (size_t j = 0; j < i; j++)
                same += msgs[j].subject_len == msgs[i].subject_len &&
                        memcmp(msgs[j].subject, msgs[i].subject, msgs[i].subject_len) == 0;
            if ((sj ? sj->count : 0) + same >= (uint64_t)s->lim.max_msgs_per_subject)
                return HERALD_ELIMIT;
        }
    return 0;
}

/* Bookkeeping for a message record just written at `off` of the active segment. */
static void account_appended(struct hr_stream_store *s, const struct hr_append_msg *m, uint64_t seq,
                             uint64_t off, size_t size, int64_t ts_ns)
{
    struct hr_segment *seg = active_segment(s);
    if (seg->last_seq < seg->first_seq)
        seg->first_ts_ns = ts_ns;
    hr_seg_index_add(seg, seq, off, ts_ns);
    seg->last_seq = seq;
    seg->last_ts_ns = ts_ns;
    if (s->msgs == 0)
        s->first_seq = seq;
    s->last_seq = seq;
    s->msgs++;
    s->bytes += size;
    if (!hr_log_subject_track(s, m->subject, m->subject_len, seq))
        hr_error("stream %s: out of memory in the subject index", s->name);
}

/* S2: limits with discard old, after appends touching `msgs`. */
static void apply_limits(struct hr_stream_store *s, const struct hr_append_msg *msgs, size_t n)
{
    bool removed = false;
    for (size_t i = 0; i < n && s->lim.max_msgs_per_subject > 0; i++) {
        struct hr_subj *sj = hr_map_get(&s->subjects, msgs[i].subject, msgs[i].subject_len);
        while (sj && sj->count > (uint64_t)s->lim.max_msgs_per_subject) {
            resolve_subject(s, sj);
            if (remove_seq(s, sj->first) != 0)
                break;
            removed = true;
        }
    }
    if (removed) /* L3: a KV bucket's old segments die by per-subject removals alone */
        hr_log_unlink_dead_segments(s);
    if (!s->lim.discard_new && over_count_or_bytes(s, NULL, NULL)) /* else no read at all */
        trim_front(s, over_count_or_bytes, NULL);
}

static int log_append_batch(struct hr_stream_store *s, const struct hr_append_msg *msgs, size_t n,
                            int64_t ts_ns, uint64_t *first_seq)
{
    if (s->failed || s->store->fsync_failed)
        return HERALD_ESTORE;
    if (n == 0)
        return HERALD_EINVAL;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = check_size(s, msgs[i].subject_len, msgs[i].hdr_len, msgs[i].data_len);
        if (rc)
            return rc;
        total += hr_record_size(msgs[i].subject_len, msgs[i].hdr_len, msgs[i].data_len);
    }
    int rc = check_room(s, msgs, n, total);
    if (rc)
        return rc;
    s->wbuf.len = 0;
    if ((rc = hr_buf_reserve(&s->wbuf, total)) != 0)
        return rc;
    uint64_t seq = s->last_seq + 1;
    for (size_t i = 0; i < n; i++) {
        struct hr_record r = {
            .type = HR_REC_MSG, .flags = i + 1 < n ? HR_REC_F_MORE : 0, .seq = seq + i,
            .ts_ns = ts_ns, .subject = msgs[i].subject, .subject_len = msgs[i].subject_len,
            .hdr = msgs[i].hdr, .hdr_len = msgs[i].hdr_len, .data = msgs[i].data,
            .data_len = msgs[i].data_len,
        };
        s->wbuf.len += hr_record_encode(s->wbuf.data + s->wbuf.len, &r);
    }
    if ((rc = write_records(s, seq)) != 0) /* F3: one write */
        return rc;
    struct hr_segment *seg = active_segment(s);
    uint64_t off = seg->size;
    for (size_t i = 0; i < n; i++) {
        size_t size = hr_record_size(msgs[i].subject_len, msgs[i].hdr_len, msgs[i].data_len);
        account_appended(s, &msgs[i], seq + i, off, size, ts_ns);
        off += size;
    }
    seg->size = off;
    *first_seq = seq;
    apply_limits(s, msgs, n);
    return 0;
}

static int log_append(struct hr_stream_store *s, const char *subject, size_t subject_len,
                      const char *hdr, size_t hdr_len, const char *data, size_t data_len,
                      int64_t ts_ns, uint64_t *seq_out)
{
    const struct hr_append_msg m = {subject, subject_len, hdr, hdr_len, data, data_len};
    return log_append_batch(s, &m, 1, ts_ns, seq_out);
}

/* ---- reading ---------------------------------------------------------------------- */

static int log_get(struct hr_stream_store *s, uint64_t seq, struct hr_store_msg *out)
{
    if (!hr_log_is_live(s, seq))
        return HERALD_ENOTFOUND;
    struct hr_buf buf;
    hr_buf_init(&buf, HR_RECORD_MAX + 4096);
    struct hr_record rec;
    size_t size;
    int rc = hr_log_locate(s, seq, &buf, &rec, &size);
    if (rc == 0)
        rc = copy_out(&rec, out);
    hr_buf_cleanup(&buf);
    return rc;
}

static int log_get_next(struct hr_stream_store *s, uint64_t seq, const char *filter,
                        size_t filter_len, struct hr_store_msg *out)
{
    if (seq < s->first_seq)
        seq = s->first_seq;
    uint64_t stop = s->last_seq;
    bool literal = filter && filter_len && hr_subject_valid_literal(filter, filter_len);
    if (literal) {
        struct hr_subj *sj = hr_map_get(&s->subjects, filter, filter_len);
        if (!sj)
            return HERALD_ENOTFOUND;
        if (sj->first > seq)
            seq = sj->first;
        if (sj->last != LAST_UNKNOWN)
            stop = sj->last;
    }
    if (seq > stop)
        return HERALD_ENOTFOUND;
    struct hr_log_iter it;
    hr_log_iter_init(&it, s, seq);
    struct hr_record rec;
    size_t size;
    int rc, result = HERALD_ENOTFOUND;
    while ((rc = hr_log_iter_next(&it, &rec, &size)) == 1) {
        if (rec.seq > stop)
            break;
        if (rec.seq < seq || !hr_log_is_live(s, rec.seq))
            continue;
        if (filter && filter_len &&
            !hr_subject_matches(filter, filter_len, rec.subject, rec.subject_len))
            continue;
        result = copy_out(&rec, out);
        break;
    }
    if (rc < 0)
        result = rc;
    hr_log_iter_cleanup(&it);
    return result;
}

static int log_get_last(struct hr_stream_store *s, const char *subject, size_t subject_len,
                        struct hr_store_msg *out)
{
    if (hr_subject_valid_literal(subject, subject_len)) {
        struct hr_subj *sj = hr_map_get(&s->subjects, subject, subject_len);
        if (!sj)
            return HERALD_ENOTFOUND;
        resolve_subject(s, sj);
        return log_get(s, sj->last, out);
    }
    /* A wildcard: the highest last sequence among matching subjects. */
    uint64_t best = 0;
    for (size_t i = 0; i < s->subjects.cap; i++) {
        struct hr_subj *sj = s->subjects.slots[i].hash ? s->subjects.slots[i].val : NULL;
        if (!sj || !hr_subject_matches(subject, subject_len, sj->subject, sj->len))
            continue;
        resolve_subject(s, sj);
        if (sj->last > best)
            best = sj->last;
    }
    return best ? log_get(s, best, out) : HERALD_ENOTFOUND;
}

static uint64_t log_seq_for_time(struct hr_stream_store *s, int64_t ts_ns)
{
    struct hr_log_iter it;
    uint64_t start = s->first_seq;
    for (size_t i = 0; i < s->nsegs; i++) {
        struct hr_segment *seg = s->segs[i];
        if (seg->last_seq < seg->first_seq || seg->last_ts_ns < ts_ns)
            continue;
        start = seg->first_seq;
        for (size_t k = 0; k < seg->nidx && seg->idx[k].ts_ns < ts_ns; k++)
            start = seg->idx[k].seq;
        break;
    }
    hr_log_iter_init(&it, s, start);
    struct hr_record rec;
    size_t size;
    uint64_t found = 0;
    while (hr_log_iter_next(&it, &rec, &size) == 1)
        if (rec.ts_ns >= ts_ns && hr_log_is_live(s, rec.seq)) {
            found = rec.seq;
            break;
        }
    hr_log_iter_cleanup(&it);
    return found;
}

/* ---- removing --------------------------------------------------------------------- */

static int log_remove(struct hr_stream_store *s, uint64_t seq)
{
    int rc = remove_seq(s, seq);
    if (rc == 0)
        hr_log_unlink_dead_segments(s);
    return rc;
}

static int log_purge(struct hr_stream_store *s, const char *filter, size_t filter_len,
                     uint64_t up_to, uint64_t keep, uint64_t *purged)
{
    *purged = 0;
    if (s->failed)
        return HERALD_ESTORE;
    bool all = !filter || !filter_len || (filter_len == 1 && filter[0] == '>');
    if (all && keep == 0) {
        uint64_t floor = up_to && up_to <= s->last_seq ? up_to : s->last_seq + 1;
        if (floor <= s->first_seq)
            return 0;
        uint64_t before = s->msgs;
        if (floor == s->last_seq + 1) {
            int rc = write_marker(s, HR_REC_FLOOR, floor);
            if (rc)
                return rc;
            for (size_t i = 0; i < s->subjects.cap; i++) {
                struct hr_subj *sj = s->subjects.slots[i].hash ? s->subjects.slots[i].val : NULL;
                if (sj) {
                    free(sj->subject);
                    free(sj);
                }
            }
            hr_map_cleanup(&s->subjects);
            s->msgs = s->bytes = 0;
            s->first_seq = floor;
            s->deleted.head = s->deleted.len = 0;
            *purged = before;
            hr_log_unlink_dead_segments(s);
            return 0;
        }
        trim_front(s, below_seq, &floor); /* writes its own floor record */
        *purged = before - s->msgs;
        return 0;
    }
    /* Filtered or keeping: collect the matching live sequences, then remove. */
    struct hr_seqset match = {0};
    struct hr_log_iter it;
    hr_log_iter_init(&it, s, s->first_seq);
    struct hr_record rec;
    size_t size;
    while (hr_log_iter_next(&it, &rec, &size) == 1) {
        if (up_to && rec.seq >= up_to)
            break;
        if (!hr_log_is_live(s, rec.seq))
            continue;
        if (!all && !hr_subject_matches(filter, filter_len, rec.subject, rec.subject_len))
            continue;
        if (hr_seqset_add(&match, rec.seq) != 0)
            break;
    }
    hr_log_iter_cleanup(&it);
    size_t n = seqset_count(&match);
    size_t remove_n = keep >= n ? 0 : n - (size_t)keep;
    int rc = 0;
    for (size_t i = 0; i < remove_n && rc == 0; i++) {
        rc = remove_seq(s, match.v[match.head + i]);
        if (rc == 0)
            (*purged)++;
    }
    free(match.v);
    hr_log_unlink_dead_segments(s);
    return rc;
}

static uint64_t log_expire(struct hr_stream_store *s, int64_t now)
{
    if (s->lim.max_age_ns <= 0 || s->msgs == 0 || s->failed)
        return 0;
    int64_t cutoff = now - s->lim.max_age_ns;
    return trim_front(s, older_than, &cutoff);
}

static void log_state(struct hr_stream_store *s, struct hr_stream_state *out)
{
    memset(out, 0, sizeof *out);
    out->msgs = s->msgs;
    out->bytes = s->bytes;
    out->first_seq = s->first_seq;
    out->last_seq = s->last_seq;
    out->num_subjects = s->subjects.count;
    out->num_deleted = seqset_count(&s->deleted);
    if (s->msgs) {
        struct hr_buf buf;
        hr_buf_init(&buf, HR_RECORD_MAX + 4096);
        struct hr_record rec;
        size_t size;
        if (hr_log_locate(s, s->first_seq, &buf, &rec, &size) == 0)
            out->first_ts_ns = rec.ts_ns;
        if (hr_log_locate(s, s->last_seq, &buf, &rec, &size) == 0)
            out->last_ts_ns = rec.ts_ns;
        hr_buf_cleanup(&buf);
    }
}

static bool log_subject_state(struct hr_stream_store *s, const char *subject, size_t subject_len,
                              struct hr_subject_state *out)
{
    struct hr_subj *sj = hr_map_get(&s->subjects, subject, subject_len);
    if (!sj)
        return false;
    resolve_subject(s, sj);
    *out = (struct hr_subject_state){sj->first, sj->last, sj->count};
    return true;
}

static int log_subjects(struct hr_stream_store *s, const char *filter, size_t filter_len,
                        int (*cb)(void *arg, const char *subject, uint64_t msgs), void *arg)
{
    for (size_t i = 0; i < s->subjects.cap; i++) {
        struct hr_subj *sj = s->subjects.slots[i].hash ? s->subjects.slots[i].val : NULL;
        if (!sj || (filter && filter_len &&
                    !hr_subject_matches(filter, filter_len, sj->subject, sj->len)))
            continue;
        int rc = cb(arg, sj->subject, sj->count);
        if (rc)
            return rc;
    }
    return 0;
}

static size_t deleted_between(const struct hr_stream_store *s, uint64_t lo, uint64_t hi)
{
    /* entries of the deleted set in [lo, hi] (the set is sorted) */
    size_t a = s->deleted.head, b = s->deleted.len;
    size_t l = a, h = b;
    while (l < h) {
        size_t m = (l + h) / 2;
        if (s->deleted.v[m] < lo)
            l = m + 1;
        else
            h = m;
    }
    size_t first = l;
    l = first, h = b;
    while (l < h) {
        size_t m = (l + h) / 2;
        if (s->deleted.v[m] <= hi)
            l = m + 1;
        else
            h = m;
    }
    return l - first;
}

static int log_scan_headers(struct hr_stream_store *s, uint64_t seq,
                            int (*cb)(void *arg, uint64_t seq, int64_t ts_ns, const char *hdr,
                                      size_t hdr_len),
                            void *arg)
{
    if (seq < s->first_seq)
        seq = s->first_seq;
    if (s->msgs == 0 || seq > s->last_seq)
        return 0;
    /* Records are peeked (fixed header, no CRC); only messages with headers are read
     * whole and CRC-checked: most streams carry few headers, and this runs at start-up. */
    struct hr_log_iter it;
    hr_log_iter_init(&it, s, seq);
    int rc = 0;
    while (rc == 0 && it.seg_index < s->nsegs) {
        struct hr_segment *seg = s->segs[it.seg_index];
        if (it.off >= seg->size) {
            it.seg_index++;
            it.off = HR_SEG_HEADER_SIZE;
            continue;
        }
        struct hr_record rec;
        size_t size;
        if ((rc = hr_seg_peek_record(s, seg, it.off, &rec, &size)) != 0)
            break;
        if (rec.type == HR_REC_MSG && rec.hdr_len && rec.seq >= seq && hr_log_is_live(s, rec.seq)) {
            rc = hr_seg_read_record(s, seg, it.off, &it.buf, &rec, &size);
            if (rc == 0)
                rc = cb(arg, rec.seq, rec.ts_ns, rec.hdr, rec.hdr_len);
        }
        it.off += size;
    }
    hr_log_iter_cleanup(&it);
    return rc;
}

static uint64_t log_count_from(struct hr_stream_store *s, uint64_t seq, const char *filter,
                               size_t filter_len)
{
    if (seq < s->first_seq)
        seq = s->first_seq;
    if (s->msgs == 0 || seq > s->last_seq)
        return 0;
    bool all = !filter || !filter_len || (filter_len == 1 && filter[0] == '>');
    if (all)
        return s->last_seq - seq + 1 - deleted_between(s, seq, s->last_seq);
    /* Whole subjects from the index; a subject straddling `seq` is counted by a scan. */
    uint64_t n = 0, scan_from = UINT64_MAX;
    for (size_t i = 0; i < s->subjects.cap; i++) {
        struct hr_subj *sj = s->subjects.slots[i].hash ? s->subjects.slots[i].val : NULL;
        if (!sj || !hr_subject_matches(filter, filter_len, sj->subject, sj->len))
            continue;
        if (sj->first >= seq && sj->first_exact)
            n += sj->count;
        else if (sj->last != UINT64_MAX && sj->last < seq)
            continue;
        else if (scan_from == UINT64_MAX || scan_from > seq)
            scan_from = seq;
    }
    if (scan_from == UINT64_MAX)
        return n;
    /* Exact for the straddling subjects: count their live messages from seq on. */
    struct hr_log_iter it;
    hr_log_iter_init(&it, s, scan_from);
    struct hr_record rec;
    size_t size;
    uint64_t scanned = 0;
    while (hr_log_iter_next(&it, &rec, &size) == 1) {
        if (rec.seq < seq || !hr_log_is_live(s, rec.seq))
            continue;
        if (!hr_subject_matches(filter, filter_len, rec.subject, rec.subject_len))
            continue;
        struct hr_subj *sj = hr_map_get(&s->subjects, rec.subject, rec.subject_len);
        if (sj && !(sj->first >= seq && sj->first_exact))
            n++;
        scanned++;
    }
    hr_log_iter_cleanup(&it);
    (void)scanned;
    return n;
}

static int log_checkpoint(struct hr_stream_store *s, int64_t now, int64_t min_interval)
{
    if (!s->store->checkpoints || !s->records_since_ckpt || s->memory || !s->nsegs ||
        now - s->last_ckpt_ns < min_interval)
        return 0;
    s->last_ckpt_ns = now;
    return hr_log_checkpoint_write(s);
}

static int log_set_limits(struct hr_stream_store *s, const struct hr_stream_limits *lim)
{
    s->lim = *lim;
    /* A lowered per-subject limit applies to what is stored now, as the others do (no
     * subject entry goes away here: counts stay >= the limit >= 1). */
    bool removed = false;
    for (size_t i = 0; i < s->subjects.cap && s->lim.max_msgs_per_subject > 0; i++) {
        struct hr_subj *sj = s->subjects.slots[i].hash ? s->subjects.slots[i].val : NULL;
        while (sj && sj->count > (uint64_t)s->lim.max_msgs_per_subject) {
            resolve_subject(s, sj);
            if (remove_seq(s, sj->first) != 0)
                break;
            removed = true;
        }
    }
    if (removed)
        hr_log_unlink_dead_segments(s);
    if (!s->lim.discard_new && over_count_or_bytes(s, NULL, NULL)) /* else no read at all */
        trim_front(s, over_count_or_bytes, NULL);
    log_expire(s, now_ns());
    return 0;
}

/* ---- metadata --------------------------------------------------------------------- */

static int log_meta_write(struct hr_stream_store *s, const char *data, size_t len)
{
    char tmp[4096], path[4096];
    snprintf(tmp, sizeof tmp, "%s/meta.json.tmp", s->dir);
    snprintf(path, sizeof path, "%s/meta.json", s->dir);
    int fd = s->io->open(s->io, tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return fd;
    int rc = hr_io_write_all(s->io, fd, data, len, 0);
    if (rc == 0 && !s->memory)
        rc = s->io->fdatasync(s->io, fd);
    s->io->close(s->io, fd);
    if (rc == 0)
        rc = s->io->rename(s->io, tmp, path);
    if (rc == 0)
        rc = s->io->sync_dir(s->io, s->dir);
    return rc;
}

static int log_meta_read(struct hr_stream_store *s, char **data, size_t *len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/meta.json", s->dir);
    int fd = s->io->open(s->io, path, O_RDONLY, 0);
    if (fd < 0)
        return fd;
    int64_t size = s->io->size(s->io, fd);
    int rc = size < 0 ? (int)size : 0;
    char *p = NULL;
    if (rc == 0 && size > 16 * 1024 * 1024)
        rc = HERALD_ECORRUPT;
    if (rc == 0 && !(p = malloc((size_t)size + 1)))
        rc = HERALD_ENOMEM;
    if (rc == 0)
        rc = hr_io_read_all(s->io, fd, p, (size_t)size, 0);
    s->io->close(s->io, fd);
    if (rc) {
        free(p);
        return rc;
    }
    p[size] = '\0';
    *data = p;
    *len = (size_t)size;
    return 0;
}

/* The stream half of the ops table; log_store.c adds the lifecycle half. */
const struct hr_store_ops hr_log_store_ops = {
    .name = "log",
    .stream_set_limits = log_set_limits,
    .meta_write = log_meta_write,
    .meta_read = log_meta_read,
    .append = log_append,
    .append_batch = log_append_batch,
    .get = log_get,
    .get_next = log_get_next,
    .get_last = log_get_last,
    .seq_for_time = log_seq_for_time,
    .remove = log_remove,
    .purge = log_purge,
    .state = log_state,
    .subject_state = log_subject_state,
    .subjects = log_subjects,
    .count_from = log_count_from,
    .scan_headers = log_scan_headers,
    .checkpoint = log_checkpoint,
    .consumer_open = hr_clog_open,
    .consumer_replay = hr_clog_replay,
    .consumer_append = hr_clog_append,
    .consumer_rewrite = hr_clog_rewrite,
    .consumer_close = hr_clog_close,
    .consumer_remove = hr_clog_remove,
    .consumer_list = hr_clog_list,
    .expire = log_expire,
};
