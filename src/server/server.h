/* SPDX-License-Identifier: Apache-2.0
 *
 * The heraldd server: one libuv loop that owns the engine, the listeners and every
 * connection (DESIGN §4: no locks on the hot path). Heads see the server read-only for
 * its configuration, identity and counters.
 *
 * Shutdown (SIGINT/SIGTERM): stop accepting ─► close every connection with FLUSH ─►
 * when none is left (or after 2 s) stop the loop ─► main frees the engine, exits 0.
 */
#ifndef HR_SERVER_SERVER_H
#define HR_SERVER_SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "herald/herald.h"
#include "server/config.h"
#include "server/conn.h"

#define HR_MAX_LISTENERS 8

struct hr_listener {
    uv_tcp_t tcp;
    struct hr_server *server;
    const struct hr_head *head;
    int port; /* the bound port (resolved when 0 / -1 was asked) */
    bool active;
};

struct hr_server_stats {
    uint64_t connections_total;
    uint64_t connections_refused;
    uint64_t slow_consumers;
    uint64_t stale_connections;
    uint64_t protocol_errors;
    uint64_t msgs_in, bytes_in, msgs_out, bytes_out; /* per head wire, all heads */
};

struct hr_server {
    uv_loop_t *loop;
    const struct hr_config *cfg;
    struct herald_engine *engine;
    char server_id[24];
    uint64_t start_ms;
    uv_check_t flush_check;
    uv_timer_t tick_timer;
    uv_timer_t shutdown_timer;
    uv_signal_t sigint, sigterm;
    struct hr_listener listeners[HR_MAX_LISTENERS];
    size_t nlisteners;
    struct hr_conn *conns;
    size_t nconns;
    struct hr_conn *dirty;
    struct hr_conn *reread; /* hr_conn_schedule_read() */
    uint64_t next_conn_id;
    bool shutting_down;
    struct hr_server_stats stats;
};

/* Prepares the server on `loop` (caller's storage). Borrows cfg and engine. */
int hr_server_init(struct hr_server *s, uv_loop_t *loop, const struct hr_config *cfg,
                   struct herald_engine *engine);

/* Binds a listener for `head` on cfg->addr:port (port -1 or 0: any free port).
 * Returns 0 or a negative errno / HERALD_ELIMIT. */
int hr_server_listen(struct hr_server *s, const struct hr_head *head, int port);

/* Starts shutdown (as on SIGTERM). */
void hr_server_shutdown(struct hr_server *s);

/* Frees what init allocated; call after the loop has stopped. */
void hr_server_cleanup(struct hr_server *s);

#endif
