/* SPDX-License-Identifier: MIT */
#include "trust.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file_store.h"
#include "log.h"

static int pem_only(const struct dirent *e)
{
	size_t n = strlen(e->d_name);
	return e->d_name[0] != '.' && n > 4 && strcmp(e->d_name + n - 4, ".pem") == 0;
}

int st7_keyring_load_dir(struct st7_keyring *k, const char *dir, struct st7_diag *d)
{
	struct dirent **names = NULL;
	struct stat st;
	struct st7_buf b;
	int ret = ST7_ERR_SIGNATURE, n;
	size_t skipped = 0;

	if (stat(dir, &st) != 0)
		return st7_diag_set(d, ST7_ERR_SIGNATURE, "key directory %s: %s", dir,
		                    strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return st7_diag_set(d, ST7_ERR_SIGNATURE, "key directory %s: not a directory", dir);
	if (st.st_mode & (S_IWGRP | S_IWOTH))
		return st7_diag_set(d, ST7_ERR_SIGNATURE,
		                    "key directory %s is writable by group or others; refusing "
		                    "to trust any key in it (chmod go-w)",
		                    dir);
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return st7_diag_set(d, ST7_ERR_SIGNATURE,
		                    "key directory %s is owned by uid %u, neither root nor us; "
		                    "refusing to trust any key in it",
		                    dir, (unsigned)st.st_uid);
	n = scandir(dir, &names, pem_only, alphasort);
	if (n < 0)
		return st7_diag_set(d, ST7_ERR_SIGNATURE, "key directory %s: %s", dir,
		                    strerror(errno));
	st7_buf_init(&b);
	for (int i = 0; i < n; i++) {
		char path[4096];
		struct st7_diag kd = { "" };
		if (snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name) >=
		    (int)sizeof(path)) {
			skipped++;
			continue;
		}
		st7_buf_free(&b);
		/* Opened once, checked on that descriptor: no symlinks, FIFOs or loose modes. */
		int r = st7_file_read_ex(path, ST7_KEY_FILE_MAX,
		                         ST7_FILE_NOFOLLOW | ST7_FILE_PRIVATE, &b, &kd);
		if (r == ST7_OK)
			r = st7_keyring_add(k, names[i]->d_name, b.data, b.len, &kd);
		if (r == ST7_ERR_NOMEM) {
			ret = st7_diag_set(d, r, "%s: out of memory", path);
			goto cleanup;
		}
		if (r != ST7_OK) {
			st7_warn("trusted key %s skipped: %s", path, kd.msg);
			skipped++;
		}
	}
	if (st7_keyring_count(k) == 0) {
		ret = st7_diag_set(d, ST7_ERR_SIGNATURE,
		                   "no usable trusted key in %s (%zu *.pem file%s skipped)", dir,
		                   skipped, skipped == 1 ? "" : "s");
		goto cleanup;
	}
	ret = ST7_OK;
cleanup:
	for (int i = 0; i < n; i++)
		free(names[i]);
	free(names);
	st7_buf_free(&b);
	return ret;
}

int st7_sha256_file(const char *path, uint8_t digest[ST7_SHA256_LEN], uint64_t *size,
                    struct st7_diag *d)
{
	struct st7_sha256 h;
	uint8_t chunk[65536];
	int ret = ST7_ERR_IO;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	st7_sha256_init(&h);
	*size = 0;
	if (fd < 0)
		return st7_diag_set(d, ST7_ERR_IO, "%s: %s", path, strerror(errno));
	if ((ret = st7_sha256_start(&h)) != ST7_OK)
		goto cleanup;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = st7_diag_set(d, ST7_ERR_IO, "%s: %s", path, strerror(errno));
			goto cleanup;
		}
		if (n == 0)
			break;
		if ((ret = st7_sha256_update(&h, chunk, (size_t)n)) != ST7_OK)
			goto cleanup;
		*size += (uint64_t)n;
	}
	ret = st7_sha256_finish(&h, digest);
cleanup:
	st7_sha256_free(&h);
	close(fd);
	return ret;
}
