/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for the WebSocket frame encoder (src/heads/http/ws_frame.c), W1–W2 in
 * ws_frame.h. The encoder's output is decoded by libwslay itself, as a browser's client
 * would read it: a wslay *client* context (which accepts only unmasked frames) fed the
 * encoded bytes through its recv callback, whole, split at byte boundaries, and one byte
 * at a time. The opcode and payload it delivers must be exactly what was encoded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <wslay/wslay.h>

#include "common/buf.h"
#include "heads/http/ws_frame.h"
#include "herald/errors.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_MSGS 8

/* ---- a wslay client reading what the server wrote ------------------------------------ */

struct msg {
    int opcode;
    uint8_t *data;
    size_t len;
};

struct reader {
    wslay_event_context_ptr ctx;
    const uint8_t *in;
    size_t in_len, in_off, avail_end; /* recv hands out in[in_off..avail_end) */
    struct msg msgs[MAX_MSGS];
    size_t n_msgs;
};

static ssize_t rd_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    struct reader *r = ud;
    (void)flags;
    size_t avail = r->avail_end - r->in_off;
    if (!avail) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = avail < len ? avail : len;
    memcpy(buf, r->in + r->in_off, n);
    r->in_off += n;
    return (ssize_t)n;
}

static ssize_t rd_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags, void *ud)
{
    (void)ctx, (void)data, (void)flags, (void)ud;
    return (ssize_t)len; /* pongs and closes the client would answer: dropped */
}

static int rd_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *ud)
{
    (void)ctx, (void)ud;
    memset(buf, 0x5A, len);
    return 0;
}

static void rd_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg, void *ud)
{
    struct reader *r = ud;
    (void)ctx;
    assert_true(r->n_msgs < MAX_MSGS);
    struct msg *m = &r->msgs[r->n_msgs++];
    m->opcode = arg->opcode;
    m->len = arg->msg_length;
    m->data = malloc(m->len ? m->len : 1);
    assert_non_null(m->data);
    if (m->len)
        memcpy(m->data, arg->msg, m->len);
}

static void reader_init(struct reader *r, const void *in, size_t n)
{
    memset(r, 0, sizeof *r);
    struct wslay_event_callbacks cb = {.recv_callback = rd_recv, .send_callback = rd_send,
                                       .genmask_callback = rd_genmask, .on_msg_recv_callback = rd_on_msg};
    assert_int_equal(wslay_event_context_client_init(&r->ctx, &cb, r), 0);
    r->in = in;
    r->in_len = n;
}

static void reader_free(struct reader *r)
{
    for (size_t i = 0; i < r->n_msgs; i++)
        free(r->msgs[i].data);
    wslay_event_context_free(r->ctx);
}

/* Makes in[..end) available and lets wslay read it; wslay must not fail. */
static void reader_feed_to(struct reader *r, size_t end)
{
    r->avail_end = end;
    assert_int_equal(wslay_event_recv(r->ctx), 0);
    assert_int_equal(r->in_off, end);
}

/* Decodes `wire` (arriving in chunks of `step` bytes, after a first chunk of `first`)
 * and checks that exactly one message (opcode, p, n) comes out, at the end only. */
static void check_decode(const struct hr_buf *wire, int opcode, const uint8_t *p, size_t n,
                         size_t first, size_t step)
{
    struct reader r;
    reader_init(&r, wire->data, wire->len);
    size_t at = first < wire->len ? first : wire->len;
    reader_feed_to(&r, at);
    while (at < wire->len) {
        if (r.n_msgs != 0)
            fail_msg("message delivered after %zu of %zu bytes", at, wire->len);
        at = wire->len - at > step ? at + step : wire->len;
        reader_feed_to(&r, at);
    }
    assert_int_equal(r.n_msgs, 1);
    assert_int_equal(r.msgs[0].opcode, opcode);
    assert_int_equal(r.msgs[0].len, n);
    if (n)
        assert_memory_equal(r.msgs[0].data, p, n);
    reader_free(&r);
}

static uint8_t *payload(size_t n, bool text)
{
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = text ? (uint8_t)('a' + i % 26) : (uint8_t)(i * 131 + (i >> 8) * 7);
    return p;
}

static void encode(struct hr_buf *wire, int opcode, const uint8_t *p, size_t n)
{
    hr_buf_init(wire, SIZE_MAX);
    assert_int_equal(hr_ws_frame_encode(wire, opcode, p, n), 0);
}

/* ---- W1: the header --------------------------------------------------------------------- */

static void test_header_forms(void **state)
{
    (void)state;
    static const struct {
        size_t n, head;
        unsigned char b1;
    } cases[] = {
        {0, 2, 0}, {1, 2, 1}, {125, 2, 125}, {126, 4, 126}, {127, 4, 126},
        {65535, 4, 126}, {65536, 10, 127}, {70000, 10, 127},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        size_t n = cases[i].n;
        uint8_t *p = payload(n, false);
        struct hr_buf w;
        encode(&w, WSLAY_BINARY_FRAME, p, n);
        assert_int_equal(w.len, cases[i].head + n);
        const unsigned char *h = (const unsigned char *)w.data;
        assert_int_equal(h[0], 0x80 | WSLAY_BINARY_FRAME); /* FIN, no RSV */
        assert_int_equal(h[1], cases[i].b1);                /* no MASK bit */
        uint64_t got = 0;
        for (size_t k = 2; k < cases[i].head; k++)
            got = got << 8 | h[k];
        if (cases[i].head > 2)
            assert_int_equal(got, n);
        if (n)
            assert_memory_equal(w.data + cases[i].head, p, n);
        hr_buf_cleanup(&w);
        free(p);
    }
}

/* ---- round trips through wslay ----------------------------------------------------------- */

static const size_t sizes[] = {0, 1, 125, 126, 127, 65535, 65536, 70000};

static void round_trip(int opcode, bool text)
{
    for (size_t i = 0; i < N_ELEMS(sizes); i++) {
        size_t n = sizes[i];
        uint8_t *p = payload(n, text);
        struct hr_buf w;
        encode(&w, opcode, p, n);
        check_decode(&w, opcode, p, n, w.len, 1);  /* whole */
        check_decode(&w, opcode, p, n, 0, 1);      /* one byte at a time: every boundary */
        /* every two-part split; for the large frames, every split inside and around the
         * header and the last bytes, and a stride through the payload */
        for (size_t at = 0; at <= w.len; at++) {
            if (w.len > 1024 && at > 32 && at < w.len - 32 && at % 4099 != 0)
                continue;
            check_decode(&w, opcode, p, n, at, w.len);
        }
        hr_buf_cleanup(&w);
        free(p);
    }
}

static void test_round_trip_text(void **state)
{
    (void)state;
    round_trip(WSLAY_TEXT_FRAME, true);
}

static void test_round_trip_binary(void **state)
{
    (void)state;
    round_trip(WSLAY_BINARY_FRAME, false);
}

static void test_round_trip_utf8_text(void **state)
{
    (void)state;
    static const char s[] = "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80"; /* é € 😀 */
    struct hr_buf w;
    encode(&w, WSLAY_TEXT_FRAME, (const uint8_t *)s, sizeof s - 1);
    for (size_t at = 0; at <= w.len; at++) /* splits inside multi-byte characters too */
        check_decode(&w, WSLAY_TEXT_FRAME, (const uint8_t *)s, sizeof s - 1, at, w.len);
    hr_buf_cleanup(&w);
}

/* Control frames as the server sends them: the keepalive ping (empty) and up to 125. */
static void test_round_trip_control(void **state)
{
    (void)state;
    static const size_t ctl[] = {0, 1, 4, 125};
    static const int ops[] = {WSLAY_PING, WSLAY_PONG};
    for (size_t o = 0; o < N_ELEMS(ops); o++)
        for (size_t i = 0; i < N_ELEMS(ctl); i++) {
            uint8_t *p = payload(ctl[i], false);
            struct hr_buf w;
            encode(&w, ops[o], p, ctl[i]);
            for (size_t at = 0; at <= w.len; at++)
                check_decode(&w, ops[o], p, ctl[i], at, w.len);
            check_decode(&w, ops[o], p, ctl[i], 0, 1);
            hr_buf_cleanup(&w);
            free(p);
        }
}

/* Frames appended one after another (as ws_output writes a burst) come out in order. */
static void test_frames_in_sequence(void **state)
{
    (void)state;
    struct hr_buf w;
    hr_buf_init(&w, SIZE_MAX);
    uint8_t *big = payload(70000, true);
    assert_int_equal(hr_ws_frame_encode(&w, WSLAY_TEXT_FRAME, "{\"a\":1}", 7), 0);
    assert_int_equal(hr_ws_frame_encode(&w, WSLAY_PING, NULL, 0), 0);
    assert_int_equal(hr_ws_frame_encode(&w, WSLAY_BINARY_FRAME, big, 70000), 0);
    assert_int_equal(hr_ws_frame_encode(&w, WSLAY_TEXT_FRAME, "", 0), 0);
    static const size_t steps[] = {1, 3, 4096, 1 << 20};
    for (size_t s = 0; s < N_ELEMS(steps); s++) {
        struct reader r;
        reader_init(&r, w.data, w.len);
        for (size_t at = 0; at < w.len;)
            reader_feed_to(&r, at = w.len - at > steps[s] ? at + steps[s] : w.len);
        assert_int_equal(r.n_msgs, 4);
        assert_int_equal(r.msgs[0].opcode, WSLAY_TEXT_FRAME);
        assert_int_equal(r.msgs[0].len, 7);
        assert_memory_equal(r.msgs[0].data, "{\"a\":1}", 7);
        assert_int_equal(r.msgs[1].opcode, WSLAY_PING);
        assert_int_equal(r.msgs[1].len, 0);
        assert_int_equal(r.msgs[2].opcode, WSLAY_BINARY_FRAME);
        assert_int_equal(r.msgs[2].len, 70000);
        assert_memory_equal(r.msgs[2].data, big, 70000);
        assert_int_equal(r.msgs[3].opcode, WSLAY_TEXT_FRAME);
        assert_int_equal(r.msgs[3].len, 0);
        reader_free(&r);
    }
    free(big);
    hr_buf_cleanup(&w);
}

/* ---- W2: all or nothing ------------------------------------------------------------------ */

static void test_limit_leaves_wire_unchanged(void **state)
{
    (void)state;
    struct hr_buf w;
    hr_buf_init(&w, 2 + 125 + 4 + 200);
    uint8_t *p = payload(200, false);
    assert_int_equal(hr_ws_frame_encode(&w, WSLAY_BINARY_FRAME, p, 125), 0);
    assert_int_equal(w.len, 127);
    /* 4 + 201 does not fit: refused, nothing written */
    assert_int_equal(hr_ws_frame_encode(&w, WSLAY_BINARY_FRAME, p, 201), HERALD_ELIMIT);
    assert_int_equal(w.len, 127);
    /* a length that would wrap size_t with the header added */
    assert_int_equal(hr_ws_frame_encode(&w, WSLAY_BINARY_FRAME, p, SIZE_MAX - 3), HERALD_ELIMIT);
    assert_int_equal(w.len, 127);
    assert_int_equal(hr_ws_frame_encode(&w, WSLAY_BINARY_FRAME, p, 200), 0); /* exactly fills */
    assert_int_equal(w.len, w.max);
    check_decode(&(struct hr_buf){w.data + 127, 204, 204, 204}, WSLAY_BINARY_FRAME, p, 200, 0, 7);
    free(p);
    hr_buf_cleanup(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_forms),
        cmocka_unit_test(test_round_trip_text),
        cmocka_unit_test(test_round_trip_binary),
        cmocka_unit_test(test_round_trip_utf8_text),
        cmocka_unit_test(test_round_trip_control),
        cmocka_unit_test(test_frames_in_sequence),
        cmocka_unit_test(test_limit_leaves_wire_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
