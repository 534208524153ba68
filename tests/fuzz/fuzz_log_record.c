/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer harness for the embedded log's byte codec (src/store/record.c; layout and
 * F1–F3 in record.h), the code every disk reader (recovery, `herald log verify|dump`)
 * trusts with untrusted bytes. Built by `make fuzz`; `make fuzz-smoke` runs it over
 * tests/fuzz/corpus/log_record/ (segment files, single records, damaged ones).
 *
 * Every decode runs on an exact-size heap copy, so ASan catches a read past the end.
 * The input is used four ways:
 *   R1. As a segment file: hr_seg_header_decode on it, then records decoded back to back
 *       (from offset 40 when the header decodes, else from 0) up to the first that is not
 *       OK. Each OK record: 32 <= size <= bytes left; subject, header and data lie inside
 *       the record in that order and fill it; the type is 1..4; hr_record_peek agrees on
 *       every field; re-encoding the decoded fields gives the same bytes; a prefix of it is
 *       MORE, never OK (with the full size once the length field is in). A MORE answer
 *       with a size means the record is longer than the bytes left.
 *   R2. hr_record_peek at every offset: never reads past len; an OK answer is
 *       self-consistent (lengths fit the size, size within F1's bounds).
 *   R3. A record built from the input (type, flags, seq, time, subject/header/data split)
 *       round-trips through encode/decode; flipping any one bit from offset 4 on (CRC,
 *       fixed fields, body) is never OK: CRC32C detects every single-bit error, and the
 *       length field is left alone so the framing is the same.
 *   R4. A segment header built from the input round-trips; any single-bit flip in its 40
 *       bytes is refused. hr_crc32c agrees with a bitwise reference and chains.
 * Any violation aborts (__builtin_trap) so libFuzzer records the input.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "herald/errors.h"
#include "store/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

#define MAX_FLIPS 16 /* bounds the CRC work per input: each flip re-checks one record */

static char *copy(const void *p, size_t n)
{
    char *c = malloc(n ? n : 1);
    CHECK(c != NULL);
    if (n)
        memcpy(c, p, n);
    return c;
}

static uint64_t rd64(const uint8_t *p, size_t avail)
{
    uint64_t v = 0;
    for (size_t i = 0; i < 8 && i < avail; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static uint32_t crc32c_ref(uint32_t crc, const uint8_t *p, size_t len)
{
    crc = ~crc;
    while (len--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* R1 checks on one record decoded OK at rec[0..size) of a buffer with `left` bytes. */
static void check_ok_record(const char *rec, size_t left, const struct hr_record *r, size_t size)
{
    CHECK(size >= HR_RECORD_FIXED && size <= left && size <= (size_t)HR_RECORD_MAX + 4);
    CHECK((unsigned)r->type >= 1 && (unsigned)r->type <= 4); /* F1: 1..3, and 4 in consumer logs */
    CHECK(r->flags <= 0xff);
    CHECK(r->subject == rec + HR_RECORD_FIXED);
    CHECK(r->hdr == r->subject + r->subject_len);
    CHECK(r->data == r->hdr + r->hdr_len);
    CHECK(HR_RECORD_FIXED + r->subject_len + r->hdr_len + r->data_len == size);
    CHECK(hr_record_size(r->subject_len, r->hdr_len, r->data_len) == size);

    struct hr_record p;
    size_t psize;
    CHECK(hr_record_peek(rec, left, &p, &psize) == HR_DECODE_OK);
    CHECK(psize == size && p.type == r->type && p.flags == r->flags && p.seq == r->seq &&
          p.ts_ns == r->ts_ns && p.subject_len == r->subject_len && p.hdr_len == r->hdr_len &&
          p.data_len == r->data_len && p.subject == NULL);

    char *again = malloc(size);
    CHECK(again != NULL);
    CHECK(hr_record_encode(again, r) == size);
    CHECK(memcmp(again, rec, size) == 0);
    free(again);

    /* Prefixes: MORE, never OK; the size is known once the 4-byte length is in. */
    size_t cuts[] = {0, 3, 4, HR_RECORD_FIXED - 1, HR_RECORD_FIXED, size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        if (cuts[i] >= size)
            continue;
        char *pre = copy(rec, cuts[i]);
        struct hr_record q;
        size_t qsize = 12345;
        enum hr_decode_status st = hr_record_decode(pre, cuts[i], &q, &qsize);
        CHECK(st == HR_DECODE_MORE);
        CHECK(qsize == (cuts[i] >= 4 ? size : 0));
        free(pre);
    }
}

/* R1: the input as a segment file. */
static void scan_segment(const uint8_t *in, size_t len)
{
    char *buf = copy(in, len);
    struct hr_seg_header h;
    size_t off = hr_seg_header_decode(buf, len, &h) == 0 ? HR_SEG_HEADER_SIZE : 0;
    while (off < len) {
        size_t left = len - off;
        char *rec = copy(buf + off, left); /* exact size: the record ends the buffer */
        struct hr_record r;
        size_t size = 0;
        enum hr_decode_status st = hr_record_decode(rec, left, &r, &size);
        if (st == HR_DECODE_OK)
            check_ok_record(rec, left, &r, size);
        else if (st == HR_DECODE_MORE)
            CHECK(size == 0 ? left < 4 : size > left);
        free(rec);
        if (st != HR_DECODE_OK)
            break;
        off += size;
    }
    free(buf);
}

/* R2: hr_record_peek at every offset. */
static void peek_everywhere(const uint8_t *in, size_t len)
{
    char *buf = copy(in, len);
    for (size_t off = 0; off < len; off++) {
        struct hr_record r;
        size_t size = 0;
        if (hr_record_peek(buf + off, len - off, &r, &size) != HR_DECODE_OK)
            continue;
        CHECK(size >= HR_RECORD_FIXED && size <= (size_t)HR_RECORD_MAX + 4);
        CHECK(HR_RECORD_FIXED + r.subject_len + r.hdr_len + r.data_len == size);
    }
    free(buf);
}

/* R3: a record built from the input round-trips; single-bit flips are never OK. */
static void round_trip_record(const uint8_t *in, size_t len)
{
    if (len < 24)
        return;
    struct hr_record r = {
        .type = (enum hr_record_type)(1 + in[0] % 3),
        .flags = in[1],
        .seq = rd64(in + 8, len - 8),
        .ts_ns = (int64_t)rd64(in + 16, len - 16),
    };
    const uint8_t *body = in + 24;
    size_t blen = len - 24;
    size_t s = blen ? in[2] % (blen + 1) : 0;
    size_t hl = blen - s ? in[3] % (blen - s + 1) : 0;
    r.subject = (const char *)body;
    r.subject_len = s;
    r.hdr = (const char *)body + s;
    r.hdr_len = hl;
    r.data = (const char *)body + s + hl;
    r.data_len = blen - s - hl;

    size_t size = hr_record_size(r.subject_len, r.hdr_len, r.data_len);
    char *enc = malloc(size);
    CHECK(enc != NULL);
    CHECK(hr_record_encode(enc, &r) == size);
    struct hr_record d;
    size_t dsize;
    CHECK(hr_record_decode(enc, size, &d, &dsize) == HR_DECODE_OK);
    CHECK(dsize == size && d.type == r.type && d.flags == r.flags && d.seq == r.seq &&
          d.ts_ns == r.ts_ns && d.subject_len == s && d.hdr_len == hl &&
          d.data_len == r.data_len);
    CHECK(memcmp(d.subject, r.subject, s) == 0 && memcmp(d.hdr, r.hdr, hl) == 0 &&
          memcmp(d.data, r.data, r.data_len) == 0);

    for (size_t i = 0; i < MAX_FLIPS && 4 + i < len; i++) {
        size_t bit = (size_t)rd64(in + 4 + i, 1) * 0x9E37u + i * 131u;
        size_t byte = 4 + (bit / 8) % (size - 4);
        enc[byte] ^= (char)(1u << (bit % 8));
        struct hr_record f;
        size_t fsize;
        CHECK(hr_record_decode(enc, size, &f, &fsize) != HR_DECODE_OK);
        enc[byte] ^= (char)(1u << (bit % 8));
    }
    free(enc);
}

/* R4: segment headers and the CRC itself. */
static void round_trip_header(const uint8_t *in, size_t len)
{
    struct hr_seg_header h = {.first_seq = rd64(in, len)};
    if (len > 8)
        h.created_ns = (int64_t)rd64(in + 8, len - 8);
    char out[HR_SEG_HEADER_SIZE];
    hr_seg_header_encode(out, &h);
    struct hr_seg_header d;
    char *c = copy(out, sizeof out);
    CHECK(hr_seg_header_decode(c, sizeof out, &d) == 0);
    CHECK(d.first_seq == h.first_seq && d.created_ns == h.created_ns);
    CHECK(hr_seg_header_decode(c, sizeof out - 1, &d) == HERALD_ECORRUPT);
    for (size_t bit = len ? in[len - 1] % 8 : 0; bit < 8 * sizeof out; bit += 8 + (len % 5)) {
        c[bit / 8] ^= (char)(1u << (bit % 8));
        CHECK(hr_seg_header_decode(c, sizeof out, &d) == HERALD_ECORRUPT);
        c[bit / 8] ^= (char)(1u << (bit % 8));
    }
    free(c);

    size_t half = len / 2;
    uint32_t whole = hr_crc32c(0, in, len);
    CHECK(whole == crc32c_ref(0, in, len));
    CHECK(hr_crc32c(hr_crc32c(0, in, half), in + half, len - half) == whole);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    scan_segment(data, size);
    peek_everywhere(data, size);
    round_trip_record(data, size);
    round_trip_header(data, size);
    return 0;
}
