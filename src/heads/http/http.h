/* SPDX-License-Identifier: Apache-2.0
 *
 * The HTTP head: HTTP/1.1 on the server's connections (http_conn.c), the REST API under
 * /v1 (http_rest.c), Server-Sent Events (http_sse.c) and monitoring (http_monitor.c). It
 * reaches the engine through the public API only — herald_publish() with reply inboxes of
 * its own, which makes the JetStream API, PubAcks and acks the same for HTTP as for NATS.
 *
 * A connection handles one request at a time (pipelined requests wait in the input
 * buffer):
 *
 *   IDLE ──request head+body──► dispatch ──answered now──────────────────► IDLE
 *                                  └──needs the engine──► WAITING ──reply/timeout──► IDLE
 *                                  └──event stream──────► STREAMING (SSE) ──close
 *
 * Invariants:
 *   H1. While a request WAITs, exactly one inbox subscription belongs to it; it is
 *       destroyed when the request is answered, so a late reply finds nobody.
 *   H2. Every response carries Content-Length (or is an event stream that ends with the
 *       connection); HEAD responses carry the same headers and no body.
 *   H3. Parsing resumes (hr_conn_schedule_read) only after the response was written.
 */
#ifndef HR_HEADS_HTTP_H
#define HR_HEADS_HTTP_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "common/buf.h"
#include "heads/http/http_codec.h"
#include "herald/herald.h"
#include "server/conn.h"

extern const struct hr_head hr_http_head;

/* An HTTP connection may become a WebSocket running the herald.v1 or the NATS head (C6):
 * its state memory is sized for the largest of them. */
#define HR_HTTP_STATE_RESERVE 16384

enum hr_http_phase { HR_HTTP_IDLE, HR_HTTP_WAITING, HR_HTTP_STREAMING };

enum hr_http_wait {
    HR_WAIT_API,     /* a JetStream API answer: JSON, error.code → HTTP status */
    HR_WAIT_PUBACK,  /* a PubAck for POST /v1/publish */
    HR_WAIT_BATCH,   /* PubAcks for an NDJSON batch */
    HR_WAIT_FETCH,   /* pull messages until batch, 404/408/409 */
    HR_WAIT_REQUEST, /* a request/reply bridge answer */
    HR_WAIT_ACKS,    /* confirmations of acks */
};

struct hr_http_client;
typedef void (*hr_http_api_done)(struct hr_http_client *h, int status, json_t *body);

struct hr_http_client {
    struct hr_conn *conn;
    enum hr_http_phase phase;
    /* the request being answered */
    bool keep_alive, head_only, sent_continue;
    char origin[256]; /* CORS: the request's Origin when allowed */
    bool head_started;      /* part of a request head is buffered (the header timeout runs) */
    uint64_t head_start_ms; /* when its first byte arrived */
    /* WAITING (H1) */
    enum hr_http_wait wait;
    struct herald_sub *inbox;
    char inbox_subject[64];
    uint64_t next_inbox;
    uv_timer_t *timer; /* own allocation: it may close after the connection's memory goes */
    hr_http_api_done api_done;
    int64_t expected, received; /* batch / fetch / ack counts */
    json_t *acc;                /* what a multi-message wait collects */
    int api_status_ok;          /* status for a successful API answer (200, 201) */
    bool fetch_no_wait;         /* the pull is no_wait: its 404 means "nothing pending" */
    int64_t fetch_batch, fetch_wait_ms; /* a fetch, while its consumer is looked up */
    /* STREAMING (SSE) */
    struct herald_sub *events;
    char sse_stream[256], sse_consumer[64];
    int64_t sse_batch, sse_expires_ns; /* a durable consumer's pulls */
    char sse_fc_reply[128];            /* a FlowControl Request held back (http_sse.c S1) */
    uint64_t sse_last_write_ms;
    struct hr_buf body; /* a decoded chunked body */
};

/* http_conn.c: responses */
void hr_http_respond(struct hr_http_client *h, int status, const char *content_type,
                     const char *body, size_t len, const char *extra_headers);
void hr_http_respond_json(struct hr_http_client *h, int status, json_t *body); /* takes body */
void hr_http_error(struct hr_http_client *h, int status, int err_code, const char *description);
/* Starts a wait: subscribes a fresh inbox (H1) and arms a timeout (0: none); returns the
 * inbox subject (NUL-terminated) or NULL on failure (an error was answered). */
const char *hr_http_wait_begin(struct hr_http_client *h, enum hr_http_wait kind, uint64_t timeout_ms,
                               herald_deliver_fn on_msg);
void hr_http_wait_end(struct hr_http_client *h);
/* Publishes a JetStream API request and answers through `done` (NULL: the default,
 * which relays the JSON with error.code as the status). */
void hr_http_api(struct hr_http_client *h, const char *subject, json_t *body,
                 hr_http_api_done done, int ok_status);
struct herald_engine *hr_http_engine(const struct hr_http_client *h);

/* http_rest.c */
void hr_http_route(struct hr_http_client *h, const struct hr_http_request *req, const char *body,
                   size_t body_len);
/* A stored or delivered message as the JSON object the REST API and SSE use. */
/* The description of a NATS status header block ("NATS/1.0 409 Exceeded MaxWaiting" gives
 * "Exceeded MaxWaiting") into out[0..cap), NUL-terminated. */
void hr_http_nats_status_text(const char *hdr, size_t len, char *out, size_t cap);
json_t *hr_http_msg_json(const char *subject, size_t subject_len, uint64_t seq, int64_t ts_ns,
                         const char *hdr, size_t hdr_len, const char *data, size_t data_len);

/* http_sse.c */
void hr_http_sse_start(struct hr_http_client *h, const struct hr_http_request *req,
                       const char *stream, const char *consumer);
void hr_http_sse_tick(struct hr_http_client *h, uint64_t now_ms);
void hr_http_sse_close(struct hr_http_client *h);

/* http_ws.c: answers a WebSocket upgrade (101 and the switch, or an error); false when the
 * request is not an upgrade. herald_protocol: /v1/ws (herald.v1) rather than NATS. */
bool hr_http_ws_upgrade(struct hr_http_client *h, const struct hr_http_request *req, bool herald_protocol);

/* http_monitor.c */
bool hr_http_monitor(struct hr_http_client *h, const struct hr_http_request *req);

#endif
