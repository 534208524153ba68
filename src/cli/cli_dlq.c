/* SPDX-License-Identifier: Apache-2.0
 *
 * `herald dlq replay STREAM [--keep] [--limit N]`: sends the dead letters kept in STREAM
 * back to the subjects they came from (docs/consumers.md, "Replaying dead letters"). A
 * dead letter is a message carrying the headers Herald's consumer_ack.c adds when it gives
 * up on a message: `Herald-Dead-Letter-Subject` names the original subject, the other
 * `Herald-Dead-Letter-*` headers say why. This file owns only the replay loop; connecting
 * and the failure line come from cli_conn.c. It speaks plain JetStream through nats.c, so
 * it works against heraldd or nats-server.
 *
 * Per message of STREAM, in sequence order from the first to the last sequence that
 * js_GetStreamInfo reported at the start (gaps, "no message found", are passed over):
 *
 *   no Herald-Dead-Letter-Subject header -> SKIPPED (left in STREAM, counted)
 *   js_PublishMsg(subject, payload, headers minus every Herald-Dead-Letter-* header)
 *     PubAck          -> js_DeleteMsg(STREAM, seq) unless --keep -> REPLAYED
 *     error / no ack  -> FAILED (the dead letter stays in STREAM)
 *   delete fails      -> FAILED (replayed, but still in STREAM)
 *
 * Invariants:
 *   D1. A dead letter is deleted only after a PubAck proved it stored again. A subject no
 *       stream captures gets "no responders" from js_PublishMsg: that is a failure, never
 *       a fallback to a core publish, which would prove nothing and lose the message if
 *       nobody listens.
 *   D2. The `Nats-Msg-Id` Herald gave the dead letter (`hr-dlq.<stream>.<consumer>.<seq>`)
 *       is kept, so a replay interrupted between publish and delete and run again is
 *       deduplicated by the target stream within its duplicate window (the PubAck says
 *       "duplicate", and the dead letter is then deleted).
 *   D3. Bounded: at most the sequences seen at the start are visited (messages dead-
 *       lettered meanwhile wait for the next run), one message held at a time, and with
 *       --limit N at most N dead letters are attempted (skipped messages do not count).
 *   D4. Output: one line per message on stdout (`replayed <seq> -> <subject> (stream <S>
 *       seq <N>)` or `skipped <seq>: no Herald-Dead-Letter-Subject header`), then the
 *       summary line; every failure is one "herald: " line on stderr. Exit 0 when nothing
 *       failed, 1 when some dead letter failed or STREAM could not be read, 2 usage error.
 *
 * `dlq` parses its own argv (hr_cli_dlq_main, called by main() when the first word after
 * the global options is `dlq`): --server/-s, --timeout, -v and -h as everywhere, plus
 * --keep and --limit, before or after `dlq`. dlq_cmd_run() serves only the command table
 * (`herald --help`) and any path main() does not divert.
 */
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/cli.h"

#define DLQ_HDR_PREFIX "Herald-Dead-Letter-"
#define DLQ_HDR_SUBJECT "Herald-Dead-Letter-Subject"
#define DLQ_STREAM_NAME_MAX 255
#define DLQ_LIMIT_MAX UINT64_C(1000000000000)

struct dlq_args {
    struct hr_cli_opts conn; /* server_url, timeout_ms, verbose; the rest unused */
    const char *stream;
    bool keep;
    uint64_t limit; /* 0: no limit */
};

struct dlq_counts {
    uint64_t replayed;
    uint64_t skipped;
    uint64_t failed;
};

/* ---- one message -------------------------------------------------------------------- */

/* Returns a new message (owned by the caller) for `subject` with dl's payload and every
 * header of dl (borrowed) except the Herald-Dead-Letter-* ones. */
static natsStatus replay_msg_build(natsMsg *dl, const char *subject, natsMsg **out)
{
    const char **keys = NULL;
    int nkeys = 0;
    natsStatus s;

    *out = NULL;
    s = natsMsg_Create(out, subject, NULL, natsMsg_GetData(dl), natsMsg_GetDataLength(dl));
    if (s != NATS_OK)
        return s;
    s = natsMsgHeader_Keys(dl, &keys, &nkeys);
    if (s == NATS_NOT_FOUND)
        return NATS_OK;
    for (int i = 0; s == NATS_OK && i < nkeys; i++) {
        const char **values = NULL;
        int nvalues = 0;

        if (strncasecmp(keys[i], DLQ_HDR_PREFIX, sizeof(DLQ_HDR_PREFIX) - 1) == 0)
            continue;
        s = natsMsgHeader_Values(dl, keys[i], &values, &nvalues);
        if (s == NATS_NOT_FOUND) {
            s = NATS_OK;
            continue;
        }
        for (int v = 0; s == NATS_OK && v < nvalues; v++)
            s = natsMsgHeader_Add(*out, keys[i], values[v]);
        free((void *)values);
    }
    free((void *)keys);
    if (s != NATS_OK) {
        natsMsg_Destroy(*out);
        *out = NULL;
    }
    return s;
}

static const char *js_error_text(natsStatus s, jsErrCode jerr)
{
    if (s == NATS_NO_RESPONDERS)
        return "no responders (no stream captures the subject)";
    if (jerr != 0)
        return nats_GetLastError(NULL) != NULL ? nats_GetLastError(NULL) : natsStatus_GetText(s);
    return natsStatus_GetText(s);
}

/* Replays dead letter `dl` (borrowed), stored at `seq` of a->stream. Counts the outcome. */
static void replay_one(jsCtx *js, const struct dlq_args *a, uint64_t seq, natsMsg *dl,
                       struct dlq_counts *n)
{
    const char *subject = NULL;
    natsMsg *msg = NULL;
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    natsStatus s;

    if (natsMsgHeader_Get(dl, DLQ_HDR_SUBJECT, &subject) != NATS_OK || subject == NULL ||
        *subject == '\0') {
        printf("skipped %" PRIu64 ": no " DLQ_HDR_SUBJECT " header\n", seq);
        n->skipped++;
        return;
    }
    s = replay_msg_build(dl, subject, &msg);
    if (s != NATS_OK) {
        (void)hr_cli_fail("dead letter %" PRIu64 ": cannot build the message for \"%s\": %s", seq,
                          subject, natsStatus_GetText(s));
        n->failed++;
        return;
    }
    s = js_PublishMsg(&pa, js, msg, NULL, &jerr);
    natsMsg_Destroy(msg);
    if (s != NATS_OK || pa == NULL) {
        (void)hr_cli_fail("dead letter %" PRIu64 ": cannot replay to \"%s\": %s; kept", seq,
                          subject, js_error_text(s, jerr));
        n->failed++;
        goto out_pa;
    }
    if (!a->keep) {
        jerr = 0;
        s = js_DeleteMsg(js, a->stream, seq, NULL, &jerr);
        if (s != NATS_OK) {
            (void)hr_cli_fail("dead letter %" PRIu64 ": replayed to \"%s\" (stream %s seq %" PRIu64
                              ") but cannot delete it from %s: %s",
                              seq, subject, pa->Stream, pa->Sequence, a->stream,
                              js_error_text(s, jerr));
            n->failed++;
            goto out_pa;
        }
    }
    printf("replayed %" PRIu64 " -> %s (stream %s seq %" PRIu64 "%s)\n", seq, subject, pa->Stream,
           pa->Sequence, pa->Duplicate ? ", duplicate" : "");
    n->replayed++;
out_pa:
    jsPubAck_Destroy(pa);
}

/* ---- the run ------------------------------------------------------------------------- */

static int dlq_replay(const struct dlq_args *a)
{
    struct dlq_counts n = {0, 0, 0};
    natsConnection *nc = NULL;
    jsStreamInfo *si = NULL;
    jsCtx *js = NULL;
    jsOptions jo;
    jsErrCode jerr = 0;
    uint64_t first, last;
    natsStatus s;
    int rc;

    rc = hr_cli_conn_open(&a->conn, false, &nc);
    if (rc != HR_CLI_EXIT_OK)
        return rc;
    jsOptions_Init(&jo);
    jo.Wait = a->conn.timeout_ms;
    s = natsConnection_JetStream(&js, nc, &jo);
    if (s != NATS_OK) {
        rc = hr_cli_fail("cannot use JetStream: %s", natsStatus_GetText(s));
        goto out_close;
    }
    s = js_GetStreamInfo(&si, js, a->stream, NULL, &jerr);
    if (s != NATS_OK || si == NULL) {
        if (jerr == JSStreamNotFoundErr || (s == NATS_NOT_FOUND && si == NULL))
            rc = hr_cli_fail("no stream named %s", a->stream);
        else
            rc = hr_cli_fail("cannot read stream %s: %s", a->stream, js_error_text(s, jerr));
        goto out_js;
    }
    first = si->State.FirstSeq;
    last = si->State.Msgs == 0 ? 0 : si->State.LastSeq;
    if (a->conn.verbose)
        fprintf(stderr, "herald: %s holds %" PRIu64 " messages (seq %" PRIu64 "..%" PRIu64 ")\n",
                a->stream, si->State.Msgs, first, last);

    for (uint64_t seq = first; last != 0 && seq <= last; seq++) {
        natsMsg *dl = NULL;

        if (a->limit != 0 && n.replayed + n.failed >= a->limit)
            break;
        jerr = 0;
        s = js_GetMsg(&dl, js, a->stream, seq, NULL, &jerr);
        if (s == NATS_NOT_FOUND || jerr == JSNoMessageFoundErr) {
            natsMsg_Destroy(dl);
            continue; /* deleted or expired meanwhile: a gap */
        }
        if (s != NATS_OK) {
            (void)hr_cli_fail("cannot read %s seq %" PRIu64 ": %s; stopping", a->stream, seq,
                              js_error_text(s, jerr));
            n.failed++;
            natsMsg_Destroy(dl);
            break;
        }
        replay_one(js, a, seq, dl, &n);
        natsMsg_Destroy(dl);
        if (fflush(stdout) != 0)
            break;
    }
    printf("%" PRIu64 " replayed, %" PRIu64 " skipped, %" PRIu64 " failed%s%s%s\n", n.replayed,
           n.skipped, n.failed, a->keep ? " (kept in " : "", a->keep ? a->stream : "",
           a->keep ? ")" : "");
    rc = n.failed == 0 ? HR_CLI_EXIT_OK : HR_CLI_EXIT_FAIL;

    jsStreamInfo_Destroy(si);
out_js:
    jsCtx_Destroy(js);
out_close:
    hr_cli_conn_close(nc);
    return rc;
}

/* ---- argv ---------------------------------------------------------------------------- */

#define DLQ_USAGE "usage: herald dlq replay STREAM [--keep] [--limit N] [--server URL]\n"

void hr_cli_dlq_help(FILE *out)
{
    fputs(DLQ_USAGE
          "\n"
          "Sends the dead letters kept in STREAM (a stream on a consumer's\n"
          "dead_letter_subject, e.g. DLQ on dlq.>) back to the subject each came from, its\n"
          "Herald-Dead-Letter-Subject header. The payload and headers are published again\n"
          "without the Herald-Dead-Letter-* headers, as a JetStream publish: only a PubAck\n"
          "counts, and then the dead letter is deleted from STREAM (unless --keep). A subject\n"
          "no stream captures fails (no responders) and its dead letter stays. Messages without\n"
          "the header are skipped. Prints one line per message and a summary.\n"
          "\n"
          "Options:\n"
          "      --keep               leave replayed dead letters in STREAM\n"
          "      --limit N            replay at most N dead letters (1..1000000000000)\n"
          "  -s, --server URL         server URL (default: $HERALD_URL, else $NATS_URL, "
          "else " HR_CLI_DEFAULT_URL ")\n"
          "      --timeout DUR        connect and JetStream API timeout (default 2s)\n"
          "  -v, --verbose            report progress on stderr\n"
          "  -h, --help               show this help and exit\n"
          "\n"
          "Exit status: 0 all dead letters replayed, 1 some failed or STREAM unreadable,\n"
          "2 usage error.\n",
          out);
}

#define DLQ_USAGE_AFTER DLQ_USAGE "Try 'herald dlq --help'.\n"

/* A JetStream stream name: 1..255 bytes, no blanks, control bytes, '.', '*', '>', '/'. */
static bool stream_name_ok(const char *name)
{
    size_t len = strlen(name);
    if (len == 0 || len > DLQ_STREAM_NAME_MAX)
        return false;
    for (const char *p = name; *p != '\0'; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f || strchr(".*>/\\", *p) != NULL)
            return false;
    }
    return true;
}

static int args_finish(struct dlq_args *a, const char *sub)
{
    if (sub == NULL)
        return hr_cli_usage_fail(DLQ_USAGE_AFTER, "missing %s (replay)", "COMMAND");
    if (strcmp(sub, "replay") != 0)
        return hr_cli_usage_fail(DLQ_USAGE_AFTER, "unknown dlq command '%s' (replay)", sub);
    if (a->stream == NULL)
        return hr_cli_usage_fail(DLQ_USAGE_AFTER, "missing %s", "STREAM");
    if (!stream_name_ok(a->stream))
        return hr_cli_usage_fail(DLQ_USAGE_AFTER, "invalid stream name '%s'", a->stream);
    if (a->conn.server_url == NULL)
        a->conn.server_url = hr_cli_default_server_url();
    return HR_CLI_EXIT_OK;
}

int hr_cli_dlq_main(int argc, char **argv)
{
    struct dlq_args a;
    const char *sub = NULL;
    bool only_args = false, seen_dlq = false;

    memset(&a, 0, sizeof(a));
    a.conn.timeout_ms = 2000;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!only_args && strcmp(arg, "--") == 0) {
            only_args = true;
            continue;
        }
        if (only_args || arg[0] != '-' || arg[1] == '\0') {
            if (!seen_dlq)
                seen_dlq = true; /* the command word itself, checked by the caller */
            else if (sub == NULL)
                sub = arg;
            else if (a.stream == NULL)
                a.stream = arg;
            else
                return hr_cli_usage_fail(DLQ_USAGE_AFTER, "unexpected argument '%s'", arg);
            continue;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            hr_cli_dlq_help(stdout);
            return HR_CLI_EXIT_OK;
        }
        if (strcmp(arg, "--keep") == 0) {
            a.keep = true;
            continue;
        }
        if (strcmp(arg, "-v") == 0 || strcmp(arg, "--verbose") == 0) {
            a.conn.verbose = true;
            continue;
        }
        const char *value = NULL;
        bool is_server, is_timeout, is_limit;
        if (arg[1] == 's' && arg[2] != '\0') { /* -sURL */
            is_server = true;
            is_timeout = is_limit = false;
            value = arg + 2;
        } else {
            const char *eq = strchr(arg, '=');
            size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
            value = eq ? eq + 1 : NULL;
            is_server = (nlen == 8 && strncmp(arg, "--server", 8) == 0) ||
                        (nlen == 2 && strncmp(arg, "-s", 2) == 0);
            is_timeout = nlen == 9 && strncmp(arg, "--timeout", 9) == 0;
            is_limit = nlen == 7 && strncmp(arg, "--limit", 7) == 0;
        }
        if (!is_server && !is_timeout && !is_limit)
            return hr_cli_usage_fail(DLQ_USAGE_AFTER, "unknown option '%s'", arg);
        if (value == NULL) {
            if (i + 1 >= argc)
                return hr_cli_usage_fail(DLQ_USAGE_AFTER, "option '%s' needs a value", arg);
            value = argv[++i];
        }
        if (is_server) {
            if (*value == '\0')
                return hr_cli_usage_fail(DLQ_USAGE_AFTER, "option '--server' needs a non-empty URL");
            a.conn.server_url = value;
        } else if (is_timeout) {
            if (hr_cli_duration_parse(value, 1, (int64_t)24 * 3600 * 1000, &a.conn.timeout_ms) != 0)
                return hr_cli_usage_fail(DLQ_USAGE_AFTER, "invalid duration '%s' for --timeout (e.g. 500ms, 2s, 1m; at "
                                 "most 24h)",
                                 value);
        } else if (!hr_cli_u64_parse(value, 1, DLQ_LIMIT_MAX, &a.limit)) {
            return hr_cli_usage_fail(DLQ_USAGE_AFTER, "invalid count '%s' for --limit (want 1..1000000000000)", value);
        }
    }
    int rc = args_finish(&a, sub);
    return rc != HR_CLI_EXIT_OK ? rc : dlq_replay(&a);
}

/* Reached through the common parser only if main() did not divert to hr_cli_dlq_main();
 * then --keep and --limit are unknown there and the defaults apply. */
static int dlq_cmd_run(const struct hr_cli_opts *opts)
{
    struct dlq_args a;

    memset(&a, 0, sizeof(a));
    a.conn.server_url = opts->server_url;
    a.conn.timeout_ms = opts->timeout_ms;
    a.conn.verbose = opts->verbose;
    a.stream = opts->nargs > 1 ? opts->args[1] : NULL;
    int rc = args_finish(&a, opts->args[0]);
    return rc != HR_CLI_EXIT_OK ? rc : dlq_replay(&a);
}

const struct hr_cli_cmd hr_cli_cmd_dlq = {
    .name = "dlq",
    .bit = HR_CLI_CMD_DLQ,
    .arg_names = {"replay", "STREAM"},
    .min_args = 2,
    .max_args = 2,
    .summary = "replay dead letters to their subjects (dlq replay STREAM)",
    .description = "Replays the dead letters of a stream; see 'herald dlq --help'.",
    .run = dlq_cmd_run,
};
