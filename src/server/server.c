/* SPDX-License-Identifier: Apache-2.0
 *
 * Server lifecycle: listeners, the per-iteration flush (uv_check), the one-second tick
 * that drives keepalives and write deadlines, signals and graceful shutdown. The
 * connection I/O itself lives in conn.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/log.h"
#include "herald/errors.h"
#include "herald/stream.h"
#include "server/server.h"

void hr_server_flush_dirty(struct hr_server *s);
void hr_server_reread(struct hr_server *s);
void hr_server_accept(struct hr_listener *l);
void hr_conn_release_idle_buffers(struct hr_conn *c);

/* Once per loop iteration: ask the store to make this iteration's appends durable (their
 * PubAcks follow when it is), then write every connection that has output (C2). */
static void on_check(uv_check_t *h)
{
    struct hr_server *s = h->data;
    hr_server_reread(s);
    herald_engine_commit(s->engine);
    hr_server_flush_dirty(s);
}

static void on_tick(uv_timer_t *t)
{
    struct hr_server *s = t->data;
    uint64_t now = uv_now(s->loop);
    for (struct hr_conn *c = s->conns, *next; c; c = next) {
        next = c->next;
        if (c->state_kind == HR_CONN_CLOSED)
            continue;
        if (hr_conn_pending(c) && c->writing &&
            now - c->write_started_ms > (uint64_t)s->cfg->write_deadline_ms) {
            if (c->state_kind == HR_CONN_OPEN) {
                s->stats.slow_consumers++;
                hr_warn("%s conn %llu from %s:%d: slow consumer, write deadline %lld ms exceeded",
                        c->head->name, (unsigned long long)c->id, c->ip, c->port,
                        (long long)s->cfg->write_deadline_ms);
            }
            hr_conn_close(c, HR_CLOSE_NOW, "Slow Consumer (write deadline)");
            continue;
        }
        if (c->state_kind == HR_CONN_OPEN && c->head->conn_tick)
            c->head->conn_tick(c, now);
        if (c->state_kind == HR_CONN_OPEN && now - c->last_read_ms >= 1000 && !hr_conn_pending(c))
            hr_conn_release_idle_buffers(c);
    }
}

static void on_signal(uv_signal_t *h, int signum)
{
    struct hr_server *s = h->data;
    hr_info("received %s, shutting down", signum == SIGINT ? "SIGINT" : "SIGTERM");
    hr_server_shutdown(s);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct hr_listener *l = server->data;
    if (status < 0) {
        hr_warn("%s: accept failed: %s", l->head->name, uv_strerror(status));
        return;
    }
    hr_server_accept(l);
}

int hr_server_init(struct hr_server *s, uv_loop_t *loop, const struct hr_config *cfg,
                   struct herald_engine *engine)
{
    memset(s, 0, sizeof *s);
    s->loop = loop;
    s->cfg = cfg;
    s->engine = engine;
    s->start_ms = uv_now(loop);
    /* A server id in nats-server's style: 'N' + 20 base-32 characters (random). */
    static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    unsigned char rnd[20];
    if (getrandom(rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
        for (size_t i = 0; i < sizeof rnd; i++)
            rnd[i] = (unsigned char)(rand() ^ (int)uv_hrtime());
    s->server_id[0] = 'N';
    for (size_t i = 0; i < sizeof rnd; i++)
        s->server_id[i + 1] = alphabet[rnd[i] & 31];
    s->server_id[21] = '\0';

    uv_check_init(loop, &s->flush_check);
    s->flush_check.data = s;
    uv_check_start(&s->flush_check, on_check);
    uv_timer_init(loop, &s->tick_timer);
    s->tick_timer.data = s;
    uv_timer_start(&s->tick_timer, on_tick, 1000, 1000);
    uv_timer_init(loop, &s->shutdown_timer);
    s->shutdown_timer.data = s;
    uv_signal_init(loop, &s->sigint);
    s->sigint.data = s;
    uv_signal_start(&s->sigint, on_signal, SIGINT);
    uv_signal_init(loop, &s->sigterm);
    s->sigterm.data = s;
    uv_signal_start(&s->sigterm, on_signal, SIGTERM);
    return 0;
}

int hr_server_listen(struct hr_server *s, const struct hr_head *head, int port)
{
    if (s->nlisteners == HR_MAX_LISTENERS)
        return HERALD_ELIMIT;
    struct hr_listener *l = &s->listeners[s->nlisteners];
    struct sockaddr_storage addr;
    int rc = uv_ip4_addr(s->cfg->addr, port < 0 ? 0 : port, (struct sockaddr_in *)&addr);
    if (rc)
        rc = uv_ip6_addr(s->cfg->addr, port < 0 ? 0 : port, (struct sockaddr_in6 *)&addr);
    if (rc)
        return rc;
    uv_tcp_init(s->loop, &l->tcp);
    l->tcp.data = l;
    l->server = s;
    l->head = head;
    rc = uv_tcp_bind(&l->tcp, (struct sockaddr *)&addr, 0);
    if (!rc)
        rc = uv_listen((uv_stream_t *)&l->tcp, 1024, on_connection);
    if (rc) {
        uv_close((uv_handle_t *)&l->tcp, NULL);
        return rc;
    }
    struct sockaddr_storage bound;
    int len = sizeof bound;
    uv_tcp_getsockname(&l->tcp, (struct sockaddr *)&bound, &len);
    l->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
                                                : ((struct sockaddr_in *)&bound)->sin_port);
    l->active = true;
    s->nlisteners++;
    return 0;
}

static void on_shutdown_timeout(uv_timer_t *t)
{
    struct hr_server *s = t->data;
    for (struct hr_conn *c = s->conns; c; c = c->next)
        hr_conn_close(c, HR_CLOSE_NOW, "server shutdown");
}

void hr_server_shutdown(struct hr_server *s)
{
    if (!s->shutting_down) {
        s->shutting_down = true;
        for (size_t i = 0; i < s->nlisteners; i++)
            if (s->listeners[i].active) {
                s->listeners[i].active = false;
                uv_close((uv_handle_t *)&s->listeners[i].tcp, NULL);
            }
        for (struct hr_conn *c = s->conns; c; c = c->next)
            hr_conn_close(c, HR_CLOSE_FLUSH, "server shutdown");
        uv_timer_start(&s->shutdown_timer, on_shutdown_timeout, 2000, 0);
    }
    if (s->nconns == 0) {
        /* Everything is closed: release the loop's own handles so uv_run returns. */
        uv_timer_stop(&s->shutdown_timer);
        if (!uv_is_closing((uv_handle_t *)&s->flush_check)) {
            uv_close((uv_handle_t *)&s->flush_check, NULL);
            uv_close((uv_handle_t *)&s->tick_timer, NULL);
            uv_close((uv_handle_t *)&s->shutdown_timer, NULL);
            uv_close((uv_handle_t *)&s->sigint, NULL);
            uv_close((uv_handle_t *)&s->sigterm, NULL);
        }
    }
}

void hr_server_cleanup(struct hr_server *s)
{
    (void)s;
}
