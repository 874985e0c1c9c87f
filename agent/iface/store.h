/* SPDX-License-Identifier: MIT */
/*
 * The store interface: every file the agent keeps (backups, the download cache, the
 * journal of the coming daemon) goes through one table of operations, so that the
 * durability rules live in one backend and tests can stop a run after any write.
 *
 * Contract, for every op:
 * - Paths are plain file-system paths built by the caller (the state directory's layout is
 *   the caller's business, not the store's).
 * - Ops return ST7_OK or a negative st7_err with a message naming the path in `d` (may be
 *   NULL). ST7_ERR_NOT_FOUND is returned (and nothing else changes) when the path, or a
 *   directory on it, does not exist.
 * - "Durable" means: when the op returns ST7_OK, the change survives power loss (file data
 *   fsynced, and the directory that names it fsynced).
 * - Buffers are the caller's: initialised by the caller, filled (len reset to 0 first)
 *   by the store, freed by the caller, also after an error.
 * - A store is created by its backend's init function and released with st7_store_free()
 *   (safe on a zeroed struct).
 */
#ifndef ST7_STORE_H
#define ST7_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define ST7_STORE_NOFOLLOW 1u /* refuse a symbolic link as the last component */
#define ST7_STORE_PRIVATE 2u  /* refuse group/other-writable files and foreign owners */
#define ST7_STORE_NOREPLACE 4u /* write_atomic/rename: fail with ST7_ERR_EXISTS if present */

#define ST7_STORE_NAME_MAX 256

struct st7_store_entry {
	char name[ST7_STORE_NAME_MAX]; /* the last path component */
	bool regular;                  /* a regular file (not a link, not a directory) */
	bool dir;
	uint64_t size;
	int64_t mtime_s;
};

/* An open append stream (a partial download) and a held lock; the backend's business. */
struct st7_store_file;
struct st7_store_lock;

struct st7_store_ops {
	const char *name;
	/* Whole regular file of at most `max_len` bytes ("-" reads standard input) into
	 * `out`. ST7_ERR_TOO_LARGE without reading a larger file in full. */
	int (*read)(void *impl, const char *path, size_t max_len, unsigned flags,
	            struct st7_buf *out, struct st7_diag *d);
	/* Durable, atomic replace: `path` is either as it was or exactly `data`, with file
	 * mode `mode` (temporary file in the same directory, fsync, rename, directory
	 * fsync; the temporary is removed on failure). */
	int (*write_atomic)(void *impl, const char *path, const void *data, size_t len,
	                    unsigned mode, unsigned flags, struct st7_diag *d);
	/* What is at `path` (lstat: a link is neither regular nor dir). */
	int (*stat)(void *impl, const char *path, struct st7_store_entry *e, struct st7_diag *d);
	/* Every entry of `dir` but "." and "..", in no particular order. `each` returning
	 * non-zero stops the walk and list() returns that value. */
	int (*list)(void *impl, const char *dir,
	            int (*each)(void *arg, const struct st7_store_entry *e), void *arg,
	            struct st7_diag *d);
	/* Durable unlink of a file; a missing file is ST7_OK. */
	int (*remove)(void *impl, const char *path, struct st7_diag *d);
	/* Durable rename within one directory tree (both directories fsynced). */
	int (*rename)(void *impl, const char *from, const char *to, unsigned flags,
	              struct st7_diag *d);
	/* mkdir -p: parents 0755, the last component `mode`; each directory created is made
	 * durable. Existing directories are left as they are. */
	int (*mkdir_p)(void *impl, const char *dir, unsigned mode, struct st7_diag *d);
	/* Is `dir` a real directory (not a symlink) owned by root or us, not writable by
	 * group or others (owner_only: not accessible to them at all)? ST7_ERR_ACCESS if not. */
	int (*check_private)(void *impl, const char *dir, bool owner_only, struct st7_diag *d);
	/* Can `dir` take a new file of `need` bytes right now (writable, and that much free
	 * space)? ST7_ERR_ACCESS or ST7_ERR_IO with the reason. */
	int (*check_room)(void *impl, const char *dir, uint64_t need, struct st7_diag *d);
	/* The absolute, symlink-free form of an existing path (PATH_MAX bytes at most). */
	int (*canonical)(void *impl, const char *path, char *out, size_t size,
	                 struct st7_diag *d);
	/* Append stream for partial downloads: open (created 0600 if missing; emptied when
	 * `truncate`), *size gets its current size; append; close (fsync first when `sync`;
	 * close is always done, even on error). */
	int (*append_open)(void *impl, const char *path, bool truncate, uint64_t *size,
	                   struct st7_store_file **f, struct st7_diag *d);
	int (*append)(void *impl, struct st7_store_file *f, const void *p, size_t n,
	              struct st7_diag *d);
	int (*append_close)(void *impl, struct st7_store_file *f, bool sync, struct st7_diag *d);
	/* Exclusive advisory lock on the file `path` (created 0600), waiting up to
	 * `wait_s` seconds: ST7_ERR_BUSY when someone else holds it. Released by unlock()
	 * or by the death of the process. */
	int (*lock)(void *impl, const char *path, unsigned wait_s, struct st7_store_lock **l,
	            struct st7_diag *d);
	void (*unlock)(void *impl, struct st7_store_lock *l);
	/* Releases `impl`; called once by st7_store_free(). */
	void (*destroy)(void *impl);
};

struct st7_store {
	const struct st7_store_ops *ops;
	void *impl;
};

void st7_store_free(struct st7_store *s);

/* The POSIX backend (agent/backend/store_posix.c). */
int st7_store_posix_init(struct st7_store *s, struct st7_diag *d);

#endif
