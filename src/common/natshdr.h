/* SPDX-License-Identifier: Apache-2.0
 *
 * NATS message headers: the `NATS/1.0[ status[ description]]\r\n(Key: Value\r\n)*\r\n`
 * block carried by HPUB/HMSG and stored with messages. Reading is zero-copy; writing
 * appends to an hr_buf. Pure functions, no I/O.
 */
#ifndef HR_COMMON_NATSHDR_H
#define HR_COMMON_NATSHDR_H

#include <stdbool.h>
#include <stddef.h>

#include "common/buf.h"

/* Finds the first header `key` (case-insensitive) and points *val at its value (leading
 * and trailing blanks trimmed). Returns false when absent or the block is malformed. */
bool hr_hdr_get(const char *hdr, size_t len, const char *key, const char **val, size_t *vlen);

/* The status code on the first line (e.g. 503), or 0 when there is none. */
int hr_hdr_status(const char *hdr, size_t len);

/* Starts a header block in `b` with an optional status (0: none) and description. */
int hr_hdr_begin(struct hr_buf *b, int status, const char *description);
/* Appends `Key: Value\r\n` (value may be non-NUL-terminated). */
int hr_hdr_add(struct hr_buf *b, const char *key, const char *val, size_t vlen);
/* Appends every header line of an existing block except those whose key is in `skip`
 * (a NULL-terminated list, case-insensitive; may be NULL). */
int hr_hdr_copy(struct hr_buf *b, const char *hdr, size_t len, const char *const *skip);
/* Terminates the block with the blank line. */
int hr_hdr_end(struct hr_buf *b);

#endif
