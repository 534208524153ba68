/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for the HTTP/1.1 codec (src/heads/http/http_codec.c), against its contract
 * P1–P5 and C1–C4 in http_codec.h and the strict choices listed in http_codec.c.
 *
 * Every input is copied into a heap block of exactly its length before it is parsed, so
 * a read past `len` shows up under `make SAN=1 unit`. Requests are compared by slice
 * offsets relative to the start of their buffer, so "the same request" means the same
 * bytes, not just equal text. The tests touch no globals of the code under test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "heads/http/http_codec.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ------------------------------------------------------------------------ */

static char *dup_exact(const char *s, size_t n)
{
    char *p = malloc(n ? n : 1);
    assert_non_null(p);
    if (n)
        memcpy(p, s, n);
    return p;
}

static struct hr_slice S(const char *s) {
    return (struct hr_slice){s, strlen(s)};
}

/* A slice must be absent ({NULL, 0}) or lie inside buf[0..end). */
static void
assert_slice_inside(struct hr_slice s, const char *buf, size_t end)
{
    if (s.ptr == NULL) {
        assert_int_equal(s.len, 0);
        return;
    }
    assert_true(s.ptr >= buf);
    assert_true((size_t)(s.ptr - buf) + s.len <= end);
}

/* Expected text of a slice; NULL means "absent" ({NULL, 0}). */
static void assert_slice_eq(struct hr_slice s, const char *want)
{
    if (!want) {
        if (s.ptr != NULL || s.len != 0)
            fail_msg("slice \"%.*s\" present, want absent", (int)s.len, s.ptr ? s.ptr : "");
        return;
    }
    size_t n = strlen(want);
    if (s.ptr == NULL)
        fail_msg("slice absent, want \"%s\"", want);
    if (s.len != n)
        fail_msg("slice length %zu, want %zu (\"%.*s\" vs \"%s\")", s.len, n, (int)s.len, s.ptr,
                 want);
    if (n)
        assert_memory_equal(s.ptr, want, n);
}

/* A request reduced to offsets, so requests parsed from different copies can be compared. */
#define N_FIXED 7
struct flat_req {
    size_t off[N_FIXED + 2 * HR_HTTP_MAX_HEADERS], len[N_FIXED + 2 * HR_HTTP_MAX_HEADERS];
    size_t n_headers;
    enum hr_http_method method_id;
    enum hr_http_target_form form;
    unsigned version_minor;
    enum hr_http_framing body;
    uint64_t content_length;
    bool keep_alive, expect_continue, upgrade, te_codings;
};

static void flatten(const struct hr_http_request *r, const char *base, struct flat_req *f)
{
    memset(f, 0, sizeof *f);
    const struct hr_slice s[N_FIXED] = {r->method, r->target, r->authority, r->path,
                                        r->query,  r->host,   {NULL, 0}};
    size_t k = 0;
    for (size_t i = 0; i < N_FIXED; i++, k++) {
        f->len[k] = s[i].len;
        f->off[k] = s[i].ptr ? (size_t)(s[i].ptr - base) : SIZE_MAX;
    }
    for (size_t i = 0; i < r->n_headers; i++) {
        f->len[k] = r->headers[i].name.len;
        f->off[k++] = (size_t)(r->headers[i].name.ptr - base);
        f->len[k] = r->headers[i].value.len;
        f->off[k++] = (size_t)(r->headers[i].value.ptr - base);
    }
    f->n_headers = r->n_headers;
    f->method_id = r->method_id;
    f->form = r->form;
    f->version_minor = r->version_minor;
    f->body = r->body;
    f->content_length = r->content_length;
    f->keep_alive = r->keep_alive;
    f->expect_continue = r->expect_continue;
    f->upgrade = r->upgrade;
    f->te_codings = r->te_codings;
}

/* Parses s[0..n) from an exact-size copy, checks P1/P2 and flattens an OK request. */
static struct hr_http_result parse_copy(const char *s, size_t n, const struct hr_http_limits *lim,
                                        struct flat_req *flat)
{
    char *buf = dup_exact(s, n);
    struct hr_http_request *req = malloc(sizeof *req);
    assert_non_null(req);
    memset(req, 0xa5, sizeof *req);
    struct hr_http_result r = hr_http_parse_request(buf, n, lim, req);
    switch (r.status) {
    case HR_HTTP_OK:
        assert_int_equal(r.error, HR_HTTP_ENONE);
        assert_true(r.consumed > 0 && r.consumed <= n);
        assert_true(r.need >= r.consumed);
        assert_true(req->n_headers <= HR_HTTP_MAX_HEADERS);
        assert_true(req->method.len > 0);
        assert_slice_inside(req->method, buf, r.consumed);
        assert_slice_inside(req->target, buf, r.consumed);
        assert_slice_inside(req->authority, buf, r.consumed);
        assert_slice_inside(req->path, buf, r.consumed);
        assert_slice_inside(req->query, buf, r.consumed);
        assert_slice_inside(req->host, buf, r.consumed);
        for (size_t i = 0; i < req->n_headers; i++) {
            assert_non_null(req->headers[i].name.ptr);
            assert_non_null(req->headers[i].value.ptr);
            assert_slice_inside(req->headers[i].name, buf, r.consumed);
            assert_slice_inside(req->headers[i].value, buf, r.consumed);
        }
        if (flat)
            flatten(req, buf, flat);
        break;
    case HR_HTTP_MORE:
        assert_int_equal(r.consumed, 0);
        assert_int_equal(r.need, 0);
        break;
    case HR_HTTP_ERROR:
        assert_int_not_equal(r.error, HR_HTTP_ENONE);
        break;
    default:
        fail_msg("bad status %d", (int)r.status);
    }
    free(req);
    free(buf);
    return r;
}

/* P4: every prefix of s[0..n) is MORE or (for an input that fails) the same error, and
 * once the error shows it stays; the whole gives `want`, and for OK every prefix shorter
 * than the head is MORE and every longer one gives the same request. */
static void assert_split_invariant(const char *s, size_t n, const struct hr_http_limits *lim)
{
    struct flat_req whole, part;
    struct hr_http_result w = parse_copy(s, n, lim, &whole);
    bool erred = false;
    for (size_t k = 0; k < n; k++) {
        struct hr_http_result r = parse_copy(s, k, lim, &part);
        if (w.status == HR_HTTP_OK && k >= w.consumed) {
            assert_int_equal(r.status, HR_HTTP_OK);
            assert_int_equal(r.consumed, w.consumed);
            assert_memory_equal(&part, &whole, sizeof whole);
            continue;
        }
        if (r.status == HR_HTTP_MORE && !erred)
            continue;
        if (w.status != HR_HTTP_ERROR || r.status != HR_HTTP_ERROR || r.error != w.error)
            fail_msg("\"%.*s\" prefix %zu: status %d error %d, whole: status %d error %d", (int)n,
                     s, k, (int)r.status, (int)r.error, (int)w.status, (int)w.error);
        erred = true;
    }
}

/* ---- valid requests ----------------------------------------------------------------- */

struct vcase {
    const char *in;
    size_t len;
    size_t head; /* bytes of the head (consumed); 0 = all of in */
    const char *method;
    enum hr_http_method method_id;
    enum hr_http_target_form form;
    const char *target, *authority, *path, *query, *host;
    unsigned minor;
    enum hr_http_framing body;
    uint64_t cl;
    bool ka, expect, upgrade, te_codings;
    size_t n_headers;
};

#define IN(lit) .in = lit, .len = sizeof(lit) - 1
#define H "Host: h\r\n"

static const struct vcase valid_cases[] = {
    {IN("GET / HTTP/1.1\r\n" H "\r\n"), .method = "GET", .method_id = HR_HTTP_METHOD_GET,
     .target = "/", .path = "/", .host = "h", .minor = 1, .ka = true, .n_headers = 1},
    {IN("GET /streams/orders?limit=10&from=5 HTTP/1.1\r\nHost: example.com:8080\r\n"
        "Accept: */*\r\n\r\n"),
     .method = "GET", .method_id = HR_HTTP_METHOD_GET, .target = "/streams/orders?limit=10&from=5",
     .path = "/streams/orders", .query = "limit=10&from=5", .host = "example.com:8080", .minor = 1,
     .ka = true, .n_headers = 2},
    {IN("GET /a? HTTP/1.1\r\n" H "\r\n"), .method = "GET", .method_id = HR_HTTP_METHOD_GET,
     .target = "/a?", .path = "/a", .query = "", .host = "h", .minor = 1, .ka = true,
     .n_headers = 1},
    {IN("GET /a?b?c=%20 HTTP/1.1\r\n" H "\r\n"), .method = "GET", .method_id = HR_HTTP_METHOD_GET,
     .target = "/a?b?c=%20", .path = "/a", .query = "b?c=%20", .host = "h", .minor = 1, .ka = true,
     .n_headers = 1},
    {IN("GET /x HTTP/1.0\r\n\r\n"), .method = "GET", .method_id = HR_HTTP_METHOD_GET,
     .target = "/x", .path = "/x", .minor = 0, .ka = false},
    {IN("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), .method = "GET",
     .method_id = HR_HTTP_METHOD_GET, .target = "/", .path = "/", .minor = 0, .ka = true,
     .n_headers = 1},
    {IN("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"), .method = "GET",
     .method_id = HR_HTTP_METHOD_GET, .target = "/", .path = "/", .minor = 0, .ka = false,
     .n_headers = 1},
    {IN("GET / HTTP/1.1\r\n" H "Connection: close\r\n\r\n"), .method = "GET",
     .method_id = HR_HTTP_METHOD_GET, .target = "/", .path = "/", .host = "h", .minor = 1,
     .ka = false, .n_headers = 2},
    {IN("GET / HTTP/1.1\r\n" H "connection: CLOSE\r\n\r\n"), .method = "GET",
     .method_id = HR_HTTP_METHOD_GET, .target = "/", .path = "/", .host = "h", .minor = 1,
     .ka = false, .n_headers = 2},
    {IN("GET /ws HTTP/1.1\r\n" H "Connection: Keep-Alive, Upgrade\r\nUpgrade: websocket\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"),
     .method = "GET", .method_id = HR_HTTP_METHOD_GET, .target = "/ws", .path = "/ws", .host = "h",
     .minor = 1, .ka = true, .upgrade = true, .n_headers = 5},
    {IN("POST /p HTTP/1.1\r\n" H "Content-Length: 5\r\n\r\nhello"), .head = 48, .method = "POST",
     .method_id = HR_HTTP_METHOD_POST, .target = "/p", .path = "/p", .host = "h", .minor = 1,
     .body = HR_HTTP_BODY_LENGTH, .cl = 5, .ka = true, .n_headers = 2},
    {IN("POST /p HTTP/1.1\r\n" H "Content-Length: 0\r\n\r\n"), .method = "POST",
     .method_id = HR_HTTP_METHOD_POST, .target = "/p", .path = "/p", .host = "h", .minor = 1,
     .body = HR_HTTP_BODY_LENGTH, .cl = 0, .ka = true, .n_headers = 2},
    {IN("PUT /p HTTP/1.1\r\n" H "Content-Length: 3\r\ncontent-length: 003\r\n\r\n"),
     .method = "PUT", .method_id = HR_HTTP_METHOD_PUT, .target = "/p", .path = "/p", .host = "h",
     .minor = 1, .body = HR_HTTP_BODY_LENGTH, .cl = 3, .ka = true, .n_headers = 3},
    {IN("POST /p HTTP/1.1\r\n" H "Content-Length: 1048576\r\n\r\n"), .method = "POST",
     .method_id = HR_HTTP_METHOD_POST, .target = "/p", .path = "/p", .host = "h", .minor = 1,
     .body = HR_HTTP_BODY_LENGTH, .cl = 1048576, .ka = true, .n_headers = 2},
    {IN("POST /p HTTP/1.1\r\n" H "Transfer-Encoding: chunked\r\n\r\n"), .method = "POST",
     .method_id = HR_HTTP_METHOD_POST, .target = "/p", .path = "/p", .host = "h", .minor = 1,
     .body = HR_HTTP_BODY_CHUNKED, .ka = true, .n_headers = 2},
    {IN("POST /p HTTP/1.1\r\n" H "Transfer-Encoding: CHUNKED\r\n\r\n"), .method = "POST",
     .method_id = HR_HTTP_METHOD_POST, .target = "/p", .path = "/p", .host = "h", .minor = 1,
     .body = HR_HTTP_BODY_CHUNKED, .ka = true, .n_headers = 2},
    {IN("POST /p HTTP/1.1\r\n" H "Transfer-Encoding: gzip, chunked\r\n\r\n"), .method = "POST",
     .method_id = HR_HTTP_METHOD_POST, .target = "/p", .path = "/p", .host = "h", .minor = 1,
     .body = HR_HTTP_BODY_CHUNKED, .ka = true, .te_codings = true, .n_headers = 2},
    {IN("POST /p HTTP/1.1\r\n" H
        "Transfer-Encoding: gzip\r\nTransfer-Encoding: ,chunked ,\r\n\r\n"),
     .method = "POST", .method_id = HR_HTTP_METHOD_POST, .target = "/p", .path = "/p", .host = "h",
     .minor = 1, .body = HR_HTTP_BODY_CHUNKED, .ka = true, .te_codings = true, .n_headers = 3},
    {IN("POST /p HTTP/1.1\r\n" H "Expect: 100-continue\r\nContent-Length: 2\r\n\r\n"),
     .method = "POST", .method_id = HR_HTTP_METHOD_POST, .target = "/p", .path = "/p", .host = "h",
     .minor = 1, .body = HR_HTTP_BODY_LENGTH, .cl = 2, .ka = true, .expect = true, .n_headers = 3},
    {IN("POST /p HTTP/1.0\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n"), .method = "POST",
     .method_id = HR_HTTP_METHOD_POST, .target = "/p", .path = "/p", .minor = 0,
     .body = HR_HTTP_BODY_LENGTH, .cl = 2, .n_headers = 2},
    {IN("OPTIONS * HTTP/1.1\r\n" H "\r\n"), .method = "OPTIONS",
     .method_id = HR_HTTP_METHOD_OPTIONS, .form = HR_HTTP_FORM_ASTERISK, .target = "*", .path = "*",
     .host = "h", .minor = 1, .ka = true, .n_headers = 1},
    {IN("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"), .method = "CONNECT",
     .method_id = HR_HTTP_METHOD_CONNECT, .form = HR_HTTP_FORM_AUTHORITY,
     .target = "example.com:443", .authority = "example.com:443", .host = "example.com:443",
     .minor = 1, .ka = true, .n_headers = 1},
    {IN("CONNECT [::1]:8443 HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n"), .method = "CONNECT",
     .method_id = HR_HTTP_METHOD_CONNECT, .form = HR_HTTP_FORM_AUTHORITY, .target = "[::1]:8443",
     .authority = "[::1]:8443", .host = "[::1]:8443", .minor = 1, .ka = true, .n_headers = 1},
    {IN("GET http://example.com/a/b?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n"), .method = "GET",
     .method_id = HR_HTTP_METHOD_GET, .form = HR_HTTP_FORM_ABSOLUTE,
     .target = "http://example.com/a/b?x=1", .authority = "example.com", .path = "/a/b",
     .query = "x=1", .host = "example.com", .minor = 1, .ka = true, .n_headers = 1},
    {IN("GET https://u@h:1 HTTP/1.1\r\n" H "\r\n"), .method = "GET",
     .method_id = HR_HTTP_METHOD_GET, .form = HR_HTTP_FORM_ABSOLUTE, .target = "https://u@h:1",
     .authority = "u@h:1", .path = "", .host = "h", .minor = 1, .ka = true, .n_headers = 1},
    {IN("GET coap+tcp://h?q HTTP/1.1\r\n" H "\r\n"), .method = "GET",
     .method_id = HR_HTTP_METHOD_GET, .form = HR_HTTP_FORM_ABSOLUTE, .target = "coap+tcp://h?q",
     .authority = "h", .path = "", .query = "q", .host = "h", .minor = 1, .ka = true,
     .n_headers = 1},
    {IN("\r\n\r\nGET / HTTP/1.1\r\n" H "\r\n"), .method = "GET", .method_id = HR_HTTP_METHOD_GET,
     .target = "/", .path = "/", .host = "h", .minor = 1, .ka = true, .n_headers = 1},
    {IN("PURGE /x HTTP/1.1\r\n" H "\r\n"), .method = "PURGE", .method_id = HR_HTTP_METHOD_OTHER,
     .target = "/x", .path = "/x", .host = "h", .minor = 1, .ka = true, .n_headers = 1},
    {IN("M-SEARCH|~!#$%&'*+.^_` / HTTP/1.1\r\n" H "\r\n"), .method = "M-SEARCH|~!#$%&'*+.^_`",
     .target = "/", .path = "/", .host = "h", .minor = 1, .ka = true, .n_headers = 1},
    {IN("get / HTTP/1.1\r\n" H "\r\n"), .method = "get", .method_id = HR_HTTP_METHOD_OTHER,
     .target = "/", .path = "/", .host = "h", .minor = 1, .ka = true, .n_headers = 1},
    {IN("DELETE /s/1 HTTP/1.2\r\n" H "\r\n"), .method = "DELETE",
     .method_id = HR_HTTP_METHOD_DELETE, .target = "/s/1", .path = "/s/1", .host = "h", .minor = 1,
     .ka = true, .n_headers = 1},
    {IN("HEAD / HTTP/1.1\r\nHOST: h\r\n\r\n"), .method = "HEAD", .method_id = HR_HTTP_METHOD_HEAD,
     .target = "/", .path = "/", .host = "h", .minor = 1, .ka = true, .n_headers = 1},
    {IN("PATCH /~a/b.c-d_e!$&'()*+,;=:@%41 HTTP/1.1\r\nHost:\r\n\r\n"), .method = "PATCH",
     .method_id = HR_HTTP_METHOD_PATCH, .target = "/~a/b.c-d_e!$&'()*+,;=:@%41",
     .path = "/~a/b.c-d_e!$&'()*+,;=:@%41", .host = "", .minor = 1, .ka = true, .n_headers = 1},
    {IN("TRACE / HTTP/1.1\r\nHost: [::1]:8080\r\nX-A: \t a b \t\r\nX-E:\r\nX-F: \r\n"
        "X-O: caf\xc3\xa9\x80\xff\r\n\r\n"),
     .method = "TRACE", .method_id = HR_HTTP_METHOD_TRACE, .target = "/", .path = "/",
     .host = "[::1]:8080", .minor = 1, .ka = true, .n_headers = 5},
    {IN("GET /1 HTTP/1.1\r\n" H "\r\nGET /2 HTTP/1.1\r\n" H "\r\n"), .head = 28, .method = "GET",
     .method_id = HR_HTTP_METHOD_GET, .target = "/1", .path = "/1", .host = "h", .minor = 1,
     .ka = true, .n_headers = 1},
};

static void check_vcase(const struct vcase *c, const struct hr_http_request *r)
{
    assert_slice_eq(r->method, c->method);
    assert_int_equal(r->method_id, c->method_id);
    assert_int_equal(r->form, c->form);
    assert_slice_eq(r->target, c->target);
    assert_slice_eq(r->authority, c->authority);
    assert_slice_eq(r->path, c->path);
    assert_slice_eq(r->query, c->query);
    assert_slice_eq(r->host, c->host);
    assert_int_equal(r->version_minor, c->minor);
    assert_int_equal(r->body, c->body);
    assert_int_equal(r->content_length, c->cl);
    assert_int_equal(r->keep_alive, c->ka);
    assert_int_equal(r->expect_continue, c->expect);
    assert_int_equal(r->upgrade, c->upgrade);
    assert_int_equal(r->te_codings, c->te_codings);
    assert_int_equal(r->n_headers, c->n_headers);
}

/* Every request in the table parses whole with the right fields, consuming its head. */
static void test_valid_requests(void **state)
{
    (void)state;
    struct hr_http_request *req = malloc(sizeof *req);
    assert_non_null(req);
    for (size_t i = 0; i < N_ELEMS(valid_cases); i++) {
        const struct vcase *c = &valid_cases[i];
        char *buf = dup_exact(c->in, c->len);
        struct hr_http_result r = hr_http_parse_request(buf, c->len, NULL, req);
        if (r.status != HR_HTTP_OK)
            fail_msg("case %zu \"%s\": status %d error %d", i, c->in, (int)r.status, (int)r.error);
        size_t head = c->head ? c->head : c->len;
        assert_int_equal(r.consumed, head);
        assert_int_equal(r.need, head + (c->body == HR_HTTP_BODY_LENGTH ? c->cl : 0));
        check_vcase(c, req);
        free(buf);
    }
    free(req);
}

/* P4 for every valid request: split at every byte boundary. */
static void test_valid_split_every_boundary(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(valid_cases); i++)
        assert_split_invariant(valid_cases[i].in, valid_cases[i].len, NULL);
}

static void test_header_values(void **state)
{
    (void)state;
    static const char in[] = "TRACE / HTTP/1.1\r\nHost: h\r\nX-A: \t a b \t\r\nX-E:\r\nX-F: \r\n"
                             "x-a: second\r\nX-O: caf\xc3\xa9\r\n\r\n";
    char *buf = dup_exact(in, sizeof in - 1);
    struct hr_http_request *req = malloc(sizeof *req);
    assert_non_null(req);
    struct hr_http_result r = hr_http_parse_request(buf, sizeof in - 1, NULL, req);
    assert_int_equal(r.status, HR_HTTP_OK);
    assert_slice_eq(hr_http_header_get(req, "x-a"), "a b"); /* first of two */
    assert_slice_eq(hr_http_header_get(req, "X-A"), "a b");
    assert_slice_eq(hr_http_header_get(req, "X-E"), "");
    assert_slice_eq(hr_http_header_get(req, "x-f"), "");
    assert_slice_eq(hr_http_header_get(req, "X-O"), "caf\xc3\xa9");
    assert_slice_eq(hr_http_header_get(req, "HOST"), "h");
    assert_slice_eq(hr_http_header_get(req, "X-Missing"), NULL);
    assert_slice_eq(hr_http_header_get(req, "X-"), NULL);
    assert_slice_eq(req->headers[1].name, "X-A");
    assert_slice_eq(req->headers[4].name, "x-a");
    assert_slice_eq(req->headers[4].value, "second");
    free(req);
    free(buf);
}

/* ---- malformed requests ------------------------------------------------------------- */

struct ecase {
    const char *in;
    size_t len;
    enum hr_http_error err;
    int status;
    struct hr_http_limits lim;
};

#define RL "GET / HTTP/1.1\r\n"
#define PL "POST /p HTTP/1.1\r\nHost: h\r\n"

static const struct ecase error_cases[] = {
    /* request line */
    {IN("G@T / HTTP/1.1\r\n" H "\r\n"), HR_HTTP_EBAD_METHOD, 400},
    {IN("GET\t/ HTTP/1.1\r\n" H "\r\n"), HR_HTTP_EBAD_METHOD, 400},
    {IN("(GET) / HTTP/1.1\r\n" H "\r\n"), HR_HTTP_EBAD_METHOD, 400},
    {IN("G\xc3\x89T / HTTP/1.1\r\n" H "\r\n"), HR_HTTP_EBAD_METHOD, 400},
    {IN(" GET / HTTP/1.1\r\n" H "\r\n"), HR_HTTP_EBAD_REQUEST_LINE, 400},
    {IN("GET  / HTTP/1.1\r\n" H "\r\n"), HR_HTTP_EBAD_REQUEST_LINE, 400},
    {IN("GET\r\n"), HR_HTTP_EBAD_REQUEST_LINE, 400},
    {IN("\n"), HR_HTTP_EBAD_REQUEST_LINE, 400},
    {IN("\r\r"), HR_HTTP_EBAD_REQUEST_LINE, 400},
    {IN("GET /\r\n\r\n"), HR_HTTP_EBAD_REQUEST_LINE, 400},
    {IN("GET / \r\n\r\n"), HR_HTTP_EBAD_VERSION, 400},
    {IN("GET / HTTP/1.1 \r\n" H "\r\n"), HR_HTTP_EBAD_VERSION, 400},
    {IN("GET / http/1.1\r\n" H "\r\n"), HR_HTTP_EBAD_VERSION, 400},
    {IN("GET / HTTP/1.10\r\n" H "\r\n"), HR_HTTP_EBAD_VERSION, 400},
    {IN("GET / HTTP/1\r\n" H "\r\n"), HR_HTTP_EBAD_VERSION, 400},
    {IN("GET / HTTP/2\r\n" H "\r\n"), HR_HTTP_EBAD_VERSION, 400},
    {IN("GET / HTTP/1.x\r\n" H "\r\n"), HR_HTTP_EBAD_VERSION, 400},
    {IN("GET / HTTP/1.1\n" H "\r\n"), HR_HTTP_EBAD_REQUEST_LINE, 400},
    {IN("GET / HTTP/1.1\rX" H "\r\n"), HR_HTTP_EBAD_REQUEST_LINE, 400},
    {IN("GET / HTTP/2.0\r\n" H "\r\n"), HR_HTTP_EVERSION, 505},
    {IN("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), HR_HTTP_EVERSION, 505},
    {IN("GET / HTTP/3.0\r\n" H "\r\n"), HR_HTTP_EVERSION, 505},
    {IN("GET / HTTP/0.9\r\n" H "\r\n"), HR_HTTP_EVERSION, 505},
    {IN("GET /a#b HTTP/1.1\r\n" H "\r\n"), HR_HTTP_EBAD_TARGET, 400},
    {IN("GET /a\x01 HTTP/1.1\r\n" H "\r\n"), HR_HTTP_EBAD_TARGET, 400},
    {IN("GET /\x7f HTTP/1.1\r\n" H "\r\n"), HR_HTTP_EBAD_TARGET, 400},
    {IN("GET /caf\xc3\xa9 HTTP/1.1\r\n" H "\r\n"), HR_HTTP_EBAD_TARGET, 400},
    {IN("GET /a\tb HTTP/1.1\r\n" H "\r\n"), HR_HTTP_EBAD_TARGET, 400},
    {IN("GET a/b HTTP/1.1\r\n" H "\r\n"), HR_HTTP_EBAD_TARGET, 400},
    {IN("GET http:/x HTTP/1.1\r\n" H "\r\n"), HR_HTTP_EBAD_TARGET, 400},
    {IN("GET http:///x HTTP/1.1\r\n" H "\r\n"), HR_HTTP_EBAD_TARGET, 400},
    {IN("GET 1http://h/ HTTP/1.1\r\n" H "\r\n"), HR_HTTP_EBAD_TARGET, 400},
    {IN("CONNECT /x HTTP/1.1\r\n" H "\r\n"), HR_HTTP_EBAD_TARGET, 400},
    {IN("CONNECT host HTTP/1.1\r\n" H "\r\n"), HR_HTTP_EBAD_TARGET, 400},
    {IN("CONNECT host: HTTP/1.1\r\n" H "\r\n"), HR_HTTP_EBAD_TARGET, 400},
    {IN("CONNECT :443 HTTP/1.1\r\n" H "\r\n"), HR_HTTP_EBAD_TARGET, 400},
    {IN("CONNECT h:44x HTTP/1.1\r\n" H "\r\n"), HR_HTTP_EBAD_TARGET, 400},
    /* field lines */
    {IN(RL "Host : h\r\n\r\n"), HR_HTTP_EHEADER_NAME_SPACE, 400},
    {IN(RL "Host\t: h\r\n\r\n"), HR_HTTP_EHEADER_NAME_SPACE, 400},
    {IN(RL H "X Y: z\r\n\r\n"), HR_HTTP_EHEADER_NAME_SPACE, 400},
    {IN(RL "Content-Length : 5\r\n" H "\r\n"), HR_HTTP_EHEADER_NAME_SPACE, 400},
    {IN(RL " Host: h\r\n\r\n"), HR_HTTP_EOBS_FOLD, 400},
    {IN(RL H "X-A: a\r\n b\r\n\r\n"), HR_HTTP_EOBS_FOLD, 400},
    {IN(RL H "X-A: a\r\n\tb\r\n\r\n"), HR_HTTP_EOBS_FOLD, 400},
    {IN(RL H "X(y): a\r\n\r\n"), HR_HTTP_EBAD_HEADER, 400},
    {IN(RL H ": a\r\n\r\n"), HR_HTTP_EBAD_HEADER, 400},
    {IN(RL H "NoColon\r\n\r\n"), HR_HTTP_EBAD_HEADER, 400},
    {IN(RL H "X-A: a\nX-B: b\r\n\r\n"), HR_HTTP_EBAD_HEADER, 400},
    {IN(RL H "X-A: a\rX-B: b\r\n\r\n"), HR_HTTP_EBAD_HEADER, 400},
    {IN(RL "Host: h\n\n"), HR_HTTP_EBAD_HEADER, 400},
    {IN(RL H "\n"), HR_HTTP_EBAD_HEADER, 400},
    {IN(RL H "\rX"), HR_HTTP_EBAD_HEADER, 400},
    {IN(RL H "X-A: a\0b\r\n\r\n"), HR_HTTP_EBAD_HEADER, 400},
    {IN(RL H "X-A: a\x7f\r\n\r\n"), HR_HTTP_EBAD_HEADER, 400},
    {IN(RL H "X-A: a\x1b[0m\r\n\r\n"), HR_HTTP_EBAD_HEADER, 400},
    {IN(RL H "X\xc3\xa9: a\r\n\r\n"), HR_HTTP_EBAD_HEADER, 400},
    /* Host */
    {IN(RL "\r\n"), HR_HTTP_EBAD_HOST, 400},
    {IN(RL "X: y\r\n\r\n"), HR_HTTP_EBAD_HOST, 400},
    {IN(RL "Host: a\r\nhost: a\r\n\r\n"), HR_HTTP_EBAD_HOST, 400},
    {IN(RL "Host: a b\r\n\r\n"), HR_HTTP_EBAD_HOST, 400},
    {IN(RL "Host: a/b\r\n\r\n"), HR_HTTP_EBAD_HOST, 400},
    {IN(RL "Host: user@h\r\n\r\n"), HR_HTTP_EBAD_HOST, 400},
    {IN("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), HR_HTTP_EBAD_HOST, 400},
    /* Content-Length */
    {IN(PL "Content-Length: +5\r\n\r\n"), HR_HTTP_EBAD_CONTENT_LENGTH, 400},
    {IN(PL "Content-Length: -1\r\n\r\n"), HR_HTTP_EBAD_CONTENT_LENGTH, 400},
    {IN(PL "Content-Length:  5 5\r\n\r\n"), HR_HTTP_EBAD_CONTENT_LENGTH, 400},
    {IN(PL "Content-Length: 5, 5\r\n\r\n"), HR_HTTP_EBAD_CONTENT_LENGTH, 400},
    {IN(PL "Content-Length: 5,5\r\n\r\n"), HR_HTTP_EBAD_CONTENT_LENGTH, 400},
    {IN(PL "Content-Length:\r\n\r\n"), HR_HTTP_EBAD_CONTENT_LENGTH, 400},
    {IN(PL "Content-Length: 0x5\r\n\r\n"), HR_HTTP_EBAD_CONTENT_LENGTH, 400},
    {IN(PL "Content-Length: 5.0\r\n\r\n"), HR_HTTP_EBAD_CONTENT_LENGTH, 400},
    {IN(PL "Content-Length: 18446744073709551616\r\n\r\n"), HR_HTTP_EBAD_CONTENT_LENGTH, 400},
    {IN(PL "Content-Length: 99999999999999999999999\r\n\r\n"), HR_HTTP_EBAD_CONTENT_LENGTH, 400},
    {IN(PL "Content-Length: 5\r\nContent-Length: 6\r\n\r\n"), HR_HTTP_EBAD_CONTENT_LENGTH, 400},
    {IN(PL "Content-Length: 5\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n"),
     HR_HTTP_EBAD_CONTENT_LENGTH, 400},
    {IN(PL "Content-Length: 1048577\r\n\r\n"), HR_HTTP_EBODY_TOO_LARGE, 413},
    {IN(PL "Content-Length: 18446744073709551615\r\n\r\n"), HR_HTTP_EBODY_TOO_LARGE, 413},
    {IN(PL "Content-Length: 11\r\n\r\n"), HR_HTTP_EBODY_TOO_LARGE, 413, {.max_body_bytes = 10}},
    /* smuggling: CL + TE, TE codings */
    {IN(PL "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"), HR_HTTP_ECL_AND_TE, 400},
    {IN(PL "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"), HR_HTTP_ECL_AND_TE, 400},
    {IN(PL "Transfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n"), HR_HTTP_ECL_AND_TE, 400},
    {IN(PL "Transfer-Encoding: chunked, gzip\r\n\r\n"), HR_HTTP_ETE_NOT_CHUNKED, 501},
    {IN(PL "Transfer-Encoding: gzip\r\n\r\n"), HR_HTTP_ETE_NOT_CHUNKED, 501},
    {IN(PL "Transfer-Encoding: identity\r\n\r\n"), HR_HTTP_ETE_NOT_CHUNKED, 501},
    {IN(PL "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n\r\n"),
     HR_HTTP_ETE_NOT_CHUNKED, 501},
    {IN(PL "Transfer-Encoding: chunked, chunked\r\n\r\n"), HR_HTTP_EBAD_TRANSFER_ENCODING, 400},
    {IN(PL "Transfer-Encoding: chunked, gzip, chunked\r\n\r\n"), HR_HTTP_EBAD_TRANSFER_ENCODING,
     400},
    {IN(PL "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"),
     HR_HTTP_EBAD_TRANSFER_ENCODING, 400},
    {IN(PL "Transfer-Encoding:\r\n\r\n"), HR_HTTP_EBAD_TRANSFER_ENCODING, 400},
    {IN(PL "Transfer-Encoding: , ,\r\n\r\n"), HR_HTTP_EBAD_TRANSFER_ENCODING, 400},
    {IN(PL "Transfer-Encoding: chunked;q=1\r\n\r\n"), HR_HTTP_EBAD_TRANSFER_ENCODING, 400},
    {IN(PL "Transfer-Encoding: \"chunked\"\r\n\r\n"), HR_HTTP_EBAD_TRANSFER_ENCODING, 400},
    {IN(PL "Transfer-Encoding: chun ked\r\n\r\n"), HR_HTTP_EBAD_TRANSFER_ENCODING, 400},
    {IN("POST /p HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"), HR_HTTP_EBAD_TRANSFER_ENCODING,
     400},
    /* limits */
    {IN("GET /0123456789 HTTP/1.1\r\n" H "\r\n"),
     HR_HTTP_EURI_TOO_LONG,
     414,
     {.max_request_line = 23}},
    {IN("GET /0123456789"), HR_HTTP_EURI_TOO_LONG, 414, {.max_request_line = 12}},
    {IN("GETTTTTTTTTTTTTT"), HR_HTTP_EURI_TOO_LONG, 414, {.max_request_line = 12}},
    {IN("\r\n\r\n\r\nGET / HTTP/1.1\r\n" H "\r\n"),
     HR_HTTP_EBAD_REQUEST_LINE,
     400,
     {.max_request_line = 5}},
    {IN(RL H "A: 1\r\nB: 2\r\n\r\n"), HR_HTTP_ETOO_MANY_HEADERS, 431, {.max_headers = 2}},
    {IN(RL H "X-Long: 0123456789012345678901234567890123456789\r\n\r\n"),
     HR_HTTP_EHEADERS_TOO_LARGE,
     431,
     {.max_header_bytes = 32}},
    {IN(RL H "A: 1\r\n\r\n"), HR_HTTP_EHEADERS_TOO_LARGE, 431, {.max_header_bytes = 16}},
};

static void test_malformed(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(error_cases); i++) {
        const struct ecase *c = &error_cases[i];
        struct hr_http_result r = parse_copy(c->in, c->len, &c->lim, NULL);
        if (r.status != HR_HTTP_ERROR || r.error != c->err)
            fail_msg("case %zu \"%s\": status %d error %d (%s), want error %d (%s)", i, c->in,
                     (int)r.status, (int)r.error, hr_http_error_text(r.error), (int)c->err,
                     hr_http_error_text(c->err));
        assert_int_equal(hr_http_error_status(r.error), c->status);
        assert_split_invariant(c->in, c->len, &c->lim);
    }
}

/* P3: an error in the first bytes is reported at once, not when the line ends. */
static void test_fails_early(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        enum hr_http_error err;
        struct hr_http_limits lim;
    } cases[] = {
        {"G@", HR_HTTP_EBAD_METHOD, {0}},
        {"GET /\x01", HR_HTTP_EBAD_TARGET, {0}},
        {"GET / HTTP/2", HR_HTTP_EBAD_VERSION, {0}}, /* "HTTP/2" then not '.' yet: MORE */
        {"GET / HTTX", HR_HTTP_EBAD_VERSION, {0}},
        {RL "Host : ", HR_HTTP_EHEADER_NAME_SPACE, {0}},
        {RL " ", HR_HTTP_EOBS_FOLD, {0}},
        {"GET /aaaaaaaaaaaaaaaa", HR_HTTP_EURI_TOO_LONG, {.max_request_line = 16}},
        {RL "X: aaaaaaaaaaaaaaaaaaaaaaaaaa", HR_HTTP_EHEADERS_TOO_LARGE, {.max_header_bytes = 16}},
        {RL "A: 1\r\nB", HR_HTTP_ETOO_MANY_HEADERS, {.max_headers = 1}},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        size_t n = strlen(cases[i].in);
        struct hr_http_result r = parse_copy(cases[i].in, n, &cases[i].lim, NULL);
        if (i == 2) {
            assert_int_equal(r.status, HR_HTTP_MORE);
            continue;
        }
        if (r.status != HR_HTTP_ERROR || r.error != cases[i].err)
            fail_msg("case %zu \"%s\": status %d error %d", i, cases[i].in, (int)r.status,
                     (int)r.error);
    }
}

/* Limits are inclusive: exactly at the limit parses, one byte over fails. */
static void test_limits_exact(void **state)
{
    (void)state;
    static const char in[] = "GET /abc HTTP/1.1\r\nHost: h\r\nA: 1\r\n\r\n";
    size_t n = sizeof in - 1;
    struct hr_http_limits lim = {.max_request_line = 17, .max_headers = 2, .max_header_bytes = 17};
    assert_int_equal(parse_copy(in, n, &lim, NULL).status, HR_HTTP_OK);
    assert_split_invariant(in, n, &lim);
    lim.max_request_line = 16;
    assert_int_equal(parse_copy(in, n, &lim, NULL).error, HR_HTTP_EURI_TOO_LONG);
    lim.max_request_line = 17;
    lim.max_headers = 1;
    assert_int_equal(parse_copy(in, n, &lim, NULL).error, HR_HTTP_ETOO_MANY_HEADERS);
    lim.max_headers = 2;
    lim.max_header_bytes = 16;
    assert_int_equal(parse_copy(in, n, &lim, NULL).error, HR_HTTP_EHEADERS_TOO_LARGE);
    lim.max_header_bytes = 17;
    lim.max_headers = 1000; /* clamped to HR_HTTP_MAX_HEADERS */
    assert_int_equal(parse_copy(in, n, &lim, NULL).status, HR_HTTP_OK);

    /* Content-Length exactly at the body limit. */
    static const char post[] = PL "Content-Length: 10\r\n\r\n";
    struct hr_http_limits body = {.max_body_bytes = 10};
    assert_int_equal(parse_copy(post, sizeof post - 1, &body, NULL).status, HR_HTTP_OK);

    /* The default and the array capacity: HR_HTTP_MAX_HEADERS fields parse, one more fails. */
    size_t cap = 64 + (HR_HTTP_MAX_HEADERS + 1) * 8;
    char *big = malloc(cap);
    assert_non_null(big);
    size_t len = (size_t)snprintf(big, cap, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int k = 1; k < HR_HTTP_MAX_HEADERS; k++)
        len += (size_t)snprintf(big + len, cap - len, "X%02d: v\r\n", k % 100);
    memcpy(big + len, "\r\n", 2);
    assert_int_equal(parse_copy(big, len + 2, NULL, NULL).status, HR_HTTP_OK);
    memcpy(big + len, "Y: v\r\n\r\n", 8);
    assert_int_equal(parse_copy(big, len + 8, NULL, NULL).error, HR_HTTP_ETOO_MANY_HEADERS);
    free(big);
}

static void test_error_map(void **state)
{
    (void)state;
    assert_int_equal(hr_http_error_status(HR_HTTP_EVERSION), 505);
    assert_int_equal(hr_http_error_status(HR_HTTP_EURI_TOO_LONG), 414);
    assert_int_equal(hr_http_error_status(HR_HTTP_EHEADERS_TOO_LARGE), 431);
    assert_int_equal(hr_http_error_status(HR_HTTP_ETOO_MANY_HEADERS), 431);
    assert_int_equal(hr_http_error_status(HR_HTTP_EBODY_TOO_LARGE), 413);
    assert_int_equal(hr_http_error_status(HR_HTTP_ETE_NOT_CHUNKED), 501);
    assert_int_equal(hr_http_error_status(HR_HTTP_ECL_AND_TE), 400);
    for (int e = HR_HTTP_ENONE; e <= HR_HTTP_ENO_SPACE + 1; e++) {
        assert_non_null(hr_http_error_text((enum hr_http_error)e));
        assert_non_null(hr_http_reason(hr_http_error_status((enum hr_http_error)e)));
    }
}

static void test_head_end(void **state)
{
    (void)state;
    static const char in[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\nBODY";
    size_t n = sizeof in - 1;
    assert_int_equal(hr_http_head_end(in, n, 0), n - 4);
    for (size_t k = 0; k < n - 4; k++)
        assert_int_equal(hr_http_head_end(in, k, 0), 0);
    /* Resuming after any earlier search that came back empty (len <= n - 5) finds it. */
    for (size_t from = 0; from <= n - 5; from++)
        assert_int_equal(hr_http_head_end(in, n, from), n - 4);
    assert_int_equal(hr_http_head_end("\r\n\r", 3, 0), 0);
    assert_int_equal(hr_http_head_end("", 0, 0), 0);
    assert_int_equal(hr_http_head_end("\r\r\n\r\n", 5, 0), 5);
}

/* ---- chunked bodies ----------------------------------------------------------------- */

struct chunk_run {
    enum hr_http_status status;
    enum hr_http_error error;
    size_t end; /* stream offset where the body ended (OK) */
    uint64_t total;
    size_t data_len;
    char data[4096];
};

/* Feeds s[0..n) with bytes arriving at cuts[0..ncuts) (ascending), as a head would: each
 * call sees an exact-size copy of the unconsumed bytes that have arrived. */
static void chunk_feed(const char *s, size_t n, const size_t *cuts, size_t ncuts,
                       const struct hr_http_limits *lim, struct chunk_run *out)
{
    struct hr_http_chunk_state st;
    hr_http_chunk_init(&st, lim);
    memset(out, 0, sizeof *out);
    size_t pos = 0, ci = 0, avail = ncuts ? cuts[ci++] : n;
    uint64_t last_total = 0;
    for (;;) {
        size_t len = avail - pos;
        char *buf = dup_exact(s + pos, len);
        struct hr_slice d;
        struct hr_http_chunk_result r = hr_http_parse_chunk(buf, len, &st, &d);
        assert_true(r.consumed <= len);
        assert_true(r.total >= last_total);
        last_total = r.total;
        if (d.len) {
            assert_true(d.ptr >= buf && (size_t)(d.ptr - buf) + d.len <= r.consumed);
            assert_true(out->data_len + d.len <= sizeof out->data);
            memcpy(out->data + out->data_len, d.ptr, d.len);
            out->data_len += d.len;
        } else {
            assert_null(d.ptr);
        }
        free(buf);
        pos += r.consumed;
        if (r.status == HR_HTTP_MORE && pos == avail && avail < n) {
            avail = ci < ncuts ? cuts[ci++] : n;
            continue;
        }
        if (r.status == HR_HTTP_MORE && pos < avail)
            continue;
        if (r.status == HR_HTTP_MORE)
            assert_true(pos == n);
        out->status = r.status;
        out->error = r.error;
        out->end = pos;
        out->total = r.total;
        if (r.status == HR_HTTP_OK)
            assert_int_equal(r.total, out->data_len);
        return;
    }
}

static void assert_runs_equal(const struct chunk_run *a, const struct chunk_run *b)
{
    assert_int_equal(a->status, b->status);
    assert_int_equal(a->error, b->error);
    if (a->status != HR_HTTP_ERROR)
        assert_int_equal(a->end, b->end);
    assert_int_equal(a->total, b->total);
    assert_int_equal(a->data_len, b->data_len);
    assert_memory_equal(a->data, b->data, a->data_len);
}

/* C4: split at every boundary, at every pair of boundaries (short inputs), and byte by
 * byte — always the same data, total and outcome as in one piece. */
static void assert_chunk_splits(const char *s, size_t n, const struct hr_http_limits *lim,
                                const struct chunk_run *whole)
{
    struct chunk_run *part = malloc(sizeof *part);
    assert_non_null(part);
    size_t cuts[2];
    for (size_t k = 0; k <= n; k++) {
        cuts[0] = k;
        chunk_feed(s, n, cuts, 1, lim, part);
        assert_runs_equal(whole, part);
        if (n <= 48)
            for (size_t k2 = k; k2 <= n; k2++) {
                cuts[1] = k2;
                chunk_feed(s, n, cuts, 2, lim, part);
                assert_runs_equal(whole, part);
            }
    }
    size_t *every = malloc((n + 1) * sizeof *every);
    assert_non_null(every);
    for (size_t k = 0; k <= n; k++)
        every[k] = k;
    chunk_feed(s, n, every, n + 1, lim, part);
    assert_runs_equal(whole, part);
    free(every);
    free(part);
}

struct ccase {
    const char *in;
    size_t len;
    enum hr_http_status status;
    enum hr_http_error err;
    const char *data;
    size_t end; /* 0 = len */
    uint64_t total;
    struct hr_http_limits lim;
};

static const struct ccase chunk_cases[] = {
    {IN("5\r\nhello\r\n0\r\n\r\n"), HR_HTTP_OK, 0, "hello", 0, 5},
    {IN("0\r\n\r\n"), HR_HTTP_OK, 0, "", 0, 0},
    {IN("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), HR_HTTP_OK, 0, "hello world", 0, 11},
    {IN("a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n"), HR_HTTP_OK, 0, "0123456789abcdefghij",
     0, 20},
    {IN("0000000003\r\nabc\r\n000\r\n\r\n"), HR_HTTP_OK, 0, "abc", 0, 3},
    {IN("3\r\na\r\n\r\n0\r\n\r\n"), HR_HTTP_OK, 0, "a\r\n", 0, 3},
    {IN("5;name=value\r\nhello\r\n0\r\n\r\n"), HR_HTTP_OK, 0, "hello", 0, 5},
    {IN("5 ; a=b;c\r\nhello\r\n0;last\r\n\r\n"), HR_HTTP_OK, 0, "hello", 0, 5},
    {IN("5\t;a=\"q;x\\\"\"\r\nhello\r\n0\r\n\r\n"), HR_HTTP_OK, 0, "hello", 0, 5},
    {IN("5\r\nhello\r\n0\r\nX-Checksum: abc\r\nY:\r\n\r\n"), HR_HTTP_OK, 0, "hello", 0, 5},
    {IN("5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n"), HR_HTTP_OK, 0, "hello", 15, 5},
    {IN("2\r\nhi\r\n"), HR_HTTP_MORE, 0, "hi", 0, 2},
    {IN("400\r\n"), HR_HTTP_MORE, 0, "", 0, 1024},
    {IN("FFFFFFFFFFFFFFFF\r\nab"), HR_HTTP_MORE, 0, "ab", 0, UINT64_MAX},
    /* errors */
    {IN("g\r\n"), HR_HTTP_ERROR, HR_HTTP_EBAD_CHUNK_SIZE, "", 0, 0},
    {IN("\r\n"), HR_HTTP_ERROR, HR_HTTP_EBAD_CHUNK_SIZE, "", 0, 0},
    {IN(";x\r\n"), HR_HTTP_ERROR, HR_HTTP_EBAD_CHUNK_SIZE, "", 0, 0},
    {IN("5x\r\nhello\r\n"), HR_HTTP_ERROR, HR_HTTP_EBAD_CHUNK_SIZE, "", 0, 0},
    {IN("0x5\r\nhello\r\n"), HR_HTTP_ERROR, HR_HTTP_EBAD_CHUNK_SIZE, "", 0, 0},
    {IN("-5\r\n"), HR_HTTP_ERROR, HR_HTTP_EBAD_CHUNK_SIZE, "", 0, 0},
    {IN("+5\r\n"), HR_HTTP_ERROR, HR_HTTP_EBAD_CHUNK_SIZE, "", 0, 0},
    {IN(" 5\r\n"), HR_HTTP_ERROR, HR_HTTP_EBAD_CHUNK_SIZE, "", 0, 0},
    {IN("5 \r\nhello\r\n"), HR_HTTP_ERROR, HR_HTTP_EBAD_CHUNK_SIZE, "", 0, 0},
    {IN("5 5\r\nhello\r\n"), HR_HTTP_ERROR, HR_HTTP_EBAD_CHUNK_SIZE, "", 0, 0},
    {IN("5\nhello\r\n"), HR_HTTP_ERROR, HR_HTTP_EBAD_CHUNK_SIZE, "", 0, 0},
    {IN("5\rhello\r\n"), HR_HTTP_ERROR, HR_HTTP_EBAD_CHUNK_SIZE, "", 0, 0},
    {IN("5;\x01\r\nhello\r\n"), HR_HTTP_ERROR, HR_HTTP_EBAD_CHUNK_SIZE, "", 0, 0},
    {IN("5;a\nb\r\nhello\r\n"), HR_HTTP_ERROR, HR_HTTP_EBAD_CHUNK_SIZE, "", 0, 0},
    {IN("5\r\nhelloX\r\n0\r\n\r\n"), HR_HTTP_ERROR, HR_HTTP_EBAD_CHUNK_END, "hello", 0, 5},
    {IN("5\r\nhello\rX0\r\n\r\n"), HR_HTTP_ERROR, HR_HTTP_EBAD_CHUNK_END, "hello", 0, 5},
    {IN("5\r\nhello\n0\r\n\r\n"), HR_HTTP_ERROR, HR_HTTP_EBAD_CHUNK_END, "hello", 0, 5},
    {IN("5\r\nhello0\r\n\r\n"), HR_HTTP_ERROR, HR_HTTP_EBAD_CHUNK_END, "hello", 0, 5},
    {IN("5\r\nhello world\r\n0\r\n\r\n"), HR_HTTP_ERROR, HR_HTTP_EBAD_CHUNK_END, "hello", 0, 5},
    {IN("5;aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n"),
     HR_HTTP_ERROR,
     HR_HTTP_ECHUNK_LINE_TOO_LONG,
     "",
     0,
     0,
     {.max_chunk_line = 16}},
    {IN("00000000000000000000000000000005\r\n"),
     HR_HTTP_ERROR,
     HR_HTTP_ECHUNK_LINE_TOO_LONG,
     "",
     0,
     0,
     {.max_chunk_line = 16}},
    {IN("5;aaaaaaaaaa\r\nhello\r\n0\r\n\r\n"),
     HR_HTTP_OK,
     0,
     "hello",
     0,
     5,
     {.max_chunk_line = 12}}, /* exactly at the limit */
    {IN("5;aaaaaaaaaaa\r\nhello\r\n0\r\n\r\n"),
     HR_HTTP_ERROR,
     HR_HTTP_ECHUNK_LINE_TOO_LONG,
     "",
     0,
     0,
     {.max_chunk_line = 12}},
    {IN("10000000000000000\r\n"), HR_HTTP_ERROR, HR_HTTP_ECHUNK_SIZE_OVERFLOW, "", 0, 0},
    {IN("FFFFFFFFFFFFFFFFF\r\n"), HR_HTTP_ERROR, HR_HTTP_ECHUNK_SIZE_OVERFLOW, "", 0, 0},
    {IN("1\r\na\r\nFFFFFFFFFFFFFFFF\r\n"), HR_HTTP_ERROR, HR_HTTP_ECHUNK_SIZE_OVERFLOW, "a", 0, 1},
    {IN("0\r\n X: y\r\n\r\n"), HR_HTTP_ERROR, HR_HTTP_EBAD_TRAILER, "", 0, 0},
    {IN("0\r\nX y: z\r\n\r\n"), HR_HTTP_ERROR, HR_HTTP_EBAD_TRAILER, "", 0, 0},
    {IN("0\r\nNoColon\r\n\r\n"), HR_HTTP_ERROR, HR_HTTP_EBAD_TRAILER, "", 0, 0},
    {IN("0\r\nX: a\nb\r\n\r\n"), HR_HTTP_ERROR, HR_HTTP_EBAD_TRAILER, "", 0, 0},
    {IN("0\r\nX: a\x00\r\n\r\n"), HR_HTTP_ERROR, HR_HTTP_EBAD_TRAILER, "", 0, 0},
    {IN("0\r\nX: a\r\rn"), HR_HTTP_ERROR, HR_HTTP_EBAD_TRAILER, "", 0, 0},
    {IN("0\r\n\r\r"), HR_HTTP_ERROR, HR_HTTP_EBAD_TRAILER, "", 0, 0},
    {IN("0\r\n\n"), HR_HTTP_ERROR, HR_HTTP_EBAD_TRAILER, "", 0, 0},
    {IN("0\r\nX: 0123456789\r\n\r\n"),
     HR_HTTP_ERROR,
     HR_HTTP_ETRAILER_TOO_LARGE,
     "",
     0,
     0,
     {.max_trailer_bytes = 16}},
    {IN("0\r\nX: 0123456789\r\n\r\n"),
     HR_HTTP_OK,
     0,
     "",
     0,
     0,
     {.max_trailer_bytes = 17}}, /* exactly at the limit */
};

static void test_chunked(void **state)
{
    (void)state;
    struct chunk_run *whole = malloc(sizeof *whole);
    assert_non_null(whole);
    for (size_t i = 0; i < N_ELEMS(chunk_cases); i++) {
        const struct ccase *c = &chunk_cases[i];
        chunk_feed(c->in, c->len, NULL, 0, &c->lim, whole);
        if (whole->status != c->status || whole->error != c->err)
            fail_msg("case %zu \"%s\": status %d error %d (%s), want %d/%d", i, c->in,
                     (int)whole->status, (int)whole->error, hr_http_error_text(whole->error),
                     (int)c->status, (int)c->err);
        if (c->err)
            assert_int_equal(hr_http_error_status(c->err),
                             c->err == HR_HTTP_ETRAILER_TOO_LARGE ? 431 : 400);
        assert_int_equal(whole->data_len, strlen(c->data));
        assert_memory_equal(whole->data, c->data, whole->data_len);
        assert_int_equal(whole->total, c->total);
        if (c->status == HR_HTTP_OK)
            assert_int_equal(whole->end, c->end ? c->end : c->len);
        assert_chunk_splits(c->in, c->len, &c->lim, whole);
    }
    free(whole);
}

/* C2: the total grows at each size line, before the data, and the caller can stop there. */
static void test_chunk_total_before_data(void **state)
{
    (void)state;
    struct hr_http_chunk_state st;
    hr_http_chunk_init(&st, NULL);
    struct hr_slice d;
    static const char a[] = "100000\r\n";
    struct hr_http_chunk_result r = hr_http_parse_chunk(a, sizeof a - 1, &st, &d);
    assert_int_equal(r.status, HR_HTTP_MORE);
    assert_int_equal(r.consumed, sizeof a - 1);
    assert_int_equal(r.total, 0x100000);
    assert_int_equal(d.len, 0);
    /* Data comes in pieces as it arrives; total does not move. */
    r = hr_http_parse_chunk("xyz", 3, &st, &d);
    assert_int_equal(r.status, HR_HTTP_MORE);
    assert_int_equal(r.consumed, 3);
    assert_int_equal(d.len, 3);
    assert_int_equal(r.total, 0x100000);
}

/* C1: after OK every call says OK with nothing consumed; after ERROR, the same error. */
static void test_chunk_sticky_end(void **state)
{
    (void)state;
    struct hr_http_chunk_state st;
    struct hr_slice d;
    hr_http_chunk_init(&st, NULL);
    static const char ok[] = "1\r\na\r\n0\r\n\r\n";
    size_t pos = 0;
    struct hr_http_chunk_result r;
    do {
        r = hr_http_parse_chunk(ok + pos, sizeof ok - 1 - pos, &st, &d);
        pos += r.consumed;
    } while (r.status == HR_HTTP_MORE && pos < sizeof ok - 1);
    assert_int_equal(r.status, HR_HTTP_OK);
    r = hr_http_parse_chunk("5\r\n", 3, &st, &d);
    assert_int_equal(r.status, HR_HTTP_OK);
    assert_int_equal(r.consumed, 0);
    assert_int_equal(r.total, 1);

    hr_http_chunk_init(&st, NULL);
    r = hr_http_parse_chunk("z", 1, &st, &d);
    assert_int_equal(r.error, HR_HTTP_EBAD_CHUNK_SIZE);
    r = hr_http_parse_chunk("5\r\n", 3, &st, &d);
    assert_int_equal(r.status, HR_HTTP_ERROR);
    assert_int_equal(r.error, HR_HTTP_EBAD_CHUNK_SIZE);
    r = hr_http_parse_chunk(NULL, 0, &st, &d);
    assert_int_equal(r.error, HR_HTTP_EBAD_CHUNK_SIZE);
}

/* A request head then its chunked body, pipelined with the next request. */
static void test_request_then_chunked_body(void **state)
{
    (void)state;
    static const char in[] = "POST /s HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "4\r\nWiki\r\n5\r\npedia\r\n0\r\n\r\n"
                             "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    size_t n = sizeof in - 1;
    char *buf = dup_exact(in, n);
    struct hr_http_request *req = malloc(sizeof *req);
    assert_non_null(req);
    struct hr_http_result r = hr_http_parse_request(buf, n, NULL, req);
    assert_int_equal(r.status, HR_HTTP_OK);
    assert_int_equal(req->body, HR_HTTP_BODY_CHUNKED);
    size_t pos = r.consumed;
    struct hr_http_chunk_state st;
    hr_http_chunk_init(&st, NULL);
    char body[16];
    size_t blen = 0;
    struct hr_http_chunk_result c;
    do {
        struct hr_slice d;
        c = hr_http_parse_chunk(buf + pos, n - pos, &st, &d);
        assert_int_not_equal(c.status, HR_HTTP_ERROR);
        assert_true(blen + d.len <= sizeof body);
        memcpy(body + blen, d.ptr ? d.ptr : "", d.len);
        blen += d.len;
        pos += c.consumed;
    } while (c.status == HR_HTTP_MORE);
    assert_int_equal(blen, 9);
    assert_memory_equal(body, "Wikipedia", 9);
    r = hr_http_parse_request(buf + pos, n - pos, NULL, req);
    assert_int_equal(r.status, HR_HTTP_OK);
    assert_int_equal(pos + r.consumed, n);
    assert_slice_eq(req->path, "/");
    free(req);
    free(buf);
}

/* ---- URL helpers -------------------------------------------------------------------- */

static void test_url_decode(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        unsigned flags;
        enum hr_http_error err;
        const char *out;
        size_t out_len;
    } cases[] = {
        {"", 0, HR_HTTP_ENONE, "", 0},
        {"plain", 0, HR_HTTP_ENONE, "plain", 5},
        {"a%20b", 0, HR_HTTP_ENONE, "a b", 3},
        {"a+b", 0, HR_HTTP_ENONE, "a+b", 3},
        {"a+b", HR_HTTP_DECODE_PLUS, HR_HTTP_ENONE, "a b", 3},
        {"a%2Bb", HR_HTTP_DECODE_PLUS, HR_HTTP_ENONE, "a+b", 3},
        {"%2F%2f", 0, HR_HTTP_ENONE, "//", 2},
        {"caf%c3%A9", 0, HR_HTTP_ENONE, "caf\xc3\xa9", 5},
        {"%25", 0, HR_HTTP_ENONE, "%", 1},
        {"%252F", 0, HR_HTTP_ENONE, "%2F", 3},
        {"%ff", 0, HR_HTTP_ENONE, "\xff", 1},
        {"%00", HR_HTTP_DECODE_ALLOW_NUL, HR_HTTP_ENONE, "\0", 1},
        {"%00", 0, HR_HTTP_EBAD_ESCAPE, NULL, 0},
        {"%", 0, HR_HTTP_EBAD_ESCAPE, NULL, 0},
        {"a%2", 0, HR_HTTP_EBAD_ESCAPE, NULL, 0},
        {"%zz", 0, HR_HTTP_EBAD_ESCAPE, NULL, 0},
        {"%2z", 0, HR_HTTP_EBAD_ESCAPE, NULL, 0},
        {"%+1", 0, HR_HTTP_EBAD_ESCAPE, NULL, 0},
        {"% 1", 0, HR_HTTP_EBAD_ESCAPE, NULL, 0},
    };
    char out[32];
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        size_t n = 99;
        char *src = dup_exact(cases[i].in, strlen(cases[i].in));
        enum hr_http_error e = hr_http_url_decode((struct hr_slice){src, strlen(cases[i].in)}, out,
                                                  sizeof out, cases[i].flags, &n);
        if (e != cases[i].err)
            fail_msg("case %zu \"%s\": error %d, want %d", i, cases[i].in, (int)e,
                     (int)cases[i].err);
        if (e == HR_HTTP_ENONE) {
            assert_int_equal(n, cases[i].out_len);
            assert_memory_equal(out, cases[i].out, n);
        }
        free(src);
    }

    /* Bounds: exactly enough room works; one byte less is ENO_SPACE with a prefix. */
    size_t n;
    assert_int_equal(hr_http_url_decode(S("a%20bc"), out, 4, 0, &n), HR_HTTP_ENONE);
    assert_int_equal(n, 4);
    assert_int_equal(hr_http_url_decode(S("a%20bc"), out, 3, 0, &n), HR_HTTP_ENO_SPACE);
    assert_int_equal(n, 3);
    assert_memory_equal(out, "a b", 3);
    assert_int_equal(hr_http_url_decode(S("x"), NULL, 0, 0, &n), HR_HTTP_ENO_SPACE);
    assert_int_equal(hr_http_url_decode(S(""), NULL, 0, 0, &n), HR_HTTP_ENONE);
    assert_int_equal(n, 0);

    /* In place. */
    char inplace[] = "%41+%42%2f";
    assert_int_equal(
        hr_http_url_decode(S(inplace), inplace, sizeof inplace, HR_HTTP_DECODE_PLUS, &n),
        HR_HTTP_ENONE);
    assert_int_equal(n, 4);
    assert_memory_equal(inplace, "A B/", 4);
}

static void test_query(void **state)
{
    (void)state;
    struct hr_slice v;
    struct hr_slice q = S("a=1&b=2&c&d=&e=x=y&a=dup&na%6De=v&sp+ace=s&=noname");
    assert_true(hr_http_query_get(q, "a", &v));
    assert_slice_eq(v, "1");
    assert_true(hr_http_query_get(q, "b", &v));
    assert_slice_eq(v, "2");
    assert_true(hr_http_query_get(q, "c", &v));
    assert_slice_eq(v, "");
    assert_true(hr_http_query_get(q, "d", &v));
    assert_slice_eq(v, "");
    assert_true(hr_http_query_get(q, "e", &v));
    assert_slice_eq(v, "x=y");
    assert_true(hr_http_query_get(q, "name", &v));
    assert_slice_eq(v, "v");
    assert_true(hr_http_query_get(q, "sp ace", &v));
    assert_slice_eq(v, "s");
    assert_true(hr_http_query_get(q, "", &v));
    assert_slice_eq(v, "noname");
    assert_false(hr_http_query_get(q, "z", &v));
    assert_slice_eq(v, NULL);
    assert_false(hr_http_query_get(q, "A", &v)); /* names are case-sensitive */
    assert_false(hr_http_query_get(q, "na", &v));
    assert_false(hr_http_query_get(S(""), "a", &v));
    assert_false(hr_http_query_get((struct hr_slice){NULL, 0}, "a", &v));
    assert_true(hr_http_query_get(S("&&a=1&"), "a", &v));
    assert_slice_eq(v, "1");
    assert_false(hr_http_query_get(S("a%=1&a%4=2"), "a", &v)); /* bad escapes never match */

    /* A value is decoded after lookup; '+' and %26 are data, not separators. */
    char out[16];
    size_t n;
    assert_true(hr_http_query_get(S("subject=orders.%2A+x%26y&n=1"), "subject", &v));
    assert_int_equal(hr_http_url_decode(v, out, sizeof out, HR_HTTP_DECODE_PLUS, &n),
                     HR_HTTP_ENONE);
    assert_int_equal(n, 12);
    assert_memory_equal(out, "orders.* x&y", 12);

    /* Iteration skips empty parameters and keeps order. */
    static const char *const want[][2] = {{"a", "1"}, {"b", ""}, {"c", ""}, {"", "x"}};
    struct hr_slice rest = S("&a=1&&b=&c&=x&"), name, val;
    size_t k = 0;
    while (hr_http_query_next(&rest, &name, &val)) {
        assert_true(k < N_ELEMS(want));
        assert_slice_eq(name, want[k][0]);
        assert_slice_eq(val, want[k][1]);
        k++;
    }
    assert_int_equal(k, N_ELEMS(want));
}

static void test_path_segments(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        const char *segs[6];
        size_t n;
    } cases[] = {
        {"/streams/orders/messages/42", {"streams", "orders", "messages", "42"}, 4},
        {"/", {""}, 1},
        {"", {NULL}, 0},
        {"/a/", {"a", ""}, 2},
        {"//a", {"", "a"}, 2},
        {"/a%2Fb/c", {"a%2Fb", "c"}, 2},
        {"a/b", {"a", "b"}, 2},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        struct hr_slice rest = S(cases[i].path), seg;
        size_t k = 0;
        while (hr_http_path_next(&rest, &seg)) {
            assert_true(k < cases[i].n);
            assert_slice_eq(seg, cases[i].segs[k]);
            k++;
        }
        assert_int_equal(k, cases[i].n);
    }
}

static void test_list_has(void **state)
{
    (void)state;
    assert_true(hr_http_list_has(S("keep-alive, Upgrade"), "upgrade"));
    assert_true(hr_http_list_has(S("websocket"), "WebSocket"));
    assert_true(hr_http_list_has(S(" ,\tclose\t, "), "close"));
    assert_false(hr_http_list_has(S("closed"), "close"));
    assert_false(hr_http_list_has(S(""), "close"));
    assert_false(hr_http_list_has((struct hr_slice){NULL, 0}, "close"));
    assert_true(hr_http_slice_ieq(S("Content-LENGTH"), "content-length"));
    assert_false(hr_http_slice_ieq(S("Content-Length2"), "content-length"));
}

/* ---- response heads ----------------------------------------------------------------- */

static void test_encode_status_line(void **state)
{
    (void)state;
    char out[64];
    size_t n = hr_http_encode_status_line(out, sizeof out, 200, NULL);
    assert_int_equal(n, 17);
    assert_memory_equal(out, "HTTP/1.1 200 OK\r\n", 17);
    n = hr_http_encode_status_line(out, sizeof out, 413, NULL);
    assert_memory_equal(out, "HTTP/1.1 413 Content Too Large\r\n", n);
    n = hr_http_encode_status_line(out, sizeof out, 404, "Nope\tthere");
    assert_memory_equal(out, "HTTP/1.1 404 Nope\tthere\r\n", n);
    n = hr_http_encode_status_line(out, sizeof out, 299, NULL);
    assert_int_equal(n, 15);
    assert_memory_equal(out, "HTTP/1.1 299 \r\n", 15);
    assert_int_equal(hr_http_encode_status_line(out, sizeof out, 200, "OK\r\nX: y"), 0);
    assert_int_equal(hr_http_encode_status_line(out, sizeof out, 99, NULL), 0);
    assert_int_equal(hr_http_encode_status_line(out, sizeof out, 1000, NULL), 0);
    assert_int_equal(hr_http_encode_status_line(out, 16, 200, NULL), 0);
    assert_int_equal(hr_http_encode_status_line(out, 17, 200, NULL), 17);

    assert_string_equal(hr_http_reason(101), "Switching Protocols");
    assert_string_equal(hr_http_reason(431), "Request Header Fields Too Large");
    assert_string_equal(hr_http_reason(505), "HTTP Version Not Supported");
    assert_null(hr_http_reason(299));
    assert_null(hr_http_reason(-1));
}

static void test_encode_header(void **state)
{
    (void)state;
    char out[64];
    size_t n = hr_http_encode_header(out, sizeof out, S("Content-Type"), S("application/json"));
    assert_int_equal(n, 32);
    assert_memory_equal(out, "Content-Type: application/json\r\n", 32);
    n = hr_http_encode_header(out, sizeof out, S("X-E"), S(""));
    assert_memory_equal(out, "X-E: \r\n", n);
    assert_int_equal(hr_http_encode_header(out, sizeof out, S("X"), S("a\r\nSet-Cookie: x")), 0);
    assert_int_equal(hr_http_encode_header(out, sizeof out, S("X"), S("a\nb")), 0);
    assert_int_equal(hr_http_encode_header(out, sizeof out, S("X"), (struct hr_slice){"a\0b", 3}),
                     0);
    assert_int_equal(hr_http_encode_header(out, sizeof out, S("X Y"), S("v")), 0);
    assert_int_equal(hr_http_encode_header(out, sizeof out, S("X:"), S("v")), 0);
    assert_int_equal(hr_http_encode_header(out, sizeof out, S(""), S("v")), 0);
    assert_int_equal(hr_http_encode_header(out, 7, S("X"), S("abc")), 0);
    assert_int_equal(hr_http_encode_header(out, 8, S("X"), S("abc")), 8);

    /* What the encoder writes, the parser reads back. */
    char req[128];
    size_t len = (size_t)snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: h\r\n");
    len += hr_http_encode_header(req + len, sizeof req - len, S("X-Trace"), S("a b\tc \xc3\xa9"));
    memcpy(req + len, "\r\n", 2);
    struct hr_http_request *r = malloc(sizeof *r);
    assert_non_null(r);
    char *buf = dup_exact(req, len + 2);
    assert_int_equal(hr_http_parse_request(buf, len + 2, NULL, r).status, HR_HTTP_OK);
    assert_slice_eq(hr_http_header_get(r, "x-trace"), "a b\tc \xc3\xa9");
    free(buf);
    free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_requests),
        cmocka_unit_test(test_valid_split_every_boundary),
        cmocka_unit_test(test_header_values),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_fails_early),
        cmocka_unit_test(test_limits_exact),
        cmocka_unit_test(test_error_map),
        cmocka_unit_test(test_head_end),
        cmocka_unit_test(test_chunked),
        cmocka_unit_test(test_chunk_total_before_data),
        cmocka_unit_test(test_chunk_sticky_end),
        cmocka_unit_test(test_request_then_chunked_body),
        cmocka_unit_test(test_url_decode),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_path_segments),
        cmocka_unit_test(test_list_has),
        cmocka_unit_test(test_encode_status_line),
        cmocka_unit_test(test_encode_header),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
