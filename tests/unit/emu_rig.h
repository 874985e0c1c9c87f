/* SPDX-License-Identifier: MIT */
/*
 * Fixtures shared by the in-process engine and upgrade tests: the images of
 * tests/cli/faults.sh (old 1.02 and new 1.03 for the ST72F65, a DFU 1.1 device and a
 * DfuSe one), the device SPECs it uses, and a rig: fake clock + emulated transport + one
 * engine, in a private temporary directory.
 */
#ifndef ST7_EMU_RIG_H
#define ST7_EMU_RIG_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

#include "buf.h"
#include "dfu_engine.h"
#include "dfu_file.h"
#include "emu_transport.h"
#include "fake_clock.h"
#include "run.h"
#include "store.h"
#include "upgrade.h"

enum rig_kind { RIG_ST7, RIG_DFU11, RIG_DFUSE, RIG_KINDS };

#define RIG_OLDV 0x0102
#define RIG_NEWV 0x0103
/* The ST72F65's writable region (0x8000-0xEFFF); 8 KiB for the others. */
#define RIG_ST7_REGION 28672
#define RIG_GEN_SIZE 8192
#define RIG_DFUSE_BASE 0x08000000u

struct rig_image {
	struct st7_buf bin;    /* the memory the device holds with it */
	struct st7_buf dfu;    /* the .dfu file */
	struct st7_dfu_file f; /* parsed, borrows dfu */
	char bin_path[PATH_MAX];
};

/* Images of every kind, old and new, in dir (flash-in files). 0 or -1. */
struct rig_images {
	struct rig_image img[RIG_KINDS][2]; /* [kind][0 old, 1 new] */
};
int rig_images_make(struct rig_images *im, const char *dir);
void rig_images_free(struct rig_images *im);

const char *rig_kind_name(enum rig_kind k);
/* The device SPEC of faults.sh for `kind`, without flash-in. */
const char *rig_kind_spec(enum rig_kind k);
/* faults.sh's timings: fast erase, programming, manifestation and re-enumeration. */
#define RIG_FAST "erase-ms=1,prog-ms=0,manifest-ms=5,reenum-ms=5"
/* A whole SPEC: the kind's, serial FM, holding image `which` (0 old, 1 new), RIG_FAST,
 * then `extra` (may be NULL). */
void rig_spec(char *out, size_t cap, const struct rig_images *im, enum rig_kind k, int which,
              const char *extra);

/* A temporary directory (mkdtemp) and its removal with everything in it. */
int rig_tmpdir(char *out, size_t cap);
void rig_rmtree(const char *dir);

struct rig {
	struct fake_clock clk;
	struct st7_usb usb;
	struct emu_transport *t;
	struct st7_engine e;
	struct st7_engine_opts eo;
	volatile sig_atomic_t stop;
	bool engine_live;
	enum rig_kind kind; /* of the first device: the test's own note */
	/* The run context the core commands get: this rig's transport, clock and abort
	 * flag, and `store` (the POSIX one; a test may point run.store elsewhere). */
	struct st7_store store;
	struct st7_run run;
};

/* Clock, transport with one device from `spec`, the POSIX store and a run context over
 * them; engine options as faults.sh runs (reenum timeout 3000 ms). 0, or -1 with the
 * reason in err. */
int rig_open(struct rig *r, const char *spec, char *err, size_t errlen);
/* A fresh run context (a new process): the rig's transport, clock, abort flag and POSIX
 * store. */
void rig_new_run(struct rig *r);
/* A fresh engine over the rig (after any earlier one), selecting the only device. */
int rig_select(struct rig *r, struct st7_diag *d);
/* The same, choosing with `sel` (a path or serial among several devices). */
int rig_select_by(struct rig *r, const struct st7_selector *sel, struct st7_diag *d);
void rig_close(struct rig *r);

/* The first device's memory equals `m` (len bytes at its start) */
bool rig_mem_is(struct rig *r, const struct st7_buf *m);
/* The first device now: present, its mode and bcdDevice. */
struct emu_info rig_info(struct rig *r);

/* The commands of core/upgrade.h on the rig's engine (one place to follow their
 * signatures), and the exit code cli/ maps each outcome to (README, exit_codes.h). */
enum st7_upgrade_outcome rig_upgrade(struct rig *r, const struct st7_dfu_file *img,
                                     const struct st7_upgrade_opts *o,
                                     struct st7_upgrade_report *rep);
enum st7_upgrade_outcome rig_rollback(struct rig *r, const struct st7_dfu_file *file,
                                      const char *label, bool own_backup,
                                      const struct st7_upgrade_opts *o,
                                      struct st7_upgrade_report *rep);
enum st7_upgrade_outcome rig_download(struct rig *r, const struct st7_dfu_file *img,
                                      const struct st7_upgrade_opts *o,
                                      struct st7_upgrade_report *rep);
/* st7_upload_to_file; its exit code (0, 4, 7 or 10). */
int rig_upload(struct rig *r, const struct st7_upgrade_opts *o, const char *path,
               struct st7_diag *d);
int rig_backup_load(struct rig *r, const char *path, struct st7_buf *bytes, struct st7_dfu_file *f,
                    struct st7_diag *d);
int rig_outcome_exit(enum st7_upgrade_outcome o);
/* The exit code of a failed device selection (6 or 7). */
int rig_select_exit(int ret);

#endif
