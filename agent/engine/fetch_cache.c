/* SPDX-License-Identifier: MIT */
#include "fetch_cache.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "file_store.h"
#include "log.h"
#include "verify.h"

struct paths {
	char part[PATH_MAX], part_meta[PATH_MAX], done[PATH_MAX], done_meta[PATH_MAX];
};

static int paths_for(const struct st7_cache *c, const char *url, struct paths *p)
{
	uint8_t h[ST7_SHA256_LEN];
	char hex[2 * ST7_SHA256_LEN + 1];
	if (st7_sha256(url, strlen(url), h))
		return -1;
	st7_sha256_hex(h, hex);
	hex[32] = '\0'; /* 128 bits name a URL well enough; the meta file records it in full */
	if (snprintf(p->part, sizeof(p->part), "%s/%s.part", c->dir, hex) >= PATH_MAX ||
	    snprintf(p->part_meta, sizeof(p->part_meta), "%s/%s.part.meta", c->dir, hex) >=
	            PATH_MAX ||
	    snprintf(p->done, sizeof(p->done), "%s/%s", c->dir, hex) >= PATH_MAX ||
	    snprintf(p->done_meta, sizeof(p->done_meta), "%s/%s.meta", c->dir, hex) >= PATH_MAX)
		return -1;
	return 0;
}

static const char *stem_of(const struct paths *p)
{
	return p->done + strlen(p->done) - 32;
}

/* A meta file for this URL, or false (absent, damaged, or another URL's). */
static bool load_meta(const char *path, const char *url, struct st7_cache_meta *m)
{
	struct st7_buf b;
	struct st7_diag d = { "" };
	st7_buf_init(&b);
	bool ok = st7_file_read_ex(path, ST7_CACHE_META_MAX, ST7_FILE_NOFOLLOW | ST7_FILE_PRIVATE,
	                           &b, &d) == ST7_OK &&
	          st7_cache_meta_parse(m, b.data, b.len, &d) == ST7_OK && strcmp(m->url, url) == 0;
	if (!ok && d.msg[0] && access(path, F_OK) == 0)
		st7_warn("%s: ignored: %s", path, d.msg);
	st7_buf_free(&b);
	return ok;
}

static int save_meta(const char *path, const struct st7_cache_meta *m, struct st7_diag *d)
{
	struct st7_buf b;
	st7_buf_init(&b);
	int ret = st7_cache_meta_format(m, &b);
	if (ret == ST7_OK)
		ret = st7_file_write_atomic(path, b.data, b.len, 0600, d);
	st7_buf_free(&b);
	return ret;
}

/* The verified copy, if it is still what was verified. */
static bool load_done(const struct paths *p, const char *url, uint64_t max,
                      struct st7_cache_meta *m, struct st7_buf *out)
{
	uint8_t h[ST7_SHA256_LEN];
	char hex[2 * ST7_SHA256_LEN + 1];
	struct st7_diag d = { "" };
	if (!load_meta(p->done_meta, url, m) || !m->sha256[0])
		return false;
	st7_buf_free(out); /* st7_file_read initialises it again */
	if (st7_file_read_ex(p->done, (size_t)max, ST7_FILE_NOFOLLOW | ST7_FILE_PRIVATE, out, &d) !=
	            ST7_OK ||
	    st7_sha256(out->data, out->len, h) != ST7_OK)
		return false;
	st7_sha256_hex(h, hex);
	if (strcmp(hex, m->sha256) != 0 || out->len != m->size) {
		st7_warn("%s: cached copy damaged (SHA-256 differs); fetching it again", p->done);
		return false;
	}
	return true;
}

/* The sink: the partial file, restarted or appended to as the response says. */
struct part_sink {
	const struct paths *p;
	const char *url;
	int fd;
	uint64_t offset;
	bool restarted;
	bool disk_failed; /* a local write failed (ENOSPC, EIO...): not a network error */
	struct st7_diag *d;
};

static int part_begin(void *arg, const struct st7_fetch_response *r)
{
	struct part_sink *s = arg;
	struct st7_cache_meta m;
	if (r->body_offset == 0 && s->offset > 0) {
		/* The server sent the whole file (it ignores Range, or If-Range failed). */
		if (ftruncate(s->fd, 0) != 0 || lseek(s->fd, 0, SEEK_SET) != 0)
			return st7_diag_set(s->d, ST7_ERR_IO, "%s: %s", s->p->part,
			                    strerror(errno));
		s->restarted = true;
	}
	if (r->body_offset == 0) {
		/* Record the validators before the first byte, so a resume knows them. */
		st7_cache_meta_init(&m);
		snprintf(m.url, sizeof(m.url), "%s", s->url);
		memcpy(m.etag, r->etag, sizeof(m.etag));
		m.last_modified = r->last_modified;
		m.size = r->complete_size == UINT64_MAX ? 0 : r->complete_size;
		return save_meta(s->p->part_meta, &m, s->d);
	}
	return ST7_OK;
}

static int part_write(void *arg, const uint8_t *p, size_t n)
{
	struct part_sink *s = arg;
	while (n > 0) {
		ssize_t w = write(s->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			s->disk_failed = true;
			return st7_diag_set(s->d, ST7_ERR_IO, "%s: %s", s->p->part,
			                    w < 0 ? strerror(errno) : "short write");
		}
		p += w;
		n -= (size_t)w;
	}
	return ST7_OK;
}

static int mtime_cmp(const void *a, const void *b)
{
	const struct timespec *x = a, *y = b; /* first member of each entry */
	if (x->tv_sec != y->tv_sec)
		return x->tv_sec < y->tv_sec ? 1 : -1;
	return x->tv_nsec < y->tv_nsec ? 1 : (x->tv_nsec > y->tv_nsec ? -1 : 0);
}

static bool hex32(const char *s)
{
	for (int i = 0; i < 32; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/*
 * Keep the ST7_CACHE_KEEP most recently used entries, and `keep` (the entry in use):
 * every file of the others goes, partial downloads and leftovers of killed writes
 * (KEY.meta.tmp.XXXXXX) included, so the cache cannot grow without bound.
 */
static void prune(const struct st7_cache *c, const char *keep)
{
	struct entry {
		struct timespec mtime;
		char stem[33];
	} *v = NULL;
	size_t n = 0, cap = 0;
	DIR *dir = opendir(c->dir);
	struct dirent *e;
	bool removed = false;
	if (!dir)
		return;
	while ((e = readdir(dir)) != NULL) {
		struct stat st;
		char path[PATH_MAX];
		size_t i;
		if (strlen(e->d_name) < 32 || !hex32(e->d_name))
			continue;
		if (snprintf(path, sizeof(path), "%s/%s", c->dir, e->d_name) >= PATH_MAX ||
		    lstat(path, &st) != 0)
			continue;
		for (i = 0; i < n && memcmp(v[i].stem, e->d_name, 32) != 0; i++)
			;
		if (i == n) {
			if (n == cap) {
				size_t ncap = cap ? 2 * cap : 32;
				struct entry *nv = realloc(v, ncap * sizeof(*v));
				if (!nv)
					break;
				v = nv;
				cap = ncap;
			}
			memcpy(v[n].stem, e->d_name, 32);
			v[n].stem[32] = '\0';
			v[n].mtime = st.st_mtim;
			n++;
		} else if (mtime_cmp(&st.st_mtim, &v[i].mtime) < 0) {
			v[i].mtime = st.st_mtim;
		}
	}
	if (n > ST7_CACHE_KEEP) {
		qsort(v, n, sizeof(*v), mtime_cmp);
		rewinddir(dir);
		while ((e = readdir(dir)) != NULL) {
			char path[PATH_MAX];
			if (strlen(e->d_name) < 32 || !hex32(e->d_name) ||
			    (keep && memcmp(e->d_name, keep, 32) == 0))
				continue;
			for (size_t i = ST7_CACHE_KEEP; i < n; i++)
				if (memcmp(v[i].stem, e->d_name, 32) == 0 &&
				    snprintf(path, sizeof(path), "%s/%s", c->dir, e->d_name) <
				            PATH_MAX) {
					unlink(path);
					removed = true;
				}
		}
	}
	closedir(dir);
	if (removed)
		st7_fsync_dir(c->dir);
	free(v);
}

static int get_once(const struct st7_cache *c, const struct paths *p, const char *url, uint64_t max,
                    bool conditional, struct st7_buf *out, struct st7_cache_got *got,
                    struct st7_diag *d)
{
	struct st7_cache_meta done_m, part_m;
	struct st7_fetch_request req = {
		.url = url, .max_size = max, .if_range_date = -1, .if_modified_since = -1
	};
	struct st7_fetch_response resp;
	struct part_sink sink = { .p = p, .url = url, .fd = -1, .d = d };
	struct st7_fetch_sink fs = { part_begin, part_write, &sink };
	struct stat st;
	int ret = ST7_ERR_IO;

	memset(&resp, 0, sizeof(resp));
	resp.last_modified = -1;
	bool have_done = conditional && load_done(p, url, max, &done_m, out);
	bool have_part = load_meta(p->part_meta, url, &part_m) && lstat(p->part, &st) == 0 &&
	                 S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t)st.st_size <= max &&
	                 (part_m.size == 0 || (uint64_t)st.st_size <= part_m.size);
	/* Only a strong ETag or a date may guard a range (RFC 9110 §13.1.5); without one, two
	 * versions of the file could be spliced, so start over instead. */
	if (have_part && part_m.etag[0] != '"' && part_m.last_modified < 0)
		have_part = false;
	if (have_part && part_m.size > 0 && (uint64_t)st.st_size == part_m.size) {
		/* Complete already (the run that fetched it stopped before verifying): no need
		 * to download it again over a slow link. */
		got->resumed = true;
		got->resumed_from = part_m.size;
		goto complete;
	}
	if (!have_part) {
		unlink(p->part_meta);
		unlink(p->part);
	}
	/* No symlink, no FIFO: the cache directory is private, but open as if it were not. */
	sink.fd = open(p->part, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK,
	               0600);
	if (sink.fd < 0)
		return st7_diag_set(d, ST7_ERR_IO, "%s: %s", p->part, strerror(errno));
	if (fstat(sink.fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(sink.fd);
		unlink(p->part);
		return st7_diag_set(d, ST7_ERR_IO, "%s: not a regular file", p->part);
	}
	if (have_part) {
		req.offset = (uint64_t)st.st_size;
		sink.offset = req.offset;
		if (part_m.etag[0] == '"')
			req.if_range = part_m.etag;
		else
			req.if_range_date = part_m.last_modified;
	} else if (have_done) {
		/* The ETag alone when there is one: If-Modified-Since would also call a file
		 * replaced with its old date "not modified". */
		if (done_m.etag[0])
			req.if_none_match = done_m.etag;
		else
			req.if_modified_since = done_m.last_modified;
	}
	ret = c->fetcher->ops->get(c->fetcher, &req, &fs, &resp, d);
	got->status = resp.status;
	got->retry_after_s = resp.retry_after_s;
	if (ret == ST7_OK && resp.status == 304) {
		close(sink.fd);
		if (!have_done)
			return st7_diag_set(d, ST7_ERR_HTTP,
			                    "%s: 304 Not Modified, but nothing was asked for", url);
		got->not_modified = true;
		got->meta = done_m;
		return ST7_OK;
	}
	if (ret == ST7_OK && fsync(sink.fd) != 0) {
		sink.disk_failed = true;
		ret = st7_diag_set(d, ST7_ERR_IO, "%s: %s", p->part, strerror(errno));
	}
	close(sink.fd);
	got->restarted = sink.restarted;
	got->resumed = have_part && !sink.restarted && resp.status == 206;
	got->resumed_from = got->resumed ? req.offset : 0;
	if (ret == ST7_ERR_RANGE || ret == ST7_ERR_TOO_LARGE || sink.disk_failed) {
		/* The partial file cannot be continued, or must never grow, or the disk
		 * is full and a partial file would keep it full: drop it. */
		unlink(p->part);
		unlink(p->part_meta);
		return ret;
	}
	if (ret)
		return ret; /* keep the partial file: the next get() continues it */
complete:
	st7_buf_free(out); /* st7_file_read initialises it again */
	ret = st7_file_read_ex(p->part, (size_t)max, ST7_FILE_NOFOLLOW | ST7_FILE_PRIVATE, out, d);
	if (ret)
		return ret;
	if (!load_meta(p->part_meta, url, &got->meta)) {
		st7_cache_meta_init(&got->meta);
		snprintf(got->meta.url, sizeof(got->meta.url), "%s", url);
	}
	/* A 206 carries the validators too; the latest response wins. */
	if (resp.etag[0])
		memcpy(got->meta.etag, resp.etag, sizeof(resp.etag));
	if (resp.last_modified >= 0)
		got->meta.last_modified = resp.last_modified;
	got->meta.size = out->len;
	return ST7_OK;
}

int st7_cache_get(const struct st7_cache *c, const char *url, uint64_t max, bool conditional,
                  struct st7_buf *out, struct st7_cache_got *got, struct st7_diag *d)
{
	struct paths p;
	memset(got, 0, sizeof(*got));
	got->retry_after_s = -1;
	if (strlen(url) >= ST7_URL_MAX || paths_for(c, url, &p) != 0)
		return st7_diag_set(d, ST7_ERR_INVALID, "URL or cache path too long");
	if (st7_mkdir_p(c->dir, 0700) != 0)
		return st7_diag_set(d, ST7_ERR_IO, "cache directory %s: %s", c->dir,
		                    strerror(errno));
	/* Private, or files in it could be planted (symlinks, FIFOs, forged partials). */
	int ret = st7_dir_check_private(c->dir, true, d);
	if (ret)
		return ret;
	prune(c, stem_of(&p));
	ret = get_once(c, &p, url, max, conditional, out, got, d);
	if (ret == ST7_ERR_RANGE) {
		/* 416, or a range we did not ask for: the partial file is gone; start over. */
		st7_warn("%s: cannot continue the partial download; fetching it whole", url);
		ret = get_once(c, &p, url, max, conditional, out, got, d);
		got->restarted = true;
	}
	return ret;
}

int st7_cache_commit(const struct st7_cache *c, const char *url, const struct st7_cache_got *got,
                     const uint8_t *data, size_t len, struct st7_diag *d)
{
	struct paths p;
	struct st7_cache_meta m = got->meta;
	uint8_t h[ST7_SHA256_LEN];
	if (paths_for(c, url, &p) != 0)
		return st7_diag_set(d, ST7_ERR_INVALID, "cache path too long");
	if (got->not_modified) {
		/* Freshen it, so pruning keeps what is in use. */
		utimensat(AT_FDCWD, p.done_meta, NULL, 0);
		return ST7_OK;
	}
	if (st7_sha256(data, len, h))
		return st7_diag_set(d, ST7_ERR_INVALID, "SHA-256 failed");
	st7_sha256_hex(h, m.sha256);
	m.size = len;
	/* Old meta first: a crash between the two steps leaves a copy whose SHA-256 no
	 * longer matches its meta, which load_done() refuses. */
	unlink(p.done_meta);
	if (rename(p.part, p.done) != 0)
		return st7_diag_set(d, ST7_ERR_IO, "%s: %s", p.done, strerror(errno));
	int ret = save_meta(p.done_meta, &m, d);
	unlink(p.part_meta);
	st7_fsync_dir(c->dir);
	prune(c, stem_of(&p));
	return ret;
}

void st7_cache_discard(const struct st7_cache *c, const char *url)
{
	struct paths p;
	if (paths_for(c, url, &p) != 0)
		return;
	unlink(p.part);
	unlink(p.part_meta);
	unlink(p.done);
	unlink(p.done_meta);
	st7_fsync_dir(c->dir);
}

int st7_cache_lock(const struct st7_cache *c, unsigned wait_s, int *fd, struct st7_diag *d)
{
	char path[PATH_MAX];
	struct flock l = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	*fd = -1;
	if (snprintf(path, sizeof(path), "%s/.lock", c->dir) >= (int)sizeof(path))
		return st7_diag_set(d, ST7_ERR_INVALID, "cache path too long");
	if (st7_mkdir_p(c->dir, 0700) != 0)
		return st7_diag_set(d, ST7_ERR_IO, "cache directory %s: %s", c->dir,
		                    strerror(errno));
	int ret = st7_dir_check_private(c->dir, true, d);
	if (ret)
		return ret;
	int lfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
	if (lfd < 0)
		return st7_diag_set(d, ST7_ERR_IO, "%s: %s", path, strerror(errno));
	/* Another run may hold it for a whole download; it is bounded by its own limits,
	 * and we by wait_s. */
	for (unsigned waited_ms = 0; fcntl(lfd, F_SETLK, &l) != 0; waited_ms += 100) {
		if ((errno != EACCES && errno != EAGAIN) || waited_ms >= wait_s * 1000u) {
			close(lfd);
			return st7_diag_set(d, ST7_ERR_BUSY,
			                    "%s: another st7dfu is using the download cache",
			                    c->dir);
		}
		struct timespec ts = { 0, 100 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	*fd = lfd;
	return ST7_OK;
}

void st7_cache_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* releases the lock */
}
