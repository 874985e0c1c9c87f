/* SPDX-License-Identifier: MIT */
/*
 * Pure parsing of the HTTP details the fetch layer handles itself (libcurl does the rest),
 * and of the cache's record of them. Every input here comes from a server or from a file
 * on disk and is treated as hostile: bounded, checked, and never echoed back into a
 * request unless it passed validation (a CR or LF in an ETag would inject headers).
 */
#ifndef ST7_HTTP_META_H
#define ST7_HTTP_META_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"

#define ST7_ETAG_MAX 256
#define ST7_URL_MAX 2048
#define ST7_CACHE_META_MAX 4096

/*
 * Split one raw header line ("Name: value\r\n") into name and value, with surrounding
 * whitespace and the line end removed. Returns false for a status line, a blank line, a
 * continuation line or anything without a colon.
 */
bool st7_http_header_split(const char *line, size_t len, const char **name, size_t *name_len,
                           const char **value, size_t *value_len);

/* Case-insensitive header name comparison. */
bool st7_http_header_is(const char *name, size_t name_len, const char *want);

/*
 * An entity tag as RFC 9110 §8.8.3 has it: `"…"` or `W/"…"`, visible ASCII only, no
 * inner quote, at most ST7_ETAG_MAX - 1 bytes. Copies it into `out` (NUL-terminated)
 * when valid.
 */
bool st7_http_etag_parse(const char *v, size_t len, char out[ST7_ETAG_MAX]);

/*
 * Content-Range of a 206 (RFC 9110 §14.4): "bytes FIRST-LAST/COMPLETE", where COMPLETE may be
 * "*" when unknown; `complete` is then UINT64_MAX. Requires FIRST <= LAST and, when
 * known, LAST < COMPLETE; decimal only, no overflow.
 */
int st7_http_content_range_parse(const char *v, size_t len, uint64_t *first, uint64_t *last,
                                 uint64_t *complete, struct st7_diag *d);

/* An IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") into out; false if out of range. */
bool st7_http_date_format(int64_t t, char out[40]);
/* The last second an HTTP date can name (9999-12-31T23:59:59Z): dates beyond are refused. */
#define ST7_HTTP_DATE_LAST 253402300799

/*
 * What the cache remembers about one URL, stored as "key=value" lines. Unknown keys are
 * ignored (forward compatibility); a malformed line fails the whole record, which the
 * cache then treats as absent.
 */
struct st7_cache_meta {
	char url[ST7_URL_MAX];
	char etag[ST7_ETAG_MAX]; /* "" when the server gave none */
	int64_t last_modified;   /* seconds since the epoch; -1 unknown */
	uint64_t size;           /* bytes of the complete file */
	char sha256[65];         /* hex of the complete file, "" unknown */
};

void st7_cache_meta_init(struct st7_cache_meta *m);
int st7_cache_meta_parse(struct st7_cache_meta *m, const uint8_t *p, size_t len,
                         struct st7_diag *d);
int st7_cache_meta_format(const struct st7_cache_meta *m, struct st7_buf *out);

#endif
