/* SPDX-License-Identifier: Apache-2.0
 *
 * Log line formatting and output; see log.h. Owns the log file descriptor.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

static enum hr_log_level log_level = HR_LOG_INFO;
static int log_fd = 2;

void hr_log_set_level(enum hr_log_level level)
{
    log_level = level;
}

enum hr_log_level hr_log_get_level(void)
{
    return log_level;
}

int hr_log_open(const char *path)
{
    if (!path || !*path) {
        hr_log_close();
        return 0;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    hr_log_close();
    log_fd = fd;
    return 0;
}

void hr_log_close(void)
{
    if (log_fd > 2)
        close(log_fd);
    log_fd = 2;
}

void hr_log(enum hr_log_level level, const char *fmt, ...)
{
    static const char *const tags[] = {"ERR", "WRN", "INF", "DBG", "TRC"};
    if (level > log_level)
        return;
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "[%d] %04d/%02d/%02d %02d:%02d:%02d.%06ld [%s] ",
                     (int)getpid(), tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, (long)tv.tv_usec, tags[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    ssize_t w = write(log_fd, line, len);
    (void)w;
}
