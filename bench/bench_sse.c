/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_sse.c - `herald-bench ssefan`: Server-Sent Events fan-out over HTTP, server-agnostic
 * (Herald's GET /v1/events, nginx+nchan's eventsource subscriber, ...).
 *
 * One process, two threads, CLOCK_MONOTONIC shared:
 *   - main thread: --conns non-blocking sockets in one epoll set, each sends
 *     `GET <--sub-path> HTTP/1.1` with `Accept: text/event-stream`, waits for a 200 head, then
 *     parses the event stream (chunked or not): every `data:` line is "<seq> <t_ns> xxx…";
 *     delay = now - t_ns.
 *   - publisher thread (started once every subscriber has its 200 head, plus 200 ms): one
 *     keep-alive HTTP/1.1 connection, `POST <--pub-path>` with a --size byte body, at a fixed
 *     --rate (absolute schedule), one request outstanding; any non-2xx answer fails the run.
 * Events published in [warmup, warmup+duration) are the measured ones: events/s = their
 * deliveries (all subscribers) / duration; delays of those go to a 10 µs histogram (up to
 * 10 s). After the publisher stops the run waits up to --drain s for the missing deliveries.
 * Output: one JSON line, like the other modes ("msgs_per_s" = delivered events/s).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define HIST_US_STEP 10
#define HIST_N (10 * 1000 * 1000 / HIST_US_STEP)

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

typedef struct {
    int fd;
    int state;          /* 0 sending request, 1 reading head, 2 body */
    int chunked;
    int64_t chunk_left; /* chunked: bytes left in the current chunk; -1 reading size line */
    int chunk_crlf;     /* chunked: CRLF after data to skip */
    char head[4096];
    size_t hlen;
    char line[8192];    /* current (de-chunked) line */
    size_t llen;
    size_t sent;
    uint64_t events;
} sconn;

static const char *g_host = "127.0.0.1";
static int g_port;
static const char *g_sub_path;
static const char *g_pub_path;
static int g_size = 128;
static double g_rate = 200, g_duration = 5, g_warmup = 1, g_drain = 3;
static uint64_t g_t0, g_win_lo, g_win_hi;     /* publisher schedule (ns) */
static atomic_uint_fast64_t g_published, g_pub_in_window;
static atomic_int g_pub_done, g_pub_failed;
static char g_pub_err[512];
static uint32_t *g_hist;
static uint64_t g_win_deliveries, g_all_deliveries, g_bad;
static double g_max_delay_us;
static uint64_t g_last_delivery, g_pub_end;
static struct timespec g_cl0;

static int connect_to(int nonblock)
{
    int fd = socket(AF_INET, SOCK_STREAM | (nonblock ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    inet_pton(AF_INET, g_host, &a.sin_addr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) < 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

static void pub_fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_pub_err, sizeof g_pub_err, fmt, ap);
    va_end(ap);
    atomic_store(&g_pub_failed, 1);
}

/* Reads one HTTP response (Content-Length framed) from a blocking fd; returns the status. */
static int read_response(int fd, char *buf, size_t cap, size_t *have)
{
    for (;;) {
        char *e = memmem(buf, *have, "\r\n\r\n", 4);
        if (e) {
            size_t hl = (size_t)(e - buf) + 4;
            long cl = 0;
            char *p = strcasestr(buf, "\ncontent-length:");
            if (p && p < e)
                cl = strtol(p + 16, NULL, 10);
            if (*have >= hl + (size_t)cl) {
                int st = atoi(buf + 9);
                memmove(buf, buf + hl + cl, *have - hl - cl);
                *have -= hl + cl;
                return st;
            }
        }
        if (*have >= cap)
            return -1;
        ssize_t n = read(fd, buf + *have, cap - *have);
        if (n <= 0)
            return -1;
        *have += (size_t)n;
    }
}

static void *publisher(void *arg)
{
    (void)arg;
    int fd = connect_to(0);
    if (fd < 0) {
        pub_fail("publisher: connect: %s", strerror(errno));
        atomic_store(&g_pub_done, 1);
        return NULL;
    }
    static char req[70000], resp[65536];
    size_t have = 0;
    uint64_t total = (uint64_t)(g_rate * (g_warmup + g_duration));
    uint64_t gap = (uint64_t)(1e9 / g_rate);
    for (uint64_t i = 0; i < total && !atomic_load(&g_pub_failed); i++) {
        uint64_t due = g_t0 + i * gap, t;
        while ((t = now_ns()) < due) {
            uint64_t d = due - t;
            if (d > 200000) {
                struct timespec ts = {0, (long)(d - 100000)};
                nanosleep(&ts, NULL);
            }
        }
        int hl = snprintf(req, sizeof req,
                          "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: text/plain\r\n"
                          "Content-Length: %d\r\n\r\n", g_pub_path, g_host, g_port, g_size);
        char stamp[64]; /* taken as late as possible: just before the write */
        int bl = snprintf(stamp, sizeof stamp, "%llu %llu ", (unsigned long long)i,
                          (unsigned long long)now_ns());
        memcpy(req + hl, stamp, (size_t)bl);
        memset(req + hl + bl, 'x', (size_t)(g_size - bl));
        bl = g_size;
        size_t len = (size_t)hl + (size_t)bl, off = 0;
        uint64_t ts_i = g_t0 + i * gap;
        while (off < len) {
            ssize_t n = write(fd, req + off, len - off);
            if (n <= 0) {
                pub_fail("publisher: write: %s", strerror(errno));
                break;
            }
            off += (size_t)n;
        }
        atomic_fetch_add(&g_published, 1);
        if (ts_i >= g_win_lo && ts_i < g_win_hi)
            atomic_fetch_add(&g_pub_in_window, 1);
        int st = read_response(fd, resp, sizeof resp - 1, &have);
        if (st < 200 || st > 299) {
            pub_fail("publisher: POST %s answered %d", g_pub_path, st);
            break;
        }
    }
    close(fd);
    g_pub_end = now_ns();
    atomic_store(&g_pub_done, 1);
    return NULL;
}

static void on_line(sconn *c, uint64_t t)
{
    if (c->llen > 0 && c->line[c->llen - 1] == '\r')
        c->llen--;
    c->line[c->llen] = 0;
    if (strncmp(c->line, "data:", 5) != 0)
        return;
    char *p = c->line + 5;
    if (*p == ' ')
        p++;
    char *e;
    unsigned long long seq = strtoull(p, &e, 10);
    if (e == p || *e != ' ') {
        g_bad++;
        return;
    }
    unsigned long long ts = strtoull(e + 1, NULL, 10);
    (void)seq;
    c->events++;
    g_all_deliveries++;
    g_last_delivery = t;
    {
        /* window by schedule slot (a publisher that falls behind still stamps its send time) */
        uint64_t gap = (uint64_t)(1e9 / g_rate);
        uint64_t slot = g_t0 + seq * gap;
        if (slot >= g_win_lo && slot < g_win_hi) {
            double d = t > ts ? (double)(t - ts) / 1000.0 : 0;
            size_t b = (size_t)(d / HIST_US_STEP);
            if (b >= HIST_N)
                b = HIST_N - 1;
            g_hist[b]++;
            g_win_deliveries++;
            if (d > g_max_delay_us)
                g_max_delay_us = d;
        }
    }
}

static void feed_body(sconn *c, const char *p, size_t n, uint64_t t)
{
    while (n > 0) {
        if (c->chunked) {
            if (c->chunk_crlf) { /* skip CRLF after chunk data */
                if (*p == '\r' || *p == '\n') {
                    if (*p == '\n')
                        c->chunk_crlf = 0;
                    p++, n--;
                    continue;
                }
                c->chunk_crlf = 0;
            }
            if (c->chunk_left < 0) { /* size line: hex [;ext] CRLF, kept in head[] */
                char ch = *p++;
                n--;
                if (ch == '\n') {
                    c->head[c->hlen] = 0;
                    c->chunk_left = strtoll(c->head, NULL, 16);
                    c->hlen = 0;
                    if (c->chunk_left == 0)
                        c->chunk_left = -1; /* last chunk: the stream ended */
                } else if (c->hlen < sizeof c->head - 1) {
                    c->head[c->hlen++] = ch;
                }
                continue;
            }
            size_t take = n < (size_t)c->chunk_left ? n : (size_t)c->chunk_left;
            for (size_t i = 0; i < take; i++) {
                if (p[i] == '\n') {
                    on_line(c, t);
                    c->llen = 0;
                } else if (c->llen < sizeof c->line - 1) {
                    c->line[c->llen++] = p[i];
                }
            }
            p += take, n -= take;
            c->chunk_left -= (int64_t)take;
            if (c->chunk_left == 0) {
                c->chunk_left = -1;
                c->chunk_crlf = 1;
            }
        } else {
            for (size_t i = 0; i < n; i++) {
                if (p[i] == '\n') {
                    on_line(c, t);
                    c->llen = 0;
                } else if (c->llen < sizeof c->line - 1) {
                    c->line[c->llen++] = p[i];
                }
            }
            return;
        }
    }
}

static void jstr(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", *s);
        else
            putchar(*s);
    }
    putchar('"');
}

static int fail_json(const char *fmt, ...)
{
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    printf("{\"ok\":false,\"mode\":\"ssefan\",\"error\":");
    jstr(buf);
    printf("}\n");
    return 1;
}

static double pct(uint64_t total, double q)
{
    if (!total)
        return 0;
    uint64_t want = (uint64_t)(q * (double)total), acc = 0;
    if (want >= total)
        want = total - 1;
    for (size_t i = 0; i < HIST_N; i++) {
        acc += g_hist[i];
        if (acc > want)
            return (double)(i * HIST_US_STEP + HIST_US_STEP / 2);
    }
    return (double)HIST_N * HIST_US_STEP;
}

static int64_t proc_cpu_ms(int pid);

/* utime+stime of a comma-separated PID list (nginx: master and workers), ms; -1 if unreadable */
static int64_t pids_cpu_ms(const char *pids)
{
    int64_t sum = 0;
    for (const char *p = pids; p && *p;) {
        char *e;
        long pid = strtol(p, &e, 10);
        if (e == p || pid <= 0)
            return -1;
        int64_t v = proc_cpu_ms((int)pid);
        if (v < 0)
            return -1;
        sum += v;
        p = *e == ',' ? e + 1 : e;
        if (*e && *e != ',')
            return -1;
    }
    return sum;
}

static int64_t proc_cpu_ms(int pid)
{
    char path[64], buf[2048];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long ut = 0, st = 0;
    /* fields after ')': state(3) ... utime(14) stime(15) */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (int64_t)((ut + st) * 1000 / (unsigned long)sysconf(_SC_CLK_TCK));
}

int bench_sse_main(int argc, char **argv);

static void usage(void)
{
    fprintf(stderr,
            "usage: herald-bench ssefan --port P --sub-path PATH --pub-path PATH [--host H]\n"
            "         [--conns 1000] [--rate 200] [--size 128] [--duration 5] [--warmup 1]\n"
            "         [--drain 3] [--server-pid PID[,PID...]] [--timeout S]\n");
}

int bench_sse_main(int argc, char **argv)
{
    int conns = 1000;
    const char *server_pid = NULL;
    double timeout = 30;
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) {
            usage();
            return 2;
        }
        i++;
        if (!strcmp(k, "--host")) g_host = v;
        else if (!strcmp(k, "--port")) g_port = atoi(v);
        else if (!strcmp(k, "--sub-path")) g_sub_path = v;
        else if (!strcmp(k, "--pub-path")) g_pub_path = v;
        else if (!strcmp(k, "--conns")) conns = atoi(v);
        else if (!strcmp(k, "--rate")) g_rate = atof(v);
        else if (!strcmp(k, "--size")) g_size = atoi(v);
        else if (!strcmp(k, "--duration")) g_duration = atof(v);
        else if (!strcmp(k, "--warmup")) g_warmup = atof(v);
        else if (!strcmp(k, "--drain")) g_drain = atof(v);
        else if (!strcmp(k, "--server-pid")) server_pid = v;
        else if (!strcmp(k, "--timeout")) timeout = atof(v);
        else {
            usage();
            return 2;
        }
    }
    if (!g_port || !g_sub_path || !g_pub_path || conns < 1 || g_rate <= 0 || g_size < 48 ||
        g_size > 60000) {
        usage();
        return 2;
    }
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)conns + 64) {
        rl.rlim_cur = rl.rlim_max < (rlim_t)conns + 64 ? rl.rlim_max : (rlim_t)conns + 64;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    g_hist = calloc(HIST_N, sizeof *g_hist);
    sconn *cs = calloc((size_t)conns, sizeof *cs);
    if (!g_hist || !cs)
        return fail_json("out of memory");
    int ep = epoll_create1(0);
    uint64_t t_start = now_ns(), hard = t_start + (uint64_t)(timeout * 1e9);
    char req[2048];
    int rl_len = snprintf(req, sizeof req,
                          "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n"
                          "Cache-Control: no-cache\r\n\r\n", g_sub_path, g_host, g_port);
    for (int i = 0; i < conns; i++) {
        cs[i].fd = connect_to(1);
        if (cs[i].fd < 0)
            return fail_json("connect #%d: %s", i, strerror(errno));
        cs[i].chunk_left = -1;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)i};
        epoll_ctl(ep, EPOLL_CTL_ADD, cs[i].fd, &ev);
    }
    int ready = 0, open_n = conns;
    pthread_t pt;
    int pub_started = 0;
    uint64_t all_ready_at = 0, pub_done_at = 0;
    struct epoll_event evs[256];
    static char buf[1 << 16];
    int64_t cpu0 = -1, cpu1 = -1;
    for (;;) {
        uint64_t t = now_ns();
        if (t > hard)
            return fail_json("timed out after %.0f s (%d/%d subscribed, %llu published, %llu "
                             "deliveries)", timeout, ready, conns,
                             (unsigned long long)atomic_load(&g_published),
                             (unsigned long long)g_all_deliveries);
        if (!pub_started && ready == conns) {
            if (!all_ready_at)
                all_ready_at = t;
            if (t - all_ready_at > 200000000ull) {
                g_t0 = now_ns() + 1000000;
                g_win_lo = g_t0 + (uint64_t)(g_warmup * 1e9);
                g_win_hi = g_win_lo + (uint64_t)(g_duration * 1e9);
                cpu0 = server_pid ? pids_cpu_ms(server_pid) : -1;
                clock_gettime(CLOCK_THREAD_CPUTIME_ID, &g_cl0);
                pthread_create(&pt, NULL, publisher, NULL);
                pub_started = 1;
            }
        }
        if (pub_started && atomic_load(&g_pub_done)) {
            if (!pub_done_at) {
                pub_done_at = t;
                cpu1 = server_pid ? pids_cpu_ms(server_pid) : -1;
            }
            uint64_t want = atomic_load(&g_published) * (uint64_t)conns;
            if (g_all_deliveries >= want || t - pub_done_at > (uint64_t)(g_drain * 1e9) ||
                atomic_load(&g_pub_failed))
                break;
        }
        if (open_n == 0 && !pub_started)
            return fail_json("all subscriber connections closed before publishing");
        int n = epoll_wait(ep, evs, 256, 20);
        t = now_ns();
        for (int k = 0; k < n; k++) {
            sconn *c = &cs[evs[k].data.u32];
            if (c->fd < 0)
                continue;
            if (c->state == 0 && (evs[k].events & EPOLLOUT)) {
                ssize_t w = write(c->fd, req + c->sent, (size_t)rl_len - c->sent);
                if (w > 0)
                    c->sent += (size_t)w;
                if (c->sent == (size_t)rl_len) {
                    c->state = 1;
                    struct epoll_event ev = {.events = EPOLLIN, .data.u32 = evs[k].data.u32};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                } else if (w < 0 && errno != EAGAIN) {
                    return fail_json("subscriber #%u: write: %s", evs[k].data.u32, strerror(errno));
                }
            }
            if (!(evs[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                continue;
            for (;;) {
                ssize_t r = read(c->fd, buf, sizeof buf);
                if (r < 0 && errno == EAGAIN)
                    break;
                if (r <= 0) {
                    if (c->state < 2)
                        return fail_json("subscriber #%u: connection closed before the answer "
                                         "head (%s)", evs[k].data.u32, r < 0 ? strerror(errno) : "EOF");
                    close(c->fd);
                    c->fd = -1;
                    open_n--;
                    break;
                }
                size_t off = 0;
                if (c->state == 1) {
                    size_t take = (size_t)r;
                    if (take > sizeof c->head - 1 - c->hlen)
                        take = sizeof c->head - 1 - c->hlen;
                    memcpy(c->head + c->hlen, buf, take);
                    c->hlen += take;
                    c->head[c->hlen] = 0;
                    char *e = strstr(c->head, "\r\n\r\n");
                    if (!e) {
                        if (c->hlen >= sizeof c->head - 1)
                            return fail_json("subscriber: answer head too large");
                        continue;
                    }
                    size_t hl = (size_t)(e - c->head) + 4;
                    int st = atoi(c->head + 9);
                    if (st != 200) {
                        char *nl = strchr(c->head, '\r');
                        if (nl)
                            *nl = 0;
                        return fail_json("subscriber: GET %s answered '%s'", g_sub_path, c->head);
                    }
                    c->chunked = strcasestr(c->head, "transfer-encoding: chunked") != NULL;
                    off = hl - (c->hlen - take);
                    c->hlen = 0;
                    c->state = 2;
                    ready++;
                }
                if ((size_t)r > off)
                    feed_body(c, buf + off, (size_t)r - off, t);
            }
        }
    }
    struct timespec cl1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cl1);
    double client_cpu_s = (double)(cl1.tv_sec - g_cl0.tv_sec) + (double)(cl1.tv_nsec - g_cl0.tv_nsec) / 1e9;
    double run_s = (double)(now_ns() - g_t0) / 1e9;
    if (pub_started)
        pthread_join(pt, NULL);
    uint64_t pubw = atomic_load(&g_pub_in_window), want = pubw * (uint64_t)conns;
    uint64_t mn = UINT64_MAX, mx = 0;
    for (int i = 0; i < conns; i++) {
        if (cs[i].events < mn) mn = cs[i].events;
        if (cs[i].events > mx) mx = cs[i].events;
        if (cs[i].fd >= 0)
            close(cs[i].fd);
    }
    double secs = g_duration;
    double pub_s = g_pub_end > g_t0 ? (double)(g_pub_end - g_t0) / 1e9 : 0;
    double all_s = g_last_delivery > g_t0 ? (double)(g_last_delivery - g_t0) / 1e9 : 0;
    uint64_t pub_all = atomic_load(&g_published);
    printf("{\"ok\":%s,\"mode\":\"ssefan\",", atomic_load(&g_pub_failed) ? "false" : "true");
    if (atomic_load(&g_pub_failed)) {
        printf("\"error\":");
        jstr(g_pub_err);
        printf(",");
    }
    printf("\"conns\":%d,\"rate\":%.0f,\"size\":%d,\"duration_s\":%.2f,\"published\":%llu,"
           "\"published_in_window\":%llu,\"expected_deliveries\":%llu,\"deliveries\":%llu,"
           "\"delivered_fraction\":%.4f,\"window_per_s\":%.1f,\"target_per_s\":%.1f,"
           "\"p50_us\":%.0f,\"p99_us\":%.0f,\"p999_us\":%.0f,\"max_us\":%.0f,"
           "\"per_conn_min\":%llu,\"per_conn_max\":%llu,\"closed_conns\":%d,\"bad_lines\":%llu,"
           "\"publish_s\":%.3f,\"publish_rate\":%.1f,\"all_deliveries\":%llu,"
           "\"all_expected\":%llu,\"all_s\":%.3f,\"msgs_per_s\":%.1f",
           conns, g_rate, g_size, secs, (unsigned long long)atomic_load(&g_published),
           (unsigned long long)pubw, (unsigned long long)want,
           (unsigned long long)g_win_deliveries, want ? (double)g_win_deliveries / (double)want : 0,
           (double)g_win_deliveries / secs, g_rate * conns, pct(g_win_deliveries, 0.50),
           pct(g_win_deliveries, 0.99), pct(g_win_deliveries, 0.999), g_max_delay_us,
           (unsigned long long)mn, (unsigned long long)mx, conns - open_n,
           (unsigned long long)g_bad, pub_s, pub_s > 0 ? (double)pub_all / pub_s : 0,
           (unsigned long long)g_all_deliveries, (unsigned long long)(pub_all * (uint64_t)conns),
           all_s, all_s > 0 ? (double)g_all_deliveries / all_s : 0);
    if (pub_started && run_s > 0)
        printf(",\"client_busiest_thread_util\":%.3f", client_cpu_s / run_s);
    if (cpu0 >= 0 && cpu1 >= 0) {
        if (pub_s > 0)
            printf(",\"server_cpu_util\":%.3f", (double)(cpu1 - cpu0) / 1000.0 / pub_s);
        if (g_all_deliveries)
            printf(",\"server_cpu_ns_per_msg\":%.0f",
                   (double)(cpu1 - cpu0) * 1e6 / (double)g_all_deliveries);
    }
    printf("}\n");
    return atomic_load(&g_pub_failed) ? 1 : 0;
}
