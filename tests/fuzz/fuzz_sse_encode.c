/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer harness for the Server-Sent Events encoder (src/heads/http/sse_encode.c).
 * Built by `make fuzz`; `make fuzz-smoke` runs it over tests/fuzz/corpus/sse_encode/.
 *
 * The input is read as (id bytes, event-name length, name, data). The event is encoded,
 * then read back by the WHATWG event-stream interpretation (the same reader as
 * tests/unit/test_sse_encode.c, on bytes):
 *   F1. exactly one event is dispatched, and the stream ends with its blank line;
 *   F2. its last event ID is the decimal id (none for 0), its type the name with CR and LF
 *       turned into spaces ("message" when there is no name), and its data the input data
 *       with each CRLF, CR and LF turned into one LF (E1–E3 in sse_encode.h).
 * Any violation aborts (__builtin_trap) so libFuzzer records the input.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "heads/http/sse_encode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

struct reader {
    struct hr_buf data, type, last_id;
    size_t n_ev;
    struct hr_buf ev_data, ev_type, ev_id; /* the (first) dispatched event */
};

static void put(struct hr_buf *b, const void *p, size_t n)
{
    CHECK(hr_buf_append(b, p, n) == 0);
}

static void dispatch(struct reader *r)
{
    if (r->data.len == 0) {
        r->type.len = 0;
        return;
    }
    if (r->data.data[r->data.len - 1] == '\n')
        r->data.len--;
    if (r->n_ev++ == 0) {
        put(&r->ev_data, r->data.data, r->data.len);
        put(&r->ev_id, r->last_id.data ? r->last_id.data : "", r->last_id.len);
        if (r->type.len)
            put(&r->ev_type, r->type.data, r->type.len);
        else
            put(&r->ev_type, "message", 7);
    }
    r->data.len = 0;
    r->type.len = 0;
}

static void line(struct reader *r, const char *l, size_t n)
{
    if (n == 0) {
        dispatch(r);
        return;
    }
    if (l[0] == ':')
        return;
    const char *colon = memchr(l, ':', n);
    size_t name_len = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : l + n;
    size_t vlen = (size_t)(l + n - v);
    if (vlen && v[0] == ' ')
        v++, vlen--;
    if (name_len == 4 && !memcmp(l, "data", 4)) {
        put(&r->data, v, vlen);
        put(&r->data, "\n", 1);
    } else if (name_len == 5 && !memcmp(l, "event", 5)) {
        r->type.len = 0;
        put(&r->type, v, vlen);
    } else if (name_len == 2 && !memcmp(l, "id", 2) && !memchr(v, '\0', vlen)) {
        r->last_id.len = 0;
        put(&r->last_id, v, vlen);
    }
}

static bool eq(const struct hr_buf *b, const char *p, size_t n)
{
    return b->len == n && (n == 0 || memcmp(b->data, p, n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *in, size_t size)
{
    if (size < 2)
        return 0;
    uint64_t id = 0;
    size_t idn = in[0] & 7; /* 0..7 bytes of id */
    size_t at = 1;
    for (size_t i = 0; i < idn && at < size; i++)
        id = id << 8 | in[at++];
    size_t name_len = at < size ? in[at++] % 32 : 0;
    if (name_len > size - at)
        name_len = size - at;
    const char *name = (const char *)in + at;
    const char *data = name + name_len;
    size_t len = size - at - name_len;

    struct hr_buf b;
    hr_buf_init(&b, SIZE_MAX);
    CHECK(hr_sse_encode_event(&b, id, name, name_len, data, len) == 0);
    CHECK(b.len >= 2 && b.data[b.len - 1] == '\n' && b.data[b.len - 2] == '\n');

    struct reader r;
    memset(&r, 0, sizeof r);
    struct hr_buf *bufs[] = {&r.data, &r.type, &r.last_id, &r.ev_data, &r.ev_type, &r.ev_id};
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        hr_buf_init(bufs[i], SIZE_MAX);
    size_t start = 0;
    for (size_t i = 0; i < b.len; i++) {
        if (b.data[i] != '\r' && b.data[i] != '\n')
            continue;
        line(&r, b.data + start, i - start);
        if (b.data[i] == '\r' && i + 1 < b.len && b.data[i + 1] == '\n')
            i++;
        start = i + 1;
    }
    CHECK(start == b.len);
    CHECK(r.n_ev == 1); /* F1 */

    char want_id[24];
    int k = id ? snprintf(want_id, sizeof want_id, "%" PRIu64, id) : 0;
    CHECK(eq(&r.ev_id, want_id, (size_t)k));
    char *want = malloc(len + name_len + 8);
    CHECK(want != NULL);
    size_t o = 0;
    for (size_t i = 0; i < name_len; i++)
        want[o++] = name[i] == '\r' || name[i] == '\n' ? ' ' : name[i];
    CHECK(name_len ? eq(&r.ev_type, want, o) : eq(&r.ev_type, "message", 7));
    o = 0;
    for (size_t i = 0; i < len; i++) {
        want[o++] = data[i] == '\r' ? '\n' : data[i];
        if (data[i] == '\r' && i + 1 < len && data[i + 1] == '\n')
            i++;
    }
    CHECK(eq(&r.ev_data, want, o)); /* F2 */
    free(want);
    for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++)
        hr_buf_cleanup(bufs[i]);
    hr_buf_cleanup(&b);
    return 0;
}
