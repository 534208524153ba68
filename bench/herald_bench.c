/* SPDX-License-Identifier: Apache-2.0 */
/*
 * herald_bench.c - herald-bench: a thin load generator for NATS-protocol servers (heraldd,
 * nats-server).  One mode per invocation; the result is printed as ONE JSON line on stdout.
 *
 * Contract:
 *   - Exit 0 with {"ok":true,...}; exit 1 with {"ok":false,"error":...} when the run failed
 *     (connect, protocol error, lost/duplicated/misordered messages, deadline); exit 2 on a
 *     usage error (message on stderr).
 *   - A run never lasts longer than --timeout seconds (default 15): every wait checks the
 *     deadline and a SIGALRM watchdog ends the process 2 s after it regardless.
 *   - With --server-pid, server CPU (utime+stime from /proc/PID/stat, clock ticks -> ns) is
 *     sampled right before and after the measured interval and reported per counted message.
 *   - The thin client is used unless --client natsc (libnats; pubsub 1->1 only).
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include "bench_common.h"
#include "bench_proto.h"

#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

atomic_int bench_abort;
static _Atomic int64_t busiest_thread_ns;

int64_t bench_thread_cpu_ns(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void bench_thread_cpu_done(int64_t start_ns)
{
    int64_t d = bench_thread_cpu_ns() - start_ns;
    int64_t cur = atomic_load(&busiest_thread_ns);
    while (d > cur && !atomic_compare_exchange_weak(&busiest_thread_ns, &cur, d)) {
    }
}

int64_t bench_busiest_thread_ns(void) { return atomic_load(&busiest_thread_ns); }

static void usage(FILE *f)
{
    fputs(
        "usage: herald-bench MODE [options]\n"
        "modes:\n"
        "  pub       N publishers (--pubs) each publish --msgs; ends with a PING/PONG round trip\n"
        "  pubsub    1 publisher -> --subs subscribers (fan-out); counts msgs delivered\n"
        "  queue     1 publisher -> queue group of --queue members; counts msgs delivered\n"
        "  reqrep    requester with --window outstanding requests -> 1 responder; round trips\n"
        "  latency   publish at --rate msg/s for --duration s (after --warmup s); one-way latency\n"
        "JetStream modes (stream --stream, subject hbs.<stream>; file storage):\n"
        "  jspub     publish --msgs with PubAcks, --window outstanding; counts acked messages\n"
        "  fill      publish until the stream holds --prefill messages (kept; window 1024)\n"
        "  directget --msgs DIRECT.GET {\"seq\":N} requests, --window outstanding, over a stream\n"
        "            of --prefill messages (allow_direct; filled when short, kept)\n"
        "  pull      --members connections share a durable pull consumer: MSG.NEXT batches of\n"
        "            --batch, ack each message; consume --msgs stored messages\n"
        "  push      a durable push consumer (ack explicit) consumes --msgs stored messages\n"
        "  jslatency publish at --rate msg/s with PubAcks (--window) while a push consumer\n"
        "            receives and acks; publish -> delivery latency\n"
        "options:\n"
        "  --host H            server host (127.0.0.1)\n"
        "  --port P            server port (4222)\n"
        "  --size BYTES        payload size (128)\n"
        "  --msgs N            messages per publisher / round trips (1000000)\n"
        "  --pubs N            pub: publisher connections (1)\n"
        "  --subs K            pubsub: subscribers (1)\n"
        "  --queue N           queue: group members (4)\n"
        "  --window W          reqrep: outstanding requests (1); jspub/jslatency: PubAcks (256);\n"
        "                      directget: requests (64)\n"
        "  --rate R            latency: msgs/s (10000)\n"
        "  --duration S        latency: measured seconds (3)\n"
        "  --warmup S          latency: unrecorded seconds first (0.5)\n"
        "  --server-pid PID    report the server's CPU ns per message (/proc/PID/stat)\n"
        "  --client thin|natsc natsc = libnats (pubsub with --subs 1 only)\n"
        "  --timeout S         hard cap for the whole run, at most 15 s (15)\n"
        "  --window-bytes B    publisher flow-control window, bytes in flight (4194304)\n"
        "  --batch-bytes B     bytes per write(2) when publishing (65536)\n"
        "  --read-bytes B      read buffer per connection (1048576)\n"
        "  --subject S         subject (bench.<pid>)\n"
        "  --stream NAME       JetStream modes: stream name\n"
        "  --prefill N         directget/fill: messages the stream must hold (100000)\n"
        "  --members N         pull: member connections (1)\n"
        "  --batch N           pull: messages per MSG.NEXT request (100)\n"
        "  --keep-stream       jspub/jslatency: keep (and reuse) the stream\n"
        "  --max-ack-pending N consumer max_ack_pending (pull -1, push/jslatency 10000)\n"
        "counted unit (msgs, msgs_per_s, *_ns_per_msg): pub = published, pubsub/queue = delivered\n"
        "(M x K for fan-out), reqrep = round trips, latency = delivered, jspub/fill = acknowledged,\n"
        "directget = answers, pull/push = consumed (and acked), jslatency = delivered.\n"
        "HERALD_BENCH_DEBUG=1 prints per-connection syscall counts to stderr.\n",
        f);
}

void bench_set_error(bresult *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
}

void bench_measure_begin(const bopts *o, bmeasure *m)
{
    if (bench_machine_cpu_ns(&m->mbusy0, &m->msteal0) != 0)
        m->mbusy0 = m->msteal0 = -1;
    m->srv0 = o->server_pid > 0 ? bench_proc_cpu_ns(o->server_pid) : -1;
    m->cli0 = bench_self_cpu_ns();
    m->thr0 = bench_thread_cpu_ns();
    m->t0 = bench_now_ns();
}

void bench_measure_end(const bopts *o, bmeasure *m, bresult *r)
{
    m->t1 = bench_now_ns();
    bench_thread_cpu_done(m->thr0);
    m->cli1 = bench_self_cpu_ns();
    m->srv1 = o->server_pid > 0 ? bench_proc_cpu_ns(o->server_pid) : -1;
    int64_t busy1, steal1;
    int mok = m->mbusy0 >= 0 && bench_machine_cpu_ns(&busy1, &steal1) == 0;
    r->elapsed_s = (double)(m->t1 - m->t0) / 1e9;
    r->client_cpu_ns = m->cli1 - m->cli0;
    r->server_cpu_ns = (m->srv0 >= 0 && m->srv1 >= 0) ? m->srv1 - m->srv0 : -1;
    r->other_cpu_ns = r->steal_ns = -1;
    if (mok) {
        int64_t other = busy1 - m->mbusy0 - r->client_cpu_ns - (r->server_cpu_ns > 0 ? r->server_cpu_ns : 0);
        r->other_cpu_ns = other > 0 ? other : 0;
        r->steal_ns = steal1 - m->msteal0;
    }
}

/* --- JSON output ----------------------------------------------------------------------- */

static void json_str(FILE *f, const char *key, const char *v)
{
    fprintf(f, ",\"%s\":\"", key);
    for (const unsigned char *p = (const unsigned char *)v; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void json_num(FILE *f, const char *key, double v, int decimals)
{
    fprintf(f, ",\"%s\":%.*f", key, decimals, v);
}

static void print_result(const bopts *o, const bresult *r, int ok)
{
    FILE *f = stdout;
    fprintf(f, "{\"ok\":%s", ok ? "true" : "false");
    json_str(f, "mode", o->mode_name);
    json_str(f, "client", o->natsc ? "natsc" : "thin");
    fprintf(f, ",\"size\":%zu", o->size);
    switch (o->mode) {
    case MODE_PUB: fprintf(f, ",\"pubs\":%d", o->pubs); break;
    case MODE_PUBSUB: fprintf(f, ",\"subs\":%d", o->subs); break;
    case MODE_QUEUE: fprintf(f, ",\"queue\":%d", o->queue); break;
    case MODE_REQREP: fprintf(f, ",\"window\":%d", o->window); break;
    case MODE_LATENCY: json_num(f, "rate", o->rate, 0); break;
    case MODE_JSPUB:
    case MODE_DIRECTGET: fprintf(f, ",\"window\":%d", o->window); break;
    case MODE_PULL: fprintf(f, ",\"members\":%d,\"batch\":%d", o->members, o->batch); break;
    case MODE_JSLATENCY:
        json_num(f, "rate", o->rate, 0);
        fprintf(f, ",\"window\":%d", o->window);
        break;
    default: break;
    }
    if (!ok)
        json_str(f, "error", r->error[0] ? r->error : "unknown error");
    fprintf(f, ",\"msgs\":%llu,\"sent\":%llu,\"recv\":%llu", (unsigned long long)r->msgs,
            (unsigned long long)r->sent, (unsigned long long)r->recv);
    json_num(f, "elapsed_s", r->elapsed_s, 6);
    if (r->elapsed_s > 0 && r->msgs) {
        double rate = (double)r->msgs / r->elapsed_s;
        json_num(f, "msgs_per_s", rate, 0);
        json_num(f, "payload_mb_per_s", rate * (double)o->size / 1e6, 2);
    }
    if (r->server_cpu_ns >= 0 && o->server_pid > 0) {
        fprintf(f, ",\"server_pid\":%d", o->server_pid);
        json_num(f, "server_cpu_s", (double)r->server_cpu_ns / 1e9, 3);
        if (r->msgs)
            json_num(f, "server_cpu_ns_per_msg", (double)r->server_cpu_ns / (double)r->msgs, 1);
        if (r->elapsed_s > 0)
            json_num(f, "server_cpu_util", (double)r->server_cpu_ns / 1e9 / r->elapsed_s, 3);
    }
    if (r->msgs)
        json_num(f, "client_cpu_ns_per_msg", (double)r->client_cpu_ns / (double)r->msgs, 1);
    if (r->elapsed_s > 0)
        json_num(f, "client_busiest_thread_util",
                 (double)bench_busiest_thread_ns() / 1e9 / r->elapsed_s, 3);
    if (r->elapsed_s > 0 && r->other_cpu_ns >= 0) {
        /* CPU used by everything else on the machine (tick resolution) and hypervisor steal */
        json_num(f, "other_cpu_util", (double)r->other_cpu_ns / 1e9 / r->elapsed_s, 2);
        json_num(f, "steal_util", (double)r->steal_ns / 1e9 / r->elapsed_s, 2);
    }
    if (r->window_msgs)
        fprintf(f, ",\"window_msgs\":%llu", (unsigned long long)r->window_msgs);
    if (r->has_lat) {
        fprintf(f, ",\"lat_samples\":%llu", (unsigned long long)r->lat_samples);
        json_num(f, "achieved_rate", r->achieved_rate, 0);
        json_num(f, "p50_us", r->lat_p50_us, 1);
        json_num(f, "p90_us", r->lat_p90_us, 1);
        json_num(f, "p99_us", r->lat_p99_us, 1);
        json_num(f, "p999_us", r->lat_p999_us, 1);
        json_num(f, "max_us", r->lat_max_us, 1);
        json_num(f, "mean_us", r->lat_mean_us, 1);
    }
    if (o->mode >= MODE_JSPUB)
        json_str(f, "stream", o->stream);
    if (r->has_stream)
        fprintf(f, ",\"stream_msgs\":%llu,\"stream_last_seq\":%llu",
                (unsigned long long)r->stream_msgs, (unsigned long long)r->stream_last_seq);
    if (r->prefilled) {
        fprintf(f, ",\"prefilled\":%llu", (unsigned long long)r->prefilled);
        json_num(f, "prefill_s", r->prefill_s, 3);
    }
    if (r->server_version[0])
        json_str(f, "server_version", r->server_version);
    if (r->server_name[0])
        json_str(f, "server_name", r->server_name);
    fputs("}\n", f);
    fflush(f);
}

/* --- watchdog -------------------------------------------------------------------------- */

static void on_alarm(int sig)
{
    (void)sig;
    static const char msg[] =
        "{\"ok\":false,\"error\":\"watchdog: run exceeded its --timeout, killed\"}\n";
    ssize_t w = write(STDOUT_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(1);
}

/* --- options ----------------------------------------------------------------------------- */

static int parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
    char *e;
    unsigned long long v = strtoull(s, &e, 10);
    if (!*s || *e || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int parse_dbl(const char *s, double lo, double hi, double *out)
{
    char *e;
    double v = strtod(s, &e);
    if (!*s || *e || !(v >= lo) || !(v <= hi))
        return -1;
    *out = v;
    return 0;
}

int bench_sse_main(int argc, char **argv); /* bench_sse.c: HTTP Server-Sent Events fan-out */

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "ssefan") == 0)
        return bench_sse_main(argc - 1, argv + 1);
    bopts o;
    memset(&o, 0, sizeof o);
    o.host = "127.0.0.1";
    o.port = 4222;
    o.size = 128;
    o.msgs = 1000000;
    o.pubs = 1;
    o.subs = 1;
    o.queue = 4;
    o.window = 1;
    o.rate = 10000;
    o.duration = 3;
    o.warmup = 0.5;
    o.timeout = 15;
    o.window_bytes = 4u << 20;
    o.batch_bytes = 64u << 10;
    o.read_bytes = 1u << 20;
    o.prefill = 100000;
    o.members = 1;
    o.batch = 100;
    snprintf(o.subject, sizeof o.subject, "bench.%ld", (long)getpid());

    enum {
        O_HOST = 256, O_PORT, O_SIZE, O_MSGS, O_PUBS, O_SUBS, O_QUEUE, O_WINDOW, O_RATE,
        O_DURATION, O_WARMUP, O_PID, O_CLIENT, O_TIMEOUT, O_WBYTES, O_BBYTES, O_RBYTES, O_SUBJ,
        O_MODE, O_HELP, O_STREAM, O_PREFILL, O_MEMBERS, O_BATCH, O_KEEP, O_MAP
    };
    static const struct option lo[] = {
        {"host", required_argument, 0, O_HOST},       {"port", required_argument, 0, O_PORT},
        {"size", required_argument, 0, O_SIZE},       {"msgs", required_argument, 0, O_MSGS},
        {"pubs", required_argument, 0, O_PUBS},       {"subs", required_argument, 0, O_SUBS},
        {"queue", required_argument, 0, O_QUEUE},     {"window", required_argument, 0, O_WINDOW},
        {"rate", required_argument, 0, O_RATE},       {"duration", required_argument, 0, O_DURATION},
        {"warmup", required_argument, 0, O_WARMUP},   {"server-pid", required_argument, 0, O_PID},
        {"client", required_argument, 0, O_CLIENT},   {"timeout", required_argument, 0, O_TIMEOUT},
        {"window-bytes", required_argument, 0, O_WBYTES},
        {"batch-bytes", required_argument, 0, O_BBYTES},
        {"read-bytes", required_argument, 0, O_RBYTES},
        {"subject", required_argument, 0, O_SUBJ},    {"mode", required_argument, 0, O_MODE},
        {"help", no_argument, 0, O_HELP},             {"stream", required_argument, 0, O_STREAM},
        {"prefill", required_argument, 0, O_PREFILL}, {"members", required_argument, 0, O_MEMBERS},
        {"batch", required_argument, 0, O_BATCH},     {"keep-stream", no_argument, 0, O_KEEP},
        {"max-ack-pending", required_argument, 0, O_MAP},
        {0, 0, 0, 0},
    };
    const char *mode = NULL;
    int ch;
    uint64_t u;
    int li = 0;
    while ((ch = getopt_long(argc, argv, "h", lo, &li)) != -1) {
        int bad = 0;
        switch (ch) {
        case O_HOST: o.host = optarg; break;
        case O_PORT: bad = parse_u64(optarg, 1, 65535, &u); o.port = (int)u; break;
        case O_SIZE: bad = parse_u64(optarg, 0, 1 << 20, &u); o.size = (size_t)u; break;
        case O_MSGS: bad = parse_u64(optarg, 1, 100000000, &o.msgs); break;
        case O_PUBS: bad = parse_u64(optarg, 1, 64, &u); o.pubs = (int)u; break;
        case O_SUBS: bad = parse_u64(optarg, 1, 256, &u); o.subs = (int)u; break;
        case O_QUEUE: bad = parse_u64(optarg, 1, 256, &u); o.queue = (int)u; break;
        case O_WINDOW:
            bad = parse_u64(optarg, 1, 100000, &u);
            o.window = (int)u;
            o.window_set = 1;
            break;
        case O_STREAM:
            if (!*optarg || strlen(optarg) >= sizeof o.stream || strpbrk(optarg, " \t\r\n.*>"))
                bad = 1;
            else
                snprintf(o.stream, sizeof o.stream, "%s", optarg);
            break;
        case O_PREFILL: bad = parse_u64(optarg, 1, 100000000, &o.prefill); break;
        case O_MEMBERS: bad = parse_u64(optarg, 1, 64, &u); o.members = (int)u; break;
        case O_BATCH: bad = parse_u64(optarg, 1, 100000, &u); o.batch = (int)u; break;
        case O_KEEP: o.keep_stream = 1; break;
        case O_MAP: {
            char *e;
            long long v = strtoll(optarg, &e, 10);
            bad = !*optarg || *e || v < -1 || v == 0;
            o.max_ack_pending = v;
            break;
        }
        case O_RATE: bad = parse_dbl(optarg, 1, 1e7, &o.rate); break;
        case O_DURATION: bad = parse_dbl(optarg, 0.01, 14, &o.duration); break;
        case O_WARMUP: bad = parse_dbl(optarg, 0, 14, &o.warmup); break;
        case O_PID: bad = parse_u64(optarg, 1, 1u << 30, &u); o.server_pid = (int)u; break;
        case O_CLIENT:
            if (strcmp(optarg, "thin") == 0)
                o.natsc = 0;
            else if (strcmp(optarg, "natsc") == 0)
                o.natsc = 1;
            else
                bad = 1;
            break;
        case O_TIMEOUT: bad = parse_dbl(optarg, 1, 15, &o.timeout); break;
        case O_WBYTES: bad = parse_u64(optarg, 4096, 1u << 30, &u); o.window_bytes = (size_t)u; break;
        case O_BBYTES: bad = parse_u64(optarg, 1, 64u << 20, &u); o.batch_bytes = (size_t)u; break;
        case O_RBYTES: bad = parse_u64(optarg, 65536, 256u << 20, &u); o.read_bytes = (size_t)u; break;
        case O_SUBJ:
            if (!*optarg || strlen(optarg) >= sizeof o.subject - 8 || strpbrk(optarg, " \t\r\n"))
                bad = 1;
            else
                snprintf(o.subject, sizeof o.subject, "%s", optarg);
            break;
        case O_MODE: mode = optarg; break;
        case 'h':
        case O_HELP: usage(stdout); return 0;
        default: usage(stderr); return 2;
        }
        if (bad) {
            fprintf(stderr, "herald-bench: bad value for --%s: %s\n", lo[li].name, optarg);
            return 2;
        }
    }
    if (!mode && optind < argc)
        mode = argv[optind++];
    if (!mode || optind < argc) {
        usage(stderr);
        return 2;
    }
    static const char *const names[] = {"pub",       "pubsub", "queue", "reqrep",
                                        "latency",   "jspub",  "directget", "pull",
                                        "push",      "jslatency", "fill"};
    o.mode = -1;
    for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strcmp(mode, names[i]) == 0)
            o.mode = i;
    if (o.mode < 0) {
        fprintf(stderr, "herald-bench: unknown mode '%s'\n", mode);
        return 2;
    }
    o.mode_name = names[o.mode];
    if (o.natsc && !(o.mode == MODE_PUBSUB && o.subs == 1)) {
        fprintf(stderr, "herald-bench: --client natsc supports pubsub with --subs 1 only\n");
        return 2;
    }
    if ((o.mode == MODE_JSPUB || o.mode == MODE_JSLATENCY) && !o.window_set)
        o.window = 256;
    if (o.mode == MODE_DIRECTGET && !o.window_set)
        o.window = 64;
    if (o.mode == MODE_JSFILL && !o.window_set)
        o.window = 1024;
    if ((o.mode == MODE_LATENCY || o.mode == MODE_JSLATENCY) && o.warmup + o.duration > o.timeout - 1) {
        fprintf(stderr, "herald-bench: --warmup + --duration must stay under --timeout - 1\n");
        return 2;
    }

    signal(SIGPIPE, SIG_IGN);
    signal(SIGALRM, on_alarm);
    alarm((unsigned)o.timeout + 2);
    bench_deadline_ns = bench_now_ns() + (int64_t)(o.timeout * 1e9);

    bresult r;
    memset(&r, 0, sizeof r);
    r.server_cpu_ns = -1;
    int rc;
    if (o.natsc)
        rc = bench_run_natsc_pubsub(&o, &r);
    else if (o.mode >= MODE_JSPUB)
        rc = bench_run_js(&o, &r);
    else if (o.mode == MODE_PUB)
        rc = bench_run_pub(&o, &r);
    else if (o.mode == MODE_PUBSUB || o.mode == MODE_QUEUE)
        rc = bench_run_pubsub(&o, &r);
    else if (o.mode == MODE_REQREP)
        rc = bench_run_reqrep(&o, &r);
    else
        rc = bench_run_latency(&o, &r);
    alarm(0);
    print_result(&o, &r, rc == 0);
    return rc == 0 ? 0 : 1;
}
