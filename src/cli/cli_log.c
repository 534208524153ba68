/* SPDX-License-Identifier: Apache-2.0
 *
 * `herald log verify DIR` and `herald log dump DIR`: offline inspection of heraldd's
 * embedded log (docs/log-format.md). DIR is a data directory (`DIR/streams/<name>/`) or
 * one stream directory (`<name>/` holding `*.seg` and `meta.json`). Read-only: this file
 * never writes, renames or truncates anything under DIR, and it must not be pointed at a
 * directory a running heraldd is writing (it would report the tail being written as torn).
 *
 * The bytes are decoded only by store/record.c (hr_seg_header_decode, hr_record_decode,
 * hr_record_peek); this file owns the reading, the classification of damage and the
 * report. What `verify` checks mirrors log_recover.c, so that "clean" means "heraldd's
 * recovery would change nothing":
 *
 *   V1. every segment header decodes (magic, version, size, CRC) and names the same first
 *       sequence as the file name; segments do not overlap (first_seq > earlier messages);
 *   V2. every record decodes (F1: lengths, type, CRC32C) up to the end of the file;
 *   V3. message sequences strictly increase across the stream, none below its segment's
 *       first_seq (F2); a tombstone never names a sequence the stream had not reached;
 *   V4. no segment ends inside an atomic batch (F3);
 *   V5. meta.json exists, is at most 16 MiB, and is a JSON object whose config.name is
 *       the directory's name (else heraldd skips or misplaces the stream).
 *
 * Damage is a torn tail when nothing valid follows it (the normal result of a crash:
 * heraldd cuts it and loses nothing that was acknowledged under sync=always), and
 * corruption in the middle when a valid record follows it (found by a bounded resync
 * scan): recovery cuts those valid records too, so it is reported with what would be
 * lost. A damaged last record is indistinguishable from a torn write.
 *
 * Bounds: files are read with pread into buffers capped at HR_RECORD_MAX + 4 bytes (the
 * largest record F1 admits), never mapped; at most LOG_MAX_NAMES directory entries per
 * directory; meta.json at most LOG_META_MAX bytes; the tombstone set and the list of
 * sequence runs kept for the live count at most LOG_SET_MAX entries each (beyond that
 * the live count is not computed, and the report says so).
 *
 * Output: the report (verify) or one line per record (dump) on stdout; exit 0 clean,
 * 1 problems found or I/O failure (with one "herald: " line on stderr), 2 usage error.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "common/buf.h"
#include "herald/errors.h"
#include "store/record.h"

#define LOG_MAX_NAMES (1u << 20)               /* entries collected from one directory */
#define LOG_META_MAX (16u * 1024 * 1024)       /* as the store's meta_read */
#define LOG_READ_CHUNK 4096u                   /* first read of a record */
#define LOG_SCAN_WINDOW (1u << 20)             /* resync scan reads this much at a time */
#define LOG_RECORD_BUF_MAX (HR_RECORD_MAX + 4) /* L <= HR_RECORD_MAX, plus the length field */
#define LOG_SET_MAX (HR_RECORD_MAX / sizeof(uint64_t))
#define LOG_PATH_MAX 4096
#define LOG_SEG_NAME_LEN 24 /* 20 digits + ".seg" */
#define LOG_STREAM_NAME_MAX 255

enum log_cmd { LOG_VERIFY, LOG_DUMP };

struct log_args {
    enum log_cmd cmd;
    const char *dir;
    const char *stream; /* NULL: every stream */
    uint64_t from;      /* dump: records with seq >= from */
    uint64_t limit;     /* dump: at most this many record lines; 0: no limit */
    bool data;          /* dump: print headers and payloads */
};

/* ---- small helpers ----------------------------------------------------------------- */

/* "a/b" into out[LOG_PATH_MAX]; false when it did not fit. */
static bool path_join(char out[LOG_PATH_MAX], const char *a, const char *b)
{
    int n = snprintf(out, LOG_PATH_MAX, "%s/%s", a, b);
    return n > 0 && n < LOG_PATH_MAX;
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* "2026-11-28T15:00:45.314582693Z"; the raw number when it is not a representable date. */
static const char *time_format(int64_t ns, char *buf, size_t cap)
{
    int64_t sec = ns / 1000000000LL, frac = ns % 1000000000LL;
    if (frac < 0) {
        frac += 1000000000LL;
        sec--;
    }
    time_t t = (time_t)sec;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year < -1900 || tm.tm_year > 9999 - 1900)
        snprintf(buf, cap, "@%" PRId64 "ns", ns);
    else
        snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%09dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)frac);
    return buf;
}

/* Writes p[0..n) with bytes outside printable ASCII, and `"` and `\`, escaped C-style
 * (\n \r \t \\ \" \xHH), so one record stays on one line. */
static void escape_print(FILE *out, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        switch (c) {
        case '\n': fputs("\\n", out); break;
        case '\r': fputs("\\r", out); break;
        case '\t': fputs("\\t", out); break;
        case '\\': fputs("\\\\", out); break;
        case '"': fputs("\\\"", out); break;
        default:
            if (c < 0x20 || c > 0x7e)
                fprintf(out, "\\x%02x", c);
            else
                fputc(c, out);
        }
    }
}

/* A subject as one blank-free token: "-" when empty, bytes outside 0x21..0x7e as \xHH. */
static void subject_print(FILE *out, const char *p, size_t n)
{
    if (n == 0) {
        fputc('-', out);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (c <= 0x20 || c > 0x7e || c == '\\')
            fprintf(out, "\\x%02x", c);
        else
            fputc(c, out);
    }
}

/* "msg", "tombstone", "floor", or "type<N>" for any other type the codec accepts (4,
 * consumer state, belongs in consumer logs, which this file does not read). */
static const char *type_name(enum hr_record_type t, char *buf, size_t cap)
{
    switch (t) {
    case HR_REC_MSG: return "msg";
    case HR_REC_TOMBSTONE: return "tombstone";
    case HR_REC_FLOOR: return "floor";
    default: break;
    }
    snprintf(buf, cap, "type%u", (unsigned)t);
    return buf;
}

static uint32_t le32(const char *p)
{
    const unsigned char *u = (const unsigned char *)p;
    return (uint32_t)u[0] | ((uint32_t)u[1] << 8) | ((uint32_t)u[2] << 16) | ((uint32_t)u[3] << 24);
}

/* ---- directory listings ------------------------------------------------------------ */

struct names {
    char **v;
    size_t n, cap;
};

static void names_cleanup(struct names *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i]);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* `<20 digits>.seg`: the names log_recover.c opens (it checks length and suffix only). */
static bool is_segment_name(const char *name)
{
    if (strlen(name) != LOG_SEG_NAME_LEN || strcmp(name + 20, ".seg") != 0)
        return false;
    for (int i = 0; i < 20; i++)
        if (name[i] < '0' || name[i] > '9')
            return false;
    return true;
}

static uint64_t segment_name_seq(const char *name)
{
    return strtoull(name, NULL, 10);
}

/* Lists `dir` into `out` (sorted), keeping names for which keep(dir, name) is true.
 * Returns 0 or -errno (-E2BIG past LOG_MAX_NAMES entries). */
static int names_list(const char *dir, bool (*keep)(const char *dir, const char *name),
                      struct names *out)
{
    memset(out, 0, sizeof *out);
    DIR *d = opendir(dir);
    if (d == NULL)
        return -errno;
    int rc = 0;
    struct dirent *e;
    errno = 0;
    while ((e = readdir(d)) != NULL) {
        if (!keep(dir, e->d_name))
            continue;
        if (out->n == LOG_MAX_NAMES) {
            rc = -E2BIG;
            goto out_close;
        }
        if (out->n == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 64;
            char **p = realloc(out->v, cap * sizeof *p);
            if (p == NULL) {
                rc = -ENOMEM;
                goto out_close;
            }
            out->v = p;
            out->cap = cap;
        }
        if ((out->v[out->n] = strdup(e->d_name)) == NULL) {
            rc = -ENOMEM;
            goto out_close;
        }
        out->n++;
        errno = 0;
    }
    if (errno != 0)
        rc = -errno;
out_close:
    closedir(d);
    if (rc != 0)
        names_cleanup(out);
    else if (out->n > 1)
        qsort(out->v, out->n, sizeof *out->v, cmp_names);
    return rc;
}

static bool keep_stream_dir(const char *dir, const char *name)
{
    char path[LOG_PATH_MAX];
    return name[0] != '.' && path_join(path, dir, name) && is_dir(path);
}

static bool keep_segment(const char *dir, const char *name)
{
    (void)dir;
    return is_segment_name(name);
}

/* Files recovery leaves behind or ignores: worth a note, never read. */
static bool keep_leftover(const char *dir, const char *name)
{
    (void)dir;
    size_t n = strlen(name);
    return (n > 8 && strcmp(name + n - 8, ".seg.bad") == 0) || strcmp(name, "meta.json.tmp") == 0 ||
           (n > 4 && strcmp(name + n - 4, ".seg") == 0 && !is_segment_name(name));
}

/* ---- reading one segment ----------------------------------------------------------- */

struct seg_file {
    int fd;
    uint64_t size;
    const char *name; /* borrowed basename */
};

/* Reads exactly n bytes at off. Returns 0, -errno, or -ENODATA at end of file. */
static int read_full(int fd, void *buf, size_t n, uint64_t off)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = pread(fd, p, n, (off_t)off);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (r == 0)
            return -ENODATA;
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* Reads and decodes the record at `off` into `buf` (capped at LOG_RECORD_BUF_MAX).
 * Returns 0 with *st set (OK: *rec points into buf; MORE: incomplete, *size its full size
 * when the length field was readable, else 0; CORRUPT), or -errno / HERALD_ENOMEM. */
static int record_at(const struct seg_file *sf, uint64_t off, struct hr_buf *buf,
                     struct hr_record *rec, size_t *size, enum hr_decode_status *st)
{
    uint64_t left = sf->size - off;
    size_t want = left < LOG_READ_CHUNK ? (size_t)left : LOG_READ_CHUNK;
    buf->len = 0;
    int rc = hr_buf_reserve(buf, want);
    if (rc != 0)
        return rc;
    if ((rc = read_full(sf->fd, buf->data, want, off)) != 0)
        return rc;
    buf->len = want;
    *st = hr_record_decode(buf->data, buf->len, rec, size);
    if (*st == HR_DECODE_MORE && *size > want && *size <= left) {
        /* *size <= HR_RECORD_MAX + 4: hr_record_peek refused any larger length. */
        if ((rc = hr_buf_reserve(buf, *size - want)) != 0)
            return rc;
        if ((rc = read_full(sf->fd, buf->data + want, *size - want, off + want)) != 0)
            return rc;
        buf->len = *size;
        *st = hr_record_decode(buf->data, buf->len, rec, size);
    }
    return 0;
}

/* True when every byte of the file from `off` on is zero (space allocated, never written). */
static int tail_all_zero(const struct seg_file *sf, uint64_t off, struct hr_buf *scratch,
                         bool *zero)
{
    *zero = true;
    while (off < sf->size && *zero) {
        uint64_t left = sf->size - off;
        size_t n = left < LOG_SCAN_WINDOW ? (size_t)left : LOG_SCAN_WINDOW;
        scratch->len = 0;
        int rc = hr_buf_reserve(scratch, n);
        if (rc == 0)
            rc = read_full(sf->fd, scratch->data, n, off);
        if (rc != 0)
            return rc;
        for (size_t i = 0; i < n && *zero; i++)
            *zero = scratch->data[i] == 0;
        off += n;
    }
    return 0;
}

/* What verify and dump learned about damage at one offset. */
struct damage {
    bool torn;          /* nothing valid after it */
    char why[256];      /* what is wrong with the record at the offset */
    bool resynced;      /* !torn: a valid record was found at resync_off */
    uint64_t resync_off;
};

/* Looks for the next valid record after `off`: a plausible fixed header (hr_record_peek),
 * a sequence within reach of `max_seq`, then the full CRC check. Reads LOG_SCAN_WINDOW
 * bytes at a time; every candidate costs at most one record read. */
static int resync(const struct seg_file *sf, uint64_t off, uint64_t max_seq, struct hr_buf *buf,
                  struct hr_buf *scratch, bool *found, uint64_t *found_off)
{
    *found = false;
    /* Each record takes >= HR_RECORD_FIXED bytes, so no later sequence can be further. */
    uint64_t reach = max_seq + sf->size / HR_RECORD_FIXED + 1;
    uint64_t base = off + 1;
    while (base + HR_RECORD_FIXED <= sf->size) {
        uint64_t left = sf->size - base;
        size_t n = left < LOG_SCAN_WINDOW ? (size_t)left : LOG_SCAN_WINDOW;
        scratch->len = 0;
        int rc = hr_buf_reserve(scratch, n);
        if (rc == 0)
            rc = read_full(sf->fd, scratch->data, n, base);
        if (rc != 0)
            return rc;
        for (size_t i = 0; i + HR_RECORD_FIXED <= n; i++) {
            struct hr_record r;
            size_t size;
            if (hr_record_peek(scratch->data + i, n - i, &r, &size) != HR_DECODE_OK ||
                size > sf->size - (base + i) || r.seq > reach ||
                (r.type == HR_REC_MSG && r.seq <= max_seq))
                continue;
            enum hr_decode_status st;
            if ((rc = record_at(sf, base + i, buf, &r, &size, &st)) != 0)
                return rc;
            if (st == HR_DECODE_OK) {
                *found = true;
                *found_off = base + i;
                return 0;
            }
        }
        base += n - (HR_RECORD_FIXED - 1); /* overlap: a header may straddle windows */
    }
    return 0;
}

/* Describes the bad record at `off` (status st, size from the decoder) and decides torn
 * tail vs corruption. `why_prefix` (may be NULL) replaces the decoder-derived reason, for
 * records that decode but break F2. */
static int classify(const struct seg_file *sf, uint64_t off, enum hr_decode_status st,
                    size_t size, const char *why_prefix, uint64_t max_seq, struct hr_buf *buf,
                    struct hr_buf *scratch, struct damage *d)
{
    memset(d, 0, sizeof *d);
    uint64_t left = sf->size - off;
    bool zero = false;
    int rc = why_prefix ? 0 : tail_all_zero(sf, off, scratch, &zero);
    if (rc != 0)
        return rc;
    if (zero) {
        d->torn = true;
        snprintf(d->why, sizeof d->why, "%" PRIu64 " zero bytes (space allocated, never written)",
                 left);
        return 0;
    }
    if (why_prefix) {
        snprintf(d->why, sizeof d->why, "%s", why_prefix);
    } else if (st == HR_DECODE_MORE && size == 0) {
        snprintf(d->why, sizeof d->why, "incomplete record header (%" PRIu64 " bytes)", left);
    } else if (st == HR_DECODE_MORE) {
        snprintf(d->why, sizeof d->why, "record of %zu bytes but only %" PRIu64 " in the file",
                 size, left);
    } else {
        /* CORRUPT: tell framing damage from a checksum mismatch. buf holds the bytes. */
        struct hr_record r;
        size_t sz = 0;
        enum hr_decode_status pst =
            buf->len >= 4 ? hr_record_peek(buf->data, buf->len, &r, &sz) : HR_DECODE_MORE;
        if (pst == HR_DECODE_OK)
            snprintf(d->why, sizeof d->why, "checksum mismatch in a record of %zu bytes (seq %" PRIu64 ")",
                     sz, r.seq);
        else if (sz == 0)
            snprintf(d->why, sizeof d->why, "implausible length field %" PRIu32, le32(buf->data));
        else
            snprintf(d->why, sizeof d->why,
                     "bad fixed header (type %u, subject %u bytes, header %" PRIu32 " bytes)",
                     (unsigned)(unsigned char)buf->data[8],
                     (unsigned)((unsigned char)buf->data[10] | ((unsigned char)buf->data[11] << 8)),
                     le32(buf->data + 12));
    }
    if ((rc = resync(sf, off, max_seq, buf, scratch, &d->resynced, &d->resync_off)) != 0)
        return rc;
    d->torn = !d->resynced && why_prefix == NULL;
    return 0;
}

/* Counts the valid records from `off` to the next damage or the end of the file. */
static int count_valid_from(const struct seg_file *sf, uint64_t off, struct hr_buf *buf,
                            uint64_t *records, uint64_t *first_msg, uint64_t *last_msg)
{
    *records = *first_msg = *last_msg = 0;
    while (off < sf->size) {
        struct hr_record r;
        size_t size;
        enum hr_decode_status st;
        int rc = record_at(sf, off, buf, &r, &size, &st);
        if (rc != 0)
            return rc;
        if (st != HR_DECODE_OK)
            break;
        (*records)++;
        if (r.type == HR_REC_MSG) {
            if (*first_msg == 0)
                *first_msg = r.seq;
            *last_msg = r.seq;
        }
        off += size;
    }
    return 0;
}

/* Opens `dir/name`; fills sf. Returns 0 or -errno. */
static int seg_file_open(const char *dir, const char *name, struct seg_file *sf)
{
    char path[LOG_PATH_MAX];
    if (!path_join(path, dir, name))
        return -ENAMETOOLONG;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    int e = fstat(fd, &st) != 0 ? errno : !S_ISREG(st.st_mode) ? EISDIR : 0;
    if (e != 0) {
        close(fd);
        return -e;
    }
    sf->fd = fd;
    sf->size = (uint64_t)st.st_size;
    sf->name = name;
    return 0;
}

/* Why a segment header does not decode, or NULL when it does (fills *h). */
static const char *header_check(const struct seg_file *sf, struct hr_seg_header *h, char *why,
                                size_t cap, int *io_err)
{
    char hdr[HR_SEG_HEADER_SIZE];
    *io_err = 0;
    if (sf->size == 0)
        return "zero-length segment file (a crash while it was being created)";
    if (sf->size < HR_SEG_HEADER_SIZE) {
        snprintf(why, cap, "segment header cut short (%" PRIu64 " of %d bytes)", sf->size,
                 HR_SEG_HEADER_SIZE);
        return why;
    }
    if ((*io_err = read_full(sf->fd, hdr, sizeof hdr, 0)) != 0)
        return "unreadable";
    if (hr_seg_header_decode(hdr, sizeof hdr, h) == 0)
        return NULL;
    if (memcmp(hdr, HR_SEG_MAGIC, 8) != 0)
        return "bad magic (not a Herald log segment)";
    if (le32(hdr + 8) != HR_SEG_VERSION) {
        snprintf(why, cap, "unsupported format version %" PRIu32 " (this herald reads version %d)",
                 le32(hdr + 8), HR_SEG_VERSION);
        return why;
    }
    if (le32(hdr + 12) != HR_SEG_HEADER_SIZE) {
        snprintf(why, cap, "bad header size %" PRIu32, le32(hdr + 12));
        return why;
    }
    return "segment header checksum mismatch";
}

/* ---- verify ------------------------------------------------------------------------ */

struct u64vec {
    uint64_t *v;
    size_t n, cap;
    bool overflow; /* an entry was dropped: out of memory or past LOG_SET_MAX */
};

static void u64vec_push(struct u64vec *a, uint64_t x)
{
    if (a->overflow)
        return;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 256;
        uint64_t *p = cap <= LOG_SET_MAX ? realloc(a->v, cap * sizeof *p) : NULL;
        if (p == NULL) {
            a->overflow = true;
            return;
        }
        a->v = p;
        a->cap = cap;
    }
    a->v[a->n++] = x;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static bool u64_sorted_has(const uint64_t *v, size_t n, uint64_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < n && v[lo] == x;
}

struct stream_stats {
    uint64_t segments, records, msgs, tombs, floors, bytes;
    uint64_t first_seq, last_seq; /* message records kept by recovery; 0: none */
    uint64_t max_seq;             /* F2: the highest message sequence so far (recovery's) */
    uint64_t reached;             /* the highest sequence the stream had reached */
    uint64_t floor;               /* the highest floor record */
    uint64_t problems, notes;
    struct u64vec tombstones; /* sequences named by tombstones */
    struct u64vec runs;       /* message sequences as [start, end] pairs */
    struct u64vec pending;    /* F3: messages of the open atomic batch, not yet counted */
};

static void stats_cleanup(struct stream_stats *s)
{
    free(s->tombstones.v);
    free(s->runs.v);
    free(s->pending.v);
}

static void note_run(struct stream_stats *s, uint64_t seq)
{
    if (s->runs.n >= 2 && s->runs.v[s->runs.n - 1] + 1 == seq) {
        s->runs.v[s->runs.n - 1] = seq;
    } else {
        u64vec_push(&s->runs, seq);
        u64vec_push(&s->runs, seq);
        if (s->runs.n % 2 != 0) /* the second push failed */
            s->runs.n--;
    }
}

/* A message record recovery keeps. */
static void count_message(struct stream_stats *s, uint64_t seq)
{
    s->records++;
    s->msgs++;
    if (s->first_seq == 0)
        s->first_seq = seq;
    s->last_seq = seq;
    note_run(s, seq);
}

static void batch_commit(struct stream_stats *s)
{
    for (size_t i = 0; i < s->pending.n; i++)
        count_message(s, s->pending.v[i]);
    if (s->pending.overflow)
        s->runs.overflow = true; /* some were not kept: the counts are short, say so */
    s->pending.n = 0;
    s->pending.overflow = false;
}

static bool runs_have(const struct u64vec *runs, uint64_t seq)
{
    size_t lo = 0, hi = runs->n / 2; /* first run whose end >= seq */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (runs->v[2 * mid + 1] < seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < runs->n / 2 && runs->v[2 * lo] <= seq;
}

/* Prints the live view recovery would build: messages >= the floor, not tombstoned. */
static void print_live(struct stream_stats *s)
{
    if (s->tombstones.overflow || s->runs.overflow) {
        printf("  live: not computed (more than %zu tombstones or sequence gaps)\n",
               (size_t)LOG_SET_MAX);
        return;
    }
    uint64_t *t = s->tombstones.v;
    size_t nt = 0;
    if (s->tombstones.n > 0) {
        qsort(t, s->tombstones.n, sizeof *t, cmp_u64);
        for (size_t i = 0; i < s->tombstones.n; i++)
            if (nt == 0 || t[nt - 1] != t[i])
                t[nt++] = t[i];
    }
    uint64_t floor = s->floor, live = 0, first = 0, last = 0;
    size_t nruns = s->runs.n / 2;
    for (size_t r = 0; r < nruns; r++) {
        uint64_t lo = s->runs.v[2 * r] > floor ? s->runs.v[2 * r] : floor, hi = s->runs.v[2 * r + 1];
        if (lo <= hi)
            live += hi - lo + 1;
    }
    for (size_t i = 0; i < nt; i++)
        if (t[i] >= floor && runs_have(&s->runs, t[i]))
            live--;
    /* Each step past a tombstoned sequence consumes a tombstone: O(runs + tombstones). */
    for (size_t r = 0; r < nruns && !first; r++)
        for (uint64_t q = s->runs.v[2 * r] > floor ? s->runs.v[2 * r] : floor;
             q <= s->runs.v[2 * r + 1] && q != 0; q++)
            if (!u64_sorted_has(t, nt, q)) {
                first = q;
                break;
            }
    for (size_t r = nruns; r > 0 && !last; r--)
        for (uint64_t q = s->runs.v[2 * r - 1]; q >= s->runs.v[2 * r - 2] && q >= floor && q != 0; q--)
            if (!u64_sorted_has(t, nt, q)) {
                last = q;
                break;
            }
    printf("  live: messages=%" PRIu64 " first_seq=%" PRIu64 " last_seq=%" PRIu64
           " floor=%" PRIu64 "\n", live, first, last, floor);
}

static void problem(struct stream_stats *s, const char *kind, const char *file, uint64_t off,
                    const char *why)
{
    s->problems++;
    if (off == UINT64_MAX)
        printf("  problem: %s: %s: %s\n", kind, file, why);
    else
        printf("  problem: %s: %s offset %" PRIu64 ": %s\n", kind, file, off, why);
}

/* Reports damage at `off` (or an F2 break there), as recovery would cut it. */
static int report_damage(const struct seg_file *sf, uint64_t off, enum hr_decode_status st,
                         size_t size, const char *f2, bool last_segment, uint64_t batch_off,
                         struct stream_stats *s, struct hr_buf *buf, struct hr_buf *scratch)
{
    struct damage d;
    char msg[700], batch[160] = "";
    int rc = classify(sf, off, st, size, f2, s->max_seq, buf, scratch, &d);
    if (rc != 0)
        return rc;
    uint64_t cut_off = batch_off ? batch_off : off;
    if (batch_off)
        snprintf(batch, sizeof batch, " from offset %" PRIu64 ", where the unfinished atomic batch"
                 " before it starts (F3)", batch_off);
    if (d.torn) {
        snprintf(msg, sizeof msg, "%s; heraldd cuts the last %" PRIu64 " bytes%s%s", d.why,
                 sf->size - cut_off, batch,
                 last_segment ? "" : " (not the last segment: the sequences lost there read as"
                                     " deleted, later segments are kept)");
        problem(s, "torn tail", sf->name, off, msg);
        return 0;
    }
    uint64_t n = 0, a = 0, b = 0;
    if (d.resynced && (rc = count_valid_from(sf, d.resync_off, buf, &n, &a, &b)) != 0)
        return rc;
    char after[200] = "";
    if (n > 0 && a > 0)
        snprintf(after, sizeof after, "; %" PRIu64 " valid record%s follow%s it (messages %" PRIu64
                 "..%" PRIu64 ") and %s cut too", n, n == 1 ? "" : "s", n == 1 ? "s" : "", a, b,
                 n == 1 ? "is" : "are");
    else if (n > 0)
        snprintf(after, sizeof after, "; %" PRIu64 " valid record%s follow%s it and %s cut too", n,
                 n == 1 ? "" : "s", n == 1 ? "s" : "", n == 1 ? "is" : "are");
    snprintf(msg, sizeof msg, "%s; heraldd's recovery cuts the segment here (%" PRIu64 " bytes%s)%s",
             d.why, sf->size - cut_off, batch, after);
    problem(s, "corruption", sf->name, off, msg);
    return 0;
}

/* Verifies one segment file, as log_recover.c's pass 1 reads it; updates s. Returns 0 or
 * a fatal -errno / HERALD_ENOMEM. */
static int verify_segment(const char *dir, const char *name, bool last_segment,
                          struct stream_stats *s, struct hr_buf *buf, struct hr_buf *scratch)
{
    struct seg_file sf;
    int rc = seg_file_open(dir, name, &sf);
    if (rc != 0) {
        char why[160];
        snprintf(why, sizeof why, "cannot open: %s", strerror(-rc));
        problem(s, "unreadable", name, UINT64_MAX, why);
        return 0;
    }
    s->segments++;
    s->bytes += sf.size;
    char why[256], msg[600];
    struct hr_seg_header h;
    const char *bad = header_check(&sf, &h, why, sizeof why, &rc);
    if (rc != 0)
        goto out_close;
    if (bad != NULL) {
        if (strncmp(bad, "unsupported format version", 26) == 0)
            snprintf(msg, sizeof msg, "%s; heraldd refuses to open this stream", bad);
        else
            snprintf(msg, sizeof msg, "%s; heraldd sets it aside as %s.bad and skips it", bad, name);
        problem(s, "bad header", name, UINT64_MAX, msg);
        goto out_close;
    }
    if (h.first_seq != segment_name_seq(name)) {
        snprintf(msg, sizeof msg, "header says first_seq %" PRIu64 " but the name says %" PRIu64,
                 h.first_seq, segment_name_seq(name));
        problem(s, "corruption", name, 0, msg);
    }
    if (s->max_seq > 0 && h.first_seq <= s->max_seq) {
        snprintf(msg, sizeof msg, "first_seq %" PRIu64 " overlaps message %" PRIu64
                 " of an earlier segment (lookups by sequence go wrong)", h.first_seq, s->max_seq);
        problem(s, "corruption", name, 0, msg);
    }
    if (h.first_seq > 0 && h.first_seq - 1 > s->reached)
        s->reached = h.first_seq - 1;

    /* F3: the open atomic batch (its first record's offset, the state before it). */
    bool in_batch = false;
    uint64_t batch_off = 0, batch_max_seq = 0, batch_reached = 0;
    uint64_t off = HR_SEG_HEADER_SIZE;
    while (off < sf.size) {
        struct hr_record r;
        size_t size;
        enum hr_decode_status st;
        if ((rc = record_at(&sf, off, buf, &r, &size, &st)) != 0)
            goto out_close;
        char f2[200];
        bool out_of_order = st == HR_DECODE_OK && r.type == HR_REC_MSG &&
                            (r.seq <= s->max_seq || r.seq < h.first_seq);
        if (out_of_order)
            snprintf(f2, sizeof f2, "message seq %" PRIu64 " after seq %" PRIu64 " in a segment"
                     " starting at %" PRIu64 " (F2: out of order)", r.seq, s->max_seq, h.first_seq);
        if (st != HR_DECODE_OK || out_of_order) {
            rc = report_damage(&sf, off, st, size, out_of_order ? f2 : NULL, last_segment,
                               in_batch ? batch_off : 0, s, buf, scratch);
            goto out_rollback;
        }
        if (r.type == HR_REC_MSG) {
            if ((r.flags & HR_REC_F_MORE) && !in_batch) {
                in_batch = true;
                batch_off = off;
                batch_max_seq = s->max_seq;
                batch_reached = s->reached;
            }
            s->max_seq = r.seq;
            if (r.seq > s->reached)
                s->reached = r.seq;
            if (in_batch) {
                u64vec_push(&s->pending, r.seq);
                if (!(r.flags & HR_REC_F_MORE)) {
                    batch_commit(s);
                    in_batch = false;
                }
            } else {
                count_message(s, r.seq);
            }
        } else {
            s->records++;
            char tn[16];
            if (in_batch) {
                snprintf(msg, sizeof msg, "%s record inside an atomic batch (F3: a batch is"
                         " one write of messages)", type_name(r.type, tn, sizeof tn));
                problem(s, "corruption", name, off, msg);
            }
            if (r.type == HR_REC_TOMBSTONE) {
                s->tombs++;
                if (r.seq > s->reached) {
                    snprintf(msg, sizeof msg, "tombstone for seq %" PRIu64 ", which the stream"
                             " had not reached (F2: a tombstone follows its message)", r.seq);
                    problem(s, "corruption", name, off, msg);
                }
                u64vec_push(&s->tombstones, r.seq);
            } else if (r.type == HR_REC_FLOOR) {
                s->floors++;
                if (r.seq > s->floor)
                    s->floor = r.seq;
            } else { /* consumer state (type 4): consumer logs only; recovery skips it */
                s->notes++;
                printf("  note: %s offset %" PRIu64 ": record %s in a stream segment (ignored by"
                       " this verify)\n", name, off, type_name(r.type, tn, sizeof tn));
            }
        }
        if ((r.flags & ~(unsigned)HR_REC_F_MORE) != 0 || (r.type != HR_REC_MSG && r.flags != 0)) {
            s->notes++;
            printf("  note: %s offset %" PRIu64 ": unknown record flags 0x%02x (ignored by heraldd)\n",
                   name, off, r.flags);
        }
        off += size;
    }
    if (in_batch) {
        snprintf(msg, sizeof msg, "the segment ends inside an atomic batch (%zu records flagged"
                 " 'more follow', no closing record); heraldd drops the whole batch (F3): the"
                 " last %" PRIu64 " bytes", s->pending.n, sf.size - batch_off);
        problem(s, "torn tail", name, batch_off, msg);
    }
out_rollback:
    if (in_batch) { /* recovery keeps nothing of an unfinished batch */
        s->max_seq = batch_max_seq;
        s->reached = batch_reached;
        s->pending.n = 0;
        s->pending.overflow = false;
    }
out_close:
    close(sf.fd);
    return rc;
}

/* V5: meta.json. */
static void verify_meta(const char *dir, const char *stream, struct stream_stats *s)
{
    char path[LOG_PATH_MAX], msg[400];
    if (!path_join(path, dir, "meta.json")) {
        problem(s, "meta", "meta.json", UINT64_MAX, "path too long");
        return;
    }
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(msg, sizeof msg, "%s; heraldd skips this stream", strerror(errno));
        problem(s, "meta", "meta.json", UINT64_MAX, msg);
        return;
    }
    if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size > LOG_META_MAX) {
        problem(s, "meta", "meta.json", UINT64_MAX,
                "not a regular file of at most 16 MiB; heraldd skips this stream");
        return;
    }
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    json_t *cfg = json_is_object(root) ? json_object_get(root, "config") : NULL;
    const char *name = json_string_value(json_object_get(cfg, "name"));
    if (root == NULL) {
        snprintf(msg, sizeof msg, "not JSON (%s, line %d); heraldd skips this stream", jerr.text,
                 jerr.line);
        problem(s, "meta", "meta.json", UINT64_MAX, msg);
    } else if (!json_is_object(cfg) || name == NULL) {
        problem(s, "meta", "meta.json", UINT64_MAX,
                "no \"config\" object with a \"name\"; heraldd skips this stream");
    } else if (strcmp(name, stream) != 0) {
        snprintf(msg, sizeof msg, "config.name is \"%.100s\" but the directory is \"%.100s\"", name,
                 stream);
        problem(s, "meta", "meta.json", UINT64_MAX, msg);
    } else if (!json_is_integer(json_object_get(root, "created_ns"))) {
        s->notes++;
        printf("  note: meta.json has no integer \"created_ns\"\n");
    }
    json_decref(root);
}

/* Verifies one stream directory. Returns 0 or a fatal error (printed by the caller). */
static int verify_stream(const char *dir, const char *stream, uint64_t *problems,
                         uint64_t *segments, uint64_t *records)
{
    struct names segs, left;
    int rc = names_list(dir, keep_segment, &segs);
    if (rc != 0)
        return rc;
    if ((rc = names_list(dir, keep_leftover, &left)) != 0)
        goto out_segs;
    struct stream_stats s;
    memset(&s, 0, sizeof s);
    struct hr_buf buf, scratch;
    hr_buf_init(&buf, LOG_RECORD_BUF_MAX);
    hr_buf_init(&scratch, LOG_SCAN_WINDOW);
    printf("stream %s (%s)\n", stream, dir);
    verify_meta(dir, stream, &s);
    for (size_t i = 0; i < segs.n && rc == 0; i++)
        rc = verify_segment(dir, segs.v[i], i + 1 == segs.n, &s, &buf, &scratch);
    for (size_t i = 0; i < left.n; i++) {
        s.notes++;
        printf("  note: %s: %s\n", left.v[i],
               strcmp(left.v[i], "meta.json.tmp") == 0
                   ? "left over from an interrupted meta.json update (ignored by heraldd)"
                   : strstr(left.v[i], ".seg.bad") != NULL
                         ? "set aside earlier by heraldd (bad header); not read"
                         : "not named <20 digits>.seg; ignored by heraldd");
    }
    if (rc == 0) {
        printf("  segments=%" PRIu64 " records=%" PRIu64 " messages=%" PRIu64 " tombstones=%" PRIu64
               " floors=%" PRIu64 " first_seq=%" PRIu64 " last_seq=%" PRIu64 " bytes=%" PRIu64
               " problems=%" PRIu64 "\n",
               s.segments, s.records, s.msgs, s.tombs, s.floors, s.first_seq, s.last_seq, s.bytes,
               s.problems);
        print_live(&s);
        *problems += s.problems;
        *segments += s.segments;
        *records += s.records;
    }
    hr_buf_cleanup(&scratch);
    hr_buf_cleanup(&buf);
    stats_cleanup(&s);
    names_cleanup(&left);
out_segs:
    names_cleanup(&segs);
    return rc;
}

/* ---- dump -------------------------------------------------------------------------- */

struct dump_state {
    const struct log_args *a;
    uint64_t printed;
    uint64_t damaged;
    uint64_t max_seq; /* the highest message sequence seen in this stream (for resync) */
    bool done;        /* --limit reached */
};

static void dump_record(struct dump_state *ds, const struct hr_record *r, size_t size)
{
    char when[64], tn[16];
    printf("%" PRIu64 " %s ", r->seq, time_format(r->ts_ns, when, sizeof when));
    subject_print(stdout, r->subject, r->subject_len);
    printf(" %s %zu", type_name(r->type, tn, sizeof tn), size);
    if (r->flags != 0)
        printf(" flags=0x%02x", r->flags);
    if (ds->a->data && r->type == HR_REC_MSG) {
        if (r->hdr_len > 0) {
            fputs(" hdr=\"", stdout);
            escape_print(stdout, r->hdr, r->hdr_len);
            fputc('"', stdout);
        }
        fputs(" data=\"", stdout);
        escape_print(stdout, r->data, r->data_len);
        fputc('"', stdout);
    }
    fputc('\n', stdout);
    if (ds->a->limit != 0 && ++ds->printed >= ds->a->limit)
        ds->done = true;
}

static int dump_segment(struct dump_state *ds, const char *dir, const char *name,
                        struct hr_buf *buf, struct hr_buf *scratch)
{
    struct seg_file sf;
    int rc = seg_file_open(dir, name, &sf);
    if (rc != 0) {
        printf("# damage: %s: cannot open: %s\n", name, strerror(-rc));
        ds->damaged++;
        return 0;
    }
    char why[256], when[64];
    struct hr_seg_header h;
    const char *bad = header_check(&sf, &h, why, sizeof why, &rc);
    if (rc != 0)
        goto out_close;
    if (bad != NULL) {
        printf("# damage: %s: %s\n", name, bad);
        ds->damaged++;
        goto out_close;
    }
    printf("# segment %s first_seq=%" PRIu64 " created=%s bytes=%" PRIu64 "\n", name, h.first_seq,
           time_format(h.created_ns, when, sizeof when), sf.size);
    uint64_t off = HR_SEG_HEADER_SIZE;
    while (off < sf.size && !ds->done) {
        struct hr_record r;
        size_t size;
        enum hr_decode_status st;
        if ((rc = record_at(&sf, off, buf, &r, &size, &st)) != 0)
            goto out_close;
        if (st != HR_DECODE_OK) {
            struct damage d;
            if ((rc = classify(&sf, off, st, size, NULL, ds->max_seq, buf, scratch, &d)) != 0)
                goto out_close;
            if (d.torn)
                printf("# damage: %s offset %" PRIu64 ": torn tail: %s\n", name, off, d.why);
            else
                printf("# damage: %s offset %" PRIu64 ": corruption: %s; next valid record at offset %"
                       PRIu64 "\n", name, off, d.why, d.resync_off);
            ds->damaged++;
            break;
        }
        if (r.type == HR_REC_MSG && r.seq > ds->max_seq)
            ds->max_seq = r.seq;
        if (r.seq >= ds->a->from)
            dump_record(ds, &r, size);
        off += size;
    }
out_close:
    close(sf.fd);
    return rc;
}

static int dump_stream(struct dump_state *ds, const char *dir, const char *stream)
{
    struct names segs;
    int rc = names_list(dir, keep_segment, &segs);
    if (rc != 0)
        return rc;
    struct hr_buf buf, scratch;
    hr_buf_init(&buf, LOG_RECORD_BUF_MAX);
    hr_buf_init(&scratch, LOG_SCAN_WINDOW);
    printf("# stream %s (%s)\n", stream, dir);
    ds->max_seq = 0;
    for (size_t i = 0; i < segs.n && rc == 0 && !ds->done; i++) {
        /* A record in segment i names at most the next segment's first sequence (a floor
         * written just before the roll), so segments wholly below --from are skipped. */
        if (i + 1 < segs.n && segment_name_seq(segs.v[i + 1]) < ds->a->from)
            continue;
        rc = dump_segment(ds, dir, segs.v[i], &buf, &scratch);
    }
    hr_buf_cleanup(&scratch);
    hr_buf_cleanup(&buf);
    names_cleanup(&segs);
    return rc;
}

/* ---- the command ------------------------------------------------------------------- */

static bool has_stream_files(const char *dir, const char *name)
{
    (void)dir;
    return is_segment_name(name) || strcmp(name, "meta.json") == 0;
}

/* The last component of `path` after resolving it ("." names the current directory). */
static const char *base_name(const char *path, char *buf, size_t cap)
{
    char resolved[PATH_MAX];
    if (realpath(path, resolved) != NULL)
        path = resolved;
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    size_t start = n;
    while (start > 0 && path[start - 1] != '/')
        start--;
    snprintf(buf, cap, "%.*s", (int)(n - start), path + start);
    return buf;
}

static int log_run(const struct log_args *a)
{
    struct stat st;
    if (stat(a->dir, &st) != 0)
        return hr_cli_fail("cannot open '%s': %s", a->dir, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return hr_cli_fail("'%s' is not a directory", a->dir);

    /* Which streams, where: DIR/streams/<name>/ or DIR itself. */
    char streams_dir[LOG_PATH_MAX], one_name[LOG_STREAM_NAME_MAX + 1];
    struct names list = {0};
    const char *parent = NULL; /* NULL: DIR is the one stream */
    int rc;
    if (!path_join(streams_dir, a->dir, "streams"))
        return hr_cli_fail("path too long: '%s'", a->dir);
    if (is_dir(streams_dir)) {
        parent = streams_dir;
        if ((rc = names_list(streams_dir, keep_stream_dir, &list)) != 0)
            return hr_cli_fail("cannot list '%s': %s", streams_dir, strerror(-rc));
    } else {
        struct names probe;
        if ((rc = names_list(a->dir, has_stream_files, &probe)) != 0)
            return hr_cli_fail("cannot list '%s': %s", a->dir, strerror(-rc));
        bool stream_dir = probe.n > 0;
        names_cleanup(&probe);
        if (!stream_dir)
            return hr_cli_fail("'%s' is neither a heraldd data directory (no streams/) nor a"
                               " stream directory (no *.seg, no meta.json)", a->dir);
        base_name(a->dir, one_name, sizeof one_name);
    }
    size_t nstreams = parent ? list.n : 1;
    if (a->stream != NULL) {
        bool found = false;
        for (size_t i = 0; parent && i < list.n; i++)
            found |= strcmp(list.v[i], a->stream) == 0;
        if (!parent)
            found = strcmp(one_name, a->stream) == 0;
        if (!found) {
            names_cleanup(&list);
            return hr_cli_fail("no stream '%s' in '%s'", a->stream, a->dir);
        }
        nstreams = 1;
    }

    uint64_t problems = 0, segments = 0, records = 0, verified = 0;
    struct dump_state ds = {.a = a};
    int status = HR_CLI_EXIT_OK;
    for (size_t i = 0; i < (parent ? list.n : 1) && !ds.done; i++) {
        const char *name = parent ? list.v[i] : one_name;
        char dir[LOG_PATH_MAX];
        if (a->stream != NULL && strcmp(name, a->stream) != 0)
            continue;
        if (parent != NULL && !path_join(dir, parent, name)) {
            status = hr_cli_fail("path too long under '%s'", parent);
            goto out_list;
        }
        const char *sdir = parent ? dir : a->dir;
        rc = a->cmd == LOG_VERIFY ? verify_stream(sdir, name, &problems, &segments, &records)
                                  : dump_stream(&ds, sdir, name);
        if (rc != 0) {
            fflush(stdout);
            status = hr_cli_fail("stream '%s' in '%s': %s", name, sdir, herald_strerror(rc));
            goto out_list;
        }
        verified++;
    }
    if (a->cmd == LOG_VERIFY) {
        printf("verified %" PRIu64 " stream%s, %" PRIu64 " segment%s, %" PRIu64 " record%s: %s\n",
               verified, verified == 1 ? "" : "s", segments, segments == 1 ? "" : "s", records,
               records == 1 ? "" : "s", problems ? "PROBLEMS FOUND" : "clean");
        if (problems) {
            fflush(stdout);
            status = hr_cli_fail("log verify: %" PRIu64 " problem%s in '%s'", problems,
                                 problems == 1 ? "" : "s", a->dir);
        }
    } else if (ds.damaged) {
        fflush(stdout);
        status = hr_cli_fail("log dump: %" PRIu64 " damaged place%s in '%s' (see the '# damage' lines)",
                             ds.damaged, ds.damaged == 1 ? "" : "s", a->dir);
    } else if (nstreams == 0) {
        fprintf(stderr, "herald: no streams in '%s'\n", a->dir);
    }
out_list:
    names_cleanup(&list);
    return status;
}

/* ---- argv -------------------------------------------------------------------------- */

void hr_cli_log_help(FILE *out)
{
    fputs("usage: herald log verify DIR [--stream NAME]\n"
          "       herald log dump DIR [--stream NAME] [--from SEQ] [--limit N] [--data]\n"
          "\n"
          "Reads heraldd's log files offline (stop heraldd first). DIR is a data directory\n"
          "(the one given to heraldd --store_dir) or a single stream directory\n"
          "(DIR/streams/NAME). Nothing is ever written.\n"
          "\n"
          "verify  checks every segment header, every record's CRC32C and the sequence order;\n"
          "        prints per stream the segments, records, messages, tombstones, floors,\n"
          "        first/last sequence, bytes, and the live messages recovery would keep; and\n"
          "        for each problem the file, offset and reason (a torn tail, which heraldd\n"
          "        cuts at start-up, or corruption in the middle). Exit 0 when clean, 1 when\n"
          "        problems were found.\n"
          "dump    prints one line per record: SEQ TIME SUBJECT TYPE SIZE [flags=0xNN]\n"
          "        [hdr=\"...\"] [data=\"...\"], with '# stream', '# segment' and '# damage'\n"
          "        comment lines. TYPE is msg, tombstone or floor; SIZE the record's bytes on\n"
          "        disk; SUBJECT is '-' for tombstones and floors.\n"
          "\n"
          "Options:\n"
          "      --stream NAME        only the stream NAME\n"
          "      --from SEQ           dump: only records whose sequence is >= SEQ\n"
          "      --limit N            dump: stop after N records\n"
          "      --data               dump: add the header block and payload, escaped\n"
          "  -h, --help               show this help and exit\n"
          "\n"
          "Exit status: 0 clean, 1 problems found or I/O failure, 2 usage error.\n",
          out);
}

#define LOG_USAGE_AFTER                                                                            \
    "usage: herald log verify DIR [--stream NAME]\n"                                              \
    "       herald log dump DIR [--stream NAME] [--from SEQ] [--limit N] [--data]\n"              \
    "Try 'herald log --help'.\n"

static int args_finish(struct log_args *a, const char *sub, bool dump_only_opt)
{
    if (sub == NULL)
        return hr_cli_usage_fail(LOG_USAGE_AFTER, "missing %s (verify or dump)", "COMMAND");
    if (strcmp(sub, "verify") == 0)
        a->cmd = LOG_VERIFY;
    else if (strcmp(sub, "dump") == 0)
        a->cmd = LOG_DUMP;
    else
        return hr_cli_usage_fail(LOG_USAGE_AFTER, "unknown log command '%s' (verify or dump)", sub);
    if (a->dir == NULL)
        return hr_cli_usage_fail(LOG_USAGE_AFTER, "missing %s", "DIR");
    if (a->cmd == LOG_VERIFY && dump_only_opt)
        return hr_cli_usage_fail(LOG_USAGE_AFTER, "--from, --limit and --data apply only to '%s'", "log dump");
    return HR_CLI_EXIT_OK;
}

static bool stream_name_ok(const char *name)
{
    size_t n = strlen(name);
    return n > 0 && n <= LOG_STREAM_NAME_MAX && strchr(name, '/') == NULL &&
           strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

int hr_cli_log_main(int argc, char **argv)
{
    struct log_args a = {0};
    const char *sub = NULL;
    bool only_args = false, dump_only_opt = false;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!only_args && strcmp(arg, "--") == 0) {
            only_args = true;
            continue;
        }
        if (only_args || arg[0] != '-' || arg[1] == '\0') {
            if (sub == NULL)
                sub = arg;
            else if (a.dir == NULL)
                a.dir = arg;
            else
                return hr_cli_usage_fail(LOG_USAGE_AFTER, "unexpected argument '%s'", arg);
            continue;
        }
        if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
            hr_cli_log_help(stdout);
            return HR_CLI_EXIT_OK;
        }
        if (strcmp(arg, "--data") == 0) {
            a.data = dump_only_opt = true;
            continue;
        }
        const char *eq = strchr(arg, '=');
        size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
        const char *value = eq ? eq + 1 : NULL;
        bool is_stream = nlen == 8 && strncmp(arg, "--stream", 8) == 0;
        bool is_from = nlen == 6 && strncmp(arg, "--from", 6) == 0;
        bool is_limit = nlen == 7 && strncmp(arg, "--limit", 7) == 0;
        if (!is_stream && !is_from && !is_limit)
            return hr_cli_usage_fail(LOG_USAGE_AFTER, "unknown option '%s'", arg);
        if (value == NULL) {
            if (i + 1 >= argc)
                return hr_cli_usage_fail(LOG_USAGE_AFTER, "option '%s' needs a value", arg);
            value = argv[++i];
        }
        if (is_stream) {
            if (!stream_name_ok(value))
                return hr_cli_usage_fail(LOG_USAGE_AFTER, "invalid stream name '%s'", value);
            a.stream = value;
        } else if (is_from) {
            if (!hr_cli_u64_parse(value, 0, UINT64_MAX, &a.from))
                return hr_cli_usage_fail(LOG_USAGE_AFTER, "invalid sequence '%s' for --from", value);
            dump_only_opt = true;
        } else {
            if (!hr_cli_u64_parse(value, 1, UINT64_C(1000000000000), &a.limit))
                return hr_cli_usage_fail(LOG_USAGE_AFTER, "invalid count '%s' for --limit (want 1..1000000000000)", value);
            dump_only_opt = true;
        }
    }
    int rc = args_finish(&a, sub, dump_only_opt);
    return rc != HR_CLI_EXIT_OK ? rc : log_run(&a);
}

/* Reached through the common parser only when global options came before `log`
 * (`herald -v log verify DIR`); the log options need `log` first. */
static int log_cmd_run(const struct hr_cli_opts *opts)
{
    struct log_args a = {0};
    a.dir = opts->nargs > 1 ? opts->args[1] : NULL;
    int rc = args_finish(&a, opts->args[0], false);
    return rc != HR_CLI_EXIT_OK ? rc : log_run(&a);
}

const struct hr_cli_cmd hr_cli_cmd_log = {
    .name = "log",
    .bit = HR_CLI_CMD_LOG,
    .arg_names = {"verify|dump", "DIR"},
    .min_args = 2,
    .max_args = 2,
    .summary = "check or print heraldd's log files offline (log verify|dump DIR)",
    .description = "Reads heraldd's data directory offline; see 'herald log --help'.",
    .run = log_cmd_run,
};
