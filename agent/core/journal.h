/* SPDX-License-Identifier: MIT */
/*
 * The agent's per-device journal: one record (formats/journal_rec.h) per device, rewritten
 * durably at every phase change of an update attempt, so that after a power loss or a
 * kill -9 the next start knows what was going on and can recover the device.
 *
 * Layout: STATE/journal/KEY.rec, KEY = st7_journal_key(vid, pid, serial) (journal_rec.h;
 * the record's `device` field). STATE/journal is private (made 0700 by
 * st7_store_mkdir_p(ST7_STORE_PRIVATE) on write; a more open one is refused on read);
 * records are 0600, written with st7_store_write_atomic (temporary file, fsync, rename,
 * directory fsync): a record on disk is the old one or the new one, whole.
 *
 * Nothing read back is trusted unchecked. A record that does not decode (torn, flipped
 * bytes, another version, a key that is not its file's name, a symbolic link, a file
 * writable by group or others, larger than ST7_JOURNAL_REC_MAX) is set aside: renamed
 * to KEY.rec.bad-N, N the first free of 1..999 (never replacing one), and reported.
 * Set-aside files are kept for people to look at; nothing here reads or removes them.
 * Leftover temporaries of write_atomic (KEY.rec.tmp.XXXXXX, after a kill -9 mid-write)
 * are not records and are ignored.
 *
 * All I/O goes through the store (iface/store.h). Not safe against a concurrent writer
 * of the same state directory: the caller holds the agent's lock.
 */
#ifndef ST7_JOURNAL_H
#define ST7_JOURNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "err.h"
#include "journal_rec.h"
#include "store.h"

#define ST7_STATE_JOURNAL "journal" /* STATE/journal */
#define ST7_JOURNAL_BAD_MAX 999     /* KEY.rec.bad-1 .. KEY.rec.bad-999 */

/*
 * Write `r` as STATE/journal/DEVICE.rec (DEVICE = r->device), durably, creating
 * STATE/journal (0700) when needed. Sets no field itself (attempt, updated_s: the
 * caller's). ST7_ERR_INVALID when st7_journal_rec_check() refuses `r` (with its reason),
 * the store's errors (naming the path) otherwise. On failure the previous record, if
 * any, is still there whole.
 */
int st7_journal_write(struct st7_store *s, const char *state_dir, const struct st7_journal_rec *r,
                      struct st7_diag *d);

/*
 * Read the record of `key` (a name st7_journal_key() makes; anything else, e.g. with a
 * '/', is ST7_ERR_INVALID) into `*r`. ST7_ERR_NOT_FOUND when there is none (nor a
 * journal directory). A record that cannot be trusted (above) is set aside and
 * ST7_ERR_FORMAT is returned (ST7_ERR_CRC is reported as ST7_ERR_FORMAT too), the diag
 * naming the file, the reason and the new name ("... set aside as KEY.rec.bad-2"), or
 * why it could not be set aside. Other errors (ST7_ERR_IO reading, ST7_ERR_ACCESS: a
 * journal directory open to others) leave the file where it is. `*r` is zeroed on any
 * error.
 */
int st7_journal_read(struct st7_store *s, const char *state_dir, const char *key,
                     struct st7_journal_rec *r, struct st7_diag *d);

/*
 * Call `each` for every trusted record in STATE/journal/ (*.rec, in no particular
 * order); a missing directory is an empty journal. Untrusted records are set aside as
 * above, logged with st7_warn, counted in `*bad` (may be NULL; set to the count, 0 when
 * none) and never passed to `each`. Also counted and logged, but left where they are: a
 * directory named *.rec, and a record that cannot be read for another reason than those
 * above (ST7_ERR_IO, e.g. owned by another user): one device's unreadable record does not
 * stop the recovery of the others. `each` returning non-zero stops the walk, and that
 * value is returned. Errors: the store's listing (ST7_ERR_IO, ST7_ERR_ACCESS: a
 * directory open to others), ST7_ERR_NOMEM.
 */
int st7_journal_list(struct st7_store *s, const char *state_dir,
                     int (*each)(void *arg, const struct st7_journal_rec *r), void *arg,
                     unsigned *bad, struct st7_diag *d);

/* The same, changing nothing: an untrusted record is counted and logged, left in place
 * (for `status`, which runs without the agent's lock). */
int st7_journal_list_readonly(struct st7_store *s, const char *state_dir,
                              int (*each)(void *arg, const struct st7_journal_rec *r), void *arg,
                              unsigned *bad, struct st7_diag *d);

/* How many set-aside records (*.rec.bad-N) STATE/journal holds; 0 when none or when it
 * cannot be listed. For a status report. */
unsigned st7_journal_bad_count(struct st7_store *s, const char *state_dir);

#endif
