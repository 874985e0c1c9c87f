/* SPDX-License-Identifier: MIT */
#include "exit_map.h"

#include <stdbool.h>

#include "err.h"

/* Short names for the table: the exit codes of exit_codes.h. */
enum {
	OK = ST7_EXIT_OK,
	FAIL = ST7_EXIT_FAILURE,
	USAGE = ST7_EXIT_USAGE,
	BAD = ST7_EXIT_INVALID_FILE,
	IO = ST7_EXIT_IO,
	NODEV = ST7_EXIT_NO_DEVICE,
	USB = ST7_EXIT_USB,
	STOP = ST7_EXIT_ABORTED,
	NET = ST7_EXIT_NETWORK,
	TRUST = ST7_EXIT_UNTRUSTED,
	LATER = ST7_EXIT_RETRY_LATER,
	STALE = ST7_EXIT_REFUSED
};

struct err_row {
	bool set; /* a row written below (not a gap in the enum) */
	unsigned char exit[ST7_STEP_COUNT];
};

/*
 * Rows: every enum st7_err, by -code. Columns: the steps of exit_map.h.
 * Errors a step cannot meet (a USB stall while reading a file) are an internal failure
 * there, so that a new path that does meet them is noticed rather than misnamed.
 */
/* clang-format off */
#define ROW(code, file, arg, src, dl, usb, dev) [-(code)] = { true, { file, arg, src, dl, usb, dev } }
static const struct err_row err_map[] = {
	/*                          FILE   ARG    SOURCE DLOAD  USB    DEVICE */
	ROW(ST7_OK,                 OK,    OK,    OK,    OK,    OK,    OK),
	ROW(ST7_ERR_INVALID,        BAD,   USAGE, USAGE, USAGE, USB,   USB),
	ROW(ST7_ERR_NOMEM,          FAIL,  FAIL,  FAIL,  FAIL,  FAIL,  FAIL),
	ROW(ST7_ERR_IO,             IO,    IO,    IO,    IO,    USB,   IO),
	ROW(ST7_ERR_FORMAT,         BAD,   BAD,   IO,    IO,    USB,   USB),
	ROW(ST7_ERR_CRC,            BAD,   BAD,   IO,    IO,    USB,   USB),
	ROW(ST7_ERR_NO_SUFFIX,      BAD,   BAD,   IO,    IO,    USB,   USB),
	ROW(ST7_ERR_RANGE,          BAD,   BAD,   NET,   NET,   USB,   USB),
	ROW(ST7_ERR_OVERLAP,        BAD,   BAD,   IO,    IO,    USB,   USB),
	ROW(ST7_ERR_TOO_LARGE,      BAD,   BAD,   BAD,   NET,   USB,   USB),
	ROW(ST7_ERR_UNSUPPORTED,    BAD,   BAD,   IO,    IO,    USB,   USB),
	ROW(ST7_ERR_NO_DEVICE,      FAIL,  FAIL,  IO,    IO,    NODEV, USB),
	ROW(ST7_ERR_ACCESS,         IO,    IO,    IO,    IO,    USB,   USB),
	ROW(ST7_ERR_TIMEOUT,        FAIL,  FAIL,  NET,   NET,   USB,   USB),
	ROW(ST7_ERR_STALL,          FAIL,  FAIL,  IO,    IO,    USB,   USB),
	ROW(ST7_ERR_BUSY,           IO,    IO,    IO,    IO,    USB,   USB),
	ROW(ST7_ERR_USB,            FAIL,  FAIL,  IO,    IO,    USB,   USB),
	ROW(ST7_ERR_AMBIGUOUS,      FAIL,  FAIL,  IO,    IO,    NODEV, USB),
	ROW(ST7_ERR_ABORTED,        STOP,  STOP,  STOP,  STOP,  STOP,  STOP),
	ROW(ST7_ERR_DEVICE,         FAIL,  FAIL,  IO,    IO,    USB,   USB),
	ROW(ST7_ERR_NETWORK,        FAIL,  FAIL,  NET,   NET,   USB,   USB),
	ROW(ST7_ERR_TLS,            FAIL,  FAIL,  NET,   NET,   USB,   USB),
	ROW(ST7_ERR_HTTP,           FAIL,  FAIL,  NET,   NET,   USB,   USB),
	ROW(ST7_ERR_RETRY_LATER,    FAIL,  FAIL,  LATER, LATER, USB,   USB),
	ROW(ST7_ERR_SIGNATURE,      TRUST, TRUST, TRUST, TRUST, USB,   USB),
	ROW(ST7_ERR_NOT_MODIFIED,   FAIL,  FAIL,  IO,    IO,    USB,   USB),
	ROW(ST7_ERR_NOT_FOUND,      IO,    IO,    IO,    IO,    USB,   IO),
	ROW(ST7_ERR_EXISTS,         IO,    IO,    IO,    IO,    USB,   IO),
	ROW(ST7_ERR_WORKER,         FAIL,  FAIL,  NET,   NET,   USB,   USB),
	ROW(ST7_ERR_REFUSED,        STALE, STALE, STALE, STALE, USB,   USB),
};
#undef ROW
/* clang-format on */
_Static_assert(sizeof(err_map) / sizeof(err_map[0]) == 1 - ST7_ERR_REFUSED,
               "one row per enum st7_err (ST7_ERR_REFUSED is the last)");

static const unsigned char outcome_map[] = {
	[ST7_UPG_DONE] = ST7_EXIT_OK,
	[ST7_UPG_NOTHING] = ST7_EXIT_NOTHING,
	[ST7_UPG_REFUSED] = ST7_EXIT_INVALID_FILE,
	[ST7_UPG_NO_DEVICE] = ST7_EXIT_NO_DEVICE,
	[ST7_UPG_UNTOUCHED] = ST7_EXIT_USB,
	[ST7_UPG_ROLLED_BACK] = ST7_EXIT_ROLLED_BACK,
	[ST7_UPG_LEFT_IN_DFU] = ST7_EXIT_LEFT_IN_DFU,
	[ST7_UPG_ABORTED] = ST7_EXIT_ABORTED,
	[ST7_UPG_STORAGE] = ST7_EXIT_IO,
	[ST7_UPG_UNVERIFIED] = ST7_EXIT_UNVERIFIED,
};
_Static_assert(sizeof(outcome_map) == ST7_UPG_UNVERIFIED + 1,
               "one row per enum st7_upgrade_outcome (ST7_UPG_UNVERIFIED is the last)");

enum st7_exit st7_exit_for(int err, enum st7_step step)
{
	if (err > 0 || -err >= (int)(sizeof(err_map) / sizeof(err_map[0])) || !err_map[-err].set ||
	    (unsigned)step >= ST7_STEP_COUNT)
		return ST7_EXIT_FAILURE;
	return (enum st7_exit)err_map[-err].exit[step];
}

enum st7_exit st7_exit_for_outcome(enum st7_upgrade_outcome o)
{
	if ((unsigned)o >= sizeof(outcome_map))
		return ST7_EXIT_FAILURE;
	return (enum st7_exit)outcome_map[o];
}
