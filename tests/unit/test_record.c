/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for the bytes of the embedded log (src/store/record.c; layout and F1–F3 in
 * record.h): CRC32C (known answer, chaining, agreement with a bitwise reference at every
 * alignment), segment header encode/decode and its corruption, record encode/decode round
 * trips (message, tombstone, floor, flags, empty fields, maximum subject), and the decoder's
 * answers on damaged input: every truncation of a valid record is MORE (never OK), any
 * changed byte is never OK (CORRUPT once the length field is intact), implausible lengths
 * and unknown types are CORRUPT.
 *
 * Pure functions over buffers: every decode here runs on an exact-size heap copy so
 * ASan catches a read past the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "herald/errors.h"
#include "store/log_internal.h"
#include "store/record.h"

/* ---- helpers ------------------------------------------------------------------------- */

static uint32_t crc32c_ref(uint32_t crc, const void *buf, size_t len)
{
    const unsigned char *p = buf;
    crc = ~crc;
    while (len--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

static uint32_t rd32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] | ((uint32_t)u[1] << 8) | ((uint32_t)u[2] << 16) |
           ((uint32_t)u[3] << 24);
}

static void wr32(char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (char)((v >> (8 * i)) & 0xff);
}

/* Recomputes the CRC of an encoded record after a test edited it. */
static void fix_crc(char *rec, size_t size)
{
    wr32(rec + 4, hr_crc32c(0, rec + 8, size - 8));
}

/* An exact-size heap copy of buf[0..len) (ASan flags any read past it). */
static char *dup_exact(const char *buf, size_t len)
{
    char *p = malloc(len ? len : 1);
    assert_non_null(p);
    if (len)
        memcpy(p, buf, len);
    return p;
}

static enum hr_decode_status decode_exact(const char *buf, size_t len, struct hr_record *r,
                                          size_t *size)
{
    char *p = dup_exact(buf, len);
    enum hr_decode_status st = hr_record_decode(p, len, r, size);
    /* r's pointers point into p: callers only look at scalar fields after this. */
    free(p);
    return st;
}

struct enc {
    char *buf;
    size_t size;
};

static struct enc encode(enum hr_record_type type, uint64_t seq, int64_t ts,
                         const char *subj, size_t sl, const char *hdr, size_t hl,
                         const char *data, size_t dl)
{
    struct hr_record r = {
        .type = type, .seq = seq, .ts_ns = ts, .subject = subj, .subject_len = sl,
        .hdr = hdr, .hdr_len = hl, .data = data, .data_len = dl,
    };
    struct enc e;
    e.size = hr_record_size(sl, hl, dl);
    e.buf = malloc(e.size);
    assert_non_null(e.buf);
    memset(e.buf, 0xA5, e.size);
    assert_int_equal(hr_record_encode(e.buf, &r), e.size);
    return e;
}

/* Encodes, decodes from an exact-size copy and checks every field. */
static void round_trip(enum hr_record_type type, uint64_t seq, int64_t ts, const char *subj,
                       size_t sl, const char *hdr, size_t hl, const char *data, size_t dl)
{
    struct enc e = encode(type, seq, ts, subj, sl, hdr, hl, data, dl);
    assert_int_equal(e.size, HR_RECORD_FIXED + sl + hl + dl);
    assert_int_equal(rd32(e.buf), e.size - 4);
    assert_int_equal((unsigned char)e.buf[8], (unsigned)type);
    assert_int_equal(e.buf[9], 0); /* no flags */

    char *p = dup_exact(e.buf, e.size);
    struct hr_record r;
    size_t size = 0;
    assert_int_equal(hr_record_decode(p, e.size, &r, &size), HR_DECODE_OK);
    assert_int_equal(size, e.size);
    assert_int_equal(r.type, type);
    assert_int_equal(r.seq, seq);
    assert_true(r.ts_ns == ts);
    assert_int_equal(r.subject_len, sl);
    assert_int_equal(r.hdr_len, hl);
    assert_int_equal(r.data_len, dl);
    assert_ptr_equal(r.subject, p + HR_RECORD_FIXED);
    assert_ptr_equal(r.hdr, p + HR_RECORD_FIXED + sl);
    assert_ptr_equal(r.data, p + HR_RECORD_FIXED + sl + hl);
    if (sl)
        assert_memory_equal(r.subject, subj, sl);
    if (hl)
        assert_memory_equal(r.hdr, hdr, hl);
    if (dl)
        assert_memory_equal(r.data, data, dl);

    /* peek agrees on the fixed fields and leaves the pointers NULL. */
    struct hr_record pk;
    size_t psize = 0;
    assert_int_equal(hr_record_peek(p, e.size, &pk, &psize), HR_DECODE_OK);
    assert_int_equal(psize, e.size);
    assert_int_equal(pk.type, type);
    assert_int_equal(pk.seq, seq);
    assert_int_equal(pk.subject_len, sl);
    assert_int_equal(pk.hdr_len, hl);
    assert_int_equal(pk.data_len, dl);
    assert_null(pk.subject);
    assert_null(pk.hdr);
    assert_null(pk.data);
    free(p);
    free(e.buf);
}

/* ---- CRC32C -------------------------------------------------------------------------- */

static void test_crc32c_known_answer(void **state)
{
    (void)state;
    assert_int_equal(hr_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(hr_crc32c(0, "", 0), 0);
    /* RFC 3720 B.4: 32 bytes of zeros, of 0xff, and an ascending run. */
    unsigned char b[32];
    memset(b, 0, sizeof b);
    assert_int_equal(hr_crc32c(0, b, sizeof b), 0x8A9136AAu);
    memset(b, 0xff, sizeof b);
    assert_int_equal(hr_crc32c(0, b, sizeof b), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        b[i] = (unsigned char)i;
    assert_int_equal(hr_crc32c(0, b, sizeof b), 0x46DD794Eu);
}

static void test_crc32c_chaining_and_reference(void **state)
{
    (void)state;
    /* Continuing from a previous result equals one pass. */
    assert_int_equal(hr_crc32c(hr_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
    /* Against a bitwise reference, every length 0..300 at every alignment 0..15. */
    size_t n = 300 + 16;
    unsigned char *buf = malloc(n);
    assert_non_null(buf);
    uint32_t x = 0x12345678;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        buf[i] = (unsigned char)(x >> 24);
    }
    for (size_t align = 0; align < 16; align++)
        for (size_t len = 0; len <= 300; len++) {
            uint32_t want = crc32c_ref(0, buf + align, len);
            assert_int_equal(hr_crc32c(0, buf + align, len), want);
            size_t cut = len / 3;
            assert_int_equal(hr_crc32c(hr_crc32c(0, buf + align, cut), buf + align + cut, len - cut),
                             want);
        }
    free(buf);
}

/* ---- segment header ------------------------------------------------------------------ */

static void test_seg_header_round_trip(void **state)
{
    (void)state;
    const struct hr_seg_header cases[] = {
        {1, 0},
        {1, 1700000000123456789LL},
        {UINT64_MAX, -1},
        {0x0102030405060708ULL, INT64_MAX},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        char out[HR_SEG_HEADER_SIZE];
        hr_seg_header_encode(out, &cases[c]);
        assert_memory_equal(out, HR_SEG_MAGIC, 8);
        assert_int_equal(rd32(out + 8), HR_SEG_VERSION);
        assert_int_equal(rd32(out + 12), HR_SEG_HEADER_SIZE);
        assert_int_equal(rd32(out + 32), 0);
        assert_int_equal(rd32(out + 36), crc32c_ref(0, out, 36));
        char *p = dup_exact(out, sizeof out);
        struct hr_seg_header h = {0, 0};
        assert_int_equal(hr_seg_header_decode(p, sizeof out, &h), 0);
        assert_int_equal(h.first_seq, cases[c].first_seq);
        assert_true(h.created_ns == cases[c].created_ns);
        free(p);
    }
}

static void test_seg_header_corruption(void **state)
{
    (void)state;
    char good[HR_SEG_HEADER_SIZE];
    hr_seg_header_encode(good, &(struct hr_seg_header){42, 1700000000000000000LL});
    struct hr_seg_header h;
    /* Any single changed bit, in any byte, is caught (magic, version, size, CRC). */
    for (size_t i = 0; i < sizeof good; i++)
        for (int bit = 0; bit < 8; bit++) {
            char b[HR_SEG_HEADER_SIZE];
            memcpy(b, good, sizeof b);
            b[i] = (char)(b[i] ^ (1 << bit));
            char *p = dup_exact(b, sizeof b);
            assert_int_equal(hr_seg_header_decode(p, sizeof b, &h), HERALD_ECORRUPT);
            free(p);
        }
    /* Short buffers. */
    for (size_t len = 0; len < sizeof good; len++) {
        char *p = dup_exact(good, len);
        assert_int_equal(hr_seg_header_decode(p, len, &h), HERALD_ECORRUPT);
        free(p);
    }
    /* An intact header of another version is refused as such (the reader must not try to
     * repair it); a wrong header size with a correct CRC is corrupt. */
    char b[HR_SEG_HEADER_SIZE];
    memcpy(b, good, sizeof b);
    wr32(b + 8, HR_SEG_VERSION + 1);
    wr32(b + 36, hr_crc32c(0, b, 36));
    assert_int_equal(hr_seg_header_decode(b, sizeof b, &h), HERALD_EVERSION);
    memcpy(b, good, sizeof b);
    wr32(b + 12, HR_SEG_HEADER_SIZE + 8);
    wr32(b + 36, hr_crc32c(0, b, 36));
    assert_int_equal(hr_seg_header_decode(b, sizeof b, &h), HERALD_ECORRUPT);
    /* Longer buffers are fine: only the first 40 bytes are the header. */
    char longer[HR_SEG_HEADER_SIZE + 7];
    memcpy(longer, good, sizeof good);
    memset(longer + sizeof good, 0x55, 7);
    assert_int_equal(hr_seg_header_decode(longer, sizeof longer, &h), 0);
    assert_int_equal(h.first_seq, 42);
}

/* ---- records: round trips ------------------------------------------------------------ */

static void test_record_round_trip_message(void **state)
{
    (void)state;
    const char hdr[] = "NATS/1.0\r\nNats-Msg-Id: 7\r\n\r\n";
    round_trip(HR_REC_MSG, 1, 1700000000000000001LL, "orders.eu.new", 13, hdr, sizeof hdr - 1,
               "hello", 5);
    round_trip(HR_REC_MSG, UINT64_MAX - 1, -5, "a", 1, NULL, 0, "x", 1);
    /* Binary data with NULs and CR LF survives unchanged. */
    const char bin[] = {0, 1, '\r', '\n', (char)0xff, 0, 'z'};
    round_trip(HR_REC_MSG, 99, 0, "k.v", 3, NULL, 0, bin, sizeof bin);
}

static void test_record_round_trip_empty_fields(void **state)
{
    (void)state;
    round_trip(HR_REC_MSG, 5, 10, NULL, 0, NULL, 0, NULL, 0);       /* all empty */
    round_trip(HR_REC_MSG, 5, 10, "s", 1, NULL, 0, NULL, 0);        /* empty hdr and data */
    round_trip(HR_REC_MSG, 5, 10, NULL, 0, "H", 1, NULL, 0);        /* header only */
    round_trip(HR_REC_MSG, 5, 10, NULL, 0, NULL, 0, "D", 1);        /* data only */
    round_trip(HR_REC_MSG, 5, 10, "s", 1, "NATS/1.0\r\n\r\n", 12, NULL, 0);
}

static void test_record_round_trip_markers(void **state)
{
    (void)state;
    round_trip(HR_REC_TOMBSTONE, 12345, 1700000000000000000LL, NULL, 0, NULL, 0, NULL, 0);
    /* The floor record of purges (log_internal.h) must decode too: recovery reads it. */
    round_trip(HR_REC_FLOOR, 777, 1, NULL, 0, NULL, 0, NULL, 0);
}

static void test_record_flags(void **state)
{
    (void)state;
    /* F3: the batch flag travels in byte 9, under the CRC. */
    struct hr_record r = {.type = HR_REC_MSG, .flags = HR_REC_F_MORE, .seq = 4, .subject = "b",
                          .subject_len = 1, .data = "d", .data_len = 1};
    char buf[HR_RECORD_FIXED + 2];
    assert_int_equal(hr_record_encode(buf, &r), sizeof buf);
    assert_int_equal(buf[9], HR_REC_F_MORE);
    struct hr_record out;
    size_t size;
    assert_int_equal(hr_record_decode(buf, sizeof buf, &out, &size), HR_DECODE_OK);
    assert_int_equal(out.flags, HR_REC_F_MORE);
    assert_int_equal(hr_record_peek(buf, sizeof buf, &out, &size), HR_DECODE_OK);
    assert_int_equal(out.flags, HR_REC_F_MORE);
    buf[9] = 0; /* cleared without the CRC following: refused */
    assert_int_equal(hr_record_decode(buf, sizeof buf, &out, &size), HR_DECODE_CORRUPT);
    r.flags = 0;
    hr_record_encode(buf, &r);
    assert_int_equal(hr_record_decode(buf, sizeof buf, &out, &size), HR_DECODE_OK);
    assert_int_equal(out.flags, 0);
}

static void test_record_round_trip_large(void **state)
{
    (void)state;
    size_t sl = UINT16_MAX, dl = 100000;
    char *subj = malloc(sl), *data = malloc(dl);
    assert_non_null(subj);
    assert_non_null(data);
    memset(subj, 'q', sl);
    for (size_t i = 0; i < dl; i++)
        data[i] = (char)(i * 7);
    round_trip(HR_REC_MSG, 3, 3, subj, sl, "h", 1, data, dl);
    free(subj);
    free(data);
}

static void test_record_back_to_back(void **state)
{
    (void)state;
    struct enc a = encode(HR_REC_MSG, 1, 1, "a", 1, NULL, 0, "one", 3);
    struct enc b = encode(HR_REC_TOMBSTONE, 1, 2, NULL, 0, NULL, 0, NULL, 0);
    size_t n = a.size + b.size;
    char *buf = malloc(n);
    assert_non_null(buf);
    memcpy(buf, a.buf, a.size);
    memcpy(buf + a.size, b.buf, b.size);
    struct hr_record r;
    size_t size;
    assert_int_equal(hr_record_decode(buf, n, &r, &size), HR_DECODE_OK);
    assert_int_equal(size, a.size);
    assert_int_equal(r.type, HR_REC_MSG);
    assert_int_equal(hr_record_decode(buf + size, n - size, &r, &size), HR_DECODE_OK);
    assert_int_equal(size, b.size);
    assert_int_equal(r.type, HR_REC_TOMBSTONE);
    free(buf);
    free(a.buf);
    free(b.buf);
}

/* ---- records: damage ----------------------------------------------------------------- */

static void check_truncations(const struct enc *e)
{
    for (size_t len = 0; len < e->size; len++) {
        struct hr_record r;
        size_t size = 12345;
        enum hr_decode_status st = decode_exact(e->buf, len, &r, &size);
        if (st != HR_DECODE_MORE)
            fail_msg("truncation to %zu of %zu bytes: status %d, want MORE", len, e->size, st);
        /* The full size is reported once the length field is readable. */
        assert_int_equal(size, len < 4 ? 0 : e->size);
        char *p = dup_exact(e->buf, len);
        st = hr_record_peek(p, len, &r, &size);
        free(p);
        assert_int_equal(st, len < HR_RECORD_FIXED ? HR_DECODE_MORE : HR_DECODE_OK);
    }
}

static void test_record_every_truncation_is_more(void **state)
{
    (void)state;
    const char hdr[] = "NATS/1.0\r\nA: b\r\n\r\n";
    struct enc e1 = encode(HR_REC_MSG, 77, 1234, "orders.new", 10, hdr, sizeof hdr - 1,
                           "payload-bytes", 13);
    struct enc e2 = encode(HR_REC_MSG, 1, 0, NULL, 0, NULL, 0, NULL, 0);
    struct enc e3 = encode(HR_REC_TOMBSTONE, 9, 9, NULL, 0, NULL, 0, NULL, 0);
    char big[5000];
    memset(big, 'b', sizeof big);
    struct enc e4 = encode(HR_REC_MSG, 2, 2, "x.y", 3, NULL, 0, big, sizeof big);
    check_truncations(&e1);
    check_truncations(&e2);
    check_truncations(&e3);
    check_truncations(&e4);
    free(e1.buf);
    free(e2.buf);
    free(e3.buf);
    free(e4.buf);
}

static void test_record_any_changed_byte(void **state)
{
    (void)state;
    const char hdr[] = "NATS/1.0\r\n\r\n";
    struct enc e = encode(HR_REC_MSG, 0x1122334455667788ULL, 42, "subj.a", 6, hdr,
                          sizeof hdr - 1, "data!", 5);
    for (size_t i = 0; i < e.size; i++)
        for (int bit = 0; bit < 8; bit++) {
            char *p = dup_exact(e.buf, e.size);
            p[i] = (char)(p[i] ^ (1 << bit));
            struct hr_record r;
            size_t size;
            enum hr_decode_status st = hr_record_decode(p, e.size, &r, &size);
            if (i >= 4) {
                if (st != HR_DECODE_CORRUPT)
                    fail_msg("byte %zu bit %d: status %d, want CORRUPT", i, bit, st);
            } else {
                /* A longer length makes the (complete) buffer look incomplete; a shorter
                 * or absurd one is corrupt. Never OK. */
                uint32_t l = rd32(p);
                enum hr_decode_status want =
                    (l > e.size - 4 && l <= HR_RECORD_MAX) ? HR_DECODE_MORE : HR_DECODE_CORRUPT;
                if (st != want)
                    fail_msg("byte %zu bit %d (L=%u): status %d, want %d", i, bit, l, st, want);
            }
            free(p);
        }
    /* Flipping the type between message and tombstone is caught by the CRC too. */
    char *p = dup_exact(e.buf, e.size);
    p[8] = HR_REC_TOMBSTONE;
    struct hr_record r;
    size_t size;
    assert_int_equal(hr_record_decode(p, e.size, &r, &size), HR_DECODE_CORRUPT);
    free(p);
    free(e.buf);
}

static void test_record_implausible_lengths(void **state)
{
    (void)state;
    struct enc e = encode(HR_REC_MSG, 1, 1, "ab", 2, "hh", 2, "dd", 2);
    struct hr_record r;
    size_t size;
    char *p;
    /* L below the fixed part, or above HR_RECORD_MAX: CORRUPT from the first 4 bytes. */
    const uint32_t bad_l[] = {0, 1, HR_RECORD_FIXED - 5, HR_RECORD_MAX + 1, UINT32_MAX};
    for (size_t k = 0; k < sizeof bad_l / sizeof bad_l[0]; k++) {
        p = dup_exact(e.buf, e.size);
        wr32(p, bad_l[k]);
        assert_int_equal(hr_record_decode(p, e.size, &r, &size), HR_DECODE_CORRUPT);
        assert_int_equal(hr_record_decode(p, 4, &r, &size), HR_DECODE_CORRUPT);
        assert_int_equal(hr_record_peek(p, 4, &r, &size), HR_DECODE_CORRUPT);
        free(p);
    }
    /* The minimum (L = 28) and maximum are plausible. */
    char four[4];
    wr32(four, HR_RECORD_FIXED - 4);
    assert_int_equal(hr_record_decode(four, 4, &r, &size), HR_DECODE_MORE);
    assert_int_equal(size, HR_RECORD_FIXED);
    wr32(four, HR_RECORD_MAX);
    assert_int_equal(hr_record_decode(four, 4, &r, &size), HR_DECODE_MORE);
    assert_int_equal(size, (size_t)HR_RECORD_MAX + 4);

    /* S + H larger than the record (even with a correct CRC). */
    struct {
        uint16_t s;
        uint32_t h;
    } bad_sh[] = {{7, 0}, {0, 7}, {4, 3}, {3, 4}, {0xffff, 0}, {0, UINT32_MAX}, {1, UINT32_MAX}};
    for (size_t k = 0; k < sizeof bad_sh / sizeof bad_sh[0]; k++) {
        p = dup_exact(e.buf, e.size);
        p[10] = (char)(bad_sh[k].s & 0xff);
        p[11] = (char)(bad_sh[k].s >> 8);
        wr32(p + 12, bad_sh[k].h);
        fix_crc(p, e.size);
        assert_int_equal(hr_record_decode(p, e.size, &r, &size), HR_DECODE_CORRUPT);
        assert_int_equal(hr_record_peek(p, e.size, &r, &size), HR_DECODE_CORRUPT);
        free(p);
    }
    /* S + H == L - 28 exactly is fine (no data). */
    p = dup_exact(e.buf, e.size);
    p[10] = 4;
    p[11] = 0;
    wr32(p + 12, 2);
    fix_crc(p, e.size);
    assert_int_equal(hr_record_decode(p, e.size, &r, &size), HR_DECODE_OK);
    assert_int_equal(r.data_len, 0);
    free(p);
    free(e.buf);
}

static void test_record_unknown_type(void **state)
{
    (void)state;
    struct enc e = encode(HR_REC_MSG, 1, 1, "a", 1, NULL, 0, "b", 1);
    const unsigned char bad[] = {0, 5, 6, 0x7f, 0x80, 0xff}; /* 1-4 are the known types */
    for (size_t k = 0; k < sizeof bad; k++) {
        char *p = dup_exact(e.buf, e.size);
        p[8] = (char)bad[k];
        fix_crc(p, e.size);
        struct hr_record r;
        size_t size;
        assert_int_equal(hr_record_decode(p, e.size, &r, &size), HR_DECODE_CORRUPT);
        free(p);
    }
    free(e.buf);
}

static void test_record_peek_skips_crc(void **state)
{
    (void)state;
    struct enc e = encode(HR_REC_MSG, 8, 8, "a.b", 3, NULL, 0, "zz", 2);
    char *p = dup_exact(e.buf, e.size);
    p[e.size - 1] ^= 1; /* data damaged: decode refuses, peek (no CRC) does not */
    struct hr_record r;
    size_t size;
    assert_int_equal(hr_record_decode(p, e.size, &r, &size), HR_DECODE_CORRUPT);
    assert_int_equal(hr_record_peek(p, e.size, &r, &size), HR_DECODE_OK);
    assert_int_equal(r.seq, 8);
    assert_int_equal(size, e.size);
    free(p);
    free(e.buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_known_answer),
        cmocka_unit_test(test_crc32c_chaining_and_reference),
        cmocka_unit_test(test_seg_header_round_trip),
        cmocka_unit_test(test_seg_header_corruption),
        cmocka_unit_test(test_record_round_trip_message),
        cmocka_unit_test(test_record_round_trip_empty_fields),
        cmocka_unit_test(test_record_round_trip_markers),
        cmocka_unit_test(test_record_flags),
        cmocka_unit_test(test_record_round_trip_large),
        cmocka_unit_test(test_record_back_to_back),
        cmocka_unit_test(test_record_every_truncation_is_more),
        cmocka_unit_test(test_record_any_changed_byte),
        cmocka_unit_test(test_record_implausible_lengths),
        cmocka_unit_test(test_record_unknown_type),
        cmocka_unit_test(test_record_peek_skips_crc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
