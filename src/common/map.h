/* SPDX-License-Identifier: Apache-2.0
 *
 * hr_map: an open-addressing hash map from byte-string keys to pointers.
 *
 * Contract:
 *   1. The map does not copy keys: the memory behind a key must live as long as its entry
 *      (usually the key is a field of the value).
 *   2. Linear probing with backward-shift deletion: no tombstones, lookups stay short.
 *   3. Load factor stays at or below 3/4; growth doubles. Out of memory is returned as
 *      HERALD_ENOMEM and leaves the map unchanged.
 */
#ifndef HR_COMMON_MAP_H
#define HR_COMMON_MAP_H

#include <stddef.h>
#include <stdint.h>

struct hr_map_entry {
    uint64_t hash; /* 0 = empty slot */
    const char *key;
    size_t key_len;
    void *val;
};

struct hr_map {
    struct hr_map_entry *slots;
    size_t cap; /* power of two, or 0 */
    size_t count;
};

void hr_map_init(struct hr_map *m);
void hr_map_cleanup(struct hr_map *m);

/* Returns the value stored under the key, or NULL. */
void *hr_map_get(const struct hr_map *m, const char *key, size_t key_len);

/* Stores `val` under the key (borrowed; see contract 1), replacing any value.
 * Returns 0 or HERALD_ENOMEM. */
int hr_map_put(struct hr_map *m, const char *key, size_t key_len, void *val);

/* Removes the key; returns the value it had, or NULL. */
void *hr_map_del(struct hr_map *m, const char *key, size_t key_len);

/* Iteration: for (size_t i = 0; i < m->cap; i++) if (m->slots[i].hash) ... */

#endif
