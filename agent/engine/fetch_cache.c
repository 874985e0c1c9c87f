/* SPDX-License-Identifier: MIT */
#include "fetch_cache.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* The cache's own files fail as ST7_ERR_IO (or _TOO_LARGE, _NOMEM): the store's finer
 * codes (a missing directory, a refused one) are not the fetch interface's. */
static int local_err(int ret)
{
	return ret == ST7_OK || ret == ST7_ERR_TOO_LARGE || ret == ST7_ERR_NOMEM ||
	                       ret == ST7_ERR_INVALID
	               ? ret
	               : ST7_ERR_IO;
}

#define CACHE_READ_FLAGS (ST7_STORE_NOFOLLOW | ST7_STORE_PRIVATE)

/* A meta file for this URL, or false (absent, damaged, or another URL's). */
static bool load_meta(const struct st7_cache *c, const char *path, const char *url,
                      struct st7_cache_meta *m)
{
	struct st7_buf b;
	struct st7_diag d = { "" };
	st7_buf_init(&b);
	int ret = st7_store_read(c->store, path, ST7_CACHE_META_MAX, CACHE_READ_FLAGS, &b, &d);
	bool ok = ret == ST7_OK && st7_cache_meta_parse(m, b.data, b.len, &d) == ST7_OK &&
	          strcmp(m->url, url) == 0;
	if (!ok && d.msg[0] && ret != ST7_ERR_NOT_FOUND)
		st7_warn("%s: ignored: %s", path, d.msg);
	st7_buf_free(&b);
	return ok;
}

static int save_meta(const struct st7_cache *c, const char *path, const struct st7_cache_meta *m,
                     struct st7_diag *d)
{
	struct st7_buf b;
	st7_buf_init(&b);
	int ret = st7_cache_meta_format(m, &b);
	if (ret == ST7_OK)
		ret = local_err(st7_store_write_atomic(c->store, path, b.data, b.len, 0600, 0, d));
	st7_buf_free(&b);
	return ret;
}

/* The verified copy, if it is still what was verified; fills `out`. */
static bool load_done(const struct st7_cache *c, const struct paths *p, const char *url,
                      uint64_t max, struct st7_cache_meta *m, struct st7_buf *out)
{
	uint8_t h[ST7_SHA256_LEN];
	char hex[2 * ST7_SHA256_LEN + 1];
	struct st7_diag d = { "" };
	if (!load_meta(c, p->done_meta, url, m) || !m->sha256[0])
		return false;
	if (st7_store_read(c->store, p->done, (size_t)max, CACHE_READ_FLAGS, out, &d) != ST7_OK ||
	    st7_sha256(out->data, out->len, h) != ST7_OK)
		return false;
	st7_sha256_hex(h, hex);
	if (strcmp(hex, m->sha256) != 0 || out->len != m->size) {
		st7_warn("%s: cached copy damaged (SHA-256 differs); fetching it again", p->done);
		return false;
	}
	return true;
}

static void remove_quietly(const struct st7_cache *c, const char *path)
{
	struct st7_diag d = { "" };
	if (st7_store_remove(c->store, path, &d) != ST7_OK)
		st7_warn("%s", d.msg);
}

/* The sink: the partial file, restarted or appended to as the response says. */
struct part_sink {
	const struct st7_cache *c;
	const struct paths *p;
	const char *url;
	struct st7_store_file *f;
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
		uint64_t size;
		struct st7_diag cd;
		st7_store_append_close(s->c->store, s->f, false, &cd);
		s->f = NULL;
		int ret = st7_store_append_open(s->c->store, s->p->part, true, &size, &s->f, s->d);
		if (ret)
			return local_err(ret);
		s->restarted = true;
	}
	if (r->body_offset == 0) {
		/* Record the validators before the first byte, so a resume knows them. */
		st7_cache_meta_init(&m);
		snprintf(m.url, sizeof(m.url), "%s", s->url);
		memcpy(m.etag, r->etag, sizeof(m.etag));
		m.last_modified = r->last_modified;
		m.size = r->complete_size == UINT64_MAX ? 0 : r->complete_size;
		return save_meta(s->c, s->p->part_meta, &m, s->d);
	}
	return ST7_OK;
}

static int part_write(void *arg, const uint8_t *p, size_t n)
{
	struct part_sink *s = arg;
	int ret = st7_store_append(s->c->store, s->f, p, n, s->d);
	if (ret) {
		s->disk_failed = true;
		return local_err(ret);
	}
	return ST7_OK;
}

static bool hex32(const char *s)
{
	for (int i = 0; i < 32; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return true;
}

/* The cache's files (KEY, KEY.meta, KEY.part..., leftovers of killed writes), and per
 * entry (KEY) the newest modification time of its files. */
struct prune_list {
	struct cache_file {
		char name[96];
	} * files;
	struct cache_stem {
		char stem[33];
		struct st7_store_entry newest;
	} * stems;
	size_t nf, ns, capf, caps;
};

static bool grow(void **v, size_t *cap, size_t n, size_t each)
{
	if (n < *cap)
		return true;
	size_t ncap = *cap ? 2 * *cap : 32;
	void *nv = realloc(*v, ncap * each);
	if (!nv)
		return false;
	*v = nv;
	*cap = ncap;
	return true;
}

static int collect(void *arg, const struct st7_store_entry *e)
{
	struct prune_list *pl = arg;
	size_t i, len = strlen(e->name);
	if (len < 32 || len >= sizeof(pl->files[0].name) || !hex32(e->name))
		return 0;
	if (!grow((void **)&pl->files, &pl->capf, pl->nf, sizeof(*pl->files)))
		return ST7_ERR_NOMEM;
	memcpy(pl->files[pl->nf++].name, e->name, len + 1);
	for (i = 0; i < pl->ns && memcmp(pl->stems[i].stem, e->name, 32) != 0; i++)
		;
	if (i < pl->ns) {
		if (st7_store_newer(e, &pl->stems[i].newest))
			pl->stems[i].newest = *e;
		return 0;
	}
	if (!grow((void **)&pl->stems, &pl->caps, pl->ns, sizeof(*pl->stems)))
		return ST7_ERR_NOMEM;
	memcpy(pl->stems[i].stem, e->name, 32);
	pl->stems[i].stem[32] = '\0';
	pl->stems[i].newest = *e;
	pl->ns++;
	return 0;
}

static int newest_first(const void *a, const void *b)
{
	const struct st7_store_entry *x = &((const struct cache_stem *)a)->newest;
	const struct st7_store_entry *y = &((const struct cache_stem *)b)->newest;
	return st7_store_newer(x, y) ? -1 : st7_store_newer(y, x) ? 1 : 0;
}

/*
 * Keep the ST7_CACHE_KEEP most recently used entries, and `keep` (the entry in use):
 * every file of the others goes, partial downloads and leftovers of killed writes
 * (KEY.meta.tmp.XXXXXX) included, so the cache cannot grow without bound.
 */
static void prune(const struct st7_cache *c, const char *keep)
{
	struct prune_list pl;
	struct st7_diag d = { "" };
	memset(&pl, 0, sizeof(pl));
	if (st7_store_list(c->store, c->dir, collect, &pl, &d) == ST7_OK &&
	    pl.ns > ST7_CACHE_KEEP) {
		qsort(pl.stems, pl.ns, sizeof(*pl.stems), newest_first);
		for (size_t f = 0; f < pl.nf; f++) {
			const char *name = pl.files[f].name;
			char path[PATH_MAX];
			if (keep && memcmp(name, keep, 32) == 0)
				continue;
			for (size_t i = ST7_CACHE_KEEP; i < pl.ns; i++)
				if (memcmp(pl.stems[i].stem, name, 32) == 0 &&
				    st7_store_join(path, sizeof(path), c->dir, name) == ST7_OK)
					remove_quietly(c, path);
		}
	}
	free(pl.files);
	free(pl.stems);
}

/* A partial file that can be continued: its meta is this URL's, with a validator that
 * may guard a range, and it is a regular file of a plausible size. Its size in *size. */
static bool usable_part(const struct st7_cache *c, const struct paths *p, const char *url,
                        uint64_t max, struct st7_cache_meta *m, uint64_t *size)
{
	struct st7_store_entry e;
	struct st7_diag d = { "" };
	if (!load_meta(c, p->part_meta, url, m) || st7_store_stat(c->store, p->part, &e, &d) ||
	    !e.regular || e.size == 0 || e.size > max || (m->size != 0 && e.size > m->size))
		return false;
	*size = e.size;
	/* Only a strong ETag or a date may guard a range (RFC 9110 §13.1.5); without one, two
	 * versions of the file could be spliced, so start over instead. */
	char date[40];
	return m->etag[0] == '"' || st7_http_date_format(m->last_modified, date);
}

/* The partial file, complete now: fill `out` with it and say what it is. */
static int read_complete(const struct st7_cache *c, const struct paths *p, const char *url,
                         uint64_t max, const struct st7_fetch_response *resp, struct st7_buf *out,
                         struct st7_cache_got *got, struct st7_diag *d)
{
	int ret = st7_store_read(c->store, p->part, (size_t)max, CACHE_READ_FLAGS, out, d);
	if (ret)
		return local_err(ret);
	if (!load_meta(c, p->part_meta, url, &got->meta)) {
		st7_cache_meta_init(&got->meta);
		snprintf(got->meta.url, sizeof(got->meta.url), "%s", url);
	}
	/* A 206 carries the validators too; the latest response wins. */
	if (resp->etag[0])
		memcpy(got->meta.etag, resp->etag, sizeof(resp->etag));
	if (resp->last_modified >= 0)
		got->meta.last_modified = resp->last_modified;
	got->meta.size = out->len;
	return ST7_OK;
}

static int get_once(const struct st7_cache *c, const struct paths *p, const char *url, uint64_t max,
                    bool conditional, struct st7_buf *out, struct st7_cache_got *got,
                    struct st7_diag *d)
{
	struct st7_cache_meta done_m, part_m;
	struct st7_fetch_request req = { .url = url,
		                         .max_size = max,
		                         .if_range_date = -1,
		                         .if_modified_since = -1,
		                         .abort_flag = c->abort_flag,
		                         .progress = c->progress,
		                         .progress_arg = c->progress_arg };
	struct st7_fetch_response resp;
	struct part_sink sink = { .c = c, .p = p, .url = url, .d = d };
	struct st7_fetch_sink fs = { part_begin, part_write, &sink };
	uint64_t part_size = 0;

	memset(&resp, 0, sizeof(resp));
	resp.last_modified = -1;
	bool have_done = conditional && load_done(c, p, url, max, &done_m, out);
	bool have_part = usable_part(c, p, url, max, &part_m, &part_size);
	if (have_part && part_m.size > 0 && part_size == part_m.size) {
		/* Complete already (the run that fetched it stopped before verifying): no need
		 * to download it again over a slow link. */
		got->resumed = true;
		got->resumed_from = part_m.size;
		return read_complete(c, p, url, max, &resp, out, got, d);
	}
	if (!have_part) {
		remove_quietly(c, p->part_meta);
		remove_quietly(c, p->part);
	}
	int ret = st7_store_append_open(c->store, p->part, false, &part_size, &sink.f, d);
	if (ret) {
		if (ret != ST7_ERR_NOT_FOUND) /* something else there: not ours to continue */
			remove_quietly(c, p->part);
		return local_err(ret);
	}
	if (have_part) {
		req.offset = part_size;
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
	struct st7_diag cd = { "" };
	bool sync = ret == ST7_OK && resp.status != 304;
	if (st7_store_append_close(c->store, sink.f, sync, &cd) != ST7_OK && sync) {
		sink.disk_failed = true;
		ret = st7_diag_set(d, ST7_ERR_IO, "%s", cd.msg);
	}
	if (ret == ST7_OK && resp.status == 304) {
		if (!have_done)
			return st7_diag_set(d, ST7_ERR_HTTP,
			                    "%s: 304 Not Modified, but nothing was asked for", url);
		got->not_modified = true;
		got->meta = done_m;
		return ST7_OK;
	}
	got->restarted = sink.restarted;
	got->resumed = have_part && !sink.restarted && resp.status == 206;
	got->resumed_from = got->resumed ? req.offset : 0;
	if (ret == ST7_ERR_RANGE || ret == ST7_ERR_TOO_LARGE || sink.disk_failed) {
		/* The partial file cannot be continued, or must never grow, or the disk
		 * is full and a partial file would keep it full: drop it. */
		remove_quietly(c, p->part);
		remove_quietly(c, p->part_meta);
		return ret;
	}
	if (ret)
		return ret; /* keep the partial file: the next get() continues it */
	return read_complete(c, p, url, max, &resp, out, got, d);
}

/* The cache directory: created when missing; a real directory, and private, or it is
 * refused (files in it could be planted: symlinks, FIFOs, forged partials). */
static int cache_dir_ready(const struct st7_cache *c, struct st7_diag *d)
{
	int ret = st7_store_mkdir_p(c->store, c->dir, 0700, 0, d);
	if (ret == ST7_OK)
		ret = st7_store_check_private(c->store, c->dir, true, d);
	return local_err(ret);
}

int st7_cache_get(const struct st7_cache *c, const char *url, uint64_t max, bool conditional,
                  struct st7_buf *out, struct st7_cache_got *got, struct st7_diag *d)
{
	struct paths p;
	memset(got, 0, sizeof(*got));
	got->retry_after_s = -1;
	st7_buf_clear(out);
	if (strlen(url) >= ST7_URL_MAX || paths_for(c, url, &p) != 0)
		return st7_diag_set(d, ST7_ERR_INVALID, "URL or cache path too long");
	int ret = cache_dir_ready(c, d);
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

int st7_cache_peek(const struct st7_cache *c, const char *url, uint64_t max, const char *sha256_hex,
                   struct st7_buf *out, struct st7_diag *d)
{
	struct paths p;
	struct st7_cache_meta m;
	st7_buf_clear(out);
	if (strlen(url) >= ST7_URL_MAX || paths_for(c, url, &p) != 0)
		return st7_diag_set(d, ST7_ERR_INVALID, "URL or cache path too long");
	if (!load_done(c, &p, url, max, &m, out) ||
	    (sha256_hex && strcmp(m.sha256, sha256_hex) != 0)) {
		st7_buf_clear(out);
		return st7_diag_set(d, ST7_ERR_NOT_FOUND, "%s: no verified copy in the cache", url);
	}
	return ST7_OK;
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
		struct st7_diag td;
		st7_store_touch(c->store, p.done_meta, &td);
		return ST7_OK;
	}
	if (st7_sha256(data, len, h))
		return st7_diag_set(d, ST7_ERR_INVALID, "SHA-256 failed");
	st7_sha256_hex(h, m.sha256);
	m.size = len;
	/* Old meta first: a crash between the two steps leaves a copy whose SHA-256 no
	 * longer matches its meta, which load_done() refuses. */
	int ret = local_err(st7_store_remove(c->store, p.done_meta, d));
	if (ret == ST7_OK)
		ret = local_err(st7_store_rename(c->store, p.part, p.done, 0, d));
	if (ret == ST7_OK)
		ret = save_meta(c, p.done_meta, &m, d);
	remove_quietly(c, p.part_meta);
	prune(c, stem_of(&p));
	return ret;
}

void st7_cache_discard(const struct st7_cache *c, const char *url)
{
	struct paths p;
	if (paths_for(c, url, &p) != 0)
		return;
	remove_quietly(c, p.part);
	remove_quietly(c, p.part_meta);
	remove_quietly(c, p.done);
	remove_quietly(c, p.done_meta);
}

int st7_cache_lock(const struct st7_cache *c, unsigned wait_s, struct st7_store_lock **l,
                   struct st7_diag *d)
{
	char path[PATH_MAX];
	*l = NULL;
	if (st7_store_join(path, sizeof(path), c->dir, ".lock") != ST7_OK)
		return st7_diag_set(d, ST7_ERR_INVALID, "cache path too long");
	int ret = cache_dir_ready(c, d);
	if (ret)
		return ret;
	/* Another run may hold it for a whole download; it is bounded by its own limits,
	 * and we by wait_s. */
	ret = st7_store_lock(c->store, path, wait_s, l, d);
	if (ret == ST7_ERR_BUSY)
		return st7_diag_set(d, ST7_ERR_BUSY,
		                    "%s: another st7dfu is using the download cache", c->dir);
	return ret == ST7_OK ? ret : local_err(ret);
}

void st7_cache_unlock(const struct st7_cache *c, struct st7_store_lock *l)
{
	st7_store_unlock(c->store, l);
}
