/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_thin.c - herald-bench's thin-client modes: pub, pubsub (fan-out), queue, reqrep,
 * latency.  Speaks the NATS protocol through bench_proto.c.
 *
 * Contract:
 *   - Publishing writes prebuilt batches of identical PUB frames (one write(2) per
 *     --batch-bytes), patching only an 8-byte sequence number into each payload.
 *   - Flow control never lets the publisher overrun a server's slow-consumer limit:
 *     pubsub/queue keep (published - delivered) <= window (subscriber progress, shared through
 *     atomics); pub keeps at most 4 PINGs outstanding, one every window/4 bytes.
 *   - Receivers count every message and check it: fan-out subscribers see 0..M-1 in order,
 *     queue members together see each sequence exactly once, reqrep replies echo the request,
 *     latency samples every post-warmup message.  A miscount is an error, never a result.
 *   - Nothing waits past bench_deadline_ns; a run that stops making progress for 2 s after
 *     the publisher finished fails with the counts it reached.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench_common.h"
#include "bench_proto.h"

#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STALL_NS 2000000000LL
#define NO_SEQ ((size_t)-1)

static inline void put_u64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static inline uint64_t get_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static int aborted(void) { return atomic_load_explicit(&bench_abort, memory_order_relaxed); }

static int deadline_passed(void) { return bench_deadline_ns && bench_now_ns() > bench_deadline_ns; }

static int connect_or_fail(bconn *c, const bopts *o, size_t rcap, size_t wcap, bresult *r,
                           const char *what)
{
    char err[256];
    if (bc_connect(c, o->host, o->port, rcap, wcap, err, sizeof err) < 0) {
        bench_set_error(r, "%s: %s", what, err);
        return -1;
    }
    if (!r->server_version[0]) {
        snprintf(r->server_version, sizeof r->server_version, "%s", c->server_version);
        snprintf(r->server_name, sizeof r->server_name, "%s", c->server_name);
    }
    return 0;
}

/* --- prebuilt publish batch ------------------------------------------------------------ */

typedef struct {
    uint8_t *buf;
    size_t frame;   /* bytes per PUB frame */
    size_t nframes; /* frames in buf */
    size_t seq_off; /* offset of the 8-byte sequence in a frame, NO_SEQ when size < 8 */
} pubbatch;

static int pubbatch_init(pubbatch *b, const char *subj, size_t size, size_t batch_bytes)
{
    char hdr[256];
    int hl = snprintf(hdr, sizeof hdr, "PUB %s %zu\r\n", subj, size);
    if (hl <= 0 || (size_t)hl >= sizeof hdr)
        return -1;
    b->frame = (size_t)hl + size + 2;
    b->nframes = batch_bytes / b->frame;
    if (b->nframes < 1)
        b->nframes = 1;
    b->buf = malloc(b->frame * b->nframes);
    if (!b->buf)
        return -1;
    for (size_t i = 0; i < b->nframes; i++) {
        uint8_t *f = b->buf + i * b->frame;
        memcpy(f, hdr, (size_t)hl);
        for (size_t k = 0; k < size; k++)
            f[(size_t)hl + k] = (uint8_t)('a' + k % 26);
        f[(size_t)hl + size] = '\r';
        f[(size_t)hl + size + 1] = '\n';
    }
    b->seq_off = size >= 8 ? (size_t)hl : NO_SEQ;
    return 0;
}

/* --- publisher ----------------------------------------------------------------------- */

/* End-to-end flow control between the publisher and the reader thread: the reader publishes
 * `progress` (delivered messages: min over fan-out subscribers, sum over queue members); a
 * publisher whose window is full sleeps on `cv` until progress reaches `wake_at`. */
typedef struct {
    _Atomic uint64_t progress;
    _Atomic uint64_t wake_at; /* 0 = publisher not waiting */
    pthread_mutex_t mu;
    pthread_cond_t cv;
} flowctl;

static void flow_init(flowctl *f)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&f->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&f->mu, NULL);
    atomic_store(&f->progress, 0);
    atomic_store(&f->wake_at, 0);
}

static void flow_destroy(flowctl *f)
{
    pthread_cond_destroy(&f->cv);
    pthread_mutex_destroy(&f->mu);
}

/* Publisher side: wait (at most 5 ms) until progress >= target. */
static void flow_wait(flowctl *f, uint64_t target)
{
    pthread_mutex_lock(&f->mu);
    atomic_store(&f->wake_at, target);
    int64_t until = bench_now_ns() + 5000000;
    struct timespec ts = {.tv_sec = until / 1000000000LL, .tv_nsec = until % 1000000000LL};
    while (atomic_load(&f->progress) < target && atomic_load(&f->wake_at) == target) {
        if (pthread_cond_timedwait(&f->cv, &f->mu, &ts) != 0)
            break;
    }
    atomic_store(&f->wake_at, 0);
    pthread_mutex_unlock(&f->mu);
}

/* Reader side: publish progress, wake a waiting publisher once its target is reached. */
static void flow_update(flowctl *f, uint64_t progress)
{
    atomic_store(&f->progress, progress);
    uint64_t w = atomic_load(&f->wake_at);
    if (w && progress >= w) {
        pthread_mutex_lock(&f->mu);
        if (atomic_load(&f->wake_at) == w)
            atomic_store(&f->wake_at, 0);
        pthread_cond_signal(&f->cv);
        pthread_mutex_unlock(&f->mu);
    }
}

typedef struct {
    bconn c;
    pubbatch b;
    uint64_t total;
    uint64_t window; /* end-to-end: sent - flow->progress stays <= window */
    flowctl *flow;   /* NULL: no end-to-end flow control */
    uint64_t ping_every;  /* >0: PING every ping_every msgs, at most max_pings outstanding */
    uint64_t max_pings;
    uint64_t sent;
    uint64_t st_sleeps;
} publisher;

/* Writes n bytes straight to the socket; inbound data is parsed meanwhile (hold_out keeps
 * staged PONGs from landing inside a frame). */
static int write_direct(bconn *c, const uint8_t *p, size_t n)
{
    size_t off = 0;
    while (off < n) {
        ssize_t w = bc_send_nb(c, p + off, n - off);
        if (w < 0)
            return -1;
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (aborted()) {
            bc_fail(c, "aborted");
            return -1;
        }
        if (deadline_passed()) {
            bc_fail(c, "deadline exceeded while publishing (server not reading?)");
            return -1;
        }
        int ev = bc_poll(c, POLLOUT | POLLIN, 50);
        if (ev < 0)
            return -1;
        if ((ev & (POLLIN | POLLHUP)) && bc_read_once(c) < 0)
            return -1;
    }
    return 0;
}

static int publish_loop(publisher *p)
{
    bconn *c = &p->c;
    pubbatch *b = &p->b;
    uint64_t next_ping = p->ping_every;
    uint64_t min_room = p->window / 4 < b->nframes ? p->window / 4 : b->nframes;
    if (min_room < 1)
        min_room = 1;
    c->hold_out = 1;
    while (p->sent < p->total) {
        uint64_t n = p->total - p->sent;
        if (n > b->nframes)
            n = b->nframes;
        if (p->flow) {
            for (;;) {
                uint64_t done = atomic_load(&p->flow->progress);
                uint64_t inflight = p->sent > done ? p->sent - done : 0;
                uint64_t room = inflight < p->window ? p->window - inflight : 0;
                if (room >= n || room >= min_room) {
                    if (n > room)
                        n = room;
                    break;
                }
                if (aborted() || c->failed) {
                    bc_fail(c, "aborted");
                    return -1;
                }
                if (deadline_passed()) {
                    bc_fail(c, "deadline exceeded: subscribers stopped receiving "
                               "(published %llu)", (unsigned long long)p->sent);
                    return -1;
                }
                if (bc_drain(c, 1) < 0) /* -ERR, server PING */
                    return -1;
                uint64_t want = n < min_room ? n : min_room;
                flow_wait(p->flow, p->sent + want - p->window);
                p->st_sleeps++;
            }
        }
        if (p->ping_every) {
            while (c->pings_out - c->pongs >= p->max_pings) {
                if (aborted() || deadline_passed()) {
                    bc_fail(c, "deadline exceeded waiting for PONG");
                    return -1;
                }
                int ev = bc_poll(c, POLLIN, 50);
                if (ev < 0 || (ev && bc_read_once(c) < 0))
                    return -1;
            }
        }
        if (b->seq_off != NO_SEQ) {
            uint8_t *f = b->buf + b->seq_off;
            for (uint64_t i = 0; i < n; i++, f += b->frame)
                put_u64(f, p->sent + i);
        }
        if (write_direct(c, b->buf, (size_t)n * b->frame) < 0)
            return -1;
        p->sent += n;
        if (p->ping_every && p->sent >= next_ping) {
            bc_out_ping(c);
            next_ping += p->ping_every;
        }
        if (c->wlen > c->woff && bc_out_flush(c) < 0)
            return -1;
        if (p->ping_every && c->pings_out > c->pongs && bc_drain(c, 2) < 0)
            return -1;
    }
    return 0;
}

/* --- mode: pub ------------------------------------------------------------------------ */

typedef struct {
    publisher p;
    pthread_barrier_t *start;
    int rc;
} pubthread;

static void *pub_thread_main(void *arg)
{
    pubthread *t = arg;
    pthread_barrier_wait(t->start);
    int64_t cpu0 = bench_thread_cpu_ns();
    t->rc = publish_loop(&t->p);
    if (t->rc == 0) { /* final round trip: the server has processed everything */
        t->p.c.hold_out = 0;
        bc_out_ping(&t->p.c);
        if (bc_out_flush(&t->p.c) < 0 || bc_wait_pongs(&t->p.c, t->p.c.pings_out) < 0)
            t->rc = -1;
    }
    bench_thread_cpu_done(cpu0);
    if (t->rc < 0)
        atomic_store(&bench_abort, 1);
    return NULL;
}

int bench_run_pub(const bopts *o, bresult *r)
{
    int n = o->pubs;
    pubthread *t = calloc((size_t)n, sizeof *t);
    pthread_t *th = calloc((size_t)n, sizeof *th);
    pthread_barrier_t start;
    int rc = -1, started = 0;
    if (!t || !th) {
        bench_set_error(r, "out of memory");
        goto out;
    }
    pthread_barrier_init(&start, NULL, (unsigned)n + 1);
    for (int i = 0; i < n; i++)
        t[i].p.c.fd = -1;
    for (int i = 0; i < n; i++) {
        publisher *p = &t[i].p;
        if (connect_or_fail(&p->c, o, 65536, 4096, r, "publisher") < 0)
            goto out_barrier;
        if (pubbatch_init(&p->b, o->subject, o->size, o->batch_bytes) < 0) {
            bench_set_error(r, "out of memory");
            goto out_barrier;
        }
        p->total = o->msgs;
        p->ping_every = o->window_bytes / 4 / p->b.frame;
        if (p->ping_every < 1)
            p->ping_every = 1;
        p->max_pings = 4;
        t[i].start = &start;
    }
    r->window_msgs = t[0].p.ping_every * t[0].p.max_pings;
    for (int i = 0; i < n; i++) {
        if (pthread_create(&th[i], NULL, pub_thread_main, &t[i]) != 0) {
            bench_set_error(r, "pthread_create failed");
            atomic_store(&bench_abort, 1);
            break;
        }
        started++;
    }
    bmeasure m;
    if (started == n) {
        bench_measure_begin(o, &m);
        pthread_barrier_wait(&start);
    }
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    if (started != n)
        goto out_barrier;
    bench_measure_end(o, &m, r);
    rc = 0;
    for (int i = 0; i < n; i++) {
        r->sent += t[i].p.sent;
        if (t[i].rc < 0 && rc == 0) {
            bench_set_error(r, "publisher %d: %s", i, t[i].p.c.err);
            rc = -1;
        }
    }
    r->msgs = r->sent;
out_barrier:
    pthread_barrier_destroy(&start);
out:
    for (int i = 0; t && i < n; i++) {
        if (t[i].p.c.rbuf)
            bc_close(&t[i].p.c);
        free(t[i].p.b.buf);
    }
    free(t);
    free(th);
    return rc;
}

/* --- mode: pubsub (fan-out) and queue ------------------------------------------------ */

typedef struct subgroup subgroup;

typedef struct {
    bconn c;
    subgroup *g;
    int idx;
    uint64_t count;  /* reader-thread private */
    uint64_t expect; /* next expected sequence (fan-out) */
} subscriber;

struct subgroup {
    subscriber *subs;
    int n;
    int queue;
    uint64_t expected; /* per subscriber (fan-out) or in total (queue) */
    size_t size;
    uint8_t *seen; /* queue: bitmap of sequences */
    uint64_t dups, bad_seq, bad_size;
    uint64_t bad_got, bad_want;
    int bad_sub;
    atomic_int pub_done;
    flowctl flow;
    int rc;
    char err[512];
};

static void on_fanout_msg(bconn *c, const char *subj, size_t sl, const char *reply, size_t rl,
                          const uint8_t *pl, size_t len)
{
    (void)subj, (void)sl, (void)reply, (void)rl;
    subscriber *s = c->ud;
    subgroup *g = s->g;
    if (len != g->size) {
        g->bad_size++;
    } else if (len >= 8) {
        uint64_t seq = get_u64(pl);
        if (seq != s->expect && g->bad_seq++ == 0) {
            g->bad_got = seq;
            g->bad_want = s->expect;
            g->bad_sub = s->idx;
        }
        s->expect = seq + 1;
    }
    s->count++;
}

static void on_queue_msg(bconn *c, const char *subj, size_t sl, const char *reply, size_t rl,
                         const uint8_t *pl, size_t len)
{
    (void)subj, (void)sl, (void)reply, (void)rl;
    subscriber *s = c->ud;
    subgroup *g = s->g;
    if (len != g->size) {
        g->bad_size++;
    } else if (len >= 8) {
        uint64_t seq = get_u64(pl);
        if (seq >= g->expected) {
            if (g->bad_seq++ == 0) {
                g->bad_got = seq;
                g->bad_want = g->expected;
                g->bad_sub = s->idx;
            }
        } else {
            uint8_t bit = (uint8_t)(1u << (seq & 7));
            if (g->seen[seq >> 3] & bit)
                g->dups++;
            g->seen[seq >> 3] |= bit;
        }
    }
    s->count++;
}

static void group_fail(subgroup *g, const char *msg)
{
    if (g->rc == 0)
        snprintf(g->err, sizeof g->err, "%s", msg);
    g->rc = -1;
    atomic_store(&bench_abort, 1);
}

static void *reader_main(void *arg)
{
    subgroup *g = arg;
    int64_t cpu0 = bench_thread_cpu_ns();
    struct pollfd *pfd = calloc((size_t)g->n, sizeof *pfd);
    if (!pfd) {
        group_fail(g, "out of memory");
        return NULL;
    }
    for (int i = 0; i < g->n; i++) {
        pfd[i].fd = g->subs[i].c.fd;
        pfd[i].events = POLLIN;
    }
    uint64_t last_total = 0;
    int64_t last_progress = bench_now_ns();
    char msg[400];
    for (;;) {
        uint64_t total = 0, minc = UINT64_MAX;
        int complete = 1;
        for (int i = 0; i < g->n; i++) {
            subscriber *s = &g->subs[i];
            if (bc_drain(&s->c, 8) < 0) {
                snprintf(msg, sizeof msg, "subscriber %d: %s", i, s->c.err);
                group_fail(g, msg);
                goto done;
            }
            total += s->count;
            if (s->count < minc)
                minc = s->count;
            if (!g->queue && s->count < g->expected)
                complete = 0;
            if (!g->queue && s->count > g->expected) {
                snprintf(msg, sizeof msg, "subscriber %d received %llu > %llu messages", i,
                         (unsigned long long)s->count, (unsigned long long)g->expected);
                group_fail(g, msg);
                goto done;
            }
        }
        if (g->queue) {
            complete = total >= g->expected;
            if (total > g->expected) {
                snprintf(msg, sizeof msg, "queue group received %llu > %llu messages",
                         (unsigned long long)total, (unsigned long long)g->expected);
                group_fail(g, msg);
                goto done;
            }
        }
        flow_update(&g->flow, g->queue ? total : minc);
        if (complete)
            break;
        if (aborted()) {
            group_fail(g, "aborted");
            goto done;
        }
        int64_t now = bench_now_ns();
        if (total != last_total) {
            last_total = total;
            last_progress = now;
        } else if (atomic_load(&g->pub_done) && now - last_progress > STALL_NS) {
            snprintf(msg, sizeof msg,
                     "lost messages: delivered %llu of %llu (no progress for 2 s after the "
                     "publisher finished)",
                     (unsigned long long)total,
                     (unsigned long long)(g->queue ? g->expected : g->expected * (uint64_t)g->n));
            group_fail(g, msg);
            goto done;
        }
        if (bench_deadline_ns && now > bench_deadline_ns) {
            snprintf(msg, sizeof msg, "deadline exceeded: delivered %llu of %llu",
                     (unsigned long long)total,
                     (unsigned long long)(g->queue ? g->expected : g->expected * (uint64_t)g->n));
            group_fail(g, msg);
            goto done;
        }
        if (poll(pfd, (nfds_t)g->n, 20) < 0) {
            group_fail(g, "poll failed");
            goto done;
        }
    }
done:
    free(pfd);
    bench_thread_cpu_done(cpu0);
    return NULL;
}

int bench_run_pubsub(const bopts *o, bresult *r)
{
    int queue = o->mode == MODE_QUEUE;
    subgroup g;
    memset(&g, 0, sizeof g);
    flow_init(&g.flow);
    g.n = queue ? o->queue : o->subs;
    g.queue = queue;
    g.expected = o->msgs;
    g.size = o->size;
    g.subs = calloc((size_t)g.n, sizeof *g.subs);
    publisher *p = calloc(1, sizeof *p);
    int rc = -1;
    pthread_t rth;
    int reader_started = 0;
    if (!g.subs || !p) {
        bench_set_error(r, "out of memory");
        goto out;
    }
    p->c.fd = -1;
    for (int i = 0; i < g.n; i++)
        g.subs[i].c.fd = -1;
    if (queue) {
        g.seen = calloc((size_t)(o->msgs / 8 + 1), 1);
        if (!g.seen) {
            bench_set_error(r, "out of memory");
            goto out;
        }
    }
    for (int i = 0; i < g.n; i++) {
        subscriber *s = &g.subs[i];
        if (connect_or_fail(&s->c, o, o->read_bytes, 4096, r, "subscriber") < 0)
            goto out;
        s->g = &g;
        s->idx = i;
        s->c.ud = s;
        s->c.on_msg = queue ? on_queue_msg : on_fanout_msg;
        bc_out_sub(&s->c, o->subject, queue ? "benchq" : NULL, 1);
        if (bc_roundtrip(&s->c) < 0) {
            bench_set_error(r, "subscribe: %s", s->c.err);
            goto out;
        }
    }
    if (connect_or_fail(&p->c, o, 65536, 4096, r, "publisher") < 0)
        goto out;
    if (pubbatch_init(&p->b, o->subject, o->size, o->batch_bytes) < 0) {
        bench_set_error(r, "out of memory");
        goto out;
    }
    p->total = o->msgs;
    p->window = o->window_bytes / p->b.frame;
    if (p->window < 16)
        p->window = 16;
    p->flow = &g.flow;
    r->window_msgs = p->window;

    bmeasure m;
    bench_measure_begin(o, &m);
    if (pthread_create(&rth, NULL, reader_main, &g) != 0) {
        bench_set_error(r, "pthread_create failed");
        goto out;
    }
    reader_started = 1;
    int prc = publish_loop(p);
    if (prc == 0) { /* confirm the server has taken everything in */
        p->c.hold_out = 0;
        prc = bc_roundtrip(&p->c);
    }
    if (prc < 0)
        atomic_store(&bench_abort, 1);
    atomic_store(&g.pub_done, 1);
    pthread_join(rth, NULL);
    reader_started = 0;
    bench_measure_end(o, &m, r);

    r->sent = p->sent;
    if (getenv("HERALD_BENCH_DEBUG"))
        fprintf(stderr, "publisher: %llu flow-control waits\n", (unsigned long long)p->st_sleeps);
    for (int i = 0; i < g.n; i++)
        r->recv += g.subs[i].count;
    r->msgs = queue ? o->msgs : o->msgs * (uint64_t)g.n;
    if (g.rc < 0 && prc < 0 && strcmp(g.err, "aborted") == 0)
        bench_set_error(r, "publisher: %s", p->c.err);
    else if (g.rc < 0)
        bench_set_error(r, "%s", g.err);
    else if (prc < 0)
        bench_set_error(r, "publisher: %s", p->c.err);
    else if (g.bad_size)
        bench_set_error(r, "%llu messages with a wrong payload size", (unsigned long long)g.bad_size);
    else if (g.bad_seq)
        bench_set_error(r, "%llu out-of-order/unknown sequences (first: subscriber %d got %llu, "
                           "expected %llu)", (unsigned long long)g.bad_seq, g.bad_sub,
                        (unsigned long long)g.bad_got, (unsigned long long)g.bad_want);
    else if (g.dups)
        bench_set_error(r, "queue group delivered %llu duplicates", (unsigned long long)g.dups);
    else if (r->recv != r->msgs)
        bench_set_error(r, "received %llu of %llu", (unsigned long long)r->recv,
                        (unsigned long long)r->msgs);
    else
        rc = 0;
out:
    if (reader_started) {
        atomic_store(&bench_abort, 1);
        pthread_join(rth, NULL);
    }
    for (int i = 0; g.subs && i < g.n; i++)
        if (g.subs[i].c.rbuf)
            bc_close(&g.subs[i].c);
    if (p) {
        if (p->c.rbuf)
            bc_close(&p->c);
        free(p->b.buf);
    }
    free(p);
    free(g.subs);
    free(g.seen);
    flow_destroy(&g.flow);
    return rc;
}

/* --- mode: reqrep ---------------------------------------------------------------------- */

typedef struct {
    bconn c;
    atomic_int stop;
    uint64_t served, no_reply;
    int rc;
} responder;

static void on_request(bconn *c, const char *subj, size_t sl, const char *reply, size_t rl,
                       const uint8_t *pl, size_t len)
{
    (void)subj, (void)sl;
    responder *rs = c->ud;
    if (rl == 0) {
        rs->no_reply++;
        return;
    }
    bc_out_reserve(c, rl + len + 32);
    uint8_t *w = c->wbuf + c->wlen;
    memcpy(w, "PUB ", 4);
    w += 4;
    memcpy(w, reply, rl);
    w += rl;
    *w++ = ' ';
    w += bench_u64toa((char *)w, len);
    *w++ = '\r';
    *w++ = '\n';
    memcpy(w, pl, len);
    w += len;
    *w++ = '\r';
    *w++ = '\n';
    c->wlen = (size_t)(w - c->wbuf);
    rs->served++;
}

static void *responder_main(void *arg)
{
    responder *rs = arg;
    bconn *c = &rs->c;
    int64_t cpu0 = bench_thread_cpu_ns();
    while (!atomic_load_explicit(&rs->stop, memory_order_relaxed)) {
        if (aborted() || deadline_passed()) {
            bc_fail(c, "deadline exceeded");
            rs->rc = -1;
            break;
        }
        short ev = POLLIN;
        if (c->wlen > c->woff)
            ev |= POLLOUT;
        int re = bc_poll(c, ev, 20);
        if (re < 0) {
            rs->rc = -1;
            break;
        }
        if ((re & (POLLIN | POLLHUP)) && bc_read_once(c) < 0) { /* flushes replies too */
            rs->rc = -1;
            break;
        }
        if ((re & POLLOUT) && bc_out_try(c) < 0) {
            rs->rc = -1;
            break;
        }
    }
    if (rs->rc < 0)
        atomic_store(&bench_abort, 1);
    bench_thread_cpu_done(cpu0);
    return NULL;
}

typedef struct {
    bconn c;
    uint64_t total, sent, recv, bad, dups;
    uint8_t *seen; /* bitmap of answered sequences */
    char req_subj[160];
    size_t req_len;
    char inbox[64]; /* "_INBOX.<token>." */
    size_t inbox_len;
    uint8_t *payload;
    size_t size;
} requester;

static void send_request(requester *q)
{
    bconn *c = &q->c;
    bc_out_reserve(c, q->req_len + q->inbox_len + q->size + 64);
    uint8_t *w = c->wbuf + c->wlen;
    memcpy(w, "PUB ", 4);
    w += 4;
    memcpy(w, q->req_subj, q->req_len);
    w += q->req_len;
    *w++ = ' ';
    memcpy(w, q->inbox, q->inbox_len);
    w += q->inbox_len;
    w += bench_u64toa((char *)w, q->sent);
    *w++ = ' ';
    w += bench_u64toa((char *)w, q->size);
    *w++ = '\r';
    *w++ = '\n';
    if (q->size >= 8)
        put_u64(q->payload, q->sent);
    memcpy(w, q->payload, q->size);
    w += q->size;
    *w++ = '\r';
    *w++ = '\n';
    c->wlen = (size_t)(w - c->wbuf);
    q->sent++;
}

static void on_reply(bconn *c, const char *subj, size_t sl, const char *reply, size_t rl,
                     const uint8_t *pl, size_t len)
{
    (void)reply, (void)rl;
    requester *q = c->ud;
    /* The reply goes to <inbox><seq>; the payload echoes the request. */
    if (len != q->size || sl <= q->inbox_len || memcmp(subj, q->inbox, q->inbox_len) != 0) {
        q->bad++;
    } else if (len >= 8) {
        uint64_t seq = get_u64(pl);
        if (seq >= q->sent) {
            q->bad++;
        } else {
            uint8_t bit = (uint8_t)(1u << (seq & 7));
            if (q->seen[seq >> 3] & bit)
                q->dups++;
            q->seen[seq >> 3] |= bit;
        }
    }
    q->recv++;
    if (q->sent < q->total)
        send_request(q);
}

int bench_run_reqrep(const bopts *o, bresult *r)
{
    responder *rs = calloc(1, sizeof *rs);
    requester *q = calloc(1, sizeof *q);
    int rc = -1, started = 0;
    pthread_t th;
    if (!rs || !q || !(q->payload = malloc(o->size + 8)) ||
        !(q->seen = calloc((size_t)(o->msgs / 8 + 1), 1))) {
        bench_set_error(r, "out of memory");
        goto out;
    }
    rs->c.fd = q->c.fd = -1;
    for (size_t k = 0; k < o->size; k++)
        q->payload[k] = (uint8_t)('a' + k % 26);
    q->size = o->size;
    q->total = o->msgs;
    q->req_len = (size_t)snprintf(q->req_subj, sizeof q->req_subj, "%s.req", o->subject);
    q->inbox_len = (size_t)snprintf(q->inbox, sizeof q->inbox, "_INBOX.hb%ldx%lld.",
                                    (long)getpid(), (long long)(bench_now_ns() % 1000000007));
    size_t wcap = (size_t)o->window * (o->size + 200) + 4096;

    if (connect_or_fail(&rs->c, o, o->read_bytes, wcap, r, "responder") < 0)
        goto out;
    rs->c.ud = rs;
    rs->c.on_msg = on_request;
    bc_out_sub(&rs->c, q->req_subj, NULL, 1);
    if (bc_roundtrip(&rs->c) < 0) {
        bench_set_error(r, "responder subscribe: %s", rs->c.err);
        goto out;
    }
    if (connect_or_fail(&q->c, o, o->read_bytes, wcap, r, "requester") < 0)
        goto out;
    q->c.ud = q;
    q->c.on_msg = on_reply;
    char inbox_sub[80];
    snprintf(inbox_sub, sizeof inbox_sub, "%s*", q->inbox);
    bc_out_sub(&q->c, inbox_sub, NULL, 1);
    if (bc_roundtrip(&q->c) < 0) {
        bench_set_error(r, "requester subscribe: %s", q->c.err);
        goto out;
    }
    if (pthread_create(&th, NULL, responder_main, rs) != 0) {
        bench_set_error(r, "pthread_create failed");
        goto out;
    }
    started = 1;
    r->window_msgs = (uint64_t)o->window;

    bmeasure m;
    bench_measure_begin(o, &m);
    for (int i = 0; i < o->window && q->sent < q->total; i++)
        send_request(q);
    int qrc = bc_out_flush(&q->c);
    uint64_t last = 0;
    int64_t last_progress = bench_now_ns();
    while (qrc == 0 && q->recv < q->total) {
        if (aborted()) {
            bc_fail(&q->c, "aborted");
            qrc = -1;
            break;
        }
        short ev = POLLIN;
        if (q->c.wlen > q->c.woff)
            ev |= POLLOUT;
        int re = bc_poll(&q->c, ev, 20);
        if (re < 0 || ((re & (POLLIN | POLLHUP)) && bc_read_once(&q->c) < 0) ||
            ((re & POLLOUT) && bc_out_try(&q->c) < 0)) {
            qrc = -1;
            break;
        }
        int64_t now = bench_now_ns();
        if (q->recv != last) {
            last = q->recv;
            last_progress = now;
        } else if (now - last_progress > STALL_NS) {
            bc_fail(&q->c, "no reply for 2 s: %llu of %llu round trips done",
                    (unsigned long long)q->recv, (unsigned long long)q->total);
            qrc = -1;
        } else if (bench_deadline_ns && now > bench_deadline_ns) {
            bc_fail(&q->c, "deadline exceeded: %llu of %llu round trips done",
                    (unsigned long long)q->recv, (unsigned long long)q->total);
            qrc = -1;
        }
    }
    bench_measure_end(o, &m, r);
    atomic_store(&rs->stop, 1);
    pthread_join(th, NULL);
    started = 0;
    r->sent = q->sent;
    r->recv = q->recv;
    r->msgs = q->recv;
    if (qrc < 0)
        bench_set_error(r, "requester: %s", q->c.err);
    else if (rs->rc < 0)
        bench_set_error(r, "responder: %s", rs->c.err);
    else if (q->bad)
        bench_set_error(r, "%llu malformed replies", (unsigned long long)q->bad);
    else if (q->dups)
        bench_set_error(r, "%llu duplicate replies", (unsigned long long)q->dups);
    else if (rs->no_reply)
        bench_set_error(r, "%llu requests arrived without a reply subject",
                        (unsigned long long)rs->no_reply);
    else
        rc = 0;
out:
    if (started) {
        atomic_store(&rs->stop, 1);
        pthread_join(th, NULL);
    }
    if (rs && rs->c.rbuf)
        bc_close(&rs->c);
    if (q) {
        if (q->c.rbuf)
            bc_close(&q->c);
        free(q->payload);
        free(q->seen);
    }
    free(rs);
    free(q);
    return rc;
}

/* --- mode: latency ------------------------------------------------------------------- */

typedef struct {
    bconn c;
    uint64_t total, warm, count, bad, dups;
    uint32_t *lat_ns; /* index: seq - warm */
    uint8_t *seen;    /* bitmap of received sequences */
    atomic_int pub_done;
    int rc;
} latsub;

static void on_latency_msg(bconn *c, const char *subj, size_t sl, const char *reply, size_t rl,
                           const uint8_t *pl, size_t len)
{
    (void)subj, (void)sl, (void)reply, (void)rl;
    latsub *s = c->ud;
    int64_t now = bench_now_ns();
    if (len < 16) {
        s->bad++;
        return;
    }
    uint64_t seq = get_u64(pl);
    int64_t ts = (int64_t)get_u64(pl + 8);
    if (seq >= s->total) {
        s->bad++;
        return;
    }
    uint8_t bit = (uint8_t)(1u << (seq & 7));
    if (s->seen[seq >> 3] & bit) {
        s->dups++;
        return;
    }
    s->seen[seq >> 3] |= bit;
    s->count++; /* distinct, well-formed messages */
    if (seq < s->warm)
        return;
    int64_t d = now - ts;
    if (d < 0)
        d = 0;
    if (d > (int64_t)UINT32_MAX)
        d = UINT32_MAX;
    s->lat_ns[seq - s->warm] = (uint32_t)d;
}

static void *latsub_main(void *arg)
{
    latsub *s = arg;
    int64_t cpu0 = bench_thread_cpu_ns();
    int64_t last_progress = bench_now_ns();
    uint64_t last = 0;
    while (s->count < s->total) {
        if (aborted()) {
            bc_fail(&s->c, "aborted");
            s->rc = -1;
            break;
        }
        int re = bc_poll(&s->c, POLLIN, 20);
        if (re < 0 || (re && bc_read_once(&s->c) < 0)) {
            s->rc = -1;
            break;
        }
        int64_t now = bench_now_ns();
        if (s->count != last) {
            last = s->count;
            last_progress = now;
        } else if (atomic_load(&s->pub_done) && now - last_progress > STALL_NS) {
            bc_fail(&s->c, "lost messages: received %llu of %llu",
                    (unsigned long long)s->count, (unsigned long long)s->total);
            s->rc = -1;
            break;
        } else if (bench_deadline_ns && now > bench_deadline_ns) {
            bc_fail(&s->c, "deadline exceeded: received %llu of %llu",
                    (unsigned long long)s->count, (unsigned long long)s->total);
            s->rc = -1;
            break;
        }
    }
    if (s->rc < 0)
        atomic_store(&bench_abort, 1);
    bench_thread_cpu_done(cpu0);
    return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_us(const uint32_t *v, uint64_t n, double q)
{
    /* nearest rank */
    uint64_t k = (uint64_t)ceil(q * (double)n);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1] / 1000.0;
}

int bench_run_latency(const bopts *o, bresult *r)
{
    if (o->size < 16) {
        bench_set_error(r, "latency needs --size >= 16 (sequence + timestamp)");
        return -1;
    }
    latsub *s = calloc(1, sizeof *s);
    bconn *pc = calloc(1, sizeof *pc);
    pubbatch b = {0};
    int rc = -1, started = 0;
    pthread_t th;
    if (!s || !pc) {
        bench_set_error(r, "out of memory");
        goto out;
    }
    s->c.fd = pc->fd = -1;
    s->warm = (uint64_t)(o->warmup * o->rate);
    s->total = s->warm + (uint64_t)(o->duration * o->rate);
    if (s->total <= s->warm) {
        bench_set_error(r, "latency: nothing to measure (rate x duration < 1)");
        goto out;
    }
    s->lat_ns = calloc((size_t)(s->total - s->warm), sizeof *s->lat_ns);
    s->seen = calloc((size_t)(s->total / 8 + 1), 1);
    if (!s->lat_ns || !s->seen || pubbatch_init(&b, o->subject, o->size, 1) < 0) {
        bench_set_error(r, "out of memory");
        goto out;
    }
    if (connect_or_fail(&s->c, o, o->read_bytes, 4096, r, "subscriber") < 0)
        goto out;
    s->c.ud = s;
    s->c.on_msg = on_latency_msg;
    bc_out_sub(&s->c, o->subject, NULL, 1);
    if (bc_roundtrip(&s->c) < 0) {
        bench_set_error(r, "subscribe: %s", s->c.err);
        goto out;
    }
    if (connect_or_fail(pc, o, 65536, 4096, r, "publisher") < 0)
        goto out;
    if (pthread_create(&th, NULL, latsub_main, s) != 0) {
        bench_set_error(r, "pthread_create failed");
        goto out;
    }
    started = 1;

    bmeasure m;
    bench_measure_begin(o, &m);
    pc->hold_out = 1;
    double interval = 1e9 / o->rate;
    int64_t t_start = bench_now_ns() + 1000000, t_first = 0, t_last = 0;
    int prc = 0;
    uint8_t *seqp = b.buf + b.seq_off;
    for (uint64_t i = 0; i < s->total; i++) {
        int64_t due = t_start + (int64_t)((double)i * interval);
        int64_t now = bench_now_ns();
        if (now < due) {
            struct timespec ts = {.tv_sec = due / 1000000000LL, .tv_nsec = due % 1000000000LL};
            while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0) {
            }
        }
        if (aborted() || deadline_passed()) {
            bc_fail(pc, "aborted / deadline exceeded while publishing");
            prc = -1;
            break;
        }
        put_u64(seqp, i);
        now = bench_now_ns();
        put_u64(seqp + 8, (uint64_t)now);
        if (i == 0)
            t_first = now;
        t_last = now;
        if (write_direct(pc, b.buf, b.frame) < 0) {
            prc = -1;
            break;
        }
        if (pc->wlen > pc->woff && bc_out_flush(pc) < 0) {
            prc = -1;
            break;
        }
    }
    if (prc < 0)
        atomic_store(&bench_abort, 1);
    atomic_store(&s->pub_done, 1);
    pthread_join(th, NULL);
    started = 0;
    bench_measure_end(o, &m, r);
    r->sent = s->total;
    r->recv = s->count;
    r->msgs = s->count;
    if (t_last > t_first)
        r->achieved_rate = (double)(s->total - 1) / ((double)(t_last - t_first) / 1e9);
    if (prc < 0)
        bench_set_error(r, "publisher: %s", pc->err);
    else if (s->bad)
        bench_set_error(r, "%llu malformed messages", (unsigned long long)s->bad);
    else if (s->dups)
        bench_set_error(r, "%llu duplicate messages", (unsigned long long)s->dups);
    else if (s->rc < 0)
        bench_set_error(r, "subscriber: %s", s->c.err);
    else {
        uint64_t n = s->total - s->warm;
        qsort(s->lat_ns, (size_t)n, sizeof *s->lat_ns, cmp_u32);
        double sum = 0;
        for (uint64_t i = 0; i < n; i++)
            sum += s->lat_ns[i];
        r->has_lat = 1;
        r->lat_samples = n;
        r->lat_p50_us = pct_us(s->lat_ns, n, 0.50);
        r->lat_p90_us = pct_us(s->lat_ns, n, 0.90);
        r->lat_p99_us = pct_us(s->lat_ns, n, 0.99);
        r->lat_p999_us = pct_us(s->lat_ns, n, 0.999);
        r->lat_max_us = s->lat_ns[n - 1] / 1000.0;
        r->lat_mean_us = sum / (double)n / 1000.0;
        rc = 0;
    }
out:
    if (started) {
        atomic_store(&bench_abort, 1);
        pthread_join(th, NULL);
    }
    if (s) {
        if (s->c.rbuf)
            bc_close(&s->c);
        free(s->lat_ns);
        free(s->seen);
    }
    if (pc && pc->rbuf)
        bc_close(pc);
    free(b.buf);
    free(s);
    free(pc);
    return rc;
}
