/* SPDX-License-Identifier: Apache-2.0
 *
 * The WebSocket frame encoder for Herald's outgoing data and ping frames (RFC 6455 5.2).
 * Incoming frames are parsed by libwslay (http_ws.c); this writes the frames the server
 * sends itself, so they can be appended to a connection's wire buffer in order with what
 * wslay queues. Pure: no I/O, no wslay.
 *
 *   W1. One frame: FIN set, RSV bits clear, `opcode` in the low nibble, unmasked (a server
 *       never masks), payload length in the shortest form (7 bits, 16 or 64 bits).
 *   W2. All or nothing: on an hr_buf error `wire` is unchanged.
 */
#ifndef HR_HEADS_HTTP_WS_FRAME_H
#define HR_HEADS_HTTP_WS_FRAME_H

#include <stddef.h>

#include "common/buf.h"

/* Appends one unmasked server frame. Returns 0, HERALD_ELIMIT or HERALD_ENOMEM. */
int hr_ws_frame_encode(struct hr_buf *wire, int opcode, const void *p, size_t n);

#endif
