/* SPDX-License-Identifier: MIT */
/*
 * cli/exit_map: every enum st7_err at every step, and every enum st7_upgrade_outcome, maps
 * to the code README "Exit status" documents. The expectations are written here from the
 * README, apart from the map, so that a change to either shows.
 */
#include "check.h"
#include "err.h"
#include "exit_map.h"

/* README "Exit status", by number. */
enum {
	OK = 0,
	INTERNAL = 1,    /* unexpected internal failure (out of memory, ...) */
	CMDLINE = 2,     /* bad command line */
	BADFILE = 3,     /* an input file is malformed or fails a check */
	FILEIO = 4,      /* a file could not be read or written; no backup store */
	NOTHING = 5,     /* the device already runs that version */
	NODEVICE = 6,    /* no matching device, or several and none chosen */
	USBFAIL = 7,     /* USB could not be used, or failed before any change */
	ROLLEDBACK = 8,  /* the previous firmware was restored */
	LEFTDFU = 9,     /* the update and the rollback failed */
	SIGNAL = 10,     /* stopped by a signal at a safe point */
	DOWNLOAD = 11,   /* a download failed */
	UNTRUSTED = 12,  /* no valid signature from a trusted key */
	LATER = 13,      /* the server answered 429 or 503 */
	UNVERIFIED = 14, /* updated, but the read-back disagreed or failed */
	REFUSED = 15     /* a signed manifest was refused (replay, expiry, clock) */
};

#define N_ERR 30 /* ST7_OK .. ST7_ERR_REFUSED */

/*
 * Expected codes, one column per step: FILE (a file named on the command line), ARGUMENT
 * (pack's INPUT@ADDR), SOURCE (an image from a local file, with its signature), DOWNLOAD
 * (from a URL), USB (starting USB, scanning, choosing the device), DEVICE (a chosen device).
 * An error a step cannot meet is an internal failure there.
 */
static const struct {
	int err;
	int code[ST7_STEP_COUNT];
} expect[N_ERR] = {
	{ ST7_OK, { OK, OK, OK, OK, OK, OK } },
	/* A caller's bad argument: from the command line it is a bad command line (an http://
	 * URL without --allow-http too), in a file's content a failed check, at USB a failure. */
	{ ST7_ERR_INVALID, { BADFILE, CMDLINE, CMDLINE, CMDLINE, USBFAIL, USBFAIL } },
	{ ST7_ERR_NOMEM, { INTERNAL, INTERNAL, INTERNAL, INTERNAL, INTERNAL, INTERNAL } },
	{ ST7_ERR_IO, { FILEIO, FILEIO, FILEIO, FILEIO, USBFAIL, FILEIO } },
	/* Malformed content is exit 3 in a file; from an image source (the cache's own files)
	 * it is a file that could not be read, as it always was. */
	{ ST7_ERR_FORMAT, { BADFILE, BADFILE, FILEIO, FILEIO, USBFAIL, USBFAIL } },
	{ ST7_ERR_CRC, { BADFILE, BADFILE, FILEIO, FILEIO, USBFAIL, USBFAIL } },
	{ ST7_ERR_NO_SUFFIX, { BADFILE, BADFILE, FILEIO, FILEIO, USBFAIL, USBFAIL } },
	/* Data outside a region in a file; a refused byte range (416) from a server. */
	{ ST7_ERR_RANGE, { BADFILE, BADFILE, DOWNLOAD, DOWNLOAD, USBFAIL, USBFAIL } },
	{ ST7_ERR_OVERLAP, { BADFILE, BADFILE, FILEIO, FILEIO, USBFAIL, USBFAIL } },
	/* Beyond a size limit: a failed check of a file, a failed download of a URL. */
	{ ST7_ERR_TOO_LARGE, { BADFILE, BADFILE, BADFILE, DOWNLOAD, USBFAIL, USBFAIL } },
	{ ST7_ERR_UNSUPPORTED, { BADFILE, BADFILE, FILEIO, FILEIO, USBFAIL, USBFAIL } },
	/* No device while choosing it is exit 6; a device that went away later, 7. */
	{ ST7_ERR_NO_DEVICE, { INTERNAL, INTERNAL, FILEIO, FILEIO, NODEVICE, USBFAIL } },
	{ ST7_ERR_ACCESS, { FILEIO, FILEIO, FILEIO, FILEIO, USBFAIL, USBFAIL } },
	/* A USB transfer that timed out is exit 7, a download 11. */
	{ ST7_ERR_TIMEOUT, { INTERNAL, INTERNAL, DOWNLOAD, DOWNLOAD, USBFAIL, USBFAIL } },
	{ ST7_ERR_STALL, { INTERNAL, INTERNAL, FILEIO, FILEIO, USBFAIL, USBFAIL } },
	/* Busy: a claimed interface (7), or a cache locked by another run (4). */
	{ ST7_ERR_BUSY, { FILEIO, FILEIO, FILEIO, FILEIO, USBFAIL, USBFAIL } },
	{ ST7_ERR_USB, { INTERNAL, INTERNAL, FILEIO, FILEIO, USBFAIL, USBFAIL } },
	{ ST7_ERR_AMBIGUOUS, { INTERNAL, INTERNAL, FILEIO, FILEIO, NODEVICE, USBFAIL } },
	{ ST7_ERR_ABORTED, { SIGNAL, SIGNAL, SIGNAL, SIGNAL, SIGNAL, SIGNAL } },
	{ ST7_ERR_DEVICE, { INTERNAL, INTERNAL, FILEIO, FILEIO, USBFAIL, USBFAIL } },
	{ ST7_ERR_NETWORK, { INTERNAL, INTERNAL, DOWNLOAD, DOWNLOAD, USBFAIL, USBFAIL } },
	{ ST7_ERR_TLS, { INTERNAL, INTERNAL, DOWNLOAD, DOWNLOAD, USBFAIL, USBFAIL } },
	{ ST7_ERR_HTTP, { INTERNAL, INTERNAL, DOWNLOAD, DOWNLOAD, USBFAIL, USBFAIL } },
	{ ST7_ERR_RETRY_LATER, { INTERNAL, INTERNAL, LATER, LATER, USBFAIL, USBFAIL } },
	{ ST7_ERR_SIGNATURE, { UNTRUSTED, UNTRUSTED, UNTRUSTED, UNTRUSTED, USBFAIL, USBFAIL } },
	{ ST7_ERR_NOT_MODIFIED, { INTERNAL, INTERNAL, FILEIO, FILEIO, USBFAIL, USBFAIL } },
	{ ST7_ERR_NOT_FOUND, { FILEIO, FILEIO, FILEIO, FILEIO, USBFAIL, FILEIO } },
	{ ST7_ERR_EXISTS, { FILEIO, FILEIO, FILEIO, FILEIO, USBFAIL, FILEIO } },
	/* A failed fetch worker is a failed download (11), never a device failure. */
	{ ST7_ERR_WORKER, { INTERNAL, INTERNAL, DOWNLOAD, DOWNLOAD, USBFAIL, USBFAIL } },
	{ ST7_ERR_REFUSED, { REFUSED, REFUSED, REFUSED, REFUSED, USBFAIL, USBFAIL } },
};

static void test_errors(void)
{
	/* Every error err.c names has its row here (a new one must be mapped). */
	for (int err = 0; err > -100; err--) {
		bool named = strcmp(st7_err_name(err), "unknown") != 0;
		bool listed = -err < N_ERR;
		CHECK(named == listed);
		if (!listed)
			continue;
		CHECK_INT(expect[-err].err, err);
		for (int step = 0; step < ST7_STEP_COUNT; step++) {
			int got = st7_exit_for(err, (enum st7_step)step);
			if (got != expect[-err].code[step])
				fprintf(stderr, "%s at step %d: exit %d, expected %d\n",
				        st7_err_name(err), step, got, expect[-err].code[step]);
			CHECK_INT(got, expect[-err].code[step]);
		}
	}
	/* What is not an error at all is an internal failure, never a success. */
	CHECK_INT(st7_exit_for(-99, ST7_STEP_FILE), INTERNAL);
	CHECK_INT(st7_exit_for(3, ST7_STEP_FILE), INTERNAL);
	CHECK_INT(st7_exit_for(ST7_ERR_IO, ST7_STEP_COUNT), INTERNAL);
}

static void test_outcomes(void)
{
	static const struct {
		enum st7_upgrade_outcome o;
		int code;
	} outcomes[] = {
		{ ST7_UPG_DONE, OK },
		{ ST7_UPG_NOTHING, NOTHING },
		{ ST7_UPG_REFUSED, BADFILE },
		{ ST7_UPG_NO_DEVICE, NODEVICE },
		{ ST7_UPG_UNTOUCHED, USBFAIL },
		{ ST7_UPG_ROLLED_BACK, ROLLEDBACK },
		{ ST7_UPG_LEFT_IN_DFU, LEFTDFU },
		{ ST7_UPG_ABORTED, SIGNAL },
		{ ST7_UPG_STORAGE, FILEIO },
		{ ST7_UPG_UNVERIFIED, UNVERIFIED },
	};
	size_t n = sizeof(outcomes) / sizeof(outcomes[0]);
	CHECK_INT(n, ST7_UPG_UNVERIFIED + 1); /* every outcome listed */
	for (size_t i = 0; i < n; i++) {
		CHECK_INT(outcomes[i].o, i);
		CHECK_INT(st7_exit_for_outcome(outcomes[i].o), outcomes[i].code);
	}
	CHECK_INT(st7_exit_for_outcome((enum st7_upgrade_outcome)99), INTERNAL);
}

int main(void)
{
	test_errors();
	test_outcomes();
	return check_report();
}
