/* SPDX-License-Identifier: Apache-2.0
 *
 * Herald's one error enum, generated from one X-macro (as libuv's UV_ERRNO_MAP).
 *
 * Contract:
 *   1. Every Herald function that can fail returns `int`: 0 on success, a negative
 *      HERALD_E* value on failure. System errors are passed through as negative errno
 *      (e.g. -ENOSPC), so one `int` carries both.
 *   2. Numbers are only ever appended: a value once released never changes meaning.
 *   3. herald_strerror() and herald_err_name() never return NULL, also for errno values
 *      and values they do not know.
 */
#ifndef HERALD_ERRORS_H
#define HERALD_ERRORS_H

/* X(name, number, message). Numbers start at 1000 to stay clear of errno. */
#define HERALD_ERRNO_MAP(X)                                                          \
    X(ENOMEM, 1000, "out of memory")                                                 \
    X(EINVAL, 1001, "invalid argument")                                              \
    X(ESUBJECT, 1002, "invalid subject")                                             \
    X(EQUEUE, 1003, "invalid queue group name")                                      \
    X(ETOOBIG, 1004, "payload exceeds the maximum size")                             \
    X(ELIMIT, 1005, "a configured limit was reached")                                \
    X(ENOTFOUND, 1006, "not found")                                                  \
    X(EEXIST, 1007, "already exists")                                                \
    X(ECONFIG, 1008, "invalid configuration")                                        \
    X(EPROTO, 1009, "protocol error")                                                \
    X(ECLOSED, 1010, "closed")                                                       \
    X(ENORESPONDERS, 1011, "no responders")                                          \
    X(ETIMEOUT, 1012, "timed out")                                                   \
    X(ESTORE, 1013, "storage failure")                                               \
    X(ECORRUPT, 1014, "corrupt data")                                                \
    X(ECONFLICT, 1015, "expectation failed")                                         \
    X(EVERSION, 1016, "data written by an unsupported format version")

enum herald_err {
    HERALD_OK = 0,
#define HERALD_ERR_ENUM(name, num, msg) HERALD_##name = -(num),
    HERALD_ERRNO_MAP(HERALD_ERR_ENUM)
#undef HERALD_ERR_ENUM
};

/* Returns a static, human-readable message for `err` (a HERALD_E* value or a negative
 * errno). Never NULL. Thread-safe. */
const char *herald_strerror(int err);

/* Returns the symbolic name of `err` ("HERALD_ENOMEM", "ENOSPC", …). Never NULL.
 * Thread-safe. */
const char *herald_err_name(int err);

#endif
