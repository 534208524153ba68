/* SPDX-License-Identifier: Apache-2.0
 *
 * The embedded log store's internal structures, shared by its files:
 *   log_store.c       the store's lifecycle; opening, closing, listing, removing streams;
 *                     the ops table
 *   log_segment.c     segment files, the sparse index, the read window and hint, the
 *                     record iterator
 *   log_stream.c      the stream ops: append, read, remove, purge, limits, expiry
 *   log_recover.c     opening a stream directory: checkpoint + tail, or scan, cut a torn
 *                     tail, rebuild indexes
 *   log_checkpoint.c  index checkpoints (index.ckpt), P1–P2
 *   log_consumer.c    consumer state logs (consumers/<name>.clog), K1–K3
 *   log_sync.c        group commit on the store thread
 *
 * Invariants (in addition to S1–S5 in store.h and F1–F3 in record.h):
 *   L1. `first_seq` is the lowest live sequence (last_seq + 1 when empty); every
 *       sequence in [first_seq, last_seq] is live unless it is in `deleted`.
 *   L2. Every removal is written to the log (a tombstone, or a floor record for purges
 *       below a sequence) before it is acknowledged, so recovery replays it.
 *   L3. Only leading segments are unlinked (all their messages dead, none before them
 *       left, never the active one), so a tombstone or floor record is never unlinked
 *       while the message it kills is still on disk.
 *   L4. A subject's `first` is a lower bound (resolved lazily by scanning forward);
 *       `last` and `count` are exact.
 *   L5. Segment descriptors stay open while a sync is in flight; a removed segment's
 *       fd is closed only after the sync that may be using it completes.
 *   L6. The read window holds bytes [off, off+len) of one segment, all below its size
 *       when read; they never change (append-only), so it stays valid until the segment is
 *       cut (a failed write, recovery) or closed, which drop it.
 */
#ifndef HR_STORE_LOG_INTERNAL_H
#define HR_STORE_LOG_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/buf.h"
#include "common/map.h"
#include "herald/stream.h"
#include "store/io.h"
#include "store/record.h"
#include "store/store.h"

#define HR_SPARSE_EVERY 32

struct hr_sparse {
    uint64_t seq;
    uint64_t off;
    int64_t ts_ns;
};

struct hr_segment {
    uint64_t first_seq; /* from the header / name */
    uint64_t last_seq;  /* last message record in it; first_seq - 1 when none */
    int64_t first_ts_ns, last_ts_ns;
    uint64_t size; /* valid bytes */
    int fd;
    char *path;
    struct hr_sparse *idx;
    size_t nidx, idx_cap;
    bool dirty;
};

struct hr_seqset {
    uint64_t *v;
    size_t head, len, cap; /* live entries are v[head .. len) */
};

struct hr_subj {
    char *subject;
    size_t len;
    uint64_t first, last, count;
    bool first_exact; /* else `first` is only a lower bound (L4) */
};

struct hr_log_store;

#define HR_READ_WINDOW (64 * 1024)
#define HR_READ_WINDOW_MIN (4 * 1024)

struct hr_read_window { /* L6 */
    struct hr_segment *seg;
    uint64_t off;
    struct hr_buf buf;
    size_t fill; /* the next fill's size: HR_READ_WINDOW_MIN after a jump, doubling while
                  * each fill starts inside or at the end of the last (a sequential reader) */
    /* where the last message read ended: a read of a later sequence in the same segment
     * starts there instead of at the sparse index (sequential readers cost O(1) each) */
    struct hr_segment *hint_seg;
    uint64_t hint_seq, hint_next;
};

#define HR_CONSUMER_NAME_MAX 255

struct hr_consumer_log {
    struct hr_stream_store *stream;
    char *name;
    char *path;
    int fd;
    uint64_t size;
    bool dirty, failed;
    struct hr_buf wbuf;
    struct hr_consumer_log *next; /* the stream's list */
};

struct hr_stream_store {
    struct hr_log_store *store;
    char *name;
    char *dir;
    bool memory;
    struct hr_io *io;
    struct hr_stream_limits lim;
    struct hr_segment **segs;
    size_t nsegs, segs_cap;
    uint64_t first_seq, last_seq;
    uint64_t msgs, bytes;
    struct hr_map subjects; /* subject -> struct hr_subj */
    struct hr_seqset deleted;
    bool failed; /* S3: read-only until restart */
    struct hr_buf wbuf;
    struct hr_consumer_log *clogs; /* open consumer state logs */
    struct hr_read_window window;
    uint64_t records_since_ckpt; /* records written since the last index checkpoint */
    int64_t last_ckpt_ns;
    struct hr_stream_store *next; /* store's list */
};

struct hr_fd_grave {
    int fd;
    struct hr_io *io;
    struct hr_fd_grave *next;
};

struct hr_flush_waiter {
    hr_store_flush_cb cb;
    void *arg;
    struct hr_flush_waiter *next;
};

struct hr_log_store {
    struct hr_store base;
    char *dir;
    enum hr_sync_mode sync;
    int64_t sync_interval_ms;
    uint64_t segment_bytes;
    struct hr_io *io;
    uv_loop_t *loop;
    bool checkpoints;
    struct hr_stream_store *streams;
    /* log_sync.c */
    pthread_t thread;
    bool thread_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uv_async_t async;
    uv_timer_t interval_timer;
    int *sync_fds;
    size_t sync_nfds, sync_cap;
    bool sync_requested, sync_done, sync_stop, sync_inflight;
    int sync_result;
    struct hr_flush_waiter *inflight_waiters, *next_waiters;
    struct hr_fd_grave *grave;
    bool fsync_failed;
    uint64_t fsyncs, fsync_ns_total, sync_batches;
    uint64_t fsync_buckets[HERALD_FSYNC_BUCKETS + 1]; /* per group commit, by latency */
    int handles_open; /* loop handles not yet closed; the last close callback frees us */
};

/* log_segment.c */
int hr_seg_create(struct hr_stream_store *s, uint64_t first_seq, struct hr_segment **out);
int hr_seg_open(struct hr_stream_store *s, const char *path, struct hr_segment **out);
void hr_seg_close(struct hr_stream_store *s, struct hr_segment *seg, bool unlink_file);
void hr_seg_index_add(struct hr_segment *seg, uint64_t seq, uint64_t off, int64_t ts_ns);
struct hr_segment *hr_seg_for_seq(struct hr_stream_store *s, uint64_t seq);
/* Where a read of message `seq` of `seg` should start: the sparse index entry at or before
 * it, or the read hint when that is closer. */
uint64_t hr_seg_start_offset(struct hr_stream_store *s, const struct hr_segment *seg, uint64_t seq);
/* Records that message `seq` of `seg` ended at `next` (the read hint). */
void hr_seg_note_read(struct hr_stream_store *s, struct hr_segment *seg, uint64_t seq, uint64_t next);
/* Peeks the record at `off` (type, seq, ts, lengths; no CRC check, no payload pointers).
 * Returns 0, HERALD_ENOTFOUND past the end, HERALD_ECORRUPT. */
int hr_seg_peek_record(struct hr_stream_store *s, struct hr_segment *seg, uint64_t off,
                       struct hr_record *rec, size_t *size);
/* Forgets the read window if it shows `seg` (NULL: whatever it shows). */
void hr_read_window_drop(struct hr_stream_store *s, const struct hr_segment *seg);
/* Reads the record at `off` into `buf` (grown as needed) and decodes it (CRC checked). */
int hr_seg_read_record(struct hr_stream_store *s, struct hr_segment *seg, uint64_t off,
                       struct hr_buf *buf, struct hr_record *rec, size_t *size);

/* Sequential reader over message records from a given sequence. */
struct hr_log_iter {
    struct hr_stream_store *s;
    size_t seg_index;
    uint64_t off;
    struct hr_buf buf;
};
void hr_log_iter_init(struct hr_log_iter *it, struct hr_stream_store *s, uint64_t seq);
/* Next message record (live or not: callers check hr_log_is_live). Returns 1 with *rec
 * and *size filled, 0 at the end, or a negative error. */
int hr_log_iter_next(struct hr_log_iter *it, struct hr_record *rec, size_t *size);
void hr_log_iter_cleanup(struct hr_log_iter *it);

/* log_stream.c */
bool hr_seqset_has(const struct hr_seqset *set, uint64_t seq);
int hr_seqset_add(struct hr_seqset *set, uint64_t seq);
void hr_seqset_drop_below(struct hr_seqset *set, uint64_t seq);
bool hr_log_is_live(const struct hr_stream_store *s, uint64_t seq);
/* Reads the record of message `seq` (pointers into the read window or buf). */
int hr_log_locate(struct hr_stream_store *s, uint64_t seq, struct hr_buf *buf,
                  struct hr_record *rec, size_t *size);
struct hr_subj *hr_log_subject_track(struct hr_stream_store *s, const char *subject, size_t len,
                                     uint64_t seq);
void hr_log_note_removed(struct hr_stream_store *s, const char *subject, size_t subject_len,
                         uint64_t seq, size_t size);
void hr_log_unlink_dead_segments(struct hr_stream_store *s);
extern const struct hr_store_ops hr_log_store_ops;

/* log_recover.c */
int hr_log_recover(struct hr_stream_store *s);

/* log_checkpoint.c (P1, P2) */
struct hr_ckpt_seg {
    uint64_t first_seq, last_seq;
    int64_t first_ts_ns, last_ts_ns;
    uint64_t size;
    uint32_t nidx;
    const char *idx; /* nidx × 24 bytes inside the checkpoint's data */
};
struct hr_checkpoint {
    char *data;
    uint64_t first_seq, last_seq, msgs, bytes;
    uint32_t nsegs;
    struct hr_ckpt_seg *segs;
    const char *subjects, *subjects_end;
};
int hr_log_checkpoint_write(struct hr_stream_store *s);
int hr_log_checkpoint_load(struct hr_stream_store *s, struct hr_checkpoint *ck);
void hr_log_checkpoint_free(struct hr_checkpoint *ck);
const struct hr_ckpt_seg *hr_log_checkpoint_seg(const struct hr_checkpoint *ck, uint64_t first_seq);
void hr_log_checkpoint_apply_seg(struct hr_segment *seg, const struct hr_ckpt_seg *g);
int hr_log_checkpoint_apply_state(struct hr_stream_store *s, const struct hr_checkpoint *ck);

/* log_consumer.c */
int hr_clog_open(struct hr_stream_store *s, const char *name, struct hr_consumer_log **out);
int hr_clog_replay(struct hr_consumer_log *c, int (*cb)(void *arg, const char *rec, size_t len),
                   void *arg);
int hr_clog_append(struct hr_consumer_log *c, const void *data, size_t len);
int hr_clog_rewrite(struct hr_consumer_log *c, const void *data, size_t len);
uint64_t hr_clog_size(const struct hr_consumer_log *c);
void hr_clog_close(struct hr_consumer_log *c);
int hr_clog_remove(struct hr_consumer_log *c);
int hr_clog_list(struct hr_stream_store *s, int (*cb)(void *arg, const char *name), void *arg);

/* log_sync.c */
int hr_log_sync_start(struct hr_log_store *ls);
void hr_log_sync_stop(struct hr_log_store *ls);
void hr_log_flush(struct hr_store *st, hr_store_flush_cb cb, void *arg);
void hr_log_sync_stats(struct hr_store *st, struct herald_store_stats *out);
void hr_log_retire_fd(struct hr_log_store *ls, struct hr_io *io, int fd);

#endif
