/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_proto.h - the thin NATS client used by herald-bench (bench/ only; nothing in src/).
 *
 * Contract:
 *   - One `bconn` is one TCP connection to a NATS-protocol server, owned by one thread.
 *     bc_connect() does the INFO / CONNECT / PING / PONG handshake (verbose off, headers on)
 *     and leaves the socket non-blocking with TCP_NODELAY.
 *   - Inbound bytes are read in large chunks (the buffer is allocated once) and run through a
 *     minimal streaming parser for MSG, HMSG, PING, PONG, INFO, +OK and -ERR.  Each MSG/HMSG
 *     calls c->on_msg with pointers into the read buffer (valid only during the call); the
 *     callback sees the body; for HMSG, c->hdr/c->hdr_len point at the header block meanwhile
 *     (status lines such as "NATS/1.0 408 Request Timeout" are read from there).  PING is answered with PONG.
 *     -ERR sets c->failed and c->err.  No allocation happens per message.
 *   - Outbound: callers either append protocol text to c->wbuf (bc_out_*) and flush it, or
 *     hand their own prebuilt buffers to bc_send_nb().  Nothing blocks past the process-wide
 *     deadline (bench_deadline_ns); every wait returns -1 with c->err set instead.
 */
#ifndef HERALD_BENCH_PROTO_H
#define HERALD_BENCH_PROTO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct bconn bconn;

/* Called for each MSG/HMSG.  subject/reply are not NUL-terminated; reply_len may be 0. */
typedef void (*bmsg_fn)(bconn *c, const char *subj, size_t subj_len, const char *reply,
                        size_t reply_len, const uint8_t *payload, size_t len);

struct bconn {
    int fd;
    /* inbound */
    uint8_t *rbuf;
    size_t rcap, rlen, rpos;
    /* outbound staging (control lines, replies, requests) */
    uint8_t *wbuf;
    size_t wcap, wlen, woff;
    bmsg_fn on_msg;
    void *ud;
    const uint8_t *hdr;  /* during on_msg: the HMSG header block ("NATS/1.0 ...\r\n..."), else NULL */
    size_t hdr_len;
    uint64_t msgs_in;    /* MSG + HMSG frames parsed */
    uint64_t pongs;      /* PONGs received */
    uint64_t pings_out;  /* PINGs we sent (bc_out_ping) */
    uint64_t st_reads, st_read_bytes, st_eagain, st_writes, st_write_bytes, st_polls; /* stats */
    int failed;
    int eof;
    int info_seen;
    int hold_out;        /* 1: caller writes frames directly; don't auto-flush wbuf */
    char err[256];
    char server_version[48];
    char server_name[64];
};

/* Record the first error on c (sets c->failed). */
void bc_fail(bconn *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Monotonic clock, ns. */
int64_t bench_now_ns(void);
/* Process-wide hard deadline (CLOCK_MONOTONIC ns); 0 = none. */
extern int64_t bench_deadline_ns;

int bc_connect(bconn *c, const char *host, int port, size_t rcap, size_t wcap,
               char *err, size_t errlen);
void bc_close(bconn *c);

/* Append to the staging buffer (grows it when needed; growth is rare, never per message
 * in steady state). */
void bc_out_reserve(bconn *c, size_t n);
void bc_out_raw(bconn *c, const void *p, size_t n);
void bc_out_sub(bconn *c, const char *subj, const char *queue, unsigned sid);
void bc_out_ping(bconn *c);

/* Non-blocking write of the staging buffer: 1 all written, 0 some left (EAGAIN), -1 error. */
int bc_out_try(bconn *c);
/* Write the whole staging buffer, polling; reads (and parses) inbound data meanwhile. */
int bc_out_flush(bconn *c);

/* Non-blocking send of caller bytes: bytes written (0 on EAGAIN), -1 on error. */
ssize_t bc_send_nb(bconn *c, const void *p, size_t n);

/* One non-blocking read + parse: >0 bytes read, 0 nothing available, -1 error/EOF. */
int bc_read_once(bconn *c);
/* Read until EAGAIN (bounded by `max_reads`). Returns 0 or -1. */
int bc_drain(bconn *c, int max_reads);

/* poll() one connection: events from POLLIN/POLLOUT; returns revents, 0 on timeout, -1. */
int bc_poll(bconn *c, short events, int timeout_ms);

/* Send PING, flush, wait until the matching PONG arrives (messages are parsed meanwhile). */
int bc_roundtrip(bconn *c);
/* Wait until c->pongs >= target (reads/parses meanwhile). */
int bc_wait_pongs(bconn *c, uint64_t target);

/* Writes the decimal form of v at p, returns the length (no NUL). */
size_t bench_u64toa(char *p, uint64_t v);

/* Seconds of server CPU (utime+stime) of /proc/PID/stat in ns; -1 when unreadable. */
int64_t bench_proc_cpu_ns(int pid);
/* This process' CPU time (user+sys), ns. */
int64_t bench_self_cpu_ns(void);
/* Machine-wide busy (user+nice+system+irq+softirq) and steal CPU time from /proc/stat, ns,
 * summed over CPUs; 0 on success. */
int bench_machine_cpu_ns(int64_t *busy, int64_t *steal);

#endif
