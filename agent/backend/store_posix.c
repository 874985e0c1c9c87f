/* SPDX-License-Identifier: MIT */
/*
 * The POSIX store (iface/store.h): the one place that opens, reads, writes, renames,
 * unlinks, locks and syncs files. Every message names the path.
 *
 * Opens never block on a FIFO planted in place of a file (O_NONBLOCK), never follow a
 * link where the caller says NOFOLLOW (O_NOFOLLOW), and check what they opened on the
 * descriptor (fstat), so nothing can be swapped between the check and the use.
 */
#define _XOPEN_SOURCE 700 /* realpath */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "store.h"

struct st7_store_file {
	int fd;
	char path[PATH_MAX];
};

struct st7_store_lock {
	int fd;
};

/* A missing file or directory on the path is NOT_FOUND; anything else IO. */
static int errno_err(int e)
{
	return e == ENOENT || e == ENOTDIR ? ST7_ERR_NOT_FOUND
	       : e == EEXIST               ? ST7_ERR_EXISTS
	                                   : ST7_ERR_IO;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = fsync(fd);
	close(fd);
	return r;
}

/* Sync the directory that names `path`. */
static int fsync_parent(const char *path, struct st7_diag *d)
{
	char dir[PATH_MAX];
	if (st7_store_dirname(dir, sizeof(dir), path) != ST7_OK)
		return st7_diag_set(d, ST7_ERR_INVALID, "%s: path too long", path);
	if (fsync_dir(dir) != 0)
		return st7_diag_set(d, ST7_ERR_IO, "cannot sync directory %s: %s", dir,
		                    strerror(errno));
	return ST7_OK;
}

/* Open a file to read, with the flags' checks on the descriptor; its size in *size. */
static int open_read(const char *path, unsigned flags, int *fdp, struct stat *st,
                     struct st7_diag *d)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
	                            ((flags & ST7_STORE_NOFOLLOW) ? O_NOFOLLOW : 0));
	*fdp = -1;
	if (fd < 0)
		return st7_diag_set(
		        d, errno == ELOOP ? ST7_ERR_IO : errno_err(errno), "%s: cannot open: %s",
		        path, errno == ELOOP ? "a symbolic link (refused here)" : strerror(errno));
	int ret = ST7_OK;
	if (fstat(fd, st) != 0)
		ret = st7_diag_set(d, ST7_ERR_IO, "%s: cannot stat: %s", path, strerror(errno));
	else if (!S_ISREG(st->st_mode))
		ret = st7_diag_set(d, ST7_ERR_IO, "%s: not a regular file", path);
	else if ((flags & ST7_STORE_PRIVATE) && ((st->st_mode & (S_IWGRP | S_IWOTH)) ||
	                                         (st->st_uid != 0 && st->st_uid != geteuid())))
		ret = st7_diag_set(d, ST7_ERR_IO,
		                   "%s: writable by group or others, or owned by another user",
		                   path);
	if (ret) {
		close(fd);
		return ret;
	}
	*fdp = fd;
	return ST7_OK;
}

static int read_into(int fd, const char *path, size_t max_len, struct st7_buf *out,
                     struct st7_diag *d)
{
	for (;;) {
		if (st7_buf_reserve(out, 65536) != ST7_OK && st7_buf_reserve(out, 1) != ST7_OK)
			return st7_diag_set(d, ST7_ERR_TOO_LARGE,
			                    "%s: input is more than the %zu-byte limit", path,
			                    max_len);
		ssize_t n = read(fd, out->data + out->len, out->cap - out->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return st7_diag_set(d, ST7_ERR_IO, "%s: read failed: %s", path,
			                    strerror(errno));
		if (n == 0)
			return ST7_OK;
		out->len += (size_t)n;
		if (out->len > max_len)
			return st7_diag_set(d, ST7_ERR_TOO_LARGE,
			                    "%s: input is more than the %zu-byte limit", path,
			                    max_len);
	}
}

static int posix_read(void *impl, const char *path, size_t max_len, unsigned flags,
                      struct st7_buf *out, struct st7_diag *d)
{
	int ret, fd = STDIN_FILENO;
	struct stat st;
	size_t limit = out->limit;
	(void)impl;
	st7_buf_clear(out);
	if (strcmp(path, "-") != 0) {
		if ((ret = open_read(path, flags, &fd, &st, d)) != ST7_OK)
			return ret;
		if ((uintmax_t)st.st_size > max_len) {
			close(fd);
			return st7_diag_set(d, ST7_ERR_TOO_LARGE,
			                    "%s: file is %jd bytes, more than the %zu-byte limit",
			                    path, (intmax_t)st.st_size, max_len);
		}
	}
	/* One byte over the limit tells "exactly max_len" from "larger". */
	out->limit = max_len < SIZE_MAX / 2 ? max_len + 1 : 0;
	ret = read_into(fd, path, max_len, out, d);
	out->limit = limit;
	if (fd != STDIN_FILENO)
		close(fd);
	return ret;
}

static int posix_read_each(void *impl, const char *path, unsigned flags,
                           int (*each)(void *arg, const uint8_t *p, size_t n), void *arg,
                           struct st7_diag *d)
{
	uint8_t chunk[65536];
	struct stat st;
	int fd, ret;
	(void)impl;
	if ((ret = open_read(path, flags, &fd, &st, d)) != ST7_OK)
		return ret;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = st7_diag_set(d, ST7_ERR_IO, "%s: read failed: %s", path,
			                   strerror(errno));
			break;
		}
		if (n == 0 || (ret = each(arg, chunk, (size_t)n)) != 0)
			break;
	}
	close(fd);
	return ret;
}

static int write_all(int fd, const uint8_t *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Put `from` in place as `to`: rename, or (no-replace) a hard link and an unlink, which
 * fails with EEXIST instead of replacing. 0 or -1 with errno. */
static int place(const char *from, const char *to, bool noreplace)
{
	if (!noreplace)
		return rename(from, to);
	if (link(from, to) != 0)
		return -1;
	unlink(from);
	return 0;
}

static int posix_write_atomic(void *impl, const char *path, const void *data, size_t len,
                              unsigned mode, unsigned flags, struct st7_diag *d)
{
	int ret = ST7_ERR_IO;
	int fd = -1;
	char tmp[PATH_MAX], dir[PATH_MAX];
	(void)impl;
	if (st7_store_dirname(dir, sizeof(dir), path) != ST7_OK ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp))
		return st7_diag_set(d, ST7_ERR_INVALID, "%s: path too long", path);
	fd = mkstemp(tmp);
	if (fd < 0)
		return st7_diag_set(d, errno_err(errno), "cannot create a temporary file in %s: %s",
		                    dir, strerror(errno));
	if (fchmod(fd, (mode_t)mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		ret = st7_diag_set(d, ST7_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
		goto cleanup;
	}
	int c = close(fd);
	fd = -1;
	if (c != 0) {
		ret = st7_diag_set(d, ST7_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
		goto cleanup;
	}
	if (place(tmp, path, flags & ST7_STORE_NOREPLACE) != 0) {
		ret = errno == EEXIST ? st7_diag_set(d, ST7_ERR_EXISTS, "%s: exists already", path)
		                      : st7_diag_set(d, ST7_ERR_IO, "cannot rename %s to %s: %s",
		                                     tmp, path, strerror(errno));
		goto cleanup;
	}
	tmp[0] = '\0'; /* in place: nothing to remove any more */
	ret = fsync_parent(path, d);
cleanup:
	if (fd >= 0)
		close(fd);
	if (tmp[0])
		unlink(tmp);
	return ret;
}

static void fill_entry(struct st7_store_entry *e, const char *name, const struct stat *st)
{
	snprintf(e->name, sizeof(e->name), "%s", name);
	e->regular = S_ISREG(st->st_mode);
	e->perm = (unsigned)(st->st_mode & 0777);
	e->not_ours = st->st_uid != geteuid();
	e->dir = S_ISDIR(st->st_mode);
	e->size = (uint64_t)st->st_size;
	e->mtime_s = (int64_t)st->st_mtim.tv_sec;
	e->mtime_ns = (int32_t)st->st_mtim.tv_nsec;
}

static int posix_stat(void *impl, const char *path, struct st7_store_entry *e, struct st7_diag *d)
{
	struct stat st;
	(void)impl;
	if (lstat(path, &st) != 0)
		return st7_diag_set(d, errno_err(errno), "%s: %s", path, strerror(errno));
	fill_entry(e, st7_store_basename(path), &st);
	return ST7_OK;
}

static int posix_list(void *impl, const char *dir,
                      int (*each)(void *arg, const struct st7_store_entry *e), void *arg,
                      struct st7_diag *d)
{
	(void)impl;
	DIR *dh = opendir(dir);
	if (!dh)
		return st7_diag_set(d, errno_err(errno), "%s: %s", dir, strerror(errno));
	struct dirent *de;
	int ret = 0;
	while (ret == 0 && (de = readdir(dh)) != NULL) {
		struct stat st;
		struct st7_store_entry e;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    fstatat(dirfd(dh), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			continue; /* gone meanwhile */
		fill_entry(&e, de->d_name, &st);
		ret = each(arg, &e);
	}
	closedir(dh);
	return ret;
}

static int posix_remove(void *impl, const char *path, struct st7_diag *d)
{
	(void)impl;
	if (unlink(path) != 0)
		return errno == ENOENT ? ST7_OK
		                       : st7_diag_set(d, ST7_ERR_IO, "cannot remove %s: %s", path,
		                                      strerror(errno));
	return fsync_parent(path, d);
}

static int posix_rename(void *impl, const char *from, const char *to, unsigned flags,
                        struct st7_diag *d)
{
	char a[PATH_MAX], b[PATH_MAX];
	(void)impl;
	if (st7_store_dirname(a, sizeof(a), from) != ST7_OK ||
	    st7_store_dirname(b, sizeof(b), to) != ST7_OK)
		return st7_diag_set(d, ST7_ERR_INVALID, "%s: path too long", to);
	if (place(from, to, flags & ST7_STORE_NOREPLACE) != 0)
		return st7_diag_set(d, errno_err(errno), "cannot rename %s to %s: %s", from, to,
		                    strerror(errno));
	int ret = fsync_parent(to, d);
	if (ret == ST7_OK && strcmp(a, b) != 0)
		ret = fsync_parent(from, d);
	return ret;
}

/* mkdir one level; when it is new, sync its parent so the entry survives power loss.
 * 1 created, 0 already there, -1 with errno. */
static int mkdir_durable(char *path, mode_t mode)
{
	if (mkdir(path, mode) != 0)
		return errno == EEXIST ? 0 : -1;
	char parent[PATH_MAX];
	if (st7_store_dirname(parent, sizeof(parent), path) != ST7_OK || fsync_dir(parent) != 0)
		return -1;
	return 1;
}

/* A directory owned by another user than root or us: refused, saying whose it is. Root on
 * a gateway whose agent runs as its own user is told to run as that user, so that nothing
 * in the agent's state becomes root's and unreadable to it. */
static int foreign_owner(const char *dir, uid_t uid, struct st7_diag *d)
{
	struct passwd *pw = getpwuid(uid);
	if (pw && geteuid() == 0)
		return st7_diag_set(d, ST7_ERR_ACCESS,
		                    "%s: owned by %s (uid %u): run st7dfu as that user "
		                    "(sudo -u %s st7dfu ...)",
		                    dir, pw->pw_name, (unsigned)uid, pw->pw_name);
	return st7_diag_set(d, ST7_ERR_ACCESS, "%s: owned by uid %u, neither root nor us", dir,
	                    (unsigned)uid);
}

static int posix_check_private(void *impl, const char *dir, bool owner_only, struct st7_diag *d)
{
	struct stat st;
	(void)impl;
	if (lstat(dir, &st) != 0)
		return st7_diag_set(d, errno_err(errno), "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return st7_diag_set(d, ST7_ERR_ACCESS, "%s: not a directory (a symbolic link?)",
		                    dir);
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return foreign_owner(dir, st.st_uid, d);
	if (owner_only ? (st.st_mode & 077) != 0 : (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		return st7_diag_set(d, ST7_ERR_ACCESS, "%s: mode %04o is too open: %s", dir,
		                    (unsigned)(st.st_mode & 07777),
		                    owner_only ? "accessible to group or others (chmod 700)"
		                               : "writable by group or others (chmod go-w)");
	return ST7_OK;
}

/* An existing directory of ours made private: a real directory (never followed), owned
 * by root or us, 0700 when it is ours. */
static int make_private(const char *dir, struct st7_diag *d)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return st7_diag_set(d, ST7_ERR_ACCESS, "%s: %s", dir,
		                    errno == ELOOP || errno == ENOTDIR
		                            ? "not a directory (a symbolic link?)"
		                            : strerror(errno));
	struct stat st;
	int ret = ST7_OK;
	if (fstat(fd, &st) != 0)
		ret = st7_diag_set(d, ST7_ERR_IO, "%s: %s", dir, strerror(errno));
	else if (st.st_uid != 0 && st.st_uid != geteuid())
		ret = foreign_owner(dir, st.st_uid, d);
	else if ((st.st_mode & 077) && st.st_uid == geteuid() && fchmod(fd, 0700) != 0)
		ret = st7_diag_set(d, ST7_ERR_ACCESS, "%s: cannot make it private: %s", dir,
		                   strerror(errno));
	close(fd);
	return ret ? ret : posix_check_private(NULL, dir, true, d);
}

static int posix_mkdir_p(void *impl, const char *dir, unsigned mode, unsigned flags,
                         struct st7_diag *d)
{
	char tmp[PATH_MAX];
	int r = -1;
	(void)impl;
	if (snprintf(tmp, sizeof(tmp), "%s", dir) >= (int)sizeof(tmp))
		return st7_diag_set(d, ST7_ERR_INVALID, "%s: path too long", dir);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/' || p[-1] == '/')
			continue;
		*p = '\0';
		r = mkdir_durable(tmp, 0755);
		*p = '/';
		if (r < 0)
			goto fail;
	}
	r = mkdir_durable(tmp, (mode_t)mode);
	/* A new directory's own entries (files written into it later) are synced by their
	 * writers; syncing it here makes its existence durable on its own too. */
	if (r < 0 || (r == 1 && fsync_dir(tmp) != 0))
		goto fail;
	return (flags & ST7_STORE_PRIVATE) ? make_private(dir, d) : ST7_OK;
fail:
	return st7_diag_set(d, errno_err(errno), "cannot create %s: %s", dir, strerror(errno));
}

static int posix_check_room(void *impl, const char *dir, uint64_t need, struct st7_diag *d)
{
	char probe[PATH_MAX];
	struct statvfs vfs;
	(void)impl;
	/* Writable (a read-only mount says so only when we try), and room for `need`. */
	if (snprintf(probe, sizeof(probe), "%s/.probe.tmp.XXXXXX", dir) >= (int)sizeof(probe))
		return st7_diag_set(d, ST7_ERR_INVALID, "%s: path too long", dir);
	int fd = mkstemp(probe);
	if (fd < 0)
		return st7_diag_set(d,
		                    errno == EACCES || errno == EPERM || errno == EROFS
		                            ? ST7_ERR_ACCESS
		                            : ST7_ERR_IO,
		                    "cannot write in %s: %s", dir, strerror(errno));
	close(fd);
	unlink(probe);
	if (statvfs(dir, &vfs) == 0 && (unsigned long long)vfs.f_bavail * vfs.f_frsize < need)
		return st7_diag_set(d, ST7_ERR_IO,
		                    "%s: %llu bytes free, %llu needed: free some room first", dir,
		                    (unsigned long long)vfs.f_bavail * vfs.f_frsize,
		                    (unsigned long long)need);
	return ST7_OK;
}

static int posix_canonical(void *impl, const char *path, char *out, size_t size, struct st7_diag *d)
{
	char real[PATH_MAX];
	(void)impl;
	if (!realpath(path, real))
		return st7_diag_set(d, errno_err(errno), "%s: %s", path, strerror(errno));
	if (snprintf(out, size, "%s", real) >= (int)size)
		return st7_diag_set(d, ST7_ERR_INVALID, "%s: path too long", path);
	return ST7_OK;
}

static int posix_touch(void *impl, const char *path, struct st7_diag *d)
{
	(void)impl;
	if (utimensat(AT_FDCWD, path, NULL, AT_SYMLINK_NOFOLLOW) != 0)
		return st7_diag_set(d, errno_err(errno), "%s: %s", path, strerror(errno));
	return ST7_OK;
}

static int posix_append_open(void *impl, const char *path, bool truncate, uint64_t *size,
                             struct st7_store_file **f, struct st7_diag *d)
{
	struct stat st;
	(void)impl;
	*f = NULL;
	struct st7_store_file *sf = calloc(1, sizeof(*sf));
	if (!sf)
		return st7_diag_set(d, ST7_ERR_NOMEM, "%s: out of memory", path);
	if (snprintf(sf->path, sizeof(sf->path), "%s", path) >= (int)sizeof(sf->path)) {
		free(sf);
		return st7_diag_set(d, ST7_ERR_INVALID, "%s: path too long", path);
	}
	/* No link, no FIFO: open as if the directory were not private. */
	sf->fd = open(path,
	              O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK |
	                      (truncate ? O_TRUNC : 0),
	              0600);
	if (sf->fd < 0) {
		int e = errno;
		free(sf);
		return st7_diag_set(d, errno_err(e), "%s: %s", path, strerror(e));
	}
	if (fstat(sf->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(sf->fd);
		free(sf);
		return st7_diag_set(d, ST7_ERR_IO, "%s: not a regular file", path);
	}
	*size = (uint64_t)st.st_size;
	*f = sf;
	return ST7_OK;
}

static int posix_append(void *impl, struct st7_store_file *f, const void *p, size_t n,
                        struct st7_diag *d)
{
	const uint8_t *b = p;
	(void)impl;
	while (n > 0) {
		ssize_t w = write(f->fd, b, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return st7_diag_set(d, ST7_ERR_IO, "%s: %s", f->path,
			                    w < 0 ? strerror(errno) : "short write");
		b += w;
		n -= (size_t)w;
	}
	return ST7_OK;
}

static int posix_append_close(void *impl, struct st7_store_file *f, bool sync, struct st7_diag *d)
{
	int ret = ST7_OK;
	(void)impl;
	if (!f)
		return ST7_OK;
	if (sync && fsync(f->fd) != 0)
		ret = st7_diag_set(d, ST7_ERR_IO, "%s: %s", f->path, strerror(errno));
	if (close(f->fd) != 0 && ret == ST7_OK)
		ret = st7_diag_set(d, ST7_ERR_IO, "%s: %s", f->path, strerror(errno));
	free(f);
	return ret;
}

static int posix_lock(void *impl, const char *path, unsigned wait_s, struct st7_store_lock **l,
                      struct st7_diag *d)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	(void)impl;
	*l = NULL;
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
	if (fd < 0)
		return st7_diag_set(d, errno_err(errno), "%s: %s", path, strerror(errno));
	/* A POSIX record lock: the kernel releases it when the process dies. */
	for (unsigned waited_ms = 0; fcntl(fd, F_SETLK, &fl) != 0; waited_ms += 100) {
		if ((errno != EACCES && errno != EAGAIN) || waited_ms >= wait_s * 1000u) {
			int e = errno;
			close(fd);
			return e == EACCES || e == EAGAIN
			               ? st7_diag_set(d, ST7_ERR_BUSY,
			                              "%s: held by another process", path)
			               : st7_diag_set(d, ST7_ERR_IO, "%s: %s", path, strerror(e));
		}
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	struct st7_store_lock *lk = malloc(sizeof(*lk));
	if (!lk) {
		close(fd);
		return st7_diag_set(d, ST7_ERR_NOMEM, "%s: out of memory", path);
	}
	lk->fd = fd;
	*l = lk;
	return ST7_OK;
}

static void posix_unlock(void *impl, struct st7_store_lock *l)
{
	(void)impl;
	if (l) {
		close(l->fd); /* releases the lock */
		free(l);
	}
}

static const struct st7_store_ops posix_ops = {
	.name = "posix",
	.read = posix_read,
	.read_each = posix_read_each,
	.write_atomic = posix_write_atomic,
	.stat = posix_stat,
	.list = posix_list,
	.remove = posix_remove,
	.rename = posix_rename,
	.mkdir_p = posix_mkdir_p,
	.check_private = posix_check_private,
	.check_room = posix_check_room,
	.canonical = posix_canonical,
	.touch = posix_touch,
	.append_open = posix_append_open,
	.append = posix_append,
	.append_close = posix_append_close,
	.lock = posix_lock,
	.unlock = posix_unlock,
	.destroy = NULL, /* no state */
};

int st7_store_posix_init(struct st7_store *s, struct st7_diag *d)
{
	(void)d;
	s->ops = &posix_ops;
	s->impl = NULL;
	return ST7_OK;
}
