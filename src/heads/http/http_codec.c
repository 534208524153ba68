/* SPDX-License-Identifier: Apache-2.0
 *
 * HTTP/1.1 request parser, chunked-body decoder, URL helpers and response-head encoders;
 * the contract (P1–P5, C1–C4) is in http_codec.h.
 *
 * Choices where RFC 9112 leaves room, each the strict one (a front proxy that disagrees
 * with us about framing is how requests are smuggled):
 *   - lines end in CRLF only; a bare LF or a CR not followed by LF is 400;
 *   - the request line has single SPs, no leading or trailing whitespace; any number of
 *     empty lines before it are skipped (RFC 9112 2.2), bounded by max_request_line;
 *   - a field line that starts with SP/HTAB (obs-fold, or whitespace after the request
 *     line) is 400, as is whitespace between a field name and its colon;
 *   - field values may hold HTAB, SP, VCHAR and obs-text; any other CTL (NUL, DEL) is 400;
 *   - the request-target may hold VCHAR except '#'; percent-escapes are checked only when
 *     a piece is decoded (hr_http_url_decode);
 *   - Content-Length "5, 5" (a list) is 400; identical repeated lines are accepted;
 *   - Transfer-Encoding with chunked anywhere but last is 501 (the brief's choice; RFC 9112
 *     6.3 would allow 400 — either way the caller closes); chunked twice is 400;
 *   - HTTP/1.x with x > 1 is served as 1.1 (RFC 9110 2.5); any other major version is 505;
 *   - Expect: 100-continue is ignored in HTTP/1.0 (RFC 9110 10.1.1).
 *
 * Order of the end-of-head checks (all raised at the blank line, so P4 holds): Host, then
 * CL+TE, then TE in HTTP/1.0, then the final coding, then Content-Length against the body
 * limit.
 */
#include <string.h>

#include "heads/http/http_codec.h"

#define DEF_MAX_REQUEST_LINE 8192
#define DEF_MAX_HEADER_BYTES 16384
#define DEF_MAX_BODY_BYTES (1024 * 1024)
#define DEF_MAX_CHUNK_LINE 1024
#define DEF_MAX_TRAILER_BYTES 4096

int hr_http_error_status(enum hr_http_error err)
{
    switch (err) {
#define X(name, status, text)                                                                      \
    case HR_HTTP_E##name:                                                                          \
        return status;
        HR_HTTP_ERROR_MAP(X)
#undef X
    default:
        return 400;
    }
}

const char *hr_http_error_text(enum hr_http_error err)
{
    switch (err) {
#define X(name, status, text)                                                                      \
    case HR_HTTP_E##name:                                                                          \
        return text;
        HR_HTTP_ERROR_MAP(X)
#undef X
    case HR_HTTP_ENONE:
        return "no error";
    }
    return "unknown error";
}

/* ---- character classes (RFC 9110 5.6.2, 5.5; RFC 3986) -------------------------------- */

static inline bool is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static inline bool is_alpha(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static inline bool is_tchar(unsigned char c)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    return is_alpha(c) || is_digit(c) || (c && memchr(extra, c, sizeof extra - 1));
}

/* A byte of a field value (OWS included): HTAB, SP, VCHAR, obs-text. */
static inline bool is_field_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static inline bool is_ows(unsigned char c)
{
    return c == ' ' || c == '\t';
}

/* A byte of a request-target: VCHAR except '#' (no fragment on the wire). */
static inline bool is_target_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '#';
}

/* A byte of a Host value: unreserved, sub-delims, ':', '[', ']', '%' (RFC 3986 host:port). */
static inline bool is_host_char(unsigned char c)
{
    static const char extra[] = "-._~!$&'()*+,;=:[]%";
    return is_alpha(c) || is_digit(c) || (c && memchr(extra, c, sizeof extra - 1));
}

static inline int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static inline unsigned char lower(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
}

static inline struct hr_slice mk(const char *p, size_t n)
{
    return (struct hr_slice){p, n};
}

bool hr_http_slice_ieq(struct hr_slice s, const char *lit)
{
    size_t n = strlen(lit);
    if (s.len != n)
        return false;
    for (size_t i = 0; i < n; i++)
        if (lower((unsigned char)s.ptr[i]) != lower((unsigned char)lit[i]))
            return false;
    return true;
}

static struct hr_slice trim_ows(struct hr_slice s)
{
    while (s.len && is_ows((unsigned char)s.ptr[0])) {
        s.ptr++;
        s.len--;
    }
    while (s.len && is_ows((unsigned char)s.ptr[s.len - 1]))
        s.len--;
    return s;
}

/* Takes the next comma-separated element off the front of *rest, OWS trimmed (may be
 * empty). Returns false when *rest is exhausted. */
static bool list_next(struct hr_slice *rest, struct hr_slice *elem)
{
    if (rest->ptr == NULL)
        return false;
    const char *comma = rest->len ? memchr(rest->ptr, ',', rest->len) : NULL;
    size_t n = comma ? (size_t)(comma - rest->ptr) : rest->len;
    *elem = trim_ows(mk(rest->ptr, n));
    if (comma) {
        rest->ptr = comma + 1;
        rest->len -= n + 1;
    } else {
        *rest = mk(NULL, 0);
    }
    return true;
}

bool hr_http_list_has(struct hr_slice value, const char *token)
{
    struct hr_slice rest = value.ptr ? value : mk("", 0), e;
    while (list_next(&rest, &e))
        if (hr_http_slice_ieq(e, token))
            return true;
    return false;
}

/* ---- request head --------------------------------------------------------------------- */

/* What the fields seen so far say about framing and the connection. */
struct fields {
    bool has_cl, has_te, te_chunked, te_last_chunked, has_host;
    bool conn_close, conn_keep_alive;
    bool expect_continue;
};

static struct hr_http_result fail(enum hr_http_error e)
{
    return (struct hr_http_result){.status = HR_HTTP_ERROR, .error = e};
}

static struct hr_http_result more(void)
{
    return (struct hr_http_result){.status = HR_HTTP_MORE};
}

static enum hr_http_method method_id(struct hr_slice m)
{
    static const struct {
        const char *name;
        enum hr_http_method id;
    } known[] = {
        {"GET", HR_HTTP_METHOD_GET},         {"HEAD", HR_HTTP_METHOD_HEAD},
        {"POST", HR_HTTP_METHOD_POST},       {"PUT", HR_HTTP_METHOD_PUT},
        {"DELETE", HR_HTTP_METHOD_DELETE},   {"PATCH", HR_HTTP_METHOD_PATCH},
        {"OPTIONS", HR_HTTP_METHOD_OPTIONS}, {"CONNECT", HR_HTTP_METHOD_CONNECT},
        {"TRACE", HR_HTTP_METHOD_TRACE},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strlen(known[i].name) == m.len && memcmp(known[i].name, m.ptr, m.len) == 0)
            return known[i].id;
    return HR_HTTP_METHOD_OTHER;
}

static void split_path_query(struct hr_http_request *req, const char *s, size_t n)
{
    const char *q = n ? memchr(s, '?', n) : NULL;
    if (q) {
        req->path = mk(s, (size_t)(q - s));
        req->query = mk(q + 1, n - (size_t)(q - s) - 1);
    } else {
        req->path = mk(s, n);
    }
}

/* Classifies req->target (non-empty, target chars only) and splits it. */
static bool split_target(struct hr_http_request *req)
{
    const char *s = req->target.ptr;
    size_t n = req->target.len;

    if (req->method_id == HR_HTTP_METHOD_CONNECT) {
        /* authority-form = uri-host ":" port */
        const char *colon = NULL;
        for (size_t i = 0; i < n; i++) {
            if (!is_host_char((unsigned char)s[i]))
                return false;
            if (s[i] == ':')
                colon = s + i;
        }
        if (!colon || colon == s || colon + 1 == s + n)
            return false;
        for (const char *d = colon + 1; d < s + n; d++)
            if (!is_digit((unsigned char)*d))
                return false;
        req->form = HR_HTTP_FORM_AUTHORITY;
        req->authority = req->target;
        return true;
    }
    if (n == 1 && s[0] == '*') {
        req->form = HR_HTTP_FORM_ASTERISK;
        req->path = req->target;
        return true;
    }
    if (s[0] == '/') {
        req->form = HR_HTTP_FORM_ORIGIN;
        split_path_query(req, s, n);
        return true;
    }
    /* absolute-form: scheme "://" authority [path] ["?" query] */
    size_t i = 0;
    if (!is_alpha((unsigned char)s[0]))
        return false;
    while (i < n && (is_alpha((unsigned char)s[i]) || is_digit((unsigned char)s[i]) ||
                     s[i] == '+' || s[i] == '-' || s[i] == '.'))
        i++;
    if (n - i < 3 || memcmp(s + i, "://", 3) != 0)
        return false;
    i += 3;
    size_t a = i;
    while (i < n && s[i] != '/' && s[i] != '?')
        i++;
    if (i == a)
        return false;
    req->form = HR_HTTP_FORM_ABSOLUTE;
    req->authority = mk(s + a, i - a);
    split_path_query(req, s + i, n - i);
    return true;
}

static bool parse_content_length(struct hr_slice v, uint64_t *out)
{
    if (v.len == 0)
        return false;
    uint64_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        unsigned char c = (unsigned char)v.ptr[i];
        if (!is_digit(c))
            return false;
        if (n > (UINT64_MAX - (c - '0')) / 10)
            return false;
        n = n * 10 + (uint64_t)(c - '0');
    }
    *out = n;
    return true;
}

/* Applies one complete field line to the framing state. */
static enum hr_http_error on_field(struct hr_http_request *req, struct fields *f,
                                   struct hr_slice name, struct hr_slice value)
{
    struct hr_slice rest, e;
    switch (name.len) {
    case 4:
        if (!hr_http_slice_ieq(name, "host"))
            break;
        if (f->has_host)
            return HR_HTTP_EBAD_HOST;
        for (size_t i = 0; i < value.len; i++)
            if (!is_host_char((unsigned char)value.ptr[i]))
                return HR_HTTP_EBAD_HOST;
        f->has_host = true;
        req->host = value;
        break;
    case 6:
        if (hr_http_slice_ieq(name, "expect") && hr_http_slice_ieq(value, "100-continue"))
            f->expect_continue = true;
        break;
    case 10:
        if (!hr_http_slice_ieq(name, "connection"))
            break;
        rest = value;
        while (list_next(&rest, &e)) {
            if (hr_http_slice_ieq(e, "close"))
                f->conn_close = true;
            else if (hr_http_slice_ieq(e, "keep-alive"))
                f->conn_keep_alive = true;
            else if (hr_http_slice_ieq(e, "upgrade"))
                req->upgrade = true;
        }
        break;
    case 14: {
        if (!hr_http_slice_ieq(name, "content-length"))
            break;
        uint64_t n;
        if (!parse_content_length(value, &n))
            return HR_HTTP_EBAD_CONTENT_LENGTH;
        if (f->has_cl && n != req->content_length)
            return HR_HTTP_EBAD_CONTENT_LENGTH;
        f->has_cl = true;
        req->content_length = n;
        break;
    }
    case 17: {
        if (!hr_http_slice_ieq(name, "transfer-encoding"))
            break;
        /* Repeated lines continue one list; an all-empty list is malformed. */
        bool any = false;
        rest = value;
        while (list_next(&rest, &e)) {
            if (e.len == 0)
                continue;
            for (size_t i = 0; i < e.len; i++)
                if (!is_tchar((unsigned char)e.ptr[i]))
                    return HR_HTTP_EBAD_TRANSFER_ENCODING;
            any = true;
            if (hr_http_slice_ieq(e, "chunked")) {
                if (f->te_chunked)
                    return HR_HTTP_EBAD_TRANSFER_ENCODING; /* chunked applied twice */
                f->te_chunked = f->te_last_chunked = true;
            } else {
                /* A coding after chunked (chunked, gzip) leaves the length unknown: 501 at
                 * the blank line, once every line has been syntax-checked. */
                f->te_last_chunked = false;
                req->te_codings = true;
            }
        }
        if (!any)
            return HR_HTTP_EBAD_TRANSFER_ENCODING;
        f->has_te = true;
        break;
    }
    default:
        break;
    }
    return HR_HTTP_ENONE;
}

/* The checks that need the whole field section (P5). */
static enum hr_http_error on_head_end(struct hr_http_request *req, const struct fields *f,
                                      uint64_t max_body)
{
    if (req->version_minor >= 1 && !f->has_host)
        return HR_HTTP_EBAD_HOST;
    if (f->has_cl && f->has_te)
        return HR_HTTP_ECL_AND_TE;
    if (f->has_te && req->version_minor == 0)
        return HR_HTTP_EBAD_TRANSFER_ENCODING;
    if (f->has_te && !f->te_last_chunked)
        return HR_HTTP_ETE_NOT_CHUNKED;
    if (f->has_cl && req->content_length > max_body)
        return HR_HTTP_EBODY_TOO_LARGE;

    if (f->has_te) {
        req->body = HR_HTTP_BODY_CHUNKED;
    } else if (f->has_cl) {
        req->body = HR_HTTP_BODY_LENGTH;
    } else {
        req->body = HR_HTTP_BODY_NONE;
    }
    if (!f->has_cl)
        req->content_length = 0;
    req->keep_alive =
        req->version_minor >= 1 ? !f->conn_close : f->conn_keep_alive && !f->conn_close;
    req->expect_continue = req->version_minor >= 1 && f->expect_continue;
    return HR_HTTP_ENONE;
}

struct hr_http_result hr_http_parse_request(const char *buf, size_t len,
                                            const struct hr_http_limits *limits,
                                            struct hr_http_request *req)
{
    size_t max_line =
        limits && limits->max_request_line ? limits->max_request_line : DEF_MAX_REQUEST_LINE;
    size_t max_fields = limits && limits->max_headers ? limits->max_headers : HR_HTTP_MAX_HEADERS;
    if (max_fields > HR_HTTP_MAX_HEADERS)
        max_fields = HR_HTTP_MAX_HEADERS;
    size_t max_hbytes =
        limits && limits->max_header_bytes ? limits->max_header_bytes : DEF_MAX_HEADER_BYTES;
    uint64_t max_body =
        limits && limits->max_body_bytes ? limits->max_body_bytes : DEF_MAX_BODY_BYTES;

    memset(req, 0, offsetof(struct hr_http_request, headers));
    const unsigned char *u = (const unsigned char *)buf;
    size_t p = 0;

    /* 1. Empty lines before the request line. */
    while (p < len && u[p] == '\r') {
        if (p + 1 == len)
            return more();
        if (u[p + 1] != '\n')
            return fail(HR_HTTP_EBAD_REQUEST_LINE);
        p += 2;
        if (p > max_line)
            return fail(HR_HTTP_EBAD_REQUEST_LINE);
    }

    /* 2. method SP — every byte of the line up to its CR counts against max_line. */
    size_t line = p;
    for (;;) {
        if (p == len)
            return more();
        if (p - line >= max_line)
            return fail(HR_HTTP_EURI_TOO_LONG);
        if (u[p] == ' ')
            break;
        if (!is_tchar(u[p]))
            return fail(u[p] == '\r' || u[p] == '\n' ? HR_HTTP_EBAD_REQUEST_LINE
                                                     : HR_HTTP_EBAD_METHOD);
        p++;
    }
    if (p == line)
        return fail(HR_HTTP_EBAD_REQUEST_LINE);
    req->method = mk(buf + line, p - line);
    req->method_id = method_id(req->method);
    p++;

    /* 3. request-target SP */
    size_t t = p;
    for (;;) {
        if (p == len)
            return more();
        if (p - line >= max_line)
            return fail(HR_HTTP_EURI_TOO_LONG);
        if (u[p] == ' ')
            break;
        if (u[p] == '\r' || u[p] == '\n')
            return fail(HR_HTTP_EBAD_REQUEST_LINE); /* no version: HTTP/0.9 is not served */
        if (!is_target_char(u[p]))
            return fail(HR_HTTP_EBAD_TARGET);
        p++;
    }
    if (p == t)
        return fail(HR_HTTP_EBAD_REQUEST_LINE);
    req->target = mk(buf + t, p - t);
    if (!split_target(req))
        return fail(HR_HTTP_EBAD_TARGET);
    p++;

    /* 4. HTTP-version CRLF */
    static const char proto[] = "HTTP/d.d";
    size_t v = p;
    for (size_t i = 0; i < sizeof proto - 1; i++, p++) {
        if (p == len)
            return more();
        if (p - line >= max_line)
            return fail(HR_HTTP_EURI_TOO_LONG);
        bool ok = proto[i] == 'd' ? is_digit(u[p]) : u[p] == (unsigned char)proto[i];
        if (!ok)
            return fail(HR_HTTP_EBAD_VERSION);
    }
    if (p == len)
        return more();
    if (u[p] != '\r') {
        if (p - line >= max_line)
            return fail(HR_HTTP_EURI_TOO_LONG);
        return fail(u[p] == '\n' ? HR_HTTP_EBAD_REQUEST_LINE : HR_HTTP_EBAD_VERSION);
    }
    if (p + 1 == len)
        return more();
    if (u[p + 1] != '\n')
        return fail(HR_HTTP_EBAD_REQUEST_LINE);
    p += 2;
    if (u[v + 5] != '1')
        return fail(HR_HTTP_EVERSION);
    req->version_minor = u[v + 7] == '0' ? 0 : 1;

    /* 5. field lines, then the blank line. Every byte counts against max_hbytes. */
    struct fields f;
    memset(&f, 0, sizeof f);
    size_t hstart = p;
#define TAKE()                                                                                     \
    do {                                                                                           \
        if (p == len)                                                                              \
            return more();                                                                         \
        if (p - hstart >= max_hbytes)                                                              \
            return fail(HR_HTTP_EHEADERS_TOO_LARGE);                                               \
    } while (0)
    for (;;) {
        TAKE();
        if (u[p] == '\r') {
            p++;
            TAKE();
            if (u[p] != '\n')
                return fail(HR_HTTP_EBAD_HEADER);
            p++;
            break;
        }
        if (is_ows(u[p]))
            return fail(HR_HTTP_EOBS_FOLD);
        if (req->n_headers == max_fields)
            return fail(HR_HTTP_ETOO_MANY_HEADERS);

        size_t name = p;
        for (;;) {
            TAKE();
            if (u[p] == ':')
                break;
            if (is_ows(u[p]))
                return fail(HR_HTTP_EHEADER_NAME_SPACE);
            if (!is_tchar(u[p]))
                return fail(HR_HTTP_EBAD_HEADER);
            p++;
        }
        if (p == name)
            return fail(HR_HTTP_EBAD_HEADER);
        size_t name_end = p++;

        size_t vstart = 0, vend = 0;
        bool seen = false;
        for (;;) {
            TAKE();
            if (u[p] == '\r')
                break;
            if (!is_field_char(u[p]))
                return fail(HR_HTTP_EBAD_HEADER);
            if (!is_ows(u[p])) {
                if (!seen)
                    vstart = p;
                seen = true;
                vend = p + 1;
            }
            p++;
        }
        if (!seen)
            vstart = vend = p;
        p++;
        TAKE();
        if (u[p] != '\n')
            return fail(HR_HTTP_EBAD_HEADER);
        p++;

        struct hr_http_header *h = &req->headers[req->n_headers++];
        h->name = mk(buf + name, name_end - name);
        h->value = mk(buf + vstart, vend - vstart);
        enum hr_http_error e = on_field(req, &f, h->name, h->value);
        if (e != HR_HTTP_ENONE)
            return fail(e);
    }
#undef TAKE

    enum hr_http_error e = on_head_end(req, &f, max_body);
    if (e != HR_HTTP_ENONE)
        return fail(e);
    struct hr_http_result r = {.status = HR_HTTP_OK, .consumed = p, .need = p};
    if (req->body == HR_HTTP_BODY_LENGTH)
        r.need = req->content_length > SIZE_MAX - p ? SIZE_MAX : p + (size_t)req->content_length;
    return r;
}

size_t hr_http_head_end(const char *buf, size_t len, size_t from)
{
    size_t i = from > 3 ? from - 3 : 0;
    while (len >= 4 && i <= len - 4) {
        const char *cr = memchr(buf + i, '\r', len - 3 - i);
        if (!cr)
            return 0;
        i = (size_t)(cr - buf);
        if (buf[i + 1] == '\n' && buf[i + 2] == '\r' && buf[i + 3] == '\n')
            return i + 4;
        i++;
    }
    return 0;
}

struct hr_slice hr_http_header_get(const struct hr_http_request *req, const char *name)
{
    for (size_t i = 0; i < req->n_headers; i++)
        if (hr_http_slice_ieq(req->headers[i].name, name))
            return req->headers[i].value;
    return mk(NULL, 0);
}

/* ---- chunked bodies ------------------------------------------------------------------- */

enum chunk_phase {
    C_SIZE_FIRST, /* first hex digit of a size line */
    C_SIZE,       /* more hex digits, BWS, ';' or CR */
    C_SIZE_WS,    /* BWS after the digits: only ';' may follow */
    C_EXT,        /* extensions, skipped up to CR */
    C_SIZE_LF,
    C_DATA,
    C_DATA_CR,
    C_DATA_LF,
    C_TRAILER_START, /* a trailer field line, or the final CRLF */
    C_TRAILER_NAME,
    C_TRAILER_VALUE,
    C_TRAILER_LF,
    C_FINAL_LF,
    C_DONE,
    C_FAILED,
};

void hr_http_chunk_init(struct hr_http_chunk_state *st, const struct hr_http_limits *limits)
{
    memset(st, 0, sizeof *st);
    st->phase = C_SIZE_FIRST;
    st->max_line = limits && limits->max_chunk_line ? limits->max_chunk_line : DEF_MAX_CHUNK_LINE;
    st->max_trailer =
        limits && limits->max_trailer_bytes ? limits->max_trailer_bytes : DEF_MAX_TRAILER_BYTES;
}

static struct hr_http_chunk_result chunk_fail(struct hr_http_chunk_state *st, enum hr_http_error e,
                                              size_t consumed)
{
    st->phase = C_FAILED;
    st->error = (unsigned)e; /* later calls repeat it */
    return (struct hr_http_chunk_result){
        .status = HR_HTTP_ERROR, .error = e, .consumed = consumed, .total = st->total};
}

struct hr_http_chunk_result hr_http_parse_chunk(const char *buf, size_t len,
                                                struct hr_http_chunk_state *st,
                                                struct hr_slice *out)
{
    const unsigned char *u = (const unsigned char *)buf;
    size_t p = 0;
    *out = mk(NULL, 0);
    struct hr_http_chunk_result more_r = {.status = HR_HTTP_MORE};

    for (;;) {
        if (st->phase == C_DONE)
            return (struct hr_http_chunk_result){
                .status = HR_HTTP_OK, .consumed = p, .total = st->total};
        if (st->phase == C_FAILED)
            return chunk_fail(st, (enum hr_http_error)st->error, p);
        if (p == len) {
            more_r.consumed = p;
            more_r.total = st->total;
            return more_r;
        }
        if (st->phase == C_DATA) {
            size_t n = len - p;
            if ((uint64_t)n > st->remaining)
                n = (size_t)st->remaining;
            *out = mk(buf + p, n);
            p += n;
            st->remaining -= n;
            if (st->remaining == 0)
                st->phase = C_DATA_CR;
            more_r.consumed = p;
            more_r.total = st->total;
            return more_r;
        }

        unsigned char c = u[p];
        /* C3: the bytes of a size line and of the trailer section are bounded. */
        if (st->phase <= C_EXT && ++st->line_bytes > st->max_line && c != '\r')
            return chunk_fail(st, HR_HTTP_ECHUNK_LINE_TOO_LONG, p);
        if (st->phase >= C_TRAILER_START && st->phase <= C_FINAL_LF &&
            ++st->trailer_bytes > st->max_trailer)
            return chunk_fail(st, HR_HTTP_ETRAILER_TOO_LARGE, p);
        p++;
        int h;
        switch ((enum chunk_phase)st->phase) {
        case C_SIZE_FIRST:
            if ((h = hex_value(c)) < 0)
                return chunk_fail(st, HR_HTTP_EBAD_CHUNK_SIZE, p - 1);
            st->size = (uint64_t)h;
            st->phase = C_SIZE;
            break;
        case C_SIZE:
            if ((h = hex_value(c)) >= 0) {
                if (st->size > (UINT64_MAX >> 4))
                    return chunk_fail(st, HR_HTTP_ECHUNK_SIZE_OVERFLOW, p - 1);
                st->size = st->size << 4 | (uint64_t)h;
            } else if (is_ows(c)) {
                st->phase = C_SIZE_WS;
            } else if (c == ';') {
                st->phase = C_EXT;
            } else if (c == '\r') {
                st->phase = C_SIZE_LF;
            } else {
                return chunk_fail(st, HR_HTTP_EBAD_CHUNK_SIZE, p - 1);
            }
            break;
        case C_SIZE_WS:
            if (c == ';')
                st->phase = C_EXT;
            else if (!is_ows(c))
                return chunk_fail(st, HR_HTTP_EBAD_CHUNK_SIZE, p - 1);
            break;
        case C_EXT:
            if (c == '\r')
                st->phase = C_SIZE_LF;
            else if (!is_field_char(c))
                return chunk_fail(st, HR_HTTP_EBAD_CHUNK_SIZE, p - 1);
            break;
        case C_SIZE_LF:
            if (c != '\n')
                return chunk_fail(st, HR_HTTP_EBAD_CHUNK_SIZE, p - 1);
            if (st->size > UINT64_MAX - st->total)
                return chunk_fail(st, HR_HTTP_ECHUNK_SIZE_OVERFLOW, p - 1);
            st->total += st->size;
            st->line_bytes = 0;
            if (st->size == 0) {
                st->phase = C_TRAILER_START;
            } else {
                st->remaining = st->size;
                st->phase = C_DATA;
            }
            break;
        case C_DATA_CR:
            if (c != '\r')
                return chunk_fail(st, HR_HTTP_EBAD_CHUNK_END, p - 1);
            st->phase = C_DATA_LF;
            break;
        case C_DATA_LF:
            if (c != '\n')
                return chunk_fail(st, HR_HTTP_EBAD_CHUNK_END, p - 1);
            st->phase = C_SIZE_FIRST;
            break;
        case C_TRAILER_START:
            if (c == '\r')
                st->phase = C_FINAL_LF;
            else if (is_tchar(c))
                st->phase = C_TRAILER_NAME;
            else
                return chunk_fail(st, HR_HTTP_EBAD_TRAILER, p - 1); /* obs-fold too */
            break;
        case C_TRAILER_NAME:
            if (c == ':')
                st->phase = C_TRAILER_VALUE;
            else if (!is_tchar(c))
                return chunk_fail(st, HR_HTTP_EBAD_TRAILER, p - 1);
            break;
        case C_TRAILER_VALUE:
            if (c == '\r')
                st->phase = C_TRAILER_LF;
            else if (!is_field_char(c))
                return chunk_fail(st, HR_HTTP_EBAD_TRAILER, p - 1);
            break;
        case C_TRAILER_LF:
            if (c != '\n')
                return chunk_fail(st, HR_HTTP_EBAD_TRAILER, p - 1);
            st->phase = C_TRAILER_START;
            break;
        case C_FINAL_LF:
            if (c != '\n')
                return chunk_fail(st, HR_HTTP_EBAD_TRAILER, p - 1);
            st->phase = C_DONE;
            break;
        case C_DATA:
        case C_DONE:
        case C_FAILED:
            break; /* handled above */
        }
    }
}

/* ---- URL helpers ---------------------------------------------------------------------- */

enum hr_http_error hr_http_url_decode(struct hr_slice src, char *dst, size_t cap, unsigned flags,
                                      size_t *out_len)
{
    size_t n = 0;
    *out_len = 0;
    for (size_t i = 0; i < src.len; i++) {
        unsigned char c = (unsigned char)src.ptr[i];
        if (c == '%') {
            if (src.len - i < 3)
                return HR_HTTP_EBAD_ESCAPE;
            int hi = hex_value((unsigned char)src.ptr[i + 1]);
            int lo = hex_value((unsigned char)src.ptr[i + 2]);
            if (hi < 0 || lo < 0)
                return HR_HTTP_EBAD_ESCAPE;
            c = (unsigned char)(hi << 4 | lo);
            if (c == 0 && !(flags & HR_HTTP_DECODE_ALLOW_NUL))
                return HR_HTTP_EBAD_ESCAPE;
            i += 2;
        } else if (c == '+' && (flags & HR_HTTP_DECODE_PLUS)) {
            c = ' ';
        }
        if (n == cap) {
            *out_len = n;
            return HR_HTTP_ENO_SPACE;
        }
        dst[n++] = (char)c;
    }
    *out_len = n;
    return HR_HTTP_ENONE;
}

/* Does the raw query name, decoded with '+' as space, equal `name`? A bad escape never
 * matches. */
static bool query_name_is(struct hr_slice raw, const char *name)
{
    size_t k = 0;
    for (size_t i = 0; i < raw.len; i++) {
        unsigned char c = (unsigned char)raw.ptr[i];
        if (c == '%') {
            if (raw.len - i < 3)
                return false;
            int hi = hex_value((unsigned char)raw.ptr[i + 1]);
            int lo = hex_value((unsigned char)raw.ptr[i + 2]);
            if (hi < 0 || lo < 0)
                return false;
            c = (unsigned char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+') {
            c = ' ';
        }
        if (name[k] == '\0' || (unsigned char)name[k] != c)
            return false;
        k++;
    }
    return name[k] == '\0';
}

bool hr_http_query_next(struct hr_slice *rest, struct hr_slice *name, struct hr_slice *value)
{
    while (rest->len) {
        const char *s = rest->ptr;
        const char *amp = memchr(s, '&', rest->len);
        size_t n = amp ? (size_t)(amp - s) : rest->len;
        if (amp) {
            rest->ptr = amp + 1;
            rest->len -= n + 1;
        } else {
            rest->ptr = s + n;
            rest->len = 0;
        }
        if (n == 0)
            continue;
        const char *eq = memchr(s, '=', n);
        if (eq) {
            *name = mk(s, (size_t)(eq - s));
            *value = mk(eq + 1, n - (size_t)(eq - s) - 1);
        } else {
            *name = mk(s, n);
            *value = mk(s + n, 0);
        }
        return true;
    }
    return false;
}

bool hr_http_query_get(struct hr_slice query, const char *name, struct hr_slice *val)
{
    struct hr_slice rest = query, n, v;
    while (hr_http_query_next(&rest, &n, &v)) {
        if (query_name_is(n, name)) {
            *val = v;
            return true;
        }
    }
    *val = mk(NULL, 0);
    return false;
}

bool hr_http_path_next(struct hr_slice *rest, struct hr_slice *seg)
{
    if (rest->len == 0)
        return false;
    const char *s = rest->ptr;
    size_t n = rest->len;
    if (s[0] == '/') {
        s++;
        n--;
    }
    const char *slash = n ? memchr(s, '/', n) : NULL;
    size_t k = slash ? (size_t)(slash - s) : n;
    *seg = mk(s, k);
    rest->ptr = s + k;
    rest->len = n - k;
    return true;
}

/* ---- response heads ------------------------------------------------------------------- */

const char *hr_http_reason(int status)
{
    static const struct {
        short status;
        const char *text;
    } reasons[] = {
        {100, "Continue"},
        {101, "Switching Protocols"},
        {200, "OK"},
        {201, "Created"},
        {202, "Accepted"},
        {203, "Non-Authoritative Information"},
        {204, "No Content"},
        {205, "Reset Content"},
        {206, "Partial Content"},
        {300, "Multiple Choices"},
        {301, "Moved Permanently"},
        {302, "Found"},
        {303, "See Other"},
        {304, "Not Modified"},
        {305, "Use Proxy"},
        {307, "Temporary Redirect"},
        {308, "Permanent Redirect"},
        {400, "Bad Request"},
        {401, "Unauthorized"},
        {402, "Payment Required"},
        {403, "Forbidden"},
        {404, "Not Found"},
        {405, "Method Not Allowed"},
        {406, "Not Acceptable"},
        {407, "Proxy Authentication Required"},
        {408, "Request Timeout"},
        {409, "Conflict"},
        {410, "Gone"},
        {411, "Length Required"},
        {412, "Precondition Failed"},
        {413, "Content Too Large"},
        {414, "URI Too Long"},
        {415, "Unsupported Media Type"},
        {416, "Range Not Satisfiable"},
        {417, "Expectation Failed"},
        {421, "Misdirected Request"},
        {422, "Unprocessable Content"},
        {426, "Upgrade Required"},
        {428, "Precondition Required"},
        {429, "Too Many Requests"},
        {431, "Request Header Fields Too Large"},
        {500, "Internal Server Error"},
        {501, "Not Implemented"},
        {502, "Bad Gateway"},
        {503, "Service Unavailable"},
        {504, "Gateway Timeout"},
        {505, "HTTP Version Not Supported"},
    };
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
        if (reasons[i].status == status)
            return reasons[i].text;
    return NULL;
}

size_t hr_http_encode_status_line(char *dst, size_t cap, int status, const char *reason)
{
    if (status < 100 || status > 999)
        return 0;
    if (!reason)
        reason = hr_http_reason(status);
    if (!reason)
        reason = "";
    size_t rlen = strlen(reason);
    for (size_t i = 0; i < rlen; i++)
        if (!is_field_char((unsigned char)reason[i]))
            return 0;
    size_t n = 9 + 3 + 1 + rlen + 2;
    if (cap < n)
        return 0;
    memcpy(dst, "HTTP/1.1 ", 9);
    dst[9] = (char)('0' + status / 100);
    dst[10] = (char)('0' + status / 10 % 10);
    dst[11] = (char)('0' + status % 10);
    dst[12] = ' ';
    memcpy(dst + 13, reason, rlen);
    memcpy(dst + 13 + rlen, "\r\n", 2);
    return n;
}

size_t hr_http_encode_header(char *dst, size_t cap, struct hr_slice name, struct hr_slice value)
{
    if (name.len == 0)
        return 0;
    for (size_t i = 0; i < name.len; i++)
        if (!is_tchar((unsigned char)name.ptr[i]))
            return 0;
    for (size_t i = 0; i < value.len; i++)
        if (!is_field_char((unsigned char)value.ptr[i]))
            return 0;
    if (name.len > SIZE_MAX / 2 || value.len > SIZE_MAX / 2 - 4)
        return 0;
    size_t n = name.len + 2 + value.len + 2;
    if (cap < n)
        return 0;
    memcpy(dst, name.ptr, name.len);
    memcpy(dst + name.len, ": ", 2);
    if (value.len)
        memcpy(dst + name.len + 2, value.ptr, value.len);
    memcpy(dst + n - 2, "\r\n", 2);
    return n;
}
