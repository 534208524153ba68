/* SPDX-License-Identifier: Apache-2.0
 *
 * Internal interface of `herald`, the command-line tool (src/cli only; nothing outside
 * src/cli includes this header). The tool is a plain NATS client: it talks to heraldd, or
 * to any NATS server, through Debian's nats.c 3.4 (`libnats`). The one exception is
 * `herald log`, which reads heraldd's log files offline through libherald's record codec
 * (store/record.h) and nothing else of libherald's store.
 *
 * Files:
 *   cli_main.c      main(): the command table, dispatch, `herald help`, `--version`.
 *   cli_options.c   the option table, the argv parser, durations, counts, --help text.
 *   cli_conn.c      connecting, subscriptions, the SIGINT flag, printing messages.
 *   cli_payload.c   bounded buffers, reading stdin, {{Name}} template expansion.
 *   cli_pubsub.c    `pub` and `sub`.
 *   cli_reqreply.c  `req` and `reply`.
 *   cli_log.c       `log verify` and `log dump`: offline reading of heraldd's log files.
 *   cli_dlq.c       `dlq replay`: dead letters back to their subjects, over JetStream.
 *
 * Contract:
 *   1. Exit status is one of HR_CLI_EXIT_*: 0 success, 1 runtime failure (connect, timeout,
 *      no responders, I/O), 2 usage error. A failure prints exactly one line starting
 *      "herald: " on stderr (usage errors add the usage line and a hint).
 *   2. stdout carries only message output (payloads, `sub` records); progress and errors
 *      go to stderr, so `herald sub --raw x | tool` and `herald req x y | tool` are clean.
 *   3. Everything read from the user or the network is bounded: at most HR_CLI_MAX_HEADERS
 *      headers, header keys of at most HR_CLI_MAX_HEADER_KEY bytes, subjects and queue
 *      names of at most HR_CLI_MAX_SUBJECT bytes, at most HR_CLI_MAX_SERVERS URLs, payloads
 *      (stdin, template output) of at most HR_CLI_MAX_PAYLOAD_BYTES; durations and counts
 *      within the min/max of their row in the option table.
 *   4. Functions returning `int` return an HR_CLI_EXIT_* code unless their comment says
 *      "0 or -errno"; a function returning a nonzero exit code has already printed its
 *      message, so callers only propagate it.
 *   5. struct hr_cli_opts borrows argv and the environment: it lives as long as main().
 */
#ifndef HERALD_CLI_H
#define HERALD_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <nats/nats.h>

#ifndef HERALD_VERSION
#define HERALD_VERSION "0.1.0-dev"
#endif

enum {
    HR_CLI_EXIT_OK = 0,
    HR_CLI_EXIT_FAIL = 1,
    HR_CLI_EXIT_USAGE = 2,
};

#define HR_CLI_DEFAULT_URL "nats://127.0.0.1:4222"
#define HR_CLI_MAX_ARGS 2
#define HR_CLI_MAX_HEADERS 64
#define HR_CLI_MAX_HEADER_KEY 255
#define HR_CLI_MAX_SUBJECT 1024 /* bytes; also bounds --queue */
#define HR_CLI_MAX_SERVERS 16   /* comma-separated URLs in --server */
#define HR_CLI_MAX_PAYLOAD_BYTES ((size_t)64 * 1024 * 1024)

/* Command bits: a row of the option table names the commands that accept it. */
enum {
    HR_CLI_CMD_PUB = 1u << 0,
    HR_CLI_CMD_SUB = 1u << 1,
    HR_CLI_CMD_REQ = 1u << 2,
    HR_CLI_CMD_REPLY = 1u << 3,
    HR_CLI_CMD_LOG = 1u << 4,
    HR_CLI_CMD_DLQ = 1u << 5,
    HR_CLI_CMD_GLOBAL = 0xffu, /* accepted before the command name and by every command */
};

/* One `-H KEY:VALUE`. Borrows argv: `key` is not NUL-terminated (use key_len), `value` is. */
struct hr_cli_header {
    const char *key;
    size_t key_len;
    const char *value;
};

struct hr_cli_cmd;

/* Everything argv and the environment said. Filled by hr_cli_opts_parse(). */
struct hr_cli_opts {
    const struct hr_cli_cmd *cmd; /* NULL only with --help/--version and no command */
    const char *args[HR_CLI_MAX_ARGS];
    int nargs;
    const char *server_url; /* --server, else $HERALD_URL, else $NATS_URL, else default */
    int64_t timeout_ms;     /* connect timeout; `req` also waits this long for the reply */
    uint64_t count;         /* 0: not given (pub: once; sub/reply: until interrupted) */
    const char *queue;      /* NULL: no queue group */
    const char *reply_to;   /* pub --reply; NULL: none */
    struct hr_cli_header headers[HR_CLI_MAX_HEADERS];
    int nheaders;
    bool raw;
    bool verbose;
    bool help;
    bool version;
};

/* A command, as tmux's cmd_entry: the dispatcher calls a command only through this. */
struct hr_cli_cmd {
    const char *name;
    unsigned bit;                          /* HR_CLI_CMD_* */
    const char *arg_names[HR_CLI_MAX_ARGS]; /* for the usage line and "missing X" */
    int min_args;
    int max_args;
    bool wildcards; /* SUBJECT (args[0]) may hold `*` and `>` tokens */
    const char *summary;     /* one line, for `herald --help` */
    const char *description; /* a paragraph, for `herald CMD --help` */
    int (*run)(const struct hr_cli_opts *opts);
};

extern const struct hr_cli_cmd hr_cli_cmd_pub;
extern const struct hr_cli_cmd hr_cli_cmd_sub;
extern const struct hr_cli_cmd hr_cli_cmd_req;
extern const struct hr_cli_cmd hr_cli_cmd_reply;
extern const struct hr_cli_cmd hr_cli_cmd_log;
extern const struct hr_cli_cmd hr_cli_cmd_dlq;

/* --- cli_log.c ---------------------------------------------------------------------- */

/* `herald log ...` with argv[0] == "log": its own options (--stream, --from, --limit,
 * --data), parsed there because they apply to no other command. Returns HR_CLI_EXIT_*. */
int hr_cli_log_main(int argc, char **argv);

/* The help of `herald log`. */
void hr_cli_log_help(FILE *out);

/* --- cli_dlq.c ---------------------------------------------------------------------- */

/* `herald [GLOBAL-OPTION]... dlq ...`: argv as main()'s (argv[0] the program, the first
 * non-option word "dlq"). Parses its own options (--keep, --limit, and --server, --timeout,
 * -v, -h wherever they appear) and runs. Returns HR_CLI_EXIT_*. */
int hr_cli_dlq_main(int argc, char **argv);

/* The help of `herald dlq`. */
void hr_cli_dlq_help(FILE *out);

/* --- cli_options.c ------------------------------------------------------------------ */

/* Parses argv (borrowed, must outlive `opts`) into `opts` (caller's storage, fully
 * overwritten). `cmds` is the command table (borrowed). Returns HR_CLI_EXIT_OK, or
 * HR_CLI_EXIT_USAGE after printing the problem and the usage line to stderr. With
 * --help or --version set, argument counts are not checked. */
int hr_cli_opts_parse(struct hr_cli_opts *opts, int argc, char **argv,
                      const struct hr_cli_cmd *const *cmds, size_t ncmds);

/* Prints help for `cmd`, or the overview of all `cmds` when `cmd` is NULL. */
void hr_cli_help_print(FILE *out, const struct hr_cli_cmd *cmd,
                       const struct hr_cli_cmd *const *cmds, size_t ncmds);

/* A usage error of a command that parses its own arguments: "herald: <message>\n" and then
 * `after` (its usage lines and a "Try ..." hint) on stderr. Returns HR_CLI_EXIT_USAGE. */
int hr_cli_usage_fail(const char *after, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The server URL when none was given: $HERALD_URL, else $NATS_URL, else HR_CLI_DEFAULT_URL. */
const char *hr_cli_default_server_url(void);

/* Digits only, no sign, no overflow, within [min, max]. */
bool hr_cli_u64_parse(const char *text, uint64_t min, uint64_t max, uint64_t *out);

/* "500ms", "2s", "1.5s", "1m", "1h", or plain (possibly fractional) seconds.
 * Returns 0 or -EINVAL (syntax, or outside [min_ms, max_ms]). */
int hr_cli_duration_parse(const char *text, int64_t min_ms, int64_t max_ms, int64_t *out_ms);

/* Writes `ms` as "2s", "1m", "500ms" into buf (cap >= 24 suffices). Returns buf. */
const char *hr_cli_duration_format(int64_t ms, char *buf, size_t cap);

/* --- cli_conn.c --------------------------------------------------------------------- */

/* Prints "herald: <message>" and a newline to stderr; returns HR_CLI_EXIT_FAIL. */
int hr_cli_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Connects to opts->server_url with opts->timeout_ms. `long_lived` (sub, reply) keeps
 * nats.c's reconnect logic and reports disconnects on stderr; one-shot commands fail
 * instead. On success *out_nc is owned by the caller (hr_cli_conn_close). */
int hr_cli_conn_open(const struct hr_cli_opts *opts, bool long_lived, natsConnection **out_nc);

/* Flushes nothing, closes and destroys `nc` (takes ownership; NULL is a no-op). */
void hr_cli_conn_close(natsConnection *nc);

/* Subscribes synchronously to `subject` (queue group opts->queue if set) and round-trips
 * to the server so the interest is registered before returning. Then announces
 * "herald: listening on ..." on stderr if `announce`. *out_sub is owned by the caller
 * (natsSubscription_Destroy). */
int hr_cli_sub_open(natsConnection *nc, const struct hr_cli_opts *opts, const char *subject,
                    bool announce, natsSubscription **out_sub);

/* Installs the SIGINT/SIGTERM handler that makes hr_cli_msg_next() stop. */
void hr_cli_signals_start(void);

enum hr_cli_next {
    HR_CLI_NEXT_MSG,         /* *out_msg holds a message, owned by the caller */
    HR_CLI_NEXT_INTERRUPTED, /* SIGINT/SIGTERM: stop, successfully */
    HR_CLI_NEXT_FAILED,      /* the subscription or connection ended; message printed */
};

/* Waits for the next message on `sub`, polling the signal flag every 100 ms. */
enum hr_cli_next hr_cli_msg_next(natsSubscription *sub, natsMsg **out_msg);

/* Adds opts->headers to `msg` (borrowed). Returns a nats.c status. */
natsStatus hr_cli_headers_apply(natsMsg *msg, const struct hr_cli_opts *opts);

/* Prints `msg` (borrowed): `raw` writes the payload and a newline; otherwise the
 * `nats sub` layout: `[#n] Received on "subj"[ with reply "r"]`, one "Key: value" line per
 * header value and a blank line if there were headers, the payload, a blank line.
 * Flushes `out`. Returns 0 or -errno. */
int hr_cli_msg_print(FILE *out, natsMsg *msg, uint64_t n, bool raw);

/* --- cli_payload.c ------------------------------------------------------------------ */

/* A growable byte buffer with a hard cap. `data` is NULL until the first append. */
struct hr_cli_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max_bytes;
};

void hr_cli_buf_init(struct hr_cli_buf *buf, size_t max_bytes);
void hr_cli_buf_cleanup(struct hr_cli_buf *buf);

/* Appends n bytes (borrowed). Returns 0, -ENOMEM, or -EFBIG (would exceed max_bytes;
 * the buffer is unchanged). */
int hr_cli_buf_append(struct hr_cli_buf *buf, const void *bytes, size_t n);

/* Fills `buf` with the message payload: `arg` when not NULL; else all of stdin when
 * `allow_stdin` and stdin is not a terminal; else nothing (empty payload). */
int hr_cli_payload_load(const char *arg, bool allow_stdin, struct hr_cli_buf *buf);

/* True if tmpl contains a `{{name}}` placeholder (spaces inside the braces and a leading
 * '.' are tolerated: `{{ Count }}`, `{{.Count}}`). */
bool hr_cli_template_has(const char *tmpl, size_t tmpl_len, const char *name);

/* Appends tmpl to `out` with every `{{name}}` replaced by val[0..val_len).
 * Returns 0 or -ENOMEM / -EFBIG (from hr_cli_buf_append). */
int hr_cli_template_expand(struct hr_cli_buf *out, const char *tmpl, size_t tmpl_len,
                           const char *name, const char *val, size_t val_len);

#endif
