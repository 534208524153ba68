/* SPDX-License-Identifier: Apache-2.0
 *
 * All of the store's file I/O goes through this small vtable (SQLite's VFS, test6.c), so
 * tests can inject EIO, ENOSPC, short writes and a crash at the Nth fsync, and memory
 * storage can reuse the file store's code over an in-memory file system.
 *
 * Contract:
 *   1. Every function returns a non-negative result or a negative errno; none sets errno.
 *   2. hr_io_posix is stateless and thread-safe (the store thread calls fdatasync).
 *   3. The faulty wrapper counts calls per operation; when an armed counter reaches its
 *      trigger it fails that call (and, in `sticky` mode, every later one of that kind).
 *   4. The memory file system is not thread-safe; it is used only with sync=never
 *      semantics (memory storage), where the store thread never touches it.
 */
#ifndef HR_STORE_IO_H
#define HR_STORE_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct hr_io {
    int (*open)(struct hr_io *io, const char *path, int flags, int mode);
    ssize_t (*pwrite)(struct hr_io *io, int fd, const void *buf, size_t n, uint64_t off);
    ssize_t (*pread)(struct hr_io *io, int fd, void *buf, size_t n, uint64_t off);
    int (*fdatasync)(struct hr_io *io, int fd);
    int (*ftruncate)(struct hr_io *io, int fd, uint64_t size);
    int64_t (*size)(struct hr_io *io, int fd);
    int (*close)(struct hr_io *io, int fd);
    int (*rename)(struct hr_io *io, const char *from, const char *to);
    int (*unlink)(struct hr_io *io, const char *path);
    int (*mkdir)(struct hr_io *io, const char *path);
    int (*rmdir)(struct hr_io *io, const char *path);
    /* Lists the names in `dir` (not . or ..): calls cb for each; stops early on nonzero. */
    int (*list)(struct hr_io *io, const char *dir, int (*cb)(void *arg, const char *name), void *arg);
    int (*sync_dir)(struct hr_io *io, const char *dir);
};

extern struct hr_io hr_io_posix;

/* Writes all n bytes (looping over short writes). Returns 0 or a negative errno;
 * -EIO stands for a zero-length write. */
int hr_io_write_all(struct hr_io *io, int fd, const void *buf, size_t n, uint64_t off);
/* Reads exactly n bytes; returns 0, -ENODATA at end of file, or a negative errno. */
int hr_io_read_all(struct hr_io *io, int fd, void *buf, size_t n, uint64_t off);

/* ---- fault injection (tests) ------------------------------------------------------ */

enum hr_io_op { HR_IO_OP_WRITE, HR_IO_OP_FSYNC, HR_IO_OP_TRUNCATE, HR_IO_OP_OPEN, HR_IO_OP_RENAME, HR_IO_N_OPS };

struct hr_io_faulty {
    struct hr_io io; /* must be first */
    struct hr_io *inner;
    uint64_t calls[HR_IO_N_OPS];
    uint64_t fail_at[HR_IO_N_OPS]; /* 1-based call number to fail; 0 = never */
    int fail_err[HR_IO_N_OPS];     /* negative errno to return */
    int sticky;                    /* keep failing after the first failure */
    size_t short_write;            /* when failing a write: write this many bytes first */
};

/* Initialises `f` to pass everything through to `inner` until armed. */
void hr_io_faulty_init(struct hr_io_faulty *f, struct hr_io *inner);
void hr_io_faulty_arm(struct hr_io_faulty *f, enum hr_io_op op, uint64_t nth_from_now, int err);

/* ---- in-memory file system (memory storage) -------------------------------------- */

/* Creates an empty memory file system (returns owned; free with hr_io_mem_destroy()). */
struct hr_io *hr_io_mem_create(void);
void hr_io_mem_destroy(struct hr_io *io);

#endif
