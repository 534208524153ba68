/* SPDX-License-Identifier: Apache-2.0
 *
 * Subject validation and matching; see subject.h for the rules.
 */
#include <string.h>

#include "common/subject.h"

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool valid(const char *s, size_t len, bool wildcards)
{
    if (len == 0)
        return false;
    size_t tok_start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.') {
            if (is_blank(s[i]))
                return false;
            continue;
        }
        size_t tlen = i - tok_start;
        if (tlen == 0)
            return false;
        if (tlen == 1 && (s[tok_start] == '*' || s[tok_start] == '>')) {
            if (!wildcards)
                return false;
            if (s[tok_start] == '>' && i != len)
                return false;
        }
        tok_start = i + 1;
    }
    return true;
}

bool hr_subject_valid_filter(const char *s, size_t len)
{
    return valid(s, len, true);
}

bool hr_subject_valid_literal(const char *s, size_t len)
{
    return valid(s, len, false);
}

bool hr_subject_valid_queue(const char *s, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (is_blank(s[i]))
            return false;
    return true;
}

/* Length of the token starting at s (up to '.' or end). */
static size_t token_len(const char *s, size_t len)
{
    const char *dot = memchr(s, '.', len);
    return dot ? (size_t)(dot - s) : len;
}

bool hr_subject_matches(const char *f, size_t flen, const char *s, size_t slen)
{
    size_t fi = 0, si = 0;
    for (;;) {
        if (fi >= flen || si >= slen)
            return fi >= flen && si >= slen;
        size_t ft = token_len(f + fi, flen - fi);
        size_t st = token_len(s + si, slen - si);
        if (ft == 1 && f[fi] == '>')
            return true;
        if (!(ft == 1 && f[fi] == '*') && (ft != st || memcmp(f + fi, s + si, ft) != 0))
            return false;
        fi += ft + 1;
        si += st + 1;
        if ((fi > flen) != (si > slen))
            return false;
    }
}

bool hr_subject_overlaps(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t ai = 0, bi = 0;
    for (;;) {
        if (ai >= alen || bi >= blen)
            return ai >= alen && bi >= blen;
        size_t at = token_len(a + ai, alen - ai);
        size_t bt = token_len(b + bi, blen - bi);
        bool aw = at == 1 && a[ai] == '>', bw = bt == 1 && b[bi] == '>';
        if (aw || bw)
            return true;
        bool ap = at == 1 && a[ai] == '*', bp = bt == 1 && b[bi] == '*';
        if (!ap && !bp && (at != bt || memcmp(a + ai, b + bi, at) != 0))
            return false;
        ai += at + 1;
        bi += bt + 1;
        if ((ai > alen) != (bi > blen))
            return false;
    }
}
