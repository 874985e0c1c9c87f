/* SPDX-License-Identifier: MIT */
#include "file_store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int st7_file_read(const char *path, size_t max_len, struct st7_buf *out, struct st7_diag *d)
{
	return st7_file_read_ex(path, max_len, 0, out, d);
}

int st7_file_read_ex(const char *path, size_t max_len, unsigned flags, struct st7_buf *out,
                     struct st7_diag *d)
{
	int ret = ST7_ERR_IO;
	int fd = -1;
	struct stat st;

	st7_buf_init(out);
	/* One byte over the limit tells "exactly max_len" from "larger". */
	out->limit = max_len + 1;
	if (strcmp(path, "-") == 0) {
		fd = STDIN_FILENO;
	} else {
		/* O_NONBLOCK: a FIFO planted in place of a file must not hang us in open(). */
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK |
		                        ((flags & ST7_FILE_NOFOLLOW) ? O_NOFOLLOW : 0));
		if (fd < 0)
			return st7_diag_set(d, ST7_ERR_IO, "cannot open: %s",
			                    errno == ELOOP ? "a symbolic link (refused here)"
			                                   : strerror(errno));
		if (fstat(fd, &st) != 0) {
			ret = st7_diag_set(d, ST7_ERR_IO, "cannot stat: %s", strerror(errno));
			goto cleanup;
		}
		if (!S_ISREG(st.st_mode)) {
			ret = st7_diag_set(d, ST7_ERR_IO, "not a regular file");
			goto cleanup;
		}
		if ((flags & ST7_FILE_PRIVATE) && ((st.st_mode & (S_IWGRP | S_IWOTH)) ||
		                                   (st.st_uid != 0 && st.st_uid != geteuid()))) {
			ret = st7_diag_set(d, ST7_ERR_IO,
			                   "writable by group or others, or owned by another user");
			goto cleanup;
		}
		if ((uintmax_t)st.st_size > max_len) {
			ret = st7_diag_set(d, ST7_ERR_TOO_LARGE,
			                   "file is %jd bytes, more than the %zu-byte limit",
			                   (intmax_t)st.st_size, max_len);
			goto cleanup;
		}
	}
	for (;;) {
		if (st7_buf_reserve(out, 65536) != ST7_OK && st7_buf_reserve(out, 1) != ST7_OK) {
			ret = st7_diag_set(d, ST7_ERR_TOO_LARGE,
			                   "input is more than the %zu-byte limit", max_len);
			goto cleanup;
		}
		ssize_t n = read(fd, out->data + out->len, out->cap - out->len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = st7_diag_set(d, ST7_ERR_IO, "read failed: %s", strerror(errno));
			goto cleanup;
		}
		if (n == 0)
			break;
		out->len += (size_t)n;
		if (out->len > max_len) {
			ret = st7_diag_set(d, ST7_ERR_TOO_LARGE,
			                   "input is more than the %zu-byte limit", max_len);
			goto cleanup;
		}
	}
	ret = ST7_OK;
cleanup:
	if (fd > STDIN_FILENO)
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

/* The directory part of path ("." when there is none), into dir[PATH_MAX]. */
static int dir_of(const char *path, char *dir, size_t size)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return snprintf(dir, size, ".") >= (int)size ? -1 : 0;
	size_t n = (size_t)(slash - path);
	if (n == 0)
		n = 1; /* "/file" lives in "/" */
	if (n >= size)
		return -1;
	memcpy(dir, path, n);
	dir[n] = '\0';
	return 0;
}

int st7_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                          struct st7_diag *d)
{
	int ret = ST7_ERR_IO;
	int fd = -1, dfd = -1;
	char tmp[PATH_MAX], dir[PATH_MAX];

	if (dir_of(path, dir, sizeof(dir)) != 0 ||
	    snprintf(tmp, sizeof(tmp), "%s.tmp.XXXXXX", path) >= (int)sizeof(tmp))
		return st7_diag_set(d, ST7_ERR_INVALID, "path too long");
	fd = mkstemp(tmp);
	if (fd < 0)
		return st7_diag_set(d, ST7_ERR_IO, "cannot create a temporary file in %s: %s", dir,
		                    strerror(errno));
	if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		ret = st7_diag_set(d, ST7_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
		goto cleanup;
	}
	if (close(fd) != 0) {
		fd = -1;
		ret = st7_diag_set(d, ST7_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
		goto cleanup;
	}
	fd = -1;
	if (rename(tmp, path) != 0) {
		ret = st7_diag_set(d, ST7_ERR_IO, "cannot rename %s to %s: %s", tmp, path,
		                   strerror(errno));
		goto cleanup;
	}
	tmp[0] = '\0'; /* renamed: nothing to remove any more */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || fsync(dfd) != 0) {
		ret = st7_diag_set(d, ST7_ERR_IO, "cannot sync directory %s: %s", dir,
		                   strerror(errno));
		goto cleanup;
	}
	ret = ST7_OK;
cleanup:
	if (fd >= 0)
		close(fd);
	if (dfd >= 0)
		close(dfd);
	if (tmp[0])
		unlink(tmp);
	return ret;
}

/* mkdir one level; when it is new, sync its parent so the entry survives power loss.
 * 1 created, 0 already there, -1 with errno. */
static int mkdir_durable(char *path, mode_t mode)
{
	if (mkdir(path, mode) != 0)
		return errno == EEXIST ? 0 : -1;
	char parent[PATH_MAX];
	if (dir_of(path, parent, sizeof(parent)) != 0 || st7_fsync_dir(parent) != 0)
		return -1;
	return 1;
}

int st7_mkdir_p(const char *path, mode_t mode)
{
	char tmp[PATH_MAX];
	if (snprintf(tmp, sizeof(tmp), "%s", path) >= (int)sizeof(tmp))
		return -1;
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/' || p[-1] == '/')
			continue;
		*p = '\0';
		int r = mkdir_durable(tmp, 0755);
		*p = '/';
		if (r < 0)
			return -1;
	}
	int r = mkdir_durable(tmp, mode);
	/* A new directory's own entries (files written into it later) are synced by
	 * their writers; syncing it here makes its existence durable on its own too. */
	if (r == 1 && st7_fsync_dir(tmp) != 0)
		return -1;
	return r < 0 ? -1 : 0;
}

int st7_dir_check_private(const char *dir, bool owner_only, struct st7_diag *d)
{
	struct stat st;
	if (lstat(dir, &st) != 0)
		return st7_diag_set(d, ST7_ERR_IO, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return st7_diag_set(d, ST7_ERR_IO, "%s: not a directory (a symbolic link?)", dir);
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return st7_diag_set(d, ST7_ERR_IO, "%s: owned by uid %u, neither root nor us", dir,
		                    (unsigned)st.st_uid);
	if (owner_only ? (st.st_mode & 077) != 0 : (st.st_mode & (S_IWGRP | S_IWOTH)) != 0)
		return st7_diag_set(d, ST7_ERR_IO, "%s: mode %04o is too open (%s)", dir,
		                    (unsigned)(st.st_mode & 07777),
		                    owner_only ? "chmod 700" : "chmod go-w");
	return ST7_OK;
}

int st7_fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int r = fsync(fd);
	close(fd);
	return r;
}
