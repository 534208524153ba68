/* SPDX-License-Identifier: Apache-2.0
 *
 * libFuzzer harness for subject validation and matching (src/common/subject.c). Built by
 * `make fuzz`; `make fuzz-smoke` runs it over tests/fuzz/corpus/subject/.
 *
 * The input is split at '\n' into up to three strings a, b, c, each passed as an
 * exact-size heap copy (so ASan catches a read past len). Every function is called on
 * every string and pair, valid or not (no crash, no over-read), and on valid ones:
 *   S1. validity agrees with a straightforward reference (tokens split on '.', non-empty,
 *       no space/tab/CR/LF; `*` and `>` only as whole tokens, only in filters, `>` last);
 *       a valid literal is a valid filter; queue names are non-empty without whitespace.
 *   S2. matching agrees with a reference matcher (`*` one token, `>` one or more);
 *       a valid literal matches itself and `>`, and `*` iff it has one token.
 *   S3. every valid filter matches its instantiation (`*` -> a token, `>` -> one or two
 *       tokens), which is a valid literal.
 *   S4. overlap agrees with a reference, is symmetric and reflexive, and a literal
 *       matched by two filters is a witness that they overlap.
 * Any violation aborts (__builtin_trap) so libFuzzer records the input.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/subject.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

struct str {
    char *p; /* exact-size heap copy (1 byte when empty) */
    size_t len;
};

struct tok {
    const char *p;
    size_t len;
};

/* Inputs are at most a few KiB; a string of n bytes has at most n/2+1 tokens. */
#define MAX_TOKS 8192

/* Harness-only scratch (libFuzzer runs one input at a time). */
static struct tok toks_a[MAX_TOKS], toks_b[MAX_TOKS];

static bool blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static size_t split(const char *s, size_t len, struct tok *t)
{
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || s[i] == '.') {
            CHECK(n < MAX_TOKS);
            t[n].p = s + start;
            t[n].len = i - start;
            n++;
            start = i + 1;
        }
    }
    return n;
}

static bool is_tok(const struct tok *t, char c)
{
    return t->len == 1 && t->p[0] == c;
}

static bool tok_eq(const struct tok *x, const struct tok *y)
{
    return x->len == y->len && memcmp(x->p, y->p, x->len) == 0;
}

static bool ref_valid(const char *s, size_t len, bool wildcards)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (blank(s[i]))
            return false;
    size_t n = split(s, len, toks_a);
    for (size_t i = 0; i < n; i++) {
        if (toks_a[i].len == 0)
            return false;
        if (is_tok(&toks_a[i], '*') && !wildcards)
            return false;
        if (is_tok(&toks_a[i], '>') && (!wildcards || i != n - 1))
            return false;
    }
    return true;
}

static bool ref_matches(const char *f, size_t flen, const char *s, size_t slen)
{
    size_t nf = split(f, flen, toks_a), ns = split(s, slen, toks_b);
    for (size_t i = 0; i < nf; i++) {
        if (is_tok(&toks_a[i], '>'))
            return i < ns;
        if (i >= ns)
            return false;
        if (!is_tok(&toks_a[i], '*') && !tok_eq(&toks_a[i], &toks_b[i]))
            return false;
    }
    return nf == ns;
}

static bool ref_overlaps(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t na = split(a, alen, toks_a), nb = split(b, blen, toks_b);
    for (size_t i = 0;; i++) {
        if (i == na || i == nb)
            return i == na && i == nb;
        if (is_tok(&toks_a[i], '>') || is_tok(&toks_b[i], '>'))
            return true;
        if (!is_tok(&toks_a[i], '*') && !is_tok(&toks_b[i], '*') && !tok_eq(&toks_a[i], &toks_b[i]))
            return false;
    }
}

static struct str copy(const char *p, size_t n)
{
    struct str s = {malloc(n ? n : 1), n};
    CHECK(s.p != NULL);
    if (n)
        memcpy(s.p, p, n);
    return s;
}

/* A literal matched by filter f: `*` -> "x", `>` -> "x" or "x.y" (by `two`). */
static struct str instantiate(const struct str *f, bool two)
{
    char *out = malloc(2 * f->len + 4);
    CHECK(out != NULL);
    size_t n = 0;
    size_t nt = split(f->p, f->len, toks_a);
    for (size_t i = 0; i < nt; i++) {
        if (i)
            out[n++] = '.';
        if (is_tok(&toks_a[i], '*')) {
            out[n++] = 'x';
        } else if (is_tok(&toks_a[i], '>')) {
            out[n++] = 'x';
            if (two) {
                out[n++] = '.';
                out[n++] = 'y';
            }
        } else {
            memcpy(out + n, toks_a[i].p, toks_a[i].len);
            n += toks_a[i].len;
        }
    }
    struct str s = copy(out, n);
    free(out);
    return s;
}

static void check_one(const struct str *s)
{
    bool f = hr_subject_valid_filter(s->p, s->len);
    bool l = hr_subject_valid_literal(s->p, s->len);
    bool q = hr_subject_valid_queue(s->p, s->len);
    /* S1 */
    CHECK(f == ref_valid(s->p, s->len, true));
    CHECK(l == ref_valid(s->p, s->len, false));
    CHECK(!l || f);
    bool ws = false;
    for (size_t i = 0; i < s->len; i++)
        ws |= blank(s->p[i]);
    CHECK(q == (s->len > 0 && !ws));

    /* Called on anything: must not crash or over-read. */
    (void)hr_subject_matches(s->p, s->len, s->p, s->len);
    (void)hr_subject_overlaps(s->p, s->len, s->p, s->len);

    if (l) {
        /* S2 */
        CHECK(hr_subject_matches(s->p, s->len, s->p, s->len));
        CHECK(hr_subject_matches(">", 1, s->p, s->len));
        CHECK(hr_subject_matches("*", 1, s->p, s->len) == (memchr(s->p, '.', s->len) == NULL));
    }
    if (f) {
        /* S3 */
        for (int two = 0; two < 2; two++) {
            struct str inst = instantiate(s, two);
            CHECK(hr_subject_valid_literal(inst.p, inst.len));
            CHECK(hr_subject_matches(s->p, s->len, inst.p, inst.len));
            free(inst.p);
        }
        /* S4 */
        CHECK(hr_subject_overlaps(s->p, s->len, s->p, s->len));
        CHECK(hr_subject_overlaps(s->p, s->len, ">", 1));
    }
}

static void check_pair(const struct str *a, const struct str *b)
{
    bool m = hr_subject_matches(a->p, a->len, b->p, b->len);
    bool o = hr_subject_overlaps(a->p, a->len, b->p, b->len);
    bool af = hr_subject_valid_filter(a->p, a->len), bf = hr_subject_valid_filter(b->p, b->len);
    if (af && hr_subject_valid_literal(b->p, b->len)) {
        CHECK(m == ref_matches(a->p, a->len, b->p, b->len));
        if (m)
            CHECK(o);
    }
    if (af && bf) {
        CHECK(o == ref_overlaps(a->p, a->len, b->p, b->len));
        CHECK(o == hr_subject_overlaps(b->p, b->len, a->p, a->len));
    }
}

static void check_witness(const struct str *a, const struct str *b, const struct str *s)
{
    if (!hr_subject_valid_filter(a->p, a->len) || !hr_subject_valid_filter(b->p, b->len) ||
        !hr_subject_valid_literal(s->p, s->len))
        return;
    if (hr_subject_matches(a->p, a->len, s->p, s->len) &&
        hr_subject_matches(b->p, b->len, s->p, s->len))
        CHECK(hr_subject_overlaps(a->p, a->len, b->p, b->len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *in = (const char *)data;
    struct str parts[3];
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= size && n < 3; i++) {
        if (i == size || (in[i] == '\n' && n < 2)) {
            parts[n++] = copy(in + start, i - start);
            start = i + 1;
        }
    }
    for (size_t i = 0; i < n; i++)
        check_one(&parts[i]);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            check_pair(&parts[i], &parts[j]);
    if (n == 3) {
        check_witness(&parts[0], &parts[1], &parts[2]);
        /* Also with an instantiation of each filter as the witness. */
        for (size_t i = 0; i < 2; i++)
            if (hr_subject_valid_filter(parts[i].p, parts[i].len)) {
                struct str inst = instantiate(&parts[i], i);
                check_witness(&parts[0], &parts[1], &inst);
                free(inst.p);
            }
    }
    for (size_t i = 0; i < n; i++)
        free(parts[i].p);
    return 0;
}
