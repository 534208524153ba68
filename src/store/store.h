/* SPDX-License-Identifier: Apache-2.0
 *
 * The store interface: what the engine needs from storage, at the level of streams and
 * messages (never files), so a second backend on a NATS JetStream cluster is a mapping,
 * not a rewrite (DESIGN §3, §7). The engine calls a backend only through
 * `struct hr_store_ops`. Today's backend: the embedded log (store/log_*.c), over files or
 * over an in-memory file system for memory storage.
 *
 * Contract:
 *   S1. append() assigns the next sequence (last_seq + 1) and makes the message readable
 *       at once; it is durable only after a later flush() callback reports success.
 *   S2. Limits (max_msgs, max_bytes, max_age, max_msgs_per_subject) with discard old are
 *       applied by the store right after an append (and by expire() for age); with
 *       discard new, append() refuses with HERALD_ELIMIT (msgs/bytes) or HERALD_ETOOBIG.
 *   S3. A failed append leaves the stream as it was (a partial write is cut off); when
 *       even that fails the stream turns read-only (HERALD_ESTORE) until restart, when
 *       recovery cuts the torn tail.
 *   S4. Messages returned by get*() are copies owned by the caller (hr_store_msg_free()).
 *   S5. flush(cb) calls cb exactly once, on the loop thread, after every append made
 *       before the call is on stable storage (or with the error that prevented it).
 */
#ifndef HR_STORE_STORE_H
#define HR_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct herald_store_stats; /* herald/stream.h */

struct hr_store;
struct hr_stream_store;
struct hr_consumer_log;

struct hr_store_msg {
    uint64_t seq;
    int64_t ts_ns;
    char *subject;
    size_t subject_len;
    char *hdr;
    size_t hdr_len;
    char *data;
    size_t data_len;
};
void hr_store_msg_free(struct hr_store_msg *m);

struct hr_append_msg {
    const char *subject;
    size_t subject_len;
    const char *hdr;
    size_t hdr_len;
    const char *data;
    size_t data_len;
};

struct hr_stream_limits {
    int64_t max_msgs;             /* <= 0: unlimited */
    int64_t max_bytes;            /* <= 0: unlimited */
    int64_t max_age_ns;           /* <= 0: unlimited */
    int64_t max_msgs_per_subject; /* <= 0: unlimited */
    int64_t max_msg_size;         /* <= 0: unlimited */
    bool discard_new;
    bool discard_new_per_subject;
};

struct hr_stream_state {
    uint64_t msgs, bytes;
    uint64_t first_seq, last_seq;
    int64_t first_ts_ns, last_ts_ns;
    uint64_t num_subjects;
    uint64_t num_deleted;
};

struct hr_subject_state {
    uint64_t first_seq, last_seq, msgs;
};

enum hr_sync_mode { HR_SYNC_ALWAYS, HR_SYNC_INTERVAL, HR_SYNC_NEVER };

typedef void (*hr_store_flush_cb)(void *arg, int status);

struct hr_store_ops {
    const char *name;
    /* Opens (creating when absent) the stream `name`; memory=true keeps it in memory. */
    int (*stream_open)(struct hr_store *st, const char *name, bool memory,
                       const struct hr_stream_limits *lim, struct hr_stream_store **out);
    void (*stream_close)(struct hr_stream_store *s);
    /* Closes and deletes everything of the stream. */
    int (*stream_remove)(struct hr_stream_store *s);
    int (*stream_set_limits)(struct hr_stream_store *s, const struct hr_stream_limits *lim);
    /* Lists the streams found at start-up. */
    int (*stream_list)(struct hr_store *st, int (*cb)(void *arg, const char *name), void *arg);
    /* The stream's opaque metadata (the engine's config JSON), replaced atomically. */
    int (*meta_write)(struct hr_stream_store *s, const char *data, size_t len);
    int (*meta_read)(struct hr_stream_store *s, char **data, size_t *len);

    int (*append)(struct hr_stream_store *s, const char *subject, size_t subject_len,
                  const char *hdr, size_t hdr_len, const char *data, size_t data_len,
                  int64_t ts_ns, uint64_t *seq);
    /* Appends n messages atomically (F3): all or none are stored, also across a crash.
     * *first_seq receives the first one's sequence. Limits as for append(). */
    int (*append_batch)(struct hr_stream_store *s, const struct hr_append_msg *msgs, size_t n,
                        int64_t ts_ns, uint64_t *first_seq);
    int (*get)(struct hr_stream_store *s, uint64_t seq, struct hr_store_msg *out);
    /* First message with sequence >= seq whose subject matches `filter` (NULL: any). */
    int (*get_next)(struct hr_stream_store *s, uint64_t seq, const char *filter,
                    size_t filter_len, struct hr_store_msg *out);
    int (*get_last)(struct hr_stream_store *s, const char *subject, size_t subject_len,
                    struct hr_store_msg *out);
    /* First sequence whose timestamp is >= ts_ns (0 when none). */
    uint64_t (*seq_for_time)(struct hr_stream_store *s, int64_t ts_ns);
    int (*remove)(struct hr_stream_store *s, uint64_t seq);
    /* Purges messages matching `filter` (NULL: all) with seq < up_to (0: no bound),
     * keeping the newest `keep` (0: none). */
    int (*purge)(struct hr_stream_store *s, const char *filter, size_t filter_len,
                 uint64_t up_to, uint64_t keep, uint64_t *purged);
    void (*state)(struct hr_stream_store *s, struct hr_stream_state *out);
    bool (*subject_state)(struct hr_stream_store *s, const char *subject, size_t subject_len,
                          struct hr_subject_state *out);
    /* Calls cb for each subject matching `filter` (NULL: all) with its message count. */
    int (*subjects)(struct hr_stream_store *s, const char *filter, size_t filter_len,
                    int (*cb)(void *arg, const char *subject, uint64_t msgs), void *arg);
    /* Live messages with sequence >= seq matching `filter` (NULL: all). */
    uint64_t (*count_from)(struct hr_stream_store *s, uint64_t seq, const char *filter,
                           size_t filter_len);
    /* One sequential pass over the live messages with sequence >= seq that carry headers:
     * cb(seq, ts_ns, hdr, hdr_len) for each (the pointers are valid during the call only);
     * a non-zero return from cb stops the scan and is returned. */
    int (*scan_headers)(struct hr_stream_store *s, uint64_t seq,
                        int (*cb)(void *arg, uint64_t seq, int64_t ts_ns, const char *hdr,
                                  size_t hdr_len),
                        void *arg);
    /* Consumer state logs (log_consumer.c K1–K3): opaque records, replayed in order. */
    int (*consumer_open)(struct hr_stream_store *s, const char *name, struct hr_consumer_log **out);
    int (*consumer_replay)(struct hr_consumer_log *c,
                           int (*cb)(void *arg, const char *rec, size_t len), void *arg);
    int (*consumer_append)(struct hr_consumer_log *c, const void *rec, size_t len);
    int (*consumer_rewrite)(struct hr_consumer_log *c, const void *rec, size_t len);
    void (*consumer_close)(struct hr_consumer_log *c);
    int (*consumer_remove)(struct hr_consumer_log *c);
    int (*consumer_list)(struct hr_stream_store *s, int (*cb)(void *arg, const char *name),
                         void *arg);
    /* Saves an index checkpoint when records were written and the last one is older than
     * `min_interval_ns` (0: now), so a restart scans only the tail after it. */
    int (*checkpoint)(struct hr_stream_store *s, int64_t now_ns, int64_t min_interval_ns);
    /* Applies max_age at `now_ns`; returns messages removed. */
    uint64_t (*expire)(struct hr_stream_store *s, int64_t now_ns);
    /* S5. */
    void (*flush)(struct hr_store *st, hr_store_flush_cb cb, void *arg);
    /* Group-commit counters: fdatasync calls, commits, and the time they took. */
    void (*sync_stats)(struct hr_store *st, struct herald_store_stats *out);
    /* Syncs, runs every waiting flush callback, closes all streams. The store's loop
     * handles close asynchronously: run the loop afterwards (before uv_loop_close())
     * so their close callbacks release the rest of the store. */
    void (*destroy)(struct hr_store *st);
};

struct hr_store {
    const struct hr_store_ops *ops;
};

struct hr_log_store_options {
    const char *dir;            /* data directory; streams live in <dir>/streams/<name> */
    enum hr_sync_mode sync;
    int64_t sync_interval_ms;   /* HR_SYNC_INTERVAL */
    uint64_t segment_bytes;     /* roll to a new segment past this size; 0 = 64 MiB */
    struct hr_io *io;           /* NULL = POSIX */
    bool checkpoints;           /* write index checkpoints (log_checkpoint.c) */
    uv_loop_t *loop;            /* where flush callbacks run */
};

/* Creates the embedded log store (returns owned; ->ops->destroy frees it). */
int hr_log_store_create(const struct hr_log_store_options *opts, struct hr_store **out);

#endif
