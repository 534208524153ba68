/* SPDX-License-Identifier: Apache-2.0
 *
 * The bytes of the embedded log: segment headers and records (docs/log-format.md has the
 * same layout with examples). Pure encode/decode over buffers: no I/O, no allocation,
 * fuzzable alone. All integers are little-endian.
 *
 * Segment file `<first_seq as 20 digits>.seg`:
 *
 *   off size field
 *   0   8    magic "HRLDSEG1"
 *   8   4    version (1)
 *   12  4    header size (40)
 *   16  8    first sequence this segment may hold
 *   24  8    created, ns since the Unix epoch
 *   32  4    flags (0)
 *   36  4    CRC32C of bytes 0..35
 *
 * followed by records:
 *
 *   off size field
 *   0   4    length L of the rest of the record (from offset 4; 28 + subject + hdr + data)
 *   4   4    CRC32C of bytes 8..(4+L)
 *   8   1    type: 1 message, 2 tombstone (the message `seq` was deleted),
 *                3 floor (every message with a sequence below `seq` was deleted),
 *                4 consumer state (in consumer logs only: data is the engine's record)
 *   9   1    flags: bit 0 = another record of the same atomic batch follows
 *   10  2    subject length S
 *   12  4    header length H
 *   16  8    sequence
 *   24  8    timestamp, ns since the Unix epoch
 *   32  S    subject;  then H bytes of NATS/1.0 header block;  then L-28-S-H bytes of data
 *
 * Invariants:
 *   F1. A record is valid only if L >= 28, L <= HR_RECORD_MAX, S + H <= L - 28, the type
 *       is 1 to 4, and the CRC matches. The first invalid or incomplete record ends the segment: recovery
 *       truncates the file there (a torn tail).
 *   F2. Message records in a stream appear in strictly increasing sequence order, one
 *       per sequence; tombstones and floors may follow at any later point.
 *   F3. An atomic batch is written with one write; all its records but the last carry
 *       HR_REC_F_MORE. A log whose valid part ends inside a batch ends before the batch.
 */
#ifndef HR_STORE_RECORD_H
#define HR_STORE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#define HR_SEG_MAGIC "HRLDSEG1"
#define HR_SEG_VERSION 1
#define HR_SEG_HEADER_SIZE 40
#define HR_RECORD_FIXED 32 /* bytes before the subject */
#define HR_RECORD_MAX (72u * 1024 * 1024)

enum hr_record_type { HR_REC_MSG = 1, HR_REC_TOMBSTONE = 2, HR_REC_FLOOR = 3, HR_REC_CONSUMER = 4 };
#define HR_REC_F_MORE 0x01

struct hr_record {
    enum hr_record_type type;
    unsigned flags;
    uint64_t seq;
    int64_t ts_ns;
    const char *subject;
    size_t subject_len;
    const char *hdr;
    size_t hdr_len;
    const char *data;
    size_t data_len;
};

struct hr_seg_header {
    uint64_t first_seq;
    int64_t created_ns;
};

/* CRC32C (Castagnoli) of buf, continuing from `crc` (0 to start). */
uint32_t hr_crc32c(uint32_t crc, const void *buf, size_t len);

void hr_seg_header_encode(char out[HR_SEG_HEADER_SIZE], const struct hr_seg_header *h);
/* Returns 0, HERALD_ECORRUPT (bad magic, size or CRC) or HERALD_EVERSION (an intact
 * header of another format version: the reader must refuse, not repair). */
int hr_seg_header_decode(const char *buf, size_t len, struct hr_seg_header *h);

/* Total encoded size of a record. */
static inline size_t hr_record_size(size_t subject_len, size_t hdr_len, size_t data_len)
{
    return HR_RECORD_FIXED + subject_len + hdr_len + data_len;
}

/* Encodes `r` into `out` (hr_record_size() bytes). Returns the size. */
size_t hr_record_encode(char *out, const struct hr_record *r);

enum hr_decode_status { HR_DECODE_OK, HR_DECODE_MORE, HR_DECODE_CORRUPT };

/* Decodes the record at buf[0..len). OK: `r` points into buf and *size is the record's
 * size. MORE: the record is incomplete; *size is the full size if the length field was
 * readable (and plausible), else 0. CORRUPT: F1 is violated. */
enum hr_decode_status hr_record_decode(const char *buf, size_t len, struct hr_record *r,
                                       size_t *size);

/* Reads the fixed header only (needs HR_RECORD_FIXED bytes): fills type, seq, ts and the
 * lengths; pointers stay NULL. Does not check the CRC. Returns CORRUPT on implausible
 * lengths. */
enum hr_decode_status hr_record_peek(const char *buf, size_t len, struct hr_record *r, size_t *size);

#endif
