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
	ST7_EXIT_NOTHING = 5,      /* nothing to do: the device already runs that version */
	ST7_EXIT_NO_DEVICE = 6,    /* no matching device, or several and none chosen */
	ST7_EXIT_USB = 7, /* USB could not be used, or the device failed before any change */
	ST7_EXIT_ROLLED_BACK = 8,  /* update failed; the previous firmware was restored and runs */
	ST7_EXIT_LEFT_IN_DFU = 9,  /* update failed and so did the rollback: device in DFU mode */
	ST7_EXIT_ABORTED = 10,     /* stopped by a signal at a safe point */
	ST7_EXIT_NETWORK = 11,     /* a download failed: network, TLS, HTTP status or a limit */
	ST7_EXIT_UNTRUSTED = 12,   /* no valid signature from a trusted key: nothing was used */
	ST7_EXIT_RETRY_LATER = 13, /* the server said 429/503; Retry-After is reported */
	ST7_EXIT_UNVERIFIED = 14,  /* updated and post-checked, but the read-back differed or
	                            * failed: the device's upload is unreliable, its backup
	                            * set aside or left unchecked */
	ST7_EXIT_REFUSED = 15,     /* a signed manifest was refused: replayed, expired, or the
	                            * clock cannot be trusted; nothing was decided */
	ST7_EXIT_BUSY = 16         /* another st7dfu (the agent) works on the devices: nothing
	                            * was done (--lock-wait) */
};

#endif
