/* SPDX-License-Identifier: MIT */
/*
 * Error codes and diagnostics shared by every layer.
 *
 * Contract: functions return 0 (ST7_OK) or a negative enum st7_err. Functions that
 * take a `struct st7_diag *` (may be NULL) also write a one-line, human-readable
 * reason into it on failure: the offset/line, the field, and expected vs found.
 * The caller prefixes the file name, since the pure layer does no I/O and does not
 * know where its bytes came from.
 */
#ifndef ST7_ERR_H
#define ST7_ERR_H

#include <stdarg.h>
#include <stddef.h>

enum st7_err {
	ST7_OK = 0,
	ST7_ERR_INVALID = -1,      /* bad argument from the caller */
	ST7_ERR_NOMEM = -2,        /* allocation failed or a size limit was hit */
	ST7_ERR_IO = -3,           /* read, write, fsync or rename failed */
	ST7_ERR_FORMAT = -4,       /* malformed input: syntax, truncation, bad field */
	ST7_ERR_CRC = -5,          /* checksum or CRC mismatch */
	ST7_ERR_NO_SUFFIX = -6,    /* a DFU file without a DFU suffix */
	ST7_ERR_RANGE = -7,        /* data outside the allowed address range */
	ST7_ERR_OVERLAP = -8,      /* two pieces of data claim the same address */
	ST7_ERR_TOO_LARGE = -9,    /* input beyond a configured size limit */
	ST7_ERR_UNSUPPORTED = -10, /* well-formed but not something we handle */
	/* USB transport (any backend maps its own codes onto these) */
	ST7_ERR_NO_DEVICE = -11, /* the device is gone (unplugged, re-enumerated) */
	ST7_ERR_ACCESS = -12,    /* permission denied on the device node */
	ST7_ERR_TIMEOUT = -13,   /* a transfer or a wait ran out of time */
	ST7_ERR_STALL = -14,     /* the device stalled a control request */
	ST7_ERR_BUSY = -15,      /* the interface is claimed by someone else */
	ST7_ERR_USB = -16,       /* any other USB failure */
	ST7_ERR_AMBIGUOUS = -17, /* several devices match and none was chosen */
	ST7_ERR_ABORTED = -18,   /* stopped on request (a signal) at a safe point */
	ST7_ERR_DEVICE = -19,    /* the device reported a DFU error status */
	/* Trust and transport */
	ST7_ERR_NETWORK = -20,      /* could not connect, or the transfer broke off */
	ST7_ERR_TLS = -21,          /* TLS handshake or certificate check failed */
	ST7_ERR_HTTP = -22,         /* the server answered with an unusable HTTP status */
	ST7_ERR_RETRY_LATER = -23,  /* 429/503: the server asks to come back later */
	ST7_ERR_SIGNATURE = -24,    /* no valid signature from a trusted key */
	ST7_ERR_NOT_MODIFIED = -25, /* a conditional request found nothing new (304) */
	/* Storage */
	ST7_ERR_NOT_FOUND = -26, /* no such file or directory */
	ST7_ERR_EXISTS = -27,    /* the file exists and was not to be replaced */
	/* Processes */
	ST7_ERR_WORKER = -28, /* the fetch worker crashed, hung, was killed or spoke garbage */
	/* Trust in time */
	ST7_ERR_REFUSED = -29 /* a signed manifest that must not be believed: replayed (lower
	                       * serial), expired, or the clock cannot be trusted */
};

/* Static English text for an error code; never NULL. */
const char *st7_strerror(int err);

/* Short stable token for an error code ("crc", "format", ...), used in JSON. */
const char *st7_err_name(int err);

#define ST7_DIAG_MAX 384

struct st7_diag {
	char msg[ST7_DIAG_MAX];
};

/*
 * Record a failure and return `err`, so parsers can write
 * `return st7_diag_set(d, ST7_ERR_FORMAT, "offset %zu: ...", off);`.
 * `d` may be NULL. The latest call wins; set it once, where the failure is found.
 */
int st7_diag_set(struct st7_diag *d, int err, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* st7_diag_set with a va_list, for callers that are printf-like themselves. */
int st7_diag_vset(struct st7_diag *d, int err, const char *fmt, va_list ap)
        __attribute__((format(printf, 3, 0)));

/*
 * Put a prefix in front of the message already in `d` ("%s: " joins them), in place:
 * callers add context on the way up without copying one 384-byte message into another.
 * A message that no longer fits keeps its beginning and ends with "..." so a cut is
 * never silent. Returns `err`; `d` may be NULL; an empty message gets the prefix alone.
 */
int st7_diag_prefix(struct st7_diag *d, int err, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

/* Clear the message (an empty string means "no detail"). */
void st7_diag_clear(struct st7_diag *d);

#endif
