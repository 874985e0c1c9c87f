/* SPDX-License-Identifier: MIT */
#include "image_source.h"

#include <stdio.h>
#include <string.h>

#include "fetch_cache.h"
#include "log.h"
#include "trust.h"

#define CACHE_LOCK_WAIT_S 60

static struct st7_cache cache_of(const struct st7_run *run, const struct st7_source_opts *o)
{
	struct st7_cache c = { o->cache_dir,    run->store,    run->fetcher,
		               run->abort_flag, run->progress, run->progress_arg };
	return c;
}

/* Read a file, or fetch a URL through the cache, filling `out`. */
static int get_bytes(struct st7_run *run, const struct st7_source_opts *o, const char *where,
                     uint64_t max, struct st7_buf *out, struct st7_cache_got *got, bool *remote,
                     struct st7_diag *d)
{
	*remote = st7_url_is_remote(where);
	memset(got, 0, sizeof(*got));
	got->retry_after_s = -1;
	if (!*remote) {
		int ret = st7_store_read(run->store, where, (size_t)max, 0, out, d);
		/* Files fail as ST7_ERR_IO (or _TOO_LARGE): the store's finer codes are its own. */
		return ret == ST7_OK || ret == ST7_ERR_TOO_LARGE || ret == ST7_ERR_NOMEM
		               ? ret
		               : ST7_ERR_IO;
	}
	if (!run->fetcher || !o->cache_dir)
		return st7_diag_set(d, ST7_ERR_INVALID, "%s: URLs are not accepted here", where);
	struct st7_cache c = cache_of(run, o);
	return st7_cache_get(&c, where, max, o->conditional, out, got, d);
}

/* The signature at r->sig_location into `sig`, as an ST7_ERR_SIGNATURE when there is
 * none (or a bigger one than any signature). */
static int get_signature(struct st7_run *run, const struct st7_source_opts *o, struct st7_buf *sig,
                         struct st7_cache_got *got, bool *remote, struct st7_source_report *r,
                         struct st7_diag *d)
{
	struct st7_diag sd = { "" };
	int ret = get_bytes(run, o, r->sig_location, ST7_SIG_MAX, sig, got, remote, &sd);
	if (ret == ST7_ERR_TOO_LARGE)
		return st7_diag_set(d, ST7_ERR_SIGNATURE,
		                    "%s: larger than any signature (%d bytes at most)",
		                    r->sig_location, ST7_SIG_MAX);
	if (ret == ST7_ERR_IO && !*remote)
		return st7_diag_set(d, ST7_ERR_SIGNATURE,
		                    "no signature: %s (sign with 'st7dfu sign' or openssl dgst "
		                    "-sha256 -sign)",
		                    sd.msg);
	if (ret == ST7_ERR_HTTP && *remote)
		return st7_diag_set(d, ST7_ERR_SIGNATURE, "no signature: %s", sd.msg);
	if (ret)
		return st7_diag_set(d, ret, "%s", sd.msg);
	return ST7_OK;
}

/* Check the signature of `out` (its SHA-256 `digest`); commit or discard the signature's
 * download accordingly. */
static int check_signature(struct st7_run *run, const struct st7_source_opts *o, const char *source,
                           const struct st7_keyring *keys, const uint8_t digest[ST7_SHA256_LEN],
                           struct st7_buf *sig_out, struct st7_source_report *r, struct st7_diag *d)
{
	struct st7_buf sig;
	struct st7_cache_got sig_got;
	struct st7_cache c = cache_of(run, o);
	struct st7_diag vd = { "" };
	bool sig_remote = false;
	int ret;
	if (o->sig)
		snprintf(r->sig_location, sizeof(r->sig_location), "%s", o->sig);
	else if (st7_sig_name(source, r->sig_location, sizeof(r->sig_location)) != ST7_OK)
		return st7_diag_set(d, ST7_ERR_INVALID, "%s: name too long", source);
	st7_buf_init(&sig);
	ret = get_signature(run, o, &sig, &sig_got, &sig_remote, r, d);
	if (ret) {
		if (r->retry_after_s < 0)
			r->retry_after_s = sig_got.retry_after_s;
		goto cleanup;
	}
	ret = st7_keyring_verify(keys, digest, sig.data, sig.len, r->signer, sizeof(r->signer),
	                         &vd);
	if (ret) {
		r->mismatch = true;
		ret = st7_diag_set(d, ST7_ERR_SIGNATURE, "%s: %s (signature %s)", source, vd.msg,
		                   r->sig_location);
		/* Never keep, resume or reuse what failed: the next try starts clean. */
		if (r->remote)
			st7_cache_discard(&c, source);
		if (sig_remote)
			st7_cache_discard(&c, r->sig_location);
		goto cleanup;
	}
	r->verified = true;
	if (sig_out) {
		st7_buf_clear(sig_out);
		if ((ret = st7_buf_append(sig_out, sig.data, sig.len)) != ST7_OK)
			goto cleanup;
	}
	st7_info("%s: good signature by %s", source, r->signer);
	if (sig_remote)
		ret = st7_cache_commit(&c, r->sig_location, &sig_got, sig.data, sig.len, d);
cleanup:
	st7_buf_free(&sig);
	return ret;
}

static int obtain_once(struct st7_run *run, const struct st7_source_opts *o, const char *source,
                       const struct st7_keyring *keys, struct st7_buf *out, struct st7_buf *sig_out,
                       struct st7_source_report *r, struct st7_diag *d)
{
	struct st7_cache_got img_got;
	struct st7_cache c = cache_of(run, o);
	uint8_t digest[ST7_SHA256_LEN];

	memset(r, 0, sizeof(*r));
	r->retry_after_s = -1;
	int ret = get_bytes(run, o, source, o->max_size, out, &img_got, &r->remote, d);
	r->retry_after_s = img_got.retry_after_s;
	r->not_modified = img_got.not_modified;
	r->resumed = img_got.resumed;
	r->restarted = img_got.restarted;
	r->resumed_from = img_got.resumed_from;
	if (ret)
		return ret;
	if (st7_sha256(out->data, out->len, digest) != ST7_OK)
		return st7_diag_set(d, ST7_ERR_INVALID, "%s: SHA-256 failed", source);
	st7_sha256_hex(digest, r->sha256);

	if (o->allow_unsigned)
		st7_warn("%s: NOT checking the signature (--allow-unsigned)", source);
	else if ((ret = check_signature(run, o, source, keys, digest, sig_out, r, d)) != ST7_OK)
		return ret;
	if (r->remote && r->verified)
		return st7_cache_commit(&c, source, &img_got, out->data, out->len, d);
	/* The cache keeps verified copies only: an unchecked download is not kept. */
	if (r->remote)
		st7_cache_discard(&c, source);
	return ST7_OK;
}

/* An image pinned by its SHA-256: the cached copy when it is that content, else fetched
 * (conditionally) or read, and kept only when it is. */
static int obtain_pinned(struct st7_run *run, const struct st7_source_opts *o, const char *source,
                         struct st7_buf *out, struct st7_source_report *r, struct st7_diag *d)
{
	struct st7_cache c = cache_of(run, o);
	struct st7_cache_got got;
	struct st7_store_lock *lock = NULL;
	uint8_t digest[ST7_SHA256_LEN];
	int ret;
	r->remote = st7_url_is_remote(source);
	if (r->remote && o->cache_dir &&
	    st7_cache_peek(&c, source, o->max_size, o->pinned_sha256, out, d) == ST7_OK) {
		r->cached = r->verified = true;
		snprintf(r->sha256, sizeof(r->sha256), "%s", o->pinned_sha256);
		return ST7_OK;
	}
	if (o->cache_only && r->remote)
		return st7_diag_set(d, ST7_ERR_NOT_FOUND, "%s: not in the cache", source);
	if (r->remote && o->cache_dir && run->fetcher &&
	    (ret = st7_cache_lock(&c, CACHE_LOCK_WAIT_S, &lock, d)) != ST7_OK)
		return ret;
	ret = get_bytes(run, o, source, o->max_size, out, &got, &r->remote, d);
	r->retry_after_s = got.retry_after_s;
	r->not_modified = got.not_modified;
	r->resumed = got.resumed;
	r->restarted = got.restarted;
	r->resumed_from = got.resumed_from;
	if (ret == ST7_OK && st7_sha256(out->data, out->len, digest) != ST7_OK)
		ret = st7_diag_set(d, ST7_ERR_INVALID, "%s: SHA-256 failed", source);
	if (ret == ST7_OK) {
		st7_sha256_hex(digest, r->sha256);
		if (strcmp(r->sha256, o->pinned_sha256) != 0) {
			r->mismatch = true;
			ret = st7_diag_set(d, ST7_ERR_SIGNATURE,
			                   "%s: SHA-256 %s is not the %s the manifest pins", source,
			                   r->sha256, o->pinned_sha256);
			if (r->remote)
				st7_cache_discard(&c, source);
		}
	}
	if (ret == ST7_OK) {
		r->verified = true;
		if (r->remote)
			ret = st7_cache_commit(&c, source, &got, out->data, out->len, d);
	}
	st7_cache_unlock(&c, lock);
	return ret;
}

int st7_source_obtain(struct st7_run *run, const struct st7_source_opts *o, const char *source,
                      struct st7_buf *out, struct st7_buf *sig_out, struct st7_source_report *r,
                      struct st7_diag *d)
{
	const struct st7_keyring *keys = NULL;
	struct st7_cache c = cache_of(run, o);
	struct st7_store_lock *lock = NULL;
	int ret = ST7_OK;
	bool remote = st7_url_is_remote(source) || (o->sig && st7_url_is_remote(o->sig));
	memset(r, 0, sizeof(*r));
	r->retry_after_s = -1;
	if (o->pinned_sha256) {
		ret = obtain_pinned(run, o, source, out, r, d);
		/* A copy pieced together from an earlier run that is not the pinned image: gone
		 * now (discarded), so one clean download can still succeed. */
		if (ret == ST7_ERR_SIGNATURE && r->remote && (r->resumed || r->not_modified)) {
			st7_warn("%s; fetching it whole once more", d->msg);
			memset(r, 0, sizeof(*r));
			r->retry_after_s = -1;
			ret = obtain_pinned(run, o, source, out, r, d);
		}
		return ret;
	}
	/* Keys first: with nothing to trust there is no point fetching anything. */
	if (!o->allow_unsigned)
		ret = st7_run_keys(run, o->keys_dir, &keys, d);
	/* One run at a time in the cache, from the first byte fetched to the commit. */
	if (ret == ST7_OK && remote && o->cache_dir && run->fetcher)
		ret = st7_cache_lock(&c, CACHE_LOCK_WAIT_S, &lock, d);
	if (ret == ST7_OK)
		ret = obtain_once(run, o, source, keys, out, sig_out, r, d);
	if (ret == ST7_ERR_SIGNATURE && r->mismatch && r->remote &&
	    (r->resumed || r->not_modified)) {
		/* What failed was pieced together from an earlier run, or came from the cache:
		 * both are gone now (discarded), so one clean download can still succeed. */
		st7_warn("%s; fetching it whole once more", d->msg);
		ret = obtain_once(run, o, source, keys, out, sig_out, r, d);
	}
	st7_cache_unlock(&c, lock);
	return ret;
}
