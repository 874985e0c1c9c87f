/* SPDX-License-Identifier: MIT */
#include "manifest_source.h"

#include "log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decide.h"
#include "dfu_file.h"
#include "fetch_cache.h"
#include "ini_doc.h"
#include "log.h"
#include "parse_util.h"
#include "st7_profile.h"
#include "state_dir.h"
#include "trust.h"

#define STATE_MAX 4096u /* manifest.state is a few lines */
#define ATTEMPTS_MAX (1024u * 1024u)
#define ATTEMPTS_MAX_RECORDS 4096u

/* ---- what was accepted last, per manifest URL ------------------------------------------ */

struct accepted {
	unsigned keys; /* bit 0 serial, 1 issued, 2 sha256: each once */
	bool have;
	uint64_t serial;
	int64_t issued;
	uint8_t sha256[ST7_SHA256_LEN];
	bool have_sha;
};

static int state_entry(void *arg, const char *section, const char *key, const char *value,
                       unsigned line, struct st7_diag *d)
{
	struct accepted *a = arg;
	(void)line;
	static const char *const keys[] = { "serial", "issued", "sha256" };
	if (strcmp(section, "accepted") != 0)
		return st7_diag_set(d, ST7_ERR_FORMAT, "unexpected section [%s]", section);
	/* Written by us, so anything unexpected is damage: a repeated key could otherwise
	 * roll the serial back. */
	for (unsigned k = 0; k < 3; k++)
		if (strcmp(key, keys[k]) == 0) {
			if (a->keys & (1u << k))
				return st7_diag_set(d, ST7_ERR_FORMAT, "duplicate key '%s'", key);
			a->keys |= 1u << k;
		}
	if (strcmp(key, "serial") == 0) {
		if (st7_parse_uint(value, 1, ST7_MANIFEST_SERIAL_MAX, &a->serial))
			return st7_diag_set(d, ST7_ERR_FORMAT, "bad serial");
		a->have = true;
	} else if (strcmp(key, "issued") == 0) {
		if (st7_parse_utc(value, &a->issued))
			return st7_diag_set(d, ST7_ERR_FORMAT, "bad issued");
	} else if (strcmp(key, "sha256") == 0) {
		if (st7_parse_sha256(value, a->sha256))
			return st7_diag_set(d, ST7_ERR_FORMAT, "bad sha256");
		a->have_sha = true;
	} else {
		return st7_diag_set(d, ST7_ERR_FORMAT, "unknown key '%s'", key);
	}
	return ST7_OK;
}

/* STATE/manifest-HASH16.state: one per manifest URL, so that a policy pointing at another
 * channel's manifest starts that manifest's own sequence. */
static int state_path(const struct st7_manifest_opts *o, const char *key, char *out, size_t cap)
{
	uint8_t h[ST7_SHA256_LEN];
	char hex[2 * ST7_SHA256_LEN + 1], name[64];
	if (st7_sha256(key, strlen(key), h) != ST7_OK)
		return ST7_ERR_INVALID;
	st7_sha256_hex(h, hex);
	snprintf(name, sizeof(name), "manifest-%.16s.state", hex);
	return st7_state_path(out, cap, o->state_dir, name);
}

/* A state file that cannot be read is not "nothing accepted yet": that would reopen the
 * door to a replay. It is an error that names the file, for a person to look at. */
static int state_load(struct st7_store *store, const char *path, struct accepted *a,
                      struct st7_diag *d)
{
	struct st7_buf b;
	memset(a, 0, sizeof(*a));
	st7_buf_init(&b);
	int ret = st7_store_read(store, path, STATE_MAX, ST7_STORE_NOFOLLOW, &b, d);
	if (ret == ST7_ERR_NOT_FOUND) {
		st7_buf_free(&b);
		return ST7_OK;
	}
	if (ret == ST7_OK)
		ret = st7_ini_parse(path, b.data, b.len, NULL, state_entry, a, d);
	if (ret == ST7_OK && a->keys != 7)
		ret = st7_diag_set(d, ST7_ERR_FORMAT, "%s: incomplete", path);
	if (ret)
		st7_diag_prefix(d, ret,
		                "the last accepted manifest's record (remove it only if "
		                "you trust the next manifest you will be served)");
	st7_buf_free(&b);
	return ret;
}

static int state_save(struct st7_store *store, const char *path, const char *url,
                      const struct st7_manifest *m, const uint8_t sha[ST7_SHA256_LEN],
                      struct st7_diag *d)
{
	char hex[2 * ST7_SHA256_LEN + 1], issued[32];
	struct st7_buf b;
	st7_buf_init(&b);
	st7_sha256_hex(sha, hex);
	st7_format_utc(m->issued, issued, sizeof(issued));
	/* No URL in it: the file's name is the URL's hash, and a URL's text could break the
	 * record (" ;" starts a comment). */
	(void)url;
	st7_buf_printf(&b, "[accepted]\nserial = %" PRIu64 "\nissued = %s\nsha256 = %s\n",
	               m->serial, issued, hex);
	int ret = b.data ? st7_store_write_atomic(store, path, b.data, b.len, 0600, 0, d)
	                 : st7_diag_set(d, ST7_ERR_NOMEM, "out of memory");
	st7_buf_free(&b);
	return ret;
}

/* ---- the bytes ------------------------------------------------------------------------- */

/* A local path from "file://" URLs (only the empty or "localhost" host) or a plain path. */
static int local_path(const char *url, char *out, size_t cap, struct st7_diag *d)
{
	const char *p = url;
	if (strncmp(url, "file://", 7) == 0) {
		p = url + 7;
		if (strncmp(p, "localhost/", 10) == 0)
			p += 9;
		if (p[0] != '/')
			return st7_diag_set(d, ST7_ERR_INVALID, "%s: only file:///PATH is read",
			                    url);
	} else if (strstr(url, "://")) {
		return st7_diag_set(d, ST7_ERR_INVALID, "%s: not https://, file:// or a path", url);
	}
	if ((size_t)snprintf(out, cap, "%s", p) >= cap)
		return st7_diag_set(d, ST7_ERR_INVALID, "%s: path too long", url);
	return ST7_OK;
}

struct fetched {
	struct st7_cache cache;
	struct st7_cache_got got, sig_got;
	char sig_url[ST7_MANIFEST_URL_MAX + 8];
};

static int get_remote(struct st7_run *run, const struct st7_manifest_opts *o, uint64_t max,
                      bool conditional, struct fetched *f, struct st7_buf *body,
                      struct st7_buf *sig, struct st7_manifest_report *rep, struct st7_diag *d)
{
	if (!run->fetcher)
		return st7_diag_set(d, ST7_ERR_INVALID, "%s: no fetcher for a URL", o->url);
	if (st7_sig_name(o->url, f->sig_url, sizeof(f->sig_url)))
		return st7_diag_set(d, ST7_ERR_INVALID, "%s: too long", o->url);
	f->cache.fetcher = run->fetcher;
	f->cache.abort_flag = run->abort_flag;
	f->cache.progress = run->progress;
	f->cache.progress_arg = run->progress_arg;
	rep->remote = true;
	int ret = st7_cache_get(&f->cache, o->url, max, conditional, body, &f->got, d);
	rep->retry_after_s = f->got.retry_after_s;
	if (ret)
		return ret;
	rep->not_modified = f->got.not_modified;
	/* An unchanged manifest keeps its signature: the cached copy verified with it is
	 * used without a second request (a poll that finds nothing new costs one 304). */
	memset(&f->sig_got, 0, sizeof(f->sig_got));
	f->sig_got.retry_after_s = -1;
	if (f->got.not_modified && st7_cache_peek(&f->cache, f->sig_url, ST7_MANIFEST_SIG_MAX, NULL,
	                                          sig, NULL) == ST7_OK) {
		f->sig_got.not_modified = true;
		return ST7_OK;
	}
	ret = st7_cache_get(&f->cache, f->sig_url, ST7_MANIFEST_SIG_MAX, conditional, sig,
	                    &f->sig_got, d);
	if (f->sig_got.retry_after_s >= 0)
		rep->retry_after_s = f->sig_got.retry_after_s;
	return ret;
}

static int get_local(struct st7_run *run, const struct st7_manifest_opts *o, uint64_t max,
                     struct st7_buf *body, struct st7_buf *sig, struct st7_diag *d)
{
	char path[4096], sig_path[4104];
	int ret = local_path(o->url, path, sizeof(path), d);
	if (ret)
		return ret;
	if (st7_sig_name(path, sig_path, sizeof(sig_path)))
		return st7_diag_set(d, ST7_ERR_INVALID, "%s: path too long", path);
	ret = st7_store_read(run->store, path, (size_t)max, 0, body, d);
	if (ret == ST7_OK)
		ret = st7_store_read(run->store, sig_path, ST7_MANIFEST_SIG_MAX, 0, sig, d);
	return ret;
}

/* ---- believing it ---------------------------------------------------------------------- */

static int believe(const struct st7_manifest_opts *o, const struct st7_manifest *m,
                   const uint8_t sha[ST7_SHA256_LEN], const struct accepted *a,
                   struct st7_manifest_report *rep, struct st7_diag *d)
{
	char t1[32], t2[32];
	st7_format_utc(o->now, t1, sizeof(t1));
	if (o->now < o->build_time) {
		st7_format_utc(o->build_time, t2, sizeof(t2));
		return st7_diag_set(d, ST7_ERR_REFUSED,
		                    "the clock says %s, before this build (%s): it is unset or "
		                    "wrong, so expiry cannot be judged; nothing is decided",
		                    t1, t2);
	}
	if (a->have && o->now < a->issued) {
		st7_format_utc(a->issued, t2, sizeof(t2));
		return st7_diag_set(d, ST7_ERR_REFUSED,
		                    "the clock says %s, before the last accepted manifest was "
		                    "issued (%s): it is wrong, so expiry cannot be judged",
		                    t1, t2);
	}
	if (a->have && m->serial < a->serial)
		return st7_diag_set(d, ST7_ERR_REFUSED,
		                    "serial %" PRIu64 " is lower than the %" PRIu64
		                    " already accepted: an old manifest replayed (rollback attack)",
		                    m->serial, a->serial);
	if (a->have && m->serial > a->serial && m->issued < a->issued) {
		st7_format_utc(a->issued, t2, sizeof(t2));
		return st7_diag_set(d, ST7_ERR_REFUSED,
		                    "serial %" PRIu64
		                    " claims to be newer but was issued before the "
		                    "last accepted manifest (%s)",
		                    m->serial, t2);
	}
	if (a->have && m->serial == a->serial) {
		if (memcmp(sha, a->sha256, ST7_SHA256_LEN) != 0)
			return st7_diag_set(d, ST7_ERR_REFUSED,
			                    "serial %" PRIu64 " was already accepted with other "
			                    "content: two different manifests with one serial",
			                    m->serial);
		rep->unchanged = true;
	}
	if (o->now >= m->expires) {
		st7_format_utc(m->expires, t2, sizeof(t2));
		return st7_diag_set(d, ST7_ERR_REFUSED,
		                    "expired at %s (now %s): a stale manifest (freeze attack), or "
		                    "the vendor stopped re-signing it",
		                    t2, t1);
	}
	if (o->now + ST7_MANIFEST_SKEW_S < m->issued) {
		st7_format_utc(m->issued, t2, sizeof(t2));
		return st7_diag_set(d, ST7_ERR_REFUSED,
		                    "issued %s, after now (%s): the clock is wrong", t2, t1);
	}
	return ST7_OK;
}

int st7_manifest_obtain(struct st7_run *run, const struct st7_manifest_opts *o,
                        struct st7_manifest *m, struct st7_manifest_report *rep, struct st7_diag *d)
{
	struct st7_buf body, sig;
	struct fetched *f = NULL;
	struct st7_store_lock *lock = NULL;
	const struct st7_keyring *keys = NULL;
	struct accepted a;
	uint8_t sha[ST7_SHA256_LEN];
	char spath[4096], cache_dir[4096], key[4096];
	uint64_t max = o->max_size ? o->max_size : ST7_MANIFEST_DEFAULT_MAX;
	bool remote = st7_url_is_remote(o->url);
	int ret = ST7_ERR_INVALID;

	memset(rep, 0, sizeof(*rep));
	rep->retry_after_s = -1;
	st7_buf_init(&body);
	st7_buf_init(&sig);
	if (!o->url || !o->url[0] || !o->state_dir) {
		ret = st7_diag_set(d, ST7_ERR_INVALID, "no manifest_url in the policy");
		goto cleanup;
	}
	/* One sequence per manifest, however it is spelt: a local one by its real path (so
	 * file:// and // do not start a fresh sequence), a URL by its text. */
	if (remote) {
		snprintf(key, sizeof(key), "%s", o->url);
	} else {
		char path[4096];
		if ((ret = local_path(o->url, path, sizeof(path), d)) != ST7_OK)
			goto cleanup;
		if (path[0] != '/') {
			ret = st7_diag_set(
			        d, ST7_ERR_INVALID,
			        "manifest_url %s: a local manifest needs an absolute path", o->url);
			goto cleanup;
		}
		if ((ret = st7_store_canonical(run->store, path, key, sizeof(key), d)) != ST7_OK) {
			st7_diag_prefix(d, ret, "manifest");
			goto cleanup;
		}
	}
	if ((ret = state_path(o, key, spath, sizeof(spath))) != ST7_OK ||
	    (ret = st7_state_path(cache_dir, sizeof(cache_dir), o->state_dir, ST7_STATE_CACHE))) {
		ret = st7_diag_set(d, ST7_ERR_INVALID, "--state-dir: path too long");
		goto cleanup;
	}
	/* Keys first: with no trusted key there is nothing worth downloading. */
	if ((ret = st7_run_keys(run, o->keys_dir, &keys, d)) != ST7_OK)
		goto cleanup;
	if ((ret = state_load(run->store, spath, &a, d)) != ST7_OK)
		goto cleanup;
	rep->had_last = a.have;
	rep->last_serial = a.serial;
	rep->last_issued = a.issued;
	if (remote) {
		if (!(f = calloc(1, sizeof(*f)))) {
			ret = st7_diag_set(d, ST7_ERR_NOMEM, "out of memory");
			goto cleanup;
		}
		f->cache.dir = cache_dir;
		f->cache.store = run->store;
		if ((ret = st7_cache_lock(&f->cache, 60, &lock, d)) != ST7_OK)
			goto cleanup;
	}
	for (int pass = 0; pass < 2; pass++) {
		ret = remote ? get_remote(run, o, max, pass == 0, f, &body, &sig, rep, d)
		             : get_local(run, o, max, &body, &sig, d);
		if (ret) {
			st7_diag_prefix(d, ret, "manifest");
			goto cleanup;
		}
		/* The signature over the exact bytes, before a byte of them is parsed. */
		if ((ret = st7_sha256(body.data, body.len, sha)) != ST7_OK)
			goto cleanup;
		st7_sha256_hex(sha, rep->sha256);
		ret = st7_keyring_verify(keys, sha, sig.data, sig.len, rep->signer,
		                         sizeof(rep->signer), d);
		/* A cached copy of one half, kept by a validator that did not change with the
		 * content (an ETag made of a size and a second), is dropped and both are
		 * fetched whole once more. */
		if (ret == ST7_OK || !remote || pass ||
		    !(f->got.not_modified || f->sig_got.not_modified))
			break;
		st7_warn("%s: the signature does not match a cached half; fetching both again",
		         o->url);
		st7_cache_discard(&f->cache, o->url);
		st7_cache_discard(&f->cache, f->sig_url);
		rep->not_modified = false;
	}
	if (ret) {
		st7_diag_prefix(d, ret,
		                "%s: no valid signature from a trusted key; nothing of it "
		                "was read",
		                o->url);
		goto cleanup;
	}
	if ((ret = st7_manifest_parse(o->url, body.data, body.len, m, d)) != ST7_OK)
		goto cleanup;
	if ((ret = believe(o, m, sha, &a, rep, d)) != ST7_OK) {
		st7_diag_prefix(d, ret, "%s", o->url);
		st7_manifest_free(m);
		goto cleanup;
	}
	if (o->record && (!a.have || m->serial > a.serial) &&
	    (ret = state_save(run->store, spath, o->url, m, sha, d)) != ST7_OK)
		goto cleanup;
	if (remote && o->record) {
		if ((ret = st7_cache_commit(&f->cache, o->url, &f->got, body.data, body.len, d)) ||
		    (ret = st7_cache_commit(&f->cache, f->sig_url, &f->sig_got, sig.data, sig.len,
		                            d)))
			goto cleanup;
	}
	ret = ST7_OK;
cleanup:
	/* A copy that was not believed must not answer the next conditional request. */
	if (ret && remote && f && lock && ret != ST7_ERR_NOMEM && body.len) {
		st7_cache_discard(&f->cache, o->url);
		st7_cache_discard(&f->cache, f->sig_url);
	}
	if (f)
		st7_cache_unlock(&f->cache, lock);
	free(f);
	st7_buf_free(&body);
	st7_buf_free(&sig);
	return ret;
}

/* ---- the attempts history -------------------------------------------------------------- */

struct attempts_load {
	struct st7_plan_attempts *v;
	size_t n, cap;
	unsigned have; /* keys seen in the current record: bit 0 serial, 1 release, 2 sha, 3 n */
	unsigned line;
};

static int attempts_section(void *arg, const char *section, unsigned line, struct st7_diag *d)
{
	struct attempts_load *l = arg;
	char kind[16], name[64];
	int has_name = 0;
	int ret = st7_ini_section_split(section, kind, sizeof(kind), name, sizeof(name), &has_name,
	                                d);
	if (ret)
		return ret;
	if (strcmp(kind, "attempt") != 0)
		return st7_diag_set(d, ST7_ERR_FORMAT, "unexpected section [%s]", kind);
	if (l->n && l->have != 0xF)
		return st7_diag_set(d, ST7_ERR_FORMAT, "the record of line %u is incomplete",
		                    l->line);
	if (l->n >= ATTEMPTS_MAX_RECORDS)
		return st7_diag_set(d, ST7_ERR_FORMAT, "more than %u records",
		                    ATTEMPTS_MAX_RECORDS);
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 16;
		void *v = realloc(l->v, cap * sizeof(*l->v));
		if (!v)
			return st7_diag_set(d, ST7_ERR_NOMEM, "out of memory");
		l->v = v;
		l->cap = cap;
	}
	memset(&l->v[l->n++], 0, sizeof(*l->v));
	l->have = 0;
	l->line = line;
	return ST7_OK;
}

static int attempts_entry(void *arg, const char *section, const char *key, const char *value,
                          unsigned line, struct st7_diag *d)
{
	struct attempts_load *l = arg;
	(void)section;
	(void)line;
	if (!l->n)
		return st7_diag_set(d, ST7_ERR_FORMAT, "key '%s' outside an [attempt] record", key);
	struct st7_plan_attempts *a = &l->v[l->n - 1];
	uint64_t n;
	static const char *const keys[] = { "serial", "release", "sha256", "failures" };
	for (unsigned k = 0; k < 4; k++)
		if (strcmp(key, keys[k]) == 0 && (l->have & (1u << k)))
			return st7_diag_set(d, ST7_ERR_FORMAT, "duplicate key '%s'", key);
	if (strcmp(key, "serial") == 0 && strlen(value) < sizeof(a->serial)) {
		snprintf(a->serial, sizeof(a->serial), "%s", value);
		l->have |= 1;
	} else if (strcmp(key, "release") == 0 && strlen(value) < sizeof(a->release)) {
		snprintf(a->release, sizeof(a->release), "%s", value);
		l->have |= 2;
	} else if (strcmp(key, "sha256") == 0 && st7_parse_sha256(value, a->sha256) == ST7_OK) {
		l->have |= 4;
	} else if (strcmp(key, "failures") == 0 && st7_parse_uint(value, 0, 1000000, &n) == 0) {
		a->failures = (unsigned)n;
		l->have |= 8;
	} else {
		return st7_diag_set(d, ST7_ERR_FORMAT, "bad key or value: %s = %s", key, value);
	}
	return ST7_OK;
}

int st7_attempts_load(struct st7_store *store, const char *state_dir,
                      struct st7_plan_attempts **out, size_t *n, struct st7_diag *d)
{
	struct attempts_load l = { 0 };
	struct st7_buf b;
	char path[4096];
	int ret;
	*out = NULL;
	*n = 0;
	if (st7_state_path(path, sizeof(path), state_dir, "attempts.ini"))
		return st7_diag_set(d, ST7_ERR_INVALID, "--state-dir: path too long");
	st7_buf_init(&b);
	ret = st7_store_read(store, path, ATTEMPTS_MAX, ST7_STORE_NOFOLLOW, &b, d);
	if (ret == ST7_ERR_NOT_FOUND) {
		st7_buf_free(&b);
		return ST7_OK;
	}
	if (ret == ST7_OK)
		ret = st7_ini_parse(path, b.data, b.len, attempts_section, attempts_entry, &l, d);
	if (ret == ST7_OK && l.n && l.have != 0xF)
		ret = st7_diag_set(d, ST7_ERR_FORMAT, "%s:%u: the record is incomplete", path,
		                   l.line);
	st7_buf_free(&b);
	if (ret) {
		free(l.v);
		return st7_diag_prefix(d, ret, "attempts history (failures must not be forgotten)");
	}
	*out = l.v;
	*n = l.n;
	return ST7_OK;
}

/* ---- the image a release names --------------------------------------------------------- */

int st7_release_image_check(const struct st7_release *r, const uint8_t *data, size_t len,
                            struct st7_diag *d)
{
	uint8_t sha[ST7_SHA256_LEN];
	struct st7_dfu_file f;
	int ret = ST7_ERR_FORMAT;
	if (len != r->size)
		return st7_diag_set(d, ST7_ERR_FORMAT,
		                    "release '%s': the image is %zu bytes, the "
		                    "manifest says %" PRIu64,
		                    r->name, len, r->size);
	if ((ret = st7_sha256(data, len, sha)) != ST7_OK)
		return st7_diag_set(d, ret, "sha256 failed");
	if (memcmp(sha, r->sha256, ST7_SHA256_LEN) != 0)
		return st7_diag_set(
		        d, ST7_ERR_SIGNATURE,
		        "release '%s': the image's SHA-256 is not the manifest's: another "
		        "image (mix-and-match), not used",
		        r->name);
	st7_dfu_file_init(&f);
	if ((ret = st7_dfu_file_parse(&f, data, len, 0, d)) != ST7_OK) {
		st7_diag_prefix(d, ret, "release '%s'", r->name);
		goto cleanup;
	}
	ret = ST7_ERR_FORMAT;
	if (f.suffix.id_vendor != r->vid || f.suffix.id_product != r->pid) {
		st7_diag_set(d, ret,
		             "release '%s': the image is for %04x:%04x, the release for %04x:%04x",
		             r->name, f.suffix.id_vendor, f.suffix.id_product, r->vid, r->pid);
		goto cleanup;
	}
	if (f.suffix.bcd_device != r->version) {
		st7_diag_set(d, ret,
		             "release '%s': the image's bcdDevice is 0x%04x, the release's version "
		             "0x%04x",
		             r->name, f.suffix.bcd_device, r->version);
		goto cleanup;
	}
	const struct st7_profile *p = r->profile[0] ? st7_profile_find(r->profile) : NULL;
	if (f.kind == ST7_DFU_KIND_PLAIN && !p)
		p = st7_profile_by_region_size(f.payload_len);
	if (p) {
		if (f.kind != ST7_DFU_KIND_PLAIN || f.payload_len != st7_profile_region_size(p)) {
			st7_diag_set(d, ret,
			             "release '%s': not an image of the %s's writable region",
			             r->name, p->part);
			goto cleanup;
		}
		uint16_t word = (uint16_t)(data[f.payload_len - 2] << 8 | data[f.payload_len - 1]);
		if (word != r->version) {
			st7_diag_set(d, ret,
			             "release '%s': the image's version word is 0x%04x, the "
			             "release's version 0x%04x",
			             r->name, word, r->version);
			goto cleanup;
		}
	}
	ret = ST7_OK;
cleanup:
	st7_dfu_file_free(&f);
	return ret;
}
