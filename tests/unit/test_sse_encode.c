/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for the Server-Sent Events encoder (src/heads/http/sse_encode.c), E1–E3 in
 * sse_encode.h and the SSE section of docs/http-api.md. Every encoded event is read back
 * by the event-stream interpretation of WHATWG HTML §9.2.6, written out below: lines end at
 * CRLF, LF or CR; a line starting with ':' is a comment; otherwise the field name runs to
 * the first ':' (the whole line when there is none) and one leading space of the value is
 * dropped; `data` values are appended to the data buffer each followed by LF; `event` sets
 * the type; `id` without NUL sets the last event ID; `retry` and others are ignored here.
 * A blank line dispatches: the last event ID is kept, an empty data buffer dispatches
 * nothing, one trailing LF of the data is removed, and the type defaults to "message".
 * The reader works on bytes (the server only encodes UTF-8; others go base64).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "heads/http/sse_encode.h"
#include "herald/errors.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_EVENTS 8

/* ---- a WHATWG event-stream reader -------------------------------------------------------- */

struct sse_event {
    struct hr_buf type, data, last_id;
};

struct sse_reader {
    struct hr_buf data, type, last_id; /* the buffers of the spec */
    struct sse_event ev[MAX_EVENTS];
    size_t n_ev;
};

static void bcopy_(struct hr_buf *dst, const struct hr_buf *src)
{
    hr_buf_init(dst, SIZE_MAX);
    assert_int_equal(hr_buf_append(dst, src->data ? src->data : "", src->len), 0);
}

static void reader_init(struct sse_reader *r)
{
    memset(r, 0, sizeof *r);
    hr_buf_init(&r->data, SIZE_MAX);
    hr_buf_init(&r->type, SIZE_MAX);
    hr_buf_init(&r->last_id, SIZE_MAX);
}

static void reader_free(struct sse_reader *r)
{
    for (size_t i = 0; i < r->n_ev; i++) {
        hr_buf_cleanup(&r->ev[i].type);
        hr_buf_cleanup(&r->ev[i].data);
        hr_buf_cleanup(&r->ev[i].last_id);
    }
    hr_buf_cleanup(&r->data);
    hr_buf_cleanup(&r->type);
    hr_buf_cleanup(&r->last_id);
}

static void dispatch(struct sse_reader *r)
{
    if (r->data.len == 0) {
        r->type.len = 0;
        return;
    }
    if (r->data.data[r->data.len - 1] == '\n')
        r->data.len--;
    assert_true(r->n_ev < MAX_EVENTS);
    struct sse_event *e = &r->ev[r->n_ev++];
    bcopy_(&e->data, &r->data);
    bcopy_(&e->last_id, &r->last_id);
    if (r->type.len) {
        bcopy_(&e->type, &r->type);
    } else {
        hr_buf_init(&e->type, SIZE_MAX);
        assert_int_equal(hr_buf_puts(&e->type, "message"), 0);
    }
    r->data.len = 0;
    r->type.len = 0;
}

static void process_line(struct sse_reader *r, const char *l, size_t n)
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
        assert_int_equal(hr_buf_append(&r->data, v, vlen), 0);
        assert_int_equal(hr_buf_append(&r->data, "\n", 1), 0);
    } else if (name_len == 5 && !memcmp(l, "event", 5)) {
        r->type.len = 0;
        assert_int_equal(hr_buf_append(&r->type, v, vlen), 0);
    } else if (name_len == 2 && !memcmp(l, "id", 2)) {
        if (!memchr(v, '\0', vlen)) {
            r->last_id.len = 0;
            assert_int_equal(hr_buf_append(&r->last_id, v, vlen), 0);
        }
    } /* retry and unknown fields: nothing for this reader */
}

/* Reads a whole stream; bytes after the last line break are an unfinished line (ignored). */
static void reader_parse(struct sse_reader *r, const char *s, size_t n)
{
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\r' && s[i] != '\n')
            continue;
        process_line(r, s + start, i - start);
        if (s[i] == '\r' && i + 1 < n && s[i + 1] == '\n')
            i++;
        start = i + 1;
    }
}

/* ---- helpers ----------------------------------------------------------------------------- */

static void assert_buf_eq(const struct hr_buf *b, const char *want, size_t n)
{
    if (b->len != n || (n && memcmp(b->data, want, n) != 0))
        fail_msg("got \"%.*s\" (%zu), want \"%.*s\" (%zu)", (int)b->len, b->data ? b->data : "",
                 b->len, (int)n, want, n);
}

/* What the docs promise the reader gets: each CRLF, CR or LF becomes LF (data), or each
 * CR and LF becomes a space (event name). */
static size_t normalize(char *dst, const char *s, size_t n, bool name)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        if (name) {
            dst[o++] = s[i] == '\r' || s[i] == '\n' ? ' ' : s[i];
        } else if (s[i] == '\r') {
            dst[o++] = '\n';
            if (i + 1 < n && s[i + 1] == '\n')
                i++;
        } else {
            dst[o++] = s[i];
        }
    }
    return o;
}

/* Encodes one event, reads it back, and checks id, type and data. */
static void check(uint64_t id, const char *event, size_t event_len, const char *data, size_t len)
{
    struct hr_buf b;
    hr_buf_init(&b, SIZE_MAX);
    assert_int_equal(hr_sse_encode_event(&b, id, event, event_len, data, len), 0);
    /* an event is whole: it ends with its blank line */
    assert_true(b.len >= 2 && b.data[b.len - 1] == '\n' && b.data[b.len - 2] == '\n');
    struct sse_reader r;
    reader_init(&r);
    reader_parse(&r, b.data, b.len);
    assert_int_equal(r.n_ev, 1);
    char idtxt[24];
    int k = id ? snprintf(idtxt, sizeof idtxt, "%" PRIu64, id) : 0;
    assert_buf_eq(&r.ev[0].last_id, idtxt, (size_t)k);
    char *want = malloc(len + event_len + 8);
    assert_non_null(want);
    if (event_len)
        assert_buf_eq(&r.ev[0].type, want, normalize(want, event, event_len, true));
    else
        assert_buf_eq(&r.ev[0].type, "message", 7);
    assert_buf_eq(&r.ev[0].data, want, normalize(want, data, len, false));
    free(want);
    reader_free(&r);
    hr_buf_cleanup(&b);
}

#define CHECK_S(id, ev, d) check((id), (ev), strlen(ev), (d), strlen(d))

/* ---- tests ------------------------------------------------------------------------------- */

static void test_exact_bytes(void **state)
{
    (void)state;
    struct hr_buf b;
    hr_buf_init(&b, SIZE_MAX);
    assert_int_equal(hr_sse_encode_event(&b, 42, "orders.eu", 9, "first line\nsecond line", 22), 0);
    static const char want[] = "id: 42\nevent: orders.eu\ndata: first line\ndata: second line\n\n";
    assert_buf_eq(&b, want, sizeof want - 1);
    b.len = 0;
    assert_int_equal(hr_sse_encode_event(&b, 0, NULL, 0, "", 0), 0); /* E1, E2, E3 */
    assert_buf_eq(&b, "data: \n\n", 8);
    hr_buf_cleanup(&b);
}

static void test_ids_and_names(void **state)
{
    (void)state;
    CHECK_S(1, "orders.eu", "x");
    CHECK_S(42, "a", "hello");
    check(UINT64_MAX, "orders.>", 8, "x", 1);
    CHECK_S(0, "live.subject", "no id");   /* E1: no id line */
    check(7, NULL, 0, "no event name", 13); /* E2: type "message" */
    CHECK_S(3, "orders.eu;base64", "aGVsbG8=");
    CHECK_S(3, " leading space", "x");      /* one space after the colon, the name's kept */
    CHECK_S(3, "with: colon", "x");
    CHECK_S(3, "data", "x");                /* a name that is a field name */
}

static void test_line_breaks(void **state)
{
    (void)state;
    static const char *const cases[] = {
        "one line", "a\nb", "a\r\nb", "a\rb", "a\n\nb", "a\r\n\r\nb", "a\r\rb", "a\n\rb",
        "trailing\n", "trailing\r\n", "trailing\r", "\n", "\r\n", "\r", "\n\n", "\r\r\n\n",
        "\nleading", "  two spaces", " one space", ":colon first", "data: inside",
        "id: 9\nevent: fake\n\ndata: injected", "mixed\r\nends\rand\nmore\r\n",
        "{\"json\":\"v\"}", "h\xC3\xA9llo \xE2\x82\xAC",
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        CHECK_S(5, "s", cases[i]);
        CHECK_S(0, "", cases[i]);
    }
}

static void test_empty_data(void **state)
{
    (void)state;
    check(9, "s", 1, "", 0);    /* still an event, with empty data (E3) */
    check(0, NULL, 0, "", 0);
    check(9, "s", 1, "\n", 1);  /* data is exactly one LF */
}

static void test_names_with_line_breaks(void **state)
{
    (void)state;
    /* E2: a name is one line, CR and LF become spaces; nothing else leaks into fields */
    check(4, "a\nid: 99", 8, "x", 1);
    check(4, "a\r\nb", 4, "x", 1);
    check(4, "\r", 1, "x", 1);
}

static void test_nul_in_data(void **state)
{
    (void)state;
    check(2, "s", 1, "a\0b", 3); /* bytes pass through (the server base64s NULs anyway) */
}

/* Several events in one stream: each dispatches on its own blank line; an event without
 * id keeps the last id seen, as the spec's reader does. */
static void test_stream_of_events(void **state)
{
    (void)state;
    struct hr_buf b;
    hr_buf_init(&b, SIZE_MAX);
    assert_int_equal(hr_buf_puts(&b, "retry: 2000\n\n"), 0);
    assert_int_equal(hr_sse_encode_event(&b, 10, "a", 1, "one\r\n", 5), 0);
    assert_int_equal(hr_buf_puts(&b, ": keepalive\n"), 0);
    assert_int_equal(hr_sse_encode_event(&b, 0, "b", 1, "", 0), 0);
    assert_int_equal(hr_sse_encode_event(&b, 11, NULL, 0, "x\ry", 3), 0);
    struct sse_reader r;
    reader_init(&r);
    reader_parse(&r, b.data, b.len);
    assert_int_equal(r.n_ev, 3);
    assert_buf_eq(&r.ev[0].data, "one\n", 4);
    assert_buf_eq(&r.ev[0].type, "a", 1);
    assert_buf_eq(&r.ev[0].last_id, "10", 2);
    assert_buf_eq(&r.ev[1].data, "", 0);
    assert_buf_eq(&r.ev[1].type, "b", 1);
    assert_buf_eq(&r.ev[1].last_id, "10", 2);
    assert_buf_eq(&r.ev[2].data, "x\ny", 3);
    assert_buf_eq(&r.ev[2].type, "message", 7);
    assert_buf_eq(&r.ev[2].last_id, "11", 2);
    reader_free(&r);
    hr_buf_cleanup(&b);
}

static void test_limit(void **state)
{
    (void)state;
    struct hr_buf b;
    hr_buf_init(&b, 20);
    assert_int_not_equal(hr_sse_encode_event(&b, 1, "subject", 7, "a long payload here", 19), 0);
    assert_true(b.len <= 20);
    hr_buf_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exact_bytes),
        cmocka_unit_test(test_ids_and_names),
        cmocka_unit_test(test_line_breaks),
        cmocka_unit_test(test_empty_data),
        cmocka_unit_test(test_names_with_line_breaks),
        cmocka_unit_test(test_nul_in_data),
        cmocka_unit_test(test_stream_of_events),
        cmocka_unit_test(test_limit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
