/* SPDX-License-Identifier: MIT */
/*
 * The fleet manifest: what the vendor says each kind of ST7 peripheral should run. An
 * INI document (ini_doc.h) whose signature has already been checked by the caller: this
 * parser never sees unsigned bytes, but still treats them as hostile (a signing key can
 * sign a mistake). Pure: no I/O, no clock.
 *
 *   [manifest]
 *   serial  = 42                     ; 1..2^53: must grow; equal = unchanged
 *   issued  = 2026-11-26T00:00:00Z   ; when it was signed (UTC, RFC 3339 with 'Z')
 *   expires = 2026-12-31T00:00:00Z   ; after this it is stale (a freeze attack)
 *
 *   [release "reader-2.37"]          ; zero or more; NAME as st7_ini_section_split takes
 *   match      = 0483:ff03           ; runtime VID:PID (required)
 *   profile    = st72f65             ; ST7 part (optional: any)
 *   serial     = ST7-1*              ; serial glob, fnmatch(3) without flags (optional)
 *   version    = 0x0237              ; what the image makes the device report (required)
 *   from       = 0x0100-0x0236       ; versions it applies to, inclusive (optional: any);
 *                                    ; one version alone ("0x0236") is a range of one
 *   url        = reader-2.37.dfu     ; relative to the manifest's URL, or absolute (required)
 *   sha256     = 64 hex digits       ; of the image file (required)
 *   size       = 28688               ; of the image file, bytes, 1..1G (required)
 *   rollout    = 25                  ; percent 0..100 (default 100)
 *   not_before = 2026-11-26T00:00:00Z; (optional)
 *   paused     = no                  ; (default no)
 *   channel    = stable              ; [a-z0-9_-]{1,31} (optional: every channel)
 *   downgrade  = no                  ; yes: an explicitly allowed rollback release
 *
 * Refused with ST7_ERR_FORMAT and "NAME:LINE: ..." (naming the key): an unknown section
 * or key (with the nearest valid key suggested), a duplicate key or release name, a bad
 * value, a missing required key (the section's header line), no [manifest] section, a
 * second one, `expires` not after `issued`, `from` with low > high, a version that is
 * not a BCD version word, more than ST7_MANIFEST_MAX_RELEASES releases.
 *
 * Versions are bcdDevice words (st7_parse_bcd: "0x0237", "2.37").
 */
#ifndef ST7_MANIFEST_H
#define ST7_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define ST7_MANIFEST_MAX_RELEASES 256
#define ST7_MANIFEST_NAME_MAX 64  /* release names, with the NUL */
#define ST7_MANIFEST_URL_MAX 2048 /* with the NUL */
#define ST7_MANIFEST_GLOB_MAX 128
#define ST7_MANIFEST_CHANNEL_MAX 32
#define ST7_MANIFEST_PROFILE_MAX 16
#define ST7_MANIFEST_SERIAL_MAX 9007199254740992ull /* 2^53: exact in every JSON reader */

struct st7_release {
	char name[ST7_MANIFEST_NAME_MAX];
	uint16_t vid, pid;
	char profile[ST7_MANIFEST_PROFILE_MAX];  /* "" any; else a known st7_profile name */
	char serial_glob[ST7_MANIFEST_GLOB_MAX]; /* "" any */
	uint16_t version;
	bool has_from;
	uint16_t from_lo, from_hi;
	char url[ST7_MANIFEST_URL_MAX]; /* as written */
	uint8_t sha256[32];
	uint64_t size;
	unsigned rollout; /* 0..100 */
	bool has_not_before;
	int64_t not_before; /* seconds since the epoch, UTC */
	bool paused;
	char channel[ST7_MANIFEST_CHANNEL_MAX]; /* "" every channel */
	bool downgrade;
	unsigned line; /* of its section header, for messages */
};

struct st7_manifest {
	uint64_t serial;
	int64_t issued, expires;      /* seconds since the epoch, UTC */
	struct st7_release *releases; /* owned */
	size_t n_releases;
};

/* Zero; st7_manifest_free() is then always safe. */
void st7_manifest_init(struct st7_manifest *m);
void st7_manifest_free(struct st7_manifest *m);

/*
 * Parse `len` bytes (the verified content) into `m` (initialised by the caller; on an
 * error it is left empty, nothing half-filled; what it held before is freed either way).
 * `name` names it in messages.
 */
int st7_manifest_parse(const char *name, const uint8_t *data, size_t len, struct st7_manifest *m,
                       struct st7_diag *d);

/*
 * The image URL of a release: `url` when it is absolute (scheme://...), else resolved
 * against the manifest's own URL or path `base` (RFC 3986 section 5.2 for the cases a
 * static host needs: a relative path replaces the last segment of base; "/x" replaces
 * base's path; ".." segments are refused rather than resolved). ST7_ERR_INVALID when it
 * does not fit, ST7_ERR_FORMAT for a refused form (with a message).
 */
int st7_manifest_resolve_url(const char *base, const char *url, char *out, size_t cap,
                             struct st7_diag *d);

/* The keys of [manifest] (`release` false) or of a [release "NAME"] section, NULL-terminated:
 * the parser's own list, so that the manual page's table can be checked against it. */
const char *const *st7_manifest_key_names(bool release);

#endif
