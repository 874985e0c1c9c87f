/* SPDX-License-Identifier: MIT */
/*
 * The one map from what went wrong to the process exit code (exit_codes.h, README "Exit
 * status"). Every enum st7_err and every enum st7_upgrade_outcome has its row; commands
 * never compute an exit code from an error themselves.
 *
 * The same error means different things at different steps (a timeout of a USB transfer
 * is exit 7, of a download 11; RANGE in a file is data outside a region, 3, from a server
 * a refused byte range, 11), so an error is mapped together with the step that met it.
 */
#ifndef ST7_EXIT_MAP_H
#define ST7_EXIT_MAP_H

#include "exit_codes.h"
#include "upgrade.h"

enum st7_step {
	/* A file named on the command line: read, decoded, checked, written (info, pack,
	 * sign, verify, fetch -o, a stored backup named by rollback --to). */
	ST7_STEP_FILE,
	/* A command-line argument that names a file and says how to read it (pack's
	 * INPUT@ADDR): an invalid combination is a bad command line. */
	ST7_STEP_ARGUMENT,
	/* Getting an image and its signature from a local file (st7_source_obtain). */
	ST7_STEP_SOURCE,
	/* ... from an https URL: every failure of the transfer is a failed download. */
	ST7_STEP_DOWNLOAD,
	/* USB itself: starting it, scanning the bus, choosing the device (none or several
	 * match: exit 6). */
	ST7_STEP_USB,
	/* A chosen device (detach, status, upload, which also writes its file). */
	ST7_STEP_DEVICE,
	ST7_STEP_COUNT
};

/* The exit code for `err` (ST7_OK or a negative enum st7_err) met at `step`. An unknown
 * value is an internal failure (ST7_EXIT_FAILURE). */
enum st7_exit st7_exit_for(int err, enum st7_step step);

/* The exit code of an upgrade, rollback or download that ended in `o`. */
enum st7_exit st7_exit_for_outcome(enum st7_upgrade_outcome o);

#endif
