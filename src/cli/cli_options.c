/* SPDX-License-Identifier: Apache-2.0
 *
 * The option table of `herald` and the argv parser driven by it. The table is the one
 * source of truth (as tmux's options_table): parsing, defaults, bounds and every --help
 * screen come from it, so an option cannot exist in one and be missing in another.
 *
 * Grammar (GNU style, options and arguments may interleave):
 *   herald [GLOBAL-OPTION]... COMMAND [ARG | OPTION]... [-- ARG...]
 *   --name VALUE | --name=VALUE | -x VALUE | -xVALUE ; flags take no value; "--" ends
 *   options, so DATA may start with '-'.
 *
 * Invariants:
 *   1. Before COMMAND only rows marked HR_CLI_CMD_GLOBAL are accepted; after it, global
 *      rows and rows naming that command.
 *   2. Every value is checked here, against the row's kind and [min, max], and SUBJECT,
 *      --reply and --queue against NATS syntax; commands get only valid values and never
 *      re-validate argv. A bad value is a usage error (exit 2), not a runtime one.
 *   3. No allocation: hr_cli_opts borrows argv and the environment.
 *   4. Owns no I/O except writing usage errors and help text.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

enum opt_kind {
    OPT_FLAG,     /* bool, no value */
    OPT_STRING,   /* const char *, borrowed from argv */
    OPT_COUNT,    /* uint64_t in [min, max] */
    OPT_DURATION, /* int64_t milliseconds in [min, max] */
    OPT_HEADER,   /* appended to opts->headers, at most HR_CLI_MAX_HEADERS */
};

struct opt_def {
    const char *name;
    char short_name;
    enum opt_kind kind;
    const char *metavar;
    const char *default_text; /* applied by opts_reset() through the same parser */
    int64_t min;
    int64_t max;
    unsigned commands;
    size_t offset; /* of the field in struct hr_cli_opts */
    const char *help;
};

#define FIELD(f) offsetof(struct hr_cli_opts, f)
#define DAY_MS ((int64_t)24 * 3600 * 1000)

static const struct opt_def options[] = {
    {.name = "server", .short_name = 's', .kind = OPT_STRING, .metavar = "URL",
     .commands = HR_CLI_CMD_GLOBAL, .offset = FIELD(server_url),
     .help = "server URL (default: $HERALD_URL, else $NATS_URL, else " HR_CLI_DEFAULT_URL ")"},
    {.name = "timeout", .kind = OPT_DURATION, .metavar = "DUR", .default_text = "2s",
     .min = 1, .max = DAY_MS, .commands = HR_CLI_CMD_GLOBAL, .offset = FIELD(timeout_ms),
     .help = "connect timeout; req also waits this long for the reply (default 2s)"},
    {.name = "header", .short_name = 'H', .kind = OPT_HEADER, .metavar = "KEY:VALUE",
     .commands = HR_CLI_CMD_PUB | HR_CLI_CMD_REQ, .offset = FIELD(headers),
     .help = "add a message header (repeatable, at most 64)"},
    {.name = "count", .kind = OPT_COUNT, .metavar = "N", .min = 1,
     .max = INT64_C(1000000000000),
     .commands = HR_CLI_CMD_PUB | HR_CLI_CMD_SUB | HR_CLI_CMD_REPLY, .offset = FIELD(count),
     .help = "pub: publish N messages; sub, reply: exit after N messages"},
    {.name = "reply", .kind = OPT_STRING, .metavar = "SUBJ", .commands = HR_CLI_CMD_PUB,
     .offset = FIELD(reply_to), .help = "set the reply subject of the message"},
    {.name = "queue", .kind = OPT_STRING, .metavar = "QUEUE",
     .commands = HR_CLI_CMD_SUB | HR_CLI_CMD_REPLY, .offset = FIELD(queue),
     .help = "join queue group QUEUE (each message goes to one member)"},
    {.name = "raw", .kind = OPT_FLAG, .commands = HR_CLI_CMD_SUB, .offset = FIELD(raw),
     .help = "print only the payload of each message, one per line"},
    {.name = "verbose", .short_name = 'v', .kind = OPT_FLAG, .commands = HR_CLI_CMD_GLOBAL,
     .offset = FIELD(verbose), .help = "report progress on stderr"},
    {.name = "help", .short_name = 'h', .kind = OPT_FLAG, .commands = HR_CLI_CMD_GLOBAL,
     .offset = FIELD(help), .help = "show help and exit"},
    {.name = "version", .kind = OPT_FLAG, .commands = HR_CLI_CMD_GLOBAL,
     .offset = FIELD(version), .help = "print the version and exit"},
};

#define N_OPTIONS (sizeof(options) / sizeof(options[0]))

/* --- usage and help ------------------------------------------------------------------ */

static void usage_line_print(FILE *out, const struct hr_cli_cmd *cmd)
{
    if (cmd == NULL) {
        fputs("usage: herald [options] COMMAND [ARGS] [options]\n", out);
        return;
    }
    fprintf(out, "usage: herald %s", cmd->name);
    for (int i = 0; i < cmd->max_args; i++) {
        if (i < cmd->min_args)
            fprintf(out, " %s", cmd->arg_names[i]);
        else
            fprintf(out, " [%s]", cmd->arg_names[i]);
    }
    fputs(" [options]\n", out);
}

int hr_cli_usage_fail(const char *after, const char *fmt, ...)
{
    va_list ap;
    fputs("herald: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fputs(after, stderr);
    return HR_CLI_EXIT_USAGE;
}

static int usage_error(const struct hr_cli_cmd *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int usage_error(const struct hr_cli_cmd *cmd, const char *fmt, ...)
{
    va_list ap;

    fputs("herald: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    usage_line_print(stderr, cmd);
    if (cmd != NULL)
        fprintf(stderr, "Try 'herald %s --help'.\n", cmd->name);
    else
        fputs("Try 'herald --help'.\n", stderr);
    return HR_CLI_EXIT_USAGE;
}

static void option_help_print(FILE *out, const struct opt_def *def)
{
    char left[64];
    int n;

    if (def->short_name != '\0')
        n = snprintf(left, sizeof(left), "  -%c, --%s", def->short_name, def->name);
    else
        n = snprintf(left, sizeof(left), "      --%s", def->name);
    if (n > 0 && (size_t)n < sizeof(left) && def->metavar != NULL)
        snprintf(left + n, sizeof(left) - (size_t)n, " %s", def->metavar);
    fprintf(out, "%-28s %s\n", left, def->help);
}

static void options_help_print(FILE *out, const char *title, unsigned bit, bool global)
{
    fprintf(out, "\n%s:\n", title);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        bool is_global = options[i].commands == HR_CLI_CMD_GLOBAL;
        if (is_global == global && (global || (options[i].commands & bit) != 0))
            option_help_print(out, &options[i]);
    }
}

void hr_cli_help_print(FILE *out, const struct hr_cli_cmd *cmd,
                       const struct hr_cli_cmd *const *cmds, size_t ncmds)
{
    usage_line_print(out, cmd);
    if (cmd == NULL) {
        fputs("\nA command-line client for Herald and any NATS server.\n\nCommands:\n", out);
        for (size_t i = 0; i < ncmds; i++)
            fprintf(out, "  %-8s %s\n", cmds[i]->name, cmds[i]->summary);
        options_help_print(out, "Global options", 0, true);
        fputs("\nDurations: 500ms, 2s, 1.5s, 1m, 1h, or plain seconds.\n"
              "Exit status: 0 success, 1 runtime failure, 2 usage error.\n"
              "Run 'herald COMMAND --help' for the options of one command.\n",
              out);
        return;
    }
    fprintf(out, "\n%s\n", cmd->description);
    options_help_print(out, "Options", cmd->bit, false);
    options_help_print(out, "Global options", cmd->bit, true);
}

/* --- values ---------------------------------------------------------------------------- */

bool hr_cli_u64_parse(const char *text, uint64_t min, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (*text == '\0')
        return false;
    for (const char *p = text; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v < min || v > max)
        return false;
    *out = v;
    return true;
}

int hr_cli_duration_parse(const char *text, int64_t min_ms, int64_t max_ms, int64_t *out_ms)
{
    const char *p = text;
    int64_t whole = 0, frac = 0, frac_scale = 1, unit_ms, ms;
    int digits = 0;

    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (whole > INT64_C(1000000000))
            return -EINVAL; /* bounds the products below */
        whole = whole * 10 + (*p - '0');
    }
    if (*p == '.') {
        for (p++; *p >= '0' && *p <= '9'; p++, digits++) {
            if (frac_scale < 1000000) { /* digits past a microsecond are ignored */
                frac = frac * 10 + (*p - '0');
                frac_scale *= 10;
            }
        }
    }
    if (digits == 0)
        return -EINVAL;
    if (strcmp(p, "") == 0 || strcmp(p, "s") == 0)
        unit_ms = 1000;
    else if (strcmp(p, "ms") == 0)
        unit_ms = 1;
    else if (strcmp(p, "m") == 0)
        unit_ms = 60 * 1000;
    else if (strcmp(p, "h") == 0)
        unit_ms = 3600 * 1000;
    else
        return -EINVAL;
    ms = whole * unit_ms + frac * unit_ms / frac_scale;
    if (ms < min_ms || ms > max_ms)
        return -EINVAL;
    *out_ms = ms;
    return 0;
}

const char *hr_cli_duration_format(int64_t ms, char *buf, size_t cap)
{
    if (ms != 0 && ms % (3600 * 1000) == 0)
        snprintf(buf, cap, "%" PRId64 "h", ms / (3600 * 1000));
    else if (ms != 0 && ms % (60 * 1000) == 0)
        snprintf(buf, cap, "%" PRId64 "m", ms / (60 * 1000));
    else if (ms != 0 && ms % 1000 == 0)
        snprintf(buf, cap, "%" PRId64 "s", ms / 1000);
    else
        snprintf(buf, cap, "%" PRId64 "ms", ms);
    return buf;
}

/* Digits only, in [min, max]. Returns 0 or -EINVAL. */
static int count_parse(const char *text, int64_t min, int64_t max, uint64_t *out)
{
    uint64_t v = 0;

    if (*text == '\0')
        return -EINVAL;
    for (const char *p = text; *p != '\0'; p++) {
        if (*p < '0' || *p > '9' || v > (uint64_t)max)
            return -EINVAL;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    if (v < (uint64_t)min || v > (uint64_t)max)
        return -EINVAL;
    *out = v;
    return 0;
}

/* KEY:VALUE. KEY is 1..HR_CLI_MAX_HEADER_KEY printable non-space bytes without ':'
 * (surrounding blanks trimmed); VALUE loses leading blanks and may not hold CR or LF,
 * which would break the wire framing. Returns NULL or a static reason. */
static const char *header_parse(const char *text, struct hr_cli_header *out)
{
    const char *colon = strchr(text, ':');
    const char *key = text, *end;

    if (colon == NULL)
        return "expected KEY:VALUE";
    while (*key == ' ' || *key == '\t')
        key++;
    end = colon;
    while (end > key && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (end == key)
        return "empty header name";
    if ((size_t)(end - key) > HR_CLI_MAX_HEADER_KEY)
        return "header name too long";
    for (const char *p = key; p < end; p++) {
        if (*p <= ' ' || *p > '~')
            return "header name must be printable ASCII without spaces";
    }
    out->key = key;
    out->key_len = (size_t)(end - key);
    out->value = colon + 1;
    while (*out->value == ' ' || *out->value == '\t')
        out->value++;
    if (strpbrk(out->value, "\r\n") != NULL)
        return "header value may not contain CR or LF";
    return NULL;
}

/* Stores `value` (NULL for flags) into the field named by `def`. */
static int option_apply(struct hr_cli_opts *opts, const struct opt_def *def, const char *value)
{
    char *field = (char *)opts + def->offset;
    const char *why;

    switch (def->kind) {
    case OPT_FLAG:
        *(bool *)(void *)field = true;
        return HR_CLI_EXIT_OK;
    case OPT_STRING:
        if (*value == '\0')
            return usage_error(opts->cmd, "option '--%s' needs a non-empty %s", def->name,
                               def->metavar);
        *(const char **)(void *)field = value;
        return HR_CLI_EXIT_OK;
    case OPT_COUNT:
        if (count_parse(value, def->min, def->max, (uint64_t *)(void *)field) != 0)
            return usage_error(opts->cmd,
                               "invalid count '%s' for --%s (want %" PRId64 "..%" PRId64 ")",
                               value, def->name, def->min, def->max);
        return HR_CLI_EXIT_OK;
    case OPT_DURATION:
        if (hr_cli_duration_parse(value, def->min, def->max, (int64_t *)(void *)field) != 0)
            return usage_error(opts->cmd,
                               "invalid duration '%s' for --%s (e.g. 500ms, 2s, 1m; at most 24h)",
                               value, def->name);
        return HR_CLI_EXIT_OK;
    case OPT_HEADER:
        if (opts->nheaders >= HR_CLI_MAX_HEADERS)
            return usage_error(opts->cmd, "too many headers (at most %d)", HR_CLI_MAX_HEADERS);
        why = header_parse(value, &opts->headers[opts->nheaders]);
        if (why != NULL)
            return usage_error(opts->cmd, "invalid header '%s': %s", value, why);
        opts->nheaders++;
        return HR_CLI_EXIT_OK;
    }
    return usage_error(opts->cmd, "internal error: option kind %d", (int)def->kind);
}

static void opts_reset(struct hr_cli_opts *opts)
{
    memset(opts, 0, sizeof(*opts));
    for (size_t i = 0; i < N_OPTIONS; i++) {
        /* Defaults go through the same parser as argv, so help text and behaviour agree;
         * a bad default would print a usage error on every run. */
        if (options[i].default_text != NULL)
            (void)option_apply(opts, &options[i], options[i].default_text);
    }
}

static const struct opt_def *option_find_long(const char *name, size_t len)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (strlen(options[i].name) == len && memcmp(options[i].name, name, len) == 0)
            return &options[i];
    }
    return NULL;
}

static const struct opt_def *option_find_short(char c)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (options[i].short_name != '\0' && options[i].short_name == c)
            return &options[i];
    }
    return NULL;
}

/* NATS subject syntax: 1..HR_CLI_MAX_SUBJECT bytes, '.'-separated non-empty tokens, no
 * blanks or control bytes (a space would split the PUB line on the wire). With
 * `wildcards`, a token may be `*`, and `>` as the last token; without, neither.
 * Returns NULL or a static reason. */
static const char *subject_check(const char *subject, bool wildcards)
{
    size_t len = strlen(subject);
    const char *token = subject;

    if (len == 0)
        return "empty subject";
    if (len > HR_CLI_MAX_SUBJECT)
        return "subject too long";
    for (const char *p = subject;; p++) {
        if (*p == '.' || *p == '\0') {
            size_t tlen = (size_t)(p - token);
            bool star = tlen == 1 && token[0] == '*';
            bool gt = tlen == 1 && token[0] == '>';
            if (tlen == 0)
                return "empty token (leading, trailing or double '.')";
            if ((star || gt) && !wildcards)
                return "wildcards are only valid when subscribing";
            if (gt && *p != '\0')
                return "'>' must be the last token";
            if (*p == '\0')
                return NULL;
            token = p + 1;
        } else if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            return "subjects may not contain blanks or control characters";
        }
    }
}

/* A queue group name: 1..HR_CLI_MAX_SUBJECT bytes, no blanks or control bytes. */
static const char *queue_check(const char *queue)
{
    size_t len = strlen(queue);

    if (len > HR_CLI_MAX_SUBJECT)
        return "queue name too long";
    for (const char *p = queue; *p != '\0'; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f)
            return "queue names may not contain blanks or control characters";
    }
    return NULL;
}

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v != NULL && *v != '\0' ? v : NULL;
}

const char *hr_cli_default_server_url(void)
{
    const char *url = env_nonempty("HERALD_URL");
    if (url == NULL)
        url = env_nonempty("NATS_URL");
    return url != NULL ? url : HR_CLI_DEFAULT_URL;
}

/* --- the parser ------------------------------------------------------------------------ */

/* Parses argv[*i], an option; may consume argv[*i + 1] as its value. */
static int option_parse(struct hr_cli_opts *opts, int argc, char **argv, int *i)
{
    const char *arg = argv[*i];
    const struct opt_def *def;
    const char *value = NULL;

    if (arg[1] == '-') {
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq != NULL ? (size_t)(eq - name) : strlen(name);
        def = option_find_long(name, len);
        if (eq != NULL)
            value = eq + 1;
    } else {
        def = option_find_short(arg[1]);
        if (arg[2] != '\0')
            value = arg + 2;
    }
    if (def == NULL)
        return usage_error(opts->cmd, "unknown option '%s'", arg);
    if (def->commands != HR_CLI_CMD_GLOBAL) {
        if (opts->cmd == NULL)
            return usage_error(NULL, "option '%s' must follow a command", arg);
        if ((def->commands & opts->cmd->bit) == 0)
            return usage_error(opts->cmd, "option '--%s' does not apply to '%s'", def->name,
                               opts->cmd->name);
    }
    if (def->kind == OPT_FLAG) {
        if (value != NULL)
            return usage_error(opts->cmd, "option '%s' takes no value", arg);
        return option_apply(opts, def, NULL);
    }
    if (value == NULL) {
        if (*i + 1 >= argc)
            return usage_error(opts->cmd, "option '%s' needs a value (%s)", arg, def->metavar);
        value = argv[++*i];
    }
    return option_apply(opts, def, value);
}

int hr_cli_opts_parse(struct hr_cli_opts *opts, int argc, char **argv,
                      const struct hr_cli_cmd *const *cmds, size_t ncmds)
{
    bool only_args = false;
    const char *why;
    int rc;

    opts_reset(opts);
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];

        if (!only_args && strcmp(arg, "--") == 0) {
            only_args = true;
            continue;
        }
        if (!only_args && arg[0] == '-' && arg[1] != '\0') {
            rc = option_parse(opts, argc, argv, &i);
            if (rc != HR_CLI_EXIT_OK)
                return rc;
            continue;
        }
        if (opts->cmd == NULL) {
            for (size_t c = 0; c < ncmds; c++) {
                if (strcmp(cmds[c]->name, arg) == 0)
                    opts->cmd = cmds[c];
            }
            if (opts->cmd == NULL)
                return usage_error(NULL, "unknown command '%s'", arg);
            continue;
        }
        if (opts->nargs >= opts->cmd->max_args)
            return usage_error(opts->cmd, "unexpected argument '%s'", arg);
        opts->args[opts->nargs++] = arg;
    }

    if (opts->server_url == NULL)
        opts->server_url = hr_cli_default_server_url();

    if (opts->help || opts->version)
        return HR_CLI_EXIT_OK;
    if (opts->cmd == NULL)
        return usage_error(NULL, "missing command");
    if (opts->nargs < opts->cmd->min_args)
        return usage_error(opts->cmd, "missing %s", opts->cmd->arg_names[opts->nargs]);
    why = subject_check(opts->args[0], opts->cmd->wildcards);
    if (why != NULL)
        return usage_error(opts->cmd, "invalid subject '%s': %s", opts->args[0], why);
    why = opts->reply_to != NULL ? subject_check(opts->reply_to, false) : NULL;
    if (why != NULL)
        return usage_error(opts->cmd, "invalid reply subject '%s': %s", opts->reply_to, why);
    why = opts->queue != NULL ? queue_check(opts->queue) : NULL;
    if (why != NULL)
        return usage_error(opts->cmd, "invalid queue '%s': %s", opts->queue, why);
    return HR_CLI_EXIT_OK;
}
