/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_natsc.c - herald-bench's libnats (nats.c) variant of pubsub 1->1: what a typical C
 * application sees.  Publisher and subscriber are separate libnats connections; delivery is
 * through an async subscription callback (libnats' own delivery thread).
 *
 * Contract: same counting, ordering and flow-control rules as the thin pubsub mode
 * (published - delivered <= window); library-side pending limits are raised above the window
 * so libnats never drops as a slow consumer; a drop, gap or miscount is an error.  Nothing
 * waits past bench_deadline_ns.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench_common.h"
#include "bench_proto.h"

#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct {
    _Atomic uint64_t count;
    uint64_t expect; /* callback-thread private */
    _Atomic uint64_t bad;
    size_t size;
} nsub;

static void on_nmsg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    (void)nc, (void)sub;
    nsub *s = closure;
    int len = natsMsg_GetDataLength(msg);
    const char *d = natsMsg_GetData(msg);
    if (len < 0 || (size_t)len != s->size) {
        atomic_fetch_add(&s->bad, 1);
    } else if (len >= 8) {
        uint64_t seq;
        memcpy(&seq, d, 8);
        if (seq != s->expect)
            atomic_fetch_add(&s->bad, 1);
        s->expect = seq + 1;
    }
    natsMsg_Destroy(msg);
    atomic_store_explicit(&s->count, atomic_load_explicit(&s->count, memory_order_relaxed) + 1,
                          memory_order_release);
}

static void nsleep_us(long us)
{
    struct timespec ts = {.tv_sec = 0, .tv_nsec = us * 1000};
    nanosleep(&ts, NULL);
}

int bench_run_natsc_pubsub(const bopts *o, bresult *r)
{
    natsOptions *opts = NULL;
    natsConnection *pc = NULL, *sc = NULL;
    natsSubscription *sub = NULL;
    nsub s;
    memset(&s, 0, sizeof s);
    s.size = o->size;
    int rc = -1;
    char url[300];
    uint8_t *payload = malloc(o->size + 8);
    natsStatus st;
    if (!payload) {
        bench_set_error(r, "out of memory");
        return -1;
    }
    for (size_t k = 0; k < o->size; k++)
        payload[k] = (uint8_t)('a' + k % 26);
    snprintf(url, sizeof url, "nats://%s:%d", o->host, o->port);
    if ((st = natsOptions_Create(&opts)) != NATS_OK || (st = natsOptions_SetURL(opts, url)) ||
        (st = natsOptions_SetName(opts, "herald-bench-natsc")) ||
        (st = natsOptions_SetTimeout(opts, 5000)) ||
        (st = natsOptions_SetAllowReconnect(opts, false))) {
        bench_set_error(r, "natsOptions: %s", natsStatus_GetText(st));
        goto out;
    }
    if ((st = natsConnection_Connect(&sc, opts)) != NATS_OK ||
        (st = natsConnection_Connect(&pc, opts)) != NATS_OK) {
        bench_set_error(r, "libnats connect %s: %s", url, natsStatus_GetText(st));
        goto out;
    }
    snprintf(r->server_name, sizeof r->server_name, "%s", "");
    char sid[128];
    if (natsConnection_GetConnectedServerId(sc, sid, sizeof sid) == NATS_OK)
        snprintf(r->server_name, sizeof r->server_name, "%.63s", sid);
    if ((st = natsConnection_Subscribe(&sub, sc, o->subject, on_nmsg, &s)) != NATS_OK ||
        (st = natsSubscription_SetPendingLimits(sub, 10000000, 1 << 30)) != NATS_OK ||
        (st = natsConnection_FlushTimeout(sc, 5000)) != NATS_OK) {
        bench_set_error(r, "libnats subscribe: %s", natsStatus_GetText(st));
        goto out;
    }
    uint64_t frame = o->size + strlen(o->subject) + 24;
    uint64_t window = o->window_bytes / frame;
    if (window < 16)
        window = 16;
    r->window_msgs = window;

    bmeasure m;
    bench_measure_begin(o, &m);
    uint64_t sent = 0;
    int failed = 0;
    while (sent < o->msgs && !failed) {
        uint64_t done = atomic_load_explicit(&s.count, memory_order_acquire);
        if (sent - done >= window) {
            if (bench_now_ns() > bench_deadline_ns) {
                bench_set_error(r, "deadline exceeded: published %llu, delivered %llu",
                                (unsigned long long)sent, (unsigned long long)done);
                failed = 1;
                break;
            }
            nsleep_us(50);
            continue;
        }
        uint64_t room = window - (sent - done);
        if (room > o->msgs - sent)
            room = o->msgs - sent;
        for (uint64_t i = 0; i < room; i++) {
            if (o->size >= 8) {
                uint64_t seq = sent;
                memcpy(payload, &seq, 8);
            }
            st = natsConnection_Publish(pc, o->subject, payload, (int)o->size);
            if (st != NATS_OK) {
                bench_set_error(r, "libnats publish: %s", natsStatus_GetText(st));
                failed = 1;
                break;
            }
            sent++;
        }
    }
    if (!failed) {
        int64_t left = (bench_deadline_ns - bench_now_ns()) / 1000000;
        st = natsConnection_FlushTimeout(pc, left > 1 ? left : 1);
        if (st != NATS_OK) {
            bench_set_error(r, "libnats flush: %s", natsStatus_GetText(st));
            failed = 1;
        }
    }
    uint64_t last = 0;
    int64_t last_progress = bench_now_ns();
    while (!failed && atomic_load(&s.count) < o->msgs) {
        uint64_t c = atomic_load(&s.count);
        int64_t now = bench_now_ns();
        if (c != last) {
            last = c;
            last_progress = now;
        } else if (now - last_progress > 2000000000LL || now > bench_deadline_ns) {
            int64_t dropped = 0;
            natsSubscription_GetDropped(sub, &dropped);
            bench_set_error(r, "delivered %llu of %llu (libnats dropped %lld)",
                            (unsigned long long)c, (unsigned long long)o->msgs, (long long)dropped);
            failed = 1;
            break;
        }
        nsleep_us(100);
    }
    bench_measure_end(o, &m, r);
    r->sent = sent;
    r->recv = atomic_load(&s.count);
    r->msgs = o->msgs;
    if (!failed) {
        if (atomic_load(&s.bad))
            bench_set_error(r, "%llu messages out of order or with a wrong size",
                            (unsigned long long)atomic_load(&s.bad));
        else if (r->recv != o->msgs)
            bench_set_error(r, "received %llu of %llu", (unsigned long long)r->recv,
                            (unsigned long long)o->msgs);
        else
            rc = 0;
    }
out:
    if (sub) {
        natsSubscription_Unsubscribe(sub);
        natsSubscription_Destroy(sub);
    }
    if (pc)
        natsConnection_Destroy(pc);
    if (sc)
        natsConnection_Destroy(sc);
    if (opts)
        natsOptions_Destroy(opts);
    nats_CloseAndWait(2000);
    free(payload);
    return rc;
}
