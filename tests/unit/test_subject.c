/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for the subject rules (src/common/subject.c): filter, literal and queue
 * validation, filter/subject matching and filter overlap, as tables. Subjects are passed
 * as exact-size heap copies (no NUL after them) so a read past `len` shows under ASan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/subject.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

static char *dup_exact(const char *s, size_t n)
{
    char *p = malloc(n ? n : 1);
    assert_non_null(p);
    if (n)
        memcpy(p, s, n);
    return p;
}

static bool valid_filter(const char *s)
{
    char *p = dup_exact(s, strlen(s));
    bool r = hr_subject_valid_filter(p, strlen(s));
    free(p);
    return r;
}

static bool valid_literal(const char *s)
{
    char *p = dup_exact(s, strlen(s));
    bool r = hr_subject_valid_literal(p, strlen(s));
    free(p);
    return r;
}

static bool valid_queue(const char *s)
{
    char *p = dup_exact(s, strlen(s));
    bool r = hr_subject_valid_queue(p, strlen(s));
    free(p);
    return r;
}

static bool matches(const char *f, const char *s)
{
    char *fp = dup_exact(f, strlen(f)), *sp = dup_exact(s, strlen(s));
    bool r = hr_subject_matches(fp, strlen(f), sp, strlen(s));
    free(fp);
    free(sp);
    return r;
}

static bool overlaps(const char *a, const char *b)
{
    char *ap = dup_exact(a, strlen(a)), *bp = dup_exact(b, strlen(b));
    bool r = hr_subject_overlaps(ap, strlen(a), bp, strlen(b));
    free(ap);
    free(bp);
    return r;
}

/* ---- validation ---------------------------------------------------------------------- */

static const struct {
    const char *s;
    bool filter, literal;
} validity[] = {
    {"foo", true, true},
    {"foo.bar", true, true},
    {"foo.bar.baz.qux", true, true},
    {"a", true, true},
    {"_INBOX.abc123.1", true, true},
    {"$SYS.REQ.SERVER.PING", true, true},
    {"foo-bar.b@z.q#x", true, true},
    {"\xc3\xa9t\xc3\xa9.caf\xc3\xa9", true, true}, /* UTF-8 */
    {"*", true, false},
    {">", true, false},
    {"foo.*", true, false},
    {"*.bar", true, false},
    {"foo.*.baz", true, false},
    {"foo.>", true, false},
    {"*.*.>", true, false},
    {"*.>", true, false},
    /* '*' and '>' inside a longer token are ordinary characters */
    {"a*", true, true},
    {"*a", true, true},
    {"a>", true, true},
    {">a", true, true},
    {"foo.a*.bar", true, true},
    {"foo.>>", true, true},
    {"foo.**", true, true},
    {"foo.>x.bar", true, true},
    /* '>' must be the last token */
    {">.foo", false, false},
    {"foo.>.bar", false, false},
    {">.>", false, false},
    /* empty subjects and empty tokens */
    {"", false, false},
    {".", false, false},
    {"..", false, false},
    {".foo", false, false},
    {"foo.", false, false},
    {"foo..bar", false, false},
    {"foo.*.", false, false},
    {".>", false, false},
    {"*.", false, false},
    /* whitespace anywhere */
    {" ", false, false},
    {"foo bar", false, false},
    {" foo", false, false},
    {"foo ", false, false},
    {"foo\tbar", false, false},
    {"foo.\r", false, false},
    {"foo\n", false, false},
    {"foo.b ar", false, false},
    {"foo. ", false, false},
};

static void test_validity(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(validity); i++) {
        const char *s = validity[i].s;
        if (valid_filter(s) != validity[i].filter)
            fail_msg("filter \"%s\": want %d", s, validity[i].filter);
        if (valid_literal(s) != validity[i].literal)
            fail_msg("literal \"%s\": want %d", s, validity[i].literal);
    }
}

/* Lengths are honoured: bytes after `len` are not part of the subject. */
static void test_validity_uses_len(void **state)
{
    (void)state;
    assert_true(hr_subject_valid_literal("foo.bar baz", 7));
    assert_false(hr_subject_valid_literal("foo.bar baz", 8));
    assert_true(hr_subject_valid_filter("foo.>.bar", 5));
    assert_false(hr_subject_valid_filter("foo.>.bar", 6));
    assert_false(hr_subject_valid_literal("foo", 0));
    assert_false(hr_subject_valid_filter("foo", 0));
    /* A NUL is just a byte. */
    assert_true(hr_subject_valid_literal("a\0b", 3));
}

static void test_queue_names(void **state)
{
    (void)state;
    assert_true(valid_queue("workers"));
    assert_true(valid_queue("a"));
    assert_true(valid_queue("q.1"));
    assert_true(valid_queue("*"));
    assert_true(valid_queue(">"));
    assert_true(valid_queue(".."));
    assert_false(valid_queue(""));
    assert_false(valid_queue(" "));
    assert_false(valid_queue("a b"));
    assert_false(valid_queue("a\t"));
    assert_false(valid_queue("\ra"));
    assert_false(valid_queue("a\n"));
}

/* ---- matching ------------------------------------------------------------------------ */

static const struct {
    const char *filter, *subject;
    bool match;
} match_table[] = {
    /* exact */
    {"foo", "foo", true},
    {"foo.bar", "foo.bar", true},
    {"foo", "bar", false},
    {"foo", "fo", false},
    {"fo", "foo", false},
    {"foo", "foo.bar", false},
    {"foo.bar", "foo", false},
    {"foo.bar", "foo.baz", false},
    {"foo.bar", "foo.bar.baz", false},
    {"foo.bar", "foo.barx", false},
    {"foo.bar", "foox.bar", false},
    /* '*': exactly one token */
    {"*", "foo", true},
    {"*", "foo.bar", false},
    {"foo.*", "foo.bar", true},
    {"foo.*", "foo", false},
    {"foo.*", "foo.bar.baz", false},
    {"foo.*", "bar.foo", false},
    {"*.bar", "foo.bar", true},
    {"*.bar", "foo.baz", false},
    {"foo.*.baz", "foo.bar.baz", true},
    {"foo.*.baz", "foo.bar.bar", false},
    {"foo.*.baz", "foo.baz", false},
    {"*.*", "a.b", true},
    {"*.*", "a", false},
    {"*.*", "a.b.c", false},
    /* '>': one or more tokens */
    {">", "foo", true},
    {">", "foo.bar.baz", true},
    {"foo.>", "foo.bar", true},
    {"foo.>", "foo.bar.baz", true},
    {"foo.>", "foo", false},
    {"foo.>", "bar.baz", false},
    {"foo.>", "foox.bar", false},
    {"foo.bar.>", "foo.bar", false},
    {"foo.bar.>", "foo.bar.x", true},
    {"*.>", "foo", false},
    {"*.>", "foo.bar", true},
    {"*.*.>", "a.b", false},
    {"*.*.>", "a.b.c.d", true},
    {"foo.*.>", "foo.bar.baz", true},
    {"foo.*.>", "foo.bar", false},
    /* wildcard characters inside tokens are literal */
    {"a*", "a*", true},
    {"a*", "ab", false},
    {"foo.a>", "foo.a>", true},
    {"foo.a>", "foo.a.b", false},
    {"foo.*", "foo.a*", true},
    {"foo.>", "foo.>x", true},
};

static void test_matching(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(match_table); i++) {
        const char *f = match_table[i].filter, *s = match_table[i].subject;
        assert_true(valid_filter(f));
        assert_true(valid_literal(s));
        if (matches(f, s) != match_table[i].match)
            fail_msg("\"%s\" ~ \"%s\": want %d", f, s, match_table[i].match);
        /* Anything a filter matches, it also overlaps with. */
        if (match_table[i].match) {
            assert_true(overlaps(f, s));
            assert_true(overlaps(s, f));
        }
    }
}

/* A valid literal matches itself and `>`; a single-token literal matches `*`. */
static void test_matching_self(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(validity); i++) {
        const char *s = validity[i].s;
        if (!validity[i].literal)
            continue;
        assert_true(matches(s, s));
        assert_true(matches(">", s));
        assert_int_equal(matches("*", s), strchr(s, '.') == NULL);
    }
}

/* ---- overlap ------------------------------------------------------------------------- */

static const struct {
    const char *a, *b;
    bool overlap;
} overlap_table[] = {
    {"foo", "foo", true},       {"foo", "bar", false},     {"foo.bar", "foo", false},
    {"foo.*", "foo.bar", true}, {"foo.*", "foo.*", true},  {"foo.*", "*.bar", true},
    {"foo.*", "bar.*", false},  {"foo.*", "foo", false},   {"foo.*", "foo.bar.baz", false},
    {"foo.*", "foo.>", true},   {"foo.>", "foo", false},   {"foo.>", "foo.bar.baz", true},
    {"foo.>", "*.bar", true},   {"foo.>", "bar.>", false}, {"foo.>", ">", true},
    {">", "foo", true},         {">", "*", true},          {">", ">", true},
    {"*", "*", true},           {"*", "foo.bar", false},   {"*", "*.*", false},
    {"*.>", "foo", false},      {"*.>", "*", false},       {"*.>", "a.b.c", true},
    {"*.*.c", "a.*.*", true},   {"*.b.c", "a.*.d", false}, {"a.*.c", "*.b.>", true},
    {"a.b", "a.b.>", false},    {"a*", "a.*", false},      {"a*", "*", true},
};

static void test_overlap(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(overlap_table); i++) {
        const char *a = overlap_table[i].a, *b = overlap_table[i].b;
        assert_true(valid_filter(a));
        assert_true(valid_filter(b));
        if (overlaps(a, b) != overlap_table[i].overlap)
            fail_msg("\"%s\" overlaps \"%s\": want %d", a, b, overlap_table[i].overlap);
        if (overlaps(b, a) != overlap_table[i].overlap)
            fail_msg("\"%s\" overlaps \"%s\" (reversed): want %d", b, a, overlap_table[i].overlap);
    }
}

/* Every pair of the match table's filters and subjects: when a literal s matches both
 * filters, the filters overlap. */
static void test_overlap_witness(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_ELEMS(match_table); i++)
        for (size_t j = 0; j < N_ELEMS(match_table); j++)
            for (size_t k = 0; k < N_ELEMS(match_table); k++) {
                const char *a = match_table[i].filter, *b = match_table[j].filter,
                           *s = match_table[k].subject;
                if (matches(a, s) && matches(b, s))
                    if (!overlaps(a, b))
                        fail_msg("\"%s\" and \"%s\" both match \"%s\" but do not overlap", a, b, s);
            }
}

static void test_hash(void **state)
{
    (void)state;
    assert_true(hr_hash_bytes("foo", 3) == hr_hash_bytes("foo", 3));
    assert_true(hr_hash_bytes("foo", 3) != hr_hash_bytes("fop", 3));
    assert_true(hr_hash_bytes("foo", 3) != hr_hash_bytes("foo", 2));
    (void)hr_hash_bytes(NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validity),        cmocka_unit_test(test_validity_uses_len),
        cmocka_unit_test(test_queue_names),     cmocka_unit_test(test_matching),
        cmocka_unit_test(test_matching_self),   cmocka_unit_test(test_overlap),
        cmocka_unit_test(test_overlap_witness), cmocka_unit_test(test_hash),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
