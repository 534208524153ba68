/* SPDX-License-Identifier: Apache-2.0
 *
 * The WebSocket frame encoder (ws_frame.h): W1–W2.
 */
#include "heads/http/ws_frame.h"

#include <stdint.h>
#include <string.h>

#include "herald/errors.h"

int hr_ws_frame_encode(struct hr_buf *wire, int opcode, const void *p, size_t n)
{
    unsigned char head[10];
    size_t h = 2;
    head[0] = (unsigned char)(0x80 | (opcode & 0x0F));
    if (n < 126) {
        head[1] = (unsigned char)n;
    } else if (n <= 0xFFFF) {
        head[1] = 126;
        head[2] = (unsigned char)(n >> 8);
        head[3] = (unsigned char)n;
        h = 4;
    } else {
        head[1] = 127;
        for (int i = 0; i < 8; i++)
            head[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        h = 10;
    }
    if (n > SIZE_MAX - h)
        return HERALD_ELIMIT;
    int rc = hr_buf_reserve(wire, h + n);
    if (rc != 0)
        return rc;
    memcpy(wire->data + wire->len, head, h);
    if (n)
        memcpy(wire->data + wire->len + h, p, n);
    wire->len += h + n;
    return 0;
}
