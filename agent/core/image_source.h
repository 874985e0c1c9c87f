/* SPDX-License-Identifier: MIT */
/*
 * Where an image comes from, and why it may be used: a local file or an https URL, with
 * its detached signature (SOURCE.sig unless named: st7_sig_name, trust.h), checked
 * against the run's trusted keys before anything else looks at the content. This runs
 * before any device is touched.
 *
 * The bytes handed back are the bytes that were verified: callers parse and flash that
 * buffer, never the file again (no window between check and use).
 */
#ifndef ST7_IMAGE_SOURCE_H
#define ST7_IMAGE_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "fetch.h"
#include "run.h"
#include "verify.h"

/* Settings only: the handles (store, fetcher, keys, abort flag, progress) are the run's. */
struct st7_source_opts {
	const char *keys_dir;  /* trusted keys (NULL: ST7_DEFAULT_KEYS_DIR) */
	const char *sig;       /* the signature's file or URL; NULL: SOURCE.sig */
	bool allow_unsigned;   /* skip the signature check (logged as a warning) */
	const char *cache_dir; /* downloads: STATE/cache */
	bool conditional;      /* send the cached copy's validators; a 304 reuses it */
	uint64_t max_size;     /* the image's size limit */
	/* The image's SHA-256 (64 lowercase hex) as a signed manifest pins it, or NULL. It
	 * replaces the detached signature (no .sig is fetched: the manifest's signature
	 * covers this hash), and a verified cached copy with this hash is used without asking
	 * the network: prefetched images, hotplug and recovery work offline. */
	const char *pinned_sha256;
	bool cache_only; /* with pinned_sha256: no network (a URL's cached copy, else
	                  * ST7_ERR_NOT_FOUND; a local file is read) */
};

struct st7_source_report {
	bool remote;
	bool not_modified; /* 304 for the image: the verified cached copy was used */
	bool resumed;      /* the image download continued a partial file */
	bool restarted;    /* a partial file existed but the whole image came again */
	uint64_t resumed_from;
	bool verified; /* a trusted key signed it, or it has the pinned SHA-256 */
	bool cached;   /* the pinned image came from the cache, without the network */
	bool mismatch; /* a signature was there, but not valid for this content */
	char signer[ST7_KEY_NAME_MAX + 32];
	char sha256[2 * ST7_SHA256_LEN + 1];
	int64_t retry_after_s; /* -1 unless a server asked */
	char sig_location[ST7_URL_MAX + 8];
};

/*
 * Fill `out` (the caller's: buf.h) with the image at `source` after checking its
 * signature against st7_run_keys(run, o->keys_dir); `sig_out` (NULL, or the caller's)
 * is filled with the verified signature. URLs need run->fetcher and o->cache_dir.
 * Errors: ST7_ERR_SIGNATURE (no keys, no signature, or no valid one), ST7_ERR_IO /
 * _TOO_LARGE for files, the fetch interface's errors for URLs, ST7_ERR_INVALID for a URL
 * where none is accepted. The diag names the file or URL.
 */
int st7_source_obtain(struct st7_run *run, const struct st7_source_opts *o, const char *source,
                      struct st7_buf *out, struct st7_buf *sig_out, struct st7_source_report *r,
                      struct st7_diag *d);

#endif
