/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer harness for the HTTP/1.1 codec (src/heads/http/http_codec.c). Built by
 * `make fuzz`; `make fuzz-smoke` runs it over tests/fuzz/corpus/http_codec/.
 *
 * Each input is read twice: as a stream of pipelined requests (head, then its Content-Length
 * or chunked body, then the next head), and on its own as a chunked body. Under the default
 * limits and under small limits derived from the input:
 *   F1. Every result obeys P1/P2 and C1: consumed <= len; OK heads have every slice inside
 *       buf[0..consumed), a method of tchars, a target split into path and query that add
 *       back up to it, trimmed CR/LF-free field values, framing that agrees with the limits;
 *       MORE has consumed == need == 0; ERROR names an error answered with 400, 413, 414,
 *       431, 501 or 505. Chunk data slices lie inside the consumed bytes and end there; the
 *       total never decreases and equals the data delivered at OK.
 *   F2. P4/C4: a data-derived prefix of every head parses as MORE or exactly as the whole
 *       (same error, or same consumed and slices). The stream is parsed again with bytes
 *       arriving in chunks — split once at a data-derived point, and in many small chunks —
 *       each call seeing an exact-size copy of only the unconsumed bytes that have arrived
 *       (so ASan catches a read past len). The sequence of heads (slices at stream offsets),
 *       body lengths and body bytes (hashed), and the final status and error equal F1's.
 *   F3. The URL helpers stay inside their input: query_next tiles the query, query_get
 *       finds every parameter it names, path_next tiles the path, url_decode never grows
 *       and fails with NO_SPACE when its buffer is one byte short.
 *   F4. Every parsed field re-encoded with hr_http_encode_header() parses back to the same
 *       name and value; a status line encoded with a field value as reason is well formed
 *       or refused.
 * Any violation aborts (__builtin_trap) so libFuzzer records the input.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "heads/http/http_codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

/* Inputs are at most a few KiB (-max_len=8192); a head takes at least 18 bytes. */
#define MAX_EVENTS 2048

enum ev_kind { EV_HEAD, EV_BODY };

struct event {
    enum ev_kind kind;
    size_t end;     /* stream offset just past the head or body */
    uint64_t hash;  /* head: its slices at stream offsets and flags; body: its bytes */
    uint64_t total; /* body length */
};

struct run {
    size_t n;
    struct event ev[MAX_EVENTS];
    enum hr_http_status final;
    enum hr_http_error err;
    int mode; /* what was being parsed at the end */
};

/* Harness-only scratch (libFuzzer runs one input at a time). */
static struct run whole_run, chunk_run;
static struct hr_http_request req_a, req_b;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ULL;
    return h;
}

#define FNV0 0xcbf29ce484222325ULL

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s ? *s : 0x9E3779B97F4A7C15ULL;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static char *copy_exact(const char *p, size_t n)
{
    char *b = malloc(n ? n : 1);
    CHECK(b != NULL);
    if (n)
        memcpy(b, p, n);
    return b;
}

static bool is_tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static void check_slice(struct hr_slice s, const char *buf, size_t end)
{
    if (s.ptr == NULL) {
        CHECK(s.len == 0);
        return;
    }
    CHECK(s.ptr >= buf);
    CHECK((size_t)(s.ptr - buf) <= end);
    CHECK(s.len <= end - (size_t)(s.ptr - buf));
}

/* A slice's position at stream offset `shift`, hashed (absent slices hash apart). */
static uint64_t hash_slice(uint64_t h, struct hr_slice s, const char *buf, size_t shift)
{
    size_t v[2] = {s.ptr ? (size_t)(s.ptr - buf) + shift : SIZE_MAX, s.len};
    return fnv(h, v, sizeof v);
}

static uint64_t hash_request(const struct hr_http_request *r, const char *buf, size_t shift)
{
    uint64_t h = FNV0;
    const struct hr_slice s[] = {r->method, r->target, r->authority, r->path, r->query, r->host};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        h = hash_slice(h, s[i], buf, shift);
    for (size_t i = 0; i < r->n_headers; i++) {
        h = hash_slice(h, r->headers[i].name, buf, shift);
        h = hash_slice(h, r->headers[i].value, buf, shift);
    }
    uint64_t f[] = {r->n_headers, r->method_id,      r->form,       r->version_minor,
                    r->body,      r->content_length, r->keep_alive, r->expect_continue,
                    r->upgrade,   r->te_codings};
    return fnv(h, f, sizeof f);
}

static size_t eff(size_t v, size_t def)
{
    return v ? v : def;
}

static bool status_ok(int st)
{
    return st == 400 || st == 413 || st == 414 || st == 431 || st == 501 || st == 505;
}

/* F1 for a request head parsed from buf[0..len). */
static void check_request(const char *buf, size_t len, const struct hr_http_limits *lim,
                          struct hr_http_result r, const struct hr_http_request *q)
{
    switch (r.status) {
    case HR_HTTP_OK:
        break;
    case HR_HTTP_MORE:
        CHECK(r.consumed == 0 && r.need == 0);
        return;
    case HR_HTTP_ERROR:
        CHECK(r.error != HR_HTTP_ENONE && r.error <= HR_HTTP_ENO_SPACE);
        CHECK(status_ok(hr_http_error_status(r.error)));
        CHECK(hr_http_error_text(r.error) != NULL);
        return;
    default:
        CHECK(0);
    }
    size_t c = r.consumed;
    CHECK(r.error == HR_HTTP_ENONE);
    CHECK(c > 0 && c <= len);
    CHECK(c >= 4 && memcmp(buf + c - 4, "\r\n\r\n", 4) == 0);
    const struct hr_slice s[] = {q->method, q->target, q->authority, q->path, q->query, q->host};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
        check_slice(s[i], buf, c);

    /* The request line: [CRLF...] method SP target SP HTTP/1.d CRLF. */
    CHECK(q->method.len > 0 && q->method.ptr != NULL);
    CHECK(q->method.ptr == buf || q->method.ptr[-1] == '\n');
    for (size_t i = 0; i < q->method.len; i++)
        CHECK(is_tchar((unsigned char)q->method.ptr[i]));
    CHECK(q->target.len > 0 && q->target.ptr == q->method.ptr + q->method.len + 1);
    CHECK(q->target.ptr[-1] == ' ' && q->target.ptr[q->target.len] == ' ');
    CHECK(memcmp(q->target.ptr + q->target.len + 1, "HTTP/1.", 7) == 0);
    CHECK(q->version_minor <= 1);
    size_t line = (size_t)(q->target.ptr + q->target.len + 9 - q->method.ptr);
    CHECK(line <= eff(lim ? lim->max_request_line : 0, 8192));

    /* The target splits into path and query that add back up to its tail. */
    const char *tend = q->target.ptr + q->target.len;
    switch (q->form) {
    case HR_HTTP_FORM_ORIGIN:
    case HR_HTTP_FORM_ABSOLUTE:
        CHECK(q->path.ptr != NULL);
        if (q->form == HR_HTTP_FORM_ORIGIN)
            CHECK(q->path.ptr == q->target.ptr && q->path.len > 0 && q->path.ptr[0] == '/');
        else
            CHECK(q->authority.len > 0 && q->authority.ptr + q->authority.len == q->path.ptr);
        if (q->query.ptr) {
            CHECK(q->query.ptr == q->path.ptr + q->path.len + 1 && q->query.ptr[-1] == '?');
            CHECK(q->query.ptr + q->query.len == tend);
        } else {
            CHECK(q->path.ptr + q->path.len == tend);
        }
        CHECK(memchr(q->path.ptr, '?', q->path.len) == NULL);
        break;
    case HR_HTTP_FORM_AUTHORITY:
        CHECK(q->method_id == HR_HTTP_METHOD_CONNECT);
        CHECK(q->authority.ptr == q->target.ptr && q->authority.len == q->target.len);
        break;
    case HR_HTTP_FORM_ASTERISK:
        CHECK(q->target.len == 1 && q->target.ptr[0] == '*');
        break;
    default:
        CHECK(0);
    }
    CHECK(memchr(q->target.ptr, '#', q->target.len) == NULL);

    /* Fields. */
    size_t max_fields = eff(lim ? lim->max_headers : 0, HR_HTTP_MAX_HEADERS);
    CHECK(q->n_headers <= max_fields && q->n_headers <= HR_HTTP_MAX_HEADERS);
    for (size_t i = 0; i < q->n_headers; i++) {
        struct hr_slice n = q->headers[i].name, v = q->headers[i].value;
        check_slice(n, buf, c);
        check_slice(v, buf, c);
        CHECK(n.ptr != NULL && v.ptr != NULL && n.len > 0);
        for (size_t k = 0; k < n.len; k++)
            CHECK(is_tchar((unsigned char)n.ptr[k]));
        CHECK(n.ptr[n.len] == ':');
        CHECK(memchr(v.ptr, '\r', v.len) == NULL && memchr(v.ptr, '\n', v.len) == NULL);
        if (v.len)
            CHECK(v.ptr[0] != ' ' && v.ptr[0] != '\t' && v.ptr[v.len - 1] != ' ' &&
                  v.ptr[v.len - 1] != '\t');
        /* header_get finds this field or an earlier one of the same name. */
        char name[64];
        if (n.len < sizeof name) {
            memcpy(name, n.ptr, n.len);
            name[n.len] = '\0';
            struct hr_slice g = hr_http_header_get(q, name);
            CHECK(g.ptr != NULL && g.ptr <= v.ptr);
        }
    }
    size_t hbytes = (size_t)(buf + c - (q->target.ptr + q->target.len + 11));
    CHECK(hbytes <= eff(lim ? lim->max_header_bytes : 0, 16384));

    /* Framing (P5). */
    uint64_t max_body = lim && lim->max_body_bytes ? lim->max_body_bytes : 1024 * 1024;
    struct hr_slice te = hr_http_header_get(q, "transfer-encoding");
    struct hr_slice cl = hr_http_header_get(q, "content-length");
    switch (q->body) {
    case HR_HTTP_BODY_NONE:
        CHECK(te.ptr == NULL && cl.ptr == NULL && q->content_length == 0 && r.need == c);
        break;
    case HR_HTTP_BODY_LENGTH:
        CHECK(te.ptr == NULL && cl.ptr != NULL && q->content_length <= max_body);
        CHECK(r.need == c + q->content_length);
        break;
    case HR_HTTP_BODY_CHUNKED:
        CHECK(te.ptr != NULL && cl.ptr == NULL && q->version_minor == 1 && r.need == c);
        break;
    default:
        CHECK(0);
    }
    if (q->version_minor == 1)
        CHECK(q->host.ptr != NULL);
    else
        CHECK(!q->expect_continue);
}

/* F2 (heads): a prefix parses as MORE or as the whole does. */
static void check_prefix(const char *buf, size_t len, size_t k, const struct hr_http_limits *lim,
                         struct hr_http_result whole, uint64_t whole_hash)
{
    char *pre = copy_exact(buf, k);
    struct hr_http_result r = hr_http_parse_request(pre, k, lim, &req_b);
    check_request(pre, k, lim, r, &req_b);
    if (whole.status == HR_HTTP_OK && k >= whole.consumed) {
        CHECK(r.status == HR_HTTP_OK && r.consumed == whole.consumed && r.need == whole.need);
        CHECK(hash_request(&req_b, pre, 0) == whole_hash);
    } else if (r.status != HR_HTTP_MORE) {
        CHECK(whole.status == HR_HTTP_ERROR && r.status == HR_HTTP_ERROR && r.error == whole.error);
    }
    free(pre);
    (void)len;
}

/* F3: URL helpers on an OK request. */
static void check_url_helpers(const struct hr_http_request *q)
{
    char out[512];
    size_t n;
    struct hr_slice rest = q->query, name, val, seg;
    const char *prev_end = q->query.ptr;
    while (hr_http_query_next(&rest, &name, &val)) {
        CHECK(name.ptr >= prev_end);
        CHECK(val.ptr >= name.ptr + name.len && val.ptr + val.len <= q->query.ptr + q->query.len);
        CHECK(memchr(name.ptr, '&', name.len) == NULL && memchr(name.ptr, '=', name.len) == NULL);
        CHECK(memchr(val.ptr, '&', val.len) == NULL);
        prev_end = val.ptr + val.len;
        /* query_get finds the parameter by its decoded name (or an earlier one). */
        if (hr_http_url_decode(name, out, sizeof out - 1, HR_HTTP_DECODE_PLUS, &n) ==
            HR_HTTP_ENONE) {
            out[n] = '\0';
            struct hr_slice g;
            CHECK(hr_http_query_get(q->query, out, &g));
            CHECK(g.ptr != NULL && g.ptr <= val.ptr);
        }
        enum hr_http_error e = hr_http_url_decode(val, out, sizeof out, HR_HTTP_DECODE_PLUS, &n);
        CHECK(e == HR_HTTP_ENONE || e == HR_HTTP_EBAD_ESCAPE || e == HR_HTTP_ENO_SPACE);
        if (e == HR_HTTP_ENONE) {
            CHECK(n <= val.len);
            if (n > 0) {
                size_t m;
                CHECK(hr_http_url_decode(val, out, n, HR_HTTP_DECODE_PLUS, &m) == HR_HTTP_ENONE);
                CHECK(m == n);
                CHECK(hr_http_url_decode(val, out, n - 1, HR_HTTP_DECODE_PLUS, &m) ==
                      HR_HTTP_ENO_SPACE);
            }
        }
    }
    if (q->form == HR_HTTP_FORM_ORIGIN || q->form == HR_HTTP_FORM_ABSOLUTE) {
        rest = q->path;
        size_t covered = 0, segs = 0;
        while (hr_http_path_next(&rest, &seg)) {
            CHECK(seg.ptr >= q->path.ptr && seg.ptr + seg.len <= q->path.ptr + q->path.len);
            CHECK(memchr(seg.ptr, '/', seg.len) == NULL);
            covered += seg.len;
            segs++;
            enum hr_http_error e = hr_http_url_decode(seg, out, sizeof out, 0, &n);
            CHECK(e != HR_HTTP_ENONE || n <= seg.len);
        }
        CHECK(covered + segs == q->path.len); /* segments plus one '/' each tile the path */
    }
}

/* F4: each field re-encoded parses back the same; a status line with it as reason is
 * well formed or refused. */
static void check_encode(const struct hr_http_request *q, uint64_t h)
{
    static char line[4096];
    static const char pre[] = "GET / HTTP/1.0\r\n";
    for (size_t i = 0; i < q->n_headers; i++) {
        struct hr_slice n = q->headers[i].name, v = q->headers[i].value;
        if (hr_http_slice_ieq(n, "transfer-encoding") || hr_http_slice_ieq(n, "content-length"))
            continue;
        size_t plen = sizeof pre - 1;
        memcpy(line, pre, plen);
        size_t k = hr_http_encode_header(line + plen, sizeof line - plen - 2, n, v);
        if (n.len + v.len + 4 > sizeof line - plen - 2) {
            CHECK(k == 0);
            continue;
        }
        CHECK(k == n.len + v.len + 4);
        memcpy(line + plen + k, "\r\n", 2);
        size_t total = plen + k + 2;
        char *buf = copy_exact(line, total);
        struct hr_http_result r = hr_http_parse_request(buf, total, NULL, &req_b);
        CHECK(r.status == HR_HTTP_OK && r.consumed == total && req_b.n_headers == 1);
        CHECK(req_b.headers[0].name.len == n.len &&
              memcmp(req_b.headers[0].name.ptr, n.ptr, n.len) == 0);
        CHECK(req_b.headers[0].value.len == v.len &&
              (v.len == 0 || memcmp(req_b.headers[0].value.ptr, v.ptr, v.len) == 0));
        free(buf);

        if (v.len < 256) {
            char reason[256], st[300];
            memcpy(reason, v.ptr, v.len);
            reason[v.len] = '\0';
            int status = 100 + (int)((h + i) % 900);
            size_t m = hr_http_encode_status_line(st, sizeof st, status, reason);
            if (strlen(reason) == v.len) {
                CHECK(m == 15 + v.len);
                CHECK(memcmp(st, "HTTP/1.1 ", 9) == 0 && st[12] == ' ');
                CHECK(st[m - 2] == '\r' && st[m - 1] == '\n');
            }
        }
    }
}

enum mode { M_HEAD, M_LENGTH, M_CHUNKED };

static void add_event(struct run *out, enum ev_kind kind, size_t end, uint64_t hash, uint64_t total)
{
    CHECK(out->n < MAX_EVENTS);
    out->ev[out->n++] = (struct event){kind, end, hash, total};
}

/* F1/F2: parses the stream with bytes arriving at cuts[0..ncuts) (ascending, <= size),
 * then the rest, as a head would: each call sees a fresh exact-size copy of the bytes that
 * have arrived and are not yet consumed. `deep` adds the prefix, helper and encoder checks
 * (whole run only). */
static void run_stream(const char *data, size_t size, const struct hr_http_limits *lim,
                       const size_t *cuts, size_t ncuts, bool deep, uint64_t h, struct run *out)
{
    size_t pos = 0, ci = 0, avail = ncuts ? cuts[ci++] : size;
    enum mode mode = M_HEAD;
    uint64_t remaining = 0, body_hash = FNV0, body_len = 0, last_total = 0;
    struct hr_http_chunk_state st;
    out->n = 0;
    out->final = HR_HTTP_MORE;
    out->err = HR_HTTP_ENONE;
    for (;;) {
        size_t len = avail - pos;
        char *buf = copy_exact(data + pos, len);
        bool progress = false;
        if (mode == M_HEAD) {
            struct hr_http_result r = hr_http_parse_request(buf, len, lim, &req_a);
            check_request(buf, len, lim, r, &req_a);
            if (r.status == HR_HTTP_OK) {
                if (deep) {
                    check_prefix(buf, len, (size_t)(h % (len + 1)), lim, r,
                                 hash_request(&req_a, buf, 0));
                    check_prefix(buf, len, r.consumed - 1 - (size_t)(h >> 17) % r.consumed, lim, r,
                                 0);
                    check_url_helpers(&req_a);
                    check_encode(&req_a, h);
                }
                add_event(out, EV_HEAD, pos + r.consumed, hash_request(&req_a, buf, pos), 0);
                pos += r.consumed;
                progress = true;
                if (req_a.body == HR_HTTP_BODY_LENGTH && req_a.content_length > 0) {
                    mode = M_LENGTH;
                    remaining = req_a.content_length;
                    body_hash = FNV0;
                    body_len = 0;
                } else if (req_a.body == HR_HTTP_BODY_LENGTH) {
                    add_event(out, EV_BODY, pos, FNV0, 0);
                } else if (req_a.body == HR_HTTP_BODY_CHUNKED) {
                    mode = M_CHUNKED;
                    hr_http_chunk_init(&st, lim);
                    body_hash = FNV0;
                    body_len = 0;
                    last_total = 0;
                }
            } else if (r.status == HR_HTTP_ERROR) {
                if (deep && len > 0)
                    check_prefix(buf, len, (size_t)(h % len), lim, r, 0);
                out->final = HR_HTTP_ERROR;
                out->err = r.error;
            }
        } else if (mode == M_LENGTH) {
            size_t n = (uint64_t)len < remaining ? len : (size_t)remaining;
            body_hash = fnv(body_hash, buf, n);
            body_len += n;
            pos += n;
            remaining -= n;
            progress = n > 0;
            if (remaining == 0) {
                add_event(out, EV_BODY, pos, body_hash, body_len);
                mode = M_HEAD;
            }
        } else {
            struct hr_slice d;
            struct hr_http_chunk_result r = hr_http_parse_chunk(buf, len, &st, &d);
            CHECK(r.consumed <= len);
            CHECK(r.total >= last_total);
            last_total = r.total;
            if (d.len) {
                CHECK(d.ptr >= buf && d.ptr + d.len == buf + r.consumed);
                CHECK(r.status == HR_HTTP_MORE);
                body_hash = fnv(body_hash, d.ptr, d.len);
                body_len += d.len;
                CHECK(body_len <= r.total);
            } else {
                CHECK(d.ptr == NULL);
            }
            pos += r.consumed;
            progress = r.consumed > 0;
            if (r.status == HR_HTTP_OK) {
                CHECK(r.total == body_len && r.consumed > 0);
                add_event(out, EV_BODY, pos, body_hash, body_len);
                mode = M_HEAD;
            } else if (r.status == HR_HTTP_ERROR) {
                CHECK(r.error >= HR_HTTP_EBAD_CHUNK_SIZE && r.error <= HR_HTTP_ETRAILER_TOO_LARGE);
                CHECK(status_ok(hr_http_error_status(r.error)));
                out->final = HR_HTTP_ERROR;
                out->err = r.error;
            } else {
                CHECK(d.len > 0 || r.consumed == len);
            }
        }
        free(buf);
        if (out->final == HR_HTTP_ERROR)
            break;
        if (progress && pos < avail)
            continue; /* unconsumed bytes are here: parse them */
        if (avail < size) {
            avail = ci < ncuts ? cuts[ci++] : size;
            continue;
        }
        break; /* everything arrived and nothing more can be parsed: MORE */
    }
    out->mode = (int)mode;
}

static void check_same(const struct run *a, const struct run *b)
{
    CHECK(a->n == b->n);
    for (size_t i = 0; i < a->n; i++) {
        CHECK(a->ev[i].kind == b->ev[i].kind);
        CHECK(a->ev[i].end == b->ev[i].end);
        CHECK(a->ev[i].hash == b->ev[i].hash);
        CHECK(a->ev[i].total == b->ev[i].total);
    }
    CHECK(a->final == b->final);
    CHECK(a->err == b->err);
    CHECK(a->mode == b->mode);
}

/* The input alone as a chunked body: whole, then in data-derived pieces. */
struct body_run {
    enum hr_http_status status;
    enum hr_http_error err;
    size_t end;
    uint64_t total, hash, len;
};

static void run_body(const char *data, size_t size, const struct hr_http_limits *lim,
                     const size_t *cuts, size_t ncuts, struct body_run *out)
{
    struct hr_http_chunk_state st;
    hr_http_chunk_init(&st, lim);
    size_t pos = 0, ci = 0, avail = ncuts ? cuts[ci++] : size;
    uint64_t last_total = 0;
    memset(out, 0, sizeof *out);
    out->hash = FNV0;
    for (;;) {
        size_t len = avail - pos;
        char *buf = copy_exact(data + pos, len);
        struct hr_slice d;
        struct hr_http_chunk_result r = hr_http_parse_chunk(buf, len, &st, &d);
        CHECK(r.consumed <= len && r.total >= last_total);
        last_total = r.total;
        if (d.len) {
            CHECK(d.ptr >= buf && d.ptr + d.len == buf + r.consumed);
            out->hash = fnv(out->hash, d.ptr, d.len);
            out->len += d.len;
        }
        free(buf);
        pos += r.consumed;
        if (r.status == HR_HTTP_MORE && pos < avail)
            continue;
        if (r.status == HR_HTTP_MORE && avail < size) {
            avail = ci < ncuts ? cuts[ci++] : size;
            continue;
        }
        out->status = r.status;
        out->err = r.error;
        out->end = pos;
        out->total = r.total;
        if (r.status == HR_HTTP_OK)
            CHECK(r.total == out->len);
        return;
    }
}

#define MAX_CUTS 1024

static void run_with_limits(const char *data, size_t size, const struct hr_http_limits *lim,
                            uint64_t h)
{
    static size_t cuts[MAX_CUTS];
    run_stream(data, size, lim, NULL, 0, true, h, &whole_run);

    cuts[0] = (size_t)(h % (size + 1));
    run_stream(data, size, lim, cuts, 1, false, h, &chunk_run);
    check_same(&whole_run, &chunk_run);

    uint64_t s = h;
    size_t n = 0, at = 0, max_step = 1 + (size_t)(h >> 40) % 32;
    while (n < MAX_CUTS) {
        at += 1 + (size_t)(rng_next(&s) % max_step);
        if (at >= size)
            break;
        cuts[n++] = at;
    }
    run_stream(data, size, lim, cuts, n, false, h, &chunk_run);
    check_same(&whole_run, &chunk_run);

    struct body_run bw, bs;
    run_body(data, size, lim, NULL, 0, &bw);
    run_body(data, size, lim, cuts, n, &bs);
    CHECK(bw.status == bs.status && bw.err == bs.err && bw.total == bs.total);
    CHECK(bw.hash == bs.hash && bw.len == bs.len);
    if (bw.status != HR_HTTP_ERROR)
        CHECK(bw.end == bs.end);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = copy_exact((const char *)data, size);
    uint64_t h = fnv(FNV0, data, size);
    h ^= h >> 29;

    run_with_limits(buf, size, NULL, h);

    const struct hr_http_limits small = {
        .max_request_line = 1 + (size_t)((h >> 8) % 64),
        .max_headers = 1 + (size_t)((h >> 14) % 8),
        .max_header_bytes = 1 + (size_t)((h >> 20) % 256),
        .max_body_bytes = 1 + (size_t)((h >> 28) % 512),
        .max_chunk_line = 1 + (size_t)((h >> 38) % 32),
        .max_trailer_bytes = 1 + (size_t)((h >> 44) % 64),
    };
    run_with_limits(buf, size, &small, h * 31);

    free(buf);
    return 0;
}
