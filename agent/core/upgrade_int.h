/* SPDX-License-Identifier: MIT */
/*
 * What the files of the upgrade decisions share (core/ only; not an API):
 *   upgrade.c   the checks before anything is erased, and the one flow of an update
 *               (upgrade, download) for every device kind;
 *   rollback.c  flashing with its post-check, and putting firmware back (rollback,
 *               rescue of a failed update, sending an untouched device back);
 *   reads.c     reading the device: proven reads, backups of what it holds, read-backs,
 *               upload to a file;
 *   backups.c   the backup store on disk, over the store interface.
 */
#ifndef ST7_UPGRADE_INT_H
#define ST7_UPGRADE_INT_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "run.h"
#include "store.h"
#include "upgrade.h"

/* A generic DFU device does not say how large its memory is; uploads stop here. */
#define UPG_GENERIC_UPLOAD_MAX ((size_t)16 << 20)

/* ---- upgrade.c --------------------------------------------------------------------- */

/* Record the outcome and its message (msg may be r->error itself, or NULL: kept). */
enum st7_upgrade_outcome upg_set(struct st7_upgrade_report *r, enum st7_upgrade_outcome o,
                                 const char *msg);
/* Add to r->error; a message that no longer fits keeps its beginning and ends with
 * "...": a cut is never silent. */
void upg_error_append(struct st7_upgrade_report *r, const char *fmt, ...)
        __attribute__((format(printf, 2, 3)));
/* The ST7 part: forced, or the one the descriptors and the image size allow (0: none
 * given, the largest candidate). NULL for a device that is no ST7 part we know. */
const struct st7_profile *upg_pick_profile(const struct st7_engine *e,
                                           const struct st7_upgrade_opts *o, size_t image_len);

/* Who the device is when its application runs. */
struct upg_identity {
	bool running;   /* its application runs now (runtime mode) */
	bool ids_known; /* vid/pid are its application's USB IDs */
	uint16_t vid, pid;
	bool has_version; /* version is a real one (never 0xFFFF) */
	uint16_t version;
	const char *source; /* where the identity comes from, for messages */
};

/* The checks that refuse before anything is erased (upgrade.c says what each holds). */
int upg_check_part(const struct st7_engine *e, const struct st7_dfu_file *img,
                   const struct st7_profile *p, bool own_backup, struct st7_diag *d);
int upg_check_ids(const struct st7_engine *e, const struct st7_dfu_suffix *s,
                  const struct upg_identity *id, bool allow_wildcard, bool *loader_pid,
                  struct st7_diag *d);
int upg_check_loader_pid(const struct st7_engine *e, const struct st7_dfu_suffix *s,
                         uint16_t app_pid, struct st7_diag *d);

/* The version to find running again for an untouched device, or -1: any. */
static inline int upg_old_version(const struct upg_identity *id)
{
	return id->running && id->has_version ? id->version : -1;
}

/* ---- rollback.c -------------------------------------------------------------------- */

/*
 * Download `f` (plain or DfuSe) as it is, manifest, come back in runtime mode, and (expect
 * >= 0) post-check that the device reports bcdDevice `expect`. A device that lost power
 * while it manifested and came back a loader gets the download once more. *touched: a
 * DFU_DNLOAD went out to the device (before that, nothing can have been erased).
 */
int upg_flash(struct st7_engine *e, const struct st7_dfu_file *f, int expect, bool *touched,
              struct st7_diag *d);
/* Put a backup or a checked image (`label`), already in memory, back (enter_dfu is the
 * caller's) and post-check its version. */
int upg_restore(struct st7_engine *e, const struct st7_dfu_file *f, const char *label,
                bool *touched, struct st7_upgrade_report *r, struct st7_diag *d);
/* Before saying the device is left in DFU mode: if it still holds a valid application,
 * it runs it again; reporting `old` (-1: any) it counts as untouched. */
enum st7_upgrade_outcome upg_leave_or_stay(struct st7_engine *e, int old,
                                           struct st7_upgrade_report *r);
/* Nothing is erased: give the device its application back, then report `why`. */
enum st7_upgrade_outcome upg_send_back(struct st7_engine *e, bool was_running, int ret,
                                       const char *why, struct st7_upgrade_report *r);
/* After a failed update (r->error says why): put `f` back; a failed rescue is appended. */
enum st7_upgrade_outcome upg_rescue(struct st7_engine *e, const struct st7_dfu_file *f,
                                    const char *label, int old, struct st7_upgrade_report *r);

/* ---- reads.c ----------------------------------------------------------------------- */

/*
 * A backup of what the device holds (in DFU mode), proven by two reads that agree, as a
 * .dfu carrying `bid`'s IDs and version: the ST7 region or a generic device's memory (at
 * least `img`'s payload), or for DfuSe every page `img` will erase.
 */
int upg_read_backup(struct st7_engine *e, const struct st7_profile *p,
                    const struct st7_dfu_file *img, const struct upg_identity *bid,
                    struct st7_buf *out, struct st7_diag *d);
/* Read `img` back from the device, compare (*differs), and return it to runtime mode.
 * After a passed post-check a difference says the upload path lies. */
int upg_read_back(struct st7_engine *e, const struct st7_profile *p, const struct st7_dfu_file *img,
                  bool *differs, struct st7_diag *d);

/* ---- backups.c --------------------------------------------------------------------- */

/* STATE/backups/VID-PID-SERIAL for known runtime IDs, or (ids NULL) the existing
 * directory of this serial and vendor. 0, -1 when there is none, -2 when several
 * products of the vendor share the serial. */
int upg_backup_dir(struct st7_run *run, const struct st7_engine *e,
                   const struct st7_upgrade_opts *o, const uint16_t *ids, char *out, size_t cap);
/* The newest backup of this device, read once into `bytes`/`f` (f borrows bytes), its path
 * into `path`. ST7_ERR_IO when there is none, ST7_ERR_AMBIGUOUS for several products. */
int upg_stored_backup(struct st7_run *run, const struct st7_engine *e,
                      const struct st7_upgrade_opts *o, const uint16_t *ids, char *path, size_t cap,
                      struct st7_buf *bytes, struct st7_dfu_file *f, struct st7_diag *d);
/* The backup directory of runtime IDs vid:pid made ready (private, writable, `need` bytes
 * free) before the device is touched; its path into `dir`. */
int upg_backup_store_prepare(struct st7_run *run, const struct st7_engine *e,
                             const struct st7_upgrade_opts *o, uint16_t vid, uint16_t pid,
                             size_t need, char *dir, size_t cap, struct st7_diag *d);
/*
 * Store `data` as DIR/VERSION.dfu (never over other bytes; then another name); its path
 * into out. `unchecked`: a read-back is to check it, so it is listed in the directory's
 * .readback-pending before it is written, and the older backups stay until it is proven
 * (upg_backup_prune then); otherwise they are pruned at once.
 */
int upg_store_backup(struct st7_run *run, const struct st7_engine *e,
                     const struct st7_upgrade_opts *o, const char *dir, uint16_t version,
                     const struct st7_buf *data, bool unchecked, char *out, size_t cap,
                     struct st7_diag *d);
/* Keep the newest o->keep_backups backups of `dir`, and `protect`. */
void upg_backup_prune(struct st7_run *run, const struct st7_upgrade_opts *o, const char *dir,
                      const char *protect);

/* The backups of a directory that no read-back has checked yet (DIR/.readback-pending). */
#define UPG_PENDING_MAX 16
struct upg_pending {
	size_t n;
	/* Every backup of the directory counts as unchecked: the marker exists but cannot be
	 * read (fails closed), holds more names than fit, or says "*". */
	bool all;
	char name[UPG_PENDING_MAX][NAME_MAX + 1];
};
/* Is any backup of the directory waiting for its read-back? */
static inline bool upg_pending_any(const struct upg_pending *pl)
{
	return pl->n || pl->all;
}
void upg_pending_read(struct st7_run *run, const char *dir, struct upg_pending *pl);
bool upg_pending_has(const struct upg_pending *pl, const char *path);
int upg_pending_add(struct st7_run *run, const char *dir, const char *backup, struct st7_diag *d);
void upg_pending_clear(struct st7_run *run, const char *dir);
/* Every pending backup set aside as unproven (`own`, this run's, renamed in place), the
 * list cleared; how many. */
size_t upg_pending_set_aside(struct st7_run *run, const struct st7_engine *e, const char *dir,
                             char *own, size_t cap);

#endif
