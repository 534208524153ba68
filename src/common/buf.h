/* SPDX-License-Identifier: Apache-2.0
 *
 * hr_buf: a growable byte buffer with a hard cap (curl's dynbuf).
 *
 * Contract:
 *   1. A buffer never grows past `max` bytes; an append that would is refused with
 *      HERALD_ELIMIT and leaves the buffer unchanged. The caller chooses the overflow
 *      policy (close the peer, drop, report).
 *   2. Out of memory is returned as HERALD_ENOMEM, never an abort.
 *   3. `data` may move on any call that grows the buffer; do not keep pointers into it
 *      across such a call.
 */
#ifndef HR_COMMON_BUF_H
#define HR_COMMON_BUF_H

#include <stddef.h>
#include <stdint.h>

struct hr_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
};

/* Initialises an empty buffer capped at `max` bytes (caller's storage). No allocation. */
void hr_buf_init(struct hr_buf *b, size_t max);

/* Frees the storage; the buffer is empty and may be reused. */
void hr_buf_cleanup(struct hr_buf *b);

/* Ensures room for `extra` more bytes. Returns 0, HERALD_ELIMIT or HERALD_ENOMEM. */
int hr_buf_reserve(struct hr_buf *b, size_t extra);

/* Appends `n` bytes. Returns 0, HERALD_ELIMIT or HERALD_ENOMEM. */
int hr_buf_append(struct hr_buf *b, const void *p, size_t n);

/* Appends a NUL-terminated string (without the NUL). */
int hr_buf_puts(struct hr_buf *b, const char *s);

/* Appends printf-formatted text. Returns 0, HERALD_ELIMIT, HERALD_ENOMEM or HERALD_EINVAL. */
int hr_buf_printf(struct hr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Drops the first `n` bytes (n <= len), moving the rest to the front. */
void hr_buf_consume(struct hr_buf *b, size_t n);

/* Releases the storage if it is larger than `keep` bytes and the buffer is empty, so an
 * idle connection does not pin a burst's worth of memory. */
void hr_buf_shrink(struct hr_buf *b, size_t keep);

/* Writes the decimal form of `v` to `dst` (room for 20 bytes); returns its length. */
size_t hr_fmt_u64(char *dst, uint64_t v);

#endif
