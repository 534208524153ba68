/* SPDX-License-Identifier: Apache-2.0
 *
 * The POSIX implementation of the I/O vtable, the whole-buffer helpers, and the
 * fault-injecting wrapper used by tests (io.h contracts 1–3).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/io.h"

static int px_open(struct hr_io *io, const char *path, int flags, int mode)
{
    (void)io;
    int fd = open(path, flags | O_CLOEXEC, mode);
    return fd < 0 ? -errno : fd;
}

static ssize_t px_pwrite(struct hr_io *io, int fd, const void *buf, size_t n, uint64_t off)
{
    (void)io;
    ssize_t r = pwrite(fd, buf, n, (off_t)off);
    return r < 0 ? -errno : r;
}

static ssize_t px_pread(struct hr_io *io, int fd, void *buf, size_t n, uint64_t off)
{
    (void)io;
    ssize_t r = pread(fd, buf, n, (off_t)off);
    return r < 0 ? -errno : r;
}

static int px_fdatasync(struct hr_io *io, int fd)
{
    (void)io;
    return fdatasync(fd) < 0 ? -errno : 0;
}

static int px_ftruncate(struct hr_io *io, int fd, uint64_t size)
{
    (void)io;
    return ftruncate(fd, (off_t)size) < 0 ? -errno : 0;
}

static int64_t px_size(struct hr_io *io, int fd)
{
    (void)io;
    struct stat st;
    return fstat(fd, &st) < 0 ? -errno : (int64_t)st.st_size;
}

static int px_close(struct hr_io *io, int fd)
{
    (void)io;
    return close(fd) < 0 ? -errno : 0;
}

static int px_rename(struct hr_io *io, const char *from, const char *to)
{
    (void)io;
    return rename(from, to) < 0 ? -errno : 0;
}

static int px_unlink(struct hr_io *io, const char *path)
{
    (void)io;
    return unlink(path) < 0 ? -errno : 0;
}

static int px_mkdir(struct hr_io *io, const char *path)
{
    (void)io;
    return mkdir(path, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

static int px_rmdir(struct hr_io *io, const char *path)
{
    (void)io;
    return rmdir(path) < 0 ? -errno : 0;
}

static int px_list(struct hr_io *io, const char *dir, int (*cb)(void *, const char *), void *arg)
{
    (void)io;
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    struct dirent *de;
    int rc = 0;
    while (!rc && (de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
            rc = cb(arg, de->d_name);
    closedir(d);
    return rc;
}

static int px_sync_dir(struct hr_io *io, const char *dir)
{
    (void)io;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) < 0 ? -errno : 0;
    close(fd);
    return rc;
}

struct hr_io hr_io_posix = {
    .open = px_open, .pwrite = px_pwrite, .pread = px_pread, .fdatasync = px_fdatasync,
    .ftruncate = px_ftruncate, .size = px_size, .close = px_close, .rename = px_rename,
    .unlink = px_unlink, .mkdir = px_mkdir, .rmdir = px_rmdir, .list = px_list,
    .sync_dir = px_sync_dir,
};

int hr_io_write_all(struct hr_io *io, int fd, const void *buf, size_t n, uint64_t off)
{
    const char *p = buf;
    while (n) {
        ssize_t w = io->pwrite(io, fd, p, n, off);
        if (w < 0)
            return (int)w;
        if (w == 0)
            return -EIO;
        p += w;
        n -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

int hr_io_read_all(struct hr_io *io, int fd, void *buf, size_t n, uint64_t off)
{
    char *p = buf;
    while (n) {
        ssize_t r = io->pread(io, fd, p, n, off);
        if (r < 0)
            return (int)r;
        if (r == 0)
            return -ENODATA;
        p += r;
        n -= (size_t)r;
        off += (uint64_t)r;
    }
    return 0;
}

/* ---- fault injection ------------------------------------------------------------- */

static int trip(struct hr_io_faulty *f, enum hr_io_op op)
{
    f->calls[op]++;
    if (f->fail_at[op] && f->calls[op] >= f->fail_at[op]) {
        if (!f->sticky)
            f->fail_at[op] = 0;
        return f->fail_err[op];
    }
    return 0;
}

static int ft_open(struct hr_io *io, const char *path, int flags, int mode)
{
    struct hr_io_faulty *f = (struct hr_io_faulty *)io;
    int e = (flags & O_CREAT) ? trip(f, HR_IO_OP_OPEN) : 0;
    return e ? e : f->inner->open(f->inner, path, flags, mode);
}

static ssize_t ft_pwrite(struct hr_io *io, int fd, const void *buf, size_t n, uint64_t off)
{
    struct hr_io_faulty *f = (struct hr_io_faulty *)io;
    int e = trip(f, HR_IO_OP_WRITE);
    if (!e)
        return f->inner->pwrite(f->inner, fd, buf, n, off);
    if (f->short_write && f->short_write < n) {
        /* Leave a torn record behind, as a crash or full disk would. */
        f->inner->pwrite(f->inner, fd, buf, f->short_write, off);
    }
    return e;
}

static ssize_t ft_pread(struct hr_io *io, int fd, void *buf, size_t n, uint64_t off)
{
    struct hr_io_faulty *f = (struct hr_io_faulty *)io;
    return f->inner->pread(f->inner, fd, buf, n, off);
}

static int ft_fdatasync(struct hr_io *io, int fd)
{
    struct hr_io_faulty *f = (struct hr_io_faulty *)io;
    int e = trip(f, HR_IO_OP_FSYNC);
    return e ? e : f->inner->fdatasync(f->inner, fd);
}

static int ft_ftruncate(struct hr_io *io, int fd, uint64_t size)
{
    struct hr_io_faulty *f = (struct hr_io_faulty *)io;
    int e = trip(f, HR_IO_OP_TRUNCATE);
    return e ? e : f->inner->ftruncate(f->inner, fd, size);
}

static int64_t ft_size(struct hr_io *io, int fd)
{
    struct hr_io_faulty *f = (struct hr_io_faulty *)io;
    return f->inner->size(f->inner, fd);
}

static int ft_close(struct hr_io *io, int fd)
{
    struct hr_io_faulty *f = (struct hr_io_faulty *)io;
    return f->inner->close(f->inner, fd);
}

static int ft_rename(struct hr_io *io, const char *from, const char *to)
{
    struct hr_io_faulty *f = (struct hr_io_faulty *)io;
    int e = trip(f, HR_IO_OP_RENAME);
    return e ? e : f->inner->rename(f->inner, from, to);
}

static int ft_unlink(struct hr_io *io, const char *path)
{
    struct hr_io_faulty *f = (struct hr_io_faulty *)io;
    return f->inner->unlink(f->inner, path);
}

static int ft_mkdir(struct hr_io *io, const char *path)
{
    struct hr_io_faulty *f = (struct hr_io_faulty *)io;
    return f->inner->mkdir(f->inner, path);
}

static int ft_rmdir(struct hr_io *io, const char *path)
{
    struct hr_io_faulty *f = (struct hr_io_faulty *)io;
    return f->inner->rmdir(f->inner, path);
}

static int ft_list(struct hr_io *io, const char *dir, int (*cb)(void *, const char *), void *arg)
{
    struct hr_io_faulty *f = (struct hr_io_faulty *)io;
    return f->inner->list(f->inner, dir, cb, arg);
}

static int ft_sync_dir(struct hr_io *io, const char *dir)
{
    struct hr_io_faulty *f = (struct hr_io_faulty *)io;
    int e = trip(f, HR_IO_OP_FSYNC);
    return e ? e : f->inner->sync_dir(f->inner, dir);
}

void hr_io_faulty_init(struct hr_io_faulty *f, struct hr_io *inner)
{
    memset(f, 0, sizeof *f);
    f->inner = inner;
    f->io = (struct hr_io){
        .open = ft_open, .pwrite = ft_pwrite, .pread = ft_pread, .fdatasync = ft_fdatasync,
        .ftruncate = ft_ftruncate, .size = ft_size, .close = ft_close, .rename = ft_rename,
        .unlink = ft_unlink, .mkdir = ft_mkdir, .rmdir = ft_rmdir, .list = ft_list,
        .sync_dir = ft_sync_dir,
    };
}

void hr_io_faulty_arm(struct hr_io_faulty *f, enum hr_io_op op, uint64_t nth_from_now, int err)
{
    f->fail_at[op] = f->calls[op] + nth_from_now;
    f->fail_err[op] = err;
}
