/* SPDX-License-Identifier: Apache-2.0
 *
 * Durable consumers in libherald: a cursor over a stream that delivers its messages to a
 * service and tracks which were acknowledged. The model is JetStream's (nats-server 2.9:
 * deliver/ack/replay policies, ack_wait, max_deliver, backoff, max_ack_pending, pull and
 * push), with two optional Herald extensions that plain clients ignore:
 *
 *   dead_letter_subject  a message that runs out of deliveries or is terminated (+TERM) is
 *                        published there, with its headers and payload plus
 *                        Herald-Dead-Letter-Reason/-Stream/-Sequence/-Consumer/-Deliveries;
 *                        any stream capturing that subject keeps it — never lost and never
 *                        duplicated, also across a crash (docs/consumers.md explains how).
 *   ordering_key         "header:<Name>" or "token:<n>" (1-based subject token): messages
 *                        with the same key are never in flight to two members at once and
 *                        are delivered in stream order; different keys proceed in parallel
 *                        (Pulsar's Key_Shared). A redelivery holds back its own key only.
 *
 * Deliveries and acks travel as NATS messages: a delivered message keeps its stream subject
 * and carries the reply `$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>`;
 * publishing `+ACK`, `-NAK [{"delay":ns}]`, `+WPI`, `+TERM` or `+NXT` there acks (exact
 * payloads, as nats-server 2.9.10; `+TERM <reason>` only with a dead_letter_subject).
 * Consumers are managed through the JetStream API (`$JS.API.CONSUMER.*`), so the same calls
 * serve every head. Threading: the engine's thread only.
 */
#ifndef HERALD_CONSUMER_H
#define HERALD_CONSUMER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "herald/stream.h"

enum herald_deliver_policy {
    HERALD_DELIVER_ALL,
    HERALD_DELIVER_LAST,
    HERALD_DELIVER_NEW,
    HERALD_DELIVER_BY_START_SEQUENCE,
    HERALD_DELIVER_BY_START_TIME,
    HERALD_DELIVER_LAST_PER_SUBJECT,
};
enum herald_ack_policy { HERALD_ACK_NONE, HERALD_ACK_ALL, HERALD_ACK_EXPLICIT };
enum herald_replay_policy { HERALD_REPLAY_INSTANT, HERALD_REPLAY_ORIGINAL };

#define HERALD_MAX_BACKOFF 64

struct herald_consumer_config {
    char *name;    /* owned; the durable name, or generated for an ephemeral */
    bool durable;  /* durable_name set; false: deleted after inactive_threshold without interest */
    bool hide_name; /* a DURABLE.CREATE durable: its config JSON has no "name" (as nats-server) */
    char *description;
    char *filter_subject;   /* NULL: the whole stream */
    char *deliver_subject;  /* NULL: a pull consumer */
    char *deliver_group;
    enum herald_deliver_policy deliver_policy;
    uint64_t opt_start_seq;
    int64_t opt_start_time_ns;
    char *opt_start_time;         /* owned; as sent (RFC 3339, its offset kept), or NULL */
    enum herald_ack_policy ack_policy;
    int64_t ack_wait_ns;          /* default 30 s */
    int64_t max_deliver;          /* -1: unlimited */
    int64_t backoff_ns[HERALD_MAX_BACKOFF];
    size_t nbackoff;
    enum herald_replay_policy replay_policy;
    int64_t max_waiting;          /* pull: waiting requests, default 512 */
    int64_t max_ack_pending;      /* default 1000 (ack none: as given, 0 = not set); -1 unlimited */
    int64_t max_batch, max_expires_ns, max_bytes; /* pull request limits; 0: none */
    int64_t inactive_threshold_ns;
    int64_t idle_heartbeat_ns;    /* push */
    uint64_t rate_limit_bps;      /* push; kept and reported, not enforced */
    char *sample_freq;            /* owned; kept and reported (no sampling advisories) */
    bool flow_control;            /* push */
    bool headers_only;
    int replicas;
    bool mem_storage;
    /* Herald extensions */
    char *dead_letter_subject;
    char *ordering_key;
};

/* A consumer's figures, as CONSUMER.INFO reports them (for monitoring). */
struct herald_consumer_stats {
    const char *name;
    uint64_t num_pending;     /* matching messages not yet delivered */
    uint64_t num_ack_pending; /* delivered, not yet acknowledged */
    uint64_t num_redelivered; /* pending messages delivered more than once */
    uint64_t num_waiting;     /* pull requests waiting */
    uint64_t delivered_sseq;  /* last stream sequence delivered */
    uint64_t ack_floor_sseq;
};
/* Calls cb for each consumer of the stream, in name order; a non-zero return stops. */
int herald_consumer_each(struct herald_stream *s,
                         int (*cb)(void *arg, const struct herald_consumer_stats *st), void *arg);

void herald_consumer_config_init(struct herald_consumer_config *cfg);
void herald_consumer_config_cleanup(struct herald_consumer_config *cfg);

#endif
