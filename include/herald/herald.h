/* SPDX-License-Identifier: Apache-2.0
 *
 * libherald — the Herald engine, embeddable in-process as one would embed SQLite.
 *
 * This header is the manual. The engine owns the subject router (core pub/sub, queue
 * groups, request/reply) and, given a loop and a store_dir, durable streams
 * (herald/stream.h; key-value buckets are streams too), consumers (herald/consumer.h) and
 * the JetStream API, all behind the same handle. Heads (NATS, HTTP) translate their wire
 * into these calls and the engine's deliveries back into bytes; they never call each other.
 *
 * Threading: an engine and everything created from it belong to one thread (the loop
 * thread that created it). No function here is safe to call concurrently on the same
 * engine. Deliveries are made synchronously from herald_publish() on the caller's thread.
 *
 * Errors: functions return 0 or a negative value from <herald/errors.h>.
 */
#ifndef HERALD_HERALD_H
#define HERALD_HERALD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "herald/errors.h"

#define HERALD_VERSION "0.1.0"

struct herald_engine;
struct herald_sub;

/* A message as the engine sees it. Every pointer is borrowed for the duration of the call
 * that receives it; copy what you keep. `hdr` is a complete NATS/1.0 header block
 * (`NATS/1.0[ status]\r\n(key: value\r\n)*\r\n`) or NULL with hdr_len 0. */
struct herald_msg {
    const char *subject;
    size_t subject_len;
    const char *reply; /* NULL when none */
    size_t reply_len;
    const char *hdr;
    size_t hdr_len;
    const char *data;
    size_t data_len;
};

/* Called once per message delivered to a subscription, from inside herald_publish().
 * `ctx` is the value given at subscription time. The callback may publish, subscribe and
 * destroy subscriptions (including `sub` itself); such changes take effect for later
 * publishes, and a destroyed subscription receives nothing more. */
typedef void (*herald_deliver_fn)(void *ctx, struct herald_sub *sub, const struct herald_msg *msg);

enum herald_sync { HERALD_SYNC_ALWAYS, HERALD_SYNC_INTERVAL, HERALD_SYNC_NEVER };

struct uv_loop_s;

struct herald_engine_options {
    size_t max_payload;       /* bytes in hdr + data; 0 = 1 MiB */
    size_t match_cache_slots; /* router match cache entries; 0 = 4096 */
    /* Streams (herald/stream.h) need both a loop, for timers and the store thread's
     * wake-ups, and a data directory; without them the engine does core messaging only. */
    struct uv_loop_s *loop;
    const char *store_dir;
    enum herald_sync sync;     /* durability of acknowledged appends; default ALWAYS */
    int64_t sync_interval_ms;  /* HERALD_SYNC_INTERVAL: fsync period */
    uint64_t segment_bytes;    /* log segment size; 0 = 64 MiB */
    const char *js_domain;     /* JetStream domain, or NULL */
    void *store_io;            /* tests: a struct hr_io to inject faults; NULL = POSIX */
};

/* Creates an engine. `opts` may be NULL for defaults. With a loop and a store_dir it
 * opens the store and recovers every stream found there (logging what it did). On
 * success stores a new engine in *out (returns owned; free with herald_engine_destroy()).
 * Errors: HERALD_ENOMEM, a negative errno from the data directory, HERALD_ESTORE. */
int herald_engine_create(const struct herald_engine_options *opts, struct herald_engine **out);

/* Destroys the engine: streams are synced and closed, and every subscription still
 * attached is freed without its callback being called (handles to them become invalid).
 * `e` is no longer valid afterwards. NULL is allowed. With a loop, the engine's libuv
 * handles close asynchronously: run the loop once more (uv_run(loop, UV_RUN_NOWAIT))
 * before uv_loop_close() so the last of its memory is released. */
void herald_engine_destroy(struct herald_engine *e);

struct herald_sub_options {
    herald_deliver_fn deliver; /* required */
    void *ctx;                 /* passed back to deliver; borrowed */
    const void *owner;         /* identifies the subscriber's connection, for echo and no-responders */
    bool no_echo;              /* skip messages published with origin == owner */
};

/* Subscribes to `subject` (a filter; `*` and `>` allowed). With a non-empty `queue`, the
 * subscription joins that queue group: each message goes to one member of each group.
 * Stores the subscription in *out (returns owned; free with herald_sub_destroy()).
 * Errors: HERALD_ESUBJECT (invalid filter), HERALD_EQUEUE (invalid queue name),
 * HERALD_EINVAL (no deliver callback), HERALD_ENOMEM. */
int herald_sub_create(struct herald_engine *e, const char *subject, size_t subject_len,
                      const char *queue, size_t queue_len, const struct herald_sub_options *opts,
                      struct herald_sub **out);

/* Removes a subscription; it receives nothing more. Safe to call from inside its own
 * delivery callback. `sub` is no longer valid afterwards. NULL is allowed. */
void herald_sub_destroy(struct herald_sub *sub);

/* The filter a subscription was created with (borrowed, NUL-terminated). */
const char *herald_sub_subject(const struct herald_sub *sub);

/* Publishes `msg` to every matching subscription and one member of each matching queue
 * group. `origin` identifies the publishing connection (may be NULL) for echo
 * suppression. The subject is not validated here: heads check it per their wire rules
 * before calling, and a `*` or `>` token in it matches as an ordinary token. Returns the
 * number of subscriptions the message was delivered to (0 means nobody listens),
 * HERALD_ETOOBIG when hdr_len + data_len exceeds max_payload, or HERALD_ENOMEM. */
int herald_publish(struct herald_engine *e, const struct herald_msg *msg, const void *origin);

/* Finds a subscription owned by `owner` whose filter matches `subject` and returns its
 * ctx, or NULL. Used for the NATS "no responders" reply. */
void *herald_find_owned_sub(struct herald_engine *e, const char *subject, size_t subject_len,
                            const void *owner);

/* Counters, monotonic since creation. */
struct herald_engine_stats {
    uint64_t msgs_in, bytes_in;   /* publishes accepted */
    uint64_t msgs_out, bytes_out; /* deliveries made */
    uint64_t subscriptions;       /* current */
    uint64_t cache_hits, cache_misses;
};
void herald_engine_stats(const struct herald_engine *e, struct herald_engine_stats *out);

#endif
