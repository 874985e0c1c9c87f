/* SPDX-License-Identifier: MIT */
/*
 * The wire between st7dfu and its fetch worker (st7dfu-fetch): the fetch interface
 * (fetch.h) carried over a pair of pipes, so that libcurl and everything it parses live
 * in another, de-privileged process. Pure encoding and decoding, no I/O: the client
 * (backend/fetch_worker.c) and the worker (worker/main.c) do the reading and
 * writing. Each side treats what comes from the other as hostile: every frame and field
 * is bounded and checked, and anything malformed is an error of the fetch.
 *
 * A frame is a type byte, a payload length (4 bytes, little endian, at most
 * ST7_WIRE_PAYLOAD_MAX) and the payload. Integers are little endian; a string is a 2-byte
 * length and that many bytes, none of them NUL.
 *
 *   parent -> worker   SETUP once, first: the fetcher's options (fetch.h) and the user
 *                      to run as; then GET or POST per request, one at a time.
 *   worker -> parent   per GET: BEGIN at most once (the final response's headers, for a
 *                      200 or 206, before any DATA), DATA (body bytes, in order),
 *                      PROGRESS (a display's figures), and END last (the result code,
 *                      the response, the message).
 *                      per POST: PROGRESS (0, 0) heartbeats only, then END (no BEGIN, no
 *                      DATA: the response body is discarded in the worker).
 *
 * POST (added after GET; SETUP, GET and the worker's frames are unchanged by it): the URL
 * (a string), the content type (a string of 1..ST7_FETCH_CTYPE_MAX-1 printable ASCII
 * characters, 0x20..0x7E) and the body (a 4-byte length, at most ST7_FETCH_POST_MAX, and
 * that many bytes, any values).
 * The parent closes the worker's stdin when it is done; the worker exits on EOF.
 */
#ifndef ST7_FETCH_WIRE_H
#define ST7_FETCH_WIRE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "err.h"
#include "fetch.h"

#define ST7_WIRE_HEADER 5
#define ST7_WIRE_DATA_MAX 65536                         /* body bytes per DATA frame */
#define ST7_WIRE_PAYLOAD_MAX (ST7_WIRE_DATA_MAX + 4096) /* any frame's payload */
#define ST7_WIRE_USER_MAX 64

enum st7_wire_type {
	ST7_WIRE_SETUP = 'S',
	ST7_WIRE_GET = 'G',
	ST7_WIRE_POST = 'U', /* "upload": 'P' is PROGRESS */
	ST7_WIRE_BEGIN = 'B',
	ST7_WIRE_DATA = 'D',
	ST7_WIRE_PROGRESS = 'P',
	ST7_WIRE_END = 'E',
};

/* SETUP: the options, with their strings held here ("" for none). */
struct st7_wire_setup {
	struct st7_fetch_opts o; /* its strings point into the arrays below after decoding */
	char ca_file[PATH_MAX];
	char client_cert[PATH_MAX];
	char client_key[PATH_MAX];
	char user[ST7_WIRE_USER_MAX]; /* run as this user when started as root */
};

/* GET: one request (fetch.h), strings held here. */
struct st7_wire_get {
	struct st7_fetch_request r; /* its strings point into the arrays below after decoding;
	                               abort_flag and progress are the receiver's to set */
	char url[ST7_URL_MAX];
	char if_range[ST7_ETAG_MAX];
	char if_none_match[ST7_ETAG_MAX];
};

/* POST: one request (fetch.h), strings and body held here. */
struct st7_wire_post {
	struct st7_fetch_post r; /* url, content_type and body point into the arrays below
	                            after decoding; abort_flag is the receiver's to set */
	char url[ST7_URL_MAX];
	char content_type[ST7_FETCH_CTYPE_MAX];
	uint8_t body[ST7_FETCH_POST_MAX];
};

/* Is `s` a content type the wire carries (1..ST7_FETCH_CTYPE_MAX-1 printable ASCII)? */
bool st7_wire_ctype_ok(const char *s);

/* END: how a GET or a POST ended. */
struct st7_wire_end {
	int result; /* ST7_OK or one of the errors fetch.h lists */
	struct st7_fetch_response resp;
	char msg[ST7_DIAG_MAX];
};

/*
 * Encoders: append one whole frame to `out` (the caller's: buf.h). ST7_OK, ST7_ERR_NOMEM,
 * or ST7_ERR_INVALID when a field does not fit its bound (a string too long, a NUL in it).
 */
int st7_wire_put_setup(struct st7_buf *out, const struct st7_fetch_opts *o, const char *user);
int st7_wire_put_get(struct st7_buf *out, const struct st7_fetch_request *r);
/* Also ST7_ERR_INVALID for a content type st7_wire_ctype_ok() refuses, a body over
 * ST7_FETCH_POST_MAX, or a NULL body with a length. */
int st7_wire_put_post(struct st7_buf *out, const struct st7_fetch_post *r);
int st7_wire_put_begin(struct st7_buf *out, const struct st7_fetch_response *resp);
int st7_wire_put_data(struct st7_buf *out, const uint8_t *p, size_t n);
int st7_wire_put_progress(struct st7_buf *out, uint64_t done, uint64_t total);
int st7_wire_put_end(struct st7_buf *out, int result, const struct st7_fetch_response *resp,
                     const char *msg);

/*
 * The first frame in [p, end): ST7_OK with its type, payload and the bytes it takes
 * (*used), or with *used == 0 when more bytes are needed; ST7_ERR_FORMAT (with a diag)
 * for an unknown type or an oversized length.
 */
int st7_wire_frame(const uint8_t *p, const uint8_t *end, enum st7_wire_type *type,
                   const uint8_t **payload, size_t *len, size_t *used, struct st7_diag *d);

/* Payload decoders: ST7_OK, or ST7_ERR_FORMAT with a diag naming the field. */
int st7_wire_get_setup(const uint8_t *p, size_t len, struct st7_wire_setup *s, struct st7_diag *d);
int st7_wire_get_get(const uint8_t *p, size_t len, struct st7_wire_get *g, struct st7_diag *d);
/* Checked: the strings' bounds, the content type (st7_wire_ctype_ok), the body's length
 * (at most ST7_FETCH_POST_MAX, and exactly what follows). r.body is NULL for an empty one. */
int st7_wire_get_post(const uint8_t *p, size_t len, struct st7_wire_post *w, struct st7_diag *d);
/* BEGIN and END carry a response; END also its result and message. Checked: a known
 * result code, a status in 100..599 (END: or 0, no response at all), consistent sizes, a
 * valid ETag, Retry-After within 1 s..1 day. */
int st7_wire_get_begin(const uint8_t *p, size_t len, struct st7_fetch_response *resp,
                       struct st7_diag *d);
int st7_wire_get_progress(const uint8_t *p, size_t len, uint64_t *done, uint64_t *total,
                          struct st7_diag *d);
int st7_wire_get_end(const uint8_t *p, size_t len, struct st7_wire_end *e, struct st7_diag *d);

#endif
