/* SPDX-License-Identifier: MIT */
/*
 * Getting the fleet manifest and deciding whether it may be believed, before a byte of
 * it is parsed. In this order:
 *  1. The bytes: `url` is https:// (http:// only with allow_http) through the run's
 *     fetcher and the verified cache (STATE/cache, conditional: an unchanged manifest
 *     costs one 304), or a local path / file:// URL (a USB stick: same rules). Capped at
 *     `max_size` while it arrives (ST7_ERR_TOO_LARGE: endless data is cut early).
 *  2. Its detached signature URL.sig (capped at 4 KiB), checked against the run's
 *     trusted keys (st7_run_keys(keys_dir)) over the exact bytes. No valid signature =
 *     ST7_ERR_SIGNATURE, and nothing is parsed or cached.
 *  3. Parsed (manifest.h): ST7_ERR_FORMAT.
 *  4. Believed, against STATE/manifest.state (the last accepted manifest of this URL:
 *     serial, issued, SHA-256) and the time `now` the cycle started; each refusal is
 *     ST7_ERR_REFUSED with a message that says which attack it looks like:
 *     - now before the build date (`build_time`) or before the last accepted `issued`:
 *       the clock is unset or wrong, nothing can be decided;
 *     - serial lower than the last accepted: a replayed old manifest (rollback attack);
 *     - serial equal but other bytes: two different manifests with one serial;
 *     - now at or after `expires`: stale (a freeze attack);
 *     - now before `issued` (more than 5 minutes of clock skew): the clock is wrong.
 *  5. With `record`, a newer serial is written to STATE/manifest.state (atomically,
 *     through the store) and the verified copy is committed to the cache. `plan` records
 *     too: it changes nothing on any device, but once a signed manifest has been seen an
 *     older one must never be believed again.
 * The verified bytes are those parsed (no second read).
 */
#ifndef ST7_MANIFEST_SOURCE_H
#define ST7_MANIFEST_SOURCE_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "manifest.h"
#include "run.h"
#include "verify.h"

#define ST7_MANIFEST_DEFAULT_MAX (64u * 1024u)
#define ST7_MANIFEST_SIG_MAX 4096u
#define ST7_MANIFEST_SKEW_S 300 /* how far before `issued` the clock may be */

struct st7_manifest_opts {
	const char *url;       /* https://..., file://..., or a path */
	uint64_t max_size;     /* bytes; 0: ST7_MANIFEST_DEFAULT_MAX */
	const char *keys_dir;  /* NULL: ST7_DEFAULT_KEYS_DIR */
	const char *state_dir; /* manifest.state and cache/ live here */
	int64_t now;           /* wall clock when the cycle started, seconds since the epoch */
	int64_t build_time;    /* this build's date: a clock before it is unset */
	bool record;           /* remember a newer serial (and cache the copy) */
};

struct st7_manifest_report {
	bool remote;       /* fetched, not read from a file */
	bool not_modified; /* 304: the cached, verified copy was used */
	bool unchanged;    /* serial equal to the last accepted (same bytes) */
	bool had_last;     /* a manifest of this URL was accepted before */
	uint64_t last_serial;
	int64_t last_issued;
	char signer[ST7_KEY_NAME_MAX + 32]; /* the key file that signed it */
	char sha256[2 * ST7_SHA256_LEN + 1];
	int64_t retry_after_s; /* -1 unless a server asked */
};

/*
 * Obtain, verify and believe the manifest (above) into `m` (the caller's, initialised).
 * Errors: the fetch interface's (network, TLS, HTTP, retry later, worker), ST7_ERR_IO /
 * _NOT_FOUND / _TOO_LARGE, ST7_ERR_SIGNATURE, ST7_ERR_FORMAT, ST7_ERR_REFUSED; the diag
 * names the URL or file. `rep` is filled as far as it got.
 */
int st7_manifest_obtain(struct st7_run *run, const struct st7_manifest_opts *o,
                        struct st7_manifest *m, struct st7_manifest_report *rep,
                        struct st7_diag *d);

/*
 * Is `data` the image release `r` names? Checked before the image is used, in this
 * order: its size is r->size (the caller fetches with r->size as the cap, so endless
 * data is cut there), its SHA-256 is r->sha256 (ST7_ERR_SIGNATURE: another image, even a
 * validly signed one of another release, is mix-and-match), it is a .dfu file whose
 * suffix idVendor/idProduct are the release's match (no 0xFFFF wildcard) and whose
 * bcdDevice is r->version, and, for an ST7 image (a plain payload exactly a part's
 * writable region, or r->profile set), its version word is r->version too
 * (ST7_ERR_FORMAT for these: the manifest and its image disagree).
 */
int st7_release_image_check(const struct st7_release *r, const uint8_t *data, size_t len,
                            struct st7_diag *d);

/*
 * The attempts history the decision reads: STATE/attempts.ini, one
 * `[attempt "SERIAL/RELEASE"]` section per (device, release) with keys `sha256` and
 * `failures` (the journal of the next issue keeps it). A missing file is an empty
 * history; an unreadable or malformed one is an error (ST7_ERR_FORMAT naming the line):
 * forgetting failures could let a bad release wear a device's flash out. `*out` is
 * malloc'd (free()).
 */
struct st7_plan_attempts;
int st7_attempts_load(struct st7_store *store, const char *state_dir,
                      struct st7_plan_attempts **out, size_t *n, struct st7_diag *d);

#endif
