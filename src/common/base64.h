/* SPDX-License-Identifier: Apache-2.0
 *
 * Standard base64 (RFC 4648 §4, with padding), as the JetStream API carries payloads and
 * header blocks in JSON. Encoding returns a NUL-terminated string owned by the caller.
 */
#ifndef HR_COMMON_BASE64_H
#define HR_COMMON_BASE64_H

#include <stdbool.h>
#include <stddef.h>

/* Returns malloc'd base64 text for p[0..n), or NULL on out of memory. */
char *hr_base64_encode(const void *p, size_t n);

/* Decodes `src` (padding optional, no whitespace) into dst (room for len*3/4 bytes).
 * Returns false on an invalid character. */
bool hr_base64_decode(const char *src, size_t len, unsigned char *dst, size_t *out_len);

#endif
