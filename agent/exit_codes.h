/* SPDX-License-Identifier: MIT */
/*
 * Process exit codes: a stable contract for scripts and service managers, documented in
 * README.md and `st7dfu help`. New codes are only ever appended.
 */
#ifndef ST7_EXIT_CODES_H
#define ST7_EXIT_CODES_H

enum st7_exit {
	ST7_EXIT_OK = 0,           /* success */
	ST7_EXIT_FAILURE = 1,      /* unexpected internal failure (out of memory, ...) */
	ST7_EXIT_USAGE = 2,        /* bad command line */
	ST7_EXIT_INVALID_FILE = 3, /* an input file is malformed or fails a check */
	ST7_EXIT_IO = 4,           /* a file could not be read or written */
	/* 5 and 6 are reserved for "nothing to do" and "device not found or ambiguous" */
	ST7_EXIT_USB = 7 /* USB could not be used (no libusb context, no device list) */
};

#endif
