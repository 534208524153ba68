/* SPDX-License-Identifier: Apache-2.0
 *
 * The NATS plumbing the `herald` commands share: connecting, synchronous subscriptions,
 * the SIGINT/SIGTERM stop flag, adding -H headers, and printing received messages.
 * It owns no command logic and never exits the process.
 *
 * Connection modes (hr_cli_conn_open):
 *   one-shot  (pub, req)    no reconnect: a lost server is an error, not a silent buffer.
 *   long-lived (sub, reply) reconnect forever, reporting disconnect/reconnect on stderr:
 *                           CONNECTED -> RECONNECTING -> CONNECTED ... until SIGINT.
 *
 * Invariants:
 *   1. The only global is `stop_requested`, a sig_atomic_t written by the signal handler
 *      and read by hr_cli_msg_next(); nothing else is done in signal context.
 *   2. A blocked hr_cli_msg_next() notices a signal within POLL_MS.
 *   3. Message output goes to the FILE passed in (stdout), diagnostics to stderr.
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

#define POLL_MS 100

static volatile sig_atomic_t stop_requested;

int hr_cli_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("herald: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    return HR_CLI_EXIT_FAIL;
}

/* nats.c also calls this when we close the connection ourselves; stay quiet then. */
static void on_disconnected(natsConnection *nc, void *closure)
{
    (void)closure;
    if (!natsConnection_IsClosed(nc))
        fputs("herald: disconnected from the server; reconnecting\n", stderr);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
    char url[256];

    (void)closure;
    if (natsConnection_GetConnectedUrl(nc, url, sizeof(url)) == NATS_OK)
        fprintf(stderr, "herald: reconnected to %s\n", url);
}

/* Points nopts at `urls`: one URL, or a comma-separated list of at most
 * HR_CLI_MAX_SERVERS (as $NATS_URL often is). nats.c copies the strings. */
static natsStatus servers_set(natsOptions *nopts, const char *urls)
{
    const char *list[HR_CLI_MAX_SERVERS];
    char *copy, *save = NULL;
    natsStatus s = NATS_OK;
    int n = 0;

    if (strchr(urls, ',') == NULL)
        return natsOptions_SetURL(nopts, urls);
    copy = strdup(urls);
    if (copy == NULL)
        return NATS_NO_MEMORY;
    for (char *tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        if (*tok == '\0')
            continue;
        if (n == HR_CLI_MAX_SERVERS) {
            s = NATS_INVALID_ARG;
            goto out_free_copy;
        }
        list[n++] = tok;
    }
    s = n > 0 ? natsOptions_SetServers(nopts, list, n) : NATS_INVALID_ARG;
out_free_copy:
    free(copy);
    return s;
}

int hr_cli_conn_open(const struct hr_cli_opts *opts, bool long_lived, natsConnection **out_nc)
{
    natsOptions *nopts = NULL;
    natsStatus s;
    int rc = HR_CLI_EXIT_OK;

    *out_nc = NULL;
    s = natsOptions_Create(&nopts);
    if (s != NATS_OK)
        return hr_cli_fail("cannot initialise nats.c: %s", natsStatus_GetText(s));
    s = servers_set(nopts, opts->server_url);
    if (s == NATS_OK)
        s = natsOptions_SetTimeout(nopts, opts->timeout_ms);
    if (s == NATS_OK)
        s = natsOptions_SetName(nopts, "herald");
    if (s == NATS_OK && long_lived)
        s = natsOptions_SetMaxReconnect(nopts, -1);
    if (s == NATS_OK && long_lived)
        s = natsOptions_SetDisconnectedCB(nopts, on_disconnected, NULL);
    if (s == NATS_OK && long_lived)
        s = natsOptions_SetReconnectedCB(nopts, on_reconnected, NULL);
    if (s == NATS_OK && !long_lived)
        s = natsOptions_SetAllowReconnect(nopts, false);
    if (s != NATS_OK) {
        rc = hr_cli_fail("invalid server URL %s: %s", opts->server_url, natsStatus_GetText(s));
        goto out_destroy_opts;
    }

    s = natsConnection_Connect(out_nc, nopts);
    if (s != NATS_OK) {
        *out_nc = NULL;
        rc = hr_cli_fail("cannot connect to %s: %s", opts->server_url, natsStatus_GetText(s));
        goto out_destroy_opts;
    }
    if (opts->verbose) {
        char url[256];
        if (natsConnection_GetConnectedUrl(*out_nc, url, sizeof(url)) == NATS_OK)
            fprintf(stderr, "herald: connected to %s\n", url);
    }

out_destroy_opts:
    natsOptions_Destroy(nopts);
    return rc;
}

void hr_cli_conn_close(natsConnection *nc)
{
    if (nc != NULL)
        natsConnection_Destroy(nc);
}

int hr_cli_sub_open(natsConnection *nc, const struct hr_cli_opts *opts, const char *subject,
                    bool announce, natsSubscription **out_sub)
{
    natsStatus s;

    if (opts->queue != NULL)
        s = natsConnection_QueueSubscribeSync(out_sub, nc, subject, opts->queue);
    else
        s = natsConnection_SubscribeSync(out_sub, nc, subject);
    if (s != NATS_OK) {
        *out_sub = NULL;
        return hr_cli_fail("cannot subscribe to \"%s\": %s", subject, natsStatus_GetText(s));
    }
    /* Round trip: once the PONG is back the server has our SUB, so a publisher started
     * after the announcement below cannot race us. */
    s = natsConnection_FlushTimeout(nc, opts->timeout_ms);
    if (s != NATS_OK) {
        natsSubscription_Destroy(*out_sub);
        *out_sub = NULL;
        return hr_cli_fail("cannot subscribe to \"%s\": %s", subject, natsStatus_GetText(s));
    }
    if (announce) {
        if (opts->queue != NULL)
            fprintf(stderr, "herald: listening on \"%s\" in queue \"%s\"\n", subject,
                    opts->queue);
        else
            fprintf(stderr, "herald: listening on \"%s\"\n", subject);
    }
    return HR_CLI_EXIT_OK;
}

static void on_stop_signal(int signo)
{
    (void)signo;
    stop_requested = 1;
}

void hr_cli_signals_start(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    /* A second Ctrl-C kills the default way, should the first not get through. */
    sa.sa_flags = SA_RESETHAND;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

enum hr_cli_next hr_cli_msg_next(natsSubscription *sub, natsMsg **out_msg)
{
    natsStatus s;

    for (;;) {
        if (stop_requested)
            return HR_CLI_NEXT_INTERRUPTED;
        s = natsSubscription_NextMsg(out_msg, sub, POLL_MS);
        if (s == NATS_OK)
            return HR_CLI_NEXT_MSG;
        if (s == NATS_TIMEOUT)
            continue;
        if (s == NATS_SLOW_CONSUMER) {
            fputs("herald: slow consumer: messages were dropped\n", stderr);
            continue;
        }
        hr_cli_fail("subscription ended: %s", natsStatus_GetText(s));
        return HR_CLI_NEXT_FAILED;
    }
}

natsStatus hr_cli_headers_apply(natsMsg *msg, const struct hr_cli_opts *opts)
{
    char key[HR_CLI_MAX_HEADER_KEY + 1];
    natsStatus s = NATS_OK;

    for (int i = 0; i < opts->nheaders && s == NATS_OK; i++) {
        const struct hr_cli_header *h = &opts->headers[i];
        memcpy(key, h->key, h->key_len); /* key_len <= HR_CLI_MAX_HEADER_KEY (options) */
        key[h->key_len] = '\0';
        s = natsMsgHeader_Add(msg, key, h->value);
    }
    return s;
}

/* One "Key: value" line per header value. nats.c hands back arrays we must free. */
static void headers_print(FILE *out, natsMsg *msg)
{
    const char **keys = NULL;
    int nkeys = 0;

    if (natsMsgHeader_Keys(msg, &keys, &nkeys) != NATS_OK)
        return; /* NATS_NOT_FOUND: no headers */
    for (int k = 0; k < nkeys; k++) {
        const char **values = NULL;
        int nvalues = 0;
        if (natsMsgHeader_Values(msg, keys[k], &values, &nvalues) != NATS_OK)
            continue;
        for (int v = 0; v < nvalues; v++)
            fprintf(out, "%s: %s\n", keys[k], values[v] != NULL ? values[v] : "");
        free((void *)values);
    }
    if (nkeys > 0)
        fputc('\n', out);
    free((void *)keys);
}

int hr_cli_msg_print(FILE *out, natsMsg *msg, uint64_t n, bool raw)
{
    const char *data = natsMsg_GetData(msg);
    int len = natsMsg_GetDataLength(msg);
    const char *reply = natsMsg_GetReply(msg);

    if (data == NULL || len < 0)
        len = 0;
    if (!raw) {
        if (reply != NULL && *reply != '\0')
            fprintf(out, "[#%" PRIu64 "] Received on \"%s\" with reply \"%s\"\n", n,
                    natsMsg_GetSubject(msg), reply);
        else
            fprintf(out, "[#%" PRIu64 "] Received on \"%s\"\n", n, natsMsg_GetSubject(msg));
        headers_print(out, msg);
    }
    if (len > 0)
        fwrite(data, 1, (size_t)len, out);
    if (raw || len == 0 || data[len - 1] != '\n')
        fputc('\n', out);
    if (!raw)
        fputc('\n', out);
    errno = 0;
    if (fflush(out) != 0 || ferror(out)) {
        int err = errno != 0 ? -errno : -EIO;
        clearerr(out); /* each call reports its own failure */
        return err;
    }
    return 0;
}
