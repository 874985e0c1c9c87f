/* SPDX-License-Identifier: MIT */
#include "image_source.h"

#include <stdio.h>
#include <string.h>

#include "fetch_cache.h"
#include "file_store.h"
#include "log.h"
#include "trust.h"

#define CACHE_LOCK_WAIT_S 60

/* Read a file, or fetch a URL through the cache. */
static int get_bytes(const struct st7_source_opts *o, const char *where, uint64_t max,
                     struct st7_buf *out, struct st7_cache_got *got, bool *remote,
                     struct st7_diag *d)
{
	struct st7_diag sub = { "" };
	*remote = st7_url_is_remote(where);
	memset(got, 0, sizeof(*got));
	got->retry_after_s = -1;
	if (!*remote) {
		int ret = st7_file_read(where, (size_t)max, out, &sub);
		if (ret)
			return st7_diag_set(d, ret, "%s: %s", where, sub.msg);
		return ST7_OK;
	}
	if (!o->fetcher || !o->cache_dir)
		return st7_diag_set(d, ST7_ERR_INVALID, "%s: URLs are not accepted here", where);
	struct st7_cache c = { o->cache_dir, o->fetcher };
	return st7_cache_get(&c, where, max, o->conditional, out, got, d);
}

static int obtain_once(const struct st7_source_opts *o, const char *source,
                       const struct st7_keyring *keys, struct st7_buf *out,
                       struct st7_source_report *r, struct st7_diag *d)
{
	struct st7_buf sig;
	struct st7_cache_got img_got, sig_got;
	struct st7_cache c = { o->cache_dir, o->fetcher };
	uint8_t digest[ST7_SHA256_LEN];
	bool sig_remote = false;
	int ret = ST7_ERR_SIGNATURE;

	memset(r, 0, sizeof(*r));
	r->retry_after_s = -1;
	st7_buf_init(&sig);
	st7_buf_free(out); /* a second attempt starts from an empty buffer */
	ret = get_bytes(o, source, o->max_size, out, &img_got, &r->remote, d);
	r->retry_after_s = img_got.retry_after_s;
	r->not_modified = img_got.not_modified;
	r->resumed = img_got.resumed;
	r->restarted = img_got.restarted;
	r->resumed_from = img_got.resumed_from;
	if (ret)
		goto cleanup;
	if (st7_sha256(out->data, out->len, digest) != ST7_OK) {
		ret = st7_diag_set(d, ST7_ERR_INVALID, "%s: SHA-256 failed", source);
		goto cleanup;
	}
	st7_sha256_hex(digest, r->sha256);

	if (o->allow_unsigned) {
		st7_warn("%s: NOT checking the signature (--allow-unsigned)", source);
	} else {
		if (o->sig)
			snprintf(r->sig_location, sizeof(r->sig_location), "%s", o->sig);
		else
			snprintf(r->sig_location, sizeof(r->sig_location), "%s.sig", source);
		struct st7_diag sd = { "" };
		ret = get_bytes(o, r->sig_location, ST7_SIG_MAX, &sig, &sig_got, &sig_remote, &sd);
		if (ret == ST7_ERR_TOO_LARGE)
			ret = st7_diag_set(d, ST7_ERR_SIGNATURE,
			                   "%s: larger than any signature (%d bytes at most)",
			                   r->sig_location, ST7_SIG_MAX);
		else if (ret == ST7_ERR_IO && !sig_remote)
			ret = st7_diag_set(d, ST7_ERR_SIGNATURE,
			                   "no signature: %s (sign with 'st7dfu sign' or openssl "
			                   "dgst -sha256 -sign)",
			                   sd.msg);
		else if (ret == ST7_ERR_HTTP && sig_remote)
			ret = st7_diag_set(d, ST7_ERR_SIGNATURE, "no signature: %s", sd.msg);
		else if (ret)
			st7_diag_set(d, ret, "%s", sd.msg);
		if (ret) {
			if (r->retry_after_s < 0)
				r->retry_after_s = sig_got.retry_after_s;
			goto cleanup;
		}
		struct st7_diag vd = { "" };
		ret = st7_keyring_verify(keys, digest, sig.data, sig.len, r->signer,
		                         sizeof(r->signer), &vd);
		if (ret) {
			r->mismatch = true;
			ret = st7_diag_set(d, ST7_ERR_SIGNATURE, "%s: %s (signature %s)", source,
			                   vd.msg, r->sig_location);
			/* Never keep, resume or reuse what failed: the next try starts clean. */
			if (r->remote)
				st7_cache_discard(&c, source);
			if (sig_remote)
				st7_cache_discard(&c, r->sig_location);
			goto cleanup;
		}
		r->verified = true;
		if (o->sig_out && (ret = st7_buf_append(o->sig_out, sig.data, sig.len)) != ST7_OK)
			goto cleanup;
		st7_info("%s: good signature by %s", source, r->signer);
		if (sig_remote && (ret = st7_cache_commit(&c, r->sig_location, &sig_got, sig.data,
		                                          sig.len, d)) != ST7_OK)
			goto cleanup;
	}
	if (r->remote && r->verified) {
		ret = st7_cache_commit(&c, source, &img_got, out->data, out->len, d);
	} else {
		/* The cache keeps verified copies only: an unchecked download is not kept. */
		if (r->remote)
			st7_cache_discard(&c, source);
		ret = ST7_OK;
	}
cleanup:
	st7_buf_free(&sig);
	return ret;
}

int st7_source_obtain(const struct st7_source_opts *o, const char *source, struct st7_buf *out,
                      struct st7_source_report *r, struct st7_diag *d)
{
	struct st7_keyring keys;
	struct st7_cache c = { o->cache_dir, o->fetcher };
	int ret = ST7_OK, lock = -1;
	bool remote = st7_url_is_remote(source) || (o->sig && st7_url_is_remote(o->sig));
	memset(r, 0, sizeof(*r));
	r->retry_after_s = -1;
	st7_keyring_init(&keys);
	/* Keys first: with nothing to trust there is no point fetching anything. */
	if (!o->allow_unsigned)
		ret = st7_keyring_load_dir(&keys, o->keys_dir ? o->keys_dir : ST7_DEFAULT_KEYS_DIR,
		                           d);
	/* One run at a time in the cache, from the first byte fetched to the commit. */
	if (ret == ST7_OK && remote && o->cache_dir)
		ret = st7_cache_lock(&c, CACHE_LOCK_WAIT_S, &lock, d);
	if (ret == ST7_OK)
		ret = obtain_once(o, source, &keys, out, r, d);
	if (ret == ST7_ERR_SIGNATURE && r->mismatch && r->remote &&
	    (r->resumed || r->not_modified)) {
		/* What failed was pieced together from an earlier run, or came from the cache:
		 * both are gone now (discarded), so one clean download can still succeed. */
		st7_warn("%s; fetching it whole once more", d->msg);
		ret = obtain_once(o, source, &keys, out, r, d);
	}
	st7_cache_unlock(lock);
	st7_keyring_free(&keys);
	return ret;
}
