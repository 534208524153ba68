/* SPDX-License-Identifier: Apache-2.0
 *
 * heraldd: configuration, logging, the engine, the heads' listeners, the loop.
 * Exit codes: 0 clean shutdown (SIGINT/SIGTERM) or --help/--version, 1 runtime failure
 * (cannot listen, cannot create the data directory), 2 usage error.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/log.h"
#include "heads/http/http.h"
#include "heads/nats/nats.h"
#include "herald/herald.h"
#include "herald/stream.h"
#include "server/config.h"
#include "server/server.h"

static int make_dir(const char *path)
{
    char tmp[4096];
    if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
        return -ENAMETOOLONG;
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int main(int argc, char **argv)
{
    struct hr_config cfg;
    int status = 1;
    switch (hr_config_load(&cfg, argc, argv)) {
    case HR_CONFIG_RUN:
        break;
    case HR_CONFIG_EXIT_OK:
        status = 0;
        goto out_config;
    case HR_CONFIG_EXIT_USAGE:
        status = 2;
        goto out_config;
    case HR_CONFIG_EXIT_ERROR:
        goto out_config;
    }
    signal(SIGPIPE, SIG_IGN);
    if (cfg.trace)
        hr_log_set_level(HR_LOG_TRACE);
    else if (cfg.debug)
        hr_log_set_level(HR_LOG_DEBUG);
    int rc = hr_log_open(cfg.log_file);
    if (rc) {
        fprintf(stderr, "heraldd: cannot open log file '%s': %s\n", cfg.log_file, strerror(-rc));
        goto out_config;
    }
    rc = make_dir(cfg.store_dir);
    if (rc) {
        hr_error("cannot create data directory '%s': %s", cfg.store_dir, strerror(-rc));
        goto out_log;
    }

    uv_loop_t *loop = uv_default_loop();
    struct herald_engine *engine = NULL;
    int64_t sync_ms = 0;
    enum herald_sync sync = HERALD_SYNC_ALWAYS;
    if (strcmp(cfg.sync, "never") == 0)
        sync = HERALD_SYNC_NEVER;
    else if (strcmp(cfg.sync, "always") != 0 && hr_config_parse_duration_ms(cfg.sync, &sync_ms))
        sync = HERALD_SYNC_INTERVAL;
    struct herald_engine_options eo = {
        .max_payload = (size_t)cfg.max_payload,
        .loop = loop,
        .store_dir = cfg.jetstream ? cfg.store_dir : NULL,
        .sync = sync,
        .sync_interval_ms = sync_ms,
        .segment_bytes = (uint64_t)cfg.segment_size,
        .js_domain = cfg.js_domain,
    };
    rc = herald_engine_create(&eo, &engine);
    if (rc) {
        hr_error("cannot open the engine on '%s': %s", cfg.store_dir, herald_strerror(rc));
        goto out_log;
    }
    struct hr_server server;
    hr_server_init(&server, loop, &cfg, engine);
    rc = hr_server_listen(&server, &hr_nats_head, (int)cfg.port);
    if (rc) {
        hr_error("cannot listen on %s:%lld: %s", cfg.addr, (long long)cfg.port, uv_strerror(rc));
        hr_server_shutdown(&server);
        uv_run(loop, UV_RUN_DEFAULT);
        goto out_engine;
    }
    hr_info("Starting heraldd v%s (nats-server %s compatible)", HERALD_VERSION, HR_NATS_COMPAT_VERSION);
    hr_info("Server id is %s, data directory %s", server.server_id, cfg.store_dir);
    if (cfg.jetstream)
        hr_info("Streams enabled: sync=%s%s%s", cfg.sync, *cfg.js_domain ? ", domain " : "", cfg.js_domain);
    if (sync != HERALD_SYNC_ALWAYS)
        hr_warn("sync=%s: acknowledged messages can be lost in a crash (see docs/configuration.md)", cfg.sync);
    hr_info("Listening for client connections on %s:%d", cfg.addr, server.listeners[0].port);
    if (cfg.http_port) {
        rc = hr_server_listen(&server, &hr_http_head, (int)cfg.http_port);
        if (rc) {
            hr_error("cannot listen for HTTP on %s:%lld: %s", cfg.addr, (long long)cfg.http_port,
                     uv_strerror(rc));
            hr_server_shutdown(&server);
            uv_run(loop, UV_RUN_DEFAULT);
            goto out_engine;
        }
        hr_info("Listening for HTTP (REST, SSE, monitoring) on %s:%d", cfg.addr,
                server.listeners[server.nlisteners - 1].port);
    }
    hr_info("Server is ready");
    uv_run(loop, UV_RUN_DEFAULT);
    hr_info("Server exiting");
    status = 0;
out_engine:
    hr_server_cleanup(&server);
    herald_engine_destroy(engine); /* syncs and closes the streams */
    uv_run(loop, UV_RUN_NOWAIT);   /* lets the closed handles finish */
    uv_loop_close(loop);
out_log:
    hr_log_close();
out_config:
    hr_config_cleanup(&cfg);
    return status;
}
