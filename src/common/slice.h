/* SPDX-License-Identifier: Apache-2.0
 *
 * struct hr_slice: a borrowed {ptr, len} view into a buffer, as every codec hands back
 * what it parsed (zero-copy). The owner of the buffer decides how long it stays valid.
 */
#ifndef HR_COMMON_SLICE_H
#define HR_COMMON_SLICE_H

#include <stddef.h>

struct hr_slice {
    const char *ptr;
    size_t len;
};

#endif
