/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer harness for the WebSocket framing (src/heads/http/ws_frame.c out, libwslay in
 * as http_ws.c drives it). Built by `make fuzz`; `make fuzz-smoke` runs it over
 * tests/fuzz/corpus/ws_frame/ (masked client frames: text, binary, ping, close, fragments).
 *
 *   F1. Encoder round trip: the input read as (opcode selector, split point, payload) is
 *       framed by hr_ws_frame_encode() and read back by a wslay *client* context (it takes
 *       only unmasked frames, as a browser does), whole and split at the data-derived point:
 *       exactly one message with the same opcode and payload comes out — unless it is a
 *       text frame that is not UTF-8, which wslay must refuse (no message).
 *   F2. The raw input as client→server bytes: a wslay *server* context set up as
 *       hr_http_ws_upgrade() sets it up (the same recv/send/on_msg semantics, the message
 *       limit max_payload + 64 KiB with the default max_payload of 1 MiB, and again with a
 *       small data-derived limit so that 1009 is reached) and driven as ws_input() drives it
 *       (recv; on failure stop, else send; stop when wslay wants neither). Fed whole, split
 *       once at a data-derived point, and one byte at a time: no crash; every message has
 *       length <= the limit; every text message is valid UTF-8; and the three feeds deliver
 *       the same messages.
 * Any violation aborts (__builtin_trap) so libFuzzer records the input.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <wslay/wslay.h>

#include "common/buf.h"
#include "heads/http/ws_frame.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

#define DEFAULT_MAX_PAYLOAD (1024u * 1024) /* server/config.c: max_payload "1MB" */

/* RFC 3629 UTF-8: no overlong forms, no surrogates, nothing past U+10FFFF. */
static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t k;
        uint32_t cp, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            k = 1, cp = c & 0x1F, min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2, cp = c & 0x0F, min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (n - i - 1 < k)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += k + 1;
    }
    return true;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

/* ---- a wslay context over an in-memory input ---------------------------------------------- */

struct peer {
    wslay_event_context_ptr ctx;
    const uint8_t *rd;
    size_t rd_len, rd_off;
    size_t sent;         /* bytes wslay wrote (pongs, closes) */
    uint64_t limit;      /* the message length limit set (server) */
    size_t n_msgs, n_data;
    int last_opcode;
    size_t last_len;
    uint8_t *last_msg;   /* client side: a copy of the last message */
    uint64_t hash;       /* server side: every data message, in order */
    size_t consumed;     /* client side: bytes wslay read */
};

static ssize_t p_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *ud)
{
    struct peer *p = ud;
    (void)flags;
    size_t avail = p->rd_len - p->rd_off;
    if (!avail) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = avail < len ? avail : len;
    memcpy(buf, p->rd + p->rd_off, n);
    p->rd_off += n;
    return (ssize_t)n;
}

static ssize_t p_send(wslay_event_context_ptr ctx, const uint8_t *d, size_t len, int flags, void *ud)
{
    struct peer *p = ud;
    (void)ctx, (void)d, (void)flags;
    p->sent += len;
    return (ssize_t)len;
}

static int p_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *ud)
{
    (void)ctx, (void)ud;
    memset(buf, 0x3C, len);
    return 0;
}

/* The client: keeps the last message. */
static void c_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a, void *ud)
{
    struct peer *p = ud;
    (void)ctx;
    p->n_msgs++;
    p->last_opcode = a->opcode;
    p->last_len = a->msg_length;
    free(p->last_msg);
    p->last_msg = malloc(a->msg_length ? a->msg_length : 1);
    CHECK(p->last_msg != NULL);
    if (a->msg_length)
        memcpy(p->last_msg, a->msg, a->msg_length);
}

/* The server: what ws_on_msg would hand to the head (text and binary messages), checked. */
static void s_on_msg(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *a, void *ud)
{
    struct peer *p = ud;
    (void)ctx;
    p->n_msgs++;
    if (a->opcode != WSLAY_TEXT_FRAME && a->opcode != WSLAY_BINARY_FRAME)
        return;
    CHECK(a->msg_length <= p->limit);
    if (a->opcode == WSLAY_TEXT_FRAME)
        CHECK(utf8_valid(a->msg, a->msg_length));
    p->n_data++;
    p->hash = fnv(p->hash, &a->opcode, sizeof a->opcode);
    p->hash = fnv(p->hash, &a->msg_length, sizeof a->msg_length);
    p->hash = fnv(p->hash, a->msg, a->msg_length);
}

/* One chunk of bytes arriving, handled as ws_input() handles it; false once closed. */
static bool s_input(struct peer *p, const uint8_t *buf, size_t len)
{
    p->rd = buf;
    p->rd_len = len;
    p->rd_off = 0;
    int rc = wslay_event_recv(p->ctx);
    if (rc != 0) {
        wslay_event_shutdown_write(p->ctx);
        return false;
    }
    wslay_event_send(p->ctx);
    return wslay_event_want_read(p->ctx) || wslay_event_want_write(p->ctx);
}

/* F2: feeds `data` in chunks of `step` after a first chunk of `first` bytes. */
static void server_run(struct peer *p, const uint8_t *data, size_t size, uint64_t limit,
                       size_t first, size_t step)
{
    memset(p, 0, sizeof *p);
    p->hash = 14695981039346656037ull;
    p->limit = limit;
    struct wslay_event_callbacks cb = {.recv_callback = p_recv, .send_callback = p_send,
                                       .on_msg_recv_callback = s_on_msg};
    CHECK(wslay_event_context_server_init(&p->ctx, &cb, p) == 0);
    wslay_event_config_set_max_recv_msg_length(p->ctx, limit);
    size_t at = 0, n = first < size ? first : size;
    while (s_input(p, data + at, n) && at + n < size) {
        at += n;
        n = size - at < step ? size - at : step;
    }
    wslay_event_context_free(p->ctx);
}

/* F1: decodes `wire` with a client, split once at `split`. */
static void client_run(struct peer *p, const struct hr_buf *wire, size_t split)
{
    memset(p, 0, sizeof *p);
    struct wslay_event_callbacks cb = {.recv_callback = p_recv, .send_callback = p_send,
                                       .genmask_callback = p_genmask, .on_msg_recv_callback = c_on_msg};
    CHECK(wslay_event_context_client_init(&p->ctx, &cb, p) == 0);
    const uint8_t *w = (const uint8_t *)wire->data;
    size_t parts[2] = {split < wire->len ? split : wire->len, 0};
    parts[1] = wire->len - parts[0];
    size_t at = 0;
    for (int i = 0; i < 2; i++) {
        p->rd = w + at;
        p->rd_len = parts[i];
        p->rd_off = 0;
        if (wslay_event_recv(p->ctx) != 0)
            break;
        at += p->rd_off;
        if (p->rd_off != parts[i]) /* wslay stopped reading (a refused frame) */
            break;
    }
    p->consumed = at;
    wslay_event_context_free(p->ctx);
}

static void encoder_round_trip(const uint8_t *data, size_t size)
{
    if (size < 2)
        return;
    static const int ops[] = {WSLAY_TEXT_FRAME, WSLAY_BINARY_FRAME, WSLAY_PING, WSLAY_PONG};
    int op = ops[data[0] & 3];
    const uint8_t *pl = data + 2;
    size_t n = size - 2;
    if (op == WSLAY_PING || op == WSLAY_PONG)
        n = n > 125 ? 125 : n;               /* a control frame's payload is at most 125 */
    else if (data[0] & 0x80)
        n = (size_t)65536 + (n % 5000);      /* large frames: the 64-bit length form */
    uint8_t *payload = malloc(n ? n : 1);
    CHECK(payload != NULL);
    for (size_t i = 0; i < n; i++)           /* long payloads repeat the input */
        payload[i] = size > 2 ? pl[i % (size - 2)] : (uint8_t)i;
    struct hr_buf wire;
    hr_buf_init(&wire, SIZE_MAX);
    CHECK(hr_ws_frame_encode(&wire, op, payload, n) == 0);
    size_t splits[2] = {wire.len, (size_t)data[1] * 37 % (wire.len + 1)};
    for (int s = 0; s < 2; s++) {
        struct peer p;
        client_run(&p, &wire, splits[s]);
        if (op == WSLAY_TEXT_FRAME && !utf8_valid(payload, n)) {
            CHECK(p.n_msgs == 0);            /* wslay refuses it (1007) */
        } else {
            CHECK(p.consumed == wire.len);
            CHECK(p.n_msgs == 1);
            CHECK(p.last_opcode == op);
            CHECK(p.last_len == n);
            CHECK(n == 0 || memcmp(p.last_msg, payload, n) == 0);
        }
        free(p.last_msg);
    }
    hr_buf_cleanup(&wire);
    free(payload);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    encoder_round_trip(data, size);

    uint64_t limits[2] = {(uint64_t)DEFAULT_MAX_PAYLOAD + 64 * 1024,
                          size ? (uint64_t)(data[size - 1] % 200) : 0};
    size_t split = size ? (size_t)data[size / 2] * 131 % (size + 1) : 0;
    for (int l = 0; l < 2; l++) {
        struct peer whole, two, bytes;
        server_run(&whole, data, size, limits[l], size, size);
        server_run(&two, data, size, limits[l], split, size);
        server_run(&bytes, data, size, limits[l], 1, 1);
        CHECK(two.n_data == whole.n_data && two.hash == whole.hash);
        CHECK(bytes.n_data == whole.n_data && bytes.hash == whole.hash);
    }
    return 0;
}
