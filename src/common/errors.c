/* SPDX-License-Identifier: Apache-2.0
 *
 * herald_strerror() and herald_err_name(), generated from HERALD_ERRNO_MAP.
 * Owns nothing; pure lookups. Negative errno values are delegated to strerrordesc_np()
 * and strerrorname_np() (glibc 2.32+), which are thread-safe and return static strings.
 */
#include <string.h>

#include "herald/errors.h"

const char *herald_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
#define X(name, num, msg) \
    case -(num):          \
        return msg;
        HERALD_ERRNO_MAP(X)
#undef X
    default:
        break;
    }
    const char *s = err < 0 ? strerrordesc_np(-err) : NULL;
    return s ? s : "unknown error";
}

const char *herald_err_name(int err)
{
    switch (err) {
    case 0:
        return "HERALD_OK";
#define X(name, num, msg) \
    case -(num):          \
        return "HERALD_" #name;
        HERALD_ERRNO_MAP(X)
#undef X
    default:
        break;
    }
    const char *s = err < 0 ? strerrorname_np(-err) : NULL;
    return s ? s : "UNKNOWN";
}
