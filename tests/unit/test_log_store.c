/* SPDX-License-Identifier: Apache-2.0
 *
 * Unit tests for the embedded log store (src/store/log_*.c) through its ops table
 * (store.h S1–S5, log_internal.h L1–L5, record.h F1–F3), over a fresh temp directory
 * and a private libuv loop per test.
 *
 * Most checks compare the store against a model: an array indexed by sequence that
 * knows every message ever appended and whether it is live. check() asserts state()
 * (msgs, bytes, first/last seq, first/last ts, num_subjects, num_deleted), get() of
 * every sequence (content or ENOTFOUND), a full get_next() walk, get_last() and
 * subject_state() of every subject. Persistence tests close the store and reopen it
 * and run the same check, so recovery must rebuild exactly what the running store had.
 *
 * Also here: segment rolling and unlinking of dead leading segments, torn tails cut at
 * every byte offset of the last record (and single flipped bytes, and trailing garbage),
 * fault injection with hr_io_faulty (ENOSPC with a short write, EIO on fdatasync,
 * a failing ftruncate), group commit and the flush callback rules (S5) also across
 * destroy and stream close, atomic batches (all or nothing, also when torn at any byte),
 * and memory storage, which must give the same results as files.
 *
 * Store logging goes to /dev/null unless HERALD_TEST_LOG names a file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "common/log.h"
#include "common/subject.h"
#include "herald/errors.h"
#include "store/io.h"
#include "store/log_internal.h"
#include "store/record.h"
#include "store/store.h"

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))
#define TS0 1700000000000000000LL
#define HDR "NATS/1.0\r\nX-Test: yes\r\n\r\n"
#define HDR_LEN (sizeof HDR - 1)
#define STREAM "S"

/* ---- fixture ------------------------------------------------------------------------- */

struct fx {
    char dir[64];
    uv_loop_t loop;
    struct hr_log_store_options opts;
    struct hr_stream_limits lim;
    bool memory;
    struct hr_store *st;
    struct hr_stream_store *s;
    struct hr_io_faulty faulty;
};

static int fx_setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    if (!f)
        return -1;
    strcpy(f->dir, "/tmp/herald-store-XXXXXX");
    if (!mkdtemp(f->dir) || uv_loop_init(&f->loop) != 0) {
        free(f);
        return -1;
    }
    f->opts = (struct hr_log_store_options){.dir = f->dir, .sync = HR_SYNC_NEVER, .loop = &f->loop};
    *state = f;
    return 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_rf(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void store_open(struct fx *f)
{
    int rc = hr_log_store_create(&f->opts, &f->st);
    assert_int_equal(rc, 0);
    rc = f->st->ops->stream_open(f->st, STREAM, f->memory, &f->lim, &f->s);
    assert_int_equal(rc, 0);
}

/* Destroys the store, then runs the loop so its handles finish closing (libuv requires
 * the handle memory to stay valid until then). */
static void store_close(struct fx *f)
{
    f->st->ops->destroy(f->st);
    f->st = NULL;
    f->s = NULL;
    uv_run(&f->loop, UV_RUN_DEFAULT);
}

static void store_reopen(struct fx *f)
{
    store_close(f);
    store_open(f);
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    if (f->st)
        store_close(f);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    int rc = uv_loop_close(&f->loop);
    rm_rf(f->dir);
    free(f);
    return rc == 0 ? 0 : -1;
}

static struct hr_log_store *lstore(struct fx *f)
{
    return (struct hr_log_store *)f->st;
}

static const char *stream_dir(struct fx *f, char *buf, size_t n)
{
    snprintf(buf, n, "%s/streams/%s", f->dir, STREAM);
    return buf;
}

static int count_files(struct fx *f, const char *suffix)
{
    char d[128];
    DIR *dp = opendir(stream_dir(f, d, sizeof d));
    if (!dp)
        return 0;
    int n = 0;
    size_t sl = strlen(suffix);
    struct dirent *de;
    while ((de = readdir(dp))) {
        size_t l = strlen(de->d_name);
        if (l > sl && strcmp(de->d_name + l - sl, suffix) == 0)
            n++;
    }
    closedir(dp);
    return n;
}

static int count_segs(struct fx *f)
{
    return count_files(f, ".seg");
}

/* Path of the newest segment file (the highest name). */
static void last_seg_path(struct fx *f, char *out, size_t n)
{
    char d[128], best[256] = "";
    DIR *dp = opendir(stream_dir(f, d, sizeof d));
    assert_non_null(dp);
    struct dirent *de;
    while ((de = readdir(dp))) {
        size_t l = strlen(de->d_name);
        if (l == 24 && strcmp(de->d_name + 20, ".seg") == 0 && strcmp(de->d_name, best) > 0)
            snprintf(best, sizeof best, "%s", de->d_name);
    }
    closedir(dp);
    assert_true(best[0] != '\0');
    snprintf(out, n, "%s/%s", d, best);
}

static int64_t file_size(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return (int64_t)sb.st_size;
}

/* ---- flush helpers ------------------------------------------------------------------- */

struct flush_res {
    int calls;
    int status;
    int order;
    int *counter;
};

static void on_flush(void *arg, int status)
{
    struct flush_res *r = arg;
    r->calls++;
    r->status = status;
    if (r->counter)
        r->order = ++*r->counter;
}

static void on_guard(uv_timer_t *t)
{
    (void)t;
}

/* Runs the loop until *counter >= want or ~5 s pass. A referenced guard timer keeps the
 * loop alive: the store's own handles are unreferenced. */
static void wait_until(uv_loop_t *loop, const int *counter, int want)
{
    uv_timer_t guard;
    uv_timer_init(loop, &guard);
    uv_timer_start(&guard, on_guard, 5, 5);
    uint64_t t0 = uv_hrtime();
    while (*counter < want && uv_hrtime() - t0 < 5000000000ULL)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

static int flush_wait(struct fx *f)
{
    struct flush_res r = {0, 12345, 0, NULL};
    f->st->ops->flush(f->st, on_flush, &r);
    wait_until(&f->loop, &r.calls, 1);
    assert_int_equal(r.calls, 1);
    return r.status;
}

/* ---- the model ----------------------------------------------------------------------- */

struct mmsg {
    char subj[32];
    size_t sl, hl, dl;
    int64_t ts;
    bool live;
};

struct model {
    struct mmsg *v; /* indexed by sequence; v[0] unused */
    size_t cap;
    uint64_t last;
    struct hr_stream_limits lim;
};

static void model_free(struct model *m)
{
    free(m->v);
    memset(m, 0, sizeof *m);
}

static void gen_data(char *out, uint64_t seq, size_t len)
{
    for (size_t i = 0; i < len; i++)
        out[i] = (char)('a' + (seq * 31 + i * 7) % 26);
}

static size_t rec_size(const struct mmsg *mm)
{
    return hr_record_size(mm->sl, mm->hl, mm->dl);
}

static uint64_t m_count(const struct model *m)
{
    uint64_t n = 0;
    for (uint64_t q = 1; q <= m->last; q++)
        n += m->v[q].live;
    return n;
}

static uint64_t m_bytes(const struct model *m)
{
    uint64_t n = 0;
    for (uint64_t q = 1; q <= m->last; q++)
        if (m->v[q].live)
            n += rec_size(&m->v[q]);
    return n;
}

static uint64_t m_first(const struct model *m)
{
    for (uint64_t q = 1; q <= m->last; q++)
        if (m->v[q].live)
            return q;
    return m->last + 1;
}

static bool same_subj(const struct mmsg *mm, const char *subj, size_t sl)
{
    return mm->sl == sl && memcmp(mm->subj, subj, sl) == 0;
}

static void m_subject(const struct model *m, const char *subj, size_t sl, uint64_t *first,
                      uint64_t *last, uint64_t *count)
{
    *first = *last = *count = 0;
    for (uint64_t q = 1; q <= m->last; q++)
        if (m->v[q].live && same_subj(&m->v[q], subj, sl)) {
            if (!*first)
                *first = q;
            *last = q;
            ++*count;
        }
}

static uint64_t m_num_subjects(const struct model *m)
{
    uint64_t n = 0;
    for (uint64_t q = 1; q <= m->last; q++) {
        if (!m->v[q].live)
            continue;
        bool seen = false;
        for (uint64_t p = 1; p < q && !seen; p++)
            seen = m->v[p].live && same_subj(&m->v[p], m->v[q].subj, m->v[q].sl);
        n += !seen;
    }
    return n;
}

static void m_push(struct model *m, const char *subj, size_t hl, size_t dl, int64_t ts)
{
    if (m->last + 2 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 256;
        m->v = realloc(m->v, cap * sizeof *m->v);
        assert_non_null(m->v);
        memset(m->v + m->cap, 0, (cap - m->cap) * sizeof *m->v);
        m->cap = cap;
    }
    struct mmsg *mm = &m->v[++m->last];
    memset(mm, 0, sizeof *mm);
    mm->sl = strlen(subj);
    assert_true(mm->sl < sizeof mm->subj);
    memcpy(mm->subj, subj, mm->sl);
    mm->hl = hl;
    mm->dl = dl;
    mm->ts = ts;
    mm->live = true;
}

/* Applies discard-old limits after an append of `seq` (S2; same order as the store). */
static void m_apply_limits(struct model *m, uint64_t seq)
{
    const struct hr_stream_limits *l = &m->lim;
    if (l->max_msgs_per_subject > 0) {
        uint64_t first, last, count;
        m_subject(m, m->v[seq].subj, m->v[seq].sl, &first, &last, &count);
        while (count > (uint64_t)l->max_msgs_per_subject) {
            m->v[first].live = false;
            m_subject(m, m->v[seq].subj, m->v[seq].sl, &first, &last, &count);
        }
    }
    if (!l->discard_new)
        while ((l->max_msgs > 0 && m_count(m) > (uint64_t)l->max_msgs) ||
               (l->max_bytes > 0 && m_bytes(m) > (uint64_t)l->max_bytes))
            m->v[m_first(m)].live = false;
}

/* The result the store must give for this append (before it happens). */
static int m_expect_append(const struct model *m, const char *subj, size_t hl, size_t dl)
{
    const struct hr_stream_limits *l = &m->lim;
    size_t size = hr_record_size(strlen(subj), hl, dl);
    if (l->max_msg_size > 0 && hl + dl > (uint64_t)l->max_msg_size)
        return HERALD_ETOOBIG;
    if (l->discard_new) {
        if (l->max_msgs > 0 && m_count(m) + 1 > (uint64_t)l->max_msgs)
            return HERALD_ELIMIT;
        if (l->max_bytes > 0 && m_bytes(m) + size > (uint64_t)l->max_bytes)
            return HERALD_ELIMIT;
        if (l->discard_new_per_subject && l->max_msgs_per_subject > 0) {
            uint64_t first, last, count;
            m_subject(m, subj, strlen(subj), &first, &last, &count);
            if (count >= (uint64_t)l->max_msgs_per_subject)
                return HERALD_ELIMIT;
        }
    }
    return 0;
}

/* Appends through the store and the model; asserts the store's answer. Returns the new
 * sequence, or 0 when the append was (rightly) refused. */
static uint64_t put_ts(struct fx *f, struct model *m, const char *subj, size_t hl, size_t dl,
                       int64_t ts)
{
    static char data[70000];
    assert_true(dl <= sizeof data);
    uint64_t seq = m->last + 1;
    gen_data(data, seq, dl);
    int want = m_expect_append(m, subj, hl, dl);
    uint64_t got = 0;
    int rc = f->st->ops->append(f->s, subj, strlen(subj), hl ? HDR : NULL, hl, dl ? data : NULL,
                                dl, ts, &got);
    if (rc != want)
        fail_msg("append %s (seq %" PRIu64 "): %s, want %s", subj, seq, herald_err_name(rc),
                 herald_err_name(want));
    if (rc)
        return 0;
    assert_int_equal(got, seq);
    m_push(m, subj, hl, dl, ts);
    m_apply_limits(m, seq);
    return seq;
}

static uint64_t put(struct fx *f, struct model *m, const char *subj, size_t hl, size_t dl)
{
    return put_ts(f, m, subj, hl, dl, TS0 + (int64_t)(m->last + 1) * 1000);
}

static void check_msg(const struct hr_store_msg *g, const struct model *m, uint64_t seq)
{
    static char want[70000];
    const struct mmsg *mm = &m->v[seq];
    assert_int_equal(g->seq, seq);
    assert_true(g->ts_ns == mm->ts);
    assert_int_equal(g->subject_len, mm->sl);
    assert_memory_equal(g->subject, mm->subj, mm->sl);
    assert_int_equal(g->subject[mm->sl], '\0');
    assert_int_equal(g->hdr_len, mm->hl);
    if (mm->hl)
        assert_memory_equal(g->hdr, HDR, mm->hl);
    assert_int_equal(g->data_len, mm->dl);
    gen_data(want, seq, mm->dl);
    if (mm->dl)
        assert_memory_equal(g->data, want, mm->dl);
}

static void check_state(struct fx *f, const struct model *m)
{
    struct hr_stream_state st;
    f->st->ops->state(f->s, &st);
    uint64_t first = m_first(m), count = m_count(m);
    uint64_t deleted = 0;
    for (uint64_t q = first; q <= m->last; q++)
        deleted += !m->v[q].live;
    if (st.msgs != count || st.first_seq != first || st.last_seq != m->last ||
        st.num_deleted != deleted)
        fail_msg("state: msgs %" PRIu64 "/%" PRIu64 " first %" PRIu64 "/%" PRIu64
                 " last %" PRIu64 "/%" PRIu64 " deleted %" PRIu64 "/%" PRIu64 " (got/want)",
                 st.msgs, count, st.first_seq, first, st.last_seq, m->last, st.num_deleted,
                 deleted);
    assert_int_equal(st.bytes, m_bytes(m));
    assert_int_equal(st.num_subjects, m_num_subjects(m));
    if (count) {
        assert_true(st.first_ts_ns == m->v[first].ts);
        uint64_t lastlive = m->last;
        while (!m->v[lastlive].live)
            lastlive--;
        /* last_ts is the timestamp of the last live message */
        assert_true(st.last_ts_ns == m->v[lastlive].ts || !m->v[m->last].live);
    }
}

/* Every subject in `pool` plus the model's own subjects. */
static void check_subjects(struct fx *f, const struct model *m)
{
    for (uint64_t q = 1; q <= m->last; q++) {
        const struct mmsg *mm = &m->v[q];
        bool first_of_kind = true;
        for (uint64_t p = 1; p < q && first_of_kind; p++)
            first_of_kind = !same_subj(&m->v[p], mm->subj, mm->sl);
        if (!first_of_kind)
            continue;
        uint64_t first, last, count;
        m_subject(m, mm->subj, mm->sl, &first, &last, &count);
        struct hr_subject_state ss;
        bool found = f->st->ops->subject_state(f->s, mm->subj, mm->sl, &ss);
        assert_int_equal(found, count > 0);
        struct hr_store_msg g;
        int rc = f->st->ops->get_last(f->s, mm->subj, mm->sl, &g);
        if (!count) {
            assert_int_equal(rc, HERALD_ENOTFOUND);
            continue;
        }
        if (ss.first_seq != first || ss.last_seq != last || ss.msgs != count)
            fail_msg("subject %.*s: first %" PRIu64 "/%" PRIu64 " last %" PRIu64 "/%" PRIu64
                     " msgs %" PRIu64 "/%" PRIu64 " (got/want)", (int)mm->sl, mm->subj,
                     ss.first_seq, first, ss.last_seq, last, ss.msgs, count);
        assert_int_equal(rc, 0);
        check_msg(&g, m, last);
        hr_store_msg_free(&g);
        /* get_next with the literal subject from 0 finds its first message. */
        rc = f->st->ops->get_next(f->s, 0, mm->subj, mm->sl, &g);
        assert_int_equal(rc, 0);
        assert_int_equal(g.seq, first);
        hr_store_msg_free(&g);
    }
}

/* count_from() (when the backend has it) against the model, at a few starting points
 * and filters (literal subjects go through the subject index, wildcards scan). */
static void check_count_from(struct fx *f, const struct model *m)
{
    if (!f->st->ops->count_from)
        return;
    const char *filters[] = {NULL, ">", "k.*", "x.>", "k.0", "k.3", "solo", "kv.a", "t.odd"};
    uint64_t first = m_first(m);
    const uint64_t starts[] = {0, first, first + 1, (first + m->last) / 2, m->last, m->last + 1};
    for (size_t i = 0; i < N_ELEMS(filters); i++)
        for (size_t k = 0; k < N_ELEMS(starts); k++) {
            const char *fl = filters[i];
            uint64_t want = 0;
            for (uint64_t q = starts[k] ? starts[k] : 1; q <= m->last; q++)
                want += m->v[q].live &&
                        (!fl || hr_subject_matches(fl, strlen(fl), m->v[q].subj, m->v[q].sl));
            uint64_t got = f->st->ops->count_from(f->s, starts[k], fl, fl ? strlen(fl) : 0);
            if (got != want)
                fail_msg("count_from(%" PRIu64 ", %s): %" PRIu64 ", want %" PRIu64, starts[k],
                         fl ? fl : "NULL", got, want);
        }
}

static void check(struct fx *f, const struct model *m)
{
    check_state(f, m);
    check_count_from(f, m);
    struct hr_store_msg g;
    for (uint64_t q = 0; q <= m->last + 2; q++) {
        int rc = f->st->ops->get(f->s, q, &g);
        bool live = q >= 1 && q <= m->last && m->v[q].live;
        if (rc != (live ? 0 : HERALD_ENOTFOUND))
            fail_msg("get(%" PRIu64 "): %s, want %s", q, herald_err_name(rc),
                     live ? "OK" : "ENOTFOUND");
        if (live) {
            check_msg(&g, m, q);
            hr_store_msg_free(&g);
        }
    }
    /* A full walk with get_next sees exactly the live messages, in order. */
    uint64_t q = 0, want = m_first(m);
    for (;;) {
        int rc = f->st->ops->get_next(f->s, q, NULL, 0, &g);
        while (want <= m->last && !m->v[want].live)
            want++;
        if (want > m->last) {
            assert_int_equal(rc, HERALD_ENOTFOUND);
            break;
        }
        if (rc != 0 || g.seq != want)
            fail_msg("get_next(%" PRIu64 "): %s seq %" PRIu64 ", want %" PRIu64, q,
                     herald_err_name(rc), rc ? 0 : g.seq, want);
        check_msg(&g, m, want);
        hr_store_msg_free(&g);
        q = ++want;
    }
    check_subjects(f, m);
}

/* ---- basics ---------------------------------------------------------------------------- */

static void test_empty_stream(void **state)
{
    struct fx *f = *state;
    store_open(f);
    struct hr_stream_state st;
    f->st->ops->state(f->s, &st);
    assert_int_equal(st.msgs, 0);
    assert_int_equal(st.first_seq, 1);
    assert_int_equal(st.last_seq, 0);
    struct hr_store_msg g;
    assert_int_equal(f->st->ops->get(f->s, 0, &g), HERALD_ENOTFOUND);
    assert_int_equal(f->st->ops->get(f->s, 1, &g), HERALD_ENOTFOUND);
    assert_int_equal(f->st->ops->get_next(f->s, 0, NULL, 0, &g), HERALD_ENOTFOUND);
    assert_int_equal(f->st->ops->get_last(f->s, "a", 1, &g), HERALD_ENOTFOUND);
    assert_int_equal(f->st->ops->get_last(f->s, ">", 1, &g), HERALD_ENOTFOUND);
    assert_int_equal(f->st->ops->seq_for_time(f->s, 0), 0);
    assert_int_equal(f->st->ops->remove(f->s, 1), HERALD_ENOTFOUND);
    uint64_t purged = 99;
    assert_int_equal(f->st->ops->purge(f->s, NULL, 0, 0, 0, &purged), 0);
    assert_int_equal(purged, 0);
    assert_int_equal(f->st->ops->expire(f->s, TS0), 0);
    store_reopen(f);
    f->st->ops->state(f->s, &st);
    assert_int_equal(st.msgs, 0);
    assert_int_equal(st.first_seq, 1);
    assert_int_equal(st.last_seq, 0);
}

static void test_append_get(void **state)
{
    struct fx *f = *state;
    store_open(f);
    struct model m = {0};
    assert_int_equal(put(f, &m, "orders.new", HDR_LEN, 20), 1);
    assert_int_equal(put(f, &m, "orders.old", 0, 0), 2);     /* empty data */
    assert_int_equal(put(f, &m, "a", HDR_LEN, 0), 3);         /* header only */
    assert_int_equal(put(f, &m, "b.c", 0, 5000), 4);          /* > one 4 KiB read */
    assert_int_equal(put(f, &m, "orders.new", 0, 1), 5);
    check(f, &m);
    /* Messages returned are copies owned by the caller (S4): NUL-terminated fields. */
    struct hr_store_msg g;
    assert_int_equal(f->st->ops->get(f->s, 1, &g), 0);
    assert_string_equal(g.subject, "orders.new");
    assert_int_equal(g.hdr[g.hdr_len], '\0');
    assert_int_equal(g.data[g.data_len], '\0');
    hr_store_msg_free(&g);
    hr_store_msg_free(&g); /* twice is harmless */
    store_reopen(f);
    check(f, &m);
    assert_int_equal(put(f, &m, "after", 0, 3), 6);
    check(f, &m);
    model_free(&m);
}

static void test_append_refusals(void **state)
{
    struct fx *f = *state;
    store_open(f);
    uint64_t seq = 0;
    static char big[UINT16_MAX + 2];
    memset(big, 's', sizeof big);
    assert_int_equal(f->st->ops->append(f->s, big, UINT16_MAX + 1, NULL, 0, "x", 1, TS0, &seq),
                     HERALD_ESUBJECT);
    assert_int_equal(f->st->ops->append(f->s, big, UINT16_MAX, NULL, 0, "x", 1, TS0, &seq), 0);
    assert_int_equal(seq, 1);
    struct hr_store_msg g;
    assert_int_equal(f->st->ops->get(f->s, 1, &g), 0);
    assert_int_equal(g.subject_len, UINT16_MAX);
    hr_store_msg_free(&g);
    /* Larger than a record may be (F1); refused before the data is read. */
    assert_int_equal(f->st->ops->append(f->s, "a", 1, NULL, 0, big, HR_RECORD_MAX, TS0, &seq),
                     HERALD_ETOOBIG);
    struct hr_stream_state st;
    f->st->ops->state(f->s, &st);
    assert_int_equal(st.msgs, 1);
    assert_int_equal(st.last_seq, 1);
}

static void test_get_next_filters(void **state)
{
    struct fx *f = *state;
    store_open(f);
    struct model m = {0};
    const char *subs[] = {"a.b.c", "a.x.c", "b.b", "a.b", "a.b.c.d", "z"};
    for (int i = 0; i < 60; i++)
        put(f, &m, subs[i % 6], 0, 10);
    struct {
        const char *filter;
        uint64_t from, want;
    } cases[] = {
        {"a.b.c", 0, 1},    {"a.b.c", 2, 7},    {"a.*.c", 2, 2},  {"a.*.c", 3, 7},
        {"a.>", 3, 4},      {"a.>", 6, 7},      {">", 33, 33},    {"*.b", 1, 3},
        {"*", 1, 6},        {"a.b.c.d", 0, 5},  {"a.b.*.d", 6, 11}, {"z", 59, 60},
        {"nope", 0, 0},     {"a.b.c", 60, 0},   {"q.>", 0, 0},    {"a.b", 61, 0},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        struct hr_store_msg g;
        int rc = f->st->ops->get_next(f->s, cases[i].from, cases[i].filter,
                                      strlen(cases[i].filter), &g);
        if (!cases[i].want) {
            assert_int_equal(rc, HERALD_ENOTFOUND);
            continue;
        }
        if (rc != 0 || g.seq != cases[i].want)
            fail_msg("get_next(%" PRIu64 ", %s): %s seq %" PRIu64 ", want %" PRIu64,
                     cases[i].from, cases[i].filter, herald_err_name(rc), rc ? 0 : g.seq,
                     cases[i].want);
        check_msg(&g, &m, g.seq);
        hr_store_msg_free(&g);
    }
    /* Removed messages are skipped, with and without a filter. */
    assert_int_equal(f->st->ops->remove(f->s, 7), 0);
    m.v[7].live = false;
    struct hr_store_msg g;
    assert_int_equal(f->st->ops->get_next(f->s, 2, "a.*.c", 5, &g), 0);
    assert_int_equal(g.seq, 2);
    hr_store_msg_free(&g);
    assert_int_equal(f->st->ops->get_next(f->s, 3, "a.b.c", 5, &g), 0);
    assert_int_equal(g.seq, 13);
    hr_store_msg_free(&g);
    assert_int_equal(f->st->ops->get_next(f->s, 7, NULL, 0, &g), 0);
    assert_int_equal(g.seq, 8);
    hr_store_msg_free(&g);
    check(f, &m);
    model_free(&m);
}

static void test_get_last(void **state)
{
    struct fx *f = *state;
    store_open(f);
    struct model m = {0};
    put(f, &m, "kv.a", 0, 1); /* 1 */
    put(f, &m, "kv.b", 0, 2); /* 2 */
    put(f, &m, "kv.a", 0, 3); /* 3 */
    put(f, &m, "other", 0, 4); /* 4 */
    put(f, &m, "kv.a", 0, 5); /* 5 */
    put(f, &m, "kv.c.d", 0, 6); /* 6 */
    struct hr_store_msg g;
    struct {
        const char *subj;
        uint64_t want;
    } cases[] = {
        {"kv.a", 5}, {"kv.b", 2}, {"kv.*", 5}, {"kv.>", 6}, {">", 6}, {"*", 4},
        {"kv.c.*", 6}, {"kv.x", 0}, {"zz.>", 0},
    };
    for (size_t i = 0; i < N_ELEMS(cases); i++) {
        int rc = f->st->ops->get_last(f->s, cases[i].subj, strlen(cases[i].subj), &g);
        if (!cases[i].want) {
            assert_int_equal(rc, HERALD_ENOTFOUND);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_int_equal(g.seq, cases[i].want);
        check_msg(&g, &m, g.seq);
        hr_store_msg_free(&g);
    }
    /* Removing the last of a subject: get_last returns the previous one. */
    assert_int_equal(f->st->ops->remove(f->s, 5), 0);
    m.v[5].live = false;
    assert_int_equal(f->st->ops->get_last(f->s, "kv.a", 4, &g), 0);
    assert_int_equal(g.seq, 3);
    hr_store_msg_free(&g);
    assert_int_equal(f->st->ops->get_last(f->s, "kv.*", 4, &g), 0);
    assert_int_equal(g.seq, 3);
    hr_store_msg_free(&g);
    assert_int_equal(f->st->ops->remove(f->s, 3), 0);
    m.v[3].live = false;
    assert_int_equal(f->st->ops->get_last(f->s, "kv.a", 4, &g), 0);
    assert_int_equal(g.seq, 1);
    hr_store_msg_free(&g);
    check(f, &m);
    store_reopen(f);
    check(f, &m);
    assert_int_equal(f->st->ops->remove(f->s, 1), 0);
    m.v[1].live = false;
    assert_int_equal(f->st->ops->get_last(f->s, "kv.a", 4, &g), HERALD_ENOTFOUND);
    check(f, &m);
    model_free(&m);
}

static void test_seq_for_time(void **state)
{
    struct fx *f = *state;
    f->opts.segment_bytes = 4096; /* many segments, each with a sparse index */
    store_open(f);
    struct model m = {0};
    const uint64_t n = 800;
    for (uint64_t i = 1; i <= n; i++)
        put_ts(f, &m, "t", 0, 2, TS0 + (int64_t)i * 1000); /* >64 a segment: sparse index */
    assert_true(lstore(f)->streams->nsegs > 4);
    assert_true(lstore(f)->streams->segs[0]->nidx > 1);
    assert_int_equal(f->st->ops->seq_for_time(f->s, 0), 1);
    assert_int_equal(f->st->ops->seq_for_time(f->s, TS0 + 1000), 1);
    for (uint64_t q = 1; q <= n; q += 7) {
        assert_int_equal(f->st->ops->seq_for_time(f->s, TS0 + (int64_t)q * 1000), q);
        assert_int_equal(f->st->ops->seq_for_time(f->s, TS0 + (int64_t)q * 1000 - 1), q);
        assert_int_equal(f->st->ops->seq_for_time(f->s, TS0 + (int64_t)q * 1000 + 1),
                         q < n ? q + 1 : 0);
    }
    assert_int_equal(f->st->ops->seq_for_time(f->s, TS0 + (int64_t)(n + 1) * 1000), 0);
    /* Removed messages are skipped: the answer is the next live one. */
    for (uint64_t q = 100; q <= 130; q++) {
        assert_int_equal(f->st->ops->remove(f->s, q), 0);
        m.v[q].live = false;
    }
    assert_int_equal(f->st->ops->seq_for_time(f->s, TS0 + 100 * 1000), 131);
    assert_int_equal(f->st->ops->seq_for_time(f->s, TS0 + 99 * 1000 + 1), 131);
    uint64_t purged;
    assert_int_equal(f->st->ops->purge(f->s, NULL, 0, 200, 0, &purged), 0);
    assert_int_equal(purged, 99 + 69);
    for (uint64_t q = 1; q < 200; q++)
        m.v[q].live = false;
    assert_int_equal(f->st->ops->seq_for_time(f->s, 0), 200);
    assert_int_equal(f->st->ops->seq_for_time(f->s, TS0 + 50 * 1000), 200);
    check(f, &m);
    store_reopen(f);
    assert_int_equal(f->st->ops->seq_for_time(f->s, TS0 + 50 * 1000), 200);
    assert_int_equal(f->st->ops->seq_for_time(f->s, TS0 + 300 * 1000), 300);
    assert_int_equal(f->st->ops->seq_for_time(f->s, TS0 + 700 * 1000 + 5), 701);
    check(f, &m);
    model_free(&m);
}

/* ---- removal and purge --------------------------------------------------------------------- */

static void test_remove(void **state)
{
    struct fx *f = *state;
    store_open(f);
    struct model m = {0};
    for (int i = 0; i < 10; i++)
        put(f, &m, i % 2 ? "odd" : "even", 0, 8);
    const uint64_t order[] = {5, 1, 10, 2, 9, 3, 4, 8, 6, 7};
    for (size_t i = 0; i < N_ELEMS(order); i++) {
        assert_int_equal(f->st->ops->remove(f->s, order[i]), 0);
        assert_int_equal(f->st->ops->remove(f->s, order[i]), HERALD_ENOTFOUND);
        m.v[order[i]].live = false;
        check(f, &m);
        if (i % 3 == 0) {
            store_reopen(f);
            check(f, &m);
        }
    }
    assert_int_equal(f->st->ops->remove(f->s, 0), HERALD_ENOTFOUND);
    assert_int_equal(f->st->ops->remove(f->s, 11), HERALD_ENOTFOUND);
    /* Empty now: first = last + 1, and the next append continues at 11. */
    struct hr_stream_state st;
    f->st->ops->state(f->s, &st);
    assert_int_equal(st.first_seq, 11);
    assert_int_equal(st.last_seq, 10);
    store_reopen(f);
    check(f, &m);
    assert_int_equal(put(f, &m, "even", 0, 1), 11);
    check(f, &m);
    model_free(&m);
}

static uint64_t m_purge(struct model *m, const char *filter, uint64_t up_to, uint64_t keep)
{
    uint64_t n = 0;
    for (uint64_t q = 1; q <= m->last; q++)
        if (m->v[q].live && (!up_to || q < up_to) &&
            (!filter || hr_subject_matches(filter, strlen(filter), m->v[q].subj, m->v[q].sl)))
            n++;
    uint64_t remove = keep >= n ? 0 : n - keep, done = 0;
    for (uint64_t q = 1; q <= m->last && done < remove; q++)
        if (m->v[q].live && (!up_to || q < up_to) &&
            (!filter || hr_subject_matches(filter, strlen(filter), m->v[q].subj, m->v[q].sl))) {
            m->v[q].live = false;
            done++;
        }
    return remove;
}

static void purge(struct fx *f, struct model *m, const char *filter, uint64_t up_to, uint64_t keep)
{
    uint64_t want = m_purge(m, filter, up_to, keep), got = 12345;
    int rc = f->st->ops->purge(f->s, filter, filter ? strlen(filter) : 0, up_to, keep, &got);
    assert_int_equal(rc, 0);
    if (got != want)
        fail_msg("purge(%s, up_to %" PRIu64 ", keep %" PRIu64 "): %" PRIu64 " purged, want %" PRIu64,
                 filter ? filter : "NULL", up_to, keep, got, want);
}

static void test_purge(void **state)
{
    struct fx *f = *state;
    store_open(f);
    struct model m = {0};
    const char *subs[] = {"p.a", "p.b", "q.a"};
    for (int i = 0; i < 30; i++)
        put(f, &m, subs[i % 3], 0, 16);
    purge(f, &m, "p.a", 0, 0); /* by subject */
    check(f, &m);
    purge(f, &m, "p.b", 0, 3); /* keep the newest 3 */
    check(f, &m);
    purge(f, &m, NULL, 10, 0); /* everything below 10 */
    check(f, &m);
    purge(f, &m, "q.*", 20, 0); /* by wildcard below 20 */
    check(f, &m);
    store_reopen(f);
    check(f, &m);
    purge(f, &m, ">", 0, 2); /* all subjects, keep 2 */
    check(f, &m);
    store_reopen(f);
    check(f, &m);
    for (int i = 0; i < 5; i++)
        put(f, &m, subs[i % 3], 0, 16);
    purge(f, &m, NULL, 0, 0); /* all */
    check(f, &m);
    purge(f, &m, NULL, 0, 0); /* again: nothing */
    check(f, &m);
    store_reopen(f);
    check(f, &m);
    /* Sequences never go back after purging everything, also across a restart. */
    assert_int_equal(put(f, &m, "p.a", 0, 1), 36);
    check(f, &m);
    model_free(&m);
}

static void test_purge_then_restart_keeps_later_messages(void **state)
{
    struct fx *f = *state;
    store_open(f);
    struct model m = {0};
    for (int i = 0; i < 20; i++)
        put(f, &m, "a", 0, 10);
    purge(f, &m, NULL, 11, 0); /* a floor record at 11 */
    for (int i = 0; i < 5; i++)
        put(f, &m, "b", 0, 10); /* written after the floor */
    check(f, &m);
    store_reopen(f);
    check(f, &m);
    /* The floor is read back, not taken for a torn tail: nothing was cut. */
    char path[256];
    last_seg_path(f, path, sizeof path);
    struct hr_stream_state st;
    f->st->ops->state(f->s, &st);
    assert_int_equal(st.msgs, 15);
    model_free(&m);
}

/* ---- limits -------------------------------------------------------------------------------- */

static void test_limits_max_msgs_bytes(void **state)
{
    struct fx *f = *state;
    f->lim.max_msgs = 10;
    store_open(f);
    struct model m = {.lim = f->lim};
    for (int i = 0; i < 25; i++) {
        put(f, &m, i % 2 ? "a" : "b", 0, (size_t)(i * 3));
        check_state(f, &m);
    }
    check(f, &m);
    store_reopen(f);
    check(f, &m);
    /* Tighter limits apply at once (set_limits). */
    struct hr_stream_limits lim = {.max_bytes = 300};
    assert_int_equal(f->st->ops->stream_set_limits(f->s, &lim), 0);
    m.lim = lim;
    while (m_bytes(&m) > 300)
        m.v[m_first(&m)].live = false;
    check(f, &m);
    for (int i = 0; i < 20; i++)
        put(f, &m, "c", 0, (size_t)(i * 5));
    check(f, &m);
    store_close(f);
    f->lim = lim;
    store_open(f);
    check(f, &m);
    model_free(&m);
}

static void kv_history(struct fx *f, int64_t history, int keys, int rounds)
{
    f->lim.max_msgs_per_subject = history;
    f->opts.segment_bytes = 4096;
    store_open(f);
    struct model m = {.lim = f->lim};
    char key[32];
    unsigned x = 7;
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < keys; k++) {
            x = x * 1103515245u + 12345u;
            snprintf(key, sizeof key, "$KV.b.k%d", (int)((x >> 16) % (unsigned)keys));
            put(f, &m, key, 0, 20);
        }
    check(f, &m);
    /* Every key holds at most `history` messages and the newest ones. */
    for (int k = 0; k < keys; k++) {
        snprintf(key, sizeof key, "$KV.b.k%d", k);
        uint64_t first, last, count;
        m_subject(&m, key, strlen(key), &first, &last, &count);
        assert_true(count <= (uint64_t)history);
    }
    store_reopen(f);
    check(f, &m);
    for (int k = 0; k < keys; k++) {
        snprintf(key, sizeof key, "$KV.b.k%d", k);
        put(f, &m, key, 0, 20);
    }
    check(f, &m);
    model_free(&m);
}

static void test_limits_kv_history_1(void **state)
{
    kv_history(*state, 1, 40, 25);
}

static void test_limits_kv_history_5(void **state)
{
    struct fx *f = *state;
    kv_history(f, 5, 30, 20);
}

static void test_limits_lowered_per_subject(void **state)
{
    /* Lowering max_msgs_per_subject (KV history 5 -> 2) trims what is stored at once. */
    struct fx *f = *state;
    f->lim.max_msgs_per_subject = 5;
    store_open(f);
    struct model m = {.lim = f->lim};
    char key[16];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "k.%d", (i * 7) % 13);
        put(f, &m, key, 0, 9);
    }
    check(f, &m);
    struct hr_stream_limits lim = {.max_msgs_per_subject = 2};
    assert_int_equal(f->st->ops->stream_set_limits(f->s, &lim), 0);
    m.lim = lim;
    for (uint64_t q = 1; q <= m.last; q++)
        if (m.v[q].live)
            m_apply_limits(&m, q);
    check(f, &m);
    store_close(f);
    f->lim = lim;
    store_open(f);
    check(f, &m);
    model_free(&m);
}

static void test_limits_kv_unlinks_dead_segments(void **state)
{
    /* A few keys updated over and over: the old segments hold only dead messages, and
     * must go (L3), without a max_msgs limit doing it. */
    struct fx *f = *state;
    f->lim.max_msgs_per_subject = 1;
    f->opts.segment_bytes = 4096;
    store_open(f);
    struct model m = {.lim = f->lim};
    char key[16];
    for (int i = 0; i < 1500; i++) {
        snprintf(key, sizeof key, "k.%d", i % 4);
        put(f, &m, key, 0, 40);
    }
    check(f, &m);
    int segs = count_segs(f);
    if (segs > 3)
        fail_msg("%d segment files for 4 live messages", segs);
    store_reopen(f);
    check(f, &m);
    model_free(&m);
}

static void test_limits_discard_new(void **state)
{
    struct fx *f = *state;
    f->lim.max_msgs = 5;
    f->lim.discard_new = true;
    store_open(f);
    struct model m = {.lim = f->lim};
    for (int i = 0; i < 5; i++)
        assert_int_equal(put(f, &m, "a", 0, 10), (uint64_t)i + 1);
    uint64_t seq;
    assert_int_equal(f->st->ops->append(f->s, "a", 1, NULL, 0, "x", 1, TS0, &seq), HERALD_ELIMIT);
    check(f, &m);
    assert_int_equal(f->st->ops->remove(f->s, 2), 0);
    m.v[2].live = false;
    assert_int_equal(put(f, &m, "a", 0, 10), 6); /* room again; seq continues */
    check(f, &m);

    /* max_bytes: a message that would pass the limit is refused, a smaller one fits. */
    struct hr_stream_limits lim = {.max_bytes = (int64_t)m_bytes(&m) + 40, .discard_new = true};
    assert_int_equal(f->st->ops->stream_set_limits(f->s, &lim), 0);
    m.lim = lim;
    assert_int_equal(put(f, &m, "b", 0, 100), 0); /* refused */
    assert_int_equal(put(f, &m, "b", 0, 7), 7);   /* 32 + 1 + 7 = 40 fits exactly */
    assert_int_equal(put(f, &m, "b", 0, 0), 0);
    check(f, &m);
    store_close(f);
    f->lim = lim;
    store_open(f);
    check(f, &m);
    model_free(&m);
}

static void test_limits_discard_new_per_subject(void **state)
{
    struct fx *f = *state;
    f->lim.max_msgs_per_subject = 2;
    f->lim.discard_new = true;
    f->lim.discard_new_per_subject = true;
    store_open(f);
    struct model m = {.lim = f->lim};
    assert_int_equal(put(f, &m, "k.1", 0, 1), 1);
    assert_int_equal(put(f, &m, "k.1", 0, 1), 2);
    assert_int_equal(put(f, &m, "k.1", 0, 1), 0); /* ELIMIT for this subject only */
    assert_int_equal(put(f, &m, "k.2", 0, 1), 3);
    assert_int_equal(put(f, &m, "k.2", 0, 1), 4);
    assert_int_equal(put(f, &m, "k.2", 0, 1), 0);
    check(f, &m);
    assert_int_equal(f->st->ops->remove(f->s, 1), 0);
    m.v[1].live = false;
    assert_int_equal(put(f, &m, "k.1", 0, 1), 5);
    check(f, &m);
    store_reopen(f);
    check(f, &m);
    assert_int_equal(put(f, &m, "k.1", 0, 1), 0);
    /* discard new without discard_new_per_subject: the per-subject limit drops old. */
    struct hr_stream_limits lim = {.max_msgs_per_subject = 2, .discard_new = true};
    assert_int_equal(f->st->ops->stream_set_limits(f->s, &lim), 0);
    m.lim = lim;
    assert_int_equal(put(f, &m, "k.1", 0, 1), 6);
    check(f, &m);
    model_free(&m);
}

static void test_limits_max_msg_size(void **state)
{
    struct fx *f = *state;
    f->lim.max_msg_size = 100;
    store_open(f);
    struct model m = {.lim = f->lim};
    assert_int_equal(put(f, &m, "a", 0, 100), 1);
    assert_int_equal(put(f, &m, "a", 0, 101), 0); /* ETOOBIG */
    assert_int_equal(put(f, &m, "a", HDR_LEN, 100 - HDR_LEN), 2);
    assert_int_equal(put(f, &m, "a", HDR_LEN, 101 - HDR_LEN), 0);
    m.lim.discard_new = f->lim.discard_new = true;
    assert_int_equal(f->st->ops->stream_set_limits(f->s, &f->lim), 0);
    assert_int_equal(put(f, &m, "a", 0, 101), 0);
    check(f, &m);
    model_free(&m);
}

static void test_expire(void **state)
{
    struct fx *f = *state;
    f->lim.max_age_ns = 10000;
    store_open(f);
    struct model m = {.lim = f->lim};
    for (int i = 1; i <= 20; i++)
        put_ts(f, &m, i % 2 ? "x" : "y", 0, 4, TS0 + (int64_t)i * 1000);
    /* At TS0 + 15500 the cutoff is TS0 + 5500: 1..5 are older. */
    assert_int_equal(f->st->ops->expire(f->s, TS0 + 15500), 5);
    for (int q = 1; q <= 5; q++)
        m.v[q].live = false;
    check(f, &m);
    assert_int_equal(f->st->ops->expire(f->s, TS0 + 15500), 0);
    store_reopen(f);
    check(f, &m);
    assert_int_equal(f->st->ops->expire(f->s, TS0 + 30001), 15);
    for (int q = 6; q <= 20; q++)
        m.v[q].live = false;
    check(f, &m);
    store_reopen(f);
    check(f, &m);
    assert_int_equal(put(f, &m, "x", 0, 1), 21);
    check(f, &m);
    model_free(&m);
}

/* ---- segments ------------------------------------------------------------------------------ */

static void test_segments_roll_and_unlink(void **state)
{
    struct fx *f = *state;
    f->opts.segment_bytes = 4096;
    store_open(f);
    struct model m = {0};
    for (int i = 0; i < 300; i++)
        put(f, &m, "r", 0, 100);
    int segs = count_segs(f);
    assert_true(segs >= 8);
    assert_int_equal((size_t)segs, lstore(f)->streams->nsegs);
    /* A message bigger than a segment gets one of its own. */
    put(f, &m, "big", 0, 10000);
    put(f, &m, "r", 0, 100);
    check(f, &m);
    store_reopen(f);
    check(f, &m);
    assert_int_equal(count_segs(f), segs + 2);
    /* Removing the oldest messages unlinks the leading segments that hold nothing live. */
    purge(f, &m, NULL, 200, 0);
    check(f, &m);
    int after = count_segs(f);
    assert_true(after < segs);
    assert_true(after >= 1);
    store_reopen(f);
    check(f, &m);
    assert_int_equal(count_segs(f), after);
    /* An interior hole does not unlink anything; the front does. */
    for (uint64_t q = 250; q < 280; q++) {
        assert_int_equal(f->st->ops->remove(f->s, q), 0);
        m.v[q].live = false;
    }
    assert_int_equal(count_segs(f), after);
    check(f, &m);
    purge(f, &m, NULL, 0, 0);
    check(f, &m);
    assert_int_equal(count_segs(f), 1); /* never the active one */
    store_reopen(f);
    check(f, &m);
    assert_int_equal(put(f, &m, "r", 0, 1), 303);
    model_free(&m);
}

static void test_segments_many_tombstones(void **state)
{
    /* A filtered purge writes one tombstone per message: with small segments the
     * tombstones alone fill segments that hold no message. Nothing written may be lost. */
    struct fx *f = *state;
    f->opts.segment_bytes = 4096;
    store_open(f);
    struct model m = {0};
    for (int i = 0; i < 600; i++)
        put(f, &m, i % 2 ? "a" : "b", 0, 8);
    purge(f, &m, "a", 0, 0); /* 300 tombstones, ~9.6 KB */
    check(f, &m);
    for (int i = 0; i < 3; i++)
        put(f, &m, "c", 0, 8);
    check(f, &m);
    store_reopen(f);
    check(f, &m);
    purge(f, &m, "b", 0, 1);
    for (int i = 0; i < 3; i++)
        put(f, &m, "c", 0, 8);
    check(f, &m);
    store_reopen(f);
    check(f, &m);
    model_free(&m);
}

/* ---- randomized model run ------------------------------------------------------------------ */

static void random_run(struct fx *f, unsigned seed, int steps, bool reopen)
{
    store_open(f);
    struct model m = {.lim = f->lim};
    static const char *subs[] = {"k.0", "k.1", "k.2", "k.3", "k.4", "x.y.z", "x.y", "solo"};
    static const char *filters[] = {"k.0", "k.*", ">", "x.>", "solo", "k.3"};
    unsigned x = seed;
#define RND(n) ((x = x * 1103515245u + 12345u), (x >> 8) % (unsigned)(n))
    for (int step = 0; step < steps; step++) {
        unsigned op = RND(100);
        if (op < 62) {
            size_t dl = RND(10) == 0 ? 1500 + RND(3000) : RND(200);
            const char *subj = subs[RND(N_ELEMS(subs))];
            size_t hl = RND(4) == 0 ? HDR_LEN : 0;
            put(f, &m, subj, hl, dl);
        } else if (op < 75) {
            uint64_t first = m_first(&m);
            uint64_t q = first > 2 ? first - 2 + RND(m.last - first + 5) : RND(m.last + 3);
            bool live = q >= 1 && q <= m.last && m.v[q].live;
            assert_int_equal(f->st->ops->remove(f->s, q), live ? 0 : HERALD_ENOTFOUND);
            if (live)
                m.v[q].live = false;
        } else if (op < 80) {
            const char *filter = filters[RND(N_ELEMS(filters))];
            purge(f, &m, filter, 0, RND(3));
        } else if (op < 83) {
            const char *filter = RND(2) ? NULL : filters[RND(N_ELEMS(filters))];
            purge(f, &m, filter, RND(m.last + 2), 0);
        } else if (op < 84) {
            purge(f, &m, NULL, 0, 0);
        } else if (op < 88 && reopen) {
            store_reopen(f);
            check_state(f, &m);
        } else if (op < 93) {
            check_state(f, &m);
        } else if (op < 95) {
            check(f, &m);
        }
    }
#undef RND
    check(f, &m);
    if (reopen) {
        store_reopen(f);
        check(f, &m);
    }
    model_free(&m);
}

static void test_random_files_small_segments(void **state)
{
    struct fx *f = *state;
    f->opts.segment_bytes = 4096;
    random_run(f, 1, 1500, true);
}

static void test_random_files_limits(void **state)
{
    struct fx *f = *state;
    f->opts.segment_bytes = 8192;
    f->lim.max_msgs = 150;
    f->lim.max_msgs_per_subject = 12;
    random_run(f, 2, 1500, true);
}

static void test_random_files_default_segments(void **state)
{
    struct fx *f = *state;
    f->lim.max_bytes = 60000;
    random_run(f, 3, 1000, true);
}

static void test_random_memory(void **state)
{
    struct fx *f = *state;
    f->memory = true;
    f->opts.segment_bytes = 4096;
    f->lim.max_msgs_per_subject = 12;
    random_run(f, 4, 1500, false);
}

static void test_memory_same_results(void **state)
{
    /* The same deterministic run over files and over memory ends in the same state. */
    struct fx *f = *state;
    struct hr_stream_state st_file, st_mem;
    f->opts.segment_bytes = 4096;
    f->lim.max_msgs = 200;
    random_run(f, 9, 800, false);
    f->st->ops->state(f->s, &st_file);
    store_close(f);
    rm_rf(f->dir);
    assert_int_equal(mkdir(f->dir, 0700), 0);
    f->memory = true;
    random_run(f, 9, 800, false);
    f->st->ops->state(f->s, &st_mem);
    /* Timestamps of first/last are the appenders'; all fields must match. */
    assert_memory_equal(&st_file, &st_mem, sizeof st_file);
    /* Memory streams leave nothing on disk. */
    assert_int_equal(count_segs(f), 0);
}

/* ---- torn tails ------------------------------------------------------------------------------ */

#define TORN_N 6

/* Writes TORN_N messages, closes, and returns the last segment's bytes and the offset of
 * the last record in it. */
static char *torn_prepare(struct fx *f, struct model *m, char *path, size_t pathn,
                          size_t *fsize, size_t *rec_off)
{
    store_open(f);
    for (int i = 0; i < TORN_N; i++)
        put(f, m, i % 2 ? "t.odd" : "t.even", i == TORN_N - 1 ? HDR_LEN : 0, 30 + (size_t)i);
    store_close(f);
    last_seg_path(f, path, pathn);
    *fsize = (size_t)file_size(path);
    *rec_off = *fsize - rec_size(&m->v[TORN_N]);
    char *bytes = malloc(*fsize);
    assert_non_null(bytes);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(bytes, 1, *fsize, fp), *fsize);
    fclose(fp);
    return bytes;
}

static void write_file(const char *path, const char *bytes, size_t n)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(bytes, 1, n, fp), n);
    assert_int_equal(fclose(fp), 0);
}

/* Reopens after damage to record TORN_N: exactly 1..TORN_N-1 remain, the file was cut to
 * `cut_to`, and the next append gets TORN_N and survives another restart. */
static void torn_verify(struct fx *f, struct model *m, const char *path, size_t cut_to,
                        const char *what, size_t where)
{
    store_open(f);
    struct model m2 = *m;
    m2.last = TORN_N - 1;
    struct hr_stream_state st;
    f->st->ops->state(f->s, &st);
    if (st.msgs != TORN_N - 1 || st.last_seq != TORN_N - 1)
        fail_msg("%s at %zu: %" PRIu64 " msgs, last %" PRIu64, what, where, st.msgs, st.last_seq);
    check(f, &m2);
    if ((size_t)file_size(path) != cut_to)
        fail_msg("%s at %zu: file is %" PRId64 " bytes, want %zu", what, where, file_size(path),
                 cut_to);
    uint64_t seq = 0;
    int rc = f->st->ops->append(f->s, "again", 5, NULL, 0, "z", 1, TS0, &seq);
    assert_int_equal(rc, 0);
    assert_int_equal(seq, TORN_N);
    store_reopen(f);
    f->st->ops->state(f->s, &st);
    assert_int_equal(st.msgs, TORN_N);
    assert_int_equal(st.last_seq, TORN_N);
    struct hr_store_msg g;
    assert_int_equal(f->st->ops->get(f->s, TORN_N, &g), 0);
    assert_string_equal(g.subject, "again");
    hr_store_msg_free(&g);
    store_close(f);
}

static void torn_every_offset(struct fx *f)
{
    struct model m = {0};
    char path[256];
    size_t fsize, off;
    char *bytes = torn_prepare(f, &m, path, sizeof path, &fsize, &off);
    for (size_t cut = off; cut < fsize; cut++) {
        write_file(path, bytes, cut);
        torn_verify(f, &m, path, off, "truncated", cut);
    }
    for (size_t at = off; at < fsize; at++) {
        bytes[at] ^= (char)0x5a;
        write_file(path, bytes, fsize);
        bytes[at] ^= (char)0x5a;
        torn_verify(f, &m, path, off, "flipped byte", at);
    }
    free(bytes);
    model_free(&m);
}

static void test_torn_tail_every_offset(void **state)
{
    torn_every_offset(*state);
}

static void test_torn_tail_own_segment(void **state)
{
    /* The last record is the only one of its segment (a roll just happened). */
    struct fx *f = *state;
    f->opts.segment_bytes = HR_SEG_HEADER_SIZE + 5 * (HR_RECORD_FIXED + 6 + 34);
    torn_every_offset(f);
    assert_true(count_segs(f) >= 2);
}

static void test_garbage_after_valid_records(void **state)
{
    struct fx *f = *state;
    struct model m = {0};
    char path[256];
    size_t fsize, off;
    char *bytes = torn_prepare(f, &m, path, sizeof path, &fsize, &off);
    const size_t lens[] = {1, 3, 4, 27, 31, 32, 33, 100, 5000};
    for (size_t k = 0; k < N_ELEMS(lens); k++)
        for (int pattern = 0; pattern < 3; pattern++) {
            size_t n = fsize + lens[k];
            char *b = malloc(n);
            assert_non_null(b);
            memcpy(b, bytes, fsize);
            for (size_t i = fsize; i < n; i++)
                b[i] = pattern == 0 ? 0 : pattern == 1 ? (char)0xff : (char)(i * 131 + 7);
            write_file(path, b, n);
            free(b);
            store_open(f);
            struct hr_stream_state st;
            f->st->ops->state(f->s, &st);
            assert_int_equal(st.msgs, TORN_N);
            check(f, &m);
            assert_int_equal(file_size(path), (int64_t)fsize);
            store_close(f);
        }
    /* A valid-looking record header with a length past the end of the file. */
    char *b = malloc(fsize + 64);
    assert_non_null(b);
    memcpy(b, bytes, fsize);
    memcpy(b + fsize, bytes + off, 64 < fsize - off ? 64 : fsize - off);
    write_file(path, b, fsize + 40);
    free(b);
    store_open(f);
    check(f, &m);
    assert_int_equal(file_size(path), (int64_t)fsize);
    free(bytes);
    model_free(&m);
}

static void test_bad_segment_header_set_aside(void **state)
{
    struct fx *f = *state;
    f->opts.segment_bytes = 4096;
    store_open(f);
    struct model m = {0};
    for (int i = 0; i < 100; i++)
        put(f, &m, "h", 0, 100);
    store_close(f);
    char path[256];
    last_seg_path(f, path, sizeof path);
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "XXXX", 4, 0), 4);
    close(fd);
    int segs = count_segs(f);
    store_open(f);
    assert_int_equal(count_segs(f), segs - 1);
    assert_int_equal(count_files(f, ".bad"), 1);
    struct hr_stream_state st;
    f->st->ops->state(f->s, &st);
    assert_true(st.msgs > 0 && st.msgs < 100);
    /* What is left reads back whole. */
    for (uint64_t q = st.first_seq; q <= st.last_seq; q++) {
        struct hr_store_msg g;
        assert_int_equal(f->st->ops->get(f->s, q, &g), 0);
        check_msg(&g, &m, q);
        hr_store_msg_free(&g);
    }
    model_free(&m);
}

static void test_other_version_refused(void **state)
{
    /* An intact header of another format version: the stream is not opened, and the
     * file is neither set aside nor cut. */
    struct fx *f = *state;
    store_open(f);
    struct model m = {0};
    for (int i = 0; i < 5; i++)
        put(f, &m, "v", 0, 10);
    store_close(f);
    char path[256];
    last_seg_path(f, path, sizeof path);
    int64_t size = file_size(path);
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    char hdr[HR_SEG_HEADER_SIZE];
    assert_int_equal(pread(fd, hdr, sizeof hdr, 0), (ssize_t)sizeof hdr);
    hdr[8] = HR_SEG_VERSION + 1;
    uint32_t crc = hr_crc32c(0, hdr, 36);
    for (int i = 0; i < 4; i++)
        hdr[36 + i] = (char)((crc >> (8 * i)) & 0xff);
    assert_int_equal(pwrite(fd, hdr, sizeof hdr, 0), (ssize_t)sizeof hdr);
    close(fd);
    assert_int_equal(hr_log_store_create(&f->opts, &f->st), 0);
    struct hr_stream_store *s = NULL;
    assert_int_equal(f->st->ops->stream_open(f->st, STREAM, false, &f->lim, &s), HERALD_EVERSION);
    assert_int_equal(file_size(path), size);
    assert_int_equal(count_files(f, ".bad"), 0);
    model_free(&m);
}

/* ---- fault injection --------------------------------------------------------------------- */

static void use_faulty(struct fx *f)
{
    hr_io_faulty_init(&f->faulty, &hr_io_posix);
    f->opts.io = &f->faulty.io;
}

static void test_fault_enospc_short_write(void **state)
{
    struct fx *f = *state;
    use_faulty(f);
    f->faulty.short_write = 10;
    store_open(f);
    struct model m = {0};
    for (int i = 0; i < 3; i++)
        put(f, &m, "w", 0, 50);
    char path[256];
    last_seg_path(f, path, sizeof path);
    int64_t before = file_size(path);
    uint64_t seq = 0;
    hr_io_faulty_arm(&f->faulty, HR_IO_OP_WRITE, 1, -ENOSPC);
    assert_int_equal(f->st->ops->append(f->s, "w", 1, NULL, 0, "lost", 4, TS0, &seq), -ENOSPC);
    check(f, &m);                                /* S3: as it was */
    assert_int_equal(file_size(path), before);    /* the 10 torn bytes were cut */
    assert_int_equal(put(f, &m, "w", 0, 50), 4); /* same sequence */
    check(f, &m);
    /* A failed remove writes nothing and removes nothing. */
    hr_io_faulty_arm(&f->faulty, HR_IO_OP_WRITE, 1, -ENOSPC);
    assert_int_equal(f->st->ops->remove(f->s, 2), -ENOSPC);
    check(f, &m);
    int64_t size4 = file_size(path);
    store_close(f);
    f->opts.io = NULL;
    store_open(f);
    check(f, &m);
    assert_int_equal(file_size(path), size4);
    model_free(&m);
}

static void test_fault_segment_create_fails(void **state)
{
    struct fx *f = *state;
    use_faulty(f);
    f->opts.segment_bytes = 1024;
    store_open(f);
    struct model m = {0};
    for (int i = 0; i < 8; i++)
        put(f, &m, "w", 0, 90); /* 8 * 123 bytes: the next one rolls */
    int segs = count_segs(f);
    hr_io_faulty_arm(&f->faulty, HR_IO_OP_WRITE, 1, -ENOSPC); /* the new header */
    uint64_t seq;
    assert_int_equal(f->st->ops->append(f->s, "w", 1, NULL, 0, "x", 1, TS0, &seq), -ENOSPC);
    assert_int_equal(count_segs(f), segs);
    hr_io_faulty_arm(&f->faulty, HR_IO_OP_OPEN, 1, -EMFILE);
    assert_int_equal(f->st->ops->append(f->s, "w", 1, NULL, 0, "x", 1, TS0, &seq), -EMFILE);
    check(f, &m);
    assert_int_equal(put(f, &m, "w", 0, 90), 9);
    assert_int_equal(count_segs(f), segs + 1);
    store_close(f);
    f->opts.io = NULL;
    store_open(f);
    check(f, &m);
    model_free(&m);
}

static void test_fault_fsync_eio_sticky(void **state)
{
    struct fx *f = *state;
    use_faulty(f);
    f->opts.sync = HR_SYNC_ALWAYS;
    store_open(f);
    struct model m = {0};
    put(f, &m, "d", 0, 10);
    put(f, &m, "d", 0, 10);
    assert_int_equal(flush_wait(f), 0); /* 1..2 acknowledged */
    put(f, &m, "d", 0, 10);
    hr_io_faulty_arm(&f->faulty, HR_IO_OP_FSYNC, 1, -EIO);
    assert_int_equal(flush_wait(f), HERALD_ESTORE);
    /* Sticky (fsyncgate): no more appends, flushes keep failing, reads still work. */
    uint64_t seq;
    assert_int_equal(f->st->ops->append(f->s, "d", 1, NULL, 0, "x", 1, TS0, &seq), HERALD_ESTORE);
    assert_int_equal(flush_wait(f), HERALD_ESTORE);
    check(f, &m);
    store_close(f);
    f->opts.io = NULL;
    store_open(f);
    /* Acknowledged messages are there (3 was written but never acknowledged). */
    struct hr_store_msg g;
    for (uint64_t q = 1; q <= 2; q++) {
        assert_int_equal(f->st->ops->get(f->s, q, &g), 0);
        check_msg(&g, &m, q);
        hr_store_msg_free(&g);
    }
    /* After a restart the store takes writes again. */
    assert_int_equal(f->st->ops->append(f->s, "d", 1, NULL, 0, "x", 1, TS0, &seq), 0);
    model_free(&m);
}

static void test_fault_truncate_fails_read_only(void **state)
{
    struct fx *f = *state;
    use_faulty(f);
    f->faulty.short_write = 10;
    f->opts.sync = HR_SYNC_ALWAYS;
    store_open(f);
    struct model m = {0};
    for (int i = 0; i < 4; i++)
        put(f, &m, "r", 0, 20);
    assert_int_equal(flush_wait(f), 0);
    char path[256];
    last_seg_path(f, path, sizeof path);
    int64_t before = file_size(path);
    hr_io_faulty_arm(&f->faulty, HR_IO_OP_WRITE, 1, -EIO);
    hr_io_faulty_arm(&f->faulty, HR_IO_OP_TRUNCATE, 1, -EIO);
    uint64_t seq;
    assert_int_equal(f->st->ops->append(f->s, "r", 1, NULL, 0, "x", 1, TS0, &seq), -EIO);
    assert_int_equal(file_size(path), before + 10); /* the torn bytes stay ... */
    /* ... so the stream is read-only until restart (S3). */
    assert_int_equal(f->st->ops->append(f->s, "r", 1, NULL, 0, "x", 1, TS0, &seq), HERALD_ESTORE);
    assert_int_equal(f->st->ops->remove(f->s, 1), HERALD_ESTORE);
    uint64_t purged;
    assert_int_equal(f->st->ops->purge(f->s, NULL, 0, 0, 0, &purged), HERALD_ESTORE);
    check(f, &m);
    store_close(f);
    f->opts.io = NULL;
    store_open(f); /* recovery cuts the torn tail */
    assert_int_equal(file_size(path), before);
    check(f, &m);
    assert_int_equal(put(f, &m, "r", 0, 20), 5);
    check(f, &m);
    model_free(&m);
}

/* ---- group commit (S5) ---------------------------------------------------------------------- */

static void test_group_commit_one_sync(void **state)
{
    struct fx *f = *state;
    f->opts.sync = HR_SYNC_ALWAYS;
    store_open(f);
    struct model m = {0};
    for (int i = 0; i < 10; i++)
        put(f, &m, "g", 0, 10);
    assert_int_equal(flush_wait(f), 0);
    assert_int_equal(lstore(f)->fsyncs, 1);
    /* Nothing dirty: the callback runs at once, without a sync. */
    struct flush_res r = {0, 1, 0, NULL};
    f->st->ops->flush(f->st, on_flush, &r);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, 0);
    assert_int_equal(lstore(f)->fsyncs, 1);
    /* Several flushes before the loop runs share one sync. */
    put(f, &m, "g", 0, 10);
    int counter = 0;
    struct flush_res a = {0, 1, 0, &counter}, b = {0, 1, 0, &counter}, c = {0, 1, 0, &counter};
    f->st->ops->flush(f->st, on_flush, &a);
    f->st->ops->flush(f->st, on_flush, &b);
    f->st->ops->flush(f->st, on_flush, &c);
    wait_until(&f->loop, &counter, 3);
    assert_int_equal(a.calls + b.calls + c.calls, 3);
    assert_int_equal(a.status | b.status | c.status, 0);
    assert_true(a.order < b.order && b.order < c.order); /* oldest first */
    assert_int_equal(lstore(f)->fsyncs, 2);
    model_free(&m);
}

static void test_flush_while_in_flight(void **state)
{
    struct fx *f = *state;
    f->opts.sync = HR_SYNC_ALWAYS;
    store_open(f);
    struct model m = {0};
    put(f, &m, "g", 0, 10);
    int counter = 0;
    struct flush_res a = {0, 1, 0, &counter}, b = {0, 1, 0, &counter};
    f->st->ops->flush(f->st, on_flush, &a);
    put(f, &m, "g", 0, 10); /* after the first sync's snapshot */
    f->st->ops->flush(f->st, on_flush, &b);
    wait_until(&f->loop, &counter, 2);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_int_equal(a.status, 0);
    assert_int_equal(b.status, 0);
    assert_int_equal(a.order, 1);
    assert_int_equal(b.order, 2);
    assert_int_equal(lstore(f)->fsyncs, 2); /* the second waited for a second sync */
    model_free(&m);
}

static void on_stop_timer(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

/* Runs the loop for about `ms` milliseconds. */
static void run_for_ms(uv_loop_t *loop, uint64_t ms)
{
    int done = 0;
    uv_timer_t t;
    uv_timer_init(loop, &t);
    t.data = &done;
    uv_timer_start(&t, on_stop_timer, ms, 0);
    while (!done)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
}

static void test_flush_sync_never_and_interval(void **state)
{
    struct fx *f = *state;
    f->opts.sync = HR_SYNC_NEVER;
    store_open(f);
    struct model m = {0};
    put(f, &m, "n", 0, 1);
    struct flush_res r = {0, 1, 0, NULL};
    f->st->ops->flush(f->st, on_flush, &r);
    assert_int_equal(r.calls, 1); /* at once */
    assert_int_equal(r.status, 0);
    assert_int_equal(lstore(f)->fsyncs, 0);
    store_close(f);

    f->opts.sync = HR_SYNC_INTERVAL;
    f->opts.sync_interval_ms = 10;
    store_open(f);
    check(f, &m);
    put(f, &m, "n", 0, 1);
    r.calls = 0;
    f->st->ops->flush(f->st, on_flush, &r);
    assert_int_equal(r.calls, 1); /* at once; the timer syncs later */
    uint64_t n = 0;
    for (int i = 0; i < 300 && n == 0; i++) {
        run_for_ms(&f->loop, 10);
        pthread_mutex_lock(&lstore(f)->mu); /* fsyncs is written under the store's mutex */
        n = lstore(f)->fsyncs;
        pthread_mutex_unlock(&lstore(f)->mu);
    }
    assert_true(n >= 1);
    check(f, &m);
    model_free(&m);
}

static void test_destroy_runs_pending_flush(void **state)
{
    struct fx *f = *state;
    f->opts.sync = HR_SYNC_ALWAYS;
    store_open(f);
    struct model m = {0};
    put(f, &m, "p", 0, 10);
    int counter = 0;
    struct flush_res a = {0, 1, 0, &counter}, b = {0, 1, 0, &counter};
    f->st->ops->flush(f->st, on_flush, &a);
    put(f, &m, "p", 0, 10);
    f->st->ops->flush(f->st, on_flush, &b);
    store_close(f); /* S5: every callback exactly once, here during destroy */
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_int_equal(a.status, 0);
    assert_int_equal(b.status, 0);
    store_open(f);
    check(f, &m);
    model_free(&m);
}

static void test_idle_store_does_not_hold_loop(void **state)
{
    struct fx *f = *state;
    f->opts.sync = HR_SYNC_INTERVAL;
    f->opts.sync_interval_ms = 1000;
    store_open(f);
    alarm(20); /* a hang here fails the whole run loudly */
    uv_run(&f->loop, UV_RUN_DEFAULT);
    alarm(0);
}

static void test_memory_stream_close_during_sync(void **state)
{
    /* A memory stream closed while a sync of the file streams is in flight: its
     * descriptors belong to its own memory file system, which goes with it. */
    struct fx *f = *state;
    f->opts.sync = HR_SYNC_ALWAYS;
    store_open(f);
    struct hr_stream_store *mem;
    assert_int_equal(f->st->ops->stream_open(f->st, "M", true, &f->lim, &mem), 0);
    uint64_t seq;
    assert_int_equal(f->st->ops->append(mem, "m", 1, NULL, 0, "x", 1, TS0, &seq), 0);
    assert_int_equal(f->st->ops->append(f->s, "f", 1, NULL, 0, "x", 1, TS0, &seq), 0);
    struct flush_res r = {0, 1, 0, NULL};
    f->st->ops->flush(f->st, on_flush, &r);
    f->st->ops->stream_close(mem);
    wait_until(&f->loop, &r.calls, 1);
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, 0);
}

static void test_file_stream_close_during_sync(void **state)
{
    struct fx *f = *state;
    f->opts.sync = HR_SYNC_ALWAYS;
    f->opts.segment_bytes = 4096;
    store_open(f);
    struct model m = {0};
    for (int i = 0; i < 100; i++)
        put(f, &m, "c", 0, 100);
    struct flush_res r = {0, 1, 0, NULL};
    f->st->ops->flush(f->st, on_flush, &r);
    f->st->ops->stream_close(f->s); /* its descriptors wait for the sync (L5) */
    f->s = NULL;
    wait_until(&f->loop, &r.calls, 1);
    assert_int_equal(r.status, 0);
    assert_int_equal(f->st->ops->stream_open(f->st, STREAM, false, &f->lim, &f->s), 0);
    check(f, &m);
    model_free(&m);
}

/* Waits (without running the loop) until the store thread has finished a sync whose
 * completion the loop has not seen yet. */
static void wait_sync_done(struct fx *f)
{
    uint64_t t0 = uv_hrtime();
    for (;;) {
        pthread_mutex_lock(&lstore(f)->mu);
        bool done = lstore(f)->sync_done;
        pthread_mutex_unlock(&lstore(f)->mu);
        if (done)
            return;
        assert_true(uv_hrtime() - t0 < 5000000000ULL);
        usleep(500);
    }
}

static void test_destroy_reports_failed_pending_sync(void **state)
{
    /* destroy right after a flush: the sync may not have started yet, or finished
     * without its callback having run. Either way the callback learns the result. */
    struct fx *f = *state;
    use_faulty(f);
    f->opts.sync = HR_SYNC_ALWAYS;
    store_open(f);
    struct model m = {0};
    put(f, &m, "p", 0, 10);
    hr_io_faulty_arm(&f->faulty, HR_IO_OP_FSYNC, 1, -EIO);
    struct flush_res a = {0, 1, 0, NULL};
    f->st->ops->flush(f->st, on_flush, &a);
    store_close(f);
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.status, HERALD_ESTORE);
    model_free(&m);
}

static void test_destroy_after_sync_done_unseen(void **state)
{
    struct fx *f = *state;
    use_faulty(f);
    f->opts.sync = HR_SYNC_ALWAYS;
    store_open(f);
    struct model m = {0};
    put(f, &m, "p", 0, 10);
    struct flush_res a = {0, 1, 0, NULL};
    f->st->ops->flush(f->st, on_flush, &a);
    wait_sync_done(f);
    uint64_t syncs = f->faulty.calls[HR_IO_OP_FSYNC];
    store_close(f); /* the loop never ran on_sync_done */
    assert_int_equal(a.calls, 1);
    assert_int_equal(a.status, 0);
    assert_int_equal(f->faulty.calls[HR_IO_OP_FSYNC], syncs); /* nothing left to sync */
    f->opts.io = NULL;
    store_open(f);
    check(f, &m);
    model_free(&m);
}

static void test_stream_close_syncs_queued_appends(void **state)
{
    /* The engine closes its streams before it destroys the store: a flush queued behind
     * the in-flight sync must still find its appends on stable storage. */
    struct fx *f = *state;
    use_faulty(f);
    f->opts.sync = HR_SYNC_ALWAYS;
    store_open(f);
    struct model m = {0};
    put(f, &m, "q", 0, 10);
    int counter = 0;
    struct flush_res a = {0, 1, 0, &counter}, b = {0, 1, 0, &counter};
    uint64_t c0 = f->faulty.calls[HR_IO_OP_FSYNC];
    f->st->ops->flush(f->st, on_flush, &a);
    put(f, &m, "q", 0, 10);
    f->st->ops->flush(f->st, on_flush, &b); /* waits for the next sync */
    wait_sync_done(f);                      /* the thread is idle from here */
    assert_int_equal(f->faulty.calls[HR_IO_OP_FSYNC], c0 + 1);
    f->st->ops->stream_close(f->s);
    f->s = NULL;
    store_close(f);
    assert_int_equal(a.calls, 1);
    assert_int_equal(b.calls, 1);
    assert_int_equal(a.status, 0);
    assert_int_equal(b.status, 0);
    assert_true(a.order < b.order);
    /* The second append was synced by someone before b was told so. */
    assert_int_equal(f->faulty.calls[HR_IO_OP_FSYNC], c0 + 2);
    model_free(&m);
}

/* ---- atomic batches (F3) ------------------------------------------------------------------ */

static int append_batch(struct fx *f, struct model *m, const char *const *subjs, size_t n,
                        size_t dl, uint64_t *first)
{
    static char data[8][512];
    struct hr_append_msg msgs[8];
    assert_true(n <= 8 && dl <= sizeof data[0]);
    for (size_t i = 0; i < n; i++) {
        gen_data(data[i], m->last + 1 + i, dl);
        msgs[i] = (struct hr_append_msg){subjs[i], strlen(subjs[i]), NULL, 0, data[i], dl};
    }
    int64_t ts = TS0 + (int64_t)(m->last + 1) * 1000;
    int rc = f->st->ops->append_batch(f->s, msgs, n, ts, first);
    if (rc == 0) {
        assert_int_equal(*first, m->last + 1);
        for (size_t i = 0; i < n; i++)
            m_push(m, subjs[i], 0, dl, ts);
        for (size_t i = 0; i < n; i++)
            m_apply_limits(m, *first + i);
    }
    return rc;
}

static void test_batch_append(void **state)
{
    struct fx *f = *state;
    store_open(f);
    if (!f->st->ops->append_batch)
        skip();
    struct model m = {0};
    put(f, &m, "one", 0, 5);
    const char *subjs[] = {"b.0", "b.1", "b.0", "b.2"};
    uint64_t first = 0;
    assert_int_equal(append_batch(f, &m, subjs, 4, 20, &first), 0);
    assert_int_equal(first, 2);
    put(f, &m, "two", 0, 5);
    check(f, &m);
    store_reopen(f);
    check(f, &m);
    assert_int_equal(f->st->ops->append_batch(f->s, NULL, 0, TS0, &first), HERALD_EINVAL);
    /* Discard-old limits apply after the whole batch: KV history 1. */
    struct hr_stream_limits lim = {.max_msgs_per_subject = 1};
    assert_int_equal(f->st->ops->stream_set_limits(f->s, &lim), 0);
    m.lim = lim;
    m_apply_limits(&m, 2);
    m_apply_limits(&m, 3);
    check(f, &m);
    const char *same[] = {"b.0", "b.0", "b.1", "b.0"};
    assert_int_equal(append_batch(f, &m, same, 4, 7, &first), 0);
    check(f, &m);
    store_reopen(f);
    check(f, &m);
    model_free(&m);
}

static void test_batch_all_or_nothing(void **state)
{
    struct fx *f = *state;
    f->lim.max_msg_size = 100;
    f->lim.max_msgs_per_subject = 2;
    f->lim.discard_new = true;
    f->lim.discard_new_per_subject = true;
    store_open(f);
    if (!f->st->ops->append_batch)
        skip();
    struct model m = {.lim = f->lim};
    put(f, &m, "k.a", 0, 5);
    char big[200];
    memset(big, 'x', sizeof big);
    struct hr_append_msg msgs[3] = {
        {"k.b", 3, NULL, 0, "1", 1}, {"k.c", 3, NULL, 0, big, sizeof big}, {"k.d", 3, NULL, 0, "3", 1},
    };
    uint64_t first;
    assert_int_equal(f->st->ops->append_batch(f->s, msgs, 3, TS0, &first), HERALD_ETOOBIG);
    check(f, &m);
    /* Two more of k.a in one batch pass the per-subject limit together. */
    const char *two_a[] = {"k.a", "k.a"};
    assert_int_equal(append_batch(f, &m, two_a, 2, 5, &first), HERALD_ELIMIT);
    check(f, &m);
    const char *ok[] = {"k.a", "k.b"};
    assert_int_equal(append_batch(f, &m, ok, 2, 5, &first), 0);
    check(f, &m);
    /* A failed write stores none of the batch. */
    store_close(f);
    use_faulty(f);
    f->faulty.short_write = 40;
    store_open(f);
    check(f, &m);
    hr_io_faulty_arm(&f->faulty, HR_IO_OP_WRITE, 1, -ENOSPC);
    const char *three[] = {"k.x", "k.y", "k.z"};
    assert_int_equal(append_batch(f, &m, three, 3, 30, &first), -ENOSPC);
    check(f, &m);
    assert_int_equal(append_batch(f, &m, three, 3, 30, &first), 0);
    assert_int_equal(first, 4);
    store_close(f);
    f->opts.io = NULL;
    store_open(f);
    check(f, &m);
    model_free(&m);
}

static void test_batch_torn_every_offset(void **state)
{
    /* A crash inside an atomic batch: recovery drops the whole batch (F3), whichever
     * record the valid part ends in, and whichever byte is damaged. */
    struct fx *f = *state;
    store_open(f);
    if (!f->st->ops->append_batch)
        skip();
    struct model m = {0};
    for (int i = 0; i < 3; i++)
        put(f, &m, "pre", 0, 10);
    const char *subjs[] = {"b.0", "b.1", "b.2", "b.3"};
    uint64_t first;
    assert_int_equal(append_batch(f, &m, subjs, 4, 12, &first), 0);
    store_close(f);
    char path[256];
    last_seg_path(f, path, sizeof path);
    size_t fsize = (size_t)file_size(path);
    size_t batch_bytes = 0;
    for (uint64_t q = 4; q <= 7; q++)
        batch_bytes += rec_size(&m.v[q]);
    size_t off = fsize - batch_bytes;
    char *bytes = malloc(fsize);
    assert_non_null(bytes);
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fread(bytes, 1, fsize, fp), fsize);
    fclose(fp);
    struct model m3 = m;
    m3.last = 3;
    for (int flip = 0; flip < 2; flip++)
        for (size_t at = off; at < fsize; at++) {
            if (flip) {
                bytes[at] ^= (char)0x5a;
                write_file(path, bytes, fsize);
                bytes[at] ^= (char)0x5a;
            } else {
                write_file(path, bytes, at);
            }
            store_open(f);
            struct hr_stream_state st;
            f->st->ops->state(f->s, &st);
            if (st.msgs != 3 || st.last_seq != 3)
                fail_msg("%s at %zu: %" PRIu64 " msgs, last %" PRIu64,
                         flip ? "flipped byte" : "truncated", at, st.msgs, st.last_seq);
            check(f, &m3);
            assert_int_equal(file_size(path), (int64_t)off);
            uint64_t seq;
            assert_int_equal(f->st->ops->append(f->s, "x", 1, NULL, 0, "y", 1, TS0, &seq), 0);
            assert_int_equal(seq, 4);
            store_close(f);
        }
    /* The whole batch intact: all of it is there. */
    write_file(path, bytes, fsize);
    store_open(f);
    check(f, &m);
    free(bytes);
    model_free(&m);
}

/* ---- lifecycle: list, meta, remove, subjects ------------------------------------------------ */

static int list_cb(void *arg, const char *name)
{
    char *acc = arg;
    strcat(acc, name);
    strcat(acc, ";");
    return 0;
}

static void test_stream_list_meta_remove(void **state)
{
    struct fx *f = *state;
    f->opts.sync = HR_SYNC_ALWAYS;
    store_open(f);
    char acc[256] = "";
    assert_int_equal(f->st->ops->stream_list(f->st, list_cb, acc), 0);
    assert_string_equal(acc, STREAM ";");
    char *data = NULL;
    size_t len = 0;
    assert_int_equal(f->st->ops->meta_read(f->s, &data, &len), -ENOENT);
    assert_int_equal(f->st->ops->meta_write(f->s, "{\"a\":1}", 7), 0);
    assert_int_equal(f->st->ops->meta_write(f->s, "{\"b\":22}", 8), 0);
    assert_int_equal(f->st->ops->meta_read(f->s, &data, &len), 0);
    assert_int_equal(len, 8);
    assert_string_equal(data, "{\"b\":22}");
    free(data);
    uint64_t seq;
    assert_int_equal(f->st->ops->append(f->s, "x", 1, NULL, 0, "y", 1, TS0, &seq), 0);
    store_reopen(f);
    assert_int_equal(f->st->ops->meta_read(f->s, &data, &len), 0);
    assert_string_equal(data, "{\"b\":22}");
    free(data);
    /* Memory streams keep metadata too, and are not listed. */
    struct hr_stream_store *mem;
    assert_int_equal(f->st->ops->stream_open(f->st, "MEM", true, &f->lim, &mem), 0);
    assert_int_equal(f->st->ops->meta_write(mem, "{}", 2), 0);
    assert_int_equal(f->st->ops->meta_read(mem, &data, &len), 0);
    assert_int_equal(len, 2);
    free(data);
    acc[0] = '\0';
    assert_int_equal(f->st->ops->stream_list(f->st, list_cb, acc), 0);
    assert_string_equal(acc, STREAM ";");
    /* remove deletes everything of the stream. */
    assert_int_equal(f->st->ops->stream_remove(f->s), 0);
    f->s = NULL;
    acc[0] = '\0';
    assert_int_equal(f->st->ops->stream_list(f->st, list_cb, acc), 0);
    assert_string_equal(acc, "");
    char d[128];
    struct stat sb;
    assert_int_equal(stat(stream_dir(f, d, sizeof d), &sb), -1);
    assert_int_equal(f->st->ops->stream_remove(mem), 0);
    /* A stream of the same name starts over from 1. */
    assert_int_equal(f->st->ops->stream_open(f->st, STREAM, false, &f->lim, &f->s), 0);
    assert_int_equal(f->st->ops->append(f->s, "x", 1, NULL, 0, "y", 1, TS0, &seq), 0);
    assert_int_equal(seq, 1);
}

static int subjects_cb(void *arg, const char *subject, uint64_t msgs)
{
    char *acc = arg;
    char line[64];
    snprintf(line, sizeof line, "%s=%" PRIu64 ";", subject, msgs);
    strcat(acc, line);
    return 0;
}

static void test_subjects_op(void **state)
{
    struct fx *f = *state;
    store_open(f);
    if (!f->st->ops->subjects)
        skip();
    struct model m = {0};
    put(f, &m, "s.a", 0, 1);
    put(f, &m, "s.b", 0, 1);
    put(f, &m, "s.a", 0, 1);
    put(f, &m, "t", 0, 1);
    char acc[256] = "";
    assert_int_equal(f->st->ops->subjects(f->s, "s.a", 3, subjects_cb, acc), 0);
    assert_string_equal(acc, "s.a=2;");
    acc[0] = '\0';
    assert_int_equal(f->st->ops->subjects(f->s, "t", 1, subjects_cb, acc), 0);
    assert_string_equal(acc, "t=1;");
    acc[0] = '\0';
    assert_int_equal(f->st->ops->subjects(f->s, "s.*", 3, subjects_cb, acc), 0);
    assert_true(strstr(acc, "s.a=2;") && strstr(acc, "s.b=1;") && !strstr(acc, "t="));
    model_free(&m);
}


/* ---- index checkpoints ------------------------------------------------------------------- */

/* A checkpoint plus the tail written after it rebuilds exactly what a full scan would:
 * messages, deletions and floors on both sides of it, across segment rolls. The crash is
 * simulated by closing without the closing checkpoint. */
static void test_checkpoint_plus_tail(void **state)
{
    struct fx *f = *state;
    f->opts.checkpoints = true;
    f->opts.segment_bytes = 4096;
    store_open(f);
    struct model m = {0};
    for (int i = 0; i < 60; i++)
        put(f, &m, i % 3 ? "a.x" : "a.y", 0, 40);
    assert_int_equal(f->st->ops->remove(f->s, 7), 0);
    m.v[7].live = false;
    purge(f, &m, NULL, 5, 0);
    assert_int_equal(f->st->ops->checkpoint(f->s, 1, 0), 0);
    /* the tail: more messages, a roll, a deletion on each side, a floor */
    for (int i = 0; i < 60; i++)
        put(f, &m, i % 2 ? "a.x" : "b.z", 0, 40);
    assert_int_equal(f->st->ops->remove(f->s, 20), 0);
    m.v[20].live = false;
    assert_int_equal(f->st->ops->remove(f->s, 100), 0);
    m.v[100].live = false;
    purge(f, &m, NULL, 12, 0);
    check(f, &m);
    ((struct hr_log_store *)f->st)->checkpoints = false; /* "crash": no closing checkpoint */
    store_close(f);
    char path[256];
    snprintf(path, sizeof path, "%s/streams/%s/index.ckpt", f->dir, STREAM);
    assert_true(file_size(path) > 0);
    store_open(f); /* checkpoint + tail */
    check(f, &m);
    store_close(f); /* writes a fresh checkpoint */
    store_open(f);
    check(f, &m);
    /* A torn tail after the checkpoint is cut like any torn tail. */
    store_close(f);
    last_seg_path(f, path, sizeof path);
    assert_int_equal(truncate(path, file_size(path) - 1), 0);
    store_open(f);
    struct hr_stream_state st;
    f->st->ops->state(f->s, &st);
    assert_true(st.msgs > 0);
    model_free(&m);
}

int main(void)
{
    const char *logp = getenv("HERALD_TEST_LOG");
    hr_log_open(logp && *logp ? logp : "/dev/null");
#define T(fn) cmocka_unit_test_setup_teardown(fn, fx_setup, fx_teardown)
    const struct CMUnitTest tests[] = {
        T(test_empty_stream),
        T(test_append_get),
        T(test_append_refusals),
        T(test_get_next_filters),
        T(test_get_last),
        T(test_seq_for_time),
        T(test_remove),
        T(test_purge),
        T(test_purge_then_restart_keeps_later_messages),
        T(test_limits_max_msgs_bytes),
        T(test_limits_kv_history_1),
        T(test_limits_kv_history_5),
        T(test_limits_kv_unlinks_dead_segments),
        T(test_limits_lowered_per_subject),
        T(test_limits_discard_new),
        T(test_limits_discard_new_per_subject),
        T(test_limits_max_msg_size),
        T(test_expire),
        T(test_segments_roll_and_unlink),
        T(test_segments_many_tombstones),
        T(test_random_files_small_segments),
        T(test_random_files_limits),
        T(test_random_files_default_segments),
        T(test_random_memory),
        T(test_memory_same_results),
        T(test_torn_tail_every_offset),
        T(test_torn_tail_own_segment),
        T(test_garbage_after_valid_records),
        T(test_bad_segment_header_set_aside),
        T(test_other_version_refused),
        T(test_fault_enospc_short_write),
        T(test_fault_segment_create_fails),
        T(test_fault_fsync_eio_sticky),
        T(test_fault_truncate_fails_read_only),
        T(test_group_commit_one_sync),
        T(test_flush_while_in_flight),
        T(test_flush_sync_never_and_interval),
        T(test_destroy_runs_pending_flush),
        T(test_idle_store_does_not_hold_loop),
        T(test_memory_stream_close_during_sync),
        T(test_file_stream_close_during_sync),
        T(test_destroy_reports_failed_pending_sync),
        T(test_destroy_after_sync_done_unseen),
        T(test_stream_close_syncs_queued_appends),
        T(test_batch_append),
        T(test_batch_all_or_nothing),
        T(test_batch_torn_every_offset),
        T(test_stream_list_meta_remove),
        T(test_subjects_op),
        T(test_checkpoint_plus_tail),
    };
#undef T
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    hr_log_close();
    return rc;
}
