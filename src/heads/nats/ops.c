/* SPDX-License-Identifier: Apache-2.0
 *
 * NATS PUB/HPUB/SUB/UNSUB handling and message delivery (MSG/HMSG encoding straight into
 * the subscriber's output buffer). Behaviour, as measured on nats-server 2.9.10:
 *   - SUB with an invalid subject: -ERR 'Invalid Subject', connection kept;
 *   - PUB with an invalid subject: pedantic clients get -ERR 'Invalid Publish Subject';
 *     the message is routed either way (a wildcard token then matches literally), and
 *     +OK (when verbose) comes before any delivery the publish causes;
 *   - UNSUB of an unknown sid is ignored; `UNSUB sid max` counts what was delivered;
 *   - a request nobody can answer, from a client with headers and no_responders, gets
 *     `HMSG <reply> <sid> 16 16\r\nNATS/1.0 503\r\n\r\n\r\n` on the client's own
 *     subscription matching the reply subject;
 *   - a subscriber whose queued output would pass max_pending is a slow consumer: it is
 *     closed at once (counted, logged); the publisher and everyone else carry on.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/subject.h"
#include "heads/nats/nats.h"
#include "herald/herald.h"
#include "server/server.h"

static void sub_free(struct hr_nats_sub *ns)
{
    free(ns->sid);
    free(ns);
}

/* Removes the subscription from the client and the engine, and frees it. */
static void sub_remove(struct hr_nats_client *cl, struct hr_nats_sub *ns)
{
    hr_map_del(&cl->subs, ns->sid, ns->sid_len);
    herald_sub_destroy(ns->sub);
    sub_free(ns);
}

void hr_nats_drop_subs(struct hr_nats_client *cl)
{
    for (size_t i = 0; i < cl->subs.cap; i++) {
        struct hr_map_entry *e = &cl->subs.slots[i];
        if (e->hash) {
            struct hr_nats_sub *ns = e->val;
            herald_sub_destroy(ns->sub);
            sub_free(ns);
        }
    }
    hr_map_cleanup(&cl->subs);
}

static void slow_consumer(struct hr_conn *c)
{
    c->server->stats.slow_consumers++;
    hr_warn("nats conn %llu from %s:%d: slow consumer, %zu bytes pending (max_pending %lld)",
            (unsigned long long)c->id, c->ip, c->port, hr_conn_pending(c),
            (long long)c->server->cfg->max_pending);
    hr_conn_close(c, HR_CLOSE_NOW, "Slow Consumer");
}

/* Writes MSG/HMSG for `msg` on subscription `ns`. */
static void write_msg(struct hr_nats_sub *ns, const struct herald_msg *msg, const char *hdr,
                      size_t hdr_len)
{
    struct hr_conn *c = ns->client->conn;
    struct hr_slice subject = {msg->subject, msg->subject_len};
    struct hr_slice sid = {ns->sid, ns->sid_len};
    struct hr_slice reply = {msg->reply, msg->reply ? msg->reply_len : 0};
    size_t head_max = hr_nats_msg_head_max(subject.len, sid.len, reply.len);
    int err = 0;
    char *p = hr_conn_reserve(c, head_max + hdr_len + msg->data_len + 2, &err);
    if (!p) {
        if (err == HERALD_ELIMIT || err == HERALD_ENOMEM)
            slow_consumer(c);
        return;
    }
    size_t n = hr_nats_encode_msg_head(p, subject, sid, reply, hdr_len, msg->data_len);
    if (hdr_len)
        memcpy(p + n, hdr, hdr_len);
    n += hdr_len;
    if (msg->data_len)
        memcpy(p + n, msg->data, msg->data_len);
    n += msg->data_len;
    p[n++] = '\r';
    p[n++] = '\n';
    hr_conn_commit(c, n);
    c->server->stats.msgs_out++;
    c->server->stats.bytes_out += hdr_len + msg->data_len;
}

static void deliver(void *ctx, struct herald_sub *sub, const struct herald_msg *msg)
{
    struct hr_nats_sub *ns = ctx;
    struct hr_nats_client *cl = ns->client;
    (void)sub;
    if (cl->conn->state_kind != HR_CONN_OPEN)
        return;
    /* A client that did not ask for headers gets the payload only (as nats-server). */
    if (cl->headers)
        write_msg(ns, msg, msg->hdr, msg->hdr_len);
    else
        write_msg(ns, msg, NULL, 0);
    if (cl->conn->state_kind != HR_CONN_OPEN)
        return; /* closed as a slow consumer: `ns` is gone */
    ns->delivered++;
    if (ns->max && ns->delivered >= ns->max)
        sub_remove(cl, ns);
}

void hr_nats_handle_pub(struct hr_nats_client *cl, const struct hr_nats_op *op)
{
    struct hr_conn *c = cl->conn;
    struct hr_server *s = c->server;
    bool valid = hr_subject_valid_literal(op->subject.ptr, op->subject.len);
    if (cl->pedantic && !valid)
        hr_nats_send_err(cl, "Invalid Publish Subject");
    hr_nats_send_ok(cl);
    /* A wildcard token still routes (matching literally); an empty token matches nothing. */
    const char *sj = op->subject.ptr;
    size_t sl = op->subject.len;
    if (!valid && (sl == 0 || sj[0] == '.' || sj[sl - 1] == '.' || memmem(sj, sl, "..", 2)))
        return;
    s->stats.msgs_in++;
    s->stats.bytes_in += op->hdr.len + op->payload.len;
    struct herald_msg msg = {
        .subject = op->subject.ptr,
        .subject_len = op->subject.len,
        .reply = op->reply.len ? op->reply.ptr : NULL,
        .reply_len = op->reply.len,
        .hdr = op->hdr.len ? op->hdr.ptr : NULL,
        .hdr_len = op->hdr.len,
        .data = op->payload.ptr,
        .data_len = op->payload.len,
    };
    int delivered = herald_publish(s->engine, &msg, cl);
    if (delivered < 0) {
        hr_nats_fail(cl, hr_nats_engine_error_text(delivered));
        return;
    }
    if (delivered == 0 && op->reply.len && cl->headers && cl->no_responders) {
        struct hr_nats_sub *own =
            herald_find_owned_sub(s->engine, op->reply.ptr, op->reply.len, cl);
        if (own) {
            static const char status[] = "NATS/1.0 503\r\n\r\n";
            struct herald_msg nr = {
                .subject = op->reply.ptr,
                .subject_len = op->reply.len,
                .hdr = status,
                .hdr_len = sizeof status - 1,
            };
            write_msg(own, &nr, nr.hdr, nr.hdr_len);
        }
    }
}

void hr_nats_handle_sub(struct hr_nats_client *cl, const struct hr_nats_op *op)
{
    struct hr_conn *c = cl->conn;
    const struct hr_config *cfg = c->server->cfg;
    if (!hr_subject_valid_filter(op->subject.ptr, op->subject.len)) {
        hr_nats_send_err(cl, "Invalid Subject");
        return;
    }
    if (op->queue.len && !hr_subject_valid_queue(op->queue.ptr, op->queue.len)) {
        hr_nats_send_err(cl, "Invalid Queue Name");
        return;
    }
    if (hr_map_get(&cl->subs, op->sid.ptr, op->sid.len)) {
        hr_nats_send_ok(cl); /* a duplicate sid is ignored, as nats-server does */
        return;
    }
    if (cl->subs.count >= (size_t)cfg->max_subscriptions) {
        hr_nats_send_err(cl, "maximum subscriptions exceeded");
        return;
    }
    struct hr_nats_sub *ns = calloc(1, sizeof *ns);
    if (!ns)
        goto out_oom;
    ns->client = cl;
    ns->sid = strndup(op->sid.ptr, op->sid.len);
    ns->sid_len = op->sid.len;
    if (!ns->sid)
        goto out_free;
    struct herald_sub_options so = {
        .deliver = deliver, .ctx = ns, .owner = cl, .no_echo = !cl->echo,
    };
    int rc = herald_sub_create(c->server->engine, op->subject.ptr, op->subject.len,
                               op->queue.ptr, op->queue.len, &so, &ns->sub);
    if (rc)
        goto out_free;
    if (hr_map_put(&cl->subs, ns->sid, ns->sid_len, ns) != 0) {
        herald_sub_destroy(ns->sub);
        goto out_free;
    }
    hr_nats_send_ok(cl);
    return;
out_free:
    sub_free(ns);
out_oom:
    hr_error("nats conn %llu: out of memory for a subscription", (unsigned long long)c->id);
    hr_nats_send_err(cl, "Out Of Memory");
}

void hr_nats_handle_unsub(struct hr_nats_client *cl, const struct hr_nats_op *op)
{
    struct hr_nats_sub *ns = hr_map_get(&cl->subs, op->sid.ptr, op->sid.len);
    if (ns) {
        if (op->max_msgs && ns->delivered < op->max_msgs)
            ns->max = op->max_msgs;
        else
            sub_remove(cl, ns);
    }
    hr_nats_send_ok(cl);
}
