/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for the shared containers: hr_map (src/common/map.c; contract 1–3 in map.h)
 * and hr_buf (src/common/buf.c; contract 1–3 in buf.h), plus hr_fmt_u64.
 *
 * The map tests check, besides get/put/del results against a model, the structural
 * invariant that linear probing with backward-shift deletion relies on: every entry is
 * reachable from its home slot without crossing an empty slot. Keys that share a home
 * slot are found by brute force with the map's own hash, so clusters and wrap-around at
 * the end of the table are exercised on purpose.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h> /* after the four above, which it needs */

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/map.h"
#include "common/subject.h"
#include "herald/errors.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- map helpers --------------------------------------------------------------------- */

/* Every occupied slot is reachable from its home without crossing an empty slot; no key
 * appears twice; count matches; load factor <= 3/4 (contract 3). */
static void map_check(const struct hr_map *m)
{
    size_t used = 0;
    if (m->cap == 0) {
        assert_int_equal(m->count, 0);
        return;
    }
    assert_int_equal(m->cap & (m->cap - 1), 0);
    size_t mask = m->cap - 1;
    for (size_t i = 0; i < m->cap; i++) {
        const struct hr_map_entry *e = &m->slots[i];
        if (!e->hash)
            continue;
        used++;
        uint64_t h = hr_hash_bytes(e->key, e->key_len);
        assert_int_equal(e->hash, h ? h : 1); /* 0 marks an empty slot */
        for (size_t j = e->hash & mask; j != i; j = (j + 1) & mask)
            if (!m->slots[j].hash)
                fail_msg("slot %zu (home %zu) unreachable: slot %zu empty", i,
                         (size_t)(e->hash & mask), j);
    }
    assert_int_equal(used, m->count);
    assert_true(m->count * 4 <= m->cap * 3);
}

struct key {
    char s[24];
    size_t len;
};

static void key_set(struct key *k, const char *prefix, unsigned i)
{
    k->len = (size_t)snprintf(k->s, sizeof k->s, "%s%u", prefix, i);
}

/* ---- map tests ----------------------------------------------------------------------- */

static void test_map_empty(void **state)
{
    (void)state;
    struct hr_map m;
    hr_map_init(&m);
    assert_null(hr_map_get(&m, "a", 1));
    assert_null(hr_map_del(&m, "a", 1));
    assert_null(hr_map_get(&m, "", 0));
    map_check(&m);
    hr_map_cleanup(&m);
    hr_map_cleanup(&m); /* cleanup leaves an empty, reusable map */
    assert_int_equal(m.count, 0);
}

static void test_map_basic(void **state)
{
    (void)state;
    struct hr_map m;
    hr_map_init(&m);
    int a, b, c;
    assert_int_equal(hr_map_put(&m, "a", 1, &a), 0);
    assert_int_equal(hr_map_put(&m, "b", 1, &b), 0);
    assert_int_equal(hr_map_put(&m, "", 0, &c), 0); /* the empty key is a key */
    assert_ptr_equal(hr_map_get(&m, "a", 1), &a);
    assert_ptr_equal(hr_map_get(&m, "b", 1), &b);
    assert_ptr_equal(hr_map_get(&m, "", 0), &c);
    assert_null(hr_map_get(&m, "ab", 2));
    assert_int_equal(m.count, 3);

    /* Replacing keeps the count. */
    assert_int_equal(hr_map_put(&m, "a", 1, &c), 0);
    assert_ptr_equal(hr_map_get(&m, "a", 1), &c);
    assert_int_equal(m.count, 3);

    /* Keys are byte strings compared by length too. */
    assert_int_equal(hr_map_put(&m, "a\0b", 3, &b), 0);
    assert_ptr_equal(hr_map_get(&m, "a\0b", 3), &b);
    assert_ptr_equal(hr_map_get(&m, "a", 1), &c);

    assert_ptr_equal(hr_map_del(&m, "a", 1), &c);
    assert_null(hr_map_get(&m, "a", 1));
    assert_null(hr_map_del(&m, "a", 1));
    assert_int_equal(m.count, 3);
    map_check(&m);
    hr_map_cleanup(&m);
}

/* 10 000 keys; delete every other; every survivor is still found; then delete the rest. */
static void test_map_many_every_other(void **state)
{
    (void)state;
    enum { N = 10000 };
    struct key *k = calloc(N, sizeof *k);
    assert_non_null(k);
    struct hr_map m;
    hr_map_init(&m);
    for (unsigned i = 0; i < N; i++) {
        key_set(&k[i], "key.", i);
        assert_int_equal(hr_map_put(&m, k[i].s, k[i].len, &k[i]), 0);
    }
    assert_int_equal(m.count, N);
    map_check(&m);
    for (unsigned i = 0; i < N; i++)
        assert_ptr_equal(hr_map_get(&m, k[i].s, k[i].len), &k[i]);

    for (unsigned i = 0; i < N; i += 2)
        assert_ptr_equal(hr_map_del(&m, k[i].s, k[i].len), &k[i]);
    assert_int_equal(m.count, N / 2);
    map_check(&m);
    for (unsigned i = 0; i < N; i++) {
        if (i % 2)
            assert_ptr_equal(hr_map_get(&m, k[i].s, k[i].len), &k[i]);
        else
            assert_null(hr_map_get(&m, k[i].s, k[i].len));
    }

    /* Put the deleted half back, then delete in reverse order. */
    for (unsigned i = 0; i < N; i += 2)
        assert_int_equal(hr_map_put(&m, k[i].s, k[i].len, &k[i]), 0);
    assert_int_equal(m.count, N);
    map_check(&m);
    for (unsigned i = N; i-- > 0;) {
        assert_ptr_equal(hr_map_del(&m, k[i].s, k[i].len), &k[i]);
        if (i % 1000 == 0) {
            map_check(&m);
            for (unsigned j = 0; j < i; j += 7)
                assert_ptr_equal(hr_map_get(&m, k[j].s, k[j].len), &k[j]);
        }
    }
    assert_int_equal(m.count, 0);
    map_check(&m);
    hr_map_cleanup(&m);
    free(k);
}

/* Keys chosen to share a home slot (and to sit at the table's end, so clusters wrap) are
 * deleted in every position of their cluster. */
static void test_map_backward_shift_clusters(void **state)
{
    (void)state;
    /* With 10 entries the map has grown to 16 slots (8 -> 16 at the 7th insert). */
    enum { CAP = 16, NK = 10 };
    static const size_t homes[] = {0, 5, CAP - 1, CAP - 2};
    for (size_t h = 0; h < N_ELEMS(homes); h++) {
        /* nk keys with home homes[h], the rest with other homes, in a mix */
        struct key k[NK];
        unsigned found = 0, other = 0;
        for (unsigned i = 0; found < 6 || other < NK - 6; i++) {
            struct key t;
            key_set(&t, "c", i);
            uint64_t hash = hr_hash_bytes(t.s, t.len);
            size_t home = (size_t)(hash ? hash : 1) & (CAP - 1);
            if (home == homes[h] && found < 6)
                k[found++] = t;
            else if ((home == (homes[h] + 1) % CAP || home == (homes[h] + 3) % CAP) &&
                     other < NK - 6)
                k[6 + other++] = t;
        }
        /* Delete each key in turn from a fresh map, then each pair. */
        for (unsigned d = 0; d < NK; d++) {
            for (unsigned d2 = d; d2 < NK; d2++) {
                struct hr_map m;
                hr_map_init(&m);
                /* Interleave same-home and neighbour keys so clusters mix. */
                static const unsigned order[NK] = {0, 6, 1, 7, 2, 8, 3, 9, 4, 5};
                for (unsigned i = 0; i < NK; i++)
                    assert_int_equal(hr_map_put(&m, k[order[i]].s, k[order[i]].len, &k[order[i]]),
                                     0);
                assert_int_equal(m.cap, CAP);
                map_check(&m);
                assert_ptr_equal(hr_map_del(&m, k[d].s, k[d].len), &k[d]);
                map_check(&m);
                if (d2 != d) {
                    assert_ptr_equal(hr_map_del(&m, k[d2].s, k[d2].len), &k[d2]);
                    map_check(&m);
                }
                for (unsigned i = 0; i < NK; i++) {
                    void *want = (i == d || i == d2) ? NULL : &k[i];
                    assert_ptr_equal(hr_map_get(&m, k[i].s, k[i].len), want);
                }
                hr_map_cleanup(&m);
            }
        }
    }
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

/* Random put/del/get against a model, checking the structure as it goes. */
static void test_map_random_model(void **state)
{
    (void)state;
    enum { N = 2000, OPS = 60000 };
    struct key *k = calloc(N, sizeof *k);
    bool *in = calloc(N, sizeof *in);
    assert_non_null(k);
    assert_non_null(in);
    for (unsigned i = 0; i < N; i++)
        key_set(&k[i], "r", i);
    struct hr_map m;
    hr_map_init(&m);
    uint64_t seed = 12345;
    size_t count = 0;
    for (unsigned op = 0; op < OPS; op++) {
        unsigned i = (unsigned)(rng_next(&seed) % N);
        unsigned what = (unsigned)(rng_next(&seed) % 3);
        if (what == 0) {
            assert_int_equal(hr_map_put(&m, k[i].s, k[i].len, &k[i]), 0);
            count += !in[i];
            in[i] = true;
        } else if (what == 1) {
            assert_ptr_equal(hr_map_del(&m, k[i].s, k[i].len), in[i] ? &k[i] : NULL);
            count -= in[i];
            in[i] = false;
        } else {
            assert_ptr_equal(hr_map_get(&m, k[i].s, k[i].len), in[i] ? &k[i] : NULL);
        }
        assert_int_equal(m.count, count);
        if (op % 5000 == 0)
            map_check(&m);
    }
    map_check(&m);
    for (unsigned i = 0; i < N; i++)
        assert_ptr_equal(hr_map_get(&m, k[i].s, k[i].len), in[i] ? &k[i] : NULL);
    hr_map_cleanup(&m);
    free(in);
    free(k);
}

/* ---- buf ------------------------------------------------------------------------------- */

static void test_buf_limit_leaves_unchanged(void **state)
{
    (void)state;
    struct hr_buf b;
    hr_buf_init(&b, 10);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(hr_buf_append(&b, "0123456789", 10), 0);
    assert_int_equal(b.len, 10);
    assert_true(b.cap <= b.max);
    char *data = b.data;
    size_t cap = b.cap;

    assert_int_equal(hr_buf_append(&b, "x", 1), HERALD_ELIMIT);
    assert_int_equal(hr_buf_puts(&b, "xy"), HERALD_ELIMIT);
    assert_int_equal(hr_buf_printf(&b, "%d", 7), HERALD_ELIMIT);
    assert_int_equal(hr_buf_reserve(&b, 1), HERALD_ELIMIT);
    assert_int_equal(hr_buf_reserve(&b, SIZE_MAX), HERALD_ELIMIT);
    assert_int_equal(hr_buf_append(&b, "x", SIZE_MAX), HERALD_ELIMIT);
    assert_int_equal(b.len, 10);
    assert_ptr_equal(b.data, data);
    assert_int_equal(b.cap, cap);
    assert_memory_equal(b.data, "0123456789", 10);

    /* Empty appends are fine even when full. */
    assert_int_equal(hr_buf_append(&b, NULL, 0), 0);
    assert_int_equal(hr_buf_reserve(&b, 0), 0);
    assert_int_equal(b.len, 10);

    /* An append that would pass the cap from part-way is refused whole. */
    hr_buf_consume(&b, 4);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.data, "456789", 6);
    assert_int_equal(hr_buf_append(&b, "abcde", 5), HERALD_ELIMIT);
    assert_int_equal(b.len, 6);
    assert_memory_equal(b.data, "456789", 6);
    assert_int_equal(hr_buf_append(&b, "abcd", 4), 0);
    assert_memory_equal(b.data, "456789abcd", 10);
    hr_buf_cleanup(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
}

static void test_buf_growth_and_cap(void **state)
{
    (void)state;
    struct hr_buf b;
    hr_buf_init(&b, 1000);
    char chunk[37];
    memset(chunk, 'z', sizeof chunk);
    size_t total = 0;
    while (total + sizeof chunk <= 1000) {
        assert_int_equal(hr_buf_append(&b, chunk, sizeof chunk), 0);
        total += sizeof chunk;
        assert_int_equal(b.len, total);
        assert_true(b.cap >= b.len);
        assert_true(b.cap <= 1000);
    }
    assert_int_equal(hr_buf_append(&b, chunk, sizeof chunk), HERALD_ELIMIT);
    assert_int_equal(b.len, total);
    assert_int_equal(hr_buf_append(&b, chunk, 1000 - total), 0);
    assert_int_equal(b.len, 1000);
    assert_int_equal(b.cap, 1000);
    hr_buf_cleanup(&b);

    /* A zero cap refuses every non-empty append. */
    hr_buf_init(&b, 0);
    assert_int_equal(hr_buf_append(&b, "", 0), 0);
    assert_int_equal(hr_buf_append(&b, "a", 1), HERALD_ELIMIT);
    assert_null(b.data);
    hr_buf_cleanup(&b);

    /* A cap below the first growth step: capacity never passes the cap. */
    hr_buf_init(&b, 5);
    assert_int_equal(hr_buf_append(&b, "ab", 2), 0);
    assert_true(b.cap <= 5);
    hr_buf_cleanup(&b);
}

static void test_buf_printf_puts(void **state)
{
    (void)state;
    struct hr_buf b;
    hr_buf_init(&b, 64);
    assert_int_equal(hr_buf_puts(&b, "n="), 0);
    assert_int_equal(hr_buf_printf(&b, "%d %s %" PRIu64, 42, "x", UINT64_MAX), 0);
    const char want[] = "n=42 x 18446744073709551615";
    assert_int_equal(b.len, sizeof want - 1);
    assert_memory_equal(b.data, want, sizeof want - 1);
    assert_int_equal(hr_buf_printf(&b, "%s", ""), 0);
    assert_int_equal(b.len, sizeof want - 1);

    /* A printf that does not fit is refused whole. */
    size_t len = b.len;
    assert_int_equal(hr_buf_printf(&b, "%040d", 1), HERALD_ELIMIT);
    assert_int_equal(b.len, len);
    assert_memory_equal(b.data, want, sizeof want - 1);
    hr_buf_cleanup(&b);
}

static void test_buf_consume_shrink(void **state)
{
    (void)state;
    struct hr_buf b;
    hr_buf_init(&b, 1 << 20);
    assert_int_equal(hr_buf_puts(&b, "hello world"), 0);
    hr_buf_consume(&b, 0);
    assert_int_equal(b.len, 11);
    hr_buf_consume(&b, 6);
    assert_int_equal(b.len, 5);
    assert_memory_equal(b.data, "world", 5);
    hr_buf_consume(&b, 5);
    assert_int_equal(b.len, 0);
    assert_int_equal(hr_buf_puts(&b, "abc"), 0);
    hr_buf_consume(&b, 100); /* more than len empties it */
    assert_int_equal(b.len, 0);

    /* Shrink releases only an empty buffer larger than `keep`. */
    char *big = malloc(10000);
    assert_non_null(big);
    memset(big, 'q', 10000);
    assert_int_equal(hr_buf_append(&b, big, 10000), 0);
    hr_buf_shrink(&b, 4096);
    assert_non_null(b.data); /* not empty: kept */
    hr_buf_consume(&b, 10000);
    hr_buf_shrink(&b, 1 << 20);
    assert_non_null(b.data); /* not larger than keep: kept */
    hr_buf_shrink(&b, 4096);
    assert_null(b.data);
    assert_int_equal(b.cap, 0);
    assert_int_equal(b.max, 1 << 20); /* the cap survives */
    assert_int_equal(hr_buf_puts(&b, "again"), 0);
    assert_memory_equal(b.data, "again", 5);
    free(big);
    hr_buf_cleanup(&b);
}

/* ---- hr_fmt_u64 ---------------------------------------------------------------------- */

static void test_fmt_u64(void **state)
{
    (void)state;
    static const uint64_t vals[] = {0,
                                    1,
                                    9,
                                    10,
                                    11,
                                    99,
                                    100,
                                    12345,
                                    1048576,
                                    4294967295ULL,
                                    4294967296ULL,
                                    999999999999ULL,
                                    1000000000000ULL,
                                    9999999999999999999ULL,
                                    10000000000000000000ULL,
                                    UINT64_MAX - 1,
                                    UINT64_MAX};
    for (size_t i = 0; i < N_ELEMS(vals); i++) {
        char out[24], want[24];
        memset(out, '#', sizeof out);
        size_t n = hr_fmt_u64(out, vals[i]);
        int wn = snprintf(want, sizeof want, "%" PRIu64, vals[i]);
        assert_int_equal(n, (size_t)wn);
        assert_true(n <= 20);
        assert_memory_equal(out, want, n);
        assert_int_equal(out[n], '#'); /* writes exactly n bytes, no NUL */
    }
    /* Every power of ten and its neighbours. */
    uint64_t p = 1;
    for (int d = 0; d < 20; d++) {
        for (int delta = -1; delta <= 1; delta++) {
            uint64_t v = p + (uint64_t)(int64_t)delta;
            char out[24], want[24];
            size_t n = hr_fmt_u64(out, v);
            int wn = snprintf(want, sizeof want, "%" PRIu64, v);
            assert_int_equal(n, (size_t)wn);
            assert_memory_equal(out, want, n);
        }
        if (d < 19)
            p *= 10;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_empty),
        cmocka_unit_test(test_map_basic),
        cmocka_unit_test(test_map_many_every_other),
        cmocka_unit_test(test_map_backward_shift_clusters),
        cmocka_unit_test(test_map_random_model),
        cmocka_unit_test(test_buf_limit_leaves_unchanged),
        cmocka_unit_test(test_buf_growth_and_cap),
        cmocka_unit_test(test_buf_printf_puts),
        cmocka_unit_test(test_buf_consume_shrink),
        cmocka_unit_test(test_fmt_u64),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
