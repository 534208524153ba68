/* SPDX-License-Identifier: Apache-2.0
 *
 * The NATS client protocol head: the descriptor the server calls, and the per-client
 * state shared by the head's files (client.c: connection lifecycle, CONNECT, keepalive;
 * ops.c: PUB/HPUB/SUB/UNSUB and deliveries).
 */
#ifndef HR_HEADS_NATS_H
#define HR_HEADS_NATS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/map.h"
#include "heads/nats/codec.h"
#include "server/conn.h"

extern const struct hr_head hr_nats_head;

/* nats-server's version as clients see it: clients switch features on by it. */
#define HR_NATS_COMPAT_VERSION "2.9.10"

struct hr_nats_sub {
    struct hr_nats_client *client;
    struct herald_sub *sub;
    char *sid; /* owned; the key in client->subs */
    size_t sid_len;
    uint64_t delivered;
    uint64_t max; /* UNSUB max; 0 = none */
};

struct hr_nats_client {
    struct hr_conn *conn;
    bool connected; /* CONNECT received */
    bool verbose, pedantic, echo, headers, no_responders;
    struct hr_map subs; /* sid -> struct hr_nats_sub */
    unsigned pings_out;
    uint64_t last_ping_ms;
    char *name, *lang, *version; /* from CONNECT, owned */
};

/* ops.c */
void hr_nats_handle_pub(struct hr_nats_client *cl, const struct hr_nats_op *op);
void hr_nats_handle_sub(struct hr_nats_client *cl, const struct hr_nats_op *op);
void hr_nats_handle_unsub(struct hr_nats_client *cl, const struct hr_nats_op *op);
void hr_nats_drop_subs(struct hr_nats_client *cl);

/* client.c */
void hr_nats_send_err(struct hr_nats_client *cl, const char *text);
void hr_nats_send_ok(struct hr_nats_client *cl);
/* The -ERR text for an engine error (the one place engine errors map to this wire). */
const char *hr_nats_engine_error_text(int err);
/* Sends -ERR '<text>' and closes with FLUSH; counts a protocol error. */
void hr_nats_fail(struct hr_nats_client *cl, const char *text);

#endif
