/* SPDX-License-Identifier: MIT */
/*
 * What the in-process upgrade tests check after each case, as tests/cli/faults.sh checks
 * it from the emulator's report: the exit code each outcome maps to, the device's mode,
 * firmware (old, new or a third content) and version, the backups in the state
 * directory, the upload file; and the suite around the cases (images, a temporary
 * directory, the backup a clean upgrade makes, counters).
 */
#ifndef ST7_EMU_EXPECT_H
#define ST7_EMU_EXPECT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>

#include "emu_rig.h"

enum ex_cmd { CMD_UPGRADE, CMD_ROLLBACK, CMD_DOWNLOAD, CMD_UPLOAD, CMDS };
extern const char *const ex_cmd_names[CMDS];

/* One case: a command on a device kind with extra SPEC keys, and its promise. */
struct fcase {
	char name[64], spec[256], opts[64];
	enum ex_cmd cmd;
	enum rig_kind kind;
	int exits[4];
	unsigned n_exits;
	char mode[16];      /* runtime, dfu, unplugged */
	unsigned settle_ms; /* let the device come back before looking (faults.sh --then) */
};

/* "EXITS[:MODE]" ("0,7", "9:dfu") into the case. */
void ex_set_expect(struct fcase *c, const char *e);
/* The data block faults.sh hits (@BLK@): the middle of the image. */
int ex_blk_for(enum rig_kind k);

enum flash { FLASH_OLD, FLASH_NEW, FLASH_OTHER };
extern const char *const ex_flash_names[3];

/* What a case left behind. */
struct outcome {
	int rc;
	char mode[16];
	uint16_t version;
	bool valid;
	uint64_t fired, dfu_requests, elapsed_us;
	enum flash flash;
};

struct failures {
	const char *what;
	unsigned n;
};
void ex_fail(struct failures *fs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ex_pass(void);
#define EXPECT(fs, cond, ...)                     \
	do {                                      \
		if (cond)                         \
			ex_pass();                \
		else                              \
			ex_fail(fs, __VA_ARGS__); \
	} while (0)

/* The suite: images, its temporary directory, the backup of each kind's old image that
 * a clean upgrade made, and the counters (check.h's are per file: main adds these). */
struct suite {
	struct rig_images im;
	char tmp[256];
	struct st7_buf base_backup[RIG_KINDS];
	unsigned n_cases, n_failed_cases;
	unsigned long passed, failed;
	const char *only; /* ONLY=substring */
};
extern struct suite S;

/* Log threshold, temporary directory, images, base backups. 0 or -1. */
int ex_suite_setup(const char *ident);
/* Frees it all (KEEP=1 keeps the directory); the failed checks. */
unsigned long ex_suite_finish(void);

/* Files (plain POSIX: the test's own view, not the store's). */
int ex_read_all(const char *path, struct st7_buf *b);
int ex_write_all(const char *path, const struct st7_buf *b, mode_t mode);
bool ex_exists(const char *path);
/* A .dfu holds exactly `mem`: a plain payload equal to it, or DfuSe elements that cover
 * it, each equal to the memory at its address (faults.sh's content_is). */
bool ex_content_is(const uint8_t *file, size_t len, const struct st7_buf *mem);
bool ex_file_content_is(const char *path, const struct st7_buf *mem);

/* Every entry of STATE/backups/DEVICE/ but dot files: its directory, name, path, lstat. */
void ex_each_backup(const char *state,
                    void (*each)(void *arg, const char *dir, const char *name, const char *path,
                                 const struct stat *st),
                    void *arg);
/* Is `name` listed in DIR/.readback-pending (the backups no read-back checked yet)? */
bool ex_pending_lists(const char *dir, const char *name);
/* A backup as core lists them: a regular file named *.dfu. */
bool ex_is_backup(const char *name, const struct stat *st);

/* The device's firmware: old, new or something else. */
enum flash ex_classify(struct rig *r, enum rig_kind k);
void ex_observe(struct rig *r, enum rig_kind k, struct outcome *o);
/* Put the base backup where rollback looks (STATE/backups/0483-ff03-FM/0102.dfu, dirs
 * 0700, file 0600); its path into `path`. */
int ex_place_backup(const char *state, enum rig_kind k, char *path, size_t cap);
/* The device SPEC of a case: the kind's, its old or new image, fast timings, `extra`. */
void ex_spec(char *out, size_t cap, enum rig_kind k, int which, const char *extra);
/* Run the case's command on the rig; its exit code, and the report's message in `why`. */
int ex_run_command(struct rig *r, const struct fcase *c, const struct st7_upgrade_opts *o,
                   const char *up, char *why, size_t cap);

/* Every check of faults.sh on what a case left. */
void ex_check_case(struct failures *fs, const struct fcase *c, const struct outcome *o,
                   const char *state, const char *placed, const struct st7_upgrade_opts *uo);
void ex_check_upload(struct failures *fs, struct rig *r, int rc, const char *dir, const char *up);

/* Around a case: `before` after the rig opened (install a transport hook), `after` when
 * the command returned (remove it, check it fired). */
struct ex_hooks {
	void (*before)(struct rig *r, void *arg);
	void (*after)(struct rig *r, void *arg, struct failures *fs);
	void *arg;
};
/* The whole case in TMP/<tag><id>: prepare, run, observe, check, print one line. */
void ex_run_case(const char *tag, unsigned id, const struct fcase *c, const struct ex_hooks *h);

#endif
