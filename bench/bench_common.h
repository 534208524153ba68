/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_common.h - options, result record and mode entry points shared by herald-bench's
 * translation units (herald_bench.c: CLI + JSON; bench_thin.c: thin-client modes;
 * bench_natsc.c: the libnats 1->1 variant; bench_js.c: JetStream streams and consumers).
 *
 * Contract: a mode fills `bresult` and returns 0, or sets r->error and returns -1.  The
 * measured interval is bracketed by bench_measure_begin()/bench_measure_end(), which also
 * sample server CPU (utime+stime of --server-pid from /proc) and this process' CPU.
 * r->msgs is the unit that rate and ns/msg are computed over (see herald_bench.c --help).
 */
#ifndef HERALD_BENCH_COMMON_H
#define HERALD_BENCH_COMMON_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

enum {
    MODE_PUB, MODE_PUBSUB, MODE_QUEUE, MODE_REQREP, MODE_LATENCY,
    /* JetStream (bench_js.c) */
    MODE_JSPUB, MODE_DIRECTGET, MODE_PULL, MODE_PUSH, MODE_JSLATENCY, MODE_JSFILL
};

typedef struct {
    int mode;
    const char *mode_name;
    const char *host;
    int port;
    int natsc;           /* --client natsc */
    size_t size;         /* payload bytes */
    uint64_t msgs;       /* messages per publisher / round trips */
    int pubs;            /* pub: publisher connections */
    int subs;            /* pubsub: subscribers (fan-out) */
    int queue;           /* queue: group members */
    int window;          /* reqrep: outstanding requests */
    double rate;         /* latency: msgs/s */
    double duration;     /* latency: measured seconds */
    double warmup;       /* latency: seconds sent before recording */
    int server_pid;      /* 0 = not measured */
    double timeout;      /* hard cap on the whole invocation, seconds */
    size_t window_bytes; /* publisher flow-control window (in-flight bytes) */
    size_t batch_bytes;  /* bytes per write(2) on the publishing path */
    size_t read_bytes;   /* read buffer per connection */
    char subject[128];
    /* JetStream modes (bench_js.c) */
    char stream[64];     /* --stream: stream name; its subject is hbs.<name> */
    uint64_t prefill;    /* directget: messages the stream must hold (filled when short) */
    int members;         /* pull: member connections sharing one durable consumer */
    int batch;           /* pull: batch per CONSUMER.MSG.NEXT request */
    int keep_stream;     /* jspub/jslatency: don't delete the stream afterwards */
    int64_t max_ack_pending; /* consumer config (0 = mode default) */
    int window_set;      /* --window given */
} bopts;

typedef struct {
    int64_t thr0; /* calling thread's CPU at begin */
    int64_t t0, t1;
    int64_t srv0, srv1;
    int64_t cli0, cli1;
    int64_t mbusy0, msteal0; /* machine-wide, /proc/stat; -1 unknown */
} bmeasure;

typedef struct {
    char error[512];
    uint64_t msgs;  /* counted unit: published (pub), delivered (pubsub/queue/latency),
                       round trips (reqrep) */
    uint64_t sent;  /* messages published by the bench */
    uint64_t recv;  /* messages received by the bench */
    double elapsed_s;
    int64_t server_cpu_ns; /* -1 when unknown */
    int64_t client_cpu_ns;
    int64_t other_cpu_ns; /* machine busy - server - client; -1 unknown */
    int64_t steal_ns;     /* hypervisor steal; -1 unknown */
    uint64_t window_msgs;
    char server_version[48];
    char server_name[64];
    int has_lat;
    uint64_t lat_samples;
    double lat_p50_us, lat_p90_us, lat_p99_us, lat_p999_us, lat_max_us, lat_mean_us;
    double achieved_rate; /* latency: publish rate actually achieved */
    int has_stream;       /* JetStream modes: the stream's state after the run */
    uint64_t stream_msgs, stream_last_seq;
    uint64_t prefilled;   /* messages published (unmeasured) to bring the stream up to size */
    double prefill_s;
} bresult;

extern atomic_int bench_abort; /* set by any thread that failed; others stop soon after */

/* Per-thread CPU: each client thread that works during the measured interval calls
 * bench_thread_cpu_done(start) when it finishes; the busiest one is reported, so a result
 * produced by a saturated client thread can be flagged. */
int64_t bench_thread_cpu_ns(void);
void bench_thread_cpu_done(int64_t start_ns);
int64_t bench_busiest_thread_ns(void);

void bench_measure_begin(const bopts *o, bmeasure *m);
void bench_measure_end(const bopts *o, bmeasure *m, bresult *r);
void bench_set_error(bresult *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

int bench_run_pub(const bopts *o, bresult *r);
int bench_run_pubsub(const bopts *o, bresult *r); /* also MODE_QUEUE */
int bench_run_reqrep(const bopts *o, bresult *r);
int bench_run_latency(const bopts *o, bresult *r);
int bench_run_natsc_pubsub(const bopts *o, bresult *r);
int bench_run_js(const bopts *o, bresult *r); /* MODE_JSPUB .. MODE_JSFILL */

#endif
