/* SPDX-License-Identifier: Apache-2.0
 *
 * The engine's public entry points for core messaging: create/destroy, subscriptions and
 * publish. Owns the router and the deferred-free list (E1 in engine_internal.h). Knows
 * nothing of wire formats or files.
 */
#include <stdlib.h>
#include <string.h>

#include "common/subject.h"
#include "engine/engine_internal.h"

int herald_engine_create(const struct herald_engine_options *opts, struct herald_engine **out)
{
    struct herald_engine *e = calloc(1, sizeof *e);
    if (!e)
        return HERALD_ENOMEM;
    if (opts)
        e->opts = *opts;
    if (!e->opts.max_payload)
        e->opts.max_payload = 1024 * 1024;
    if (!e->opts.match_cache_slots)
        e->opts.match_cache_slots = 4096;
    int rc = hr_router_init(&e->router, e->opts.match_cache_slots);
    if (rc) {
        free(e);
        return rc;
    }
    e->store_dir = e->opts.store_dir ? strdup(e->opts.store_dir) : NULL;
    e->js_domain = e->opts.js_domain && *e->opts.js_domain ? strdup(e->opts.js_domain) : NULL;
    e->opts.store_dir = e->opts.js_domain = NULL; /* use the copies */
    rc = hr_streams_init(e);
    if (rc) {
        herald_engine_destroy(e);
        return rc;
    }
    *out = e;
    return 0;
}

static void sub_free(struct herald_sub *s)
{
    free(s->subject);
    free(s->queue);
    free(s);
}

static void free_zombies(struct herald_engine *e)
{
    while (e->zombies) {
        struct herald_sub *s = e->zombies;
        e->zombies = s->zombie_next;
        sub_free(s);
    }
}

void herald_engine_destroy(struct herald_engine *e)
{
    if (!e)
        return;
    hr_streams_cleanup(e);
    free_zombies(e);
    hr_router_cleanup(&e->router, sub_free); /* what callers left attached */
    free(e->store_dir);
    free(e->js_domain);
    e->store_dir = e->js_domain = NULL;
    if (!e->timer_started)
        free(e); /* else the timer's close callback frees it (hr_engine_free_on_close) */
}

void hr_engine_free_on_close(uv_handle_t *h)
{
    free(h->data);
}

static char *dup_bytes(const char *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

int herald_sub_create(struct herald_engine *e, const char *subject, size_t subject_len,
                      const char *queue, size_t queue_len, const struct herald_sub_options *opts,
                      struct herald_sub **out)
{
    if (!opts || !opts->deliver)
        return HERALD_EINVAL;
    if (!hr_subject_valid_filter(subject, subject_len))
        return HERALD_ESUBJECT;
    if (queue_len && !hr_subject_valid_queue(queue, queue_len))
        return HERALD_EQUEUE;
    struct herald_sub *s = calloc(1, sizeof *s);
    if (!s)
        return HERALD_ENOMEM;
    s->engine = e;
    s->subject = dup_bytes(subject, subject_len);
    s->subject_len = subject_len;
    if (queue_len) {
        s->queue = dup_bytes(queue, queue_len);
        s->queue_len = queue_len;
    }
    s->deliver = opts->deliver;
    s->ctx = opts->ctx;
    s->owner = opts->owner;
    s->no_echo = opts->no_echo;
    int rc = HERALD_ENOMEM;
    if (!s->subject || (queue_len && !s->queue))
        goto out_free;
    rc = hr_router_insert(&e->router, s);
    if (rc)
        goto out_free;
    e->stats.subscriptions++;
    if (e->npush)
        hr_consumers_interest_changed(e, s->subject, s->subject_len);
    *out = s;
    return 0;
out_free:
    sub_free(s);
    return rc;
}

void herald_sub_destroy(struct herald_sub *s)
{
    if (!s || s->dead)
        return;
    struct herald_engine *e = s->engine;
    hr_router_remove(&e->router, s);
    s->dead = true;
    e->stats.subscriptions--;
    if (e->npush)
        hr_consumers_interest_changed(e, s->subject, s->subject_len);
    if (e->publish_depth) {
        s->zombie_next = e->zombies;
        e->zombies = s;
    } else {
        sub_free(s);
    }
}

const char *herald_sub_subject(const struct herald_sub *s)
{
    return s->subject;
}

static inline bool eligible(const struct herald_sub *s, const void *origin)
{
    return !s->dead && !(s->no_echo && origin && s->owner == origin);
}

/* Delivers `msg` to the subscriptions matching `route` (usually its own subject; the
 * consumer and reply paths route by another subject but present the stream subject). */
static int publish_routed(struct herald_engine *e, const char *route, size_t route_len,
                          const struct herald_msg *msg, const void *origin)
{
    size_t size = msg->hdr_len + msg->data_len;
    if (size > e->opts.max_payload)
        return HERALD_ETOOBIG;
    e->stats.msgs_in++;
    e->stats.bytes_in += size;
    struct hr_match *m = hr_router_match(&e->router, route, route_len);
    if (!m)
        return HERALD_ENOMEM;
    int delivered = 0;
    bool outer_declined = e->sub_declined; /* E4: a nested publish keeps the outer flag */
    e->publish_depth++;
    for (size_t i = 0; i < m->nplain; i++) {
        struct herald_sub *s = m->plain[i];
        if (!eligible(s, origin))
            continue;
        e->sub_declined = false;
        s->deliver(s->ctx, s, msg);
        delivered += !e->sub_declined;
    }
    for (size_t g = 0; g < m->ngroups; g++) {
        struct hr_match_group *grp = &m->groups[g];
        size_t start = grp->next++ % grp->len;
        for (size_t k = 0; k < grp->len; k++) {
            struct herald_sub *s = grp->members[(start + k) % grp->len];
            if (!eligible(s, origin))
                continue;
            e->sub_declined = false;
            s->deliver(s->ctx, s, msg);
            delivered += !e->sub_declined;
            break;
        }
    }
    e->sub_declined = outer_declined;
    e->publish_depth--;
    hr_router_result_release(m);
    if (e->publish_depth == 0 && e->zombies)
        free_zombies(e);
    e->stats.msgs_out += (uint64_t)delivered;
    e->stats.bytes_out += (uint64_t)delivered * size;
    return delivered;
}

int herald_publish(struct herald_engine *e, const struct herald_msg *msg, const void *origin)
{
    return publish_routed(e, msg->subject, msg->subject_len, msg, origin);
}

int hr_engine_publish_routed(struct herald_engine *e, const char *route, size_t route_len,
                             const struct herald_msg *msg)
{
    return publish_routed(e, route, route_len, msg, NULL);
}

bool hr_engine_has_interest(struct herald_engine *e, const char *subject, size_t len)
{
    struct hr_match *m = hr_router_match(&e->router, subject, len);
    bool any = m && (m->nplain || m->ngroups);
    hr_router_result_release(m);
    return any;
}

bool hr_engine_has_push_interest(struct herald_engine *e, const char *subject, size_t len,
                                 const char *group)
{
    struct hr_match *m = hr_router_match(&e->router, subject, len);
    bool any = false;
    if (m && !group) {
        for (size_t i = 0; i < m->nplain && !any; i++)
            any = !m->plain[i]->dead;
    } else if (m) {
        size_t gl = strlen(group);
        for (size_t g = 0; g < m->ngroups && !any; g++)
            for (size_t k = 0; k < m->groups[g].len && !any; k++) {
                const struct herald_sub *s = m->groups[g].members[k];
                any = !s->dead && s->queue_len == gl && memcmp(s->queue, group, gl) == 0;
            }
    }
    hr_router_result_release(m);
    return any;
}

void *herald_find_owned_sub(struct herald_engine *e, const char *subject, size_t subject_len,
                            const void *owner)
{
    struct hr_match *m = hr_router_match(&e->router, subject, subject_len);
    if (!m)
        return NULL;
    void *ctx = NULL;
    for (size_t i = 0; i < m->nplain && !ctx; i++)
        if (!m->plain[i]->dead && m->plain[i]->owner == owner)
            ctx = m->plain[i]->ctx;
    for (size_t g = 0; g < m->ngroups && !ctx; g++)
        for (size_t k = 0; k < m->groups[g].len && !ctx; k++)
            if (!m->groups[g].members[k]->dead && m->groups[g].members[k]->owner == owner)
                ctx = m->groups[g].members[k]->ctx;
    hr_router_result_release(m);
    return ctx;
}

void herald_engine_stats(const struct herald_engine *e, struct herald_engine_stats *out)
{
    *out = e->stats;
    out->cache_hits = e->router.cache_hits;
    out->cache_misses = e->router.cache_misses;
}
