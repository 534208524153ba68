/* SPDX-License-Identifier: Apache-2.0
 *
 * The option table and everything derived from it; see config.h for the precedence.
 *
 * Config-file syntax (the subset of nats-server's that Herald's options need):
 *   # comment            // comment
 *   key: value           key = value           key value
 *   block { key: value } (nested keys are looked up as "block.key", e.g. jetstream.domain)
 *   values: bare words, "quoted strings", numbers, sizes (1MB), durations ("2m"), booleans
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "herald/herald.h"
#include "server/config.h"

enum opt_type { T_STRING, T_INT, T_BOOL, T_SIZE, T_DURATION };

struct option_def {
    const char *name;    /* canonical: --name, config key, HERALD_NAME */
    const char *aliases; /* space-separated: other flags (without dashes) and config keys */
    enum opt_type type;
    const char *def;
    int64_t min, max;
    const char *help;
    size_t offset;
};

#define OFF(f) offsetof(struct hr_config, f)
#define MiB (1024 * 1024)

static const struct option_def options[] = {
    {"addr", "a net host", T_STRING, "127.0.0.1", 0, 0, "address to listen on", OFF(addr)},
    {"port", "p", T_INT, "4222", -1, 65535, "NATS client port (-1: any free port)", OFF(port)},
    {"http_port", "m http", T_INT, "8080", -1, 65535,
     "HTTP port: REST, long-poll, SSE, WebSocket, monitoring (0: off, -1: any free port)",
     OFF(http_port)},
    {"http_allowed_origins", "http.allowed_origins", T_STRING, "*", 0, 0,
     "browser origins allowed to use the HTTP API (CORS): * for any, or a comma-separated"
     " list such as https://app.example.com,http://localhost:3000", OFF(http_allowed_origins)},
    {"server_name", "n name", T_STRING, "", 0, 0, "server name (default: the server id)",
     OFF(server_name)},
    {"jetstream", "js", T_BOOL, "true", 0, 0, "enable streams and the JetStream API",
     OFF(jetstream)},
    {"sync", "jetstream.sync", T_STRING, "always", 0, 0,
     "durability of acknowledged appends: always (fsync before every ack, group-committed),"
     " never, or a period such as 100ms (weaker: a crash loses up to that much)", OFF(sync)},
    {"segment_size", "jetstream.segment_size", T_SIZE, "64MB", 4096, 1024LL * MiB,
     "size at which a stream's log rolls to a new segment file", OFF(segment_size)},
    {"store_dir", "sd jetstream.store_dir", T_STRING, "./data", 0, 0, "data directory",
     OFF(store_dir)},
    {"js_domain", "jetstream.domain", T_STRING, "", 0, 0, "JetStream domain", OFF(js_domain)},
    {"log_file", "l log", T_STRING, "", 0, 0, "log to this file instead of stderr", OFF(log_file)},
    {"debug", "D", T_BOOL, "false", 0, 0, "debug logging", OFF(debug)},
    {"trace", "V", T_BOOL, "false", 0, 0, "protocol trace logging", OFF(trace)},
    {"user", "authorization.user", T_STRING, "", 0, 0, "user required to connect", OFF(user)},
    {"pass", "password authorization.password", T_STRING, "", 0, 0, "password required to connect",
     OFF(pass)},
    {"auth", "token authorization.token", T_STRING, "", 0, 0, "token required to connect",
     OFF(auth_token)},
    {"max_payload", "", T_SIZE, "1MB", 1, 64 * MiB, "largest message (header + payload)",
     OFF(max_payload)},
    {"max_control_line", "", T_SIZE, "4KB", 256, 1 * MiB, "longest protocol control line",
     OFF(max_control_line)},
    {"max_pending", "", T_SIZE, "64MB", 64 * 1024, 1024LL * MiB,
     "bytes queued to one client before it is a slow consumer", OFF(max_pending)},
    {"max_connections", "max_conn", T_INT, "65536", 1, 1000000, "most client connections",
     OFF(max_connections)},
    {"max_subscriptions", "max_subs", T_INT, "100000", 1, 100000000,
     "most subscriptions per connection", OFF(max_subscriptions)},
    {"ping_interval", "", T_DURATION, "2m", 100, 86400000LL, "interval between server PINGs",
     OFF(ping_interval_ms)},
    {"ping_max", "", T_INT, "2", 1, 1000, "unanswered PINGs before 'Stale Connection'",
     OFF(ping_max)},
    {"write_deadline", "", T_DURATION, "10s", 100, 3600000LL,
     "longest a write may block before the client is a slow consumer", OFF(write_deadline_ms)},
    {"config", "c", T_STRING, "", 0, 0, "configuration file", OFF(config_file)},
};
#define N_OPTIONS (sizeof options / sizeof options[0])

/* nats-server options Herald knowingly does not offer (yet): fail with a clear message. */
static const char *const unsupported[] = {
    "cluster", "routes", "cluster_name", "cluster_advertise", "no_advertise", "connect_retries",
    "tls", "tlscert", "tlskey", "tlscacert", "tlsverify", "ms", "https_port",
    "gateway", "leafnodes", "websocket", "mqtt", "accounts", "nkey", "operator", "resolver",
    "client_advertise", "P", "pid", "ports_file_dir", "syslog", "s", "r", "remote_syslog",
    "sl", "signal", NULL,
};

/* ---- value parsing -------------------------------------------------------------- */

static bool parse_int(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end)
        return false;
    *out = v;
    return true;
}

bool hr_config_parse_size(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return false;
    while (*end == ' ')
        end++;
    static const struct { const char *suffix; double mult; } units[] = {
        {"", 1}, {"b", 1}, {"k", 1e3}, {"kb", 1024}, {"kib", 1024}, {"m", 1e6},
        {"mb", 1048576}, {"mib", 1048576}, {"g", 1e9}, {"gb", 1073741824.0},
        {"gib", 1073741824.0},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcasecmp(end, units[i].suffix) == 0) {
            double r = v * units[i].mult;
            if (r > 9.0e18)
                return false;
            *out = (int64_t)r;
            return true;
        }
    }
    return false;
}

bool hr_config_parse_duration_ms(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return false;
    static const struct { const char *suffix; double ms; } units[] = {
        {"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}, {"us", 0.001},
        {"ns", 0.000001},
    };
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (strcmp(end, units[i].suffix) == 0) {
            *out = (int64_t)(v * units[i].ms);
            return true;
        }
    }
    return false;
}

static bool parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1", "enable", "enabled"};
    static const char *const no[] = {"false", "no", "off", "0", "disable", "disabled"};
    for (size_t i = 0; i < 6; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

static const char *type_name(enum opt_type t)
{
    switch (t) {
    case T_STRING: return "string";
    case T_INT: return "integer";
    case T_BOOL: return "boolean";
    case T_SIZE: return "size";
    case T_DURATION: return "duration";
    }
    return "?";
}

/* Stores `value` into the field of `def`; on error writes a message to `err`. */
static bool set_option(struct hr_config *cfg, const struct option_def *def, const char *value,
                       const char *origin, char *err, size_t errlen)
{
    void *field = (char *)cfg + def->offset;
    int64_t v = 0;
    bool ok = true;
    switch (def->type) {
    case T_STRING: {
        char *copy = strdup(value);
        if (!copy) {
            snprintf(err, errlen, "out of memory");
            return false;
        }
        free(*(char **)field);
        *(char **)field = copy;
        return true;
    }
    case T_BOOL:
        if (!parse_bool(value, (bool *)field)) {
            snprintf(err, errlen, "%s: '%s' is not a boolean for '%s'", origin, value, def->name);
            return false;
        }
        return true;
    case T_INT: ok = parse_int(value, &v); break;
    case T_SIZE: ok = hr_config_parse_size(value, &v); break;
    case T_DURATION: ok = hr_config_parse_duration_ms(value, &v); break;
    }
    if (!ok) {
        snprintf(err, errlen, "%s: '%s' is not a valid %s for '%s'", origin, value,
                 type_name(def->type), def->name);
        return false;
    }
    if (v < def->min || v > def->max) {
        snprintf(err, errlen, "%s: '%s' for '%s' is out of range [%lld, %lld]", origin, value,
                 def->name, (long long)def->min, (long long)def->max);
        return false;
    }
    *(int64_t *)field = v;
    return true;
}

/* Finds an option by canonical name or alias (no dashes). */
static const struct option_def *find_option(const char *name, size_t len)
{
    for (size_t i = 0; i < N_OPTIONS; i++) {
        if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0)
            return &options[i];
        const char *a = options[i].aliases;
        while (*a) {
            size_t al = strcspn(a, " ");
            if (al == len && strncmp(a, name, len) == 0)
                return &options[i];
            a += al;
            while (*a == ' ')
                a++;
        }
    }
    return NULL;
}

static bool is_unsupported(const char *name, size_t len)
{
    for (size_t i = 0; unsupported[i]; i++)
        if (strlen(unsupported[i]) == len && strncmp(unsupported[i], name, len) == 0)
            return true;
    return false;
}

/* ---- config file ---------------------------------------------------------------- */

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && (isspace((unsigned char)e[-1]) || e[-1] == ',' || e[-1] == ';'))
        *--e = '\0';
    return s;
}

static bool load_file(struct hr_config *cfg, const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot open config file '%s': %s", path, strerror(errno));
        return false;
    }
    char line[4096], prefix[256] = "";
    size_t depth_len[16];
    int depth = 0, lineno = 0;
    bool ok = true;
    while (ok && fgets(line, sizeof line, f)) {
        lineno++;
        char origin[300];
        snprintf(origin, sizeof origin, "%s:%d", path, lineno);
        char *s = trim(line);
        if (!*s || *s == '#' || (s[0] == '/' && s[1] == '/'))
            continue;
        if (*s == '}') {
            if (depth == 0) {
                snprintf(err, errlen, "%s: unbalanced '}'", origin);
                ok = false;
                break;
            }
            prefix[depth_len[--depth]] = '\0';
            continue;
        }
        size_t kl = strcspn(s, " \t:={");
        char key[128];
        if (kl == 0 || kl >= sizeof key) {
            snprintf(err, errlen, "%s: expected 'key: value'", origin);
            ok = false;
            break;
        }
        memcpy(key, s, kl);
        key[kl] = '\0';
        char *v = trim(s + kl);
        if (*v == ':' || *v == '=')
            v = trim(v + 1);
        if (*v == '{') {
            if (depth == 16 || strlen(prefix) + kl + 2 >= sizeof prefix) {
                snprintf(err, errlen, "%s: blocks nested too deep", origin);
                ok = false;
                break;
            }
            depth_len[depth++] = strlen(prefix);
            strcat(prefix, key);
            strcat(prefix, ".");
            continue;
        }
        size_t vl = strlen(v);
        if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) {
            v[vl - 1] = '\0';
            v++;
        }
        char full[400];
        snprintf(full, sizeof full, "%s%s", prefix, key);
        const struct option_def *def = find_option(full, strlen(full));
        if (!def && depth == 0)
            def = find_option(key, kl);
        if (!def) {
            snprintf(err, errlen, "%.200s: %s option '%.200s'", origin,
                     is_unsupported(key, kl) ? "unsupported" : "unknown", full);
            ok = false;
            break;
        }
        ok = set_option(cfg, def, v, origin, err, errlen);
    }
    if (ok && depth != 0) {
        snprintf(err, errlen, "%s: missing '}'", path);
        ok = false;
    }
    fclose(f);
    return ok;
}

/* ---- help, dump ----------------------------------------------------------------- */

static void print_help(FILE *out)
{
    fprintf(out,
            "Usage: heraldd [options]\n\n"
            "Herald %s: an event backbone speaking the NATS client protocol.\n\n"
            "Options (also settable in the config file as 'name: value' and in the\n"
            "environment as HERALD_NAME):\n",
            HERALD_VERSION);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct option_def *d = &options[i];
        char flags[128];
        int n = snprintf(flags, sizeof flags, "--%s", d->name);
        const char *a = d->aliases;
        while (*a && n < (int)sizeof flags - 8) {
            size_t al = strcspn(a, " ");
            if (!memchr(a, '.', al))
                n += snprintf(flags + n, sizeof flags - (size_t)n, ", -%.*s", (int)al, a);
            a += al;
            while (*a == ' ')
                a++;
        }
        fprintf(out, "  %-34s %s (%s, default %s)\n", flags, d->help, type_name(d->type),
                *d->def ? d->def : "none");
    }
    fprintf(out, "  %-34s %s\n", "-DV", "debug and trace logging");
    fprintf(out, "  %-34s %s\n", "--dump-config", "print the effective configuration and exit");
    fprintf(out, "  %-34s %s\n", "-v, --version", "print the version and exit");
    fprintf(out, "  %-34s %s\n", "-h, --help", "print this help and exit");
}

void hr_config_dump(const struct hr_config *cfg, FILE *out)
{
    fprintf(out, "# heraldd %s effective configuration\n", HERALD_VERSION);
    for (size_t i = 0; i < N_OPTIONS; i++) {
        const struct option_def *d = &options[i];
        const void *field = (const char *)cfg + d->offset;
        switch (d->type) {
        case T_STRING:
            fprintf(out, "%s: \"%s\"\n", d->name, *(char *const *)field ? *(char *const *)field : "");
            break;
        case T_BOOL:
            fprintf(out, "%s: %s\n", d->name, *(const bool *)field ? "true" : "false");
            break;
        case T_DURATION:
            fprintf(out, "%s: \"%lldms\"\n", d->name, (long long)*(const int64_t *)field);
            break;
        case T_INT:
        case T_SIZE:
            fprintf(out, "%s: %lld\n", d->name, (long long)*(const int64_t *)field);
            break;
        }
    }
}

/* ---- load ----------------------------------------------------------------------- */

struct cli_setting {
    const struct option_def *def;
    const char *value;
};

enum hr_config_action hr_config_load(struct hr_config *cfg, int argc, char **argv)
{
    char err[512];
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (!set_option(cfg, &options[i], options[i].def, "default", err, sizeof err)) {
            fprintf(stderr, "heraldd: internal: %s\n", err);
            return HR_CONFIG_EXIT_ERROR;
        }

    /* 1. Read the command line into settings (applied last). */
    struct cli_setting *cli = calloc((size_t)argc + 2, sizeof *cli);
    if (!cli)
        return HR_CONFIG_EXIT_ERROR;
    size_t ncli = 0;
    bool dump = false;
    enum hr_config_action action = HR_CONFIG_RUN;
    for (int i = 1; i < argc && action == HR_CONFIG_RUN; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-' || arg[1] == '\0') {
            fprintf(stderr, "heraldd: unexpected argument '%s' (see heraldd --help)\n", arg);
            action = HR_CONFIG_EXIT_USAGE;
            break;
        }
        const char *name = arg + (arg[1] == '-' ? 2 : 1);
        const char *eq = strchr(name, '=');
        size_t nl = eq ? (size_t)(eq - name) : strlen(name);
        if ((nl == 1 && name[0] == 'h') || (nl == 4 && !strncmp(name, "help", 4))) {
            print_help(stdout);
            action = HR_CONFIG_EXIT_OK;
        } else if ((nl == 1 && name[0] == 'v') || (nl == 7 && !strncmp(name, "version", 7))) {
            printf("heraldd: v%s (NATS protocol compatible with nats-server v2.9)\n", HERALD_VERSION);
            action = HR_CONFIG_EXIT_OK;
        } else if (nl == 11 && !strncmp(name, "dump-config", 11)) {
            dump = true;
        } else if (nl == 2 && !strncmp(name, "DV", 2)) {
            cli[ncli++] = (struct cli_setting){find_option("debug", 5), "true"};
            cli[ncli++] = (struct cli_setting){find_option("trace", 5), "true"};
        } else {
            const struct option_def *def = find_option(name, nl);
            if (!def) {
                if (is_unsupported(name, nl))
                    fprintf(stderr, "heraldd: option '%s' is a nats-server option Herald does not support\n", arg);
                else
                    fprintf(stderr, "heraldd: unknown option '%s' (see heraldd --help)\n", arg);
                action = HR_CONFIG_EXIT_USAGE;
                break;
            }
            const char *value;
            if (eq)
                value = eq + 1;
            else if (def->type == T_BOOL)
                value = "true";
            else if (i + 1 < argc)
                value = argv[++i];
            else {
                fprintf(stderr, "heraldd: option '%s' needs a value\n", arg);
                action = HR_CONFIG_EXIT_USAGE;
                break;
            }
            cli[ncli++] = (struct cli_setting){def, value};
        }
    }

    /* 2. Config file (the last -c on the command line wins, else HERALD_CONFIG). */
    const char *env_config = getenv("HERALD_CONFIG");
    if (env_config && action == HR_CONFIG_RUN &&
        !set_option(cfg, find_option("config", 6), env_config, "HERALD_CONFIG", err, sizeof err)) {
        fprintf(stderr, "heraldd: %s\n", err);
        action = HR_CONFIG_EXIT_USAGE;
    }
    for (size_t i = 0; i < ncli && action == HR_CONFIG_RUN; i++)
        if (cli[i].def->offset == OFF(config_file) &&
            !set_option(cfg, cli[i].def, cli[i].value, "command line", err, sizeof err)) {
            fprintf(stderr, "heraldd: %s\n", err);
            action = HR_CONFIG_EXIT_USAGE;
        }
    if (action == HR_CONFIG_RUN && cfg->config_file && *cfg->config_file &&
        !load_file(cfg, cfg->config_file, err, sizeof err)) {
        fprintf(stderr, "heraldd: %s\n", err);
        action = HR_CONFIG_EXIT_ERROR;
    }

    /* 3. Environment: HERALD_<NAME>. */
    for (size_t i = 0; i < N_OPTIONS && action == HR_CONFIG_RUN; i++) {
        char env[64] = "HERALD_";
        size_t k = 7;
        for (const char *p = options[i].name; *p && k < sizeof env - 1; p++)
            env[k++] = (char)toupper((unsigned char)*p);
        env[k] = '\0';
        const char *v = getenv(env);
        if (v && !set_option(cfg, &options[i], v, env, err, sizeof err)) {
            fprintf(stderr, "heraldd: %s\n", err);
            action = HR_CONFIG_EXIT_ERROR;
        }
    }

    /* 4. Command line. */
    for (size_t i = 0; i < ncli && action == HR_CONFIG_RUN; i++)
        if (!set_option(cfg, cli[i].def, cli[i].value, "command line", err, sizeof err)) {
            fprintf(stderr, "heraldd: %s\n", err);
            action = HR_CONFIG_EXIT_USAGE;
        }
    free(cli);
    int64_t sync_ms;
    if (action == HR_CONFIG_RUN && strcmp(cfg->sync, "always") && strcmp(cfg->sync, "never") &&
        (!hr_config_parse_duration_ms(cfg->sync, &sync_ms) || sync_ms <= 0)) {
        fprintf(stderr, "heraldd: 'sync' must be always, never or a duration such as 100ms, not '%s'\n",
                cfg->sync);
        action = HR_CONFIG_EXIT_USAGE;
    }
    if (action == HR_CONFIG_RUN && cfg->max_pending < cfg->max_payload) {
        fprintf(stderr, "heraldd: 'max_pending' (%lld) must be at least 'max_payload' (%lld)\n",
                (long long)cfg->max_pending, (long long)cfg->max_payload);
        action = HR_CONFIG_EXIT_USAGE;
    }
    if (action == HR_CONFIG_RUN && ((*cfg->user != '\0') != (*cfg->pass != '\0'))) {
        fprintf(stderr, "heraldd: 'user' and 'pass' must be given together\n");
        action = HR_CONFIG_EXIT_USAGE;
    }
    if (action == HR_CONFIG_RUN && dump) {
        hr_config_dump(cfg, stdout);
        action = HR_CONFIG_EXIT_OK;
    }
    return action;
}

void hr_config_cleanup(struct hr_config *cfg)
{
    for (size_t i = 0; i < N_OPTIONS; i++)
        if (options[i].type == T_STRING) {
            char **f = (char **)((char *)cfg + options[i].offset);
            free(*f);
            *f = NULL;
        }
}
