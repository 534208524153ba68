/* SPDX-License-Identifier: Apache-2.0
 *
 * heraldd's configuration: one table of options (name, type, default, bounds, help) from
 * which the command-line parser, the config-file reader, the environment reader,
 * `--help` and `--dump-config` are all derived (tmux's options_table).
 *
 * Precedence, lowest first: table defaults ← config file (-c) ← environment
 * (HERALD_<NAME>) ← command line. nats-server's spellings are accepted as aliases
 * (`-a`, `-p`, `-js`, `-sd`, `-l`, `-D`, `-V`, `-DV`, `--user`, `--pass`, `--auth`, …),
 * with one or two leading dashes, so tools written to start nats-server can start heraldd.
 */
#ifndef HR_SERVER_CONFIG_H
#define HR_SERVER_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct hr_config {
    char *addr;
    int64_t port;
    int64_t http_port;
    char *http_allowed_origins;
    char *server_name;
    bool jetstream;
    char *sync;
    int64_t segment_size;
    char *store_dir;
    char *js_domain;
    char *log_file;
    bool debug;
    bool trace;
    char *user;
    char *pass;
    char *auth_token;
    int64_t max_payload;
    int64_t max_control_line;
    int64_t max_pending;
    int64_t max_connections;
    int64_t max_subscriptions;
    int64_t ping_interval_ms;
    int64_t ping_max;
    int64_t write_deadline_ms;
    char *config_file;
};

enum hr_config_action { HR_CONFIG_RUN, HR_CONFIG_EXIT_OK, HR_CONFIG_EXIT_USAGE, HR_CONFIG_EXIT_ERROR };

/* Fills `cfg` from defaults, the config file, the environment and argv, in that order.
 * Handles --help, --version and --dump-config itself (printing to stdout) and reports
 * problems on stderr. Returns what main should do. */
enum hr_config_action hr_config_load(struct hr_config *cfg, int argc, char **argv);

/* Frees the strings held by `cfg`. */
void hr_config_cleanup(struct hr_config *cfg);

/* Writes every option as `name: value` in config-file syntax. */
void hr_config_dump(const struct hr_config *cfg, FILE *out);

/* Parses "1MB", "64KiB", "1048576" (bytes) and "500ms", "2s", "1m", "1h", "3" (seconds)
 * into bytes / milliseconds. Return false on a malformed value. */
bool hr_config_parse_size(const char *s, int64_t *out);
bool hr_config_parse_duration_ms(const char *s, int64_t *out);

#endif
