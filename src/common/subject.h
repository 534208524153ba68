/* SPDX-License-Identifier: Apache-2.0
 *
 * NATS subject rules, shared by every head and the engine.
 *
 * A subject is one or more tokens separated by '.'. Tokens are non-empty and contain no
 * whitespace (space, tab, CR, LF). In a subscription (a filter), a token that is exactly
 * `*` matches any one token and a final token `>` matches one or more remaining tokens.
 * A publish subject is literal: no wildcard tokens. Pure functions; no allocation.
 */
#ifndef HR_COMMON_SUBJECT_H
#define HR_COMMON_SUBJECT_H

#include <stdbool.h>
#include <stddef.h>

/* True when `s` is a valid filter (wildcards allowed, `>` only as the last token). */
bool hr_subject_valid_filter(const char *s, size_t len);

/* True when `s` is a valid literal subject (no `*` or `>` tokens). */
bool hr_subject_valid_literal(const char *s, size_t len);

/* True when `s` is a valid queue group name: non-empty, no whitespace. */
bool hr_subject_valid_queue(const char *s, size_t len);

/* True when the literal subject `subj` matches the filter `filter`. */
bool hr_subject_matches(const char *filter, size_t flen, const char *subj, size_t slen);

/* True when some subject could match both filters (used to reject overlapping streams). */
bool hr_subject_overlaps(const char *a, size_t alen, const char *b, size_t blen);

/* 64-bit hash of a byte string (FNV-1a variant with a final mix). */
static inline unsigned long long hr_hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    unsigned long long h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 0x100000001b3ULL;
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdULL;
    h ^= h >> 33;
    return h;
}

#endif
