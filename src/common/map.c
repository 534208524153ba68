/* SPDX-License-Identifier: Apache-2.0
 *
 * hr_map implementation; see map.h for the contract.
 */
#include <stdlib.h>
#include <string.h>

#include "common/map.h"
#include "common/subject.h"
#include "herald/errors.h"

static uint64_t key_hash(const char *key, size_t len)
{
    uint64_t h = hr_hash_bytes(key, len);
    return h ? h : 1;
}

void hr_map_init(struct hr_map *m)
{
    m->slots = NULL;
    m->cap = 0;
    m->count = 0;
}

void hr_map_cleanup(struct hr_map *m)
{
    free(m->slots);
    hr_map_init(m);
}

static struct hr_map_entry *find(const struct hr_map *m, uint64_t h, const char *key, size_t len)
{
    if (!m->cap)
        return NULL;
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct hr_map_entry *e = &m->slots[i];
        if (!e->hash)
            return NULL;
        if (e->hash == h && e->key_len == len && memcmp(e->key, key, len) == 0)
            return e;
    }
}

void *hr_map_get(const struct hr_map *m, const char *key, size_t key_len)
{
    struct hr_map_entry *e = find(m, key_hash(key, key_len), key, key_len);
    return e ? e->val : NULL;
}

static void insert_slot(struct hr_map_entry *slots, size_t cap, const struct hr_map_entry *src)
{
    size_t mask = cap - 1;
    size_t i = src->hash & mask;
    while (slots[i].hash)
        i = (i + 1) & mask;
    slots[i] = *src;
}

static int grow(struct hr_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 8;
    struct hr_map_entry *slots = calloc(cap, sizeof *slots);
    if (!slots)
        return HERALD_ENOMEM;
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].hash)
            insert_slot(slots, cap, &m->slots[i]);
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    return 0;
}

int hr_map_put(struct hr_map *m, const char *key, size_t key_len, void *val)
{
    uint64_t h = key_hash(key, key_len);
    struct hr_map_entry *e = find(m, h, key, key_len);
    if (e) {
        e->key = key;
        e->val = val;
        return 0;
    }
    if ((m->count + 1) * 4 > m->cap * 3) {
        int rc = grow(m);
        if (rc)
            return rc;
    }
    struct hr_map_entry ne = {.hash = h, .key = key, .key_len = key_len, .val = val};
    insert_slot(m->slots, m->cap, &ne);
    m->count++;
    return 0;
}

void *hr_map_del(struct hr_map *m, const char *key, size_t key_len)
{
    struct hr_map_entry *e = find(m, key_hash(key, key_len), key, key_len);
    if (!e)
        return NULL;
    void *val = e->val;
    size_t mask = m->cap - 1;
    size_t hole = (size_t)(e - m->slots);
    for (size_t i = (hole + 1) & mask; m->slots[i].hash; i = (i + 1) & mask) {
        size_t home = m->slots[i].hash & mask;
        /* Move the entry back into the hole if its home is not cyclically in (hole, i]. */
        if (((i - home) & mask) >= ((i - hole) & mask)) {
            m->slots[hole] = m->slots[i];
            hole = i;
        }
    }
    m->slots[hole].hash = 0;
    m->count--;
    return val;
}
