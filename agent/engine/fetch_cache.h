/* SPDX-License-Identifier: MIT */
/*
 * The download cache (STATE/cache): what makes fetching resumable, conditional and
 * safe against power loss. For each URL, named by a hash of it:
 *   KEY.part + KEY.part.meta   a download in progress and the validators it came with;
 *   KEY + KEY.meta             the last copy that passed verification, with its ETag,
 *                              Last-Modified, size and SHA-256.
 * The directory must be private (ours or root's, mode 0700): it is refused otherwise.
 * Nothing fetched is usable until the caller has verified it and called commit: only
 * then does the partial file become KEY (an atomic rename). A verified copy is checked
 * against its recorded SHA-256 again whenever it is read back, and callers verify its
 * signature again before use: the disk is not trusted either.
 *
 * Resume: a GET that breaks off leaves KEY.part; the next get() asks for the rest with
 * Range and If-Range, appends a 206 for exactly that offset, starts over on a 200 (a
 * server that ignores Range), and drops the partial file on a 416 or a 206 for another
 * offset. Conditional: with `conditional`, a verified copy's ETag and Last-Modified are
 * sent, and a 304 hands back that copy.
 */
#ifndef ST7_FETCH_CACHE_H
#define ST7_FETCH_CACHE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "fetch.h"
#include "store.h"

#define ST7_CACHE_KEEP 8 /* cache entries (URLs) kept; the least recently used go first */

/* A cache: where it is, and the handles it works with (all borrowed). */
struct st7_cache {
	const char *dir; /* created (0700) when missing */
	struct st7_store *store;
	struct st7_fetcher *fetcher;
	const volatile sig_atomic_t *abort_flag; /* handed to every GET */
	st7_fetch_progress_fn progress;          /* likewise; may be NULL */
	void *progress_arg;
};

struct st7_cache_got {
	bool not_modified; /* a 304: `out` is the verified copy */
	bool resumed;      /* a partial file was continued from `resumed_from` */
	bool restarted;    /* there was a partial file, but the whole file came again */
	uint64_t resumed_from;
	long status;                /* the last HTTP status */
	int64_t retry_after_s;      /* -1 unless the server said */
	struct st7_cache_meta meta; /* what the server said about the content */
};

/*
 * Fetch `url` (at most `max` bytes) and fill `out` (the caller's: buf.h) with it. On
 * ST7_OK the content is not yet trusted: verify it, then st7_cache_commit() or
 * st7_cache_discard(). Errors are the fetch interface's, or ST7_ERR_IO (_TOO_LARGE) for
 * the cache's own files; a broken-off download keeps its partial file for next time.
 */
int st7_cache_get(const struct st7_cache *c, const char *url, uint64_t max, bool conditional,
                  struct st7_buf *out, struct st7_cache_got *got, struct st7_diag *d);

/* The content of a get() was verified: make it the cached copy. */
int st7_cache_commit(const struct st7_cache *c, const char *url, const struct st7_cache_got *got,
                     const uint8_t *data, size_t len, struct st7_diag *d);

/*
 * The verified copy of `url`, without the network, when it is still exactly what was
 * verified (its recorded size and SHA-256) and that SHA-256 is `sha256_hex` (lowercase;
 * NULL: any): what a signed manifest pins needs no revalidation. Fills `out`;
 * ST7_ERR_NOT_FOUND when there is no such copy (none, another content, damaged).
 */
int st7_cache_peek(const struct st7_cache *c, const char *url, uint64_t max, const char *sha256_hex,
                   struct st7_buf *out, struct st7_diag *d);

/* The content of a get() failed verification: forget it (partial and cached copy). */
void st7_cache_discard(const struct st7_cache *c, const char *url);

/*
 * One st7dfu at a time in a cache: take the lock (STATE/cache/.lock, the store's lock,
 * released when the process dies) before get() and keep it through commit/discard.
 * Waits up to wait_s seconds for another run, then fails with ST7_ERR_BUSY. *l is NULL
 * unless it succeeded; unlock(NULL) does nothing.
 */
int st7_cache_lock(const struct st7_cache *c, unsigned wait_s, struct st7_store_lock **l,
                   struct st7_diag *d);
void st7_cache_unlock(const struct st7_cache *c, struct st7_store_lock *l);

#endif
