/* SPDX-License-Identifier: Apache-2.0
 *
 * An in-memory file system behind the I/O vtable: memory storage runs the file store's
 * code unchanged over it (io.h contract 4). Files are growable byte arrays keyed by
 * path; descriptors index a small table. Directories are implicit: a directory exists
 * when some file path starts with it (mkdir/rmdir/sync are no-ops).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include "common/map.h"
#include "store/io.h"

struct memfile {
    char *path;
    char *data;
    size_t len, cap;
    int refs;
    int linked;
};

struct memfs {
    struct hr_io io; /* must be first */
    struct hr_map files;
    struct memfile **fds;
    size_t nfds;
};

static struct memfile *fd_file(struct memfs *fs, int fd)
{
    return fd >= 0 && (size_t)fd < fs->nfds ? fs->fds[fd] : NULL;
}

static void file_release(struct memfile *f)
{
    if (--f->refs == 0 && !f->linked) {
        free(f->path);
        free(f->data);
        free(f);
    }
}

static int m_open(struct hr_io *io, const char *path, int flags, int mode)
{
    struct memfs *fs = (struct memfs *)io;
    (void)mode;
    struct memfile *f = hr_map_get(&fs->files, path, strlen(path));
    if (!f) {
        if (!(flags & O_CREAT))
            return -ENOENT;
        f = calloc(1, sizeof *f);
        if (!f || !(f->path = strdup(path))) {
            free(f);
            return -ENOMEM;
        }
        f->linked = 1;
        if (hr_map_put(&fs->files, f->path, strlen(f->path), f)) {
            free(f->path);
            free(f);
            return -ENOMEM;
        }
    } else if (flags & O_TRUNC) {
        f->len = 0;
    }
    size_t fd = 0;
    while (fd < fs->nfds && fs->fds[fd])
        fd++;
    if (fd == fs->nfds) {
        struct memfile **p = realloc(fs->fds, (fs->nfds + 16) * sizeof *p);
        if (!p)
            return -ENOMEM;
        memset(p + fs->nfds, 0, 16 * sizeof *p);
        fs->fds = p;
        fs->nfds += 16;
    }
    f->refs++;
    fs->fds[fd] = f;
    return (int)fd;
}

static ssize_t m_pwrite(struct hr_io *io, int fd, const void *buf, size_t n, uint64_t off)
{
    struct memfile *f = fd_file((struct memfs *)io, fd);
    if (!f)
        return -EBADF;
    size_t end = (size_t)off + n;
    if (end > f->cap) {
        size_t cap = f->cap ? f->cap : 4096;
        while (cap < end)
            cap *= 2;
        char *p = realloc(f->data, cap);
        if (!p)
            return -ENOSPC;
        f->data = p;
        f->cap = cap;
    }
    if (off > f->len)
        memset(f->data + f->len, 0, (size_t)off - f->len);
    memcpy(f->data + off, buf, n);
    if (end > f->len)
        f->len = end;
    return (ssize_t)n;
}

static ssize_t m_pread(struct hr_io *io, int fd, void *buf, size_t n, uint64_t off)
{
    struct memfile *f = fd_file((struct memfs *)io, fd);
    if (!f)
        return -EBADF;
    if (off >= f->len)
        return 0;
    if (n > f->len - off)
        n = f->len - (size_t)off;
    memcpy(buf, f->data + off, n);
    return (ssize_t)n;
}

static int m_nop_fd(struct hr_io *io, int fd)
{
    return fd_file((struct memfs *)io, fd) ? 0 : -EBADF;
}

static int m_ftruncate(struct hr_io *io, int fd, uint64_t size)
{
    struct memfile *f = fd_file((struct memfs *)io, fd);
    if (!f)
        return -EBADF;
    if (size < f->len)
        f->len = (size_t)size;
    return 0;
}

static int64_t m_size(struct hr_io *io, int fd)
{
    struct memfile *f = fd_file((struct memfs *)io, fd);
    return f ? (int64_t)f->len : -EBADF;
}

static int m_close(struct hr_io *io, int fd)
{
    struct memfs *fs = (struct memfs *)io;
    struct memfile *f = fd_file(fs, fd);
    if (!f)
        return -EBADF;
    fs->fds[fd] = NULL;
    file_release(f);
    return 0;
}

static int m_unlink(struct hr_io *io, const char *path)
{
    struct memfs *fs = (struct memfs *)io;
    struct memfile *f = hr_map_del(&fs->files, path, strlen(path));
    if (!f)
        return -ENOENT;
    f->linked = 0;
    f->refs++;
    file_release(f);
    return 0;
}

static int m_rename(struct hr_io *io, const char *from, const char *to)
{
    struct memfs *fs = (struct memfs *)io;
    struct memfile *f = hr_map_del(&fs->files, from, strlen(from));
    if (!f)
        return -ENOENT;
    m_unlink(io, to);
    char *p = strdup(to);
    if (!p) {
        hr_map_put(&fs->files, f->path, strlen(f->path), f);
        return -ENOMEM;
    }
    free(f->path);
    f->path = p;
    return hr_map_put(&fs->files, f->path, strlen(f->path), f) ? -ENOMEM : 0;
}

static int m_nop_path(struct hr_io *io, const char *path)
{
    (void)io;
    (void)path;
    return 0;
}

static int m_list(struct hr_io *io, const char *dir, int (*cb)(void *, const char *), void *arg)
{
    struct memfs *fs = (struct memfs *)io;
    size_t dl = strlen(dir);
    for (size_t i = 0; i < fs->files.cap; i++) {
        struct hr_map_entry *e = &fs->files.slots[i];
        if (!e->hash || e->key_len <= dl + 1 || memcmp(e->key, dir, dl) || e->key[dl] != '/')
            continue;
        const char *name = e->key + dl + 1;
        if (strchr(name, '/'))
            continue;
        int rc = cb(arg, name);
        if (rc)
            return rc;
    }
    return 0;
}

struct hr_io *hr_io_mem_create(void)
{
    struct memfs *fs = calloc(1, sizeof *fs);
    if (!fs)
        return NULL;
    hr_map_init(&fs->files);
    fs->io = (struct hr_io){
        .open = m_open, .pwrite = m_pwrite, .pread = m_pread, .fdatasync = m_nop_fd,
        .ftruncate = m_ftruncate, .size = m_size, .close = m_close, .rename = m_rename,
        .unlink = m_unlink, .mkdir = m_nop_path, .rmdir = m_nop_path, .list = m_list,
        .sync_dir = m_nop_path,
    };
    return &fs->io;
}

void hr_io_mem_destroy(struct hr_io *io)
{
    struct memfs *fs = (struct memfs *)io;
    if (!fs)
        return;
    for (size_t i = 0; i < fs->nfds; i++)
        if (fs->fds[i])
            m_close(io, (int)i);
    for (size_t i = 0; i < fs->files.cap; i++) {
        struct memfile *f = fs->files.slots[i].hash ? fs->files.slots[i].val : NULL;
        if (f) {
            free(f->path);
            free(f->data);
            free(f);
        }
    }
    hr_map_cleanup(&fs->files);
    free(fs->fds);
    free(fs);
}
