/* SPDX-License-Identifier: Apache-2.0
 *
 * The HTTP/1.1 codec: a pure, incremental, zero-copy parser for request heads and chunked
 * bodies, the URL helpers the REST routes need, and the encoders for response heads. No
 * allocation, no I/O, no globals: fuzzable alone. Connections, routing and REST live in the
 * HTTP head, which calls this file only.
 *
 * Wire (RFC 9112; every line ends in CRLF — a bare LF or bare CR is an error):
 *
 *   request    = *CRLF request-line *( field-line CRLF ) CRLF [ body ]
 *   request-line = method SP request-target SP "HTTP/" DIGIT "." DIGIT CRLF
 *   field-line = field-name ":" OWS field-value OWS            (no space before ":")
 *   chunked    = *( chunk-size [ BWS ";" ext ] CRLF chunk-data CRLF )
 *                "0" [ BWS ";" ext ] CRLF *( trailer-line CRLF ) CRLF
 *
 * Request-head contract:
 *   P1. hr_http_parse_request() looks at buf[0..len) and returns one of
 *         HR_HTTP_OK    — a complete head in `req`; `consumed` bytes used (leading empty
 *                         lines, request line, fields and the blank line; no body byte);
 *                         `need` is consumed + Content-Length (the whole request) for a
 *                         LENGTH body, else consumed;
 *         HR_HTTP_MORE  — incomplete and nothing wrong so far; consumed and need are 0;
 *         HR_HTTP_ERROR — `error` says what; hr_http_error_status(error) is the status to
 *                         answer. The caller answers it with `Connection: close` and closes:
 *                         after an error the framing of the stream is unknown.
 *   P2. Slices in `req` point into `buf`; they are valid while buf is and unmoved. An absent
 *       optional slice is {NULL, 0}; a present but empty one has a non-NULL ptr.
 *   P3. Every size is bounded before it is trusted: the request line by max_request_line
 *       (414), the field count by max_headers and the field section by max_header_bytes
 *       (431), Content-Length by max_body_bytes (413) — each error raised as soon as the
 *       offending byte arrives, not when the line ends.
 *   P4. The parser scans left to right and decides at each byte from the bytes before it,
 *       so a prefix of the input parses as MORE or exactly as the whole input does: bytes
 *       split at any boundary give the same result. The parser keeps no state between
 *       calls; call it again on the grown buffer (hr_http_head_end() saves rescans).
 *   P5. Framing is decided here, once, with the smuggling defences in one place:
 *       Content-Length is 1*DIGIT, repeated lines must be identical; Transfer-Encoding
 *       must end in `chunked` (501 otherwise), may hold `chunked` once, and is refused
 *       with Content-Length (400) and in HTTP/1.0 (400); HTTP/1.1 needs exactly one Host.
 *
 * Chunked-body contract (state machine, one byte at a time; `*` = may repeat):
 *
 *   SIZE ─hex*─▶ SIZE ─BWS/;ext─▶ EXT* ─CR─▶ SIZE_LF ─LF─▶ DATA* ─▶ DATA_CR ─▶ DATA_LF ─▶ SIZE
 *                                      (size 0) SIZE_LF ─LF─▶ TRAILER* ─CRLF CRLF─▶ DONE
 *
 *   C1. hr_http_parse_chunk() consumes buf[0..consumed) and hands back at most one slice of
 *       chunk data in `out` (inside the consumed bytes; len 0 when none). Framing bytes are
 *       folded into the state, so a call never leaves a partial line unconsumed.
 *         HR_HTTP_OK    — the body is complete (last chunk and trailers consumed); the next
 *                         request starts at buf + consumed;
 *         HR_HTTP_MORE  — the body goes on: call again with buf + consumed when consumed < len,
 *                         else when more bytes arrive;
 *         HR_HTTP_ERROR — `error` says what (400/431); answer it and close.
 *   C2. `total` counts every chunk's size as soon as its size line is parsed, so the caller
 *       can refuse a body over its limit (413) before the data arrives. It never decreases
 *       and equals the body length at OK. The sum cannot overflow (400 first).
 *   C3. Size lines (digits and extensions) are bounded by max_chunk_line, trailers by
 *       max_trailer_bytes; extensions and trailer fields are checked for CTLs and skipped.
 *   C4. Bytes split at any boundary give the same data bytes in the same order, the same
 *       total and the same final status and error.
 *
 * Thread-safety: every function is reentrant; a chunk state belongs to one body.
 */
#ifndef HR_HEADS_HTTP_CODEC_H
#define HR_HEADS_HTTP_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/slice.h"

/* Parse errors and the status code each one is answered with. Numbers are only appended. */
#define HR_HTTP_ERROR_MAP(X)                                                                       \
    X(BAD_REQUEST_LINE, 400, "malformed request line")                                             \
    X(BAD_METHOD, 400, "invalid character in method")                                              \
    X(BAD_TARGET, 400, "invalid request-target")                                                   \
    X(BAD_VERSION, 400, "malformed HTTP version")                                                  \
    X(VERSION, 505, "HTTP version not supported")                                                  \
    X(URI_TOO_LONG, 414, "request line too long")                                                  \
    X(BAD_HEADER, 400, "malformed header field")                                                   \
    X(HEADER_NAME_SPACE, 400, "whitespace between header name and colon")                          \
    X(OBS_FOLD, 400, "obsolete line folding")                                                      \
    X(TOO_MANY_HEADERS, 431, "too many header fields")                                             \
    X(HEADERS_TOO_LARGE, 431, "header section too large")                                          \
    X(BAD_HOST, 400, "missing, repeated or invalid Host")                                          \
    X(BAD_CONTENT_LENGTH, 400, "invalid Content-Length")                                           \
    X(CL_AND_TE, 400, "both Content-Length and Transfer-Encoding")                                 \
    X(BAD_TRANSFER_ENCODING, 400, "invalid Transfer-Encoding")                                     \
    X(TE_NOT_CHUNKED, 501, "transfer coding not implemented")                                      \
    X(BODY_TOO_LARGE, 413, "content too large")                                                    \
    X(BAD_CHUNK_SIZE, 400, "invalid chunk size line")                                              \
    X(CHUNK_SIZE_OVERFLOW, 400, "chunk size too large")                                            \
    X(CHUNK_LINE_TOO_LONG, 400, "chunk size line too long")                                        \
    X(BAD_CHUNK_END, 400, "missing CRLF after chunk data")                                         \
    X(BAD_TRAILER, 400, "malformed trailer section")                                               \
    X(TRAILER_TOO_LARGE, 431, "trailer section too large")                                         \
    X(BAD_ESCAPE, 400, "invalid percent-encoding")                                                 \
    X(NO_SPACE, 414, "decoded value too long for its buffer")

enum hr_http_error {
    HR_HTTP_ENONE = 0,
#define HR_HTTP_ERR_ENUM(name, status, text) HR_HTTP_E##name,
    HR_HTTP_ERROR_MAP(HR_HTTP_ERR_ENUM)
#undef HR_HTTP_ERR_ENUM
};

/* The status code to answer an error with (400 for ENONE or an unknown value). */
int hr_http_error_status(enum hr_http_error err);
/* A short English description (for logs and error bodies); never NULL. */
const char *hr_http_error_text(enum hr_http_error err);

enum hr_http_status { HR_HTTP_OK, HR_HTTP_MORE, HR_HTTP_ERROR };

/* Limits; a field left 0 takes the default shown. */
struct hr_http_limits {
    size_t max_request_line;  /* bytes before CRLF; also bounds leading empty lines; 0 = 8192 */
    size_t max_headers;       /* field lines; 0 = HR_HTTP_MAX_HEADERS, larger is clamped */
    size_t max_header_bytes;  /* field section incl. the blank line; 0 = 16384 */
    uint64_t max_body_bytes;  /* Content-Length above it is 413; 0 = 1 MiB. Chunked bodies:
                                 the caller compares hr_http_chunk_result.total with it */
    size_t max_chunk_line;    /* chunk size line incl. extensions, before CRLF; 0 = 1024 */
    size_t max_trailer_bytes; /* trailer section incl. the blank line; 0 = 4096 */
};

#define HR_HTTP_MAX_HEADERS 100

enum hr_http_method {
    HR_HTTP_METHOD_OTHER = 0, /* a valid token Herald does not know: answer 501 */
    HR_HTTP_METHOD_GET,
    HR_HTTP_METHOD_HEAD,
    HR_HTTP_METHOD_POST,
    HR_HTTP_METHOD_PUT,
    HR_HTTP_METHOD_DELETE,
    HR_HTTP_METHOD_PATCH,
    HR_HTTP_METHOD_OPTIONS,
    HR_HTTP_METHOD_CONNECT,
    HR_HTTP_METHOD_TRACE,
};

enum hr_http_target_form {
    HR_HTTP_FORM_ORIGIN,    /* /path?query */
    HR_HTTP_FORM_ABSOLUTE,  /* http://authority/path?query (proxies; path may be empty = "/") */
    HR_HTTP_FORM_AUTHORITY, /* host:port, CONNECT only */
    HR_HTTP_FORM_ASTERISK,  /* *, meaningful with OPTIONS only (not enforced here) */
};

enum hr_http_framing {
    HR_HTTP_BODY_NONE,    /* no body: the next request starts at `consumed` */
    HR_HTTP_BODY_LENGTH,  /* content_length bytes (may be 0) */
    HR_HTTP_BODY_CHUNKED, /* hr_http_parse_chunk() until it says OK */
};

struct hr_http_header {
    struct hr_slice name;  /* token, case as sent */
    struct hr_slice value; /* OWS trimmed; may be empty (ptr still inside buf) */
};

struct hr_http_request {
    struct hr_slice method; /* token, case-sensitive (RFC 9110 9.1) */
    enum hr_http_method method_id;
    struct hr_slice target; /* request-target as sent */
    enum hr_http_target_form form;
    struct hr_slice authority; /* absolute- and authority-form; else {NULL, 0} */
    struct hr_slice path;      /* up to '?', still percent-encoded; "*" in asterisk-form */
    struct hr_slice query;     /* after '?'; {NULL, 0} when there is no '?' */
    unsigned version_minor;    /* 0 for HTTP/1.0, 1 for HTTP/1.1 (and 1.x, x > 1) */
    struct hr_slice host;      /* Host value; {NULL, 0} when absent (HTTP/1.0 only) */
    enum hr_http_framing body;
    uint64_t content_length; /* HR_HTTP_BODY_LENGTH only */
    bool keep_alive;         /* 1.1 unless Connection: close; 1.0 only with keep-alive */
    bool expect_continue;    /* HTTP/1.1 with Expect: 100-continue (send 100 before reading) */
    bool upgrade;            /* Connection lists "upgrade" (check the Upgrade field) */
    bool te_codings;         /* Transfer-Encoding lists codings before chunked (gzip, chunked):
                                the dechunked body is still encoded; 501/415 if unsupported */
    size_t n_headers;
    struct hr_http_header headers[HR_HTTP_MAX_HEADERS]; /* in arrival order; last member */
};

struct hr_http_result {
    enum hr_http_status status;
    enum hr_http_error error;
    size_t consumed;
    size_t need;
};

/* Parses one request head from buf[0..len) (borrowed; slices in *req point into it).
 * `limits` may be NULL for the defaults. `req` is caller storage, overwritten on every
 * call; its contents are meaningful only when the status is HR_HTTP_OK. Contract: P1–P5. */
struct hr_http_result hr_http_parse_request(const char *buf, size_t len,
                                            const struct hr_http_limits *limits,
                                            struct hr_http_request *req);

/* A cheap pre-check so a slow client does not cost a full rescan per byte: the offset just
 * past the first CRLFCRLF in buf[0..len), or 0 when there is none yet. `from` is the length
 * already searched by a previous call (0 at first); the search resumes 3 bytes before it.
 * While it returns 0, hr_http_parse_request() can only say MORE or an error that it will
 * still say later (P4), so the head may skip parsing until this finds the blank line or its
 * buffer reaches its cap, and parse then. */
size_t hr_http_head_end(const char *buf, size_t len, size_t from);

/* The value of the first field named `name` (ASCII case-insensitive), or {NULL, 0}. */
struct hr_slice hr_http_header_get(const struct hr_http_request *req, const char *name);

/* ASCII case-insensitive equality of a slice and a NUL-terminated literal. */
bool hr_http_slice_ieq(struct hr_slice s, const char *lit);

/* Does the comma-separated list `value` (Connection, Upgrade, …) hold `token`, compared
 * case-insensitively after trimming OWS? */
bool hr_http_list_has(struct hr_slice value, const char *token);

/* Chunked bodies. */
struct hr_http_chunk_state {
    /* private to the codec */
    unsigned phase;
    unsigned error;       /* after an error, the error every later call repeats */
    size_t line_bytes;    /* bytes of the current size line */
    size_t trailer_bytes; /* bytes of the trailer section so far */
    size_t max_line, max_trailer;
    uint64_t size;      /* the chunk size being read */
    uint64_t remaining; /* data bytes of the current chunk still to come */
    uint64_t total;     /* sum of the chunk sizes parsed so far */
};

struct hr_http_chunk_result {
    enum hr_http_status status;
    enum hr_http_error error;
    size_t consumed;
    uint64_t total; /* C2: body bytes announced so far */
};

/* Prepares `st` (caller storage) for one chunked body. `limits` may be NULL. */
void hr_http_chunk_init(struct hr_http_chunk_state *st, const struct hr_http_limits *limits);

/* Feeds buf[0..len) (borrowed) to the body; `out` gets at most one data slice into buf.
 * Contract: C1–C4. Once it has said OK it keeps saying OK with consumed 0. */
struct hr_http_chunk_result hr_http_parse_chunk(const char *buf, size_t len,
                                                struct hr_http_chunk_state *st,
                                                struct hr_slice *out);

/* URL helpers. Path and query slices stay percent-encoded; decode each piece after
 * splitting it out, never before (an encoded '/', '&' or '=' is data). */
#define HR_HTTP_DECODE_PLUS 1u      /* '+' means a space (query strings, forms) */
#define HR_HTTP_DECODE_ALLOW_NUL 2u /* accept %00 (refused by default) */

/* Percent-decodes `src` into dst[0..cap) and sets *out_len; no NUL is appended. dst may be
 * src.ptr itself (decoding never grows). Returns HR_HTTP_ENONE, HR_HTTP_EBAD_ESCAPE (a '%'
 * not followed by two hex digits, or %00 without ALLOW_NUL) or HR_HTTP_ENO_SPACE (the result
 * is longer than cap; dst holds a prefix). The decoded bytes are not checked for UTF-8. */
enum hr_http_error hr_http_url_decode(struct hr_slice src, char *dst, size_t cap, unsigned flags,
                                      size_t *out_len);

/* Finds the first parameter of `query` ("a=1&b=2", no '?') whose name, decoded with
 * HR_HTTP_DECODE_PLUS, equals `name`; sets *val to its raw (still encoded) value — empty
 * for "a" and "a=" — and returns true. Returns false, *val = {NULL, 0}, when absent. */
bool hr_http_query_get(struct hr_slice query, const char *name, struct hr_slice *val);

/* Iterates the parameters of a query: takes the next non-empty "name[=value]" off the front
 * of *rest and returns true, or returns false when none is left. Both raw. */
bool hr_http_query_next(struct hr_slice *rest, struct hr_slice *name, struct hr_slice *value);

/* Iterates the segments of a path: drops one leading '/' from *rest, then takes the raw
 * segment up to the next '/'. "/a/b" gives "a", "b"; "/a/" gives "a", ""; "/" gives "".
 * Returns false when *rest is empty. */
bool hr_http_path_next(struct hr_slice *rest, struct hr_slice *seg);

/* Response heads. */

/* The RFC 9110 reason phrase of `status`, or NULL for a code it does not name. */
const char *hr_http_reason(int status);

/* Writes "HTTP/1.1 <status> <reason>\r\n" into dst[0..cap) and returns its length; reason
 * NULL means hr_http_reason(status) (or empty). Returns 0, writing nothing useful, when
 * status is outside 100..999, reason holds a CTL other than HTAB, or cap is too small. */
size_t hr_http_encode_status_line(char *dst, size_t cap, int status, const char *reason);

/* Writes "<name>: <value>\r\n" into dst[0..cap) and returns its length; 0 when name is not
 * a token, value holds CR, LF or another CTL (header injection), or cap is too small. */
size_t hr_http_encode_header(char *dst, size_t cap, struct hr_slice name, struct hr_slice value);

#endif
