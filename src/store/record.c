/* SPDX-License-Identifier: Apache-2.0
 *
 * Encoding and decoding of segment headers and records; layout and F1–F2 in record.h.
 * CRC32C comes from Intel's ISA-L (crc32_iscsi), hardware-accelerated where possible.
 */
#include <isa-l/crc.h>
#include <string.h>

#include "herald/errors.h"
#include "store/record.h"

uint32_t hr_crc32c(uint32_t crc, const void *buf, size_t len)
{
    /* crc32_iscsi works on the raw register; the standard CRC32C pre/post-inverts. */
    uint32_t reg = ~crc;
    while (len) {
        int chunk = len > 0x40000000 ? 0x40000000 : (int)len;
        reg = crc32_iscsi((unsigned char *)buf, chunk, reg);
        buf = (const char *)buf + chunk;
        len -= (size_t)chunk;
    }
    return ~reg;
}

static inline void put_u16(char *p, uint16_t v)
{
    p[0] = (char)(v & 0xff);
    p[1] = (char)(v >> 8);
}

static inline void put_u32(char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (char)((v >> (8 * i)) & 0xff);
}

static inline void put_u64(char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (char)((v >> (8 * i)) & 0xff);
}

static inline uint16_t get_u16(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint16_t)(u[0] | (u[1] << 8));
}

static inline uint32_t get_u32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] | ((uint32_t)u[1] << 8) | ((uint32_t)u[2] << 16) | ((uint32_t)u[3] << 24);
}

static inline uint64_t get_u64(const char *p)
{
    return (uint64_t)get_u32(p) | ((uint64_t)get_u32(p + 4) << 32);
}

void hr_seg_header_encode(char out[HR_SEG_HEADER_SIZE], const struct hr_seg_header *h)
{
    memcpy(out, HR_SEG_MAGIC, 8);
    put_u32(out + 8, HR_SEG_VERSION);
    put_u32(out + 12, HR_SEG_HEADER_SIZE);
    put_u64(out + 16, h->first_seq);
    put_u64(out + 24, (uint64_t)h->created_ns);
    put_u32(out + 32, 0);
    put_u32(out + 36, hr_crc32c(0, out, 36));
}

int hr_seg_header_decode(const char *buf, size_t len, struct hr_seg_header *h)
{
    if (len < HR_SEG_HEADER_SIZE || memcmp(buf, HR_SEG_MAGIC, 8) != 0 ||
        get_u32(buf + 36) != hr_crc32c(0, buf, 36))
        return HERALD_ECORRUPT;
    if (get_u32(buf + 8) != HR_SEG_VERSION) /* intact, but from another format version */
        return HERALD_EVERSION;
    if (get_u32(buf + 12) != HR_SEG_HEADER_SIZE)
        return HERALD_ECORRUPT;
    h->first_seq = get_u64(buf + 16);
    h->created_ns = (int64_t)get_u64(buf + 24);
    return 0;
}

size_t hr_record_encode(char *out, const struct hr_record *r)
{
    size_t size = hr_record_size(r->subject_len, r->hdr_len, r->data_len);
    put_u32(out, (uint32_t)(size - 4));
    out[8] = (char)r->type;
    out[9] = (char)(r->flags & 0xff);
    put_u16(out + 10, (uint16_t)r->subject_len);
    put_u32(out + 12, (uint32_t)r->hdr_len);
    put_u64(out + 16, r->seq);
    put_u64(out + 24, (uint64_t)r->ts_ns);
    char *p = out + HR_RECORD_FIXED;
    if (r->subject_len)
        memcpy(p, r->subject, r->subject_len);
    p += r->subject_len;
    if (r->hdr_len)
        memcpy(p, r->hdr, r->hdr_len);
    p += r->hdr_len;
    if (r->data_len)
        memcpy(p, r->data, r->data_len);
    put_u32(out + 4, hr_crc32c(0, out + 8, size - 8));
    return size;
}

enum hr_decode_status hr_record_peek(const char *buf, size_t len, struct hr_record *r, size_t *size)
{
    *size = 0;
    if (len < 4)
        return HR_DECODE_MORE;
    uint32_t l = get_u32(buf);
    if (l < HR_RECORD_FIXED - 4 || l > HR_RECORD_MAX)
        return HR_DECODE_CORRUPT;
    *size = (size_t)l + 4;
    if (len < HR_RECORD_FIXED)
        return HR_DECODE_MORE;
    memset(r, 0, sizeof *r);
    r->type = (enum hr_record_type)(unsigned char)buf[8];
    r->flags = (unsigned char)buf[9];
    r->subject_len = get_u16(buf + 10);
    r->hdr_len = get_u32(buf + 12);
    r->seq = get_u64(buf + 16);
    r->ts_ns = (int64_t)get_u64(buf + 24);
    if ((r->type != HR_REC_MSG && r->type != HR_REC_TOMBSTONE && r->type != HR_REC_FLOOR &&
         r->type != HR_REC_CONSUMER) ||
        r->hdr_len > l - (HR_RECORD_FIXED - 4) ||
        r->subject_len > l - (HR_RECORD_FIXED - 4) - r->hdr_len)
        return HR_DECODE_CORRUPT;
    r->data_len = l - (HR_RECORD_FIXED - 4) - r->subject_len - r->hdr_len;
    return HR_DECODE_OK;
}

enum hr_decode_status hr_record_decode(const char *buf, size_t len, struct hr_record *r,
                                       size_t *size)
{
    enum hr_decode_status st = hr_record_peek(buf, len, r, size);
    if (st != HR_DECODE_OK)
        return st;
    if (len < *size)
        return HR_DECODE_MORE;
    if (get_u32(buf + 4) != hr_crc32c(0, buf + 8, *size - 8))
        return HR_DECODE_CORRUPT;
    r->subject = buf + HR_RECORD_FIXED;
    r->hdr = r->subject + r->subject_len;
    r->data = r->hdr + r->hdr_len;
    return HR_DECODE_OK;
}
