/* SPDX-License-Identifier: Apache-2.0
 *
 * Connections and the head descriptor: what the server gives a head, and what a head
 * gives the server. A head (NATS, HTTP, MQTT, …) exports one `const struct hr_head`; the
 * server calls it only through that descriptor, and the head reaches the socket only
 * through the hr_conn_* functions here.
 *
 * Connection states:
 *
 *      accept ──► OPEN ──hr_conn_close(FLUSH)──► DRAINING ──output written──► CLOSED
 *                   │                               │ (write_deadline passed) ─────┘
 *                   └──hr_conn_close(NOW) / EOF / error ─────────────────────────► CLOSED
 *
 * Invariants:
 *   C1. head->conn_close() is called exactly once per connection, when it leaves OPEN.
 *       After that the head must not touch the connection's output.
 *   C2. Output is coalesced: hr_conn_reserve()/hr_conn_write() only append to `out`;
 *       the server writes every dirty connection once per loop iteration (uv_check).
 *   C3. Bytes queued to a connection (`out` + the write in flight) never exceed
 *       max_pending: a write that would is refused with HERALD_ELIMIT and the caller
 *       declares the peer a slow consumer.
 *   C4. The input buffer never exceeds max_input; a head needing more for one frame is
 *       a protocol error the head reports.
 *   C5. The memory of a connection is freed only in its uv_close callback, so a pointer
 *       to a CLOSED connection stays valid until the end of the current loop iteration.
 *   C6. With a filter (a WebSocket, say), the head reads and writes application bytes:
 *       socket input goes through filter->input, which hands the head whole application
 *       units with hr_conn_feed(); `out` holds application output, which the flush turns
 *       into wire bytes with filter->output before writing.
 */
#ifndef HR_SERVER_CONN_H
#define HR_SERVER_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "common/buf.h"

struct hr_server;
struct hr_conn;

struct hr_conn_filter {
    /* Raw socket bytes in; calls hr_conn_feed() for each application unit. Returns 0, or
     * a negative value to close the connection. Consumes everything it is given. */
    int (*input)(struct hr_conn *c, const char *buf, size_t len);
    /* Application bytes out (what the head wrote); appends wire bytes to `wire`. */
    int (*output)(struct hr_conn *c, const char *app, size_t len, struct hr_buf *wire);
    /* The server closes the connection with FLUSH (optional): the filter frames what is
     * still queued and appends its own goodbye (a WebSocket close frame) to `wire`. */
    void (*closing)(struct hr_conn *c, const char *reason);
    void (*destroy)(struct hr_conn *c);
};

struct hr_head {
    const char *name;
    size_t conn_state_size; /* bytes of per-connection head state (zeroed) */
    size_t conn_state_reserve; /* bytes to allocate when a connection may switch head (>= size) */
    /* A connection was accepted; send the greeting. */
    void (*conn_open)(struct hr_conn *c);
    /* The server is at max_connections: send the head's refusal (then it is closed). */
    void (*conn_refuse)(struct hr_conn *c);
    /* Bytes arrived: consume what forms complete frames, return how many. May close. */
    size_t (*conn_read)(struct hr_conn *c, const char *buf, size_t len);
    /* Called about once a second: keepalives, timeouts. */
    void (*conn_tick)(struct hr_conn *c, uint64_t now_ms);
    /* The connection leaves OPEN (C1): release subscriptions and state. */
    void (*conn_close)(struct hr_conn *c);
};

enum hr_conn_state { HR_CONN_OPEN, HR_CONN_DRAINING, HR_CONN_CLOSED };
enum hr_close_mode { HR_CLOSE_FLUSH, HR_CLOSE_NOW };

struct hr_conn {
    uv_tcp_t tcp;
    struct hr_server *server;
    const struct hr_head *head;
    void *state; /* head state, conn_state_size bytes */
    uint64_t id;
    enum hr_conn_state state_kind;
    struct hr_buf in;
    struct hr_buf out;
    struct hr_buf inflight; /* owned by the uv_write in progress */
    size_t inflight_off;
    uv_write_t wreq;
    bool writing;
    bool dirty;
    struct hr_conn *dirty_next;
    struct hr_conn *prev, *next; /* server's list */
    size_t read_need; /* head's hint: bytes the current frame needs */
    size_t max_pending; /* this connection's output cap (C3); 0: the server's max_pending */
    bool reread;        /* hr_conn_schedule_read() pending */
    struct hr_conn *reread_next;
    uint64_t created_ms, last_read_ms, write_started_ms;
    char ip[64];
    int port;
    const char *close_reason;
    /* C6 */
    const struct hr_conn_filter *filter;
    void *filter_state;
    struct hr_buf wire;   /* framed output not yet handed to the socket */
    struct hr_buf app_in; /* application input a head has not consumed yet */
};

/* C6: installs a filter and switches the connection to `head` (its state zeroed and
 * conn_open called), e.g. after a WebSocket upgrade. */
int hr_conn_switch(struct hr_conn *c, const struct hr_conn_filter *filter, void *filter_state,
                   const struct hr_head *head);
/* C6: one application unit for the head (from filter->input). */
void hr_conn_feed(struct hr_conn *c, const char *app, size_t len);
/* C6: the filter appended to `wire` itself (a pong, a close frame): write it this iteration. */
void hr_conn_wire_ready(struct hr_conn *c);

/* Appends `n` bytes of output. Returns 0, HERALD_ECLOSED (not OPEN) or HERALD_ELIMIT (C3). */
int hr_conn_write(struct hr_conn *c, const void *p, size_t n);

/* Returns a pointer to room for `n` bytes at the end of the output (commit with
 * hr_conn_commit(c, used) before any other call on c), or NULL as hr_conn_write fails;
 * *err receives the reason. */
char *hr_conn_reserve(struct hr_conn *c, size_t n, int *err);
void hr_conn_commit(struct hr_conn *c, size_t used);

/* Leaves OPEN (C1). FLUSH writes what is queued first (bounded by write_deadline); NOW
 * drops it. `reason` (static string) is logged. Idempotent. */
void hr_conn_close(struct hr_conn *c, enum hr_close_mode mode, const char *reason);

/* Asks the server to offer the buffered input to head->conn_read() again at the end of
 * this loop iteration (a head that paused parsing, e.g. while an HTTP response was
 * pending, resumes with pipelined requests already received). */
void hr_conn_schedule_read(struct hr_conn *c);

/* Writes what is queued now instead of at the end of the iteration (a head that must get
 * bytes out before it changes the connection's framing, C6). */
void hr_conn_flush_now(struct hr_conn *c);

/* Bytes queued and not yet written. */
size_t hr_conn_pending(const struct hr_conn *c);

/* The server a connection belongs to, and its current time in ms (loop time). */
uint64_t hr_conn_now_ms(const struct hr_conn *c);

#endif
