/* SPDX-License-Identifier: Apache-2.0
 *
 * Durable streams in libherald: a stream captures the messages published on its subjects
 * into the store, in order, with a sequence number and a timestamp each. The model and
 * the JSON field names are JetStream's (nats-server 2.9), so the NATS head's JetStream
 * API and the other heads' REST forms are thin mappings of these calls.
 *
 * Publishing needs no call of its own: herald_publish() stores a message in every stream
 * whose subjects match (at most one: subjects may not overlap), and when the message
 * carries a reply subject the engine answers there with a PubAck
 * `{"stream":"S","seq":N[,"duplicate":true][,"domain":"D"]}` once the message is durable
 * (after the group-commit fsync with sync=always), or with a JetStream error object.
 *
 * Threading: as herald.h — the engine's thread only.
 */
#ifndef HERALD_STREAM_H
#define HERALD_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "herald/herald.h"

struct herald_stream;

/* A rich error: the engine code, an HTTP-style status and the JetStream err_code with
 * nats-server's description, so every head reports the same thing. */
struct herald_error {
    int code;     /* HERALD_E* */
    int status;   /* 400, 404, 500, 503 … */
    int err_code; /* JetStream err_code, e.g. 10059 */
    char description[256];
};

enum herald_retention { HERALD_RETENTION_LIMITS, HERALD_RETENTION_INTEREST, HERALD_RETENTION_WORKQUEUE };
enum herald_discard { HERALD_DISCARD_OLD, HERALD_DISCARD_NEW };
enum herald_storage { HERALD_STORAGE_FILE, HERALD_STORAGE_MEMORY };

#define HERALD_NAME_MAX 255

struct herald_stream_config {
    char *name;        /* owned */
    char *description; /* owned, may be NULL */
    char **subjects;   /* owned array of owned strings */
    size_t nsubjects;
    enum herald_retention retention;
    enum herald_discard discard;
    enum herald_storage storage;
    int64_t max_consumers;        /* -1: unlimited */
    int64_t max_msgs;             /* -1: unlimited */
    int64_t max_bytes;            /* -1: unlimited */
    int64_t max_age_ns;           /* 0: unlimited */
    int64_t max_msgs_per_subject; /* -1: unlimited */
    int64_t max_msg_size;         /* -1: unlimited */
    int64_t duplicate_window_ns;  /* 0: the default, 2 minutes (capped at max_age) */
    int replicas;                 /* 1 (accepted for compatibility) */
    bool no_ack, sealed, deny_delete, deny_purge, allow_rollup, allow_direct;
    bool discard_new_per_subject;
    bool allow_atomic; /* atomic batch publish (Nats-Batch-Id/-Sequence/-Commit, NATS 2.12) */
};

/* Fills `cfg` with JetStream's defaults (all limits unlimited, file storage, limits
 * retention, discard old). Caller's storage; free with herald_stream_config_cleanup(). */
void herald_stream_config_init(struct herald_stream_config *cfg);
void herald_stream_config_cleanup(struct herald_stream_config *cfg);

/* Parses a JetStream stream config JSON object (unknown keys ignored). On error returns
 * HERALD_EINVAL and fills `err` (err_code 10025 invalid JSON, 10052 invalid config). */
int herald_stream_config_parse(const char *json, size_t len, struct herald_stream_config *cfg,
                               struct herald_error *err);

/* Creates a stream, or succeeds without change when one with the same name and config
 * exists. Errors (with `err` filled): HERALD_EEXIST (10058 name in use, different
 * config), HERALD_ECONFIG (10052 / 10065 overlap / 10074 replicas), HERALD_ESTORE. */
int herald_stream_create(struct herald_engine *e, const struct herald_stream_config *cfg,
                         struct herald_error *err);

/* Updates an existing stream's config (name and storage may not change). */
int herald_stream_update(struct herald_engine *e, const struct herald_stream_config *cfg,
                         struct herald_error *err);

/* Deletes a stream and its data. HERALD_ENOTFOUND (10059). */
int herald_stream_delete(struct herald_engine *e, const char *name, struct herald_error *err);

/* Returns the stream, or NULL. Borrowed: valid until the stream is deleted. */
struct herald_stream *herald_stream_lookup(struct herald_engine *e, const char *name);

/* Calls cb for every stream in name order (stops early on a nonzero return). */
int herald_stream_each(struct herald_engine *e, int (*cb)(void *arg, struct herald_stream *s),
                       void *arg);

/* The stream capturing `subject`, or NULL. */
struct herald_stream *herald_stream_for_subject(struct herald_engine *e, const char *subject,
                                                size_t len);

const struct herald_stream_config *herald_stream_get_config(const struct herald_stream *s);
int64_t herald_stream_created_ns(const struct herald_stream *s);

struct herald_stream_state {
    uint64_t msgs, bytes;
    uint64_t first_seq, last_seq;
    int64_t first_ts_ns, last_ts_ns;
    uint64_t num_subjects, num_deleted;
    uint64_t consumer_count;
};
void herald_stream_state(struct herald_stream *s, struct herald_stream_state *out);

/* A stored message, returned owned: free with herald_stored_msg_free(). */
struct herald_stored_msg {
    uint64_t seq;
    int64_t ts_ns;
    const char *subject;
    size_t subject_len;
    const char *hdr;
    size_t hdr_len;
    const char *data;
    size_t data_len;
    void *priv;
};
void herald_stored_msg_free(struct herald_stored_msg *m);

/* Reads one message: by sequence (seq > 0, subject NULL); the last on a subject
 * (subject set, last=true); or the first at or after seq on a subject filter (subject
 * set, last=false). HERALD_ENOTFOUND (10037) when there is none. */
int herald_stream_msg_get(struct herald_stream *s, uint64_t seq, const char *subject,
                          size_t subject_len, bool last, struct herald_stored_msg *out,
                          struct herald_error *err);

/* Deletes one message (HERALD_ENOTFOUND; 10057 when deny_delete). */
int herald_stream_msg_delete(struct herald_stream *s, uint64_t seq, struct herald_error *err);

/* Purges (filter NULL = all; up_to 0 = no bound; keep 0 = none). */
int herald_stream_purge(struct herald_stream *s, const char *filter, uint64_t up_to,
                        uint64_t keep, uint64_t *purged, struct herald_error *err);

/* Fills per-subject message counts for subjects matching `filter` via cb. */
int herald_stream_subjects(struct herald_stream *s, const char *filter,
                           int (*cb)(void *arg, const char *subject, uint64_t msgs), void *arg);

/* Group-commit latency buckets for the fsync histogram: upper bounds in microseconds. */
#define HERALD_FSYNC_BUCKETS 12
static inline uint32_t herald_fsync_bucket_us(size_t i)
{
    static const uint32_t le[HERALD_FSYNC_BUCKETS] = {100,   250,   500,    1000,   2500,   5000,
                                                      10000, 25000, 50000, 100000, 250000, 1000000};
    return le[i];
}

struct herald_store_stats {
    uint64_t fsyncs;         /* fdatasync calls made by group commits */
    uint64_t fsync_batches;  /* group commits */
    uint64_t fsync_ns_total; /* time spent in them */
    /* group commits per latency bucket (not cumulative); the last counts the slower ones */
    uint64_t fsync_buckets[HERALD_FSYNC_BUCKETS + 1];
};
/* Fills `out`; HERALD_ENOTFOUND when the engine has no store. */
int herald_engine_store_stats(struct herald_engine *e, struct herald_store_stats *out);

/* Requests durability for every append so far; PubAcks waiting on it are published when
 * it is reached. heraldd calls it once per loop iteration, before writing connections. */
void herald_engine_commit(struct herald_engine *e);

#endif
