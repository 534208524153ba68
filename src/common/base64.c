/* SPDX-License-Identifier: Apache-2.0
 *
 * Base64 encoding and decoding; see base64.h.
 */
#include <stdint.h>
#include <stdlib.h>

#include "common/base64.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *hr_base64_encode(const void *p, size_t n)
{
    const unsigned char *u = p;
    char *out = malloc((n + 2) / 3 * 4 + 1), *o = out;
    if (!out)
        return NULL;
    size_t i = 0;
    for (; i + 2 < n; i += 3) {
        *o++ = alphabet[u[i] >> 2];
        *o++ = alphabet[((u[i] & 3) << 4) | (u[i + 1] >> 4)];
        *o++ = alphabet[((u[i + 1] & 15) << 2) | (u[i + 2] >> 6)];
        *o++ = alphabet[u[i + 2] & 63];
    }
    if (i < n) {
        *o++ = alphabet[u[i] >> 2];
        if (i + 1 < n) {
            *o++ = alphabet[((u[i] & 3) << 4) | (u[i + 1] >> 4)];
            *o++ = alphabet[(u[i + 1] & 15) << 2];
        } else {
            *o++ = alphabet[(u[i] & 3) << 4];
            *o++ = '=';
        }
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

static int value_of(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

bool hr_base64_decode(const char *src, size_t len, unsigned char *dst, size_t *out_len)
{
    while (len && src[len - 1] == '=')
        len--;
    uint32_t acc = 0;
    int bits = 0;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        int v = value_of(src[i]);
        if (v < 0)
            return false;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            dst[n++] = (unsigned char)((acc >> bits) & 0xff);
        }
    }
    *out_len = n;
    return true;
}
