/* SPDX-License-Identifier: Apache-2.0
 *
 * The Server-Sent Events encoder (sse_encode.h): E1–E3.
 */
#include "heads/http/sse_encode.h"

#include <inttypes.h>

int hr_sse_encode_event(struct hr_buf *b, uint64_t id, const char *event, size_t event_len,
                        const char *data, size_t len)
{
    int rc = 0;
    if (id)
        rc = hr_buf_printf(b, "id: %" PRIu64 "\n", id);
    if (!rc && event_len) {
        rc = hr_buf_append(b, "event: ", 7);
        for (size_t i = 0; !rc && i < event_len; i++) /* an event name is one line */
            rc = hr_buf_append(b, event[i] == '\r' || event[i] == '\n' ? " " : &event[i], 1);
        rc = rc ? rc : hr_buf_append(b, "\n", 1);
    }
    /* every line of the payload is a data: line; a payload ending in a line break gets a
     * final empty data: line, so the reader's data ends in "\n" exactly as sent */
    const char *p = data, *end = data + len;
    for (;;) {
        const char *q = p;
        while (q < end && *q != '\r' && *q != '\n')
            q++;
        rc = rc ? rc : hr_buf_append(b, "data: ", 6);
        rc = rc ? rc : hr_buf_append(b, p, (size_t)(q - p));
        rc = rc ? rc : hr_buf_append(b, "\n", 1);
        if (q >= end)
            break;
        if (*q == '\r' && q + 1 < end && q[1] == '\n')
            q++;
        p = q + 1;
    }
    return rc ? rc : hr_buf_append(b, "\n", 1);
}
