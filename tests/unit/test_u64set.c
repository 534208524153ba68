/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for the consumers' sorted sequence sets (hr_u64set in src/engine/consumer.c):
 * in-order removal from the front (acks), insertion at both ends and in the middle, and a
 * long random run checked against a plain bitmap after every operation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "engine/consumer_internal.h"

static void assert_sorted(const struct hr_u64set *s)
{
    for (size_t i = 1; i < s->len; i++)
        assert_true(s->v[i - 1] < s->v[i]);
    if (s->len) {
        assert_true(s->v >= s->base);
        assert_true(s->v + s->len <= s->base + s->cap);
    }
}

static void test_acks_in_order(void **state)
{
    (void)state;
    struct hr_u64set s = {0};
    for (uint64_t round = 0; round < 50; round++) {
        for (uint64_t q = round * 100 + 1; q <= round * 100 + 100; q++)
            assert_int_equal(hr_u64set_add(&s, q), 0);
        for (uint64_t q = round * 100 + 1; q <= round * 100 + 100; q++) {
            assert_true(hr_u64set_del(&s, q));
            assert_false(hr_u64set_has(&s, q));
        }
        assert_int_equal(s.len, 0);
    }
    /* a window that slides forever stays within a small allocation */
    for (uint64_t q = 1; q <= 100000; q++) {
        assert_int_equal(hr_u64set_add(&s, q), 0);
        if (q > 64)
            assert_true(hr_u64set_del(&s, q - 64));
    }
    assert_int_equal(s.len, 64);
    assert_true(s.cap <= 256);
    assert_sorted(&s);
    hr_u64set_free(&s);
}

static void test_both_ends_and_middle(void **state)
{
    (void)state;
    struct hr_u64set s = {0};
    for (uint64_t q = 100; q < 200; q++)
        assert_int_equal(hr_u64set_add(&s, q), 0);
    for (int i = 0; i < 10; i++)
        assert_true(hr_u64set_del(&s, 100 + (uint64_t)i)); /* leaves room in front */
    for (uint64_t q = 99; q >= 50; q--)
        assert_int_equal(hr_u64set_add(&s, q), 0); /* uses it, then grows */
    assert_int_equal(hr_u64set_add(&s, 150), 0);   /* already there */
    assert_false(hr_u64set_del(&s, 105));
    assert_true(hr_u64set_del(&s, 150));
    assert_int_equal(s.len, 50 + 90 - 1);
    assert_int_equal(s.v[0], 50);
    assert_int_equal(s.v[s.len - 1], 199);
    assert_sorted(&s);
    hr_u64set_free(&s);
    assert_null(s.base);
}

static void test_random_against_bitmap(void **state)
{
    (void)state;
    enum { RANGE = 2048 };
    bool ref[RANGE] = {false};
    size_t n = 0;
    struct hr_u64set s = {0};
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (int op = 0; op < 200000; op++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t v = x % RANGE;
        if ((x >> 40) % 3) {
            assert_int_equal(hr_u64set_add(&s, v), 0);
            n += !ref[v];
            ref[v] = true;
        } else {
            assert_int_equal(hr_u64set_del(&s, v), ref[v]);
            n -= ref[v];
            ref[v] = false;
        }
        assert_int_equal(s.len, n);
        assert_int_equal(hr_u64set_has(&s, v), ref[v]);
        if (op % 997 == 0)
            assert_sorted(&s);
    }
    for (uint64_t v = 0; v < RANGE; v++)
        assert_int_equal(hr_u64set_has(&s, v), ref[v]);
    hr_u64set_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acks_in_order),
        cmocka_unit_test(test_both_ends_and_middle),
        cmocka_unit_test(test_random_against_bitmap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
