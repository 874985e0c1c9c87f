/* SPDX-License-Identifier: MIT */
/*
 * One record of the agent's per-device journal (core/journal.h keeps them on disk): what
 * the attempt to update one device is doing, rewritten at every phase change so that after
 * a power loss or a kill -9 the next start knows what was going on. Pure: text in memory,
 * no I/O.
 *
 * The file format, version 1 (ASCII text, "\n" line ends, nothing else):
 *
 *     st7dfu-journal 1
 *     attempt=3
 *     phase=downloading
 *     device=0483-ff03-SN0001
 *     ...                      every key below, exactly once, in exactly this order
 *     crc32=0a1b2c3d           (example)
 *
 * Keys and values (all canonical: the decoder refuses any other spelling, so a record
 * that decodes re-encodes to the very same bytes):
 *   attempt          decimal, 1..2^64-1, no leading zeros
 *   phase            st7_journal_phase_name()
 *   device           the record's key, st7_journal_key(vid, pid, serial)
 *   serial           text
 *   vid, pid         4 lowercase hex digits ("0483")
 *   port             text
 *   from_version     "0x" + 4 lowercase hex digits, or "none" (has_from false)
 *   to_version       "0x" + 4 lowercase hex digits
 *   release          text
 *   manifest_serial  decimal, 0..2^64-1 (0: none)
 *   image_sha256     64 lowercase hex digits, or empty
 *   image_url        text
 *   backup           text (a path; empty: no backup)
 *   started_s        decimal seconds since the epoch, optional '-' ("-0" refused)
 *   updated_s        same
 *   fetch_ms         decimal, 0..2^32-1
 *   flash_ms         same
 *   recoveries       decimal, 0..UINT_MAX
 *   device_rollback  "yes" or "no"
 *   outcome          text
 *   error            text
 * Text is the field's bytes with '%', '\\', control characters (< 0x20) and bytes >= 0x7f
 * written as %XX (two upper-case hex digits) and every other byte as itself; a decoded
 * text must fit its field with its NUL (a longer one is an error, never cut), and %00 is
 * refused. The last line is "crc32=" and 8 lowercase hex digits: the CRC-32 of every byte
 * before that line (the common CRC-32 of zlib, Ethernet and `python3 -c
 * 'import zlib; zlib.crc32(...)'`, i.e. st7_dfu_crc() ^ 0xFFFFFFFF), followed by "\n" and
 * nothing else. A record is at most ST7_JOURNAL_REC_MAX bytes, and every valid struct
 * encodes within that.
 */
#ifndef ST7_JOURNAL_REC_H
#define ST7_JOURNAL_REC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define ST7_JOURNAL_MAGIC "st7dfu-journal"
#define ST7_JOURNAL_VERSION 1
/* Bytes. The largest record (every text field full of bytes that need %XX) is about
 * 21.4 KiB. */
#define ST7_JOURNAL_REC_MAX (24u * 1024u)

enum st7_journal_phase {
	ST7_JPH_DECIDED = 1,
	ST7_JPH_FETCHED,
	ST7_JPH_BACKED_UP,
	ST7_JPH_DETACHING,
	ST7_JPH_DOWNLOADING,
	ST7_JPH_MANIFESTING,
	ST7_JPH_POSTCHECK,
	ST7_JPH_RECOVERING,
	/* terminal: */
	ST7_JPH_DONE,
	ST7_JPH_ROLLED_BACK,
	ST7_JPH_FAILED,
	ST7_JPH_LEFT_IN_DFU
};

/* "decided", "fetched", "backed-up", "detaching", "downloading", "manifesting",
 * "post-check", "recovering", "done", "rolled-back", "failed", "left-in-dfu";
 * "?" for a value outside the enum. */
const char *st7_journal_phase_name(enum st7_journal_phase p);
/* The name's phase (exact, case-sensitive): ST7_OK, or ST7_ERR_FORMAT and nothing written. */
int st7_journal_phase_parse(const char *s, enum st7_journal_phase *out);
/* Done, rolled back, failed, left in DFU mode: nothing is going on any more. */
bool st7_journal_phase_terminal(enum st7_journal_phase p);

#define ST7_JOURNAL_KEY_MAX 192 /* with the NUL */

struct st7_journal_rec {
	uint64_t attempt; /* per device, increasing; >= 1 */
	enum st7_journal_phase phase;
	char device[ST7_JOURNAL_KEY_MAX]; /* the key: st7_journal_key(vid, pid, serial) */
	char serial[128];
	uint16_t vid, pid; /* the device's runtime IDs */
	char port[32];
	bool has_from;
	uint16_t from_version; /* meaningful only with has_from (0 after decode without) */
	uint16_t to_version;
	char release[64];
	uint64_t manifest_serial;
	char image_sha256[65]; /* lowercase hex or "" */
	char image_url[2048];
	char backup[4096];            /* path of the backup taken, "" none */
	int64_t started_s, updated_s; /* wall clock, seconds since the epoch */
	uint32_t fetch_ms, flash_ms;
	unsigned recoveries;
	bool device_rollback; /* the device itself rolled back (reported) */
	char outcome[32];     /* "" while unfinished, else e.g. "done", "rolled-back" */
	char error[512];
};

/*
 * The journal key of a device: "vvvv-pppp-SERIAL", the IDs as 4 lowercase hex digits and
 * the serial in the alphabet [A-Za-z0-9._-], every other byte as '_' and a leading '.' as
 * '_' (the mapping of the backup directories' names). The key is a file name: never "",
 * ".", ".." nor holding a '/'. An empty serial gives "vvvv-pppp-" (a caller with several
 * such devices passes something stable of its own instead, as backups.c uses the port
 * path). ST7_ERR_INVALID, with "" in out when cap allows, when it does not fit `cap`
 * (never cut).
 */
int st7_journal_key(uint16_t vid, uint16_t pid, const char *serial, char *out, size_t cap);

/*
 * Is `r` a record that encodes (and so decodes back)? Phase in the enum, attempt >= 1,
 * every string terminated inside its array, image_sha256 empty or 64 lowercase hex
 * digits, device equal to st7_journal_key(vid, pid, serial). ST7_ERR_INVALID naming the
 * field otherwise. `d` may be NULL.
 */
int st7_journal_rec_check(const struct st7_journal_rec *r, struct st7_diag *d);

/*
 * Fill `out` (emptied first) with the record's text, above. ST7_ERR_INVALID when
 * st7_journal_rec_check() refuses `r`, ST7_ERR_NOMEM (the buffer's limit or memory).
 */
int st7_journal_rec_encode(const struct st7_journal_rec *r, struct st7_buf *out);

/*
 * Read `len` bytes at `p` (hostile: any bytes, any length; p may be NULL when len is 0)
 * into `*r`, in this order:
 * - more than ST7_JOURNAL_REC_MAX bytes: ST7_ERR_TOO_LARGE;
 * - the first line is not "st7dfu-journal N": ST7_ERR_FORMAT "not a journal record";
 *   N other than 1: ST7_ERR_FORMAT "foreign: ... version N";
 * - no final "crc32=XXXXXXXX\n" line: ST7_ERR_FORMAT (torn); a CRC that does not match:
 *   ST7_ERR_CRC (torn or damaged);
 * - then every line: a key out of order, repeated, unknown or missing, a value out of its
 *   range, not canonical or too long for its field: ST7_ERR_FORMAT "line N (KEY): ...";
 * - device not the key of vid, pid and serial: ST7_ERR_FORMAT.
 * On error `*r` is zeroed: nothing of a refused record is ever half-trusted. On success
 * every byte of `*r` not holding a value (padding, the tail of each string) is zero, so
 * two decodes of one record compare equal with memcmp.
 */
int st7_journal_rec_decode(const uint8_t *p, size_t len, struct st7_journal_rec *r,
                           struct st7_diag *d);

#endif
