/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for the engine's core pub/sub through the public API only
 * (include/herald/herald.h): fan-out, wildcards, queue groups (R4: merged by name across
 * filters), echo suppression, changes made from inside delivery callbacks (E1: a
 * subscription destroyed during a publish is never called again and is freed only after
 * the outermost publish), the match cache (R2), bulk subscribe/unsubscribe, and errors.
 * Run under `make SAN=1 unit` too: the E1 tests are meant to trip ASan on a use after free.
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

#include "herald/herald.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ------------------------------------------------------------------------- */

/* One per subscription under test; the callback's ctx. */
struct rec {
    int calls;
    struct herald_sub *sub;
    char last_subject[64];
    size_t last_data_len;
    /* behaviours, acted on at delivery time */
    struct herald_sub **destroy_on_call; /* destroy *destroy_on_call (then NULL it) */
    bool destroy_self;
    struct herald_engine *engine;
    const char *subscribe_to; /* subscribe once to this, into *new_sub */
    struct rec *new_rec;
    const char *publish_to; /* publish once to this (nested publish) */
    int nested_result;
};

static void on_msg(void *ctx, struct herald_sub *sub, const struct herald_msg *msg);

static struct herald_sub *sub_q(struct herald_engine *e, const char *subject, const char *queue,
                                struct rec *r, const void *owner, bool no_echo)
{
    struct herald_sub_options o = {.deliver = on_msg, .ctx = r, .owner = owner, .no_echo = no_echo};
    struct herald_sub *s = NULL;
    int rc =
        herald_sub_create(e, subject, strlen(subject), queue, queue ? strlen(queue) : 0, &o, &s);
    if (rc != 0)
        fail_msg("sub_create(\"%s\", \"%s\"): %d", subject, queue ? queue : "", rc);
    assert_non_null(s);
    if (r)
        r->sub = s;
    return s;
}

static struct herald_sub *sub(struct herald_engine *e, const char *subject, struct rec *r)
{
    return sub_q(e, subject, NULL, r, NULL, false);
}

static int pub_from(struct herald_engine *e, const char *subject, const char *data,
                    const void *origin)
{
    struct herald_msg m = {.subject = subject,
                           .subject_len = strlen(subject),
                           .data = data,
                           .data_len = data ? strlen(data) : 0};
    return herald_publish(e, &m, origin);
}

static int pub(struct herald_engine *e, const char *subject)
{
    return pub_from(e, subject, "x", NULL);
}

static void on_msg(void *ctx, struct herald_sub *s, const struct herald_msg *msg)
{
    struct rec *r = ctx;
    assert_non_null(r);
    assert_ptr_equal(r->sub, s);
    r->calls++;
    snprintf(r->last_subject, sizeof r->last_subject, "%.*s", (int)msg->subject_len, msg->subject);
    r->last_data_len = msg->data_len;
    if (r->destroy_on_call && *r->destroy_on_call) {
        struct herald_sub *victim = *r->destroy_on_call;
        *r->destroy_on_call = NULL;
        herald_sub_destroy(victim);
    }
    if (r->subscribe_to) {
        const char *subj = r->subscribe_to;
        r->subscribe_to = NULL;
        sub(r->engine, subj, r->new_rec);
    }
    if (r->publish_to) {
        const char *subj = r->publish_to;
        r->publish_to = NULL;
        r->nested_result = pub(r->engine, subj);
    }
    if (r->destroy_self) {
        r->destroy_self = false;
        r->sub = NULL;
        herald_sub_destroy(s);
    }
}

static struct herald_engine *engine(size_t max_payload, size_t cache_slots)
{
    struct herald_engine_options o = {.max_payload = max_payload, .match_cache_slots = cache_slots};
    struct herald_engine *e = NULL;
    assert_int_equal(herald_engine_create(&o, &e), 0);
    assert_non_null(e);
    return e;
}

static uint64_t nsubs(const struct herald_engine *e)
{
    struct herald_engine_stats st;
    herald_engine_stats(e, &st);
    return st.subscriptions;
}

/* ---- fan-out ------------------------------------------------------------------------- */

static void test_fanout_plain(void **state)
{
    (void)state;
    struct herald_engine *e = engine(0, 0);
    struct rec r[3] = {0};
    for (int i = 0; i < 3; i++)
        sub(e, "foo", &r[i]);
    assert_int_equal(nsubs(e), 3);
    assert_int_equal(pub_from(e, "foo", "hello", NULL), 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(r[i].calls, 1);
        assert_string_equal(r[i].last_subject, "foo");
        assert_int_equal(r[i].last_data_len, 5);
    }
    assert_int_equal(pub(e, "bar"), 0);
    assert_int_equal(pub(e, "foo.bar"), 0);
    assert_int_equal(pub(e, "fo"), 0);
    assert_string_equal(herald_sub_subject(r[0].sub), "foo");

    struct herald_engine_stats st;
    herald_engine_stats(e, &st);
    assert_int_equal(st.msgs_in, 4);
    assert_int_equal(st.bytes_in, 5 + 3);
    assert_int_equal(st.msgs_out, 3);
    assert_int_equal(st.bytes_out, 15);

    for (int i = 0; i < 3; i++)
        herald_sub_destroy(r[i].sub);
    assert_int_equal(nsubs(e), 0);
    assert_int_equal(pub(e, "foo"), 0);
    herald_engine_destroy(e);
}

static void test_wildcards(void **state)
{
    (void)state;
    struct herald_engine *e = engine(0, 0);
    static const char *const filters[] = {"foo.*", "foo.>", ">",     "*.bar",      "foo.bar",
                                          "foo",   "*",     "*.*.>", "foo.bar.baz"};
    struct rec r[N_ELEMS(filters)];
    memset(r, 0, sizeof r);
    for (size_t i = 0; i < N_ELEMS(filters); i++)
        sub(e, filters[i], &r[i]);

    static const struct {
        const char *subject;
        const char *want; /* one char per filter: 1 = delivered */
    } cases[] = {
        {"foo.bar", "111110000"},     {"foo.bar.baz", "011000011"}, {"foo", "001001100"},
        {"x.bar", "001100000"},       {"foo.baz", "111000000"},     {"a.b.c.d", "001000010"},
        {"foo.bar.qux", "011000010"}, {"bar", "001000100"},
    };
    for (size_t c = 0; c < N_ELEMS(cases); c++) {
        for (size_t i = 0; i < N_ELEMS(filters); i++)
            r[i].calls = 0;
        int want_n = 0;
        for (size_t i = 0; i < N_ELEMS(filters); i++)
            want_n += cases[c].want[i] == '1';
        assert_int_equal(pub(e, cases[c].subject), want_n);
        for (size_t i = 0; i < N_ELEMS(filters); i++)
            if (r[i].calls != (cases[c].want[i] == '1'))
                fail_msg("publish \"%s\": \"%s\" got %d", cases[c].subject, filters[i], r[i].calls);
    }
    for (size_t i = 0; i < N_ELEMS(filters); i++)
        herald_sub_destroy(r[i].sub);
    herald_engine_destroy(e);
}

/* The same subscriber function subscribed twice with overlapping filters gets the message
 * once per subscription (NATS semantics: per subscription, not per connection). */
static void test_overlapping_subs_each_deliver(void **state)
{
    (void)state;
    struct herald_engine *e = engine(0, 0);
    struct rec a = {0}, b = {0};
    sub(e, "foo.*", &a);
    sub(e, "foo.>", &b);
    assert_int_equal(pub(e, "foo.x"), 2);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    herald_sub_destroy(a.sub);
    herald_sub_destroy(b.sub);
    herald_engine_destroy(e);
}

/* ---- queue groups -------------------------------------------------------------------- */

static void test_queue_group_once_and_round_robin(void **state)
{
    (void)state;
    struct herald_engine *e = engine(0, 0);
    struct rec m[3] = {0}, plain = {0};
    for (int i = 0; i < 3; i++)
        sub_q(e, "foo", "workers", &m[i], NULL, false);
    sub(e, "foo", &plain);
    for (int n = 0; n < 300; n++) {
        int before = m[0].calls + m[1].calls + m[2].calls;
        assert_int_equal(pub(e, "foo"), 2);
        assert_int_equal(m[0].calls + m[1].calls + m[2].calls, before + 1);
    }
    assert_int_equal(plain.calls, 300);
    for (int i = 0; i < 3; i++)
        assert_int_equal(m[i].calls, 100);
    for (int i = 0; i < 3; i++)
        herald_sub_destroy(m[i].sub);
    herald_sub_destroy(plain.sub);
    herald_engine_destroy(e);
}

/* R4: members of one group under different filters form one group for a subject they
 * all match; a member whose filter does not match is not a candidate. */
static void test_queue_group_merged_across_filters(void **state)
{
    (void)state;
    struct herald_engine *e = engine(0, 0);
    struct rec m[4] = {0};
    sub_q(e, "foo.*", "g", &m[0], NULL, false);
    sub_q(e, "foo.bar", "g", &m[1], NULL, false);
    sub_q(e, "foo.>", "g", &m[2], NULL, false);
    sub_q(e, "baz", "g", &m[3], NULL, false);
    for (int n = 0; n < 30; n++)
        assert_int_equal(pub(e, "foo.bar"), 1);
    for (int i = 0; i < 3; i++)
        assert_int_equal(m[i].calls, 10);
    assert_int_equal(m[3].calls, 0);

    /* foo.bar.x only matches foo.>: that member gets everything. */
    for (int n = 0; n < 5; n++)
        assert_int_equal(pub(e, "foo.bar.x"), 1);
    assert_int_equal(m[2].calls, 15);
    assert_int_equal(pub(e, "baz"), 1);
    assert_int_equal(m[3].calls, 1);
    for (int i = 0; i < 4; i++)
        herald_sub_destroy(m[i].sub);
    herald_engine_destroy(e);
}

static void test_multiple_groups(void **state)
{
    (void)state;
    struct herald_engine *e = engine(0, 0);
    struct rec a[2] = {0}, b[3] = {0}, c = {0}, plain = {0};
    for (int i = 0; i < 2; i++)
        sub_q(e, "orders.*", "billing", &a[i], NULL, false);
    for (int i = 0; i < 3; i++)
        sub_q(e, "orders.new", "shipping", &b[i], NULL, false);
    sub_q(e, ">", "audit", &c, NULL, false);
    sub(e, "orders.new", &plain);
    for (int n = 0; n < 60; n++)
        assert_int_equal(pub(e, "orders.new"), 4);
    assert_int_equal(a[0].calls + a[1].calls, 60);
    assert_int_equal(a[0].calls, 30);
    assert_int_equal(b[0].calls + b[1].calls + b[2].calls, 60);
    for (int i = 0; i < 3; i++)
        assert_int_equal(b[i].calls, 20);
    assert_int_equal(c.calls, 60);
    assert_int_equal(plain.calls, 60);
    /* Another subject reaches only the groups whose filters match. */
    assert_int_equal(pub(e, "orders.old"), 2);
    assert_int_equal(b[0].calls + b[1].calls + b[2].calls, 60);

    /* Removing one member leaves the group working; removing all removes the group. */
    herald_sub_destroy(b[1].sub);
    for (int n = 0; n < 10; n++)
        assert_int_equal(pub(e, "orders.new"), 4);
    assert_int_equal(b[0].calls + b[2].calls, 50);
    herald_sub_destroy(b[0].sub);
    herald_sub_destroy(b[2].sub);
    assert_int_equal(pub(e, "orders.new"), 3);

    for (int i = 0; i < 2; i++)
        herald_sub_destroy(a[i].sub);
    herald_sub_destroy(c.sub);
    herald_sub_destroy(plain.sub);
    herald_engine_destroy(e);
}

/* Groups are per name: the same name on different subjects, and different names on the
 * same subject, are handled independently; many groups on one node. */
static void test_many_groups_one_subject(void **state)
{
    (void)state;
    struct herald_engine *e = engine(0, 0);
    enum { G = 20, M = 3 };
    struct rec r[G][M];
    memset(r, 0, sizeof r);
    char q[16];
    for (int g = 0; g < G; g++)
        for (int m = 0; m < M; m++) {
            snprintf(q, sizeof q, "q%d", g);
            sub_q(e, "s", q, &r[g][m], NULL, false);
        }
    for (int n = 0; n < 3 * M; n++)
        assert_int_equal(pub(e, "s"), G);
    for (int g = 0; g < G; g++)
        for (int m = 0; m < M; m++)
            assert_int_equal(r[g][m].calls, 3);
    /* Remove groups out of order (moves groups within the node), then deliver again. */
    for (int g = 0; g < G; g += 2)
        for (int m = 0; m < M; m++)
            herald_sub_destroy(r[g][m].sub);
    for (int n = 0; n < M; n++)
        assert_int_equal(pub(e, "s"), G / 2);
    for (int g = 1; g < G; g += 2) {
        assert_int_equal(r[g][0].calls + r[g][1].calls + r[g][2].calls, 3 * M + M);
        for (int m = 0; m < M; m++)
            herald_sub_destroy(r[g][m].sub);
    }
    assert_int_equal(nsubs(e), 0);
    herald_engine_destroy(e);
}

/* Any traffic pattern spreads a group's messages over its members. Publishes alternating
 * between two subjects, each with its own two-member group, must not starve a member; nor
 * must subscription churn between publishes (request/reply inboxes come and go all the
 * time, and every change rebuilds the cached match results, R2). Each cached group keeps
 * its own cursor, started at a varying point when the result is rebuilt. */
static void test_queue_spread_any_pattern(void **state)
{
    (void)state;
    struct herald_engine *e = engine(0, 0);
    struct rec a[2] = {0}, b[2] = {0};
    for (int i = 0; i < 2; i++) {
        sub_q(e, "svc.a", "workers", &a[i], NULL, false);
        sub_q(e, "svc.b", "workers", &b[i], NULL, false);
    }
    /* 1. Subscription churn between publishes to one subject. */
    for (int n = 0; n < 200; n++) {
        struct rec tmp = {0};
        sub(e, "_INBOX.churn", &tmp);
        assert_int_equal(pub(e, "svc.a"), 1);
        herald_sub_destroy(tmp.sub);
    }
    bool churn_ok = a[0].calls >= 60 && a[1].calls >= 60;
    int churn0 = a[0].calls, churn1 = a[1].calls;
    /* 2. Publishes alternating between two subjects. */
    a[0].calls = a[1].calls = 0;
    for (int n = 0; n < 200; n++) {
        assert_int_equal(pub(e, "svc.a"), 1);
        assert_int_equal(pub(e, "svc.b"), 1);
    }
    bool interleave_ok =
        a[0].calls >= 60 && a[1].calls >= 60 && b[0].calls >= 60 && b[1].calls >= 60;
    for (int i = 0; i < 2; i++) {
        herald_sub_destroy(a[i].sub);
        herald_sub_destroy(b[i].sub);
    }
    herald_engine_destroy(e);
    if (!churn_ok || !interleave_ok) {
        print_message("queue spread: churn %s (a: %d/%d), interleaved %s (a: %d/%d, b: %d/%d)\n",
                      churn_ok ? "ok" : "BROKEN", churn0, churn1, interleave_ok ? "ok" : "BROKEN",
                      a[0].calls, a[1].calls, b[0].calls, b[1].calls);
        fail_msg("queue group spread is broken");
    }
}

/* ---- echo suppression ------------------------------------------------------------------ */

static void test_no_echo(void **state)
{
    (void)state;
    struct herald_engine *e = engine(0, 0);
    int conn_a, conn_b; /* identities only */
    struct rec a_noecho = {0}, a_echo = {0}, b_noecho = {0}, anon = {0};
    sub_q(e, "foo", NULL, &a_noecho, &conn_a, true);
    sub_q(e, "foo", NULL, &a_echo, &conn_a, false);
    sub_q(e, "foo", NULL, &b_noecho, &conn_b, true);
    sub_q(e, "foo", NULL, &anon, NULL, true);

    assert_int_equal(pub_from(e, "foo", "x", &conn_a), 3);
    assert_int_equal(a_noecho.calls, 0);
    assert_int_equal(a_echo.calls, 1);
    assert_int_equal(b_noecho.calls, 1);
    assert_int_equal(anon.calls, 1);

    assert_int_equal(pub_from(e, "foo", "x", &conn_b), 3);
    assert_int_equal(a_noecho.calls, 1);
    assert_int_equal(b_noecho.calls, 1);

    /* A NULL origin is nobody: every subscription gets it. */
    assert_int_equal(pub_from(e, "foo", "x", NULL), 4);
    assert_int_equal(a_noecho.calls, 2);
    assert_int_equal(anon.calls, 3);

    herald_sub_destroy(a_noecho.sub);
    herald_sub_destroy(a_echo.sub);
    herald_sub_destroy(b_noecho.sub);
    herald_sub_destroy(anon.sub);
    herald_engine_destroy(e);
}

/* A queue member that must not see its own connection's message is skipped; another member
 * gets it, every time, whatever the round-robin cursor says. */
static void test_no_echo_queue(void **state)
{
    (void)state;
    struct herald_engine *e = engine(0, 0);
    int conn_a, conn_b;
    struct rec ma1 = {0}, mb = {0}, ma2 = {0};
    sub_q(e, "foo", "g", &ma1, &conn_a, true);
    sub_q(e, "foo", "g", &mb, &conn_b, true);
    sub_q(e, "foo", "g", &ma2, &conn_a, true);
    for (int n = 0; n < 10; n++)
        assert_int_equal(pub_from(e, "foo", "x", &conn_a), 1);
    assert_int_equal(ma1.calls, 0);
    assert_int_equal(ma2.calls, 0);
    assert_int_equal(mb.calls, 10);

    /* From B, the two A members share the work. */
    for (int n = 0; n < 10; n++)
        assert_int_equal(pub_from(e, "foo", "x", &conn_b), 1);
    assert_int_equal(ma1.calls + ma2.calls, 10);
    assert_int_equal(mb.calls, 10);

    /* A group whose only members are the publisher's delivers to nobody. */
    herald_sub_destroy(mb.sub);
    assert_int_equal(pub_from(e, "foo", "x", &conn_a), 0);
    assert_int_equal(ma1.calls + ma2.calls, 10);
    herald_sub_destroy(ma1.sub);
    herald_sub_destroy(ma2.sub);
    herald_engine_destroy(e);
}

/* ---- changes from inside callbacks (E1) ------------------------------------------------ */

static void test_unsubscribe_self_in_callback(void **state)
{
    (void)state;
    struct herald_engine *e = engine(0, 0);
    struct rec self = {0}, other = {0};
    sub(e, "foo", &self);
    sub(e, "foo", &other);
    self.destroy_self = true;
    assert_int_equal(pub(e, "foo"), 2);
    assert_null(self.sub);
    assert_int_equal(nsubs(e), 1);
    assert_int_equal(pub(e, "foo"), 1);
    assert_int_equal(self.calls, 1);
    assert_int_equal(other.calls, 2);

    /* The same for a queue member. */
    struct rec q1 = {0}, q2 = {0};
    sub_q(e, "bar", "g", &q1, NULL, false);
    sub_q(e, "bar", "g", &q2, NULL, false);
    q1.destroy_self = true;
    q2.destroy_self = true;
    assert_int_equal(pub(e, "bar"), 1);
    assert_int_equal(pub(e, "bar"), 1);
    assert_int_equal(pub(e, "bar"), 0);
    assert_int_equal(q1.calls, 1);
    assert_int_equal(q2.calls, 1);
    assert_int_equal(nsubs(e), 1);
    herald_sub_destroy(other.sub);
    herald_engine_destroy(e);
}

/* Each of two subscriptions destroys the other when called: whichever runs first, the
 * other is never called (it is destroyed but still named by the running publish). */
static void test_unsubscribe_later_sub_in_callback(void **state)
{
    (void)state;
    struct herald_engine *e = engine(0, 0);
    static const char *const pairs[][2] = {
        {"foo", "foo"},
        {"foo", "*"},
        {">", "foo"},
        {"*", ">"},
    };
    for (size_t p = 0; p < N_ELEMS(pairs); p++) {
        struct rec a = {0}, b = {0};
        struct herald_sub *sa = sub(e, pairs[p][0], &a);
        struct herald_sub *sb = sub(e, pairs[p][1], &b);
        struct herald_sub *a_victim = sb, *b_victim = sa;
        a.destroy_on_call = &a_victim;
        b.destroy_on_call = &b_victim;
        assert_int_equal(pub(e, "foo"), 1);
        assert_int_equal(a.calls + b.calls, 1);
        assert_int_equal(nsubs(e), 1);
        /* The survivor keeps receiving; its victim pointer is spent. */
        struct rec *survivor = a.calls ? &a : &b;
        assert_int_equal(pub(e, "foo"), 1);
        assert_int_equal(survivor->calls, 2);
        herald_sub_destroy(survivor->sub);
    }

    /* A plain subscription's callback destroys the only member of a queue group that the
     * same publish would deliver to next: the group delivers to nobody. */
    struct rec plain = {0}, member = {0};
    sub(e, "foo", &plain);
    struct herald_sub *victim = sub_q(e, "foo", "g", &member, NULL, false);
    plain.destroy_on_call = &victim;
    assert_int_equal(pub(e, "foo"), 1);
    assert_int_equal(member.calls, 0);
    herald_sub_destroy(plain.sub);
    assert_int_equal(nsubs(e), 0);
    herald_engine_destroy(e);
}

/* A subscription made from a callback gets later publishes, not the current one. */
static void test_subscribe_in_callback(void **state)
{
    (void)state;
    struct herald_engine *e = engine(0, 0);
    struct rec a = {0}, b = {0}, c = {0};
    sub(e, "foo", &a);
    a.engine = e;
    a.subscribe_to = "foo";
    a.new_rec = &b;
    assert_int_equal(pub(e, "foo"), 1);
    assert_non_null(b.sub);
    assert_int_equal(b.calls, 0);
    assert_int_equal(pub(e, "foo"), 2);
    assert_int_equal(b.calls, 1);

    /* Subscribing from a callback to a new subject in a fresh branch of the trie. */
    a.subscribe_to = "new.branch.>";
    a.new_rec = &c;
    assert_int_equal(pub(e, "foo"), 2);
    assert_int_equal(pub(e, "new.branch.x"), 1);
    assert_int_equal(c.calls, 1);

    herald_sub_destroy(a.sub);
    herald_sub_destroy(b.sub);
    herald_sub_destroy(c.sub);
    herald_engine_destroy(e);
}

/* Nested publishes: a destroyed subscription stays allocated until the outermost publish
 * returns (E1), and the outer publish does not call it. */
static void test_nested_publish_with_destroy(void **state)
{
    (void)state;
    struct herald_engine *e = engine(0, 0);
    struct rec outer = {0}, inner = {0}, later = {0};
    sub(e, "foo", &outer);
    sub(e, "bar", &inner);
    struct herald_sub *later_sub = sub(e, "foo", &later);
    outer.engine = e;
    outer.publish_to = "bar";
    /* inner destroys `later` (named by the outer publish's match) and itself */
    struct herald_sub *victim = later_sub;
    inner.destroy_on_call = &victim;
    inner.destroy_self = true;
    assert_int_equal(pub(e, "foo"), 1);
    assert_int_equal(outer.nested_result, 1);
    assert_int_equal(inner.calls, 1);
    assert_int_equal(later.calls, 0);
    assert_int_equal(nsubs(e), 1);

    /* Nested publish to the subject being delivered, after destroying a sub it names;
     * the nested publish misses the cache (R2) and replaces the slot the outer one used. */
    struct rec x = {0}, y = {0};
    struct herald_sub *ys = sub(e, "foo", &y);
    sub(e, "foo", &x);
    outer.publish_to = "foo"; /* outer -> foo again: x and y and outer */
    struct herald_sub *yv = ys;
    outer.destroy_on_call = &yv;
    int n = pub(e, "foo");
    /* Outer publish: outer runs first (inserted first) and destroys y before its nested
     * publish; the nested one reaches outer and x; the outer one then reaches x. */
    assert_int_equal(y.calls, 0);
    assert_int_equal(x.calls, 2);
    assert_int_equal(outer.nested_result, 2);
    assert_int_equal(n, 2);
    herald_sub_destroy(outer.sub);
    herald_sub_destroy(x.sub);
    assert_int_equal(nsubs(e), 0);
    herald_engine_destroy(e);
}

/* Destroying a subscription twice from callbacks, and destroying NULL, is harmless. */
static void test_destroy_null(void **state)
{
    (void)state;
    herald_sub_destroy(NULL);
    herald_engine_destroy(NULL);
}

/* ---- match cache (R2) ------------------------------------------------------------------ */

static void test_cache_hits_and_invalidation(void **state)
{
    (void)state;
    struct herald_engine *e = engine(0, 0);
    struct herald_engine_stats s0, s1;
    struct rec a = {0}, b = {0};
    sub(e, "foo", &a);

    herald_engine_stats(e, &s0);
    assert_int_equal(pub(e, "foo"), 1);
    herald_engine_stats(e, &s1);
    assert_int_equal(s1.cache_misses - s0.cache_misses, 1);
    assert_int_equal(s1.cache_hits - s0.cache_hits, 0);

    assert_int_equal(pub(e, "foo"), 1);
    herald_engine_stats(e, &s0);
    assert_int_equal(s0.cache_hits - s1.cache_hits, 1);
    assert_int_equal(s0.cache_misses - s1.cache_misses, 0);

    /* Any subscription change invalidates, even on an unrelated subject. */
    sub(e, "unrelated", &b);
    assert_int_equal(pub(e, "foo"), 1);
    herald_engine_stats(e, &s1);
    assert_int_equal(s1.cache_misses - s0.cache_misses, 1);
    assert_int_equal(pub(e, "foo"), 1);
    herald_engine_stats(e, &s0);
    assert_int_equal(s0.cache_hits - s1.cache_hits, 1);

    /* A removal invalidates, and the cached result never names the removed sub. */
    herald_sub_destroy(a.sub);
    assert_int_equal(pub(e, "foo"), 0);
    herald_engine_stats(e, &s1);
    assert_int_equal(s1.cache_misses - s0.cache_misses, 1);
    assert_int_equal(a.calls, 4);

    /* A new matching sub is seen at once. */
    sub(e, "foo", &a);
    assert_int_equal(pub(e, "foo"), 1);
    assert_int_equal(a.calls, 5);

    /* Empty results are cached too. */
    herald_engine_stats(e, &s0);
    assert_int_equal(pub(e, "nobody"), 0);
    assert_int_equal(pub(e, "nobody"), 0);
    herald_engine_stats(e, &s1);
    assert_int_equal(s1.cache_misses - s0.cache_misses, 1);
    assert_int_equal(s1.cache_hits - s0.cache_hits, 1);

    herald_sub_destroy(a.sub);
    herald_sub_destroy(b.sub);
    herald_engine_destroy(e);
}

/* A tiny cache with many subjects (slot collisions replace entries) stays correct. */
static void test_cache_collisions(void **state)
{
    (void)state;
    struct herald_engine *e = engine(0, 1);
    enum { N = 500 };
    struct rec *r = calloc(N, sizeof *r);
    assert_non_null(r);
    char subj[32];
    for (int i = 0; i < N; i++) {
        snprintf(subj, sizeof subj, "c.%d", i);
        sub(e, subj, &r[i]);
    }
    for (int round = 0; round < 3; round++)
        for (int i = 0; i < N; i++) {
            int k = (i * 7 + round * 13) % N;
            snprintf(subj, sizeof subj, "c.%d", k);
            assert_int_equal(pub(e, subj), 1);
        }
    for (int i = 0; i < N; i++) {
        assert_int_equal(r[i].calls, 3);
        herald_sub_destroy(r[i].sub);
    }
    free(r);
    herald_engine_destroy(e);
}

/* ---- bulk ------------------------------------------------------------------------------ */

static uint64_t rng_next(uint64_t *s)
{
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545F4914F6CDD1DULL;
}

static void shuffle(int *idx, int n, uint64_t seed)
{
    for (int i = 0; i < n; i++)
        idx[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rng_next(&seed) % (uint64_t)(i + 1));
        int t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
}

/* 10 000 subscriptions on distinct subjects (a third in queue groups), all delivered to,
 * then removed in random order; nothing may leak (checked by ASan's leak checker). */
static void test_bulk_distinct(void **state)
{
    (void)state;
    struct herald_engine *e = engine(0, 0);
    enum { N = 10000 };
    struct rec *r = calloc(N, sizeof *r);
    int *order = calloc(N, sizeof *order);
    assert_non_null(r);
    assert_non_null(order);
    char subj[48];
    for (int i = 0; i < N; i++) {
        snprintf(subj, sizeof subj, "bulk.%d.%d", i % 97, i);
        sub_q(e, subj, i % 3 == 0 ? "g" : NULL, &r[i], NULL, false);
    }
    assert_int_equal(nsubs(e), N);
    for (int i = 0; i < N; i++) {
        snprintf(subj, sizeof subj, "bulk.%d.%d", i % 97, i);
        assert_int_equal(pub(e, subj), 1);
        assert_int_equal(r[i].calls, 1);
    }
    shuffle(order, N, 42);
    for (int k = 0; k < N; k++) {
        int i = order[k];
        herald_sub_destroy(r[i].sub);
        r[i].sub = NULL;
        if (k % 1000 == 0) {
            /* spot-check the survivors and the removed */
            for (int j = 0; j < N; j += 331) {
                snprintf(subj, sizeof subj, "bulk.%d.%d", j % 97, j);
                assert_int_equal(pub(e, subj), r[j].sub ? 1 : 0);
            }
        }
    }
    assert_int_equal(nsubs(e), 0);
    assert_int_equal(pub(e, "bulk.1.1"), 0);
    free(order);
    free(r);
    herald_engine_destroy(e);
}

/* 10 000 subscriptions on one subject (half plain, half one queue group), removed in
 * random order: every publish in between reaches exactly the live plain subs + one
 * member. */
static void test_bulk_same_subject(void **state)
{
    (void)state;
    struct herald_engine *e = engine(0, 0);
    enum { N = 10000 };
    struct rec *r = calloc(N, sizeof *r);
    int *order = calloc(N, sizeof *order);
    assert_non_null(r);
    assert_non_null(order);
    int plain = 0, members = 0;
    for (int i = 0; i < N; i++) {
        bool q = i % 2;
        sub_q(e, i % 4 < 2 ? "same.subject" : "same.*", q ? "grp" : NULL, &r[i], NULL, false);
        plain += !q;
        members += q;
    }
    shuffle(order, N, 7);
    for (int k = 0; k < N; k++) {
        if (k % 500 == 0) {
            int want = plain + (members ? 1 : 0);
            assert_int_equal(pub(e, "same.subject"), want);
        }
        int i = order[k];
        herald_sub_destroy(r[i].sub);
        r[i].sub = NULL;
        if (i % 2)
            members--;
        else
            plain--;
    }
    assert_int_equal(nsubs(e), 0);
    assert_int_equal(pub(e, "same.subject"), 0);
    free(order);
    free(r);
    herald_engine_destroy(e);
}

/* ---- owned subs, limits, errors -------------------------------------------------------- */

static void test_find_owned_sub(void **state)
{
    (void)state;
    struct herald_engine *e = engine(0, 0);
    int conn_a, conn_b, conn_c;
    struct rec a = {0}, b = {0};
    sub_q(e, "_INBOX.a.*", NULL, &a, &conn_a, false);
    sub_q(e, "_INBOX.b.>", "q", &b, &conn_b, false);
    assert_ptr_equal(herald_find_owned_sub(e, "_INBOX.a.1", 10, &conn_a), &a);
    assert_null(herald_find_owned_sub(e, "_INBOX.a.1", 10, &conn_b));
    assert_null(herald_find_owned_sub(e, "_INBOX.a.1.2", 12, &conn_a));
    assert_ptr_equal(herald_find_owned_sub(e, "_INBOX.b.1.2", 12, &conn_b), &b);
    assert_null(herald_find_owned_sub(e, "_INBOX.b.1.2", 12, &conn_c));
    herald_sub_destroy(a.sub);
    assert_null(herald_find_owned_sub(e, "_INBOX.a.1", 10, &conn_a));
    herald_sub_destroy(b.sub);
    herald_engine_destroy(e);
}

static void test_max_payload(void **state)
{
    (void)state;
    struct herald_engine *e = engine(100, 0);
    struct rec a = {0};
    sub(e, "foo", &a);
    char data[101];
    memset(data, 'd', sizeof data);
    const char hdr[] = "NATS/1.0\r\n\r\n";
    struct herald_msg m = {.subject = "foo", .subject_len = 3, .data = data, .data_len = 101};
    assert_int_equal(herald_publish(e, &m, NULL), HERALD_ETOOBIG);
    m.data_len = 100;
    assert_int_equal(herald_publish(e, &m, NULL), 1);
    m.hdr = hdr;
    m.hdr_len = sizeof hdr - 1;
    m.data_len = 100 - m.hdr_len + 1;
    assert_int_equal(herald_publish(e, &m, NULL), HERALD_ETOOBIG);
    m.data_len = 100 - m.hdr_len;
    assert_int_equal(herald_publish(e, &m, NULL), 1);
    assert_int_equal(a.calls, 2);
    struct herald_engine_stats st;
    herald_engine_stats(e, &st);
    assert_int_equal(st.msgs_in, 2);
    assert_int_equal(st.bytes_in, 200);
    herald_sub_destroy(a.sub);
    herald_engine_destroy(e);

    /* Default: 1 MiB. */
    e = engine(0, 0);
    char *big = calloc(1, 1024 * 1024 + 1);
    assert_non_null(big);
    struct herald_msg mb = {
        .subject = "foo", .subject_len = 3, .data = big, .data_len = 1024 * 1024 + 1};
    assert_int_equal(herald_publish(e, &mb, NULL), HERALD_ETOOBIG);
    mb.data_len--;
    assert_int_equal(herald_publish(e, &mb, NULL), 0);
    free(big);
    herald_engine_destroy(e);
}

static void test_invalid_subscriptions(void **state)
{
    (void)state;
    struct herald_engine *e = engine(0, 0);
    struct herald_sub_options o = {.deliver = on_msg};
    struct herald_sub *s = NULL;
    static const char *const bad[] = {"",    ".",       "foo.",   ".foo",     "foo..bar",
                                      "a b", "foo.>.x", ">.foo",  "foo\tbar", "foo\r\n",
                                      "..",  " ",       "foo.*.", "a.>.>"};
    for (size_t i = 0; i < N_ELEMS(bad); i++) {
        s = NULL;
        if (herald_sub_create(e, bad[i], strlen(bad[i]), NULL, 0, &o, &s) != HERALD_ESUBJECT)
            fail_msg("subject \"%s\" accepted", bad[i]);
        assert_null(s);
    }
    static const char *const badq[] = {" ", "a b", "q\t", "\n"};
    for (size_t i = 0; i < N_ELEMS(badq); i++)
        assert_int_equal(herald_sub_create(e, "foo", 3, badq[i], strlen(badq[i]), &o, &s),
                         HERALD_EQUEUE);
    assert_int_equal(herald_sub_create(e, "foo", 3, NULL, 0, NULL, &s), HERALD_EINVAL);
    struct herald_sub_options nod = {.deliver = NULL};
    assert_int_equal(herald_sub_create(e, "foo", 3, NULL, 0, &nod, &s), HERALD_EINVAL);
    assert_int_equal(nsubs(e), 0);

    /* A queue pointer with length 0 is a plain subscription. */
    struct rec a = {0}, b = {0};
    o.ctx = &a;
    assert_int_equal(herald_sub_create(e, "foo", 3, "ignored", 0, &o, &a.sub), 0);
    o.ctx = &b;
    assert_int_equal(herald_sub_create(e, "foo", 3, "ignored", 0, &o, &b.sub), 0);
    assert_int_equal(pub(e, "foo"), 2);
    herald_sub_destroy(a.sub);
    herald_sub_destroy(b.sub);
    herald_engine_destroy(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fanout_plain),
        cmocka_unit_test(test_wildcards),
        cmocka_unit_test(test_overlapping_subs_each_deliver),
        cmocka_unit_test(test_queue_group_once_and_round_robin),
        cmocka_unit_test(test_queue_group_merged_across_filters),
        cmocka_unit_test(test_multiple_groups),
        cmocka_unit_test(test_many_groups_one_subject),
        cmocka_unit_test(test_queue_spread_any_pattern),
        cmocka_unit_test(test_no_echo),
        cmocka_unit_test(test_no_echo_queue),
        cmocka_unit_test(test_unsubscribe_self_in_callback),
        cmocka_unit_test(test_unsubscribe_later_sub_in_callback),
        cmocka_unit_test(test_subscribe_in_callback),
        cmocka_unit_test(test_nested_publish_with_destroy),
        cmocka_unit_test(test_destroy_null),
        cmocka_unit_test(test_cache_hits_and_invalidation),
        cmocka_unit_test(test_cache_collisions),
        cmocka_unit_test(test_bulk_distinct),
        cmocka_unit_test(test_bulk_same_subject),
        cmocka_unit_test(test_find_owned_sub),
        cmocka_unit_test(test_max_payload),
        cmocka_unit_test(test_invalid_subscriptions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
