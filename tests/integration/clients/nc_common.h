// SPDX-License-Identifier: Apache-2.0
// nc_common.h: what the nats.c test clients (nc_*.c) share. Header-only (static inline),
// so the Makefile, which builds one client per tests/integration/clients/*.c, needs no
// change. Every helper keeps the clients' contract: setup errors print the failed call
// and the library's error stack on stderr and exit 2.
#ifndef NC_COMMON_H
#define NC_COMMON_H

#include <nats/nats.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Runs a nats.c call; anything but NATS_OK is a setup error: report it and exit 2.
#define CHECK(call)                                                                      \
    do {                                                                                 \
        natsStatus s_ = (call);                                                          \
        if (s_ != NATS_OK) {                                                             \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #call,                \
                    natsStatus_GetText(s_));                                             \
            nats_PrintLastErrorStack(stderr);                                            \
            exit(2);                                                                     \
        }                                                                                \
    } while (0)

// Exits 2 with "usage: PROGRAM ARGS" unless there are at least `min_argc` arguments
// (argv[0] included).
static inline void nc_require_args(int argc, char **argv, int min_argc, const char *args) {
    if (argc < min_argc) {
        fprintf(stderr, "usage: %s %s\n", argv[0], args);
        exit(2);
    }
}

// COUNT as a number of at least 1; exits 2 with "bad COUNT" otherwise.
static inline long nc_positive_count(const char *arg) {
    long count = strtol(arg, NULL, 10);
    if (count < 1) {
        fprintf(stderr, "bad COUNT\n");
        exit(2);
    }
    return count;
}

// Connection options every client uses: URL, no reconnects, a 5 s connect timeout.
static inline natsOptions *nc_options(const char *url) {
    natsOptions *opts = NULL;
    CHECK(natsOptions_Create(&opts));
    CHECK(natsOptions_SetURL(opts, url));
    CHECK(natsOptions_SetAllowReconnect(opts, false));
    CHECK(natsOptions_SetTimeout(opts, 5000));
    return opts;
}

// Connects with `opts` and destroys them (the connection keeps its own copy).
static inline natsConnection *nc_connect_with(natsOptions *opts) {
    natsConnection *nc = NULL;
    CHECK(natsConnection_Connect(&nc, opts));
    natsOptions_Destroy(opts);
    return nc;
}

static inline natsConnection *nc_connect(const char *url) {
    return nc_connect_with(nc_options(url));
}

// JetStream options every client starts from: a 5 s API wait.
static inline void nc_js_options_init(jsOptions *jo) {
    jsOptions_Init(jo);
    jo->Wait = 5000;
}

// A JetStream context on `nc` with `jo` (NULL: nc_js_options_init's defaults).
static inline jsCtx *nc_jetstream(natsConnection *nc, jsOptions *jo) {
    jsOptions defaults;
    if (jo == NULL) {
        nc_js_options_init(&defaults);
        jo = &defaults;
    }
    jsCtx *js = NULL;
    CHECK(natsConnection_JetStream(&js, nc, jo));
    return js;
}

// The natsStatus name for the statuses the clients report, the library's text otherwise.
static inline const char *nc_status_name(natsStatus s) {
    switch (s) {
    case NATS_OK:
        return "NATS_OK";
    case NATS_ERR:
        return "NATS_ERR";
    case NATS_NOT_FOUND:
        return "NATS_NOT_FOUND";
    case NATS_TIMEOUT:
        return "NATS_TIMEOUT";
    case NATS_NO_RESPONDERS:
        return "NATS_NO_RESPONDERS";
    default:
        return natsStatus_GetText(s);
    }
}

// Prints `s` (n bytes; NULL prints "") as a JSON string: '"' and '\\' escaped, control
// bytes as \u00XX, and bytes above 0x7e too when `escape_high` (else passed through).
static inline void nc_json_bytes(const char *s, int n, bool escape_high) {
    putchar('"');
    for (int i = 0; s != NULL && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\')
            printf("\\%c", c);
        else if (c < 0x20 || (escape_high && c > 0x7e))
            printf("\\u%04x", c);
        else
            putchar(c);
    }
    putchar('"');
}

// Prints `s` (n bytes) as a JSON string of printable ASCII.
static inline void nc_json_str(const char *s, int n) {
    nc_json_bytes(s, n, true);
}

// Ends a JSON line: "}\n", flushed (the pytest side reads the lines as they come).
static inline void nc_end_line(void) {
    printf("}\n");
    fflush(stdout);
}

static inline const char *nc_kv_op_name(kvOperation op) {
    switch (op) {
    case kvOp_Put:
        return "PUT";
    case kvOp_Delete:
        return "DEL";
    case kvOp_Purge:
        return "PURGE";
    default:
        return "UNKNOWN";
    }
}

#endif
