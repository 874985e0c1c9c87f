/* SPDX-License-Identifier: MIT */
/*
 * POSIX file access for the store: bounded whole-file reads and atomic writes.
 *
 * st7_file_read: reads a regular file (or "-" for standard input) of at most
 * `max_len` bytes into `out` (which it initialises; free with st7_buf_free even on
 * error). Larger files fail with ST7_ERR_TOO_LARGE without being read in full.
 *
 * st7_file_write_atomic: the file at `path` is either left as it was or replaced by
 * exactly `data`: write to a temporary file in the same directory, fsync it, rename
 * it over `path`, then fsync the directory so the rename itself survives power loss.
 * The temporary file is removed on any failure.
 */
#ifndef ST7_FILE_STORE_H
#define ST7_FILE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "err.h"

int st7_file_read(const char *path, size_t max_len, struct st7_buf *out, struct st7_diag *d);

/* st7_file_read with checks for files in the state and key directories: */
#define ST7_FILE_NOFOLLOW 1u /* refuse a symbolic link */
#define ST7_FILE_PRIVATE 2u  /* refuse group/other-writable files and other owners than root/us */
int st7_file_read_ex(const char *path, size_t max_len, unsigned flags, struct st7_buf *out,
                     struct st7_diag *d);

/*
 * Is `dir` a real directory (not a symlink) owned by root or us, and not writable by
 * group or others (or, with owner_only, not accessible to them at all)?
 */
int st7_dir_check_private(const char *dir, bool owner_only, struct st7_diag *d);

int st7_file_write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                          struct st7_diag *d);

/* mkdir -p: parents 0755, the last component `mode`. Every directory it creates is
 * made durable (its parent fsynced) before it returns. 0, or -1 with errno. */
int st7_mkdir_p(const char *path, mode_t mode);

/* fsync a directory, so renames and unlinks in it survive power loss. 0 or -1. */
int st7_fsync_dir(const char *dir);

#endif
