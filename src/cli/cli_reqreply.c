/* SPDX-License-Identifier: Apache-2.0
 *
 * `herald req` and `herald reply`: the request/reply pair.
 *
 *   req SUBJECT DATA    sends one request (with -H headers) and prints the reply payload
 *                       and a newline on stdout. Outcomes:
 *                         reply           -> exit 0
 *                         no responders   -> "herald: no responders available for request",
 *                                            exit 1 (the server's 503 status, which nats.c
 *                                            reports as NATS_NO_RESPONDERS at once)
 *                         no reply within --timeout -> "herald: request timed out ...",
 *                                            exit 1
 *   reply SUBJECT DATA  answers every request on SUBJECT (optionally in --queue) with DATA,
 *                       `{{Request}}` replaced by the request payload; prints each request
 *                       in `nats sub` layout (a closed stdout pipe does not stop it, the
 *                       requests still get answered); stops after --count answered requests or on
 *                       SIGINT/SIGTERM (exit 0). Messages without a reply subject are
 *                       skipped and not counted.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>
#include <time.h>

#include "cli/cli.h"

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int req_run(const struct hr_cli_opts *opts)
{
    const char *subject = opts->args[0];
    const char *data = opts->args[1];
    size_t data_len = strlen(data);
    natsConnection *nc = NULL;
    natsMsg *request = NULL, *reply = NULL;
    char dur[24];
    natsStatus s;
    int64_t started_us;
    int rc, err;

    if (data_len > HR_CLI_MAX_PAYLOAD_BYTES || data_len > INT_MAX)
        return hr_cli_fail("payload exceeds %zu bytes", HR_CLI_MAX_PAYLOAD_BYTES);
    rc = hr_cli_conn_open(opts, false, &nc);
    if (rc != HR_CLI_EXIT_OK)
        return rc;

    s = natsMsg_Create(&request, subject, NULL, data, (int)data_len);
    if (s == NATS_OK)
        s = hr_cli_headers_apply(request, opts);
    if (s != NATS_OK) {
        rc = hr_cli_fail("cannot build the request: %s", natsStatus_GetText(s));
        goto out_destroy_request;
    }

    started_us = now_us();
    s = natsConnection_RequestMsg(&reply, nc, request, opts->timeout_ms);
    if (s == NATS_NO_RESPONDERS) {
        rc = hr_cli_fail("no responders available for request");
        goto out_destroy_request;
    }
    if (s == NATS_TIMEOUT) {
        rc = hr_cli_fail("request timed out: no reply on \"%s\" within %s", subject,
                         hr_cli_duration_format(opts->timeout_ms, dur, sizeof(dur)));
        goto out_destroy_request;
    }
    if (s != NATS_OK) {
        rc = hr_cli_fail("request on \"%s\" failed: %s", subject, natsStatus_GetText(s));
        goto out_destroy_request;
    }

    if (opts->verbose)
        fprintf(stderr, "herald: reply on \"%s\" after %.3f ms\n", natsMsg_GetSubject(reply),
                (double)(now_us() - started_us) / 1000.0);
    /* The payload and a newline, like `sub --raw`. */
    err = hr_cli_msg_print(stdout, reply, 1, true);
    if (err != 0)
        rc = hr_cli_fail("cannot write to stdout: %s", strerror(-err));
    natsMsg_Destroy(reply);

out_destroy_request:
    natsMsg_Destroy(request);
    hr_cli_conn_close(nc);
    return rc;
}

/* Answers one request (borrowed). Returns 0 or a failure exit code. */
static int reply_send(natsConnection *nc, natsMsg *request, const char *data, size_t data_len,
                      bool templated, struct hr_cli_buf *scratch)
{
    const char *body = data;
    size_t body_len = data_len;
    natsStatus s;

    if (templated) {
        int req_len = natsMsg_GetDataLength(request);
        const char *req_data = natsMsg_GetData(request);
        int err;

        scratch->len = 0;
        err = hr_cli_template_expand(scratch, data, data_len, "Request",
                                     req_data != NULL ? req_data : "",
                                     req_len > 0 ? (size_t)req_len : 0);
        if (err != 0)
            return hr_cli_fail("cannot build the reply: %s", strerror(-err));
        body = scratch->data;
        body_len = scratch->len;
    }
    if (body_len > INT_MAX)
        return hr_cli_fail("reply of %zu bytes is too large", body_len);
    s = natsConnection_Publish(nc, natsMsg_GetReply(request), body, (int)body_len);
    if (s != NATS_OK)
        return hr_cli_fail("cannot reply to \"%s\": %s", natsMsg_GetReply(request),
                           natsStatus_GetText(s));
    return HR_CLI_EXIT_OK;
}

static int reply_run(const struct hr_cli_opts *opts)
{
    const char *subject = opts->args[0];
    const char *data = opts->args[1];
    size_t data_len = strlen(data);
    bool templated = hr_cli_template_has(data, data_len, "Request");
    struct hr_cli_buf scratch;
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    uint64_t answered = 0;
    natsStatus s;
    int rc;

    hr_cli_buf_init(&scratch, HR_CLI_MAX_PAYLOAD_BYTES);
    hr_cli_signals_start();
    rc = hr_cli_conn_open(opts, true, &nc);
    if (rc != HR_CLI_EXIT_OK)
        goto out_free_scratch;
    rc = hr_cli_sub_open(nc, opts, subject, true, &sub);
    if (rc != HR_CLI_EXIT_OK)
        goto out_close;

    while (opts->count == 0 || answered < opts->count) {
        natsMsg *msg = NULL;
        enum hr_cli_next next = hr_cli_msg_next(sub, &msg);
        const char *reply_to;
        int err;

        if (next == HR_CLI_NEXT_INTERRUPTED)
            break;
        if (next == HR_CLI_NEXT_FAILED) {
            rc = HR_CLI_EXIT_FAIL;
            goto out_unsubscribe;
        }
        reply_to = natsMsg_GetReply(msg);
        if (reply_to == NULL || *reply_to == '\0') {
            if (opts->verbose)
                fprintf(stderr, "herald: skipping a message on \"%s\" without reply subject\n",
                        natsMsg_GetSubject(msg));
            natsMsg_Destroy(msg);
            continue;
        }
        answered++;
        err = hr_cli_msg_print(stdout, msg, answered, false);
        if (err != 0 && err != -EPIPE) {
            natsMsg_Destroy(msg);
            rc = hr_cli_fail("cannot write to stdout: %s", strerror(-err));
            goto out_unsubscribe;
        }
        rc = reply_send(nc, msg, data, data_len, templated, &scratch);
        natsMsg_Destroy(msg);
        if (rc != HR_CLI_EXIT_OK)
            goto out_unsubscribe;
    }

    /* The last replies may still sit in nats.c's buffer. */
    s = natsConnection_FlushTimeout(nc, opts->timeout_ms);
    if (s != NATS_OK)
        rc = hr_cli_fail("cannot flush to %s: %s", opts->server_url, natsStatus_GetText(s));

out_unsubscribe:
    natsSubscription_Destroy(sub);
out_close:
    hr_cli_conn_close(nc);
out_free_scratch:
    hr_cli_buf_cleanup(&scratch);
    return rc;
}

const struct hr_cli_cmd hr_cli_cmd_req = {
    .name = "req",
    .bit = HR_CLI_CMD_REQ,
    .arg_names = {"SUBJECT", "DATA"},
    .min_args = 2,
    .max_args = 2,
    .wildcards = false,
    .summary = "send a request and print the reply",
    .description =
        "Send DATA as a request on SUBJECT and print the reply payload. Waits at most\n"
        "--timeout (default 2s) for the reply. Exit 1 with a message on stderr when no\n"
        "one is subscribed to SUBJECT (no responders) or when no reply came in time.",
    .run = req_run,
};

const struct hr_cli_cmd hr_cli_cmd_reply = {
    .name = "reply",
    .bit = HR_CLI_CMD_REPLY,
    .arg_names = {"SUBJECT", "DATA"},
    .min_args = 2,
    .max_args = 2,
    .wildcards = true,
    .summary = "answer requests on a subject",
    .description =
        "Answer every request on SUBJECT with DATA; {{Request}} in DATA becomes the\n"
        "request payload. Prints each request received. Runs until --count requests\n"
        "were answered or until Ctrl-C (exit 0). With --queue, requests are shared\n"
        "among all repliers of the same queue group.",
    .run = reply_run,
};
