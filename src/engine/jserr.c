/* SPDX-License-Identifier: Apache-2.0
 *
 * Filling struct herald_error from the JetStream error table in jserr.h.
 */
#include <stdarg.h>
#include <stdio.h>

#include "engine/jserr.h"

static const struct {
    int code, status, err_code;
    const char *fmt;
} table[] = {
#define HR_JS_ROW(name, code, status, err_code, desc) {code, status, err_code, desc},
    HR_JS_ERROR_MAP(HR_JS_ROW)
#undef HR_JS_ROW
};

int hr_js_error(struct herald_error *err, enum hr_js_error which, ...)
{
    if (err) {
        err->code = table[which].code;
        err->status = table[which].status;
        err->err_code = table[which].err_code;
        va_list ap;
        va_start(ap, which);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        vsnprintf(err->description, sizeof err->description, table[which].fmt, ap);
#pragma GCC diagnostic pop
        va_end(ap);
    }
    return table[which].code;
}
