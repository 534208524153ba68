/* SPDX-License-Identifier: Apache-2.0
 *
 * The stream object, shared by the engine's stream files (stream.c: registry, capture,
 * limits, reads; stream_batch.c: atomic batches). Not part of the public API.
 *
 * Invariants:
 *   T1. A message is stored only after its Nats-Expected-* headers were checked against
 *       the stream state of that moment (for a batch: the state before the batch plus
 *       the batch's own earlier messages).
 *   T2. A batch is staged in memory, bounded (HR_BATCH_MAX_MSGS, HR_BATCH_MAX_BYTES,
 *       HR_BATCH_MAX_OPEN per stream, HR_BATCH_IDLE_NS), and reaches the store in one
 *       append_batch call at commit, or not at all.
 */
#ifndef HR_ENGINE_STREAM_INTERNAL_H
#define HR_ENGINE_STREAM_INTERNAL_H

#include "common/map.h"
#include "engine/engine_internal.h"

#define HR_BATCH_MAX_MSGS 1000
#define HR_BATCH_MAX_BYTES (16u * 1024 * 1024)
#define HR_BATCH_MAX_OPEN 50
#define HR_BATCH_IDLE_NS (10LL * 1000000000LL)
#define HR_BATCH_ID_MAX 64

struct hr_batch;

struct hr_dedupe {
    struct hr_dedupe *next; /* FIFO by time */
    uint64_t seq;
    int64_t ts_ns;
    size_t len;
    char id[];
};

struct herald_stream {
    struct herald_engine *e;
    struct herald_stream_config cfg;
    int64_t created_ns;
    struct hr_stream_store *st;
    struct herald_sub **capture;
    size_t ncapture;
    struct hr_map dedupe;
    struct hr_dedupe *dd_head, *dd_tail;
    char *last_msg_id;
    struct hr_batch *batches; /* T2: open atomic batches */
    size_t nbatches;
    struct hr_consumer **consumers; /* sorted by name */
    size_t nconsumers, consumers_cap;
};

struct hr_consumer;


/* stream.c */
int64_t hr_now_ns(void);
/* T1: checks Nats-Expected-* headers (and Nats-Expected-Stream) of one message. */
int hr_stream_check_expected(struct herald_stream *s, const char *subject, size_t subject_len,
                             const char *hdr, size_t hdr_len, struct herald_error *err);
bool hr_stream_is_duplicate(struct herald_stream *s, const char *id, size_t len, uint64_t *seq);
void hr_stream_note_stored(struct herald_stream *s, const char *msg_id, size_t id_len,
                           uint64_t seq, int64_t now);
void hr_stream_reply_error(struct herald_stream *s, const struct herald_msg *msg,
                           const struct herald_error *err);
void hr_stream_queue_ack(struct herald_stream *s, const char *reply, size_t reply_len,
                         uint64_t seq, const char *batch_id, size_t batch_len, size_t count);
int hr_stream_store_error(struct herald_stream *s, int rc, struct herald_error *err);
/* A message was stored: consumers learn of it; interest retention may drop it at once. */
void hr_stream_notify_stored(struct herald_stream *s, uint64_t seq, const char *subject, size_t len);

/* stream_batch.c */
void hr_stream_batch_msg(struct herald_stream *s, const struct herald_msg *msg,
                         const char *id, size_t id_len);
void hr_stream_batch_expire(struct herald_stream *s, int64_t now);
void hr_stream_batch_clear(struct herald_stream *s);

#endif
