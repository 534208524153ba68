/* SPDX-License-Identifier: Apache-2.0
 *
 * `herald pub` and `herald sub`: the two fire-and-forget commands.
 *
 *   pub SUBJECT [DATA]  publishes DATA (or stdin, see hr_cli_payload_load) --count times,
 *                       with -H headers and an optional --reply subject; `{{Count}}` in
 *                       the payload becomes the 1-based message number. It flushes (a
 *                       PING/PONG round trip bounded by --timeout) before exiting, so exit 0
 *                       means the server has read every message.
 *   sub SUBJECT         prints each message in `nats sub` layout (or only payloads with
 *                       --raw) until --count messages, SIGINT, SIGTERM or a closed stdout
 *                       pipe (all exit 0), or until the connection is lost for good
 *                       (exit 1).
 *
 * Neither command interprets payloads beyond the placeholder; bytes pass through.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <string.h>

#include "cli/cli.h"

static int pub_run(const struct hr_cli_opts *opts)
{
    const char *subject = opts->args[0];
    uint64_t count = opts->count != 0 ? opts->count : 1;
    struct hr_cli_buf tmpl, payload;
    natsConnection *nc = NULL;
    bool templated;
    natsStatus s;
    int rc;

    hr_cli_buf_init(&tmpl, HR_CLI_MAX_PAYLOAD_BYTES);
    hr_cli_buf_init(&payload, HR_CLI_MAX_PAYLOAD_BYTES);
    rc = hr_cli_payload_load(opts->nargs > 1 ? opts->args[1] : NULL, true, &tmpl);
    if (rc != HR_CLI_EXIT_OK)
        goto out_free_bufs;
    templated = hr_cli_template_has(tmpl.data, tmpl.len, "Count");

    rc = hr_cli_conn_open(opts, false, &nc);
    if (rc != HR_CLI_EXIT_OK)
        goto out_free_bufs;

    for (uint64_t i = 1; i <= count; i++) {
        const struct hr_cli_buf *body = &tmpl;
        natsMsg *msg = NULL;

        if (templated) {
            char index[24];
            int n = snprintf(index, sizeof(index), "%" PRIu64, i);
            payload.len = 0;
            int err = hr_cli_template_expand(&payload, tmpl.data, tmpl.len, "Count", index,
                                             (size_t)n);
            if (err != 0) {
                rc = hr_cli_fail("cannot build message %" PRIu64 ": %s", i, strerror(-err));
                goto out_close;
            }
            body = &payload;
        }
        if (body->len > INT_MAX) { /* nats.c takes an int length */
            rc = hr_cli_fail("payload of %zu bytes is too large", body->len);
            goto out_close;
        }
        s = natsMsg_Create(&msg, subject, opts->reply_to, body->data, (int)body->len);
        if (s == NATS_OK)
            s = hr_cli_headers_apply(msg, opts);
        if (s == NATS_OK)
            s = natsConnection_PublishMsg(nc, msg);
        natsMsg_Destroy(msg);
        if (s != NATS_OK) {
            rc = hr_cli_fail("cannot publish to \"%s\": %s", subject, natsStatus_GetText(s));
            goto out_close;
        }
    }

    s = natsConnection_FlushTimeout(nc, opts->timeout_ms);
    if (s != NATS_OK) {
        rc = hr_cli_fail("cannot flush to %s: %s", opts->server_url, natsStatus_GetText(s));
        goto out_close;
    }
    if (opts->verbose)
        fprintf(stderr, "herald: published %" PRIu64 " message%s to \"%s\"\n", count,
                count == 1 ? "" : "s", subject);

out_close:
    hr_cli_conn_close(nc);
out_free_bufs:
    hr_cli_buf_cleanup(&payload);
    hr_cli_buf_cleanup(&tmpl);
    return rc;
}

static int sub_run(const struct hr_cli_opts *opts)
{
    const char *subject = opts->args[0];
    natsConnection *nc = NULL;
    natsSubscription *sub = NULL;
    uint64_t received = 0;
    int rc;

    hr_cli_signals_start();
    rc = hr_cli_conn_open(opts, true, &nc);
    if (rc != HR_CLI_EXIT_OK)
        return rc;
    rc = hr_cli_sub_open(nc, opts, subject, !opts->raw || opts->verbose, &sub);
    if (rc != HR_CLI_EXIT_OK)
        goto out_close;

    while (opts->count == 0 || received < opts->count) {
        natsMsg *msg = NULL;
        enum hr_cli_next next = hr_cli_msg_next(sub, &msg);
        int err;

        if (next == HR_CLI_NEXT_INTERRUPTED)
            break;
        if (next == HR_CLI_NEXT_FAILED) {
            rc = HR_CLI_EXIT_FAIL;
            goto out_unsubscribe;
        }
        received++;
        err = hr_cli_msg_print(stdout, msg, received, opts->raw);
        natsMsg_Destroy(msg);
        if (err == -EPIPE)
            break; /* the reader is done (`herald sub x | head -1`): a quiet success */
        if (err != 0) {
            rc = hr_cli_fail("cannot write to stdout: %s", strerror(-err));
            goto out_unsubscribe;
        }
    }
    if (opts->verbose)
        fprintf(stderr, "herald: received %" PRIu64 " message%s\n", received,
                received == 1 ? "" : "s");

out_unsubscribe:
    natsSubscription_Destroy(sub);
out_close:
    hr_cli_conn_close(nc);
    return rc;
}

const struct hr_cli_cmd hr_cli_cmd_pub = {
    .name = "pub",
    .bit = HR_CLI_CMD_PUB,
    .arg_names = {"SUBJECT", "DATA"},
    .min_args = 1,
    .max_args = 2,
    .wildcards = false,
    .summary = "publish a message",
    .description =
        "Publish DATA to SUBJECT. Without DATA the payload is read from stdin when stdin\n"
        "is not a terminal, else it is empty. With --count N the message is published N\n"
        "times and {{Count}} in DATA becomes the message number (1..N). Prints nothing\n"
        "on success unless -v.",
    .run = pub_run,
};

const struct hr_cli_cmd hr_cli_cmd_sub = {
    .name = "sub",
    .bit = HR_CLI_CMD_SUB,
    .arg_names = {"SUBJECT"},
    .min_args = 1,
    .max_args = 1,
    .wildcards = true,
    .summary = "print the messages published on a subject",
    .description =
        "Subscribe to SUBJECT (wildcards * and > allowed) and print each message:\n"
        "'[#n] Received on \"subject\"', its headers, then its payload. --raw prints only\n"
        "payloads, one per line. Runs until --count messages arrived or until Ctrl-C\n"
        "(exit 0); 'herald: listening on ...' on stderr means the subscription is live.",
    .run = sub_run,
};
