/* SPDX-License-Identifier: MIT */
#include "trust.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

int st7_sig_name(const char *of, char *out, size_t size)
{
	int n = snprintf(out, size, "%s" ST7_SIG_SUFFIX, of);
	return n < 0 || (size_t)n >= size ? ST7_ERR_INVALID : ST7_OK;
}

int st7_keys_dir_check(struct st7_store *s, const char *dir, struct st7_diag *d)
{
	struct st7_diag sd = { "" };
	int ret = st7_store_check_private(s, dir, false, &sd);
	if (ret == ST7_OK)
		return ST7_OK;
	if (ret == ST7_ERR_ACCESS)
		return st7_diag_set(d, ST7_ERR_SIGNATURE,
		                    "key directory %s; refusing to trust any key in it", sd.msg);
	return st7_diag_set(d, ST7_ERR_SIGNATURE, "key directory %s", sd.msg);
}

struct pem_names {
	char **v;
	size_t n, cap;
};

static int collect_pem(void *arg, const struct st7_store_entry *e)
{
	struct pem_names *pn = arg;
	size_t len = strlen(e->name);
	if (e->name[0] == '.' || len <= 4 || strcmp(e->name + len - 4, ".pem") != 0)
		return 0;
	if (pn->n == pn->cap) {
		size_t cap = pn->cap ? 2 * pn->cap : 16;
		char **v = realloc(pn->v, cap * sizeof(*v));
		if (!v)
			return ST7_ERR_NOMEM;
		pn->v = v;
		pn->cap = cap;
	}
	if (!(pn->v[pn->n] = strdup(e->name)))
		return ST7_ERR_NOMEM;
	pn->n++;
	return 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The store names the path first ("PATH: why"); the warning names it already. */
static const char *reason(const char *msg, const char *path)
{
	size_t n = strlen(path);
	return strncmp(msg, path, n) == 0 && strncmp(msg + n, ": ", 2) == 0 ? msg + n + 2 : msg;
}

static int load_keys(struct st7_keyring *k, struct st7_store *s, const char *dir,
                     const struct pem_names *pn, size_t *skipped, struct st7_diag *d)
{
	struct st7_buf b;
	int ret = ST7_OK;
	st7_buf_init(&b);
	for (size_t i = 0; i < pn->n && ret == ST7_OK; i++) {
		char path[4096];
		struct st7_diag kd = { "" };
		if (st7_store_join(path, sizeof(path), dir, pn->v[i]) != ST7_OK) {
			(*skipped)++;
			continue;
		}
		/* Opened once, checked on that descriptor: no symlinks, FIFOs or loose modes. */
		int r = st7_store_read(s, path, ST7_KEY_FILE_MAX,
		                       ST7_STORE_NOFOLLOW | ST7_STORE_PRIVATE, &b, &kd);
		if (r == ST7_OK)
			r = st7_keyring_add(k, pn->v[i], b.data, b.len, &kd);
		if (r == ST7_ERR_NOMEM) {
			ret = st7_diag_set(d, r, "%s: out of memory", path);
		} else if (r != ST7_OK) {
			st7_warn("trusted key %s skipped: %s", path, reason(kd.msg, path));
			(*skipped)++;
		}
	}
	st7_buf_free(&b);
	return ret;
}

int st7_keyring_load_dir(struct st7_keyring *k, struct st7_store *s, const char *dir,
                         struct st7_diag *d)
{
	struct pem_names pn = { NULL, 0, 0 };
	struct st7_diag ld = { "" };
	size_t skipped = 0;
	int ret = st7_keys_dir_check(s, dir, d);
	if (ret)
		return ret;
	ret = st7_store_list(s, dir, collect_pem, &pn, &ld);
	if (ret == ST7_ERR_NOMEM)
		ret = st7_diag_set(d, ret, "key directory %s: out of memory", dir);
	else if (ret)
		ret = st7_diag_set(d, ST7_ERR_SIGNATURE, "key directory %s", ld.msg);
	if (ret == ST7_OK) {
		if (pn.n) /* qsort(NULL, 0, ...) is undefined */
			qsort(pn.v, pn.n, sizeof(*pn.v), by_name);
		ret = load_keys(k, s, dir, &pn, &skipped, d);
	}
	if (ret == ST7_OK && st7_keyring_count(k) == 0)
		ret = st7_diag_set(d, ST7_ERR_SIGNATURE,
		                   "no usable trusted key in %s (%zu *.pem file%s skipped)", dir,
		                   skipped, skipped == 1 ? "" : "s");
	for (size_t i = 0; i < pn.n; i++)
		free(pn.v[i]);
	free(pn.v);
	return ret;
}

static int hash_chunk(void *arg, const uint8_t *p, size_t n)
{
	return st7_sha256_update(arg, p, n);
}

static int count_chunk(void *arg, const uint8_t *p, size_t n)
{
	void **a = arg;
	*(uint64_t *)a[1] += n;
	return hash_chunk(a[0], p, n);
}

int st7_sha256_file(struct st7_store *s, const char *path, uint8_t digest[ST7_SHA256_LEN],
                    uint64_t *size, struct st7_diag *d)
{
	struct st7_sha256 h;
	void *arg[2] = { &h, size };
	*size = 0;
	st7_sha256_init(&h);
	int ret = st7_sha256_start(&h);
	if (ret == ST7_OK)
		ret = st7_store_read_each(s, path, 0, count_chunk, arg, d);
	if (ret == ST7_OK)
		ret = st7_sha256_finish(&h, digest);
	st7_sha256_free(&h);
	return ret;
}
