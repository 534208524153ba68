/* SPDX-License-Identifier: Apache-2.0
 *
 * The Server-Sent Events encoder (WHATWG HTML §9.2 "event stream"), used by http_sse.c.
 * Pure: no I/O. What a conformant reader gets back from one encoded event:
 *
 *   E1. `id` when it is not 0 (no `id:` line for 0: the reader keeps its last event ID).
 *   E2. The event type `event` with each CR and LF replaced by a space (a name is one
 *       line); no `event:` line when `event_len` is 0, so the type is "message".
 *   E3. The data `data` with every line break — CRLF, a lone LF, a lone CR — turned into
 *       one LF; a payload ending in a line break keeps that final LF, and an empty payload
 *       is still an event, with empty data.
 */
#ifndef HR_HEADS_HTTP_SSE_ENCODE_H
#define HR_HEADS_HTTP_SSE_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* Appends one event, ending in its blank line, to `b`. Returns 0 or an hr_buf error
 * (then `b` may hold part of the event). */
int hr_sse_encode_event(struct hr_buf *b, uint64_t id, const char *event, size_t event_len,
                        const char *data, size_t len);

#endif
