/* SPDX-License-Identifier: Apache-2.0
 *
 * Logging with levels, to stderr or a file. The one piece of global state Herald keeps
 * (STYLE: globals only for logging and signal flags).
 *
 * Contract:
 *   1. Lines look like nats-server's: `[pid] 2026/11/28 14:32:14.123456 [INF] text`.
 *   2. A line is written with one write(2), so lines from threads do not interleave.
 *   3. Logging never fails the caller: a write error is ignored.
 */
#ifndef HR_COMMON_LOG_H
#define HR_COMMON_LOG_H

enum hr_log_level { HR_LOG_ERROR = 0, HR_LOG_WARN, HR_LOG_INFO, HR_LOG_DEBUG, HR_LOG_TRACE };

/* Sets the most verbose level that is written (default HR_LOG_INFO). */
void hr_log_set_level(enum hr_log_level level);
enum hr_log_level hr_log_get_level(void);

/* Sends log lines to `path` (appending) instead of stderr; NULL or "" means stderr.
 * Returns 0 or a negative errno. */
int hr_log_open(const char *path);
void hr_log_close(void);

void hr_log(enum hr_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define hr_error(...) hr_log(HR_LOG_ERROR, __VA_ARGS__)
#define hr_warn(...) hr_log(HR_LOG_WARN, __VA_ARGS__)
#define hr_info(...) hr_log(HR_LOG_INFO, __VA_ARGS__)
#define hr_debug(...)                          \
    do {                                       \
        if (hr_log_get_level() >= HR_LOG_DEBUG) \
            hr_log(HR_LOG_DEBUG, __VA_ARGS__); \
    } while (0)
#define hr_trace(...)                          \
    do {                                       \
        if (hr_log_get_level() >= HR_LOG_TRACE) \
            hr_log(HR_LOG_TRACE, __VA_ARGS__); \
    } while (0)

#endif
