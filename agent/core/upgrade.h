/* SPDX-License-Identifier: MIT */
/*
 * One firmware update of one device, and its rollback: the agent logic above the
 * engine. Check the image against the device, back up the installed firmware
 * (durably, before anything is erased), download, manifest, post-check, and on any
 * failure after the backup put the old firmware back. It never pretends: every
 * outcome names the state the device is left in.
 *
 * Backups: STATE_DIR/backups/VID-PID-SERIAL/VERSION.dfu (runtime IDs, lowercase hex;
 * VERSION is bcdDevice as 4 hex digits), each a valid .dfu whose suffix carries the
 * device's IDs and the version it held; the newest `keep_backups` are kept.
 */
#ifndef ST7_UPGRADE_H
#define ST7_UPGRADE_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "dfu_engine.h"
#include "dfu_file.h"
#include "run.h"
#include "st7_profile.h"

/* Settings only: the handles (store, transport, clock, abort flag) are the run's. */
struct st7_upgrade_opts {
	const char *state_dir;             /* default ST7_DEFAULT_STATE_DIR (state_dir.h) */
	bool allow_downgrade;              /* install an older or equal bcdDevice */
	bool allow_wildcard;               /* accept 0xFFFF idVendor/idProduct in the suffix */
	bool allow_unversioned;            /* accept bcdDevice 0xFFFF ("no version"), not ST7 */
	bool no_backup;                    /* proceed without a backup (explicit override) */
	bool verify;                       /* read back and compare after the update */
	bool no_verify;                    /* skip the read-back ST7 parts get by default */
	unsigned keep_backups;             /* newest backups kept per device (>= 1) */
	const struct st7_profile *profile; /* force the ST7 part (else from descriptors) */
};

void st7_upgrade_opts_default(struct st7_upgrade_opts *o);

enum st7_upgrade_outcome {
	ST7_UPG_DONE,        /* the new firmware runs and reports its version */
	ST7_UPG_NOTHING,     /* the device already runs that version */
	ST7_UPG_REFUSED,     /* the file does not fit the device: nothing was erased */
	ST7_UPG_NO_DEVICE,   /* no such device, or several */
	ST7_UPG_UNTOUCHED,   /* failed before anything was erased: the old firmware runs */
	ST7_UPG_ROLLED_BACK, /* failed, and the backup was put back and runs */
	ST7_UPG_LEFT_IN_DFU, /* failed, and so did the rollback: the device waits in DFU mode */
	ST7_UPG_ABORTED,     /* stopped by a signal at a safe point */
	ST7_UPG_STORAGE,     /* no usable backup store (or no backup to restore): untouched */
	ST7_UPG_UNVERIFIED   /* the new firmware runs and passed the post-check, but reading
	                      * it back disagreed (the backups read through that upload path
	                      * are set aside, never restored automatically) or failed (the
	                      * backup stays listed as unchecked) */
};

const char *st7_upgrade_outcome_name(enum st7_upgrade_outcome o);

struct st7_upgrade_report {
	enum st7_upgrade_outcome outcome;
	bool had_version;
	uint16_t from_version; /* the version installed before, when known */
	uint16_t to_version;   /* the version now running, when known */
	char backup[PATH_MAX]; /* the backup taken or restored ("" if none) */
	char error[ST7_DIAG_MAX];
	unsigned attempts;
	bool rollback_tried; /* an upgrade tried to put its backup back */
};

/*
 * Before any check that needs the device's identity: a device in DFU mode is asked
 * whether it holds a valid application (st7_engine_leave_dfu); when it does, it runs
 * again and is treated exactly like one found in runtime mode (identity, version gate,
 * backup). When it does not, its identity is that of its newest stored backup, else
 * (ST7) the version word its memory holds.
 */

/*
 * Every command below works on the device chosen in `e` (st7_engine_select, over
 * run->usb) and keeps its files through run->store. A failure before the first
 * DFU_DNLOAD reached the device leaves it untouched (ST7_UPG_UNTOUCHED, sent back to its
 * application), whatever the device kind.
 */

/* Update the device to `img` (a parsed .dfu). */
enum st7_upgrade_outcome st7_upgrade(struct st7_run *run, struct st7_engine *e,
                                     const struct st7_dfu_file *img,
                                     const struct st7_upgrade_opts *o,
                                     struct st7_upgrade_report *r);

/*
 * Restore `file` (the bytes that were checked: never read again from a path), or NULL:
 * the newest proven backup of this device, read once. `label` names `file` in messages;
 * `own_backup`: `file` is one of this gateway's backups (restored whatever its version
 * word says, like the newest one). A backup that no read-back has checked yet is not
 * restored over a running application.
 */
enum st7_upgrade_outcome st7_rollback(struct st7_run *run, struct st7_engine *e,
                                      const struct st7_dfu_file *file, const char *label,
                                      bool own_backup, const struct st7_upgrade_opts *o,
                                      struct st7_upgrade_report *r);

/*
 * Download `img` as it is (no backup, no version order), like dfu-util -D, after the
 * same target checks as an upgrade: its suffix IDs against the device (0xFFFF is a
 * wildcard, DFU 1.1 appendix B), an ST7 image against the part. Every check runs
 * before the device leaves runtime mode.
 */
enum st7_upgrade_outcome st7_download(struct st7_run *run, struct st7_engine *e,
                                      const struct st7_dfu_file *img,
                                      const struct st7_upgrade_opts *o,
                                      struct st7_upgrade_report *r);

/* Read the device's firmware into a .dfu file (atomically): two reads that agree.
 * ST7_ERR_IO when the file cannot be written (the diag says why). */
int st7_upload_to_file(struct st7_run *run, struct st7_engine *e, const struct st7_upgrade_opts *o,
                       const char *path, struct st7_diag *d);

/* Read and check one stored backup (no symlink, private, at most ST7_IMAGE_MAX, a valid
 * .dfu): fill `bytes` (the caller's) and parse it into `f` (the caller's, initialised;
 * it borrows `bytes`). The diag names the path. */
int st7_backup_load(struct st7_run *run, const char *path, struct st7_buf *bytes,
                    struct st7_dfu_file *f, struct st7_diag *d);

#endif
