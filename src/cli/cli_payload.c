/* SPDX-License-Identifier: Apache-2.0
 *
 * Payload handling for `herald`: a capped growable buffer, reading a payload from stdin,
 * and `{{Name}}` placeholder expansion (`{{Count}}` in pub, `{{Request}}` in reply).
 * Pure memory work plus one read loop on fd 0; no NATS, no printing.
 *
 * Invariants:
 *   1. A buffer never grows past its max_bytes: an append that would is refused whole
 *      with -EFBIG and leaves the buffer as it was (overflow policy: reject, never
 *      truncate a payload silently).
 *   2. Capacity grows by doubling from 4 KiB, clamped to max_bytes, so n appends cost
 *      O(total) copies and the cap bounds the allocation.
 *   3. A placeholder is `{{`, optional blanks, an optional '.', the name, optional blanks,
 *      `}}`; anything else (including `{{Other}}`) is copied literally.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

#define MIN_CAP ((size_t)4096)
#define READ_CHUNK ((size_t)65536)

void hr_cli_buf_init(struct hr_cli_buf *buf, size_t max_bytes)
{
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
    buf->max_bytes = max_bytes;
}

void hr_cli_buf_cleanup(struct hr_cli_buf *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
}

/* Makes room for `extra` more bytes. Returns 0, -EFBIG or -ENOMEM. */
static int buf_reserve(struct hr_cli_buf *buf, size_t extra)
{
    size_t want, cap;
    char *p;

    if (extra > buf->max_bytes - buf->len)
        return -EFBIG;
    want = buf->len + extra;
    if (want <= buf->cap)
        return 0;
    cap = buf->cap != 0 ? buf->cap : MIN_CAP;
    while (cap < want)
        cap = cap > buf->max_bytes / 2 ? buf->max_bytes : cap * 2;
    if (cap > buf->max_bytes)
        cap = buf->max_bytes;
    p = realloc(buf->data, cap);
    if (p == NULL)
        return -ENOMEM;
    buf->data = p;
    buf->cap = cap;
    return 0;
}

int hr_cli_buf_append(struct hr_cli_buf *buf, const void *bytes, size_t n)
{
    int rc;

    if (n == 0)
        return 0;
    rc = buf_reserve(buf, n);
    if (rc != 0)
        return rc;
    memcpy(buf->data + buf->len, bytes, n);
    buf->len += n;
    return 0;
}

/* Reads fd 0 to EOF into buf. Returns 0 or -errno (-EFBIG past max_bytes). */
static int stdin_read(struct hr_cli_buf *buf)
{
    for (;;) {
        ssize_t n;
        int rc = buf_reserve(buf, READ_CHUNK);

        if (rc == -EFBIG && buf->len < buf->max_bytes)
            rc = buf_reserve(buf, buf->max_bytes - buf->len); /* last partial chunk */
        if (rc == -EFBIG) {
            /* Full: only EOF is acceptable now. */
            char probe;
            do
                n = read(STDIN_FILENO, &probe, 1);
            while (n < 0 && errno == EINTR);
            return n == 0 ? 0 : n < 0 ? -errno : -EFBIG;
        }
        if (rc != 0)
            return rc;
        do
            n = read(STDIN_FILENO, buf->data + buf->len, buf->cap - buf->len);
        while (n < 0 && errno == EINTR);
        if (n < 0)
            return -errno;
        if (n == 0)
            return 0;
        buf->len += (size_t)n;
    }
}

int hr_cli_payload_load(const char *arg, bool allow_stdin, struct hr_cli_buf *buf)
{
    int rc;

    if (arg != NULL)
        rc = hr_cli_buf_append(buf, arg, strlen(arg));
    else if (allow_stdin && !isatty(STDIN_FILENO))
        rc = stdin_read(buf);
    else
        rc = 0;
    if (rc == -EFBIG)
        return hr_cli_fail("payload exceeds %zu bytes", buf->max_bytes);
    if (rc != 0)
        return hr_cli_fail("cannot read the payload%s: %s", arg != NULL ? "" : " from stdin",
                           strerror(-rc));
    return HR_CLI_EXIT_OK;
}

/* Length of the placeholder for `name` at p[0..len), or 0 if there is none there. */
static size_t placeholder_match(const char *p, size_t len, const char *name)
{
    size_t name_len = strlen(name);
    size_t i = 2;

    if (len < 4 || p[0] != '{' || p[1] != '{')
        return 0;
    while (i < len && p[i] == ' ')
        i++;
    if (i < len && p[i] == '.')
        i++;
    if (len - i < name_len || memcmp(p + i, name, name_len) != 0)
        return 0;
    i += name_len;
    while (i < len && p[i] == ' ')
        i++;
    if (len - i < 2 || p[i] != '}' || p[i + 1] != '}')
        return 0;
    return i + 2;
}

bool hr_cli_template_has(const char *tmpl, size_t tmpl_len, const char *name)
{
    for (size_t i = 0; i + 1 < tmpl_len; i++) {
        if (placeholder_match(tmpl + i, tmpl_len - i, name) != 0)
            return true;
    }
    return false;
}

int hr_cli_template_expand(struct hr_cli_buf *out, const char *tmpl, size_t tmpl_len,
                           const char *name, const char *val, size_t val_len)
{
    size_t lit = 0, i = 0;
    int rc;

    while (i < tmpl_len) {
        size_t n = placeholder_match(tmpl + i, tmpl_len - i, name);
        if (n == 0) {
            i++;
            continue;
        }
        rc = hr_cli_buf_append(out, tmpl + lit, i - lit);
        if (rc == 0)
            rc = hr_cli_buf_append(out, val, val_len);
        if (rc != 0)
            return rc;
        i += n;
        lit = i;
    }
    return hr_cli_buf_append(out, tmpl + lit, tmpl_len - lit);
}
