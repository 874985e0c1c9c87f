/* SPDX-License-Identifier: MIT */
#include "journal.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "state_dir.h"

#define REC_EXT ".rec"
#define REC_EXT_LEN 4
#define LIST_MAX 65536u /* *.rec names in one directory: far above any gateway's devices */

/* A name st7_journal_key() can make: 11..191 bytes of [A-Za-z0-9._-], not starting with
 * '.' (so never "." or ".."), no '/'. Only checked for what makes it a safe file name. */
static bool is_key(const char *k, size_t n)
{
	if (n == 0 || n >= ST7_JOURNAL_KEY_MAX || k[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = k[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '-' || c == '_'))
			return false;
	}
	return true;
}

static int journal_dir(char *out, size_t cap, const char *state_dir, struct st7_diag *d)
{
	if (!state_dir || st7_state_path(out, cap, state_dir, ST7_STATE_JOURNAL) != ST7_OK)
		return st7_diag_set(d, ST7_ERR_INVALID, "state directory path too long");
	return ST7_OK;
}

/* DIR/KEY.rec */
static int rec_path(char *out, size_t cap, const char *dir, const char *key, struct st7_diag *d)
{
	int n = snprintf(out, cap, "%s/%s" REC_EXT, dir, key);
	if (n < 0 || (size_t)n >= cap)
		return st7_diag_set(d, ST7_ERR_INVALID, "%s: journal path too long", dir);
	return ST7_OK;
}

int st7_journal_write(struct st7_store *s, const char *state_dir, const struct st7_journal_rec *r,
                      struct st7_diag *d)
{
	int ret = ST7_ERR_INVALID;
	char dir[PATH_MAX], path[PATH_MAX];
	struct st7_buf b;
	st7_buf_init(&b);
	if (!s || !r) {
		st7_diag_set(d, ret, "journal write: bad arguments");
		goto cleanup;
	}
	if ((ret = st7_journal_rec_check(r, d)) != ST7_OK ||
	    (ret = journal_dir(dir, sizeof(dir), state_dir, d)) != ST7_OK ||
	    (ret = rec_path(path, sizeof(path), dir, r->device, d)) != ST7_OK)
		goto cleanup;
	if ((ret = st7_journal_rec_encode(r, &b)) != ST7_OK) {
		st7_diag_set(d, ret, "%s: cannot encode the record", path);
		goto cleanup;
	}
	if ((ret = st7_store_mkdir_p(s, dir, 0700, ST7_STORE_PRIVATE, d)) != ST7_OK)
		goto cleanup;
	ret = st7_store_write_atomic(s, path, b.data, b.len, 0600, 0, d);
cleanup:
	st7_buf_free(&b);
	return ret;
}

/*
 * Rename `path` aside to PATH.bad-N, N the first free of 1..999, never replacing one.
 * The new base name goes to `name`. The store's error (in d) when it cannot.
 */
static int set_aside(struct st7_store *s, const char *path, char *name, size_t cap,
                     struct st7_diag *d)
{
	char to[PATH_MAX];
	int ret = ST7_ERR_EXISTS;
	name[0] = '\0';
	for (unsigned n = 1; n <= ST7_JOURNAL_BAD_MAX; n++) {
		int k = snprintf(to, sizeof(to), "%s.bad-%u", path, n);
		if (k < 0 || (size_t)k >= sizeof(to))
			return st7_diag_set(d, ST7_ERR_INVALID, "%s: path too long", path);
		ret = st7_store_rename(s, path, to, ST7_STORE_NOREPLACE, d);
		if (ret == ST7_OK) {
			snprintf(name, cap, "%s", st7_store_basename(to));
			return ST7_OK;
		}
		if (ret != ST7_ERR_EXISTS)
			return ret;
	}
	return st7_diag_set(d, ret, "%s.bad-1 .. %u all exist", path, ST7_JOURNAL_BAD_MAX);
}

enum verdict { V_OK, V_BAD, V_ERR };

/*
 * Read and check the record at `path` whose file name says `key`. V_OK: *r is trusted.
 * V_BAD: it must not be trusted, the reason in d. V_ERR: *err is the store's error
 * (ST7_ERR_NOT_FOUND, ST7_ERR_IO, ST7_ERR_NOMEM), in d; the file stays.
 */
static enum verdict check_record(struct st7_store *s, const char *path, const char *key,
                                 struct st7_journal_rec *r, int *err, struct st7_diag *d)
{
	struct st7_buf b;
	struct st7_store_entry e;
	enum verdict v = V_ERR;
	st7_buf_init(&b);
	memset(r, 0, sizeof(*r));
	int ret = st7_store_read(s, path, ST7_JOURNAL_REC_MAX,
	                         ST7_STORE_NOFOLLOW | ST7_STORE_PRIVATE, &b, d);
	if (ret == ST7_ERR_TOO_LARGE) {
		v = V_BAD;
		goto cleanup;
	}
	if (ret == ST7_ERR_IO) {
		/* A link, a FIFO, a file open to others: the record's own fault, not the disk's. */
		struct st7_diag d2 = { "" };
		int sr = st7_store_stat(s, path, &e, &d2);
		if (sr == ST7_OK && !e.regular) {
			v = V_BAD;
			st7_diag_set(d, ST7_ERR_FORMAT, "not a regular file (a symbolic link?)");
		} else if (sr == ST7_OK && (e.perm & 022)) {
			v = V_BAD;
			st7_diag_set(d, ST7_ERR_FORMAT, "writable by group or others (mode %04o)",
			             e.perm);
		}
	}
	if (ret) {
		*err = ret;
		goto cleanup;
	}
	if (st7_journal_rec_decode(b.data, b.len, r, d) != ST7_OK) {
		v = V_BAD;
		goto cleanup;
	}
	if (strcmp(r->device, key) != 0) {
		st7_diag_set(d, ST7_ERR_FORMAT,
		             "foreign: the record is of device '%s', not of its file's name",
		             r->device);
		memset(r, 0, sizeof(*r));
		v = V_BAD;
		goto cleanup;
	}
	v = V_OK;
cleanup:
	st7_buf_free(&b);
	return v;
}

int st7_journal_read(struct st7_store *s, const char *state_dir, const char *key,
                     struct st7_journal_rec *r, struct st7_diag *d)
{
	int ret = ST7_ERR_INVALID;
	char dir[PATH_MAX], path[PATH_MAX], aside[ST7_STORE_NAME_MAX];
	struct st7_diag local = { "" }, d2 = { "" };
	if (!d)
		d = &local;
	if (r)
		memset(r, 0, sizeof(*r));
	if (!s || !r || !key || !is_key(key, strlen(key)))
		return st7_diag_set(d, ret, "journal read: bad arguments or key");
	if ((ret = journal_dir(dir, sizeof(dir), state_dir, d)) != ST7_OK ||
	    (ret = rec_path(path, sizeof(path), dir, key, d)) != ST7_OK)
		return ret;
	ret = st7_store_check_private(s, dir, true, d);
	if (ret)
		return ret;
	switch (check_record(s, path, key, r, &ret, d)) {
	case V_OK:
		return ST7_OK;
	case V_ERR:
		return ret;
	case V_BAD:
		break;
	}
	if (set_aside(s, path, aside, sizeof(aside), &d2) != ST7_OK)
		return st7_diag_prefix(d, ST7_ERR_FORMAT, "%s (could not be set aside: %s)", path,
		                       d2.msg);
	return st7_diag_prefix(d, ST7_ERR_FORMAT, "%s (set aside as %s)", path, aside);
}

struct names {
	char (*v)[ST7_STORE_NAME_MAX];
	bool *dir;
	size_t n, cap;
	bool full;
};

static bool ends_with(const char *s, const char *ext)
{
	size_t n = strlen(s), e = strlen(ext);
	return n >= e && strcmp(s + n - e, ext) == 0;
}

static int collect(void *arg, const struct st7_store_entry *e)
{
	struct names *l = arg;
	if (!ends_with(e->name, REC_EXT))
		return 0;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		if (cap > LIST_MAX) {
			l->full = true;
			return 1;
		}
		void *v = realloc(l->v, cap * sizeof(*l->v));
		if (!v)
			return -1;
		l->v = v;
		v = realloc(l->dir, cap * sizeof(*l->dir));
		if (!v)
			return -1;
		l->dir = v;
		l->cap = cap;
	}
	snprintf(l->v[l->n], sizeof(l->v[l->n]), "%s", e->name);
	l->dir[l->n++] = e->dir;
	return 0;
}

static int journal_list(struct st7_store *s, const char *state_dir,
                        int (*each)(void *arg, const struct st7_journal_rec *r), void *arg,
                        unsigned *bad, bool readonly, struct st7_diag *d)
{
	int ret = ST7_ERR_INVALID;
	char dir[PATH_MAX], path[PATH_MAX], key[ST7_STORE_NAME_MAX], aside[ST7_STORE_NAME_MAX];
	struct names l = { 0 };
	struct st7_journal_rec *r = NULL;
	unsigned nbad = 0;
	if (bad)
		*bad = 0;
	if (!s || !each) {
		st7_diag_set(d, ret, "journal list: bad arguments");
		goto cleanup;
	}
	if ((ret = journal_dir(dir, sizeof(dir), state_dir, d)) != ST7_OK)
		goto cleanup;
	ret = st7_store_check_private(s, dir, true, d);
	if (ret == ST7_ERR_NOT_FOUND) {
		ret = ST7_OK; /* no journal yet */
		goto cleanup;
	}
	if (ret)
		goto cleanup;
	ret = st7_store_list(s, dir, collect, &l, d);
	if (ret == 1 && l.full) {
		ret = st7_diag_set(d, ST7_ERR_NOMEM, "%s: more than %u records", dir, LIST_MAX);
		goto cleanup;
	}
	if (ret == -1) {
		ret = st7_diag_set(d, ST7_ERR_NOMEM, "%s: out of memory listing records", dir);
		goto cleanup;
	}
	if (ret)
		goto cleanup;
	r = malloc(sizeof(*r));
	if (!r) {
		ret = st7_diag_set(d, ST7_ERR_NOMEM, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < l.n; i++) {
		struct st7_diag why = { "" }, d2 = { "" };
		size_t kl = strlen(l.v[i]) - REC_EXT_LEN;
		int err = ST7_OK;
		enum verdict v;
		memcpy(key, l.v[i], kl);
		key[kl] = '\0';
		if (st7_store_join(path, sizeof(path), dir, l.v[i]) != ST7_OK) {
			ret = st7_diag_set(d, ST7_ERR_INVALID, "%s: path too long", dir);
			goto cleanup;
		}
		if (l.dir[i]) {
			st7_warn("%s: a directory where a journal record belongs: ignored", path);
			nbad++;
			continue;
		}
		if (!is_key(key, kl)) {
			st7_diag_set(&why, ST7_ERR_FORMAT,
			             "foreign: not a journal key as file name");
			v = V_BAD;
		} else {
			v = check_record(s, path, key, r, &err, &why);
		}
		if (v == V_ERR && err == ST7_ERR_NOT_FOUND)
			continue; /* gone since the listing */
		if (v == V_ERR && err == ST7_ERR_NOMEM) {
			ret = st7_diag_set(d, err, "%s: %s", path, why.msg);
			goto cleanup;
		}
		if (v == V_ERR) {
			st7_warn("journal record %s cannot be read, left in place: %s", path,
			         why.msg);
			nbad++;
			continue;
		}
		if (v == V_BAD && readonly) {
			nbad++;
			st7_warn("journal record %s is not trusted: %s", path, why.msg);
			continue;
		}
		if (v == V_BAD) {
			nbad++;
			if (set_aside(s, path, aside, sizeof(aside), &d2) == ST7_OK)
				st7_warn("journal record %s is not trusted: %s; set aside as %s",
				         path, why.msg, aside);
			else
				st7_warn("journal record %s is not trusted: %s; could not be set "
				         "aside: %s",
				         path, why.msg, d2.msg);
			continue;
		}
		ret = each(arg, r);
		if (ret)
			goto cleanup;
	}
	ret = ST7_OK;
cleanup:
	if (bad)
		*bad = nbad;
	free(r);
	free(l.v);
	free(l.dir);
	return ret;
}

int st7_journal_list(struct st7_store *s, const char *state_dir,
                     int (*each)(void *arg, const struct st7_journal_rec *r), void *arg,
                     unsigned *bad, struct st7_diag *d)
{
	return journal_list(s, state_dir, each, arg, bad, false, d);
}

int st7_journal_list_readonly(struct st7_store *s, const char *state_dir,
                              int (*each)(void *arg, const struct st7_journal_rec *r), void *arg,
                              unsigned *bad, struct st7_diag *d)
{
	return journal_list(s, state_dir, each, arg, bad, true, d);
}

static int count_bad(void *arg, const struct st7_store_entry *e)
{
	unsigned *n = arg;
	const char *p = strstr(e->name, REC_EXT ".bad-");
	if (p && p[REC_EXT_LEN + 5] >= '1' && p[REC_EXT_LEN + 5] <= '9')
		(*n)++;
	return 0;
}

unsigned st7_journal_bad_count(struct st7_store *s, const char *state_dir)
{
	char dir[PATH_MAX];
	struct st7_diag d;
	unsigned n = 0;
	if (!s || journal_dir(dir, sizeof(dir), state_dir, &d) != ST7_OK)
		return 0;
	if (st7_store_list(s, dir, count_bad, &n, &d) != ST7_OK)
		return 0;
	return n;
}
