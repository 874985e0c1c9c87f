/* SPDX-License-Identifier: MIT */
/*
 * The store interface: every file the agent keeps or reads (backups, the download cache,
 * keys, images, the journal of the coming daemon) goes through one table of operations,
 * so that the durability rules live in one backend and tests can stop a run after any
 * write. Only agent/backend/ does raw file I/O.
 *
 * Contract, for every op:
 * - Paths are plain file-system paths built by the caller (the state directory's layout is
 *   the caller's business, not the store's).
 * - Ops return ST7_OK or a negative st7_err with a message naming the path in `d` (may be
 *   NULL). ST7_ERR_NOT_FOUND is returned (and nothing else changes) when the path, or a
 *   directory on it, does not exist.
 * - "Durable" means: when the op returns ST7_OK, the change survives power loss (file data
 *   fsynced, and the directory that names it fsynced).
 * - Buffers are the caller's (buf.h): initialised by the caller, filled (len reset to 0
 *   first, its limit left as it was) by the store, freed by the caller, also after an
 *   error.
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

/* Flags. NOFOLLOW: refuse a symbolic link as the last component. PRIVATE: read refuses
 * files writable by group or others or owned by another user than root or us (mkdir_p:
 * see there). NOREPLACE: write_atomic and rename fail with ST7_ERR_EXISTS when the
 * target exists (files only: a hard link, then the unlink of the old name). */
#define ST7_STORE_NOFOLLOW 1u
#define ST7_STORE_PRIVATE 2u
#define ST7_STORE_NOREPLACE 4u

#define ST7_STORE_NAME_MAX 256

struct st7_store_entry {
	char name[ST7_STORE_NAME_MAX]; /* the last path component */
	bool regular;                  /* a regular file (not a link, not a directory) */
	bool dir;
	unsigned perm; /* permission bits (0777 mask) */
	bool not_ours; /* owned by another user than this process's (effective) one */
	uint64_t size;
	int64_t mtime_s;  /* modification time, seconds since the epoch ... */
	int32_t mtime_ns; /* ... and nanoseconds: "newest" is decided to the nanosecond */
};

/* Is `a` modified later than `b`? */
static inline bool st7_store_newer(const struct st7_store_entry *a, const struct st7_store_entry *b)
{
	return a->mtime_s != b->mtime_s ? a->mtime_s > b->mtime_s : a->mtime_ns > b->mtime_ns;
}

/* An open append stream (a partial download) and a held lock; the backend's business. */
struct st7_store_file;
struct st7_store_lock;

struct st7_store_ops {
	const char *name;
	/* Whole regular file of at most `max_len` bytes ("-" reads standard input) into
	 * `out`. ST7_ERR_TOO_LARGE without reading a larger file in full. */
	int (*read)(void *impl, const char *path, size_t max_len, unsigned flags,
	            struct st7_buf *out, struct st7_diag *d);
	/* A whole regular file of any size, in chunks handed to `each` (constant memory;
	 * for hashing). `each` returning non-zero stops the read and is returned. */
	int (*read_each)(void *impl, const char *path, unsigned flags,
	                 int (*each)(void *arg, const uint8_t *p, size_t n), void *arg,
	                 struct st7_diag *d);
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
	 * durable. Existing directories are left as they are, except with ST7_STORE_PRIVATE:
	 * the last component must then be a real directory (not a link) owned by root or us,
	 * is made 0700 when it is ours and more open, and must pass check_private(owner_only)
	 * (ST7_ERR_ACCESS otherwise). */
	int (*mkdir_p)(void *impl, const char *dir, unsigned mode, unsigned flags,
	               struct st7_diag *d);
	/* Is `dir` a real directory (not a symlink) owned by root or us, not writable by
	 * group or others (owner_only: not accessible to them at all)? ST7_ERR_ACCESS if not. */
	int (*check_private)(void *impl, const char *dir, bool owner_only, struct st7_diag *d);
	/* Can `dir` take a new file of `need` bytes right now (writable, and that much free
	 * space)? ST7_ERR_ACCESS or ST7_ERR_IO with the reason. */
	int (*check_room)(void *impl, const char *dir, uint64_t need, struct st7_diag *d);
	/* The absolute, symlink-free form of an existing path (PATH_MAX bytes at most). */
	int (*canonical)(void *impl, const char *path, char *out, size_t size, struct st7_diag *d);
	/* Set a file's modification time to now (an LRU mark; not made durable). */
	int (*touch)(void *impl, const char *path, struct st7_diag *d);
	/* Append stream for partial downloads: open (created 0600 if missing; emptied when
	 * `truncate`; a link as the last component is refused, and it must be a regular
	 * file), *size gets its current size; append; close (fsync first when `sync`; close
	 * is always done, even on error). */
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

/* The ops, called through the store (what every caller writes). */
static inline int st7_store_read(struct st7_store *s, const char *path, size_t max_len,
                                 unsigned flags, struct st7_buf *out, struct st7_diag *d)
{
	return s->ops->read(s->impl, path, max_len, flags, out, d);
}
static inline int st7_store_read_each(struct st7_store *s, const char *path, unsigned flags,
                                      int (*each)(void *arg, const uint8_t *p, size_t n), void *arg,
                                      struct st7_diag *d)
{
	return s->ops->read_each(s->impl, path, flags, each, arg, d);
}
static inline int st7_store_write_atomic(struct st7_store *s, const char *path, const void *data,
                                         size_t len, unsigned mode, unsigned flags,
                                         struct st7_diag *d)
{
	return s->ops->write_atomic(s->impl, path, data, len, mode, flags, d);
}
static inline int st7_store_stat(struct st7_store *s, const char *path, struct st7_store_entry *e,
                                 struct st7_diag *d)
{
	return s->ops->stat(s->impl, path, e, d);
}
static inline int st7_store_list(struct st7_store *s, const char *dir,
                                 int (*each)(void *arg, const struct st7_store_entry *e), void *arg,
                                 struct st7_diag *d)
{
	return s->ops->list(s->impl, dir, each, arg, d);
}
static inline int st7_store_remove(struct st7_store *s, const char *path, struct st7_diag *d)
{
	return s->ops->remove(s->impl, path, d);
}
static inline int st7_store_rename(struct st7_store *s, const char *from, const char *to,
                                   unsigned flags, struct st7_diag *d)
{
	return s->ops->rename(s->impl, from, to, flags, d);
}
static inline int st7_store_mkdir_p(struct st7_store *s, const char *dir, unsigned mode,
                                    unsigned flags, struct st7_diag *d)
{
	return s->ops->mkdir_p(s->impl, dir, mode, flags, d);
}
static inline int st7_store_check_private(struct st7_store *s, const char *dir, bool owner_only,
                                          struct st7_diag *d)
{
	return s->ops->check_private(s->impl, dir, owner_only, d);
}
static inline int st7_store_check_room(struct st7_store *s, const char *dir, uint64_t need,
                                       struct st7_diag *d)
{
	return s->ops->check_room(s->impl, dir, need, d);
}
static inline int st7_store_canonical(struct st7_store *s, const char *path, char *out, size_t size,
                                      struct st7_diag *d)
{
	return s->ops->canonical(s->impl, path, out, size, d);
}
static inline int st7_store_touch(struct st7_store *s, const char *path, struct st7_diag *d)
{
	return s->ops->touch(s->impl, path, d);
}
static inline int st7_store_append_open(struct st7_store *s, const char *path, bool truncate,
                                        uint64_t *size, struct st7_store_file **f,
                                        struct st7_diag *d)
{
	return s->ops->append_open(s->impl, path, truncate, size, f, d);
}
static inline int st7_store_append(struct st7_store *s, struct st7_store_file *f, const void *p,
                                   size_t n, struct st7_diag *d)
{
	return s->ops->append(s->impl, f, p, n, d);
}
static inline int st7_store_append_close(struct st7_store *s, struct st7_store_file *f, bool sync,
                                         struct st7_diag *d)
{
	return s->ops->append_close(s->impl, f, sync, d);
}
static inline int st7_store_lock(struct st7_store *s, const char *path, unsigned wait_s,
                                 struct st7_store_lock **l, struct st7_diag *d)
{
	return s->ops->lock(s->impl, path, wait_s, l, d);
}
static inline void st7_store_unlock(struct st7_store *s, struct st7_store_lock *l)
{
	if (l)
		s->ops->unlock(s->impl, l);
}

/* Path helpers for callers (no I/O): "DIR/NAME" into out, and the directory part of a
 * path ("." when none). ST7_ERR_INVALID when it does not fit. */
int st7_store_join(char *out, size_t size, const char *dir, const char *name);
int st7_store_dirname(char *out, size_t size, const char *path);
/* The last component of a path. */
const char *st7_store_basename(const char *path);

/* The POSIX backend (agent/backend/store_posix.c). */
int st7_store_posix_init(struct st7_store *s, struct st7_diag *d);

#endif
