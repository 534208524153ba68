/* SPDX-License-Identifier: Apache-2.0
 *
 * The subject router: a trie of subject tokens holding subscriptions, plus a direct-mapped
 * match cache. Internal to the engine (heads use herald_sub_create()/herald_publish()).
 *
 * Invariants:
 *   R1. A subscription is in exactly one trie node from hr_router_insert() until
 *       hr_router_remove(); its `node` and `slot` fields say where.
 *   R2. Every change to the trie bumps `gen`; a cache entry is used only when its
 *       generation equals `gen`, so a cached result never names a removed subscription.
 *   R3. A match result is reference-counted: the cache holds one reference, every caller
 *       of hr_router_match() holds one until hr_router_result_release().
 *   R4. Queue subscriptions with the same queue name are merged into one group in a
 *       result, whichever trie nodes they came from (as nats-server does).
 *   R5. Empty trie nodes are pruned on removal, so memory follows the live subscriptions.
 */
#ifndef HR_ENGINE_ROUTER_H
#define HR_ENGINE_ROUTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/map.h"
#include "herald/herald.h"

struct hr_rnode;

struct herald_sub {
    struct herald_engine *engine;
    char *subject; /* owned, NUL-terminated */
    size_t subject_len;
    char *queue; /* owned, NUL-terminated, or NULL */
    size_t queue_len;
    herald_deliver_fn deliver;
    void *ctx;
    const void *owner;
    bool no_echo;
    bool dead;              /* removed; waiting to be freed after the current publish */
    struct hr_rnode *node;  /* R1 */
    struct hr_qgroup *group; /* NULL for plain subscriptions */
    size_t slot;            /* index in node->plain or group->members */
    struct herald_sub *zombie_next;
};

struct hr_sub_array {
    struct herald_sub **items;
    size_t len, cap;
};

struct hr_qgroup {
    char *name; /* owned */
    size_t name_len;
    struct hr_sub_array members;
};

struct hr_rnode {
    struct hr_rnode *parent;
    char *token; /* owned; NULL for the root */
    size_t token_len;
    struct hr_map literal; /* token -> child node */
    struct hr_rnode *pwc;  /* '*' child */
    struct hr_rnode *fwc;  /* '>' child */
    struct hr_sub_array plain;
    struct hr_qgroup *groups;
    size_t ngroups, groups_cap;
};

struct hr_match_group {
    uint32_t next; /* round-robin cursor; starts where the previous result's left off */
    size_t len;
    struct herald_sub **members;
};

struct hr_match {
    uint32_t refs;
    size_t nplain;
    struct herald_sub **plain;
    size_t ngroups;
    struct hr_match_group *groups;
};

struct hr_cache_slot {
    uint64_t gen;
    uint64_t hash;
    char *key;
    size_t key_len, key_cap;
    struct hr_match *result;
};

struct hr_router {
    struct hr_rnode root;
    uint64_t gen;
    size_t nsubs;
    struct hr_cache_slot *cache;
    size_t cache_mask;
    uint64_t cache_hits, cache_misses;
    uint32_t rr_seed; /* varies the cursors of rebuilt results (no member starves) */
};

int hr_router_init(struct hr_router *r, size_t cache_slots);
/* Frees the trie and the cache; subscriptions still attached are passed to free_sub. */
void hr_router_cleanup(struct hr_router *r, void (*free_sub)(struct herald_sub *));

/* Adds `sub` (subject and queue already validated and set). Returns 0 or HERALD_ENOMEM. */
int hr_router_insert(struct hr_router *r, struct herald_sub *sub);

/* Unlinks `sub` from the trie (R1, R5). Does not free it. */
void hr_router_remove(struct hr_router *r, struct herald_sub *sub);

/* Returns the (referenced, R3) set of subscriptions matching the literal `subject`, or
 * NULL on out of memory. */
struct hr_match *hr_router_match(struct hr_router *r, const char *subject, size_t len);
void hr_router_result_release(struct hr_match *m);

#endif
