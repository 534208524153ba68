/* SPDX-License-Identifier: Apache-2.0
 *
 * NATS header block reading and writing; see natshdr.h.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/natshdr.h"

static const char *line_end(const char *p, const char *end)
{
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    return nl ? nl : end;
}

bool hr_hdr_get(const char *hdr, size_t len, const char *key, const char **val, size_t *vlen)
{
    if (!hdr || len < 8 || strncmp(hdr, "NATS/1.0", 8) != 0)
        return false;
    size_t klen = strlen(key);
    const char *end = hdr + len;
    const char *p = line_end(hdr, end);
    while (p < end) {
        p++; /* past '\n' */
        const char *e = line_end(p, end);
        const char *le = e;
        if (le > p && le[-1] == '\r')
            le--;
        if (le == p)
            break; /* the blank line ends the block */
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (colon && (size_t)(colon - p) == klen && strncasecmp(p, key, klen) == 0) {
            const char *v = colon + 1;
            while (v < le && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = le;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            *val = v;
            *vlen = (size_t)(ve - v);
            return true;
        }
        p = e;
    }
    return false;
}

int hr_hdr_status(const char *hdr, size_t len)
{
    if (!hdr || len < 12 || strncmp(hdr, "NATS/1.0 ", 9) != 0)
        return 0;
    int status = 0;
    for (size_t i = 9; i < len && i < 12; i++) {
        if (hdr[i] < '0' || hdr[i] > '9')
            return 0;
        status = status * 10 + (hdr[i] - '0');
    }
    return status;
}

int hr_hdr_begin(struct hr_buf *b, int status, const char *description)
{
    if (status)
        return hr_buf_printf(b, "NATS/1.0 %d%s%s\r\n", status, description ? " " : "",
                             description ? description : "");
    return hr_buf_puts(b, "NATS/1.0\r\n");
}

int hr_hdr_add(struct hr_buf *b, const char *key, const char *val, size_t vlen)
{
    int rc = hr_buf_puts(b, key);
    if (!rc)
        rc = hr_buf_append(b, ": ", 2);
    if (!rc)
        rc = hr_buf_append(b, val, vlen);
    if (!rc)
        rc = hr_buf_append(b, "\r\n", 2);
    return rc;
}

int hr_hdr_copy(struct hr_buf *b, const char *hdr, size_t len, const char *const *skip)
{
    if (!hdr || len < 8 || strncmp(hdr, "NATS/1.0", 8) != 0)
        return 0;
    const char *end = hdr + len;
    const char *p = line_end(hdr, end);
    while (p < end) {
        p++;
        const char *e = line_end(p, end);
        const char *le = e;
        if (le > p && le[-1] == '\r')
            le--;
        if (le == p)
            break;
        const char *colon = memchr(p, ':', (size_t)(le - p));
        bool skipped = false;
        for (size_t i = 0; colon && skip && skip[i]; i++)
            if (strlen(skip[i]) == (size_t)(colon - p) && strncasecmp(p, skip[i], (size_t)(colon - p)) == 0)
                skipped = true;
        if (!skipped) {
            int rc = hr_buf_append(b, p, (size_t)(le - p));
            if (!rc)
                rc = hr_buf_append(b, "\r\n", 2);
            if (rc)
                return rc;
        }
        p = e;
    }
    return 0;
}

int hr_hdr_end(struct hr_buf *b)
{
    return hr_buf_append(b, "\r\n", 2);
}
