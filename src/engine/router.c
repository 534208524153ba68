/* SPDX-License-Identifier: Apache-2.0
 *
 * Subject trie and match cache; see router.h for the invariants (R1–R5).
 *
 * Matching walks the trie token by token; at each node the literal child, the `*` child
 * and the `>` child are followed. Results are assembled into one allocation and cached in
 * a direct-mapped table indexed by the subject's hash: a hit costs one hash and one
 * memcmp; a collision simply replaces the slot.
 */
#include <stdlib.h>
#include <string.h>

#include "common/subject.h"
#include "engine/router.h"

/* ---- sub arrays ----------------------------------------------------------------- */

static int arr_push(struct hr_sub_array *a, struct herald_sub *s)
{
    if (a->len == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 4;
        struct herald_sub **p = realloc(a->items, cap * sizeof *p);
        if (!p)
            return HERALD_ENOMEM;
        a->items = p;
        a->cap = cap;
    }
    s->slot = a->len;
    a->items[a->len++] = s;
    return 0;
}

/* Push without claiming the slot: for scratch arrays that merely list subscriptions. */
static int arr_push_keep(struct hr_sub_array *a, struct herald_sub *s)
{
    size_t slot = s->slot;
    int rc = arr_push(a, s);
    s->slot = slot;
    return rc;
}

static void arr_remove(struct hr_sub_array *a, struct herald_sub *s)
{
    size_t i = s->slot;
    a->items[i] = a->items[--a->len];
    a->items[i]->slot = i;
    if (a->len == 0) {
        free(a->items);
        a->items = NULL;
        a->cap = 0;
    }
}

/* ---- nodes ---------------------------------------------------------------------- */

static struct hr_rnode *node_create(struct hr_rnode *parent, const char *tok, size_t len)
{
    struct hr_rnode *n = calloc(1, sizeof *n);
    if (!n)
        return NULL;
    n->token = malloc(len + 1);
    if (!n->token) {
        free(n);
        return NULL;
    }
    memcpy(n->token, tok, len);
    n->token[len] = '\0';
    n->token_len = len;
    n->parent = parent;
    hr_map_init(&n->literal);
    return n;
}

static bool node_empty(const struct hr_rnode *n)
{
    return n->plain.len == 0 && n->ngroups == 0 && n->literal.count == 0 && !n->pwc && !n->fwc;
}

static void node_free_subs(struct hr_rnode *n, void (*free_sub)(struct herald_sub *))
{
    for (size_t i = 0; i < n->literal.cap; i++)
        if (n->literal.slots[i].hash)
            node_free_subs(n->literal.slots[i].val, free_sub);
    if (n->pwc)
        node_free_subs(n->pwc, free_sub);
    if (n->fwc)
        node_free_subs(n->fwc, free_sub);
    for (size_t i = 0; i < n->plain.len; i++)
        free_sub(n->plain.items[i]);
    for (size_t i = 0; i < n->ngroups; i++)
        for (size_t j = 0; j < n->groups[i].members.len; j++)
            free_sub(n->groups[i].members.items[j]);
}

static void node_free(struct hr_rnode *n)
{
    for (size_t i = 0; i < n->literal.cap; i++)
        if (n->literal.slots[i].hash)
            node_free(n->literal.slots[i].val);
    hr_map_cleanup(&n->literal);
    if (n->pwc)
        node_free(n->pwc);
    if (n->fwc)
        node_free(n->fwc);
    for (size_t i = 0; i < n->ngroups; i++) {
        free(n->groups[i].name);
        free(n->groups[i].members.items);
    }
    free(n->groups);
    free(n->plain.items);
    bool root = n->parent == NULL;
    free(n->token);
    if (!root)
        free(n);
}

/* Returns the child for token `tok`, creating it when `create`; NULL if absent or OOM. */
static struct hr_rnode *node_child(struct hr_rnode *n, const char *tok, size_t len, bool create)
{
    struct hr_rnode **wc = NULL;
    if (len == 1 && tok[0] == '*')
        wc = &n->pwc;
    else if (len == 1 && tok[0] == '>')
        wc = &n->fwc;
    if (wc) {
        if (!*wc && create)
            *wc = node_create(n, tok, len);
        return *wc;
    }
    struct hr_rnode *c = hr_map_get(&n->literal, tok, len);
    if (c || !create)
        return c;
    c = node_create(n, tok, len);
    if (c && hr_map_put(&n->literal, c->token, c->token_len, c) != 0) {
        node_free(c);
        c = NULL;
    }
    return c;
}

static void node_unlink_from_parent(struct hr_rnode *n)
{
    struct hr_rnode *p = n->parent;
    if (p->pwc == n)
        p->pwc = NULL;
    else if (p->fwc == n)
        p->fwc = NULL;
    else
        hr_map_del(&p->literal, n->token, n->token_len);
}

static void prune(struct hr_rnode *n)
{
    while (n->parent && node_empty(n)) {
        struct hr_rnode *p = n->parent;
        node_unlink_from_parent(n);
        node_free(n);
        n = p;
    }
}

/* ---- cache ---------------------------------------------------------------------- */

static void match_free(struct hr_match *m)
{
    free(m);
}

void hr_router_result_release(struct hr_match *m)
{
    if (m && --m->refs == 0)
        match_free(m);
}

int hr_router_init(struct hr_router *r, size_t cache_slots)
{
    memset(r, 0, sizeof *r);
    hr_map_init(&r->root.literal);
    size_t n = 64;
    while (n < cache_slots)
        n *= 2;
    r->cache = calloc(n, sizeof *r->cache);
    if (!r->cache)
        return HERALD_ENOMEM;
    r->cache_mask = n - 1;
    r->gen = 1;
    return 0;
}

void hr_router_cleanup(struct hr_router *r, void (*free_sub)(struct herald_sub *))
{
    if (free_sub)
        node_free_subs(&r->root, free_sub);
    for (size_t i = 0; r->cache && i <= r->cache_mask; i++) {
        free(r->cache[i].key);
        hr_router_result_release(r->cache[i].result);
    }
    free(r->cache);
    r->cache = NULL;
    node_free(&r->root);
}

/* ---- insert / remove ------------------------------------------------------------ */

int hr_router_insert(struct hr_router *r, struct herald_sub *sub)
{
    struct hr_rnode *n = &r->root;
    const char *s = sub->subject, *end = s + sub->subject_len;
    while (s < end) {
        const char *dot = memchr(s, '.', (size_t)(end - s));
        size_t tl = dot ? (size_t)(dot - s) : (size_t)(end - s);
        struct hr_rnode *c = node_child(n, s, tl, true);
        if (!c) {
            prune(n);
            return HERALD_ENOMEM;
        }
        n = c;
        s += tl + 1;
    }
    int rc;
    if (!sub->queue) {
        rc = arr_push(&n->plain, sub);
        sub->group = NULL;
    } else {
        struct hr_qgroup *g = NULL;
        for (size_t i = 0; i < n->ngroups; i++)
            if (n->groups[i].name_len == sub->queue_len &&
                memcmp(n->groups[i].name, sub->queue, sub->queue_len) == 0)
                g = &n->groups[i];
        if (!g) {
            if (n->ngroups == n->groups_cap) {
                size_t cap = n->groups_cap ? n->groups_cap * 2 : 2;
                struct hr_qgroup *p = realloc(n->groups, cap * sizeof *p);
                if (!p) {
                    prune(n);
                    return HERALD_ENOMEM;
                }
                /* Members point at their group: re-point after the move. */
                for (size_t i = 0; i < n->ngroups; i++)
                    for (size_t j = 0; j < p[i].members.len; j++)
                        p[i].members.items[j]->group = &p[i];
                n->groups = p;
                n->groups_cap = cap;
            }
            g = &n->groups[n->ngroups];
            memset(g, 0, sizeof *g);
            g->name = strdup(sub->queue);
            if (!g->name) {
                prune(n);
                return HERALD_ENOMEM;
            }
            g->name_len = sub->queue_len;
            n->ngroups++;
        }
        rc = arr_push(&g->members, sub);
        sub->group = g;
    }
    if (rc) {
        prune(n);
        return rc;
    }
    sub->node = n;
    r->nsubs++;
    r->gen++;
    return 0;
}

void hr_router_remove(struct hr_router *r, struct herald_sub *sub)
{
    struct hr_rnode *n = sub->node;
    if (!n)
        return;
    if (!sub->group) {
        arr_remove(&n->plain, sub);
    } else {
        struct hr_qgroup *g = sub->group;
        arr_remove(&g->members, sub);
        if (g->members.len == 0) {
            free(g->name);
            size_t gi = (size_t)(g - n->groups);
            n->groups[gi] = n->groups[--n->ngroups];
            for (size_t j = 0; gi < n->ngroups && j < n->groups[gi].members.len; j++)
                n->groups[gi].members.items[j]->group = &n->groups[gi];
            if (n->ngroups == 0) {
                free(n->groups);
                n->groups = NULL;
                n->groups_cap = 0;
            }
        }
    }
    sub->node = NULL;
    sub->group = NULL;
    r->nsubs--;
    r->gen++;
    prune(n);
}

/* ---- match ---------------------------------------------------------------------- */

struct collect {
    struct hr_sub_array plain;
    struct hr_qgroup_acc {
        const char *name;
        size_t name_len;
        struct hr_sub_array members;
    } *groups;
    size_t ngroups, groups_cap;
    bool oom;
};

static void collect_node(struct collect *c, const struct hr_rnode *n)
{
    for (size_t i = 0; i < n->plain.len; i++)
        if (arr_push_keep(&c->plain, n->plain.items[i]))
            c->oom = true;
    for (size_t i = 0; i < n->ngroups; i++) {
        const struct hr_qgroup *g = &n->groups[i];
        struct hr_qgroup_acc *acc = NULL;
        for (size_t j = 0; j < c->ngroups; j++)
            if (c->groups[j].name_len == g->name_len &&
                memcmp(c->groups[j].name, g->name, g->name_len) == 0)
                acc = &c->groups[j];
        if (!acc) {
            if (c->ngroups == c->groups_cap) {
                size_t cap = c->groups_cap ? c->groups_cap * 2 : 4;
                struct hr_qgroup_acc *p = realloc(c->groups, cap * sizeof *p);
                if (!p) {
                    c->oom = true;
                    continue;
                }
                c->groups = p;
                c->groups_cap = cap;
            }
            acc = &c->groups[c->ngroups++];
            memset(acc, 0, sizeof *acc);
            acc->name = g->name;
            acc->name_len = g->name_len;
        }
        for (size_t j = 0; j < g->members.len; j++)
            if (arr_push_keep(&acc->members, g->members.items[j]))
                c->oom = true;
    }
}

static void match_level(struct collect *c, const struct hr_rnode *n, const char *s, const char *end)
{
    /* s points at the start of the next token; end is the end of the subject. */
    const char *dot = memchr(s, '.', (size_t)(end - s));
    size_t tl = dot ? (size_t)(dot - s) : (size_t)(end - s);
    const char *next = dot ? dot + 1 : NULL;
    if (n->fwc)
        collect_node(c, n->fwc);
    const struct hr_rnode *lit = n->literal.count ? hr_map_get(&n->literal, s, tl) : NULL;
    if (lit) {
        if (next)
            match_level(c, lit, next, end);
        else
            collect_node(c, lit);
    }
    if (n->pwc) {
        if (next)
            match_level(c, n->pwc, next, end);
        else
            collect_node(c, n->pwc);
    }
}

static struct hr_match *build_result(struct collect *c)
{
    size_t nmembers = 0;
    for (size_t i = 0; i < c->ngroups; i++)
        nmembers += c->groups[i].members.len;
    size_t size = sizeof(struct hr_match) + c->ngroups * sizeof(struct hr_match_group) +
                  (c->plain.len + nmembers) * sizeof(struct herald_sub *);
    struct hr_match *m = malloc(size);
    if (!m)
        return NULL;
    m->refs = 1;
    m->groups = (struct hr_match_group *)(m + 1);
    m->ngroups = c->ngroups;
    struct herald_sub **p = (struct herald_sub **)(m->groups + c->ngroups);
    m->plain = p;
    m->nplain = c->plain.len;
    if (c->plain.len)
        memcpy(p, c->plain.items, c->plain.len * sizeof *p);
    p += c->plain.len;
    for (size_t i = 0; i < c->ngroups; i++) {
        struct hr_match_group *g = &m->groups[i];
        g->next = 0;
        g->len = c->groups[i].members.len;
        g->members = p;
        memcpy(p, c->groups[i].members.items, g->len * sizeof *p);
        p += g->len;
    }
    return m;
}

static void collect_cleanup(struct collect *c)
{
    free(c->plain.items);
    for (size_t i = 0; i < c->ngroups; i++)
        free(c->groups[i].members.items);
    free(c->groups);
}

struct hr_match *hr_router_match(struct hr_router *r, const char *subject, size_t len)
{
    uint64_t h = hr_hash_bytes(subject, len);
    struct hr_cache_slot *slot = &r->cache[h & r->cache_mask];
    if (slot->gen == r->gen && slot->hash == h && slot->key_len == len &&
        memcmp(slot->key, subject, len) == 0) {
        r->cache_hits++;
        slot->result->refs++;
        return slot->result;
    }
    r->cache_misses++;
    struct collect c = {0};
    if (len)
        match_level(&c, &r->root, subject, subject + len);
    struct hr_match *m = c.oom ? NULL : build_result(&c);
    collect_cleanup(&c);
    if (!m)
        return NULL;
    for (size_t i = 0; i < m->ngroups; i++)
        m->groups[i].next = r->rr_seed++ * 2654435761u;
    /* Cache it (best effort: on OOM for the key we just do not cache). */
    if (slot->key_cap < len) {
        char *k = realloc(slot->key, len);
        if (!k)
            return m;
        slot->key = k;
        slot->key_cap = len;
    }
    if (len)
        memcpy(slot->key, subject, len);
    slot->key_len = len;
    slot->hash = h;
    slot->gen = r->gen;
    hr_router_result_release(slot->result);
    slot->result = m;
    m->refs++;
    return m;
}
