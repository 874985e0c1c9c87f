/* SPDX-License-Identifier: MIT */
#include "err.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const struct {
	int code;
	const char *name;
	const char *text;
} err_table[] = {
	{ ST7_OK, "ok", "success" },
	{ ST7_ERR_INVALID, "invalid-argument", "invalid argument" },
	{ ST7_ERR_NOMEM, "no-memory", "out of memory" },
	{ ST7_ERR_IO, "io", "input/output error" },
	{ ST7_ERR_FORMAT, "format", "malformed input" },
	{ ST7_ERR_CRC, "crc", "checksum mismatch" },
	{ ST7_ERR_NO_SUFFIX, "no-suffix", "no DFU suffix" },
	{ ST7_ERR_RANGE, "range", "address out of range" },
	{ ST7_ERR_OVERLAP, "overlap", "overlapping data" },
	{ ST7_ERR_TOO_LARGE, "too-large", "input too large" },
	{ ST7_ERR_UNSUPPORTED, "unsupported", "unsupported input" },
	{ ST7_ERR_NO_DEVICE, "no-device", "no such device (it may have been unplugged)" },
	{ ST7_ERR_ACCESS, "access", "permission denied" },
	{ ST7_ERR_TIMEOUT, "timeout", "timed out" },
	{ ST7_ERR_STALL, "stall", "the device stalled the request" },
	{ ST7_ERR_BUSY, "busy", "the device or interface is busy" },
	{ ST7_ERR_USB, "usb", "USB failure" },
	{ ST7_ERR_AMBIGUOUS, "ambiguous", "several devices match" },
	{ ST7_ERR_ABORTED, "aborted", "aborted" },
	{ ST7_ERR_DEVICE, "device", "the device reported an error" },
	{ ST7_ERR_NETWORK, "network", "network failure" },
	{ ST7_ERR_TLS, "tls", "TLS failure" },
	{ ST7_ERR_HTTP, "http", "unexpected HTTP status" },
	{ ST7_ERR_RETRY_LATER, "retry-later", "the server asks to retry later" },
	{ ST7_ERR_SIGNATURE, "signature", "no valid signature from a trusted key" },
	{ ST7_ERR_NOT_MODIFIED, "not-modified", "not modified since the last fetch" },
	{ ST7_ERR_NOT_FOUND, "not-found", "no such file or directory" },
	{ ST7_ERR_EXISTS, "exists", "the file already exists" },
	{ ST7_ERR_WORKER, "worker", "the fetch worker failed" },
	{ ST7_ERR_REFUSED, "refused",
	  "the manifest was refused (replayed, expired or clock unset)" },
};

const char *st7_strerror(int err)
{
	for (size_t i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
		if (err_table[i].code == err)
			return err_table[i].text;
	return "unknown error";
}

const char *st7_err_name(int err)
{
	for (size_t i = 0; i < sizeof(err_table) / sizeof(err_table[0]); i++)
		if (err_table[i].code == err)
			return err_table[i].name;
	return "unknown";
}

/* A message cut to fit ends with "..." so the reader knows it was cut. */
static void mark_cut(struct st7_diag *d)
{
	memcpy(d->msg + sizeof(d->msg) - 4, "...", 4);
}

int st7_diag_vset(struct st7_diag *d, int err, const char *fmt, va_list ap)
{
	if (d) {
		int n = vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
		if (n < 0)
			d->msg[0] = '\0';
		else if ((size_t)n >= sizeof(d->msg))
			mark_cut(d);
	}
	return err;
}

int st7_diag_set(struct st7_diag *d, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	st7_diag_vset(d, err, fmt, ap);
	va_end(ap);
	return err;
}

int st7_diag_prefix(struct st7_diag *d, int err, const char *fmt, ...)
{
	if (!d)
		return err;
	char head[ST7_DIAG_MAX];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	if (n < 0)
		return err;
	size_t hl = strnlen(head, sizeof(head) - 1);
	size_t ml = strnlen(d->msg, sizeof(d->msg) - 1);
	const char *sep = ml ? ": " : "";
	size_t sl = strlen(sep);
	size_t room = sizeof(d->msg) - 1;
	bool cut = (size_t)n > hl || hl + sl + ml > room;
	if (hl + sl >= room) { /* the prefix alone fills the message */
		memcpy(d->msg, head, room);
		d->msg[room] = '\0';
	} else {
		size_t keep = ml < room - hl - sl ? ml : room - hl - sl;
		memmove(d->msg + hl + sl, d->msg, keep);
		memcpy(d->msg, head, hl);
		memcpy(d->msg + hl, sep, sl);
		d->msg[hl + sl + keep] = '\0';
	}
	if (cut)
		mark_cut(d);
	return err;
}

void st7_diag_clear(struct st7_diag *d)
{
	if (d)
		d->msg[0] = '\0';
}
