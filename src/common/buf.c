/* SPDX-License-Identifier: Apache-2.0
 *
 * hr_buf implementation. Growth doubles up to the cap; see buf.h for the contract.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "herald/errors.h"

void hr_buf_init(struct hr_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void hr_buf_cleanup(struct hr_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

int hr_buf_reserve(struct hr_buf *b, size_t extra)
{
    if (extra > b->max || b->len > b->max - extra)
        return HERALD_ELIMIT;
    size_t need = b->len + extra;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 ? need : cap * 2;
    if (cap > b->max)
        cap = b->max;
    char *p = realloc(b->data, cap);
    if (!p)
        return HERALD_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int hr_buf_append(struct hr_buf *b, const void *p, size_t n)
{
    int rc = hr_buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int hr_buf_puts(struct hr_buf *b, const char *s)
{
    return hr_buf_append(b, s, strlen(s));
}

int hr_buf_printf(struct hr_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return HERALD_EINVAL;
    int rc = hr_buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    /* vsnprintf writes a NUL too; use a scratch copy when that byte is past the cap. */
    char *dst = b->cap - b->len > (size_t)n ? b->data + b->len : malloc((size_t)n + 1);
    if (!dst)
        return HERALD_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(dst, (size_t)n + 1, fmt, ap);
    va_end(ap);
    if (dst != b->data + b->len) {
        memcpy(b->data + b->len, dst, (size_t)n);
        free(dst);
    }
    b->len += (size_t)n;
    return 0;
}

void hr_buf_consume(struct hr_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void hr_buf_shrink(struct hr_buf *b, size_t keep)
{
    if (b->len == 0 && b->cap > keep)
        hr_buf_cleanup(b);
}

size_t hr_fmt_u64(char *dst, uint64_t v)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        dst[i] = tmp[n - 1 - i];
    return n;
}
