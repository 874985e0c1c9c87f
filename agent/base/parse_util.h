/* SPDX-License-Identifier: MIT */
/*
 * Values from text: the numbers, USB IDs, sizes, versions, durations and times of day that
 * the command line, the policy file and the manifest spell out. Pure (libc only, no
 * allocation, no locale), and each value parsed in one place.
 *
 * Contract of every st7_parse_*: `s` is a NUL-terminated string (NULL is refused like an
 * empty one) and the whole string is the value: no leading or trailing space, no sign,
 * nothing after it. They return ST7_OK and write the value, ST7_ERR_FORMAT when `s` is
 * not a value of that kind, or ST7_ERR_RANGE when it is one but outside the bounds
 * given; on an error nothing is written. Bounds are inclusive.
 *
 * The st7_format_* functions write the canonical spelling of a value (one the matching
 * parser reads back to the same value) into `out` of `cap` bytes, always terminated.
 */
#ifndef ST7_PARSE_UTIL_H
#define ST7_PARSE_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* An unsigned integer: decimal ("42") or hexadecimal with 0x ("0x2A"), within min..max. */
int st7_parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/* A USB ID (idVendor, idProduct): 1 to 4 hex digits, with or without 0x ("0483", "0x0483"). */
int st7_parse_usb_id(const char *s, uint16_t *out);

/* Two USB IDs as VID:PID ("0483:df11"). */
int st7_parse_usb_ids(const char *s, uint16_t *vid, uint16_t *pid);

/* A version word (bcdDevice): a USB ID's hex form ("0x0102", "0102"), or BCD with a dot,
 * 1-2 decimal digits each side: "1.02" = 0x0102, "1.2" = 0x0120 (1.20), "12.34" = 0x1234. */
int st7_parse_bcd(const char *s, uint16_t *out);

/* A size in bytes: digits, optionally followed by K, M or G (binary: 1K = 1024; lower case
 * too), within min..max bytes ("16M", "1G", "4096"). */
int st7_parse_size(const char *s, uint64_t min, uint64_t max, uint64_t *out);

/*
 * A duration in milliseconds: one or more NUMBER UNIT parts, units ms, s, m (minutes), h,
 * d ("500ms", "15s", "6h", "1h30m"), or a bare number counted in `bare_unit_ms` (1 for
 * milliseconds, 1000 for seconds; 0 refuses bare numbers). Within min_ms..max_ms.
 */
int st7_parse_duration_ms(const char *s, uint64_t bare_unit_ms, uint64_t min_ms, uint64_t max_ms,
                          uint64_t *out_ms);

/* A time of day, 24-hour HH:MM ("02:00", "23:59"; one-digit hours too): minutes since
 * midnight, 0..1439. */
int st7_parse_time_of_day(const char *s, unsigned *minutes);

/* A SHA-256 digest as exactly 64 hex digits (either case): the manifest's `sha256`, the
 * agent's own records. */
int st7_parse_sha256(const char *s, uint8_t out[32]);
/* A yes/no value: yes, no, true, false, on, off, 1, 0 (any case). */
int st7_parse_bool(const char *s, bool *out);

/*
 * A UTC time in exactly one RFC 3339 form, "2026-12-31T00:00:00Z" (upper-case 'T' and
 * 'Z', no fraction, no offset): seconds since the epoch. Years 1970..9999; a day that
 * the month does not have (Feb 29 outside leap years), hour 24 or a leap second is
 * ST7_ERR_RANGE. Computed from the calendar, so TZ and the locale play no part.
 */
int st7_parse_utc(const char *s, int64_t *out);

/* "6h", "1h30m", "15s", "500ms", "0ms": the largest units that divide it exactly. */
void st7_format_duration_ms(uint64_t ms, char *out, size_t cap);

/* "16M", "1G", "1536K", "100": the largest binary unit that divides it exactly. */
void st7_format_size(uint64_t bytes, char *out, size_t cap);

/* "2026-12-31T00:00:00Z", what st7_parse_utc reads (for 1970..9999; a time outside that
 * is written the same way but not read back). */
void st7_format_utc(int64_t t, char *out, size_t cap);

#endif
